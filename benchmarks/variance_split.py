"""Where the spread of a benchmark number comes from: training seeds, validation scenes, corruption seeds.

For every entry (train mode, dataset, profile) of a results store, the spread of its clean
NDS, mRR and mean corrupted NDS over training seeds is split by
:func:`robobench.stats.variance_split` into

* ``scenes``: the scene bootstrap of one run (evaluation noise of the absolute number: how
  far it would move on another validation split of the same size),
* ``scenes_in_seeds``: the part of the seed spread that is model-by-scene interaction
  (from the paired bootstrap of seed differences; a larger validation split shrinks it),
* ``training``: what is left of the seed spread for the training seed itself,
* ``corruption_seeds`` (with ``--corruption-seeds``): the spread of the same model's number
  when the corrupted conditions are predicted again under other corruption seeds (the
  sweep evaluates under seed 0); each model of the store's sweep folder (``--models``) is
  re-predicted, every corrupted condition by default (``--conditions`` for a subset; the
  others then keep their stored seed-0 numbers, so that term is a lower bound).

The rows need the scene-bootstrap replicates that sweeps and ``robobench evaluate`` store
(``bootstrap`` of each row). The split is written as JSON (``--out``) and printed.

Run: ``python benchmarks/variance_split.py --db runs/x/results.sqlite [--entries bevdet]
[--corruption-seeds 1,2 --models runs/x --dataroot data/synth-default] --out split.json``.
Only full-profile runs on the default world say where the benchmark's own variance comes from.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from leaderboard.model import Group, build_board, replicate_values
from robobench import stats
from robobench.conditions import Condition, all_conditions
from robobench.constants import DEFAULT_VERSION
from robobench.errors import UserError
from robobench.metrics.robustness import TABLE_METRICS, table_metric_by_seed
from robobench.store import ResultStore


def corruption_seed_tables(
    group: Group,
    seed: int,
    corruption_seeds: list[int],
    conditions: list[Condition],
    models: Path,
    dataroot: Path,
    version: str,
) -> list[dict[Condition, float]]:
    """The seed's condition -> NDS table under each corruption seed: the stored table (seed 0) first, then one
    per seed in ``corruption_seeds`` with ``conditions`` predicted again from the sweep's model folder."""
    from robobench.data.nusc import open_nuscenes
    from robobench.evaluate import condition_file_name
    from robobench.metrics.detection import DetectionEvaluator
    from robobench.predict import predict
    from robobench.sweep import EVAL_CORRUPTION_SEED
    from robobench.train import FINAL_CKPT

    stored = group.nds_by_seed()[seed]
    row = group.cell(seed, Condition())
    if row is None:
        raise UserError(f"{group.entry} seed {seed} has no clean row")
    checkpoint = models / "models" / group.entry / group.train_mode / f"seed{seed}-{row.config_hash}" / FINAL_CKPT
    if not checkpoint.is_file():
        raise UserError(f"no checkpoint {checkpoint} for {group.entry} seed {seed}; pass the sweep's --out as --models")
    split = row.dataset_id.split("/", 1)[1]
    evaluator = DetectionEvaluator(open_nuscenes(str(dataroot), version), split)
    tables = [dict(stored)]
    with tempfile.TemporaryDirectory() as tmp:
        for cseed in corruption_seeds:
            if cseed == EVAL_CORRUPTION_SEED:
                continue
            table = dict(stored)
            for cond in conditions:
                out = Path(tmp) / f"{cseed}-{condition_file_name(cond)}"
                pred = predict(
                    group.entry,
                    checkpoint,
                    cond,
                    dataroot,
                    version,
                    split=split,
                    out_path=out,
                    seed=cseed,
                    progress=False,
                )
                table[cond] = evaluator.evaluate(pred.results_path, breakdowns=False).nds
            tables.append(table)
    return tables


def split_group(group: Group, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The variance split of each metric of one leaderboard line."""
    per_seed = group.nds_by_seed()
    redo = None
    if args.corruption_seeds:
        conds = (
            [Condition.parse(c) for c in args.conditions] if args.conditions else all_conditions(include_clean=False)
        )
        redo = {
            s: corruption_seed_tables(group, s, args.corruption_seeds, conds, args.models, args.dataroot, args.version)
            for s in per_seed
        }
    out = []
    for metric, compute in TABLE_METRICS.items():
        values, reps, corr = table_metric_by_seed(per_seed, compute), {}, {}
        for seed in values:
            if (r := replicate_values(group, seed, compute)) is not None:
                reps[seed] = r
            if redo is not None:
                corr[seed] = [compute(t) for t in redo[seed]]
        if not values:
            continue
        split = stats.variance_split(metric, values, reps or None, corr or None)
        out.append(
            {
                "entry": group.entry,
                "train_mode": group.train_mode,
                "dataset_id": group.dataset_id,
                "profile": group.profile,
                "replicates": len(next(iter(reps.values()))) if reps else 0,
                "mean": statistics.fmean(values.values()),
                **split.to_dict(),
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", type=Path, required=True, help="results store of a sweep")
    p.add_argument("--entries", default=None, help="comma-separated entries (default: all measured)")
    p.add_argument("--out", type=Path, default=None, help="write the split here as JSON")
    p.add_argument("--corruption-seeds", default="", help="also re-predict the corrupted conditions under these seeds")
    p.add_argument("--conditions", default="", help="with --corruption-seeds: the corrupted conditions to re-predict")
    p.add_argument("--models", type=Path, default=None, help="the sweep's --out folder (default: the store's folder)")
    p.add_argument("--dataroot", type=Path, default=None, help="dataset root the sweep evaluated on")
    p.add_argument("--version", default=DEFAULT_VERSION)
    args = p.parse_args(argv)
    args.corruption_seeds = [int(s) for s in args.corruption_seeds.split(",") if s.strip()]
    args.conditions = [c for c in args.conditions.split(",") if c.strip()]
    args.models = args.models or args.db.parent
    if args.corruption_seeds and args.dataroot is None:
        p.error("--corruption-seeds needs --dataroot")
    try:
        with ResultStore(args.db) as store:
            entries = args.entries.split(",") if args.entries else None
            board = build_board(store.rows(entry=entries, status="ok"), store.entries())
        rows = [r for g in board.measured for r in split_group(g, args)]
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cols = ("mean", "seeds", "scenes", "scenes_in_seeds", "training", "corruption_seeds")
    print(f"{'entry':<22}{'metric':<10}{'n':>3}" + "".join(f"{c:>17}" for c in cols))
    for r in rows:
        print(
            f"{r['entry']:<22}{r['metric']:<10}{r['n_seeds']:>3}"
            + "".join(f"{r[c]:>17.4f}" if r[c] is not None else f"{'-':>17}" for c in cols)
        )
    if args.out:
        doc = {
            "db": str(args.db),
            "corruption_seeds": args.corruption_seeds,
            "conditions_repredicted": args.conditions or ("all corrupted" if args.corruption_seeds else []),
            "units": "fractions (0.01 = 1 NDS or mRR point); standard deviations",
            "splits": rows,
        }
        args.out.write_text(json.dumps(doc, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
