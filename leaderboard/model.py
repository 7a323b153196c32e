"""From result rows to the numbers the leaderboard shows (pure functions, no I/O).

Rows are grouped into one leaderboard line per (entry, train mode, dataset id,
profile). Every robustness number comes from :mod:`robobench.metrics.robustness`
(RoboBEV's RR, mRR, CE, mCE); this module only decides *which* NDS values go in
and how seeds are combined:

* per seed, the metric is computed from that seed's rows; over seeds the
  leaderboard shows mean ± sample standard deviation (``ddof=1``) and a 95 % Student-t
  interval over the seeds; a single seed gets the percentile interval of the scene
  bootstrap stored with its rows instead (evaluation noise only), and says which;
* a gain over the base entry carries Welch's interval, p-value and the minimum detectable
  effect of that comparison at its seed counts (:mod:`robobench.stats`), so "not
  significant" can be told apart from "could not have been seen";
* a metric whose inputs are incomplete for some seed is *partial*: it carries the
  list of missing conditions, is never marked best and sorts after complete values.
  A partial mRR/mCE is the mean over the corruptions complete in every seed
  (the metric code's ``corruptions=`` argument), labelled with how many those are.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corruptions.spec import CORRUPTIONS, LEVELS
from robobench.conditions import CLEAN, Condition, all_conditions
from robobench import stats
from robobench.errors import UserError
from robobench.metrics import robustness
from robobench.schema import DETECTION_METRICS, ResultRow, TrainingRecord, TrainMode, trained_dataset_id

ROLE_ORDER = ("student", "distill", "teacher")


@dataclass(frozen=True)
class EntryMeta:
    """What the store's ``entries`` table says about an entry."""

    name: str
    role: str = ""
    base: str | None = None
    teacher: str | None = None
    paper: str = ""
    description: str = ""


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def entry_meta_map(entries_meta: Mapping[str, Any] | Iterable[Any] | None) -> dict[str, EntryMeta]:
    """Normalise entry metadata: a ``{name: mapping}`` dict, or records (dicts/objects) with a ``name``."""
    if entries_meta is None:
        return {}
    items = entries_meta.items() if isinstance(entries_meta, Mapping) else ((_get(e, "name"), e) for e in entries_meta)
    out: dict[str, EntryMeta] = {}
    for name, rec in items:
        if not name:
            raise UserError(f"entry metadata record without a name: {rec!r}")
        role = _get(rec, "role")
        out[str(name)] = EntryMeta(
            name=str(name),
            role=str(getattr(role, "value", role) or ""),
            base=_get(rec, "base") or None,
            teacher=_get(rec, "teacher") or None,
            paper=str(_get(rec, "paper") or ""),
            description=str(_get(rec, "description") or ""),
        )
    return out


@dataclass(frozen=True)
class Stat:
    """A number over seeds: mean, sample std (None for one seed), and what is missing if partial.

    ``ci`` is its 95 % interval and ``ci_kind`` what the interval is over: ``"seeds"``
    (Student t over the seeds) or ``"scenes"`` (one seed: scene-bootstrap percentiles,
    evaluation noise only); None and ``""`` when there is nothing to draw it from.
    """

    mean: float | None = None
    std: float | None = None
    n: int = 0
    missing: tuple[str, ...] = ()
    note: str = ""
    ci: tuple[float, float] | None = None
    ci_kind: str = ""

    @property
    def partial(self) -> bool:
        return bool(self.missing)

    @property
    def complete(self) -> bool:
        """True when the value exists and nothing it needs is missing."""
        return self.mean is not None and not self.missing


