"""The synthetic world model: a street, an ego vehicle and the actors around it.

Everything here is analytic and deterministic given a seed: a scene is a straight
street (lanes, bike lanes, parking lanes, sidewalks, buildings) laid out in a *local*
frame (x along the street, y to the left, z up, ground at z = 0) that a rigid 2-D
transform places in the global frame. Actors move at constant velocity along their
lane, so every pose is a closed-form function of time and the sensors can be
sampled at their own timestamps.

An actor is an annotated object of one of the 10 nuScenes detection classes; its
visible geometry is a few axis-aligned (in the actor's frame) cuboid *parts* kept
strictly inside the annotation box (``PART_MARGIN`` smaller on every side, the box
bottom ``BOX_LIFT`` above the ground), so that LiDAR hits on the parts are inside the
annotated box robustly and ground returns never are. Clutter (buildings, poles,
trees, bins, benches) is made of the same cuboids but is not annotated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

#: Gap between an actor's annotation box and its visible parts (m), on every side.
PART_MARGIN = 0.05
#: Height of the annotation box bottom above the ground (m); the parts start at
#: ``BOX_LIFT + PART_MARGIN``, so ground returns are never inside a box.
BOX_LIFT = 0.02
#: Seconds between two key frames (nuScenes key frames are at 2 Hz).
KEYFRAME_DT = 0.5

# Cross-street layout (local y, metres; mirrored on the left side, y > 0).
LANES_Y = (1.75, 5.25)          # car lanes (centre lines), |y| < 7 is the road
BIKE_Y = 7.75                   # bike lane centre
PARK_Y = 9.75                   # parking lane centre
CURB_Y = 11.0                   # sidewalk starts
STREET_FURNITURE_Y = 11.7       # poles, trees, bins
PED_LANES_Y = (12.6, 13.6)      # pedestrian walking lines
BIKE_RACK_Y = 15.3              # parked bicycles/motorcycles
BUILDING_Y = 16.5               # building fronts


@dataclass(frozen=True)
class ClassSpec:
    """A detection class: devkit category name, nuScenes-like size distribution (w, l, h)."""

    name: str
    category: str
    mean_wlh: tuple[float, float, float]
    std_wlh: tuple[float, float, float]
    rcs: float  # typical radar cross-section (dBsm)


CLASS_SPECS: dict[str, ClassSpec] = {
    s.name: s
    for s in (
        ClassSpec("car", "vehicle.car", (1.95, 4.62, 1.73), (0.18, 0.40, 0.20), 8.0),
        ClassSpec("truck", "vehicle.truck", (2.51, 6.93, 2.84), (0.30, 1.40, 0.45), 16.0),
        ClassSpec("bus", "vehicle.bus.rigid", (2.94, 11.19, 3.47), (0.15, 1.20, 0.25), 20.0),
        ClassSpec("trailer", "vehicle.trailer", (2.92, 12.28, 3.87), (0.25, 2.00, 0.30), 18.0),
        ClassSpec("construction_vehicle", "vehicle.construction", (2.73, 6.37, 3.19), (0.35, 1.10, 0.45), 15.0),
        ClassSpec("pedestrian", "human.pedestrian.adult", (0.67, 0.73, 1.77), (0.08, 0.12, 0.12), -6.0),
        ClassSpec("motorcycle", "vehicle.motorcycle", (0.77, 2.11, 1.47), (0.10, 0.20, 0.15), 2.0),
        ClassSpec("bicycle", "vehicle.bicycle", (0.60, 1.70, 1.28), (0.08, 0.15, 0.12), -3.0),
        ClassSpec("traffic_cone", "movable_object.trafficcone", (0.41, 0.41, 1.07), (0.06, 0.06, 0.15), -9.0),
        ClassSpec("barrier", "movable_object.barrier", (2.49, 0.48, 0.98), (0.35, 0.08, 0.08), 1.0),
    )
}

class Material(IntEnum):
    """Surface kind of a cuboid: which procedural texture the realistic renderer maps onto its faces
    (the flat renderer and the range sensors ignore it)."""

    PLAIN = 0
    FACADE = 1
    STOREFRONT = 2
    PAINT = 3
    GLASS = 4
    TYRE = 5
    LAMP = 6
    PLATE = 7
    CLOTH = 8
    SKIN = 9
    HAIR = 10
    FOLIAGE = 11
    BARK = 12
    METAL = 13
    CONCRETE = 14
    SIGN = 15
    CARGO = 16


# Material of each part role (see PART_LAYOUTS).
_ROLE_MATERIAL = {"paint": Material.PAINT, "cargo": Material.CARGO, "glass": Material.GLASS, "tyre": Material.TYRE,
                  "trim": Material.TYRE, "headlight": Material.LAMP, "taillight": Material.LAMP, "plate": Material.PLATE,
                  "shirt": Material.CLOTH, "pants": Material.CLOTH, "skin": Material.SKIN, "hair": Material.HAIR,
                  "helmet": Material.PAINT, "white": Material.PAINT}

# Parts in fractions of the actor's interior: (x0, x1, y0, y1, z0, z1) with x along the
# heading (0 = rear), y across (0 = right side), z up; colour role; LiDAR reflectivity.
_Part = tuple[tuple[float, float, float, float, float, float], str, float]

_WHEELS: list[_Part] = [((0.10, 0.26, 0.0, 1.0, 0.0, 0.28), "tyre", 8.0), ((0.74, 0.90, 0.0, 1.0, 0.0, 0.28), "tyre", 8.0)]
_RIDER: list[_Part] = [((0.30, 0.62, 0.12, 0.88, 0.52, 0.88), "shirt", 30.0), ((0.36, 0.56, 0.32, 0.68, 0.88, 1.0), "helmet", 40.0)]


def _lamps(z0: float, z1: float, front: bool = True) -> list[_Part]:
    """Tail lamps on the rear face and (``front``) head lamps on the front face, thin slabs proud of the body.

    They and the off-centre cabins tell a vehicle's front from its back, in the images (white
    vs red) and in the LiDAR (retro-reflective lamps, cabin profile), as on real vehicles;
    without them a vehicle's heading would be unobservable up to 180 degrees.
    """
    rear = [((0.0, 0.02, 0.04, 0.26, z0, z1), "taillight", 140.0), ((0.0, 0.02, 0.74, 0.96, z0, z1), "taillight", 140.0)]
    if not front:
        return rear
    return rear + [((0.98, 1.0, 0.04, 0.26, z0, z1), "headlight", 160.0), ((0.98, 1.0, 0.74, 0.96, z0, z1), "headlight", 160.0)]


PART_LAYOUTS: dict[str, list[_Part]] = {
    # The car's cabin sits behind the middle (long bonnet, short boot), as on a sedan.
    "car": [((0.02, 0.98, 0.0, 1.0, 0.16, 0.56), "paint", 60.0), ((0.14, 0.66, 0.05, 0.95, 0.56, 1.0), "glass", 15.0),
            *_WHEELS, *_lamps(0.38, 0.50)],
    "truck": [((0.02, 0.71, 0.0, 1.0, 0.14, 1.0), "cargo", 70.0), ((0.74, 0.98, 0.0, 1.0, 0.12, 0.62), "paint", 60.0),
              ((0.76, 0.98, 0.04, 0.96, 0.62, 0.84), "glass", 15.0), ((0.06, 0.18, 0.0, 1.0, 0.0, 0.14), "tyre", 8.0),
              ((0.80, 0.92, 0.0, 1.0, 0.0, 0.14), "tyre", 8.0), *_lamps(0.18, 0.28)],
    # The bus's windscreen reaches lower than its side windows.
    "bus": [((0.02, 0.98, 0.0, 1.0, 0.09, 0.58), "paint", 60.0), ((0.02, 0.93, 0.0, 1.0, 0.58, 0.87), "glass", 15.0),
            ((0.93, 0.98, 0.02, 0.98, 0.32, 0.87), "glass", 15.0),
            ((0.02, 0.98, 0.0, 1.0, 0.87, 1.0), "paint", 60.0), ((0.12, 0.22, 0.0, 1.0, 0.0, 0.09), "tyre", 8.0),
            ((0.78, 0.88, 0.0, 1.0, 0.0, 0.09), "tyre", 8.0), *_lamps(0.14, 0.24)],
    "trailer": [((0.02, 1.0, 0.0, 1.0, 0.26, 1.0), "cargo", 70.0), ((0.04, 0.96, 0.2, 0.8, 0.10, 0.26), "tyre", 10.0),
                ((0.05, 0.22, 0.0, 1.0, 0.0, 0.10), "tyre", 8.0), *_lamps(0.16, 0.24, front=False)],
    "construction_vehicle": [((0.02, 0.62, 0.0, 1.0, 0.14, 0.50), "paint", 55.0), ((0.18, 0.56, 0.08, 0.92, 0.50, 1.0), "glass", 20.0),
                             ((0.62, 1.0, 0.38, 0.62, 0.30, 0.78), "paint", 55.0), ((0.02, 0.62, 0.0, 1.0, 0.0, 0.14), "tyre", 8.0),
                             *_lamps(0.30, 0.40, front=False)],
    # A pedestrian's face looks forward, the hair is at the back of the head.
    "pedestrian": [((0.30, 0.70, 0.18, 0.82, 0.0, 0.48), "pants", 25.0), ((0.24, 0.76, 0.04, 0.96, 0.48, 0.86), "shirt", 30.0),
                   ((0.36, 0.50, 0.34, 0.66, 0.86, 1.0), "hair", 20.0), ((0.50, 0.64, 0.34, 0.66, 0.86, 1.0), "skin", 35.0)],
    "motorcycle": [((0.0, 1.0, 0.30, 0.70, 0.0, 0.52), "paint", 45.0), *_RIDER],
    "motorcycle_empty": [((0.0, 1.0, 0.30, 0.70, 0.0, 0.75), "paint", 45.0), ((0.55, 0.75, 0.0, 1.0, 0.75, 1.0), "tyre", 20.0)],
    "bicycle": [((0.0, 1.0, 0.42, 0.58, 0.0, 0.55), "paint", 25.0), *_RIDER],
    "bicycle_empty": [((0.0, 1.0, 0.42, 0.58, 0.0, 0.80), "paint", 25.0), ((0.65, 0.80, 0.0, 1.0, 0.80, 1.0), "tyre", 15.0)],
    "traffic_cone": [((0.0, 1.0, 0.0, 1.0, 0.0, 0.07), "tyre", 10.0), ((0.18, 0.82, 0.18, 0.82, 0.07, 0.48), "paint", 90.0),
                     ((0.28, 0.72, 0.28, 0.72, 0.48, 0.64), "white", 120.0), ((0.36, 0.64, 0.36, 0.64, 0.64, 1.0), "paint", 90.0)],
    "barrier": [((0.0, 1.0, 0.0, 0.34, 0.08, 1.0), "paint", 80.0), ((0.0, 1.0, 0.34, 0.66, 0.08, 1.0), "white", 110.0),
                ((0.0, 1.0, 0.66, 1.0, 0.08, 1.0), "paint", 80.0), ((0.15, 0.85, 0.0, 1.0, 0.0, 0.08), "tyre", 10.0)],
    "barrier_concrete": [((0.0, 1.0, 0.0, 1.0, 0.0, 0.25), "paint", 50.0), ((0.22, 0.78, 0.04, 0.96, 0.25, 1.0), "paint", 50.0)],
}



def _plates_bumpers(z_bumper: float, z_plate: tuple[float, float], front: bool = True) -> list[_Part]:
    """Number plates and dark bumpers on the rear (and ``front``) face, thin slabs proud of the body."""
    z0, z1 = z_plate
    rear = [((0.0, 0.02, 0.0, 1.0, 0.10, z_bumper), "trim", 20.0), ((0.0, 0.02, 0.38, 0.62, z0, z1), "plate", 150.0)]
    if not front:
        return rear
    return rear + [((0.98, 1.0, 0.0, 1.0, 0.10, z_bumper), "trim", 20.0), ((0.98, 1.0, 0.38, 0.62, z0, z1), "plate", 150.0)]


#: Layouts of the realistic world (generators 3 and 4) that add what makes the objects recognisable in real
#: images: number plates and bumpers on vehicles, separate legs and arms with hands on people.
DETAIL_LAYOUTS: dict[str, list[_Part]] = {
    "car": [*PART_LAYOUTS["car"], *_plates_bumpers(0.21, (0.24, 0.34))],
    "truck": [*PART_LAYOUTS["truck"], *_plates_bumpers(0.16, (0.19, 0.25))],
    "bus": [*PART_LAYOUTS["bus"], *_plates_bumpers(0.12, (0.15, 0.21))],
    "trailer": [*PART_LAYOUTS["trailer"], *_plates_bumpers(0.14, (0.18, 0.24), front=False)],
    "pedestrian": [((0.22, 0.46, 0.22, 0.46, 0.0, 0.48), "pants", 25.0), ((0.54, 0.78, 0.54, 0.78, 0.0, 0.48), "pants", 25.0),
                   ((0.32, 0.68, 0.20, 0.80, 0.48, 0.84), "shirt", 30.0),
                   ((0.36, 0.62, 0.03, 0.18, 0.52, 0.84), "shirt", 30.0), ((0.38, 0.60, 0.82, 0.97, 0.52, 0.84), "shirt", 30.0),
                   ((0.40, 0.56, 0.04, 0.17, 0.44, 0.52), "skin", 35.0), ((0.42, 0.58, 0.83, 0.96, 0.44, 0.52), "skin", 35.0),
                   ((0.36, 0.50, 0.34, 0.66, 0.86, 1.0), "hair", 20.0), ((0.50, 0.64, 0.34, 0.66, 0.86, 1.0), "skin", 35.0)],
}

# Base colours (RGB 0..1) per class and role; each actor draws one and jitters it.
_PAINTS: dict[str, list[tuple[float, float, float]]] = {
    "car": [(0.75, 0.08, 0.08), (0.10, 0.20, 0.60), (0.80, 0.80, 0.82), (0.93, 0.93, 0.92), (0.12, 0.12, 0.13),
            (0.45, 0.47, 0.50), (0.15, 0.40, 0.20), (0.55, 0.35, 0.20)],
    "truck": [(0.85, 0.85, 0.85), (0.20, 0.30, 0.70), (0.70, 0.10, 0.10), (0.95, 0.60, 0.10)],
    "bus": [(0.90, 0.75, 0.10), (0.15, 0.45, 0.75), (0.85, 0.20, 0.15), (0.92, 0.92, 0.92)],
    "trailer": [(0.80, 0.80, 0.78), (0.55, 0.58, 0.62), (0.20, 0.35, 0.60)],
    "construction_vehicle": [(0.95, 0.70, 0.05), (0.95, 0.45, 0.05)],
    "motorcycle": [(0.10, 0.10, 0.10), (0.70, 0.10, 0.10), (0.20, 0.20, 0.55)],
    "bicycle": [(0.10, 0.45, 0.20), (0.20, 0.20, 0.20), (0.80, 0.80, 0.10), (0.10, 0.50, 0.80)],
    "traffic_cone": [(1.0, 0.42, 0.05)],
    "barrier": [(0.85, 0.10, 0.08), (0.95, 0.55, 0.05)],
    "barrier_concrete": [(0.70, 0.70, 0.66)],
    "pedestrian": [(0.10, 0.12, 0.30)],
}
_CARGO = [(0.92, 0.92, 0.90), (0.70, 0.72, 0.75), (0.30, 0.45, 0.70), (0.85, 0.80, 0.65)]
_SHIRTS = [(0.80, 0.15, 0.15), (0.15, 0.35, 0.75), (0.95, 0.85, 0.20), (0.20, 0.60, 0.30), (0.92, 0.92, 0.92),
           (0.15, 0.15, 0.15), (0.60, 0.30, 0.60), (0.95, 0.50, 0.10)]
_PANTS = [(0.10, 0.12, 0.30), (0.15, 0.15, 0.15), (0.35, 0.30, 0.25), (0.45, 0.45, 0.50)]
_SKIN = [(0.95, 0.80, 0.65), (0.80, 0.60, 0.45), (0.55, 0.38, 0.25), (0.35, 0.24, 0.16)]
_FIXED = {"glass": (0.10, 0.13, 0.17), "tyre": (0.06, 0.06, 0.06), "white": (0.95, 0.95, 0.95), "helmet": (0.85, 0.85, 0.85),
          "headlight": (0.98, 0.96, 0.82), "taillight": (0.80, 0.04, 0.04), "hair": (0.16, 0.11, 0.07)}
_DETAIL_FIXED = {"plate": (0.92, 0.92, 0.88), "trim": (0.09, 0.09, 0.10)}


@dataclass
class Cuboids:
    """A set of yaw-rotated cuboids in the global frame (the renderer's and ray caster's input).

    ``owner`` is the index of the actor a cuboid belongs to, or -1 for clutter; ``material`` a
    :class:`Material` per cuboid.
    """

    center: np.ndarray      # (M, 3)
    half: np.ndarray        # (M, 3) half extents along the cuboid's own x (heading), y, z
    yaw: np.ndarray         # (M,)
    color: np.ndarray       # (M, 3) RGB in 0..1
    reflect: np.ndarray     # (M,) LiDAR intensity 0..255
    owner: np.ndarray       # (M,) int
    material: np.ndarray    # (M,) int, Material

    @staticmethod
    def concat(items: list[Cuboids]) -> Cuboids:
        """One set holding every cuboid of ``items`` in order."""
        return Cuboids(*(np.concatenate([getattr(c, f) for c in items]) for f in
                         ("center", "half", "yaw", "color", "reflect", "owner", "material")))

    def __len__(self) -> int:
        return len(self.yaw)

    def corners(self) -> np.ndarray:
        """(M, 8, 3) corners; bottom face first (counter-clockwise seen from above), then top."""
        sx = np.array([-1, 1, 1, -1, -1, 1, 1, -1.0])
        sy = np.array([-1, -1, 1, 1, -1, -1, 1, 1.0])
        sz = np.array([-1, -1, -1, -1, 1, 1, 1, 1.0])
        lx = self.half[:, None, 0] * sx
        ly = self.half[:, None, 1] * sy
        lz = self.half[:, None, 2] * sz
        c, s = np.cos(self.yaw)[:, None], np.sin(self.yaw)[:, None]
        return np.stack([self.center[:, None, 0] + c * lx - s * ly,
                         self.center[:, None, 1] + s * lx + c * ly,
                         self.center[:, None, 2] + lz], axis=-1)


@dataclass
class Actor:
    """An annotated object moving at constant velocity in the global frame.

    ``wlh`` is the nuScenes box size; the box centre is at height ``BOX_LIFT + h / 2``.
    Parts are stored in the actor's own frame (centre, half extents, colour, reflectivity).
    """

    cls: str
    category: str
    wlh: np.ndarray
    p0: np.ndarray          # (2,) global xy at t = 0 (scene start)
    vel: np.ndarray         # (2,) global velocity, m/s
    yaw: float              # heading in the global frame
    attribute: str          # devkit attribute name or "" (cones, barriers)
    part_center: np.ndarray  # (P, 3) in the actor frame, relative to the box centre
    part_half: np.ndarray   # (P, 3)
    part_color: np.ndarray  # (P, 3)
    part_reflect: np.ndarray  # (P,)
    part_material: np.ndarray  # (P,) Material

    def center(self, t: float) -> np.ndarray:
        """Box centre (x, y, z) in the global frame at scene time ``t`` (s)."""
        xy = self.p0 + self.vel * t
        return np.array([xy[0], xy[1], BOX_LIFT + self.wlh[2] / 2])


@dataclass
class Lighting:
    """Per-scene illumination: sun direction (towards the sun), ambient level, colour tints."""

    sun: np.ndarray          # (3,) unit vector, global frame
    ambient: float
    tint: np.ndarray         # (3,) multiplies every colour
    sky_top: np.ndarray      # (3,) RGB 0..1
    sky_horizon: np.ndarray  # (3,)
    shadow: float            # ground brightness factor inside shadows


#: Lighting conditions of the realistic world and their share of scenes, about as in nuScenes' 850
#: scenes (whose descriptions name ``night`` and ``rain``); rain falls in overcast and night scenes.
CONDITIONS = (("day", 0.45), ("overcast", 0.33), ("dusk", 0.10), ("night", 0.12))
_RAIN_CHANCE = {"overcast": 0.5, "night": 0.3}


@dataclass
class Look:
    """Photometric conditions of a realistic-world scene and the response of its cameras."""

    condition: str              # one of CONDITIONS
    rain: bool                  # wet road that mirrors the sky
    white_balance: np.ndarray   # (3,) RGB gains: the camera's white-balance error in this scene
    saturation: float           # colour kept against grey (0: grey, 1: the albedos' colour)
    exposure: float             # mean linear luminance the auto-exposure aims at
    noise: float                # sensor noise scale (1: a bright day; higher with the gain at night)
    cloud_cover: float          # 0..1
    haze_dist: float            # metres over which the air's transmittance falls to 1/e (visibility / 3.9)
    glare: float                # veiling glare of the lens facing the sun, as a fraction of the view's mean radiance

    def words(self) -> list[str]:
        """What nuScenes' scene descriptions say of the conditions: ``Night``, ``Rain`` (or nothing)."""
        return [w for w, on in (("Night", self.condition == "night"), ("Rain", self.rain)) if on]


