"""Procedural street-like camera images: test and benchmark inputs that need no dataset."""

from __future__ import annotations

import cv2
import numpy as np


def street_scene(index: int, height: int = 72, width: int = 128) -> np.ndarray:
    """A textured H x W x 3 uint8 RGB scene: sky gradient, road, boxes, noise texture.

    Different ``index`` values give different layouts, colours and exposure, so a set of
    them covers dark, bright and saturated content like real camera views.
    """
    rng = np.random.default_rng(1000 + index)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    horizon = rng.uniform(0.35, 0.6)
    sky_top, sky_low = rng.uniform(90, 250, 3), rng.uniform(60, 220, 3)
    road = rng.uniform(30, 140, 3)
    image = np.where(
        rows < horizon,
        sky_top + (sky_low - sky_top) * (rows / horizon),
        road * (0.6 + 0.4 * rows),
    ).astype(np.float32)
    image = np.broadcast_to(image, (height, width, 3)).copy()
    for _ in range(rng.integers(3, 9)):
        x0, y0 = int(rng.integers(0, width - 8)), int(rng.integers(int(height * 0.2), height - 6))
        w, h = int(rng.integers(6, width // 3)), int(rng.integers(5, height // 2))
        cv2.rectangle(image, (x0, y0), (x0 + w, y0 + h), rng.uniform(0, 255, 3).tolist(), thickness=-1)
    image += rng.normal(0, rng.uniform(2, 12), image.shape).astype(np.float32)
    image = cv2.GaussianBlur(image, (3, 3), 0.7)
    image *= rng.uniform(0.5, 1.2)
    return np.clip(image, 0, 255).astype(np.uint8)
