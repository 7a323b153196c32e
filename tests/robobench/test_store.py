"""The SQLite results store: schema, upsert, filters, migration, concurrency, JSON sharing."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
from dataclasses import fields, replace

import pytest

from robobench.errors import UserError
from robobench.schema import EntryRecord, ResultRow, TrainingRecord
from robobench.store import SCHEMA_VERSION, ResultStore, connect, migrate


def make_row(entry: str = "bevdet", condition: str = "clean", seed: int = 0, **kw) -> ResultRow:
    base = dict(
        entry=entry,
        train_mode="clean",
        condition=condition,
        seed=seed,
        dataset_id="synth-tiny-0",
        config_hash="abc123",
        nds=0.4,
        map=0.3,
        mate=0.5,
        mase=0.25,
        maoe=0.6,
        mave=0.9,
        maae=0.2,
        per_class={"car": {"ap": {"0.5": 0.1, "1.0": 0.2, "2.0": 0.3, "4.0": 0.4}, "ap_mean": 0.25}},
        breakdown={"small_map": 0.1, "range_0_30": {"nds": 0.5, "map": 0.4}},
        depth={"all": {"abs_rel": 0.2}},
        wall_time=12.5,
        code_version="0.1.0+abc",
    )
    base.update(kw)
    return ResultRow(**base)


def test_every_result_field_is_a_column(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    cols = {r[1] for r in store.conn.execute("PRAGMA table_info(results)")}
    assert cols == {f.name for f in fields(ResultRow)}
    assert store.schema_version == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_round_trip_and_upsert(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    row = make_row()
    store.add(row)
    (back,) = store.rows()
    assert back.created_at  # stamped on write
    assert replace(back, created_at="") == row
    # Same key: replaced, not duplicated.
    store.add(make_row(nds=0.55, per_class={}))
    (back,) = store.rows()
    assert back.nds == 0.55 and back.per_class == {}
    # Another config hash is another row.
    store.add(make_row(config_hash="other"))
    assert store.count() == 2


def test_filters_has_keys_and_failed_rows(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    store.add_many(
        [make_row(condition=c, seed=s) for c in ("clean", "Fog:hard") for s in (0, 1)]
        + [make_row(entry="bevdepth", condition="Snow:easy", status="failed", error="boom", nds=None)]
    )
    assert store.count() == 5
    assert [r.seed for r in store.rows(condition="Fog:hard")] == [0, 1]
    assert len(store.rows(entry=["bevdet", "bevdepth"], seed=0)) == 3
    assert store.has("bevdet", "clean", "Fog:hard", 1, "synth-tiny-0", "abc123")
    assert not store.has("bevdet", "clean", "Fog:hard", 2, "synth-tiny-0", "abc123")
    # A failed cell is stored with its error but does not count as done.
    (failed,) = store.rows(status="failed")
    assert failed.error == "boom" and failed.nds is None
    assert not store.has("bevdepth", "clean", "Snow:easy", 0, "synth-tiny-0", "abc123")
    assert store.has("bevdepth", "clean", "Snow:easy", 0, "synth-tiny-0", "abc123", status=None)
    assert ("bevdet", "clean", "clean", 0, "synth-tiny-0", "abc123") in store.keys()
    assert len(store.keys()) == 4
    with pytest.raises(UserError, match="unknown filter"):
        store.rows(nds=0.4)


def test_non_finite_metric_reads_back_as_none(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    store.add(make_row(mave=float("nan")))
    assert store.rows()[0].mave is None


def test_add_many_is_all_or_nothing(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    with pytest.raises(TypeError):
        store.add_many([make_row(seed=0), {"entry": "not a row"}])
    bad = make_row(seed=1)
    bad.per_class = {"car": object()}  # not a class's metrics: the whole batch is refused
    with pytest.raises(UserError, match="seed 1: field 'per_class.car'"):
        store.add_many([make_row(seed=2), bad])
    assert store.count() == 0


def test_dataframe(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    assert list(store.dataframe().columns) == [f.name for f in fields(ResultRow)]
    store.add_many([make_row(seed=s, nds=0.1 * (s + 1)) for s in range(3)])
    df = store.dataframe()
    assert len(df) == 3
    assert df["nds"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert df.loc[0, "breakdown"]["range_0_30"]["map"] == 0.4


def test_export_import_between_machines(tmp_path):
    a = ResultStore(tmp_path / "a.sqlite")
    a.add_many([make_row(seed=s) for s in range(3)])
    a.add_entries([EntryRecord("bevdet", "student", paper="arXiv:2112.11790", description="LSS student")])
    assert a.export_json(tmp_path / "a.json") == 3
    b = ResultStore(tmp_path / "b.sqlite")
    b.add(make_row(seed=0, nds=0.01))  # older value of a shared key gets replaced
    assert b.import_json(tmp_path / "a.json") == 3
    assert b.rows() == a.rows()
    assert b.entries() == [EntryRecord("bevdet", "student", paper="arXiv:2112.11790", description="LSS student")]


def test_import_rejects_bad_files(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="bad.json is not valid JSON"):
        store.import_json(bad)
    bad.write_text(json.dumps({"rows": []}))
    with pytest.raises(UserError, match="not a robobench results export"):
        store.import_json(bad)
    row = make_row().to_dict()
    del row["seed"]
    bad.write_text(
        json.dumps({"format": "robobench-results", "schema_version": 3, "rows": [make_row().to_dict(), row]})
    )
    with pytest.raises(UserError, match=r"rows\[1\].*lacks key fields \['seed'\]"):
        store.import_json(bad)
    assert store.count() == 0
    with pytest.raises(UserError, match="does not exist"):
        store.import_json(tmp_path / "missing.json")


def test_migrates_a_version_1_database(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = connect(path)
    assert migrate(conn, target=1) == 1
    conn.execute(
        "INSERT INTO results (entry, train_mode, condition, seed, dataset_id, config_hash, nds, map, per_class,"
        " code_version, created_at) VALUES ('bevdet', 'clean', 'Fog:mid', 2, 'synth', 'h1', 0.3, 0.2,"
        " '{\"car\": {\"ap_mean\": 0.2}}', 'v0', '2025-01-01T00:00:00+00:00')"
    )
    conn.close()
    store = ResultStore(path)
    assert store.schema_version == SCHEMA_VERSION
    (row,) = store.rows()
    assert (row.entry, row.condition, row.seed, row.nds, row.per_class) == (
        "bevdet",
        "Fog:mid",
        2,
        0.3,
        {"car": {"ap_mean": 0.2}},
    )
    assert (row.profile, row.breakdown, row.depth, row.status) == ("quick", {}, {}, "ok")
    store.add_entries([EntryRecord("bevdet", "student")])  # table added by the migration
    store.add(make_row(condition="Fog:mid"))
    assert store.count() == 2


def _training(**kw) -> TrainingRecord:
    base = dict(
        entry="bevdet",
        train_mode="clean",
        seed=0,
        dataset_id="synth",
        config_hash="h1",
        profile="full",
        wall_time_s=5492.0,
        peak_rss_mb=1261.0,
        iterations=2400,
        world_size=1,
        device="cpu",
        code_version="v1",
    )
    return TrainingRecord(**{**base, **kw})


def test_training_records_upsert_filter_and_travel_with_their_rows(tmp_path):
    """One record per trained model (rerunning replaces it); an export carries the records of the
    exported rows' models only, and an import restores them."""
    store = ResultStore(tmp_path / "r.sqlite")
    store.add_trainings([_training(), _training(seed=1, wall_time_s=10.0), _training(entry="other")])
    store.add_trainings([_training(wall_time_s=5000.0)])
    got = store.trainings(entry="bevdet")
    assert [(t.seed, t.wall_time_s) for t in got] == [(0, 5000.0), (1, 10.0)] and got[0].created_at
    assert got[0].peak_cuda_mb is None and got[0].iterations == 2400
    with pytest.raises(UserError, match="unknown filter.*condition"):
        store.trainings(condition="clean")
    # a sweep's rows name the split they scored (``<dataset id>/<eval split>``), its training records the dataset
    store.add_many([make_row(entry="bevdet", seed=0, config_hash="h1", dataset_id="synth/synth_val")])
    out = tmp_path / "export.json"
    store.export_json(out)
    exported = json.loads(out.read_text())["trainings"]
    assert [(t["entry"], t["seed"]) for t in exported] == [("bevdet", 0)]  # only the exported rows' models
    fresh = ResultStore(tmp_path / "fresh.sqlite")
    fresh.import_json(out)
    assert fresh.trainings() == [store.trainings(entry="bevdet", seed=0)[0]]
    bad = json.loads(out.read_text())
    bad["trainings"][0]["gpu_hours"] = 1
    out.write_text(json.dumps(bad))
    with pytest.raises(UserError, match=r"trainings\[0\] has unknown fields \['gpu_hours'\]"):
        ResultStore(tmp_path / "third.sqlite").import_json(out)


