"""``robobench train`` (train one entry) and ``robobench predict`` (results JSON under a condition)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from robobench.argtypes import at_least, seed
from robobench.constants import DEFAULT_DATAROOT, DEFAULT_VERSION
from robobench.nuscenes_c import add_allow_damaged_argument
from robobench.paths import output_dir, output_file
from robobench.schema import TrainMode

#: ``--train-corruption`` values -> train modes ("mixed": the eight test corruptions drawn at
#: random; "heldout": corruptions disjoint from them, see robobench.data.corrupt_aug).
_TRAIN_CORRUPTION = {
    "clean": TrainMode.CLEAN, "mixed": TrainMode.CORRUPTED, "corrupted": TrainMode.CORRUPTED, "heldout": TrainMode.HELDOUT,
}


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataroot", type=Path, default=DEFAULT_DATAROOT,
                   help=f"nuScenes-format root (default {DEFAULT_DATAROOT}, made by 'robobench data synth')")
    p.add_argument("--version", default=DEFAULT_VERSION, help=f"devkit version folder (default {DEFAULT_VERSION})")
    p.add_argument("--split", default=None, help="split name (default: synth_train/synth_val, mini_*, train/val)")
    p.add_argument("--seed", type=seed, default=0, help="random seed in [0, 2**32) (default 0)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--entry-file", action="append", default=[], metavar="F",
                   help="a .py file registering entries (repeatable); plugin packages are found too")


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable; parsed by :func:`robobench.config.parse_overrides` into ``args.overrides``)."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. train.epochs=2 (VALUE parsed as JSON); repeatable")


def register(subparsers: Any) -> None:
    """Add the ``train`` and ``predict`` sub-commands."""
    t = subparsers.add_parser("train", help="train an entry (checkpoints, --resume after a kill, torchrun for DDP)")
    t.add_argument("entry", help="registered entry name (see 'robobench entries')")
    t.add_argument("--profile", default="quick", help="entry profile: quick | full | nuscenes (default quick)")
    t.add_argument("--train-corruption", choices=sorted(_TRAIN_CORRUPTION), default="clean",
                   help="clean; mixed: simulate the eight test corruptions during training (not comparable with "
                   "clean-trained rows); heldout: corruptions disjoint from the eight (default clean)")
    t.add_argument("--out", type=Path, default=None, help="output folder (default runs/<entry>-<profile>-<mode>-s<seed>)")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    add_set_argument(t)
    _add_data_args(t)
    t.set_defaults(func=cmd_train)

    p = subparsers.add_parser("predict", help="run a trained entry under a condition -> nuScenes results JSON")
    p.add_argument("entry", help="registered entry name")
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint written by 'robobench train'")
    p.add_argument("--condition", default="clean", help="clean or Corruption:level, e.g. Fog:hard (default clean)")
    p.add_argument("--out", type=Path, default=Path("results.json"), help="results JSON path (default results.json)")
    p.add_argument("--corrupt-root", type=Path, default=None, help="read corrupted views from a nuScenes-C root")
    p.add_argument("--batch-size", type=at_least(1), default=None, help="samples per forward pass (default 4)")
    p.add_argument("--workers", type=at_least(0), default=0, help="data-loader worker processes (default 0)")
    p.add_argument("--precision", default=None, metavar="auto|fp32|bf16",
                   help="CPU inference precision (default: the train.precision the model was trained with)")
    add_allow_damaged_argument(p)
    _add_data_args(p)
    p.set_defaults(func=cmd_predict)


def cmd_train(args: argparse.Namespace) -> int:
    """Train and print the final checkpoint's path."""
    from robobench.config import parse_overrides
    from robobench.registry import discover
    from robobench.train import train_entry

    discover(args.entry_file)
    if args.out is not None:
        output_dir(args.out, dataroots=[args.dataroot])
    final = train_entry(
        args.entry, args.profile, _TRAIN_CORRUPTION[args.train_corruption], args.seed,
        dataroot=args.dataroot, version=args.version, split=args.split, out_dir=args.out, resume=args.resume,
        overrides=parse_overrides(args.overrides), device=args.device, progress=not args.no_progress,
    )
    print(final)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict, write the results JSON, print its path and the depth metrics (if any)."""
    from robobench.predict import predict
    from robobench.registry import discover

    discover(args.entry_file)
    output_file(args.out, dataroots=[args.dataroot, args.corrupt_root])
    out = predict(
        args.entry, args.checkpoint, args.condition, args.dataroot, args.version, args.split, args.out,
        seed=args.seed, corrupt_root=args.corrupt_root, num_workers=args.workers,
        **({"batch_size": args.batch_size} if args.batch_size else {}),
        device=args.device, precision=args.precision, progress=not args.no_progress,
        allow_damaged_images=args.allow_damaged_images,
    )
    print(out.results_path)
    if out.depth_metrics is not None:
        print(json.dumps({"depth": out.depth_metrics.get("all"), "depth_fg": out.depth_metrics.get("fg")}))
    return 0
