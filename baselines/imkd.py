"""``bevdepth-radar-imkd``: IMKD (Mishra et al., WACV 2026, arXiv 2512.15581) on the camera-radar student.

IMKD distils a LiDAR teacher into a camera-radar fusion student in three "intensity-aware"
stages. The authors released no code and the paper text we work from is the abstract, so
this is a re-implementation; every choice below is ours, the simplest reading we found
consistent with the abstract.

Models
------
* Student: ``bevdepth-radar`` (:class:`~baselines.bevdepth_radar.CameraRadarBEVDetector`:
  bevdepth's camera LSS BEV + radar pillar BEV, fused in BEV, bevdepth's BEV encoder, head
  and decoding). Teacher: ``centerpoint`` (pillar LiDAR CenterPoint on the same BEV grid),
  frozen, through :class:`~baselines.distill.distiller.Distiller` (loaded from
  ``teacher_checkpoint``, trained first by the trainer when absent). The teacher runs on the
  student's batches, so these carry its ``data.lidar_sweeps``
  (:func:`baselines.centerpoint.student_data`). Inference runs the student alone: no LiDAR
  at test time.

Intensity
---------
* The *intensity* of a BEV feature map is, per cell, the L2 norm of its feature vector over
  channels divided by the sample's maximum (``[0, 1]``;
  :func:`~baselines.distill.imkd_losses.bev_intensity`). It is a feature-response intensity,
  not the LiDAR return intensity or the radar RCS (those are per-point inputs of the pillar
  encoders and shape the maps' responses).
* Masks come from intensities only, never from hand-set thresholds: the LiDAR pillar map is
  exactly zero where no LiDAR point falls, so its intensity is also its occupancy (in the
  ``nuscenes`` profile the teacher's finer pillars pass strided convs first, so there the
  mask is soft); stage 2 multiplies the teacher's intensity by the class-agnostic Gaussian
  foreground of the GT boxes (:func:`~baselines.distill.dense.gaussian_foreground`, the
  student head's heatmap targets collapsed over classes).

Stages
------
1. LiDAR-to-radar intensity-aware feature distillation (term ``imkd_radar``): the radar BEV
   map (``outputs["bev_radar"]``, before fusion) through a 1x1 conv adapter to the teacher's
   pillar channels imitates the teacher's pillar BEV map (``bev_raw``, before its BEV
   encoder: the same level of the network), with the squared error per cell summed over
   channels and weighted by the teacher map's intensity, ``sum W (A(R) - T)^2 / sum W``.
   The radar branch is taught structure where the LiDAR sees it, more where the LiDAR
   responds more.
2. LiDAR-to-fused intensity-guided distillation (term ``imkd_fused``): the student's BEV
   encoder output (``outputs["bev"]``, the fused representation the head reads) through the
   distiller's ``bev`` adapter imitates the teacher's ``bev`` with weight ``I(T_bev) * G``:
   only object cells, in proportion to the LiDAR response there. The camera map is never
   pushed towards LiDAR features (only the radar branch, in stage 1, and the fused output
   here), so the fusion is free to combine what each sensor does best (the abstract's
   "complementarity rather than alignment").
3. Camera-radar intensity-guided fusion (model part, :class:`IntensityGuidedFusion`,
   ``model.imkd.fusion = "intensity"``): a 3x3 conv over ``[camera, radar, I(radar)]``
   predicts one sigmoid gate per cell for each modality; the gated maps are concatenated and
   fused by conv + BN + ReLU. ``I(radar)`` is detached (a guide, not a feature). With the
   stage off, the plain concat + conv fusion of ``bevdepth-radar`` is used.

Weights
-------
Both loss terms have weight 1 (the abstract gives none; the same normalised form weighted 1
is the repository's BEVDistill-style dense baseline, ``bevdet-dense-fg``), added to the
student's own losses (heatmap, box, BEVDepth depth BCE x 3): with a trained teacher and a
fresh student both terms start at the scale of the heatmap loss, so no term needs its own
weight to be heard. The two adapters (1x1 conv for stage 1, the distiller's two-conv
``bev`` adapter for stage 2) exist in training only; inference runs the student.

Entries
-------
``bevdepth-radar-imkd`` (all three stages) and the ablations ``-no1`` (no ``imkd_radar``),
``-no2`` (no ``imkd_fused``), ``-no3`` (concat fusion instead of the intensity-guided one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from baselines import bevdepth_radar, centerpoint
from baselines.bevdepth_radar import CameraRadarBEVDetector, ConcatFusion, FusionFactory
from baselines.common.backbone import conv_bn_relu
from baselines.common.config import RadarCameraEntryConfig, RadarCameraModelConfig
from baselines.distill import dense, imkd_losses
from baselines.distill.distiller import TERMS, Distiller, Term, TermContext, distilled
from robobench.config import PositiveInt, deep_merge
from robobench.errors import UserError
from robobench.registry import register_entry

TEACHER = "centerpoint"
PAPER = "IMKD: Intensity-Aware Multi-Level Knowledge Distillation for Camera-Radar Fusion (WACV 2026, arXiv 2512.15581)"
#: Stage 1 and stage 2 term weights (module docstring, "Weights").
STAGE_WEIGHTS: dict[str, float] = {"imkd_radar": 1.0, "imkd_fused": 1.0}


class IntensityGuidedFusion(nn.Module):
    """Stage 3: per-cell sigmoid gates for camera and radar from ``[cam, radar, I(radar)]``, then concat + conv."""

    def __init__(self, cam_channels: int, radar_channels: int, out_channels: int) -> None:
        super().__init__()
        self.gate = nn.Conv2d(cam_channels + radar_channels + 1, 2, 3, padding=1)
        self.fuse = conv_bn_relu(cam_channels + radar_channels, out_channels)

    def forward(self, cam: torch.Tensor, radar: torch.Tensor) -> torch.Tensor:
        intensity = imkd_losses.bev_intensity(radar.detach())[:, None]
        gates = torch.sigmoid(self.gate(torch.cat([cam, radar, intensity], dim=1)))
        return self.fuse(torch.cat([cam * gates[:, :1], radar * gates[:, 1:]], dim=1))


FUSIONS: dict[str, FusionFactory] = {"intensity": IntensityGuidedFusion, "concat": ConcatFusion}


def _radar_term(ctx: TermContext) -> torch.Tensor:
    """Stage 1 on the distiller's ``radar`` adapter (built by :class:`IMKDDistiller`)."""
    d = ctx.distiller
    radar = d.to_teacher_size(d.adapters["radar"](ctx.student["bev_radar"]))
    return imkd_losses.radar_distill_loss(radar, ctx.teacher["bev_raw"])


