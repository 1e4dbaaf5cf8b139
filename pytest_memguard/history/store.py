"""The run history: an embedded SQLite database with a row per run and a row per test.

Concurrent pytest sessions (several CI jobs on one checkout, xdist controllers) may
save at the same moment, and a session may be killed while saving. So the database
runs in WAL mode with a busy timeout, and each run is saved in one ``BEGIN IMMEDIATE``
transaction: a reader sees a run with all its tests or not at all.

The schema is versioned in ``meta(schema_version)``; ``MIGRATIONS[n]`` upgrades a
version ``n`` database to ``n + 1`` inside the same kind of transaction.

A run is addressed (``ref``) by its id, by its name (the latest run with that name), by
``latest``, or by the path of a baseline file written by :meth:`History.export_json`.
A run saved from an interrupted session (Ctrl-C, ``-x`` is not one) is kept and marked,
but only its id addresses it: it is never ``latest`` nor the run of a name, so it never
becomes a comparison's default baseline.

A database the user cannot write (a read-only file or directory, a CI cache) is opened
read-only for the commands that only read it.
"""

from __future__ import annotations

import json
import os
import platform as platform_module
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest_memguard
from pytest_memguard.history import HistoryError
from pytest_memguard.history.compare import figure
from pytest_memguard.record import PASSING_VERDICTS, TestRecord
from pytest_memguard.report.json import (
    RecordLike,
    as_record,
    load_json_report,
    now_iso,
    record_dict,
    write_json_report,
)

#: The history database, relative to pytest's rootdir (the ``memguard`` command looks for
#: it from the working directory up). config.py's ``--memguard-db`` help names it too,
#: as text: importing this module there would load the history in every pytest run.
DEFAULT_PATH = Path(".memguard") / "history.sqlite"

#: Seconds a writer waits for another one to finish before giving up.
BUSY_TIMEOUT = 30.0

#: The comparable figures, stored as columns so the history can be sorted and queried
#: without decoding ``record_json``; named as in the tests table.
FIGURE_COLUMNS: Mapping[str, str] = {
    "retained_bytes": "retained",
    "retained_objects": "retained_objects",
    "peak": "peak",
    "rss_peak": "rss_peak",
    "rss_growth": "rss_growth",
    "gc_pause_max": "gc_pause",
    "gc_collections": "gc_collections",
    "duration": "duration",
}

_RUN_COLUMNS = (
    "name",
    "created",
    "commit",
    "branch",
    "python",
    "platform",
    "plugin_version",
    "args",
    "interrupted",
)
_RESERVED_NAME = "latest"


class UnknownRunError(HistoryError, LookupError):
    """No run matches a reference."""


@dataclass(frozen=True)
class Run:
    """A saved run (``id`` is None for one read from a baseline file at ``path``)."""

    id: int | None
    name: str | None
    created: str
    commit: str | None
    branch: str | None
    python: str
    platform: str
    plugin_version: str
    args: tuple[str, ...] = ()
    tests: int = 0
    failed: int = 0
    path: str | None = None
    interrupted: bool = False

    @property
    def label(self) -> str:
        """How to refer to this run in messages: ``#3 (main)``, or the file's path."""
        if self.id is None:
            return self.path or "<baseline>"
        notes = [note for note in (self.name, "interrupted" if self.interrupted else "") if note]
        return f"#{self.id} ({', '.join(notes)})" if notes else f"#{self.id}"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def environment() -> dict[str, str | None]:
    """What a run records about where it ran: commit, branch, python, platform, version."""
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "branch": None if branch == "HEAD" else branch,  # "HEAD" means detached
        "python": f"{platform_module.python_implementation()} {platform_module.python_version()}",
        "platform": platform_module.platform(),
        "plugin_version": pytest_memguard.__version__,
    }


#: The passing verdicts as an SQL list; constants of this module, never user input.
_PASSING_SQL = ", ".join(f"'{verdict}'" for verdict in PASSING_VERDICTS)


