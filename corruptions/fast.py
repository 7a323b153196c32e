"""The fast engine: vectorised re-derivations of the RoboBEV corruptions.

Each function takes one HxWx3 uint8 RGB view and returns a new uint8 view. Deterministic
corruptions equal the reference up to float rounding (at most 1 grey level); stochastic
ones draw their random parts (blur angle, noise, plasma fractal, snow flakes) from the
same distributions as the reference, from the ``numpy.random.Generator`` they are given.
Where the reference loops over kernel taps or evaluates colour-space conversions per
pixel in float64, this engine uses look-up tables over the 256 grey levels (LowLight
samples each level's whole output law by inverse CDF), direct OpenCV ``filter2D`` calls
with the exact sparse tap kernel, float32 and exact 8-bit arithmetic, and works block
by block of rows wherever large temporaries would otherwise leave the cache.

The semantics re-derived here (see ``imagecorruptions`` 1.1.2 and RoboBEV):

- **Brightness**: HSV V += c (clipped to 1) keeps hue and saturation, so every channel
  is scaled by ``min(V + c, 1) / V`` (a black pixel becomes grey ``c``); ``floor(255 x)``.
- **ColorQuant**: keep the ``5 - severity`` high bits of every channel.
- **LowLight**: ``y = ((x - min) / (max - min))^2 * gain``; ``k ~ Poisson(y * cp)``;
  ``out = floor(255 * clip(clip(k / cp, 0, 1) + N(0, cg), 0, 1))``.
- **Fog**: diamond-square plasma fractal on a power-of-two square map covering the
  image, normalised to [0, 1]; ``out = floor(255 * clip((x + a p) m / (m + a), 0, 1))``
  with ``m`` the image maximum.
- **MotionBlur**: a one-sided Gaussian line kernel of ``2 r + 1`` taps along a random
  angle, applied with replicated borders.
- **Snow**: Gaussian flakes, zoomed (bilinear, corner-aligned), thresholded, motion
  blurred along a random angle, quantised to 8 bits; the image is blended towards a
  brightened grey version and the flake layer plus its 180-degree rotation is added.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache

import cv2
import numpy as np
from scipy import special, stats

from corruptions import params

# ----------------------------------------------------------------------------- helpers


_SCRATCH = threading.local()

#: Above this many bytes of work arrays (e.g. after images of many sizes) a thread drops them all.
SCRATCH_LIMIT_BYTES = 512 * 2**20


def scratch(name: str, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """A per-thread work array reused across calls; its contents are undefined.

    Fresh multi-megabyte temporaries cost page faults on every call (often more than the
    arithmetic done in them), so intermediate results live in these buffers; only the
    returned images are newly allocated. At 1600x900 the buffers hold a few full-size float
    images per thread; they are dropped when they exceed :data:`SCRATCH_LIMIT_BYTES`.
    """
    key = (name, shape, np.dtype(dtype).str)
    store: dict = _SCRATCH.__dict__.setdefault("buffers", {})
    if key not in store:
        need = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if need + sum(b.nbytes for b in store.values()) > SCRATCH_LIMIT_BYTES:
            store.clear()
        store[key] = np.empty(shape, dtype)
    return store[key]


#: Bytes of index array per block of rows in the gather loops (a block's temporaries stay in cache).
_BLOCK_BYTES = 1 << 19


def row_blocks(height: int, row_bytes: int) -> Iterator[slice]:
    """Consecutive row ranges of about :data:`_BLOCK_BYTES` each (at least one row).

    The table look-ups build 8-byte index arrays, eight times the size of the 8-bit data;
    built and consumed block by block they never leave the cache, which halves the cost.
    """
    step = max(1, _BLOCK_BYTES // max(row_bytes, 1))
    for start in range(0, height, step):
        yield slice(start, min(start + step, height))


def per_channel(image: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``fn`` (uint8 H x W plane -> uint8 plane) to each colour plane.

    Working on contiguous planes keeps numpy's inner loops long; broadcasting an H x W
    array against H x W x 3 makes the innermost loop 3 elements long, which is slower.
    """
    return cv2.merge([fn(plane) for plane in cv2.split(image)])


