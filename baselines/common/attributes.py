"""Attribute assignment from class and predicted speed, as mmdetection3d's nuScenes formatting does.

Detectors of this family do not predict attributes; the nuScenes result writer picks
one from the class and the speed ``|v|`` of the predicted velocity:

* ``|v| > 0.2 m/s``: car, truck, bus, trailer, construction_vehicle -> ``vehicle.moving``;
  bicycle, motorcycle -> ``cycle.with_rider``; pedestrian -> ``pedestrian.moving``.
* otherwise: pedestrian -> ``pedestrian.standing``; bus -> ``vehicle.stopped``; the other
  vehicles -> ``vehicle.parked``; bicycle, motorcycle -> ``cycle.without_rider``.
* traffic_cone and barrier have no attribute (index ``-1``, written as ``""``).
"""

from __future__ import annotations

import torch

from robobench.constants import ATTRIBUTES, DETECTION_CLASSES

MOVING_SPEED = 0.2  # m/s

_VEHICLES = ("car", "truck", "bus", "trailer", "construction_vehicle")
_CYCLES = ("bicycle", "motorcycle")


def _table() -> tuple[list[int], list[int]]:
    """Attribute index per class when moving and when not moving (-1 = none)."""
    moving, still = [], []
    for name in DETECTION_CLASSES:
        if name in _VEHICLES:
            moving.append(ATTRIBUTES.index("vehicle.moving"))
            still.append(ATTRIBUTES.index("vehicle.stopped" if name == "bus" else "vehicle.parked"))
        elif name in _CYCLES:
            moving.append(ATTRIBUTES.index("cycle.with_rider"))
            still.append(ATTRIBUTES.index("cycle.without_rider"))
        elif name == "pedestrian":
            moving.append(ATTRIBUTES.index("pedestrian.moving"))
            still.append(ATTRIBUTES.index("pedestrian.standing"))
        else:
            moving.append(-1)
            still.append(-1)
    return moving, still


_MOVING, _STILL = _table()


def assign_attributes(labels: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
    """Attribute indices ``(K,)`` into ``ATTRIBUTES`` (or -1) for class ``labels (K,)`` and ``velocity (K, 2)``."""
    moving = torch.linalg.norm(velocity, dim=-1) > MOVING_SPEED
    table_moving = torch.tensor(_MOVING, device=labels.device)
    table_still = torch.tensor(_STILL, device=labels.device)
    return torch.where(moving, table_moving[labels], table_still[labels])
