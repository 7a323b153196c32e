"""``bevdepth4d``: BEVDepth with BEVDet4D's temporal fusion of the previous key frame's BEV."""

from __future__ import annotations

from typing import Any

from baselines.bevdepth import DEPTH_LOSS_WEIGHT
from baselines.common.config import CameraEntryConfig
from baselines.common.detector import CameraBEVDetector
from baselines.common.profiles import camera_profiles
from robobench.registry import register_entry

#: The entry's profiles (distillation entries derive theirs from these).
PROFILES = camera_profiles(
    data={"prev_frame": True}, depth_loss_weight=DEPTH_LOSS_WEIGHT, camera_aware=True, temporal=True
)


@register_entry(
    "bevdepth4d",
    role="student",
    profiles=PROFILES,
    schema=CameraEntryConfig,
    description="BEVDepth4D: BEVDepth whose BEV is concatenated with the previous key frame's BEV warped by ego motion",
    paper=(
        "BEVDet4D: Exploit Temporal Cues in Multi-camera 3D Object Detection (arXiv 2203.17054); BEVDepth (AAAI 2023)"
    ),
    base="bevdepth",
)
def bevdepth4d(cfg: dict[str, Any]) -> CameraBEVDetector:
    """Build BEVDepth4D from a profile configuration."""
    return CameraBEVDetector(CameraEntryConfig.parse(cfg))
