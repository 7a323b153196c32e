"""The contracts between data, models and evaluation (docs/design.md, "Contracts").

Frames
------
* **ego**: the ego frame at the LIDAR_TOP key-frame timestamp of a sample
  (x forward, y left, z up, metres). GT boxes, LiDAR points, radar points and model
  predictions all live in this frame. ``ego2global`` maps it to the global frame
  that nuScenes results files use.
* **camera**: OpenCV convention (x right, y down, z forward). ``cam2ego`` maps a
  camera's frame to the *key* ego frame (it includes the small ego motion between
  the camera's and the LiDAR's timestamps, as BEVDet's ``sensor2keyego``).
* **image augmentation**: for a pixel ``p`` (homogeneous ``[u, v, 1]``) of the
  original image, the pixel in the network input is
  ``post_rots @ p[:3] + post_trans`` (BEVDet's ``post_rot``/``post_tran``).
* **BEV augmentation** (BEVDet's BDA): ``bda`` maps the ego frame to the *augmented* ego
  frame, ``x' = bda @ x``; a batch's points, radar and GT boxes are given in it (so are a
  model's training targets), camera models apply it after ``cam2ego``. It is the identity
  except in training with ``data.bev_*`` set, so at evaluation the two frames coincide.

Boxes
-----
``(x, y, z, w, l, h, yaw, vx, vy)``: centre (geometric centre, as nuScenes), size in
nuScenes ``wlh`` order (``l`` along the heading), yaw about +z from +x, velocity in
m/s in the ego frame.

Batch (a ``dict`` made by :mod:`robobench.data.dataset`'s collate function)
-----------------------------------------------------------------------
=================  =====================  ===============================================
key                type / shape           meaning
=================  =====================  ===============================================
``imgs``           float (B, N, 3, H, W)  normalised views (ImageNet mean/std), N = 6
``intrins``        float (B, N, 3, 3)     camera intrinsics of the original image
``post_rots``      float (B, N, 3, 3)     image-augmentation rotation/scale
``post_trans``     float (B, N, 3)        image-augmentation translation
``cam2ego``        float (B, N, 4, 4)     camera -> key ego
``ego2global``     float (B, 4, 4)        key ego -> global
``bda``            float (B, 3, 3)        BEV augmentation: ego -> augmented ego (see
                                          Frames; identity when not augmenting)
``depth``          float (B, N, h, w)     sparse LiDAR depth per view at the configured
                                          downsample (0 = no point); h = H / d
``points``         list[B] of (P, 5)      LiDAR points in ego: x, y, z, intensity, time
                                          lag (s; 0 = the key sweep, > 0 = previous
                                          sweeps, ``data.lidar_sweeps``); depth and
                                          geometry use :func:`key_sweep` only
``radar``          list[B] of (R, 7)      radar points in ego: x, y, z, rcs, vx, vy
                                          (ego-motion compensated), time lag (s)
``gt_boxes``       list[B] of (M, 9)      boxes as above
``gt_labels``      list[B] of (M,) long   index into ``DETECTION_CLASSES``
``gt_attrs``       list[B] of (M,) long   index into ``ATTRIBUTES`` or -1
``sample_tokens``  list[B] of str
``prev``           dict or absent         previous key frame's ``imgs``, ``intrins``,
                                          ``post_rots``, ``post_trans``, ``cam2ego``
                                          (to *its* ego) and ``prev2cur`` (B, 4, 4):
                                          previous ego -> current ego
``depth_fg``       bool (B, N, h, w) or   optional: the depth cell's point lies inside a
                   absent                 GT box (foreground depth metrics, TiGDistill)
=================  =====================  ===============================================

A LiDAR-only model's batch (its data config has ``camera: false``) has none of the
:data:`CAMERA_KEYS`, no ``depth_fg`` and no ``prev``: it never reads them, and loading six
views per sample for it was most of a teacher's data time
(``benchmarks/teacher_loading_bench.py``).

Model (a ``torch.nn.Module`` built by a registered entry)
--------------------------------------------------------
* ``forward(batch) -> dict`` with at least ``"bev"`` (B, C, Y, X) BEV features and
  ``"preds"`` (the head's outputs); ``"depth"`` (B*N, D, h, w) bin probabilities
  when the model predicts depth, over uniform bins given by the model config's
  ``model.depth_bins = [start, stop, step]`` (BEVDet's ``dbound``). BEV index ``[iy, ix]`` is the cell centred at
  ``x = x_min + (ix + 0.5) * res``, ``y = y_min + (iy + 0.5) * res``.
* ``loss(batch, outputs) -> dict[str, Tensor]``: named scalar losses (summed to train).
* A distillation entry's builder reads its frozen teacher's weights from the config key
  ``teacher_checkpoint`` (set by the trainer and the sweep; the builder must also work
  without it, e.g. when the registry checks the model contract before any teacher exists).
* ``decode(batch, outputs) -> list[Detections]``: per sample, a dict with
  ``boxes`` (K, 9) in the ego frame, ``scores`` (K,), ``labels`` (K,) and ``attrs`` (K,).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

BATCH_TENSOR_KEYS: dict[str, int] = {
    "imgs": 5,
    "intrins": 4,
    "post_rots": 4,
    "post_trans": 3,
    "cam2ego": 4,
    "ego2global": 3,
    "bda": 3,
    "depth": 4,
}
#: The batch keys a camera model needs and a LiDAR-only batch leaves out (all or none).
CAMERA_KEYS: tuple[str, ...] = ("imgs", "intrins", "post_rots", "post_trans", "cam2ego", "depth")
BATCH_LIST_KEYS: tuple[str, ...] = ("points", "radar", "gt_boxes", "gt_labels", "gt_attrs", "sample_tokens")
DETECTION_KEYS: tuple[str, ...] = ("boxes", "scores", "labels", "attrs")
#: Column of a ``points`` row holding the time lag in seconds (0 for the key sweep).
POINT_TIME_LAG = 4


def key_sweep(points: torch.Tensor) -> torch.Tensor:
    """The rows of one sample's ``points`` ``(P, 5)`` that belong to the key sweep (time lag 0).

    Accumulated previous sweeps are in the key ego frame but were taken earlier, so moving
    objects sit where they were then: anything measuring geometry at the key time (depth
    supervision, points inside GT boxes) must use the key sweep only. Works on numpy arrays too.
    """
    return points[points[:, POINT_TIME_LAG] == 0]


@runtime_checkable
class BEVModel(Protocol):
    """What every entry's model provides (structural type, checked at registration)."""

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]: ...

    def loss(self, batch: dict[str, Any], outputs: dict[str, Any]) -> dict[str, torch.Tensor]: ...

    def decode(self, batch: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, torch.Tensor]]: ...


