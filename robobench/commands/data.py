"""``robobench data synth`` (write the synthetic world), ``data show`` (picture of a sample) and
``data fidelity`` (the world's images against real nuScenes statistics)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from robobench.argtypes import seed
from robobench.commands import fidelity
from robobench.data.synth import CAMERA_GEOMETRIES, DEFAULT_WORKERS, PRESETS, RENDERS, VERSION, generate, get_preset
from robobench.constants import DEFAULT_DATAROOT
from robobench.errors import UserError
from robobench.paths import output_file


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command with its ``synth``, ``show`` and ``fidelity`` sub-commands."""
    parser = subparsers.add_parser("data", help="generate or inspect a nuScenes-format dataset")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    synth = sub.add_parser("synth", help="write the synthetic nuScenes-format world (version v1.0-synth)")
    synth.add_argument("--out", type=Path, required=True, help="dataroot to write (created if missing)")
    synth.add_argument("--preset", default="default", choices=sorted(PRESETS), help="world size (default: default)")
    synth.add_argument("--seed", type=seed, default=0, help="layout/appearance seed (default: 0)")
    synth.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"scenes generated in parallel processes (default: one per core, at most 4: {DEFAULT_WORKERS} here)",
    )
    synth.add_argument(
        "--lidar-sweeps",
        type=int,
        default=0,
        metavar="N",
        help="non-key LiDAR sweeps written between key frames (nuScenes' 20 Hz LiDAR: 9; default 0)",
    )
    synth.add_argument(
        "--val-scenes",
        type=int,
        default=None,
        metavar="N",
        help="validation scenes instead of the preset's (more scenes, less evaluation noise; the training scenes "
        "and the first validation scenes stay the same bytes)",
    )
    synth.add_argument(
        "--render",
        default="flat",
        choices=RENDERS,
        help="flat: today's default world (generator 2); realistic: textured, lit, camera-finished "
        "images with night and rain scenes (generator 4, the candidate default)",
    )
    synth.add_argument(
        "--camera",
        default="preset",
        choices=CAMERA_GEOMETRIES,
        help="image size: the preset's, or nuScenes' 1600x900 (corruptions at their defined pixel scale)",
    )
    synth.set_defaults(func=_synth)
    show = sub.add_parser("show", help="render the six views with GT boxes and a BEV plot of one sample to a PNG")
    show.add_argument("--dataroot", type=Path, default=DEFAULT_DATAROOT, help=f"default: {DEFAULT_DATAROOT}")
    show.add_argument("--version", default=VERSION, help=f"devkit version folder (default: {VERSION})")
    show.add_argument("--sample", default=None, help="sample token (default: middle key frame of the first scene)")
    show.add_argument("--out", type=Path, required=True, help="PNG file to write")
    show.set_defaults(func=_show)
    fidelity.register(sub)


def _synth(args: argparse.Namespace) -> int:
    get_preset(args.preset)
    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    start = time.perf_counter()
    root = generate(
        args.out,
        preset=args.preset,
        seed=args.seed,
        workers=args.workers,
        progress=True,
        lidar_sweeps=args.lidar_sweeps,
        render=args.render,
        camera=args.camera,
        val_scenes=args.val_scenes,
    )
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    look = "" if (args.render, args.camera) == ("flat", "preset") else f", {args.render} render, {args.camera} camera"
    print(
        f"wrote {VERSION} ({args.preset}, seed {args.seed}{look}) to {root} in {time.perf_counter() - start:.1f} s, "
        f"{size / 1e6:.1f} MB"
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    from robobench.data.nusc import open_nuscenes
    from robobench.data.show import default_sample, render_sample

    if args.out.suffix.lower() != ".png":
        raise UserError(f"--out {str(args.out)!r} must be a .png file")
    output_file(args.out, dataroots=[args.dataroot])
    nusc = open_nuscenes(args.dataroot, args.version)
    token = args.sample or default_sample(nusc)
    path = render_sample(nusc, token, args.out)
    print(f"wrote {path}")
    return 0
