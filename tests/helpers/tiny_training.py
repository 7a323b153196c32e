"""A tiny model trained by the training-engine tests, and the child process their resume and torchrun
tests start: ``python -m tests.helpers.tiny_training DATAROOT VERSION SPLIT OUT`` trains it slowly
(so that a test can kill it mid-run) with the same configuration as :func:`train_tiny`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from robobench.registry import Entry, Role
from robobench.train import train_entry
from tests.helpers.paths import ROOT

INPUT = [64, 176]


class TinyModel(nn.Module):
    """Implements the model contract: predicts each view's mean LiDAR depth from its image.

    Dropout makes the forward pass consume the torch RNG (so resume must restore it);
    ``model.nan_at`` makes the loss NaN on that forward call; ``model.sleep`` slows it
    down so that a test can kill it mid-run.
    """

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 5, stride=4)
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(8, 1)
        self.nan_at = cfg["model"].get("nan_at")
        self.sleep = cfg["model"].get("sleep", 0.0)
        self.calls = 0

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.sleep:
            time.sleep(self.sleep)
        b, n = batch["imgs"].shape[:2]
        feats = self.conv(batch["imgs"].flatten(0, 1)).relu().mean(dim=(2, 3))
        return {"bev": feats.view(b, n * 8, 1, 1), "preds": self.fc(self.drop(feats)).view(b, n)}

    def loss(self, batch: dict[str, Any], outputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        depth = batch["depth"]
        target = depth.sum(dim=(2, 3)) / (depth > 0).sum(dim=(2, 3)).clamp_min(1) / 10.0
        loss = ((outputs["preds"] - target) ** 2).mean()
        if self.nan_at is not None and self.calls >= self.nan_at:
            loss = loss * float("nan")
        return {"depth_mse": loss}

    def decode(self, batch: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, torch.Tensor]]:
        empty = {
            "boxes": torch.zeros(0, 9),
            "scores": torch.zeros(0),
            "labels": torch.zeros(0, dtype=torch.long),
            "attrs": torch.zeros(0, dtype=torch.long),
        }
        return [dict(empty) for _ in range(batch["imgs"].shape[0])]


def tiny_entry(**model: Any) -> Entry:
    """An unregistered entry of :class:`TinyModel` (``model`` keys go to its config), 3 short epochs."""
    cfg = {
        "data": {"input_size": INPUT, "depth_downsample": 8, "rot_lim": [-3.0, 3.0]},
        "model": dict(model),
        "train": {
            "epochs": 3,
            "batch_size": 2,
            "lr": 3e-2,
            "warmup_iters": 2,
            "grad_clip": 1.0,
            "num_workers": 0,
            "max_train_samples": 6,
            "checkpoint_every": 1,
        },
    }
    return Entry(name="tiny", role=Role.STUDENT, build=TinyModel, profiles={"quick": cfg})


def train_tiny(world: Any, out: Path, resume: bool = False, **model: Any) -> Path:
    """Train :func:`tiny_entry` (seed 5) on ``world``'s training split into ``out``."""
    return train_entry(
        tiny_entry(**model),
        "quick",
        "clean",
        seed=5,
        dataroot=world.dataroot,
        version=world.version,
        split=world.train_split,
        out_dir=out,
        resume=resume,
        progress=False,
    )


def child_command(world: Any, out: Path) -> list[str]:
    """The arguments after the interpreter (or after ``torchrun``'s options) that run this module as
    the child process training into ``out``."""
    return ["-m", "tests.helpers.tiny_training", str(world.dataroot), world.version, world.train_split, str(out)]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of the child process: this one's, ``extra``, and the repository on ``PYTHONPATH``
    so that ``tests.helpers`` imports wherever the child starts."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, **extra, "PYTHONPATH": path}


if __name__ == "__main__":  # the child process of the resume and torchrun tests
    dataroot, version, split, out_dir = sys.argv[1:5]
    train_tiny(SimpleNamespace(dataroot=Path(dataroot), version=version, train_split=split), Path(out_dir), sleep=0.3)
