"""Mutation testing of the safety-critical modules with mutmut: which small breakages do the fast tests miss?

mutmut 3 (``pip install -e '.[mutation]'``) copies the product packages into ``mutants/`` with every
mutant of the modules listed in ``[tool.mutmut] only_mutate`` (pyproject.toml) compiled in behind a
switch, runs the fast tests once to learn which tests call which function, then runs, for each mutant,
only those tests. A mutant is *killed* when a test fails, *survived* when they all pass, *no tests*
when no fast test calls the function at all (covered only by integration tests, or not at all),
*timeout* when the tests ran far longer than they do unmutated (a mutant that makes a loop endless).

This script runs mutmut one module at a time (``--module``, default all), niced, so the machine stays
usable, then reads mutmut's results (``mutants/**/*.meta``) and prints per module the counts and
each survivor with its one-line change. Survivors are either killed by a new unit test or listed
with a reason in ``bench/mutation_survivors.md`` (every backticked mutant name there counts as
justified); ``--check`` exits 1 when a survivor or a no-tests mutant is in neither.

    .venv/bin/pip install -e '.[test,mutation]'
    .venv/bin/python -m bench.mutation                          # every module, ~25 min on 2 busy cores
    .venv/bin/python -m bench.mutation --module approval --module claim
    .venv/bin/python -m bench.mutation --report-only --check    # results of the last run, no run

The tests run as in ``./dev test``'s fast part, on SQLite, with Redis at ``SOCIALCAL_TEST_REDIS_URL``
(default db 15, the tests' own default; the budget tests use unique key prefixes and delete them).
Results are cached in ``mutants/`` (git-ignored): a rerun of a module re-runs all its mutants, a
change to the code or the tests is picked up (mutmut compares function hashes), ``rm -rf mutants``
starts from scratch. Mutant numbers are per function and shift when that function changes, so the
names in the survivors file must be re-checked after such a change: ``--check`` reports stale ones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The console script, not ``python -m mutmut`` (that re-imports mutmut.__main__ and mutmut warns).
MUTMUT = str(Path(sys.executable).parent / "mutmut")
SURVIVORS_FILE = ROOT / "bench" / "mutation_survivors.md"

# Short name -> module file. The same files as [tool.mutmut] only_mutate (a test checks they agree).
MODULES: dict[str, str] = {
    "approval": "tasks/domain/approval.py",       # the gate: approve, reject, cancel, edits re-open
    "claim": "tasks/domain/claim.py",             # one publisher per post: the fenced claim and lease
    "retry_policy": "tasks/domain/retry_policy.py",
    "redaction": "worker/core/redaction.py",      # no token in a log line or an error text
    "crypto": "models/crypto.py",                 # page tokens encrypted at rest, key rotation
    "content": "tasks/domain/content.py",         # what Meta refuses is refused before the call
    "planning": "tasks/domain/planning.py",
    "cadence": "tasks/domain/cadence.py",
    "publisher": "tasks/domain/publisher.py",     # publish, in-flight record
    "reconcile": "tasks/domain/reconcile.py",     # finding a post Meta created before its answer was lost
    "budget": "graph/budget.py",                  # the shared call budget (Python side of the Lua script)
    "local_budget": "graph/local_budget.py",
}

# mutmut's exit-code meanings (mutmut.stats.status_by_exit_code), folded into the figures we print.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          37: "type check", -11: "segfault", -9: "segfault", None: "not checked"}
COLUMNS = ("killed", "survived", "no tests", "timeout", "suspicious", "not checked")


def prefix(path: str) -> str:
    """mutmut's mutant-name prefix for a module file: ``tasks/domain/claim.py`` -> ``tasks.domain.claim.``."""
    return path[: -len(".py")].replace("/", ".") + "."


def results(path: str) -> dict[str, int | None]:
    """Exit code per mutant of one module, from mutmut's cache (empty before the module's first run)."""
    meta = ROOT / "mutants" / (path + ".meta")
    if not meta.exists():
        return {}
    return json.loads(meta.read_text())["exit_code_by_key"]


def status(code: int | None) -> str:
    return STATUS.get(code, "suspicious")


def justified_names() -> set[str]:
    """Every backticked mutant name in the survivors file."""
    if not SURVIVORS_FILE.exists():
        return set()
    return set(re.findall(r"`([\w.ǁ]+__mutmut_\d+)`", SURVIVORS_FILE.read_text()))


