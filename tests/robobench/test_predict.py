"""Inference: GT returned as detections -> results JSON (global frame) -> the devkit's DetectionEval
gives mAP = 1 (this proves the ego -> global conversion of centre, yaw, size and velocity)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robobench.errors import UserError
from robobench.constants import ATTRIBUTES, DETECTION_CLASSES
from robobench.predict import MAX_BOXES_PER_SAMPLE, attribute_name, detections_to_nusc, expected_depth, predict
from robobench.train import save_checkpoint
from tests.helpers.oracle import DEPTH_BINS
from tests.helpers.reference_paths import detections_box_by_box


def test_gt_as_detections_scores_map_one_with_the_devkit(tiny_world, oracle, tmp_path: Path) -> None:
    from nuscenes.eval.detection.config import config_factory
    from nuscenes.eval.detection.evaluate import DetectionEval

    from robobench.data.nusc import open_nuscenes, split_sample_tokens

    entry, ckpt = oracle
    out = predict(
        entry,
        ckpt,
        "clean",
        tiny_world.dataroot,
        tiny_world.version,
        tiny_world.val_split,
        tmp_path / "results.json",
        progress=False,
    )
    submission = json.loads(out.results_path.read_text())
    nusc = open_nuscenes(tiny_world.dataroot, tiny_world.version)
    assert set(submission["results"]) == set(split_sample_tokens(nusc, tiny_world.val_split))
    assert submission["meta"]["use_camera"] is True
    boxes = [b for sample in submission["results"].values() for b in sample]
    assert boxes and all(len(b["rotation"]) == 4 and len(b["velocity"]) == 2 for b in boxes)

    evaluator = DetectionEval(
        nusc,
        config_factory("detection_cvpr_2019"),
        str(out.results_path),
        eval_set=tiny_world.val_split,
        output_dir=str(tmp_path / "eval"),
        verbose=False,
    )
    metrics = evaluator.evaluate()[0].serialize()
    assert metrics["mean_ap"] == pytest.approx(1.0)
    tp = metrics["tp_errors"]
    assert tp["trans_err"] < 1e-4 and tp["scale_err"] < 1e-4 and tp["orient_err"] < 1e-4
    assert tp["vel_err"] < 1e-4 and tp["attr_err"] < 1e-9

    # one-hot depth at the GT bin: the expected depth is the bin centre, at most half a bin off
    assert out.depth_metrics is not None
    assert out.depth_metrics["all"]["count"] > 0 and out.depth_metrics["fg"]["count"] > 0
    assert out.depth_metrics["all"]["rmse"] <= DEPTH_BINS[2] / 2 + 1e-4


def test_every_sample_is_present_and_errors_are_user_errors(tiny_world, oracle, tmp_path: Path) -> None:
    entry, ckpt = oracle
    with pytest.raises(UserError, match="Fogg"):
        predict(
            entry,
            ckpt,
            "Fogg:hard",
            tiny_world.dataroot,
            tiny_world.version,
            tiny_world.val_split,
            tmp_path / "r.json",
            progress=False,
        )
    with pytest.raises(UserError, match="does not exist"):
        predict(
            entry,
            tmp_path / "none.pt",
            "clean",
            tiny_world.dataroot,
            tiny_world.version,
            tiny_world.val_split,
            tmp_path / "r.json",
            progress=False,
        )
    with pytest.raises(UserError, match="not found"):
        predict(entry, ckpt, "clean", tmp_path / "nowhere", tiny_world.version, progress=False)


def test_expected_depth_and_attribute_defaults() -> None:
    probs = torch.zeros(1, 4, 1, 2)
    probs[0, 1, 0, 0] = 1.0
    probs[0, 2, 0, 1] = probs[0, 3, 0, 1] = 0.5
    depth = expected_depth(probs, [2.0, 6.0, 1.0])  # centres 2.5, 3.5, 4.5, 5.5
    assert np.allclose(depth.numpy(), [[[3.5, 5.0]]])
    assert attribute_name(0, 5) == "vehicle.moving"  # car, vehicle.moving
    assert attribute_name(0, 2) == "vehicle.parked"  # a pedestrian attribute on a car -> class default
    assert attribute_name(5, -1) == "pedestrian.moving"
    assert attribute_name(8, 6) == ""  # traffic cones have no attribute


def test_detections_to_nusc_equals_the_box_by_box_conversion() -> None:
    """Centre, size, rotation, velocity, class, score and attribute of up to 500 boxes per sample, ties
    in score included, under an ego pose with pitch and roll, equal the box-by-box ``pyquaternion`` path."""
    from pyquaternion import Quaternion

    rng = np.random.default_rng(3)
    n = 640
    boxes = torch.from_numpy(rng.normal(0, 20, (n, 9)))
    boxes[:, 6] = torch.from_numpy(rng.uniform(-4, 4, n))
    scores = torch.from_numpy(rng.choice(np.linspace(0, 1, 50), n)).float()  # ties
    det = {
        "boxes": boxes.float(),
        "scores": scores,
        "labels": torch.from_numpy(rng.integers(0, len(DETECTION_CLASSES), n)),
        "attrs": torch.from_numpy(rng.integers(-1, len(ATTRIBUTES) + 1, n)),
    }
    ego2global = np.eye(4)
    ego2global[:3, :3] = Quaternion(axis=[0.1, -0.2, 1.0], angle=2.3).rotation_matrix
    ego2global[:3, 3] = [400.0, 1100.0, 1.5]
    got, ref = detections_to_nusc("t", det, ego2global), detections_box_by_box("t", det, ego2global)
    assert len(got) == len(ref) == MAX_BOXES_PER_SAMPLE
    for a, b in zip(got, ref):
        assert {k: a[k] for k in ("sample_token", "detection_name", "attribute_name", "detection_score")} == {
            k: b[k] for k in ("sample_token", "detection_name", "attribute_name", "detection_score")
        }
        for key in ("translation", "size", "rotation", "velocity"):
            np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-9)
    assert {b["attribute_name"] for b in got} >= {"", "vehicle.parked", "pedestrian.moving", "cycle.with_rider"}
    json.dumps(got)  # plain Python numbers


@pytest.mark.slow
def test_batched_prediction_gives_the_boxes_of_one_sample_at_a_time(tiny_world, tmp_path: Path) -> None:
    """The default evaluation batch (several samples per forward pass) changes nothing but float rounding:
    the same boxes, scores and depth metrics as batch 1, sample by sample, for the real camera student."""
    from robobench.predict import EVAL_BATCH_SIZE
    from robobench.registry import get_entry

    assert EVAL_BATCH_SIZE > 1
    entry = get_entry("bevdet")
    cfg = entry.config("quick")
    torch.manual_seed(0)
    ckpt = tmp_path / "bevdet.pt"
    save_checkpoint({"model": entry.build(cfg).state_dict(), "config": cfg, "meta": {"entry": "bevdet"}}, ckpt)
    out = {
        b: predict(
            "bevdet",
            ckpt,
            "Snow:mid",
            tiny_world.dataroot,
            tiny_world.version,
            tiny_world.val_split,
            tmp_path / f"b{b}.json",
            batch_size=b,
            progress=False,
        )
        for b in (1, EVAL_BATCH_SIZE)
    }
    res = {b: json.loads(o.results_path.read_text())["results"] for b, o in out.items()}
    assert res[1].keys() == res[EVAL_BATCH_SIZE].keys()
    for token, boxes in res[1].items():
        other = res[EVAL_BATCH_SIZE][token]
        assert len(boxes) == len(other) > 0
        key = lambda b: (b["detection_name"], round(b["translation"][0], 3), round(b["translation"][1], 3))  # noqa: E731
        for a, b in zip(sorted(boxes, key=key), sorted(other, key=key)):
            assert a["detection_name"] == b["detection_name"]
            np.testing.assert_allclose(a["translation"], b["translation"], atol=1e-4)
            assert a["detection_score"] == pytest.approx(b["detection_score"], abs=1e-5)
    assert out[1].depth_metrics["all"] == pytest.approx(out[EVAL_BATCH_SIZE].depth_metrics["all"], rel=1e-4)
