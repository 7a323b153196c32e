"""Frustum geometry and BEV pooling: points land where the cameras see them; pooling equals a plain scatter."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.common.bev_pool import BEVPool, bev_pool, bev_pool_reference, pool_indices
from baselines.common.detector import warp_bev
from baselines.common.geometry import BEVGrid, DepthBins, frustum_to_ego, make_frustum
from tests.batch_factory import camera_rig

GRID = BEVGrid(-8.0, 8.0, -8.0, 8.0, -5.0, 3.0, 1.0)


def _augmented_rig() -> dict[str, torch.Tensor]:
    """The test rig plus a rotation/flip-free but non-trivial augmentation: scale, shear-free rotation, shift."""
    rig = camera_rig(128, 352)
    angle = math.radians(5.0)
    rot = torch.tensor([[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    rig["post_rots"] = rot @ rig["post_rots"]
    rig["post_trans"] = rig["post_trans"] + torch.tensor([3.0, -2.0, 0.0])
    return rig


def test_frustum_points_project_back_to_their_pixel() -> None:
    rig = _augmented_rig()
    bins = DepthBins(2.0, 10.0, 2.0)
    frustum = make_frustum(128, 352, 16, bins)  # (D, h, w, 3): u, v, d in the network input
    pts = frustum_to_ego(frustum, *(rig[k][None] for k in ("intrins", "post_rots", "post_trans", "cam2ego")))[0]
    for view in range(6):
        ego = pts[view].reshape(-1, 3)
        hom = torch.cat([ego, torch.ones(ego.shape[0], 1)], dim=1)
        cam = (torch.linalg.inv(rig["cam2ego"][view]) @ hom.T).T[:, :3]
        # Camera depth equals the bin centre, and the pinhole projection of the original
        # image, re-augmented, gives back the network pixel.
        torch.testing.assert_close(cam[:, 2], frustum[..., 2].reshape(-1), atol=1e-4, rtol=1e-5)
        orig = (rig["intrins"][view] @ cam.T).T
        orig = orig / orig[:, 2:3]
        net = (rig["post_rots"][view] @ orig.T).T + rig["post_trans"][view]
        torch.testing.assert_close(net[:, :2], frustum[..., :2].reshape(-1, 2), atol=1e-3, rtol=1e-5)


def test_front_camera_centre_pixel_looks_forward() -> None:
    """A hand check of the axes: the centre of the front view at depth d is d metres ahead of the camera."""
    rig = camera_rig(128, 352)
    k, pr, pt = rig["intrins"][0], rig["post_rots"][0], rig["post_trans"][0]
    centre = pr @ torch.tensor([k[0, 2], k[1, 2], 1.0]) + pt
    frustum = torch.tensor([[[[float(centre[0]), float(centre[1]), 7.0]]]])
    pts = frustum_to_ego(frustum, *(rig[k_][None, :1] for k_ in ("intrins", "post_rots", "post_trans", "cam2ego")))
    expected = rig["cam2ego"][0, :3, 3] + torch.tensor([7.0, 0.0, 0.0])
    torch.testing.assert_close(pts.view(3), expected, atol=1e-4, rtol=0)


def _random_lift(seed: int, b: int = 2, n: int = 2, d: int = 3, h: int = 4, w: int = 5, c: int = 3):
    gen = torch.Generator().manual_seed(seed)
    points = torch.rand(b, n, d, h, w, 3, generator=gen, dtype=torch.float64) * torch.tensor([20.0, 20.0, 10.0], dtype=torch.float64) - torch.tensor(
        [10.0, 10.0, 6.0], dtype=torch.float64
    )
    depth = torch.rand(b * n, d, h, w, generator=gen, dtype=torch.float64).softmax(1).requires_grad_()
    feat = torch.randn(b * n, c, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
    return points, depth, feat


def _loop_reference(depth: torch.Tensor, feat: torch.Tensor, points: torch.Tensor, grid: BEVGrid) -> torch.Tensor:
    """The definition, one point at a time."""
    b, n, d, h, w, _ = points.shape
    out = torch.zeros(b, feat.shape[1], grid.ny, grid.nx, dtype=feat.dtype)
    for bi in range(b):
        for ni in range(n):
            for di in range(d):
                for yi in range(h):
                    for xi in range(w):
                        x, y, z = points[bi, ni, di, yi, xi].tolist()
                        ix, iy = math.floor((x - grid.x_min) / grid.res), math.floor((y - grid.y_min) / grid.res)
                        if 0 <= ix < grid.nx and 0 <= iy < grid.ny and grid.z_min <= z < grid.z_max:
                            out[bi, :, iy, ix] += depth[bi * n + ni, di, yi, xi] * feat[bi * n + ni, :, yi, xi]
    return out


def test_bev_pool_matches_point_by_point_definition_with_gradients() -> None:
    points, depth, feat = _random_lift(0)
    idx = pool_indices(points, GRID)
    assert 0 < idx.ranks_depth.numel() < points[..., 0].numel()  # some points fall outside
    ours = bev_pool(depth, feat, idx)
    ref = _loop_reference(depth, feat, points, GRID)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(ours, bev_pool_reference(depth, feat, points, GRID))
    weight = torch.randn_like(ours)
    g_ours = torch.autograd.grad((ours * weight).sum(), (depth, feat))
    g_ref = torch.autograd.grad((ref * weight).sum(), (depth, feat))
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b)


def test_bev_pool_gradcheck() -> None:
    points, depth, feat = _random_lift(1, b=1, n=1, d=2, h=3, w=3, c=2)
    idx = pool_indices(points, BEVGrid(-8.0, 8.0, -8.0, 8.0, -5.0, 3.0, 4.0))  # 4 x 4 cells: few Jacobian rows
    assert 0 < idx.ranks_depth.numel() < 18
    assert torch.autograd.gradcheck(
        lambda dd, ff: BEVPool.apply(dd, ff, idx),
        (depth.detach().requires_grad_(), feat.detach().permute(0, 2, 3, 1).reshape(-1, 2).requires_grad_()),
    )


def test_hand_made_pooling_case() -> None:
    """Two points in one cell, one in another, one outside: sums and gradients by hand (BEVPoolv2's test pattern)."""
    grid = BEVGrid(0.0, 2.0, 0.0, 1.0, -1.0, 1.0, 1.0)  # 1 x 2 cells
    points = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.7, 0.0], [1.5, 0.5, 0.0], [5.0, 0.5, 0.0]]).view(1, 1, 4, 1, 1, 3)
    depth = torch.tensor([0.1, 0.2, 0.3, 0.4]).view(1, 4, 1, 1).requires_grad_()
    feat = torch.tensor([[2.0]]).view(1, 1, 1, 1).requires_grad_()
    out = bev_pool(depth, feat, pool_indices(points, grid))
    torch.testing.assert_close(out.view(2), torch.tensor([0.1 * 2 + 0.2 * 2, 0.3 * 2]))
    out.sum().backward()
    torch.testing.assert_close(depth.grad.view(4), torch.tensor([2.0, 2.0, 2.0, 0.0]))
    torch.testing.assert_close(feat.grad.view(1), torch.tensor([0.1 + 0.2 + 0.3]))


