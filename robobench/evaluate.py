"""Results files -> metrics rows: what ``robobench evaluate``
(:func:`robobench.api.evaluate_results`) and the sweep score.

Anyone's detector can be scored: write one nuScenes results JSON (the submission
format, boxes in the global frame) per condition, then::

    robobench evaluate --results preds/ [--dataroot data/synth-default --version v1.0-synth
        --split synth_val] [--db results.sqlite --entry my-model]

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

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from robobench.conditions import Condition, all_conditions
from robobench.errors import UserError
from robobench.schema import EntryRecord, ResultRow

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
        raise UserError(
            f"no results file for condition(s) {', '.join(missing)} in {path} (expected e.g. "
            f"{condition_file_name(_parse_condition(missing[0]))})"
        )
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
                entry=entry,
                train_mode=train_mode,
                condition=str(cond),
                seed=seed,
                dataset_id=dataset_id,
                config_hash=config_hash,
                profile="external",
                wall_time=time.perf_counter() - start,
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


def baseline_nds(db: str | Path, entry: str, dataset_id: str) -> dict[str, float]:
    """NDS per condition of ``entry`` in the results database ``db`` on ``dataset_id``, the mean over its
    seeds: the denominator of CE/mCE for results scored outside a sweep."""
    from robobench.evaluate_output import mean_nds_by_condition
    from robobench.store import ResultStore

    if not Path(db).is_file():
        raise UserError(f"--ce-baseline {entry} reads that entry's rows from --db; pass an existing results database")
    with ResultStore(db) as store:
        rows = store.rows(entry=entry)
    same = [r for r in rows if r.dataset_id == dataset_id]
    if not same:
        have = sorted({r.dataset_id for r in rows})
        raise UserError(
            f"--ce-baseline {entry} has no rows on dataset id {dataset_id} in {db} "
            f"(it has {', '.join(have) or 'none'}); pass --dataset-id to match"
        )
    return mean_nds_by_condition(same)


def record_entry(store: Any, record: EntryRecord, replace: bool) -> None:
    """Record an entry's leaderboard metadata (role, base, teacher, paper) beside its rows.

    An entry the store already knows keeps its record unless ``replace``, so scoring extra files of a
    swept entry does not overwrite what the sweep recorded.
    """
    if not replace and any(e.name == record.name for e in store.entries()):
        return
    store.add_entries([record])
