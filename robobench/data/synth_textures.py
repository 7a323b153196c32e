"""Procedural textures and the camera response of the realistic synthetic world (generators 3 and 4).

Every texture is generated once per scene from its look seed, vectorised with numpy/OpenCV,
and mapped by the renderer onto planes with a homography (:mod:`synth_render`): a texture is an
RGB *multiplier* of the albedo it lies on, so one facade texture serves every facade colour.
Tiled materials have a physical texel size (metres) and repeat; stretched ones (wheels, plates,
lamps, signs) cover one face exactly.

:func:`finish_photo` turns the rendered linear radiance into what a camera records: auto-exposure,
the scene's white-balance error and low saturation, lens blur and vignetting, signal-dependent
sensor noise, bloom of bright lamps and a filmic tone curve. The JPEG quality nuScenes' cameras
use (80) is applied when the file is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from robobench.data.synth_world import Look, Material

#: Rec. 709 luma weights of linear RGB.
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
#: JPEG quality of the realistic world's images: nuScenes' camera JPEGs carry the IJG quality-80 tables.
JPEG_QUALITY = 80


def tileable_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth zero-mean noise (h, w) float32 of feature size ``cell`` texels that repeats seamlessly."""
    gh, gw = max(2, int(round(h / cell))), max(2, int(round(w / cell)))
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    pad = 2
    sx, sy = w / gw, h / gh
    big = cv2.resize(np.pad(grid, pad, mode="wrap"), (int(round((gw + 2 * pad) * sx)), int(round((gh + 2 * pad) * sy))),
                     interpolation=cv2.INTER_CUBIC)
    x0, y0 = int(round(pad * sx)), int(round(pad * sy))
    out = big[y0:y0 + h, x0:x0 + w]
    return (out - out.mean()) / (out.std() + 1e-6)


def fractal(rng: np.random.Generator, h: int, w: int, cells: tuple[float, ...], decay: float = 0.6) -> np.ndarray:
    """Sum of :func:`tileable_noise` octaves (coarsest first, each ``decay`` times weaker), unit std."""
    out = np.zeros((h, w), np.float32)
    for i, cell in enumerate(cells):
        out += decay ** i * tileable_noise(rng, h, w, cell)
    return out / out.std()


@dataclass
class MaterialTexture:
    """An RGB multiplier image; ``texel`` (m) for a tiled material, None for one stretched over a face."""

    image: np.ndarray          # (H, W, 3) float32
    texel: float | None
    mean: np.ndarray           # (3,) float32: what a face too small to texture is multiplied by
    levels: list[np.ndarray]   # mip pyramid: ``image`` then halves (area-averaged) down to a few texels