def line_kernel_taps(radius: int, sigma: float, angle: float, shape: tuple[int, int]) -> list[tuple[int, int, float]]:
    """Taps ``(dy, dx, weight)`` of the ImageNet-C motion-blur kernel.

    ``width = 2 radius + 1`` taps with weights ``exp(-i^2 / (2 sigma^2))`` normalised to
    sum 1; tap ``i`` reads the pixel displaced by ``round(i (sin a, cos a))`` (rounded as
    ``ceil(t - 0.5)``) towards the origin. As in the reference, taps stop at the first
    one whose displacement reaches the image size (the kernel is then not renormalised).
    """
    width = 2 * radius + 1
    weights = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2))
    weights = weights / weights.sum()
    py, px = width * math.sin(math.radians(angle)), width * math.cos(math.radians(angle))
    norm = math.hypot(py, px)
    taps = []
    for i in range(width):
        dy = -math.ceil(i * py / norm - 0.5)
        dx = -math.ceil(i * px / norm - 0.5)
        if abs(dy) >= shape[0] or abs(dx) >= shape[1]:
            break
        taps.append((dy, dx, float(weights[i])))
    return taps


#: OpenCV's ``filter2D`` switches to a DFT for kernels of this many cells or more (for
#: 8-bit -> 8/16-bit and float -> float filtering); a sparse line kernel is cheaper direct.
_DFT_KERNEL_AREA = 130

#: Fixed-point scale of the 16-bit partial sums of an 8-bit blur (255 * 128 fits in int16).
_U8_SUM_SCALE = 128


def _kernel(taps: list[tuple[int, int, float]], scale: float = 1.0) -> tuple[np.ndarray, tuple[int, int]]:
    """``(kernel, (row, col) offset of its top-left cell)``: the taps as a dense correlation kernel.

    Tap ``(dy, dx)`` reads ``src(y - dy, x - dx)``; ``filter2D`` anchored at the top-left
    cell computes ``dst(y, x) = sum K(u, v) src(y + u, x + v)``.
    """
    rows = [-dy for dy, _, _ in taps]
    cols = [-dx for _, dx, _ in taps]
    r0, c0 = min(rows), min(cols)
    kernel = np.zeros((max(rows) - r0 + 1, max(cols) - c0 + 1), np.float32)
    for dy, dx, w in taps:
        kernel[-dy - r0, -dx - c0] += w * scale
    return kernel, (r0, c0)


def _tap_groups(taps: list[tuple[int, int, float]]) -> list[list[tuple[int, int, float]]]:
    """Consecutive taps split so that each group's kernel stays below the DFT size."""
    groups: list[list[tuple[int, int, float]]] = [[]]
    for tap in taps:
        grown = groups[-1] + [tap]
        if _kernel(grown)[0].size >= _DFT_KERNEL_AREA and groups[-1]:
            groups.append([tap])
        else:
            groups[-1] = grown
    return groups


