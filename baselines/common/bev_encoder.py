"""BEV encoder: a small 2D ResNet with an LSS-style FPN back to the input resolution.

As BEVDet's ``CustomResNet`` + ``FPN_LSS``: strided residual stages, then the deepest
map is upsampled to the first stage's resolution, concatenated with it, mixed, and
upsampled to the BEV grid, so the output cells align with the input grid (and with a
teacher's BEV on the same grid).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from baselines.common.backbone import BasicBlock, conv_bn_relu


class BEVEncoder(nn.Module):
    """``(B, C_in, Y, X) -> (B, out_channels, Y, X)``.

    Config: ``channels`` per stage (each stage halves the resolution; default
    ``[2 C_in, 4 C_in, 8 C_in]``), ``blocks`` per stage (default 2), ``out_channels``.
    """

    def __init__(self, in_channels: int, cfg: dict[str, Any]) -> None:
        super().__init__()
        channels = [int(c) for c in cfg.get("channels", [2 * in_channels, 4 * in_channels, 8 * in_channels])]
        n_blocks = int(cfg.get("blocks", 2))
        self.out_channels = int(cfg.get("out_channels", 2 * in_channels))
        stages = []
        c_in = in_channels
        for c in channels:
            stages.append(nn.Sequential(BasicBlock(c_in, c, stride=2), *[BasicBlock(c, c) for _ in range(n_blocks - 1)]))
            c_in = c
        self.stages = nn.ModuleList(stages)
        self.lateral_scale = 2 ** (len(channels) - 1)
        self.fuse = nn.Sequential(conv_bn_relu(channels[0] + channels[-1], self.out_channels), conv_bn_relu(self.out_channels, self.out_channels))
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), conv_bn_relu(self.out_channels, self.out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        low = nn.functional.interpolate(feats[-1], size=feats[0].shape[-2:], mode="bilinear", align_corners=False)
        out = self.up(self.fuse(torch.cat([feats[0], low], dim=1)))
        if out.shape[-2:] != size:  # odd grid sizes
            out = nn.functional.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out
