"""The mutation run (bench/mutation.py, README "Mutation testing") mutates the modules it says it does."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from bench.mutation import MODULES, SURVIVORS_FILE, prefix

ROOT = Path(__file__).resolve().parents[2]


def test_the_script_and_the_mutmut_config_name_the_same_modules():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert sorted(MODULES.values()) == sorted(config["only_mutate"])
    assert all((ROOT / path).is_file() for path in MODULES.values())
    # Every product package is copied into mutants/, so the tests never import the unmutated checkout.
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]
    assert sorted(config["source_paths"]) == sorted(packages)


def test_every_justified_survivor_names_a_mutated_module():
    names = re.findall(r"`([\w.ǁ]+__mutmut_\d+)`", SURVIVORS_FILE.read_text())
    assert names
    prefixes = tuple(prefix(path) for path in MODULES.values())
    assert [name for name in names if not name.startswith(prefixes)] == []
