"""The known-leak baseline: leaks a suite has today pass as ``known``, new ones still fail.

Like goleak's ``IgnoreCurrent``, for gradual adoption: ``memguard export RUN
--known-leaks PATH.json`` writes the leaks of a run, ``--memguard-known=PATH.json``
reads them. A finding is matched by its test and a *fingerprint* that stays the same
from run to run and machine to machine: its kind, the root of its retainer chain (up to
the first key or index, which may differ between runs), or what the resource runs when
it has no chain, and its allocation site (file, function and source line, without the
line number, so an edit above it does not change it). Addresses, numbers (thread
names, ports, ids, counters), temporary directories and the random parts of temporary
names (``tempfile``'s, pytest's ``tmp_path``, tokens mixing letters and digits) are never
part of it. Known-leak files are read through the same normalisation, so a file written
before a rule was added still matches.

A finding that a thread allocated, in a test that names a thread (its own leaked thread,
or one another test left running and blame charged to that test), is that thread's
doing, not a finding of its own: it never makes a test's leak "new", and is not exported.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Any

from pytest_memguard.findings import Finding
from pytest_memguard.record import TestRecord

#: What a known-leak file says it is, so a JSON report passed by mistake is refused.
FILE_KIND = "memguard-known-leaks"
FILE_VERSION = 1

#: Keys of a sentinel finding's ``extra`` that say *what* leaked (the thread target,
#: the task's coroutine, the callback, the file), rather than which instance it was.
_SUBJECT_KEYS = (
    "target",
    "coroutine",
    "callback",
    "handler",
    "listener",
    "filter",
    "hook",
    "signal",
    "cmdline",
    "loop",
    "registry",
    "logger",
)

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"\d+")
_TEMP_ROOT = re.compile(
    "|".join(
        re.escape(root) + r"(?=[/\\])"
        for root in sorted(
            {tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir()), "/tmp", "/var/tmp"},
            key=len,
            reverse=True,
        )
    )
)
#: pytest's base temporary directory names its user: it differs between machines.
_PYTEST_USER = re.compile(r"pytest-of-[^/\\\s]+")
#: ``tempfile``'s random names: ``tmp`` and 8 characters.
_TEMPFILE_NAME = re.compile(r"\btmp[a-z0-9_]{8}\b")
#: A token mixing letters with digits (or the ``#`` a digit became): a random suffix,
#: a hex token, a uuid's part.
_RANDOM = re.compile(
    r"(?<![A-Za-z\d#])(?=[A-Za-z]*[\d#])(?=[\d#]*[A-Za-z])[A-Za-z\d#]{6,}(?![A-Za-z\d#])"
)


def _stable(text: str) -> str:
    """``text`` without what changes between runs and machines; idempotent, so stored
    fingerprints can be normalised again."""
    text = _ADDRESS.sub("0x", text)
    text = _TEMP_ROOT.sub("<tmp>", text)
    text = _PYTEST_USER.sub("pytest-of-*", text)
    text = _TEMPFILE_NAME.sub("tmp*", text)
    text = _RANDOM.sub("*", text)
    return _NUMBER.sub("#", text)


def _chain_root(finding: Finding) -> str:
    """The chain's edges up to its first key or index: ``shop.cache._SESSIONS``."""
    root = []
    for edge in finding.retainer_chain:
        text = edge.edge
        if text.startswith("["):
            break
        root.append(text)
    return "".join(root)


def _subject(finding: Finding) -> str:
    extra = finding.extra
    return ",".join(f"{key}={extra[key]}" for key in _SUBJECT_KEYS if extra.get(key))


def _site(finding: Finding) -> str:
    """The most recent allocation frame as ``dir/file.py:function: source line``."""
    if not finding.allocated_at:
        return ""
    frame = finding.allocated_at[-1]
    where = "/".join(PurePath(frame.filename).parts[-2:])
    parts = [where, frame.name, frame.line]
    if not frame.line:
        parts.append(str(frame.lineno))
    return ":".join(part for part in parts if part)


def fingerprint(finding: Finding) -> str:
    """A finding's stable identity: ``kind | chain root or subject | allocation site``."""
    what = _chain_root(finding) or _subject(finding)
    return _stable(" | ".join((finding.kind, what, _site(finding)))).rstrip(" |")


#: Verdicts of a test that leaked, whether or not the leak was known.
_LEAKING = ("leak", "known")

#: A record without findings (growth nothing explained) is matched by this fingerprint.
UNEXPLAINED = "leak | unexplained"


def same_finding(one: str, other: str) -> bool:
    """Whether two fingerprints name the same finding.

    The allocation site counts only when both have one: tracemalloc cannot trace an
    object whose memory came from a free list filled before tracing started (dicts and
    lists on CPython 3.12), so the same leak is sometimes seen without its site.
    """
    kind, what, site = _parts(one)
    other_kind, other_what, other_site = _parts(other)
    if (kind, what) != (other_kind, other_what):
        return False
    return site == other_site or not site or not other_site


def _parts(fingerprint_: str) -> tuple[str, str, str]:
    kind, what, site = [*fingerprint_.split(" | ", 2), "", ""][:3]
    return kind, what, site


def _matches(fingerprint_: str, candidates: Iterable[str]) -> bool:
    return any(same_finding(fingerprint_, candidate) for candidate in candidates)


def _allocated_on_a_thread(finding: Finding) -> bool:
    """Whether the allocation stack starts in a thread's bootstrap (``threading.py``)."""
    frames = finding.allocated_at
    return bool(frames) and PurePath(frames[0].filename).name == "threading.py"


