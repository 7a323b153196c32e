"""Fast vs reference corruption engine, timed in the same run on 1600x900 views.

Single thread (OpenCV and BLAS/OpenMP pools limited to 1) so the ratio measures the
algorithms, not the core count. Times are the CPU time of this process
(``time.process_time``), which other jobs on a shared machine disturb far less than
wall-clock time; with one thread it equals wall-clock time on an idle machine. Per
corruption and level it prints the median time of each engine over ``--repeats`` calls
and the speed-up, then the geometric mean.
Single-view corruptions are timed on one view, CameraCrash/FrameLost on the six views
of one sample. The ``copy ms`` column is ``np.copy`` of that input: the least time any
engine needs to return a new array of that size, so ``reference / copy`` bounds the
speed-up of the memory-bound corruptions (ColorQuant, CameraCrash, FrameLost).

    python benchmarks/corruptions_bench.py [--image PATH] [--repeats 3] [--parity N]

``--parity N`` also prints how closely the fast engine follows the reference on N
procedural 72x128 scenes: the largest per-pixel difference for the deterministic
corruptions, and the relative difference of the mean and standard deviation of the
per-pixel change |corrupted - clean| for the stochastic ones.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

import corruptions as C
from corruptions.synthetic import street_scene


def _median_seconds(fn: Callable[[int], object], repeats: int) -> float:
    fn(-1)  # warm-up (imports, cached tables)
    times = []
    for r in range(repeats):
        start = time.process_time()
        fn(r)
        times.append(time.process_time() - start)
    return statistics.median(times)


def _load(path: str | None) -> np.ndarray:
    if path is None:
        return street_scene(0, 900, 1600)
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"error: cannot read image {path!r}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _pooled_change(name: str, level: str, engine: str, scenes: list[np.ndarray]) -> np.ndarray:
    changes = [
        np.abs(
            C.corrupt(im, name, level, sample_token=f"s{i}", camera="CAM_FRONT", engine=engine).astype(np.int16) - im
        )
        for i, im in enumerate(scenes)
    ]
    return np.concatenate([c.ravel() for c in changes]).astype(np.float64)


def parity(n: int) -> None:
    """Print fast-vs-reference agreement per corruption and level on ``n`` scenes."""
    scenes = [street_scene(i) for i in range(n)]
    views = np.stack(scenes[:6])
    print(f"parity on {n} procedural scenes (72x128)")
    for name in C.CORRUPTIONS:
        for level in C.LEVELS:
            if name in ("Brightness", "ColorQuant"):
                diff = max(
                    int(
                        np.abs(
                            C.corrupt(im, name, level).astype(np.int16) - C.corrupt(im, name, level, engine="reference")
                        ).max()
                    )
                    for im in scenes
                )
                print(f"{name:<12} {level:<5} max |fast - reference| = {diff} grey levels")
            elif name in C.VIEW_LEVEL:
                same = all(
                    np.array_equal(
                        C.corrupt_views(views, name, level, sample_token=f"t{t}"),
                        C.corrupt_views(views, name, level, sample_token=f"t{t}", engine="reference"),
                    )
                    for t in range(20)
                )
                print(f"{name:<12} {level:<5} identical to reference on 20 samples: {same}")
            else:
                fast, ref = (_pooled_change(name, level, e, scenes) for e in ("fast", "reference"))
                dm, ds = fast.mean() / ref.mean() - 1, fast.std() / ref.std() - 1
                print(
                    f"{name:<12} {level:<5} change mean {fast.mean():6.2f} vs {ref.mean():6.2f} ({100 * dm:+.2f} %), "
                    f"std {fast.std():6.2f} vs {ref.std():6.2f} ({100 * ds:+.2f} %)"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", help="an RGB camera image (default: a procedural 1600x900 scene)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parity", type=int, default=0, metavar="N", help="also check agreement on N scenes")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    image = _load(args.image)
    views = np.stack([image] * len(C.DEFAULT_CAMERAS))
    print(f"image {image.shape[1]}x{image.shape[0]}, {args.repeats} repeats, single thread")
    print(
        f"{'corruption':<12} {'level':<5} {'reference ms':>13} {'fast ms':>9} "
        f"{'speed-up':>9} {'copy ms':>8} {'ref/copy':>9}"
    )
    ratios = []
    with threadpool_limits(1):
        for name in C.CORRUPTIONS:
            for level in C.LEVELS:
                source = views if name in C.VIEW_LEVEL else image
                timings = {"copy": _median_seconds(lambda r, s=source: s.copy(), args.repeats)}
                for engine in ("reference", "fast"):
                    if name in C.VIEW_LEVEL:

                        def call(r, e=engine):
                            return C.corrupt_views(views, name, level, sample_token=f"t{r}", engine=e)

                    else:

                        def call(r, e=engine):
                            return C.corrupt(image, name, level, sample_token=f"t{r}", camera="CAM_FRONT", engine=e)

                    timings[engine] = _median_seconds(call, args.repeats)
                ratio = timings["reference"] / timings["fast"]
                ratios.append(ratio)
                print(
                    f"{name:<12} {level:<5} {1e3 * timings['reference']:13.1f} {1e3 * timings['fast']:9.1f} "
                    f"{ratio:8.1f}x {1e3 * timings['copy']:8.2f} {timings['reference'] / timings['copy']:8.1f}x"
                )
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"geometric mean speed-up {geomean:.1f}x; slowest ratio {min(ratios):.1f}x")
    if args.parity:
        parity(args.parity)


if __name__ == "__main__":
    main()
