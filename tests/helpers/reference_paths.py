"""The slow reference paths of the evaluation cell and the training data: what the fast code
replaced, kept as its definition.

Tests hold the fast functions to these (:mod:`tests.robobench.data.test_dataset`,
:mod:`tests.robobench.test_predict`, :mod:`tests.robobench.metrics.test_bootstrap`,
:mod:`tests.baselines.test_head`), and
``benchmarks/eval_path_bench.py`` and ``benchmarks/train_data_bench.py`` swap them in to time
a whole evaluation cell and the training data both ways in one process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from robobench.io import atomic_write
from robobench.metrics.detection import BoxArrays, score_matches
from robobench.predict import MAX_BOXES_PER_SAMPLE, attribute_name
from robobench.constants import DETECTION_CLASSES


def write_json_streamed(obj: Any, path: str | os.PathLike, **dump_options: Any) -> None:
    """``json.dump`` into the open file (the pure-Python encoder), atomically."""
    with atomic_write(path) as fh:
        json.dump(obj, fh, **dump_options)


def points_in_boxes_per_box(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The devkit's ``points_in_box``, one ``(x, y, z, w, l, h, yaw, ...)`` box at a time over every point."""
    from nuscenes.utils.data_classes import Box
    from nuscenes.utils.geometry_utils import points_in_box
    from pyquaternion import Quaternion

    inside = np.zeros(len(points), dtype=bool)
    for box in boxes:
        yaw = Quaternion(axis=[0, 0, 1], angle=float(box[6]))
        inside |= points_in_box(Box(box[:3], box[3:6], yaw), points[:, :3].T)
    return inside


def detections_box_by_box(token: str, det: dict[str, torch.Tensor], ego2global: np.ndarray) -> list[dict[str, Any]]:
    """One sample's detections as nuScenes boxes, converted box by box with ``pyquaternion``."""
    from pyquaternion import Quaternion

    boxes = det["boxes"].detach().cpu().double().numpy().reshape(-1, 9)
    scores = det["scores"].detach().cpu().double().numpy().reshape(-1)
    labels = det["labels"].detach().cpu().numpy().astype(np.int64).reshape(-1)
    attrs = det["attrs"].detach().cpu().numpy().astype(np.int64).reshape(-1)
    rot, trans = ego2global[:3, :3], ego2global[:3, 3]
    out = []
    for k in np.argsort(-scores, kind="stable")[:MAX_BOXES_PER_SAMPLE]:
        x, y, z, w, length, h, yaw, vx, vy = boxes[k]
        q = Quaternion(matrix=rot) * Quaternion(axis=[0.0, 0.0, 1.0], angle=float(yaw))
        out.append(
            {
                "sample_token": token,
                "translation": (rot @ np.array([x, y, z]) + trans).tolist(),
                "size": [float(w), float(length), float(h)],
                "rotation": q.elements.tolist(),
                "velocity": (rot @ np.array([vx, vy, 0.0]))[:2].tolist(),
                "detection_name": DETECTION_CLASSES[labels[k]],
                "detection_score": float(scores[k]),
                "attribute_name": attribute_name(int(labels[k]), int(attrs[k])),
            }
        )
    return out


def circle_nms_greedy(centres: torch.Tensor, radius: float) -> torch.Tensor:
    """Circle NMS by its definition: walk the score-sorted boxes, each kept box suppressing the later
    ones closer than ``radius``."""
    xy = centres.detach().cpu().double().numpy()
    keep = np.ones(len(xy), dtype=bool)
    for i in range(len(xy)):
        if keep[i]:
            keep[i + 1 :] &= ((xy[i + 1 :] - xy[i]) ** 2).sum(-1) >= radius**2
    return torch.from_numpy(keep).to(centres.device)


def bootstrap_scores_per_replicate(
    gt: BoxArrays,
    pred: BoxArrays,
    cfg: Any,
    class_names: Sequence[str],
    order: np.ndarray,
    match: np.ndarray,
    weights: np.ndarray,
) -> tuple[list[float], list[float]]:
    """:func:`robobench.metrics.bootstrap.bootstrap_scores` by its definition: :func:`score_matches`
    once per replicate, with that replicate's sample weights."""
    scored = [score_matches(gt, pred, cfg, class_names, order, match, sample_weight=w) for w in weights]
    return [r.nds for r in scored], [r.map for r in scored]


def sparse_depth_lexsort(points_ego, cam2ego, intrinsic, img_aug, out_hw, downsample, depth_min=0.1, point_flags=None):
    """The depth map of :func:`robobench.data.dataset.sparse_depth` (same arguments and result) as it was
    computed before: each call projects every point, then one lexicographic sort of (cell, depth)
    picks each cell's nearest."""
    h, w = out_hw[0] // downsample, out_hw[1] // downsample
    depth = np.zeros((h, w), dtype=np.float32)
    flags = np.zeros((h, w), dtype=bool) if point_flags is not None else None
    ego2cam = np.linalg.inv(cam2ego)
    pts_cam = points_ego[:, :3] @ ego2cam[:3, :3].T + ego2cam[:3, 3]
    z = pts_cam[:, 2]
    keep = z > depth_min
    pts_cam, z = pts_cam[keep], z[keep]
    uv = pts_cam @ intrinsic.T
    uv = uv[:, :2] / z[:, None]
    uv = uv @ img_aug[:2, :2].T + img_aug[:2, 2]
    cols = np.floor((uv[:, 0] + 0.5) / downsample).astype(np.int64)
    rows = np.floor((uv[:, 1] + 0.5) / downsample).astype(np.int64)
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    flat = rows[inside] * w + cols[inside]
    zin = z[inside]
    order = np.lexsort((zin, flat))
    flat_sorted = flat[order]
    first = np.ones(len(flat_sorted), dtype=bool)
    first[1:] = flat_sorted[1:] != flat_sorted[:-1]
    depth.flat[flat_sorted[first]] = zin[order][first]
    if flags is not None:
        flags.flat[flat_sorted[first]] = point_flags[keep][inside][order][first]
    return depth, flags


def normalize_views_per_view(views: list[np.ndarray]) -> torch.Tensor:
    """The network input of :func:`robobench.data.dataset.normalize_views`, normalised view by view
    in float32 and transposed to ``V x 3 x H x W`` by a copy."""
    from robobench.data.dataset import IMG_MEAN, IMG_STD

    imgs = [(v.astype(np.float32) - IMG_MEAN) / IMG_STD for v in views]
    return torch.from_numpy(np.stack(imgs).transpose(0, 3, 1, 2).copy())
