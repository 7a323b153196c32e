"""Frustum geometry and BEV pooling: points land where the cameras see them; pooling equals a plain scatter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from baselines.common.bev_pool import BEVPool, bev_pool, bev_pool_reference, pool_indices
from baselines.common.detector import warp_bev
from baselines.common.geometry import (
    BEVGrid,
    DepthBins,
    augmented_cam2ego,
    augmented_motion,
    frustum_to_ego,
    make_frustum,
    project_to_image,
)
from baselines.common.view_transformer import LSSViewTransformer
from baselines.distill.bev_sampling import points_in_boxes
from robobench.data.dataset import apply_bev_aug
from tests.helpers.batch_factory import bda_matrix, camera_rig, lift_lidar_depth, rigid_motion

GRID = BEVGrid(-8.0, 8.0, -8.0, 8.0, -5.0, 3.0, 1.0)


def _augmented_rig() -> dict[str, torch.Tensor]:
    """The test rig plus a rotation/flip-free but non-trivial augmentation: scale, shear-free rotation, shift."""
    rig = camera_rig(128, 352)
    angle = math.radians(5.0)
    rot = torch.tensor(
        [[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0], [0.0, 0.0, 1.0]]
    )
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
    points = torch.rand(b, n, d, h, w, 3, generator=gen, dtype=torch.float64) * torch.tensor(
        [20.0, 20.0, 10.0], dtype=torch.float64
    ) - torch.tensor([10.0, 10.0, 6.0], dtype=torch.float64)
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
    warped = warp_bev(prev, prev2cur, GRID, torch.eye(3)[None])
    assert warped[0, 0, 8, 8] == pytest.approx(1.0)
    assert warped.sum() == pytest.approx(1.0)
    rot = torch.eye(4)[None].clone()
    rot[0, :2, :2] = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # 90 degrees: (2.5, 0.5) -> (-0.5, 2.5)
    warped = warp_bev(prev, rot, GRID, torch.eye(3)[None])
    assert warped[0, 0, 10, 7] == pytest.approx(1.0)


def test_bev_pool_mixed_precision_inputs_pool_in_the_wider_type() -> None:
    """Under autocast the context may be half precision while the softmax depth is float."""
    points, depth, feat = _random_lift(2)
    idx = pool_indices(points, GRID)
    out = bev_pool(depth.detach().float(), feat.detach().bfloat16(), idx)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, bev_pool(depth.detach().float(), feat.detach().bfloat16().float(), idx))


# -- BEV data augmentation (BEVDet's BDA) -------------------------------------------------

#: A BDA with every part at work: rotation, scale and a mirror.
BDA = bda_matrix(30.0, 1.05, flip_y=True)[None]
CALIB = ("intrins", "post_rots", "post_trans")


def _batched_rig(height: int = 128, width: int = 352) -> dict[str, torch.Tensor]:
    return {k: v[None] for k, v in camera_rig(height, width).items()}


def test_bda_moves_frustum_points_by_the_matrix_and_projection_undoes_it() -> None:
    """A camera pixel's frustum point lands at ``bda @`` its un-augmented location, and projecting it
    with the augmented calibration gives back the pixel and the camera depth."""
    rig = _augmented_rig()
    bins = DepthBins(2.0, 10.0, 2.0)
    frustum = make_frustum(128, 352, 16, bins)
    calib = [rig[k][None] for k in CALIB]
    cam2ego_aug = augmented_cam2ego(rig["cam2ego"][None], BDA)
    plain = frustum_to_ego(frustum, *calib, rig["cam2ego"][None])
    aug = frustum_to_ego(frustum, *calib, cam2ego_aug)
    torch.testing.assert_close(aug, plain @ BDA[0].T, atol=1e-4, rtol=1e-5)
    for view in range(6):
        one_view = (c[0, view : view + 1] for c in (*calib, cam2ego_aug))
        pix, depth = project_to_image(aug[0, view].reshape(-1, 3), *one_view)
        torch.testing.assert_close(pix[0], frustum[..., :2].reshape(-1, 2), atol=1e-3, rtol=1e-5)
        torch.testing.assert_close(depth[0], frustum[..., 2].reshape(-1), atol=1e-4, rtol=1e-5)


def test_identity_bda_is_bit_identical_to_no_augmentation() -> None:
    rig = _batched_rig()
    eye = torch.eye(3)[None]
    assert torch.equal(augmented_cam2ego(rig["cam2ego"], eye), rig["cam2ego"])
    motion = rigid_motion(12.0, 2.0, -1.0)[None]
    assert torch.equal(augmented_motion(motion, eye), motion)
    torch.manual_seed(0)
    vt = LSSViewTransformer(8, 4, DepthBins(2.0, 10.0, 2.0), GRID, 16).eval()
    with torch.no_grad():
        out = vt(torch.randn(6, 8, 8, 22), (128, 352), *(rig[k] for k in CALIB), rig["cam2ego"], eye)
    points = frustum_to_ego(vt.frustum(128, 352, torch.device("cpu")), *(rig[k] for k in CALIB), rig["cam2ego"])
    assert out["bev"].abs().sum() > 0
    assert torch.equal(out["bev"], bev_pool(out["depth"], out["context"], pool_indices(points, GRID)))


def test_lidar_depth_lifted_under_bda_stays_in_its_augmented_box() -> None:
    """A one-hot depth at a LiDAR point inside a GT box, through the view transformer, lands in the
    BEV cell of the box centre as the Dataset augments the box (``apply_bev_aug``)."""
    rig = _batched_rig()
    grid = BEVGrid(-51.2, 51.2, -51.2, 51.2, -5.0, 3.0, 1.6)
    vt = LSSViewTransformer(8, 1, DepthBins(1.0, 41.0, 1.0), grid, 16).eval()
    view, row, col, depth = 2, 5, 14, 17.5  # front-left camera, a depth-bin centre
    frustum = vt.frustum(128, 352, torch.device("cpu"))[:1, row : row + 1, col : col + 1].clone()
    frustum[..., 2] = depth
    point = frustum_to_ego(
        frustum, *(rig[c][:, view : view + 1] for c in CALIB), rig["cam2ego"][:, view : view + 1]
    ).view(3)
    box = np.array([[*point.tolist(), 1.9, 4.6, 1.7, 0.4, 1.0, 0.0]])
    _, box_aug, _ = apply_bev_aug(BDA[0].double().numpy(), np.zeros((0, 5)), box, np.zeros((0, 7)))
    lidar_depth = torch.zeros(1, 6, 8, 22)
    lidar_depth[0, view, row, col] = depth
    cells = {}
    for name, bda, b in (("plain", torch.eye(3)[None], box), ("aug", BDA, box_aug)):
        bev = lift_lidar_depth(vt, lidar_depth, rig, bda)[0]
        assert bev.max() == pytest.approx(1.0) and bev.sum() == pytest.approx(1.0)
        cells[name] = divmod(int(bev.argmax()), grid.nx)  # (iy, ix)
        ix, iy, inside = grid.cell_index(torch.from_numpy(b[:, :3]).float())
        assert bool(inside[0]) and cells[name] == (int(iy[0]), int(ix[0])), name
    assert cells["plain"] != cells["aug"]


def _box_occupancy(box: torch.Tensor, rig: dict[str, torch.Tensor], bda: torch.Tensor, grid: BEVGrid) -> torch.Tensor:
    """``(1, 1, Y, X)`` count of frustum points inside ``box`` (ego frame), lifted into the ``bda`` frame."""
    bins = DepthBins(1.0, 20.0, 0.25)
    frustum = make_frustum(128, 352, 8, bins)
    calib = [rig[k] for k in CALIB]
    inside = points_in_boxes(frustum_to_ego(frustum, *calib, rig["cam2ego"]).view(-1, 3), box)[0]
    idx = pool_indices(frustum_to_ego(frustum, *calib, augmented_cam2ego(rig["cam2ego"], bda)), grid)
    return bev_pool(inside.view(6, bins.n, 16, 44).float(), torch.ones(6, 1, 16, 44), idx)


def _centroid(occupied: torch.Tensor, grid: BEVGrid) -> torch.Tensor:
    return grid.cell_centres()[occupied[0, 0]].mean(0)


def test_previous_bev_of_a_static_object_lands_on_its_current_cells_under_bda() -> None:
    """BEVDet4D under BDA: the previous frame lifted with the sample's ``bda`` and warped by the
    conjugated ego motion puts a static object on the cells where the current frame sees it."""
    rig = _batched_rig()
    grid = BEVGrid(-16.0, 16.0, -16.0, 16.0, -5.0, 3.0, 0.5)
    prev2cur = rigid_motion(12.0, 2.0, -1.0)[None]
    box_prev = torch.tensor([[6.0, 3.0, 1.0, 3.0, 4.0, 2.0, 0.3, 0.0, 0.0]])
    box_cur = box_prev.clone()
    box_cur[:, :3] = box_prev[:, :3] @ prev2cur[0, :3, :3].T + prev2cur[0, :3, 3]
    box_cur[:, 6] += math.radians(12.0)
    current = _box_occupancy(box_cur, rig, BDA, grid) > 0
    warped = warp_bev(_box_occupancy(box_prev, rig, BDA, grid), prev2cur, grid, BDA) > 0
    assert current.sum() > 20
    iou = (current & warped).sum() / (current | warped).sum()
    assert iou > 0.6, float(iou)
    assert torch.linalg.norm(_centroid(current, grid) - _centroid(warped, grid)) < 0.5
    # warping by the raw ego motion (not conjugated by bda) misplaces it
    wrong = warp_bev(_box_occupancy(box_prev, rig, BDA, grid), prev2cur, grid, torch.eye(3)[None]) > 0
    assert torch.linalg.norm(_centroid(current, grid) - _centroid(wrong, grid)) > 1.5
