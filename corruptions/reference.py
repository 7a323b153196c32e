"""The reference engine: exactly what RoboBEV ran to build nuScenes-C.

Brightness, Fog, Snow and MotionBlur call ``imagecorruptions.corrupt`` (the ImageNet-C
functions RoboBEV's ``BaseCorruption`` calls, including its final ``np.uint8`` cast);
ColorQuant is ``PIL.ImageOps.posterize``; LowLight, CameraCrash and FrameLost follow
RoboBEV's own classes (formulas in docs/corruptions.md). These functions draw from numpy's
global random state, as RoboBEV does; :func:`corruptions.api.corrupt` runs them under
:func:`corruptions.seeding.seeded_global_state` to make them reproducible.

This engine is slow (``benchmarks/corruptions_bench.py`` times it against the fast engine on
1600x900 views); it exists to check the fast engine and to regenerate images the way the original benchmark did.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageOps

from corruptions import params

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pkg_resources / scipy deprecation warnings on import
    import imagecorruptions

_IMAGECORRUPTIONS_NAME = {
    "Brightness": "brightness",
    "Fog": "fog",
    "Snow": "snow",
    "MotionBlur": "motion_blur",
}


def _imagecorruptions(name: str) -> Callable[[np.ndarray, int], np.ndarray]:
    def run(image: np.ndarray, severity: int) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return imagecorruptions.corrupt(image, severity=severity, corruption_name=_IMAGECORRUPTIONS_NAME[name])

    return run


def color_quant(image: np.ndarray, severity: int) -> np.ndarray:
    """RoboBEV ColorQuant: posterize to ``5 - severity`` bits per channel."""
    return np.asarray(ImageOps.posterize(Image.fromarray(image), params.colorquant_bits(severity))).copy()


def low_light(image: np.ndarray, severity: int) -> np.ndarray:
    """RoboBEV LowLight: min-max stretch, gamma 2, gain, then Poisson and Gaussian noise."""
    gain = params.LOWLIGHT_GAIN[severity]
    x = np.asarray(image) / 255.0
    y = ((x - x.min()) / (x.max() - x.min())) ** 2.0 * gain * 255
    cp = params.LOWLIGHT_POISSON[severity]
    y = np.clip(np.random.poisson(y / 255.0 * cp) / cp, 0, 1) * 255
    y = np.clip(y / 255.0 + np.random.normal(size=y.shape, scale=params.LOWLIGHT_GAUSS[severity]), 0, 1) * 255
    return np.uint8(y)


#: Single-view reference functions ``f(image, severity) -> uint8 image``.
SINGLE_VIEW: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "Brightness": _imagecorruptions("Brightness"),
    "Fog": _imagecorruptions("Fog"),
    "Snow": _imagecorruptions("Snow"),
    "MotionBlur": _imagecorruptions("MotionBlur"),
    "ColorQuant": color_quant,
    "LowLight": low_light,
}


def blank_views(views: np.ndarray, blanked: Sequence[int]) -> np.ndarray:
    """RoboBEV CameraCrash / FrameLost: copy the views, then set the chosen ones to 0."""
    out = views.copy()
    for index in blanked:
        out[index] = 0
    return out
