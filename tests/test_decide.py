"""Every rule of the verdict, from facts alone: no pytest run, no heap, no re-run."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_memguard.config import Limits
from pytest_memguard.confirm.decide import Decision, Explanation, Facts, decide, record_of
from pytest_memguard.explain.causes import Root
from pytest_memguard.figures import Figures
from pytest_memguard.findings import ChainEdge, Finding
from pytest_memguard.history.known import KnownLeak, KnownLeaks, fingerprint

#: A screened run that left 60 objects (4 KiB) and broke no limit that is set.
SCREENED = Figures(retained_objects=60, retained_bytes=4096, duration=0.01)
#: A suspect: growth no known holder explains.
SUSPECT = Facts(figures=SCREENED, suspect=True, unexplained=60)
#: The default limits, and ones any of the screened run's figures break.
LIMITS = Limits()
TIGHT = Limits(peak=1024, rss_growth=1024, gc_pause=0.001, gc_collections=2)


def _group(root: str = "module", kind: str = "growing-container", count: int = 20) -> Finding:
    return Finding(
        kind=kind,
        summary=f"{kind} held from a {root}",
        count=count,
        bytes=100 * count,
        retainer_chain=(ChainEdge("module", "app.cache"), ChainEdge("list", "._CACHE")),
        extra={"root": root},
    )


def _explained(*groups: Finding, resources: tuple[Finding, ...] = ()) -> Facts:
    """A suspect confirmed over 4 runs (the explained one last), explained."""
    runs = tuple(replace(SCREENED, retained_objects=20) for _ in range(4))
    explanation = Explanation(groups, resources, runs=runs, top_types="dict x 20")
    return SUSPECT._replace(repetitions=runs[:-1], explanation=explanation)


def _root(first: str = "t.py::first") -> Root:
    finding = _group()
    return Root(fingerprint(finding), first, "growing-container", "app.cache grows", finding)


# --- nothing to judge ---------------------------------------------------------------------


def test_a_run_the_plugin_could_not_judge_is_an_error() -> None:
    decision = decide(SUSPECT._replace(error="RuntimeError('boom')"), LIMITS)
    assert decision == Decision(
        "error", "memguard could not judge this test: RuntimeError('boom')", SCREENED
    )
    unmeasured = decide(Facts(figures=None, error="RuntimeError('no figures')"), LIMITS)
    assert unmeasured.verdict == "error" and unmeasured.figures is None


@pytest.mark.parametrize("outcome", ["failed", "error", "skipped"])
def test_a_test_that_did_not_pass_is_not_judged_on_memory(outcome: str) -> None:
    assert decide(SUSPECT._replace(outcome=outcome), TIGHT) == Decision("ok", "", SCREENED)


def test_a_run_that_left_nothing_unexplained_is_ok() -> None:
    assert decide(Facts(figures=SCREENED), LIMITS) == Decision("ok", "", SCREENED)


# --- limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("figures", "limits", "message"),
    [
        (Figures(traced_peak=2048), Limits(peak=1024), "peak 2.0 KiB over the limit 1.0 KiB"),
        (
            Figures(rss_growth=2048),
            Limits(rss_growth=1024),
            "RSS grew 2.0 KiB, over the limit 1.0 KiB",
        ),
        (Figures(gc_pause_max=0.002), Limits(gc_pause=0.001), "GC pause 2.0 ms over the limit"),
        (
            Figures(gc_collections=(2, 1, 0)),
            Limits(gc_collections=2),
            "3 GC collections, over the limit 2",
        ),
    ],
)
def test_each_limit_broken_by_the_screened_run_is_over_limit(
    figures: Figures, limits: Limits, message: str
) -> None:
    decision = decide(Facts(figures=figures), limits)
    assert decision.verdict == "over-limit"
    assert decision.message.startswith(message)


def test_every_broken_limit_is_said() -> None:
    figures = Figures(traced_peak=2048, rss_growth=2048, gc_pause_max=0.002)
    decision = decide(Facts(figures=figures), TIGHT)
    assert decision.message.count("; ") == 2


def test_an_unset_or_unmeasured_limit_is_never_broken() -> None:
    untraced = Figures(traced_peak=None, rss_growth=10**9, gc_collections=(100, 0, 0))
    assert decide(Facts(figures=untraced), Limits(peak=1)).verdict == "ok"


# --- warm-up ------------------------------------------------------------------------------


def test_growth_the_triage_explains_is_warmup() -> None:
    facts = Facts(figures=SCREENED, warmup=("a lazy import", "a cache filled once"))
    decision = decide(facts, LIMITS)
    assert (decision.verdict, decision.message) == ("warmup", "a lazy import; a cache filled once")


def test_warmup_never_replaces_over_limit() -> None:
    figures = replace(SCREENED, traced_peak=2048)
    decision = decide(Facts(figures=figures, warmup=("a lazy import",)), TIGHT)
    assert decision.verdict == "over-limit" and "peak" in decision.message


def test_growth_held_under_declared_bounds_is_warmup() -> None:
    facts = SUSPECT._replace(bounds=("deque(maxlen=8)", "lru_cache(maxsize=128)"))
    decision = decide(facts, LIMITS)
    assert decision.verdict == "warmup"
    assert decision.message == (
        "growth held by a bounded container: deque(maxlen=8), lru_cache(maxsize=128)"
    )


def test_growth_that_stopped_on_a_repetition_is_warmup() -> None:
    facts = SUSPECT._replace(repetitions=(Figures(),), cleared="growth stopped on repetition 1")
    decision = decide(facts, LIMITS)
    assert (decision.verdict, decision.message) == (
        "warmup",
        "one-time growth, not a leak (growth stopped on repetition 1)",
    )


# --- unconfirmed ----------------------------------------------------------------------------


UNCONFIRMED = (
    "suspect not confirmed: the session's confirmation budget had no room to re-run it "
    "(the screened run left 60 objects no known holder explains)"
)


def test_a_suspect_the_budget_cannot_rerun_is_unconfirmed() -> None:
    decision = decide(SUSPECT._replace(no_budget=True), LIMITS)
    assert (decision.verdict, decision.message) == ("unconfirmed", UNCONFIRMED)


def test_a_suspect_whose_repetition_failed_is_unconfirmed() -> None:
    facts = SUSPECT._replace(repetitions=(Figures(),), untold="repetition 1 failed in call")
    decision = decide(facts, LIMITS)
    assert (decision.verdict, decision.message) == (
        "unconfirmed",
        "suspect not confirmed: repetition 1 failed in call "
        "(the screened run left 60 objects no known holder explains)",
    )


def test_unconfirmed_never_replaces_over_limit() -> None:
    figures = replace(SCREENED, rss_growth=4096)
    decision = decide(SUSPECT._replace(figures=figures, no_budget=True), TIGHT)
    assert decision.verdict == "over-limit"


# --- same root ------------------------------------------------------------------------------


def test_growth_of_a_confirmed_root_is_that_leak_again() -> None:
    root = _root()
    facts = Facts(figures=SCREENED, same_root=root.key, root=root, root_added=(3, 240))
    decision = decide(facts, LIMITS)
    assert decision.verdict == "leak"
    assert decision.message == "same root as t.py::first: app.cache grows"
    assert decision.findings == (root.finding,)
    # What the run added to the root, not all it left.
    assert decision.figures == replace(SCREENED, retained_objects=3, retained_bytes=240)
    record = record_of("t.py::later", {}, facts, decision, [])
    assert (record.root, record.same_root_as) == (root.key, "t.py::first")


def test_a_confirmed_leak_held_by_a_known_root_keeps_its_figures() -> None:
    root = _root()
    decision = decide(SUSPECT._replace(same_root=root.key, root=root), LIMITS)
    assert decision.verdict == "leak" and decision.figures == SCREENED
    assert decision.findings == (root.finding,)  # as when the screen recognised it


def test_repetitions_that_grew_only_a_known_root_are_that_roots_leak() -> None:
    root = _root()
    facts = SUSPECT._replace(same_root=root.key, root=root, root_added=(2, 160))
    decision = decide(facts, LIMITS)
    assert decision.verdict == "leak" and decision.findings == (root.finding,)
    assert decision.figures == replace(SCREENED, retained_objects=2, retained_bytes=160)


def test_a_root_the_session_does_not_know_decides_nothing() -> None:
    facts = Facts(figures=SCREENED, warmup=("a lazy import",), same_root="gone", root=None)
    assert decide(facts, LIMITS) == Decision("ok", "", SCREENED)


def test_the_first_test_of_a_root_is_not_its_own_same_root() -> None:
    root = _root(first="t.py::first")
    decision = decide(Facts(figures=SCREENED, same_root=root.key, root=root), LIMITS)
    record = record_of("t.py::first", {}, Facts(figures=SCREENED), decision, [])
    assert (record.root, record.same_root_as) == (root.key, "")


# --- attribution ----------------------------------------------------------------------------


def test_growth_held_by_a_wider_scoped_fixture_is_not_the_tests() -> None:
    decision = decide(_explained(_group(root="holder")), LIMITS)
    assert decision.verdict == "warmup"
    assert decision.message == "growth held by a wider-scoped fixture, not by the test"
    assert decision.findings == (_group(root="holder"),)  # shown, not failed
    assert not decision.new_root


def test_growth_reached_from_no_named_root_is_not_attributable() -> None:
    decision = decide(_explained(_group(root="")), LIMITS)
    assert decision.verdict == "warmup"
    assert decision.message.endswith("reached from no named root: not attributable")


def test_growth_explain_finds_all_warmup_is_warmup() -> None:
    group = _group(kind="warmup")
    decision = decide(_explained(group), LIMITS)
    assert decision.message == "growth on every run, all of it warm-up: " + group.summary


def test_a_resource_left_behind_is_a_leak_whoever_holds_the_objects() -> None:
    thread = Finding(kind="thread", summary="thread 'poller' still running", count=1, bytes=10)
    decision = decide(_explained(_group(root="holder"), resources=(thread,)), LIMITS)
    assert decision.verdict == "leak"
    assert decision.message.startswith("confirmed: thread 'poller' still running\n")


# --- leaks and the figures they show --------------------------------------------------------


def test_a_confirmed_attributable_leak_is_a_leak_weighed_by_its_findings() -> None:
    groups = (_group(count=20), _group(kind="warmup", count=5))
    decision = decide(_explained(*groups), LIMITS)
    assert decision.verdict == "leak" and decision.new_root
    assert decision.message == (
        "confirmed: retained 20 objects / 2.0 KiB on each of 4 runs: [20, 20, 20, 20]\n"
        "  top retained types: dict x 20"
    )
    # The record shows what the findings weigh, not the screened run's shallow figures.
    assert decision.figures == replace(SCREENED, retained_objects=20, retained_bytes=2000)
    assert decision.findings == groups


def test_a_leak_whose_findings_weigh_more_than_its_net_growth_says_both() -> None:
    """A chain one link longer per run: the last run's new link and what it holds are
    explained (6 objects), while each run's net growth counts 2."""
    facts = _explained(_group(count=6))
    runs = tuple(
        replace(run, retained_objects=count)
        for run, count in zip(facts.explanation.runs, (3, 2, 2, 2), strict=True)
    )
    assert facts.explanation is not None
    facts = facts._replace(explanation=facts.explanation._replace(runs=runs))
    decision = decide(facts, LIMITS)
    assert decision.message.startswith(
        "confirmed: grew on each of 4 runs by [3, 2, 2, 2] objects; the leak explained "
        "holds 6 objects / "
    )


