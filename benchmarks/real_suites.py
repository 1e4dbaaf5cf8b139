"""Run pytest-memguard on the test suites of real open-source projects.

For each project below, the pinned source distribution is downloaded from PyPI (sdists ship
the test suites), unpacked into a work directory, and installed into a throwaway venv with
its test dependencies, this repository (editable) and pytest-memray. The suite then runs
three ways, one pytest at a time:

  plain     pytest -q -p no:cacheprovider -p no:memguard -p no:memray
  memguard  pytest -q -p no:cacheprovider -p no:memray --memguard --memguard-report=json:PATH
  memray    pytest -q -p no:cacheprovider -p no:memguard --memray

and one line per suite is printed: tests, passed/failed in each mode, the tests memguard
flagged (verdict leak or over-limit in its JSON report, or LEAK in its output), the tests
whose outcome differs from the plain run, and the wall-time ratios memguard/plain and
memray/plain. With --details every flagged or changed test is listed with its findings.

    python benchmarks/real_suites.py                    # all projects (about 20 minutes)
    python benchmarks/real_suites.py --only toolz       # one project (repeatable)
    python benchmarks/real_suites.py --keep /tmp/rs     # keep sources, venvs and outputs
    python benchmarks/real_suites.py --list             # the projects and their pins

Needs network access to PyPI. Nothing is written into the repository: everything goes to
a temporary directory (or to --keep DIR, reused by later runs: sdists and venvs already
there are not fetched or built again).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Shared by every venv: the runner and the peer.
COMMON = ["pytest==9.2.0", "pytest-memray==1.11.0", "memray==1.20.0"]


@dataclass(frozen=True)
class Project:
    name: str  # PyPI name
    version: str
    style: str  # what kind of suite it is, for the table
    deps: tuple[str, ...] = ()  # test dependencies, pinned
    paths: tuple[str, ...] = ("tests",)  # test paths, relative to the unpacked sdist
    args: tuple[str, ...] = ()  # extra pytest arguments for every mode
    env: dict[str, str] = field(default_factory=dict)


PROJECTS = [
    Project(
        "more-itertools",
        "11.2.1",
        "unittest.TestCase classes, doctests of itertools recipes",
    ),
    Project(
        "python-dateutil",
        "4.0.0",
        "unittest classes, tz caches (module-level), freezegun, hypothesis",
        deps=(
            "freezegun==1.5.5",
            "hypothesis==6.170.17",
            "attrs==26.1.0",
            "tzdata==2026.6",
            "pytest-cov==7.1.0",  # registers the no_cover mark its conftest adds
        ),
    ),
    Project(
        "toolz",
        "1.2.0",
        "functional helpers, memoize caches, curry, module-level dispatch",
        paths=("toolz/tests",),
    ),
    Project(
        "cachetools",
        "8.0.2",
        "cache classes and decorators, threads and locks",
    ),
    Project(
        "marshmallow",
        "4.4.0",
        "fixtures, parametrize, a global class registry of schemas",
        deps=("simplejson==4.3.0",),
    ),
    Project(
        "h11",
        "0.16.0",
        "protocol state machines, a threaded socketserver test",
        paths=("h11/tests",),
    ),
    Project(
        "tomlkit",
        "0.15.2",
        "parametrize over data files, module-level fixtures",
        deps=("PyYAML==6.0.4",),
    ),
    Project(
        "pyparsing",
        "3.3.3",
        "unittest classes, packrat/left-recursion caches, module-level parsers",
        deps=("railroad-diagrams==3.0.1", "jinja2==3.1.6"),
    ),
    Project(
        "attrs",
        "26.1.0",
        "heavy parametrize, class factories, fixtures with params; hypothesis in 2 files",
        deps=("hypothesis==6.170.17", "pympler==1.1", "cloudpickle==3.1.3"),
        # test_make, test_funcs and test_dunders (56 @given tests) are left out: under
        # --memguard each @given test is a suspect (hypothesis' strategy cache, attrs'
        # linecache entries) and its confirmation, with tracemalloc on, takes 15-20 s, so the
        # full suite does not finish in an hour. test_functional and test_3rd_party (3 @given
        # tests) are kept to show it.
        paths=tuple(
            f"tests/test_{m}.py"
            for m in [
                "3rd_party",
                "abc",
                "annotations",
                "cmp",
                "compat",
                "config",
                "converters",
                "filters",
                "functional",
                "hooks",
                "init_subclass",
                "next_gen",
                "pattern_matching",
                "setattr",
                "slots",
                "utils",
                "validators",
                "version_info",
            ]
        ),
    ),
]

SUMMARY = re.compile(r"^=*\s*(?P<body>(\d+ \w+(, )?)+.*) in (?P<secs>[\d.]+)s")
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")
OUTCOME_LINE = re.compile(r"^(FAILED|ERROR|LEAK) (\S+)")


TIMEOUT = 1200  # seconds per pytest run; --timeout


def run(cmd, cwd=None, env=None, log=None, check=True, timeout=None):
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        proc = subprocess.CompletedProcess(cmd, -9, out + f"\nTIMEOUT after {timeout}s\n")
    if log is not None:
        Path(log).write_text(proc.stdout)
    if check and proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}")
    return proc


def prepare(project: Project, work: Path) -> tuple[Path, Path]:
    """Download and unpack the sdist, build the venv; return (source dir, python)."""
    root = work / project.name
    root.mkdir(parents=True, exist_ok=True)
    dl = root / "sdist"
    sdists = list(dl.glob("*.tar.gz")) if dl.exists() else []
    if not sdists:
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                "-d",
                str(dl),
                f"{project.name}=={project.version}",
            ],
            log=root / "download.log",
        )
        sdists = list(dl.glob("*.tar.gz"))
    src_root = root / "src"
    if not src_root.exists():
        with tarfile.open(sdists[0]) as tar:
            tar.extractall(src_root, filter="data")
    (src,) = [p for p in src_root.iterdir() if p.is_dir()]
    venv = root / "venv"
    python = venv / "bin" / "python"
    marker = venv / ".memguard-ready"
    if not marker.exists():
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(venv)])
        pip = [str(python), "-m", "pip", "install", "-q"]
        run([*pip, *COMMON, *project.deps], log=root / "install-deps.log")
        run([*pip, "-e", str(src)], log=root / "install-project.log")
        run([*pip, "-e", str(REPO)], log=root / "install-memguard.log")
        run([str(python), "-m", "pip", "freeze"], log=root / "freeze.txt")
        marker.write_text("ok\n")
    return src, python


@dataclass
class ModeResult:
    mode: str
    seconds: float
    returncode: int
    counts: dict[str, int]
    bad: dict[str, str]  # nodeid -> FAILED / ERROR
    leak_lines: set[str]
    output: str


def run_mode(project: Project, src: Path, python: Path, mode: str, out: Path) -> ModeResult:
    base = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"]
    if mode == "plain":
        extra = ["-p", "no:memguard", "-p", "no:memray"]
    elif mode == "memguard":
        extra = ["-p", "no:memray", "--memguard", f"--memguard-report=json:{out / 'memguard.json'}"]
    else:
        extra = ["-p", "no:memguard", "--memray"]
    cmd = [*base, *extra, *project.args, *project.paths]
    env = {**os.environ, **project.env, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    (out / f"{mode}.cmd").write_text(" ".join(cmd) + f"\n# cwd: {src}\n")
    start = time.perf_counter()
    proc = run(cmd, cwd=src, env=env, log=out / f"{mode}.log", check=False, timeout=TIMEOUT)
    seconds = time.perf_counter() - start
    (out / f"{mode}.time").write_text(f"{seconds:.3f} {proc.returncode}\n")
    return parse_mode(mode, proc.stdout, seconds, proc.returncode)


def parse_mode(mode: str, output: str, seconds: float, returncode: int) -> ModeResult:
    counts: dict[str, int] = {}
    bad: dict[str, str] = {}
    leak_lines: set[str] = set()
    for line in output.splitlines():
        m = SUMMARY.match(line.strip("= "))
        if m and COUNT.search(m["body"]):
            counts = {}
            for n, word in COUNT.findall(m["body"]):
                counts[word.rstrip("s") if word.startswith("error") else word] = int(n)
        m = OUTCOME_LINE.match(line)
        if m:
            bad.setdefault(m[2], "FAILED" if m[1] == "LEAK" else m[1])
            if m[1] == "LEAK":
                leak_lines.add(m[2])
    return ModeResult(mode, seconds, returncode, counts, bad, leak_lines, output)


def load_mode(mode: str, out: Path) -> ModeResult:
    """A mode's result from the files a previous run left in --keep DIR (--no-run)."""
    output = (out / f"{mode}.log").read_text()
    timing = out / f"{mode}.time"
    if timing.exists():
        secs, rc = timing.read_text().split()
        seconds, returncode = float(secs), int(rc)
    else:  # left by an older version of this script: pytest's own duration
        found = re.findall(r" in ([\d.]+)s", output)
        seconds, returncode = float(found[-1]) if found else float("nan"), -1
    return parse_mode(mode, output, seconds, returncode)


