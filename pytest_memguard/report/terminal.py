"""Terminal rendering: the failure text under a test, the header and the summary."""

from __future__ import annotations

import os
import platform
import textwrap
from collections.abc import Iterator, Sequence
from typing import Any

from pytest_memguard.config import Settings
from pytest_memguard.explain.causes import session_summary
from pytest_memguard.findings import Finding, Frame
from pytest_memguard.record import TestRecord
from pytest_memguard.report import WIDTH
from pytest_memguard.units import format_duration, format_size


def _frame_text(frame: Frame) -> str:
    """A frame with its path relative to the working directory, as pytest shows them."""
    path = frame.filename
    if os.path.isabs(path) and path.startswith(os.getcwd() + os.sep):
        path = os.path.relpath(path)
    return str(Frame(path, frame.lineno, frame.name, frame.line))


def _site_lines(frames: Sequence[Frame], label: str, callers: int | None = 2) -> Iterator[str]:
    """``label: site`` for the most recent frame, then up to ``callers`` calling frames
    (None: all of them), most recent first, indented under it."""
    if not frames:
        return
    *calls, site = frames
    yield f"{label}: {_frame_text(site)}"
    if callers is not None:
        calls = calls[-callers:] if callers else []
    indent = " " * (len(label) - len(label.lstrip()) + 2)
    for frame in reversed(calls):
        yield f"{indent}called from {_frame_text(frame)}"


def finding_lines(finding: Finding, indent: str = "  ", callers: int | None = 2) -> Iterator[str]:
    """A finding as a few lines: kind and summary, chain, allocation site and up to
    ``callers`` of its calling frames (None: all of them), advice."""
    yield f"{indent}{finding.kind}: {finding.summary}"
    deeper = indent + "  "
    if finding.retainer_chain:
        yield f"{deeper}held by: {finding.chain_text}"
    yield from _site_lines(finding.allocated_at, f"{deeper}allocated at", callers)
    if finding.advice:
        for number, line in enumerate(textwrap.wrap(finding.advice, WIDTH - len(deeper) - 8)):
            yield f"{deeper}{'advice: ' if number == 0 else '        '}{line}"


#: What a failing test shows by default: the message's first lines and the worst finding,
#: about 15 lines in all (a peer printed 56,000 lines for one failure).
_BRIEF_MESSAGE_LINES = 4
_BRIEF_FINDINGS = 1


def failure_text(record: TestRecord, verbose: bool = False) -> str:
    """What a failing test shows, like an assertion error: which limit, figures, findings.

    Brief by default: the first lines of the message and the worst finding (the first:
    resources, then the largest retained group), or the message's one line for a leak
    whose root another test showed. ``verbose`` shows every line, finding and
    allocation frame.
    """
    message = f"memguard: {record.verdict}: {record.message}".splitlines()
    findings = record.findings
    if verbose:
        lines = message
        for finding in findings:
            lines.extend(finding_lines(finding, callers=None))
        return "\n".join(lines)
    if record.same_root_as:
        # The first test of the root showed its finding: one line each for the others.
        return message[0]
    lines = message[:_BRIEF_MESSAGE_LINES]
    for finding in findings[:_BRIEF_FINDINGS]:
        lines.extend(finding_lines(finding))
    hidden = []
    if len(message) > _BRIEF_MESSAGE_LINES:
        hidden.append(f"{len(message) - _BRIEF_MESSAGE_LINES} more lines")
    if len(findings) > _BRIEF_FINDINGS:
        more = len(findings) - _BRIEF_FINDINGS
        hidden.append(f"{more} more finding{'s' if more > 1 else ''}")
    if hidden:
        lines.append(f"  ... {' and '.join(hidden)}: -v or verbosity_memguard=1 shows all")
    return "\n".join(lines)


def header_line(settings: Settings, freeze_ok: bool, peak_ok: bool) -> str:
    """What the heap model can measure on this interpreter, said once."""
    parts = [f"memguard: Python {platform.python_version()}"]
    parts.append("young heap via gc.freeze" if freeze_ok else "young heap via id diff (slow)")
    parts.append("RSS peak reset available" if peak_ok else "RSS peak not measured")
    parts.append("tracing on" if settings.trace else "tracing off")
    parts.append(f"mode {settings.mode}")
    return ", ".join(parts)


def _figure(record: TestRecord, name: str) -> float:
    """The figure ``name`` of the record's run, 0 when unmeasured."""
    return (record.delta.value(name) if record.delta is not None else None) or 0.0


