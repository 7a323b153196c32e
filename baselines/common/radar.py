"""Radar BEV encoder: dynamic PointPillars over radar points (CRN and RCBEVDet also encode radar with pillars).

Input is the batch's ``radar`` list (:mod:`robobench.contract`): per sample ``(R, 7)`` rows
``x, y, z, rcs, vx, vy, time lag`` in the key ego frame, velocities ego-motion compensated.
Each point enters :class:`~baselines.common.pillars.PillarEncoder` with its four
measurements (RCS, compensated ``vx``/``vy`` and time lag: ``point_features = 4``) plus the
PointPillars offsets, so a pillar's feature is the max over its radar returns. Points of
several accumulated sweeps (``data.radar_sweeps``, read by the Dataset) are handled the
same way: the time lag (key LiDAR time minus the sweep's) tells them apart.

Radar returns are sparse (a few per object), so one 3x3 conv after the scatter spreads
each return to its neighbouring cells before fusion.

With fewer than two points on the grid in a training batch, BatchNorm cannot normalise
the PFN's output; the points are then duplicated, which changes no pillar (same mean,
same max) and lets the batch statistics be computed.
"""

from __future__ import annotations

import torch
from torch import nn

from baselines.common.backbone import conv_bn_relu
from baselines.common.geometry import BEVGrid
from baselines.common.pillars import PillarEncoder

#: Columns of a radar row after ``x, y, z``: RCS, compensated vx, vy, time lag.
RADAR_POINT_FEATURES = 4
#: Width of a radar row in the batch contract.
RADAR_DIM = 3 + RADAR_POINT_FEATURES


class RadarEncoder(nn.Module):
    """``list[B] of (R, 7) radar points -> (B, out_channels, Y, X)`` on ``grid``."""

    def __init__(self, grid: BEVGrid, channels: int = 32, subdivision: int = 1) -> None:
        super().__init__()
        self.grid = grid
        self.pillars = PillarEncoder(grid, channels, subdivision, point_features=RADAR_POINT_FEATURES)
        self.spread = conv_bn_relu(channels, channels)
        self.out_channels = channels

    def forward(self, radar: list[torch.Tensor]) -> torch.Tensor:
        if any(p.ndim != 2 or p.shape[1] < RADAR_DIM for p in radar):
            raise ValueError(f"radar points must be (R, {RADAR_DIM}) per sample, got {[tuple(p.shape) for p in radar]}")
        if self.training and self._points_on_grid(radar) == 1:
            radar = [p.repeat(2, 1) for p in radar]
        return self.spread(self.pillars(radar))

    def _points_on_grid(self, radar: list[torch.Tensor]) -> int:
        return sum(int(self.grid.cell_index(p[:, :3].float())[2].sum()) for p in radar)
