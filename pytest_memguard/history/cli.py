"""The ``memguard`` console script: list, show, compare, export and prune saved runs."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from pytest_memguard.history import HistoryError
from pytest_memguard.history.compare import (
    FIELDS,
    compare_runs,
    figure,
    fit,
    format_value,
    parse_checks,
    render_comparison,
)
from pytest_memguard.history.known import known_leaks_document
from pytest_memguard.history.store import DEFAULT_PATH, History, Run
from pytest_memguard.record import TestRecord
from pytest_memguard.report import WIDTH
from pytest_memguard.report.json import write_json_atomically
from pytest_memguard.units import parse_count

#: How many saved runs ``memguard report`` plots.
HISTORY_RUNS = 20


def _field_lines() -> str:
    return "\n".join(
        f"  {'*' if spec.stable else ' '} {name:<17} {spec.help} "
        f"(floor {format_value(name, spec.floor)})"
        for name, spec in FIELDS.items()
    )


EPILOG = f"""\
RUN is a run id, a run name (its latest complete run), 'latest' (the newest complete
run: an interrupted session's run is addressed by its id only), or a baseline file
(PATH.json). Without --db, the database is {DEFAULT_PATH} in the current
directory or the nearest parent that has one (pytest writes it under its rootdir).

examples:
  memguard list
  memguard show                       # the latest run, worst retained first
  memguard show main --sort peak --top 10
  memguard compare main latest --fail retained:10%,peak:5MiB,gc_pause:20ms
  memguard export main --json memguard-baseline.json
  memguard compare memguard-baseline.json latest
  memguard export latest --known-leaks memguard-known.json
  memguard report latest --html memguard.html
  memguard prune --keep 20

fields (* compared by default: the same for unchanged code; a percentage never fails
on a change at or below its floor, FIELD:PERCENT:FLOOR sets it):
{_field_lines()}
exit status: 0 ok, 1 a regression over a --fail threshold, 2 a usage or history error
"""


class CommandError(Exception):
    """A failure to report as one line on stderr with exit status 2."""


def _positive(text: str) -> int:
    try:
        value = parse_count(text)
    except ValueError:
        value = 0
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _non_negative(text: str) -> int:
    try:
        return parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def default_database(start: Path | None = None) -> Path:
    """The history database the commands read without ``--db``: :data:`DEFAULT_PATH`
    in ``start`` (the working directory) or its nearest parent that has one, as pytest
    writes it under its rootdir; else the one in ``start``, to say it is missing."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_PATH).is_file():
            return folder / DEFAULT_PATH
    return here / DEFAULT_PATH


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[bool],
    flex: int | None,
) -> list[str]:
    """Lay out ``rows`` in columns; column ``flex`` is cut at its end so lines fit
    :data:`WIDTH` (None: nothing is cut, for a table that ends with test ids)."""
    widths = [
        max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)
    ]
    if flex is not None:
        others = sum(widths) - widths[flex] + len(widths) - 1
        widths[flex] = max(len(headers[flex]), min(widths[flex], WIDTH - others))

    def line(cells: Sequence[str]) -> str:
        padded = [
            fit(cell, width).rjust(width) if align else fit(cell, width).ljust(width)
            for cell, width, align in zip(cells, widths, right, strict=True)
        ]
        return " ".join(padded).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def _created(run: Run) -> str:
    return run.created[:19].replace("T", " ")


def _describe(run: Run) -> str:
    parts = [f"run {run.label}", _created(run)]
    if run.commit:
        parts.append(f"commit {run.commit[:10]}")
    if run.branch:
        parts.append(f"branch {run.branch}")
    parts.append(run.python)
    return fit(", ".join(part for part in parts if part), WIDTH)


# -- commands ---------------------------------------------------------------------------


def cmd_list(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Print every saved run, oldest first."""
    runs = history.list_runs()
    if not runs:
        print(f"no runs saved in {history.path}", file=out)
        return 0
    rows = [
        [
            str(run.id),
            (run.name or "") + (" (interrupted)" if run.interrupted else ""),
            _created(run),
            (run.commit or "")[:8],
            run.branch or "",
            run.python,
            str(run.tests),
            str(run.failed),
        ]
        for run in runs
    ]
    headers = ["id", "name", "created", "commit", "branch", "python", "tests", "failed"]
    right = [True, False, False, False, False, False, True, True]
    for text in table(headers, rows, right=right, flex=1):
        print(text, file=out)
    return 0


def _sort_key(field: str) -> Callable[[TestRecord], tuple[bool, float]]:
    def key(record: TestRecord) -> tuple[bool, float]:
        value = figure(record.delta, field)
        return (value is None, -(value or 0.0))

    return key


def cmd_show(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Print the per-test table of one run, worst first."""
    run, records = history.load(args.run)
    records = sorted(records, key=_sort_key(args.sort))
    shown = records[: args.top] if args.top else records
    print(_describe(run), file=out)
    print(f"{run.tests} tests, {run.failed} failed, sorted by {args.sort}", file=out)
    columns = ["retained", "retained_objects", "peak", "rss_peak", "gc_pause", "duration"]
    headers = ["verdict", "retained", "objects", "peak", "RSS peak", "gc pause", "duration"]
    rows = [
        [
            record.verdict,
            *(format_value(field, figure(record.delta, field)) for field in columns),
            record.nodeid,
        ]
        for record in shown
    ]
    lines = table([*headers, "test"], rows, right=[False, *[True] * len(columns), False], flex=None)
    print(lines[0], file=out)
    for record, text in zip(shown, lines[1:], strict=True):
        print(text, file=out)
        for finding in record.findings:
            _wrapped(f"{finding.kind}: {finding.summary}", "    ", out)
            if finding.chain_text:
                _wrapped(f"held by: {finding.chain_text}", "      ", out)
    if len(shown) < len(records):
        print(f"... {len(records) - len(shown)} more tests (use --top)", file=out)
    return 0


def _wrapped(text: str, indent: str, out: TextIO) -> None:
    """Print ``text`` wrapped to :data:`WIDTH`, never cut, continuation lines indented."""
    for line in textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False
    ):
        print(line, file=out)