@dataclass
class Scene:
    """One scene: its placement, ego motion, actors, static clutter, lighting, look."""

    name: str
    index: int
    n_frames: int
    origin: np.ndarray       # (2,) global position of the local origin
    heading: float           # global yaw of the local +x axis
    ego_speed: float
    ego_lane_y: float
    y_scale: float  # lateral stretch of the street layout (1 = the constants above)
    actors: list[Actor]
    clutter: Cuboids
    lighting: Lighting
    road_len: tuple[float, float]  # local x extent of the paved street
    look_seed: int           # seeds the ground texture
    description: str = ""
    look: Look | None = None  # realistic world only
    _parts: tuple | None = field(default=None, repr=False)  # stacked part arrays, built on first use

    def local_to_global(self, xy: np.ndarray) -> np.ndarray:
        """Map local street coordinates (..., 2) to global xy."""
        c, s = np.cos(self.heading), np.sin(self.heading)
        return np.stack([c * xy[..., 0] - s * xy[..., 1], s * xy[..., 0] + c * xy[..., 1]], axis=-1) + self.origin

    def ego_pose(self, t: float) -> tuple[np.ndarray, float]:
        """Ego (x, y, z = 0) in the global frame and its yaw at scene time ``t``."""
        xy = self.local_to_global(np.array([self.ego_speed * t, self.ego_lane_y]))
        return np.array([xy[0], xy[1], 0.0]), self.heading

    def ego_velocity(self) -> np.ndarray:
        """Ego velocity (vx, vy) in the global frame (constant)."""
        return self.ego_speed * np.array([np.cos(self.heading), np.sin(self.heading)])

    def actor_cuboids(self, t: float) -> Cuboids:
        """Every actor part at time ``t`` in the global frame."""
        if not self.actors:
            return _empty_cuboids()
        if self._parts is None:  # stacked once: part offsets, owners, actor motion
            owner = np.concatenate([np.full(len(a.part_center), i) for i, a in enumerate(self.actors)])
            self._parts = (
                owner, np.concatenate([a.part_center for a in self.actors]), np.concatenate([a.part_half for a in self.actors]),
                np.concatenate([a.part_color for a in self.actors]), np.concatenate([a.part_reflect for a in self.actors]),
                np.concatenate([a.part_material for a in self.actors]),
                np.array([a.yaw for a in self.actors])[owner], np.array([a.p0 for a in self.actors])[owner],
                np.array([a.vel for a in self.actors])[owner],
                np.array([BOX_LIFT + a.wlh[2] / 2 for a in self.actors])[owner])
        owner, pc, half, color, refl, material, yaw, p0, vel, cz = self._parts
        c, s = np.cos(yaw), np.sin(yaw)
        xy = p0 + vel * t
        centers = np.column_stack([xy[:, 0] + c * pc[:, 0] - s * pc[:, 1], xy[:, 1] + s * pc[:, 0] + c * pc[:, 1], cz + pc[:, 2]])
        return Cuboids(centers, half, yaw, color, refl, owner, material)

    def cuboids(self, t: float) -> Cuboids:
        """Actors and clutter at time ``t``."""
        return Cuboids.concat([self.actor_cuboids(t), self.clutter])


