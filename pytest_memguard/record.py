"""The per-test record: everything pytest-memguard decided about one test.

It travels on the test report as a JSON-safe dict (``report.memguard``, written by
:meth:`TestRecord.to_dict`, so it crosses pytest-xdist unchanged) and is the only input
of the reports and the history.

``delta`` (and each entry of ``repetitions``) holds the figures of one guarded run, a
:class:`~pytest_memguard.figures.Figures` (None when the run was not measured), and
``limits`` maps each limit key to its value in bytes, seconds or a count, or None when
the limit is off: :data:`pytest_memguard.figures.NAMES` lists both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_memguard.figures import Figures, figures_dict
from pytest_memguard.findings import Finding
from pytest_memguard.shallow import shallow_dict

#: Verdicts of the public JSON schema (docs/architecture.md, "The public contract");
#: ``known`` is a leak listed in the known-leak baseline (``--memguard-known``), which
#: passes.
#: ``unconfirmed`` is a suspect the session's confirmation budget had no room to re-run,
#: or whose re-runs failed where the test passed.
VERDICTS: tuple[str, ...] = (
    "ok",
    "leak",
    "over-limit",
    "warmup",
    "error",
    "known",
    "unconfirmed",
)

#: Verdicts that never fail a test: the others count as failed in the history.
PASSING_VERDICTS: tuple[str, ...] = ("ok", "warmup", "known", "unconfirmed")

#: Version of the JSON report schema; bump on any incompatible change.
SCHEMA_VERSION = 1


@dataclass
class TestRecord:
    """What one guarded test used, left behind and was judged."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    outcome: str
    verdict: str = "ok"
    message: str = ""
    delta: Figures | None = None
    #: None for a repetition that could not be measured.
    repetitions: tuple[Figures | None, ...] = ()
    limits: dict[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    #: Resources other tests left behind that surfaced during this test (or before it,
    #: between tests), each charged to the test that created it: ``kind``, ``summary``,
    #: ``created_by``, ``created_at``, ``surfaced_in``, ``event``, ``count``. Never a
    #: part of this test's verdict.
    blame: tuple[dict[str, Any], ...] = ()
    #: Whether the screen left the test a suspect, and what confirming and explaining
    #: it cost, in seconds. A test whose growth its parametrized siblings' re-runs
    #: vouched for as warm-up is ``vouched``, and no suspect: it is never re-run.
    suspect: bool = False
    vouched: bool = False
    confirm_seconds: float = 0.0
    explain_seconds: float = 0.0
    #: A leak's root cause (its main finding's fingerprint), the test where it was first
    #: explained when that is another one, and the installed distribution holding it.
    root: str = ""
    same_root_as: str = ""
    distribution: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The record as the JSON-safe dict of ``report.memguard`` and the JSON report."""
        # Shallow on purpose (dataclasses.asdict deep-copies): every other field is
        # already plain JSON-safe data, and this runs once per guarded test.
        data = shallow_dict(self)
        data["delta"] = figures_dict(self.delta)
        # Most tests have neither: their empty tuples are already JSON-safe.
        if self.repetitions:
            data["repetitions"] = tuple(map(figures_dict, self.repetitions))
        if self.findings:
            data["findings"] = tuple(finding.to_dict() for finding in self.findings)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestRecord:
        """The record of a dict written by :meth:`to_dict` (unknown keys are ignored)."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["delta"] = Figures.from_dict(known.get("delta") or {})
        known["repetitions"] = tuple(Figures.from_dict(run) for run in known.get("repetitions", ()))
        known["findings"] = tuple(Finding.from_dict(found) for found in known.get("findings", ()))
        known["blame"] = tuple(known.get("blame", ()))
        return cls(**known)