def one_line_change(name: str, path: str) -> str:
    """The mutant as ``old  ->  new`` (the changed lines of mutmut's diff, joined)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # the optional 'mutation' dependency

    diff = get_diff_for_mutant(name, path=path).splitlines()
    minus = [line[1:].strip() for line in diff if line.startswith("-") and not line.startswith("---")]
    plus = [line[1:].strip() for line in diff if line.startswith("+") and not line.startswith("+++")]
    return f"{' / '.join(minus) or '?'}  ->  {' / '.join(plus) or '(removed)'}"


def run_module(name: str, max_children: int, env: dict[str, str]) -> float:
    """``mutmut run`` on one module's mutants, niced; returns the wall time in seconds."""
    cmd = ["nice", "-n", "10", MUTMUT, "run", "--max-children", str(max_children),
           prefix(MODULES[name]) + "*"]
    log = ROOT / "mutants" / f"run-{name}.log"
    log.parent.mkdir(exist_ok=True)
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    elapsed = time.monotonic() - started
    if code != 0:
        print(f"  mutmut exited {code} for {name}; its output: {log}", file=sys.stderr)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", action="append", choices=sorted(MODULES),
                        help="a module to mutate (repeatable; default: all, in the order listed in the script)")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (2)")
    parser.add_argument("--report-only", action="store_true", help="read the last results, run nothing")
    parser.add_argument("--no-diffs", action="store_true", help="list survivors by name only (faster)")
    parser.add_argument("--all-survivors", action="store_true",
                        help="list justified survivors too (default: only those not in the survivors file)")
    parser.add_argument("--draft", action="store_true",
                        help="print the unjustified survivors as survivors-file lines, one per function, to fill in")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a survivor or no-tests mutant is not justified in the survivors file")
    args = parser.parse_args(argv)
    names = args.module or list(MODULES)

    env = dict(os.environ)
    env.setdefault("SOCIALCAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    env["SOCIALCAL_TEST_BACKENDS"] = "sqlite"
    times: dict[str, float] = {}
    if not args.report_only:
        print(f"mutmut on {len(names)} module(s), {args.max_children} at a time, tests on "
              f"{env['SOCIALCAL_TEST_REDIS_URL']} (logs: mutants/run-<module>.log)", flush=True)
        for name in names:
            times[name] = run_module(name, args.max_children, env)
            print(f"  {name}: {times[name]:.0f} s", flush=True)

    justified = justified_names()
    figures: dict[str, Any] = {"modules": {}, "seconds": {k: round(v) for k, v in times.items()}}
    unexplained: list[str] = []
    known: set[str] = set()
    print()
    print(f"{'module':<14}" + "".join(f"{c:>13}" for c in COLUMNS) + f"{'justified':>11}")
    for name in names:
        codes = results(MODULES[name])
        known |= set(codes)
        counts = Counter(status(code) for code in codes.values())
        open_ = [k for k, code in sorted(codes.items()) if status(code) in ("survived", "no tests", "suspicious")]
        ok = sum(1 for k in open_ if k in justified)
        figures["modules"][name] = {**{c: counts.get(c, 0) for c in COLUMNS}, "total": len(codes),
                                    "justified": ok}
        print(f"{name:<14}" + "".join(f"{counts.get(c, 0):>13}" for c in COLUMNS) + f"{ok:>11}")
        unexplained += [(k, MODULES[name]) for k in open_ if args.all_survivors or k not in justified]

    if unexplained:
        print(f"\n{'survivors and no-tests mutants' if args.all_survivors else 'not justified in ' + str(SURVIVORS_FILE.relative_to(ROOT))}:")
        os.chdir(ROOT)  # mutmut reads its config and mutants/ relative to the working directory
        for key, path in unexplained:
            print(f"  {key}" if args.no_diffs else f"  {key} [{status(results(path)[key])}]: {one_line_change(key, path)}")
        print("\nSee one with `.venv/bin/mutmut show NAME`; apply it to the checkout with `mutmut apply NAME`"
              " (undo with git checkout).")
    if args.draft and unexplained:
        by_function: dict[str, list[str]] = {}
        for key, _ in unexplained:
            by_function.setdefault(key.rsplit("__mutmut_", 1)[0], []).append(key)
        print("\ndraft lines for the survivors file (write the reason):")
        for keys in by_function.values():
            print("- " + ", ".join(f"`{k}`" for k in sorted(keys, key=lambda k: int(k.rsplit("_", 1)[1])))
                  + " — TODO")
    stale = sorted(k for k in justified if k in known and status(results_for(k, names)) == "killed")
    if stale:
        print(f"\nlisted in the survivors file but now killed (remove them): {', '.join(stale)}")
    figures["not_justified"] = len([k for k, _ in unexplained if k not in justified])
    print(json.dumps(figures))
    return 1 if args.check and (figures["not_justified"] or stale) else 0


def results_for(key: str, names: list[str]) -> int | None:
    for name in names:
        codes = results(MODULES[name])
        if key in codes:
            return codes[key]
    return None


if __name__ == "__main__":
    sys.exit(main())
