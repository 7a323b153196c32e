"""``centerpoint``: CenterPoint (Yin et al., CVPR 2021) with a PointPillars encoder, the LiDAR teacher.

It reads ``data.lidar_sweeps`` accumulated LiDAR sweeps with their time lag
(:data:`baselines.common.profiles.LIDAR_SWEEPS`). A distilled student's batch feeds the
frozen teacher, so distillation entries put :func:`student_data` into their students'
``data`` section.
"""

from __future__ import annotations

from typing import Any

from baselines.common.config import LidarEntryConfig
from baselines.common.detector import PillarBEVDetector
from baselines.common.profiles import lidar_profiles
from robobench.registry import register_entry

#: The entry's profiles (distillation entries read the teacher's BEV channels from these).
PROFILES = lidar_profiles()


def student_data(profile: str) -> dict[str, Any]:
    """The ``data`` keys a distillation student takes from the teacher's ``profile``.

    The teacher runs on the student's batch, so that batch must carry the LiDAR sweeps the
    teacher was trained with; the student's own depth supervision still sees the key sweep
    only (the Dataset builds depth maps from it).
    """
    return {"lidar_sweeps": PROFILES[profile]["data"]["lidar_sweeps"]}


@register_entry(
    "centerpoint",
    role="teacher",
    profiles=PROFILES,
    schema=LidarEntryConfig,
    description=(
        "CenterPoint-Pillar: dynamic PointPillars encoder, BEV ResNet, CenterPoint head on the students' BEV grid"
    ),
    paper="Center-based 3D Object Detection and Tracking (CVPR 2021)",
)
def centerpoint(cfg: dict[str, Any]) -> PillarBEVDetector:
    """Build the pillar CenterPoint teacher from a profile configuration."""
    return PillarBEVDetector(LidarEntryConfig.parse(cfg))
