"""Instructions ``pytest --memguard`` adds per test, counted by valgrind's callgrind.

Wall times on a shared or virtual machine move by tens of percent between identical runs
(``overhead.py`` interleaves rounds and quotes medians for that reason); an instruction count
does not: the same run gives the same count, whatever else the machine is doing. This runs the
suite of ``overhead.py`` once per configuration under ``valgrind --tool=callgrind``, after an
uncounted run that writes the byte-code caches and checks that every test passes, and prints
each configuration's instructions for the whole process and per test over plain pytest, and
memguard's per-test instructions over the floor's (issue 11's target is 1.5x).

Instructions are not time: a system call or a cache miss costs more than its instructions say.
Use it to compare two versions of the per-test path, and ``overhead.py`` for the wall time.

Usage::

    python benchmarks/instructions.py [--tests N] [--python PATH]   # 1,500 tests: ~4 minutes

Exit status: 0 fine; 2 usage error (valgrind missing); 3 a pytest run failed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import overhead
import suite_factory

EXIT_USAGE = 2
# valgrind's closing line on stderr: "==1234== Collected : 4719802799"
_COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.MULTILINE)
CONFIGS = (overhead.PLAIN, overhead.FLOOR, overhead.MEMGUARD)


def count(python: str, measurement: overhead.Measurement, out: Path) -> int | None:
    """The instructions of one pytest run of ``measurement``, or None after marking it."""
    env = overhead.environment()
    if overhead.run_once(python, measurement, env) is None:  # caches written, tests pass
        return None
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        *overhead.pytest_command(python, measurement),
    ]
    root = measurement.suite.root
    proc = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    found = _COLLECTED.findall(proc.stderr)
    if proc.returncode != 0 or not found:
        measurement.failure = overhead.failure_text(
            f"exit {proc.returncode} under valgrind", command, proc.stdout + proc.stderr
        )
        return None
    return int(found[-1])


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description="Instructions pytest --memguard adds per test (valgrind's callgrind)."
    )
    overhead.add_suite_options(parser)
    args = parser.parse_args(argv)
    overhead.check_suite_options(parser, args)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return EXIT_USAGE

    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="memguard-instructions-") as tmp:
        suite = suite_factory.generate(Path(tmp) / "suite", args.tests)
        print(f"python: {args.python}; {suite.tests} tests; PYTHONHASHSEED=0; one run each")
        for config in CONFIGS:
            measurement = overhead.Measurement(suite, config)
            instructions = count(args.python, measurement, Path(tmp) / "callgrind.out")
            if instructions is None:
                status = "not available" if measurement.unavailable else "FAILED"
                print(f"{config.name}: {status}\n{measurement.failure}")
                return overhead.EXIT_RUN_FAILED
            counts[config.name] = instructions
            print(f"  {config.name} counted", file=sys.stderr, flush=True)

    plain = counts[overhead.PLAIN.name]
    print(f"\n{'configuration':<14} {'instructions':>15} {'per test over plain':>20}")
    for name, instructions in counts.items():
        extra = (
            ""
            if name == overhead.PLAIN.name
            else f"{(instructions - plain) / suite.tests:>+20,.0f}"
        )
        print(f"{name:<14} {instructions:>15,} {extra}")
    floor = counts[overhead.FLOOR.name] - plain
    guard = counts[overhead.MEMGUARD.name] - plain
    if floor > 0:
        print(f"memguard's per-test instructions / the floor's: {guard / floor:.2f}x (target 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
