"""Photometric fidelity of camera views: image statistics that tell synthetic views from real ones.

A synthetic world only stands in for nuScenes if a CNN sees the same kind of images:
as sharp, as textured, as grey, as noisy. :func:`image_statistics` summarises a set of
views by statistics that separate flat-shaded renderings from real street images, so a
renderer change can be judged by numbers against the real reference instead of by eye.

Every view is first resized (OpenCV's area interpolation, aspect ratio kept) to the
detector's input width, :data:`MODEL_WIDTH` (BEVDet resizes 1600x900 nuScenes views to
704 pixels wide), because that is the image the model sees; statistics are on the grey
level (ITU-R BT.601 luma) unless their description says otherwise. Only the JPEG
blockiness is measured on the view at its native size, since the 8x8 block grid does not
survive resizing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

#: Width (pixels) views are resized to before measuring: the BEVDet input width.
MODEL_WIDTH: Final[int] = 704

#: Sobel gradient magnitude (grey levels) above which a pixel counts as an edge pixel.
GRADIENT_THRESHOLD: Final[float] = 50.0

#: Spectral energy is counted above this fraction of the Nyquist radius (0.5 cycles/pixel).
HIGH_FREQUENCY_CUTOFF: Final[float] = 0.25

#: Canny hysteresis thresholds (grey levels) of the edge-density statistic.
CANNY_THRESHOLDS: Final[tuple[int, int]] = (100, 200)

_JPEG_BLOCK = 8
_EPS = 1e-6  # grey levels; keeps the blockiness ratio defined on flat images (ratio 1)


@dataclass(frozen=True)
class Statistic:
    """One image statistic: its key, a table label, and whether the fidelity bar gates on it."""

    key: str
    label: str
    gated: bool


#: The statistics in table order. ``gated`` ones are those the world must match within the
#: tolerance (the fidelity quality bar); the others help explain a mismatch.
STATISTICS: Final[tuple[Statistic, ...]] = (
    Statistic("gradient_mean", "mean Sobel gradient magnitude", True),
    Statistic("gradient_above_50", "fraction of pixels with gradient > 50", True),
    Statistic("laplacian_variance", "variance of the Laplacian", True),
    Statistic("high_frequency_energy", "spectral energy above 1/4 Nyquist", True),
    Statistic("colourfulness", "colourfulness (Hasler-Suesstrunk, RGB)", True),
    Statistic("luminance_mean", "mean luminance (exposure)", False),
    Statistic("luminance_std", "luminance std (RMS contrast)", False),
    Statistic("saturation_mean", "mean HSV saturation", False),
    Statistic("noise_sigma", "noise sigma (Immerkaer)", False),
    Statistic("edge_density", "Canny edge density", False),
    Statistic("jpeg_blockiness", "JPEG blockiness at native size", False),
)

STATISTIC_KEYS: Final[tuple[str, ...]] = tuple(s.key for s in STATISTICS)

# Immerkaer's noise mask: the difference of two Laplacians, blind to planes and ramps.
_NOISE_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


def check_view(image: object, what: str = "image") -> np.ndarray:
    """``image`` as a contiguous H x W x 3 uint8 RGB array; ``ValueError`` naming ``what`` otherwise."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{what} must be an H x W x 3 uint8 RGB array, got a {desc}")
    if min(image.shape[:2]) < 3:
        raise ValueError(f"{what} must be at least 3 x 3 pixels, got {image.shape[:2]}")
    return np.ascontiguousarray(image)


