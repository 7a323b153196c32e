"""Evaluation-cell speed: today's path (float32, batch 1) against faster settings, same process, same outputs.

One evaluation cell of the sweep is :func:`robobench.predict.predict` over a split under one
condition, then scoring. This benchmark builds ``--entry`` at ``--profile`` (random weights
unless ``--checkpoint``), saves it as a checkpoint, and runs predict + scoring on ``--split``
under ``--condition`` for each variant, alternating variants over ``--rounds`` rounds in one
process (A, B, C, A, B, C, ...), keeping each variant's fastest round. It prints seconds per
sample, the ratio to the first variant, the NDS, and how far each variant's boxes are from the
first's (:func:`box_differences`), so a speed-up is only taken with the outputs it gives.

Variants are ``precision:batch_size`` (e.g. ``fp32:1``, ``fp32:4``, ``bf16:1``).

Usage: ``python benchmarks/eval_cell_bench.py --dataroot data/synth-default [--entry bevdet]
[--variants fp32:1,fp32:4,bf16:1] [--rounds 2] [--clock cpu]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robobench.conditions import Condition  # noqa: E402
from robobench.data.nusc import open_nuscenes  # noqa: E402
from robobench.metrics.detection import DetectionEvaluator  # noqa: E402
from robobench.predict import predict  # noqa: E402
from robobench.registry import get_entry  # noqa: E402
from robobench.train import load_checkpoint, save_checkpoint  # noqa: E402

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def box_differences(ref: dict[str, list[dict[str, Any]]], other: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """How far ``other``'s boxes are from ``ref``'s: for every reference box the nearest box of the same
    sample and class in ``other``; the largest such centre distance and score difference, and the
    box counts. (Matching by rank would pair different boxes wherever two scores tie.)"""
    d_score = d_centre = 0.0
    for token, boxes in ref.items():
        for name in {b["detection_name"] for b in boxes}:
            mine = [b for b in boxes if b["detection_name"] == name]
            theirs = [b for b in other.get(token, []) if b["detection_name"] == name]
            if not theirs:
                d_centre = float("inf")
                continue
            a = np.array([b["translation"] for b in mine])
            b = np.array([b["translation"] for b in theirs])
            dist = np.linalg.norm(a[:, None] - b[None], axis=-1)
            nearest = dist.argmin(1)
            d_centre = max(d_centre, float(dist[np.arange(len(mine)), nearest].max()))
            scores = np.array([t["detection_score"] for t in theirs])[nearest]
            d_score = max(d_score, float(np.abs(np.array([m["detection_score"] for m in mine]) - scores).max()))
    return {
        "max_dscore": d_score,
        "max_dcentre_m": d_centre,
        "boxes_ref": sum(map(len, ref.values())),
        "boxes": sum(map(len, other.values())),
    }


def add_cell_arguments(parser: argparse.ArgumentParser, split: str) -> None:
    """The world and model options an evaluation-cell benchmark shares: dataroot, version, split, entry."""
    parser.add_argument("--dataroot", type=Path, required=True)
    parser.add_argument("--version", default="v1.0-synth")
    parser.add_argument("--split", default=split)
    parser.add_argument("--entry", default="bevdet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cell_arguments(parser, "synth_val_mini")
    parser.add_argument("--profile", default="full")
    parser.add_argument("--checkpoint", type=Path, default=None, help="trained weights (default: random, seed 0)")
    parser.add_argument("--condition", default="Fog:hard")
    parser.add_argument("--variants", default="fp32:1,fp32:4,bf16:1")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = CLOCKS[args.clock]
    variants = [(p, int(b)) for p, b in (v.split(":") for v in args.variants.split(","))]
    evaluator = DetectionEvaluator(open_nuscenes(args.dataroot, args.version), args.split)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint
        if ckpt is None:
            entry = get_entry(args.entry)
            cfg = entry.config(args.profile)
            torch.manual_seed(0)
            ckpt = Path(tmp) / "random.pt"
            save_checkpoint(
                {"model": entry.build(cfg).state_dict(), "config": cfg, "meta": {"entry": entry.name}}, ckpt
            )
        else:
            load_checkpoint(ckpt)  # a clear error before any timing
        best: dict[tuple[str, int], float] = {}
        results: dict[tuple[str, int], dict] = {}
        nds: dict[tuple[str, int], float] = {}
        n = 0
        for _ in range(args.rounds):
            for precision, batch in variants:
                out = Path(tmp) / f"{precision}-{batch}.json"
                start = clock()
                pred = predict(
                    args.entry,
                    ckpt,
                    Condition.parse(args.condition),
                    args.dataroot,
                    args.version,
                    args.split,
                    out,
                    batch_size=batch,
                    precision=precision,
                    progress=False,
                )
                nds[(precision, batch)] = evaluator.evaluate(pred.results_path).nds
                seconds = clock() - start
                n = pred.num_samples
                best[(precision, batch)] = min(best.get((precision, batch), float("inf")), seconds)
                results[(precision, batch)] = json.loads(out.read_text())["results"]
    ref = variants[0]
    print(
        f"{args.entry} [{args.profile}] on {args.split} ({n} samples) under {args.condition}, {args.threads} threads, "
        f"{args.clock} clock, best of {args.rounds} alternating rounds; "
        f"weights {'random' if args.checkpoint is None else args.checkpoint}"
    )
    for v in variants:
        diff = box_differences(results[ref], results[v])
        print(
            f"  {v[0]:>4s} batch {v[1]}: {best[v] / n:7.3f} s/sample  "
            f"{best[ref] / best[v]:5.2f}x vs {ref[0]} batch {ref[1]}; "
            f"NDS {nds[v]:.4f}; boxes {diff['boxes']} vs {diff['boxes_ref']}, max |d score| {diff['max_dscore']:.2e}, "
            f"max |d centre| {diff['max_dcentre_m']:.2e} m"
        )


if __name__ == "__main__":
    main()