def test_a_leak_also_says_the_limits_it_broke() -> None:
    facts = _explained(_group())
    facts = facts._replace(figures=replace(SCREENED, gc_pause_max=0.5))
    decision = decide(facts, TIGHT)
    assert decision.verdict == "leak"
    assert decision.message.endswith("\n  also GC pause 500.0 ms over the limit 1.0 ms")


def test_a_resources_retained_objects_are_counted_with_it() -> None:
    thread = Finding(kind="thread", summary="thread 'w' still running", count=1, bytes=10)
    held = _group(kind="thread", count=4)
    decision = decide(_explained(held, _group(), resources=(thread,)), LIMITS)
    assert [(f.kind, f.count) for f in decision.findings] == [
        ("thread", 5),
        ("growing-container", 20),
    ]


def test_untracked_growth_is_a_leak_said_in_entries() -> None:
    runs = tuple(Figures(container_growth=3) for _ in range(4))
    grew = Finding(kind="growing-container", summary="app.NAMES grew by 3 entries", count=3)
    facts = SUSPECT._replace(explanation=Explanation(untracked=(grew,), runs=runs, top_types=""))
    decision = decide(facts, LIMITS)
    assert decision.verdict == "leak" and decision.findings == (grew,)
    assert decision.message == (
        "confirmed: module-level containers grew by 3 entries on each of 4 runs: [3, 3, 3, 3]"
    )
    assert decision.figures == SCREENED  # nothing weighed: the screened figures stay


