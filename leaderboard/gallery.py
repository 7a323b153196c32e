"""The corruption gallery of the leaderboard: a PNG made by ``robobench corrupt gallery``, or rendered here.

:func:`gallery_png` turns one camera image (or the first front-camera keyframe of a
nuScenes-format dataroot) into the labelled grid of ``corruptions.gallery`` and
returns PNG bytes that :func:`leaderboard.render_site` embeds inline.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from robobench.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def source_image(source: str | Path) -> Path:
    """The image file itself, or ``<dataroot>/samples/CAM_FRONT``'s first image (sorted by name)."""
    path = Path(source)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserError(f"gallery source {path} is not a .jpg/.png image")
        return path
    if path.is_dir():
        cams = path / "samples" / "CAM_FRONT"
        images = sorted(p for p in cams.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if cams.is_dir() else []
        if not images:
            raise UserError(
                f"gallery source {path} is a folder without samples/CAM_FRONT images; "
                "pass an image or a nuScenes dataroot"
            )
        return images[0]
    raise UserError(f"gallery source {path} does not exist")


def gallery_png(source: str | Path, seed: int = 0) -> bytes:
    """PNG bytes of the corruption grid rendered from one camera image (see :func:`source_image`)."""
    try:
        from corruptions.gallery import render_gallery
    except ImportError:
        raise UserError(
            "this installation has no corruptions.gallery; render the grid with `robobench corrupt gallery` "
            "and pass the PNG with --gallery"
        ) from None
    image = np.asarray(Image.open(source_image(source)).convert("RGB"))
    grid = render_gallery(image, seed=seed)
    buf = io.BytesIO()
    Image.fromarray(np.asarray(grid, dtype=np.uint8)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()
