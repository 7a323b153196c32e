"""Default configurations (``quick``, ``full``, ``large``, ``nuscenes``) shared by the built-in entries.

A profile is ``{"data": ..., "model": ..., "train": ...}``. Students and the teacher of a
profile share the BEV grid and the head settings, so their BEV maps align cell for cell
(what BEV distillation needs). Entries derive their profiles with
:func:`camera_profiles` / :func:`lidar_profiles` and a few model overrides.

* ``quick``: trains in a couple of minutes on 2 CPU cores (tests, demos); 128x352 input,
  narrow ResNet-18 layout, 64x64 BEV at 1.6 m, 30 depth bins of 2 m; at most 96 training
  samples, 6 epochs.
* ``full``: the benchmark's setting on the synthetic world: the quick 64x64 BEV at 1.6 m
  with the ``large`` image network (ResNet-18 layout at half width), 60 depth bins of 1 m,
  all 320 training samples for 30 epochs, sized to train one entry in well under an hour on
  2 CPU cores. Give the cores to one run at a time (``OMP_NUM_THREADS=2``): runs sharing them
  each take several times as long. The camera students are iteration-bound (their clean mAP
  kept rising between 10 and 30 epochs on the ``long`` world), so the budget is not cut below
  30 epochs.
* ``large``: ``full`` with the 128x128 BEV at 0.8 m and a lower learning rate; hours per entry
  on a CPU, so far run for ``centerpoint`` only.

The cost per sample and training step of each profile is measured by
``benchmarks/model_step_bench.py`` and ``benchmarks/stage_profile.py``; the wall time and peak
memory of each shipped ``full`` run are in its file under ``reference-results/``.
* ``nuscenes``: the papers' settings for GPU users: ResNet-50, 256x704, 24 epochs,
  128x128 BEV at 0.8 m, depth 1-60 m in 0.5 m bins; camera students with BEVDet's BEV data
  augmentation (:data:`CAMERA_BEV_AUG`) and, as in the papers, ImageNet weights in the
  backbone (torchvision's ``resnet50.IMAGENET1K_V1``, fetched on first use; set
  ``model.backbone.pretrained`` to a state-dict file or ``null`` instead).
"""

from __future__ import annotations

import copy
from typing import Any

from baselines.common.backbone import IMAGENET_RESNET50
from robobench.config import deep_merge

_BEV_64 = {"x": [-51.2, 51.2], "y": [-51.2, 51.2], "z": [-5.0, 3.0], "res": 1.6}
_BEV_128 = {"x": [-51.2, 51.2], "y": [-51.2, 51.2], "z": [-5.0, 3.0], "res": 0.8}

#: The benchmark's setting on the synthetic world (see the module docstring).
_FULL: dict[str, Any] = {
    "data": {"input_size": [128, 352], "depth_downsample": 16, "prev_frame": False, "radar": False},
    "model": {
        "bev": _BEV_64,
        "downsample": 16,
        "depth_bins": [1.0, 61.0, 1.0],
        "backbone": {"depth": 18, "width": 32, "layers": [2, 2, 2, 2]},
        "neck_channels": 128,
        "context_channels": 64,
        "bev_encoder": {"channels": [64, 128, 256], "blocks": 2, "out_channels": 64},
        "head": {"channels": 64, "branch_convs": False},
        "pillars": {"channels": 64, "subdivision": 1},
    },
    "train": {
        "epochs": 30,
        "batch_size": 4,
        "lr": 1e-3,
        "weight_decay": 1e-2,
        "warmup_iters": 50,
        "grad_clip": 5.0,
        "num_workers": "auto",  # in-process loading on 2 CPUs (robobench.train.loader_workers)
    },
}

BASE_PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "data": {"input_size": [128, 352], "depth_downsample": 16, "prev_frame": False, "radar": False},
        "model": {
            "bev": _BEV_64,
            "downsample": 16,
            "depth_bins": [1.0, 61.0, 2.0],
            "backbone": {"depth": 18, "width": 16, "layers": [1, 1, 1, 1]},
            "neck_channels": 64,
            "context_channels": 32,
            "bev_encoder": {"channels": [32, 64, 128], "blocks": 1, "out_channels": 64},
            "head": {"channels": 32, "branch_convs": False},
            "pillars": {"channels": 32, "subdivision": 1},
        },
        "train": {
            "epochs": 6,
            "batch_size": 2,
            "lr": 1e-3,
            "weight_decay": 1e-2,
            "warmup_iters": 20,
            "grad_clip": 5.0,
            "num_workers": 0,
            "max_train_samples": 96,
        },
    },
    "full": _FULL,
    #: ``full`` on the 128x128 BEV at 0.8 m with a lower learning rate and a longer warm-up
    "large": deep_merge(_FULL, {"model": {"bev": _BEV_128}, "train": {"lr": 5e-4, "warmup_iters": 200}}),
    "nuscenes": {
        "data": {"input_size": [256, 704], "depth_downsample": 16, "prev_frame": False, "radar": False},
        "model": {
            "bev": _BEV_128,
            "downsample": 16,
            "depth_bins": [1.0, 60.0, 0.5],
            "backbone": {"depth": 50, "width": 64, "pretrained": IMAGENET_RESNET50},
            "neck_channels": 256,
            "context_channels": 80,
            "depth_blocks": 2,
            "bev_encoder": {"channels": [160, 320, 640], "blocks": 2, "out_channels": 256},
            "head": {"channels": 64, "branch_convs": True},
            "pillars": {"channels": 64, "subdivision": 4},
        },
        "train": {
            "epochs": 24,
            "batch_size": 8,
            "lr": 2e-4,
            "weight_decay": 1e-2,
            "warmup_iters": 500,
            "grad_clip": 5.0,
            "num_workers": 4,
        },
    },
}