def resize_to_width(image: np.ndarray, width: int = MODEL_WIDTH) -> np.ndarray:
    """Resize an RGB view to ``width`` pixels, keeping its aspect ratio (area interpolation).

    1600x900 nuScenes views become 704x396; a view already ``width`` wide is returned as is.
    """
    h, w = image.shape[:2]
    if w == width:
        return image
    height = max(1, round(h * width / w))
    interpolation = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def grey(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB uint8 view, as uint8 (OpenCV's ``RGB2GRAY``)."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def sobel_magnitude(grey_image: np.ndarray) -> np.ndarray:
    """Per-pixel magnitude of the 3x3 Sobel gradient of a grey image (float32, grey levels per pixel)."""
    g = grey_image.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


def high_frequency_energy(grey_image: np.ndarray, cutoff: float = HIGH_FREQUENCY_CUTOFF) -> float:
    """Fraction of the image's spectral power at radii above ``cutoff`` times the Nyquist radius.

    The mean is removed and a 2-D Hann window applied first, so the jump between opposite
    borders (the DFT treats the image as periodic) does not count as fine detail. Radius is
    in cycles per pixel on both axes, Nyquist = 0.5. A flat image has no power and scores 0.
    """
    g = grey_image.astype(np.float64)
    h, w = g.shape
    windowed = (g - g.mean()) * np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.rfft2(windowed)) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    # rfft2 keeps half the columns: the others are mirror images of columns 1..w/2-1 (all but
    # DC and, for even w, Nyquist), so those count twice for the full-spectrum fraction.
    weight = np.full(fx.shape, 2.0)
    weight[:, 0] = 1.0
    if w % 2 == 0:
        weight[:, -1] = 1.0
    power = power * weight
    total = power.sum()
    if total <= 0.0:
        return 0.0
    high = np.hypot(fy, fx) > cutoff * 0.5
    return float(power[high].sum() / total)


def colourfulness(image: np.ndarray) -> float:
    """Hasler and Suesstrunk's colourfulness M of an RGB view (2003, eq. 3).

    ``rg = R - G``, ``yb = (R + G) / 2 - B``;
    ``M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)``. A grey image scores 0.
    """
    rgb = image.astype(np.float32)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def noise_sigma(grey_image: np.ndarray) -> float:
    """Immerkaer's fast estimate of the standard deviation of additive noise (1996, eq. 3).

    ``sigma = sqrt(pi/2) / (6 (W-2) (H-2)) * sum |I * N|`` with ``N`` the difference of two
    Laplacians, which cancels planes and linear ramps; on textured images it also counts
    the finest texture, so read it against the reference, not as a pure noise level.
    """
    response = cv2.filter2D(grey_image.astype(np.float32), -1, _NOISE_MASK, borderType=cv2.BORDER_REPLICATE)
    inner = np.abs(response[1:-1, 1:-1])
    return float(np.sqrt(np.pi / 2.0) * inner.mean() / 6.0)


def jpeg_blockiness(grey_image: np.ndarray, block: int = _JPEG_BLOCK) -> float:
    """Mean absolute step across JPEG block borders over the mean step elsewhere (1 = no blocking).

    Steps are differences between neighbouring pixels, horizontally and vertically; a
    border step is one between pixel ``8k - 1`` and ``8k``. Heavy JPEG compression makes
    each 8x8 block flat inside and lifts the ratio above 1. Measure it at the native size.
    """
    g = grey_image.astype(np.float32)
    ratios = []
    for steps in (np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0).T)):
        border = (np.arange(steps.shape[1]) % block) == block - 1
        if not border.any() or border.all():
            continue
        ratios.append((steps[:, border].mean() + _EPS) / (steps[:, ~border].mean() + _EPS))
    return float(np.mean(ratios)) if ratios else 1.0


def view_statistics(image: np.ndarray, width: int = MODEL_WIDTH) -> dict[str, float]:
    """Every statistic of :data:`STATISTICS` for one H x W x 3 uint8 RGB view.

    The view is resized to ``width`` first (see the module docstring); the JPEG blockiness
    is measured before resizing.
    """
    image = check_view(image)
    native_grey = grey(image)
    small = resize_to_width(image, width)
    g = grey(small) if small is not image else native_grey
    magnitude = sobel_magnitude(g)
    laplacian = cv2.Laplacian(g.astype(np.float32), cv2.CV_32F, ksize=1)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    values = {
        "gradient_mean": float(magnitude.mean()),
        "gradient_above_50": float((magnitude > GRADIENT_THRESHOLD).mean()),
        "laplacian_variance": float(laplacian.var()),
        "high_frequency_energy": high_frequency_energy(g),
        "colourfulness": colourfulness(small),
        "luminance_mean": float(g.mean()),
        "luminance_std": float(g.std()),
        "saturation_mean": float(hsv[..., 1].mean() / 255.0),
        "noise_sigma": noise_sigma(g),
        "edge_density": float(np.count_nonzero(cv2.Canny(g, *CANNY_THRESHOLDS)) / g.size),
        "jpeg_blockiness": jpeg_blockiness(native_grey),
    }
    return {key: values[key] for key in STATISTIC_KEYS}


