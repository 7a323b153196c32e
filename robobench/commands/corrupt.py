"""``robobench corrupt``: write nuScenes-C to disk, or render the corruption gallery.

    robobench corrupt --dataroot D --version V --split S --out C \\
        [--corruptions Fog,Snow] [--levels easy,hard] [--workers N] [--seed N] [--all-frames] [--allow-damaged-images]
    robobench corrupt gallery [--dataroot D --version V --split S | --image PATH] --out gallery.png
"""

from __future__ import annotations

import argparse

from robobench import api
from robobench.argtypes import at_least, seed
from robobench.commands.common import add_alias, add_dataset, add_list, add_progress
from robobench.constants import DEFAULT_VERSION
from robobench.errors import UserError
from robobench.nuscenes_c import add_allow_damaged_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``corrupt`` sub-command (and its ``gallery`` action)."""
    parser = subparsers.add_parser(
        "corrupt",
        help="write nuScenes-C (RoboBEV layout) or render the corruption gallery",
        description="Write corrupted camera images as <out>/<Corruption>/<level>/<CAM>/<file>; resumable.",
    )
    add_dataset(
        parser,
        dataroot=None,
        split="synth_val",
        dataroot_help="nuScenes (or synthetic world) root",
        split_help="split whose samples are corrupted (default: synth_val)",
    )
    parser.add_argument("--out", help="nuScenes-C root to write")
    add_list(
        parser, "--corruptions", "corruption", default=None, metavar="NAME", help="comma-separated (default: all eight)"
    )
    add_list(
        parser, "--levels", "level", default=None, metavar="LEVEL", help="comma-separated (default: easy,mid,hard)"
    )
    parser.add_argument("--workers", type=at_least(1), default=1, help="parallel processes (default: 1)")
    parser.add_argument("--seed", type=seed, default=0, help="corruption seed (default: 0)")
    frames = parser.add_mutually_exclusive_group()
    frames.add_argument(
        "--keyframes-only", dest="all_frames", action="store_false", help="key frames only (default, as RoboBEV)"
    )
    frames.add_argument("--all-frames", dest="all_frames", action="store_true", help="also corrupt the sweeps")
    add_progress(parser)
    add_alias(parser, "--quiet", "--no-progress", "no_progress", flag=True)
    add_allow_damaged_argument(parser)
    parser.set_defaults(func=_run_write, all_frames=False)

    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    gallery = actions.add_parser("gallery", help="render one view under all 24 conditions into a PNG")
    gallery.add_argument("--dataroot", dest="g_dataroot", help="take the front camera of the split's first sample")
    gallery.add_argument("--version", dest="g_version", default=DEFAULT_VERSION)
    gallery.add_argument("--split", dest="g_split", default="synth_val")
    gallery.add_argument("--image", help="an RGB image file instead of a dataset view")
    gallery.add_argument("--out", dest="g_out", required=True, help="PNG file to write")
    gallery.add_argument("--seed", dest="g_seed", type=seed, default=0)
    gallery.set_defaults(func=_run_gallery)


def _run_write(args: argparse.Namespace) -> int:
    missing = [flag for flag, value in (("--dataroot", args.dataroot), ("--out", args.out)) if not value]
    if missing:
        raise UserError(f"robobench corrupt needs {' and '.join(missing)} (or use `robobench corrupt gallery`)")
    written = api.corrupt_dataset(
        args.dataroot,
        args.out,
        version=args.version,
        split=args.split,
        corruptions=args.corruptions,
        levels=args.levels,
        workers=args.workers,
        seed=args.seed,
        all_frames=args.all_frames,
        progress=not args.no_progress,
        allow_damaged_images=args.allow_damaged_images,
    )
    print(f"wrote {written} images under {args.out}")
    return 0


def _run_gallery(args: argparse.Namespace) -> int:
    out = api.corruption_gallery(
        args.g_out,
        image=args.image,
        dataroot=args.g_dataroot,
        version=args.g_version,
        split=args.g_split,
        seed=args.g_seed,
    )
    print(f"wrote {out}")
    return 0
