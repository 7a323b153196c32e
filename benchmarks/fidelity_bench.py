"""Speed of the fidelity report's SSIM (OpenCV) against scikit-image's ``structural_similarity``.

The corruption response computes 18 SSIMs per view at the model's input size, so SSIM is
what the report's run time is made of. Both implementations run on the same pairs (a
synthetic textured 704x396 view against its Fog, Snow and MotionBlur versions), in one
process, interleaved A-B-A so that load on a shared machine hits both alike; the script
checks they agree and prints the per-call times and their ratio.

Run: ``python benchmarks/fidelity_bench.py [--repeat 20]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from corruptions.api import corrupt
from robobench.data.fidelity import MODEL_WIDTH, grey, ssim


def _pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    noise = rng.normal(128, 60, (396, MODEL_WIDTH, 3)).astype(np.float32)
    view = np.clip(cv2.GaussianBlur(noise, (0, 0), 1.2), 0, 255).astype(np.uint8)
    clean = grey(view)
    return [(clean, grey(corrupt(view, name, "mid", 0))) for name in ("Fog", "Snow", "MotionBlur")]


def _skimage(a: np.ndarray, b: np.ndarray) -> float:
    return float(
        structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    )


def _time(fn: Callable[[np.ndarray, np.ndarray], float], pairs: list, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for a, b in pairs:
            fn(a, b)
    return (time.perf_counter() - start) / (repeat * len(pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="passes over the pairs per timing (default 20)")
    args = parser.parse_args()
    pairs = _pairs()
    worst = max(abs(ssim(a, b) - _skimage(a, b)) for a, b in pairs)
    print(f"largest |difference| of the two SSIMs: {worst:.2e}")
    ours_1 = _time(ssim, pairs, args.repeat)
    theirs = _time(_skimage, pairs, args.repeat)
    ours_2 = _time(ssim, pairs, args.repeat)
    ours = (ours_1 + ours_2) / 2
    print(
        f"SSIM of one {MODEL_WIDTH}x396 pair: OpenCV {ours * 1e3:.1f} ms (runs {ours_1 * 1e3:.1f}, "
        f"{ours_2 * 1e3:.1f}), scikit-image {theirs * 1e3:.1f} ms; ratio {theirs / ours:.1f}x"
    )


if __name__ == "__main__":
    main()
