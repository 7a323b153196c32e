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
from robobench.data.synth_textures import cloud_texture, finish_photo, fractal, ground_detail, make_materials, tileable_noise, vignette
from robobench.data.synth_world import BIKE_Y, BUILDING_Y, CURB_Y, LANES_Y, Cuboids, Material, Scene

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


def _ground_grid(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local x of each ground-texture column, layout y of each row (before the scene's lateral
    stretch) and its absolute value as a column vector."""
    x0, x1 = scene.road_len
    w = int(np.ceil((x1 - x0) / TEXTURE_RES))
    h = int(np.ceil(2 * TEXTURE_HALF_WIDTH / TEXTURE_RES))
    ys = (TEXTURE_HALF_WIDTH - (np.arange(h) + 0.5) * TEXTURE_RES) / scene.y_scale
    xs = x0 + (np.arange(w) + 0.5) * TEXTURE_RES
    return xs, ys, np.abs(ys)[:, None]


def make_ground(scene: Scene) -> GroundTexture:
    """Paint the street of ``scene`` (colours and wear vary with the scene's look seed)."""
    rng = np.random.default_rng(scene.look_seed)
    x0, x1 = scene.road_len
    xs, ys, ay = _ground_grid(scene)
    h, w = len(ys), len(xs)
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


def _view_geometry(calib: SensorCalib, cam2global: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel of a camera: the ray direction (h, w, 3, not normalised), the cosine of its angle to
    the vertical, the distance along it to the ground (inf above the horizon) and the sky mask (h, w, 1)."""
    w, h, k = calib.width, calib.height, calib.intrinsic
    uu, vv = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    rays = np.stack([uu, vv, np.ones_like(uu)], -1) @ np.linalg.inv(k).T @ cam2global[:3, :3].T
    dz = rays[..., 2] / np.linalg.norm(rays, axis=-1)
    with np.errstate(divide="ignore"):
        dist = np.where(dz < -1e-4, cam2global[2, 3] / -dz, np.inf)
    sky = (~np.isfinite(dist) | (dist > 2000))[..., None]
    return rays, dz, dist, sky


class SceneRenderer:
    """Renders the cameras of one scene; caches per-camera sky and haze maps."""

    def __init__(self, scene: Scene, ground: GroundTexture) -> None:
        self.scene = scene
        self.ground = ground
        self._bg: dict[str, _Background] = {}

    def _background(self, calib: SensorCalib, cam2global: np.ndarray) -> _Background:
        if calib.channel not in self._bg:
            _, dz, dist, sky = _view_geometry(calib, cam2global)
            light = self.scene.lighting
            elev = np.clip(dz, 0, 1)[..., None] ** 0.6
            sky_rgb = light.sky_horizon * (1 - elev) + light.sky_top * elev
            haze = 1 - np.exp(-np.where(sky, np.inf, dist[..., None]) / HAZE_DIST)
            sun = light.tint * (light.ambient + (1 - light.ambient) * max(0.0, light.sun[2])) / 255.0
            mult = np.where(sky, 0.0, (1 - haze) * sun)
            add = np.where(sky, sky_rgb, light.sky_horizon * haze)
            self._bg[calib.channel] = _Background(mult.astype(np.float32), add.astype(np.float32))
        return self._bg[calib.channel]

    def finish(self, img: np.ndarray, seed: int) -> np.ndarray:
        """A render -> the uint8 RGB image written to disk (:func:`finish_image`)."""
        return finish_image(img, seed)

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


@dataclass
class _Faces:
    """The faces to draw of the cuboids ``cand`` (far to near), culled and shaded at once."""

    cand: np.ndarray    # (M,) cuboid indices in paint order
    draw: np.ndarray    # (M, 6) bool: camera-facing, in front of the near plane, on screen
    whole: np.ndarray   # (M, 6) bool: entirely in front of the near plane
    faces: np.ndarray   # (M, 6, 4, 3) corners in the camera frame
    uv: np.ndarray      # (M, 6, 4, 2) projected corners (valid where ``whole``)
    lit: np.ndarray     # (M, 6, 3) albedo x light x haze transmittance
    haze: np.ndarray    # (M, 6, 3) haze added in front of the face

    def polygons(self, k: np.ndarray):
        """``(m, f, points)`` of every face to draw, points in pixels (clipped at the near plane)."""
        for m, f in zip(*np.nonzero(self.draw)):
            if self.whole[m, f]:
                yield m, f, self.uv[m, f]
            else:
                poly = _clip_near(self.faces[m, f])
                if len(poly) >= 3:
                    yield m, f, _project(k, poly)


def _visible_faces(cub: Cuboids, corners: np.ndarray, in_range: np.ndarray, r: np.ndarray, t: np.ndarray,
                   cam_pos: np.ndarray, k: np.ndarray, light, w: int, h: int, haze_dist: float = HAZE_DIST) -> _Faces | None:
    """Back-face culling, near-plane and screen tests, Lambert shading and haze of every face (vectorised)."""
    cam_corners = corners @ r.T + t
    cand = np.flatnonzero(in_range & (cam_corners[..., 2].max(axis=1) > NEAR))
    if not len(cand):
        return None
    cand = cand[_paint_order(cub, cand, cam_pos)]
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
    hz = (1 - np.exp(-np.linalg.norm(face_ctr - cam_pos, axis=-1) / haze_dist))[..., None]
    lit = cub.color[cand][:, None, :] * light.tint * shade[..., None] * (1 - hz)
    whole = zmin >= NEAR
    off = whole & ((uv[..., 0].max(-1) < 0) | (uv[..., 0].min(-1) > w) | (uv[..., 1].max(-1) < 0) | (uv[..., 1].min(-1) > h))
    return _Faces(cand, draw & ~off, whole, faces, uv, lit, light.sky_horizon * hz)


def _draw_cuboids(img: np.ndarray, ids: np.ndarray | None, cub: Cuboids, corners: np.ndarray, in_range: np.ndarray,
                  r: np.ndarray, t: np.ndarray, cam_pos: np.ndarray, k: np.ndarray, light) -> None:
    """Fill the camera-facing faces of the cuboids far to near in flat colours."""
    h, w = img.shape[:2]
    vis = _visible_faces(cub, corners, in_range, r, t, cam_pos, k, light, w, h)
    if vis is None:
        return
    rgb = vis.lit + vis.haze
    owners = cub.owner[vis.cand]
    for m, f, pts in vis.polygons(k):
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


def make_realistic_ground(scene: Scene) -> GroundTexture:
    """The realistic world's street (float RGB albedo): the flat street of :func:`make_ground` with
    several scales of texture on top: asphalt wear and repairs, cracks, oil stains and manholes, worn
    lane paint, paving slabs with varying tone, kerb stones (sometimes striped black and white), grass
    and soil on the verge; a darker, wetter road in rain; pools of lamp light at night. LiDAR
    reflectivity stays the flat street's."""
    base = make_ground(scene)
    look = scene.look
    rng = np.random.default_rng([scene.look_seed, 3])
    xs, ys, ay = _ground_grid(scene)
    h, w = len(ys), len(xs)
    img = base.image.astype(np.float32) * np.float32(1 / 255)
    # Regions are bands of rows: (h, 1) masks broadcast along the street.
    road, verge = ay < 7.0, ay >= BUILDING_Y + 3.0
    walk = (ay >= CURB_Y + 0.12) & ~verge
    paint = (base.intensity == 90)[..., None]
    # Paint wears off where tyres run; repairs, stains and cracks mark the asphalt.
    asphalt = np.median(img[::7, ::7][((base.intensity != 90) & road)[::7, ::7]], axis=0)
    wear = np.clip(0.35 + 0.35 * tileable_noise(rng, h, w, 6), 0, 0.9)[..., None]
    img = np.where(paint, img * (1 - wear) + asphalt * wear, img)
    repair = np.ones((h, w), np.float32)
    for _ in range(int(w * 0.004)):
        cx, cy = int(rng.integers(w)), int(rng.integers(h))
        repair[cy:cy + int(rng.integers(8, 40)), cx:cx + int(rng.integers(10, 60))] = float(rng.uniform(0.8, 1.15))
    crack = np.zeros((h, w), np.uint8)
    for _ in range(int(w * 0.01)):
        pts = rng.uniform([0, 0], [w, h]) + np.cumsum(rng.normal(0, 4, (int(rng.integers(4, 14)), 2)), axis=0)
        cv2.polylines(crack, [np.round(pts * 16).astype(np.int32)], False, 255, 1, cv2.LINE_AA, shift=4)
    stains = np.clip(tileable_noise(rng, h, w, 12) - 1.6, 0, 1)
    tone = 1.0 + 0.05 * tileable_noise(rng, h, w, 40) + 0.04 * tileable_noise(rng, h, w, 8)
    on_road = tone * (repair - crack * np.float32(0.5 / 255) - 0.35 * stains)
    on_road = np.where(paint[..., 0], tone, on_road)
    # Paving slabs with their own tone and seams, grass on the verge.
    slab = float(rng.uniform(0.5, 1.0))
    n = int(slab / TEXTURE_RES)
    tiles = rng.uniform(0.88, 1.1, (h // n + 2, w // n + 2)).astype(np.float32)
    slabs = np.kron(tiles, np.ones((n, n), np.float32))[:h, :w]
    seam = ((ys % slab) < TEXTURE_RES)[:, None] | ((xs % slab) < TEXTURE_RES)[None, :]
    on_walk = slabs * np.where(seam, np.float32(0.75), np.float32(1.0))
    grass = np.clip(1.0 + 0.35 * fractal(rng, h, w, (16, 3, 1.2), decay=0.8), 0.2, None)
    factor = np.where(road, on_road, np.where(walk, on_walk, np.where(verge, grass, np.float32(1.0))))
    if look.rain:
        factor = factor * np.where(road | walk, np.float32(0.6), np.float32(1.0))
    img *= factor[..., None]
    for _ in range(int(w * 0.002)):  # manholes
        cv2.circle(img, (int(rng.integers(w)), int(rng.integers(h))), 4, (0.18, 0.18, 0.18), 1, cv2.LINE_AA)
    kerb = np.abs(ay[:, 0] - CURB_Y) < 0.16
    stone = (xs // 1.0) % 2 == 0
    tone_kerb = np.where(stone, 0.15, 1.0) if rng.random() < 0.4 else np.where(stone, 0.92, 1.05)
    img[kerb] = (0.78 * tone_kerb).astype(np.float32)[None, :, None]
    if look.condition == "night":
        lamps = scene.clutter.material == Material.LAMP
        uv = np.column_stack([scene.clutter.center[lamps, :2], np.ones(int(lamps.sum()))]) @ np.linalg.inv(base.tex_to_global).T
        pool = np.zeros((h, w), np.float32)
        sigma = 5.0 / TEXTURE_RES
        for u, v, _ in uv:
            x0, x1 = int(max(0, u - 3 * sigma)), int(min(w, u + 3 * sigma))
            y0, y1 = int(max(0, v - 3 * sigma)), int(min(h, v + 3 * sigma))
            if x1 > x0 and y1 > y0:
                yy, xx = np.mgrid[y0:y1, x0:x1]
                pool[y0:y1, x0:x1] += np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * sigma ** 2))
        img *= 1.0 + 12.0 * pool[..., None] * np.array([1.0, 0.85, 0.6], np.float32)
    return GroundTexture(np.ascontiguousarray(img, np.float32), base.tex_to_global, base.intensity)


#: Sky radiance relative to a white surface under the sky's light (how much brighter the sky looks).
SKY_RADIANCE = 2.0
#: Light the lamp faces emit (linear, multiplies their colour) per condition: lit at night and dusk.
_EMISSION = {"night": 3.0, "dusk": 1.0}


class RealisticRenderer(SceneRenderer):
    """The realistic world's cameras (generator 4): the flat renderer's geometry (ground homography,
    shadows, culled far-to-near faces, haze) with textured surfaces, a cloudy sky, wet-road
    reflections, emitting lamps, the scene's own haze and the lens's veiling glare, rendered to linear
    radiance and finished by :func:`finish_photo`.

    Every texture is made once per scene; each face of a cuboid is its plane's homography applied
    to its material's texture, within the face's bounding box, blended by its anti-aliased mask.
    """

    #: Faces smaller than this (pixels of their bounding box) are filled with their texture's mean.
    MIN_TEXTURED_AREA = 120

    def __init__(self, scene: Scene, ground: GroundTexture) -> None:
        super().__init__(scene, ground)
        rng = np.random.default_rng([scene.look_seed, 5])
        self.materials = make_materials(rng, scene.look)
        self.detail, self.detail_texel = ground_detail(rng)
        self.clouds = cloud_texture(rng, scene.look.cloud_cover)
        self.haze_dist = scene.look.haze_dist
        self._view: dict[str, tuple[_Background, np.ndarray, np.ndarray]] = {}
        h, w = ground.image.shape[:2]
        self.ground_far = cv2.resize(ground.image, (w // 4, h // 4), interpolation=cv2.INTER_AREA)  # a mip level
        self._vignette: dict[tuple[int, int], np.ndarray] = {}

    def _realistic_background(self, calib: SensorCalib, cam2global: np.ndarray) -> tuple[_Background, np.ndarray, np.ndarray]:
        """(sky and haze maps, weight of the fine ground grain, weight of the coarse ground mip) of one camera, cached."""
        if calib.channel not in self._view:
            rays, dz, dist, sky = _view_geometry(calib, cam2global)
            light, look = self.scene.lighting, self.scene.look
            rays = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
            haze = 1 - np.exp(-np.where(sky, np.inf, dist[..., None]) / self.haze_dist)
            elev = np.clip(dz, 0, 1)[..., None] ** 0.6
            sky_rgb = light.sky_horizon * (1 - elev) + light.sky_top * elev
            up = np.maximum(dz, 0.03)
            cu = (rays[..., 0] / up * 4.0).astype(np.float32) % self.clouds.shape[1]
            cv = (rays[..., 1] / up * 4.0).astype(np.float32) % self.clouds.shape[0]
            cloud = cv2.remap(self.clouds, cu, cv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)[..., None]
            bright = np.float32(0.15 if look.condition == "night" else 1.0) * light.sky_horizon.max()
            sky_rgb = sky_rgb * (1 - cloud) + bright * (1.05 - 0.35 * cloud) * cloud
            sky_rgb = sky_rgb * SKY_RADIANCE  # the sky outshines what it lights: cameras clip it
            sun = light.tint * (light.ambient + (1 - light.ambient) * max(0.0, light.sun[2]))
            mult = np.where(sky, 0.0, (1 - haze) * sun)
            add = np.where(sky, sky_rgb, light.sky_horizon * haze)
            if look.rain:  # the wet road mirrors the sky, more at grazing angles (Schlick's Fresnel term)
                fresnel = 0.02 + 0.98 * (1 - np.clip(-dz, 0, 1)) ** 5
                add = add + np.where(sky, 0.0, (1 - haze) * 0.5 * fresnel[..., None] * light.sky_horizon)
            grain = np.where(sky[..., 0], 0.0, np.clip(1.3 - dist / 40.0, 0.2, 1.0)).astype(np.float32)
            far = np.clip((dist - 15.0) / 30.0, 0.0, 1.0).astype(np.float32)
            self._view[calib.channel] = (_Background(mult.astype(np.float32), add.astype(np.float32)), grain[..., None],
                                         far[..., None])
        return self._view[calib.channel]

    def render(self, calib: SensorCalib, cam2global: np.ndarray, cub: Cuboids,
               with_ids: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Render one camera: linear RGB radiance (h, w, 3) float32 and optionally the owner map (as the flat renderer)."""
        w, h, k = calib.width, calib.height, calib.intrinsic
        light = self.scene.lighting
        bg, grain, far = self._realistic_background(calib, cam2global)
        world2cam = np.linalg.inv(cam2global)
        r, t = world2cam[:3, :3], world2cam[:3, 3]
        cam_pos = cam2global[:3, 3]
        h_img = k @ np.column_stack([r[:, 0], r[:, 1], t]) @ self.ground.tex_to_global
        img = cv2.warpPerspective(self.ground.image, h_img, (w, h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=(0.3, 0.33, 0.25))
        # Far away a texel is smaller than a pixel: blend towards the coarse level so it does not alias.
        coarse = cv2.warpPerspective(self.ground_far, h_img @ np.diag([4.0, 4.0, 1.0]), (w, h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=(0.3, 0.33, 0.25))
        img += far * (coarse - img)
        s = TEXTURE_RES / self.detail_texel
        fine = cv2.warpPerspective(self.detail, h_img @ np.diag([1 / s, 1 / s, 1.0]), (w, h), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_WRAP)
        img *= 1.0 + (fine[..., None] - 1.0) * grain
        corners = cub.corners()
        in_range = np.linalg.norm(cub.center[:, :2] - cam_pos[:2], axis=1) < 120.0
        shadow = np.zeros((h, w), np.uint8)
        for poly in _shadow_polygons(corners[in_range], light.sun, r, t):
            cv2.fillConvexPoly(shadow, np.round(_project(k, poly) * 16).astype(np.int32), 1, cv2.LINE_8, shift=4)
        shadow = cv2.GaussianBlur(shadow.astype(np.float32), (0, 0), 0.6 + w / 1600)  # soft shadow edges
        img = img * (bg.mult * (shadow * np.float32(light.shadow - 1.0) + 1.0)[..., None]) + bg.add
        ids = np.full((h, w), -2, np.int32) if with_ids else None
        vis = _visible_faces(cub, corners, in_range, r, t, cam_pos, k, light, w, h, self.haze_dist)
        if vis is not None:
            self._draw_textured(img, ids, cub, corners, vis, r, t, k)
        return self._veiling_glare(img, cam2global), ids

    def _veiling_glare(self, img: np.ndarray, cam2global: np.ndarray) -> np.ndarray:
        """Light scattered inside the lens: a uniform veil of the view's mean colour, ``look.glare`` of
        the mean radiance when the camera looks towards a sun low enough to shine into it (30 % of it
        looking away; a fixed 50 % under an overcast or night sky, whose light comes from everywhere)."""
        look, sun = self.scene.look, self.scene.lighting.sun
        facing = 0.5
        if look.condition in ("day", "dusk"):
            fwd = cam2global[:2, 2] / max(float(np.linalg.norm(cam2global[:2, 2])), 1e-9)
            facing = 0.3 + 0.7 * max(0.0, float(fwd @ sun[:2]) / max(float(np.linalg.norm(sun[:2])), 1e-9))
        veil = np.float32(look.glare * facing) * img.reshape(-1, 3).mean(axis=0)
        return img + veil.astype(np.float32)

    def _draw_textured(self, img: np.ndarray, ids: np.ndarray | None, cub: Cuboids, corners: np.ndarray, vis: _Faces,
                       r: np.ndarray, t: np.ndarray, k: np.ndarray) -> None:
        h, w = img.shape[:2]
        emission = _EMISSION.get(self.scene.look.condition, 0.0)
        for m, f, pts in vis.polygons(k):
            idx = vis.cand[m]
            mat = int(cub.material[idx])
            lit = vis.lit[m, f]
            if mat == Material.LAMP and emission:
                lit = lit + cub.color[idx] * emission
            ipts = np.round(pts * 16).astype(np.int32)
            if ids is not None:
                cv2.fillConvexPoly(ids, ipts, int(cub.owner[idx]), cv2.LINE_8, shift=4)
            x0, y0 = max(0, int(np.floor(pts[:, 0].min()))), max(0, int(np.floor(pts[:, 1].min())))
            x1, y1 = min(w, int(np.ceil(pts[:, 0].max())) + 1), min(h, int(np.ceil(pts[:, 1].max())) + 1)
            if x1 <= x0 or y1 <= y0:
                continue
            texs = self.materials.get(mat)
            if texs is None or (x1 - x0) * (y1 - y0) < self.MIN_TEXTURED_AREA:
                mean = texs[idx % len(texs)].mean if texs else 1.0
                cv2.fillConvexPoly(img, ipts, (lit * mean + vis.haze[m, f]).tolist(), cv2.LINE_AA, shift=4)
                continue
            tex = texs[idx % len(texs)]
            face = corners[idx][_FACES[f]]
            eu, ev = face[1] - face[0], face[3] - face[0]
            plane = k @ np.column_stack([r @ eu, r @ ev, r @ face[0] + t])  # (a, b, 1) on the face -> pixel
            # Mip level: about one texel per pixel, so distant textures do not alias.
            px = max(1.0, abs(float(cv2.contourArea(pts.astype(np.float32)))))
            texels = tex.image.shape[0] * tex.image.shape[1] if tex.texel is None else \
                float(np.linalg.norm(eu) * np.linalg.norm(ev)) / tex.texel ** 2
            level = int(np.clip(np.floor(0.5 * np.log2(max(texels / px, 1.0))), 0, len(tex.levels) - 1))
            image = tex.levels[level]
            th, tw = image.shape[:2]
            # Face (a, b) -> texel (sa * a + ca, sb * b + cb), inverted in closed form.
            if tex.texel is None:  # stretched over the face, bottom edge at the texture's last row
                sa, ca, sb, cb = tw, 0.0, -th, th
            else:  # tiled at its physical size, rows anchored to the ground, a phase per cuboid
                ppm = tw / (tex.image.shape[1] * tex.texel)
                sa, ca = np.linalg.norm(eu) * ppm, (idx * 0.618 % 1.0) * tw
                sb, cb = -np.linalg.norm(ev) * ppm, (th - face[0, 2] * ppm) % th
            from_tex = np.array([[1 / sa, 0, -ca / sa], [0, 1 / sb, -cb / sb], [0, 0, 1.0]])
            shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1.0]])
            warped = cv2.warpPerspective(image, shift @ plane @ from_tex, (x1 - x0, y1 - y0),
                                         flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REPLICATE if tex.texel is None else cv2.BORDER_WRAP)
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillConvexPoly(mask, ipts - np.array([x0 * 16, y0 * 16], np.int32), 255, cv2.LINE_AA, shift=4)
            alpha = mask.astype(np.float32)[..., None] * np.float32(1 / 255)
            roi = img[y0:y1, x0:x1]
            roi += alpha * (warped * lit.astype(np.float32) + vis.haze[m, f].astype(np.float32) - roi)

    def finish(self, img: np.ndarray, seed: int) -> np.ndarray:
        """Linear radiance -> the camera's uint8 RGB (:func:`finish_photo`)."""
        size = img.shape[:2]
        if size not in self._vignette:
            self._vignette[size] = vignette(*size)
        return finish_photo(img, self.scene.look, seed, self._vignette[size])
