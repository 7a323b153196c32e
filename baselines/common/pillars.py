"""PointPillars-style LiDAR encoder (Lang et al., CVPR 2019) with dynamic pillars.

Each point gets the 9 features of PointPillars (x, y, z, intensity, offsets to its
pillar's point mean, offsets to the pillar's centre in x and y), one linear layer + BN +
ReLU (the PFN), and a max over the points of each pillar; the pillar features are
scattered into the BEV canvas. Pillars are "dynamic" (every point kept, no per-pillar
cap; mmdetection3d's ``DynamicPillarFeatureNet``), computed with ``index_add_`` and
``scatter_reduce`` over all points of the batch at once.

With ``subdivision = s > 1`` the pillars are ``res / s`` wide and ``log2 s`` strided
convs bring the canvas to the BEV grid (CenterPoint's 0.2 m pillars at output stride 4),
so the teacher's BEV map always shares the students' grid.

``point_features`` says how many per-point measurements follow ``x, y, z`` in each
point row (LiDAR: intensity, plus the time lag when sweeps are accumulated, see
:func:`baselines.common.detector.lidar_point_features`; the radar encoder of
:mod:`baselines.common.radar` passes RCS, velocities and time lag); the PFN input is those
plus the 5 offsets.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from baselines.common.backbone import conv_bn_relu
from baselines.common.geometry import BEVGrid
from robobench.errors import UserError

#: Geometric features added to each point: offsets to the pillar's point mean (3) and centre (2).
N_OFFSET_FEATURES = 5


class PillarEncoder(nn.Module):
    """``list[B] of (P, >= 3 + point_features) points -> (B, out_channels, Y, X)`` on ``grid``."""

    def __init__(self, grid: BEVGrid, channels: int = 64, subdivision: int = 1, point_features: int = 1) -> None:
        super().__init__()
        if subdivision < 1 or subdivision & (subdivision - 1):
            raise UserError(f"model.pillars.subdivision must be a power of two >= 1, got {subdivision}")
        self.grid = grid
        self.pillar_grid = BEVGrid(
            grid.x_min, grid.x_max, grid.y_min, grid.y_max, grid.z_min, grid.z_max, grid.res / subdivision
        )
        self.point_features = point_features
        self.pfn = nn.Sequential(
            nn.Linear(3 + point_features + N_OFFSET_FEATURES, channels, bias=False),
            nn.BatchNorm1d(channels),
            nn.ReLU(inplace=True),
        )
        self.down = nn.Sequential(
            *[conv_bn_relu(channels, channels, stride=2) for _ in range(int(math.log2(subdivision)))]
        )
        self.out_channels = channels

    def forward(self, points: list[torch.Tensor]) -> torch.Tensor:
        g = self.pillar_grid
        dev = self.pfn[0].weight.device
        pts = torch.cat([p[:, : 3 + self.point_features].to(dev, torch.float32) for p in points])
        batch = torch.cat([torch.full((p.shape[0],), i, device=dev, dtype=torch.long) for i, p in enumerate(points)])
        ix, iy, inside = g.cell_index(pts[:, :3])
        pts, batch, ix, iy = pts[inside], batch[inside], ix[inside], iy[inside]
        n_cells = len(points) * g.ny * g.nx
        flat = (batch * g.ny + iy) * g.nx + ix
        count = torch.zeros(n_cells, device=dev).index_add_(0, flat, torch.ones_like(flat, dtype=torch.float32))
        mean = torch.zeros(n_cells, 3, device=dev).index_add_(0, flat, pts[:, :3]) / count.clamp(min=1)[:, None]
        centre_x = g.x_min + (ix.float() + 0.5) * g.res
        centre_y = g.y_min + (iy.float() + 0.5) * g.res
        feats = torch.cat(
            [pts, pts[:, :3] - mean[flat], (pts[:, 0] - centre_x)[:, None], (pts[:, 1] - centre_y)[:, None]], dim=1
        )
        feats = self.pfn(feats)
        canvas = feats.new_zeros(n_cells, feats.shape[1])
        canvas = canvas.scatter_reduce(0, flat[:, None].expand_as(feats), feats, "amax", include_self=False)
        canvas = canvas.view(len(points), g.ny, g.nx, -1).permute(0, 3, 1, 2).contiguous()
        return self.down(canvas)
