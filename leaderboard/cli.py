"""``robobench leaderboard``: render the static HTML leaderboard from the results store.

Example::

    robobench leaderboard --db runs/results.sqlite --out runs/leaderboard \\
        --baseline bevdet --import rayd3d_table1.csv --gallery gallery.png

``--import`` takes published numbers (format: :mod:`leaderboard.references`), shown
as marked reference rows; ``--reference robobev`` adds RoboBEV's built-in results
(:mod:`leaderboard.robobev`) to a leaderboard of real nuScenes val results. Open
``OUT/index.html`` in a browser; it needs no server.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from robobench.errors import UserError

DEFAULT_DB = Path("runs") / "results.sqlite"
DEFAULT_OUT = Path("runs") / "leaderboard"


def register(subparsers: Any) -> None:
    """Add the ``leaderboard`` sub-command."""
    p = subparsers.add_parser(
        "leaderboard",
        help="render the static HTML leaderboard (index, entry pages, charts, CSV/JSON/Markdown/LaTeX exports)",
        description=__doc__.split("\n\n")[0],
        epilog="Reference file columns: entry, condition (clean | Fog:hard | Fog), metric (nds | map | rr), value "
        "(percent); optional source, role, base, teacher, train_mode, dataset. CSV with a header, or a JSON list of objects.",
    )
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results database (default {DEFAULT_DB})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--baseline", default=None, metavar="ENTRY", help="entry mCE is measured against (default: the first student that derives from no other entry, e.g. bevdet)")
    p.add_argument("--import", dest="imports", type=Path, nargs="+", action="extend", default=[], metavar="FILE",
                   help="CSV/JSON of published per-condition NDS or per-corruption RR, shown as reference rows")
    p.add_argument("--reference", action="append", choices=("robobev",), default=[],
                   help="built-in published results: robobev = RoboBEV's per-level NDS/mAP of about 30 models on nuScenes-C "
                   "(shown only beside real nuScenes v1.0-trainval val rows; see leaderboard/robobev.py)")
    p.add_argument("--min-map", type=float, default=None, metavar="FRACTION",
                   help="clean mAP below which a measured row is tagged 'low mAP' and not ranked (default 0.05)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--gallery", type=Path, default=None, metavar="PNG", help="corruption gallery made by `robobench corrupt gallery`")
    g.add_argument("--gallery-from", type=Path, default=None, metavar="IMAGE_OR_DATAROOT",
                   help="render the gallery from one camera image, or the first CAM_FRONT image of a dataroot")
    p.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Read the store, the reference files and the gallery; write the site; print the index path."""
    from leaderboard.gallery import gallery_png
    from leaderboard.model import MIN_MAP
    from leaderboard.references import load_references
    from leaderboard.render import render_store
    from robobench.paths import output_dir
    from robobench.store import ResultStore

    if not args.db.is_file():
        raise UserError(f"no results database at {args.db}; run `robobench sweep` first or pass --db PATH")
    output_dir(args.out, dataroots=[args.gallery_from] if args.gallery_from is not None and args.gallery_from.is_dir() else [])
    references = [ref for path in args.imports for ref in load_references(path)]
    gallery: bytes | Path | None = args.gallery
    if gallery is not None and not args.gallery.is_file():
        raise UserError(f"gallery image {args.gallery} does not exist")
    if args.gallery_from is not None:
        gallery = gallery_png(args.gallery_from)
    with ResultStore(args.db) as store:
        if "robobev" in args.reference:
            from leaderboard.robobev import check_real_nuscenes, load_robobev

            check_real_nuscenes(row.dataset_id for row in store.rows())
            references += load_robobev()
        index = render_store(
            store, args.out, baseline=args.baseline, references=references, gallery=gallery,
            min_map=MIN_MAP if args.min_map is None else args.min_map,
        )
    print(f"leaderboard: {index}")
    return 0
