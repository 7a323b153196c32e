"""``centerpoint``: CenterPoint (Yin et al., CVPR 2021) with a PointPillars encoder, the LiDAR teacher."""

from __future__ import annotations

from typing import Any

from baselines.common.detector import PillarBEVDetector
from baselines.common.profiles import lidar_profiles
from robobench.registry import register_entry


@register_entry(
    "centerpoint",
    role="teacher",
    profiles=lidar_profiles(),
    description="CenterPoint-Pillar: dynamic PointPillars encoder, BEV ResNet, CenterPoint head on the students' BEV grid",
    paper="Center-based 3D Object Detection and Tracking (CVPR 2021)",
)
def centerpoint(cfg: dict[str, Any]) -> PillarBEVDetector:
    """Build the pillar CenterPoint teacher from a profile configuration."""
    return PillarBEVDetector(cfg)
