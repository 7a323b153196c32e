"""BEV geometry of the distillation losses: sampling, rays, box masks, keypoints (hand values)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from nuscenes.utils.data_classes import Box
from nuscenes.utils.geometry_utils import points_in_box
from pyquaternion import Quaternion

from baselines.common.geometry import BEVGrid
from baselines.distill.bev_sampling import (
    Enlarge,
    bev_grid_coords,
    box_cell_masks,
    box_keypoints,
    cell_ray_ids,
    points_in_boxes,
    ray_ids,
    sample_bev_points,
)

GRID8 = BEVGrid(-4.0, 4.0, -4.0, 4.0, -3.0, 3.0, 1.0)  # 8 x 8 cells of 1 m


def box(x: float, y: float, w: float, length: float, yaw: float, z: float = 0.0, h: float = 1.0) -> list[float]:
    return [x, y, z, w, length, h, yaw, 0.0, 0.0]


def test_grid_coords_put_cell_centres_on_grid_sample_pixel_centres() -> None:
    # cell ix=0 is centred at x=-3.5; align_corners=False puts pixel 0 of 8 at (2*0+1)/8-1 = -0.875
    g = bev_grid_coords(torch.tensor([[-3.5, -3.5], [3.5, 0.5], [-4.0, 4.0]]), GRID8)
    assert torch.allclose(g, torch.tensor([[-0.875, -0.875], [0.875, 0.125], [-1.0, 1.0]]))


def test_sample_bev_points_reads_cells_and_interpolates_per_sample() -> None:
    bev = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).view(2, 1, 8, 8)  # value = 64 b + 8 iy + ix
    xy = torch.tensor([[-3.5, -3.5], [0.5, 1.5], [-3.0, -3.5], [-3.5, -3.5]])
    out = sample_bev_points(bev, torch.tensor([0, 0, 0, 1]), xy, GRID8)
    # (0.5, 1.5) -> ix 4, iy 5 -> 44; x=-3.0 lies half way between ix 0 and 1 -> 0.5; sample 1 adds 64
    assert out[:, 0].tolist() == [0.0, 44.0, 0.5, 64.0]
    # points of interleaved samples come back in their own order; gradients land in each sample
    leaf = bev.clone().requires_grad_(True)
    mixed = sample_bev_points(leaf, torch.tensor([1, 0, 1, 0]), xy, GRID8)
    assert mixed[:, 0].tolist() == [64.0, 44.0, 64.5, 0.0]
    mixed.sum().backward()
    assert leaf.grad[1].sum().item() == 2.0 and leaf.grad[0].sum().item() == 2.0
    assert leaf.grad[1, 0, 0, :2].tolist() == [1.5, 0.5]


def test_ray_ids_follow_even_azimuth_sectors() -> None:
    # 4 rays: [-pi,-pi/2) -> 0, [-pi/2,0) -> 1, [0,pi/2) -> 2, [pi/2,pi) -> 3; azimuth pi joins ray 3
    xy = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 0.0], [1.0, 0.0]])
    assert ray_ids(xy, 4).tolist() == [2, 3, 0, 1, 3, 2]
    small = BEVGrid(-1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 1.0)
    # row iy=0 is y=-0.5: (-0.5,-0.5) -> 0, (0.5,-0.5) -> 1; row iy=1: (-0.5,0.5) -> 3, (0.5,0.5) -> 2
    assert cell_ray_ids(small, 4).tolist() == [[0, 1], [3, 2]]
    with pytest.raises(ValueError):
        ray_ids(xy, 0)


def test_points_in_boxes_matches_devkit_points_in_box() -> None:
    gen = torch.Generator().manual_seed(3)
    boxes = torch.tensor(
        [box(1.0, -2.0, 1.8, 4.5, 0.7, z=0.5, h=1.6), box(-3.0, 2.0, 1.5, 2.5, -2.5, z=1.0, h=1.8)], dtype=torch.float64
    )
    pts = (torch.rand(4000, 3, generator=gen, dtype=torch.float64) - 0.5) * torch.tensor(
        [12.0, 12.0, 4.0], dtype=torch.float64
    )
    ours = points_in_boxes(pts, boxes)
    for m, b in enumerate(boxes.tolist()):
        dev = Box(b[:3], b[3:6], Quaternion(axis=[0, 0, 1], angle=b[6]))
        ref = points_in_box(dev, pts.numpy().T)
        assert ref.sum() > 20
        assert np.array_equal(ours[m].numpy(), ref)


def test_box_cell_masks_footprint_and_small_box() -> None:
    boxes = torch.tensor(
        [box(0.5, 0.5, 1.2, 3.2, 0.0), box(0.5, 0.5, 1.2, 3.2, math.pi / 2), box(2.2, -1.7, 0.1, 0.1, 0.3)]
    )
    masks = box_cell_masks(boxes, GRID8)
    # yaw 0: x in [-1.1, 2.1] -> centres -0.5, 0.5, 1.5 (ix 3, 4, 5); y in [-0.1, 1.1] -> 0.5 (iy 4)
    assert sorted(map(tuple, masks[0].nonzero().tolist())) == [(4, 3), (4, 4), (4, 5)]
    # yaw pi/2 swaps the axes: iy 3, 4, 5 at ix 4
    assert sorted(map(tuple, masks[1].nonzero().tolist())) == [(3, 4), (4, 4), (5, 4)]
    # a box smaller than a cell owns the cell holding its centre: x 2.2 -> ix 6, y -1.7 -> iy 2
    assert masks[2].nonzero().tolist() == [[2, 6]]


def test_box_keypoints_grid_along_and_across_the_heading() -> None:
    b = torch.tensor([box(1.0, 2.0, 2.0, 4.0, math.pi / 2)])
    kp = box_keypoints(b, n_x=3, n_y=2)
    # heading +y: along u in {-2, 0, 2} -> y = 2 + u; across v in {-1, 1} -> x = 1 - v
    expected = torch.tensor([[2.0, 0.0], [2.0, 2.0], [2.0, 4.0], [0.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    assert torch.allclose(kp[0], expected, atol=1e-6)
    factor = box_keypoints(b, n_x=3, n_y=2, enlarge=1.5, mode=Enlarge.FACTOR)[0]  # l 6, w 3
    assert torch.allclose(factor[[0, 5]], torch.tensor([[1.0 + 1.5, -1.0], [1.0 - 1.5, 5.0]]), atol=1e-6)
    margin = box_keypoints(b, n_x=3, n_y=2, enlarge=1.0, mode=Enlarge.MARGIN)[0]  # l 6, w 4
    assert torch.allclose(margin[[0, 5]], torch.tensor([[1.0 + 2.0, -1.0], [1.0 - 2.0, 5.0]]), atol=1e-6)
    assert box_keypoints(b, 24, 24).shape == (1, 576, 2)


def test_box_cell_masks_window_equals_testing_every_cell() -> None:
    gen = torch.Generator().manual_seed(7)
    m = 40
    boxes = torch.zeros(m, 9)
    boxes[:, :2] = (torch.rand(m, 2, generator=gen) - 0.5) * 11.0  # some centres off the 8 m grid
    boxes[:, 3:5] = torch.rand(m, 2, generator=gen) * 6.0 + 0.05
    boxes[:, 5] = 1.0
    boxes[:, 6] = (torch.rand(m, generator=gen) - 0.5) * 7.0
    centres = GRID8.cell_centres().view(-1, 2)
    brute = points_in_boxes(centres, boxes).view(m, 8, 8)
    ix = ((boxes[:, 0] + 4.0) // 1.0).long()
    iy = ((boxes[:, 1] + 4.0) // 1.0).long()
    for j in range(m):
        if 0 <= ix[j] < 8 and 0 <= iy[j] < 8:
            brute[j, iy[j], ix[j]] = True
    assert brute.any(dim=(1, 2)).sum() > 20
    assert torch.equal(box_cell_masks(boxes, GRID8), brute)
    assert box_cell_masks(torch.zeros(0, 9), GRID8).shape == (0, 8, 8)