def _empty_cuboids() -> Cuboids:
    return Cuboids(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)), np.zeros(0), np.zeros(0, int),
                   np.zeros(0, int))


def _jitter(rng: np.random.Generator, rgb: tuple[float, float, float], amount: float = 0.06) -> np.ndarray:
    return np.clip(np.asarray(rgb) * rng.uniform(0.85, 1.1) + rng.normal(0, amount, 3), 0.02, 1.0)


def _sample_wlh(rng: np.random.Generator, spec: ClassSpec) -> np.ndarray:
    mean, std = np.asarray(spec.mean_wlh), np.asarray(spec.std_wlh)
    z = np.clip(rng.normal(size=3), -2.0, 2.0)
    return np.maximum(mean + std * z, 0.25)


def make_actor(rng: np.random.Generator, cls: str, p0: np.ndarray, yaw: float, vel: np.ndarray, attribute: str,
               layout: str | None = None, wlh: np.ndarray | None = None, detail: bool = False) -> Actor:
    """An actor of class ``cls`` with a random size/colour drawn around the class statistics; ``detail``
    uses the realistic world's :data:`DETAIL_LAYOUTS` (plates, bumpers, limbs) where one exists."""
    spec = CLASS_SPECS[cls]
    layout = layout or cls
    wlh = _sample_wlh(rng, spec) if wlh is None else wlh
    if layout.endswith("_empty"):
        wlh = wlh * np.array([1.0, 1.0, 0.78])  # a cycle without rider is lower
    palette = _PAINTS.get(layout, _PAINTS[cls])
    paint = _jitter(rng, palette[rng.integers(len(palette))])
    roles = {
        "paint": paint,
        "cargo": _jitter(rng, _CARGO[rng.integers(len(_CARGO))]),
        "shirt": _jitter(rng, _SHIRTS[rng.integers(len(_SHIRTS))]),
        "pants": _jitter(rng, _PANTS[rng.integers(len(_PANTS))]),
        "skin": _jitter(rng, _SKIN[rng.integers(len(_SKIN))], 0.03),
    }
    roles.update({k: _jitter(rng, v, 0.02) for k, v in _FIXED.items()})
    parts = PART_LAYOUTS[layout]
    if detail:
        roles.update({k: _jitter(rng, v, 0.02) for k, v in _DETAIL_FIXED.items()})
        parts = DETAIL_LAYOUTS.get(layout, parts)
    w, length, h = wlh
    inner = np.array([length, w, h]) - 2 * PART_MARGIN  # interior extents along x (heading), y, z
    bottom = -h / 2 + PART_MARGIN  # interior bottom relative to the box centre
    centers, halves, colors, refl = [], [], [], []
    for (x0, x1, y0, y1, z0, z1), role, r in parts:
        lo = np.array([x0, y0, z0]) * inner
        hi = np.array([x1, y1, z1]) * inner
        centers.append((lo + hi) / 2 - np.array([inner[0] / 2, inner[1] / 2, -bottom]))
        halves.append((hi - lo) / 2)
        colors.append(roles[role])
        refl.append(r * rng.uniform(0.8, 1.2))
    return Actor(cls, spec.category, np.asarray(wlh, float), np.asarray(p0, float), np.asarray(vel, float), float(yaw),
                 attribute, np.array(centers), np.array(halves), np.array(colors), np.array(refl),
                 np.array([_ROLE_MATERIAL[role] for _, role, _ in parts], int))


