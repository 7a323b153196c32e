"""``robobench leaderboard``: render the static HTML leaderboard from the results store.

Example::

    robobench leaderboard --db runs/results.sqlite --out runs/leaderboard \\
        --ce-baseline bevdet --import rayd3d_table1.csv --gallery gallery.png

``--import`` takes published numbers (format: :mod:`leaderboard.references`), shown
as marked reference rows; ``--reference robobev`` adds RoboBEV's built-in results
(:mod:`leaderboard.robobev`) to a leaderboard of real nuScenes val results. Open
``OUT/index.html`` in a browser; it needs no server.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from robobench import api
from robobench.commands.common import add_alias, add_db, add_list

DEFAULT_OUT = api.DEFAULT_OUT / "leaderboard"


def register(subparsers: Any) -> None:
    """Add the ``leaderboard`` sub-command."""
    p = subparsers.add_parser(
        "leaderboard",
        help="render the static HTML leaderboard (index, entry pages, charts, CSV/JSON/Markdown/LaTeX exports)",
        description=__doc__.split("\n\n")[0],
        epilog=(
            "Reference file columns: entry, condition (clean | Fog:hard | Fog), metric (nds | map | rr), value "
            "(percent); optional source, role, base, teacher, train_mode, dataset. "
            "CSV with a header, or a JSON list of objects."
        ),
    )
    add_db(p)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument(
        "--ce-baseline",
        dest="baseline",
        default=None,
        metavar="ENTRY",
        help="entry mCE is measured against (default: the first student that derives from no other entry, e.g. bevdet)",
    )
    add_alias(p, "--baseline", "--ce-baseline", "baseline", metavar="ENTRY")
    add_list(
        p,
        "--import",
        "file",
        lambda text: [Path(t) for t in text.split(",") if t],
        dest="imports",
        default=[],
        extend=True,
        metavar="FILE",
        help="comma-separated CSV/JSON files of published per-condition NDS or per-corruption RR, "
        "shown as reference rows",
    )
    p.add_argument(
        "--reference",
        action="append",
        choices=("robobev",),
        default=[],
        help="built-in published results: robobev = RoboBEV's per-level NDS/mAP of about 30 models on nuScenes-C "
        "(shown only beside real nuScenes v1.0-trainval val rows; see leaderboard/robobev.py)",
    )
    p.add_argument(
        "--min-map",
        type=float,
        default=None,
        metavar="FRACTION",
        help="clean mAP below which a measured row is tagged 'low mAP' and not ranked (default 0.05)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--gallery",
        type=Path,
        default=None,
        metavar="PNG",
        help="corruption gallery made by `robobench corrupt gallery`",
    )
    g.add_argument(
        "--gallery-from",
        type=Path,
        default=None,
        metavar="IMAGE_OR_DATAROOT",
        help="render the gallery from one camera image, or the first CAM_FRONT image of a dataroot",
    )
    p.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Render the site from the store, the reference files and the gallery; print the index path."""
    index = api.render_leaderboard(
        args.db,
        args.out,
        baseline=args.baseline,
        imports=args.imports,
        robobev="robobev" in args.reference,
        min_map=args.min_map,
        gallery=args.gallery,
        gallery_from=args.gallery_from,
    )
    print(f"leaderboard: {index}")
    return 0
