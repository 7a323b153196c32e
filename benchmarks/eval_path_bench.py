"""A whole evaluation cell, today's path against the slower paths it replaced, in one process.

One evaluation cell of a sweep is :func:`robobench.predict.predict` under one condition, then
scoring with the scene bootstrap (``DetectionEvaluator.evaluate(..., bootstrap=200)``), as
:func:`robobench.sweep.run_cell` runs it. ``before`` swaps in the reference paths of
``tests/helpers/reference_paths.py``: the results JSON streamed through ``json.dump``'s
pure-Python encoder, the devkit's ``points_in_box`` once per GT box over the whole sweep (the
foreground depth maps), circle NMS walking the boxes one by one, the box-by-box
``pyquaternion`` conversion to nuScenes boxes, and
``score_matches`` once per bootstrap replicate, and no evaluation-input cache. ``after`` is
today's code, whose cache fills in its first cell as in a sweep. After one untimed warm-up
cell, per round every condition runs before, then after; each keeps its fastest round. It
prints both times per condition and in total with their ratio, and checks that the paths
agree: the same boxes (centres and scores up to float rounding), NDS, bootstrap replicates
and depth metrics.

Usage: ``python benchmarks/eval_path_bench.py --dataroot data/synth-default --checkpoint CKPT
[--entry bevdet] [--split synth_val] [--conditions clean,Fog:hard,Snow:mid|all] [--rounds 1]
[--clock wall|cpu] [--out measured.json]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.eval_cell_bench import CLOCKS, add_cell_arguments, box_differences  # noqa: E402
from robobench.conditions import all_conditions  # noqa: E402
from robobench.data.dataset import EvalInputCache  # noqa: E402
from robobench.data.nusc import open_nuscenes  # noqa: E402
from robobench.metrics.detection import DetectionEvaluator  # noqa: E402
from robobench.predict import predict  # noqa: E402
from robobench.sweep import BOOTSTRAP_REPLICATES, EVAL_CORRUPTION_SEED  # noqa: E402
from tests.helpers import reference_paths as ref  # noqa: E402

PATHS = ("before", "after")


def cpu_description() -> str:
    """The CPU model (``/proc/cpuinfo``, else ``platform``) and how many CPUs this process may use."""
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {len(os.sched_getaffinity(0))} CPUs"


@contextlib.contextmanager
def before_path() -> Iterator[None]:
    """The reference implementations in place of today's."""
    with (
        mock.patch("robobench.predict.write_json_atomic", ref.write_json_streamed),
        mock.patch("robobench.data.dataset.points_in_boxes", ref.points_in_boxes_per_box),
        mock.patch("robobench.predict.detections_to_nusc", ref.detections_box_by_box),
        mock.patch("baselines.common.head.circle_nms", ref.circle_nms_greedy),
        mock.patch("robobench.metrics.bootstrap.bootstrap_scores", ref.bootstrap_scores_per_replicate),
        mock.patch("robobench.data.dataset._EVAL_CACHE", EvalInputCache(0)),
    ):
        yield


def run_cell(args: argparse.Namespace, evaluator: DetectionEvaluator, condition: str, out: Path) -> dict[str, Any]:
    """Predict and score one condition as the sweep does; the outputs to compare."""
    pred = predict(
        args.entry,
        args.checkpoint,
        condition,
        args.dataroot,
        args.version,
        split=args.split,
        out_path=out,
        seed=EVAL_CORRUPTION_SEED,
        progress=False,
    )
    result = evaluator.evaluate(pred.results_path, bootstrap=BOOTSTRAP_REPLICATES)
    return {
        "boxes": json.loads(out.read_text())["results"],
        "nds": result.nds,
        "bootstrap": result.bootstrap["nds"],
        "depth": pred.depth_metrics,
    }


def _relative(arg: str) -> str:
    """A command-line argument with a path below the working directory written relative to it."""
    return os.path.relpath(arg) if os.path.isabs(arg) and arg.startswith(os.getcwd() + os.sep) else arg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cell_arguments(parser, "synth_val")
    parser.add_argument("--checkpoint", type=Path, required=True, help="a trained model's final.pt")
    parser.add_argument("--conditions", default="clean,Fog:hard,Snow:mid", help="comma-separated, or 'all' (25)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--out", type=Path, default=None, help="also write the measurements as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = CLOCKS[args.clock]
    conditions = [str(c) for c in all_conditions()] if args.conditions == "all" else args.conditions.split(",")
    evaluator = DetectionEvaluator(open_nuscenes(args.dataroot, args.version), args.split)
    best = {(p, c): float("inf") for p in PATHS for c in conditions}
    outputs: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with before_path():  # first-call costs, untimed (and nothing cached for the timed cells)
            run_cell(args, evaluator, conditions[0], Path(tmp) / "warm-up.json")
        for _ in range(args.rounds):
            for condition in conditions:
                for path in PATHS:
                    with before_path() if path == "before" else contextlib.nullcontext():
                        start = clock()
                        outputs[(path, condition)] = run_cell(args, evaluator, condition, Path(tmp) / f"{path}.json")
                        best[(path, condition)] = min(best[(path, condition)], clock() - start)
    print(
        f"{args.entry} on {args.split} of {args.dataroot}, {args.threads} threads, {args.clock} clock, "
        f"best of {args.rounds} round(s); seconds per evaluation cell (predict + score, {BOOTSTRAP_REPLICATES} "
        "bootstrap replicates)"
    )
    rows = []
    for condition in conditions:
        a, b = outputs[("before", condition)], outputs[("after", condition)]
        diff = box_differences(a["boxes"], b["boxes"])
        agree = (
            diff["boxes"] == diff["boxes_ref"]
            and diff["max_dcentre_m"] < 1e-6
            and diff["max_dscore"] < 1e-9
            and abs(a["nds"] - b["nds"]) < 1e-9
            and a["bootstrap"] == b["bootstrap"]
            and a["depth"] == b["depth"]
        )
        t_before, t_after = best[("before", condition)], best[("after", condition)]
        rows.append({"condition": condition, "before_s": t_before, "after_s": t_after, "agree": agree})
        print(
            f"  {condition:>20s}: before {t_before:6.1f} s  after {t_after:6.1f} s  {t_before / t_after:4.2f}x  "
            f"NDS {b['nds']:.4f}  outputs {'agree' if agree else 'DIFFER'} "
            f"(max |d centre| {diff['max_dcentre_m']:.1e} m)"
        )
    total_before, total_after = sum(r["before_s"] for r in rows), sum(r["after_s"] for r in rows)
    print(
        f"  total over {len(rows)} conditions: before {total_before:.0f} s, after {total_after:.0f} s, "
        f"after/before {total_after / total_before:.2f}"
    )
    if args.out is not None:
        args.out.write_text(
            json.dumps(
                {
                    "command": "python " + " ".join(map(_relative, sys.argv)),
                    "entry": args.entry,
                    "split": args.split,
                    "clock": args.clock,
                    "rounds": args.rounds,
                    "threads": args.threads,
                    "torch": torch.__version__,
                    "cpu": cpu_description(),
                    "cells": rows,
                    "total_before_s": total_before,
                    "total_after_s": total_after,
                },
                indent=1,
            )
            + "\n"
        )
    if not all(r["agree"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
