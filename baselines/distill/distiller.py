"""The distiller: a camera student trained with a frozen LiDAR teacher and named distillation terms.

Configuration (``cfg["distill"]`` of a distillation entry; the rest of ``cfg`` is the
student's own profile)::

    {"teacher": "centerpoint",            # teacher entry (as the entry's ``teacher``)
     "teacher_bev_channels": 64,          # channels of the teacher's BEV map (adapter output)
     "terms": {"rcd": 1.0, "rwd": 1.0},   # term name -> weight (see TERMS)
     "rayd3d": {...},                     # RayD3DConfig fields (RCD/RWD options)
     "tig": {...}}                        # TiGConfig keypoint fields (inner-feature options)

The section is typed by :class:`DistillConfig` (:func:`distilled` adds it to a student's
configuration). The teacher's weights come from ``cfg["teacher_checkpoint"]`` (top level,
where the sweep and :func:`robobench.train.train_entry` put the path of the teacher's final
checkpoint; the training engine trains the teacher first when none is given). The teacher runs on the
student's batch, so the student's ``data.lidar_sweeps`` must be the number of LiDAR sweeps the
teacher was trained with (its ``lidar_sweeps``; the entries copy it from the teacher's profile,
:func:`baselines.centerpoint.student_data`); :meth:`Distiller.set_teacher` refuses a mismatch.
The teacher is loaded on the first training forward, with ``torch.load(weights_only=True)``,
then kept in eval mode with ``requires_grad_(False)`` and run under ``no_grad``. It is *not* a
registered sub-module, so it is neither in ``parameters()`` (the optimizer never sees it) nor
in ``state_dict()`` (checkpoints hold the student and the adapters only), and ``train()``
cannot switch it out of eval mode; ``to()``/``cuda()`` still move it.

Inference costs nothing extra: in eval mode ``forward`` runs the student alone, ``decode``
is the student's, and :meth:`Distiller.inference_model` hands the plain student (the base
entry's model class, same parameters) to :func:`robobench.predict.predict`.

BEV data augmentation (``data.bev_*``, BEVDet's BDA) needs nothing here: the batch's points
and GT boxes are in the augmented ego frame, which the teacher therefore reads, and the
student lifts its views into the same frame (the batch's ``bda``), so the two BEV maps stay
aligned cell for cell.

Adapters (trainable, used only in training): ``bev`` resizes the student's BEV map to the
teacher's with two conv layers (RayD3D: "two convolutional layers to resize feature maps of
camera to the same size as LiDAR"; 3x3 conv + BN + ReLU, then 1x1 conv, after a bilinear
resize when the grids differ in resolution); ``ic`` is TiGDistill-BEV's 1x1 conv on the
student's features before the inter-channel Gram. Only the adapters the configured terms
use are built.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from baselines.common.geometry import BEVGrid
from baselines.distill import dense, rayd3d, tigdistill
from robobench.config import NonNegativeFloat, PositiveInt, unknown_key_message
from robobench.data.dataset import DataConfig
from robobench.errors import UserError
from robobench.io import TEACHER_CHECKPOINT_KEY
from robobench.train import EntryConfig

E = TypeVar("E", bound=EntryConfig)


@dataclass(frozen=True)
class TermContext:
    """What a distillation term reads: the batch, both models' outputs and the distiller (adapters, settings)."""

    batch: dict[str, Any]
    student: dict[str, Any]
    teacher: dict[str, Any]
    distiller: Distiller


@dataclass(frozen=True)
class Term:
    """One named distillation term: its function and the adapter it needs (``None``: none)."""

    fn: Callable[[TermContext], torch.Tensor]
    adapter: str | None = None


def _adapted_bev(ctx: TermContext) -> torch.Tensor:
    return ctx.distiller.adapt_bev(ctx.student["bev"])


def _rcd(ctx: TermContext) -> torch.Tensor:
    d = ctx.distiller
    return rayd3d.rcd(
        _adapted_bev(ctx), ctx.teacher["bev"], ctx.batch["gt_boxes"], d.teacher_grid, d.rayd3d, d.negative_generator()
    )


