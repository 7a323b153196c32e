"""benchmarks/variance_split.py on a store whose rows carry scene-bootstrap replicates."""

from __future__ import annotations

import dataclasses
import json
import statistics

import numpy as np
import pytest

from benchmarks.variance_split import main
from robobench import stats
from robobench.conditions import all_conditions
from robobench.store import ResultStore
from tests.helpers.leaderboard_rows import make_row


def test_split_is_written_per_entry_and_metric(tmp_path, capsys):
    rng = np.random.default_rng(0)
    scene = rng.normal(1.0, 0.03, 40)  # replicate b resamples the same scenes for every seed and condition
    rows, cleans = [], [0.30, 0.33, 0.31]
    for seed, clean in enumerate(cleans):
        for cond in all_conditions():
            row = make_row("bevdet-tiny", "clean", seed, cond, clean, 0.8)
            reps = [round(row.nds * f * rng.normal(1.0, 0.01), 6) for f in scene]
            rows.append(dataclasses.replace(row, bootstrap={"unit": "scene", "seed": 0, "scenes": 16, "nds": reps}))
    db = tmp_path / "results.sqlite"
    with ResultStore(db) as store:
        store.add_many(rows)
    assert main(["--db", str(db), "--out", str(tmp_path / "split.json")]) == 0
    doc = json.loads((tmp_path / "split.json").read_text())
    by = {r["metric"]: r for r in doc["splits"]}
    assert set(by) == {"nds", "mrr", "corr_nds"}
    assert by["nds"]["seeds"] == pytest.approx(statistics.stdev(cleans)) and by["nds"]["replicates"] == 40
    clean_reps = {r.seed: r.bootstrap["nds"] for r in rows if r.condition == "clean"}
    want = stats.variance_split("nds", dict(enumerate(cleans)), clean_reps)
    assert by["nds"]["scenes"] == pytest.approx(want.scenes) and by["nds"]["training"] == pytest.approx(want.training)
    assert by["mrr"]["corruption_seeds"] is None
    assert "bevdet-tiny" in capsys.readouterr().out
