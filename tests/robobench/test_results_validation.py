"""Results exports and stores are validated wherever data enters or leaves the store (issue 27.5).

``robobench results import`` refuses a bad export with one line naming the file, the record
and the field, and stores nothing of it; a bad row an older version left in a store is one
line in ``robobench leaderboard``, not a crash in rendering. Exports are mutated at random
(fixed seeds) as well: the import then either fails with one line or stores only valid rows.
"""

from __future__ import annotations

import copy
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robobench.cli import main
from robobench.schema import EntryRecord, ResultRow, TrainingRecord, check_entry_record, check_result_row
from robobench.schema import check_training_record
from robobench.store import SCHEMA_VERSION, ResultStore
from tests.helpers.paths import ROOT
from tests.helpers.results_files import mutate_at_random

REFERENCE = ROOT / "reference-results" / "synth-default-full"


@pytest.fixture(scope="module")
def export() -> dict[str, Any]:
    """A real export (a camera entry with depth, its training record, entry metadata), cut to 3 rows."""
    data = json.loads((REFERENCE / "bevdet-rayd3d-cos-seed0.json").read_text())
    data["rows"] = data["rows"][:3]
    return data


def _set(section: str, index: int, *path: str, value: Any):
    def mutate(d: dict[str, Any]) -> None:
        target = d[section][index]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _top(key: str, value: Any):
    return lambda d: d.__setitem__(key, value)


#: name -> (mutation of a valid export, fragment of the one-line error)
BAD_EXPORTS = {
    "nds_text": (_set("rows", 0, "nds", value="high"), "field 'nds' is 'high'; expected a fraction in [0, 1]"),
    "nds_nan": (_set("rows", 0, "nds", value=float("nan")), "field 'nds' is nan"),
    "nds_above_one": (_set("rows", 1, "nds", value=1.7), "rows[1] (entry 'bevdet-rayd3d-cos'"),
    "map_negative": (_set("rows", 0, "map", value=-0.2), "field 'map' is -0.2"),
    "tp_error_negative": (_set("rows", 0, "mate", value=-0.5), "field 'mate' is -0.5; expected a finite number >= 0"),
    "tp_error_infinite": (_set("rows", 0, "mave", value=float("inf")), "field 'mave' is inf"),
    "tp_error_nan": (_set("rows", 0, "maae", value=float("nan")), "field 'maae' is nan"),
    "seed_text": (_set("rows", 0, "seed", value="x"), "field 'seed' is 'x'; expected an integer seed"),
    "seed_float": (_set("rows", 0, "seed", value=1.5), "field 'seed' is 1.5"),
    "seed_bool": (_set("rows", 0, "seed", value=True), "field 'seed' is True"),
    "seed_negative": (_set("rows", 0, "seed", value=-1), "field 'seed' is -1"),
    "seed_huge": (_set("rows", 0, "seed", value=99999999999999999999), "field 'seed' is 99999999999999999999"),
    "condition_unknown": (_set("rows", 0, "condition", value="Rain:hard"), "unknown corruption"),
    "condition_spelling": (_set("rows", 0, "condition", value="fog:hard"), "write it 'Fog:hard'"),
    "condition_number": (_set("rows", 0, "condition", value=3), "field 'condition'"),
    "train_mode": (_set("rows", 0, "train_mode", value="mixed"), "field 'train_mode' is 'mixed'"),
    "status": (_set("rows", 0, "status", value="done"), "field 'status' is 'done'; expected one of ok, failed"),
    "entry_empty": (_set("rows", 0, "entry", value=""), "field 'entry' is ''"),
    "per_class_ap": (
        _set("rows", 0, "per_class", "car", "ap", "2.0", value=2.0),
        "field 'per_class.car.ap.2.0' is 2.0",
    ),
    "per_class_error": (_set("rows", 0, "per_class", "bus", "trans_err", value="far"), "per_class.bus.trans_err"),
    "per_class_key": (_set("rows", 0, "per_class", "car", "apx", value=0.1), "unknown keys ['apx']"),
    "breakdown_nds": (_set("rows", 2, "breakdown", "range_0_30", "nds", value=1.5), "breakdown.range_0_30.nds"),
    "depth_negative": (_set("rows", 0, "depth", "all", "abs_rel", value=-1.0), "depth.all.abs_rel' is -1.0"),
    "depth_delta_above_one": (_set("rows", 1, "depth", "bins", "0-20", "a2", value=2), "depth.bins.0-20.a2' is 2"),
    "depth_not_object": (_set("rows", 0, "depth", value=[1, 2]), "field 'depth' is [1, 2]; expected an object"),
    "wall_time": (_set("rows", 0, "wall_time", value=float("-inf")), "field 'wall_time' is -inf"),
    "row_unknown_field": (_set("rows", 0, "ndss", value=0.3), "unknown fields ['ndss']"),
    "row_not_object": (lambda d: d["rows"].append(7), "rows[3] is 7; expected an object"),
    "role_unknown": (_set("entries", 0, "role", value="professor"), "field 'role' is 'professor'"),
    "entry_name_missing": (lambda d: d["entries"][0].pop("name"), "lacks key fields ['name']"),
    "training_time": (_set("trainings", 0, "wall_time_s", value=-3.0), "trainings[0] (entry 'bevdet-rayd3d-cos'"),
    "training_iterations": (_set("trainings", 0, "iterations", value=2.5), "field 'iterations' is 2.5"),
    "training_world_size": (_set("trainings", 0, "world_size", value=0), "field 'world_size' is 0"),
    "future_schema": (_top("schema_version", SCHEMA_VERSION + 1), "upgrade robobench"),
    "schema_text": (_top("schema_version", "3"), "'schema_version' is '3'"),
    "schema_missing": (lambda d: d.pop("schema_version"), "'schema_version' is None"),
    "entries_null": (_top("entries", None), "'entries' is None; expected a list"),
    "rows_null": (_top("rows", None), "'rows' is None; expected a list"),
    "rows_object": (_top("rows", {}), "'rows' is {}; expected a list"),
    "unknown_top_key": (_top("row", []), "unknown top-level keys ['row']"),
    "format": (_top("format", "other"), "not a robobench results export"),
    "not_an_object": (lambda d: d.clear() or d.update(format=None), "not a robobench results export"),
}


