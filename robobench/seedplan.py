"""How many seeds a comparison needs, from the seed spread stored in a results database.

``robobench sweep --target-mde`` and :func:`robobench.api.plan_seeds` call :func:`plan_seeds`:
the per-seed values of a metric (:data:`robobench.metrics.robustness.TABLE_METRICS`) are grouped
per (entry, train mode, dataset id, profile), their sample variances pooled over the groups
(weighted by degrees of freedom, one spread to plan every comparison with), and
:func:`robobench.stats.seeds_for_mde` turns that spread into seeds per entry.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from robobench import stats
from robobench.conditions import Condition
from robobench.errors import UserError
from robobench.metrics.robustness import table_metric_by_seed
from robobench.schema import ResultRow

#: (entry, train mode, dataset id, profile)
GroupKey = tuple[str, str, str, str]


def seed_values(rows: Sequence[ResultRow], metric: str) -> dict[GroupKey, dict[int, float]]:
    """Per (entry, train mode, dataset id, profile) and seed: ``metric`` of
    :data:`robobench.metrics.robustness.TABLE_METRICS` (clean NDS, mRR or the mean corrupted NDS).

    A seed lacking a condition the metric needs is left out; failed rows are ignored.
    """
    tables: dict[GroupKey, dict[int, dict[Condition, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r.status == "ok" and r.nds is not None:
            tables[(r.entry, r.train_mode, r.dataset_id, r.profile)][r.seed][Condition.parse(r.condition)] = r.nds
    out: dict[GroupKey, dict[int, float]] = {}
    for key, by_seed in tables.items():
        if values := table_metric_by_seed(by_seed, metric):
            out[key] = values
    return out


@dataclass(frozen=True)
class SeedPlan:
    """The answer of :func:`plan_seeds`.

    ``sd`` is the seed standard deviation planned with, ``source`` where it came from,
    ``seeds_needed`` the seeds per entry a two-sided Welch test (level :data:`robobench.stats.ALPHA`,
    power :data:`robobench.stats.POWER`) needs to see ``effect``, ``mde_at_seeds`` the smallest
    difference it sees at ``n_seeds`` (None for one seed: no spread) and ``spread`` the stored
    per-seed values the pooled ``sd`` came from (empty when ``sd`` was given).
    """

    metric: str
    effect: float
    sd: float
    source: str
    seeds_needed: int
    n_seeds: int
    mde_at_seeds: float | None
    spread: dict[GroupKey, dict[int, float]] = field(default_factory=dict)


def plan_seeds(
    effect: float,
    metric: str,
    n_seeds: int,
    *,
    rows: Sequence[ResultRow] = (),
    sd: float | None = None,
    where: str = "the store",
) -> SeedPlan:
    """Seeds per entry needed to detect ``effect`` (a fraction: 0.03 is 3 points) in ``metric``.

    The spread is ``sd`` when given, else pooled over the groups of ``rows`` with two or more seeds;
    ``where`` names the rows' source in the error raised when no group has two seeds.
    """
    if not effect > 0:
        raise UserError(f"--target-mde {effect} must be a positive difference, e.g. 0.03 (3 points)")
    spread: dict[GroupKey, dict[int, float]] = {}
    if sd is not None:
        if not sd > 0:
            raise UserError(f"--target-sd {sd} must be a positive standard deviation, e.g. 0.011")
        source = "--target-sd"
    else:
        spread = {k: v for k, v in seed_values(rows, metric).items() if len(v) > 1}
        if not spread:
            raise UserError(f"no entry in {where} has two or more seeds of {metric}; pass --target-sd")
        dof = sum(len(v) - 1 for v in spread.values())
        sd = (sum((len(v) - 1) * statistics.variance(v.values()) for v in spread.values()) / dof) ** 0.5
        source = f"pooled over {len(spread)} stored entr{'y' if len(spread) == 1 else 'ies'}"
    try:
        needed = stats.seeds_for_mde(effect, sd)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    at = stats.mde(sd, n_seeds) if n_seeds > 1 else None
    return SeedPlan(metric, effect, sd, source, needed, n_seeds, at, spread)