def line_filter_u8(
    image: np.ndarray,
    taps: list[tuple[int, int, float]],
    *,
    alpha: float = 1.0,
    beta: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``saturate(round(alpha * sum_i w_i image[clamp(y - dy_i), clamp(x - dx_i)] + beta))`` as uint8.

    The image is padded once by replication, so every tap reads the clamped pixel it
    would read in the unpadded image. The taps are split into groups whose compact
    kernels OpenCV applies directly (a DFT of the whole bounding box of a diagonal line
    costs more), and the image is processed in blocks of rows so the groups' partial sums
    stay in cache. An 8-bit image's partial sums are 16-bit fixed point (1/128 grey level,
    each rounded once); a float32 image's are float32. Writes into ``out`` if given.
    """
    h, w = image.shape[:2]
    u8 = image.dtype == np.uint8
    depth, scale = (cv2.CV_16S, float(_U8_SUM_SCALE)) if u8 else (cv2.CV_32F, 1.0)
    kernels = [_kernel(group, scale) for group in _tap_groups(taps)]
    # Tap i is displaced by at most i pixels: one pad per kernel length (not per angle)
    # keeps the number of distinct work buffers small.
    pad = len(taps) - 1
    padded_shape = (h + 2 * pad, w + 2 * pad, *image.shape[2:])
    padded = cv2.copyMakeBorder(
        image, pad, pad, pad, pad, cv2.BORDER_REPLICATE, dst=scratch("line.padded", padded_shape, image.dtype)
    )
    out = np.empty(image.shape, np.uint8) if out is None else out
    row_bytes = image[0].size * (2 if u8 else 4)
    total = scratch(
        "line.total", (next(row_blocks(h, row_bytes)).stop, *image.shape[1:]), np.int16 if u8 else np.float32
    )
    for block in row_blocks(h, row_bytes):
        n = block.stop - block.start
        for k, (kernel, (r0, c0)) in enumerate(kernels):
            top, left = pad + r0 + block.start, pad + c0
            window = padded[top : top + n + kernel.shape[0] - 1, left : left + w + kernel.shape[1] - 1]
            part = cv2.filter2D(window, depth, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)[:n, :w]
            if k == 0:
                total[:n] = part
            else:
                cv2.add(total[:n], part, dst=total[:n])
        cv2.convertScaleAbs(total[:n], dst=out[block], alpha=alpha / scale, beta=beta)
    return out


# ----------------------------------------------------------------------------- Brightness


@lru_cache(maxsize=8)
def _brightness_table(severity: int) -> np.ndarray:
    """``table[V * 256 + x]``: output level of a channel at level x in a pixel of value V."""
    c = params.BRIGHTNESS_SHIFT[severity - 1]
    v = np.arange(256, dtype=np.float64)[:, None] / 255.0
    x = np.arange(256, dtype=np.float64)[None, :] / 255.0
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(v > 0, x * np.minimum(v + c, 1.0) / v, c)
    return np.floor(np.clip(scaled, 0, 1) * 255 + 1e-9).astype(np.uint8).ravel()


def brightness(image: np.ndarray, severity: int) -> np.ndarray:
    """Brightness as an exact 2-D look-up on (pixel value V = max channel, channel level)."""
    planes = cv2.split(image)
    value = cv2.max(cv2.max(planes[0], planes[1]), planes[2])  # HSV V, exact for uint8
    table = _brightness_table(severity)
    out = [np.empty_like(plane) for plane in planes]
    h, w = value.shape
    rows = next(row_blocks(h, w * 8)).stop
    shifted, index = (scratch(name, (rows, w), np.intp) for name in ("brightness.value", "brightness.index"))
    for block in row_blocks(h, w * 8):
        n = block.stop - block.start
        np.left_shift(value[block], 8, out=shifted[:n], dtype=np.intp)
        for plane, result in zip(planes, out):
            np.take(table, np.bitwise_or(shifted[:n], plane[block], out=index[:n]), out=result[block], mode="clip")
    return cv2.merge(out)


# ----------------------------------------------------------------------------- ColorQuant


def color_quant(image: np.ndarray, severity: int) -> np.ndarray:
    """Posterize: keep the high ``5 - severity`` bits of each channel (one vectorised AND)."""
    return np.bitwise_and(image, np.uint8((0xFF << (8 - params.colorquant_bits(severity))) & 0xFF))


# ----------------------------------------------------------------------------- LowLight

#: Bits of one uniform draw used to index a quantile table (4096 quantiles per draw).
_QUANTILE_BITS = 12


@lru_cache(maxsize=32)
def _low_light_table(severity: int, lo: int, hi: int) -> np.ndarray:
    """``table[level << 12 | u]``: the output level of a pixel at ``level``, at quantile u.

    RoboBEV's LowLight maps each grey level independently through
    ``k ~ Poisson(lam(level))``, ``out = floor(255 clip(min(k / cp, 1) + N(0, cg), 0, 1))``,
    so the output of a pixel has a distribution over the 256 levels that depends on its
    input level only: ``P(out <= o) = sum_k P(k) Phi(((o + 1) / 255 - min(k / cp, 1)) / cg)``
    for ``o < 255``. Sampling that compound law by its inverse CDF with one 12-bit
    uniform is exact up to 1/4096 per probability (one gather per pixel, not two draws).
    """
    cp, gain, sigma = (
        params.LOWLIGHT_POISSON[severity],
        params.LOWLIGHT_GAIN[severity],
        params.LOWLIGHT_GAUSS[severity],
    )
    span = max(hi - lo, 1)
    lam = np.clip((np.arange(256) - lo) / span, 0, None) ** 2 * gain * cp
    counts = np.arange(int(cp) + 1)
    pmf = stats.poisson.pmf(counts[None, :-1], lam[:, None])
    pmf = np.concatenate([pmf, stats.poisson.sf(counts[-2], lam)[:, None]], axis=1)  # k >= cp reads as 1
    levels_up = np.arange(1, 257) / 255.0
    given_k = special.ndtr((levels_up[None, :] - np.minimum(counts / cp, 1.0)[:, None]) / sigma)
    given_k[:, -1] = 1.0
    cdf = np.clip(pmf @ given_k, 0, 1)
    cdf[:, -1] = 1.0
    n = 1 << _QUANTILE_BITS
    widths = np.diff(np.rint(cdf * n).astype(np.int64), axis=1, prepend=0)
    values = np.broadcast_to(np.arange(256, dtype=np.uint8), widths.shape)
    return np.repeat(values.ravel(), widths.ravel())


def low_light(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """RoboBEV LowLight by inverse-CDF sampling of its per-level output law (one gather per value).

    Every 64-bit random word supplies four 16-bit uniforms; the top 12 bits of one pick
    the quantile of one channel value.
    """
    lo, hi = int(image.min()), int(image.max())
    table = _low_light_table(severity, lo, hi)
    uniform = rng.bit_generator.random_raw((image.size + 3) // 4).view(np.uint16)[: image.size].reshape(image.shape)
    out = np.empty_like(image)
    row_bytes = image[0].size * 8
    index = scratch("lowlight.index", (next(row_blocks(image.shape[0], row_bytes)).stop, *image.shape[1:]), np.intp)
    for block in row_blocks(image.shape[0], row_bytes):
        part = index[: block.stop - block.start]
        np.left_shift(image[block], _QUANTILE_BITS, out=part, dtype=np.intp)
        bits = np.right_shift(uniform[block], 16 - _QUANTILE_BITS, out=uniform[block])
        np.take(table, np.bitwise_or(part, bits, out=part), out=out[block], mode="clip")
    return out


# ----------------------------------------------------------------------------- Fog


def _next_power_of_two(x: int) -> int:
    return 1 if x == 0 else 2 ** (x - 1).bit_length()


#: Floats per row block of the plasma refinement (its temporaries stay in cache).
_PLASMA_BLOCK = 1 << 16

#: ``emit(a, lattice_rows, centre_rows, top_rows, left_rows)``: one row block of a refinement step.
Emit = Callable[[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


def _refine(lattice: np.ndarray, wibble: float, rng: np.random.Generator, emit: Emit) -> None:
    """One diamond-square step on a toroidal lattice: new centre, top-edge and left-edge points.

    Each new point is the mean of its four neighbours (lattice corners for a centre; two
    lattice points along the edge and the two centres across it for an edge midpoint)
    plus ``w * U(-w, w)``. The uniforms are 16-bit: signed words ``s`` give
    ``(s + 1/2) / 2^15``, the centres of 2^16 equal cells of (-1, 1). Neighbours are
    shifted views of wrap-padded arrays; pair sums along rows are shared by centres and
    top edges, and each mean-plus-noise is one ``cv2.addWeighted``. The work runs in
    blocks of rows (first all centres, which the edges of the row above need, then the
    edges) and hands each block to ``emit`` with lattice row ``a`` as its first row.
    """
    n = lattice.shape[0]
    count = 3 * n * n
    words = rng.bit_generator.random_raw((count + 3) // 4).view(np.int16)[:count].reshape(3, n, n)
    unit = wibble * wibble / 2.0**15
    step = max(1, _PLASMA_BLOCK // n)
    lat = cv2.copyMakeBorder(lattice, 0, 1, 0, 1, cv2.BORDER_WRAP, dst=scratch("plasma.lat", (n + 1, n + 1)))
    cen = scratch("plasma.cen", (n + 1, n + 1))  # cen[1 + i, 1 + j] = centre[i, j]; row and column 0 wrap
    across = scratch("plasma.across", (step + 1, n))
    pair, edge = (scratch(name, (step, n)) for name in ("plasma.pair", "plasma.edge"))

    def mean_plus_noise(sum_a: np.ndarray, sum_b: np.ndarray, noise: np.ndarray, dst: np.ndarray) -> np.ndarray:
        cv2.add(sum_a, sum_b, dst=dst)
        return cv2.addWeighted(dst, 0.25, noise, unit, 0.5 * unit, dst=dst, dtype=cv2.CV_32F)

    blocks = [(a, min(a + step, n)) for a in range(0, n, step)]
    for a, b in blocks:
        m = b - a
        row_sums = cv2.add(lat[a : b + 1, :-1], lat[a : b + 1, 1:], dst=across[: m + 1])  # L[i, j] + L[i, j + 1]
        mean_plus_noise(row_sums[:-1], row_sums[1:], words[0, a:b], cen[1 + a : 1 + b, 1:])
    cen[0, 1:] = cen[n, 1:]
    cen[:, 0] = cen[:, n]
    for a, b in blocks:
        m = b - a
        middle = cen[1 + a : 1 + b, 1:]
        row_sums = cv2.add(lat[a:b, :-1], lat[a:b, 1:], dst=across[:m])
        top = mean_plus_noise(row_sums, cv2.add(middle, cen[a:b, 1:], dst=pair[:m]), words[1, a:b], edge[:m])
        column_sums = cv2.add(lat[a:b, :-1], lat[a + 1 : b + 1, :-1], dst=across[:m])  # L[i, j] + L[i + 1, j]
        left = mean_plus_noise(
            column_sums, cv2.add(middle, cen[1 + a : 1 + b, :-1], dst=pair[:m]), words[2, a:b], pair[:m]
        )
        emit(a, lattice[a:b], middle, top, left)


def _interleave(
    out: np.ndarray, a: int, lattice: np.ndarray, centre: np.ndarray, top: np.ndarray, left: np.ndarray
) -> None:
    """Write a row block of a step's four point sets into the finer map ``out`` (clipped to its window)."""
    rows, cols = out.shape
    block = out[2 * a : min(rows, 2 * (a + lattice.shape[0]))]
    r0, r1, c0, c1 = (block.shape[0] + 1) // 2, block.shape[0] // 2, (cols + 1) // 2, cols // 2
    block[0::2, 0::2] = lattice[:r0, :c0]
    block[1::2, 1::2] = centre[:r1, :c1]
    block[0::2, 1::2] = top[:r0, :c1]
    block[1::2, 0::2] = left[:r1, :c0]