def _import(db: Path, *sources: Path) -> list[str]:
    return ["results", "import", "--db", str(db), *map(str, sources)]


def _stored(db: Path) -> dict[str, Any]:
    with ResultStore(db) as store:
        return store.export_payload()


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture()
def store_with_a_row(tmp_path: Path, export: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> Path:
    """A store holding one imported row, to check that a refused import changes nothing."""
    good = copy.deepcopy(export)
    good["rows"] = good["rows"][:1]
    path = tmp_path / "good.json"
    path.write_text(json.dumps(good))
    db = tmp_path / "results.sqlite"
    assert main(_import(db, path)) == 0
    capsys.readouterr()
    return db


@pytest.mark.parametrize("case", sorted(BAD_EXPORTS))
def test_bad_export_is_one_line_and_changes_nothing(case, export, store_with_a_row, tmp_path, capsys):
    mutate, fragment = BAD_EXPORTS[case]
    data = copy.deepcopy(export)
    mutate(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    before = _stored(store_with_a_row)
    good = tmp_path / "other.json"
    good.write_text(json.dumps(export))
    assert main(_import(store_with_a_row, good, bad)) == 2  # a good source beside it is not imported either
    err = _one_line_error(capsys)
    assert fragment in err and str(bad) in err, err
    assert _stored(store_with_a_row) == before


def test_store_writes_refuse_invalid_records(tmp_path, export):
    """Defence in depth: the store's own write path applies the same rules as the import."""
    from robobench.errors import UserError

    store = ResultStore(tmp_path / "r.sqlite")
    row = ResultRow(**export["rows"][0])
    for bad, fragment in [
        (ResultRow(**{**export["rows"][0], "nds": 1.7}), "field 'nds' is 1.7"),
        (ResultRow(**{**export["rows"][0], "condition": "Rain:hard"}), "unknown corruption"),
        (ResultRow(**{**export["rows"][0], "seed": "0"}), "field 'seed' is '0'"),
    ]:
        with pytest.raises(UserError, match=fragment):
            store.add_many([row, bad])
    with pytest.raises(UserError, match="field 'role' is 'professor'"):
        store.add_entries([EntryRecord("x", "professor")])
    with pytest.raises(UserError, match="field 'peak_rss_mb' is nan"):
        store.add_trainings([TrainingRecord(**{**export["trainings"][0], "peak_rss_mb": float("nan")})])
    assert store.count() == 0 and store.entries() == [] and store.trainings() == []
    store.add(ResultRow(**{**export["rows"][0], "mave": float("nan")}))  # undefined TP error: stored as NULL
    assert store.rows()[0].mave is None


def test_export_within_tolerance_of_one_is_accepted(export, tmp_path, capsys):
    """An older version stored a perfect NDS as 1.0000000000000002: it imports (33.1's tolerance)."""
    data = copy.deepcopy(export)
    data["rows"][0]["nds"] = 1.0000000000000002
    path = tmp_path / "perfect.json"
    path.write_text(json.dumps(data))
    assert main(_import(tmp_path / "r.sqlite", path)) == 0, capsys.readouterr().err


def _store_edited_by_hand(tmp_path: Path, export: dict[str, Any], capsys: pytest.CaptureFixture[str], sql: str) -> Path:
    """A store holding ``export``, then changed by ``sql`` behind the store's back (as an older
    robobench or a hand edit would leave it)."""
    db = tmp_path / "results.sqlite"
    good = tmp_path / "good.json"
    good.write_text(json.dumps(export))
    assert main(_import(db, good)) == 0
    conn = sqlite3.connect(db)
    conn.execute(sql)
    conn.commit()
    conn.close()
    capsys.readouterr()
    return db


@pytest.mark.parametrize(
    "column, value, fragment",
    [
        ("nds", "'high'", "field 'nds' is 'high'"),
        ("seed", "'x'", "field 'seed' is 'x'"),
        ("condition", "'Rain:hard'", "unknown corruption"),
        ("per_class", "'{not json'", "field 'per_class' is '{not json'"),
        ("mate", "-1.0", "field 'mate' is -1.0"),
    ],
)
def test_bad_row_left_in_a_store_is_one_line_in_leaderboard(column, value, fragment, export, tmp_path, capsys):
    """A row an older robobench (or a hand edit) wrote: `leaderboard` names it in one line."""
    db = _store_edited_by_hand(
        tmp_path, export, capsys, f"UPDATE results SET {column} = {value} WHERE condition = 'Brightness:hard'"
    )
    assert main(["leaderboard", "--db", str(db), "--out", str(tmp_path / "site")]) == 2
    err = _one_line_error(capsys)
    assert fragment in err and str(db) in err and ("'Brightness:hard'" in err or column == "condition"), err
    assert main(["results", "export", "--db", str(db), "--out", str(tmp_path / "x.json")]) == 2
    assert fragment in _one_line_error(capsys)


def test_bad_entry_left_in_a_store_is_one_line(export, tmp_path, capsys):
    db = _store_edited_by_hand(
        tmp_path, export, capsys, "UPDATE entries SET role = 'professor' WHERE name = 'centerpoint'"
    )
    assert main(["leaderboard", "--db", str(db), "--out", str(tmp_path / "site")]) == 2
    assert "name 'centerpoint'" in _one_line_error(capsys)


# -- fuzzing --------------------------------------------------------------------------------


#: Values a fuzzed field may take: wrong types, out-of-range and non-finite numbers, odd text.
def _all_valid(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    for table, cls, check in (
        ("results", ResultRow, check_result_row),
        ("entries", EntryRecord, check_entry_record),
        ("trainings", TrainingRecord, check_training_record),
    ):
        for record in conn.execute(f"SELECT * FROM {table}"):
            values = dict(record)
            if cls is ResultRow:
                values = {
                    k: json.loads(v) if k in ("per_class", "breakdown", "depth") else v for k, v in values.items()
                }
            check(cls(**values))
            for v in values.values():
                assert not (isinstance(v, float) and not math.isfinite(v))
    conn.close()


@pytest.mark.parametrize("seed", range(3))
def test_fuzzed_exports_fail_in_one_line_or_store_valid_rows(seed, export, tmp_path, capsys):
    rng = np.random.default_rng(seed)
    for trial in range(12):
        data = copy.deepcopy(export)
        changes = [mutate_at_random(data, rng) for _ in range(int(rng.integers(1, 4)))]
        path = tmp_path / f"fuzz{trial}.json"
        path.write_text(json.dumps(data))
        db = tmp_path / f"fuzz{trial}.sqlite"
        code = main(_import(db, path))
        captured = capsys.readouterr()
        if code == 0:
            _all_valid(db)
        else:
            assert code == 2 and captured.err.startswith("error: ") and captured.err.count("\n") == 1, (
                changes,
                captured.err,
            )
            assert not db.exists() or _stored(db)["rows"] == [], changes


def test_sweep_on_a_store_with_a_bad_row_stops_before_any_work(tiny_world, export, tmp_path, capsys):
    db = _store_edited_by_hand(tmp_path, export, capsys, "UPDATE results SET nds = 'high'")
    out = tmp_path / "runs"
    assert (
        main(
            [
                "sweep",
                "--entries",
                "bevdet",
                "--conditions",
                "clean",
                "--dataroot",
                str(tiny_world.dataroot),
                "--version",
                tiny_world.version,
                "--out",
                str(out),
                "--db",
                str(db),
            ]
        )
        == 2
    )
    assert "field 'nds' is 'high'" in _one_line_error(capsys)
    assert not (out / "models").exists()
