"""What a session leaves behind: report files, the saved run, the baseline comparison.

Runs once, on the controller (or the only process), after the last test; renders
only the records, never the live objects.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_memguard import __version__
from pytest_memguard.compare import compare_runs, parse_checks, render_comparison
from pytest_memguard.config import Settings
from pytest_memguard.history import History, HistoryError, load_baseline
from pytest_memguard.record import TestRecord

DEFAULT_DB = Path(".memguard") / "history.sqlite"


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
    return Path(settings.db) if settings.db else rootpath / DEFAULT_DB


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


def _compare(settings: Settings, records: Sequence[TestRecord], history: History) -> SessionOutputs:
    outputs = SessionOutputs()
    reference = settings.compare or ""
    if reference.endswith(".json"):
        run, base = load_baseline(reference)
    else:
        run, base = history.load(reference)
    checks = parse_checks(settings.compare_fail) if settings.compare_fail else ()
    comparison = compare_runs(base, list(records), checks)
    outputs.lines.append(f"compared with {run.label}:")
    outputs.lines.extend(render_comparison(comparison))
    outputs.regressed = bool(checks) and bool(comparison.regressions)
    return outputs


def write_outputs(
    settings: Settings, records: Sequence[TestRecord], rootpath: Path, args: Sequence[str]
) -> SessionOutputs:
    """Compare, save and write the reports; errors become lines, never exceptions."""
    outputs = SessionOutputs()
    needs_history = settings.save is not None or settings.compare is not None
    history = History(_database(settings, rootpath)) if needs_history else None
    try:
        if settings.compare is not None and history is not None:
            outputs = _compare(settings, records, history)
        if settings.save is not None and history is not None:
            run_id = history.save_run(records, name=settings.save or None, args=tuple(args))
            outputs.lines.append(f"saved run #{run_id} in {_database(settings, rootpath)}")
        _write_reports(settings, records, history)
        outputs.lines.extend(f"wrote {kind} report {path}" for kind, path in settings.reports)
    except (HistoryError, OSError, ValueError) as exc:
        outputs.errors.append(f"memguard: {exc}")
    finally:
        if history is not None:
            history.close()
    return outputs
