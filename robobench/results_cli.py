"""``robobench results``: move results between stores.

    robobench results export --db DB --out FILE.json [--entries a,b] [--dataset-id ID]
    robobench results import --db DB SOURCE [SOURCE ...]

A sweep split over machines (or over jobs of a cluster, each writing its own SQLite
file so that no two share a network file system) ends with one store per job.
``export`` writes a store's rows, the training cost of their models and the entry
metadata to one JSON file; ``import`` upserts such files, or other results databases
directly, into one store, all sources in one transaction, so that one leaderboard
shows everything. A result whose key (entry, train mode, condition, seed, dataset id,
config hash) is already stored is replaced by the imported one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robobench.argtypes import name_list
from robobench.errors import UserError
from robobench.paths import output_file
from robobench.store import ResultStore, parse_exports, read_export


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``results`` sub-command with its ``export`` and ``import`` actions."""
    parser = subparsers.add_parser(
        "results",
        help="export a results store to JSON, or merge exports and other stores into one",
        description=__doc__.split("\n\n", 2)[2],
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    export = actions.add_parser("export", help="write a store's results to a JSON file")
    export.add_argument("--db", default="runs/results.sqlite", help="results database (default runs/results.sqlite)")
    export.add_argument("--out", required=True, help="JSON file to write")
    export.add_argument("--entries", type=name_list("entry"), help="comma-separated entries to export (default: all)")
    export.add_argument("--dataset-id", help="export only the results on this dataset id")
    export.set_defaults(func=_run_export)

    imp = actions.add_parser("import", help="upsert JSON exports or other results databases into a store")
    imp.add_argument("--db", default="runs/results.sqlite", help="results database to write (default runs/results.sqlite)")
    imp.add_argument("sources", nargs="+", metavar="SOURCE", help="a `results export` JSON file or a results .sqlite")
    imp.set_defaults(func=_run_import)


def _existing_store(path: str) -> ResultStore:
    """The store at ``path``, which must exist: exporting from a mistyped path should not create an empty one."""
    if not Path(path).is_file():
        raise UserError(f"results database {path} does not exist; pass --db with the store a sweep wrote")
    return ResultStore(path)


def _run_export(args: argparse.Namespace) -> int:
    output_file(args.out)
    filters = {"dataset_id": args.dataset_id}
    if args.entries:
        filters["entry"] = args.entries
    with _existing_store(args.db) as store:
        if args.entries:
            unknown = [e for e in filters["entry"] if not store.count(entry=e)]
            if unknown:
                held = sorted({r.entry for r in store.rows()})
                raise UserError(f"{args.db} holds no results of {', '.join(unknown)}; it holds {', '.join(held) or 'none'}")
        n = store.export_json(args.out, **filters)
    print(f"exported {n} results from {args.db} to {args.out}")
    return 0


def _run_import(args: argparse.Namespace) -> int:
    target = output_file(args.db, "--db").resolve()
    sources = [Path(s) for s in args.sources]
    same = [str(s) for s in sources if s.exists() and s.resolve() == target]
    if same:
        raise UserError(f"{same[0]} is the store being written (--db); import other stores into it")
    # every source read and checked before the store is opened: a bad one creates or changes nothing
    batch = parse_exports([(read_export(s), s) for s in sources])
    with ResultStore(args.db) as store:
        before = store.keys(status=None)
        n = store.import_batch(batch)
        imported = store.keys(status=None) - before
    print(f"imported {n} results from {len(sources)} source(s) into {args.db}: {len(imported)} new, "
          f"{n - len(imported)} replacing a stored result with the same key")
    return 0