def _rwd(ctx: TermContext) -> torch.Tensor:
    d = ctx.distiller
    return rayd3d.rwd(_adapted_bev(ctx), ctx.teacher["bev"], ctx.batch["gt_boxes"], d.teacher_grid, d.rayd3d)


def _res(ctx: TermContext) -> torch.Tensor:
    return rayd3d.response_loss(ctx.student["preds"], ctx.teacher["preds"])


def _tig_depth(ctx: TermContext) -> torch.Tensor:
    d = ctx.distiller
    student = d.student
    if ctx.student.get("depth") is None:
        raise UserError("distill term 'tig_depth' needs a student that predicts depth (outputs['depth'])")
    depth_min = d.data_cfg.depth_min
    ids = tigdistill.object_id_maps(ctx.batch, student.downsample, (depth_min, math.inf))
    return tigdistill.inner_depth_loss(
        ctx.student["depth"], ctx.batch["depth"], ids, student.bins.centres().to(ctx.student["depth"])
    )


def _tig_ic(ctx: TermContext) -> torch.Tensor:
    d = ctx.distiller
    student = d.to_teacher_size(d.adapters["ic"](ctx.student["bev"]))
    f_s, f_t = tigdistill.keypoint_features(student, ctx.teacher["bev"], ctx.batch["gt_boxes"], d.teacher_grid, d.tig)
    return tigdistill.inter_channel_loss(f_s, f_t)


def _tig_ik(ctx: TermContext) -> torch.Tensor:
    d = ctx.distiller
    student = d.to_teacher_size(ctx.student["bev"])
    f_s, f_t = tigdistill.keypoint_features(student, ctx.teacher["bev"], ctx.batch["gt_boxes"], d.teacher_grid, d.tig)
    return tigdistill.inter_keypoint_loss(f_s, f_t)


def _dense(ctx: TermContext) -> torch.Tensor:
    return dense.dense_mse_loss(_adapted_bev(ctx), ctx.teacher["bev"])


def _dense_fg(ctx: TermContext) -> torch.Tensor:
    d = ctx.distiller
    weight = dense.gaussian_foreground(d.student.head, ctx.batch["gt_boxes"], ctx.batch["gt_labels"]).to(
        ctx.student["bev"].device
    )
    return dense.fg_weighted_mse_loss(_adapted_bev(ctx), ctx.teacher["bev"], d.to_teacher_size(weight[:, None])[:, 0])


#: Every distillation term a config may name; the loss is reported as ``distill_<name>``.
TERMS: dict[str, Term] = {
    "rcd": Term(_rcd, "bev"),  # RayD3D eq. 1-4
    "rwd": Term(_rwd, "bev"),  # RayD3D eq. 5-8
    "res": Term(_res),  # RayD3D eq. 9
    "tig_depth": Term(_tig_depth),  # TiGDistill-BEV eq. 1-4
    "tig_ic": Term(_tig_ic, "ic"),  # TiGDistill-BEV eq. 5-6
    "tig_ik": Term(_tig_ik),  # TiGDistill-BEV eq. 7-8
    "dense": Term(_dense, "bev"),  # naive whole-map MSE
    "dense_fg": Term(_dense_fg, "bev"),  # BEVDistill foreground-weighted MSE
}


@dataclass(frozen=True)
class DistillConfig:
    """The ``distill`` section of a distillation entry (module docstring).

    ``teacher``: the teacher entry; ``teacher_bev_channels``: its BEV map's channels, the
    adapters' output (``None``: the student's); ``terms``: term name -> weight, over
    :data:`TERMS`; ``rayd3d``/``tig``: the RayD3D and TiGDistill-BEV options.
    """

    teacher: str
    teacher_bev_channels: PositiveInt | None = None
    terms: dict[str, NonNegativeFloat] = field(default_factory=dict)
    rayd3d: rayd3d.RayD3DConfig = field(default_factory=rayd3d.RayD3DConfig)
    tig: tigdistill.TiGConfig = field(default_factory=tigdistill.TiGConfig)

    def __post_init__(self) -> None:
        if not self.teacher:
            raise UserError("distill.teacher must name the teacher entry (e.g. 'centerpoint')")
        for name in self.terms:
            if name not in TERMS:
                raise UserError(unknown_key_message(f"distill.terms.{name}", list(TERMS)))
        if not self.terms:
            raise UserError(f"distill.terms must be a non-empty map of term -> weight over {', '.join(sorted(TERMS))}")


