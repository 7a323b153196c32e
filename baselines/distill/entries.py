"""Distillation entries: RayD3D, TiGDistill-BEV and the dense-feature baseline, with the papers' ablations.

Every entry is one row of :data:`RECIPES`: a base student, the distillation terms with their
weights, and method options. Its ``quick``/``full``/``large``/``nuscenes`` profiles are the base
student's profiles deep-merged with ``{"distill": ...}`` (and any model override), so a
distilled student has exactly its base's architecture, data pipeline and schedule, except that
its batches carry the teacher's LiDAR sweeps (:func:`baselines.centerpoint.student_data`: the
frozen teacher runs on them). The teacher is ``centerpoint`` for all of them; the adapters read
the teacher's BEV channel count from its profile of the same name.

Loss weights
------------
* RayD3D, eq. 10: ``L = L_RCD + L_RWD + L_SRC + L_RES`` -- every term weighted 1. The module
  ablations of Table 4 ("RCD only", "RWD only") drop the other module and RES, so each row
  isolates one module; the Table 5/6 variants keep all three terms and change one switch.
* TiGDistill-BEV (authors' public configuration, docs/methods.md): inner depth 1, inter-channel
  10, inter-keypoint 100, and the student's own absolute depth BCE weighted 100 (BEVDepth's
  ``depth_loss_weight`` is 3). The absolute-depth weight is part of the recipe, so every
  TiGDistill entry (ablations included) uses 100 and differs from the others in the
  inner-geometry terms only.
* Dense baselines: weight 1 (both papers' "naive" comparison gives no weight).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from baselines import bevdepth, bevdepth4d, bevdet, bevformer, centerpoint
from baselines.common.config import CameraEntryConfig
from baselines.common.detector import CameraBEVDetector
from baselines.distill.distiller import Distiller, distilled
from baselines.distill.tigdistill import TiGConfig
from robobench.config import deep_merge
from robobench.registry import register_entry
from robobench.train import EntryConfig

TEACHER = "centerpoint"
RAYD3D_PAPER = (
    "RayD3D: Distilling Depth Knowledge Along the Ray for Robust Multi-View 3D Object Detection (arXiv 2603.07493)"
)
TIG_PAPER = "TiGDistill-BEV: Multi-view BEV 3D Object Detection via Target Inner-Geometry Learning Distillation"
DENSE_PAPER = "BEVDistill: Cross-Modal BEV Distillation for Multi-View 3D Object Detection (ICLR 2023), dense term"

#: Base students: their profiles, configuration schema and model class (the distilled student is the same model).
STUDENTS: dict[str, tuple[dict[str, dict[str, Any]], type[EntryConfig], Callable[[Any], nn.Module]]] = {
    "bevdet": (bevdet.PROFILES, CameraEntryConfig, CameraBEVDetector),
    "bevdepth": (bevdepth.PROFILES, CameraEntryConfig, CameraBEVDetector),
    "bevdepth4d": (bevdepth4d.PROFILES, CameraEntryConfig, CameraBEVDetector),
    "bevformer": (bevformer.PROFILES, bevformer.BEVFormerEntryConfig, bevformer.BEVFormerDetector),
}

#: RayD3D eq. 10: RCD + RWD + RES, each weight 1.
RAYD3D_TERMS = {"rcd": 1.0, "rwd": 1.0, "res": 1.0}
_TIG = TiGConfig()
TIG_TERMS = {
    "tig_depth": _TIG.weight_inner_depth,
    "tig_ic": _TIG.weight_inter_channel,
    "tig_ik": _TIG.weight_inter_keypoint,
}
#: TiGDistill-BEV's absolute depth BCE weight replaces the base student's.
TIG_MODEL = {"depth_loss_weight": _TIG.weight_abs_depth}


@dataclass(frozen=True)
class Recipe:
    """One distillation entry: base student, weighted terms, method options, model overrides."""

    name: str
    base: str
    terms: dict[str, float]
    description: str
    paper: str
    options: dict[str, Any] = field(default_factory=dict)  # {"rayd3d": {...}} / {"tig": {...}}
    model: dict[str, Any] = field(default_factory=dict)


def _only(terms: dict[str, float], *names: str) -> dict[str, float]:
    return {n: terms[n] for n in names}


RECIPES: tuple[Recipe, ...] = (
    Recipe("bevdet-rayd3d", "bevdet", RAYD3D_TERMS, "BEVDet + RayD3D (RCD + RWD + RES) from CenterPoint", RAYD3D_PAPER),
    Recipe(
        "bevdepth4d-rayd3d",
        "bevdepth4d",
        RAYD3D_TERMS,
        "BEVDepth4D + RayD3D (RCD + RWD + RES) from CenterPoint",
        RAYD3D_PAPER,
    ),
    Recipe(
        "bevformer-rayd3d",
        "bevformer",
        RAYD3D_TERMS,
        "BEVFormer-lite + RayD3D (RCD + RWD + RES) from CenterPoint",
        RAYD3D_PAPER,
    ),
    Recipe(
        "bevdet-rayd3d-rcd", "bevdet", _only(RAYD3D_TERMS, "rcd"), "RayD3D ablation (Table 4): RCD only", RAYD3D_PAPER
    ),
    Recipe(
        "bevdet-rayd3d-rwd", "bevdet", _only(RAYD3D_TERMS, "rwd"), "RayD3D ablation (Table 4): RWD only", RAYD3D_PAPER
    ),
    Recipe(
        "bevdet-rayd3d-randneg",
        "bevdet",
        RAYD3D_TERMS,
        "RayD3D ablation (Table 5): uniform random negatives on the ray",
        RAYD3D_PAPER,
        {"rayd3d": {"negatives": "random"}},
    ),
    Recipe(
        "bevdet-rayd3d-noteacherside",
        "bevdet",
        RAYD3D_TERMS,
        "RayD3D ablation (Table 5): no teacher-side sampling (eq. 3 off)",
        RAYD3D_PAPER,
        {"rayd3d": {"teacher_side": False}},
    ),
    Recipe(
        "bevdet-rayd3d-js",
        "bevdet",
        RAYD3D_TERMS,
        "RayD3D ablation (Table 6): JS divergence in RWD",
        RAYD3D_PAPER,
        {"rayd3d": {"divergence": "js"}},
    ),
    Recipe(
        "bevdet-rayd3d-cos",
        "bevdet",
        RAYD3D_TERMS,
        "RayD3D ablation (Table 6): cosine difference in RWD",
        RAYD3D_PAPER,
        {"rayd3d": {"divergence": "cosine"}},
    ),
    Recipe(
        "bevdepth-tig",
        "bevdepth",
        TIG_TERMS,
        "BEVDepth + TiGDistill-BEV (inner depth + inner feature) from CenterPoint",
        TIG_PAPER,
        model=TIG_MODEL,
    ),
    Recipe(
        "bevdepth-tig-depth",
        "bevdepth",
        _only(TIG_TERMS, "tig_depth"),
        "TiGDistill-BEV ablation (Table III): inner depth only",
        TIG_PAPER,
        model=TIG_MODEL,
    ),
    Recipe(
        "bevdepth-tig-feat",
        "bevdepth",
        _only(TIG_TERMS, "tig_ic", "tig_ik"),
        "TiGDistill-BEV ablation (Table III): inner-feature BEV distillation only",
        TIG_PAPER,
        model=TIG_MODEL,
    ),
    Recipe(
        "bevdepth-tig-ic",
        "bevdepth",
        _only(TIG_TERMS, "tig_ic"),
        "TiGDistill-BEV ablation (Table V): inter-channel only",
        TIG_PAPER,
        model=TIG_MODEL,
    ),
    Recipe(
        "bevdepth-tig-ik",
        "bevdepth",
        _only(TIG_TERMS, "tig_ik"),
        "TiGDistill-BEV ablation (Table V): inter-keypoint only",
        TIG_PAPER,
        model=TIG_MODEL,
    ),
    Recipe(
        "bevdet-dense", "bevdet", {"dense": 1.0}, "BEVDet + naive dense BEV feature MSE to CenterPoint", DENSE_PAPER
    ),
    Recipe(
        "bevdet-dense-fg",
        "bevdet",
        {"dense_fg": 1.0},
        "BEVDet + BEVDistill's foreground-weighted dense BEV MSE",
        DENSE_PAPER,
    ),
)


def recipe_profiles(recipe: Recipe) -> dict[str, dict[str, Any]]:
    """The base student's profiles merged with the recipe's ``distill`` section, model overrides and
    the teacher's data keys (:func:`baselines.centerpoint.student_data`)."""
    out = {}
    for profile, base_cfg in STUDENTS[recipe.base][0].items():
        distill = {
            "teacher": TEACHER,
            "teacher_bev_channels": centerpoint.PROFILES[profile]["model"]["bev_encoder"]["out_channels"],
            "terms": dict(recipe.terms),
            **recipe.options,
        }
        out[profile] = deep_merge(
            base_cfg, {"data": centerpoint.student_data(profile), "model": recipe.model, "distill": distill}
        )
    return out


def _builder(base: str) -> tuple[type[EntryConfig], Callable[[dict[str, Any]], Distiller]]:
    """The configuration schema of ``base`` distilled, and the builder of its distiller."""
    _, student_schema, model = STUDENTS[base]
    schema = distilled(student_schema)

    def build(cfg: dict[str, Any]) -> Distiller:
        typed = schema.parse(cfg)
        return Distiller(model(typed), typed)

    build.__doc__ = f"Build the {base} student wrapped in a distiller from a profile configuration."
    return schema, build


for _recipe in RECIPES:
    _schema, _build = _builder(_recipe.base)
    register_entry(
        _recipe.name,
        role="distill",
        profiles=recipe_profiles(_recipe),
        description=_recipe.description,
        paper=_recipe.paper,
        base=_recipe.base,
        teacher=TEACHER,
        schema=_schema,
    )(_build)
