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
"""

from __future__ import annotations

from collections.abc import Sequence
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


class RandomCorruption:
    """With probability ``p``, one random corruption at a random level on all views."""

    def __init__(
        self,
        p: float = 0.5,
        seed: int = 0,
        corruptions: Sequence[str] = CORRUPTIONS,
        levels: Sequence[str] = LEVELS,
    ) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must lie in [0, 1], got {p!r}")
        if not corruptions or not levels:
            raise ValueError("RandomCorruption needs at least one corruption and one level")
        self.p = p
        self.seed = seed
        self.compose = A.Compose([A.OneOf([ViewCorruption(name, levels) for name in corruptions], p=1.0)], p=p)

    def __call__(
        self, views: np.ndarray, rng: np.random.Generator | None = None, *, sample_token: str | None = None
    ) -> np.ndarray:
        """Corrupt (or not) the N x H x W x 3 uint8 ``views`` of one sample; returns a new array."""
        if sample_token is not None:
            call_seed = seed_words(self.seed, sample_token, "RandomCorruption")[0]
        elif rng is not None:
            call_seed = int(rng.integers(2**32))
        else:
            raise ValueError("RandomCorruption needs sample_token=... or a numpy Generator to draw from")
        if not isinstance(views, np.ndarray) or views.ndim != 4:
            raise ValueError(f"views must be an (N, H, W, 3) uint8 array, got {getattr(views, 'shape', type(views))}")
        self.compose.set_random_seed(call_seed)
        return np.array(self.compose(images=views)["images"], copy=True)
