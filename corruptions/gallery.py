"""A labelled picture of one view under every nuScenes-C condition.

:func:`render_gallery` lays out 25 tiles in a 5 x 5 grid, row by row: the clean view,
then the eight corruptions at easy, mid and hard. CameraCrash and FrameLost blank whole
views of a sample, so their tiles show the six views of a sample (here six copies of the
image) as a 3 x 2 mosaic, in camera order, with the blanked ones black.
"""

from __future__ import annotations

import cv2
import numpy as np

from corruptions.api import DEFAULT_CAMERAS, VIEW_LEVEL, _check_image, corrupt, corrupt_views
from corruptions.spec import CORRUPTIONS, LEVELS, SEVERITY

_COLUMNS = 5
_LABEL_HEIGHT = 24
_GAP = 4


def _mosaic(views: np.ndarray, width: int, height: int) -> np.ndarray:
    """The six views as 3 columns x 2 rows fitted into ``width x height``."""
    cell_w, cell_h = width // 3, height // 2
    out = np.full((height, width, 3), 255, np.uint8)
    for i, view in enumerate(views):
        r, c = divmod(i, 3)
        small = cv2.resize(view, (cell_w - 2, cell_h - 2), interpolation=cv2.INTER_AREA)
        out[r * cell_h + 1 : r * cell_h + cell_h - 1, c * cell_w + 1 : c * cell_w + cell_w - 1] = small
    return out


def _labelled(tile: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((_LABEL_HEIGHT, tile.shape[1], 3), 30, np.uint8)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.5
    width = cv2.getTextSize(text, font, scale, 1)[0][0]
    scale *= min(1.0, (tile.shape[1] - 12) / width)  # shrink long labels to fit narrow tiles
    cv2.putText(bar, text, (6, _LABEL_HEIGHT - 8), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([bar, tile])


def render_gallery(image: np.ndarray, seed: int = 0, *, tile_width: int = 320, engine: str = "fast") -> np.ndarray:
    """Grid of the clean view and its 24 corrupted versions, each tile labelled.

    Returns an RGB uint8 image (about ``5 * tile_width`` wide). Corruptions are seeded by
    ``seed`` and the sample token ``"gallery"``, so the picture is reproducible.
    """
    image = _check_image(image)
    tile_height = round(tile_width * image.shape[0] / image.shape[1])

    def fit(view: np.ndarray) -> np.ndarray:
        return cv2.resize(view, (tile_width, tile_height), interpolation=cv2.INTER_AREA)

    tiles = [_labelled(fit(image), "clean")]
    views = np.stack([image] * len(DEFAULT_CAMERAS))
    for name in CORRUPTIONS:
        for level in LEVELS:
            label = f"{name} {level} ({SEVERITY[name][level]})"
            if name in VIEW_LEVEL:
                out = corrupt_views(views, name, level, seed, sample_token="gallery", engine=engine)
                tiles.append(_labelled(_mosaic(out, tile_width, tile_height), label + " 6 views"))
            else:
                out = corrupt(
                    image, name, level, seed, sample_token="gallery", camera=DEFAULT_CAMERAS[0], engine=engine
                )
                tiles.append(_labelled(fit(out), label))
    rows = []
    blank = np.full_like(tiles[0], 255)
    for start in range(0, len(tiles), _COLUMNS):
        row = tiles[start : start + _COLUMNS]
        row += [blank] * (_COLUMNS - len(row))
        gap = np.full((row[0].shape[0], _GAP, 3), 255, np.uint8)
        rows.append(np.hstack([piece for tile in row for piece in (tile, gap)][:-1]))
    gap = np.full((_GAP, rows[0].shape[1], 3), 255, np.uint8)
    return np.vstack([piece for row in rows for piece in (row, gap)][:-1])
