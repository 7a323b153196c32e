"""The torch Dataset producing the batch of :mod:`robobench.contract`.

For each key frame it loads the six views at their stored resolution, optionally
corrupts them (a :class:`~robobench.conditions.Condition`, applied on the fly with
:func:`corruptions.corrupt_views` BEFORE any resize, as RoboBEV corrupts the original
1600x900 images; or read from a nuScenes-C root), then resizes/crops/flips/rotates
them to the model input with one affine matrix per view that is also returned
(``post_rots``/``post_trans``, BEVDet's image-view augmentation). LiDAR points
(``data.lidar_sweeps`` sweeps accumulated in the key ego frame, each point with its time
lag) are returned for LiDAR models; the key sweep alone gives sparse depth maps per view
(the minimum camera-frame depth of the points falling in each cell, as BEVDepth's depth
supervision). Radar points (``data.radar_sweeps`` sweeps per radar, accumulated in the key
ego frame) are returned with their ego-motion-compensated velocities, and the previous key
frame is loaded for temporal models. In training, a BEV-space augmentation (rotation, scale,
flips; BEVDet's BDA) moves points, radar and GT boxes by one 3x3 matrix, returned as ``bda``
for camera models to apply to their lifted frustum.

Randomness (augmentation, training-time corruption) is drawn from a generator seeded
by ``(seed, epoch, sample token)``, so an item is the same in any worker, in any
order, and after a resume.

The ``data`` section of an entry's config (see :class:`DataConfig`) selects all this.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from robobench.conditions import CLEAN, Condition
from robobench.constants import CAMERAS
from robobench.contract import POINT_TIME_LAG, key_sweep
from robobench.data.index import LIDAR_MAX_SWEEPS, RADAR_MAX_SWEEPS, SampleIndex, SampleRecord, SensorRecord, load_index
from robobench.config import build_config
from robobench.errors import UserError

#: ImageNet statistics (RGB, 0..255) used to normalise the views.
IMG_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
IMG_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)

#: Devkit default radar filters (``RadarPointCloud.default_filters``), passed explicitly so
#: that a global ``disable_filters()`` elsewhere cannot change what we load.
_RADAR_FILTERS = {"invalid_states": [0], "dynprop_states": list(range(7)), "ambig_states": [3]}

#: Points of a previous LiDAR sweep with ``|x| < r`` and ``|y| < r`` in its sensor frame are
#: dropped (returns off the ego vehicle, which would trail behind it in the key ego frame), as
#: mmdetection3d's multi-sweep loader (``remove_close``) and the devkit's
#: ``LidarPointCloud.from_file_multisweep`` do.
SWEEP_CLOSE_RADIUS = 1.0


@dataclass(frozen=True)
class DataConfig:
    """The ``data`` section of an entry config.

    ``input_size``        ``[H, W]`` of the network input.
    ``depth_downsample``  stride of the sparse depth maps (``h = H / d``); match the
                          model's depth head (BEVDepth: 16).
    ``prev_frame``        also load the previous key frame (temporal models).
    ``lidar``             the model consumes LiDAR points (teachers); points are always in
                          the batch (depth supervision and distillation teachers read them),
                          this flag is recorded in the results' ``meta``.
    ``lidar_sweeps``      LiDAR sweeps accumulated in ``points``: the key sweep plus up to
                          ``lidar_sweeps - 1`` previous ones (fewer at the start of a scene),
                          told apart by the time-lag column; 1 to ``LIDAR_MAX_SWEEPS``. Depth
                          maps always come from the key sweep alone. Evaluation items of a
                          model without ``lidar`` hold the key sweep only: the previous
                          sweeps feed a distillation teacher, which runs in training only.
    ``radar``             load radar points (otherwise ``radar`` holds empty arrays).
    ``radar_sweeps``      radar sweeps accumulated per radar channel: the key sweep plus up
                          to ``radar_sweeps - 1`` previous ones (fewer at the start of a
                          scene); 1 to ``RADAR_MAX_SWEEPS``. 1 loads the key sweep only.
    ``camera``            the model consumes the images. ``False`` (LiDAR-only teachers): the
                          items carry no camera tensors and no depth maps (reading and
                          augmenting six views and projecting depth was most of a teacher
                          item's loading time: ``benchmarks/teacher_loading_bench.py``), and
                          no previous frame; the random
                          draws are the same, so points, boxes and ``bda`` are those of the
                          camera item.
    ``resize_lim``        training: scale = ``W_in / W_img + U(resize_lim)`` (BEVDet).
    ``rot_lim``           training: in-plane rotation in degrees, ``U(rot_lim)``.
    ``flip``              training: horizontal flip with probability 0.5.
    ``crop_h``            fraction of the resized height cut from the top, ``U(crop_h)``
                          (test: its mean); the bottom of the image is kept as BEVDet does.
    ``resize_test``       test-time offset added to the scale ``W_in / W_img``.
    ``bev_rot_lim``       training, BEV-space augmentation (:func:`sample_bev_aug`): rotation
                          of the whole scene about the ego z axis in degrees, ``U(bev_rot_lim)``.
    ``bev_scale_lim``     training, BEV-space: global scale ``U(bev_scale_lim)``.
    ``bev_flip``          training, BEV-space: mirror x and y, each with probability 0.5.
                          The three act on LiDAR/radar points and GT boxes; the batch's
                          ``bda`` holds the matrix (identity otherwise), which camera models
                          apply to their lifted frustum after ``cam2ego`` (BEVDet's BDA), so
                          the image-view augmentation and the depth maps do not change.
    ``gt_min_points``     keep GT boxes with at least this many LiDAR + radar points (the
                          devkit's evaluation drops boxes with none).
    ``depth_min``         ignore LiDAR points closer than this to the camera plane (m).
    """

    input_size: tuple[int, int] = (128, 352)
    depth_downsample: int = 16
    prev_frame: bool = False
    lidar: bool = False
    lidar_sweeps: int = 1
    radar: bool = False
    radar_sweeps: int = 1
    camera: bool = True
    resize_lim: tuple[float, float] = (-0.06, 0.11)
    rot_lim: tuple[float, float] = (-5.4, 5.4)
    flip: bool = True
    crop_h: tuple[float, float] = (0.0, 0.0)
    resize_test: float = 0.0
    bev_rot_lim: tuple[float, float] = (0.0, 0.0)
    bev_scale_lim: tuple[float, float] = (1.0, 1.0)
    bev_flip: bool = False
    gt_min_points: int = 1
    depth_min: float = 0.1

    def __post_init__(self) -> None:
        """``UserError`` for a ``lidar_sweeps``/``radar_sweeps`` the index cannot serve, or an input size
        the depth stride does not divide (also when built without ``from_dict``)."""
        for key, most, what in (
            ("lidar_sweeps", LIDAR_MAX_SWEEPS, "LiDAR sweeps"),
            ("radar_sweeps", RADAR_MAX_SWEEPS, "radar sweeps per channel"),
        ):
            sweeps = getattr(self, key)
            if isinstance(sweeps, bool) or not isinstance(sweeps, int) or not 1 <= sweeps <= most:
                raise UserError(f"data.{key} must be an integer from 1 to {most} ({what}), got {sweeps!r}")
        h, w = self.input_size
        d = self.depth_downsample
        if d < 1 or h % d or w % d:
            raise UserError(f"data.input_size {list(self.input_size)} must be divisible by data.depth_downsample={d}")

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> DataConfig:
        """Validate ``cfg`` (unknown keys and bad values are a ``UserError`` naming them)."""
        return build_config(cls, cfg, "data")

    @property
    def bev_aug(self) -> bool:
        """Whether training applies a BEV-space augmentation."""
        return self.bev_flip or tuple(self.bev_rot_lim) != (0.0, 0.0) or tuple(self.bev_scale_lim) != (1.0, 1.0)


@dataclass(frozen=True)
class ImageAug:
    """One view transform: scale, crop offset (in the scaled image), flip, rotation (degrees)."""

    resize: float
    crop: tuple[int, int]
    flip: bool
    rotate: float


def sample_image_aug(img_hw: tuple[int, int], cfg: DataConfig, rng: np.random.Generator | None) -> ImageAug:
    """BEVDet's ``sample_augmentation``: random when ``rng`` is given, the fixed test transform otherwise."""
    H, W = img_hw
    fH, fW = cfg.input_size
    if rng is not None:
        resize = fW / W + rng.uniform(*cfg.resize_lim)
        new_w, new_h = int(W * resize), int(H * resize)
        crop_y = int((1 - rng.uniform(*cfg.crop_h)) * new_h) - fH
        crop_x = int(rng.uniform(0, max(0, new_w - fW)))
        return ImageAug(
            resize, (crop_x, crop_y), bool(cfg.flip and rng.random() < 0.5), float(rng.uniform(*cfg.rot_lim))
        )
    resize = fW / W + cfg.resize_test
    new_w, new_h = int(W * resize), int(H * resize)
    crop_y = int((1 - float(np.mean(cfg.crop_h))) * new_h) - fH
    return ImageAug(resize, (int(max(0, new_w - fW) / 2), crop_y), False, 0.0)


def aug_matrices(img_hw: tuple[int, int], aug: ImageAug, out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(A_resize, A_rest)``: 3x3 affine maps, original pixel -> resized pixel -> network pixel.

    Pixel centres sit at integer coordinates (OpenCV), so the resize is
    ``u' = (u + 0.5) * s - 0.5``; the crop translates, the flip mirrors about the
    output's centre and the rotation turns about it. ``A_rest @ A_resize`` is what the
    batch's ``post_rots``/``post_trans`` hold.
    """
    H, W = img_hw
    fH, fW = out_hw
    new_w, new_h = int(W * aug.resize), int(H * aug.resize)
    sx, sy = new_w / W, new_h / H
    a_resize = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=np.float64)
    rest = np.array([[1, 0, -aug.crop[0]], [0, 1, -aug.crop[1]], [0, 0, 1]], dtype=np.float64)
    if aug.flip:
        rest = np.array([[-1, 0, fW - 1], [0, 1, 0], [0, 0, 1]], dtype=np.float64) @ rest
    if aug.rotate:
        cx, cy = (fW - 1) / 2, (fH - 1) / 2
        a = math.radians(aug.rotate)
        rot = np.array([[math.cos(a), math.sin(a), 0], [-math.sin(a), math.cos(a), 0], [0, 0, 1]])
        to_c = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
        from_c = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]])
        rest = from_c @ rot @ to_c @ rest
    return a_resize, rest


def apply_image_aug(img: np.ndarray, aug: ImageAug, out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Warp one ``HxWx3`` uint8 view to ``out_hw``; returns the image and the 3x3 matrix used."""
    H, W = img.shape[:2]
    a_resize, rest = aug_matrices((H, W), aug, out_hw)
    new_w, new_h = int(W * aug.resize), int(H * aug.resize)
    interp = cv2.INTER_AREA if new_w < W else cv2.INTER_LINEAR
    resized = cv2.resize(img, (new_w, new_h), interpolation=interp)
    out = cv2.warpAffine(resized, rest[:2], (out_hw[1], out_hw[0]), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return out, rest @ a_resize


@dataclass(frozen=True)
class CameraPoints:
    """The points one camera sees in front of it, before any image augmentation: original-image
    pixel coordinates ``uv`` (N x 2), camera-frame depth ``z`` (N) and each point's row ``index``
    in the sweep, ordered by depth (stable: equal depths keep the sweep's order).

    The part of a depth map that does not depend on the augmentation, so a training item
    computes it once per sample (:meth:`BEVDataset._camera_points`) and only moves it each epoch.
    """

    uv: np.ndarray
    z: np.ndarray
    index: np.ndarray

    def freeze(self) -> int:
        """Make the arrays read-only (a cache shares them between items) and return their bytes."""
        for array in (self.uv, self.z, self.index):
            array.flags.writeable = False
        return self.uv.nbytes + self.z.nbytes + self.index.nbytes


def project_points(
    points_ego: np.ndarray, cam2ego: np.ndarray, intrinsic: np.ndarray, depth_min: float = 0.1
) -> CameraPoints:
    """The points of ``points_ego`` more than ``depth_min`` in front of the camera, projected:
    ego -> camera (``cam2ego^-1``) -> original pixel (``intrinsic``)."""
    ego2cam = np.linalg.inv(cam2ego)
    pts_cam = points_ego[:, :3] @ ego2cam[:3, :3].T + ego2cam[:3, 3]
    z = pts_cam[:, 2]
    keep = np.flatnonzero(z > depth_min)
    pts_cam, z = pts_cam[keep], z[keep]
    uv = pts_cam @ intrinsic.T
    uv = uv[:, :2] / z[:, None]
    order = np.argsort(z, kind="stable")
    return CameraPoints(uv[order], z[order], keep[order])


def depth_from_points(
    seen: CameraPoints,
    img_aug: np.ndarray,
    out_hw: tuple[int, int],
    downsample: int,
    point_flags: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Depth map ``(h, w)`` of the projected points ``seen`` moved to network pixels by ``img_aug``:
    per cell the smallest depth among its points (0: no point), and with ``point_flags`` (bool
    per sweep point) the flag of that point.

    Network pixel ``(u, v)`` falls in cell ``floor((u + 0.5) / d)``. ``seen`` is ordered by
    depth, so the first point of each cell in that order is its nearest (ties: the earlier
    sweep point), which one stable sort of the cell numbers finds.
    """
    h, w = out_hw[0] // downsample, out_hw[1] // downsample
    depth = np.zeros((h, w), dtype=np.float32)
    flags = np.zeros((h, w), dtype=bool) if point_flags is not None else None
    a = img_aug
    u = seen.uv[:, 0] * a[0, 0] + seen.uv[:, 1] * a[0, 1] + a[0, 2]
    v = seen.uv[:, 0] * a[1, 0] + seen.uv[:, 1] * a[1, 1] + a[1, 2]
    cols = np.floor((u + 0.5) / downsample).astype(np.int64)
    rows = np.floor((v + 0.5) / downsample).astype(np.int64)
    inside = np.flatnonzero((cols >= 0) & (cols < w) & (rows >= 0) & (rows < h))
    cells, first = np.unique(rows[inside] * w + cols[inside], return_index=True)
    nearest = inside[first]
    depth.flat[cells] = seen.z[nearest]
    if flags is not None:
        flags.flat[cells] = point_flags[seen.index[nearest]]
    return depth, flags


def sparse_depth(
    points_ego: np.ndarray,
    cam2ego: np.ndarray,
    intrinsic: np.ndarray,
    img_aug: np.ndarray,
    out_hw: tuple[int, int],
    downsample: int,
    depth_min: float = 0.1,
    point_flags: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Depth map ``(h, w)``: per cell, the smallest camera-frame depth (z) of the points in it.

    Points go ego -> camera (``cam2ego^-1``) -> original pixel (``intrinsic``) ->
    network pixel (``img_aug``); network pixel ``(u, v)`` falls in cell
    ``floor((u + 0.5) / d)``. 0 marks cells without a point. When ``point_flags``
    (bool per point) is given, also returns the flag of the point chosen in each cell
    (e.g. "inside a GT box" for foreground depth metrics). :func:`project_points` then
    :func:`depth_from_points`.
    """
    seen = project_points(points_ego, cam2ego, intrinsic, depth_min)
    return depth_from_points(seen, img_aug, out_hw, downsample, point_flags)


def normalize_views(views: Sequence[np.ndarray]) -> torch.Tensor:
    """``V x 3 x H x W`` float32 network input from ``V`` uint8 ``H x W x 3`` views:
    ``(pixel - IMG_MEAN) / IMG_STD`` per channel, written channel by channel into the output."""
    stacked = np.stack(views)
    out = np.empty((stacked.shape[0], 3, *stacked.shape[1:3]), dtype=np.float32)
    for c in range(3):
        np.subtract(stacked[..., c], IMG_MEAN[c], out=out[:, c], dtype=np.float32)
        out[:, c] /= IMG_STD[c]
    return torch.from_numpy(out)


def sample_bev_aug(cfg: DataConfig, rng: np.random.Generator) -> np.ndarray:
    """A random 3x3 BEV-space transform ``flip @ scale * rot_z`` (CenterPoint's global rotation,
    scaling and flips; BEVDet's BDA): the same rigid-plus-scale map for every point and box of a sample."""
    angle = math.radians(rng.uniform(*cfg.bev_rot_lim))
    c, s = math.cos(angle), math.sin(angle)
    mat = rng.uniform(*cfg.bev_scale_lim) * np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    if cfg.bev_flip:
        mat = np.diag([-1.0 if rng.random() < 0.5 else 1.0, -1.0 if rng.random() < 0.5 else 1.0, 1.0]) @ mat
    return mat


def apply_bev_aug(mat: np.ndarray, points: np.ndarray, boxes: np.ndarray, radar: np.ndarray) -> tuple[np.ndarray, ...]:
    """Points ``(P, >=3)``, boxes ``(M, 9)`` and radar ``(R, 7)`` (:mod:`robobench.contract`) under ``mat``.

    Positions and velocities are multiplied by ``mat``; sizes by its scale; the yaw follows the
    transformed heading vector, so mirrors reverse the sense of rotation as they must.
    """
    scale = abs(np.linalg.det(mat[:2, :2])) ** 0.5
    points, boxes, radar = points.copy(), boxes.copy(), radar.copy()
    points[:, :3] = points[:, :3] @ mat.T
    radar[:, :3] = radar[:, :3] @ mat.T
    radar[:, 4:6] = radar[:, 4:6] @ mat[:2, :2].T
    heading = np.stack([np.cos(boxes[:, 6]), np.sin(boxes[:, 6])], axis=1) @ mat[:2, :2].T
    boxes[:, :3] = boxes[:, :3] @ mat.T
    boxes[:, 3:6] *= scale
    boxes[:, 6] = np.arctan2(heading[:, 1], heading[:, 0])
    boxes[:, 7:9] = boxes[:, 7:9] @ mat[:2, :2].T
    return points, boxes, radar


#: Environment variable: megabytes the input cache may hold per process (0 turns it off).
EVAL_CACHE_ENV = "ROBOBENCH_EVAL_CACHE_MB"
#: Its default: the default world's training split (decoded views and camera points, about 2.1 GB)
#: fits, and so does its validation split (views and depth maps, about 0.8 GB) after it.
EVAL_CACHE_DEFAULT_MB = 3072


class EvalInputCache:
    """Store of model inputs that no condition or epoch changes, bounded in bytes.

    A sweep evaluates each model under 25 conditions of the same split in one process, and
    training reads every sample once per epoch: the decoded clean views, the evaluation depth
    maps and each camera's projected LiDAR points (:class:`CameraPoints`) of a sample are the
    same each time, so they are decoded and computed once. Entries are read-only arrays, so a
    consumer that wrote into one would fail loudly instead of changing later items.

    Both read a split in whole passes (the same order per cell, a new order per epoch). When a
    split does not fit, least-recently-used eviction keeps almost nothing useful (in a fixed order
    every entry is evicted just before it is needed again), so the cache keeps the first entries
    that fit and computes the rest each pass: the budget's share of the split is served from
    memory. A training run empties it at its end (:meth:`clear`), so the evaluation that follows
    in the same process finds the room.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget = int(budget_bytes)
        self.used = 0
        self.entries: dict[tuple, tuple[Any, int]] = {}

    @classmethod
    def from_env(cls) -> EvalInputCache:
        """A cache of ``$ROBOBENCH_EVAL_CACHE_MB`` megabytes (default :data:`EVAL_CACHE_DEFAULT_MB`)."""
        text = os.environ.get(EVAL_CACHE_ENV, str(EVAL_CACHE_DEFAULT_MB))
        try:
            megabytes = float(text)
        except ValueError:
            raise UserError(f"{EVAL_CACHE_ENV}={text!r} is not a number of megabytes (0 turns the cache off)") from None
        return cls(int(max(megabytes, 0.0) * 2**20))

    def get(self, key: tuple, compute: Any) -> Any:
        """The value stored under ``key``, else ``compute()``, kept when it fits in what is left of the
        budget. Values are a numpy array or a list of :class:`CameraPoints` (their arrays made
        read-only) or a dict of tensors (which :func:`collate` copies into the batch)."""
        if self.budget <= 0:
            return compute()
        hit = self.entries.get(key)
        if hit is not None:
            return hit[0]
        value = compute()
        size = _frozen_nbytes(value)
        if self.used + size <= self.budget:
            self.entries[key] = (value, size)
            self.used += size
        return value

    def clear(self) -> None:
        """Drop every entry (e.g. a finished training run's, whose split is not read again)."""
        self.entries.clear()
        self.used = 0


_EVAL_CACHE: EvalInputCache | None = None


def _frozen_nbytes(value: Any) -> int:
    """Bytes held by a cache value (see :meth:`EvalInputCache.get`), its numpy arrays made read-only."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
        return value.nbytes
    if isinstance(value, list):
        return sum(seen.freeze() for seen in value)
    return sum(t.numel() * t.element_size() for t in value.values())


def _files_key(paths: Sequence[Path]) -> tuple:
    """A cache key that changes when any of the files is rewritten: path, size and modification time."""
    key = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            raise _missing_image(p) from None
        key.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(key)


def eval_input_cache() -> EvalInputCache:
    """The process's :class:`EvalInputCache` (sized from the environment on first use)."""
    global _EVAL_CACHE
    if _EVAL_CACHE is None:
        _EVAL_CACHE = EvalInputCache.from_env()
    return _EVAL_CACHE


def points_in_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Bool per point: inside any of the ``(M, 9)`` boxes (``x, y, z, w, l, h, yaw, ...``, centre z).

    The test is the devkit's ``points_in_box``: take corner 0 of the box (its ``Box.corners``
    order) and the three edges from it; a point is inside when its offset from that corner
    projects onto each edge between 0 and the edge's squared length. It runs for all boxes at
    once, and only on the points within the square around each box's footprint circle (found by
    binary search in the points sorted by x), instead of once per box over the whole sweep:
    that loop made the depth maps of an evaluation cell cost seconds. Decisions equal the
    devkit's except, possibly, for a point within float rounding of a face
    (``tests/robobench/data/test_dataset.py`` compares them on a whole world).
    """
    inside = np.zeros(len(points), dtype=bool)
    if len(points) == 0 or len(boxes) == 0:
        return inside
    boxes = np.asarray(boxes, dtype=np.float64)
    centre, (w, length, h), yaw = boxes[:, :3], boxes[:, 3:6].T, boxes[:, 6]
    cos, sin = np.cos(yaw), np.sin(yaw)
    # corner 0 = centre + R (l/2, w/2, h/2); its edges run to corners 4 (-x), 1 (-y) and 3 (-z)
    corner0 = centre + np.stack([cos * length / 2 - sin * w / 2, sin * length / 2 + cos * w / 2, h / 2], axis=1)
    zeros = np.zeros_like(yaw)
    edges = np.stack(
        [
            np.stack([-cos * length, -sin * length, zeros], axis=1),
            np.stack([sin * w, -cos * w, zeros], axis=1),
            np.stack([zeros, zeros, -h], axis=1),
        ],
        axis=1,
    )  # (M, 3 edges, 3)
    reach = 0.5 * np.hypot(w, length) + 1e-3  # footprint circle, with slack
    by_x = np.argsort(points[:, 0], kind="stable")
    xs = points[by_x, 0]
    lo = np.searchsorted(xs, centre[:, 0] - reach)
    count = np.searchsorted(xs, centre[:, 0] + reach) - lo
    box = np.repeat(np.arange(len(boxes)), count)
    point = by_x[np.repeat(lo - np.cumsum(count) + count, count) + np.arange(int(count.sum()))]
    near = np.abs(points[point, 1] - centre[box, 1]) <= reach[box]
    box, point = box[near], point[near]
    offset = points[point, :3].astype(np.float64) - corner0[box]
    proj = np.einsum("pec,pc->pe", edges[box], offset)
    bound = np.einsum("mec,mec->me", edges, edges)[box]
    inside[point[((proj >= 0) & (proj <= bound)).all(axis=1)]] = True
    return inside


def token_seed(*parts: int | str) -> np.random.Generator:
    """A generator seeded by integers and strings (strings hashed stably, unlike ``hash``)."""
    ints = [p if isinstance(p, int) else int(hashlib.sha1(p.encode()).hexdigest()[:15], 16) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(ints))


def _missing_image(path: Path) -> UserError:
    return UserError(f"image file {path} is missing; the dataset is incomplete (re-generate or re-download it)")


def _read_image(path: Path) -> np.ndarray:
    if not path.is_file():
        raise _missing_image(path)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise UserError(f"image file {path} cannot be decoded; the file is corrupt (re-generate or re-download it)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def load_lidar(path: Path) -> np.ndarray:
    """``(P, 5)`` float32 x, y, z, intensity, ring of a nuScenes ``.pcd.bin`` (sensor frame), as stored."""
    if not path.is_file():
        raise UserError(f"LiDAR file {path} is missing; the dataset is incomplete (re-generate or re-download it)")
    raw = np.fromfile(path, dtype=np.float32)
    if raw.size % 5:
        raise UserError(f"LiDAR file {path} has {raw.size} floats, not a multiple of 5; the file is corrupt")
    return raw.reshape(-1, 5)


def _to_ego(points: np.ndarray, sensor2ego: np.ndarray) -> np.ndarray:
    return points @ sensor2ego[:3, :3].T + sensor2ego[:3, 3]


def load_lidar_sweep(dataroot: Path, sweep: SensorRecord, key_timestamp: int) -> np.ndarray:
    """``(P, 5)`` float32 rows ``x, y, z, intensity, time lag`` of one LiDAR sweep, in the key ego frame.

    Positions go through ``sweep.sensor2ego`` (sensor -> ego at the sweep's time -> global ->
    key ego, built by the index); the file's ring column is replaced by the lag,
    ``key_timestamp`` minus the sweep's timestamp in seconds (exactly 0 for the key sweep),
    as mmdetection3d's ``LoadPointsFromMultiSweeps``. A previous sweep (lag > 0) loses its
    points within :data:`SWEEP_CLOSE_RADIUS` of the sensor, as there; the key sweep is kept whole.
    """
    raw = load_lidar(dataroot / sweep.path)
    lag = (key_timestamp - sweep.timestamp) * 1e-6
    if lag > 0:
        raw = raw[~((np.abs(raw[:, 0]) < SWEEP_CLOSE_RADIUS) & (np.abs(raw[:, 1]) < SWEEP_CLOSE_RADIUS))]
    raw[:, :3] = _to_ego(raw[:, :3].astype(np.float64), sweep.sensor2ego)  # raw is this call's own array
    raw[:, POINT_TIME_LAG] = lag
    return raw


def load_radar_sweep(dataroot: Path, sweep: SensorRecord, key_timestamp: int) -> np.ndarray:
    """``(R, 7)`` float32 rows ``x, y, z, rcs, vx, vy, time lag`` of one radar sweep, in the key ego frame.

    The devkit reads the ``.pcd`` with its default filters (passed explicitly); positions
    go through ``sweep.sensor2ego`` (sensor -> ego at the sweep's time -> global -> key
    ego, built by the index) and the ego-motion-compensated velocities ``vx_comp,
    vy_comp`` are rotated by the same matrix. The lag is ``key_timestamp`` (the key
    LiDAR's) minus the sweep's timestamp, in seconds.

    The devkit's ``RadarPointCloud.from_file_multisweep`` is not used: it maps into a
    reference *sensor* frame (we want the key ego frame), leaves the velocities in each
    sweep's sensor frame, drops points within 1 m with ``remove_close`` and uses the
    class-level filters (which ``disable_filters()`` changes globally), and it needs the
    ``NuScenes`` object in every data-loader worker, which the index exists to avoid.
    The per-sweep ``sensor2ego`` composes the same pose chain once, at indexing time.
    """
    from nuscenes.utils.data_classes import RadarPointCloud

    path = dataroot / sweep.path
    if not path.is_file():
        raise UserError(f"radar file {path} is missing; the dataset is incomplete (re-generate or re-download it)")
    pts = RadarPointCloud.from_file(str(path), **_RADAR_FILTERS).points.T
    xyz = _to_ego(pts[:, :3], sweep.sensor2ego)
    vel = np.c_[pts[:, 8:10], np.zeros(len(pts))] @ sweep.sensor2ego[:3, :3].T
    lag = np.full(len(pts), (key_timestamp - sweep.timestamp) * 1e-6)
    return np.c_[xyz, pts[:, 5], vel[:, :2], lag].astype(np.float32)


class BEVDataset(Dataset):
    """Items of one split in the batch contract (:mod:`robobench.contract`), one dict per sample.

    ``condition``: corruption applied to every view (evaluation). ``corrupt_root``: read
    corrupted views from a nuScenes-C folder instead of corrupting on the fly.
    ``train``: random image augmentation. ``train_corruption``: a callable
    ``(views, rng) -> views`` (e.g. :class:`robobench.data.corrupt_aug.RandomCorruption`)
    applied to the stored-resolution views during training. ``with_depth_fg`` adds
    ``depth_fg`` (bool, per depth cell: its point lies inside a GT box).
    """

    def __init__(
        self,
        index: SampleIndex,
        split: str,
        data_cfg: DataConfig | dict[str, Any] | None = None,
        *,
        train: bool = False,
        condition: Condition = CLEAN,
        seed: int = 0,
        corrupt_root: str | os.PathLike | None = None,
        train_corruption: Any = None,
        max_samples: int | None = None,
        with_depth_fg: bool = False,
    ) -> None:
        self.index = index
        self.split = split
        self.cfg = data_cfg if isinstance(data_cfg, DataConfig) else DataConfig.from_dict(data_cfg)
        self.train = train
        self.condition = condition
        self.seed = int(seed)
        self.corrupt_root = Path(corrupt_root) if corrupt_root is not None else None
        if self.corrupt_root is not None and not self.corrupt_root.is_dir():
            raise UserError(f"corrupted-image root {self.corrupt_root} does not exist")
        self.train_corruption = train_corruption
        self.with_depth_fg = with_depth_fg
        self.tokens = index.split_tokens(split)
        if max_samples is not None:
            self.tokens = self.tokens[: int(max_samples)]
        if not self.tokens:
            raise UserError(f"split {split!r} of {index.dataroot} ({index.version}) has no samples")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random augmentation the items use (call before each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.tokens)

    # -- loading -----------------------------------------------------------------------

    def _view_paths(self, rec: SampleRecord, must_exist: bool = True) -> list[Path]:
        """The image files of ``rec``'s six views under the condition: in the nuScenes-C root
        for a corrupted condition read from disk, else in the dataroot."""
        cond = self.condition
        if not cond.is_clean and self.corrupt_root is not None:
            from robobench.nuscenes_c import nuscenes_c_path

            return [
                Path(
                    nuscenes_c_path(
                        self.corrupt_root,
                        cond.corruption,
                        cond.level,
                        c,
                        Path(rec.cams[c].path).name,
                        must_exist=must_exist,
                    )
                )
                for c in CAMERAS
            ]
        return [self.index.dataroot / rec.cams[c].path for c in CAMERAS]

    def image_paths(self) -> list[Path]:
        """Every image file the items read (previous frames included when the config uses them),
        for :func:`robobench.nuscenes_c.check_images` before a run."""
        records = [self.index[t] for t in self.tokens]
        if self.cfg.prev_frame and self.cfg.camera:
            records += [self.index.records[r.prev] for r in records if r.prev and r.prev in self.index.records]
        return list(dict.fromkeys(p for r in records for p in self._view_paths(r, must_exist=False)))

    def _views(self, rec: SampleRecord, corruption_seed: int | None) -> np.ndarray:
        """The six stored-resolution views of ``rec``, corrupted as the condition says."""
        cond = self.condition
        paths = self._view_paths(rec)

        def read() -> np.ndarray:
            return np.stack([_read_image(p) for p in paths])

        if not cond.is_clean and self.corrupt_root is not None:
            return read()
        # the clean views, decoded once per process for every condition and epoch (read-only); not in
        # a loader worker, whose cache would die with it at the end of the epoch
        views = read() if get_worker_info() is not None else eval_input_cache().get(_files_key(paths), read)
        if not cond.is_clean:
            from corruptions import corrupt_views

            views = corrupt_views(
                views, cond.corruption, cond.level, self.seed, sample_token=rec.token, cameras=list(CAMERAS)
            )
        if self.train_corruption is not None and corruption_seed is not None:
            views = self.train_corruption(views, np.random.default_rng(corruption_seed))
        return views

    def _camera_block(
        self, rec: SampleRecord, augs: Sequence[ImageAug], corruption_seed: int | None
    ) -> tuple[dict[str, torch.Tensor], list[np.ndarray]]:
        """The camera tensors of ``rec`` and the 3x3 original -> network pixel matrix of each view."""
        views = self._views(rec, corruption_seed)
        imgs, post_rots, post_trans, mats = [], [], [], []
        for view, aug in zip(views, augs):
            out, mat = apply_image_aug(view, aug, self.cfg.input_size)
            imgs.append(out)
            post_rot = np.eye(3)
            post_rot[:2, :2] = mat[:2, :2]
            post_rots.append(post_rot)
            post_trans.append([mat[0, 2], mat[1, 2], 0.0])
            mats.append(mat)
        return {
            "imgs": normalize_views(imgs),
            "intrins": torch.tensor(np.stack([rec.cams[c].intrinsic for c in CAMERAS]), dtype=torch.float32),
            "post_rots": torch.tensor(np.stack(post_rots), dtype=torch.float32),
            "post_trans": torch.tensor(np.asarray(post_trans), dtype=torch.float32),
            "cam2ego": torch.tensor(np.stack([rec.cams[c].sensor2ego for c in CAMERAS]), dtype=torch.float32),
        }, mats

    def _radar(self, rec: SampleRecord) -> np.ndarray:
        """All radar points of ``rec``: per channel the key sweep, then up to ``radar_sweeps - 1``
        previous sweeps (newest first), each via :func:`load_radar_sweep`."""
        out = [np.zeros((0, 7), dtype=np.float32)]
        for channel, latest in rec.radars.items():
            previous = rec.radar_prev.get(channel, [])[: self.cfg.radar_sweeps - 1]
            out.extend(load_radar_sweep(self.index.dataroot, s, rec.lidar.timestamp) for s in (latest, *previous))
        return np.concatenate(out)

    def _lidar(self, rec: SampleRecord) -> np.ndarray:
        """The LiDAR points of ``rec``: its key sweep, then up to ``lidar_sweeps - 1`` previous sweeps
        (newest first), each via :func:`load_lidar_sweep` (key ego frame, time lag in column 4).

        One sweep is a snapshot: it shows where objects are, not where they go, so a LiDAR
        model cannot regress velocities from it. Accumulating earlier sweeps in the key ego
        frame leaves static structure in place and draws moving objects as trails whose
        points carry their age, which makes motion observable. This is CenterPoint's input on
        nuScenes (10 sweeps with a per-point time lag, mmdetection3d's ``LoadPointsFromMultiSweeps``).
        """
        count = self.cfg.lidar_sweeps if self.train or self.cfg.lidar else 1
        sweeps = (rec.lidar, *rec.lidar_prev[: count - 1])
        return np.concatenate([load_lidar_sweep(self.index.dataroot, s, rec.lidar.timestamp) for s in sweeps])

    def _depth_maps(
        self, rec: SampleRecord, mats: Sequence[np.ndarray], points: np.ndarray, boxes: np.ndarray
    ) -> dict[str, torch.Tensor]:
        """``depth`` (and ``depth_fg`` when asked) of each view, from the key sweep only (BEVDepth):
        older sweeps misplace moving objects. Evaluation items compute them once per process."""
        if self.train:
            return self._compute_depth_maps(rec, mats, points, boxes)
        inputs = hashlib.blake2b(points.tobytes())
        for array in (np.stack(mats), boxes):
            inputs.update(np.ascontiguousarray(array).tobytes())
        cfg = self.cfg
        key = (
            "depth",
            rec.token,
            self.with_depth_fg,
            tuple(cfg.input_size),
            cfg.depth_downsample,
            cfg.depth_min,
            inputs.hexdigest(),
        )
        return eval_input_cache().get(key, lambda: self._compute_depth_maps(rec, mats, points, boxes))

    def _compute_depth_maps(
        self, rec: SampleRecord, mats: Sequence[np.ndarray], points: np.ndarray, boxes: np.ndarray
    ) -> dict[str, torch.Tensor]:
        key = key_sweep(points)
        in_box = points_in_boxes(key, boxes) if self.with_depth_fg else None
        depths, fgs = [], []
        for seen, mat in zip(self._camera_points(rec, key), mats):
            d, fg = depth_from_points(seen, mat, self.cfg.input_size, self.cfg.depth_downsample, in_box)
            depths.append(d)
            fgs.append(fg)
        out = {"depth": torch.from_numpy(np.stack(depths))}
        if self.with_depth_fg:
            out["depth_fg"] = torch.from_numpy(np.stack(fgs))
        return out

    def _camera_points(self, rec: SampleRecord, key: np.ndarray) -> list[CameraPoints]:
        """:func:`project_points` of the key sweep ``key`` for each camera of ``rec``. A training item
        needs them again every epoch, so the training process keeps them in its input cache (keyed
        by the sweep's bytes); a loader worker (whose cache would die with it at the end of the
        epoch) and an evaluation item (whose depth maps are cached instead) compute them."""

        def compute() -> list[CameraPoints]:
            return [
                project_points(key, rec.cams[c].sensor2ego, rec.cams[c].intrinsic, self.cfg.depth_min) for c in CAMERAS
            ]

        if not self.train or get_worker_info() is not None:
            return compute()
        digest = hashlib.blake2b(key.tobytes()).hexdigest()
        return eval_input_cache().get(("camera points", rec.token, self.cfg.depth_min, digest), compute)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.index[self.tokens[i]]
        rng = token_seed(self.seed, self.epoch, rec.token) if self.train else None
        img_hw = _read_image_shape(self.index.dataroot / rec.cams[CAMERAS[0]].path)
        augs = [sample_image_aug(img_hw, self.cfg, rng) for _ in CAMERAS]
        # the current and the previous frame draw the same training corruption (kind, level, seed)
        corruption_seed = int(rng.integers(2**63)) if rng is not None else None
        keep = rec.num_lidar_pts + rec.num_radar_pts >= self.cfg.gt_min_points
        boxes = rec.gt_boxes[keep]
        points = self._lidar(rec)
        item: dict[str, Any] = {}
        if self.cfg.camera:
            item, mats = self._camera_block(rec, augs, corruption_seed)
            item.update(self._depth_maps(rec, mats, points, boxes))
        item["ego2global"] = torch.tensor(rec.ego2global, dtype=torch.float32)
        radar = self._radar(rec) if self.cfg.radar else np.zeros((0, 7), dtype=np.float32)
        bda = np.eye(3)
        if rng is not None and self.cfg.bev_aug:  # after the depth maps: those are camera-frame quantities
            bda = sample_bev_aug(self.cfg, rng)
            points, boxes, radar = apply_bev_aug(bda, points, boxes, radar)
        item["bda"] = torch.tensor(bda, dtype=torch.float32)
        item["points"] = torch.from_numpy(points)
        item["radar"] = torch.from_numpy(radar)
        item["gt_boxes"] = torch.tensor(boxes, dtype=torch.float32)
        item["gt_labels"] = torch.from_numpy(rec.gt_labels[keep])
        item["gt_attrs"] = torch.from_numpy(rec.gt_attrs[keep])
        item["sample_tokens"] = rec.token
        if self.cfg.prev_frame and self.cfg.camera:
            prev = self.index.records.get(rec.prev) if rec.prev else None
            prev = prev or rec  # the first frame of a scene is its own predecessor (as BEVDet4D)
            block, _ = self._camera_block(prev, augs, corruption_seed)
            block["prev2cur"] = torch.tensor(np.linalg.inv(rec.ego2global) @ prev.ego2global, dtype=torch.float32)
            item["prev"] = block
        return item


def _read_image_shape(path: Path) -> tuple[int, int]:
    """(H, W) of an image file without decoding all of it (falls back to a full read)."""
    from PIL import Image

    if not path.is_file():
        raise UserError(f"image file {path} is missing; the dataset is incomplete (re-generate or re-download it)")
    with Image.open(path) as im:
        return im.height, im.width


_STACK_KEYS = ("imgs", "intrins", "post_rots", "post_trans", "cam2ego", "ego2global", "bda", "depth", "depth_fg")
_LIST_KEYS = ("points", "radar", "gt_boxes", "gt_labels", "gt_attrs", "sample_tokens")


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack per-sample items into the batch contract (tensors stacked, variable-size keys as lists)."""
    batch: dict[str, Any] = {k: torch.stack([it[k] for it in items]) for k in _STACK_KEYS if k in items[0]}
    batch.update({k: [it[k] for it in items] for k in _LIST_KEYS})
    if "prev" in items[0]:
        batch["prev"] = {k: torch.stack([it["prev"][k] for it in items]) for k in items[0]["prev"]}
    return batch


def make_dataset(
    dataroot: str | os.PathLike,
    version: str,
    split: str,
    data_cfg: DataConfig | dict[str, Any] | None = None,
    **kwargs: Any,
) -> BEVDataset:
    """Index ``dataroot`` (cached) and build a :class:`BEVDataset` over ``split``."""
    return BEVDataset(load_index(dataroot, version), split, data_cfg, **kwargs)