def summarize(project: Project, results: dict[str, ModeResult], out: Path) -> dict:
    plain, guard, memray = results["plain"], results["memguard"], results["memray"]
    report_path = out / "memguard.json"
    records = json.loads(report_path.read_text())["tests"] if report_path.exists() else []
    flagged = {r["nodeid"]: r for r in records if r["verdict"] in ("leak", "over-limit")}
    flagged_ids = set(flagged) | guard.leak_lines
    verdicts: dict[str, int] = {}
    for r in records:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    changed = {
        nid: (plain.bad.get(nid, "passed"), guard.bad.get(nid, "passed"))
        for nid in set(plain.bad) | set(guard.bad)
        if plain.bad.get(nid) != guard.bad.get(nid)
    }
    # Outcome changes a leak or over-limit verdict does not explain: plugin bugs.
    other = {nid: c for nid, c in changed.items() if nid not in flagged_ids}
    changed_memray = {
        nid for nid in set(plain.bad) | set(memray.bad) if plain.bad.get(nid) != memray.bad.get(nid)
    }
    total = sum(v for k, v in plain.counts.items() if k != "deselected")
    return {
        "project": f"{project.name}=={project.version}",
        "style": project.style,
        "tests": total,
        "counts": {m: results[m].counts for m in results},
        "returncodes": {m: results[m].returncode for m in results},
        "seconds": {m: round(results[m].seconds, 2) for m in results},
        "ratio_memguard": round(guard.seconds / plain.seconds, 2),
        "ratio_memray": round(memray.seconds / plain.seconds, 2),
        "verdicts": verdicts,
        "flagged": sorted(flagged_ids),
        "flagged_records": flagged,
        "changed": changed,
        "changed_other": other,
        "changed_memray": sorted(changed_memray),
        "internal_error": "INTERNALERROR" in guard.output,
        "judge_errors": {
            r["nodeid"]: r.get("message", "") for r in records if r["verdict"] == "error"
        },
        "out": str(out),
    }