def test_migrates_a_version_2_database_to_hold_trainings(tmp_path):
    path = tmp_path / "v2.sqlite"
    conn = connect(path)
    assert migrate(conn, target=2) == 2
    conn.close()
    store = ResultStore(path)
    assert store.schema_version == SCHEMA_VERSION and store.trainings() == []
    store.add_trainings([_training()])
    assert len(store.trainings()) == 1


def test_migrates_a_version_3_database_and_keeps_bootstrap_replicates(tmp_path):
    """Rows stored before the bootstrap column read back with none; new rows keep their replicates
    through the store and through an export and import."""
    path = tmp_path / "v3.sqlite"
    conn = connect(path)
    assert migrate(conn, target=3) == 3
    conn.execute(
        "INSERT INTO results (entry, train_mode, condition, seed, dataset_id, config_hash, nds)"
        " VALUES ('bevdet', 'clean', 'clean', 0, 'synth', 'h1', 0.3)"
    )
    conn.close()
    store = ResultStore(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.rows()[0].bootstrap == {}
    reps = {"unit": "scene", "seed": 0, "scenes": 16, "nds": [0.29, 0.31], "map": [0.1, 0.12]}
    store.add(make_row(seed=1, bootstrap=reps))
    assert store.rows(seed=1)[0].bootstrap == reps
    store.export_json(tmp_path / "e.json")
    fresh = ResultStore(tmp_path / "fresh.sqlite")
    fresh.import_json(tmp_path / "e.json")
    assert fresh.rows(seed=1)[0].bootstrap == reps and fresh.rows(seed=0)[0].bootstrap == {}


def test_refuses_newer_schema_and_foreign_files(tmp_path):
    path = tmp_path / "new.sqlite"
    ResultStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(UserError, match="newer than this robobench"):
        ResultStore(path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="junk.sqlite is not a robobench results database"):
        ResultStore(junk)


def _writer(path: str, worker: int, n_batches: int, barrier) -> None:
    store = ResultStore(path)
    barrier.wait()
    for i in range(n_batches):
        # Distinct keys per worker plus one key both workers keep overwriting.
        store.add_many([make_row(entry=f"w{worker}", seed=i), make_row(entry="shared", seed=i, nds=worker / 10)])
    store.close()


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "r.sqlite")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    n = 60
    procs = [ctx.Process(target=_writer, args=(path, w, n, barrier)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    store = ResultStore(path)
    assert store.count(entry="w1") == n and store.count(entry="w2") == n
    shared = store.rows(entry="shared")
    assert len(shared) == n and {r.nds for r in shared} <= {0.1, 0.2}


class _BusyConnection:
    """A real connection whose statements starting with ``prefix`` fail with SQLITE_BUSY the first
    ``times`` times, as when another process takes the file between this one's steps."""

    def __init__(self, conn: sqlite3.Connection, prefix: str, times: float) -> None:
        self._conn, self._prefix, self._left = conn, prefix, times

    def execute(self, sql: str, *args):
        if sql.startswith(self._prefix) and self._left > 0:
            self._left -= 1
            exc = sqlite3.OperationalError("database is locked")
            exc.sqlite_errorcode = sqlite3.SQLITE_BUSY
            raise exc
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._conn, name, value)


def _busy_sqlite(monkeypatch, prefix: str, times: float) -> None:
    real = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: _BusyConnection(real(*a, **k), prefix, times))


