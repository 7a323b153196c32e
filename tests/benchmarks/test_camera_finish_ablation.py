"""benchmarks/camera_finish_ablation.py: generator 4's scenes with generator 3's softer camera finish."""

from __future__ import annotations

import filecmp

from benchmarks.camera_finish_ablation import GENERATOR3_FINISH, write_world
from robobench.data.fidelity import image_statistics
from robobench.data.fidelity_report import load_view
from robobench.data import synth_textures
from robobench.data.synth import world_stamp


def _sharpness(root) -> float:
    """The fidelity report's mean Laplacian variance over the world's camera views."""
    views = [load_view(p) for p in sorted(root.glob("samples/CAM_*/*.jpg"))]
    return image_statistics(views)["laplacian_variance"]["mean"]


def test_ablation_world_has_the_same_tables_softer_views_and_says_so(realistic_world, tmp_path, monkeypatch):
    for name in GENERATOR3_FINISH:  # restored after the test: write_world sets them for its process
        monkeypatch.setattr(synth_textures, name, getattr(synth_textures, name))
    root = tmp_path / "soft"
    stamp = write_world(root, "tiny", workers=1)
    assert stamp == world_stamp(root) == {**world_stamp(realistic_world.dataroot), "finish": "generator 3"}
    version = realistic_world.version
    for table in ("scene", "sample", "sample_annotation", "calibrated_sensor"):
        assert filecmp.cmp(root / version / f"{table}.json", realistic_world.dataroot / version / f"{table}.json")
    assert _sharpness(root) < 0.8 * _sharpness(realistic_world.dataroot)