_CAMERA_ONLY = ("downsample", "depth_bins", "backbone", "neck_channels", "context_channels", "depth_blocks")

#: BEVDet's BEV data augmentation (``bda_aug_conf``: rotation of +-22.5 degrees, scaling
#: 0.95-1.05, x/y flips) for the camera students, per profile. Only ``nuscenes`` (the papers'
#: setting) has it; the synthetic profiles train without it until it is measured there.
CAMERA_BEV_AUG: dict[str, dict[str, Any]] = {
    "nuscenes": {"bev_rot_lim": [-22.5, 22.5], "bev_scale_lim": [0.95, 1.05], "bev_flip": True},
}


def camera_profiles(data: dict[str, Any] | None = None, **model: Any) -> dict[str, dict[str, Any]]:
    """The base profiles for a camera student, with ``model`` keys and ``data`` keys overridden in every profile.

    Students do not consume LiDAR points (``data.lidar = False``); depth supervision reads
    the batch's depth maps, which the Dataset always provides. :data:`CAMERA_BEV_AUG` is on
    where it names the profile.
    """
    out = {}
    for name, base in BASE_PROFILES.items():
        prof = copy.deepcopy(base)
        prof["model"].pop("pillars")
        prof["model"].update(copy.deepcopy(model))
        prof["data"].update(
            {"lidar": False, "camera": True, **copy.deepcopy(CAMERA_BEV_AUG.get(name, {})), **(data or {})}
        )
        out[name] = prof
    return out


_LIDAR_ROT_SCALE: dict[str, Any] = {"bev_rot_lim": [-45.0, 45.0], "bev_scale_lim": [0.9, 1.1], "bev_flip": False}

#: CenterPoint's global augmentation on nuScenes (rotation of +-pi/4, scaling 0.9-1.1, x/y
#: flips), per profile. Without any of it the teacher overfitted its training samples of the
#: ``long`` world. The synthetic profiles leave the flips out: at 1.6 m pillars the teacher
#: reads a vehicle's heading sense and direction of travel mostly from the right-hand traffic
#: layout, which a flip reverses; on the ``long`` world (``full``, 30 epochs) flips cost it NDS
#: and multiplied its orientation and velocity errors (runs without a file; README's status
#: section).
LIDAR_BEV_AUG: dict[str, dict[str, Any]] = {
    "quick": _LIDAR_ROT_SCALE,
    "full": _LIDAR_ROT_SCALE,
    "large": _LIDAR_ROT_SCALE,
    "nuscenes": {**_LIDAR_ROT_SCALE, "bev_flip": True},
}

#: LiDAR sweeps a teacher accumulates per profile (``data.lidar_sweeps``), so that motion is
#: observable. ``nuscenes``: CenterPoint's 10 (the key sweep and 9 previous 20 Hz sweeps,
#: 0.45 s). Synthetic profiles: 2; the default synthetic world writes LiDAR only at key
#: frames, so the previous sweep is the previous key frame, 0.5 s back (the same span), and
#: its vehicles move 2-6 m in that time; a third sweep would smear them over up to 12 m.
#: On a world written with ``robobench data synth --lidar-sweeps N`` the previous sweep is
#: a non-key one, ``0.5 / (N + 1)`` s back, as on nuScenes.
LIDAR_SWEEPS: dict[str, int] = {"quick": 2, "full": 2, "large": 2, "nuscenes": 10}


def lidar_profiles(**model: Any) -> dict[str, dict[str, Any]]:
    """The base profiles for a LiDAR teacher (image-network keys removed, the BEV encoder's
    ``full_res_skip`` on, ``model`` overrides applied, :data:`LIDAR_BEV_AUG` of the profile,
    :data:`LIDAR_SWEEPS` sweeps)."""
    out = {}
    for name, base in BASE_PROFILES.items():
        prof = copy.deepcopy(base)
        for key in _CAMERA_ONLY:
            prof["model"].pop(key, None)
        prof["model"]["bev_encoder"]["full_res_skip"] = True
        prof["model"].update(copy.deepcopy(model))
        prof["data"].update(
            {"lidar": True, "camera": False, "lidar_sweeps": LIDAR_SWEEPS[name], **copy.deepcopy(LIDAR_BEV_AUG[name])}
        )
        out[name] = prof
    return out