def validate_batch(batch: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the key when ``batch`` breaks the batch contract
    (a camera batch, or a LiDAR-only one without any of :data:`CAMERA_KEYS`)."""
    camera = any(k in batch for k in CAMERA_KEYS)
    tensor_keys = {k: n for k, n in BATCH_TENSOR_KEYS.items() if camera or k not in CAMERA_KEYS}
    missing = [k for k in (*tensor_keys, *BATCH_LIST_KEYS) if k not in batch]
    if missing:
        raise ValueError(f"batch lacks keys {missing}")
    bsz = len(batch["sample_tokens"])
    n_views = batch["imgs"].shape[1] if camera else 0
    for key, ndim in tensor_keys.items():
        value = batch[key]
        if not isinstance(value, torch.Tensor) or value.ndim != ndim:
            raise ValueError(
                f"batch[{key!r}] must be a tensor with {ndim} dims, got {getattr(value, 'shape', type(value))}"
            )
        if value.shape[0] != bsz or (ndim >= 3 and key not in ("ego2global", "bda") and value.shape[1] != n_views):
            raise ValueError(f"batch[{key!r}] has shape {tuple(value.shape)}; expected batch {bsz} and {n_views} views")
    for key in BATCH_LIST_KEYS:
        if len(batch[key]) != bsz:
            raise ValueError(f"batch[{key!r}] has {len(batch[key])} items; expected {bsz}")
    for i, boxes in enumerate(batch["gt_boxes"]):
        if boxes.ndim != 2 or boxes.shape[1] != 9:
            raise ValueError(f"batch['gt_boxes'][{i}] must be (M, 9), got {tuple(boxes.shape)}")


#: Name of the optional method a model's module defines to load the weights it starts from
#: (e.g. an ImageNet backbone). :func:`load_pretrained` calls it once, when a training starts
#: from scratch: not when it resumes, and never to predict, where the checkpoint holds every weight.
PRETRAINED_HOOK = "load_pretrained"


def load_pretrained(model: torch.nn.Module) -> int:
    """Call :data:`PRETRAINED_HOOK` on every trainable module of ``model`` that defines it; returns how many.

    A frozen module (no parameter requiring gradients, e.g. a distillation teacher loaded from
    its checkpoint) keeps its weights.
    """
    called = 0
    for module in model.modules():
        hook = getattr(module, PRETRAINED_HOOK, None)
        if callable(hook) and any(p.requires_grad for p in module.parameters()):
            hook()
            called += 1
    return called