class _Band:
    """Free intervals along x of one lateral band of the street (keeps static objects apart)."""

    def __init__(self) -> None:
        self.used: list[tuple[float, float]] = []

    def take(self, x: float, half_len: float, gap: float = 0.6) -> bool:
        lo, hi = x - half_len - gap, x + half_len + gap
        if any(lo < b and a < hi for a, b in self.used):
            return False
        self.used.append((lo, hi))
        return True


class _Layout:
    """Places the actors of one scene in its local street frame (x along the street, y left).

    Static objects reserve x intervals of their lateral band, moving ones share one speed
    per lane, so no two objects ever intersect.
    """

    def __init__(self, rng: np.random.Generator, heading: float, origin: np.ndarray, y_scale: float, density: float,
                 lo: float, hi: float, detail: bool = False) -> None:
        self.rng, self.heading, self.origin, self.y_scale, self.density = rng, heading, origin, y_scale, density
        self.detail = detail
        self.lo, self.hi = lo, hi
        self.actors: list[Actor] = []
        self.bands = {(side, name): _Band() for side in (-1, 1) for name in ("park", "rack", "furniture")}
        self._rot = np.array([[np.cos(heading), -np.sin(heading)], [np.sin(heading), np.cos(heading)]])

    def add(self, cls: str, x: float, y: float, local_yaw: float, local_v: tuple[float, float], attr: str,
            layout: str | None = None, wlh: np.ndarray | None = None) -> None:
        """An actor at local (x, y) (y before the street's lateral stretch), moving at ``local_v``."""
        p0 = self._rot @ (np.array([x, y * self.y_scale])) + self.origin
        self.actors.append(make_actor(self.rng, cls, p0, self.heading + local_yaw, self._rot @ np.asarray(local_v, float),
                                      attr, layout, wlh, self.detail))

    def moving_traffic(self, ego_k: int, ego_speed: float, stopped: bool, duration: float) -> None:
        """Vehicles in the four lanes (right-hand traffic); the ego's lane moves at the ego's speed."""
        rng = self.rng
        mix = ["car"] * 10 + ["truck"] * 2 + ["bus"] + ["motorcycle"]
        for side in (-1, 1):
            for k, lane_y in enumerate(LANES_Y):
                direction = 1 if side < 0 else -1
                ego_lane = side < 0 and k == ego_k
                speed = ego_speed if ego_lane else (0.0 if (stopped and side < 0) else float(rng.uniform(4.0, 12.0)))
                attr = "vehicle.moving" if speed > 0 else "vehicle.stopped"
                x = self.lo - 1.2 * speed * duration - 60 + rng.uniform(0, 20)
                while x < self.hi + 60:
                    cls = mix[rng.integers(len(mix))]
                    wlh = _sample_wlh(rng, CLASS_SPECS[cls])
                    # Keep the ego's own lane free around the ego (it follows traffic at a distance).
                    if ego_lane and -14 - wlh[1] / 2 < x < 14 + wlh[1] / 2:
                        x += 20
                        continue
                    if rng.random() < 0.55 * self.density:
                        self.add(cls, x, side * lane_y, 0.0 if direction > 0 else np.pi, (direction * speed, 0.0),
                                 "cycle.with_rider" if cls == "motorcycle" else attr, wlh=wlh)
                    x += wlh[1] + rng.uniform(8.0, 25.0)

    def cyclists(self) -> None:
        """Bicycles and motorcycles with riders in the bike lanes (one speed per side)."""
        rng = self.rng
        for side in (-1, 1):
            speed = float(rng.uniform(2.5, 6.0))
            direction = 1 if side < 0 else -1
            x = self.lo - 40 + rng.uniform(0, 20)
            while x < self.hi + 40:
                if rng.random() < 0.35 * self.density:
                    cls = "bicycle" if rng.random() < 0.7 else "motorcycle"
                    self.add(cls, x, side * BIKE_Y, 0.0 if direction > 0 else np.pi, (direction * speed, 0.0),
                             "cycle.with_rider")
                x += rng.uniform(12.0, 30.0)

    def construction_zone(self, side: int, zone_x: float) -> None:
        """A row of barriers in a parking lane, cones before and after it, a construction vehicle behind it."""
        rng = self.rng
        zone_len = float(rng.uniform(14.0, 24.0))
        self.bands[(side, "park")].take(zone_x + zone_len / 2, zone_len / 2 + 6.5, gap=1.0)
        layout = "barrier_concrete" if rng.random() < 0.35 else "barrier"
        bx = bx_end = zone_x
        while bx < zone_x + zone_len - 1.5:
            wlh = _sample_wlh(rng, CLASS_SPECS["barrier"])
            self.add("barrier", bx + wlh[0] / 2, side * (PARK_Y - 1.1), np.pi / 2, (0.0, 0.0), "", layout, wlh)
            bx_end = bx + wlh[0]
            bx = bx_end + rng.uniform(0.3, 1.5)
        for cx in np.arange(zone_x - 6.0, zone_x + zone_len + 6.0, rng.uniform(2.5, 4.0)):
            if zone_x - 0.8 < cx < bx_end + 0.8:
                continue
            self.add("traffic_cone", float(cx), side * (PARK_Y - 0.8 + rng.uniform(-0.15, 0.15)),
                     float(rng.uniform(0, np.pi)), (0.0, 0.0), "")
        cv = _sample_wlh(rng, CLASS_SPECS["construction_vehicle"])
        cv[0] = min(cv[0], 2.1)
        cv[1] = min(cv[1], zone_len - 2.0)
        self.add("construction_vehicle", zone_x + zone_len / 2, side * (PARK_Y + 0.35),
                 0.0 if rng.random() < 0.5 else np.pi, (0.0, 0.0), "vehicle.parked", wlh=cv)

    def parked_vehicles(self, x_end: float) -> None:
        """A trailer, a truck and a bus (at a stop) near the route, then cars and more along both parking lanes."""
        rng = self.rng
        must = [("trailer", float(rng.uniform(-20, x_end + 20))), ("truck", float(rng.uniform(-20, x_end + 20))),
                ("bus", float(rng.uniform(0, x_end + 25)))]
        for cls, x in must:
            for attempt in range(40):
                side = int(rng.choice([-1, 1]))
                wlh = _sample_wlh(rng, CLASS_SPECS[cls])
                wlh[0] = min(wlh[0], 2.7)
                xx = x + attempt * 7.0 * (1 if attempt % 2 else -1)
                if self.bands[(side, "park")].take(xx, wlh[1] / 2):
                    attr = "vehicle.stopped" if cls == "bus" else "vehicle.parked"
                    self.add(cls, xx, side * PARK_Y, 0.0 if side < 0 else np.pi, (0.0, 0.0), attr, wlh=wlh)
                    break
        mix = ["car"] * 12 + ["truck"] * 2 + ["trailer"]
        for side in (-1, 1):
            x = self.lo + rng.uniform(0, 6)
            while x < self.hi:
                cls = mix[rng.integers(len(mix))]
                wlh = _sample_wlh(rng, CLASS_SPECS[cls])
                wlh[0] = min(wlh[0], 2.7)
                if rng.random() < 0.6 * self.density and self.bands[(side, "park")].take(x + wlh[1] / 2, wlh[1] / 2):
                    # Parked slightly askew; long vehicles less so (their ends must stay out of the bike lane).
                    skew = float(np.clip(rng.normal(0, 0.02), -0.04, 0.04)) * 4.5 / max(4.5, wlh[1])
                    self.add(cls, x + wlh[1] / 2, side * (PARK_Y + rng.uniform(-0.1, 0.1)),
                             (0.0 if side < 0 else np.pi) + skew, (0.0, 0.0), "vehicle.parked", wlh=wlh)
                x += wlh[1] + rng.uniform(1.0, 6.0)

    def sidewalks(self) -> None:
        """Walking and standing pedestrians (one direction and speed per walking line), parked cycles."""
        rng = self.rng
        for side in (-1, 1):
            for k, py in enumerate(PED_LANES_Y):
                speed = 0.0 if (k == 1 and rng.random() < 0.5) else float(rng.uniform(0.8, 1.7))
                direction = int(rng.choice([-1, 1]))
                x = self.lo + rng.uniform(0, 8)
                while x < self.hi:
                    if rng.random() < 0.3 * self.density:
                        yaw = (0.0 if direction > 0 else np.pi) if speed > 0 else float(rng.uniform(-np.pi, np.pi))
                        attr = "pedestrian.moving" if speed > 0 else "pedestrian.standing"
                        self.add("pedestrian", x, side * py, yaw, (direction * speed, 0.0), attr)
                    x += rng.uniform(3.0, 12.0)
            x = self.lo + rng.uniform(0, 10)
            while x < self.hi:
                if rng.random() < 0.25 * self.density and self.bands[(side, "rack")].take(x, 0.6):
                    cls = "bicycle" if rng.random() < 0.65 else "motorcycle"
                    self.add(cls, x, side * BIKE_RACK_Y, side * np.pi / 2, (0.0, 0.0), "cycle.without_rider",
                             f"{cls}_empty")
                x += rng.uniform(2.0, 14.0)

    def ensure_small_classes(self, x_end: float) -> None:
        """Guarantee a pedestrian, a bicycle and a motorcycle near the route (sparse, low-density scenes)."""
        present = {a.cls for a in self.actors}
        if "pedestrian" not in present:
            self.add("pedestrian", x_end / 2, -PED_LANES_Y[0], 0.0, (1.0, 0.0), "pedestrian.moving")
        for cls in ("bicycle", "motorcycle"):
            if cls in present:
                continue
            for _ in range(40):
                xx = float(self.rng.uniform(-15, x_end + 15))
                if self.bands[(-1, "rack")].take(xx, 0.6):
                    self.add(cls, xx, -BIKE_RACK_Y, -np.pi / 2, (0.0, 0.0), "cycle.without_rider", f"{cls}_empty")
                    break


