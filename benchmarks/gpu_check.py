"""The prepared GPU check: train, evaluate and launch through torchrun on one CUDA GPU in under 8 minutes.

On a machine with one GPU (and its own CUDA build of torch):

1. a synthetic world: the ``tiny`` preset rendered realistically with nuScenes' 1600x900 cameras
   (``robobench data synth --preset tiny --render realistic --camera nuscenes``), so the GPU sees
   nuScenes-sized inputs; reused when the folder already holds that world, complete;
2. ``bevdet`` and ``centerpoint`` at the ``nuscenes`` profile with CUDA AMP (``train.amp``), for
   ``--iters`` iterations each: iterations per second, samples per second, peak CUDA memory;
3. one evaluation of the trained ``bevdet`` under clean data and the 24 corrupted conditions on
   ``synth_val_mini``: samples per second and NDS per condition;
4. a 1-process launch of the training through ``torchrun`` (the DDP entry point).

Every step prints what it measured or its error; the script exits 1 when any step failed.
``--dry-run`` runs the same steps on the CPU at toy size (``tiny`` world, ``quick`` profile, two
iterations, two conditions, gloo), to check the script itself where no GPU is at hand.

Usage: ``python benchmarks/gpu_check.py [--out runs/gpu-check] [--iters 300] [--workers 8] [--dry-run]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robobench.conditions import all_conditions  # noqa: E402
from robobench.data.synth import TRAIN_SPLIT, VAL_MINI_SPLIT, VERSION, generate, world_stamp  # noqa: E402
from robobench.train import STATS_FILE, train_entry  # noqa: E402

#: The entries trained by the check (a camera student and the LiDAR teacher).
ENTRIES = ("bevdet", "centerpoint")


def world_options(dry_run: bool) -> dict[str, str]:
    """``generate``'s options for the check's world: a flat ``tiny`` world for a dry run, else ``tiny``
    rendered realistically at nuScenes' 1600x900 camera geometry."""
    if dry_run:
        return {"preset": "tiny", "render": "flat", "camera": "preset"}
    return {"preset": "tiny", "render": "realistic", "camera": "nuscenes"}


def has_world(data: Path, options: dict[str, str]) -> bool:
    """Whether ``data`` holds a finished world written with ``options`` (its stamp is written last)."""
    stamp = world_stamp(data) or {}
    defaults = {"render": "flat", "camera": "preset"}
    return bool(stamp) and all(stamp.get(k, defaults.get(k)) == v for k, v in options.items())


def train_overrides(iters: int, batch_size: int, n_train: int, workers: int, dry_run: bool) -> dict[str, Any]:
    """Overrides giving at least ``iters`` iterations of ``batch_size`` over the ``n_train`` training samples."""
    if dry_run:
        return {"train": {"epochs": 1, "batch_size": 1, "max_train_samples": iters, "num_workers": workers}}
    epochs = max(1, math.ceil(iters * batch_size / n_train))
    return {"train": {"epochs": epochs, "num_workers": workers, "amp": True, "checkpoint_every": 0}}


def check_training(
    name: str, profile: str, dataroot: Path, out: Path, overrides: dict[str, Any], device: str
) -> dict[str, Any]:
    """Train ``name`` afresh (into ``out/name``) and return its throughput and peak memory from ``train_stats.json``."""
    shutil.rmtree(out / name, ignore_errors=True)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    final = train_entry(
        name,
        profile,
        "clean",
        0,
        dataroot=dataroot,
        version=VERSION,
        split=TRAIN_SPLIT,
        out_dir=out / name,
        overrides=overrides,
        device=device,
        progress=False,
    )
    stats = json.loads((final.parent / STATS_FILE).read_text())
    batch = stats["config"]["train"]["batch_size"]
    return {
        "checkpoint": str(final),
        "iterations": stats["iterations"],
        "wall_s": stats["wall_time_s"],
        "it_per_s": round(stats["iterations"] / stats["wall_time_s"], 2),
        "samples_per_s": round(stats["iterations"] * batch / stats["wall_time_s"], 1),
        "precision": stats.get("precision"),
        "peak_cuda_mb": stats.get("cuda_max_allocated_mb"),
        "peak_rss_mb": stats["peak_rss_mb"],
    }


def check_evaluation(
    checkpoint: str, dataroot: Path, out: Path, conditions: list, workers: int, device: str
) -> dict[str, Any]:
    """Predict and score ``bevdet`` under each condition on ``synth_val_mini``."""
    from robobench.data.nusc import open_nuscenes
    from robobench.evaluate import condition_file_name
    from robobench.metrics.detection import DetectionEvaluator
    from robobench.predict import predict

    evaluator = DetectionEvaluator(open_nuscenes(dataroot, VERSION), VAL_MINI_SPLIT)
    nds, samples, started = {}, 0, time.perf_counter()
    for cond in conditions:
        pred = predict(
            "bevdet",
            checkpoint,
            cond,
            dataroot,
            VERSION,
            VAL_MINI_SPLIT,
            out / "results" / condition_file_name(cond),
            batch_size=4,
            num_workers=workers,
            device=device,
            progress=False,
        )
        samples += pred.num_samples
        nds[str(cond)] = round(evaluator.evaluate(pred.results_path).nds, 4)
    wall = time.perf_counter() - started
    return {
        "conditions": len(conditions),
        "samples": samples,
        "wall_s": round(wall, 1),
        "samples_per_s": round(samples / wall, 2),
        "nds": nds,
    }