def test_opening_waits_out_a_busy_wal_switch(tmp_path, monkeypatch):
    """SQLite fails the switch to WAL at once, without busy_timeout, while another process holds the
    new file (two sweeps opening one store together): opening retries instead of failing."""
    _busy_sqlite(monkeypatch, "PRAGMA journal_mode", 3)
    store = ResultStore(tmp_path / "r.sqlite")
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.add(make_row())
    assert store.count() == 1


def test_a_store_that_stays_locked_is_reported_as_locked(tmp_path, monkeypatch):
    """A lock that never clears ends in an error naming the file and the lock, not a traceback and not
    "not a robobench results database"."""
    _busy_sqlite(monkeypatch, "PRAGMA journal_mode", float("inf"))
    with pytest.raises(UserError, match=r"r\.sqlite: cannot switch to WAL mode within 0\.2 s"):
        connect(tmp_path / "r.sqlite", timeout=0.2)
    monkeypatch.undo()
    _busy_sqlite(monkeypatch, "BEGIN IMMEDIATE", float("inf"))
    with pytest.raises(UserError, match=r"r2\.sqlite stayed locked by another process"):
        ResultStore(tmp_path / "r2.sqlite")


def test_a_write_locked_past_the_timeout_is_reported_and_loses_nothing(tmp_path):
    """Another process holding the write lock longer than busy_timeout (e.g. a long import into the
    store a sweep writes to) fails this write with an error naming the file; stored rows stay."""
    store = ResultStore(tmp_path / "r.sqlite")
    store.add(make_row(seed=0))
    store._conn = _BusyConnection(store.conn, "BEGIN IMMEDIATE", float("inf"))  # the lock is taken now
    with pytest.raises(UserError, match=r"r\.sqlite stayed locked by another process.*earlier results are kept"):
        store.add(make_row(seed=1))
    assert [r.seed for r in ResultStore(tmp_path / "r.sqlite").rows()] == [0]


