"""nuScenes names shared by every part of the harness (devkit spelling and order)."""

from pathlib import Path
from typing import Final

from corruptions.api import DEFAULT_CAMERAS

#: The embedded default dataset (``make demo`` / ``robobench data synth`` writes it there)
#: and its devkit version folder: the defaults of every command's ``--dataroot``/``--version``.
DEFAULT_DATAROOT: Final[Path] = Path("data/synth-default")
DEFAULT_VERSION: Final[str] = "v1.0-synth"

#: The six cameras, in the order views are stacked in a batch (mmdet3d/BEVDet order).
#: Defined once in the dependency-free ``corruptions`` package (CameraCrash picks views by
#: this order) and re-exported here.
CAMERAS: Final[tuple[str, ...]] = DEFAULT_CAMERAS

LIDAR: Final[str] = "LIDAR_TOP"

RADARS: Final[tuple[str, ...]] = (
    "RADAR_FRONT",
    "RADAR_FRONT_LEFT",
    "RADAR_FRONT_RIGHT",
    "RADAR_BACK_LEFT",
    "RADAR_BACK_RIGHT",
)

#: The 10 detection classes of the devkit's ``detection_cvpr_2019`` config, in its order.
DETECTION_CLASSES: Final[tuple[str, ...]] = (
    "car",
    "truck",
    "bus",
    "trailer",
    "construction_vehicle",
    "pedestrian",
    "motorcycle",
    "bicycle",
    "traffic_cone",
    "barrier",
)

#: Classes TiGDistill-BEV (Table XII) counts as small objects.
SMALL_CLASSES: Final[tuple[str, ...]] = (
    "pedestrian",
    "motorcycle",
    "bicycle",
    "traffic_cone",
    "barrier",
)

#: The eight attribute names of nuScenes detection.
ATTRIBUTES: Final[tuple[str, ...]] = (
    "cycle.with_rider",
    "cycle.without_rider",
    "pedestrian.moving",
    "pedestrian.sitting_lying_down",
    "pedestrian.standing",
    "vehicle.moving",
    "vehicle.parked",
    "vehicle.stopped",
)

#: Scene-bootstrap replicates of NDS and mAP that a sweep and ``robobench evaluate`` store with each
#: result row by default (the evaluation noise behind the leaderboard's intervals; see robobench.stats).
BOOTSTRAP_REPLICATES: Final[int] = 200