def stat_of(
    values: Sequence[float], missing: Iterable[str] = (), note: str = "", replicates: Sequence[float] | None = None
) -> Stat:
    """Mean, sample standard deviation and 95 % interval of per-seed values.

    Two or more seeds: the Student-t interval over them. One seed with its scene-bootstrap
    ``replicates`` (of the same metric): their percentile interval.
    """
    vals = [float(v) for v in values]
    n = len(vals)
    mean = math.fsum(vals) / n if n else None
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else None
    ci, kind = None, ""
    if n > 1:
        iv = stats.t_interval(vals)
        ci, kind = (iv.low, iv.high), iv.kind
    elif n == 1 and replicates is not None and len(replicates) > 1:
        iv = stats.percentile_interval(vals[0], replicates)
        ci, kind = (iv.low, iv.high), iv.kind
    return Stat(mean, std, n, tuple(missing), note, ci, kind)


#: Clean mAP below which a measured model counts as not detecting: its NDS is then mostly the
#: TP-error terms of chance matches, and ratios of such NDS values (RR, mRR, CE) measure noise,
#: not robustness. Such rows are tagged and not ranked (``robobench leaderboard --min-map``).
MIN_MAP = 0.05


@dataclass
class Group:
    """One leaderboard line: an entry in one train mode on one dataset and profile, over its seeds."""

    entry: str
    train_mode: str
    dataset_id: str
    profile: str
    meta: EntryMeta
    reference: bool = False
    #: ok rows, one per (seed, condition) (the newest when a cell was re-run)
    rows: list[ResultRow] = field(default_factory=list)
    failed: list[ResultRow] = field(default_factory=list)
    #: conditions whose NDS was measured/published per level (None: all of them)
    exact: set[Condition] | None = None
    metrics: dict[str, Stat] = field(default_factory=dict)
    gain: dict[str, float] = field(default_factory=dict)
    #: Welch's t-test p-value of each gain over seeds (only where both sides have two or more seeds)
    gain_p: dict[str, float] = field(default_factory=dict)
    #: Welch's 95 % interval of each tested gain, percentage points
    gain_ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: minimum detectable effect of each tested gain at its seed counts, percentage points
    #: (two-sided Welch test, level :data:`robobench.stats.ALPHA`, power :data:`robobench.stats.POWER`)
    gain_mde: dict[str, float] = field(default_factory=dict)
    page: str | None = None
    #: set by :func:`build_board`: clean mAP below the board's ``min_map``
    low_map: bool = False
    #: what training each seed's model cost (newest record per seed), set by :func:`build_board`
    trainings: list[TrainingRecord] = field(default_factory=list)
    #: mean training wall time over the base entry's (same mode, dataset, profile), when both are known
    train_ratio: float | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.entry, self.train_mode, self.dataset_id, self.profile)

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.rows} | {r.seed for r in self.failed})

    def cell(self, seed: int, cond: Condition) -> ResultRow | None:
        return self._index().get((seed, cond))

    def _index(self) -> dict[tuple[int, Condition], ResultRow]:
        if not hasattr(self, "_idx"):
            self._idx = {(r.seed, Condition.parse(r.condition)): r for r in self.rows}
        return self._idx

    def nds_by_seed(self) -> dict[int, dict[Condition, float]]:
        """seed -> condition -> NDS of the ok rows (seeds with only failed rows map to ``{}``)."""
        out: dict[int, dict[Condition, float]] = {s: {} for s in self.seeds}
        for (seed, cond), row in self._index().items():
            if row.nds is not None:
                out[seed][cond] = row.nds
        return out

    def condition_stat(
        self, cond: Condition, getter: Callable[[ResultRow], float | None], boot: str | None = None
    ) -> Stat:
        """``getter`` of this condition's row over seeds; partial when a seed lacks the row.

        A row whose value is undefined (``None``, e.g. a TP error of a class never
        detected) is not a missing condition: such seeds are left out of the mean.
        ``boot`` names the metric's scene-bootstrap replicates (``"nds"``, ``"map"``) for
        the interval of a single seed.
        """
        vals, missing, valued = [], [], []
        for seed in self.seeds:
            row = self.cell(seed, cond)
            if row is None:
                missing.append(self._seed_label(seed, str(cond)))
            elif (val := getter(row)) is not None:
                vals.append(val)
                valued.append(seed)
        reps = self.replicates(valued[0], [cond], boot) if boot and len(vals) == 1 else None
        return stat_of(vals, missing, note="" if vals else "undefined", replicates=reps[cond] if reps else None)

    def replicates(
        self, seed: int, conds: Iterable[Condition], metric: str = "nds"
    ) -> dict[Condition, list[float]] | None:
        """Scene-bootstrap replicates of ``metric`` for ``conds`` of one seed, or None unless every
        row has them from the same draws (same seed and scene count, as many replicates)."""
        out, draws = {}, set()
        for cond in conds:
            row = self.cell(seed, cond)
            boot = row.bootstrap if row is not None else None
            if not boot or not boot.get(metric):
                return None
            out[cond] = [float(v) for v in boot[metric]]
            draws.add((boot.get("unit"), boot.get("seed"), boot.get("scenes"), len(out[cond])))
        return out if len(draws) == 1 else None

    def level_average(self, corruption: str, getter: Callable[[ResultRow], float | None]) -> Stat:
        """Per seed the mean over the three levels of ``corruption``; partial when a level is missing."""
        vals, missing = [], []
        for seed in self.seeds:
            levels = [self.cell(seed, Condition(corruption, lvl)) for lvl in LEVELS]
            got = [getter(r) if r is not None else None for r in levels]
            gaps = [f"{corruption}:{lvl}" for lvl, v in zip(LEVELS, got) if v is None]
            if gaps:
                missing += [self._seed_label(seed, g) for g in gaps]
            else:
                vals.append(statistics.fmean(got))
        return stat_of(vals, missing)

    def corrupted_average(self, getter: Callable[[ResultRow], float | None]) -> Stat:
        """Per seed the mean over all 24 corrupted conditions; partial when any is missing."""
        vals, missing = [], []
        for seed in self.seeds:
            got = {c: self.cell(seed, c) for c in all_conditions(include_clean=False)}
            gaps = [str(c) for c, r in got.items() if r is None or getter(r) is None]
            if gaps:
                missing += [self._seed_label(seed, g) for g in gaps]
            else:
                vals.append(statistics.fmean(getter(r) for r in got.values()))
        return stat_of(vals, missing)

    def _seed_label(self, seed: int, text: str) -> str:
        return text if len(self.seeds) == 1 else f"seed {seed}: {text}"


