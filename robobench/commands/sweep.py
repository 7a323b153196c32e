"""``robobench sweep``: train and evaluate entries under every condition (:func:`robobench.api.run_benchmark`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from robobench import api
from robobench.argtypes import at_least, checked_list, seed, seed_list
from robobench.commands.common import add_dataset, add_db, add_entry_file, add_list, add_progress, add_set, format_table
from robobench.commands.progress import Progress
from robobench.commands.seedplan import add_target_args, plan_seeds
from robobench.nuscenes_c import add_allow_damaged_argument
from robobench.schema import TrainMode
from robobench.sweep import parse_condition, parse_train_mode


def register(subparsers: Any) -> None:
    """Add the ``sweep`` sub-command."""
    s = subparsers.add_parser("sweep", help="train and evaluate entries under all conditions; resumable")
    add_list(
        s, "--entries", "entry", default=None, help="comma-separated entry names (default: all non-teacher built-ins)"
    )
    add_entry_file(s)
    add_list(
        s,
        "--train-modes",
        "train mode",
        checked_list(parse_train_mode, "train mode"),
        default=[TrainMode.CLEAN.value],
        help="clean,corrupted,heldout: corrupted trains on the eight test corruptions, heldout on "
        "corruptions disjoint from them (default clean)",
    )
    s.add_argument("--profile", default="quick", help="entry profile: quick | full | ... (default quick)")
    add_set(s)
    add_list(s, "--seeds", "seed", seed_list, default=[0], help="comma-separated seeds in [0, 2**32) (default 0)")
    s.add_argument(
        "--teacher-seed",
        type=seed,
        default=None,
        metavar="N",
        help="train each teacher once with seed N and distil every student seed from it "
        "(default: a teacher per student seed)",
    )
    add_list(
        s,
        "--conditions",
        "condition",
        checked_list(parse_condition, "condition"),
        default=None,
        help="e.g. clean,Fog:hard (default: clean + 24 corrupted)",
    )
    s.add_argument("--executor", choices=("local", "ray"), default="local")
    s.add_argument(
        "--workers", type=at_least(1), default=1, help="parallel cells with --executor local (default 1: in-process)"
    )
    s.add_argument("--ray-address", default=None, help="Ray cluster address (default: start a local instance)")
    s.add_argument(
        "--cpus-per-cell", type=at_least(0, float), default=1.0, help="CPUs each Ray task reserves (torch threads)"
    )
    s.add_argument("--gpus-per-cell", type=at_least(0, float), default=0.0, help="GPUs each Ray task reserves")
    add_dataset(s, dataroot=None)
    s.add_argument("--out", type=Path, default=api.DEFAULT_OUT, help="folder for models, predictions, leaderboard")
    add_db(s, default=None, help="results database (default OUT/results.sqlite)")
    s.add_argument(
        "--ce-baseline",
        default=api.DEFAULT_CE_BASELINE,
        help=f"entry whose NDS is the mCE denominator (default {api.DEFAULT_CE_BASELINE})",
    )
    s.add_argument("--no-leaderboard", action="store_true", help="do not regenerate the leaderboard at the end")
    add_progress(s)
    add_allow_damaged_argument(s)
    s.add_argument(
        "--dry-run",
        action="store_true",
        help="print the cells left to run and each model's folder (e.g. to train one with torchrun), run nothing",
    )
    add_target_args(s)
    s.set_defaults(func=cmd_sweep)


def report(result: api.BenchmarkResult) -> int:
    """Print the summary (the leaderboard's own numbers), where the leaderboard went and what failed; exit code."""
    from leaderboard.summary import SUMMARY_HEADERS

    headers = [*SUMMARY_HEADERS[:-1], f"{SUMMARY_HEADERS[-1]} (vs {result.ce_baseline or 'no baseline'})"]
    print(format_table(headers, [line.cells() for line in result.summary()]))
    if result.leaderboard is not None:
        print(f"leaderboard: {result.leaderboard}")
    if result.failed:
        print(
            f"{len(result.failed)} cell(s) failed; their errors are in {result.db} (status 'failed'); "
            "rerun to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run a sweep from parsed arguments; exit 1 when any cell failed (``--target-mde``: plan seeds and stop)."""
    if args.target_mde is not None:
        return plan_seeds(args)
    progress = Progress(args.db or args.out / "results.sqlite", args.dry_run, bar=not args.no_progress)
    try:
        result = api.run_benchmark(
            args.entries,
            profile=args.profile,
            dataroot=args.dataroot,
            version=args.version,
            split=args.split,
            out=args.out,
            db=args.db,
            seeds=args.seeds,
            train_modes=args.train_modes,
            conditions=args.conditions,
            teacher_seed=args.teacher_seed,
            overrides=args.overrides,
            entry_files=args.entry_file,
            executor=args.executor,
            workers=args.workers,
            ray_address=args.ray_address,
            cpus_per_cell=args.cpus_per_cell,
            gpus_per_cell=args.gpus_per_cell,
            ce_baseline=args.ce_baseline,
            leaderboard=not args.no_leaderboard,
            allow_damaged_images=args.allow_damaged_images,
            dry_run=args.dry_run,
            on_plan=progress.on_plan,
            on_done=progress.on_done,
        )
    finally:
        progress.close()
    return 0 if args.dry_run else report(result)
