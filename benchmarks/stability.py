"""Stability of the CI gates: gated runs of unchanged code must never fail.

For two suites, the examples (``examples/``) and a generated suite (``suite_factory.py``)
with leaks added in the shapes that made the gates flaky (a file left open in
``tmp_path``, one from ``tempfile``, a thread one test leaves running that allocates
during the others, a global list), it saves a baseline run, exports it as a baseline
file and a known-leak file, then runs N rounds (default 10) of the gated runs a CI job
makes, on code that did not change:

- ``compare-fail``: ``pytest --memguard --memguard-mode=warn --memguard-compare=base.json
  --memguard-compare-fail=EXPR --memguard-save=round-N`` (warn: the leaks are known, the
  gate is the comparison);
- ``known``: ``pytest --memguard --memguard-known=known.json`` (every leak is listed);
- ``cli compare``: ``memguard compare base round-N --fail EXPR`` on the saved runs.

Every gated run that fails is a spurious failure. The generated suite runs in a random
order when pytest-randomly is installed, so which test runs first (and pays the
session's warm-up) and where the thread's allocations land change from round to round.

Usage::

    python benchmarks/stability.py [--rounds 10] [--tests 300] [--trace] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import suite_factory

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROUNDS = 10
DEFAULT_TESTS = 300
GATE = "retained:10%,retained_objects:10%,retained_entries:10%,peak:20%"

#: Added to the generated suite: leaks whose fingerprints or figures used to move.
LEAKS = '''\
"""Leaks a suite adopting pytest-memguard already has: all of them known."""

import tempfile
import threading
import time

AUDIT = []
_OPEN = []


def _poll():
    junk = []
    while True:
        junk.append([object() for _ in range(4)])
        if len(junk) > 40:
            junk.clear()
        time.sleep(0.001)


def test_leaves_a_poller_running():
    threading.Thread(target=_poll, name="poller", daemon=True).start()


def test_appends_to_a_global_list():
    AUDIT.append({"entry": len(AUDIT)})


def test_leaves_a_file_open_in_tmp_path(tmp_path):
    _OPEN.append(open(tmp_path / "report.txt", "w"))


def test_leaves_a_temporary_file_open():
    _OPEN.append(tempfile.NamedTemporaryFile("w", delete=False))
'''


@dataclass
class Suite:
    """A suite to run: its name, the folder pytest runs in, and its arguments."""

    name: str
    cwd: Path
    args: list[str]
    failures: dict[str, list[str]] = field(default_factory=dict)
    runs: int = 0


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def _pytest(suite: Suite, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", *suite.args, "-p", "no:cacheprovider", "-q"]
    return _run(
        [*command, "--memguard", f"--memguard-db={work / 'history.sqlite'}", *args], suite.cwd
    )


def _memguard(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    database = str(work / "history.sqlite")
    command = [sys.executable, "-m", "pytest_memguard.history.cli", "--db", database]
    return _run([*command, *args], work)


def _checked(done: subprocess.CompletedProcess[str], what: str, allowed: tuple[int, ...]) -> None:
    if done.returncode not in allowed:
        sys.exit(f"{what} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _why(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stdout.splitlines()
    marked = [line for line in lines if line.startswith(("worse", "LEAK", "FAILED", "ERROR"))]
    return "; ".join(marked[:4]) or (lines[-1] if lines else done.stderr.strip()[-200:])


def _gate(suite: Suite, gate: str, done: subprocess.CompletedProcess[str]) -> None:
    _checked(done, f"{suite.name} {gate}", (0, 1))
    suite.runs += 1
    if done.returncode:
        suite.failures.setdefault(gate, []).append(_why(done))


def measure(suite: Suite, work: Path, rounds: int, trace: bool) -> None:
    """Save a baseline of ``suite``, export it, then run the gated rounds."""
    work.mkdir(parents=True)
    extra = ["--memguard-trace"] if trace else []
    _checked(_pytest(suite, work, *extra, "--memguard-save=base"), "baseline run", (0, 1))
    _checked(_memguard(work, "export", "base", "--json", "base.json"), "export --json", (0,))
    known = work / "known.json"
    _checked(_memguard(work, "export", "base", "--known-leaks", str(known)), "export", (0,))
    for number in range(1, rounds + 1):
        gated = _pytest(
            suite,
            work,
            *extra,
            "--memguard-mode=warn",
            f"--memguard-compare={work / 'base.json'}",
            f"--memguard-compare-fail={GATE}",
            f"--memguard-save=round-{number}",
        )
        _gate(suite, "compare-fail", gated)
        _gate(suite, "known", _pytest(suite, work, *extra, f"--memguard-known={known}"))
        _gate(
            suite,
            "cli compare",
            _memguard(work, "compare", "base", f"round-{number}", "--fail", GATE),
        )
        spurious = sum(map(len, suite.failures.values()))
        print(f"  {suite.name} round {number}: {spurious} spurious so far", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="identical rounds")
    parser.add_argument(
        "--tests", type=int, default=DEFAULT_TESTS, help="size of the generated suite"
    )
    parser.add_argument("--trace", action="store_true", help="run tracemalloc in every test")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    if args.tests < suite_factory.minimum_tests():
        parser.error(f"--tests must be at least {suite_factory.minimum_tests()}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="memguard-stability-"))
    try:
        generated = suite_factory.generate(root / "generated", args.tests)
        (generated.root / "tests" / "test_known_leaks.py").write_text(LEAKS, encoding="utf-8")
        suites = [
            Suite("examples", REPO, ["examples/"]),
            Suite(f"generated ({generated.tests + 4} tests)", generated.root, []),
        ]
        print(
            f"{args.rounds} identical rounds per suite, gate {GATE}, tracing "
            f"{'on' if args.trace else 'off'}"
        )
        for number, suite in enumerate(suites):
            measure(suite, root / f"work-{number}", args.rounds, args.trace)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    total = 0
    for suite in suites:
        spurious = sum(map(len, suite.failures.values()))
        total += spurious
        print(f"{suite.name}: {spurious} spurious gate failures in {suite.runs} gated runs")
        for gate, reasons in suite.failures.items():
            for reason in reasons:
                print(f"  {gate}: {reason}")
    print(f"spurious gate failures: {total}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
