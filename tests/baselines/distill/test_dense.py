"""Dense BEV imitation: naive MSE and BEVDistill's Gaussian-foreground-weighted MSE (hand values)."""

from __future__ import annotations

import pytest
import torch

from baselines.common.config import HeadConfig
from baselines.common.geometry import BEVGrid
from baselines.common.head import CenterHead
from baselines.distill.dense import dense_mse_loss, fg_weighted_mse_loss, gaussian_foreground
from robobench.constants import DETECTION_CLASSES


def test_dense_mse_by_hand_and_student_only_gradient() -> None:
    student = torch.tensor([[[[1.0, 2.0]]]], requires_grad=True)
    teacher = torch.zeros(1, 1, 1, 2, requires_grad=True)
    loss = dense_mse_loss(student, teacher)
    assert loss.item() == pytest.approx((1 + 4) / 2)
    loss.backward()
    assert teacher.grad is None and student.grad.tolist() == [[[[1.0, 2.0]]]]


def test_fg_weighted_mse_by_hand() -> None:
    student = torch.tensor([[[[1.0, 0.0]], [[1.0, 2.0]]]])  # (1, 2, 1, 2): cell 0 = (1, 1), cell 1 = (0, 2)
    teacher = torch.zeros(1, 2, 1, 2)
    weight = torch.tensor([[[0.5, 0.25]]])
    # (0.5 * (1 + 1) + 0.25 * (0 + 4)) / (0.5 + 0.25)
    assert fg_weighted_mse_loss(student, teacher, weight).item() == pytest.approx(2.0 / 0.75)
    s = student.clone().requires_grad_(True)
    none = fg_weighted_mse_loss(s, teacher, torch.zeros(1, 1, 2))
    assert none.item() == 0.0
    none.backward()


def test_gaussian_foreground_is_the_class_agnostic_centerpoint_heatmap() -> None:
    grid = BEVGrid(-8.0, 8.0, -8.0, 8.0, -3.0, 3.0, 0.5)
    head = CenterHead(8, grid, HeadConfig())
    boxes = [
        torch.tensor([[2.1, -3.2, 0.0, 1.9, 4.5, 1.6, 0.3, 0.0, 0.0], [-4.0, 4.0, 0.0, 0.6, 0.7, 1.7, 0.0, 0.0, 0.0]]),
        torch.zeros(0, 9),
    ]
    labels = [
        torch.tensor([DETECTION_CLASSES.index("car"), DETECTION_CLASSES.index("pedestrian")]),
        torch.zeros(0, dtype=torch.long),
    ]
    w = gaussian_foreground(head, boxes, labels)
    assert w.shape == (2, grid.ny, grid.nx)
    # peaks of 1 at each box's centre cell (classes in different tasks end up in one map)
    assert w[0, int((-3.2 + 8) / 0.5), int((2.1 + 8) / 0.5)].item() == 1.0
    assert w[0, int((4.0 + 8) / 0.5), int((-4.0 + 8) / 0.5)].item() == 1.0
    assert w[0].max().item() == 1.0 and 0 < (w[0] > 0).float().mean().item() < 0.2
    assert w[0, 0, 0].item() == 0.0 and w[1].sum().item() == 0.0
