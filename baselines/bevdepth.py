"""``bevdepth``: BEVDepth (Li et al., AAAI 2023), LSS with LiDAR depth supervision and a camera-aware depth net."""

from __future__ import annotations

from typing import Any

from baselines.common.config import CameraEntryConfig
from baselines.common.detector import CameraBEVDetector
from baselines.common.profiles import camera_profiles
from robobench.registry import register_entry

#: BEVDepth's depth-loss weight (``loss_depth_weight=3.0`` in its configs).
DEPTH_LOSS_WEIGHT = 3.0
#: The entry's profiles (distillation entries derive theirs from these).
PROFILES = camera_profiles(depth_loss_weight=DEPTH_LOSS_WEIGHT, camera_aware=True)


@register_entry(
    "bevdepth",
    role="student",
    profiles=PROFILES,
    schema=CameraEntryConfig,
    description=(
        "BEVDepth: BEVDet plus binary cross-entropy supervision of the depth bins by projected LiDAR, "
        "camera-aware depth net"
    ),
    paper="BEVDepth: Acquisition of Reliable Depth for Multi-view 3D Object Detection (AAAI 2023)",
    base="bevdet",
)
def bevdepth(cfg: dict[str, Any]) -> CameraBEVDetector:
    """Build BEVDepth from a profile configuration."""
    return CameraBEVDetector(CameraEntryConfig.parse(cfg))