def test_results_cli_merges_stores_of_split_sweeps(tmp_path, capsys):
    """`results import` merges a JSON export and another database into one store: rows, training
    records and entry metadata arrive; a shared key takes the imported value."""
    from robobench.cli import main

    a = ResultStore(tmp_path / "a.sqlite")
    a.add_many([make_row(seed=0), make_row(seed=1)])
    a.add_trainings([_training(seed=0, dataset_id="synth-tiny-0", config_hash="abc123")])
    a.add_entries([EntryRecord("bevdet", "student")])
    b = ResultStore(tmp_path / "b.sqlite")
    b.add_many([make_row(entry="bevdepth"), make_row(entry="bevdet", seed=1, nds=0.9)])
    b.add_entries([EntryRecord("bevdepth", "student", base="bevdet")])
    assert (
        main(
            [
                "results",
                "export",
                "--db",
                str(tmp_path / "a.sqlite"),
                "--out",
                str(tmp_path / "a.json"),
                "--entries",
                "bevdet",
            ]
        )
        == 0
    )
    merged = tmp_path / "merged.sqlite"
    assert main(["results", "import", "--db", str(merged), str(tmp_path / "a.json"), str(tmp_path / "b.sqlite")]) == 0
    assert "4 results from 2 source(s)" in capsys.readouterr().out
    store = ResultStore(merged)
    got = {(r.entry, r.seed): r.nds for r in store.rows()}
    assert got == {("bevdet", 0): 0.4, ("bevdet", 1): 0.9, ("bevdepth", 0): 0.4}  # later source wins
    assert [t.seed for t in store.trainings()] == [0]
    assert [(e.name, e.base) for e in store.entries()] == [("bevdepth", "bevdet"), ("bevdet", None)]


