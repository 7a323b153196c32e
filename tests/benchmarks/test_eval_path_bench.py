"""benchmarks/eval_path_bench.py: both paths run a real cell and agree, and the slow path really is the old one."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import baselines.common.head
import robobench.data.dataset
import robobench.metrics.bootstrap
import robobench.predict
from benchmarks import eval_path_bench
from robobench.registry import get_entry
from robobench.train import save_checkpoint
from tests.helpers import reference_paths


@pytest.mark.slow
def test_before_swaps_in_every_reference_path_and_both_paths_agree(tiny_world, tmp_path, monkeypatch) -> None:
    with eval_path_bench.before_path():
        assert robobench.predict.detections_to_nusc is reference_paths.detections_box_by_box
        assert robobench.predict.write_json_atomic is reference_paths.write_json_streamed
        assert robobench.data.dataset.points_in_boxes is reference_paths.points_in_boxes_per_box
        assert baselines.common.head.circle_nms is reference_paths.circle_nms_greedy
        assert robobench.metrics.bootstrap.bootstrap_scores is reference_paths.bootstrap_scores_per_replicate
        assert robobench.data.dataset.eval_input_cache().budget == 0
    assert robobench.predict.detections_to_nusc is not reference_paths.detections_box_by_box

    entry = get_entry("bevdet")
    cfg = entry.config("quick")
    torch.manual_seed(0)
    ckpt = tmp_path / "bevdet.pt"
    save_checkpoint({"model": entry.build(cfg).state_dict(), "config": cfg, "meta": {"entry": "bevdet"}}, ckpt)
    out = tmp_path / "measured.json"
    argv = ["eval_path_bench.py", "--dataroot", str(tiny_world.dataroot), "--split", tiny_world.val_split]
    argv += ["--checkpoint", str(ckpt), "--conditions", "Snow:mid", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    eval_path_bench.main()  # exits 1 when the paths disagree
    measured = json.loads(out.read_text())
    assert [c["condition"] for c in measured["cells"]] == ["Snow:mid"]
    assert all(c["agree"] and c["before_s"] > 0 and c["after_s"] > 0 for c in measured["cells"])
