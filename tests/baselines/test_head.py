"""CenterPoint head: targets decode back to the GT boxes; radius, focal loss, circle NMS, attributes by hand."""

from __future__ import annotations

import math

import pytest
import numpy as np
import torch

from baselines.common.attributes import assign_attributes
from baselines.common.config import HeadConfig
from baselines.common.geometry import BEVGrid
from tests.helpers.reference_paths import circle_nms_greedy
from baselines.common.head import CenterHead, circle_nms, gaussian_focal_loss, gaussian_radius
from robobench.constants import ATTRIBUTES, DETECTION_CLASSES

GRID = BEVGrid(-51.2, 51.2, -51.2, 51.2, -5.0, 3.0, 0.8)


def _gt() -> tuple[torch.Tensor, torch.Tensor]:
    names = ["car", "truck", "pedestrian", "traffic_cone", "bus", "barrier", "bicycle", "car"]
    labels = torch.tensor([DETECTION_CLASSES.index(n) for n in names])
    boxes = torch.tensor(
        [
            [10.3, -4.1, 0.9, 1.9, 4.6, 1.7, 0.3, 3.0, 0.5],
            [-20.7, 15.2, 1.4, 2.5, 6.9, 2.8, -2.0, 0.0, 0.0],
            [5.05, 5.55, 0.9, 0.7, 0.7, 1.8, 1.0, 1.2, -0.4],
            [6.9, 5.5, 0.5, 0.4, 0.4, 1.1, 0.0, 0.0, 0.0],
            [-35.0, -30.0, 1.7, 2.9, 11.0, 3.5, 3.1, -5.0, 1.0],
            [0.4, 30.1, 0.5, 2.5, 0.5, 1.0, -0.7, 0.0, 0.0],
            [44.9, -44.9, 0.6, 0.6, 1.7, 1.3, 2.5, 0.1, 0.1],
            [-3.3, -12.7, 0.8, 1.8, 4.4, 1.5, -3.0, -8.0, 0.0],
        ]
    )
    return boxes, labels


def _perfect_preds(head: CenterHead, boxes: torch.Tensor, labels: torch.Tensor) -> dict[str, list[torch.Tensor]]:
    """Predictions equal to the targets: heatmap logits of the Gaussian targets, regression at the centre cells."""
    heat, reg = [], []
    for tgt in head.targets(boxes, labels):
        heat.append(torch.logit(tgt["heatmap"].clamp(1e-6, 1 - 1e-6))[None])
        dense = torch.zeros(10, GRID.ny * GRID.nx)
        dense[:, tgt["index"]] = tgt["reg"].T
        reg.append(dense.view(1, 10, GRID.ny, GRID.nx))
    return {"heatmap": heat, "reg": reg}


def test_targets_decode_to_the_gt_boxes() -> None:
    head = CenterHead(8, GRID, HeadConfig(score_threshold=0.99))
    boxes, labels = _gt()
    det = head.decode(_perfect_preds(head, boxes, labels))[0]
    assert det["boxes"].shape == boxes.shape
    for box, label in zip(boxes, labels):
        dist = torch.linalg.norm(det["boxes"][:, :2] - box[:2], dim=1)
        k = int(dist.argmin())
        assert dist[k] < GRID.res / 2
        assert int(det["labels"][k]) == int(label)
        torch.testing.assert_close(
            det["boxes"][k, [0, 1, 2, 3, 4, 5, 7, 8]], box[[0, 1, 2, 3, 4, 5, 7, 8]], atol=1e-4, rtol=1e-4
        )
        yaw_err = math.remainder(float(det["boxes"][k, 6] - box[6]), 2 * math.pi)
        assert abs(yaw_err) < 1e-4


def test_boxes_outside_the_grid_get_no_target() -> None:
    head = CenterHead(8, GRID, HeadConfig())
    boxes, labels = _gt()
    boxes[0, 0] = 60.0  # the car at x = 60 m is outside +-51.2
    targets = head.targets(boxes, labels)
    assert targets[0]["index"].numel() == 1  # only the second car remains in the car task
    assert sum(t["index"].numel() for t in targets) == len(boxes) - 1
    assert all(float(t["heatmap"].max()) in (0.0, 1.0) for t in targets)


