"""Results files -> metrics rows, and the ``robobench evaluate`` sub-command.

Anyone's detector can be scored: write one nuScenes results JSON (the submission
format, boxes in the global frame) per condition, then::

    robobench evaluate --results preds/ [--dataroot data/synth-default --version v1.0-synth
        --split synth_val] [--store results.sqlite --entry my-model]

(the defaults, as ``robobench predict``'s, are the embedded synthetic world and its val split)

``--results`` is a file (its condition is ``--condition``, default ``clean``) or a
directory of files named after their condition: ``clean.json`` and
``<Corruption>_<level>.json`` such as ``Fog_hard.json`` or ``LowLight_easy.json``
(:func:`condition_file_name`; the corruption may be written in any spelling
:func:`corruptions.spec.canonical_name` accepts, e.g. ``low_light_easy.json``). Every
``*.json`` in the directory must be so named; ``--condition`` picks a subset.

Each file is validated before scoring (:func:`robobench.metrics.detection.parse_results`):
a bad file stops the command with one line naming the file, sample and field.

``--out DIR`` writes the devkit's ``metrics_summary.json``/``metrics_details.json`` per
condition and a ``summary.json`` with RR/mRR/mCE; ``--json`` prints that summary
(:mod:`robobench.evaluate_output`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from robobench.conditions import Condition, all_conditions
from robobench.constants import BOOTSTRAP_REPLICATES, DEFAULT_DATAROOT, DEFAULT_VERSION
from robobench.errors import UserError
from robobench.schema import ResultRow

RESULTS_SUFFIX = ".json"


def condition_file_name(condition: Condition | str) -> str:
    """``clean.json`` or ``<Corruption>_<level>.json`` (``Fog_hard.json``)."""
    cond = condition if isinstance(condition, Condition) else Condition.parse(str(condition))
    stem = "clean" if cond.is_clean else f"{cond.corruption}_{cond.level}"
    return stem + RESULTS_SUFFIX


def condition_of_file(path: Path) -> Condition:
    """The condition a results file's name stands for (inverse of :func:`condition_file_name`)."""
    stem = path.name[: -len(RESULTS_SUFFIX)] if path.name.endswith(RESULTS_SUFFIX) else path.stem
    name, _, level = stem.rpartition("_")
    text = "clean" if stem.lower() == "clean" else f"{name}:{level}"
    try:
        return Condition.parse(text)
    except ValueError as exc:
        raise UserError(
            f"cannot tell the condition of results file {path}: {exc}; name it clean.json or "
            "<Corruption>_<level>.json, e.g. Fog_hard.json"
        ) from None


