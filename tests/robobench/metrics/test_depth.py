"""Depth metrics against hand-computed values; streaming equals all-at-once."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robobench.metrics.depth import DEPTH_METRICS, DepthAccumulator, depth_errors


def test_depth_errors_by_hand():
    # valid pixels (d, g): (2, 1), (1, 1), (3, 4); GT 0 and NaN pixels are ignored.
    pred = np.array([[2.0, 1.0, 3.0], [5.0, 7.0, 9.0]])
    gt = np.array([[1.0, 1.0, 4.0], [0.0, np.nan, -1.0]])
    m = depth_errors(pred, gt)
    e = [math.log(2.0), 0.0, math.log(0.75)]
    mean_e2 = sum(x * x for x in e) / 3
    expected = {
        "abs_rel": (1 + 0 + 0.25) / 3,
        "sq_rel": (1 + 0 + 0.25) / 3,
        "rmse": math.sqrt(2 / 3),
        "rmse_log": math.sqrt(mean_e2),
        "silog": 100 * math.sqrt(mean_e2 - (sum(e) / 3) ** 2),
        "log10": (math.log10(2) + math.log10(4 / 3)) / 3,
        "a1": 1 / 3,  # ratios 2, 1, 4/3
        "a2": 2 / 3,
        "a3": 2 / 3,  # 2 >= 1.25^3 = 1.953
    }
    for key in DEPTH_METRICS:
        assert m[key] == pytest.approx(expected[key], abs=1e-12), key
    assert m["count"] == 3


def test_mask_and_torch_input_and_clamp():
    pred = torch.tensor([2.0, 1.0, 3.0, 0.0])
    gt = torch.tensor([1.0, 1.0, 4.0, 2.0])
    m = depth_errors(pred, gt, mask=torch.tensor([True, False, False, False]))
    assert m["abs_rel"] == pytest.approx(1.0) and m["count"] == 1
    # a zero prediction is clamped to min_pred: |1e-3 - 2| / 2
    m = depth_errors(pred, gt, mask=np.array([0, 0, 0, 1]))
    assert m["abs_rel"] == pytest.approx((2 - 1e-3) / 2)
    with pytest.raises(ValueError, match="valid"):
        depth_errors(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        depth_errors(np.ones(3), np.ones(4))


def test_accumulator_equals_all_at_once():
    rng = np.random.default_rng(0)
    acc = DepthAccumulator()
    preds, gts, fgs = [], [], []
    for _ in range(5):
        gt = rng.uniform(0.5, 80, (6, 8))
        gt[rng.random(gt.shape) < 0.4] = 0.0
        pred = gt * np.exp(rng.normal(0, 0.2, gt.shape)) + 0.1
        fg = rng.random(gt.shape) < 0.3
        acc.update(pred, gt, fg_mask=fg)
        preds.append(pred), gts.append(gt), fgs.append(fg)
    pred, gt, fg = np.stack(preds), np.stack(gts), np.stack(fgs)
    out = acc.compute()
    for key, ref in [("all", depth_errors(pred, gt)), ("fg", depth_errors(pred, gt, mask=fg))]:
        for name in DEPTH_METRICS:
            assert out[key][name] == pytest.approx(ref[name], rel=1e-10), (key, name)
    assert set(out["bins"]) == {"0-20", "20-40", "40-60", "60-inf"}
    for name, (lo, hi) in {"0-20": (0, 20), "60-inf": (60, np.inf)}.items():
        ref = depth_errors(pred, gt, mask=(gt >= lo) & (gt < hi))
        for metric in DEPTH_METRICS:
            assert out["bins"][name][metric] == pytest.approx(ref[metric], rel=1e-10)
    assert sum(b["count"] for b in out["bins"].values()) == out["all"]["count"]


def test_accumulator_omits_empty_groups_and_checks_bins():
    acc = DepthAccumulator(bins=(0, 10))
    acc.update(np.array([5.0]), np.array([4.0]))
    out = acc.compute()
    assert "fg" not in out and set(out["bins"]) == {"0-10"}
    with pytest.raises(ValueError, match="increasing"):
        DepthAccumulator(bins=(10, 0))
