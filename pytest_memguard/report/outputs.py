"""What a session leaves behind: report files, the saved run, the baseline comparison.

:func:`prepare_outputs` runs before the first test: it checks every configured report
path, the history database and the baseline, so a typo costs a usage error instead of
a whole suite's run. :func:`write_outputs` runs once, on the controller (or the only
process), after the last test; it renders only the records, never the live objects.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_memguard import __version__
from pytest_memguard.config import Settings
from pytest_memguard.history import HistoryError
from pytest_memguard.record import TestRecord

# The history's modules (sqlite3 among them) and the comparison are imported where a
# session saves, compares or reads a baseline: a run that only writes reports is
# spared their 10 ms.
if TYPE_CHECKING:
    from pytest_memguard.history.store import History


class OutputError(ValueError):
    """A configured output or baseline that cannot be used; the message says which."""


@dataclass(frozen=True)
class Baseline:
    """The run a session compares with, read before the first test."""

    label: str
    records: Sequence[TestRecord]


@dataclass
class SessionOutputs:
    """What the terminal should say about the outputs, and whether the session fails."""

    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    regressed: bool = False


def report_header(settings: Settings) -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "plugin_version": __version__,
        "mode": settings.mode,
        "tracing": "on" if settings.trace else "off",
    }


def _database(settings: Settings, rootpath: Path) -> Path:
    from pytest_memguard.history.store import DEFAULT_PATH

    return Path(settings.db) if settings.db else rootpath / DEFAULT_PATH


def _check_writable(path: Path, what: str) -> None:
    """Whether a file can be written at ``path``, creating its missing parents."""
    if path.is_dir():
        raise OutputError(f"{what} {path} is a directory")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{what} {path}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"{what} {path} cannot be written (permission denied)")


def _history_needed(settings: Settings) -> bool:
    comparing = settings.compare is not None and not settings.compare.endswith(".json")
    return settings.save is not None or comparing


def prepare_outputs(settings: Settings, rootpath: Path) -> Baseline | None:
    """Check the configured outputs and read the baseline, before any test runs.

    Raises :class:`OutputError` naming the option and what is wrong: a report path
    that cannot be written, a history database that is corrupt, foreign or read-only
    while saving, a baseline run or file that does not exist.
    """
    if settings.compare_fail is not None and settings.compare is None:
        raise OutputError("--memguard-compare-fail needs --memguard-compare=RUN|PATH.json")
    for kind, path in settings.reports:
        _check_writable(Path(path), f"--memguard-report={kind}:")
    if not _history_needed(settings) and settings.compare is None:
        return None
    from pytest_memguard.history.store import History, load_baseline

    database = _database(settings, rootpath)
    history = History(database, create=settings.save is not None)
    try:
        if _history_needed(settings):
            if settings.save is not None:
                _check_writable(database, "history database")
            history.check()
        if settings.compare is None:
            return None
        if settings.compare.endswith(".json"):
            run, records = load_baseline(settings.compare)
        else:
            run, records = history.load(settings.compare)
        return Baseline(run.label, records)
    except HistoryError as exc:
        raise OutputError(str(exc)) from None
    finally:
        history.close()


def _write_reports(
    settings: Settings, records: Sequence[TestRecord], history: History | None
) -> None:
    header = report_header(settings)
    for kind, path in settings.reports:
        if kind == "json":
            from pytest_memguard.report.json import write_json_report

            write_json_report(
                path,
                records,
                python=header["python"],
                platform=header["platform"],
                plugin_version=__version__,
                header=header,
            )
        else:
            from pytest_memguard.report.html import write_html_report

            runs = []
            if history is not None:
                for run in history.list_runs()[-20:]:
                    runs.append((run.label, history.run_records(run)))
            write_html_report(path, records, history=runs, header=header)


def _compare(
    settings: Settings, records: Sequence[TestRecord], baseline: Baseline
) -> SessionOutputs:
    from pytest_memguard.history.compare import compare_runs, parse_checks, render_comparison

    outputs = SessionOutputs()
    checks = parse_checks(settings.compare_fail) if settings.compare_fail else ()
    comparison = compare_runs(baseline.records, list(records), checks)
    outputs.lines.append(f"compared with {baseline.label}:")
    outputs.lines.extend(render_comparison(comparison))
    outputs.regressed = bool(checks) and bool(comparison.regressions)
    return outputs


def _history(settings: Settings, rootpath: Path) -> History:
    from pytest_memguard.history.store import History

    return History(_database(settings, rootpath))


def write_outputs(
    settings: Settings,
    records: Sequence[TestRecord],
    rootpath: Path,
    args: Sequence[str],
    baseline: Baseline | None = None,
    *,
    interrupted: bool = False,
) -> SessionOutputs:
    """Compare with ``baseline``, save and write the reports; errors become lines, never
    exceptions. An ``interrupted`` run is saved marked as such: never ``latest``."""
    outputs = SessionOutputs()
    history = _history(settings, rootpath) if _history_needed(settings) else None
    try:
        if baseline is not None:
            outputs = _compare(settings, records, baseline)
        if settings.save is not None and history is not None:
            run_id = history.save_run(
                records, name=settings.save or None, args=tuple(args), interrupted=interrupted
            )
            note = " (interrupted: addressed by its id only)" if interrupted else ""
            outputs.lines.append(f"saved run #{run_id} in {_database(settings, rootpath)}{note}")
        _write_reports(settings, records, history)
        outputs.lines.extend(f"wrote {kind} report {path}" for kind, path in settings.reports)
    except (HistoryError, OSError, ValueError) as exc:
        outputs.errors.append(f"memguard: {exc}")
    finally:
        if history is not None:
            history.close()
    return outputs