def _parse_condition(text: str) -> Condition:
    try:
        return Condition.parse(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def find_results_files(path: str | Path, conditions: Sequence[str] | None = None) -> dict[Condition, Path]:
    """Map conditions to results files for ``--results`` (a file or a directory).

    A single file stands for one condition (``conditions[0]``, default ``clean``). In a
    directory every ``*.json`` is named after its condition; ``conditions`` (if given)
    selects among them and each selected one must exist.
    """
    path = Path(path)
    wanted = [_parse_condition(c) for c in conditions] if conditions else None
    if path.is_file():
        if wanted and len(wanted) > 1:
            raise UserError(f"{path} is one results file but {len(wanted)} conditions were given; pass a directory")
        return {wanted[0] if wanted else Condition(): path}
    if not path.is_dir():
        raise UserError(f"results path {path} does not exist")
    found: dict[Condition, Path] = {}
    for file in sorted(path.glob("*" + RESULTS_SUFFIX)):
        cond = condition_of_file(file)
        if cond in found:
            raise UserError(f"{found[cond].name} and {file.name} in {path} are both condition {cond}")
        found[cond] = file
    if not found:
        raise UserError(f"no *.json results files in {path}; expected clean.json, Fog_hard.json, ...")
    if wanted is None:
        return dict(sorted(found.items(), key=lambda kv: _condition_order(kv[0])))
    missing = [str(c) for c in wanted if c not in found]
    if missing:
        raise UserError(f"no results file for condition(s) {', '.join(missing)} in {path} (expected e.g. "
                        f"{condition_file_name(_parse_condition(missing[0]))})")
    return {c: found[c] for c in wanted}


def _condition_order(cond: Condition) -> int:
    return all_conditions().index(cond)


def evaluate_files(
    evaluator: Any,
    files: dict[Condition, Path],
    *,
    entry: str,
    train_mode: str = "clean",
    seed: int = 0,
    dataset_id: str = "",
    config_hash: str = "external",
    breakdowns: bool = True,
    on_result: Callable[[Condition, Path, Any, float], Any] | None = None,
    bootstrap: int = 0,
) -> list[ResultRow]:
    """Score each condition's file with a :class:`~robobench.metrics.detection.DetectionEvaluator`.

    Files are all validated first, so a bad file fails before any time is spent scoring.
    ``on_result(condition, path, result, seconds)``, when given, receives each
    :class:`~robobench.metrics.detection.DetectionResult`, with the devkit's curves
    (``details``), e.g. :meth:`robobench.evaluate_output.EvaluationOutput.add`.
    ``bootstrap`` > 0 stores that many scene-bootstrap replicates of NDS and mAP with each row.
    """
    loaded = {}
    for cond, path in files.items():
        try:
            loaded[cond] = evaluator.load_predictions(path)
        except UserError as exc:
            raise UserError(str(exc) if str(path) in str(exc) else f"{path}: {exc}") from None
    rows = []
    for cond, boxes in loaded.items():
        start = time.perf_counter()
        result = evaluator.evaluate_boxes(
            boxes, breakdowns=breakdowns, details=on_result is not None, bootstrap=bootstrap
        )
        if on_result is not None:
            on_result(cond, files[cond], result, time.perf_counter() - start)
        rows.append(
            ResultRow(
                entry=entry, train_mode=train_mode, condition=str(cond), seed=seed, dataset_id=dataset_id,
                config_hash=config_hash, profile="external", wall_time=time.perf_counter() - start,
                **result.row_fields(),
            )
        )
    return rows


def metrics_table(rows: Iterable[ResultRow]) -> str:
    """A fixed-width text table: one line per condition, NDS, mAP, the five TP errors."""
    cols = ("nds", "map", "mate", "mase", "maoe", "mave", "maae")
    lines = [f"{'condition':<18}" + "".join(f"{c.upper():>8}" for c in cols)]
    for row in rows:
        values = "".join(f"{getattr(row, c):>8.4f}" for c in cols)
        lines.append(f"{row.condition:<18}{values}")
    return "\n".join(lines)


def robustness_lines(rows: Sequence[ResultRow]) -> list[str]:
    """RR per corruption and mRR when the rows cover them (partial means are labelled)."""
    from robobench.metrics.robustness import RobustnessAggregate, mrr, to_percent

    nds = {row.condition: row.nds for row in rows}
    if "clean" not in nds or len(nds) < 2 or not nds["clean"]:
        return []
    agg = mrr(nds, partial=True)
    assert isinstance(agg, RobustnessAggregate)
    if agg.value is None:
        return ["mRR: n/a (no corruption has all three levels evaluated)"]
    lines = [f"RR {name}: {to_percent(v):.2f}%" for name, v in agg.per_corruption.items()]
    label = "mRR" if agg.complete else f"mRR (partial: {len(agg.missing)} conditions missing)"
    lines.append(f"{label}: {to_percent(agg.value):.2f}%")
    return lines


def _run(args: argparse.Namespace) -> int:
    from robobench.metrics.detection import DetectionEvaluator

    from robobench.data.nusc import open_nuscenes

    from robobench.train import default_split

    if args.store:
        from robobench.paths import output_file

        output_file(args.store, "--store", dataroots=[args.dataroot])
    files = find_results_files(args.results, args.condition)
    split = args.split or default_split(args.version, "val")
    nusc = open_nuscenes(args.dataroot, args.version)
    evaluator = DetectionEvaluator(nusc, split)
    entry = args.entry or Path(args.results).stem
    dataset_id = args.dataset_id or f"{args.version}/{split}"
    baseline_nds = _ce_baseline_nds(args, dataset_id)
    output = None
    if args.out:
        from robobench.evaluate_output import EvaluationOutput

        output = EvaluationOutput(args.out)
    rows = evaluate_files(
        evaluator, files, entry=entry, train_mode=args.train_mode, seed=args.seed,
        dataset_id=dataset_id, config_hash=args.config_hash, on_result=output.add if output else None,
        bootstrap=args.bootstrap,
    )
    if args.out or args.json:
        from robobench.evaluate_output import evaluation_summary

        dataset = {"dataroot": str(args.dataroot), "version": args.version, "split": split, "dataset_id": dataset_id}
        summary = evaluation_summary(rows, dataset=dataset, baseline=args.ce_baseline, baseline_nds=baseline_nds)
    # with --json, standard output carries the summary object alone
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        say(metrics_table(rows))
        for line in robustness_lines(rows):
            say(line)
    if output is not None:
        say(f"metrics: {output.finish(summary)} and metrics_summary.json/metrics_details.json per condition")
    if args.store:
        from robobench.store import ResultStore

        with ResultStore(args.store) as store:
            store.add_many(rows)
            _record_entry(store, entry, args)
        say(f"stored {len(rows)} row(s) for entry {entry!r} in {args.store}")
    return 0


def _ce_baseline_nds(args: argparse.Namespace, dataset_id: str) -> dict[str, float] | None:
    """NDS per condition of the ``--ce-baseline`` entry in ``--store`` on the same dataset id (mean over seeds)."""
    if args.ce_baseline is None:
        return None
    if not args.store or not Path(args.store).is_file():
        raise UserError(f"--ce-baseline {args.ce_baseline} reads that entry's rows from --store; pass an existing results database")
    from robobench.evaluate_output import mean_nds_by_condition
    from robobench.store import ResultStore

    with ResultStore(args.store) as store:
        rows = store.rows(entry=args.ce_baseline)
    same = [r for r in rows if r.dataset_id == dataset_id]
    if not same:
        have = sorted({r.dataset_id for r in rows})
        raise UserError(
            f"--ce-baseline {args.ce_baseline} has no rows on dataset id {dataset_id} in {args.store} "
            f"(it has {', '.join(have) or 'none'}); pass --dataset-id to match"
        )
    return mean_nds_by_condition(same)


def _record_entry(store: Any, entry: str, args: argparse.Namespace) -> None:
    """Record the entry's leaderboard metadata (role, base, teacher, paper) beside its rows.

    An entry the store already knows keeps its record unless ``--role`` is given, so scoring
    extra files of a swept entry does not overwrite what the sweep recorded.
    """
    from robobench.schema import EntryRecord

    if args.role is None and any(e.name == entry for e in store.entries()):
        return
    store.add_entries([EntryRecord(entry, args.role or "student", args.base, args.teacher, args.paper)])


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
    p.add_argument("--dataroot", default=str(DEFAULT_DATAROOT),
                   help=f"nuScenes root, real or synthetic (default {DEFAULT_DATAROOT}, as robobench predict)")
    p.add_argument("--version", default=DEFAULT_VERSION, help=f"e.g. v1.0-trainval, v1.0-mini (default {DEFAULT_VERSION})")
    p.add_argument("--split", default=None,
                   help="e.g. val, mini_val, synth_val, custom splits from splits.json (default: the version's val split)")
    p.add_argument("--condition", nargs="+", default=None, metavar="COND",
                   help="clean or Corruption:level (Fog:hard); for a file: its condition; for a directory: a subset")
    p.add_argument("--store", default=None, help="add the rows to this results database (SQLite)")
    p.add_argument("--entry", default=None, help="entry name for the rows (default: the results path's name)")
    p.add_argument("--role", default=None, choices=("student", "teacher", "distill"),
                   help="with --store: the entry's role on the leaderboard (default: student for a new entry)")
    p.add_argument("--base", default=None, help="with --store: the entry its gain is measured against")
    p.add_argument("--teacher", default=None, help="with --store: the teacher of a distill entry")
    p.add_argument("--paper", default="", help="with --store: paper title or URL")
    p.add_argument("--train-mode", default="clean", choices=("clean", "corrupted", "heldout"),
                   help="how the model was trained: clean, corrupted (on the eight test corruptions) or heldout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset-id", default=None, help="dataset id for the rows (default: VERSION/SPLIT)")
    p.add_argument("--config-hash", default="external", help="config hash for the rows (default: external)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="write the devkit's metrics_summary.json and metrics_details.json per condition "
                   "(DIR/clean/, DIR/Fog_hard/, ...) and DIR/summary.json with RR/mRR/mCE")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on standard output (messages go to stderr)")
    p.add_argument("--ce-baseline", default=None, metavar="ENTRY",
                   help="entry in --store (same dataset id) that CE/mCE are measured against")
    p.add_argument("--bootstrap", type=int, default=BOOTSTRAP_REPLICATES, metavar="N",
                   help="scene-bootstrap replicates of NDS and mAP stored with each row, the evaluation noise "
                        f"the leaderboard's intervals use (default {BOOTSTRAP_REPLICATES}, as a sweep; 0: none)")
    p.set_defaults(func=_run)