def depth_abs_rel(row: ResultRow) -> float | None:
    """AbsRel over all valid pixels, or None when the model predicts no depth."""
    val = (row.depth or {}).get("all", {}).get("abs_rel")
    return None if val is None else float(val)


def metric_getter(name: str) -> Callable[[ResultRow], float | None]:
    """Getter for one of :data:`robobench.schema.DETECTION_METRICS` on a row."""
    return lambda row: getattr(row, name)


def _robustness_stat(group: Group, compute: Callable[..., Any]) -> Stat:
    """mRR or mCE over seeds, computed by ``compute(nds, corruptions=..., partial=...)``."""
    per_seed = group.nds_by_seed()
    if not per_seed:
        return Stat(note="no results")
    aggs = {}
    try:
        for seed, nds in per_seed.items():
            aggs[seed] = compute(nds, partial=True)
    except UserError as exc:  # e.g. a clean NDS of 0: RR divides by it
        return Stat(note=f"undefined: {exc}")
    if all(a.complete for a in aggs.values()):
        reps = replicate_values(group, next(iter(per_seed)), compute) if len(per_seed) == 1 else None
        return stat_of([a.value for a in aggs.values()], replicates=reps)
    missing = [group._seed_label(s, m) for s, a in aggs.items() for m in a.missing]
    common = set(CORRUPTIONS)
    for a in aggs.values():
        common &= set(a.per_corruption)
    if not common:
        return Stat(missing=tuple(missing), note=f"0/{len(CORRUPTIONS)} corruptions")
    subset = [c for c in CORRUPTIONS if c in common]
    values = [compute(nds, corruptions=subset) for nds in per_seed.values()]
    return stat_of(values, missing, note=f"{len(subset)}/{len(CORRUPTIONS)} corruptions")


