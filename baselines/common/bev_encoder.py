"""BEV encoder: a small 2D ResNet with an LSS-style FPN back to the input resolution.

As BEVDet's ``CustomResNet`` + ``FPN_LSS``: strided residual stages, then the deepest
map is upsampled to the first stage's resolution, concatenated with it, mixed, and
upsampled to the BEV grid, so the output cells align with the input grid (and with a
teacher's BEV on the same grid).

The finest map that path mixes is at stride 2, so the head sees the input grid only
through a bilinear upsampling. A LiDAR teacher's pillar canvas carries where the points
lie inside each cell (the PFN's offsets), and CenterPoint's SECOND-FPN keeps a map at the
output stride; ``full_res_skip`` adds that: the input, through one conv, is concatenated
with the upsampled output and mixed. The LiDAR teacher has it on; the camera students keep
BEVDet's layout (their splatted features carry no sub-cell position). The teacher got the
skip because without it, on the default world's ``full`` profile, it localised markedly worse
(higher mATE, lower NDS) at almost the same training time; the run with it is
``reference-results/synth-default-full/centerpoint-seed0.json``, the one without it has no file.
"""

from __future__ import annotations

import torch
from torch import nn

from baselines.common.backbone import BasicBlock, conv_bn_relu
from baselines.common.config import BEVEncoderConfig


class BEVEncoder(nn.Module):
    """``(B, C_in, Y, X) -> (B, out_channels, Y, X)``.

    Configured by :class:`~baselines.common.config.BEVEncoderConfig` (``full_res_skip``: see the
    module docstring).
    """

    def __init__(self, in_channels: int, cfg: BEVEncoderConfig) -> None:
        super().__init__()
        channels = list(cfg.channels or (2 * in_channels, 4 * in_channels, 8 * in_channels))
        n_blocks = cfg.blocks
        self.out_channels = cfg.out_channels or 2 * in_channels
        stages = []
        c_in = in_channels
        for c in channels:
            stages.append(
                nn.Sequential(BasicBlock(c_in, c, stride=2), *[BasicBlock(c, c) for _ in range(n_blocks - 1)])
            )
            c_in = c
        self.stages = nn.ModuleList(stages)
        self.lateral_scale = 2 ** (len(channels) - 1)
        self.fuse = nn.Sequential(
            conv_bn_relu(channels[0] + channels[-1], self.out_channels),
            conv_bn_relu(self.out_channels, self.out_channels),
        )
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            conv_bn_relu(self.out_channels, self.out_channels),
        )
        self.skip: nn.Module | None = None
        if cfg.full_res_skip:
            self.skip = conv_bn_relu(in_channels, self.out_channels)
            self.merge = conv_bn_relu(2 * self.out_channels, self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        x_in = x
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        low = nn.functional.interpolate(feats[-1], size=feats[0].shape[-2:], mode="bilinear", align_corners=False)
        out = self.up(self.fuse(torch.cat([feats[0], low], dim=1)))
        if out.shape[-2:] != size:  # odd grid sizes
            out = nn.functional.interpolate(out, size=size, mode="bilinear", align_corners=False)
        if self.skip is not None:
            out = self.merge(torch.cat([out, self.skip(x_in)], dim=1))
        return out
