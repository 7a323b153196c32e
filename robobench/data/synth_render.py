"""Camera rendering of the synthetic world with OpenCV.

The ground is a per-scene texture (asphalt, lane markings, crossings, sidewalks,
grass) in the street's local frame, warped into each view by the ground-plane
homography ``K [r1 r2 t]``; the sky is a vertical gradient; cuboid faces are
back-face culled, clipped at the near plane, shaded by the scene's sun (Lambert plus
ambient) and filled far-to-near (painter's algorithm at cuboid level: cuboids do not
intersect). Shadows are the cuboids projected onto the ground along the sun
direction. Distance haze blends everything towards the horizon colour, which gives
the network a monocular depth cue besides perspective and ground contact.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from robobench.data.synth_sensors import SensorCalib
from robobench.data.synth_world import BIKE_Y, BUILDING_Y, CURB_Y, LANES_Y, Cuboids, Scene

TEXTURE_RES = 0.08  # metres per ground-texture pixel
TEXTURE_HALF_WIDTH = 30.0  # the texture covers |local y| <= this
NEAR = 0.15
HAZE_DIST = 220.0

# Faces of Cuboids.corners(): vertex indices (counter-clockwise seen from outside) and local normal.
_FACES = np.array([[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [2, 3, 7, 6], [1, 2, 6, 5], [3, 0, 4, 7]])
_FACE_NORMALS = np.array([[0, 0, -1], [0, 0, 1], [0, -1, 0], [0, 1, 0], [1, 0, 0], [-1, 0, 0.0]])


@dataclass
class GroundTexture:
    """The street surface of one scene: an RGB image and its placement in the global frame."""

    image: np.ndarray        # (H, W, 3) uint8
    tex_to_global: np.ndarray  # 3x3: texture pixel (u, v, 1) -> global (x, y, 1)
    intensity: np.ndarray    # (H, W) uint8 LiDAR reflectivity of the ground

    def sample_intensity(self, xy: np.ndarray) -> np.ndarray:
        """LiDAR reflectivity at global points ``xy`` (N, 2) (nearest texel; grass outside)."""
        inv = np.linalg.inv(self.tex_to_global)
        uv = (np.column_stack([xy, np.ones(len(xy))]) @ inv.T)[:, :2]
        u = np.round(uv[:, 0]).astype(int)
        v = np.round(uv[:, 1]).astype(int)
        h, w = self.intensity.shape
        inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
        out = np.full(len(xy), 12.0)
        out[inside] = self.intensity[v[inside], u[inside]]
        return out


def make_ground(scene: Scene) -> GroundTexture:
    """Paint the street of ``scene`` (colours and wear vary with the scene's look seed)."""
    rng = np.random.default_rng(scene.look_seed)
    x0, x1 = scene.road_len
    w = int(np.ceil((x1 - x0) / TEXTURE_RES))
    h = int(np.ceil(2 * TEXTURE_HALF_WIDTH / TEXTURE_RES))
    # Layout y of each texture row (the layout constants are before the scene's lateral stretch).
    ys = (TEXTURE_HALF_WIDTH - (np.arange(h) + 0.5) * TEXTURE_RES) / scene.y_scale
    xs = x0 + (np.arange(w) + 0.5) * TEXTURE_RES
    ay = np.abs(ys)[:, None]
    asphalt = np.array([0.30, 0.30, 0.31]) * rng.uniform(0.75, 1.2)
    park = asphalt * rng.uniform(0.85, 0.95)
    sidewalk = np.array([0.62, 0.60, 0.56]) * rng.uniform(0.85, 1.1)
    verge = np.array([0.30, 0.42, 0.20]) if rng.random() < 0.6 else np.array([0.45, 0.40, 0.32])
    img = np.empty((h, w, 3), np.float32)
    inten = np.empty((h, w), np.float32)
    regions = [(ay < LANES_Y[1] + 1.75, asphalt, 8.0), ((ay >= 7.0) & (ay < CURB_Y), park, 9.0),
               ((ay >= CURB_Y) & (ay < BUILDING_Y + 3.0), sidewalk, 25.0), (ay >= BUILDING_Y + 3.0, verge, 14.0)]
    for mask, rgb, r in regions:
        m = np.broadcast_to(mask, (h, w))
        img[m] = rgb
        inten[m] = r
    # Low-frequency wear and high-frequency grain.
    blot = cv2.resize(rng.normal(0, 1, (max(2, h // 40), max(2, w // 40))).astype(np.float32), (w, h),
                      interpolation=cv2.INTER_CUBIC)
    img *= (1.0 + 0.06 * blot)[..., None]
    img += rng.normal(0, 0.025, (h, w, 1)).astype(np.float32)

    def paint(mask: np.ndarray, rgb: tuple[float, float, float]) -> None:
        img[mask] = rgb
        inten[mask] = 90.0

    dash = ((xs % 9.0) < 3.0)[None, :]
    line = 0.15
    white, yellow = (0.88, 0.88, 0.86), (0.85, 0.70, 0.15)
    paint(np.broadcast_to((np.abs(ay - 0.12) < line / 2), (h, w)), yellow)  # double centre line
    paint(np.broadcast_to((np.abs(ay - LANES_Y[1] + 1.75) < line / 2) & dash, (h, w)), white)  # lane divider
    paint(np.broadcast_to(np.abs(ay - 7.0) < line / 2, (h, w)), white)  # road edge
    paint(np.broadcast_to(np.abs(ay - (BIKE_Y + 0.75)) < line / 2, (h, w)), white)  # bike lane edge
    paint(np.broadcast_to(np.abs(ay - CURB_Y) < 0.12, (h, w)), (0.75, 0.74, 0.72))  # curb
    seams = ((ay >= CURB_Y) & (ay < BUILDING_Y)) & ((xs % 1.5) < 0.05)[None, :]
    img[seams] *= 0.8
    # Pedestrian crossings (zebra) at a few places along the street.
    for cx in rng.uniform(x0 + 30, x1 - 30, max(1, int((x1 - x0) / 150))):
        stripes = (np.abs(xs - cx) < 2.0)[None, :] & (ay < 7.0) & ((ys % 1.2) < 0.6)[:, None]
        paint(stripes, white)
    image = np.clip(img * 255, 0, 255).astype(np.uint8)
    local = np.array([[TEXTURE_RES, 0, x0 + TEXTURE_RES / 2], [0, -TEXTURE_RES, TEXTURE_HALF_WIDTH - TEXTURE_RES / 2],
                      [0, 0, 1]])
    c, s = np.cos(scene.heading), np.sin(scene.heading)
    glob = np.array([[c, -s, scene.origin[0]], [s, c, scene.origin[1]], [0, 0, 1]])
    return GroundTexture(image, glob @ local, np.clip(inten, 0, 255).astype(np.uint8))


def _clip_near(poly: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman clip of a camera-frame polygon (K, 3) against z >= NEAR."""
    out = []
    n = len(poly)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        ina, inb = a[2] >= NEAR, b[2] >= NEAR
        if ina:
            out.append(a)
        if ina != inb:
            t = (NEAR - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out)


def _project(k: np.ndarray, pts: np.ndarray) -> np.ndarray:
    uv = pts @ k.T
    return uv[:, :2] / uv[:, 2:3]


@dataclass
class _Background:
    """Per-camera constants of a scene (the ego only translates, so rays keep their direction).

    A ground pixel is ``texture * mult * shadow + add``: ``mult`` holds sunlight and the
    haze transmittance (0 on sky pixels), ``add`` the haze (or the sky colour).
    """

    mult: np.ndarray  # (h, w, 3) float32
    add: np.ndarray   # (h, w, 3) float32


class SceneRenderer:
    """Renders the cameras of one scene; caches per-camera sky and haze maps."""

    def __init__(self, scene: Scene, ground: GroundTexture) -> None:
        self.scene = scene
        self.ground = ground
        self._bg: dict[str, _Background] = {}

    def _background(self, calib: SensorCalib, cam2global: np.ndarray) -> _Background:
        if calib.channel not in self._bg:
            w, h, k = calib.width, calib.height, calib.intrinsic
            uu, vv = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
            rays = np.stack([uu, vv, np.ones_like(uu)], -1) @ np.linalg.inv(k).T @ cam2global[:3, :3].T
            dz = rays[..., 2] / np.linalg.norm(rays, axis=-1)
            with np.errstate(divide="ignore"):
                dist = np.where(dz < -1e-4, cam2global[2, 3] / -dz, np.inf)
            sky = (~np.isfinite(dist) | (dist > 2000))[..., None]
            light = self.scene.lighting
            elev = np.clip(dz, 0, 1)[..., None] ** 0.6
            sky_rgb = light.sky_horizon * (1 - elev) + light.sky_top * elev
            haze = 1 - np.exp(-np.where(sky, np.inf, dist[..., None]) / HAZE_DIST)
            sun = light.tint * (light.ambient + (1 - light.ambient) * max(0.0, light.sun[2])) / 255.0
            mult = np.where(sky, 0.0, (1 - haze) * sun)
            add = np.where(sky, sky_rgb, light.sky_horizon * haze)
            self._bg[calib.channel] = _Background(mult.astype(np.float32), add.astype(np.float32))
        return self._bg[calib.channel]

    def render(self, calib: SensorCalib, cam2global: np.ndarray, cub: Cuboids,
               with_ids: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Render one camera: float RGB (h, w, 3) in 0..1 and optionally an int32 owner map.

        The owner map holds the actor index drawn at each pixel, -1 for clutter and -2
        for ground/sky (tests use it to check that LiDAR returns land on their object).
        """
        w, h, k = calib.width, calib.height, calib.intrinsic
        light = self.scene.lighting
        bg = self._background(calib, cam2global)
        world2cam = np.linalg.inv(cam2global)
        r, t = world2cam[:3, :3], world2cam[:3, 3]
        cam_pos = cam2global[:3, 3]
        h_img = k @ np.column_stack([r[:, 0], r[:, 1], t]) @ self.ground.tex_to_global
        img = cv2.warpPerspective(self.ground.image, h_img, (w, h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=(90, 100, 70)).astype(np.float32)
        corners = cub.corners()
        in_range = np.linalg.norm(cub.center[:, :2] - cam_pos[:2], axis=1) < 120.0
        shadow = np.zeros((h, w), np.uint8)
        for poly in _shadow_polygons(corners[in_range], light.sun, r, t):
            cv2.fillConvexPoly(shadow, np.round(_project(k, poly) * 16).astype(np.int32), 1, cv2.LINE_8, shift=4)
        factor = (shadow.astype(np.float32) * np.float32(light.shadow - 1.0) + 1.0)[..., None]
        img = img * (bg.mult * factor) + bg.add
        ids = np.full((h, w), -2, np.int32) if with_ids else None
        _draw_cuboids(img, ids, cub, corners, in_range, r, t, cam_pos, k, light)
        return img, ids


def _shadow_polygons(corners: np.ndarray, sun: np.ndarray, r: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
    """Ground shadows of cuboids (corners (M, 8, 3)) as camera-frame polygons clipped at the near plane."""
    g = corners[..., :2] - (corners[..., 2:3] / sun[2]) * sun[:2]
    out = []
    for pts in g.astype(np.float32):
        hull = cv2.convexHull(pts).reshape(-1, 2).astype(np.float64)
        poly = hull @ r[:, :2].T + t
        if poly[:, 2].max() < NEAR:
            continue
        if poly[:, 2].min() < NEAR:
            poly = _clip_near(poly)
            if len(poly) < 3:
                continue
        out.append(poly)
    return out


def _paint_order(cub: Cuboids, cand: np.ndarray, cam_pos: np.ndarray) -> np.ndarray:
    """Far-to-near order of cuboids ``cand``: objects by centre distance, and the parts of one
    actor by the distance of their nearest point (so a body covers the wheels beneath it)."""
    group_ctr = cub.center[cand].copy()
    owners = cub.owner[cand]
    actor = owners >= 0
    if actor.any():
        _, inv = np.unique(owners[actor], return_inverse=True)
        sums = np.zeros((inv.max() + 1, 3))
        np.add.at(sums, inv, cub.center[cand][actor])
        group_ctr[actor] = (sums / np.bincount(inv)[:, None])[inv]
    group_dist = np.linalg.norm(group_ctr - cam_pos, axis=1)
    c, s = np.cos(cub.yaw[cand]), np.sin(cub.yaw[cand])
    rel = cam_pos - cub.center[cand]
    local = np.column_stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]])
    half = cub.half[cand]
    near_dist = np.linalg.norm(local - np.clip(local, -half, half), axis=1)
    return np.lexsort((-near_dist, -group_dist))


def _draw_cuboids(img: np.ndarray, ids: np.ndarray | None, cub: Cuboids, corners: np.ndarray, in_range: np.ndarray,
                  r: np.ndarray, t: np.ndarray, cam_pos: np.ndarray, k: np.ndarray, light) -> None:
    """Fill the camera-facing faces of the cuboids far to near (vectorised culling and shading)."""
    cam_corners = corners @ r.T + t
    cand = np.flatnonzero(in_range & (cam_corners[..., 2].max(axis=1) > NEAR))
    if not len(cand):
        return
    cand = cand[_paint_order(cub, cand, cam_pos)]
    h, w = img.shape[:2]
    cy, sy = np.cos(cub.yaw[cand])[:, None], np.sin(cub.yaw[cand])[:, None]
    nx, ny, nz = _FACE_NORMALS[:, 0], _FACE_NORMALS[:, 1], _FACE_NORMALS[:, 2]
    normals = np.stack([cy * nx - sy * ny, sy * nx + cy * ny, np.broadcast_to(nz, cy.shape[:1] + nz.shape)], -1)  # (M, 6, 3)
    face_ctr = corners[cand][:, _FACES].mean(axis=2)  # (M, 6, 3)
    facing = np.sum(normals * (cam_pos - face_ctr), axis=-1) > 0
    faces = cam_corners[cand][:, _FACES]  # (M, 6, 4, 3)
    zmin, zmax = faces[..., 2].min(-1), faces[..., 2].max(-1)
    draw = facing & (zmax > NEAR)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = faces @ k.T
        uv = uv[..., :2] / uv[..., 2:3]
    shade = light.ambient + (1 - light.ambient) * np.clip(normals @ light.sun, 0, None)
    hz = (1 - np.exp(-np.linalg.norm(face_ctr - cam_pos, axis=-1) / HAZE_DIST))[..., None]
    rgb = cub.color[cand][:, None, :] * light.tint * shade[..., None] * (1 - hz) + light.sky_horizon * hz
    whole = zmin >= NEAR
    off = whole & ((uv[..., 0].max(-1) < 0) | (uv[..., 0].min(-1) > w) | (uv[..., 1].max(-1) < 0) | (uv[..., 1].min(-1) > h))
    draw &= ~off
    owners = cub.owner[cand]
    for m, f in zip(*np.nonzero(draw)):
        if whole[m, f]:
            pts = uv[m, f]
        else:
            poly = _clip_near(faces[m, f])
            if len(poly) < 3:
                continue
            pts = _project(k, poly)
        pts = np.round(pts * 16).astype(np.int32)
        cv2.fillConvexPoly(img, pts, rgb[m, f].tolist(), cv2.LINE_AA, shift=4)
        if ids is not None:
            cv2.fillConvexPoly(ids, pts, int(owners[m]), cv2.LINE_8, shift=4)


def finish_image(img: np.ndarray, seed: int) -> np.ndarray:
    """Slight optical blur and sensor noise (seeded); float RGB 0..1 -> uint8 RGB."""
    noise = np.empty(img.shape, np.float32)
    cv2.setRNGSeed(seed)
    cv2.randn(noise, 0.0, 3.0)
    out = cv2.GaussianBlur(img, (3, 3), 0.6) * np.float32(255.0) + noise
    return cv2.convertScaleAbs(np.clip(out, 0, 255))