def distilled(schema: type[E]) -> type[E]:
    """The configuration of a distillation entry whose student is configured by ``schema``:
    ``schema`` plus a required ``distill`` section (:class:`DistillConfig`)."""

    def check(self: Any) -> None:
        getattr(schema, "__post_init__", lambda _: None)(self)
        if self.distill is None:
            raise UserError("a distillation entry needs a distill section (teacher, terms)")

    return make_dataclass(
        f"Distilled{schema.__name__}",
        [("distill", DistillConfig | None, field(default=None))],
        bases=(schema,),
        frozen=True,
        namespace={"__post_init__": check, "__doc__": f"{schema.__name__} plus the ``distill`` section."},
    )


def load_teacher(name: str, checkpoint: str | os.PathLike) -> nn.Module:
    """The frozen teacher: entry ``name`` rebuilt from the checkpoint's own config, its weights loaded.

    The checkpoint is read with ``weights_only=True``; it must have been trained for ``name``.
    The returned module is in eval mode with every parameter's ``requires_grad`` off.
    """
    from robobench.ema import inference_weights
    from robobench.registry import get_entry
    from robobench.io import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    trained_for = ckpt.get("meta", {}).get("entry")
    if trained_for not in (None, name):
        raise UserError(
            f"teacher checkpoint {checkpoint} was trained for entry {trained_for!r}, not the teacher {name!r}"
        )
    teacher = get_entry(name).build(ckpt["config"])
    teacher.load_state_dict(inference_weights(ckpt))  # the weight average when its training kept one
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher


class Distiller(nn.Module):
    """A student plus the distillation terms of ``cfg.distill`` against a frozen teacher (module docstring);
    ``cfg`` is the entry's typed configuration (a :func:`distilled` schema).

    ``forward`` returns the student's outputs and, in training mode, the teacher's under
    ``outputs["teacher"]``; ``loss`` returns the student's losses plus ``distill_<term>``,
    each already multiplied by its weight; ``decode`` is the student's.
    """

    def __init__(self, student: nn.Module, cfg: Any) -> None:
        super().__init__()
        dcfg: DistillConfig = cfg.distill
        self.student = student
        self.teacher_name: str = dcfg.teacher
        self.teacher_checkpoint: str | None = cfg.teacher_checkpoint
        self.weights = dict(dcfg.terms)
        self.rayd3d: rayd3d.RayD3DConfig = dcfg.rayd3d
        self.tig: tigdistill.TiGConfig = dcfg.tig
        self.data_cfg: DataConfig = cfg.data
        self.teacher_grid: BEVGrid = student.grid
        self.teacher_channels = dcfg.teacher_bev_channels or student.bev_encoder.out_channels
        c_s, c_t = student.bev_encoder.out_channels, self.teacher_channels
        needed = {TERMS[name].adapter for name in self.weights} - {None}
        builders: dict[str, Callable[[], nn.Module]] = {
            "bev": lambda: nn.Sequential(
                nn.Conv2d(c_s, c_t, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_t),
                nn.ReLU(inplace=True),
                nn.Conv2d(c_t, c_t, 1),
            ),
            "ic": lambda: nn.Conv2d(c_s, c_t, 1),
        }
        self.adapters = nn.ModuleDict({name: builders[name]() for name in sorted(needed)})
        self._teacher: list[nn.Module] = []  # a list keeps it out of sub-modules, parameters and state_dict

    # ------------------------------------------------------------------ teacher
    @property
    def teacher(self) -> nn.Module:
        """The frozen teacher, loaded from ``teacher_checkpoint`` on first use."""
        if not self._teacher:
            if not self.teacher_checkpoint:
                raise UserError(
                    f"distillation needs the trained teacher {self.teacher_name!r}: train with 'robobench train' "
                    f"(it trains the teacher first) or set the config key {TEACHER_CHECKPOINT_KEY!r} to its final.pt"
                )
            device = next(self.student.parameters()).device
            self.set_teacher(load_teacher(self.teacher_name, self.teacher_checkpoint).to(device))
        return self._teacher[0]

    def set_teacher(self, teacher: nn.Module) -> None:
        """Use ``teacher`` (frozen here: eval mode, no gradients); its BEV map must match the adapters, and
        a LiDAR teacher (one with ``lidar_sweeps``) must get as many sweeps as it was trained with."""
        teacher.eval()
        teacher.requires_grad_(False)
        trained = getattr(teacher, "lidar_sweeps", None)
        given = self.data_cfg.lidar_sweeps
        if trained is not None and trained != given:
            raise UserError(
                f"teacher {self.teacher_name!r} was trained on {trained} LiDAR sweeps but the student's batches carry "
                f"data.lidar_sweeps={given}; set data.lidar_sweeps to {trained} "
                "(the teacher runs on the student's batch)"
            )
        grid = teacher.grid
        s = self.student.grid
        if (grid.x_min, grid.x_max, grid.y_min, grid.y_max) != (s.x_min, s.x_max, s.y_min, s.y_max):
            raise UserError(
                f"teacher {self.teacher_name!r} covers a different BEV area ({grid}) than the student ({s})"
            )
        channels = teacher.bev_encoder.out_channels
        if channels != self.teacher_channels:
            raise UserError(
                f"teacher {self.teacher_name!r} has {channels} BEV channels but distill.teacher_bev_channels is "
                f"{self.teacher_channels}; set it to {channels}"
            )
        self.teacher_grid = grid
        self._teacher[:] = [teacher]

    def _apply(self, fn: Callable, recurse: bool = True) -> Distiller:  # type: ignore[override]
        super()._apply(fn, recurse)
        for teacher in self._teacher:
            teacher._apply(fn, recurse)
        return self

    def train(self, mode: bool = True) -> Distiller:
        """Switch the student and adapters; the teacher stays in eval mode."""
        super().train(mode)
        for teacher in self._teacher:
            teacher.eval()
        return self

    # ------------------------------------------------------------------ helpers for the terms
    def to_teacher_size(self, bev: torch.Tensor) -> torch.Tensor:
        """``bev`` bilinearly resized to the teacher's grid (identity when the grids already match)."""
        size = (self.teacher_grid.ny, self.teacher_grid.nx)
        if tuple(bev.shape[-2:]) == size:
            return bev
        return F.interpolate(bev, size=size, mode="bilinear", align_corners=False)

    def adapt_bev(self, bev: torch.Tensor) -> torch.Tensor:
        """The student's BEV map resized to the teacher's (grid, then the two-conv ``bev`` adapter)."""
        return self.adapters["bev"](self.to_teacher_size(bev))

    def negative_generator(self) -> torch.Generator:
        """A CPU generator for RCD's negatives, seeded from torch's global RNG
        (which training seeds and checkpoints).
        """
        return torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))

    # ------------------------------------------------------------------ model contract
    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The student's outputs; in training mode also the teacher's (``"teacher"``, computed without gradients)."""
        out = dict(self.student(batch))
        if self.training:
            with torch.no_grad():
                out["teacher"] = self.teacher(batch)
        return out

    def distill_losses(self, batch: dict[str, Any], outputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The weighted distillation terms, named ``distill_<term>``, in the order of :data:`TERMS`."""
        teacher_out = outputs.get("teacher")
        if teacher_out is None:
            raise UserError("distillation losses need the teacher's outputs: call the distiller in training mode")
        ctx = TermContext(batch, outputs, teacher_out, self)
        return {
            f"distill_{name}": self.weights[name] * term.fn(ctx) for name, term in TERMS.items() if name in self.weights
        }

    def loss(self, batch: dict[str, Any], outputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The student's own losses plus the weighted distillation terms (when the teacher ran)."""
        losses = dict(self.student.loss(batch, outputs))
        if "teacher" in outputs:
            losses.update(self.distill_losses(batch, outputs))
        return losses

    def decode(self, batch: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, torch.Tensor]]:
        """The student's detections."""
        return self.student.decode(batch, outputs)

    def inference_model(self) -> nn.Module:
        """The plain student (the base entry's model with these weights): what inference runs."""
        return self.student