def _held_by_nothing(finding: Finding) -> bool:
    """An object group no chain reaches (held by a C extension or a thread's stack)."""
    return finding.kind == "growing-container" and not (finding.retainer_chain or _subject(finding))


def thread_doing(record: TestRecord, finding: Finding) -> bool:
    """Whether ``finding`` is what a thread the record names did, not a finding of its own:
    objects a thread allocated, or held by no chain, in a test that left a thread running
    or during which another test's thread ran (a blame charge)."""
    if finding.kind == "thread":
        return False
    return names_a_thread(record) and (_allocated_on_a_thread(finding) or _held_by_nothing(finding))


def names_a_thread(record: TestRecord) -> bool:
    """Whether a thread ran during the record's test that was not the test's to end: one
    it left running (a finding), or one another test left (a blame charge)."""
    return any(finding.kind == "thread" for finding in record.findings) or any(
        charge.get("kind") == "thread" for charge in record.blame
    )


def own_findings(record: TestRecord) -> list[Finding]:
    """The record's findings without what a thread it names did."""
    return [finding for finding in record.findings if not thread_doing(record, finding)]


def record_fingerprints(record: TestRecord) -> set[str]:
    """The fingerprints of a leaking record's own findings; :data:`UNEXPLAINED` for a
    leak without findings, none when every finding is a thread's doing."""
    if not record.findings:
        return {UNEXPLAINED}
    return {fingerprint(finding) for finding in own_findings(record)}


@dataclass(frozen=True)
class KnownLeak:
    """One known finding of one test."""

    nodeid: str
    fingerprint: str
    summary: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"nodeid": self.nodeid, "fingerprint": self.fingerprint, "summary": self.summary}


class KnownLeakError(ValueError):
    """A known-leak file that cannot be read, naming the file and what is wrong."""


@dataclass(frozen=True)
class KnownLeaks:
    """The known leaks of a suite, as read from a baseline file."""

    path: str
    leaks: tuple[KnownLeak, ...]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KnownLeaks:
        """Read a file written by ``memguard export --known-leaks``."""
        try:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
        except OSError as exc:
            raise KnownLeakError(f"cannot read known leaks {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise KnownLeakError(f"known leaks {path} is not UTF-8 text: {exc.reason}") from exc
        except json.JSONDecodeError as exc:
            raise KnownLeakError(f"known leaks {path} is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("kind") != FILE_KIND:
            raise KnownLeakError(
                f"{path} is not a known-leak file (write one with "
                "'memguard export RUN --known-leaks PATH.json')"
            )
        try:
            leaks = tuple(
                KnownLeak(
                    str(entry["nodeid"]),
                    _stable(str(entry["fingerprint"])),
                    entry.get("summary", ""),
                )
                for entry in data["leaks"]
            )
        except (KeyError, TypeError) as exc:
            raise KnownLeakError(f"known leaks {path}: malformed entry ({exc!r})") from exc
        return cls(str(path), leaks)

    def _of(self, nodeid: str) -> set[str]:
        return {leak.fingerprint for leak in self.leaks if leak.nodeid == nodeid}

    def apply(self, record: TestRecord) -> TestRecord:
        """``record`` with a leak whose every finding is known turned into the verdict
        ``known``, and a leak with some known findings saying which; else ``record``."""
        if record.verdict != "leak":
            return record
        known = self._of(record.nodeid)
        found = record_fingerprints(record)
        matched = {print_ for print_ in found if _matches(print_, known)}
        if not found:
            why = f"known leak: what it left is a thread's doing ({self.path}): "
            return replace(record, verdict="known", message=why + record.message)
        if matched == found:
            why = f"known leak, listed in {self.path}: "
            return replace(record, verdict="known", message=why + record.message)
        if matched:
            return replace(
                record,
                message=f"{record.message}\n  {len(matched)} of {len(found)} findings are "
                f"known ({self.path}); the others are new",
            )
        return record

    def vanished(self, records: Iterable[TestRecord]) -> list[KnownLeak]:
        """Known leaks of tests that passed in this run without showing them any more
        (a suspect the budget left ``unconfirmed`` may still show them)."""
        seen: dict[str, set[str]] = {}
        for record in records:
            if record.outcome == "passed" and record.verdict not in ("error", "unconfirmed"):
                found = record_fingerprints(record) if record.verdict in _LEAKING else set()
                seen.setdefault(record.nodeid, set()).update(found)
        return [
            leak
            for leak in self.leaks
            if leak.nodeid in seen and not _matches(leak.fingerprint, seen[leak.nodeid])
        ]


def known_leaks_document(records: Sequence[TestRecord], run: str) -> dict[str, Any]:
    """The known-leak file of a run: one entry per finding of each leaking test."""
    leaks = []
    for record in records:
        if record.verdict not in _LEAKING:
            continue
        summaries = {fingerprint(finding): finding.summary for finding in own_findings(record)}
        for print_ in sorted(record_fingerprints(record)):
            leaks.append(KnownLeak(record.nodeid, print_, summaries.get(print_, "")).to_dict())
    return {"kind": FILE_KIND, "version": FILE_VERSION, "run": run, "leaks": leaks}


def vanished_lines(known: KnownLeaks, records: Iterable[TestRecord]) -> list[str]:
    """Terminal lines naming the known leaks this run no longer shows."""
    gone = known.vanished(records)
    if not gone:
        return []
    lines = [f"{len(gone)} known leaks no longer found; remove them from {known.path}:"]
    lines += [f"  {leak.nodeid}: {leak.fingerprint}" for leak in gone]
    return lines
