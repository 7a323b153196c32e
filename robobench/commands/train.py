"""``robobench train``: train one entry (checkpoints, ``--resume`` after a kill, torchrun for DDP)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from robobench import api
from robobench.argtypes import seed
from robobench.commands.common import add_dataset, add_entry_file, add_progress, add_set
from robobench.schema import TrainMode

#: ``--train-corruption`` values -> train modes ("mixed": the eight test corruptions drawn at
#: random; "heldout": corruptions disjoint from them, see robobench.data.corrupt_aug).
TRAIN_CORRUPTION = {
    "clean": TrainMode.CLEAN,
    "mixed": TrainMode.CORRUPTED,
    "corrupted": TrainMode.CORRUPTED,
    "heldout": TrainMode.HELDOUT,
}


def add_model_run(parser: argparse.ArgumentParser) -> None:
    """What ``train`` and ``predict`` share: the dataset, seed, device, progress and entry files."""
    add_dataset(parser, split_help="split name (default: synth_train/synth_val, mini_*, train/val)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed in [0, 2**32) (default 0)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    add_progress(parser)
    add_entry_file(parser)


def register(subparsers: Any) -> None:
    """Add the ``train`` sub-command."""
    t = subparsers.add_parser("train", help="train an entry (checkpoints, --resume after a kill, torchrun for DDP)")
    t.add_argument("entry", help="registered entry name (see 'robobench entries')")
    t.add_argument("--profile", default="quick", help="entry profile: quick | full | nuscenes (default quick)")
    t.add_argument(
        "--train-corruption",
        choices=sorted(TRAIN_CORRUPTION),
        default="clean",
        help="clean; mixed: simulate the eight test corruptions during training (not comparable with "
        "clean-trained rows); heldout: corruptions disjoint from the eight (default clean)",
    )
    t.add_argument(
        "--out", type=Path, default=None, help="output folder (default runs/<entry>-<profile>-<mode>-s<seed>)"
    )
    t.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    add_set(t)
    add_model_run(t)
    t.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    """Train and print the final checkpoint's path."""
    print(
        api.train_model(
            args.entry,
            profile=args.profile,
            train_mode=TRAIN_CORRUPTION[args.train_corruption].value,
            seed=args.seed,
            dataroot=args.dataroot,
            version=args.version,
            split=args.split,
            out=args.out,
            resume=args.resume,
            overrides=args.overrides,
            device=args.device,
            progress=not args.no_progress,
            entry_files=args.entry_file,
        )
    )
    return 0
