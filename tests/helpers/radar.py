"""Radar returns for contract batches."""

from __future__ import annotations

import torch

from baselines.common.radar import RADAR_DIM


def radar_on_boxes(boxes: torch.Tensor, per_box: int = 4, seed: int = 0) -> torch.Tensor:
    """``(M * per_box, 7)`` radar returns scattered within 0.3 m of each box centre, at bumper height."""
    gen = torch.Generator().manual_seed(seed)
    xy = boxes[:, None, :2] + (torch.rand(len(boxes), per_box, 2, generator=gen) - 0.5) * 0.6
    z = torch.full((len(boxes), per_box, 1), 0.5)
    meas = torch.randn(len(boxes), per_box, 4, generator=gen)  # rcs, vx, vy, time lag
    return torch.cat([xy, z, meas], dim=2).view(-1, RADAR_DIM)
