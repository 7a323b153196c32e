"""benchmarks/train_data_bench.py: the before path is the reference data path, and both paths give
the same batches and, trained from the same seed, the same weights."""

from __future__ import annotations

import json
import sys

import pytest

import robobench.data.dataset as dataset_mod
from benchmarks import train_data_bench
from tests.helpers import reference_paths


@pytest.mark.slow
def test_before_swaps_in_the_reference_data_path_and_both_paths_agree(tiny_world, tmp_path, monkeypatch) -> None:
    with train_data_bench.data_path("before"):
        assert dataset_mod.normalize_views is reference_paths.normalize_views_per_view
        assert dataset_mod.eval_input_cache().budget == 0
        seen = dataset_mod.project_points("points", "cam2ego", "K", 0.1)
        assert seen == ("points", "cam2ego", "K", 0.1)  # projected by the reference, per item
    assert dataset_mod.normalize_views is not reference_paths.normalize_views_per_view

    out = tmp_path / "measured.json"
    argv = ["train_data_bench.py", "--dataroot", str(tiny_world.dataroot), "--profile", "quick"]
    argv += ["--batches", "2", "--epochs", "2", "--train-epochs", "1", "--train-samples", "8", "--before-workers", "1"]
    argv += ["--precision", "fp32", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    assert train_data_bench.main() == 0  # 1 when batches or weights differ
    measured = json.loads(out.read_text())
    assert measured["batches_equal"] and measured["training"]["weights_equal"]
    assert len(measured["data_seconds_per_batch"]["after"]) == 2
    assert measured["training"]["before"]["num_workers"] == 1
