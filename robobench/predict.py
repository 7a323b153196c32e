"""Inference: a trained entry under one condition -> a nuScenes results JSON (+ depth metrics).

Models decode boxes in the key ego frame (:mod:`robobench.contract`); the nuScenes
submission format wants them in the global frame, so each box is mapped with the
sample's ``ego2global`` (taken in float64 from the index, not from the float32 batch):
centre ``R c + t``, orientation ``q_ego2global * q_yaw``, velocity ``R [vx, vy, 0]``.
Every sample token of the split appears (possibly with an empty list), at most 500
boxes per sample (the devkit's limit), highest scores first.

When the model predicts a depth distribution (``outputs["depth"]``, bin probabilities
over ``model.depth_bins = [start, stop, step]``), its expected depth per cell
(TiGDistill-BEV eq. 1: continuous depth as the probability-weighted bin centres) is
compared with the sparse LiDAR depth maps of the batch: all valid cells and the
foreground cells (whose LiDAR point lies inside a GT box).
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pyquaternion import Quaternion
from torch.utils.data import DataLoader

from robobench.conditions import Condition
from robobench.constants import ATTRIBUTES, DETECTION_CLASSES
from robobench.data.dataset import BEVDataset, DataConfig, collate
from robobench.data.index import load_index
from robobench.ema import inference_weights
from robobench.errors import UserError
from robobench.io import load_checkpoint, write_json_atomic
from robobench.nuscenes_c import check_images
from robobench.precision import autocast, cpu_autocast_dtype, to_float32
from robobench.registry import Entry
from robobench.train import (
    DEFAULT_DATAROOT,
    DEFAULT_VERSION,
    TrainConfig,
    check_dataroot,
    default_split,
    resolve_entry,
    to_device,
)

#: The devkit keeps at most this many boxes per sample.
MAX_BOXES_PER_SAMPLE = 500

#: Samples per forward pass in prediction (the sweep's evaluation cells use it). Four samples
#: (24 views) per pass instead of one cut the per-call overhead of the CPU kernels; the boxes
#: equal batch 1's up to float rounding (``benchmarks/eval_cell_bench.py`` prints both).
EVAL_BATCH_SIZE = 4

#: Attribute written when a model gives none for a class that has attributes (mmdet3d's defaults).
DEFAULT_ATTRIBUTE: dict[str, str] = {
    "car": "vehicle.parked",
    "truck": "vehicle.parked",
    "bus": "vehicle.moving",
    "trailer": "vehicle.parked",
    "construction_vehicle": "vehicle.parked",
    "pedestrian": "pedestrian.moving",
    "motorcycle": "cycle.without_rider",
    "bicycle": "cycle.without_rider",
    "traffic_cone": "",
    "barrier": "",
}


@dataclass
class PredictionOutput:
    """Where the results JSON went, the depth metrics (``None`` without a depth head), timing,
    and how many damaged input images were read (only with ``allow_damaged_images``)."""

    results_path: Path
    depth_metrics: dict[str, Any] | None
    num_samples: int
    wall_time_s: float
    damaged_images: int = 0


def attribute_name(label: int, attr: int) -> str:
    """The attribute to submit for class ``label``: the model's if valid for the class, else its default."""
    from nuscenes.eval.detection.utils import detection_name_to_rel_attributes

    name = DETECTION_CLASSES[label]
    allowed = detection_name_to_rel_attributes(name)
    if 0 <= attr < len(ATTRIBUTES) and ATTRIBUTES[attr] in allowed:
        return ATTRIBUTES[attr]
    return DEFAULT_ATTRIBUTE[name]


@functools.lru_cache(maxsize=1)
def _attribute_table() -> np.ndarray:
    """:func:`attribute_name` of every (class, attribute) pair, attribute -1 in the last column."""
    return np.array(
        [[attribute_name(c, a) for a in (*range(len(ATTRIBUTES)), -1)] for c in range(len(DETECTION_CLASSES))],
        dtype=object,
    )


