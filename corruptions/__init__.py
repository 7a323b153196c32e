"""The eight RoboBEV camera corruptions (numpy in, numpy out; no torch, no devkit).

>>> from corruptions import corrupt, corrupt_views
>>> foggy = corrupt(image, "Fog", "hard", seed=0, sample_token=token, camera="CAM_FRONT")
>>> views_c = corrupt_views(views, "CameraCrash", "mid", seed=0, sample_token=token)
"""

from corruptions.api import (
    DEFAULT_CAMERAS,
    ENGINES,
    VIEW_LEVEL,
    corrupt,
    corrupt_views,
    crashed_cameras,
    frame_lost,
)
from corruptions.spec import CORRUPTIONS, LEVELS, SEVERITY, canonical_level, canonical_name, severity_of

__all__ = [
    "CORRUPTIONS",
    "DEFAULT_CAMERAS",
    "ENGINES",
    "LEVELS",
    "SEVERITY",
    "VIEW_LEVEL",
    "canonical_level",
    "canonical_name",
    "corrupt",
    "corrupt_views",
    "crashed_cameras",
    "frame_lost",
    "severity_of",
]
