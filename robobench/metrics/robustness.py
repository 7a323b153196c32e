"""Robustness aggregates of RoboBEV: resilience rate (RR, mRR) and corruption error (CE, mCE).

Definitions (RoboBEV; docs/metrics.md), for corruption ``i`` with levels
``l`` in easy/mid/hard:

* ``RR_i = sum_l NDS_{i,l} / (3 * NDS_clean)``;  ``mRR = mean_i RR_i``
* ``CE_i = sum_l (1 - NDS_{i,l}) / sum_l (1 - NDS^baseline_{i,l})``;  ``mCE = mean_i CE_i``

All values are fractions (RR = 1 means no loss under corruption); papers print them
in percent, use :func:`to_percent`. The inputs are NDS mappings keyed by
:class:`robobench.conditions.Condition` or by condition strings (``"Fog:hard"``;
any spelling :meth:`Condition.parse` accepts); a ``clean`` key may be present.

A mean over fewer corruptions than asked for is not the published metric, so
missing conditions raise :class:`IncompleteConditionsError`. Passing
``partial=True`` to :func:`mrr` / :func:`mce` instead returns a
:class:`RobustnessAggregate` that averages only the complete corruptions and lists
the missing conditions, so a caller can show it as partial.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from corruptions.spec import CORRUPTIONS, LEVELS, canonical_name
from robobench.conditions import Condition
from robobench.errors import UserError
from robobench.schema import clamp_fraction

ConditionKey = Condition | str
NDSMapping = Mapping[ConditionKey, float]


class IncompleteConditionsError(UserError):
    """Some (corruption, level) NDS values a robustness metric needs are absent."""

    def __init__(self, metric: str, missing: Iterable[str]) -> None:
        self.missing = tuple(missing)
        super().__init__(
            f"{metric} needs NDS for every level of every corruption; missing: {', '.join(self.missing)} "
            "(evaluate those conditions, or pass partial=True to get a partial mean that lists them)"
        )


@dataclass(frozen=True)
class RobustnessAggregate:
    """A mean over corruptions that may be partial.

    ``value`` is the mean of ``per_corruption`` (``None`` when no corruption is
    complete); ``missing`` names the absent conditions (``"Fog:hard"``, ``"clean"``);
    ``complete`` is true only when nothing is missing.
    """

    metric: str
    value: float | None
    per_corruption: dict[str, float] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing

    def to_percent(self) -> "RobustnessAggregate":
        """The same aggregate with every value multiplied by 100."""
        return RobustnessAggregate(
            self.metric,
            None if self.value is None else to_percent(self.value),
            {k: to_percent(v) for k, v in self.per_corruption.items()},
            self.missing,
        )


def to_percent(value: float) -> float:
    """Fraction -> percent (RR 0.8123 -> 81.23)."""
    return 100.0 * value


def normalise(nds: NDSMapping) -> dict[Condition, float]:
    """Key an NDS mapping by :class:`Condition`; rejects bad names, duplicates and NDS outside
    ``[0, 1]``. A value within :data:`robobench.schema.FRACTION_TOLERANCE` of the interval is
    floating-point rounding of a bounded sum (a perfect score stored as 1.0000000000000002 by
    an older version) and is clamped into it, so RR and CE see a true fraction."""
    out: dict[Condition, float] = {}
    for key, value in nds.items():
        try:
            cond = key if isinstance(key, Condition) else Condition.parse(str(key))
        except ValueError as exc:
            raise UserError(f"bad condition key {key!r} in NDS mapping: {exc}") from None
        if cond in out:
            raise UserError(f"condition {cond} appears twice in the NDS mapping (as {key!r} and another spelling)")
        try:
            out[cond] = clamp_fraction(float(value), f"NDS for {cond}")
        except ValueError as exc:
            raise UserError(str(exc)) from None
    return out


def _levels(nds: dict[Condition, float], corruption: str) -> tuple[list[float], list[str]]:
    """NDS of the three levels of ``corruption`` (present ones) and the names of the missing."""
    values, missing = [], []
    for level in LEVELS:
        cond = Condition(corruption, level)
        if cond in nds:
            values.append(nds[cond])
        else:
            missing.append(str(cond))
    return values, missing


def _single_corruption(nds: dict[Condition, float], corruption: str | None) -> str:
    """The corruption a per-corruption metric is about: given, or the only one in the mapping."""
    if corruption is not None:
        return canonical_name(corruption)
    names = sorted({c.corruption for c in nds if c.corruption is not None})
    if len(names) != 1:
        raise UserError(
            f"the NDS mapping holds corruptions {names or 'none'}; pass corruption=... to say which one to score"
        )
    return names[0]


def _clean(nds: dict[Condition, float], clean_nds: float | None) -> float | None:
    if clean_nds is None:
        return nds.get(Condition())
    val = float(clean_nds)
    if not math.isfinite(val):
        raise UserError(f"clean NDS is {clean_nds!r}; expected a finite fraction")
    return val


def _check_clean(clean: float) -> None:
    if clean <= 0.0:
        raise UserError(f"clean NDS is {clean}; the resilience rate divides by it, so it must be > 0")


def resilience_rate(nds_by_level: NDSMapping, clean_nds: float | None = None, corruption: str | None = None) -> float:
    """``RR_i = sum_l NDS_{i,l} / (3 NDS_clean)`` for one corruption (a fraction).

    ``nds_by_level`` holds the three levels of ``corruption`` (or of the only
    corruption it contains); ``clean_nds`` defaults to its ``clean`` entry.
    """
    nds = normalise(nds_by_level)
    name = _single_corruption(nds, corruption)
    values, missing = _levels(nds, name)
    clean = _clean(nds, clean_nds)
    if clean is None:
        missing.insert(0, "clean")
    if missing:
        raise IncompleteConditionsError(f"RR({name})", missing)
    _check_clean(clean)
    return sum(values) / (len(LEVELS) * clean)


def corruption_error(
    nds_by_level: NDSMapping, baseline_nds_by_level: NDSMapping, corruption: str | None = None
) -> float:
    """``CE_i = sum_l (1 - NDS_{i,l}) / sum_l (1 - NDS^baseline_{i,l})`` for one corruption.

    Below 1 means fewer errors than the baseline entry (RoboBEV uses DETR3D).
    """
    nds, base = normalise(nds_by_level), normalise(baseline_nds_by_level)
    name = _single_corruption(nds, corruption)
    values, missing = _levels(nds, name)
    base_values, base_missing = _levels(base, name)
    missing += [f"baseline {m}" for m in base_missing]
    if missing:
        raise IncompleteConditionsError(f"CE({name})", missing)
    return _ce(name, values, base_values)


def _ce(name: str, values: list[float], base_values: list[float]) -> float:
    denom = sum(1.0 - v for v in base_values)
    if denom <= 0.0:
        raise UserError(f"baseline NDS is 1 at every level of {name}; its corruption error is undefined")
    return sum(1.0 - v for v in values) / denom


def _aggregate(
    metric: str,
    per_corruption: dict[str, float],
    missing: list[str],
    partial: bool,
) -> float | RobustnessAggregate:
    if missing and not partial:
        raise IncompleteConditionsError(metric, missing)
    value = sum(per_corruption.values()) / len(per_corruption) if per_corruption else None
    if partial:
        return RobustnessAggregate(metric, value, per_corruption, tuple(missing))
    assert value is not None  # no corruption asked for is rejected by _corruption_list
    return value


def _corruption_list(corruptions: Iterable[str]) -> list[str]:
    names = [canonical_name(c) for c in corruptions]
    if not names:
        raise UserError("no corruptions given to average over")
    return names


def resilience_rates(nds: NDSMapping, clean_nds: float | None = None) -> dict[str, float]:
    """``RR_i`` of every corruption whose three levels are all present (missing ones left out)."""
    agg = mrr(nds, clean_nds, partial=True)
    assert isinstance(agg, RobustnessAggregate)
    return agg.per_corruption


def mrr(
    nds: NDSMapping,
    clean_nds: float | None = None,
    corruptions: Iterable[str] = CORRUPTIONS,
    partial: bool = False,
) -> float | RobustnessAggregate:
    """``mRR = mean_i RR_i`` over ``corruptions`` (default: the eight of RoboBEV).

    Returns a fraction, or with ``partial=True`` a :class:`RobustnessAggregate`
    (mean over the complete corruptions, missing conditions listed). A zero clean
    NDS always raises.
    """
    table = normalise(nds)
    clean = _clean(table, clean_nds)
    missing: list[str] = []
    per: dict[str, float] = {}
    if clean is None:
        missing.append("clean")
    else:
        _check_clean(clean)
    for name in _corruption_list(corruptions):
        values, miss = _levels(table, name)
        missing += miss
        if not miss and clean is not None:
            per[name] = sum(values) / (len(LEVELS) * clean)
    return _aggregate("mRR", per, missing, partial)


def mce(
    nds: NDSMapping,
    baseline_nds: NDSMapping,
    corruptions: Iterable[str] = CORRUPTIONS,
    partial: bool = False,
) -> float | RobustnessAggregate:
    """``mCE = mean_i CE_i`` over ``corruptions`` against a baseline entry's NDS.

    Returns a fraction, or with ``partial=True`` a :class:`RobustnessAggregate`;
    conditions missing for the baseline are reported as ``"baseline Fog:hard"``.
    """
    table, base = normalise(nds), normalise(baseline_nds)
    missing: list[str] = []
    per: dict[str, float] = {}
    for name in _corruption_list(corruptions):
        values, miss = _levels(table, name)
        base_values, base_miss = _levels(base, name)
        missing += miss + [f"baseline {m}" for m in base_miss]
        if not miss and not base_miss:
            per[name] = _ce(name, values, base_values)
    return _aggregate("mCE", per, missing, partial)


def mean_corrupted_nds(nds: NDSMapping) -> float:
    """Mean NDS over the 24 corrupted conditions ("corr. NDS"; equal to mRR times the clean NDS).

    Unlike mRR it does not divide by the clean NDS, so a model that detects little cannot
    score high on it by having little to lose. Missing conditions raise
    :class:`IncompleteConditionsError`.
    """
    table = normalise(nds)
    missing: list[str] = []
    values: list[float] = []
    for name in CORRUPTIONS:
        got, miss = _levels(table, name)
        values += got
        missing += miss
    if missing:
        raise IncompleteConditionsError("the mean corrupted NDS", missing)
    return math.fsum(values) / len(values)


def clean_nds(nds: NDSMapping) -> float:
    """The clean NDS of a condition -> NDS mapping (:class:`IncompleteConditionsError` when absent)."""
    value = normalise(nds).get(Condition())
    if value is None:
        raise IncompleteConditionsError("the clean NDS", ["clean"])
    return value


#: The per-seed numbers whose spread the benchmark reports, each a function of one model's
#: condition -> NDS table: clean NDS, mRR and the mean corrupted NDS.
TABLE_METRICS = {"nds": clean_nds, "mrr": mrr, "corr_nds": mean_corrupted_nds}


def table_metric_by_seed(
    tables: Mapping[int, NDSMapping], metric: str | Callable[[NDSMapping], float]
) -> dict[int, float]:
    """Seed -> ``metric`` (a :data:`TABLE_METRICS` name or function) of each seed's condition -> NDS table.

    A seed whose table cannot give the metric (a condition it needs is missing, or a clean
    NDS of 0 under mRR) is left out rather than counted as 0: a spread over the seeds that
    have the number is honest, one over made-up values is not.
    """
    compute = TABLE_METRICS[metric] if isinstance(metric, str) else metric
    out: dict[int, float] = {}
    for seed, table in tables.items():
        try:
            out[seed] = compute(table)
        except UserError:
            continue
    return out