def _failed(record: TestRecord) -> bool:
    return record.verdict not in PASSING_VERDICTS


def _figure_row(record: TestRecord) -> tuple[float | None, ...]:
    return tuple(figure(record.delta, field) for field in FIGURE_COLUMNS.values())


def load_baseline(path: str | os.PathLike[str]) -> tuple[Run, list[TestRecord]]:
    """Read a baseline (or JSON report) file: the run it describes and its records."""
    try:
        document = load_json_report(path)
    except OSError as exc:
        reason = exc.strerror or exc
        raise HistoryError(f"cannot read baseline {os.fspath(path)}: {reason}") from None
    except ValueError as exc:
        raise HistoryError(str(exc)) from None
    try:
        records = [as_record(test) for test in document["tests"]]
    except TypeError as exc:
        raise HistoryError(f"{os.fspath(path)}: bad test record: {exc}") from None
    header = document.get("header")
    info = header.get("run") if isinstance(header, dict) else None
    info = info if isinstance(info, dict) else {}
    run = Run(
        id=None,
        name=info.get("name") or Path(path).stem,
        created=str(document.get("created", "")),
        commit=info.get("commit"),
        branch=info.get("branch"),
        python=str(document.get("python", "")),
        platform=str(document.get("platform", "")),
        plugin_version=str(document.get("plugin_version", "")),
        args=tuple(info.get("args", ())),
        tests=len(records),
        failed=sum(map(_failed, records)),
        path=os.fspath(path),
    )
    return run, records


# -- schema -----------------------------------------------------------------------------

_V1_TABLES = """
CREATE TABLE IF NOT EXISTS meta (schema_version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT,
    created TEXT NOT NULL,
    "commit" TEXT,
    branch TEXT,
    python TEXT NOT NULL DEFAULT '',
    platform TEXT NOT NULL DEFAULT '',
    plugin_version TEXT NOT NULL DEFAULT '',
    args TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS tests (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    nodeid TEXT NOT NULL,
    outcome TEXT NOT NULL,
    verdict TEXT NOT NULL,
    retained_bytes INTEGER,
    retained_objects INTEGER,
    peak INTEGER,
    rss_growth INTEGER,
    gc_pause_max REAL,
    gc_collections INTEGER,
    duration REAL,
    record_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tests_run ON tests (run_id);
CREATE INDEX IF NOT EXISTS tests_nodeid_run ON tests (nodeid, run_id);
CREATE INDEX IF NOT EXISTS runs_name ON runs (name, id);
"""

# Columns a pre-release (unversioned, "version 0") database may lack, with their type;
# it always had runs(id, name, created) and tests(run_id, nodeid, outcome, verdict,
# record_json).
_V1_COLUMNS: Mapping[str, Mapping[str, str]] = {
    "runs": {
        "commit": "TEXT",
        "branch": "TEXT",
        "python": "TEXT NOT NULL DEFAULT ''",
        "platform": "TEXT NOT NULL DEFAULT ''",
        "plugin_version": "TEXT NOT NULL DEFAULT ''",
        "args": "TEXT NOT NULL DEFAULT '[]'",
    },
    "tests": {
        "retained_bytes": "INTEGER",
        "retained_objects": "INTEGER",
        "peak": "INTEGER",
        "rss_growth": "INTEGER",
        "gc_pause_max": "REAL",
        "gc_collections": "INTEGER",
        "duration": "REAL",
    },
}


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _migrate_0_to_1(db: sqlite3.Connection) -> None:
    """Create the version 1 layout, completing a pre-release database.

    Missing figure columns are filled from ``record_json``, which always had them all.
    """
    for statement in _V1_TABLES.split(";"):
        # Not executescript(): it would commit the migration's transaction first.
        if statement.strip():
            db.execute(statement)
    added_figures = False
    for table, columns in _V1_COLUMNS.items():
        present = _columns(db, table)
        for column, kind in columns.items():
            if column not in present:
                db.execute(f'ALTER TABLE {table} ADD COLUMN "{column}" {kind}')
                added_figures = added_figures or table == "tests"
    if added_figures:
        _fill_figures(db)