def replicate_values(group: Group, seed: int, compute: Callable[[dict[Condition, float]], float]) -> list[float] | None:
    """``compute`` of each scene-bootstrap replicate of one seed's condition -> NDS table, or None when the
    seed's rows lack replicates (or a replicate has a clean NDS of 0 and ``compute`` divides by it)."""
    reps = group.replicates(seed, group.nds_by_seed().get(seed, {}))
    if not reps:
        return None
    try:
        return [compute({c: r[b] for c, r in reps.items()}) for b in range(len(next(iter(reps.values()))))]
    except UserError:
        return None


def _rr_stats(group: Group) -> dict[str, Stat]:
    """RR per corruption over seeds; a corruption some seed lacks is partial (mean of the seeds that have it)."""
    per_seed: dict[int, dict[str, float]] = {}
    tables = group.nds_by_seed()
    try:
        for seed, nds in tables.items():
            per_seed[seed] = robustness.resilience_rates(nds)
    except UserError as exc:  # a clean NDS of 0
        return {name: Stat(note=f"undefined: {exc}") for name in CORRUPTIONS}
    out = {}
    for name in CORRUPTIONS:
        vals = [rr[name] for rr in per_seed.values() if name in rr]
        needed = [CLEAN] + [Condition(name, lvl) for lvl in LEVELS]
        missing = [group._seed_label(s, str(c)) for s in per_seed for c in needed if c not in tables[s]]
        out[name] = stat_of(vals, missing)
    return out


def mean_nds(group: Group) -> dict[Condition, float]:
    """Condition -> NDS averaged over the seeds that have it (the baseline for CE)."""
    acc: dict[Condition, list[float]] = {}
    for nds in group.nds_by_seed().values():
        for cond, val in nds.items():
            acc.setdefault(cond, []).append(val)
    return {c: statistics.fmean(v) for c, v in acc.items()}


def compute_group_metrics(group: Group, baseline: Group | None) -> None:
    """Fill ``group.metrics``: nds, map (clean), mrr, mce, rr:<Corruption>, absrel_clean, absrel_corrupted."""
    m = group.metrics
    m["nds"] = group.condition_stat(CLEAN, metric_getter("nds"), boot="nds")
    m["map"] = group.condition_stat(CLEAN, metric_getter("map"), boot="map")
    m["mrr"] = _robustness_stat(group, robustness.mrr)
    if baseline is not None:
        base_nds = mean_nds(baseline)
        m["mce"] = _robustness_stat(group, lambda nds, **kw: robustness.mce(nds, base_nds, **kw))
    else:
        m["mce"] = Stat(note="no baseline")
    for name, st in _rr_stats(group).items():
        m[f"rr:{name}"] = st
    if group.reference:
        return
    if any(depth_abs_rel(r) is not None for r in group.rows):
        m["absrel_clean"] = group.condition_stat(CLEAN, depth_abs_rel)
        m["absrel_corrupted"] = group.corrupted_average(depth_abs_rel)
    else:
        m["absrel_clean"] = m["absrel_corrupted"] = Stat(note="no depth prediction")


def training_stat(group: Group) -> Stat:
    """Training wall time in hours over the group's seeds; partial when a seed's model has no record."""
    hours = {t.seed: t.wall_time_s / 3600.0 for t in group.trainings if t.wall_time_s is not None}
    if not hours:
        return Stat(note="no training record (trained outside a sweep, or a published row)")
    missing = [group._seed_label(s, "training record") for s in group.seeds if s not in hours]
    return stat_of(list(hours.values()), missing)


