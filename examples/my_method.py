"""Register your own methods without forking robobench: a student variant and a distillation recipe.

Use it with any command that takes ``--entry-file``::

    robobench entries --entry-file examples/my_method.py
    robobench sweep --entry-file examples/my_method.py --entries bevdet,my-bevdet-wide,my-bevdet-bevkd

Only the public API is used: :func:`robobench.registry.register_entry` /
:func:`~robobench.registry.get_entry` to build on a registered entry,
:func:`robobench.io.load_checkpoint` to read a trained teacher, and a loss from
``baselines.distill``. A builder takes the profile configuration (a dict) and returns
an ``nn.Module`` with ``forward(batch)``, ``loss(batch, outputs)`` and
``decode(batch, outputs)`` (see ``robobench.contract``).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from baselines.distill.dense import dense_mse_loss
from robobench.errors import UserError
from robobench.registry import get_entry, register_entry
from robobench.io import load_checkpoint

BEVDET = get_entry("bevdet")
TEACHER = "centerpoint"


# 1. A student variant: BEVDet with a backbone twice as wide. ``base="bevdet"`` makes the
#    leaderboard show its gain over BEVDet.
WIDE_PROFILES = copy.deepcopy(BEVDET.profiles)
for _cfg in WIDE_PROFILES.values():
    _cfg["model"]["backbone"]["width"] *= 2


@register_entry(
    "my-bevdet-wide",
    role="student",
    base="bevdet",
    profiles=WIDE_PROFILES,
    paper="https://example.org/my-paper",
)
def my_bevdet_wide(cfg: dict[str, Any]) -> nn.Module:
    """BEVDet with a backbone twice as wide (an example student variant)."""
    return BEVDET.build(cfg)


# 2. A distillation recipe: BEVDet trained to also imitate the frozen CenterPoint teacher's
#    BEV map (the dense MSE both distillation papers use as their baseline). The sweep trains
#    the teacher first and puts its checkpoint path into ``cfg["teacher_checkpoint"]``.


class DenseBEVDistiller(nn.Module):
    """A student plus a frozen teacher; training adds ``weight * MSE(adapter(student BEV), teacher BEV)``.

    At inference only the student runs (``forward`` skips the teacher outside training),
    so the recipe costs nothing at test time.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, channels: tuple[int, int], weight: float) -> None:
        super().__init__()
        self.student = student
        self.teacher = teacher.eval().requires_grad_(False)
        self.adapter = nn.Conv2d(channels[0], channels[1], kernel_size=1)
        self.weight = weight

    def train(self, mode: bool = True) -> "DenseBEVDistiller":
        super().train(mode)
        self.teacher.eval()  # the teacher stays frozen (no dropout/batch-norm updates)
        return self

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        outputs = self.student(batch)
        if self.training:
            with torch.no_grad():
                outputs["teacher_bev"] = self.teacher(batch)["bev"]
        return outputs

    def loss(self, batch: dict[str, Any], outputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        losses = self.student.loss(batch, outputs)
        if "teacher_bev" in outputs:
            student_bev = self.adapter(outputs["bev"])
            losses["distill_bev"] = self.weight * dense_mse_loss(student_bev, outputs["teacher_bev"])
        return losses

    def decode(self, batch: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, torch.Tensor]]:
        return self.student.decode(batch, outputs)


# Each profile carries the teacher's configuration of the same profile, so the teacher can be
# built (and its checkpoint loaded) with the right architecture. The teacher runs on the
# student's batch, so that batch must hold as many LiDAR sweeps as the teacher was trained on.
KD_PROFILES = copy.deepcopy(BEVDET.profiles)
for _name, _cfg in KD_PROFILES.items():
    _teacher_cfg = get_entry(TEACHER).config(_name)
    _cfg["distill"] = {"weight": 1.0, "teacher": _teacher_cfg}
    _cfg["data"]["lidar_sweeps"] = _teacher_cfg["data"]["lidar_sweeps"]


@register_entry(
    "my-bevdet-bevkd",
    role="distill",
    base="bevdet",
    teacher=TEACHER,
    profiles=KD_PROFILES,
    paper="https://example.org/my-paper",
)
def my_bevdet_bevkd(cfg: dict[str, Any]) -> nn.Module:
    """BEVDet distilled from CenterPoint's BEV features with a dense MSE (an example recipe)."""
    # BEVDet's builder checks its configuration strictly: it gets the config without the recipe's section.
    student = BEVDET.build({key: value for key, value in cfg.items() if key != "distill"})
    teacher = get_entry(TEACHER).build(cfg["distill"]["teacher"])
    # Without a checkpoint (e.g. `robobench entries --check`) the teacher starts untrained;
    # a trained distiller's saved weights include the teacher's anyway.
    if cfg.get("teacher_checkpoint") is not None:
        teacher.load_state_dict(load_checkpoint(cfg["teacher_checkpoint"])["model"])
    channels = (_bev_channels(student), _bev_channels(teacher))
    return DenseBEVDistiller(student, teacher, channels, float(cfg["distill"]["weight"]))


def _bev_channels(model: nn.Module) -> int:
    """Channels of the BEV map a built-in detector's ``forward`` returns as ``bev``."""
    encoder = getattr(model, "bev_encoder", None)
    if encoder is None or not hasattr(encoder, "out_channels"):
        raise UserError(
            f"{type(model).__name__} does not expose bev_encoder.out_channels; set the adapter size by hand"
        )
    return int(encoder.out_channels)
