"""The vectorised detection metrics equal the devkit's ``DetectionEval`` number for number.

The core (matching, AP, TP errors, NDS) is checked on hand-built devkit ``EvalBoxes``
by running ``DetectionEval.evaluate`` on the same boxes; the full path (GT loading,
filtering, results files, custom split) on the tiny synthetic world.
"""

from __future__ import annotations


import numpy as np
import pytest
from nuscenes.eval.common.data_classes import EvalBoxes
from nuscenes.eval.detection.data_classes import DetectionBox

from robobench.constants import DETECTION_CLASSES
from robobench.errors import UserError
from robobench.metrics.detection import BoxArrays, DetectionResult, evaluate_arrays, parse_results
from tests.helpers.devkit_boxes import CFG, assert_equal_to_devkit, devkit_metrics, make_box, predictions, random_world


def ours(tokens, gt, pred) -> DetectionResult:
    names = list(CFG.class_names)
    return evaluate_arrays(
        BoxArrays.from_eval_boxes(gt, tokens, names), BoxArrays.from_eval_boxes(pred, tokens, names), CFG, names
    )


CASES = {
    "perfect": dict(jitter=0.0, keep=1.0, n_fp=0, n_dup=0),
    "jittered": dict(jitter=0.5),
    "noisy": dict(jitter=1.5, n_fp=10),
    "duplicates_tied_scores": dict(jitter=0.3, n_dup=3, score_levels=4),
    "classes_missing": dict(jitter=0.4, drop_classes=("bus", "barrier", "bicycle")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_core_equals_devkit_on_hand_built_boxes(case):
    rng = np.random.default_rng(sorted(CASES).index(case))
    tokens, gt = random_world(rng)
    pred = predictions(rng, tokens, gt, **CASES[case])
    assert_equal_to_devkit(ours(tokens, gt, pred), devkit_metrics(gt, pred))


def test_core_random_predictions_and_low_scores():
    rng = np.random.default_rng(11)
    tokens, gt = random_world(rng, max_gt=20)
    pred = predictions(rng, tokens, gt, keep=0.0, n_fp=40)  # pure noise, a few chance matches
    assert_equal_to_devkit(ours(tokens, gt, pred), devkit_metrics(gt, pred))
    low = predictions(rng, tokens, gt, jitter=0.2)
    for tok in tokens:
        for b in low[tok]:
            b.detection_score = b.detection_score * 1e-3
    assert_equal_to_devkit(ours(tokens, gt, low), devkit_metrics(gt, low))


def test_perfect_predictions_score_one_and_empty_score_zero():
    rng = np.random.default_rng(5)
    tokens, gt = random_world(rng, n_samples=6)
    perfect = predictions(rng, tokens, gt, **CASES["perfect"])
    res = ours(tokens, gt, perfect)
    present = {b.detection_name for b in gt.all}
    for cls in present:
        assert res.mean_dist_aps[cls] == pytest.approx(1.0)
        assert res.label_tp_errors[cls]["trans_err"] == pytest.approx(0.0, abs=1e-12)
    empty = EvalBoxes()
    for tok in tokens:
        empty.add_boxes(tok, [])
    res = ours(tokens, gt, empty)
    assert res.map == 0.0 and res.nds == 0.0
    assert_equal_to_devkit(res, devkit_metrics(gt, empty))


def test_matching_by_hand():
    # One car GT; predictions 0.7 m (score 0.9) and 0.3 m (score 0.8) away.
    gt = EvalBoxes()
    gt.add_boxes("a", [make_box("a", "car", (0, 0, 0), (2, 4, 1.5), 0.0, (1, 0), attr="vehicle.moving", num_pts=5)])
    pred = EvalBoxes()
    pred.add_boxes(
        "a",
        [
            make_box("a", "car", (0.7, 0, 0), (2, 4, 1.5), 0.0, (1, 0), score=0.9, attr="vehicle.moving"),
            make_box("a", "car", (0.3, 0, 0), (1, 4, 1.5), 0.5, (1, 1), score=0.8, attr="vehicle.parked"),
        ],
    )
    res = ours(["a"], gt, pred)
    # 0.5 m: the 0.9 box misses, the 0.8 box matches second: recall (0, 1), precision (0, 0.5),
    # interpolated precision 0.5 r; AP = sum_{i=21..100} (0.005 i - 0.1) / 90 / 0.9 = 16.2 / 81.
    assert res.label_aps["car"][0.5] == pytest.approx(0.2, abs=1e-12)
    # 2 m: the 0.9 box takes the GT (0.7 m error, same size/yaw/velocity/attribute).
    errs = res.label_tp_errors["car"]
    assert errs["trans_err"] == pytest.approx(0.7, abs=1e-12)
    assert errs["scale_err"] == pytest.approx(0.0, abs=1e-12)
    assert errs["orient_err"] == pytest.approx(0.0, abs=1e-12)
    assert errs["attr_err"] == pytest.approx(0.0, abs=1e-12)
    assert_equal_to_devkit(res, devkit_metrics(gt, pred))
    # Swap the scores: now the 0.3 m box (half width, 0.5 rad off, 1 m/s off, wrong attribute) wins.
    for b, s in zip(pred["a"], (0.8, 0.9)):
        b.detection_score = s
    errs = ours(["a"], gt, pred).label_tp_errors["car"]
    assert errs["trans_err"] == pytest.approx(0.3, abs=1e-12)
    assert errs["scale_err"] == pytest.approx(0.5, abs=1e-12)
    assert errs["orient_err"] == pytest.approx(0.5, abs=1e-12)
    assert errs["vel_err"] == pytest.approx(1.0, abs=1e-12)
    assert errs["attr_err"] == pytest.approx(1.0, abs=1e-12)


def test_row_fields_shape():
    rng = np.random.default_rng(3)
    tokens, gt = random_world(rng, n_samples=4)
    res = ours(tokens, gt, predictions(rng, tokens, gt, jitter=0.3))
    row = res.row_fields()
    assert set(row) >= {"nds", "map", "mate", "mase", "maoe", "mave", "maae", "per_class", "breakdown"}
    assert row["per_class"]["traffic_cone"]["orient_err"] is None
    assert set(row["per_class"]["car"]["ap"]) == {"0.5", "1.0", "2.0", "4.0"}
    small = [res.mean_dist_aps[c] for c in ("pedestrian", "motorcycle", "bicycle", "traffic_cone", "barrier")]
    assert row["breakdown"]["small_map"] == pytest.approx(sum(small) / 5)


def _box_json(token, **over):
    box = {
        "sample_token": token,
        "translation": [1.0, 2.0, 0.5],
        "size": [1.0, 2.0, 1.5],
        "rotation": [1.0, 0.0, 0.0, 0.0],
        "velocity": [0.0, 0.0],
        "detection_name": "car",
        "detection_score": 0.5,
        "attribute_name": "vehicle.moving",
    }
    box.update(over)
    return box


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("meta"), "'meta'"),
        (lambda d: d.pop("results"), "'results'"),
        (lambda d: d["results"].pop("t1"), "'t1' of the split is missing"),
        (lambda d: d["results"].update(zz=[]), "'zz' is not in the split"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", detection_name="tram")), "tram"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", translation=[1.0, float("nan"), 0.0])), "translation"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", velocity=[1.0])), "velocity"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", detection_score=float("inf"))), "detection_score"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", size=[1.0, 0.0, 1.0])), "positive"),
        (lambda d: d["results"]["t1"].append(_box_json("t0")), "sample_token"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", attribute_name="vehicle.flying")), "attribute_name"),
        (lambda d: d["results"].update(t1=[_box_json("t1")] * 501), "501 boxes"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", size=["1.0", 2.0, 1.0])), "must hold numbers"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", detection_score=True)), "detection_score"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", rotation=[0.0, 0.0, 0.0, 0.0])), "unit quaternion"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", rotation=[0.0, 0.0, 0.0, 2.0])), "norm is 2"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", rotation=[1.0, 0.0, 0.0, 0.3])), "unit quaternion"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", detection_score=-0.25)), "-0.25; it must be a confidence"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", detection_score=1.5)), r"in \[0, 1\]"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", detection_score=2)), r"in \[0, 1\]"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", detection_score=float("nan"))), "detection_score"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", ego_translation=[1.0, 2.0])), "ego_translation"),
        (
            lambda d: d["results"]["t1"].append(_box_json("t1", ego_translation=[1.0, float("inf"), 0.0])),
            "ego_translation",
        ),
        (lambda d: d["results"]["t1"].append(_box_json("t1", num_pts=2.0)), "num_pts"),
        (lambda d: d["results"]["t1"].append(_box_json("t1", num_pts=2**70)), "within 64 bits"),
        (
            lambda d: d["results"]["t1"].append(_box_json("t1", rotation=[True, 0, 0, 0])),
            "'rotation' must hold numbers",
        ),
        (lambda d: d["results"]["t1"].append(_box_json("t1", translation=[10**400, 0, 0])), "NaN or infinite"),
        (lambda d: d["results"]["t1"].append(["not", "a", "box"]), "must be an object"),
        (lambda d: d["results"].update(t1={}), "list of boxes"),
    ],
)
def test_parse_results_rejects_bad_input(mutate, message):
    data = {"meta": {"use_camera": True}, "results": {"t0": [_box_json("t0")], "t1": []}}
    parse_results(data, ["t0", "t1"])
    mutate(data)
    with pytest.raises(UserError, match=message):
        parse_results(data, ["t0", "t1"])


