"""A random batch that obeys :mod:`robobench.contract`, for model tests.

Six cameras on a nuScenes-like rig (1600x900 intrinsics, resized and cropped to the
network input by ``post_rots``/``post_trans``), a few boxes, LiDAR points on the ground
and inside the boxes, and sparse depth maps made by projecting those points.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from baselines.common.geometry import project_to_image
from baselines.common.view_transformer import LSSViewTransformer
from robobench.constants import DETECTION_CLASSES

#: Camera yaw (degrees, about +z from ego +x) in ``CAMERAS`` order.
CAMERA_YAWS = (0.0, -55.0, 55.0, 180.0, 110.0, -110.0)
ORIG_W, ORIG_H, FOCAL = 1600, 900, 1266.0
#: Typical (w, l, h) per class.
CLASS_SIZES = {
    "car": (1.9, 4.6, 1.7),
    "truck": (2.5, 6.9, 2.8),
    "bus": (2.9, 11.0, 3.5),
    "trailer": (2.9, 12.0, 3.9),
    "construction_vehicle": (2.8, 6.4, 3.2),
    "pedestrian": (0.7, 0.7, 1.8),
    "motorcycle": (0.8, 2.1, 1.5),
    "bicycle": (0.6, 1.7, 1.3),
    "traffic_cone": (0.4, 0.4, 1.1),
    "barrier": (2.5, 0.5, 1.0),
}


def camera_rig(height: int, width: int) -> dict[str, torch.Tensor]:
    """``intrins, post_rots, post_trans, cam2ego`` for 6 views: resize to ``width``, crop the top to ``height``."""
    intrins, cam2ego = [], []
    for yaw_deg in CAMERA_YAWS:
        yaw = math.radians(yaw_deg)
        forward = torch.tensor([math.cos(yaw), math.sin(yaw), 0.0])
        right = torch.tensor([math.sin(yaw), -math.cos(yaw), 0.0])
        down = torch.tensor([0.0, 0.0, -1.0])
        pose = torch.eye(4)
        pose[:3, :3] = torch.stack([right, down, forward], dim=1)
        pose[:3, 3] = torch.tensor([1.0 * math.cos(yaw) + 1.0, 0.5 * math.sin(yaw), 1.6])
        cam2ego.append(pose)
        intrins.append(torch.tensor([[FOCAL, 0.0, ORIG_W / 2], [0.0, FOCAL, ORIG_H / 2], [0.0, 0.0, 1.0]]))
    scale = width / ORIG_W
    post_rots = torch.diag(torch.tensor([scale, scale, 1.0])).expand(6, 3, 3).clone()
    post_trans = torch.tensor([0.0, -(ORIG_H * scale - height), 0.0]).expand(6, 3).clone()
    return {
        "intrins": torch.stack(intrins),
        "post_rots": post_rots,
        "post_trans": post_trans,
        "cam2ego": torch.stack(cam2ego),
    }


def bda_matrix(angle_deg: float, scale: float = 1.0, flip_x: bool = False, flip_y: bool = False) -> torch.Tensor:
    """A ``(3, 3)`` BEV augmentation of the Dataset's form, ``flip @ scale * rot_z`` (BEVDet's BDA)."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    flip = torch.diag(torch.tensor([-1.0 if flip_x else 1.0, -1.0 if flip_y else 1.0, 1.0]))
    return flip @ (scale * torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]))


def rigid_motion(angle_deg: float, dx: float, dy: float) -> torch.Tensor:
    """A ``(4, 4)`` ego motion: rotation about z by ``angle_deg``, then a shift by ``(dx, dy)``."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    out = torch.eye(4)
    out[:2, :2] = torch.tensor([[c, -s], [s, c]])
    out[:2, 3] = torch.tensor([dx, dy])
    return out


def random_boxes(n: int, gen: torch.Generator, extent: float = 40.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` boxes ``(n, 9)`` standing on the ground within ``extent`` metres, and their labels."""
    labels = torch.randint(0, len(DETECTION_CLASSES), (n,), generator=gen)
    sizes = torch.tensor([CLASS_SIZES[DETECTION_CLASSES[i]] for i in labels]).view(n, 3)
    xy = (torch.rand(n, 2, generator=gen) * 2 - 1) * extent
    yaw = (torch.rand(n, 1, generator=gen) * 2 - 1) * math.pi
    vel = torch.randn(n, 2, generator=gen) * 2
    boxes = torch.cat([xy, sizes[:, 2:3] / 2, sizes, yaw, vel], dim=1)
    return boxes, labels