def test_results_cli_rejects_bad_sources_and_writes_nothing(tmp_path, capsys):
    from robobench.cli import main

    good = ResultStore(tmp_path / "good.sqlite")
    good.add(make_row())
    target = tmp_path / "t.sqlite"
    (tmp_path / "notes.txt").write_text("not results")
    assert (
        main(["results", "import", "--db", str(target), str(tmp_path / "good.sqlite"), str(tmp_path / "notes.txt")])
        == 2
    )
    assert "notes.txt is not valid JSON" in capsys.readouterr().err
    assert not target.exists()
    assert main(["results", "import", "--db", str(target), str(tmp_path / "missing.json")]) == 2
    assert "missing.json does not exist" in capsys.readouterr().err
    assert main(["results", "import", "--db", str(tmp_path / "good.sqlite"), str(tmp_path / "good.sqlite")]) == 2
    assert "is the store being written" in capsys.readouterr().err
    assert main(["results", "export", "--db", str(tmp_path / "nope.sqlite"), "--out", str(tmp_path / "x.json")]) == 2
    assert "nope.sqlite does not exist" in capsys.readouterr().err and not (tmp_path / "nope.sqlite").exists()
    assert (
        main(
            [
                "results",
                "export",
                "--db",
                str(tmp_path / "good.sqlite"),
                "--out",
                str(tmp_path / "x.json"),
                "--entries",
                "bevfusion",
            ]
        )
        == 2
    )
    assert "no results of bevfusion; it holds bevdet" in capsys.readouterr().err
    assert good.count() == 1


def test_relabel_moves_a_dataset_id_and_refuses_collisions(tmp_path, capsys):
    """`results relabel` moves rows (``<id>/<split>``) and training records of one dataset id to
    another, keeps other ids and a look-alike id (``_`` is no wildcard), and refuses a move whose
    keys are already stored, changing nothing."""
    from robobench.cli import main

    db = tmp_path / "r.sqlite"
    store = ResultStore(db)
    store.add_many(
        [
            make_row(seed=0, dataset_id="old_1/synth_val"),
            make_row(seed=0, condition="Fog:hard", dataset_id="old_1/synth_val"),
            make_row(seed=0, dataset_id="oldx1/synth_val"),
            make_row(seed=1, dataset_id="other/synth_val"),
        ]
    )
    store.add_trainings([_training(dataset_id="old_1", config_hash="abc123"), _training(dataset_id="other", seed=1)])
    assert main(["results", "relabel", "--db", str(db), "--from", "old_1", "--to", "new"]) == 0
    assert "moved 2 results and 1 training records" in capsys.readouterr().out
    ids = sorted((r.dataset_id, r.condition) for r in store.rows())
    assert ids == [
        ("new/synth_val", "Fog:hard"),
        ("new/synth_val", "clean"),
        ("oldx1/synth_val", "clean"),
        ("other/synth_val", "clean"),
    ]
    assert sorted(t.dataset_id for t in store.trainings()) == ["new", "other"]
    store.add_trainings([_training(dataset_id="other", config_hash="abc123")])
    before = (store.rows(), store.trainings())
    assert main(["results", "relabel", "--db", str(db), "--from", "new", "--to", "other"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "nothing was changed" in err
    assert (store.rows(), store.trainings()) == before
    assert main(["results", "relabel", "--db", str(db), "--from", "gone", "--to", "x"]) == 2
    assert "holds nothing on dataset id 'gone'" in capsys.readouterr().err


def test_relabel_to_a_worlds_id(tiny_world, tmp_path, capsys):
    """``--dataroot`` moves rows to the id :func:`robobench.sweep.dataset_id` gives that world today."""
    from robobench.cli import main
    from robobench.sweep import dataset_id

    db = tmp_path / "r.sqlite"
    ResultStore(db).add_many([make_row(dataset_id="v1.0-synth-0000000000/synth_val")])
    argv = ["results", "relabel", "--db", str(db), "--from", "v1.0-synth-0000000000"]
    assert main([*argv, "--dataroot", str(tiny_world.dataroot)]) == 0
    today = dataset_id(tiny_world.dataroot, tiny_world.version)
    assert [r.dataset_id for r in ResultStore(db).rows()] == [f"{today}/synth_val"]
    assert f"to {today}" in capsys.readouterr().out