def _attach_trainings(groups: list[Group], trainings: Iterable[TrainingRecord]) -> None:
    """Give each measured group the training records of the models its rows were evaluated from
    (same entry, mode, training dataset, profile, seed and config hash; the newest per seed)."""

    def trained_as(obj: Group | TrainingRecord) -> tuple[str, str, str, str]:
        return (obj.entry, obj.train_mode, trained_dataset_id(obj.dataset_id), obj.profile)

    by_group: dict[tuple[str, str, str, str], list[TrainingRecord]] = {}
    for t in trainings:
        by_group.setdefault(trained_as(t), []).append(t)
    for g in groups:
        models = {(r.seed, r.config_hash) for r in g.rows + g.failed}
        newest: dict[int, TrainingRecord] = {}
        for t in by_group.get(trained_as(g), []):
            if (t.seed, t.config_hash) in models and (
                t.seed not in newest or t.created_at >= newest[t.seed].created_at
            ):
                newest[t.seed] = t
        g.trainings = [newest[s] for s in sorted(newest)]


@dataclass(frozen=True)
class Column:
    """A numeric index column: which metric, how it is labelled, whether higher is better, and
    whether it takes part in the best-value marks (a cost column does not)."""

    key: str
    label: str
    higher_is_better: bool
    title: str = ""
    ranked: bool = True


def index_columns() -> list[Column]:
    """The numeric columns of the index table, in display order."""
    cols = [
        Column("nds", "NDS", True, "nuScenes detection score on clean data"),
        Column("map", "mAP", True, "mean average precision on clean data"),
        Column("mrr", "mRR", True, "mean resilience rate over the 8 corruptions"),
        Column("mce", "mCE", False, "mean corruption error against the baseline"),
    ]
    cols += [Column(f"rr:{c}", c, True, f"resilience rate under {c}") for c in CORRUPTIONS]
    cols += [
        Column("absrel_clean", "AbsRel", False, "depth AbsRel on clean data"),
        Column("absrel_corrupted", "AbsRel c.", False, "depth AbsRel, mean over the 24 corrupted conditions"),
        Column(
            "train_h",
            "Train h",
            False,
            "training wall time in hours, mean over seeds (a teacher's training is its own line)",
            ranked=False,
        ),
    ]
    return cols


@dataclass
class Board:
    """Everything the index needs: groups in display order, baselines, best values per column."""

    groups: list[Group]
    baseline: Group | None
    reference_baseline: Group | None
    columns: list[Column]
    #: column key -> keys of the groups holding the best complete value (measured camera models:
    #: published rows and LiDAR teachers, an upper bound under camera corruptions, are not ranked;
    #: lines trained on the test corruptions are ranked only among themselves)
    best: dict[str, set[tuple[str, str, str, str]]]
    #: the clean-mAP floor below which measured rows are flagged ``low_map``
    min_map: float = MIN_MAP

    @property
    def measured(self) -> list[Group]:
        return [g for g in self.groups if not g.reference]

    @property
    def references(self) -> list[Group]:
        return [g for g in self.groups if g.reference]

    @property
    def mixes_protocols(self) -> bool:
        """Whether measured lines trained on the test corruptions sit beside lines that were not."""
        flags = {trained_on_test_corruptions(g) for g in self.measured}
        return flags == {True, False}

    def entry_groups(self, entry: str) -> list[Group]:
        return [g for g in self.measured if g.entry == entry]


def _latest(rows: Iterable[ResultRow]) -> tuple[list[ResultRow], list[ResultRow]]:
    """Keep the newest row per (seed, condition); a failed cell counts only if no ok row exists for it."""
    ok: dict[tuple[int, str], ResultRow] = {}
    failed: dict[tuple[int, str], ResultRow] = {}
    for row in rows:
        cell = (row.seed, str(Condition.parse(row.condition)))
        target = ok if row.status == "ok" else failed
        if cell not in target or (row.created_at or "") >= (target[cell].created_at or ""):
            target[cell] = row
    return list(ok.values()), [r for c, r in failed.items() if c not in ok]