def cmd_compare(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Compare run B against baseline A; status 1 when a --fail check fails."""
    checks = parse_checks(args.fail) if args.fail is not None else ()
    base_run, base = history.load(args.base)
    current_run, current = history.load(args.current)
    comparison = compare_runs(base, current, checks)
    print(f"base:    {_describe(base_run)}"[:WIDTH], file=out)
    print(f"current: {_describe(current_run)}"[:WIDTH], file=out)
    for text in render_comparison(comparison):
        print(text, file=out)
    if comparison.regressions:
        print(f"FAILED: {len(comparison.regressions)} regressions over --fail", file=out)
        return 1
    return 0


def cmd_export(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Write a run as a JSON baseline file, its leaks as a known-leak file, or both."""
    if args.json is None and args.known_leaks is None:
        raise CommandError("export: give --json PATH, --known-leaks PATH or both")
    if args.json is not None:
        run = history.export_json(args.run, args.json)
        print(f"exported run {run.label}: {run.tests} tests to {args.json}", file=out)
    if args.known_leaks is not None:
        run, records = history.load(args.run)
        document = known_leaks_document(records, run.label)
        write_json_atomically(args.known_leaks, document)
        tests = len({leak["nodeid"] for leak in document["leaks"]})
        print(
            f"exported {len(document['leaks'])} known leaks of {tests} tests in run "
            f"{run.label} to {args.known_leaks}",
            file=out,
        )
        unconfirmed = sum(record.verdict == "unconfirmed" for record in records)
        if unconfirmed:
            print(
                f"{unconfirmed} suspects of that run were left unconfirmed by its confirmation "
                "budget:\n  their leaks, if any, are not in the file, and fail as new once a "
                "later run confirms\n  them; export a run made with a larger "
                "--memguard-confirm-budget",
                file=out,
            )
    return 0


def cmd_report(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Write the HTML report of a run, with the saved runs up to it as its history."""
    try:
        from pytest_memguard.report.html import write_html_report
    except ImportError as exc:
        raise CommandError(f"HTML reports are not available in this installation ({exc})") from None
    run, records = history.load(args.run)
    earlier: list[tuple[str, Sequence[TestRecord]]] = []
    if run.id is not None:
        saved = [past for past in history.list_runs() if past.id is not None and past.id <= run.id]
        earlier = [
            (f"#{past.id} {past.name or ''}".rstrip(), history.run_records(past))
            for past in saved[-HISTORY_RUNS:]
        ]
    header = {
        "run": run.label,
        "created": _created(run),
        "commit": run.commit or "",
        "branch": run.branch or "",
        "python": run.python,
        "platform": run.platform,
        "plugin_version": run.plugin_version,
    }
    write_html_report(
        args.html, records, history=earlier, header={k: v for k, v in header.items() if v}
    )
    print(f"wrote {args.html}", file=out)
    return 0


def cmd_prune(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Delete all but the newest runs."""
    deleted = history.prune(args.keep)
    print(f"deleted {deleted} runs, kept the newest {args.keep}", file=out)
    return 0


# -- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``memguard`` argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: --db may come before or after the command without one hiding the other.
    common.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"history database (default: the nearest {DEFAULT_PATH} from here up)",
    )
    parser = argparse.ArgumentParser(
        prog="memguard",
        description="Show, compare and export the runs saved by pytest --memguard-save.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Callable[..., int], help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    add("list", cmd_list, "list the saved runs")

    show = add("show", cmd_show, "per-test table of a run")
    show.add_argument("run", nargs="?", default="latest", metavar="RUN", help="default: latest")
    show.add_argument("--sort", choices=list(FIELDS), default="retained", metavar="FIELD")
    show.add_argument("--top", type=_positive, metavar="N", help="show only the N worst tests")

    compare = add("compare", cmd_compare, "what grew from run A (baseline) to run B")
    compare.add_argument("base", metavar="A")
    compare.add_argument("current", metavar="B")
    compare.add_argument(
        "--fail",
        metavar="EXPR",
        help="exit 1 when a test grew over a threshold, e.g. retained:10%%,peak:5MiB",
    )

    export = add("export", cmd_export, "write a run as a JSON baseline file to commit")
    export.add_argument("run", metavar="RUN")
    export.add_argument("--json", metavar="PATH", help="the run's figures, for --memguard-compare")
    export.add_argument(
        "--known-leaks",
        metavar="PATH",
        help="the run's leaks, for --memguard-known: they pass as 'known', new leaks fail",
    )

    report = add("report", cmd_report, "write the HTML report of a run")
    report.add_argument("run", metavar="RUN")
    report.add_argument("--html", required=True, metavar="PATH")

    prune = add("prune", cmd_prune, "delete all but the newest runs")
    prune.add_argument("--keep", type=_non_negative, required=True, metavar="N")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``memguard`` command; return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    history = History(getattr(args, "db", None) or default_database(), create=False)
    try:
        status: int = args.handler(history, args, sys.stdout)
        return status
    except (CommandError, HistoryError, ValueError) as exc:
        print(f"memguard: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        target = f" {exc.filename}" if exc.filename else ""
        print(f"memguard: error:{target} {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        history.close()


if __name__ == "__main__":
    sys.exit(main())