def detections_to_nusc(
    sample_token: str, detections: dict[str, torch.Tensor], ego2global: np.ndarray
) -> list[dict[str, Any]]:
    """One sample's decoded detections (ego frame) as nuScenes submission boxes (global frame).

    All boxes at once: centre ``R c + t``, velocity ``R [vx, vy, 0]``, and orientation the
    Hamilton product ``q_ego2global * q_yaw`` with ``q_yaw = (cos yaw/2, 0, 0, sin yaw/2)``
    written out (what ``pyquaternion`` computes box by box, up to float rounding; a Python
    loop over up to 500 boxes per sample cost seconds per evaluation cell).
    """
    boxes = detections["boxes"].detach().cpu().double().numpy().reshape(-1, 9)
    scores = detections["scores"].detach().cpu().double().numpy().reshape(-1)
    labels = detections["labels"].detach().cpu().numpy().astype(np.int64).reshape(-1)
    attrs = detections["attrs"].detach().cpu().numpy().astype(np.int64).reshape(-1)
    order = np.argsort(-scores, kind="stable")[:MAX_BOXES_PER_SAMPLE]
    boxes, scores, labels, attrs = boxes[order], scores[order], labels[order], attrs[order]
    rot, trans = ego2global[:3, :3], ego2global[:3, 3]
    centres = boxes[:, :3] @ rot.T + trans
    velocity = boxes[:, 7:9] @ rot[:2, :2].T
    a, b, c, d = Quaternion(matrix=rot).elements
    cos, sin = np.cos(boxes[:, 6] / 2), np.sin(boxes[:, 6] / 2)
    rotation = np.stack([a * cos - d * sin, b * cos + c * sin, c * cos - b * sin, d * cos + a * sin], axis=1)
    attr_column = np.where((attrs >= 0) & (attrs < len(ATTRIBUTES)), attrs, len(ATTRIBUTES))
    names = _attribute_table()[labels, attr_column]
    return [
        {
            "sample_token": sample_token,
            "translation": t,
            "size": size,
            "rotation": q,
            "velocity": v,
            "detection_name": DETECTION_CLASSES[label],
            "detection_score": score,
            "attribute_name": attribute,
        }
        for t, size, q, v, label, score, attribute in zip(
            centres.tolist(),
            boxes[:, 3:6].tolist(),
            rotation.tolist(),
            velocity.tolist(),
            labels.tolist(),
            scores.tolist(),
            names.tolist(),
        )
    ]


def expected_depth(probs: torch.Tensor, depth_bins: Any) -> torch.Tensor:
    """``(B*N, D, h, w)`` bin probabilities -> ``(B*N, h, w)`` expected depth over uniform bins.

    ``depth_bins`` is the model config's ``[start, stop, step]`` (BEVDet's ``dbound``);
    bin ``k`` is centred at ``start + (k + 0.5) * step``.
    """
    start, _, step = (float(v) for v in depth_bins)
    centres = start + (torch.arange(probs.shape[1], dtype=probs.dtype, device=probs.device) + 0.5) * step
    return (probs * centres.view(1, -1, 1, 1)).sum(dim=1) / probs.sum(dim=1).clamp_min(1e-6)


def results_meta(data_cfg: DataConfig) -> dict[str, bool]:
    """The ``meta`` block of a submission: which modalities the model consumed."""
    return {
        "use_camera": data_cfg.camera,
        "use_lidar": data_cfg.lidar,
        "use_radar": data_cfg.radar,
        "use_map": False,
        "use_external": False,
    }


