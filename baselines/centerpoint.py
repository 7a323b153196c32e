"""``centerpoint``: CenterPoint (Yin et al., CVPR 2021) with a PointPillars encoder, the LiDAR teacher."""

from __future__ import annotations

from typing import Any

from baselines.common.detector import PillarBEVDetector
from baselines.common.profiles import lidar_profiles
from robobench.registry import register_entry

#: The entry's profiles (distillation entries read the teacher's BEV channels from these).
PROFILES = lidar_profiles()


@register_entry(
    "centerpoint",
    role="teacher",
    profiles=PROFILES,
    description="CenterPoint-Pillar: dynamic PointPillars encoder, BEV ResNet, CenterPoint head on the students' BEV grid",
    paper="Center-based 3D Object Detection and Tracking (CVPR 2021)",
)
def centerpoint(cfg: dict[str, Any]) -> PillarBEVDetector:
    """Build the pillar CenterPoint teacher from a profile configuration."""
    return PillarBEVDetector(cfg)