def summarise(per_view: Iterable[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation, min and max of each statistic over views (``{key: {mean, std, min, max}}``)."""
    rows = list(per_view)
    if not rows:
        raise ValueError("no views to summarise")
    out: dict[str, dict[str, float]] = {}
    for key in rows[0]:
        values = np.array([row[key] for row in rows], dtype=np.float64)
        out[key] = {"mean": float(values.mean()), "std": float(values.std()),
                    "min": float(values.min()), "max": float(values.max())}
    return out


def image_statistics(images: Iterable[np.ndarray], width: int = MODEL_WIDTH) -> dict[str, dict[str, float]]:
    """Statistics of a set of RGB views: ``{key: {"mean", "std", "min", "max"}}`` over the views.

    ``images`` is any iterable of H x W x 3 uint8 RGB arrays (sizes may differ); it is
    consumed one view at a time, so a generator keeps memory flat. Keys are
    :data:`STATISTIC_KEYS`, in that order.
    """
    return summarise(view_statistics(image, width) for image in images)


# -- corruption response ---------------------------------------------------------------------

#: Measures of how much a corruption changes a view, in :func:`view_corruption_response` order.
RESPONSE_KEYS: Final[tuple[str, ...]] = ("ssim", "gradient_ratio")


#: SSIM's constants (Wang et al. 2004): Gaussian window of sigma 1.5 cut at 11x11, K1, K2, 8-bit range.
SSIM_SIGMA: Final[float] = 1.5
SSIM_WINDOW: Final[int] = 11
_SSIM_C1 = (0.01 * 255) ** 2
_SSIM_C2 = (0.03 * 255) ** 2


def ssim(clean_grey: np.ndarray, other_grey: np.ndarray) -> float:
    """Mean structural similarity of two grey uint8 images (Wang et al. 2004, eqs. 13 and 17).

    Local means, variances and covariance under an 11x11 Gaussian window of sigma 1.5
    (population statistics), ``K1 = 0.01``, ``K2 = 0.03``, data range 255, averaged over
    the pixels whose window lies inside the image: the settings of scikit-image's
    ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255)``, which it equals to float32 rounding,
    computed with OpenCV's separable Gaussian filter because the report calls it 18 times
    per view (``benchmarks/fidelity_bench.py`` measures the gain).
    """
    x = clean_grey.astype(np.float32)
    y = other_grey.astype(np.float32)

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    index = ((2 * mx * my + _SSIM_C1) * (2 * cxy + _SSIM_C2)) / ((mx * mx + my * my + _SSIM_C1) * (vx + vy + _SSIM_C2))
    pad = (SSIM_WINDOW - 1) // 2
    return float(index[pad:-pad, pad:-pad].astype(np.float64).mean())


def _gradient_ratio(corrupted: float, clean: float) -> float:
    return (corrupted + _EPS) / (clean + _EPS)


def view_corruption_response(
    image: np.ndarray, view_id: str, seed: int = 0, width: int = MODEL_WIDTH, engine: str = "fast",
    corrupt_width: int | None = None,
) -> dict[tuple[str, str], dict[str, float]]:
    """How much each corruption at each level changes one view, as the model sees it.

    The corruption is applied by the project's engine (:func:`corruptions.api.corrupt`) to
    the view at its native size, as RoboBEV corrupts 1600x900 images before BEVDet's
    resize; clean and corrupted views are then resized to ``width`` and compared on the
    grey level by :func:`ssim` and by the ratio of their mean Sobel gradient magnitudes
    (below 1: detail lost, above 1: edges added, e.g. snowflakes). ``view_id`` enters the
    corruption's seed, so each view gets its own randomness.

    CameraCrash and FrameLost blank whole views of a sample; their entry is the expectation
    over the blanking: with ``p`` the fraction of views blanked (the crashed cameras of
    :func:`corruptions.api.crashed_cameras`, FrameLost's ``severity / 6``), SSIM is
    ``(1 - p) + p * SSIM(clean, black)`` and the gradient ratio ``1 - p``.

    ``corrupt_width`` resizes the view to that width before corrupting it, an ablation of
    scale: RoboBEV's corruptions are defined in pixels of 1600-wide images, so a 704-wide
    view upsampled to 1600 shows how they would act on a world rendered at nuScenes' size
    (without the finer detail such a rendering would add).
    Returns ``{(corruption, level): {"ssim": ..., "gradient_ratio": ...}}``.
    """
    from corruptions import api, params
    from corruptions.spec import CORRUPTIONS, LEVELS, severity_of

    image = check_view(image)
    if corrupt_width is not None:
        image = resize_to_width(image, corrupt_width)
    clean = grey(resize_to_width(image, width))
    clean_gradient = float(sobel_magnitude(clean).mean())
    black = ssim(clean, np.zeros_like(clean))
    out: dict[tuple[str, str], dict[str, float]] = {}
    for name in CORRUPTIONS:
        for level in LEVELS:
            if name in api.VIEW_LEVEL:
                severity = severity_of(name, level)
                if name == "CameraCrash":
                    n_views = len(api.DEFAULT_CAMERAS)
                    p = len(api.crashed_cameras(severity, seed, n_views)) / n_views
                else:
                    p = params.framelost_probability(severity)
                out[name, level] = {"ssim": (1.0 - p) + p * black, "gradient_ratio": 1.0 - p}
                continue
            corrupted = grey(resize_to_width(api.corrupt(image, name, level, seed, sample_token=view_id,
                                                         engine=engine), width))
            out[name, level] = {
                "ssim": ssim(clean, corrupted),
                "gradient_ratio": _gradient_ratio(float(sobel_magnitude(corrupted).mean()), clean_gradient),
            }
    return out


def summarise_response(
    per_view: Iterable[dict[tuple[str, str], dict[str, float]]],
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """Summaries over views of :func:`view_corruption_response`: ``{corruption: {level: {measure: summary}}}``.

    ``summary`` is ``{"mean", "std", "min", "max"}`` as in :func:`summarise`.
    """
    rows = list(per_view)
    if not rows:
        raise ValueError("no views to summarise")
    out: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for name, level in rows[0]:
        out.setdefault(name, {})[level] = summarise(row[name, level] for row in rows)
    return out