def _fused_term(ctx: TermContext) -> torch.Tensor:
    """Stage 2 on the distiller's ``bev`` adapter, weighted by the GT Gaussian foreground."""
    d = ctx.distiller
    fg = dense.gaussian_foreground(d.student.head, ctx.batch["gt_boxes"], ctx.batch["gt_labels"]).to(
        ctx.student["bev"].device
    )
    return imkd_losses.fused_distill_loss(
        d.adapt_bev(ctx.student["bev"]), ctx.teacher["bev"], d.to_teacher_size(fg[:, None])[:, 0]
    )


_IMKD_TERMS = {"imkd_radar": Term(_radar_term), "imkd_fused": Term(_fused_term, "bev")}
for _name, _term in _IMKD_TERMS.items():
    if TERMS.setdefault(_name, _term) is not _term:
        raise RuntimeError(f"distillation term {_name!r} is already defined")


class IMKDDistiller(Distiller):
    """The distiller plus stage 1's radar adapter (1x1 conv, radar channels -> the teacher's pillar channels).

    ``model.imkd.teacher_raw_channels`` gives that width (the teacher profile's pillar
    channels); the loaded teacher must match it.
    """

    def __init__(self, student: CameraRadarBEVDetector, cfg: IMKDEntryConfig) -> None:
        super().__init__(student, cfg)
        self.teacher_raw_channels = cfg.model.imkd.teacher_raw_channels
        if "imkd_radar" in self.weights:
            self.adapters["radar"] = nn.Conv2d(student.radar.out_channels, self.teacher_raw_channels, 1)

    def set_teacher(self, teacher: nn.Module) -> None:
        """As the base class, and the teacher's pillar map must have ``teacher_raw_channels`` channels."""
        channels = teacher.pillars.out_channels
        if channels != self.teacher_raw_channels:
            raise UserError(
                f"teacher {self.teacher_name!r} has {channels} pillar channels but model.imkd.teacher_raw_channels is "
                f"{self.teacher_raw_channels}; set it to {channels}"
            )
        super().set_teacher(teacher)