def _fill_figures(db: sqlite3.Connection) -> None:
    """Recompute every figure column from ``record_json``, which always had them all."""
    present = _columns(db, "tests")
    columns = [column for column in FIGURE_COLUMNS if column in present]
    rows = db.execute("SELECT rowid, record_json FROM tests").fetchall()
    assignments = ", ".join(f"{column} = ?" for column in columns)
    updates = []
    for rowid, text in rows:
        record = TestRecord.from_dict(json.loads(text))
        figures = dict(zip(FIGURE_COLUMNS, _figure_row(record), strict=True))
        updates.append((*(figures[column] for column in columns), rowid))
    db.executemany(f"UPDATE tests SET {assignments} WHERE rowid = ?", updates)


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    """Mark the runs of interrupted sessions (none was marked before); keep the RSS peak
    apart from ``peak``, which is the traced peak only."""
    db.execute("ALTER TABLE runs ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE tests ADD COLUMN rss_peak INTEGER")
    _fill_figures(db)


#: ``MIGRATIONS[n]`` upgrades a version ``n`` database to version ``n + 1``.
MIGRATIONS: Sequence[Callable[[sqlite3.Connection], None]] = (_migrate_0_to_1, _migrate_1_to_2)
SCHEMA_VERSION = len(MIGRATIONS)


def _schema_version(db: sqlite3.Connection) -> int:
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        return 0
    row = db.execute("SELECT max(schema_version) FROM meta").fetchone()
    return int(row[0] or 0)


# -- the database ---------------------------------------------------------------------