def test_loss_is_small_for_perfect_predictions_and_large_for_wrong_ones() -> None:
    head = CenterHead(8, GRID, HeadConfig())
    boxes, labels = _gt()
    good = _perfect_preds(head, boxes, labels)
    bad = {"heatmap": [torch.zeros_like(h) for h in good["heatmap"]], "reg": [torch.zeros_like(r) for r in good["reg"]]}
    loss_good = head.loss(good, [boxes], [labels])
    loss_bad = head.loss(bad, [boxes], [labels])
    assert float(loss_good["bbox"]) == pytest.approx(0.0, abs=1e-5)
    assert float(loss_good["heatmap"]) < 0.01 * float(loss_bad["heatmap"])
    assert float(loss_bad["bbox"]) > 1.0


def test_gaussian_radius_hand_value() -> None:
    # l = w = 10 cells, overlap 0.1: r1 = (20 + sqrt(400 - 4 * 100 * 0.9 / 1.1)) / 2 = 14.26...;
    # r2 = (40 + sqrt(1600 - 16 * 90)) / 2 = 26.32...; r3 = (-4 + sqrt(16 + 4 * 0.4 * 90)) / 2 = 4.32... (the minimum).
    expected = (-4 + math.sqrt(160)) / 2
    assert float(gaussian_radius(torch.tensor(10.0), torch.tensor(10.0), 0.1)) == pytest.approx(expected, abs=1e-5)


def test_gaussian_focal_loss_hand_value() -> None:
    logits = torch.tensor([0.0, 0.0])  # p = 0.5 at a positive and at a negative with target 0.5
    target = torch.tensor([1.0, 0.5])
    pos = -math.log(0.5) * 0.5**2
    neg = -math.log(0.5) * 0.5**2 * 0.5**4
    assert float(gaussian_focal_loss(logits, target)) == pytest.approx(pos + neg, rel=1e-5)


def test_circle_nms_is_greedy() -> None:
    # Sorted by score: A at 0, B at 1.5 (suppressed by A), C at 3.0 (kept: B is gone), D at 10.
    centres = torch.tensor([[0.0, 0.0], [1.5, 0.0], [3.0, 0.0], [10.0, 0.0]])
    assert circle_nms(centres, 2.0).tolist() == [True, False, True, True]
    assert circle_nms(centres, 0.5).tolist() == [True, True, True, True]
    assert circle_nms(centres[:0], 1.0).numel() == 0


def test_circle_nms_in_rounds_equals_the_greedy_walk() -> None:
    """Clusters (long suppression chains), scattered boxes, several radii."""
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 400))
        centres = rng.uniform(-50, 50, (20, 2))[rng.integers(0, 20, n)] + rng.normal(0, rng.uniform(0.2, 3), (n, 2))
        centres[: n // 3] = rng.uniform(-50, 50, (n // 3, 2))
        radius = float(rng.choice([0.3, 1.0, 4.0, 12.0]))
        got = circle_nms(torch.from_numpy(centres).float(), radius)
        assert torch.equal(got, circle_nms_greedy(torch.from_numpy(centres).float(), radius)), trial


def test_attributes_by_class_and_speed() -> None:
    names = ["car", "car", "bus", "bicycle", "bicycle", "pedestrian", "pedestrian", "barrier"]
    labels = torch.tensor([DETECTION_CLASSES.index(n) for n in names])
    vel = torch.tensor([[0.3, 0.0], [0.1, 0.1], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.5], [0.0, 0.0], [5.0, 0.0]])
    got = [ATTRIBUTES[i] if i >= 0 else "" for i in assign_attributes(labels, vel).tolist()]
    assert got == [
        "vehicle.moving",
        "vehicle.parked",
        "vehicle.stopped",
        "cycle.with_rider",
        "cycle.without_rider",
        "pedestrian.moving",
        "pedestrian.standing",
        "",
    ]


def test_samples_without_boxes_train_and_decode() -> None:
    head = CenterHead(8, GRID, HeadConfig(score_threshold=0.5))
    preds = head(torch.randn(2, 8, GRID.ny, GRID.nx))
    boxes, labels = _gt()
    losses = head.loss(preds, [torch.zeros(0, 9), boxes], [torch.zeros(0, dtype=torch.long), labels])
    assert torch.isfinite(losses["heatmap"]) and float(losses["bbox"].detach()) > 0
    first = {k: [v[:1] for v in vs] for k, vs in preds.items()}
    losses = head.loss(first, [torch.zeros(0, 9)], [torch.zeros(0, dtype=torch.long)])
    assert float(losses["bbox"].detach()) == 0.0 and float(losses["heatmap"].detach()) > 0
    quiet = {"heatmap": [torch.full_like(h, -20.0) for h in preds["heatmap"]], "reg": preds["reg"]}
    det = head.decode(quiet)
    assert [d["boxes"].shape for d in det] == [(0, 9), (0, 9)]
