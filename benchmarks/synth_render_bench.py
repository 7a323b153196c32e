"""Cost of the synthetic world's renderers: generation CPU time, disk and loading per sample.

Generates the first ``--scenes`` scenes of the ``default`` preset (``--frames`` key frames each)
with the flat renderer (generator 2, the reference), the realistic one at the preset's camera size
and the realistic one at nuScenes' 1600x900, in the order flat, realistic, realistic-nuscenes,
flat again (so a change of machine load shows as a difference between the two flat runs). It
prints CPU seconds per sample (process time: less sensitive to other processes on a shared
machine than wall time) and their ratio to flat, the extrapolated time of the whole default
world (480 samples) on ``--workers`` cores, the JPEG bytes per sample, and milliseconds to load
one view as the data pipeline does (decode, then BEVDet's resize and crop to the network input).

Run: ``python benchmarks/synth_render_bench.py [--scenes 2] [--frames 4] [--workers 2]``
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from robobench.constants import CAMERAS, LIDAR, RADARS
from robobench.data import synth
from robobench.data.dataset import DataConfig, apply_image_aug, sample_image_aug

VARIANTS = (("flat", "preset"), ("realistic", "preset"), ("realistic", "nuscenes"), ("flat", "preset"))


def generate_subset(root: Path, scenes: int, frames: int, render: str, camera: str) -> float:
    """CPU seconds to generate ``scenes`` scenes of ``frames`` key frames into ``root``."""
    cfg = dataclasses.replace(synth.PRESETS["default"], n_frames=frames)
    for ch in (*CAMERAS, LIDAR, *RADARS):
        (root / "samples" / ch).mkdir(parents=True, exist_ok=True)
    start = time.process_time()
    for i in range(scenes):
        synth._scene_tables((i, f"scene-{i + 1:04d}", 0, cfg, str(root), 0, render, camera))
    return time.process_time() - start


def load_ms(root: Path, views: int = 24) -> float:
    """Milliseconds to read one view and warp it to the network input (BEVDet's test transform)."""
    paths = sorted((root / "samples").glob("CAM_*/*.jpg"))[:views]
    cfg = DataConfig()
    start = time.perf_counter()
    for p in paths:
        img = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        apply_image_aug(img, sample_image_aug(img.shape[:2], cfg, None), cfg.input_size)
    return 1000 * (time.perf_counter() - start) / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="cores the extrapolation assumes")
    args = parser.parse_args()
    samples = args.scenes * args.frames
    full = synth.PRESETS["default"]
    n_default = (full.n_train + full.n_val) * full.n_frames
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (render, camera) in enumerate(VARIANTS):
            root = Path(tmp) / f"{k}-{render}-{camera}"
            cpu = generate_subset(root, args.scenes, args.frames, render, camera) / samples
            jpeg = sum(p.stat().st_size for p in (root / "samples").glob("CAM_*/*.jpg")) / samples
            rows.append((f"{render}/{camera}", cpu, jpeg, load_ms(root)))
    flat = np.mean([rows[0][1], rows[-1][1]])
    print(
        f"{samples} samples ({args.scenes} scenes x {args.frames} key frames) of the default preset; "
        f"default world = {n_default} samples on {args.workers} cores"
    )
    print(
        f"{'variant':20s} {'CPU s/sample':>12s} {'x flat':>7s} {'default world':>14s} {'JPEG MB/sample':>15s} "
        f"{'load ms/view':>13s}"
    )
    for name, cpu, jpeg, ms in rows:
        print(
            f"{name:20s} {cpu:12.2f} {cpu / flat:7.2f} {cpu * n_default / args.workers / 60:11.1f} min "
            f"{jpeg / 1e6:15.2f} {ms:13.1f}"
        )


if __name__ == "__main__":
    main()
