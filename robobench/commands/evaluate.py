"""``robobench evaluate``: score nuScenes results JSON files (:func:`robobench.api.evaluate_results`).

    robobench evaluate --results preds/ [--dataroot data/synth-default --version v1.0-synth
        --split synth_val] [--db results.sqlite --entry my-model]

``--results`` is a file (its condition is ``--condition``, default ``clean``) or a folder of
``clean.json`` and ``<Corruption>_<level>.json`` files (:mod:`robobench.evaluate`). ``--out DIR``
writes the devkit's metrics files per condition and ``summary.json``; ``--json`` prints that summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from robobench import api
from robobench.argtypes import seed
from robobench.commands.common import add_alias, add_dataset, add_db, add_list
from robobench.constants import BOOTSTRAP_REPLICATES, DEFAULT_DATAROOT
from robobench.evaluate import metrics_table, robustness_lines


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` sub-command."""
    p = subparsers.add_parser(
        "evaluate",
        help="score nuScenes results JSON files (one per condition) with NDS/mAP/TP errors",
        description="Score nuScenes results JSON files (global frame; one per condition, named clean.json, "
        "Fog_hard.json, ...) with NDS, mAP and the TP errors, equal to the devkit's DetectionEval; "
        "print RR/mRR when corrupted conditions are given; optionally add the rows to a results store.",
    )
    p.add_argument("--results", required=True, help="a results JSON, or a directory of clean.json, Fog_hard.json, ...")
    add_dataset(
        p,
        dataroot_help=f"nuScenes root, real or synthetic (default {DEFAULT_DATAROOT}, as robobench predict)",
        split_help="e.g. val, mini_val, synth_val, custom splits from splits.json (default: the version's val split)",
    )
    add_list(
        p,
        "--condition",
        "condition",
        default=None,
        metavar="COND",
        help=(
            "comma-separated clean or Corruption:level (Fog:hard); for a file: its condition; for a directory: a subset"
        ),
    )
    _add_rows(p)
    _add_outputs(p)
    p.set_defaults(func=_run)


def _add_rows(p: argparse.ArgumentParser) -> None:
    """The options of the rows added to a results database: where, under which entry, its leaderboard
    metadata, and the key fields of the model the results come from."""
    add_db(p, default=None, help="add the rows to this results database (SQLite)")
    add_alias(p, "--store", "--db", "db", type=Path)
    p.add_argument("--entry", default=None, help="entry name for the rows (default: the results path's name)")
    p.add_argument(
        "--role",
        default=None,
        choices=("student", "teacher", "distill"),
        help="with --db: the entry's role on the leaderboard (default: student for a new entry)",
    )
    p.add_argument("--base", default=None, help="with --db: the entry its gain is measured against")
    p.add_argument("--teacher", default=None, help="with --db: the teacher of a distill entry")
    p.add_argument("--paper", default="", help="with --db: paper title or URL")
    p.add_argument(
        "--train-mode",
        default="clean",
        choices=("clean", "corrupted", "heldout"),
        help="how the model was trained: clean, corrupted (on the eight test corruptions) or heldout",
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of the model the results come from (default 0)")
    p.add_argument("--dataset-id", default=None, help="dataset id for the rows (default: VERSION/SPLIT)")
    p.add_argument("--config-hash", default="external", help="config hash for the rows (default: external)")


def _add_outputs(p: argparse.ArgumentParser) -> None:
    """The options of what is written and printed besides the rows: metrics files, JSON summary, mCE
    baseline, bootstrap replicates."""
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the devkit's metrics_summary.json and metrics_details.json per condition "
        "(DIR/clean/, DIR/Fog_hard/, ...) and DIR/summary.json with RR/mRR/mCE",
    )
    p.add_argument(
        "--json", action="store_true", help="print the summary as JSON on standard output (messages go to stderr)"
    )
    p.add_argument(
        "--ce-baseline",
        default=None,
        metavar="ENTRY",
        help="entry in --db (same dataset id) that CE/mCE are measured against",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=BOOTSTRAP_REPLICATES,
        metavar="N",
        help="scene-bootstrap replicates of NDS and mAP stored with each row, the evaluation noise "
        f"the leaderboard's intervals use (default {BOOTSTRAP_REPLICATES}, as a sweep; 0: none)",
    )


def _run(args: argparse.Namespace) -> int:
    result = api.evaluate_results(
        args.results,
        dataroot=args.dataroot,
        version=args.version,
        split=args.split,
        conditions=args.condition,
        db=args.db,
        entry=args.entry,
        role=args.role,
        base=args.base,
        teacher=args.teacher,
        paper=args.paper,
        train_mode=args.train_mode,
        seed=args.seed,
        dataset_id=args.dataset_id,
        config_hash=args.config_hash,
        out=args.out,
        summary=args.json,
        ce_baseline=args.ce_baseline,
        bootstrap=args.bootstrap,
    )
    # with --json, standard output carries the summary object alone
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    if args.json:
        print(json.dumps(result.summary, indent=2))
    else:
        say(metrics_table(result.rows))
        for line in robustness_lines(result.rows):
            say(line)
    if result.summary_path is not None:
        say(f"metrics: {result.summary_path} and metrics_summary.json/metrics_details.json per condition")
    if args.db is not None:
        say(f"stored {result.stored} row(s) for entry {result.rows[0].entry!r} in {args.db}")
    return 0
