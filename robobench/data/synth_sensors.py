"""Sensor rig and range sensors of the synthetic world.

The rig copies the nuScenes geometry (Renault Zoe): six cameras whose 1600x900
intrinsics are scaled to the render resolution, a roof LiDAR whose frame is rotated
by -90 degrees about z with respect to the ego frame (as in nuScenes), and five radars
near the bumpers. LiDAR and radar are ray-cast analytically against the world's
cuboids (slab test) and the ground plane, vectorised over rays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robobench.constants import CAMERAS, LIDAR, RADARS
from robobench.data.synth_world import Cuboids

#: nuScenes full-resolution image size; intrinsics below are for it and get scaled.
FULL_W, FULL_H = 1600, 900

# channel: (x, y, z in the ego frame, yaw in degrees, focal length at 1600x900 (px))
_CAMERA_RIG = {
    "CAM_FRONT": (1.70, 0.02, 1.51, 0.0, 1266.0),
    "CAM_FRONT_RIGHT": (1.55, -0.49, 1.50, -56.0, 1261.0),
    "CAM_FRONT_LEFT": (1.52, 0.49, 1.51, 55.0, 1272.0),
    "CAM_BACK": (0.03, 0.0, 1.58, 180.0, 809.0),
    "CAM_BACK_LEFT": (1.04, 0.48, 1.59, 109.0, 1257.0),
    "CAM_BACK_RIGHT": (1.02, -0.48, 1.56, -111.0, 1260.0),
}
# Time of each camera's exposure after the LiDAR key-frame timestamp (s): the cameras
# fire as the spinning LiDAR sweeps across their field of view.
CAMERA_DELAY = {"CAM_FRONT": 0.012, "CAM_FRONT_RIGHT": 0.020, "CAM_BACK_RIGHT": 0.029, "CAM_BACK": 0.037,
                "CAM_BACK_LEFT": 0.045, "CAM_FRONT_LEFT": 0.004}
_LIDAR_RIG = (0.94, 0.0, 1.84, -90.0)
# channel: (x, y, z, yaw degrees, half field of view degrees, delay s)
_RADAR_RIG = {
    "RADAR_FRONT": (3.41, 0.0, 0.50, 0.0, 50.0, 0.008),
    "RADAR_FRONT_LEFT": (2.42, 0.80, 0.50, 88.0, 60.0, -0.015),
    "RADAR_FRONT_RIGHT": (2.42, -0.80, 0.50, -88.0, 60.0, 0.021),
    "RADAR_BACK_LEFT": (-0.56, 0.63, 0.50, 172.0, 60.0, -0.027),
    "RADAR_BACK_RIGHT": (-0.56, -0.62, 0.50, -172.0, 60.0, 0.030),
}
RADAR_RANGE = 80.0
LIDAR_RANGE = 70.0
#: HDL-32E beam elevations (degrees), lowest first; ring index = position in this list.
LIDAR_ELEVATIONS = np.linspace(-30.67, 10.67, 32)

# OpenCV camera axes (x right, y down, z forward) expressed in a forward-looking ego frame.
_CAM_AXES = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def rot_z(yaw: float) -> np.ndarray:
    """3x3 rotation about +z by ``yaw`` radians."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class SensorCalib:
    """A sensor's pose in the ego frame (and intrinsics for cameras, at render size)."""

    channel: str
    modality: str
    translation: np.ndarray
    rotation: np.ndarray  # 3x3, sensor -> ego
    intrinsic: np.ndarray | None = None
    width: int = 0
    height: int = 0
    delay: float = 0.0
    half_fov: float = 0.0

    def to_ego(self) -> np.ndarray:
        """4x4 sensor -> ego transform."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation
        return m


def make_rig(width: int, height: int) -> dict[str, SensorCalib]:
    """The full sensor rig for images rendered at ``width`` x ``height`` (16:9 like nuScenes)."""
    sx, sy = width / FULL_W, height / FULL_H
    rig: dict[str, SensorCalib] = {}
    for ch in CAMERAS:
        x, y, z, yaw, f = _CAMERA_RIG[ch]
        k = np.array([[f * sx, 0.0, (FULL_W / 2 + 8.0) * sx], [0.0, f * sy, (FULL_H / 2 + 40.0) * sy], [0.0, 0.0, 1.0]])
        rig[ch] = SensorCalib(ch, "camera", np.array([x, y, z]), rot_z(np.radians(yaw)) @ _CAM_AXES, k, width, height,
                              CAMERA_DELAY[ch])
    x, y, z, yaw = _LIDAR_RIG
    rig[LIDAR] = SensorCalib(LIDAR, "lidar", np.array([x, y, z]), rot_z(np.radians(yaw)))
    for ch in RADARS:
        x, y, z, yaw, fov, delay = _RADAR_RIG[ch]
        rig[ch] = SensorCalib(ch, "radar", np.array([x, y, z]), rot_z(np.radians(yaw)), delay=delay,
                              half_fov=np.radians(fov))
    return rig


def slab_hits(origin: np.ndarray, dirs: np.ndarray, center: np.ndarray, half: np.ndarray, yaw) -> np.ndarray:
    """Entry distance of rays ``origin + t * dirs`` (unit dirs (..., 3)) into yaw-rotated cuboids; inf on a miss.

    ``center``/``half`` (..., 3) and ``yaw`` (...) broadcast against the rays. The slab
    test: intersect the three pairs of parallel planes in the cuboid frame and keep the
    overlap of the three parameter intervals. Rays starting inside a cuboid miss it.
    """
    c, s = np.cos(yaw), np.sin(yaw)
    rel = origin - center
    o = np.stack([c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1], rel[..., 2]], axis=-1)
    d = np.stack(np.broadcast_arrays(c * dirs[..., 0] + s * dirs[..., 1], -s * dirs[..., 0] + c * dirs[..., 1], dirs[..., 2]),
                 axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1 = (-half - o) * inv
        t2 = (half - o) * inv
    t_near = np.nanmax(np.minimum(t1, t2), axis=-1)
    t_far = np.nanmin(np.maximum(t1, t2), axis=-1)
    return np.where((t_far >= t_near) & (t_near > 0), t_near, np.inf)


def raycast(origin: np.ndarray, dirs: np.ndarray, cub: Cuboids, max_range: float) -> tuple[np.ndarray, np.ndarray]:
    """First hit of each ray (dirs (R, 3)) against ``cub`` and the ground plane z = 0, all pairs at once.

    Meant for few rays (radar). Returns ``(t, idx)``: distance along the ray and the
    cuboid index (-1 ground, -2 nothing within ``max_range``).
    """
    with np.errstate(divide="ignore"):
        t_ground = np.where(dirs[:, 2] < -1e-9, -origin[2] / dirs[:, 2], np.inf)
    near = np.flatnonzero(np.linalg.norm(cub.center[:, :2] - origin[:2], axis=1)
                          - np.linalg.norm(cub.half[:, :2], axis=1) < max_range)
    t_all = slab_hits(origin, dirs[:, None, :], cub.center[near], cub.half[near], cub.yaw[near])  # (R, M)
    t_all = np.column_stack([t_ground, t_all])
    k = np.argmin(t_all, axis=1)
    best = t_all[np.arange(len(dirs)), k]
    idx = np.where(k == 0, np.where(np.isfinite(best), -1, -2), near[np.maximum(k - 1, 0)] if len(near) else -2)
    idx = np.where(best <= max_range, idx, -2)
    return best, idx


@dataclass
class LidarScan:
    """One LiDAR sweep in the sensor frame plus per-ray bookkeeping for annotations."""

    points: np.ndarray        # (P, 5) float32: x, y, z, intensity, ring (LiDAR frame)
    visible_rays: np.ndarray  # (n_actors,) rays whose first hit is the actor
    total_rays: np.ndarray    # (n_actors,) rays that cross the actor ignoring occlusion


def lidar_scan(origin: np.ndarray, yaw: float, cub: Cuboids, n_actors: int, n_azimuth: int,
               rng: np.random.Generator, ground_intensity: Callable[[np.ndarray], np.ndarray]) -> LidarScan:
    """Spin a 32-beam LiDAR at global ``origin`` whose frame has global yaw ``yaw``.

    Rays form a (32, n_azimuth) grid; each cuboid is only tested against the azimuth
    window it subtends, which keeps the cast linear in the number of returns.
    ``ground_intensity(xy)`` gives the reflectivity of ground hits (road paint is bright).
    """
    elev = np.radians(LIDAR_ELEVATIONS)[:, None]
    az = np.arange(n_azimuth) * (2 * np.pi / n_azimuth)
    d_local = np.stack(np.broadcast_arrays(np.cos(elev) * np.cos(az), np.cos(elev) * np.sin(az), np.sin(elev)), -1)
    gaz = az + yaw
    dirs = np.stack(np.broadcast_arrays(np.cos(elev) * np.cos(gaz), np.cos(elev) * np.sin(gaz), np.sin(elev)), -1)
    with np.errstate(divide="ignore"):
        best = np.where(dirs[..., 2] < -1e-9, -origin[2] / dirs[..., 2], np.inf)
    hit = np.where(np.isfinite(best), -1, -2)
    d_az = 2 * np.pi / n_azimuth
    rel = cub.center[:, :2] - origin[:2]
    dist = np.linalg.norm(rel, axis=1)
    reach = np.linalg.norm(cub.half[:, :2], axis=1)
    corners = cub.corners()[:, :4, :2] - origin[:2]
    crossings: list[list[np.ndarray]] = [[] for _ in range(n_actors)]
    for j in np.flatnonzero(dist - reach < LIDAR_RANGE):
        if dist[j] <= reach[j] + 0.5:
            cols = np.arange(n_azimuth)
        else:
            phi_c = np.arctan2(rel[j, 1], rel[j, 0])
            dphi = np.angle(np.exp(1j * (np.arctan2(corners[j, :, 1], corners[j, :, 0]) - phi_c)))
            k0 = int(np.ceil((phi_c + dphi.min() - yaw) / d_az))
            k1 = int(np.floor((phi_c + dphi.max() - yaw) / d_az))
            if k1 < k0:
                continue
            cols = np.arange(k0, k1 + 1) % n_azimuth
        t = slab_hits(origin, dirs[:, cols], cub.center[j], cub.half[j], cub.yaw[j])
        sub_best = best[:, cols]
        closer = t < sub_best
        best[:, cols] = np.where(closer, t, sub_best)
        hit[:, cols] = np.where(closer, j, hit[:, cols])
        owner = cub.owner[j]
        if owner >= 0:
            rows, cc = np.nonzero(np.isfinite(t) & (t <= LIDAR_RANGE))
            crossings[owner].append(rows * n_azimuth + cols[cc])
    valid = (best <= LIDAR_RANGE) & (rng.random(best.shape) > 0.03)
    hit_owner = np.where(hit >= 0, cub.owner[np.maximum(hit, 0)], -1)
    visible = np.bincount(hit_owner[valid & (hit_owner >= 0)], minlength=n_actors)[:n_actors]
    total = np.array([len(np.unique(np.concatenate(c))) if c else 0 for c in crossings], dtype=int)
    rows, cols = np.nonzero(valid)
    r = best[rows, cols] + np.clip(rng.normal(0, 0.008, len(rows)), -0.02, 0.02)
    pts_local = d_local[rows, cols] * r[:, None]
    idx = hit[rows, cols]
    intensity = np.where(idx >= 0, cub.reflect[np.maximum(idx, 0)], 0.0)
    ground = idx == -1
    if ground.any():
        gxy = origin[:2] + dirs[rows[ground], cols[ground], :2] * best[rows[ground], cols[ground], None]
        intensity[ground] = ground_intensity(gxy)
    intensity = np.clip(intensity * rng.uniform(0.85, 1.15, len(r)) / np.maximum(1.0, r / 25.0) ** 0.5, 0, 255)
    pts = np.column_stack([pts_local, np.round(intensity), rows.astype(float)]).astype(np.float32)
    return LidarScan(pts, visible, total)


# Fields of a nuScenes radar .pcd (Continental ARS 408) and their binary layout.
RADAR_FIELDS = [("x", "F", 4), ("y", "F", 4), ("z", "F", 4), ("dyn_prop", "I", 1), ("id", "I", 2), ("rcs", "F", 4),
                ("vx", "F", 4), ("vy", "F", 4), ("vx_comp", "F", 4), ("vy_comp", "F", 4), ("is_quality_valid", "I", 1),
                ("ambig_state", "I", 1), ("x_rms", "I", 1), ("y_rms", "I", 1), ("invalid_state", "I", 1), ("pdh0", "I", 1),
                ("vx_rms", "I", 1), ("vy_rms", "I", 1)]
_NP_TYPES = {("F", 4): "<f4", ("I", 1): "i1", ("I", 2): "<i2"}
RADAR_DTYPE = np.dtype([(n, _NP_TYPES[(t, s)]) for n, t, s in RADAR_FIELDS])


def radar_returns(calib: SensorCalib, sensor_origin: np.ndarray, sensor_yaw: float, cub: Cuboids,
                  actor_vel: np.ndarray, ego_vel: np.ndarray, rcs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sparse radar clusters in the radar frame (a structured array with ``RADAR_DTYPE``).

    Each actor in the field of view gets 0-3 returns where horizontal rays from the
    sensor hit its parts first (occlusion counts); static clutter gives a few more.
    ``vx_comp, vy_comp`` is the object's radial velocity vector (ego motion removed);
    ``vx, vy`` the raw radial velocity relative to the moving sensor.
    """
    rel = cub.center[:, :2] - sensor_origin[:2]
    dist = np.linalg.norm(rel, axis=1)
    ang = np.angle(np.exp(1j * (np.arctan2(rel[:, 1], rel[:, 0]) - sensor_yaw)))
    in_view = (dist < RADAR_RANGE) & (np.abs(ang) < calib.half_fov)
    owners = np.unique(cub.owner[in_view & (cub.owner >= 0)])
    targets, kinds = [], []
    for a in owners:
        parts = np.flatnonzero(cub.owner == a)
        detect_p = np.clip(0.55 + rcs[a] / 40.0, 0.2, 0.95)
        for _ in range(int(rng.binomial(3, detect_p))):
            j = parts[rng.integers(len(parts))]
            targets.append(cub.center[j, :2] + rng.uniform(-0.7, 0.7, 2) * cub.half[j, :2])
            kinds.append(a)
    n_clutter = int(rng.integers(2, 8))
    for _ in range(n_clutter):
        phi = sensor_yaw + rng.uniform(-calib.half_fov, calib.half_fov)
        targets.append(sensor_origin[:2] + rng.uniform(5, RADAR_RANGE) * np.array([np.cos(phi), np.sin(phi)]))
        kinds.append(-1)
    if not targets:
        return np.zeros(0, RADAR_DTYPE)
    tg = np.array(targets)
    d2 = tg - sensor_origin[:2]
    dirs = np.column_stack([d2 / np.linalg.norm(d2, axis=1, keepdims=True), np.zeros(len(tg))])
    t, idx = raycast(sensor_origin, dirs, cub, RADAR_RANGE)
    hit_owner = np.where(idx >= 0, cub.owner[np.maximum(idx, 0)], -3)
    keep = (idx >= 0) & ((hit_owner == np.array(kinds)) | ((np.array(kinds) == -1) & (hit_owner == -1)))
    if not keep.any():
        return np.zeros(0, RADAR_DTYPE)
    dirs, t, owner = dirs[keep], t[keep] + 0.05, hit_owner[keep]
    p_local = (dirs * t[:, None])  # sensor at origin; rotate into the sensor frame below
    c, s = np.cos(sensor_yaw), np.sin(sensor_yaw)
    to_sensor = np.array([[c, s], [-s, c]])
    xy = p_local[:, :2] @ to_sensor.T
    u = dirs[:, :2]
    v_obj = np.where(owner[:, None] >= 0, actor_vel[np.maximum(owner, 0)], 0.0)
    radial_comp = np.sum(v_obj * u, axis=1)
    radial_raw = np.sum((v_obj - ego_vel) * u, axis=1)
    comp = (u * radial_comp[:, None]) @ to_sensor.T
    raw = (u * radial_raw[:, None]) @ to_sensor.T
    out = np.zeros(len(xy), RADAR_DTYPE)
    out["x"], out["y"] = xy[:, 0] + rng.normal(0, 0.05, len(xy)), xy[:, 1] + rng.normal(0, 0.05, len(xy))
    moving = np.abs(radial_comp) > 0.5
    out["dyn_prop"] = np.where(moving, np.where(radial_comp < 0, 2, 0), 1)
    out["id"] = np.arange(len(xy))
    clutter_rcs = rng.uniform(5, 25, len(xy))
    out["rcs"] = np.where(owner >= 0, rcs[np.maximum(owner, 0)] + rng.normal(0, 2.5, len(xy)), clutter_rcs)
    out["vx"], out["vy"] = raw[:, 0], raw[:, 1]
    out["vx_comp"], out["vy_comp"] = comp[:, 0], comp[:, 1]
    out["is_quality_valid"] = 1
    out["ambig_state"] = 3
    out["x_rms"], out["y_rms"] = 3, 3
    out["invalid_state"] = 0
    out["pdh0"] = 1
    out["vx_rms"], out["vy_rms"] = 3, 3
    return out


def write_radar_pcd(path: str | Path, points: np.ndarray) -> None:
    """Write radar clusters as a binary PCD v0.7 file in the nuScenes layout.

    An empty scan is stored as one NaN point (how the devkit recognises empty files).
    A trailing newline follows the binary block (the devkit's reader requires bytes
    after the last field).
    """
    if len(points) == 0:
        points = np.zeros(1, RADAR_DTYPE)
        for name in ("x", "y", "z"):
            points[name] = np.nan
    header = "\n".join([
        "# .PCD v0.7 - Point Cloud Data file format",
        "VERSION 0.7",
        "FIELDS " + " ".join(n for n, _, _ in RADAR_FIELDS),
        "SIZE " + " ".join(str(s) for _, _, s in RADAR_FIELDS),
        "TYPE " + " ".join(t for _, t, _ in RADAR_FIELDS),
        "COUNT " + " ".join("1" for _ in RADAR_FIELDS),
        f"WIDTH {len(points)}",
        "HEIGHT 1",
        "VIEWPOINT 0 0 0 1 0 0 0",
        f"POINTS {len(points)}",
        "DATA binary",
    ]) + "\n"
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(points.astype(RADAR_DTYPE).tobytes())
        f.write(b"\n")
