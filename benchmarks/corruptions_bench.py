"""Fast vs reference corruption engine, timed in the same run on 1600x900 views.

Single thread (OpenCV and BLAS/OpenMP pools limited to 1) so the ratio measures the
algorithms, not the core count. Times are the CPU time of this process
(``time.process_time``), which other jobs on a shared machine disturb far less than
wall-clock time; with one thread it equals wall-clock time on an idle machine. Per
corruption and level it prints the median time of each engine over ``--repeats`` calls
and the speed-up, then the geometric mean.
Single-view corruptions are timed on one view, CameraCrash/FrameLost on the six views
of one sample.

    python benchmarks/corruptions_bench.py [--image PATH] [--repeats 3]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", help="an RGB camera image (default: a procedural 1600x900 scene)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    image = _load(args.image)
    views = np.stack([image] * len(C.DEFAULT_CAMERAS))
    print(f"image {image.shape[1]}x{image.shape[0]}, {args.repeats} repeats, single thread")
    print(f"{'corruption':<12} {'level':<5} {'reference ms':>13} {'fast ms':>9} {'speed-up':>9}")
    ratios = []
    with threadpool_limits(1):
        for name in C.CORRUPTIONS:
            for level in C.LEVELS:
                timings = {}
                for engine in ("reference", "fast"):
                    if name in C.VIEW_LEVEL:
                        call = lambda r, e=engine: C.corrupt_views(views, name, level, sample_token=f"t{r}", engine=e)  # noqa: E731
                    else:
                        call = lambda r, e=engine: C.corrupt(image, name, level, sample_token=f"t{r}", camera="CAM_FRONT", engine=e)  # noqa: E731
                    timings[engine] = _median_seconds(call, args.repeats)
                ratio = timings["reference"] / timings["fast"]
                ratios.append(ratio)
                print(f"{name:<12} {level:<5} {1e3 * timings['reference']:13.1f} {1e3 * timings['fast']:9.1f} {ratio:8.1f}x")
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"geometric mean speed-up {geomean:.1f}x; slowest ratio {min(ratios):.1f}x")


if __name__ == "__main__":
    main()
