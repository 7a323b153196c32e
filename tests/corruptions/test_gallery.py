"""The gallery grid: layout, the clean tile, and one tile per condition."""

from __future__ import annotations

import cv2
import numpy as np

from corruptions import CORRUPTIONS, LEVELS
from corruptions.gallery import render_gallery
from corruptions.synthetic import street_scene


def test_gallery_has_clean_tile_then_24_distinct_conditions() -> None:
    image = street_scene(3, 90, 160)
    tile_w, tile_h, label, gap = 160, 90, 24, 4
    grid = render_gallery(image, seed=0, tile_width=tile_w)
    assert grid.shape == (5 * (tile_h + label) + 4 * gap, 5 * tile_w + 4 * gap, 3)
    tiles = [
        grid[
            r * (tile_h + label + gap) + label : r * (tile_h + label + gap) + label + tile_h,
            c * (tile_w + gap) : c * (tile_w + gap) + tile_w,
        ]
        for r in range(5)
        for c in range(5)
    ]
    np.testing.assert_array_equal(tiles[0], cv2.resize(image, (tile_w, tile_h), interpolation=cv2.INTER_AREA))
    assert len(tiles) == 1 + len(CORRUPTIONS) * len(LEVELS)
    for tile in tiles[1:]:
        assert np.abs(tile.astype(int) - tiles[0]).mean() > 1.0
    bars = [grid[r * (tile_h + label + gap) : r * (tile_h + label + gap) + label, :tile_w] for r in range(5)]
    assert all((bar == 30).mean() > 0.7 and (bar > 200).any() for bar in bars)  # dark label bars with white text
    np.testing.assert_array_equal(grid, render_gallery(image, seed=0, tile_width=tile_w))
