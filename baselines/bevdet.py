"""``bevdet``: BEVDet (Huang et al., 2021), lift-splat without depth supervision, CenterPoint head."""

from __future__ import annotations

from typing import Any

from baselines.common.config import CameraEntryConfig
from baselines.common.detector import CameraBEVDetector
from baselines.common.profiles import camera_profiles
from robobench.registry import register_entry

#: The entry's profiles (distillation entries derive theirs from these).
PROFILES = camera_profiles(depth_loss_weight=0.0)


@register_entry(
    "bevdet",
    role="student",
    profiles=PROFILES,
    schema=CameraEntryConfig,
    description=(
        "BEVDet: ResNet + FPN, LSS view transformer (depth learnt from detection only), BEV ResNet, CenterPoint head"
    ),
    paper="BEVDet: High-performance Multi-camera 3D Object Detection in Bird-Eye-View (arXiv 2112.11790)",
)
def bevdet(cfg: dict[str, Any]) -> CameraBEVDetector:
    """Build BEVDet from a profile configuration."""
    return CameraBEVDetector(CameraEntryConfig.parse(cfg))
