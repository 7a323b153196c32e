"""``robobench demo``: the main job on the embedded synthetic default (:func:`robobench.api.run_demo`).

Generates (when missing or stale) and validates the default synthetic world, then sweeps the demo
entries in the ``quick`` profile on its ``synth_val_mini`` split and renders the leaderboard;
resumable like the sweep.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robobench import api
from robobench.commands.common import add_alias, add_list
from robobench.commands.progress import Progress
from robobench.commands.sweep import report
from robobench.demo import DEFAULT_DATA, DEFAULT_OUT, DEMO_ENTRIES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command."""
    parser = subparsers.add_parser(
        "demo", help="generate and validate the default synthetic world, run the quick sweep and the leaderboard"
    )
    parser.add_argument(
        "--dataroot", type=Path, default=DEFAULT_DATA, help=f"dataroot of the world (default: {DEFAULT_DATA})"
    )
    add_alias(parser, "--data", "--dataroot", "dataroot", type=Path)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"sweep output folder (default: {DEFAULT_OUT})")
    add_list(
        parser,
        "--entries",
        "entry",
        default=list(DEMO_ENTRIES),
        help=f"comma-separated entries to sweep (default: {','.join(DEMO_ENTRIES)})",
    )
    parser.add_argument("--validate-only", action="store_true", help="only generate (if needed) and validate the world")
    parser.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    """Exit 1 when the world fails validation (nothing else runs), else the sweep's code (1 when a cell failed)."""
    progress = Progress(args.out / "results.sqlite", dry_run=False)
    try:
        result = api.run_demo(
            args.dataroot,
            args.out,
            args.entries,
            sweep=not args.validate_only,
            on_plan=progress.on_plan,
            on_done=progress.on_done,
        )
    finally:
        progress.close()
    if not result.world_ok:
        return 1
    return report(result.benchmark) if result.benchmark is not None else 0