def points_for(boxes: torch.Tensor, gen: torch.Generator, n_ground: int = 2000, per_box: int = 60) -> torch.Tensor:
    """LiDAR-like points ``(P, 5)``: uniform on the ground plus uniform inside each box."""
    ground = torch.cat([(torch.rand(n_ground, 2, generator=gen) * 2 - 1) * 50, torch.zeros(n_ground, 1)], dim=1)
    parts = [ground]
    for box in boxes:
        local = (torch.rand(per_box, 3, generator=gen) - 0.5) * box[[4, 3, 5]]
        c, s = math.cos(float(box[6])), math.sin(float(box[6]))
        rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        parts.append(local @ rot.T + box[:3])
    xyz = torch.cat(parts)
    return torch.cat([xyz, torch.rand(xyz.shape[0], 1, generator=gen) * 100, torch.zeros(xyz.shape[0], 1)], dim=1)


def sparse_depth(
    points: torch.Tensor, rig: dict[str, torch.Tensor], height: int, width: int, downsample: int
) -> torch.Tensor:
    """``(N, h, w)`` nearest LiDAR depth per feature cell (0 where no point projects)."""
    pix, depth = project_to_image(points[:, :3], rig["intrins"], rig["post_rots"], rig["post_trans"], rig["cam2ego"])
    n = pix.shape[0]
    h, w = height // downsample, width // downsample
    col = torch.floor((pix[..., 0] + 0.5) / downsample).long()
    row = torch.floor((pix[..., 1] + 0.5) / downsample).long()
    ok = (depth > 0.1) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    flat = (torch.arange(n)[:, None] * h + row) * w + col
    out = torch.full((n * h * w,), float("inf"))
    out = out.scatter_reduce(0, flat[ok], depth[ok], "amin")
    out[torch.isinf(out)] = 0.0
    return out.view(n, h, w)


def make_batch(
    batch_size: int = 2,
    height: int = 128,
    width: int = 352,
    downsample: int = 16,
    n_boxes: int = 4,
    prev: bool = False,
    seed: int = 0,
) -> dict:
    """A contract batch with random images, the rig above and ``n_boxes`` boxes per sample."""
    gen = torch.Generator().manual_seed(seed)
    rig = camera_rig(height, width)
    batch: dict = {k: v.expand(batch_size, *v.shape).clone() for k, v in rig.items()}
    batch["imgs"] = torch.randn(batch_size, 6, 3, height, width, generator=gen)
    batch["ego2global"] = torch.eye(4).expand(batch_size, 4, 4).clone()
    batch["bda"] = torch.eye(3).expand(batch_size, 3, 3).clone()  # no BEV augmentation
    boxes, labels, points, depths = [], [], [], []
    for _ in range(batch_size):
        b, lab = random_boxes(n_boxes, gen)
        pts = points_for(b, gen)
        boxes.append(b)
        labels.append(lab)
        points.append(pts)
        depths.append(sparse_depth(pts, rig, height, width, downsample))
    batch.update(
        depth=torch.stack(depths),
        points=points,
        radar=[torch.zeros(0, 7) for _ in range(batch_size)],
        gt_boxes=boxes,
        gt_labels=labels,
        gt_attrs=[torch.full((n_boxes,), -1, dtype=torch.long) for _ in range(batch_size)],
        sample_tokens=[f"sample{i}" for i in range(batch_size)],
    )
    if prev:
        shift = torch.eye(4).expand(batch_size, 4, 4).clone()
        shift[:, 0, 3] = 1.0  # the ego moved 1 m forward since the previous key frame
        batch["prev"] = {k: batch[k].clone() for k in ("imgs", "intrins", "post_rots", "post_trans", "cam2ego")}
        batch["prev"]["prev2cur"] = shift
    return batch


class _Fixed(nn.Module):
    """Stands in for a depth or context branch: returns a fixed tensor whatever its input."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value


def lift_lidar_depth(vt: LSSViewTransformer, depth: torch.Tensor, batch: dict, bda: torch.Tensor) -> torch.Tensor:
    """``(B, Y, X)``: the BEV map of ``vt`` when its depth net puts all mass on the bin of each cell's
    LiDAR depth (``depth (B, N, h, w)``, 0 = none) and the context is 1 there, 0 elsewhere: where
    the view transformer lifts those LiDAR points (calibration from ``batch``, BEV frame ``bda``)."""
    b, n, h, w = depth.shape
    onehot, valid = vt.bins.one_hot(depth.flatten(0, 1))
    branches = vt.depth_branch, vt.context_branch
    feats = torch.zeros(b * n, vt.context_branch.in_channels, h, w)
    vt.depth_branch, vt.context_branch = _Fixed(100.0 * onehot.permute(0, 3, 1, 2)), _Fixed(valid[:, None].float())
    try:
        with torch.no_grad():
            calib = (batch[k] for k in ("intrins", "post_rots", "post_trans", "cam2ego"))
            return vt(feats, (h * vt.downsample, w * vt.downsample), *calib, bda)["bev"][:, 0]
    finally:
        vt.depth_branch, vt.context_branch = branches
