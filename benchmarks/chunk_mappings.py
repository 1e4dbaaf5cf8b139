"""How often a suite's calls map a data-stack chunk, plain and guarded.

CPython 3.11+ keeps the frames of Python calls on a per-thread data stack mapped in
chunks of 16 KiB, and unmaps a chunk as soon as the call that opened it returns
(``pytest_memguard/screen/datastack.py``): calls going up and down across a chunk's end
map and unmap one at every crossing, about 10 us each with its page fault. This runs a
suite plain and with ``--memguard`` under ``strace -f -e trace=mmap`` and counts the
anonymous read-write mappings of 16 KiB (a crossing) and of 1 MiB (the wide chunk a
guarded session's test loop runs in, among the allocator's other mappings of that size).
Counts, not times: they repeat from run to run (but for the runs that the plugin's
timing decisions move). Linux, with ``strace``.

Usage::

    python benchmarks/chunk_mappings.py --keep /tmp/rs --suite pyparsing
    python benchmarks/chunk_mappings.py --python PY --cwd DIR -- PYTEST_ARGS...
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time

import stage_costs  # this directory: the script's, first on the import path

#: The sizes counted: a chunk of the plain size, and the one a guarded session opens.
SIZES = {16 * 1024: "16 KiB", 1024 * 1024: "1 MiB"}
_ANONYMOUS = re.compile(r"mmap\(NULL, (\d+), PROT_READ\|PROT_WRITE, MAP_PRIVATE\|MAP_ANONYMOUS")


def mappings(trace: str) -> collections.Counter[int]:
    """The anonymous read-write mappings an ``strace -e trace=mmap`` output lists, by size."""
    return collections.Counter(int(size) for size in _ANONYMOUS.findall(trace))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stage_costs.add_suite_arguments(ap)
    args = ap.parse_args(argv)
    if shutil.which("strace") is None:
        ap.error("strace is needed (apt-get install strace)")
    cwd, python, env, pytest_args = stage_costs.resolve_suite(ap, args)
    labels = " ".join(f"{label:>10s}" for label in SIZES.values())
    print(f"{'run':10s} {labels} {'exit':>5s} {'s':>8s}")
    for mode, switch in (("plain", ["-p", "no:memguard"]), ("memguard", ["--memguard"])):
        with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
            cmd = ["strace", "-f", "-qq", "-e", "trace=mmap", "-o", out.name, python]
            cmd += ["-m", "pytest", "-q", "-p", "no:cacheprovider", *switch, *pytest_args]
            started = time.perf_counter()
            result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            found = mappings(out.read())
        counts = " ".join(f"{found[size]:10,d}" for size in SIZES)
        print(f"{mode:10s} {counts} {result.returncode:5d} {seconds:8.1f}")
        if result.returncode not in (0, 1):
            sys.stderr.write(result.stdout[-2000:] + result.stderr[-2000:])
            return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