def build_scene(index: int, name: str, n_frames: int, seed: int, density: float = 1.0, realistic: bool = False) -> Scene:
    """Lay out scene ``index`` deterministically from ``seed``: every one of the 10 classes appears near
    the ego's route (moving and parked vehicles, a construction zone, pedestrians, cyclists).

    ``realistic`` builds the scene of the realistic world (generators 3 and 4): detailed actor layouts, lamp
    heads and more street furniture, and a lighting condition (:class:`Look`, named in the description
    as nuScenes does) drawn from a second random stream, so the flat world's scenes stay as they were.
    """
    rng = np.random.default_rng([seed, index, 7919])
    duration = (n_frames - 1) * KEYFRAME_DT
    stopped = rng.random() < 0.15
    ego_speed = 0.0 if stopped else float(rng.uniform(3.0, 9.0))
    x_end = ego_speed * duration
    heading = float(rng.uniform(-np.pi, np.pi))
    origin = rng.uniform(-1500, 1500, 2)
    # Street width varies between scenes (lateral positions scale, object sizes do not) and
    # the ego drives in either right-hand lane, so objects sit at varying lateral offsets.
    y_scale = float(rng.uniform(1.0, 1.15))
    ego_k = int(rng.integers(len(LANES_Y)))
    lay = _Layout(rng, heading, origin, y_scale, density, -75.0, x_end + 75.0, detail=realistic)
    lay.moving_traffic(ego_k, ego_speed, stopped, duration)
    lay.cyclists()
    zone_side = int(rng.choice([-1, 1]))
    lay.construction_zone(zone_side, float(rng.uniform(10.0, max(12.0, x_end + 10.0))))
    lay.parked_vehicles(x_end)
    lay.sidewalks()
    lay.ensure_small_classes(x_end)
    clutter = _clutter(rng, lay.lo - 40, lay.hi + 40, lay.bands, detail=realistic)
    light = _lighting(rng)
    look_seed = int(rng.integers(2**31))
    words = [("ego waiting" if stopped else f"ego driving at {ego_speed:.1f} m/s"),
             f"construction zone on the {'left' if zone_side > 0 else 'right'}"]
    look = None
    if realistic:
        extra = np.random.default_rng([seed, index, 7919, 3])
        light, look = _conditions(extra, np.random.default_rng([seed, index, 7919, 4]))
        clutter = Cuboids.concat([clutter, _street_furniture(extra, lay.lo - 40, lay.hi + 40, lay.bands)])
        words = look.words() + words
    return Scene(name=name, index=index, n_frames=n_frames, origin=origin, heading=heading, ego_speed=ego_speed,
                 ego_lane_y=-LANES_Y[ego_k] * y_scale, y_scale=y_scale, actors=lay.actors,
                 clutter=_to_global(clutter, heading, origin, y_scale), lighting=light,
                 road_len=(lay.lo - 40, lay.hi + 40), look_seed=look_seed, description=", ".join(words), look=look)


