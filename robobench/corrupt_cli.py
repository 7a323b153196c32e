"""``robobench corrupt``: write nuScenes-C to disk, or render the corruption gallery.

    robobench corrupt --dataroot D --version V --split S --out C \\
        [--corruptions Fog Snow] [--levels easy hard] [--workers N] [--seed N] [--all-frames] [--allow-damaged-images]
    robobench corrupt gallery [--dataroot D --version V --split S | --image PATH] --out gallery.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2

from corruptions import CORRUPTIONS, LEVELS
from robobench.argtypes import at_least, seed
from robobench.errors import UserError
from robobench.nuscenes_c import add_allow_damaged_argument
from robobench.paths import output_dir, output_file


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``corrupt`` sub-command (and its ``gallery`` action)."""
    parser = subparsers.add_parser(
        "corrupt",
        help="write nuScenes-C (RoboBEV layout) or render the corruption gallery",
        description="Write corrupted camera images as <out>/<Corruption>/<level>/<CAM>/<file>; resumable.",
    )
    parser.add_argument("--dataroot", help="nuScenes (or synthetic world) root")
    parser.add_argument("--version", default="v1.0-synth", help="devkit version folder (default: v1.0-synth)")
    parser.add_argument("--split", default="synth_val", help="split whose samples are corrupted (default: synth_val)")
    parser.add_argument("--out", help="nuScenes-C root to write")
    parser.add_argument("--corruptions", nargs="+", default=list(CORRUPTIONS), metavar="NAME", help="default: all eight")
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), metavar="LEVEL", help="default: easy mid hard")
    parser.add_argument("--workers", type=at_least(1), default=1, help="parallel processes (default: 1)")
    parser.add_argument("--seed", type=seed, default=0, help="corruption seed (default: 0)")
    frames = parser.add_mutually_exclusive_group()
    frames.add_argument("--keyframes-only", dest="all_frames", action="store_false", help="key frames only (default, as RoboBEV)")
    frames.add_argument("--all-frames", dest="all_frames", action="store_true", help="also corrupt the sweeps")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_allow_damaged_argument(parser)
    parser.set_defaults(func=_run_write, all_frames=False)

    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    gallery = actions.add_parser("gallery", help="render one view under all 24 conditions into a PNG")
    gallery.add_argument("--dataroot", dest="g_dataroot", help="take the front camera of the split's first sample")
    gallery.add_argument("--version", dest="g_version", default="v1.0-synth")
    gallery.add_argument("--split", dest="g_split", default="synth_val")
    gallery.add_argument("--image", help="an RGB image file instead of a dataset view")
    gallery.add_argument("--out", dest="g_out", required=True, help="PNG file to write")
    gallery.add_argument("--seed", dest="g_seed", type=seed, default=0)
    gallery.set_defaults(func=_run_gallery)


def _run_write(args: argparse.Namespace) -> int:
    from robobench.nuscenes_c import write_nuscenes_c

    missing = [flag for flag, value in (("--dataroot", args.dataroot), ("--out", args.out)) if not value]
    if missing:
        raise UserError(f"robobench corrupt needs {' and '.join(missing)} (or use `robobench corrupt gallery`)")
    output_dir(args.out, dataroots=[args.dataroot])
    try:
        written = write_nuscenes_c(
            args.dataroot,
            args.version,
            args.split,
            args.out,
            args.corruptions,
            args.levels,
            workers=args.workers,
            seed=args.seed,
            all_frames=args.all_frames,
            progress=not args.quiet,
            allow_damaged_images=args.allow_damaged_images,
        )
    except ValueError as exc:  # unknown corruption / level names
        raise UserError(str(exc)) from None
    print(f"wrote {written} images under {args.out}")
    return 0


def _read_rgb(path: str) -> "cv2.typing.MatLike":
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"cannot read image {path}; give a JPEG or PNG file")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _run_gallery(args: argparse.Namespace) -> int:
    from corruptions.gallery import render_gallery

    output_file(args.g_out, dataroots=[args.g_dataroot])
    if args.image:
        image = _read_rgb(args.image)
    elif args.g_dataroot:
        from robobench.nuscenes_c import frame_groups

        groups = frame_groups(args.g_dataroot, args.g_version, args.g_split)
        if not groups:
            raise UserError(f"split {args.g_split!r} of {args.g_dataroot} has no samples")
        image = _read_rgb(str(Path(args.g_dataroot) / groups[0].files[0]))
    else:
        raise UserError("robobench corrupt gallery needs --image PATH or --dataroot D (with --version, --split)")
    try:
        grid = render_gallery(image, seed=args.g_seed)
    except ValueError as exc:
        raise UserError(f"{args.image or args.g_dataroot}: {exc}") from None
    out = Path(args.g_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise UserError(f"cannot write {out}; use a .png path in a writable folder")
    print(f"wrote {out}")
    return 0
