"""Corruption as a training augmentation (RayD3D Table 3, "train with data corruptions").

:class:`RandomCorruption` applies, with probability ``p``, one of the eight RoboBEV
corruptions at a random level to ALL views of a sample (CameraCrash and FrameLost act
across views, so the views go through together). It is built with albumentations'
composition API: ``Compose([OneOf([ViewCorruption(name) for name in names])], p=p)``,
each :class:`ViewCorruption` an ``ImageOnlyTransform`` that handles albumentations'
``images`` target (N x H x W x 3) with :func:`corruptions.corrupt_views`.

Call it with numpy views in and out::

    aug = RandomCorruption(p=0.5, seed=seed)
    views = aug(views, sample_token=token)   # reproducible per (seed, sample token)
    views = aug(views, rng)                  # or: draws from the Dataset's per-item generator

With ``sample_token`` the outcome depends only on ``(seed, sample_token)``: the same in
every worker and epoch. With a ``numpy.random.Generator`` it follows that generator, so
a Dataset seeding it per (epoch, item) gets a new corruption every epoch, reproducibly.

Training on the eight test corruptions (train mode ``corrupted``, ``--train-corruption
mixed``) measures how well a model has memorised them as much as how robust it is.
:class:`HeldoutCorruption` (train mode ``heldout``) draws from :data:`HELDOUT` instead,
image corruptions disjoint from the eight, in the spirit of imagecorruptions' separate
"validation" set (Hendrycks & Dietterich, 2019; Michaelis et al., 2019) and of Robo3D's
rule against training on its corruptions:

* imagecorruptions' four validation corruptions, written with albumentations (seeded by
  its generator; imagecorruptions draws from numpy's global state, and its
  ``gaussian_blur`` no longer runs on current scikit-image): ``speckle_noise``
  (multiplicative per-pixel noise), ``gaussian_blur`` (isotropic, unlike the test set's
  directional MotionBlur), ``spatter`` (rain or mud drops on the lens) and ``saturate``
  (HSV saturation shifted, hue and value kept);
* photometric changes no test corruption makes: ``hue_shift`` (hue rotated; the test set
  changes value, never hue), ``jpeg`` (compression blocks and ringing, unlike ColorQuant's
  uniform posterisation) and ``sharpen``.

No geometric transform is among them: the views' geometry (intrinsics and the
image-augmentation matrix) is what lifts pixels into BEV, and BEVDet's own image
augmentation already resizes, crops, flips and rotates views with matching matrices; a
geometric albumentations transform would move pixels without telling the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import albumentations as A
import numpy as np

from corruptions import CORRUPTIONS, LEVELS, canonical_level, canonical_name, corrupt_views
from corruptions.seeding import seed_words


class ViewCorruption(A.ImageOnlyTransform):
    """One corruption at a level drawn from ``levels``, the same for all views of a sample."""

    def __init__(self, name: str, levels: Sequence[str] = LEVELS, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.name = canonical_name(name)
        self.levels = tuple(canonical_level(level) for level in levels)

    def get_params(self) -> dict[str, Any]:
        return {
            "level": self.levels[int(self.random_generator.integers(len(self.levels)))],
            "corruption_seed": int(self.random_generator.integers(2**31)),
        }

    def apply_to_images(self, images: np.ndarray, level: str, corruption_seed: int, **params: Any) -> np.ndarray:
        return corrupt_views(images, self.name, level, corruption_seed)

    def apply(self, img: np.ndarray, level: str, corruption_seed: int, **params: Any) -> np.ndarray:
        return self.apply_to_images(img[None], level, corruption_seed)[0]

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("name", "levels")


class _SeededViewAugmentation:
    """With probability ``p``, one of ``transforms`` on all views of a sample, reproducibly seeded."""

    def __init__(self, transforms: Sequence[A.BasicTransform], p: float, seed: int) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must lie in [0, 1], got {p!r}")
        if not transforms:
            raise ValueError(f"{type(self).__name__} needs at least one transform")
        self.p = p
        self.seed = seed
        self.compose = A.Compose([A.OneOf(list(transforms), p=1.0)], p=p)

    def __call__(
        self, views: np.ndarray, rng: np.random.Generator | None = None, *, sample_token: str | None = None
    ) -> np.ndarray:
        """Corrupt (or not) the N x H x W x 3 uint8 ``views`` of one sample; returns a new array."""
        if sample_token is not None:
            call_seed = seed_words(self.seed, sample_token, type(self).__name__)[0]
        elif rng is not None:
            call_seed = int(rng.integers(2**32))
        else:
            raise ValueError(f"{type(self).__name__} needs sample_token=... or a numpy Generator to draw from")
        if not isinstance(views, np.ndarray) or views.ndim != 4:
            raise ValueError(f"views must be an (N, H, W, 3) uint8 array, got {getattr(views, 'shape', type(views))}")
        self.compose.set_random_seed(call_seed)
        return np.array(self.compose(images=views)["images"], copy=True)


class RandomCorruption(_SeededViewAugmentation):
    """With probability ``p``, one random test corruption at a random level on all views."""

    def __init__(
        self,
        p: float = 0.5,
        seed: int = 0,
        corruptions: Sequence[str] = CORRUPTIONS,
        levels: Sequence[str] = LEVELS,
    ) -> None:
        if not corruptions or not levels:
            raise ValueError("RandomCorruption needs at least one corruption and one level")
        super().__init__([ViewCorruption(name, levels) for name in corruptions], p, seed)


def _spatter() -> A.BasicTransform:
    return A.OneOf([A.Spatter(mode="rain", p=1.0), A.Spatter(mode="mud", p=1.0)], p=1.0)


#: The held-out training corruptions (module docstring): name -> albumentations transform
#: factory. Strengths span imagecorruptions' severities 1-3 where it defines the corruption.
HELDOUT: dict[str, Callable[[], A.BasicTransform]] = {
    "speckle_noise": lambda: A.MultiplicativeNoise(multiplier=(0.6, 1.4), elementwise=True, p=1.0),
    "gaussian_blur": lambda: A.GaussianBlur(blur_limit=0, sigma_limit=(1.0, 3.0), p=1.0),
    "spatter": _spatter,
    "saturate": lambda: A.HueSaturationValue(hue_shift_limit=0, sat_shift_limit=(-80, 80), val_shift_limit=0, p=1.0),
    "hue_shift": lambda: A.HueSaturationValue(hue_shift_limit=(-20, 20), sat_shift_limit=0, val_shift_limit=0, p=1.0),
    "jpeg": lambda: A.ImageCompression(quality_range=(10, 40), p=1.0),
    "sharpen": lambda: A.Sharpen(alpha=(0.2, 0.5), lightness=(1.0, 1.0), p=1.0),
}


class HeldoutCorruption(_SeededViewAugmentation):
    """With probability ``p``, one :data:`HELDOUT` corruption on all views (train mode ``heldout``)."""

    def __init__(self, p: float = 0.5, seed: int = 0, names: Sequence[str] = tuple(HELDOUT)) -> None:
        unknown = [n for n in names if n not in HELDOUT]
        if unknown:
            raise ValueError(f"unknown held-out corruption(s) {unknown}; expected some of {', '.join(HELDOUT)}")
        self.names = tuple(names)
        super().__init__([HELDOUT[n]() for n in self.names], p, seed)