class _Boxes:
    """Street-aligned static cuboids collected in the local frame (clutter)."""

    def __init__(self) -> None:
        self.centers: list[tuple[float, float, float]] = []
        self.halves: list[tuple[float, float, float]] = []
        self.colors: list[np.ndarray] = []
        self.refl: list[float] = []
        self.material: list[int] = []

    def __call__(self, x: float, y: float, z0: float, length: float, width: float, height: float, rgb, r: float,
                 material: Material = Material.PLAIN) -> None:
        """A box of the given extents (along the street, across, up) standing at height ``z0``."""
        self.centers.append((x, y, z0 + height / 2))
        self.halves.append((length / 2, width / 2, height / 2))
        self.colors.append(np.asarray(rgb, float))
        self.refl.append(r)
        self.material.append(int(material))

    def cuboids(self) -> Cuboids:
        n = len(self.centers)
        return Cuboids(np.array(self.centers).reshape(n, 3), np.array(self.halves).reshape(n, 3), np.zeros(n),
                       np.array(self.colors).reshape(n, 3), np.array(self.refl), np.full(n, -1), np.array(self.material, int))


def _clutter(rng: np.random.Generator, lo: float, hi: float, bands: dict, detail: bool = False) -> Cuboids:
    """Un-annotated static geometry in the local frame (aligned with the street): buildings, poles,
    trees, bins, bushes; ``detail`` gives the street lamps a lamp head (no draw from ``rng``)."""
    box = _Boxes()

    facades = [(0.62, 0.32, 0.25), (0.80, 0.74, 0.62), (0.55, 0.55, 0.58), (0.75, 0.72, 0.70), (0.40, 0.42, 0.48),
               (0.85, 0.82, 0.75)]
    for side in (-1, 1):
        x = lo
        while x < hi:
            length = float(rng.uniform(8, 30))
            depth = float(rng.uniform(8, 16))
            height = float(rng.uniform(5, 24))
            rgb = _jitter(rng, facades[rng.integers(len(facades))], 0.04)
            y = side * (BUILDING_Y + rng.uniform(0, 2.5) + depth / 2)
            box(x + length / 2, y, 0.0, length, depth, height, rgb, 40.0, Material.FACADE)
            # A darker storefront band makes the facade less uniform.
            box(x + length / 2, y - side * 0.05, 0.0, length * 0.96, depth, min(3.2, height * 0.4), rgb * 0.55, 30.0,
                Material.STOREFRONT)
            x += length + float(rng.uniform(0.5, 6.0))
        x = lo + rng.uniform(0, 10)
        while x < hi:
            kind = rng.random()
            if kind < 0.35 and bands[(side, "furniture")].take(x, 1.3):  # tree: trunk + canopy
                box(x, side * STREET_FURNITURE_Y, 0.0, 0.3, 0.3, 2.6, np.array([0.35, 0.25, 0.15]), 20.0, Material.BARK)
                cw = float(rng.uniform(1.6, 2.2))
                ch = float(rng.uniform(2.0, 3.5))
                rgb = _jitter(rng, (0.20, 0.45, 0.18), 0.05)
                box(x, side * (STREET_FURNITURE_Y + 0.75), 2.6, cw, cw, ch, rgb, 25.0, Material.FOLIAGE)
                if detail:  # a wider, lower crown layer breaks the cube's outline
                    box(x, side * (STREET_FURNITURE_Y + 0.75), 3.0, cw * 1.5, cw * 0.6, ch * 0.5, rgb * 0.85, 25.0,
                        Material.FOLIAGE)
            elif kind < 0.6 and bands[(side, "furniture")].take(x, 0.3):  # pole with lamp arm
                h = float(rng.uniform(5.0, 8.0))
                box(x, side * STREET_FURNITURE_Y, 0.0, 0.22, 0.22, h, np.array([0.35, 0.36, 0.38]), 60.0, Material.METAL)
                box(x, side * (STREET_FURNITURE_Y - 0.9), h - 0.2, 0.18, 1.8, 0.15, np.array([0.35, 0.36, 0.38]), 60.0,
                    Material.METAL)
                if detail:
                    box(x, side * (STREET_FURNITURE_Y - 1.6), h - 0.3, 0.4, 0.5, 0.1, np.array([0.95, 0.9, 0.75]), 90.0,
                        Material.LAMP)
            elif kind < 0.8 and bands[(side, "furniture")].take(x, 0.4):  # bin or bollard (cone-sized distractor)
                rgb = _jitter(rng, [(0.15, 0.35, 0.2), (0.3, 0.3, 0.3), (0.6, 0.5, 0.1)][rng.integers(3)])
                box(x, side * STREET_FURNITURE_Y, 0.0, 0.55, 0.55, float(rng.uniform(0.8, 1.2)), rgb, 35.0, Material.METAL)
            elif bands[(side, "furniture")].take(x, 1.0):  # bush
                box(x, side * (STREET_FURNITURE_Y - 0.1), 0.0, float(rng.uniform(1.0, 2.0)), 0.7, float(rng.uniform(0.6, 1.2)),
                    _jitter(rng, (0.18, 0.40, 0.15), 0.05), 25.0, Material.FOLIAGE)
            x += float(rng.uniform(4, 14))
    return box.cuboids()