def _tex(image: np.ndarray, texel: float | None) -> MaterialTexture:
    image = np.ascontiguousarray(np.clip(image, 0.0, None), np.float32)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    levels = [image]
    while min(levels[-1].shape[:2]) >= 8:
        levels.append(cv2.resize(levels[-1], (levels[-1].shape[1] // 2, levels[-1].shape[0] // 2), interpolation=cv2.INTER_AREA))
    return MaterialTexture(image, texel, image.reshape(-1, 3).mean(axis=0), levels)


def _rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, value) -> None:
    img[int(round(y0)):int(round(y1)), int(round(x0)):int(round(x1))] = value


def _facade(rng: np.random.Generator, style: int, lit_share: float) -> MaterialTexture:
    """Four window bays by three floors: a wall with grain and rain streaks, floor slabs, windows
    (punched, ribbon or curtain wall by ``style``) with frames, reflections and blinds; at night some
    windows (``lit_share`` of them) are lit."""
    res = 0.05
    bay, floor = float(rng.uniform(2.4, 3.6)), float(rng.uniform(3.0, 3.6))
    w, h = int(round(4 * bay / res)), int(round(3 * floor / res))
    wall = 1.0 + 0.12 * fractal(rng, h, w, (24, 6, 2), decay=0.9) + 0.06 * cv2.resize(tileable_noise(rng, 8, w, 2), (w, h))
    img = np.repeat(wall[..., None], 3, axis=2)
    ww = {0: rng.uniform(0.35, 0.6), 1: 1.0, 2: 0.94}[style] * bay
    wh = {0: rng.uniform(0.4, 0.55), 1: rng.uniform(0.3, 0.45), 2: 0.85}[style] * floor
    glass = np.array([0.16, 0.18, 0.22]) * rng.uniform(0.6, 1.1)
    frame = 0.06 / res
    for fy in range(3):
        slab = (fy + 1) * floor / res
        _rect(img, 0, h - slab, w, h - slab + 0.12 / res, 0.78)
        for px in np.arange(0, w, rng.uniform(1.2, 2.0) / res):  # cladding joints
            _rect(img, px, 0, px + 1, h, 0.8)
        for bx in range(4):
            x0 = (bx + 0.5) * bay / res - ww / res / 2
            y1 = h - (fy * floor + 0.55 * (floor - wh)) / res
            y0 = y1 - wh / res
            _rect(img, x0 - frame, y0 - frame, x0 + ww / res + frame, y1 + frame, 1.25)
            pane = glass * rng.uniform(0.7, 1.3)
            if lit_share > 0 and rng.random() < lit_share:  # lit at night
                pane = np.array([1.0, 0.85, 0.6]) * 14.0
            elif rng.random() < 0.25:  # blinds
                pane = np.full(3, rng.uniform(0.7, 1.1))
            rows = int(round(y1)) - int(round(y0))
            grad = np.linspace(1.6, 0.7, max(rows, 1))[:, None, None]
            _rect(img, x0, y0, x0 + ww / res, y1, 0)
            _rect(img, x0 - frame, y0 - 2 * frame, x0 + ww / res + frame, y0 - frame, 0.6)  # lintel shadow
            img[int(round(y0)):int(round(y0)) + rows, int(round(x0)):int(round(x0 + ww / res))] += pane * grad
            if style == 2 or ww > 1.6:  # mullions
                for mx in np.arange(x0 + 1.2 / res, x0 + ww / res - 0.3 / res, 1.2 / res):
                    _rect(img, mx, y0, mx + 0.05 / res, y1, 1.1)
            _rect(img, x0 - frame, y1 + frame, x0 + ww / res + frame, y1 + 2 * frame, 0.55)  # sill shadow
    return _tex(img, res)


def _storefront(rng: np.random.Generator, lit: bool) -> MaterialTexture:
    """Ground-floor shops, 6 m by 3.2 m: glazing with mullions and a door, a sign band above."""
    res = 0.04
    w, h = int(6.0 / res), int(3.2 / res)
    img = np.repeat((1.0 + 0.06 * fractal(rng, h, w, (16, 4)))[..., None], 3, axis=2)
    glass = (np.array([1.0, 0.9, 0.7]) * 9.0) if lit else np.array([0.35, 0.38, 0.42])
    img[int(0.7 / res):h - int(0.1 / res), int(0.1 / res):w - int(0.1 / res)] = glass
    if not lit:  # reflections in the glazing
        img[int(0.7 / res):] *= 1.0 + 0.25 * fractal(rng, h, w, (40, 10))[int(0.7 / res):, :, None]
    for mx in np.arange(0.1, 6.0, 1.5):
        _rect(img, mx / res, 0.7 / res, (mx + 0.06) / res, h, 1.1)
    _rect(img, 2.0 / res, 1.0 / res, 3.0 / res, h, 0.5)  # door
    sign = np.exp(rng.normal(0, 0.6, 3)) * 1.2
    _rect(img, 0, 0, w, 0.6 / res, sign)
    _rect(img, 0.5 / res, 0.15 / res, rng.uniform(2, 5.5) / res, 0.45 / res, np.clip(sign * 0.3, 0.1, None))
    return _tex(img, res)


def _disk(size: int, radii: tuple[float, ...], values: tuple[float, ...]) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(xx - (size - 1) / 2, yy - (size - 1) / 2) / (size / 2)
    out = np.full((size, size), values[0], np.float32)
    for radius, value in zip(radii, values[1:]):
        out[r < radius] = value
    return out


def make_materials(rng: np.random.Generator, look: Look) -> dict[int, list[MaterialTexture]]:
    """Every material's texture(s) for one scene (facades come in three styles)."""
    night = look.condition == "night"
    lit = 0.35 if night else 0.0
    res = 0.01
    paint = 1.0 + 0.03 * fractal(rng, 100, 200, (20, 3))
    paint *= np.linspace(1.12, 0.85, 100)[:, None]  # sky above, ground below: the body is lighter on top
    for x in rng.uniform(0, 200, 2).astype(int):  # panel seams
        paint[:, x:x + 1] *= 0.55
    glass = 0.8 + 0.25 * fractal(rng, 200, 160, (40, 12))
    yy, xx = np.mgrid[:200, :160]
    glass += 0.8 * (np.abs(((xx + 0.8 * yy) % 160) - 60) < 6)  # a diagonal reflection
    glass[:, :12] = 0.5  # pillar
    tyre = _disk(64, (0.66, 0.6, 0.2), (1.0, 1.5, 5.0, 2.5))
    lamp = 0.8 + 0.6 * _disk(32, (0.6,), (0.0, 1.0))
    plate = np.full((24, 96), 1.0, np.float32)
    plate[[0, 1, -2, -1], :] = 0.4
    for cx in np.arange(12, 84, 11):
        plate[6:18, cx:cx + 7] = 0.15 if rng.random() < 0.9 else 1.0
    leaves = fractal(rng, 200, 200, (12, 4, 2))
    foliage = np.clip(1.0 + 0.8 * leaves, 0.2, None)[..., None] * np.array([0.95, 1.0, 0.85])
    foliage[leaves < -0.6] = 0.15  # gaps between the leaves
    cargo = 1.0 + 0.04 * fractal(rng, 100, 120, (20, 4))
    cargo[:, ::30] *= 0.6  # ribs of a box body every 0.3 m
    cargo[:, 1::30] *= 1.25
    sign = 1.4 * _disk(64, (0.75, 0.5), (1.0, 1.0, 2.2))
    return {
        Material.FACADE: [_facade(rng, s, lit) for s in range(3)],
        Material.STOREFRONT: [_storefront(rng, night)],
        Material.PAINT: [_tex(paint, res)],
        Material.CARGO: [_tex(cargo, res)],
        Material.GLASS: [_tex(glass, res)],
        Material.TYRE: [_tex(tyre, None)],
        Material.LAMP: [_tex(lamp, None)],
        Material.PLATE: [_tex(plate, None)],
        Material.CLOTH: [_tex(1.0 + 0.15 * fractal(rng, 50, 50, (10, 3)) + 0.1 * tileable_noise(rng, 50, 50, 25), res)],
        Material.SKIN: [_tex(1.0 + 0.06 * fractal(rng, 32, 32, (8, 2)), res)],
        Material.HAIR: [_tex(1.0 + 0.3 * cv2.resize(tileable_noise(rng, 8, 32, 1), (32, 32)), res)],
        Material.FOLIAGE: [_tex(foliage, 0.02)],
        Material.BARK: [_tex(1.0 + 0.25 * cv2.resize(tileable_noise(rng, 16, 50, 2), (50, 100)), res)],
        Material.METAL: [_tex(1.0 + 0.12 * fractal(rng, 50, 50, (12, 3)), res)],
        Material.CONCRETE: [_tex(1.0 + 0.12 * fractal(rng, 100, 100, (25, 6, 2)), 0.02)],
        Material.SIGN: [_tex(sign, None)],
    }


def ground_detail(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Fine asphalt/paving grain (a 2.56 m tile at 1 cm a texel, multiplier around 1) and its texel size."""
    n = 256
    grain = 0.22 * fractal(rng, n, n, (16, 5, 2.5), decay=0.9)
    stones = rng.random((n, n)) < 0.02
    grain[stones] += 0.3
    return np.ascontiguousarray(1.0 + grain, np.float32), 0.01


def cloud_texture(rng: np.random.Generator, cover: float) -> np.ndarray:
    """Cloud density 0..1 on a 512-texel tile (``cover``: the fraction of the sky they cover)."""
    n = fractal(rng, 512, 512, (128, 48, 16, 6), decay=0.55)
    thr = np.quantile(n, 1.0 - cover) if cover > 0 else n.max() + 1
    return np.clip((n - thr) / 0.8, 0, 1).astype(np.float32)


def vignette(h: int, w: int) -> np.ndarray:
    """Relative illumination of the lens, (h, w, 1): about cos^4 of the field angle, 25 % off in the corners."""
    yy, xx = np.mgrid[:h, :w]
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (w / 2)) ** 2
    return (1.0 - 0.2 * r2).astype(np.float32)[..., None]


#: Gain of the ISP's local-contrast (band-pass) boost and sigma (pixels of a 704-wide view) of the
#: lens blur in :func:`finish_photo`. Generator 4 raised the gain from 0.8 and lowered the blur from
#: 0.48, so that the average view keeps real views' sharpness under its scenes' haze and glare.
LOCAL_CONTRAST = 1.6
LENS_BLUR = 0.36


def _filmic(x: np.ndarray) -> np.ndarray:
    """Narkowicz's fit of the ACES film curve (linear -> display, highlights roll off), then gamma 2.2."""
    y = (x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14)
    return np.clip(y, 0, 1) ** (1 / 2.2)


def finish_photo(img: np.ndarray, look: Look, seed: int, vig: np.ndarray) -> np.ndarray:
    """Linear radiance (h, w, 3) -> uint8 RGB as a camera records it.

    Auto-exposure scales the mean luminance to ``look.exposure`` (capped, so night stays dark and
    noisy), the white-balance error and the loss of saturation follow, then lens blur,
    vignetting, bloom of what the exposure clips, the local-contrast boost camera ISPs apply,
    shot and read noise whose gain grows with the exposure, and the filmic tone
    curve. Seeded: same inputs, same bytes.
    """
    h, w = img.shape[:2]
    scale = w / 1600.0
    lum = float((img.reshape(-1, 3) @ LUMA).mean())
    gain = min(look.exposure / max(lum, 1e-5), 12.0 if look.condition == "night" else 4.0)
    x = img * (np.float32(gain) * look.white_balance.astype(np.float32))
    grey = (x @ LUMA)[..., None]
    x = grey + np.float32(look.saturation) * (x - grey)
    over = np.clip(x - 1.0, 0, None)
    if over.max() > 0:
        x = x + 0.5 * cv2.GaussianBlur(over, (0, 0), 12.0 * scale + 1)
    # Lens blur: tuned at the model's 704-pixel width; at 1600 pixels the renderer's textures are
    # themselves softer (a texel spans more pixels), so the blur grows slower than the image.
    x = cv2.GaussianBlur(x, (0, 0), LENS_BLUR * np.sqrt(w / 704.0)) * vig
    # The ISP's local-contrast enhancement: a band-pass boost at a few pixels' scale.
    # (on the clipped image: lamps would otherwise ring with dark halos).
    xc = np.minimum(x, np.float32(1.0))
    x = x + np.float32(LOCAL_CONTRAST) * (cv2.GaussianBlur(xc, (0, 0), 3.4 * scale) - cv2.GaussianBlur(xc, (0, 0), 13.6 * scale))
    # Noise per pixel of the full-size sensor: a 704-wide rendering stands for a downsampled view,
    # whose noise averaging has already lowered by the size ratio.
    sd = np.float32(look.noise * 0.008 * w / 704.0) * np.sqrt(np.clip(x, 0, None) * np.float32(0.5) + np.float32(0.02 * min(gain, 4.0)))
    noise = np.empty((h, w, 3), np.float32)
    cv2.setRNGSeed(seed)
    cv2.randn(noise, 0.0, 1.0)
    x = x + sd * (noise * np.float32(0.35) + noise[..., 1:2] * np.float32(0.75))  # mostly luminance noise
    return np.round(_filmic(np.clip(x, 0, None)) * 255).astype(np.uint8)