def predict(
    entry: str | Entry,
    checkpoint: str | os.PathLike,
    condition: Condition | str,
    dataroot: str | os.PathLike = DEFAULT_DATAROOT,
    version: str = DEFAULT_VERSION,
    split: str | None = None,
    out_path: str | os.PathLike = "results.json",
    seed: int = 0,
    corrupt_root: str | os.PathLike | None = None,
    *,
    batch_size: int = EVAL_BATCH_SIZE,
    num_workers: int = 0,
    device: str | torch.device | None = None,
    precision: str | None = None,
    progress: bool = True,
    allow_damaged_images: bool = False,
) -> PredictionOutput:
    """Run ``entry`` (weights from ``checkpoint``) on ``split`` under ``condition``; write the results JSON.

    The model is rebuilt from the config stored in the checkpoint, so the profile used
    for training is the one used here. ``seed`` seeds the on-the-fly corruption;
    ``corrupt_root`` reads corrupted views from a nuScenes-C folder instead. Damaged
    (truncated) input images stop it before the model runs, unless
    ``allow_damaged_images``: then they are counted (:func:`robobench.nuscenes_c.check_images`).
    ``precision`` (``fp32``/``bf16``/``auto``, :mod:`robobench.precision`) defaults to the
    ``train.precision`` the model was trained with; outputs are decoded in float32 either way.
    """
    entry = resolve_entry(entry)
    if isinstance(condition, str):
        try:
            condition = Condition.parse(condition)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    check_dataroot(dataroot, version)
    split = split or default_split(version, "val")
    ckpt = load_checkpoint(checkpoint)
    if ckpt.get("meta", {}).get("entry") not in (None, entry.name):
        raise UserError(f"checkpoint {checkpoint} was trained for entry {ckpt['meta']['entry']!r}, not {entry.name!r}")
    cfg = ckpt["config"]
    data_cfg = DataConfig.from_dict(cfg.get("data"))
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cpu_dtype = cpu_autocast_dtype(precision or TrainConfig.from_dict(cfg.get("train")).precision, device)
    model = _inference_model(entry, ckpt, device)

    index = load_index(dataroot, version)
    dataset = BEVDataset(
        index, split, data_cfg, condition=condition, seed=seed, corrupt_root=corrupt_root, with_depth_fg=True
    )
    where = f"nuScenes-C root {corrupt_root}" if corrupt_root is not None and not condition.is_clean else f"{dataroot}"
    damaged = check_images(dataset.image_paths(), f"{where} (split {split!r})", allow_damaged_images)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate, shuffle=False)
    started = time.perf_counter()
    desc = f"predict {entry.name} {condition}"
    results, depth_acc = _predict_batches(model, loader, index, device, cpu_dtype, cfg, desc if progress else None)
    for token in dataset.tokens:
        results.setdefault(token, [])
    out_path = Path(out_path)
    write_json_atomic({"meta": results_meta(data_cfg), "results": results}, out_path)
    return PredictionOutput(
        out_path,
        depth_acc.compute() if depth_acc is not None else None,
        len(dataset),
        time.perf_counter() - started,
        damaged,
    )


def _inference_model(entry: Entry, ckpt: dict[str, Any], device: torch.device) -> torch.nn.Module:
    """The model of ``entry`` rebuilt from the checkpoint's config with its inference weights (the
    weight average when training kept one), in eval mode on ``device``. A training-time wrapper (a
    distiller) hands over the model that runs at inference."""
    model = entry.build(ckpt["config"])
    model.load_state_dict(inference_weights(ckpt))
    export = getattr(model, "inference_model", None)
    if callable(export):
        model = export()
    model.to(device).eval()
    return model


def _predict_batches(
    model: torch.nn.Module,
    loader: DataLoader,
    index: Any,
    device: torch.device,
    cpu_dtype: torch.dtype | None,
    cfg: dict[str, Any],
    progress: str | None,
) -> tuple[dict[str, list[dict[str, Any]]], Any]:
    """The nuScenes detections of each sample of ``loader`` by sample token, and the depth metrics
    accumulated over the batches whose outputs hold depth (``None`` when none does); a progress bar
    titled ``progress`` unless that is None."""
    from tqdm import tqdm

    results: dict[str, list[dict[str, Any]]] = {}
    depth_acc = None
    with torch.no_grad():
        for batch in tqdm(loader, desc=progress, unit="batch", disable=progress is None):
            batch = to_device(batch, device)
            with autocast(device, cpu_dtype):
                outputs = to_float32(model(batch))
            for token, dets in zip(batch["sample_tokens"], model.decode(batch, outputs)):
                results[token] = detections_to_nusc(token, dets, index[token].ego2global)
            if outputs.get("depth") is not None:
                if depth_acc is None:
                    depth_acc = _depth_accumulator()
                _update_depth(depth_acc, outputs["depth"], batch, cfg)
    return results, depth_acc


def _depth_accumulator() -> Any:
    from robobench.metrics.depth import DepthAccumulator

    return DepthAccumulator()


def _update_depth(acc: Any, probs: torch.Tensor, batch: dict[str, Any], cfg: dict[str, Any]) -> None:
    """Add one batch's predicted vs LiDAR depth (all valid cells; foreground = in-box points)."""
    bins = cfg.get("model", {}).get("depth_bins")
    if bins is None:
        raise UserError("the model predicts depth but its config has no model.depth_bins = [start, stop, step]")
    pred = expected_depth(probs.float(), bins)
    gt = batch["depth"].flatten(0, 1)
    if pred.shape != gt.shape:
        raise UserError(
            f"depth prediction {tuple(pred.shape[-2:])} and LiDAR depth {tuple(gt.shape[-2:])} differ per view; "
            "set data.depth_downsample equal to the model's depth stride"
        )
    acc.update(pred.cpu().numpy(), gt.cpu().numpy(), fg_mask=batch["depth_fg"].flatten(0, 1).cpu().numpy())