def _street_furniture(rng: np.random.Generator, lo: float, hi: float, bands: dict) -> Cuboids:
    """More un-annotated clutter for the realistic world, in the bands left free: traffic signs, bike
    racks, bollards, hydrants and benches; small, upright and cone- or cycle-sized, they make false
    positives possible as real street furniture does."""
    box = _Boxes()
    grey = np.array([0.42, 0.43, 0.45])
    for side in (-1, 1):
        x = lo + rng.uniform(0, 6)
        while x < hi:
            kind = rng.random()
            y = side * (STREET_FURNITURE_Y - 0.35)
            if kind < 0.3 and bands[(side, "furniture")].take(x, 0.35):  # sign on a post
                h = float(rng.uniform(2.2, 2.8))
                box(x, y, 0.0, 0.08, 0.08, h, grey, 60.0, Material.METAL)
                rgb = [(0.15, 0.30, 0.65), (0.75, 0.15, 0.12), (0.90, 0.90, 0.88), (0.85, 0.70, 0.10)][rng.integers(4)]
                box(x, y - side * 0.06, h - 0.05, 0.6, 0.04, float(rng.uniform(0.5, 0.8)), rgb, 200.0, Material.SIGN)
            elif kind < 0.5 and bands[(side, "furniture")].take(x, 1.0):  # a short row of bollards
                rgb = [(0.30, 0.30, 0.32), (0.75, 0.55, 0.10)][rng.integers(2)]
                for dx in (-0.9, 0.0, 0.9):
                    box(x + dx, y, 0.0, 0.16, 0.16, float(rng.uniform(0.8, 1.0)), rgb, 70.0, Material.METAL)
            elif kind < 0.62 and bands[(side, "furniture")].take(x, 0.25):  # fire hydrant
                box(x, y, 0.0, 0.3, 0.3, 0.7, (0.70, 0.12, 0.10), 60.0, Material.METAL)
            elif kind < 0.8 and bands[(side, "furniture")].take(x, 1.0):  # bench
                box(x, y, 0.4, 1.8, 0.5, 0.08, (0.40, 0.30, 0.20), 30.0, Material.BARK)
                box(x, y - side * 0.22, 0.48, 1.8, 0.06, 0.45, (0.40, 0.30, 0.20), 30.0, Material.BARK)
                for dx in (-0.8, 0.8):
                    box(x + dx, y, 0.0, 0.08, 0.45, 0.4, grey, 50.0, Material.METAL)
            x += float(rng.uniform(3, 10))
        # Bike racks between the parked cycles: a row of hoops, no cycle in them.
        x = lo + rng.uniform(0, 10)
        while x < hi:
            if rng.random() < 0.3 and bands[(side, "rack")].take(x, 1.6):
                for k in range(4):
                    for dy in (-0.35, 0.35):
                        box(x - 1.2 + 0.8 * k, side * BIKE_RACK_Y + dy, 0.0, 0.05, 0.05, 0.8, grey, 80.0, Material.METAL)
                    box(x - 1.2 + 0.8 * k, side * BIKE_RACK_Y, 0.75, 0.05, 0.75, 0.05, grey, 80.0, Material.METAL)
            elif rng.random() < 0.5 and bands[(side, "rack")].take(x, 2.5):  # a hedge in front of the building
                box(x, side * (BIKE_RACK_Y + 0.3), 0.0, 5.0, 0.9, float(rng.uniform(0.7, 1.3)),
                    _jitter(rng, (0.16, 0.36, 0.12), 0.04), 25.0, Material.FOLIAGE)
            x += float(rng.uniform(6, 20))
    return box.cuboids()


