"""Data loading of a LiDAR-only teacher: items without the camera views vs the full camera item.

A teacher's data config has ``camera: false``. Its items used to read, augment and normalise
six views and project the key sweep into depth maps that the pillar model never reads; they
now skip both. This loads the same training items (same seed and epoch) of the entry's
profile with ``camera`` true (the old item, the reference) and false, checks that points,
boxes and ``bda`` are equal, and prints milliseconds per item and the ratio.

Run: ``python benchmarks/teacher_loading_bench.py [--dataroot data/synth-default] [--entry centerpoint]
[--profile full] [--items 40]``; without ``--dataroot`` a ``tiny`` world is generated into a
temporary directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from robobench.data.dataset import BEVDataset, DataConfig
from robobench.data.index import load_index
from robobench.data.synth import generate
from robobench.registry import discover, get_entry

VERSION = "v1.0-synth"


def ms_per_item(ds: BEVDataset, n: int) -> float:
    """Mean wall time of loading items ``0..n-1``, after one warm-up item, in milliseconds."""
    ds[0]
    start = time.perf_counter()
    for i in range(n):
        ds[i % len(ds)]
    return 1000 * (time.perf_counter() - start) / n


def run(dataroot: Path, entry: str, profile: str, items: int) -> None:
    discover([])
    lidar_cfg = DataConfig.from_dict(get_entry(entry).config(profile)["data"])
    if lidar_cfg.camera:
        raise SystemExit(f"{entry} reads the cameras; pick a LiDAR-only entry such as centerpoint")
    camera_cfg = dataclasses.replace(lidar_cfg, camera=True)
    index = load_index(dataroot, VERSION)
    split = "synth_train"
    lidar, camera = (BEVDataset(index, split, cfg, train=True, seed=0) for cfg in (lidar_cfg, camera_cfg))
    for i in range(min(items, len(lidar), 8)):
        a, b = camera[i], lidar[i]
        for key in ("points", "gt_boxes", "bda"):
            assert torch.equal(a[key], b[key]), f"item {i}: {key} differs"
    ref, ours = ms_per_item(camera, items), ms_per_item(lidar, items)
    print(f"{entry} [{profile}] {items} training items of {dataroot.name}")
    print(f"  with the camera views (reference): {ref:7.1f} ms/item")
    print(f"  LiDAR-only item:                   {ours:7.1f} ms/item   ({ref / ours:.1f}x faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataroot", type=Path, help="a synthetic world (default: generate a tiny one)")
    parser.add_argument("--entry", default="centerpoint")
    parser.add_argument("--profile", default="full")
    parser.add_argument("--items", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.dataroot is not None:
        run(args.dataroot, args.entry, args.profile, args.items)
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), preset="tiny")
        run(Path(tmp), args.entry, args.profile, args.items)


if __name__ == "__main__":
    main()
