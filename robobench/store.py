"""The results store: one SQLite file, the single source of truth for the leaderboard.

Why SQLite: one file to copy, transactions, and safe concurrent writers. The
database runs in WAL mode (readers never block the writer) and every write is one
``BEGIN IMMEDIATE`` transaction with a generous ``busy_timeout``, so two sweeps
writing into the same file at once lose nothing: the second writer waits for the
first instead of failing or overwriting half a batch.

One row per key ``(entry, train_mode, condition, seed, dataset_id, config_hash)``
holds every :class:`robobench.schema.ResultRow` field; the dict fields
(``per_class``, ``breakdown``, ``depth``) are stored as JSON text. Writing a row
whose key exists replaces it (upsert). An ``entries`` table records each entry's
metadata (:class:`robobench.schema.EntryRecord`) so results imported from another
machine render even when this machine has not registered those entries. A
``trainings`` table holds one :class:`robobench.schema.TrainingRecord` (training wall
time, peak memory) per trained model, keyed like a row without the condition.

The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` is the
chain of SQL scripts, script ``i`` bringing version ``i`` to ``i + 1``. Opening an
older database migrates it in place inside one transaction.

Note: SQLite stores a float NaN as NULL, so a NaN metric reads back as ``None``.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robobench.errors import UserError
from robobench.io import write_json_atomic
from robobench.schema import TRAINING_KEY_FIELDS, EntryRecord, ResultRow, TrainingRecord, trained_dataset_id

if TYPE_CHECKING:
    import pandas

#: Columns forming a result's identity (the primary key).
KEY_FIELDS: tuple[str, ...] = ("entry", "train_mode", "condition", "seed", "dataset_id", "config_hash")
#: ResultRow fields stored as JSON text.
JSON_FIELDS: tuple[str, ...] = ("per_class", "breakdown", "depth")
#: Format tag of :meth:`ResultStore.export_json` files.
EXPORT_FORMAT = "robobench-results"
#: The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"

#: ``MIGRATIONS[i]`` upgrades a database from schema version ``i`` to ``i + 1``.
#: Version 1 held results only; version 2 added the profile, the breakdown and depth
#: dicts, and the entries table; version 3 the trainings table. Never edit a released
#: step: append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE results (
        entry TEXT NOT NULL,
        train_mode TEXT NOT NULL,
        condition TEXT NOT NULL,
        seed INTEGER NOT NULL,
        dataset_id TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'ok',
        error TEXT,
        nds REAL, map REAL, mate REAL, mase REAL, maoe REAL, mave REAL, maae REAL,
        per_class TEXT NOT NULL DEFAULT '{}',
        wall_time REAL,
        code_version TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (entry, train_mode, condition, seed, dataset_id, config_hash)
    );
    """,
    """
    ALTER TABLE results ADD COLUMN profile TEXT NOT NULL DEFAULT 'quick';
    ALTER TABLE results ADD COLUMN breakdown TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE results ADD COLUMN depth TEXT NOT NULL DEFAULT '{}';
    CREATE INDEX results_entry ON results (entry, train_mode);
    CREATE TABLE entries (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        base TEXT,
        teacher TEXT,
        paper TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT ''
    );
    """,
    """
    CREATE TABLE trainings (
        entry TEXT NOT NULL,
        train_mode TEXT NOT NULL,
        seed INTEGER NOT NULL,
        dataset_id TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        profile TEXT NOT NULL DEFAULT 'quick',
        wall_time_s REAL,
        peak_rss_mb REAL,
        peak_cuda_mb REAL,
        iterations INTEGER,
        world_size INTEGER,
        device TEXT NOT NULL DEFAULT '',
        code_version TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (entry, train_mode, seed, dataset_id, config_hash)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_ROW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ResultRow))
_ENTRY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(EntryRecord))
_TRAINING_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TrainingRecord))
#: Fields ``rows()``/``dataframe()`` accept as filters.
FILTER_FIELDS: tuple[str, ...] = (*KEY_FIELDS, "profile", "status")
#: Fields ``trainings()`` accepts as filters.
TRAINING_FILTER_FIELDS: tuple[str, ...] = (*TRAINING_KEY_FIELDS, "profile")


def row_key(row: ResultRow) -> tuple[Any, ...]:
    """A row's store key (``KEY_FIELDS`` order)."""
    return tuple(getattr(row, f) for f in KEY_FIELDS)