class History:
    """The run history in the SQLite database at ``path``.

    The database is opened on first use. With ``create=False`` a missing database is a
    :class:`HistoryError` instead of a new empty one (for read-only commands).
    Every database failure is raised as :class:`HistoryError`.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_PATH, *, create: bool = True):
        self.path = Path(path)
        self.create = create
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the history can be used again; it reopens)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"history database {self.path}: {exc}") from None

    @property
    def read_only(self) -> bool:
        """Whether the database is opened read-only: an existing file, opened for reading
        (``create=False``), that this user cannot write, or whose directory cannot hold
        the WAL's side files."""
        if self.create or not self.path.is_file():
            return False
        return not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK))

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit, see _transaction().
        if not self.read_only:
            return sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        # immutable: no -shm or -wal file can be created next to it, so SQLite must not
        # look for a writer's lock.
        uri = f"{self.path.resolve().as_uri()}?mode=ro&immutable=1"
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)

    def _connection(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        if not self.path.is_file():
            if not self.create:
                raise HistoryError(f"no history database at {self.path}")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._errors():
            db = self._open()
        try:
            with self._errors():
                db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
                if self.read_only:
                    self._check_readable(db)
                else:
                    _enable_wal(db)
                    self._upgrade(db)
        except BaseException:
            db.close()
            raise
        self._db = db
        return db

    def _check_readable(self, db: sqlite3.Connection) -> None:
        version = _schema_version(db)
        if version != SCHEMA_VERSION:
            raise HistoryError(
                f"history database {self.path} is read-only and has schema version "
                f"{version}; this pytest-memguard reads version {SCHEMA_VERSION} (open it "
                "once where it can be written, to upgrade it)"
            )

    def check(self) -> None:
        """Open the database now (creating it unless ``create=False``) and read it, so a
        corrupt, foreign or unwritable database is reported before a session runs."""
        db = self._connection()
        with self._errors():
            db.execute("SELECT count(*) FROM runs").fetchone()

    def _upgrade(self, db: sqlite3.Connection) -> None:
        if _schema_version(db) == SCHEMA_VERSION:
            return
        if not self.create and not _columns(db, "runs"):
            raise HistoryError(f"{self.path} is not a pytest-memguard history database")
        # Re-read the version inside the write lock: another process may have migrated.
        with _transaction(db):
            version = _schema_version(db)
            if version > SCHEMA_VERSION:
                raise HistoryError(
                    f"history database {self.path} has schema version {version}; this "
                    f"pytest-memguard supports up to {SCHEMA_VERSION}: upgrade it"
                )
            for migrate in MIGRATIONS[version:]:
                migrate(db)
            db.execute("DELETE FROM meta")
            db.execute("INSERT INTO meta (schema_version) VALUES (?)", (SCHEMA_VERSION,))

    # -- writing --

    def save_run(
        self,
        records: Sequence[RecordLike],
        *,
        name: str | None = None,
        args: Sequence[str] = (),
        meta: Mapping[str, str | None] | None = None,
        interrupted: bool = False,
    ) -> int:
        """Save a run and its records in one transaction; return the run's id.

        An ``interrupted`` run is kept but never becomes ``latest`` or the run of its name.

        ``meta`` overrides what :func:`environment` finds (``commit``, ``branch``,
        ``python``, ``platform``, ``plugin_version``) and may set ``created``.
        A name cannot be empty, all digits, ``latest`` or end in ``.json``: those
        address runs otherwise.
        """
        if name is not None and (
            not name.strip() or name.isdigit() or name == _RESERVED_NAME or name.endswith(".json")
        ):
            raise ValueError(
                f"run name {name!r} is reserved: it cannot be empty, a number, "
                f"'{_RESERVED_NAME}', or end in '.json'"
            )
        info: dict[str, Any] = {"created": now_iso(), **environment()}
        unknown = set(meta or {}) - set(info)
        if unknown:
            raise ValueError(f"unknown run metadata {sorted(unknown)}; known: {sorted(info)}")
        info.update(meta or {})
        info["name"] = name
        info["args"] = json.dumps(list(args))
        info["interrupted"] = int(interrupted)
        db = self._connection()
        with self._errors(), _transaction(db):
            quoted = ", ".join(f'"{column}"' for column in _RUN_COLUMNS)
            cursor = db.execute(
                f"INSERT INTO runs ({quoted}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})",
                [info[column] for column in _RUN_COLUMNS],
            )
            run_id = cursor.lastrowid
            assert run_id is not None
            db.executemany(
                f"INSERT INTO tests (run_id, nodeid, outcome, verdict, "
                f"{', '.join(FIGURE_COLUMNS)}, record_json) "
                f"VALUES (?, ?, ?, ?, {', '.join('?' * len(FIGURE_COLUMNS))}, ?)",
                # A generator: records are encoded while the transaction is open, so a
                # huge run never exists twice in memory.
                (
                    (
                        run_id,
                        record.nodeid,
                        record.outcome,
                        record.verdict,
                        *_figure_row(record),
                        json.dumps(record_dict(record)),
                    )
                    for record in map(as_record, records)
                ),
            )
        return run_id

    def prune(self, keep: int) -> int:
        """Delete all but the newest ``keep`` runs; return how many were deleted."""
        if keep < 0:
            raise ValueError(f"keep must be 0 or more, got {keep}")
        db = self._connection()
        with self._errors(), _transaction(db):
            doomed = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM runs ORDER BY id DESC LIMIT -1 OFFSET ?", (keep,)
                )
            ]
            db.executemany("DELETE FROM tests WHERE run_id = ?", [(i,) for i in doomed])
            db.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in doomed])
        return len(doomed)

    def export_json(self, ref: str | int, path: str | os.PathLike[str]) -> Run:
        """Write run ``ref`` as a baseline file a repository can commit; return the run.

        The file has the JSON report's format; :func:`load_baseline` and
        ``--memguard-compare=PATH.json`` read it.
        """
        run = self.get_run(ref)
        write_json_report(
            path,
            self.run_records(run),
            python=run.python,
            platform=run.platform,
            plugin_version=run.plugin_version,
            header={
                "run": {
                    "id": run.id,
                    "name": run.name,
                    "commit": run.commit,
                    "branch": run.branch,
                    "args": list(run.args),
                }
            },
            created=run.created,
        )
        return run

    # -- reading --

    _RUN_QUERY = f"""
        SELECT r.id, r.name, r.created, r."commit", r.branch, r.python, r.platform,
               r.plugin_version, r.args, r.interrupted,
               (SELECT count(*) FROM tests t WHERE t.run_id = r.id),
               (SELECT count(*) FROM tests t
                 WHERE t.run_id = r.id AND t.verdict NOT IN ({_PASSING_SQL}))
        FROM runs r
    """

    @staticmethod
    def _run(row: Sequence[Any]) -> Run:
        return Run(
            id=row[0],
            name=row[1],
            created=row[2],
            commit=row[3],
            branch=row[4],
            python=row[5],
            platform=row[6],
            plugin_version=row[7],
            args=tuple(json.loads(row[8])),
            interrupted=bool(row[9]),
            tests=row[10],
            failed=row[11],
        )

    def list_runs(self) -> list[Run]:
        """Every saved run, oldest first."""
        db = self._connection()
        with self._errors():
            return [self._run(row) for row in db.execute(self._RUN_QUERY + " ORDER BY r.id")]

    def _find(self, where: str = "", *params: object) -> Run | None:
        db = self._connection()
        with self._errors():
            row = db.execute(
                f"{self._RUN_QUERY} {where} ORDER BY r.id DESC LIMIT 1", params
            ).fetchone()
        return None if row is None else self._run(row)

    def get_run(self, ref: str | int) -> Run:
        """Return the run ``ref`` addresses; raise :class:`UnknownRunError` if none does.

        ``ref`` is tried as ``latest``, a path ending in ``.json``, a run id, a run name
        (its latest run), then any existing file. A ``.json`` path needs no database.
        """
        if isinstance(ref, int):
            run = self._find("WHERE r.id = ?", ref)
        elif ref.endswith(".json"):
            return load_baseline(ref)[0]
        elif ref == _RESERVED_NAME:
            run = self._find("WHERE NOT r.interrupted")
            if run is None:
                raise UnknownRunError(f"no complete runs saved in {self.path}")
        else:
            run = self._find("WHERE r.id = ?", int(ref)) if ref.isdigit() else None
            run = run or self._find("WHERE r.name = ? AND NOT r.interrupted", ref)
            if run is None and Path(ref).is_file():
                return load_baseline(ref)[0]
        if run is None:
            raise UnknownRunError(
                f"unknown run {str(ref)!r}: no run with that id or name in {self.path} "
                "(see `memguard list`)"
            )
        return run

    def run_records(self, run: int | Run) -> list[TestRecord]:
        """The records of a run (by id, or a :class:`Run` from :meth:`get_run`)."""
        if isinstance(run, Run) and run.id is None:
            assert run.path is not None
            return load_baseline(run.path)[1]
        run_id = run.id if isinstance(run, Run) else run
        db = self._connection()
        with self._errors():
            if not db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise UnknownRunError(f"unknown run id {run_id} in {self.path}")
            rows = db.execute(
                "SELECT record_json FROM tests WHERE run_id = ? ORDER BY rowid", (run_id,)
            )
            texts = [text for (text,) in rows]
        try:
            return [TestRecord.from_dict(json.loads(text)) for text in texts]
        except (ValueError, TypeError) as exc:
            raise HistoryError(
                f"history database {self.path}: bad record in run {run_id}: {exc}"
            ) from None

    def load(self, ref: str | int) -> tuple[Run, list[TestRecord]]:
        """The run ``ref`` addresses and its records."""
        run = self.get_run(ref)
        return run, self.run_records(run)


def _enable_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL, retrying: two processes creating the database at once can make the
    switch report "database is locked" at once, without waiting on the busy handler."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so two writers queue on the busy timeout
    # instead of one failing when it upgrades a read lock.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        # SQLite may have rolled back already (a full disk, an interrupt).
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