def _to_global(cub: Cuboids, heading: float, origin: np.ndarray, y_scale: float) -> Cuboids:
    c, s = np.cos(heading), np.sin(heading)
    ctr = cub.center.copy()
    ly = cub.center[:, 1] * y_scale
    ctr[:, 0] = c * cub.center[:, 0] - s * ly + origin[0]
    ctr[:, 1] = s * cub.center[:, 0] + c * ly + origin[1]
    return Cuboids(ctr, cub.half, cub.yaw + heading, cub.color, cub.reflect, cub.owner, cub.material)


def _lighting(rng: np.random.Generator) -> Lighting:
    """Sun height/azimuth, ambient level and tints vary between scenes (day, dusk, overcast)."""
    elev = float(rng.uniform(np.radians(20), np.radians(65)))
    azim = float(rng.uniform(-np.pi, np.pi))
    sun = np.array([np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)])
    mood = rng.random()
    if mood < 0.2:  # overcast: soft light, faint shadows
        tint, ambient, shadow = np.array([0.92, 0.94, 0.98]), 0.75, 0.85
        top, horizon = np.array([0.65, 0.68, 0.72]), np.array([0.82, 0.83, 0.85])
    elif mood < 0.35:  # dusk: warm and darker
        tint, ambient, shadow = np.array([1.0, 0.82, 0.65]) * 0.8, 0.45, 0.55
        top, horizon = np.array([0.30, 0.35, 0.55]), np.array([0.95, 0.65, 0.40])
    else:  # sunny day
        b = float(rng.uniform(0.9, 1.08))
        tint, ambient, shadow = np.array([1.0, 0.99, 0.96]) * b, float(rng.uniform(0.45, 0.6)), float(rng.uniform(0.45, 0.6))
        top, horizon = np.array([0.30, 0.50, 0.85]), np.array([0.70, 0.80, 0.92])
    return Lighting(sun, ambient, tint, top, horizon, shadow)


def _conditions(rng: np.random.Generator, atmos: np.random.Generator) -> tuple[Lighting, Look]:
    """Lighting and camera response of a realistic-world scene: a condition drawn with the shares of
    :data:`CONDITIONS`, rain in some overcast and night scenes, a white-balance error, low saturation;
    haze and glare (:func:`_atmosphere`) from ``atmos``."""
    names, shares = zip(*CONDITIONS)
    cond = names[int(rng.choice(len(names), p=np.array(shares)))]
    rain = bool(rng.random() < _RAIN_CHANCE.get(cond, 0.0))
    azim = float(rng.uniform(-np.pi, np.pi))
    elev = float(rng.uniform(*{"day": (0.35, 1.15), "dusk": (0.05, 0.2)}.get(cond, (0.6, 1.2))))
    sun = np.array([np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)])
    if cond == "day":
        light = Lighting(sun, float(rng.uniform(0.35, 0.5)), np.array([1.0, 0.98, 0.93]), np.array([0.42, 0.56, 0.80]),
                         np.array([0.78, 0.84, 0.92]), float(rng.uniform(0.35, 0.5)))
    elif cond == "overcast":
        light = Lighting(sun, 0.85, np.array([0.92, 0.95, 1.0]) * 0.8, np.array([0.72, 0.75, 0.79]),
                         np.array([0.86, 0.87, 0.89]), 0.88)
    elif cond == "dusk":
        light = Lighting(sun, 0.55, np.array([1.0, 0.78, 0.58]) * 0.45, np.array([0.22, 0.27, 0.42]),
                         np.array([0.85, 0.58, 0.42]) * 0.6, 0.6)
    else:  # night: no sun; street lamps, lit windows and vehicle lamps emit
        light = Lighting(np.array([0.3, 0.2, 0.93]), 1.0, np.array([0.85, 0.8, 0.9]) * 0.05, np.array([0.015, 0.02, 0.035]),
                         np.array([0.06, 0.05, 0.05]), 1.0)
    if rain:
        light.tint = light.tint * 0.8
        light.shadow = max(light.shadow, 0.9)
    wb = np.exp(rng.normal(0, 0.04, 3))
    exposure = float(rng.uniform(0.03, 0.05) if cond == "night" else rng.uniform(0.11, 0.16))
    look = Look(cond, rain, wb / wb[1], float(rng.uniform(0.38, 0.58)), exposure,
                {"night": 3.0, "dusk": 1.8}.get(cond, 1.0) * float(rng.uniform(0.8, 1.25)),
                float(np.clip(rng.normal(0.9 if cond == "overcast" or rain else 0.35, 0.15), 0, 1)),
                *_atmosphere(atmos, cond, rain))
    return light, look


def _atmosphere(rng: np.random.Generator, cond: str, rain: bool) -> tuple[float, float]:
    """(haze distance in metres, veiling glare) of a realistic-world scene (generator 4).

    Real street scenes differ in how much contrast reaches the camera: haze and mist (Koschmieder:
    transmittance ``exp(-d / haze_dist)``, visibility about ``3.9 haze_dist``) from 300 m to 4 km
    (log-uniform), halved in rain, and the veiling glare of a lens looking towards a low sun, which
    lifts every pixel by a share of the scene's radiance (mostly small: the square of a uniform draw).
    Drawn from their own stream, so the layout and the other conditions of a scene stay as generator
    3 drew them.
    """
    haze = float(np.exp(rng.uniform(np.log(80.0), np.log(1000.0)))) * (0.5 if rain else 1.0)
    glare = float(rng.uniform(0.0, 1.0) ** 2 * {"day": 1.0, "dusk": 1.0, "overcast": 0.5}.get(cond, 0.3))
    return haze, glare
