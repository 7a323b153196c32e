"""Full path (GT loading, filtering, results files, splits) equals the devkit's ``DetectionEval``.

A small nuScenes-format database is written here by hand, with what the synthetic
world may lack: bicycle racks with bikes inside, boxes without LiDAR/radar points,
objects beyond the class ranges, annotations without attributes, one-frame tracks
(nan GT velocity) and categories outside the detection classes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from robobench.metrics.detection import DISTANCE_RANGES, DetectionEvaluator
from tests.helpers.devkit_boxes import assert_equal_to_devkit, devkit_on_file
from tests.helpers.handmade_nuscenes import VERSION, make_results, write_handmade_nuscenes


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    from nuscenes import NuScenes

    root = tmp_path_factory.mktemp("handmade")
    write_handmade_nuscenes(root)
    nusc = NuScenes(version=VERSION, dataroot=str(root), verbose=False)
    return nusc, DetectionEvaluator(nusc, "hand_val")


CASES = {
    "jittered": dict(jitter=0.4),
    "precise": dict(jitter=0.05, n_fp=0),
    "noisy_tied": dict(jitter=1.5, n_fp=20, score_levels=3),
    "classes_missing": dict(jitter=0.3, drop=("car", "bicycle", "barrier")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_equals_devkit_on_handmade_db(handmade, tmp_path, case):
    nusc, evaluator = handmade
    data = make_results(nusc, evaluator.sample_tokens, np.random.default_rng(len(case)), **CASES[case])
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    ev, metrics = devkit_on_file(nusc, path, "hand_val", tmp_path / "out")
    # the filtering itself agrees box for box
    assert len(evaluator.gt) == len(ev.gt_boxes.all)
    ours = evaluator.evaluate(path)
    assert_equal_to_devkit(ours, metrics)
    for key, (lo, hi) in DISTANCE_RANGES.items():
        _, ranged = devkit_on_file(nusc, path, "hand_val", tmp_path / "out", gt_filter=lambda d: lo <= d < hi)
        assert_equal_to_devkit(ours.ranges[key], ranged)


def test_handmade_db_exercises_every_filter(handmade):
    nusc, evaluator = handmade
    raw = evaluator._load_gt()
    dist = evaluator.ego_dist(raw)
    in_range = dist < evaluator.class_range[raw.label]
    assert (~in_range).any() and (raw.num_pts == 0).any() and np.isnan(raw.vel).any() and (raw.attr < 0).any()
    # racked bicycles/motorcycles are in range with points, yet filtered out
    kept = evaluator.filter(raw.subset(in_range & (raw.num_pts != 0)))
    assert len(kept) < int(np.count_nonzero(in_range & (raw.num_pts != 0)))
    assert evaluator.bike_racks


@pytest.fixture(scope="module")
def synth(tiny_world):
    from nuscenes import NuScenes

    nusc = NuScenes(version=tiny_world.version, dataroot=str(tiny_world.dataroot), verbose=False)
    return nusc, DetectionEvaluator(nusc, tiny_world.val_split), tiny_world.val_split


SYNTH_CASES = {
    "perfect": dict(jitter=0.0, n_fp=0, miss=0.0, only_scored_gt=True),
    "jittered": dict(jitter=0.5, n_fp=8),
    "random": dict(jitter=30.0, n_fp=40),
    "duplicates_low_tied_scores": dict(jitter=0.2, n_fp=30, score_levels=2),
    "classes_missing": dict(jitter=0.3, drop=("truck", "pedestrian", "traffic_cone")),
}


@pytest.mark.parametrize("case", sorted(SYNTH_CASES))
def test_equals_devkit_on_tiny_synthetic_world(synth, tmp_path, case):
    nusc, evaluator, split = synth
    data = make_results(nusc, evaluator.sample_tokens, np.random.default_rng(7 + len(case)), **SYNTH_CASES[case])
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    ev, metrics = devkit_on_file(nusc, path, split, tmp_path / "out")
    assert len(evaluator.gt) == len(ev.gt_boxes.all) > 0
    ours = evaluator.evaluate(path, breakdowns=False)
    assert_equal_to_devkit(ours, metrics)
    if case == "perfect":  # exact copies of every GT box: AP 1 and no translation error where there is GT
        present = {evaluator.class_names[c] for c in np.unique(evaluator.gt.label)}
        for cls in present:
            assert ours.mean_dist_aps[cls] == pytest.approx(1.0)
            assert ours.label_tp_errors[cls]["trans_err"] == pytest.approx(0.0, abs=1e-9)


def test_split_order_and_bad_splits(handmade):
    from robobench.errors import UserError
    from robobench.metrics.detection import split_sample_tokens

    nusc, evaluator = handmade
    order = [s["token"] for s in nusc.sample]
    assert evaluator.sample_tokens == [t for t in order if t in set(evaluator.sample_tokens)]
    assert len(evaluator.sample_tokens) == 8  # two scenes of four frames
    with pytest.raises(UserError, match="v1.0-trainval"):
        split_sample_tokens(nusc, "val")
    with pytest.raises(UserError, match="unknown split"):
        split_sample_tokens(nusc, "hand_test")