def _group_rows(rows: Iterable[ResultRow], metas: dict[str, EntryMeta], reference: bool) -> list[Group]:
    by_key: dict[tuple[str, str, str, str], list[ResultRow]] = {}
    for row in rows:
        try:
            Condition.parse(row.condition)
        except ValueError as exc:
            raise UserError(f"result row of entry {row.entry!r} has a bad condition: {exc}") from None
        by_key.setdefault((row.entry, row.train_mode, row.dataset_id, row.profile), []).append(row)
    groups = []
    for key, grp_rows in by_key.items():
        ok, failed = _latest(grp_rows)
        groups.append(
            Group(*key, meta=metas.get(key[0], EntryMeta(key[0])), reference=reference, rows=ok, failed=failed)
        )
    return groups


def _order(groups: list[Group], metas: dict[str, EntryMeta]) -> list[Group]:
    names = list(metas)

    def key(g: Group) -> tuple:
        return (
            g.reference,
            names.index(g.entry) if g.entry in names else len(names),
            g.entry,
            g.train_mode != "clean",
            g.train_mode,
            g.dataset_id,
            g.profile,
        )

    return sorted(groups, key=key)


def _find(groups: list[Group], entry: str) -> Group | None:
    """The group of ``entry``, preferring clean training (the mCE baseline)."""
    cands = [g for g in groups if g.entry == entry]
    return min(cands, key=lambda g: g.train_mode != "clean") if cands else None


def _baseline_for(groups: list[Group], baseline: Group | None, group: Group) -> Group | None:
    """The mCE baseline of ``group``: the ``baseline`` entry's group on the same dataset and profile.

    CE divides by the baseline's NDS per condition, so the two must be measured on the same
    world, split and schedule; the baseline's clean-trained line is preferred, as RoboBEV's
    mCE uses a clean-trained reference model. ``None`` (mCE shown as "no baseline") when the
    baseline entry has no results there.
    """
    if baseline is None:
        return None
    return _find([g for g in groups if g.key[2:] == group.key[2:]], baseline.entry)


def _base_of(groups: list[Group], group: Group) -> Group | None:
    """The base entry's group trained the same way on the same dataset and profile (gains compare like with like)."""
    return next((g for g in groups if g.entry == group.meta.base and g.key[1:] == group.key[1:]), None)


def _default_baseline(groups: list[Group]) -> Group | None:
    """The mCE reference when none is named: the first root student with results.

    A root student derives from no other entry (``bevdet``, not ``bevdepth`` whose base is
    ``bevdet``), so the default stays the family's plain model however the store orders
    names; a student with a base is the fallback when no root student has results.
    """
    students = [g for g in groups if g.meta.role == "student" and g.rows]
    roots = [g for g in students if not g.meta.base]
    pick = (roots or students)[:1]
    return _find(groups, pick[0].entry) if pick else None


def _gain(group: Group, base: Group | None) -> dict[str, float]:
    """Percentage-point gain over the base entry, for the metrics complete on both sides."""
    if base is None:
        return {}
    out = {}
    for key in ("nds", "mrr"):
        a, b = group.metrics.get(key), base.metrics.get(key)
        if a is not None and b is not None and a.complete and b.complete:
            out[key] = 100.0 * (a.mean - b.mean)
    return out


#: p-value at or above which a gain over the base entry is shown as within the seed spread.
GAIN_ALPHA = 0.05


