"""The verdict of one guarded test, decided from what guarding it found.

:class:`~pytest_memguard.guard.Guard` screens, searches holders, re-runs and explains,
and writes down what each step found as :class:`Facts`; :func:`decide` turns them into
a :class:`Decision` (verdict, message, the figures the record shows, findings) and
:func:`record_of` builds the test's record from it in one step. Nothing here runs a
test or looks at the heap.

The rules, in order: a run the plugin could not judge is ``error``; a failing or
skipped test is not judged on memory; a limit other than a leak limit broken by the
screened run is ``over-limit``; growth of a root already confirmed is ``leak``, "same
root as" its first test; growth the screen's triage explains is ``warmup``; a suspect
held only under declared bounds, or whose growth stopped on a repetition, is
``warmup``; one the budget had no room to confirm, or whose repetitions failed where
the test passed, is ``unconfirmed``; a confirmed one whose explanation reaches it from
no named root, or finds only warm-up, is ``warmup``; else it is a ``leak``. ``warmup``
and ``unconfirmed`` never replace ``over-limit``; a leak says the broken limits too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

from pytest_memguard.config import Limits
from pytest_memguard.confirm.rules import exceeded_limits
from pytest_memguard.explain.causes import Root
from pytest_memguard.explain.sizes import explained_bytes
from pytest_memguard.figures import Figures
from pytest_memguard.findings import RESOURCE_KINDS, Finding
from pytest_memguard.record import TestRecord
from pytest_memguard.shallow import updated
from pytest_memguard.units import format_size


class Explanation(NamedTuple):
    """What explaining a confirmed leak found on its last run.

    ``explained`` are explain's groups (warm-up ones too), ``resources`` what the
    sentinels found left behind, ``untracked`` the watched containers that grew beyond
    what ``explained`` reaches. ``runs`` are the figures of the runs the leak grew on,
    the explained one last, and ``top_types`` its most frequent retained types.
    """

    explained: tuple[Finding, ...] = ()
    resources: tuple[Finding, ...] = ()
    untracked: tuple[Finding, ...] = ()
    runs: tuple[Figures, ...] = ()
    top_types: str = ""


class Facts(NamedTuple):
    """What guarding one test found, step by step; each field is left at its default
    when the step that finds it did not run. A named tuple, as :class:`Decision`: made
    for every guarded test, and a frozen dataclass costs several times as much to make
    (and to define, at import)."""

    #: The screened run's figures, None when it could not be measured.
    figures: Figures | None = None
    outcome: str = "passed"
    #: Why the plugin could not judge the test (an exception's repr).
    error: str = ""
    #: Whether the screen left the test a suspect (growth no known holder explains).
    suspect: bool = False
    #: Whether its parametrized siblings' re-runs vouched for that growth as warm-up
    #: (:mod:`~pytest_memguard.confirm.siblings`): no re-run of its own, and no suspect.
    vouched: bool = False
    #: What the screen's triage called warm-up.
    warmup: tuple[str, ...] = ()
    #: The key of a root already confirmed that the growth is, and that root as the
    #: session knows it (None when it does not).
    same_root: str = ""
    root: Root | None = None
    #: What the screened run added to that root (objects, bytes), when the screen alone
    #: recognised it.
    root_added: tuple[int, int] | None = None
    #: The declared bounds of the holders, when they hold all of the growth.
    bounds: tuple[str, ...] = ()
    #: Objects the screened run left that no known holder explains.
    unexplained: int = 0
    #: Whether the budget had no room to re-run the suspect.
    no_budget: bool = False
    #: Why its repetitions could not tell growth from warm-up (one failed).
    untold: str = ""
    #: The repetitions' figures (None for one not measured), and why they cleared the
    #: suspect (``""`` when every one grew).
    repetitions: tuple[Figures | None, ...] = ()
    cleared: str = ""
    #: The two earlier tests (oldest first) whose leftovers the screened run extended by
    #: one more link of a chain: growth on every run, confirmed across tests.
    chained: tuple[str, ...] = ()
    explanation: Explanation | None = None
    confirm_seconds: float = 0.0
    explain_seconds: float = 0.0


class Decision(NamedTuple):
    """A verdict, its message, the figures the record shows and the findings.

    ``new_root`` is True for a leak explained here, whose findings give the session a
    root (:meth:`~pytest_memguard.explain.causes.RootBook.add`); ``root`` is the root
    the record names.
    """

    verdict: str
    message: str = ""
    figures: Figures | None = None
    findings: tuple[Finding, ...] = ()
    root: Root | None = None
    new_root: bool = False


def decide(facts: Facts, limits: Limits) -> Decision:
    """The verdict of a test from what guarding it found and its limits (the rules are
    in the module docstring)."""
    figures = facts.figures
    if facts.error:
        return Decision("error", f"memguard could not judge this test: {facts.error}", figures)
    if facts.outcome != "passed" or figures is None:
        return Decision("ok", "", figures)
    broken = exceeded_limits(figures, limits)
    base = Decision("over-limit" if broken else "ok", "; ".join(broken), figures)
    if facts.same_root:
        return _same_root(base, figures, facts)
    if not facts.suspect:
        return _warmup(base, "; ".join(facts.warmup)) if facts.warmup else base
    if facts.bounds:
        return _warmup(base, "growth held by a bounded container: " + ", ".join(facts.bounds))
    if facts.no_budget:
        return _unconfirmed(base, facts.unexplained, _NO_ROOM)
    if facts.untold:
        return _unconfirmed(base, facts.unexplained, facts.untold)
    if facts.cleared:
        return _warmup(base, f"one-time growth, not a leak ({facts.cleared})")
    if facts.explanation is None:
        return base
    return _explained(base, figures, facts.explanation, facts.chained)


def _same_root(base: Decision, figures: Figures, facts: Facts) -> Decision:
    """The run grew a root already confirmed: its leak again, not explained again;
    nothing is decided when the session does not know the root."""
    root = facts.root
    if root is None:
        return base
    message = f"same root as {root.first}: {root.summary}"
    if facts.root_added is not None:
        # What the run added to the root, not all it left: the figure a gate compares
        # must not depend on whether a leak was confirmed or recognised.
        objects, size = facts.root_added
        figures = updated(figures, retained_objects=objects, retained_bytes=size)
    return Decision("leak", message, figures, (root.finding,), root)


def _warmup(base: Decision, why: str, findings: tuple[Finding, ...] = ()) -> Decision:
    # Built, not replace()d: every test whose screen explained what it left comes here.
    if base.verdict != "ok":
        return Decision(base.verdict, base.message, base.figures, findings)
    return Decision("warmup", why, base.figures, findings)


_NO_ROOM = "the session's confirmation budget had no room to re-run it"


def _unconfirmed(base: Decision, left: int, why: str) -> Decision:
    if base.verdict != "ok":
        return base
    message = (
        f"suspect not confirmed: {why} "
        f"(the screened run left {left} objects no known holder explains)"
    )
    return base._replace(verdict="unconfirmed", message=message)


#: Roots that make growth the test's own: code reaches it from a name.
_ATTRIBUTABLE_ROOTS = ("module", "class", "thread", "sys")


def _unattributed(explained: tuple[Finding, ...]) -> str:
    """Why growth fails no test when no chain reaches it from a name, else ``""``.

    A leak must be attributable (docs/architecture.md, step 5): growth held only through a
    wider-scoped fixture is that fixture's, and growth reached from no named root
    (interpreter or C-level internals, such as a type's subclass table) is reported
    but not failed.
    """
    roots = {finding.extra.get("root", "") for finding in explained}
    if not explained or roots & set(_ATTRIBUTABLE_ROOTS):
        return ""
    if "holder" in roots:
        return "growth held by a wider-scoped fixture, not by the test"
    return "growth on every run, but reached from no named root: not attributable"


def _all_warmup(explained: tuple[Finding, ...]) -> str:
    """Why growth fails no test when explain found every group to be warm-up (held
    under a bound, or state the standard library keeps), else ``""``."""
    if explained and all(finding.kind == "warmup" for finding in explained):
        return "growth on every run, all of it warm-up: " + explained[0].summary
    return ""


def _explained(
    base: Decision, figures: Figures, explanation: Explanation, chained: tuple[str, ...] = ()
) -> Decision:
    """A confirmed suspect as its explanation shows it: a leak, unless no named root
    reaches it or all of it is warm-up (and nothing else was left behind). ``chained``:
    the earlier tests whose leftovers confirmed it, in place of re-runs."""
    explained = explanation.explained
    leaked = tuple(finding for finding in explained if finding.kind != "warmup")
    if not (explanation.resources or explanation.untracked):
        unattributed = _unattributed(leaked) or _all_warmup(explained)
        if unattributed:
            return _warmup(base, unattributed, explained)
    # One definition of a leak's bytes and objects: what its findings weigh (deep
    # size, shared objects once) and count, in the header, the record and reports.
    weighed = (sum(finding.count for finding in leaked), explained_bytes(leaked))
    if leaked:
        figures = updated(figures, retained_objects=weighed[0], retained_bytes=weighed[1])
    resources, rest = _fold_into_resources(explanation.resources, explained)
    message = _leak_message(explanation, weighed if leaked else None, chained)
    if base.verdict == "over-limit":
        message += "\n  also " + base.message
    # What leaks comes first: the first finding names the root, and a warm-up group
    # beside untracked growth (a context's new trie nodes beside the context that grew)
    # is not what the test leaks.
    warmup = [finding for finding in rest if finding.kind == "warmup"]
    leaking = [finding for finding in rest if finding.kind != "warmup"]
    findings = (*resources, *leaking, *explanation.untracked, *warmup)
    return Decision("leak", message, figures, findings, new_root=True)


def _fold_into_resources(
    resources: tuple[Finding, ...], explained: tuple[Finding, ...]
) -> tuple[list[Finding], list[Finding]]:
    """Count explained groups named after a resource kind with the sentinel's finding of
    that kind: the live thread's retained objects are that thread's, said once."""
    first: dict[str, int] = {}
    for at, finding in enumerate(resources):
        first.setdefault(finding.kind, at)
    folded = list(resources)
    rest = []
    for finding in explained:
        at = first.get(finding.kind, -1) if finding.kind in RESOURCE_KINDS else -1
        if at < 0:
            rest.append(finding)
            continue
        into = folded[at]
        folded[at] = replace(
            into, count=into.count + finding.count, bytes=into.bytes + finding.bytes
        )
    return folded, rest


def _plural(count: int, noun: str) -> str:
    """``"1 object"``, ``"2 objects"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def entries(count: int, noun: str) -> str:
    """``"1 cache entry"``, ``"2 cache entries"``, ``"161 bytes"``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


def _leak_message(
    explanation: Explanation, weighed: tuple[int, int] | None, chained: tuple[str, ...] = ()
) -> str:
    """The header of a leak: what each run added (the findings' own count and deep size
    when they were explained), then resources and untracked growth; first, the earlier
    tests whose leftovers it extends when those confirmed it (``chained``)."""
    runs = explanation.runs
    counts = [run.retained_objects for run in runs]
    grown = [run.container_growth for run in runs]
    parts = [finding.summary for finding in explanation.resources]
    if any(counts):
        objects, size = weighed or (counts[-1], runs[-1].retained_bytes)
        runs_text = "the run" if len(runs) == 1 else f"each of {len(runs)} runs"
        if objects == counts[-1]:
            parts.append(
                f"retained {_plural(objects, 'object')} / {format_size(size)} on {runs_text}: "
                f"{counts}"
            )
        else:
            # The findings weigh what the last run left (a new link of a chain, with what
            # it holds); the counts are each run's net growth (what the run before left
            # and this one dropped is not counted).
            parts.append(
                f"grew on {runs_text} by {counts} objects; the leak explained holds "
                f"{_plural(objects, 'object')} / {format_size(size)}"
            )
        parts.append(f"top retained types: {explanation.top_types}")
    if any(grown):
        parts.append(
            f"module-level containers grew by {entries(grown[-1], 'entry')} on each of "
            f"{len(runs)} runs: {grown}"
        )
    if chained:
        parts.insert(
            0, f"a new link of a chain that {chained[0]} and then {chained[1]} grew, all alive"
        )
    return "confirmed: " + "\n  ".join(parts)


def record_of(
    nodeid: str,
    limits: dict[str, Any],
    facts: Facts,
    decision: Decision,
    blame: list[dict[str, Any]],
) -> TestRecord:
    """The record of a test: what guarding it found and what was decided, in one step."""
    root = decision.root
    # The first two positionally: past fifteen keywords, a call builds a dict for them.
    return TestRecord(
        nodeid,
        facts.outcome,
        verdict=decision.verdict,
        message=decision.message,
        delta=decision.figures,
        repetitions=tuple(facts.repetitions),
        limits=limits,
        findings=tuple(decision.findings),
        blame=tuple(blame),
        suspect=facts.suspect and not facts.vouched,
        vouched=facts.vouched,
        confirm_seconds=facts.confirm_seconds,
        explain_seconds=facts.explain_seconds,
        root=root.key if root else "",
        same_root_as=root.first if root and root.first != nodeid else "",
        distribution=(root.distribution or "") if root else "",
    )
