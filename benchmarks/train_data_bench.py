"""The training data path and a short training run, today's code against what it replaced, in one process.

``before`` swaps in the reference paths of ``tests/helpers/reference_paths.py``: each item
projects the whole LiDAR sweep into every camera and picks each depth cell's nearest point with a
lexicographic sort, normalises the six views one by one, and decodes every view from its JPEG
each epoch (no input cache); the training run loads with ``--before-workers`` loader processes
(the ``full`` profile's value before ``auto``). ``after`` is today's code: views and projected
points kept in the process's input cache across epochs, one sort of cell numbers per view, the
views normalised at once, and ``train.num_workers`` as the profile sets it (``auto``: in-process
on 2 CPUs).

Data: ``--epochs`` epochs of the first ``--batches`` batches of the training split, read in the
main process (as ``auto`` does on 2 CPUs), before and after alternating per epoch; every batch
of the two paths must be equal (exit 1 otherwise). The first epoch fills the cache; the later
ones are what the rest of a 30-epoch run costs. Training (``--train-epochs K``, 0 skips): the
entry trained for K epochs both ways from the same seed; the final weights must be bit for bit
equal. Prints seconds per batch, wall times and the ratios; ``--out`` writes them as JSON.

Usage: ``python benchmarks/train_data_bench.py --dataroot data/synth-default [--entry bevdet]
[--profile full] [--batches 20] [--epochs 3] [--train-epochs 2] [--train-samples N] [--precision bf16]
[--out F.json]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import robobench.data.dataset as dataset_mod  # noqa: E402
from benchmarks.eval_path_bench import cpu_description  # noqa: E402
from robobench.data.dataset import BEVDataset, DataConfig, EvalInputCache, collate  # noqa: E402
from robobench.data.index import load_index  # noqa: E402
from robobench.registry import get_entry  # noqa: E402
from robobench.train import loader_workers, train_entry  # noqa: E402
from tests.helpers import reference_paths as ref  # noqa: E402

PATHS = ("before", "after")


@contextlib.contextmanager
def data_path(which: str, cache: EvalInputCache | None = None) -> Iterator[None]:
    """Run the body on the ``before`` path (reference functions, no input cache) or the ``after`` path
    (today's, with ``cache``, by default a fresh one of the default budget)."""
    with contextlib.ExitStack() as stack:
        if which == "after":
            stack.enter_context(mock.patch.object(dataset_mod, "_EVAL_CACHE", cache or EvalInputCache.from_env()))
            yield
            return

        def project(points: Any, cam2ego: Any, intrinsic: Any, depth_min: float = 0.1) -> tuple:
            return points, cam2ego, intrinsic, depth_min  # projected per item by the reference below

        def depth(seen: tuple, img_aug: Any, out_hw: Any, downsample: int, flags: Any = None) -> tuple:
            points, cam2ego, intrinsic, depth_min = seen
            return ref.sparse_depth_lexsort(points, cam2ego, intrinsic, img_aug, out_hw, downsample, depth_min, flags)

        stack.enter_context(mock.patch.object(dataset_mod, "_EVAL_CACHE", EvalInputCache(0)))
        stack.enter_context(mock.patch.object(dataset_mod, "project_points", project))
        stack.enter_context(mock.patch.object(dataset_mod, "depth_from_points", depth))
        stack.enter_context(mock.patch.object(dataset_mod, "normalize_views", ref.normalize_views_per_view))
        yield


def batches_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Every tensor (and list of tensors) of two batches equal, bit for bit."""
    for key, value in a.items():
        other = b[key]
        if isinstance(value, torch.Tensor):
            if not torch.equal(value, other):
                return False
        elif isinstance(value, list) and value and isinstance(value[0], torch.Tensor):
            if not all(torch.equal(x, y) for x, y in zip(value, other)):
                return False
    return True


def time_data(
    dataset: BEVDataset, batch_size: int, batches: int, epochs: int
) -> tuple[dict[str, list[float]], bool, int]:
    """Seconds per batch of each path and epoch, whether all batches agreed, and the bytes the after
    path's cache holds at the end (one cache over the epochs, as a training process keeps)."""
    seconds: dict[str, list[float]] = {p: [] for p in PATHS}
    equal = True
    cache = EvalInputCache.from_env()
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        out: dict[str, list[dict[str, Any]]] = {}
        for which in PATHS:
            with data_path(which, cache):
                start = time.perf_counter()
                out[which] = [collate([dataset[b * batch_size + i] for i in range(batch_size)]) for b in range(batches)]
                seconds[which].append((time.perf_counter() - start) / batches)
        equal &= all(batches_equal(x, y) for x, y in zip(out["before"], out["after"]))
    return seconds, equal, cache.used


def time_training(args: argparse.Namespace) -> dict[str, Any]:
    """Wall time of ``--train-epochs`` epochs of training on each path, and whether the weights agree."""
    result: dict[str, Any] = {"epochs": args.train_epochs, "precision": args.precision}
    weights = {}
    with tempfile.TemporaryDirectory() as tmp:
        profile_workers = get_entry(args.entry).config(args.profile)["train"]["num_workers"]
        for which in PATHS:
            workers = args.before_workers if which == "before" else profile_workers
            overrides: dict[str, Any] = {
                "train": {"epochs": args.train_epochs, "num_workers": workers, "precision": args.precision}
            }
            if args.train_samples:
                overrides["train"]["max_train_samples"] = args.train_samples
            with data_path(which):
                start = time.perf_counter()
                final = train_entry(
                    args.entry,
                    args.profile,
                    dataroot=args.dataroot,
                    version=args.version,
                    out_dir=Path(tmp) / which,
                    overrides=overrides,
                    progress=False,
                )
                seconds = time.perf_counter() - start
            result[which] = {"seconds": seconds, "num_workers": loader_workers(workers)}
            weights[which] = torch.load(final, map_location="cpu", weights_only=True)["model"]
    result["ratio"] = result["after"]["seconds"] / result["before"]["seconds"]
    result["weights_equal"] = all(torch.equal(weights["before"][k], weights["after"][k]) for k in weights["before"])
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataroot", required=True)
    parser.add_argument("--version", default="v1.0-synth")
    parser.add_argument("--entry", default="bevdet")
    parser.add_argument("--profile", default="full")
    parser.add_argument("--batches", type=int, default=20, help="training batches per epoch of the data timing")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the data timing (the first fills the cache)")
    parser.add_argument("--train-epochs", type=int, default=0, help="epochs of the training comparison (0: skip)")
    parser.add_argument("--train-samples", type=int, help="train on the split's first N samples (default: all)")
    parser.add_argument("--before-workers", type=int, default=2, help="loader processes of the before training")
    parser.add_argument("--precision", default="bf16", help="train.precision of the training comparison")
    parser.add_argument("--out", type=Path, help="write the measurements to this JSON file")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    cfg = get_entry(args.entry).config(args.profile)
    dataset = BEVDataset(
        load_index(args.dataroot, args.version), "synth_train", DataConfig.from_dict(cfg["data"]), train=True, seed=0
    )
    batch_size = cfg["train"]["batch_size"]
    seconds, equal, cached = time_data(dataset, batch_size, args.batches, args.epochs)
    print(f"{cpu_description()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"training data of {args.entry} [{args.profile}], {args.batches} batches of {batch_size} per epoch")
    print(f"{'epoch':>5} {'before s/batch':>15} {'after s/batch':>14} {'after/before':>13}")
    for e, (b, a) in enumerate(zip(seconds["before"], seconds["after"])):
        print(f"{e:>5} {b:>15.4f} {a:>14.4f} {a / b:>13.2f}")
    warm = {p: statistics.median(v[1:] or v) for p, v in seconds.items()}
    print(f"later epochs (median): after/before {warm['after'] / warm['before']:.2f}; batches equal: {equal}")
    print(f"after's input cache holds {cached / 2**20:.0f} MB ({len(dataset)} samples in the split)")
    report: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "machine": cpu_description(),
        "torch": torch.__version__,
        "entry": args.entry,
        "profile": args.profile,
        "batches": args.batches,
        "batch_size": batch_size,
        "data_seconds_per_batch": seconds,
        "data_ratio_later_epochs": warm["after"] / warm["before"],
        "batches_equal": equal,
        "cache_mb": cached / 2**20,
        "split_samples": len(dataset),
    }
    ok = equal
    if args.train_epochs:
        training = time_training(args)
        report["training"] = training
        print(
            f"training {args.train_epochs} epochs ({args.precision}): before {training['before']['seconds']:.1f} s "
            f"({training['before']['num_workers']} loader workers), after {training['after']['seconds']:.1f} s "
            f"({training['after']['num_workers']}); after/before {training['ratio']:.2f}; "
            f"weights equal: {training['weights_equal']}"
        )
        ok &= training["weights_equal"]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
