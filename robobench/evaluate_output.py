"""Machine-readable output of ``robobench evaluate --out DIR`` and ``--json``.

Per condition, ``DIR/<condition>/`` (``clean``, ``Fog_hard``, ... as the results files are
named) gets the two files the devkit's ``DetectionEval.main`` writes into its
``output_dir``, with the same keys and meaning, so a script written for the devkit reads
them unchanged:

* ``metrics_summary.json``: ``DetectionMetrics.serialize()`` (``label_aps``,
  ``mean_dist_aps``, ``mean_ap``, ``label_tp_errors``, ``tp_errors``, ``tp_scores``,
  ``nd_score``, ``eval_time``, ``cfg``) plus the results file's ``meta``;
* ``metrics_details.json``: ``DetectionMetricDataList.serialize()``, the precision,
  recall, confidence and TP-error curves of every ``class:distance threshold``.

``DIR/summary.json`` (:data:`SUMMARY_FILE`) gathers the run: the dataset, the headline
numbers of every condition (fractions, as the devkit's) and, when corrupted conditions are
present, RoboBEV's robustness metrics from :mod:`robobench.metrics.robustness`: ``rr``
per corruption and ``mrr``, and ``ce``/``mce`` against a baseline entry when one is given.
A mean over fewer than the eight corruptions is marked ``"complete": false`` with the
missing conditions listed, never passed off as the published metric. ``--json`` prints
the same object to standard output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from robobench.conditions import Condition
from robobench.errors import UserError
from robobench.io import write_json_atomic
from robobench.metrics.detection import TP_SUMMARY_NAMES, DetectionResult
from robobench.metrics.robustness import RobustnessAggregate, mce, mrr
from robobench.schema import ResultRow

#: The devkit's file names in its ``output_dir``.
DEVKIT_SUMMARY_FILE = "metrics_summary.json"
DEVKIT_DETAILS_FILE = "metrics_details.json"
#: The run's summary (headline numbers per condition, RR/mRR/CE/mCE).
SUMMARY_FILE = "summary.json"
HEADLINE = ("nds", "map", *TP_SUMMARY_NAMES.values())


class _Meta(msgspec.Struct):
    """Only the ``meta`` of a results file (the boxes are skipped, not kept)."""

    meta: dict[str, Any] = {}


def results_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` object of a results file (already validated by the evaluator)."""
    return msgspec.json.decode(Path(path).read_bytes(), type=_Meta).meta


def condition_dir_name(condition: Condition | str) -> str:
    """``clean`` or ``<Corruption>_<level>`` (``Fog_hard``), the stem of the condition's results file."""
    from robobench.evaluate import RESULTS_SUFFIX, condition_file_name

    return condition_file_name(condition).removesuffix(RESULTS_SUFFIX)


def devkit_summary(result: DetectionResult, meta: Mapping[str, Any], eval_time: float) -> dict[str, Any]:
    """The devkit's ``metrics_summary.json`` object for one evaluation (same keys, same values)."""
    if result.metrics is None:
        raise ValueError("the DetectionResult does not carry the devkit's DetectionMetrics")
    result.metrics.add_runtime(eval_time)
    summary = result.metrics.serialize()
    summary["meta"] = dict(meta)
    return summary


class EvaluationOutput:
    """Writes ``--out DIR``: the devkit's two files per condition as each is scored, then the summary."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise UserError(f"--out {self.out_dir} is a file; give a directory for the metrics files")

    def add(self, condition: Condition, results_path: Path, result: DetectionResult, eval_time: float) -> Path:
        """Write ``metrics_summary.json`` and ``metrics_details.json`` of one condition; returns its folder."""
        if result.details is None:
            raise ValueError("evaluate with details=True to write metrics_details.json")
        folder = self.out_dir / condition_dir_name(condition)
        write_json_atomic(result.details.serialize(), folder / DEVKIT_DETAILS_FILE, indent=2)
        write_json_atomic(
            devkit_summary(result, results_meta(results_path), eval_time), folder / DEVKIT_SUMMARY_FILE, indent=2
        )
        return folder

    def finish(self, summary: Mapping[str, Any]) -> Path:
        """Write the run's :data:`SUMMARY_FILE`; returns its path."""
        path = self.out_dir / SUMMARY_FILE
        write_json_atomic(summary, path, indent=2)
        return path


def _aggregate(agg: RobustnessAggregate) -> dict[str, Any]:
    return {"value": agg.value, "complete": agg.complete, "missing": list(agg.missing)}


def mean_nds_by_condition(rows: Sequence[ResultRow]) -> dict[str, float]:
    """NDS per condition, the mean over seeds (a baseline entry may have several)."""
    values: dict[str, list[float]] = {}
    for row in rows:
        if row.status == "ok" and row.nds is not None:
            values.setdefault(str(Condition.parse(row.condition)), []).append(float(row.nds))
    return {cond: sum(v) / len(v) for cond, v in values.items()}


def evaluation_summary(
    rows: Sequence[ResultRow],
    *,
    dataset: Mapping[str, Any],
    baseline: str | None = None,
    baseline_nds: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The run's summary: headline numbers per condition, RR/mRR, and CE/mCE against ``baseline``.

    RR/mRR appear when the rows hold the clean condition and at least one corrupted one;
    CE/mCE when ``baseline_nds`` (NDS per condition of the entry named ``baseline``) is given.
    """
    conditions = {row.condition: {k: getattr(row, k) for k in HEADLINE} for row in rows}
    out: dict[str, Any] = {"dataset": dict(dataset), "conditions": conditions}
    nds = {row.condition: row.nds for row in rows}
    if not any(Condition.parse(c).corruption for c in nds):
        return out
    if "clean" in nds and nds["clean"]:
        agg = mrr(nds, partial=True)
        assert isinstance(agg, RobustnessAggregate)
        out["rr"] = agg.per_corruption
        out["mrr"] = _aggregate(agg)
    if baseline_nds is not None:
        corrupted = {c: v for c, v in nds.items() if Condition.parse(c).corruption}
        agg = mce(corrupted, baseline_nds, partial=True)
        assert isinstance(agg, RobustnessAggregate)
        out["ce_baseline"] = baseline
        out["ce"] = agg.per_corruption
        out["mce"] = _aggregate(agg)
    return out
