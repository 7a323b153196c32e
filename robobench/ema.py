"""An exponential moving average of a model's weights, for evaluation.

The weights a training run ends on carry the noise of its last optimiser steps; their
moving average (Polyak averaging; BEVDet's and BEVDepth's configs evaluate it through an
EMA hook) is smoother, and a smoother end point moves less from one seed to the next,
which is what a benchmark's statistical power needs. ``train.ema_decay`` turns it on
(default 0: off, until measured on this benchmark); the checkpoint then carries the
average beside the raw weights and prediction uses it (:func:`inference_weights`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class WeightEMA:
    """``shadow = d * shadow + (1 - d) * weights`` after every optimiser step, for every floating-point
    parameter and buffer (BatchNorm statistics included); integer buffers are copied.

    ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates (TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``), so the average forgets its random
    initialisation within the first steps instead of after ``1 / (1 - decay)`` of them.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow: dict[str, torch.Tensor] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current weights into the average."""
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for name, value in model.state_dict().items():
            avg = self.shadow[name]
            if avg.dtype.is_floating_point:
                avg.mul_(d).add_(value.detach().to(avg.dtype), alpha=1.0 - d)
            else:
                avg.copy_(value)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint stores (tensors and numbers only: it loads with ``weights_only=True``)."""
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the average of a checkpoint (on resume)."""
        self.updates = int(state["updates"])
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)


def inference_weights(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights to evaluate from a training checkpoint: its EMA when it has one, else its raw weights."""
    ema = checkpoint.get("ema")
    return ema["shadow"] if ema else checkpoint["model"]
