"""TiGDistill-BEV loss terms against values computed by hand from the paper's equations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from baselines.common.geometry import BEVGrid
from baselines.distill.tigdistill import (
    TiGConfig,
    continuous_depth,
    gram_row_distance,
    inner_depth_loss,
    inter_channel_loss,
    inter_keypoint_loss,
    keypoint_features,
    object_id_map,
    object_id_maps,
    point_object_ids,
)
from robobench.data.dataset import sparse_depth


def probs_for(depths: list[float], bins: tuple[float, float]) -> torch.Tensor:
    """Two-bin probabilities ``(1, 2, 1, P)`` whose expected depth is each of ``depths``."""
    lo, hi = bins
    a = torch.tensor([(d - lo) / (hi - lo) for d in depths], dtype=torch.float64)
    return torch.stack([1 - a, a]).view(1, 2, 1, -1)


def test_continuous_depth_eq1() -> None:
    prob = torch.tensor([0.2, 0.3, 0.5]).view(1, 3, 1, 1)
    # 0.2 * 1 + 0.3 * 2 + 0.5 * 3 = 2.3
    assert continuous_depth(prob, torch.tensor([1.0, 2.0, 3.0])).item() == pytest.approx(2.3)


def test_inner_depth_loss_eq2_to_4_by_hand() -> None:
    bins = torch.tensor([2.0, 4.0], dtype=torch.float64)
    # view 0: predictions 3.0, 2.5, 4.0, 2.0, 3.9 ; objects 1, 1, 2, bg, 1 ; GT 3.5, 2.4, 3.0, 5.0, none
    # view 1: predictions 2.0, 4.0 ; object 1 (another box), 1 ; GT 2.0, 3.0
    p0 = probs_for([3.0, 2.5, 4.0, 2.0, 3.9], (2.0, 4.0))
    p1 = torch.cat([probs_for([2.0, 4.0], (2.0, 4.0)), torch.full((1, 2, 1, 3), 0.5, dtype=torch.float64)], dim=3)
    prob = torch.cat([p0, p1]).requires_grad_(True)
    gt = torch.tensor([[[3.5, 2.4, 3.0, 5.0, 0.0]], [[2.0, 3.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)
    ids = torch.tensor([[[1, 1, 2, 0, 1]], [[1, 1, 0, 0, 0]]])
    loss = inner_depth_loss(prob, gt, ids, bins)
    # view 0, object 1: errors |3.0-3.5| = 0.5, |2.5-2.4| = 0.1 -> reference pixel 1 (pixel 4 has no GT)
    #   relative pred (0.5, 0), relative GT (1.1, 0) -> squared errors 0.36, 0
    # view 0, object 2: one pixel, its own reference -> 0
    # view 1, object 1: errors 0, 1 -> reference pixel 0; relative pred (0, 2), GT (0, 1) -> 0, 1
    # mean over the 5 foreground pixels
    assert loss.item() == pytest.approx((0.36 + 1.0) / 5, rel=1e-12)
    # the batch layout (B, N, h, w) of depth GT and ids gives the same value
    assert inner_depth_loss(prob, gt.view(1, 2, 1, 5), ids.view(1, 2, 1, 5), bins).item() == pytest.approx(loss.item())
    loss.backward()
    # d/dS_hat at view 0 pixel 0 = 2 (0.5 - 1.1) / 5 = -0.24, times the bin depths (2, 4);
    # the reference pixel's prediction is detached, so pixel 1 gets no gradient at all
    assert prob.grad[0, :, 0, 0].tolist() == pytest.approx([-0.48, -0.96])
    assert prob.grad[0, :, 0, 1].tolist() == [0.0, 0.0]
    assert prob.grad[0, :, 0, 3].tolist() == [0.0, 0.0] and prob.grad[0, :, 0, 4].tolist() == [0.0, 0.0]
    assert prob.grad[1, :, 0, 1].tolist() == pytest.approx([2 * (2 - 1) / 5 * 2, 2 * (2 - 1) / 5 * 4])


def test_inner_depth_loss_without_foreground_is_zero() -> None:
    prob = torch.full((1, 2, 2, 2), 0.5, requires_grad=True)
    loss = inner_depth_loss(prob, torch.ones(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), torch.tensor([1.0, 2.0]))
    assert loss.item() == 0.0
    loss.backward()


def test_point_object_ids_first_box_wins() -> None:
    boxes = torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0]])
    pts = torch.tensor(
        [
            [0.5, 0.0, 0.0, 1.0, 0.0],
            [1.8, 0.0, 0.0, 1.0, 0.0],
            [-0.5, 0.0, 0.0, 1.0, 0.0],
            [5.0, 0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 1.5, 1.0, 0.0],
        ]
    )
    # (0.5, 0, 0) lies in both boxes -> the first; z = 1.5 is above the first box (h/2 = 1)
    assert point_object_ids(pts, boxes).tolist() == [1, 2, 1, 0, 0]
    assert point_object_ids(pts, torch.zeros(0, 9)).tolist() == [0] * 5


def test_object_id_map_nearest_point_decides_each_cell() -> None:
    pix = torch.tensor([[[0.2, 0.3], [0.9, 0.1], [3.0, 3.0], [1.6, 0.0], [-0.6, 0.0], [2.5, 0.5]]])
    depth = torch.tensor([[5.0, 3.0, 4.0, 4.0, 4.0, 100.0]])
    ids = torch.tensor([1, 0, 2, 1, 1, 2])
    # 4 x 4 input, stride 2 -> 2 x 2 cells, cell = floor((u + 0.5) / 2):
    # (0.2,0.3) id 1 at 5 m and (0.9,0.1) background at 3 m share cell (0,0): the nearer wins -> 0
    # (3.0,3.0) -> cell (1,1) id 2; (1.6,0.0) -> cell (0,1) id 1; u=-0.6 is off the image; 100 m is out of range
    out = object_id_map(pix, depth, ids, 4, 4, 2, (1.0, 60.0))
    assert out.tolist() == [[[0, 1], [0, 2]]]


def forward_camera_batch(points: torch.Tensor, boxes: torch.Tensor, size: int = 16, focal: float = 10.0) -> dict:
    """One view looking along ego +x (OpenCV axes: z forward = ego x, x right = -ego y, y down = -ego z)."""
    cam2ego = torch.eye(4)
    cam2ego[:3, :3] = torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    half = size / 2
    return {
        "imgs": torch.zeros(1, 1, 3, size, size),
        "intrins": torch.tensor([[[[focal, 0.0, half], [0.0, focal, half], [0.0, 0.0, 1.0]]]]),
        "post_rots": torch.eye(3).view(1, 1, 3, 3),
        "post_trans": torch.zeros(1, 1, 3),
        "cam2ego": cam2ego.view(1, 1, 4, 4),
        "bda": torch.eye(3).view(1, 3, 3),
        "points": [points],
        "gt_boxes": [boxes],
    }


def test_object_id_maps_project_points_of_a_box_into_the_view() -> None:
    points = torch.tensor([[10.0, 0.0, 0.0, 1.0, 0.0], [10.0, 3.0, 0.0, 1.0, 0.0]])
    batch = forward_camera_batch(points, torch.tensor([[10.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0]]))
    out = object_id_maps(batch, downsample=4, depth_range=(1.0, 60.0))
    # (10, 0, 0) projects to pixel (8, 8) -> cell (2, 2), in box 1;
    # (10, 3, 0) -> pixel (5, 8) -> cell (2, 1), background
    expected = torch.zeros(1, 1, 4, 4, dtype=torch.long)
    expected[0, 0, 2, 2] = 1
    assert torch.equal(out, expected)


def test_inter_channel_and_inter_keypoint_by_hand() -> None:
    f_cam = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])  # M = 1 object, N = 2 keypoints, C = 2 channels
    f_t = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    # IC: f^T f = [[2, 0], [0, 0]] -> rows (1, 0), (0, 0); teacher [[1, 0], [0, 4]] -> (1, 0), (0, 1)
    #     squared row distances 0 and 1 -> mean 0.5
    assert inter_channel_loss(f_cam, f_t).item() == pytest.approx(0.5)
    # IK: f f^T = [[1, 1], [1, 1]] -> rows (1, 1)/sqrt 2; teacher [[1, 0], [0, 4]] -> (1, 0), (0, 1)
    #     each row: (1 - 1/sqrt 2)^2 + 1/2 = 2 - sqrt 2
    assert inter_keypoint_loss(f_cam, f_t).item() == pytest.approx(2 - math.sqrt(2))


def test_relation_losses_gradients_channels_and_empty() -> None:
    torch.manual_seed(0)
    f_cam = torch.randn(3, 6, 4, requires_grad=True)
    f_t = torch.randn(3, 6, 4, requires_grad=True)
    (inter_channel_loss(f_cam, f_t) + inter_keypoint_loss(f_cam, f_t)).backward()
    assert f_t.grad is None and f_cam.grad.abs().sum() > 0
    assert inter_keypoint_loss(f_cam, torch.randn(3, 6, 7)).item() > 0  # channels may differ for IK
    with pytest.raises(ValueError, match="equal channels"):
        inter_channel_loss(f_cam, torch.randn(3, 6, 7))
    assert inter_channel_loss(torch.zeros(0, 6, 4), torch.zeros(0, 6, 4)).item() == 0.0
    # identical relations cost nothing, whatever the feature scale
    assert inter_keypoint_loss(f_cam.detach() * 3, f_cam.detach()).item() == pytest.approx(0.0, abs=1e-6)


def test_keypoint_features_sample_the_bev_inside_each_box() -> None:
    grid = BEVGrid(-8.0, 8.0, -8.0, 8.0, -3.0, 3.0, 1.0)
    centres = grid.cell_centres()
    bev = torch.stack([centres[..., 0], centres[..., 1]])[None].repeat(2, 1, 1, 1)  # channels = cell x, y
    bev[1] += 100.0  # sample 1 is offset
    student = bev.clone().requires_grad_(True)
    teacher = bev.clone().requires_grad_(True)
    boxes = [
        torch.tensor([[1.0, 2.0, 0.0, 2.0, 4.0, 1.5, 0.5, 0.0, 0.0]]),
        torch.tensor([[-2.0, 0.0, 0.0, 1.0, 2.0, 1.5, 0.0, 0.0, 0.0]]),
    ]
    cfg = TiGConfig(keypoints_x=4, keypoints_y=3, enlarge=1.6)
    f_s, f_t = keypoint_features(student, teacher, boxes, grid, cfg)
    assert f_s.shape == (2, 12, 2) and f_t.shape == (2, 12, 2)
    # bilinear sampling of a linear field returns the keypoints' own coordinates (+100 in sample 1)
    assert f_s[0, 0].tolist() == pytest.approx(
        [1.0 - 3.2 * math.cos(0.5) + 1.6 * math.sin(0.5), 2.0 - 3.2 * math.sin(0.5) - 1.6 * math.cos(0.5)], abs=1e-5
    )
    assert f_s[1, :, 0].min().item() == pytest.approx(100.0 - 2.0 - 1.6, abs=1e-5)
    (f_s.sum() + f_t.sum()).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    empty_s, _ = keypoint_features(student, teacher, [torch.zeros(0, 9), torch.zeros(0, 9)], grid, cfg)
    assert empty_s.shape == (0, 12, 2)


def test_object_id_maps_agree_with_the_datasets_sparse_depth() -> None:
    # the foreground must be exactly the depth-GT cells whose (nearest) point is inside a box
    gen = torch.Generator().manual_seed(4)
    boxes = torch.tensor(
        [[8.0, 1.0, 0.0, 3.0, 4.0, 2.0, 0.4, 0.0, 0.0], [14.0, -3.0, 0.5, 2.0, 5.0, 2.0, -0.3, 0.0, 0.0]],
        dtype=torch.float64,
    )
    pts = torch.rand(1200, 5, generator=gen, dtype=torch.float64) - 0.5
    pts[:, 4] = 0.0  # one key sweep (time lag 0), as the dataset's depth maps use
    for j, b in enumerate(boxes):  # 400 points spread over each box (some just outside), 400 anywhere
        part = pts[400 * j : 400 * (j + 1)]
        u, v = part[:, 0] * b[4] * 1.2, part[:, 1] * b[3] * 1.2
        part[:, :3] = torch.stack(
            [b[0] + u * b[6].cos() - v * b[6].sin(), b[1] + u * b[6].sin() + v * b[6].cos(), b[2] + part[:, 2] * b[5]],
            1,
        )
    pts[800:, :3] = pts[800:, :3] * torch.tensor([20.0, 16.0, 4.0], dtype=torch.float64) + torch.tensor(
        [16.0, 0.0, 0.0], dtype=torch.float64
    )
    batch = forward_camera_batch(pts, boxes, size=64, focal=100.0)
    ids = object_id_maps(batch, downsample=4, depth_range=(0.1, math.inf))[0, 0]
    in_box = point_object_ids(pts, boxes) > 0
    depth, flags = sparse_depth(
        pts.numpy(),
        batch["cam2ego"][0, 0].double().numpy(),
        batch["intrins"][0, 0].double().numpy(),
        np.eye(3),
        (64, 64),
        4,
        0.1,
        in_box.numpy(),
    )
    assert (ids > 0).sum() > 5 and (torch.from_numpy(depth) > 0).sum() > (ids > 0).sum()
    assert torch.equal(ids > 0, torch.from_numpy(flags))
    assert set(ids.unique().tolist()) == {0, 1, 2}


@pytest.mark.parametrize("rows, k_s, k_t", [(50, 6, 6), (50, 6, 9), (5, 12, 12)])
def test_gram_row_distance_factored_form_matches_the_explicit_grams(rows: int, k_s: int, k_t: int) -> None:
    gen = torch.Generator().manual_seed(rows + k_t)
    x_s = torch.randn(3, rows, k_s, generator=gen, dtype=torch.float64)
    x_t = torch.randn(3, rows, k_t, generator=gen, dtype=torch.float64)
    x_s[1, 4] = 0.0  # a zero feature row gives a zero Gram row, which stays zero after normalising
    x_s.requires_grad_(True)
    ref_in = x_s.detach().clone().requires_grad_(True)
    g_s, g_t = ref_in @ ref_in.transpose(1, 2), x_t @ x_t.transpose(1, 2)
    reference = (
        ((torch.nn.functional.normalize(g_s, dim=-1) - torch.nn.functional.normalize(g_t, dim=-1)) ** 2).sum(-1).mean()
    )
    ours = gram_row_distance(x_s, x_t)
    assert ours.item() == pytest.approx(reference.item(), rel=1e-10)
    ours.backward()
    reference.backward()
    assert torch.allclose(x_s.grad, ref_in.grad, rtol=1e-8, atol=1e-12)
