"""``robobench predict``: run a trained entry under a condition and write a nuScenes results JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from robobench import api
from robobench.argtypes import at_least
from robobench.commands.train import add_model_run
from robobench.nuscenes_c import add_allow_damaged_argument


def register(subparsers: Any) -> None:
    """Add the ``predict`` sub-command."""
    p = subparsers.add_parser("predict", help="run a trained entry under a condition -> nuScenes results JSON")
    p.add_argument("entry", help="registered entry name")
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint written by 'robobench train'")
    p.add_argument("--condition", default="clean", help="clean or Corruption:level, e.g. Fog:hard (default clean)")
    p.add_argument("--out", type=Path, default=Path("results.json"), help="results JSON path (default results.json)")
    p.add_argument("--corrupt-root", type=Path, default=None, help="read corrupted views from a nuScenes-C root")
    p.add_argument("--batch-size", type=at_least(1), default=None, help="samples per forward pass (default 4)")
    p.add_argument("--workers", type=at_least(0), default=0, help="data-loader worker processes (default 0)")
    p.add_argument(
        "--precision",
        default=None,
        metavar="auto|fp32|bf16",
        help="CPU inference precision (default: the train.precision the model was trained with)",
    )
    add_allow_damaged_argument(p)
    add_model_run(p)
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict, write the results JSON, print its path and the depth metrics (if any)."""
    out = api.predict_results(
        args.entry,
        args.checkpoint,
        args.condition,
        dataroot=args.dataroot,
        version=args.version,
        split=args.split,
        out=args.out,
        seed=args.seed,
        corrupt_root=args.corrupt_root,
        batch_size=args.batch_size,
        workers=args.workers,
        precision=args.precision,
        device=args.device,
        progress=not args.no_progress,
        allow_damaged_images=args.allow_damaged_images,
        entry_files=args.entry_file,
    )
    print(out.results_path)
    if out.depth_metrics is not None:
        print(json.dumps({"depth": out.depth_metrics.get("all"), "depth_fg": out.depth_metrics.get("fg")}))
    return 0
