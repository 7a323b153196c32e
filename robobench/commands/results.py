"""``robobench results``: move results between stores.

    robobench results export --db DB --out FILE.json [--entries a,b] [--dataset-id ID]
    robobench results import --db DB SOURCE [SOURCE ...]
    robobench results relabel --db DB --from OLD_ID (--dataroot D | --to NEW_ID)

A sweep split over machines (or over jobs of a cluster, each writing its own SQLite
file so that no two share a network file system) ends with one store per job.
``export`` writes a store's rows, the training cost of their models and the entry
metadata to one JSON file; ``import`` upserts such files, or other results databases
directly, into one store, all sources in one transaction, so that one leaderboard
shows everything. A result whose key (entry, train mode, condition, seed, dataset id,
config hash) is already stored is replaced by the imported one. ``relabel`` moves a
store's results from one dataset id to another, e.g. to today's id of the world they were
measured on after the id's definition changed.
"""

from __future__ import annotations

import argparse

from robobench import api
from robobench.commands.common import add_db, add_list


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``results`` sub-command with its ``export``, ``import`` and ``relabel`` actions."""
    parser = subparsers.add_parser(
        "results",
        help="export a results store to JSON, or merge exports and other stores into one",
        description=__doc__.split("\n\n", 2)[2],
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    export = actions.add_parser("export", help="write a store's results to a JSON file")
    add_db(export)
    export.add_argument("--out", required=True, help="JSON file to write")
    add_list(export, "--entries", "entry", help="comma-separated entries to export (default: all)")
    export.add_argument("--dataset-id", help="export only the results on this dataset id")
    export.set_defaults(func=_run_export)

    imp = actions.add_parser("import", help="upsert JSON exports or other results databases into a store")
    add_db(imp, help=f"results database to write (default {api.DEFAULT_OUT / 'results.sqlite'})")
    imp.add_argument("sources", nargs="+", metavar="SOURCE", help="a `results export` JSON file or a results .sqlite")
    imp.set_defaults(func=_run_import)

    relabel = actions.add_parser("relabel", help="move a store's results from one dataset id to another")
    add_db(relabel)
    relabel.add_argument("--from", dest="old", required=True, metavar="OLD_ID", help="the dataset id to move")
    target = relabel.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", dest="new", metavar="NEW_ID", help="the dataset id to move to")
    target.add_argument("--dataroot", help="the world the results were measured on: move them to its id today")
    relabel.add_argument("--version", default="v1.0-synth", help="with --dataroot: its table folder")
    relabel.set_defaults(func=_run_relabel)


def _run_export(args: argparse.Namespace) -> int:
    n = api.export_results(args.db, args.out, entries=args.entries, dataset_id=args.dataset_id)
    print(f"exported {n} results from {args.db} to {args.out}")
    return 0


def _run_import(args: argparse.Namespace) -> int:
    report = api.import_results(args.db, args.sources)
    print(
        f"imported {report.rows} results from {len(args.sources)} source(s) into {args.db}: {report.new} new, "
        f"{report.rows - report.new} replacing a stored result with the same key"
    )
    return 0


def _run_relabel(args: argparse.Namespace) -> int:
    new, results, trainings = api.relabel_dataset(
        args.db, args.old, args.new, dataroot=args.dataroot, version=args.version
    )
    print(f"moved {results} results and {trainings} training records of {args.db} from {args.old} to {new}")
    return 0