def training_key(obj: Any) -> tuple[Any, ...]:
    """The trained model ``obj`` (a TrainingRecord, a ResultRow or a sweep cell) belongs to
    (``TRAINING_KEY_FIELDS`` order; a row's ``<dataset id>/<eval split>`` counts as the
    dataset it was trained on)."""
    return tuple(trained_dataset_id(obj.dataset_id) if f == "dataset_id" else getattr(obj, f) for f in TRAINING_KEY_FIELDS)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _check_version(conn: sqlite3.Connection) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise UserError(
            f"results database has schema version {version}, newer than this robobench ({SCHEMA_VERSION}); "
            "upgrade robobench to read it"
        )
    return version


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring ``conn``'s database to schema version ``target`` in one transaction; returns it.

    Safe when several processes open a new database at once: the version is read
    again after taking the write lock, so each step runs exactly once.
    """
    if _check_version(conn) >= target:
        return target
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _check_version(conn)
        for step in range(version, target):
            for statement in MIGRATIONS[step].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {int(max(version, target))}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return target


def connect(path: str | Path, timeout: float = 60.0) -> sqlite3.Connection:
    """An autocommit connection in WAL mode with ``busy_timeout`` (transactions are explicit)."""
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    # Switching a new file to WAL needs a moment of exclusive access, and SQLite does not wait
    # for it: while another process holds the file it answers with the current mode or fails
    # with "database is locked" at once, busy_timeout or not. So retry for up to ``timeout``.
    deadline = time.monotonic() + timeout
    mode = "unknown"
    while True:
        try:
            mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        if mode == "wal" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if mode != "wal":
        conn.close()
        raise UserError(
            f"results database {path}: cannot switch to WAL mode within {timeout:g} s (got {mode!r}); "
            "another process may hold it, or it is on a file system without shared memory: use a local disk"
        )
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is SQLite's "another connection holds the lock" (SQLITE_BUSY or SQLITE_LOCKED,
    with any extended code)."""
    return ((getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _encode(row: ResultRow) -> tuple[Any, ...]:
    values = []
    for name in _ROW_FIELDS:
        value = getattr(row, name)
        if name in JSON_FIELDS:
            value = json.dumps(value or {}, sort_keys=True)
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        values.append(value)
    return tuple(values)


def _decode(record: sqlite3.Row) -> ResultRow:
    kwargs = {name: record[name] for name in _ROW_FIELDS}
    for name in JSON_FIELDS:
        kwargs[name] = json.loads(kwargs[name] or "{}")
    return ResultRow(**kwargs)


def _upsert_sql(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    """``INSERT`` of ``columns`` into ``table`` that replaces the non-key columns of a row with the same ``key``."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


def _row_upsert(rows: list[ResultRow]) -> tuple[str, list[tuple[Any, ...]]]:
    """SQL and parameters upserting ``rows`` (``created_at`` defaults to now)."""
    for row in rows:
        if not isinstance(row, ResultRow):
            raise TypeError(f"the results store takes ResultRow objects, got {type(row).__name__}")
    now = _now()
    values = [_encode(r if r.created_at else ResultRow(**{**r.to_dict(), "created_at": now})) for r in rows]
    return _upsert_sql("results", _ROW_FIELDS, KEY_FIELDS), values


def _entry_upsert(records: list[EntryRecord]) -> tuple[str, list[tuple[Any, ...]]]:
    """SQL and parameters upserting entry metadata."""
    return _upsert_sql("entries", _ENTRY_FIELDS, ("name",)), [tuple(getattr(r, f) for f in _ENTRY_FIELDS) for r in records]


def _training_upsert(records: list[TrainingRecord]) -> tuple[str, list[tuple[Any, ...]]]:
    """SQL and parameters upserting training records (``created_at`` defaults to now)."""
    now = _now()
    values = [tuple(getattr(r, f) if f != "created_at" else (r.created_at or now) for f in _TRAINING_FIELDS) for r in records]
    return _upsert_sql("trainings", _TRAINING_FIELDS, TRAINING_KEY_FIELDS), values


def _where(filters: dict[str, Any], allowed: tuple[str, ...] = FILTER_FIELDS) -> tuple[str, list[Any]]:
    """SQL ``WHERE`` clause of equality filters on ``allowed`` fields; a list/tuple/set value means "any of"."""
    unknown = sorted(set(filters) - set(allowed))
    if unknown:
        raise UserError(f"unknown filter(s) {unknown}; filter on {', '.join(allowed)}")
    clauses, params = [], []
    for name, value in sorted(filters.items()):
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            values = sorted(str(v) if name != "seed" else int(v) for v in value)
            clauses.append(f"{name} IN ({', '.join('?' * len(values))})")
            params.extend(values)
        else:
            clauses.append(f"{name} = ?")
            params.append(int(value) if name == "seed" else str(value))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class ResultStore:
    """Results of every evaluated cell in one SQLite file (created and migrated on open).

    Each process opens its own connection (re-opened after ``fork``); one store
    object is not meant to be shared between threads.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise UserError(f"results database {self.path} is a directory; pass a file path such as results.sqlite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        try:
            migrate(self.conn)
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):
                raise self._locked(exc) from None
            raise UserError(f"{self.path} is not a robobench results database ({exc})") from None

    def _locked(self, exc: sqlite3.Error) -> UserError:
        """The error for a write lock another process held past ``busy_timeout``: nothing of this
        write was stored, everything stored before it stays."""
        return UserError(
            f"results database {self.path} stayed locked by another process ({exc}); nothing of this write "
            "was stored and earlier results are kept; retry when the other process is done"
        )

    @property
    def conn(self) -> sqlite3.Connection:
        """This process's connection."""
        if self._conn is None or self._pid != os.getpid():
            self._conn = connect(self.path)
            self._conn.row_factory = sqlite3.Row
            self._pid = os.getpid()
        return self._conn

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error): takes the write lock up front,
        waiting up to ``busy_timeout`` for it; a lock held longer is a ``UserError`` naming the file."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise self._locked(exc) from None
            raise
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- writing -----------------------------------------------------------------

    def add(self, row: ResultRow) -> None:
        """Insert ``row`` or replace the row with the same key."""
        self.add_many([row])

    def add_many(self, rows: Iterable[ResultRow]) -> int:
        """Upsert ``rows`` in one transaction (all or nothing); returns how many were written."""
        sql, values = _row_upsert(list(rows))
        with self.transaction() as conn:
            conn.executemany(sql, values)
        return len(values)

    def add_entries(self, records: Iterable[EntryRecord]) -> None:
        """Record (or update) entry metadata in one transaction."""
        sql, values = _entry_upsert(list(records))
        with self.transaction() as conn:
            conn.executemany(sql, values)

    def add_trainings(self, records: Iterable[TrainingRecord]) -> None:
        """Record (or replace) the training cost of trained models in one transaction."""
        sql, values = _training_upsert(list(records))
        with self.transaction() as conn:
            conn.executemany(sql, values)

    # -- reading -----------------------------------------------------------------

    def rows(self, **filters: Any) -> list[ResultRow]:
        """Rows matching equality filters on :data:`FILTER_FIELDS` (list value: any of), in key order."""
        where, params = _where(filters)
        order = ", ".join(KEY_FIELDS)
        cur = self.conn.execute(f"SELECT * FROM results{where} ORDER BY {order}", params)
        return [_decode(r) for r in cur.fetchall()]

    def count(self, **filters: Any) -> int:
        """Number of rows matching ``filters`` (as :meth:`rows`)."""
        where, params = _where(filters)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM results{where}", params).fetchone()[0])

    def has(
        self,
        entry: str,
        train_mode: str,
        condition: str,
        seed: int,
        dataset_id: str,
        config_hash: str,
        *,
        status: str | None = "ok",
    ) -> bool:
        """Whether the key is stored (by default only as a successful row: failed cells are redone)."""
        filters = dict(zip(KEY_FIELDS, (entry, train_mode, condition, seed, dataset_id, config_hash)))
        return self.count(**filters, status=status) > 0

    def keys(self, status: str | None = "ok") -> set[tuple[Any, ...]]:
        """All stored keys (``KEY_FIELDS`` order), by default of successful rows only."""
        where, params = _where({"status": status})
        cur = self.conn.execute(f"SELECT {', '.join(KEY_FIELDS)} FROM results{where}", params)
        return {tuple(r) for r in cur.fetchall()}

    def entries(self) -> list[EntryRecord]:
        """Entry metadata recorded in the store, sorted by name."""
        cur = self.conn.execute(f"SELECT {', '.join(_ENTRY_FIELDS)} FROM entries ORDER BY name")
        return [EntryRecord(**dict(r)) for r in cur.fetchall()]

    def trainings(self, **filters: Any) -> list[TrainingRecord]:
        """Training records matching equality filters on :data:`TRAINING_FILTER_FIELDS`, in key order."""
        where, params = _where(filters, TRAINING_FILTER_FIELDS)
        cur = self.conn.execute(f"SELECT * FROM trainings{where} ORDER BY {', '.join(TRAINING_KEY_FIELDS)}", params)
        return [TrainingRecord(**dict(r)) for r in cur.fetchall()]

    def dataframe(self, **filters: Any) -> "pandas.DataFrame":
        """A ``pandas.DataFrame`` with one column per ResultRow field (dict fields as dicts)."""
        import pandas as pd

        rows = self.rows(**filters)
        return pd.DataFrame([r.to_dict() for r in rows], columns=list(_ROW_FIELDS))

    # -- sharing -----------------------------------------------------------------

    def export_payload(self, **filters: Any) -> dict[str, Any]:
        """Rows matching ``filters``, the training records of their models and all entry metadata,
        as the JSON-ready dict that :meth:`export_json` writes and :meth:`import_payloads` reads."""
        rows = self.rows(**filters)
        models = {training_key(r) for r in rows}
        return {
            "format": EXPORT_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "entries": [e.to_dict() for e in self.entries()],
            "rows": [r.to_dict() for r in rows],
            "trainings": [t.to_dict() for t in self.trainings() if training_key(t) in models],
        }

    def export_json(self, path: str | Path, **filters: Any) -> int:
        """Write :meth:`export_payload` to a JSON file atomically; returns the row count."""
        payload = self.export_payload(**filters)
        write_json_atomic(payload, path, indent=1, sort_keys=True)
        return len(payload["rows"])

    def import_json(self, path: str | Path) -> int:
        """Upsert rows, training records and entry metadata from an :meth:`export_json` file in one transaction.

        The file is validated first (``UserError`` naming the file and the bad field);
        returns the number of rows imported.
        """
        return self.import_payloads([(read_export(path), Path(path))])

    def import_payloads(self, payloads: list[tuple[dict[str, Any], Path]]) -> int:
        """Upsert several exports (each with the file it came from, for messages) in one transaction.

        Every payload is validated before anything is written, so a bad one leaves the
        store as it was. A row, training record or entry whose key is already stored is
        replaced by the imported one (a later payload wins over an earlier one). Returns
        the number of rows imported.
        """
        rows: list[ResultRow] = []
        records: list[EntryRecord] = []
        trainings: list[TrainingRecord] = []
        for payload, path in payloads:
            if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
                raise UserError(f"{path} is not a robobench results export (expected \"format\": \"{EXPORT_FORMAT}\")")
            rows += [_record_from_dict(ResultRow, KEY_FIELDS, d, path, f"rows[{i}]") for i, d in enumerate(payload.get("rows", []))]
            records += [_entry_from_dict(d, path, i) for i, d in enumerate(payload.get("entries", []))]
            trainings += [_record_from_dict(TrainingRecord, TRAINING_KEY_FIELDS, d, path, f"trainings[{i}]")
                          for i, d in enumerate(payload.get("trainings", []))]  # absent in exports of schema <= 2
        with self.transaction() as conn:
            # One transaction for all tables and sources: an import is all or nothing.
            conn.executemany(*_entry_upsert(records))
            conn.executemany(*_row_upsert(rows))
            conn.executemany(*_training_upsert(trainings))
        return len(rows)


def read_export(path: str | Path) -> dict[str, Any]:
    """The payload of a results source: an :meth:`ResultStore.export_json` file, or another
    results database (told apart by SQLite's file header), read whole.

    ``UserError`` naming the file when it is missing, not JSON, or not a results database;
    the format tag and fields are checked on import.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"results file {path} does not exist")
    with path.open("rb") as fh:
        is_sqlite = fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    if is_sqlite:
        with ResultStore(path) as source:
            return source.export_payload()
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"results file {path} is not valid JSON: {exc}") from None


def _record_from_dict(cls: type, keys: tuple[str, ...], data: Any, path: Path, where: str) -> Any:
    """``cls(**data)`` for a ResultRow/TrainingRecord of an export, or a ``UserError`` naming ``where``."""
    if not isinstance(data, dict):
        raise UserError(f"{path}: {where} is not an object")
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    missing = sorted(set(keys) - set(data))
    if unknown or missing:
        raise UserError(f"{path}: {where} has unknown fields {unknown} / lacks key fields {missing}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise UserError(f"{path}: {where}: {exc}") from None


def _entry_from_dict(data: Any, path: Path, index: int) -> EntryRecord:
    if not isinstance(data, dict) or "name" not in data or "role" not in data:
        raise UserError(f"{path}: entries[{index}] must be an object with at least 'name' and 'role'")
    unknown = sorted(set(data) - set(_ENTRY_FIELDS))
    if unknown:
        raise UserError(f"{path}: entries[{index}] has unknown fields {unknown}")
    return EntryRecord(**data)