def _gain_tests(group: Group, base: Group | None) -> None:
    """Welch's t-test of each gain in ``group.gain`` over the seeds of both sides, and its power.

    A gain is only an effect when it is larger than what a change of seed does: with two or
    more seeds on each side, the per-seed values (mean, sample std, n) of the entry and its
    base give a two-sided p-value (``gain_p``), a 95 % interval of the difference
    (``gain_ci``) and the smallest difference the test detects with 80 % power at these
    seed counts and spreads (``gain_mde``; all in percentage points). Left out when either
    side has one seed, or when neither side varies over seeds (no spread to test against).
    """
    if base is None:
        return
    for key in group.gain:
        a, b = group.metrics[key], base.metrics[key]
        if a.n < 2 or b.n < 2 or a.std is None or b.std is None or (a.std == 0 and b.std == 0):
            continue
        iv = stats.welch_from_stats(a.mean, a.std, a.n, b.mean, b.std, b.n)
        group.gain_p[key] = float(iv.p)
        group.gain_ci[key] = (100.0 * iv.low, 100.0 * iv.high)
        group.gain_mde[key] = 100.0 * stats.mde(a.std, a.n, b.std, b.n)


def _train_ratio(group: Group, base: Group | None) -> float | None:
    """Training wall time over the base entry's (the training overhead of a recipe), when both are complete."""
    a, b = group.metrics.get("train_h"), base.metrics.get("train_h") if base is not None else None
    if a is None or b is None or not (a.complete and b.complete) or not b.mean:
        return None
    return a.mean / b.mean


def trained_on_test_corruptions(group: Group) -> bool:
    """Whether the line's model was trained on the eight corruptions it is scored on (train mode ``corrupted``)."""
    return group.train_mode == TrainMode.CORRUPTED.value


def _best_per_protocol(groups: list[Group], columns: list[Column]) -> dict[str, set]:
    """Best values marked separately among lines trained on the test corruptions and among the others.

    A model that saw the test corruptions in training is not comparable with one that did
    not (clean or held-out training), so the two are never ranked together.
    """
    best: dict[str, set] = {}
    for on_test in (False, True):
        part = _best([g for g in groups if trained_on_test_corruptions(g) == on_test], columns)
        for key, keys in part.items():
            best.setdefault(key, set()).update(keys)
    return best


def _best(groups: list[Group], columns: list[Column]) -> dict[str, set]:
    best: dict[str, set] = {}
    for col in (c for c in columns if c.ranked):
        vals = [
            (g.metrics[col.key].mean, g.key) for g in groups if col.key in g.metrics and g.metrics[col.key].complete
        ]
        if not vals:
            continue
        target = max(v for v, _ in vals) if col.higher_is_better else min(v for v, _ in vals)
        best[col.key] = {k for v, k in vals if math.isclose(v, target, rel_tol=0, abs_tol=1e-12)}
    return best


