"""Numeric parameters of the corruptions, per integer severity 1..5.

The values are those of ``imagecorruptions`` 1.1.2 (Hendrycks & Dietterich's ImageNet-C
functions, which RoboBEV calls) and of RoboBEV's own LowLight / ColorQuant / CameraCrash /
FrameLost classes (``corruptions/project/mmdet3d_plugin/corruptions.py``). Both the fast
engine and the reference engine read them from here, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Final

#: Brightness: value added to the HSV V channel (in [0, 1]).
BRIGHTNESS_SHIFT: Final[tuple[float, ...]] = (0.1, 0.2, 0.3, 0.4, 0.5)

#: Fog: (strength of the plasma fractal, its wibble decay).
FOG: Final[tuple[tuple[float, float], ...]] = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))

#: MotionBlur: (radius, sigma) of the one-sided Gaussian line kernel; angle ~ U(-45, 45) deg.
MOTION_BLUR: Final[tuple[tuple[int, int], ...]] = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))
MOTION_BLUR_ANGLE: Final[tuple[float, float]] = (-45.0, 45.0)

#: Snow: (flake mean, flake std, zoom, threshold, blur radius, blur sigma, image weight);
#: the flakes are blurred along an angle ~ U(-135, -45) deg.
SNOW: Final[tuple[tuple[float, float, float, float, int, int, float], ...]] = (
    (0.1, 0.3, 3.0, 0.5, 10, 4, 0.8),
    (0.2, 0.3, 2.0, 0.5, 12, 4, 0.7),
    (0.55, 0.3, 4.0, 0.9, 12, 8, 0.7),
    (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
    (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
)
SNOW_ANGLE: Final[tuple[float, float]] = (-135.0, -45.0)

#: LowLight (RoboBEV): indexed with ``severity`` itself (not ``severity - 1``), so only
#: severities 1..4 exist; RoboBEV uses 2, 3, 4.
LOWLIGHT_GAIN: Final[tuple[float, ...]] = (0.60, 0.50, 0.40, 0.30, 0.20)
LOWLIGHT_POISSON: Final[tuple[float, ...]] = (600.0, 250.0, 120.0, 50.0, 30.0)
LOWLIGHT_GAUSS: Final[tuple[float, ...]] = (0.008, 0.012, 0.018, 0.026, 0.038)
LOWLIGHT_MAX_SEVERITY: Final[int] = 4


def colorquant_bits(severity: int) -> int:
    """Bits kept per channel by RoboBEV's ColorQuant (``PIL.ImageOps.posterize``)."""
    return 5 - severity


def framelost_probability(severity: int) -> float:
    """Probability that FrameLost blanks one view of one sample."""
    return severity / 6.0