def _plasma_window(mapsize: int, decay: float, rng: np.random.Generator, out: np.ndarray) -> tuple[float, float]:
    """The unnormalised plasma map's top-left window, written into ``out``, and the whole map's (min, max).

    Starts from one corner value 0; at each level ``w`` (initially 100) is divided by
    ``decay``. Works level by level on the current lattice in float32. The whole map is
    generated (its minimum and maximum define the normalisation) but only the window of
    the finest level is assembled; the extremes are taken block by block as it is made.
    """
    if mapsize == 1:
        out[:] = 0
        return 0.0, 0.0
    lattice = np.zeros((1, 1), np.float32)
    wibble = 100.0
    while 2 * lattice.shape[0] < mapsize:
        finer = scratch("plasma.lattice", (2 * lattice.shape[0],) * 2)
        _refine(lattice, wibble, rng, lambda a, *parts, finer=finer: _interleave(finer, a, *parts))
        lattice = finer
        wibble /= decay
    extremes = [float(lattice.min()), float(lattice.max())]

    def final(a: int, lattice_rows: np.ndarray, *new: np.ndarray) -> None:
        for part in new:
            extremes[0], extremes[1] = min(extremes[0], float(part.min())), max(extremes[1], float(part.max()))
        if 2 * a < out.shape[0]:
            _interleave(out, a, lattice_rows, *new)

    _refine(lattice, wibble, rng, final)
    return extremes[0], extremes[1]