def check_torchrun(profile: str, dataroot: Path, out: Path, overrides: dict[str, Any], timeout: int) -> dict[str, Any]:
    """``torchrun --standalone --nproc_per_node 1`` of this file's training child: its wall time and stats.

    One process on one GPU: it checks torchrun's launch and environment path through
    :func:`robobench.train.train_entry` (with ``WORLD_SIZE`` 1 the engine trains without a process group).
    """
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "1",
        __file__,
        "--ddp-child",
        json.dumps({"profile": profile, "dataroot": str(dataroot), "out": str(out / "ddp"), "overrides": overrides}),
    ]
    shutil.rmtree(out / "ddp", ignore_errors=True)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun exited {proc.returncode}: {proc.stderr[-1500:]}")
    stats = json.loads((out / "ddp" / STATS_FILE).read_text())
    return {
        "wall_s": round(time.perf_counter() - started, 1),
        "iterations": stats["iterations"],
        "world_size": stats["world_size"],
        "device": stats["device"],
    }


def ddp_child(spec: str) -> None:
    """The process torchrun starts: train ``bevdet`` as :func:`check_torchrun` describes."""
    args = json.loads(spec)
    train_entry(
        "bevdet",
        args["profile"],
        "clean",
        0,
        dataroot=args["dataroot"],
        version=VERSION,
        split=TRAIN_SPLIT,
        out_dir=args["out"],
        overrides=args["overrides"],
        progress=False,
    )


def run_step(name: str, fn: Callable[[], dict[str, Any]], report: dict[str, Any]) -> dict[str, Any] | None:
    """Run one step, print and record its result or its error (never raises)."""
    print(f"[gpu-check] {name} ...", flush=True)
    started = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:  # a failed step is reported and the check goes on
        report[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
        print(
            f"[gpu-check] {name} FAILED after {time.perf_counter() - started:.0f} s: {type(exc).__name__}: {exc}",
            flush=True,
        )
        return None
    report[name] = result
    print(f"[gpu-check] {name}: {json.dumps(result)}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"))
    parser.add_argument("--data", type=Path, default=None, help="world folder (default OUT/world)")
    parser.add_argument("--iters", type=int, default=300, help="training iterations per entry (at least)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="data-loader processes")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny world, quick profile, a few iterations")
    parser.add_argument("--ddp-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ddp_child:
        ddp_child(args.ddp_child)
        return 0
    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        print("[gpu-check] no CUDA device visible to torch; run with --dry-run to check the script on the CPU")
        return 1
    device, profile = ("cpu", "quick") if dry else ("cuda", "nuscenes")
    iters, workers = (2, 0) if dry else (args.iters, args.workers)
    out = args.out
    data = args.data or out / "world"
    report: dict[str, Any] = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if not dry else "cpu",
        "profile": profile,
        "dry_run": dry,
    }
    options = world_options(dry)

    def make_world() -> dict[str, Any]:
        started = time.perf_counter()
        if not has_world(data, options):
            generate(data, **options, workers=max(1, os.cpu_count() or 1))
        width, height = Image.open(next((data / "samples" / "CAM_FRONT").iterdir())).size
        return {**options, "images": f"{width}x{height}", "wall_s": round(time.perf_counter() - started, 1)}

    if run_step("world", make_world, report) is None:
        return _finish(report, out)
    n_train = (
        len(json.loads((data / "splits.json").read_text())[TRAIN_SPLIT]) if (data / "splits.json").is_file() else 1
    )
    from robobench.registry import get_entry

    trained = {}
    for name in ENTRIES:
        batch = get_entry(name).config(profile)["train"]["batch_size"]
        overrides = train_overrides(iters, batch, n_train, workers, dry)
        trained[name] = run_step(
            f"train {name}", lambda n=name, o=overrides: check_training(n, profile, data, out, o, device), report
        )
    conditions = all_conditions()[:2] if dry else all_conditions()
    if trained.get("bevdet"):
        run_step(
            f"evaluate bevdet ({len(conditions)} conditions)",
            lambda: check_evaluation(trained["bevdet"]["checkpoint"], data, out, conditions, workers, device),
            report,
        )
    ddp_overrides = train_overrides(
        min(iters, 20), 1 if dry else get_entry("bevdet").config(profile)["train"]["batch_size"], n_train, workers, dry
    )
    run_step("torchrun 1 process", lambda: check_torchrun(profile, data, out, ddp_overrides, timeout=600), report)
    return _finish(report, out)


def _finish(report: dict[str, Any], out: Path) -> int:
    """Write ``OUT/gpu_check.json``, print the failures, return the exit status."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    failed = [k for k, v in report.items() if isinstance(v, dict) and "error" in v]
    print(
        f"[gpu-check] {'FAILED: ' + ', '.join(failed) if failed else 'all steps passed'}; "
        f"report in {out / 'gpu_check.json'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
