"""benchmarks/contrast_restore_ablation.py: the restored copy stretches each view back, file for file."""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmarks.contrast_restore_ablation import stretched_copy


def test_stretched_copy_restores_a_hazed_views_range_in_the_same_layout(tmp_path):
    src, dst = tmp_path / "Fog", tmp_path / "restored"
    ramp = np.tile(np.linspace(0, 255, 200), (50, 1))
    hazed = (120 + 0.3 * ramp).astype(np.uint8)  # lifted black level, a third of the contrast
    path = src / "easy" / "CAM_FRONT" / "a.jpg"
    path.parent.mkdir(parents=True)
    Image.fromarray(np.stack([hazed] * 3, -1)).save(path, quality=95)

    assert stretched_copy(src, dst, cutoff=1.0) == 1
    out = np.asarray(Image.open(dst / "easy" / "CAM_FRONT" / "a.jpg").convert("L"), dtype=float)
    before = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert before.max() - before.min() < 90
    assert out.min() < 10 and out.max() > 245  # the full range again
    # order of grey levels kept: a monotone stretch, not a new image
    assert np.all(np.diff(out.mean(0)) > -3)