def test_untracked_growth_comes_before_warm_up_beside_it() -> None:
    """The first finding names the leak's root: a context that grew on every run, not the
    trie nodes of its own that the run left and explain found to be warm-up."""
    runs = tuple(Figures(container_growth=1) for _ in range(4))
    grew = Finding(kind="growing-container", summary="the context grew by 1 entry", count=1)
    nodes = _group(kind="warmup", count=2)
    explanation = Explanation((nodes,), untracked=(grew,), runs=runs, top_types="")
    decision = decide(SUSPECT._replace(explanation=explanation), LIMITS)
    assert decision.verdict == "leak" and decision.findings == (grew, nodes)


# --- the record, built once -----------------------------------------------------------------


def test_the_record_is_built_from_the_facts_and_the_decision() -> None:
    facts = _explained(_group())._replace(confirm_seconds=0.5, explain_seconds=0.25)
    root = _root(first="t.py::a")
    decision = decide(facts, LIMITS)._replace(root=root)
    record = record_of("t.py::a", LIMITS.to_dict(), facts, decision, [{"kind": "thread"}])
    assert (record.verdict, record.outcome, record.suspect) == ("leak", "passed", True)
    assert record.delta == decision.figures and record.repetitions == tuple(facts.repetitions)
    assert record.findings == (_group(),)
    assert (record.confirm_seconds, record.explain_seconds) == (0.5, 0.25)
    assert (record.root, record.same_root_as, record.distribution) == (root.key, "", "")
    assert record.blame == ({"kind": "thread"},) and record.limits == LIMITS.to_dict()


# --- known ----------------------------------------------------------------------------------


def test_a_leak_listed_as_known_passes_as_known() -> None:
    facts = _explained(_group())
    record = record_of("t.py::a", {}, facts, decide(facts, LIMITS), [])
    listed = KnownLeaks("known.json", (KnownLeak("t.py::a", fingerprint(_group())),))
    known = listed.apply(record)
    assert known.verdict == "known"
    assert known.message == "known leak, listed in known.json: " + record.message
    assert record.verdict == "leak"  # the record judged is left as it was
    assert KnownLeaks("known.json", ()).apply(record) is record