def plasma_fractal(
    mapsize: int,
    decay: float,
    rng: np.random.Generator,
    window: tuple[int, int] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Diamond-square height map on a toroidal ``mapsize`` square, normalised to [0, 1].

    Only the top-left ``window`` (rows, cols; default: all) is returned, into ``out`` if given.
    """
    rows, cols = window if window is not None else (mapsize, mapsize)
    out = np.empty((rows, cols), np.float32) if out is None else out
    low, high = _plasma_window(mapsize, decay, rng, out)
    out -= np.float32(low)
    out *= np.float32(1.0 / (high - low)) if high > low else np.float32(0.0)
    return out


def fog(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Fog: add a scaled plasma fractal, rescale by ``max / (max + strength)``.

    The fractal's normalisation ``(p - min) / (max - min)`` is folded into the blend's
    coefficients, so the map is read once per colour plane and never rescaled.
    """
    strength, decay = params.FOG[severity - 1]
    h, w = image.shape[:2]
    plasma = scratch("fog.plasma", (h, w))
    low, high = _plasma_window(_next_power_of_two(max(h, w, 3)), decay, rng, plasma)
    peak = float(image.max()) / 255.0
    scale = peak / (peak + strength)
    gain = 255.0 * strength * scale / (high - low) if high > low else 0.0

    def plane(x: np.ndarray) -> np.ndarray:
        # floor(x * scale + gain * (p - low)) as a rounding of (... - 0.5), in one pass; no
        # clipping is needed since the result lies in [0, 255 * max] by construction.
        return cv2.addWeighted(x, scale, plasma, gain, -0.5 - gain * low, dtype=cv2.CV_8U)

    return per_channel(image, plane)


# ----------------------------------------------------------------------------- MotionBlur


def motion_blur_at(image: np.ndarray, severity: int, angle: float) -> np.ndarray:
    """Deterministic part of MotionBlur: the line kernel at a given angle (degrees)."""
    radius, sigma = params.MOTION_BLUR[severity - 1]
    # The reference's truncating cast: floor(v) as the rounding of v - 1/2 + 1/256 (the sums
    # are multiples of 1/128, so this is never a tie); within a grey level of the exact floor.
    taps = line_kernel_taps(radius, sigma, angle, image.shape[:2])
    return line_filter_u8(image, taps, beta=0.5 / _U8_SUM_SCALE - 0.5)


def motion_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """MotionBlur with an angle drawn from U(-45, 45) degrees."""
    return motion_blur_at(image, severity, float(rng.uniform(*params.MOTION_BLUR_ANGLE)))


# ----------------------------------------------------------------------------- Snow


def _zoom_bilinear(layer: np.ndarray, factor: float, out: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.zoom(order=1)`` (output size ``round(n * factor)``, corners aligned),
    its top-left ``out.shape``.
    """
    h, w = layer.shape
    oh, ow = int(round(h * factor)), int(round(w * factor))
    sy = (h - 1) / (oh - 1) if oh > 1 else 0.0
    sx = (w - 1) / (ow - 1) if ow > 1 else 0.0
    matrix = np.array([[sx, 0, 0], [0, sy, 0]], np.float64)
    return cv2.warpAffine(
        layer,
        matrix,
        out.shape[::-1],
        dst=out,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def snow(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Snow: flakes only drawn for the central crop that the zoom keeps (same i.i.d. law)."""
    loc, scale, zoom, threshold, radius, sigma, weight = params.SNOW[severity - 1]
    h, w = image.shape[:2]
    crop = (int(np.ceil(h / zoom)), int(np.ceil(w / zoom)))
    flakes = rng.standard_normal(crop, dtype=np.float32, out=scratch("snow.normal", crop))
    flakes *= np.float32(scale)
    flakes += np.float32(loc)
    flakes = _zoom_bilinear(flakes, zoom, out=scratch("snow.flakes", (h, w)))
    cv2.threshold(flakes, threshold, 0.0, cv2.THRESH_TOZERO, dst=flakes)  # values below the threshold -> 0
    cv2.threshold(flakes, 1.0, 0.0, cv2.THRESH_TRUNC, dst=flakes)  # clip to 1 (the rest is >= 0 now)
    angle = float(rng.uniform(*params.SNOW_ANGLE))
    # As in the reference, the layer is cropped to the image before the blur (borders clamp there).
    taps = line_kernel_taps(radius, sigma, angle, flakes.shape)
    layer = line_filter_u8(flakes, taps, alpha=255.0, out=scratch("snow.layer", (h, w), np.uint8))
    # The flakes plus their 180-degree rotation, in whole grey levels, saturated at 255 (the
    # output is clipped there anyway).
    both = cv2.add(
        layer,
        cv2.flip(layer, -1, dst=scratch("snow.flipped", (h, w), np.uint8)),
        dst=scratch("snow.both", (h, w), np.uint8),
    )
    # Blend towards max(x, 1.5 gray + 0.5): x + (1 - weight) relu(L - x) = max(x, weight x +
    # (1 - weight) L) with L = 1.5 gray + 127.5 in grey levels (gray with OpenCV's RGB2GRAY
    # weights); as x is whole, floor(max(x, y)) = max(x, floor(y)), so everything after the
    # one float blend is exact 8-bit arithmetic: min(255, max(x, floor(y)) + flakes).
    red, green, blue = cv2.split(image, [scratch(f"snow.plane{c}", (h, w), np.uint8) for c in range(3)])
    lift = 1.5 * (1.0 - weight)
    lifted = cv2.addWeighted(
        red,
        lift * 0.299,
        green,
        lift * 0.587,
        127.5 * (1.0 - weight),
        dst=scratch("snow.lifted", (h, w)),
        dtype=cv2.CV_32F,
    )
    cv2.addWeighted(lifted, 1.0, blue, lift * 0.114, 0.0, dst=lifted, dtype=cv2.CV_32F)

    def plane(x: np.ndarray) -> np.ndarray:
        blend = cv2.addWeighted(
            x, weight, lifted, 1.0, -0.5, dst=scratch("snow.blend", (h, w), np.uint8), dtype=cv2.CV_8U
        )
        return cv2.add(cv2.max(x, blend, dst=blend), both, dst=x)  # floor(y) saturated; x is a scratch plane

    return cv2.merge([plane(red), plane(green), plane(blue)])


# ----------------------------------------------------------------------------- registry

#: Single-view fast functions; the stochastic ones take the generator as a third argument.
DETERMINISTIC = {"Brightness": brightness, "ColorQuant": color_quant}
STOCHASTIC = {"LowLight": low_light, "Fog": fog, "MotionBlur": motion_blur, "Snow": snow}