def test_warp_bev_shifts_by_ego_motion() -> None:
    """The ego moved +2 m in x: what was at x in the previous frame is at x - 2 now."""
    prev = torch.zeros(1, 1, GRID.ny, GRID.nx)
    prev[0, 0, 8, 10] = 1.0  # cell centre x = -8 + 10.5 = 2.5, y = 0.5
    prev2cur = torch.eye(4)[None].clone()
    prev2cur[0, 0, 3] = -2.0  # a previous-frame point (x, y) is at (x - 2, y) in the current frame
    warped = warp_bev(prev, prev2cur, GRID)
    assert warped[0, 0, 8, 8] == pytest.approx(1.0)
    assert warped.sum() == pytest.approx(1.0)
    rot = torch.eye(4)[None].clone()
    rot[0, :2, :2] = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # 90 degrees: (2.5, 0.5) -> (-0.5, 2.5)
    warped = warp_bev(prev, rot, GRID)
    assert warped[0, 0, 10, 7] == pytest.approx(1.0)


def test_bev_pool_mixed_precision_inputs_pool_in_the_wider_type() -> None:
    """Under autocast the context may be half precision while the softmax depth is float."""
    points, depth, feat = _random_lift(2)
    idx = pool_indices(points, GRID)
    out = bev_pool(depth.detach().float(), feat.detach().bfloat16(), idx)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, bev_pool(depth.detach().float(), feat.detach().bfloat16().float(), idx))