def build_board(
    rows: Iterable[ResultRow],
    entries_meta: Mapping[str, Any] | Iterable[Any] | None,
    baseline: str | None = None,
    references: Iterable[Any] = (),
    min_map: float = MIN_MAP,
    trainings: Iterable[TrainingRecord] = (),
) -> Board:
    """Group rows, compute every index metric, gains over base entries and the best value per column.

    ``trainings`` (the store's training records) give each measured line its training
    wall time (column ``train_h``) and its training-time ratio over its base entry.

    Measured rows whose clean mAP is below ``min_map`` are flagged ``low_map`` and left
    out of the best-value marks (their robustness ratios are noise, see :data:`MIN_MAP`).

    ``baseline`` names the mCE reference entry (default: the first student with
    results that derives from no other entry); reference rows use a reference baseline (the named one if it is a
    reference, else the first reference student) because CE across datasets is
    meaningless. ``references`` are :class:`leaderboard.references.ReferenceEntry`.
    """
    if not 0.0 <= min_map <= 1.0:
        raise UserError(f"min_map={min_map} is not a fraction; pass a clean mAP between 0 and 1 (e.g. 0.05)")
    metas = entry_meta_map(entries_meta)
    refs = list(references)
    ref_metas = {r.name: EntryMeta(r.name, **r.meta()) for r in refs}
    rows = list(rows)
    clash = sorted(set(ref_metas) & {r.entry for r in rows})
    if clash:
        raise UserError(
            f"reference entries {clash} have the same names as measured entries; rename them in the reference file"
        )
    measured = _group_rows(rows, metas, reference=False)
    reference = _group_rows([row for r in refs for row in r.to_rows()], ref_metas, reference=True)
    for g in reference:
        g.exact = next(r.exact_levels for r in refs if r.name == g.entry and r.train_mode == g.train_mode)

    base = ref_base = None
    if baseline is not None:
        base = _find(measured, baseline)
        ref_base = _find(reference, baseline)
        if base is None and ref_base is None:
            known = sorted({g.entry for g in measured + reference})
            raise UserError(
                f"baseline entry {baseline!r} has no results; entries with results: {', '.join(known) or 'none'}"
            )
    base = base or _default_baseline(measured)
    ref_base = ref_base or _default_baseline(reference)

    all_metas = {**metas, **ref_metas}
    groups = _order(measured + reference, all_metas)
    _attach_trainings(measured, trainings)
    for g in groups:
        compute_group_metrics(
            g, _baseline_for(reference if g.reference else measured, ref_base if g.reference else base, g)
        )
        if not g.reference:
            g.metrics["train_h"] = training_stat(g)
    for g in groups:
        if g.meta.base:
            base_group = _base_of(reference if g.reference else measured, g)
            g.gain, g.train_ratio = _gain(g, base_group), _train_ratio(g, base_group)
            _gain_tests(g, base_group)
    for g in measured:
        clean_map = g.metrics["map"]
        g.low_map = clean_map.complete and clean_map.mean < min_map
    columns = index_columns()
    ranked = [g for g in groups if not g.reference and g.meta.role != "teacher" and not g.low_map]
    return Board(groups, base, ref_base, columns, _best_per_protocol(ranked, columns), min_map)


def detection_table(group: Group) -> list[dict[str, Any]]:
    """RoboBEV's result-page rows: clean, then per corruption its levels and their average.

    Each row: ``{"corruption", "level", "kind": clean|level|average, "stats": {metric: Stat}}``.
    """
    getters = {m: metric_getter(m) for m in DETECTION_METRICS}
    out = [
        {
            "corruption": "Clean",
            "level": "",
            "kind": "clean",
            "stats": {m: group.condition_stat(CLEAN, g, boot=m) for m, g in getters.items()},
        }
    ]
    for name in CORRUPTIONS:
        for lvl in LEVELS:
            cond = Condition(name, lvl)
            out.append(
                {
                    "corruption": name,
                    "level": lvl,
                    "kind": "level",
                    "stats": {m: group.condition_stat(cond, g) for m, g in getters.items()},
                }
            )
        out.append(
            {
                "corruption": name,
                "level": "average",
                "kind": "average",
                "stats": {m: group.level_average(name, g) for m, g in getters.items()},
            }
        )
    return out


def nested_columns(rows: Iterable[ResultRow], attr: str) -> list[tuple[str, ...]]:
    """Paths to numeric leaves (depth ``("all", "abs_rel")``, breakdown ``("range_0_30", "nds")``) found in rows."""
    paths: list[tuple[str, ...]] = []

    def walk(obj: Any, prefix: tuple[str, ...]) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                walk(v, prefix + (str(k),))
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool) and prefix not in paths:
            paths.append(prefix)

    for row in rows:
        walk(getattr(row, attr) or {}, ())
    return paths


def nested_getter(attr: str, path: tuple[str, ...]) -> Callable[[ResultRow], float | None]:
    """Getter of a numeric leaf of ``row.<attr>`` (None when absent)."""

    def get(row: ResultRow) -> float | None:
        obj: Any = getattr(row, attr) or {}
        for part in path:
            if not isinstance(obj, Mapping) or part not in obj:
                return None
            obj = obj[part]
        return None if obj is None else float(obj)

    return get


def conditions_present(group: Group) -> list[Condition]:
    """The conditions with at least one ok row, in benchmark order."""
    have = {Condition.parse(r.condition) for r in group.rows}
    return [c for c in all_conditions() if c in have]