def fmt_counts(c: dict[str, int]) -> str:
    s = f"{c.get('passed', 0)}/{c.get('failed', 0)}"
    if c.get("error"):
        s += f"/E{c['error']}"
    return s


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'project':<26} {'tests':>6} {'plain p/f':>10} {'memguard p/f':>13} {'memray p/f':>11}"
        f" {'flagged':>8} {'changed':>8} {'other':>6} {'mg/plain':>9} {'memray/plain':>13}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        c = r["counts"]
        print(
            f"{r['project']:<26} {r['tests']:>6} {fmt_counts(c['plain']):>10}"
            f" {fmt_counts(c['memguard']):>13} {fmt_counts(c['memray']):>11}"
            f" {len(r['flagged']):>8} {len(r['changed']):>8} {len(r['changed_other']):>6}"
            f" {r['ratio_memguard']:>8.2f}x {r['ratio_memray']:>12.2f}x"
        )
    print()
    print("p/f = passed/failed (/E = errors); flagged = memguard verdict leak or over-limit;")
    print("changed = tests whose pass/fail/error outcome under --memguard differs from plain;")
    print("other = those of them not flagged (a plugin bug: a re-run broke the test, a crash).")


def fmt_chain(chain: list) -> str:
    edges = [e.get("edge", "?") if isinstance(e, dict) else str(e) for e in chain]
    return "".join(e if e[:1] in ".[" or i == 0 else " -> " + e for i, e in enumerate(edges))


