"""``robobench data fidelity``: a world's views against real nuScenes (:mod:`robobench.data.fidelity_report`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from robobench.data import fidelity_report
from robobench.data.synth import VERSION
from robobench.constants import DEFAULT_DATAROOT
from robobench.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``fidelity`` to the ``data`` command's sub-commands."""
    fid = sub.add_parser(
        "fidelity",
        help="image statistics and corruption response of a world's views against real nuScenes",
        description="Measure a seeded sample of a dataroot's key-frame camera views (or a folder of images) and "
        "print them beside the reference statistics of real nuScenes views, the corruption response "
        "(SSIM of clean vs corrupted) beside the reference's, and RoboBEV's BEVDet-R50 RR row "
        "(with --db/--entry: an entry's RR beside it).",
    )
    where = fid.add_mutually_exclusive_group()
    where.add_argument(
        "--dataroot", type=Path, default=None, help=f"nuScenes-format dataroot (default: {DEFAULT_DATAROOT})"
    )
    where.add_argument(
        "--images",
        type=Path,
        default=None,
        metavar="DIR",
        help="a folder of camera images (.jpg/.jpeg/.png) instead of a dataroot",
    )
    fid.add_argument("--version", default=VERSION, help=f"devkit version folder (default: {VERSION})")
    fid.add_argument("--views", type=int, metavar="N", help="views sampled for the statistics (default: %(default)s)")
    fid.add_argument(
        "--corruption-views",
        type=int,
        metavar="K",
        help="of those, views measured under every corruption and level (default: %(default)s; 0 skips)",
    )
    fid.add_argument("--seed", type=int, help="seed of the view sample and the corruptions (default: %(default)s)")
    fid.add_argument("--width", type=int, help="model input width views are resized to (default: %(default)s)")
    fid.add_argument(
        "--corrupt-width",
        type=int,
        default=None,
        metavar="W",
        help="resize views to W pixels wide before corrupting them, to see how the corruptions act at "
        "another scale (e.g. 1600, nuScenes' width; default: each view's own size)",
    )
    fid.add_argument(
        "--reference",
        type=Path,
        default=None,
        metavar="FILE",
        help="reference statistics (default: the real-nuScenes file shipped with robobench)",
    )
    fid.add_argument(
        "--write-reference",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the measured views' statistics as a reference file instead of comparing",
    )
    fid.add_argument(
        "--label",
        default=None,
        metavar="TEXT",
        help="with --write-reference: what the views are, recorded in the file instead of their path",
    )
    fid.add_argument("--db", type=Path, default=None, help="results store holding --entry's evaluations")
    fid.add_argument("--entry", default=None, help="with --db: the entry whose per-corruption RR to compare")
    fid.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    fid.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write the report as JSON to FILE")
    fid.set_defaults(func=_fidelity, **fidelity_report.DEFAULTS)


def _fidelity(args: argparse.Namespace) -> int:
    fr = fidelity_report
    if args.views < 1 or args.corruption_views < 0 or args.width < 8:
        raise UserError(
            f"--views must be >= 1, --corruption-views >= 0 and --width >= 8; got {args.views}, "
            f"{args.corruption_views} and {args.width}"
        )
    if (args.db is None) != (args.entry is None):
        raise UserError("--db and --entry go together: pass both to compare an entry's RR, or neither")
    if args.write_reference is not None and args.reference is not None:
        raise UserError("--write-reference measures a new reference; it does not take --reference")
    if args.corrupt_width is not None and (args.corrupt_width < 32 or args.write_reference is not None):
        raise UserError(
            f"--corrupt-width {args.corrupt_width}: must be >= 32 (the corruption engine's minimum) and "
            "is an ablation of the measured views, not for --write-reference"
        )
    if args.label is not None and args.write_reference is None:
        raise UserError("--label names the views of a written reference; pass it with --write-reference")
    target = fr.read_target()
    reference_path = None if args.write_reference else (args.reference or fr.DEFAULT_REFERENCE)
    reference = fr.read_reference(reference_path) if reference_path else None
    entries = fr.entry_rr(args.db, args.entry) if args.db is not None else []
    if args.images is not None:
        views = fr.folder_views(args.images, args.views, args.seed)
    else:
        views = fr.dataroot_views(args.dataroot or DEFAULT_DATAROOT, args.version, args.views, args.seed)
    label = (args.label or views.generic) if args.write_reference is not None else None
    measurement = fr.measure(
        views, args.corruption_views, args.seed, args.width, label=label, corrupt_width=args.corrupt_width
    )
    rep = fr.report(measurement, reference, reference_path, target, entries)
    if args.write_reference is not None:
        options = {name: getattr(args, name) for name in fr.DEFAULTS}
        command = fr.reference_command(views, options, labelled=args.label is not None)
        fr.write_json(args.write_reference, fr.reference_payload(measurement, command))
    if args.out is not None:
        fr.write_json(args.out, rep)
    if args.json:
        print(json.dumps(rep, indent=1))
    else:
        for line in fr.format_report(rep):
            print(line)
    for path, what in ((args.write_reference, "reference"), (args.out, "report")):
        if path is not None:
            print(f"wrote {what} {path}", file=sys.stderr if args.json else sys.stdout)
    return 0
