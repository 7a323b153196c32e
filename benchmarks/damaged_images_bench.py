"""What the damaged-image check costs next to reading the same images, same files, same run.

``robobench predict`` (and each sweep evaluation) first checks every image it will read
for a missing end-of-image marker (:func:`robobench.nuscenes_c.check_images`, the last
bytes of each file), then decodes each image as before. This times, over the validation
images of a synthetic world, the check against decoding the images with OpenCV (the
data loader's ``cv2.imread``), in the order decode, check, decode, check, ..., and prints
the best of ``--repeat`` runs of each and the ratio check / decode (the added fraction of
the image-reading time; the model's forward pass, not counted here, adds far more).

Run: ``python benchmarks/damaged_images_bench.py [--preset tiny] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2

from robobench.data.dataset import BEVDataset
from robobench.data.index import load_index
from robobench.data.synth import VAL_SPLIT, VERSION, generate
from robobench.nuscenes_c import check_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny", help="synthetic world preset (default tiny)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each path (default 5)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp) / "world", preset=args.preset, seed=0)
        paths = BEVDataset(load_index(root, VERSION), VAL_SPLIT).image_paths()
        decode, check = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            for p in paths:
                cv2.imread(str(p), cv2.IMREAD_COLOR)
            decode.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert check_images(paths, "the benchmark world") == 0
            check.append(time.perf_counter() - start)
    print(f"{len(paths)} images ({args.preset} world, {VAL_SPLIT}), best of {args.repeat}")
    print(f"decode (cv2.imread): {1e3 * min(decode):8.2f} ms")
    print(f"check (end marker):  {1e3 * min(check):8.2f} ms")
    print(f"check / decode:      {min(check) / min(decode):8.4f}")


if __name__ == "__main__":
    main()