def blame_lines(records: Sequence[TestRecord]) -> Iterator[str]:
    """Resources a test left behind that surfaced in another test, charged to their test."""
    charges = [(record, charge) for record in records for charge in record.blame]
    if not charges:
        return
    yield "left behind by one test, surfaced in another (charged to the first):"
    for record, charge in sorted(charges, key=lambda pair: pair[1]["created_by"]):
        yield f"  {charge['created_by']}: {charge['kind']}: {charge['summary']}"
        yield from _site_lines([Frame(**frame) for frame in charge["created_at"]], "    created at")
        where = charge["surfaced_in"]
        when = f"during {where}" if where else f"between tests, before {record.nodeid}"
        times = f" ({charge['count']} times)" if charge["count"] > 1 else ""
        yield f"    {charge['event']}{times} {when}"


#: Verdicts that fail a test in fail mode.
FAILING_VERDICTS = ("leak", "over-limit")


def warned_lines(records: Sequence[TestRecord]) -> Iterator[str]:
    """Every test a memory verdict would fail, for warn mode: the tables name only the
    worst few, and a leak outside them must still be named."""
    failing = [record for record in records if record.verdict in FAILING_VERDICTS]
    if failing:
        yield f"{len(failing)} tests would fail without --memguard-mode=warn:"
        yield from (f"  {record.verdict:<10} {record.nodeid}" for record in failing)


def summary_lines(records: Sequence[TestRecord], top: int) -> Iterator[str]:
    """The worst tests by retained bytes, peak and GC pause, and a totals line."""
    if not records:
        return
    columns: list[tuple[str, Any, Any]] = [
        ("retained", lambda r: _figure(r, "retained_bytes"), format_size),
        ("peak", lambda r: _figure(r, "traced_peak"), format_size),
        ("GC pause", lambda r: _figure(r, "gc_pause_max"), format_duration),
    ]
    for title, key, fmt in columns:
        worst = sorted((r for r in records if key(r) > 0), key=key, reverse=True)[:top]
        if not worst:
            continue
        yield f"worst {len(worst)} by {title}:"
        for record in worst:
            yield f"  {fmt(key(record)):>10}  {record.verdict:<10} {record.nodeid}"
    yield from blame_lines(records)
    counts: dict[str, int] = {}
    for record in records:
        counts[record.verdict] = counts.get(record.verdict, 0) + 1
    yield from root_lines(records)
    detail = ", ".join(f"{counts[v]} {v}" for v in sorted(counts))
    yield f"{len(records)} guarded tests: {detail}"
    yield cost_line(records)


#: Tests named per root besides the first (the JSON report lists them all).
SHOWN_AGAIN = 3


def root_lines(records: Sequence[TestRecord]) -> Iterator[str]:
    """Each leak's root cause once, with how many tests grew it: one root that a
    thousand tests share is one line, not a thousand failures to read."""
    roots = session_summary(records)["roots"]
    if not roots:
        return
    yield f"leak roots ({len(roots)}):"
    for root in roots:
        tests = f"{root['tests']} test" + ("" if root["tests"] == 1 else "s")
        where = f" (in {root['distribution']})" if root["distribution"] else ""
        yield f"  {tests:>10}  {root['kind']}: {root['summary']}{where}"
        yield f"{'':14}first explained in {root['first']}"
        again = [r.nodeid for r in records if r.root == root["root"] and r.same_root_as]
        if again:
            more = f" and {len(again) - SHOWN_AGAIN} more" if len(again) > SHOWN_AGAIN else ""
            yield f"{'':14}leaked again in {', '.join(again[:SHOWN_AGAIN])}{more}"


def cost_line(records: Sequence[TestRecord]) -> str:
    """How many tests the screen left suspect, and what confirming them cost."""
    summary = session_summary(records)
    guarded = max(len(records), 1)
    share = 100 * summary["suspects"] / guarded
    line = (
        f"suspects: {summary['suspects']} ({share:.1f}%), confirmed in "
        f"{summary['confirm_seconds']:.2f} s, explained in {summary['explain_seconds']:.2f} s"
    )
    vouched = summary["vouched"]
    if vouched:
        line += (
            f"; {vouched} more ({100 * vouched / guarded:.1f}%) vouched for as "
            "warm-up by the re-runs of their parametrized siblings"
        )
    unconfirmed, failed = summary["unconfirmed"], summary["rerun_failed"]
    if unconfirmed:
        reasons = []
        if unconfirmed > failed:
            reasons.append(
                f"{unconfirmed - failed} over the confirmation budget: "
                "run them alone, or raise --memguard-confirm-budget"
            )
        if failed:
            reasons.append(f"{failed} whose re-runs failed where the test passed")
        line += f"; {unconfirmed} unconfirmed ({'; '.join(reasons)})"
    return line
