"""Public entry points: corrupt one view, or the N views of one sample.

Randomness: every call derives its own ``numpy.random.Generator`` from the seed material
``(seed, sample token, camera, corruption, severity)`` (:mod:`corruptions.seeding`), so
the result depends on nothing else: not on the process, the worker, or the order of calls.
CameraCrash's crashed views depend on ``(seed, severity)`` only and are therefore the
same for every sample of a split, as in RoboBEV; FrameLost decides each view of each
sample independently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from corruptions import fast, params
from corruptions.seeding import generator, seeded_global_state
from corruptions.spec import canonical_name, severity_of

#: The six nuScenes cameras in the order views are stacked (mmdet3d / BEVDet order).
DEFAULT_CAMERAS: Final[tuple[str, ...]] = (
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_FRONT_LEFT",
    "CAM_BACK",
    "CAM_BACK_LEFT",
    "CAM_BACK_RIGHT",
)

ENGINES: Final[tuple[str, ...]] = ("fast", "reference")

#: Corruptions that act across the views of a sample (they blank whole views).
VIEW_LEVEL: Final[tuple[str, ...]] = ("CameraCrash", "FrameLost")

_MIN_SIDE = 32  # imagecorruptions refuses smaller images


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return int(seed)


def _check_severity(name: str, severity: str | int) -> int:
    sev = severity_of(name, severity)
    if name == "LowLight" and sev > params.LOWLIGHT_MAX_SEVERITY:
        raise ValueError(
            f"severity {severity!r} out of range for LowLight; RoboBEV's LowLight indexes its parameters "
            f"with the severity itself, so only 1..{params.LOWLIGHT_MAX_SEVERITY} exist (levels use 2, 3, 4)"
        )
    return sev


def _check_image(image: object, what: str = "image") -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{what} must be a numpy array (H x W x 3 uint8 RGB), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(
            f"{what} must have dtype uint8, got {image.dtype}; convert with np.clip(x, 0, 255).astype(np.uint8)"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what} must have shape (H, W, 3), got {image.shape}")
    if image.shape[0] < _MIN_SIDE or image.shape[1] < _MIN_SIDE:
        raise ValueError(f"{what} must be at least {_MIN_SIDE} x {_MIN_SIDE} pixels, got {image.shape[:2]}")
    return np.ascontiguousarray(image)


def crashed_cameras(severity: str | int, seed: int = 0, n_views: int = 6) -> list[int]:
    """View indices CameraCrash blanks for a whole split, fixed per ``(seed, severity)``.

    RoboBEV draws ``severity`` indices *with replacement* (``np.random.choice(6, size=severity)``),
    so "hard" (5) may blank fewer than 5 distinct views. Returned sorted and distinct.
    """
    sev = _check_severity("CameraCrash", severity)
    seed = _check_seed(seed)
    if isinstance(n_views, bool) or not isinstance(n_views, int) or n_views < 1:
        raise ValueError(f"n_views must be a positive integer, got {n_views!r}")
    picks = generator(seed, "", "", "CameraCrash", sev).choice(n_views, size=sev, replace=True)
    return sorted({int(i) for i in picks})


def frame_lost(severity: str | int, seed: int = 0, *, sample_token: str = "", camera: str = "") -> bool:
    """Whether FrameLost blanks this view of this sample (probability ``severity / 6``)."""
    sev = _check_severity("FrameLost", severity)
    seed = _check_seed(seed)
    draw = generator(seed, sample_token, camera, "FrameLost", sev).random()
    return bool(draw < params.framelost_probability(sev))


def _blanked(name: str, sev: int, seed: int, token: str, camera: str) -> bool:
    if name == "CameraCrash":
        if camera not in DEFAULT_CAMERAS:
            raise ValueError(
                f"CameraCrash on a single view needs camera to be one of {', '.join(DEFAULT_CAMERAS)} "
                f"(its position decides whether it crashed), got {camera!r}; or use corrupt_views"
            )
        return DEFAULT_CAMERAS.index(camera) in crashed_cameras(sev, seed, len(DEFAULT_CAMERAS))
    return frame_lost(sev, seed, sample_token=token, camera=camera)


def _single(image: np.ndarray, name: str, sev: int, seed: int, token: str, camera: str, engine: str) -> np.ndarray:
    material = (seed, token, camera, name, sev)
    if engine == "fast":
        if name in fast.DETERMINISTIC:
            return fast.DETERMINISTIC[name](image, sev)
        return fast.STOCHASTIC[name](image, sev, generator(*material))
    from corruptions import reference  # imports imagecorruptions: only when asked for

    with seeded_global_state(*material):
        return reference.SINGLE_VIEW[name](image, sev)


def corrupt(
    image: np.ndarray,
    name: str,
    severity: str | int,
    seed: int = 0,
    *,
    sample_token: str = "",
    camera: str = "",
    engine: str = "fast",
) -> np.ndarray:
    """Corrupt one H x W x 3 uint8 RGB view; returns a new uint8 array of the same shape.

    ``name`` is a RoboBEV corruption name (any case / snake_case); ``severity`` a level
    (``easy|mid|hard``, mapped per RoboBEV) or an integer 1..5. ``engine="reference"``
    runs RoboBEV's own code path (slow), ``"fast"`` the vectorised one. For CameraCrash,
    ``camera`` must be a nuScenes camera name: the view is blanked if its position in
    :data:`DEFAULT_CAMERAS` is one of :func:`crashed_cameras`.
    """
    canon = canonical_name(name)
    sev = _check_severity(canon, severity)
    seed = _check_seed(seed)
    _check_engine(engine)
    image = _check_image(image)
    if canon in VIEW_LEVEL:
        return np.zeros_like(image) if _blanked(canon, sev, seed, sample_token, camera) else image.copy()
    return _single(image, canon, sev, seed, sample_token, camera, engine)


def corrupt_views(
    views: np.ndarray | Sequence[np.ndarray],
    name: str,
    severity: str | int,
    seed: int = 0,
    *,
    sample_token: str = "",
    cameras: Sequence[str] | None = None,
    engine: str = "fast",
) -> np.ndarray:
    """Corrupt the N views of one sample (N x H x W x 3 uint8); returns a new array.

    ``cameras`` names the views (default: :data:`DEFAULT_CAMERAS` for 6 views, else
    ``VIEW_0..``); it enters the seed material so every view gets its own randomness.
    CameraCrash blanks the views at the positions :func:`crashed_cameras` returns;
    FrameLost blanks each view with probability ``severity / 6``. View ``i`` of the
    result equals ``corrupt(views[i], ..., camera=cameras[i])`` (for CameraCrash when the
    views are in :data:`DEFAULT_CAMERAS` order).
    """
    canon = canonical_name(name)
    sev = _check_severity(canon, severity)
    seed = _check_seed(seed)
    _check_engine(engine)
    if not isinstance(views, np.ndarray):
        views = np.stack([_check_image(v, f"views[{i}]") for i, v in enumerate(views)])
    if views.ndim != 4:
        raise ValueError(f"views must have shape (N, H, W, 3), got {views.shape}")
    for i in range(views.shape[0]):
        _check_image(views[i], f"views[{i}]")
    n = views.shape[0]
    if cameras is None:
        cameras = DEFAULT_CAMERAS if n == len(DEFAULT_CAMERAS) else tuple(f"VIEW_{i}" for i in range(n))
    cameras = tuple(cameras)
    if len(cameras) != n:
        raise ValueError(f"cameras has {len(cameras)} names for {n} views")
    if canon in VIEW_LEVEL:
        if canon == "CameraCrash":
            blank = crashed_cameras(sev, seed, n)
        else:
            blank = [i for i, cam in enumerate(cameras) if frame_lost(sev, seed, sample_token=sample_token, camera=cam)]
        if engine == "reference":
            from corruptions import reference

            return reference.blank_views(views, blank)
        out = np.empty_like(views)
        for i in range(n):
            out[i] = 0 if i in blank else views[i]
        return out
    return np.stack([_single(views[i], canon, sev, seed, sample_token, cameras[i], engine) for i in range(n)])