def fmt_frame(frame) -> str:
    if not isinstance(frame, dict):
        return str(frame)
    return f"{frame.get('filename')}:{frame.get('lineno')}: {frame.get('line', '').strip()}"


def print_details(rows: list[dict]) -> None:
    for r in rows:
        if not (r["flagged"] or r["changed"] or r["internal_error"] or r["judge_errors"]):
            continue
        print(f"\n## {r['project']}  (outputs in {r['out']})")
        print(f"   memguard verdicts: {r['verdicts']}")
        if r["internal_error"]:
            print("   INTERNALERROR in the memguard run")
        for nid, message in sorted(r["judge_errors"].items()):
            print(f"   verdict error (memguard could not judge): {nid}: {message}")
        for nid, (before, after) in sorted(r["changed"].items()):
            print(f"   changed: {nid}: plain {before} -> memguard {after}")
        for nid in r["flagged"]:
            rec = r["flagged_records"].get(nid, {})
            print(f"   flagged: {nid}  verdict={rec.get('verdict')}")
            if rec.get("message"):
                print("      " + rec["message"].replace("\n", "\n      "))
            for f in rec.get("findings", []):
                print(f"      - {f.get('kind')}: {f.get('summary')}")
                chain = f.get("retainer_chain") or []
                if chain:
                    print(f"        chain: {fmt_chain(chain)}")
                for frame in (f.get("allocated_at") or [])[:4]:
                    print(f"        at: {fmt_frame(frame)}")


def main(argv=None) -> int:
    global TIMEOUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this project")
    ap.add_argument("--keep", metavar="DIR", help="work directory to keep (default: a temp dir)")
    ap.add_argument(
        "--no-run", action="store_true", help="only summarize the outputs kept in --keep DIR"
    )
    ap.add_argument("--details", action="store_true", help="list flagged and changed tests")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--timeout", type=int, default=TIMEOUT, help="seconds per pytest run")
    ap.add_argument("--list", action="store_true", help="list the projects and exit")
    args = ap.parse_args(argv)
    TIMEOUT = args.timeout
    projects = PROJECTS
    if args.list:
        for p in projects:
            print(f"{p.name + '==' + p.version:<26} {p.style}")
        return 0
    if args.only:
        wanted = {n.lower() for n in args.only}
        projects = [p for p in PROJECTS if p.name.lower() in wanted]
        unknown = wanted - {p.name.lower() for p in projects}
        if unknown:
            ap.error(f"unknown project(s): {', '.join(sorted(unknown))}")
    tmp = None
    if args.no_run and not args.keep:
        ap.error("--no-run needs --keep DIR")
    if args.keep:
        work = Path(args.keep).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="memguard-real-")
        work = Path(tmp.name)
    rows = []
    try:
        for project in projects:
            out = work / project.name / "out"
            results = {}
            if args.no_run:
                if not all((out / f"{m}.log").exists() for m in ("plain", "memguard", "memray")):
                    print(f"[{project.name}] no complete outputs in {out}", file=sys.stderr)
                    continue
                for mode in ("plain", "memguard", "memray"):
                    results[mode] = load_mode(mode, out)
                rows.append(summarize(project, results, out))
                continue
            print(f"[{project.name}] preparing in {work / project.name}", file=sys.stderr)
            src, python = prepare(project, work)
            out.mkdir(exist_ok=True)
            for mode in ("plain", "memguard", "memray"):
                results[mode] = run_mode(project, src, python, mode, out)
                res = results[mode]
                print(
                    f"[{project.name}] {mode}: {res.counts} rc={res.returncode} {res.seconds:.1f}s",
                    file=sys.stderr,
                )
            rows.append(summarize(project, results, out))
        print_table(rows)
        if args.details:
            print_details(rows)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2, default=str))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