def test_results_file_fast_path_equals_dict_path(tmp_path):
    import json

    from robobench.metrics.detection import load_results_file

    data = {
        "meta": {},
        "results": {
            "t0": [
                _box_json("t0"),
                _box_json(
                    "t0",
                    detection_name="barrier",
                    attribute_name="",
                    num_pts=3,
                    translation=[4, 5, 6],
                    detection_score=1,
                ),
            ],
            "t1": [
                _box_json("t1", velocity=[0.5, -2.0], rotation=[0.0, 0.0, 0.0, 0.9999], ego_translation=[1, 2, 3]),
                _box_json("t1", detection_score=0, rotation=[0.6, 0.0, 0.0, 0.8]),
            ],
        },
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    data["results"]["t0"][0]["translation"] = [2**70, 0, 0]  # an integer past 64 bits is a number to both readers
    path.write_text(json.dumps(data))
    a, b = load_results_file(path, ["t0", "t1"]), parse_results(data, ["t0", "t1"])
    for name in BoxArrays.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.yaw[2] == pytest.approx(np.pi)
    for bad, message in [
        (_box_json("t1", translation=[1.0, float("nan"), 0.0]), "box 2: field 'translation' has a NaN"),
        (_box_json("t1", size=[1.0, "2", 1.0]), "box 2: field 'size' must hold numbers"),
        (_box_json("t1", detection_name="tram"), "box 2: unknown detection_name 'tram'"),
        (_box_json("t1", detection_score=-0.5), "box 2: field 'detection_score' is -0.5"),
        (_box_json("t1", rotation=[0.5, 0.0, 0.0, 0.5]), "box 2: field 'rotation' must be a unit quaternion"),
        (_box_json("t1", ego_translation=[0.0, 0.0]), "box 2: field 'ego_translation' must be a list of 3"),
        (_box_json("t1", size=[True, 1.0, 1.0]), "box 2: field 'size' must hold numbers"),
        (_box_json("t1", num_pts=-(2**64)), "box 2: field 'num_pts' is -18446744073709551616"),
    ]:
        data["results"]["t1"].append(bad)
        path.write_text(json.dumps(data))
        with pytest.raises(UserError, match=message):
            load_results_file(path, ["t0", "t1"])
        data["results"]["t1"].pop()
    path.write_text(json.dumps(data).replace("[4, 5, 6]", "[4, 5, 1e999]"))
    with pytest.raises(UserError, match="sample 't0' box 1: field 'translation' has a NaN or infinite"):
        load_results_file(path, ["t0", "t1"])


def test_perfect_predictions_score_exactly_one():
    """Issue 33.1: the devkit's calc_ap gives a perfect AP as 1.0000000000000002; clamped at its
    source, mAP and NDS of a perfect submission are exactly 1."""
    rng = np.random.default_rng(5)
    tokens, gt = random_world(rng, n_samples=8)
    assert {b.detection_name for b in gt.all} == set(DETECTION_CLASSES)
    perfect = EvalBoxes()
    for tok in tokens:
        perfect.add_boxes(
            tok,
            [
                DetectionBox(
                    **{
                        **b.serialize(),
                        "velocity": tuple(np.nan_to_num(b.velocity)),
                        "num_pts": -1,
                        "detection_score": 0.5,
                    }
                )
                for b in gt[tok]
            ],
        )
    res = ours(tokens, gt, perfect)
    assert (res.nds, res.map) == (1.0, 1.0)
    assert all(ap == 1.0 for aps in res.label_aps.values() for ap in aps.values())