@dataclass(frozen=True)
class IMKDConfig:
    """``model.imkd``: ``fusion`` (stage 3 on: ``"intensity"``, off: ``"concat"``; :data:`FUSIONS`) and
    ``teacher_raw_channels`` (the teacher's pillar channels, stage 1's adapter output)."""

    fusion: Literal["intensity", "concat"]
    teacher_raw_channels: PositiveInt


@dataclass(frozen=True)
class IMKDModelConfig(RadarCameraModelConfig):
    """The camera-radar student's ``model`` section plus ``imkd`` (required: :func:`imkd_profiles` sets it)."""

    imkd: IMKDConfig | None = None


@dataclass(frozen=True)
class IMKDStudentConfig(RadarCameraEntryConfig):
    """The camera-radar student configured for IMKD (its ``model.imkd`` section)."""

    model: IMKDModelConfig = field(default_factory=IMKDModelConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model.imkd is None:
            raise UserError(
                "model.imkd is missing; it needs fusion and teacher_raw_channels (see baselines.imkd.imkd_profiles)"
            )


#: An IMKD entry's configuration: the student's and the ``distill`` section.
IMKDEntryConfig = distilled(IMKDStudentConfig)


def build_imkd(cfg: dict[str, Any]) -> IMKDDistiller:
    """The camera-radar student with the configured fusion (``model.imkd.fusion``), wrapped in the IMKD distiller."""
    typed = IMKDEntryConfig.parse(cfg)
    return IMKDDistiller(CameraRadarBEVDetector(typed, FUSIONS[typed.model.imkd.fusion]), typed)


def imkd_profiles(terms: dict[str, float], fusion: str) -> dict[str, dict[str, Any]]:
    """``bevdepth-radar``'s profiles plus the teacher (and its data keys, :func:`baselines.centerpoint.student_data`),
    the stage terms and the fusion choice."""
    out = {}
    for profile, base in bevdepth_radar.PROFILES.items():
        teacher_model = centerpoint.PROFILES[profile]["model"]
        imkd = {"fusion": fusion, "teacher_raw_channels": teacher_model["pillars"]["channels"]}
        distill = {
            "teacher": TEACHER,
            "teacher_bev_channels": teacher_model["bev_encoder"]["out_channels"],
            "terms": dict(terms),
        }
        out[profile] = deep_merge(
            base, {"data": centerpoint.student_data(profile), "model": {"imkd": imkd}, "distill": distill}
        )
    return out


#: name -> (stage terms, fusion, description).
VARIANTS: dict[str, tuple[dict[str, float], str, str]] = {
    "bevdepth-radar-imkd": (STAGE_WEIGHTS, "intensity", "bevdepth-radar + IMKD's three stages from CenterPoint"),
    "bevdepth-radar-imkd-no1": (
        {"imkd_fused": STAGE_WEIGHTS["imkd_fused"]},
        "intensity",
        "IMKD ablation: no LiDAR-to-radar distillation (stage 1 off)",
    ),
    "bevdepth-radar-imkd-no2": (
        {"imkd_radar": STAGE_WEIGHTS["imkd_radar"]},
        "intensity",
        "IMKD ablation: no LiDAR-to-fused distillation (stage 2 off)",
    ),
    "bevdepth-radar-imkd-no3": (
        STAGE_WEIGHTS,
        "concat",
        "IMKD ablation: concat + conv fusion instead of intensity-guided fusion (stage 3 off)",
    ),
}

for _entry, (_terms, _fusion, _description) in VARIANTS.items():
    register_entry(
        _entry,
        role="distill",
        profiles=imkd_profiles(_terms, _fusion),
        description=_description,
        paper=PAPER,
        base="bevdepth-radar",
        teacher=TEACHER,
        schema=IMKDEntryConfig,
    )(build_imkd)
