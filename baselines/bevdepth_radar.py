"""``bevdepth-radar``: BEVDepth's camera BEV fused with a radar pillar BEV (camera-radar student).

The camera branch is exactly ``bevdepth``'s (ResNet + FPN-lite, camera-aware LSS with
LiDAR depth supervision); the radar branch is :class:`~baselines.common.radar.RadarEncoder`
on the same BEV grid. The two maps are fused in BEV by concatenation and one 3x3 conv +
BN + ReLU back to the camera's context width (:class:`ConcatFusion`), so the BEV encoder,
the CenterPoint head, the losses and the decoding are bevdepth's unchanged.

``forward`` adds ``bev_cam`` (the LSS map) and ``bev_radar`` (the radar map) to the model
outputs; ``bev_raw`` is the fused map (the BEV encoder's input). Profiles are bevdepth's
with ``data.radar`` on, ``data.radar_sweeps`` set (:data:`RADAR_SWEEPS`) and a
``model.radar`` section (``channels``, ``subdivision``).
The radar is a separate sensor: the camera corruptions never touch it.

Radar sweeps per channel (``data.radar_sweeps``; the time lag of each point is a radar
feature, so the encoder can tell the sweeps apart):

* ``nuscenes``: 8, as CRN accumulates on nuScenes (``N_SWEEPS = 8`` in its radar BEV
  preprocessing script). nuScenes radar runs at ~13 Hz, so 8 sweeps span ~0.55 s.
* ``quick``, ``full``, ``large`` (synthetic world): 2. The synthetic world writes radar at
  key frames only, so the previous sweep is the previous key frame, 0.5 s back: the same
  ~0.5 s of history as on nuScenes. Its moving vehicles drive at 4-12 m/s, i.e. 2-6 m
  (1-4 cells of 1.6 m) between sweeps; a third sweep would smear them over up to 12 m.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from baselines import bevdepth
from baselines.common.backbone import conv_bn_relu
from baselines.common.config import RadarCameraEntryConfig, RadarConfig
from baselines.common.detector import CameraBEVDetector
from baselines.common.radar import RadarEncoder
from robobench.config import deep_merge
from robobench.registry import register_entry

#: Radar branch settings shared by every profile (``model.radar``): the defaults.
RADAR_MODEL: dict[str, int] = dataclasses.asdict(RadarConfig())


class ConcatFusion(nn.Module):
    """``cat([camera, radar]) -> conv3x3 + BN + ReLU -> out_channels`` (the plain BEV fusion)."""

    def __init__(self, cam_channels: int, radar_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = conv_bn_relu(cam_channels + radar_channels, out_channels)

    def forward(self, cam: torch.Tensor, radar: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([cam, radar], dim=1))


#: ``(camera channels, radar channels, output channels) -> module(cam, radar) -> fused``.
FusionFactory = Callable[[int, int, int], nn.Module]


class CameraRadarBEVDetector(CameraBEVDetector):
    """Camera LSS BEV + radar pillar BEV, fused by ``fusion`` before the shared BEV encoder and head."""

    def __init__(self, cfg: RadarCameraEntryConfig, fusion: FusionFactory = ConcatFusion) -> None:
        super().__init__(cfg)
        radar = cfg.model.radar
        self.radar = RadarEncoder(self.grid, radar.channels, radar.subdivision)
        context = cfg.model.context_channels
        self.fusion = fusion(context, self.radar.out_channels, context)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = self.lift(batch, batch["bda"])
        cam = out.pop("bev")
        radar = self.radar(batch["radar"])
        out["bev_cam"], out["bev_radar"] = cam, radar
        out["bev_raw"] = self.fusion(cam, radar)
        return self._finish(out, out["bev_raw"])


#: Radar sweeps accumulated per channel, per profile (``data.radar_sweeps``; see the module docstring).
RADAR_SWEEPS: dict[str, int] = {"quick": 2, "full": 2, "large": 2, "nuscenes": 8}

#: bevdepth's profiles with radar points loaded and the radar branch configured.
PROFILES = {
    name: deep_merge(
        cfg, {"data": {"radar": True, "radar_sweeps": RADAR_SWEEPS[name]}, "model": {"radar": RADAR_MODEL}}
    )
    for name, cfg in bevdepth.PROFILES.items()
}


@register_entry(
    "bevdepth-radar",
    role="student",
    profiles=PROFILES,
    schema=RadarCameraEntryConfig,
    description=(
        "BEVDepth camera BEV and a radar PointPillars BEV (RCS, compensated velocity, time lag) fused by concat + conv"
    ),
    paper="camera-radar BEV fusion student (the student of IMKD, arXiv 2512.15581)",
    base="bevdepth",
)
def bevdepth_radar(cfg: dict[str, Any]) -> CameraRadarBEVDetector:
    """Build the camera-radar fusion student from a profile configuration."""
    return CameraRadarBEVDetector(RadarCameraEntryConfig.parse(cfg))
