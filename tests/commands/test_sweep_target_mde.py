"""``robobench sweep --target-mde``: seeds needed for an effect, from the stored seed spread; nothing runs."""

from __future__ import annotations

import re
import statistics

import pytest

from robobench import stats
from robobench.cli import main
from robobench.conditions import all_conditions
from robobench.store import ResultStore
from tests.helpers.leaderboard_rows import make_row


def _store(path, cleans: dict[str, list[float]]):
    with ResultStore(path) as store:
        store.add_many(
            [
                make_row(entry, "clean", seed, cond, clean, 0.8)
                for entry, values in cleans.items()
                for seed, clean in enumerate(values)
                for cond in all_conditions()
            ]
        )


def test_target_mde_prints_seeds_from_the_pooled_spread_and_runs_nothing(tmp_path, capsys):
    db = tmp_path / "results.sqlite"
    cleans = {"bevdet-tiny": [0.30, 0.32, 0.31], "bevdepth-tiny": [0.40, 0.43], "bevdet-partial": [0.5]}
    _store(db, cleans)
    out_dir = tmp_path / "runs"
    assert main(["sweep", "--db", str(db), "--out", str(out_dir), "--target-mde", "0.03", "--seeds", "0,1,2"]) == 0
    out = capsys.readouterr().out
    a, b = cleans["bevdet-tiny"], cleans["bevdepth-tiny"]
    pooled = ((2 * statistics.variance(a) + statistics.variance(b)) / 3) ** 0.5  # one seed has no spread: left out
    need = stats.seeds_for_mde(0.03, pooled)
    assert f"needs {need} seeds per entry" in out and f"seed sd {pooled:.4f}" in out
    assert f"sees {stats.mde(pooled, 3):.4f}" in out
    assert "bevdet-partial" not in out and not out_dir.exists()
    with ResultStore(db) as store:
        assert store.count() == 6 * len(all_conditions())  # nothing was run or stored

    assert main(["sweep", "--db", str(db), "--target-mde", "0.03", "--target-metric", "mrr"]) == 0
    assert re.search(r"mrr: seed sd [\d.]+ \(pooled over 2 stored entries\)", capsys.readouterr().out)
    assert main(["sweep", "--target-mde", "0.012", "--target-sd", "0.011", "--db", str(tmp_path / "none.sqlite")]) == 0
    assert f"needs {stats.seeds_for_mde(0.012, 0.011)} seeds" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--target-mde", "0.03"], "no results database"),
        (["--target-mde", "-1", "--target-sd", "0.01"], "must be a positive difference"),
        (["--target-mde", "0.03", "--target-sd", "0"], "must be a positive standard deviation"),
    ],
)
def test_target_mde_bad_input_is_one_line(tmp_path, capsys, argv, message):
    assert main(["sweep", "--db", str(tmp_path / "missing.sqlite"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_target_mde_needs_a_spread(tmp_path, capsys):
    db = tmp_path / "results.sqlite"
    _store(db, {"bevdet-tiny": [0.30]})
    assert main(["sweep", "--db", str(db), "--target-mde", "0.03"]) == 2
    assert "two or more seeds" in capsys.readouterr().err
