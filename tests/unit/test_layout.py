"""The dependency order of the README's layout section, enforced: a new upward import fails here.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``); ``lint-imports`` reads every
import, including the ones inside functions, so a cycle cannot hide behind a local import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("worker", "tasks", "models", "graph", "schedules")
MAX_MODULE_LINES = 700


def test_import_contracts_hold():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_product_module_is_over_700_lines():
    too_long = {str(path.relative_to(ROOT)): lines for package in PRODUCT_PACKAGES
                for path in (ROOT / package).rglob("*.py")
                if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not too_long, f"split these modules: {too_long}"


def test_importing_the_logic_does_not_build_the_celery_app():
    code = ("import sys, tasks.domain.publisher, tasks.domain.intake, tasks.publishing; "
            "assert 'worker.app' not in sys.modules, 'a logic module imported the Celery app'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
