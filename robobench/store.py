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

Every record is checked against the rules of :mod:`robobench.schema` (``check_*``) when
it is written, imported or read back: a write or an import with a bad value stores
nothing, and a bad row an older version left in a store is one message naming it. A
NaN TP error written by the code (undefined: no class defines it) is stored as NULL and
reads back as ``None``; an import refuses NaN.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robobench.errors import UserError
from robobench.io import write_json_atomic
from robobench.schema import (
    DETECTION_METRICS,
    TRAINING_KEY_FIELDS,
    EntryRecord,
    InvalidRecord,
    ResultRow,
    TrainingRecord,
    check_entry_record,
    check_result_row,
    check_training_record,
    describe_record,
    trained_dataset_id,
)

if TYPE_CHECKING:
    import pandas

#: Columns forming a result's identity (the primary key).
KEY_FIELDS: tuple[str, ...] = ("entry", "train_mode", "condition", "seed", "dataset_id", "config_hash")
#: ResultRow fields stored as JSON text.
JSON_FIELDS: tuple[str, ...] = ("per_class", "breakdown", "depth", "bootstrap")
#: Format tag of :meth:`ResultStore.export_json` files.
EXPORT_FORMAT = "robobench-results"
#: The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"

#: ``MIGRATIONS[i]`` upgrades a database from schema version ``i`` to ``i + 1``.
#: Version 1 held results only; version 2 added the profile, the breakdown and depth
#: dicts, and the entries table; version 3 the trainings table; version 4 the results' scene-bootstrap
#: replicates (``bootstrap``, empty for rows stored before). Never edit a released
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
    """
    ALTER TABLE results ADD COLUMN bootstrap TEXT NOT NULL DEFAULT '{}';
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
    return tuple(
        trained_dataset_id(obj.dataset_id) if f == "dataset_id" else getattr(obj, f) for f in TRAINING_KEY_FIELDS
    )


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
        values.append(value)
    return tuple(values)


def _decode(record: sqlite3.Row) -> ResultRow:
    """A stored row as a :class:`ResultRow`; :class:`InvalidRecord` when a JSON column is not JSON."""
    kwargs = {name: record[name] for name in _ROW_FIELDS}
    for name in JSON_FIELDS:
        try:
            kwargs[name] = json.loads(kwargs[name] or "{}")
        except (TypeError, json.JSONDecodeError):
            raise InvalidRecord(f"field {name!r} is {kwargs[name]!r}; expected a JSON object") from None
    return ResultRow(**kwargs)


_CHECKS: dict[type, Any] = {
    ResultRow: check_result_row,
    TrainingRecord: check_training_record,
    EntryRecord: check_entry_record,
}


def _checked(record: Any) -> Any:
    """``record`` after its ``check_*`` rule (:class:`InvalidRecord` naming the field)."""
    _CHECKS[type(record)](record)
    return record


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
    rows = [_undefined_as_none(r) for r in rows]
    _refuse_invalid(rows)
    now = _now()
    values = [_encode(r if r.created_at else ResultRow(**{**r.to_dict(), "created_at": now})) for r in rows]
    return _upsert_sql("results", _ROW_FIELDS, KEY_FIELDS), values


def _undefined_as_none(row: ResultRow) -> ResultRow:
    """``row`` with a NaN TP error (undefined: no class defines it) as ``None``, how it is stored."""
    nan = {m: None for m in DETECTION_METRICS[2:] if isinstance(getattr(row, m), float) and math.isnan(getattr(row, m))}
    return replace(row, **nan) if nan else row


def _refuse_invalid(records: list[Any]) -> None:
    """``UserError`` naming the first record that breaks its ``check_*`` rule: nothing of a
    write that holds one is stored (defence in depth behind the import's own checks)."""
    for record in records:
        try:
            _checked(record)
        except InvalidRecord as exc:
            raise UserError(
                f"refusing to store {describe_record(record)}: {exc}; nothing of this write was stored"
            ) from None


def _entry_upsert(records: list[EntryRecord]) -> tuple[str, list[tuple[Any, ...]]]:
    """SQL and parameters upserting entry metadata."""
    _refuse_invalid(records)
    return _upsert_sql("entries", _ENTRY_FIELDS, ("name",)), [
        tuple(getattr(r, f) for f in _ENTRY_FIELDS) for r in records
    ]


def _training_upsert(records: list[TrainingRecord]) -> tuple[str, list[tuple[Any, ...]]]:
    """SQL and parameters upserting training records (``created_at`` defaults to now)."""
    _refuse_invalid(records)
    now = _now()
    values = [
        tuple(getattr(r, f) if f != "created_at" else (r.created_at or now) for f in _TRAINING_FIELDS) for r in records
    ]
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
        return [self._read(_decode, r) for r in cur.fetchall()]

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

    def _read(self, build: Any, record: sqlite3.Row) -> Any:
        """``build(record)`` checked by its ``check_*`` rule; a bad stored record (an older
        version's, or edited by hand) is a ``UserError`` naming the database, the record and the
        field, instead of NaN or a crash wherever the value is used."""
        try:
            return _checked(build(record))
        except InvalidRecord as exc:
            keys = record.keys()
            what = ", ".join(
                f"{k} {record[k]!r}" for k in ("entry", "name", "train_mode", "condition", "seed") if k in keys
            )
            raise UserError(
                f"results database {self.path} holds an invalid record ({what}): {exc}; an older robobench or "
                "a hand edit wrote it: import a corrected export over it (the same key replaces it) or delete it"
            ) from None

    def entries(self) -> list[EntryRecord]:
        """Entry metadata recorded in the store, sorted by name."""
        cur = self.conn.execute(f"SELECT {', '.join(_ENTRY_FIELDS)} FROM entries ORDER BY name")
        return [self._read(lambda r: EntryRecord(**dict(r)), r) for r in cur.fetchall()]

    def trainings(self, **filters: Any) -> list[TrainingRecord]:
        """Training records matching equality filters on :data:`TRAINING_FILTER_FIELDS`, in key order."""
        where, params = _where(filters, TRAINING_FILTER_FIELDS)
        cur = self.conn.execute(f"SELECT * FROM trainings{where} ORDER BY {', '.join(TRAINING_KEY_FIELDS)}", params)
        return [self._read(lambda r: TrainingRecord(**dict(r)), r) for r in cur.fetchall()]

    def check(self) -> None:
        """Read every record once, so that a bad one (an older version's, or edited by hand) is
        reported before a long job starts rather than when its results are summarised."""
        self.rows()
        self.entries()
        self.trainings()

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

        Every payload is validated (:func:`parse_exports`) before anything is written, so a
        bad one leaves the store as it was. Returns the number of rows imported.
        """
        return self.import_batch(parse_exports(payloads))

    def import_batch(self, batch: "ExportBatch") -> int:
        """Upsert the records of :func:`parse_exports` in one transaction (all or nothing).

        A row, training record or entry whose key is already stored is replaced by the
        imported one (a later payload wins over an earlier one). Returns the number of rows.
        """
        with self.transaction() as conn:
            # One transaction for all tables and sources: an import is all or nothing.
            conn.executemany(*_entry_upsert(batch.entries))
            conn.executemany(*_row_upsert(batch.rows))
            conn.executemany(*_training_upsert(batch.trainings))
        return len(batch.rows)

    def relabel_dataset(self, old: str, new: str) -> tuple[int, int]:
        """Move every result and training record of dataset id ``old`` to ``new`` in one transaction;
        returns (results, trainings) moved.

        Evaluation rows carry ``<trained id>/<split>``: their trained part is replaced and the
        split kept. For stores written before the id covered a synthetic world's generator stamp
        (:func:`robobench.sweep.dataset_id`), whose rows the sweep no longer finds. A record whose
        new key is already stored is refused (``UserError``) and nothing changes.
        """
        if old == new:
            raise UserError(f"dataset id {old!r} is already the new one; nothing to relabel")
        if "/" in old or "/" in new:
            raise UserError(f"give trained dataset ids without a split (got {old!r} -> {new!r})")
        try:
            with self.transaction() as conn:
                results = conn.execute(
                    "UPDATE results SET dataset_id = ? || substr(dataset_id, ?) "
                    "WHERE dataset_id = ? OR dataset_id LIKE ? ESCAPE '!'",
                    (new, len(old) + 1, old, _like_prefix(old)),
                ).rowcount
                trainings = conn.execute(
                    "UPDATE trainings SET dataset_id = ? WHERE dataset_id = ?", (new, old)
                ).rowcount
                if not results and not trainings:
                    held = {t.dataset_id for t in self.trainings()} | {
                        trained_dataset_id(r.dataset_id) for r in self.rows()
                    }
                    listed = ", ".join(sorted(held)) or "nothing"
                    raise UserError(f"{self.path} holds nothing on dataset id {old!r}; it holds {listed}")
        except sqlite3.IntegrityError:
            raise UserError(
                f"{self.path} already holds results or trainings on {new!r} with the same keys as some on {old!r}; "
                "nothing was changed (export one of the two and import it into a store of its own)"
            ) from None
        return results, trainings


def _like_prefix(dataset_id: str) -> str:
    """A ``LIKE ... ESCAPE '!'`` pattern matching ``<dataset_id>/<anything>`` literally."""
    escaped = dataset_id.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"{escaped}/%"


@dataclass
class ExportBatch:
    """The checked records of one or more exports, ready for :meth:`ResultStore.import_batch`."""

    rows: list[ResultRow] = field(default_factory=list)
    entries: list[EntryRecord] = field(default_factory=list)
    trainings: list[TrainingRecord] = field(default_factory=list)


def parse_exports(payloads: list[tuple[dict[str, Any], Path]]) -> ExportBatch:
    """Check exports (each with its file, for messages) and turn them into records.

    The first problem is a ``UserError`` naming the file, the record (``rows[3]``, its entry,
    condition and seed) and the field: an unknown format, a schema version newer than this
    robobench, unknown keys, a section that is not a list, or a record breaking the rules of
    :mod:`robobench.schema`. Callers check before they open the target store, so a bad
    import creates or changes nothing.
    """
    batch = ExportBatch()
    for payload, path in payloads:
        sections = _export_sections(payload, path)
        batch.rows += [
            _record_from_dict(ResultRow, KEY_FIELDS, d, path, f"rows[{i}]") for i, d in enumerate(sections["rows"])
        ]
        batch.entries += [
            _record_from_dict(EntryRecord, ("name", "role"), d, path, f"entries[{i}]")
            for i, d in enumerate(sections["entries"])
        ]
        batch.trainings += [
            _record_from_dict(TrainingRecord, TRAINING_KEY_FIELDS, d, path, f"trainings[{i}]")
            for i, d in enumerate(sections["trainings"])
        ]
    return batch


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


#: Lists an export holds; ``trainings`` is absent in exports of schema version <= 2.
_EXPORT_SECTIONS: tuple[str, ...] = ("entries", "rows", "trainings")


def _export_sections(payload: Any, path: Path) -> dict[str, list[Any]]:
    """The lists of an export after checking its top level: the format tag, a schema version
    this robobench reads (a newer one asks for an upgrade), no unknown keys, lists not null."""
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        raise UserError(f'{path} is not a robobench results export (expected "format": "{EXPORT_FORMAT}")')
    version = payload.get("schema_version")
    if type(version) is not int or version < 1:
        raise UserError(
            f"{path}: 'schema_version' is {version!r}; expected an integer from 1 to {SCHEMA_VERSION} "
            "(write the file with `robobench results export`)"
        )
    if version > SCHEMA_VERSION:
        raise UserError(
            f"{path} has schema version {version}, newer than this robobench reads ({SCHEMA_VERSION}); "
            "upgrade robobench to import it"
        )
    unknown = sorted(set(payload) - {"format", "schema_version", *_EXPORT_SECTIONS})
    if unknown:
        raise UserError(
            f"{path}: unknown top-level keys {unknown}; an export holds format, schema_version, "
            f"{', '.join(_EXPORT_SECTIONS)}"
        )
    sections = {}
    for name in _EXPORT_SECTIONS:
        value = payload.get(name, [])
        if not isinstance(value, list):
            raise UserError(f"{path}: {name!r} is {value!r}; expected a list (empty when there is nothing)")
        sections[name] = value
    return sections


def _record_from_dict(cls: type, keys: tuple[str, ...], data: Any, path: Path, where: str) -> Any:
    """The ResultRow/TrainingRecord/EntryRecord ``where`` of an export, checked by its rule, or a
    ``UserError`` naming the file, ``where``, the record and the field (nothing is imported)."""
    if not isinstance(data, dict):
        raise UserError(f"{path}: {where} is {data!r}; expected an object")
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    missing = sorted(set(keys) - set(data))
    if unknown or missing:
        raise UserError(
            f"{path}: {where} has unknown fields {unknown} / lacks key fields {missing}; nothing was imported"
        )
    try:
        return _checked(cls(**data))
    except InvalidRecord as exc:
        raise UserError(
            f"{path}: {where} ({describe_record(cls(**data))}): {exc}; fix it or leave it out "
            "and import again (nothing was imported)"
        ) from None
