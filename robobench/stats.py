"""Statistics over training seeds and validation scenes: intervals, tests, minimum detectable effects.

A benchmark number is one draw of a noisy process: another training seed, another set of
validation scenes or another corruption seed gives another number. This module holds the
pure functions the leaderboard, the sweep and the variance benchmark use to say how far a
number can move and how large an effect a comparison could have seen (no I/O, no torch):

* :func:`t_interval`, :func:`welch`, :func:`paired`: Student-t intervals of a mean over
  seeds and of a difference of means (Welch's unequal-variance test, or same-seed pairs).
* :func:`mde`: the minimum detectable effect of a two-sided two-sample (Welch) or paired
  t-test at level ``alpha`` and ``power``, solved exactly on the noncentral t distribution;
  ``normal=True`` gives the textbook normal approximation
  ``(z_{1-alpha/2} + z_{power}) * se``, which is too optimistic at a few seeds.
  :func:`seeds_for_mde` inverts :func:`mde`.
* :func:`scene_draws`, :func:`percentile_interval`: the bootstrap over validation scenes
  (Efron and Tibshirani, *An Introduction to the Bootstrap*, ch. 13): whole scenes are
  resampled with replacement because the frames of a scene are not independent, and every
  evaluation on a split uses the same draws so replicates of different conditions and
  models pair up (a replicate of mRR is the mRR of one replicate of each condition).
* :func:`variance_split`: the spread of a metric over seeds split into training noise and
  evaluation noise from the per-run scene bootstraps (Bouthillier et al., *Accounting for
  Variance in Machine Learning Benchmarks*, MLSys 2021, whose decomposition this follows).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy import stats as st

#: Two-sided level and power the leaderboard's minimum detectable effects use.
ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided confidence interval.

    ``kind`` says what the interval is over: ``"seeds"`` (Student t over training seeds),
    ``"scenes"`` (percentile bootstrap over validation scenes, evaluation noise only) or
    ``"paired seeds"``; ``n`` is the number of seeds or bootstrap replicates, ``df`` the
    t-test's degrees of freedom and ``p`` its two-sided p-value against 0 (differences only).
    """

    estimate: float
    low: float
    high: float
    kind: str
    n: int
    df: float | None = None
    p: float | None = None


def _values(values: Sequence[float], what: str, minimum: int = 2) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or len(arr) < minimum or not np.isfinite(arr).all():
        raise ValueError(f"{what} needs at least {minimum} finite values, got {list(values)!r}")
    return arr


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of ``values`` (one per seed) with its Student-t interval (``n - 1`` degrees of freedom)."""
    x = _values(values, "a t-interval")
    n, mean, sd = len(x), float(x.mean()), float(x.std(ddof=1))
    half = float(st.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, "seeds", n, df=n - 1.0)


def welch_df(sd_a: float, n_a: int, sd_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom of a difference of two means."""
    va, vb = sd_a**2 / n_a, sd_b**2 / n_b
    if va + vb == 0:
        return float(n_a + n_b - 2)
    return (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Interval:
    """Difference of means ``mean(a) - mean(b)`` over independent seeds: Welch's interval and two-sided p.

    The p-value is :func:`scipy.stats.ttest_ind` with ``equal_var=False``.
    """
    x, y = _values(a, "Welch's test"), _values(b, "Welch's test")
    return welch_from_stats(
        float(x.mean()), float(x.std(ddof=1)), len(x), float(y.mean()), float(y.std(ddof=1)), len(y), confidence
    )


def welch_from_stats(
    mean_a: float, sd_a: float, n_a: int, mean_b: float, sd_b: float, n_b: int, confidence: float = 0.95
) -> Interval:
    """:func:`welch` from each side's mean, sample standard deviation (``ddof=1``) and seed count."""
    if n_a < 2 or n_b < 2:
        raise ValueError(f"Welch's test needs two or more seeds per side, got {n_a} and {n_b}")
    diff = mean_a - mean_b
    se = math.sqrt(sd_a**2 / n_a + sd_b**2 / n_b)
    df = welch_df(sd_a, n_a, sd_b, n_b)
    half = float(st.t.ppf(0.5 + confidence / 2, df)) * se
    if se > 0:
        p = float(st.ttest_ind_from_stats(mean_a, sd_a, n_a, mean_b, sd_b, n_b, equal_var=False).pvalue)
    else:
        p = 1.0 if diff == 0 else 0.0
    return Interval(diff, diff - half, diff + half, "seeds", min(n_a, n_b), df=df, p=p)


def paired(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean same-seed difference ``a[i] - b[i]``: t-interval of the differences and the paired t-test's p.

    The right test when an entry and its base share their seed's common random numbers
    (initialisation, data order, augmentation draws): seed noise common to both cancels.
    """
    x, y = _values(a, "a paired test"), _values(b, "a paired test")
    if len(x) != len(y):
        raise ValueError(f"a paired test needs as many values on each side, got {len(x)} and {len(y)}")
    d = x - y
    out = t_interval(d, confidence)
    sd = float(d.std(ddof=1))
    p = float(st.ttest_rel(x, y).pvalue) if sd > 0 else (1.0 if out.estimate == 0 else 0.0)
    return Interval(out.estimate, out.low, out.high, "paired seeds", len(d), df=out.df, p=p)


def _paired_power(effect: float, se: float, df: float, alpha: float) -> float:
    """Power of a two-sided one-sample t-test at ``effect`` with standard error ``se`` (noncentral t)."""
    crit = float(st.t.ppf(1 - alpha / 2, df))
    nc = effect / se
    return float(st.nct.sf(crit, df, nc) + st.nct.cdf(-crit, df, nc))


#: Quantile-grid points per sample variance in :func:`_welch_power`'s integral.
_WELCH_GRID = 128


def _welch_power(effect: float, sd_a: float, n_a: int, sd_b: float, n_b: int, alpha: float) -> float:
    """Power of the two-sided Welch test at a true difference ``effect``, integrated over the sample variances.

    For normal data the difference of means is independent of the two sample variances
    ``s^2 ~ sd^2 chi2(n - 1) / (n - 1)``; given them, Welch's statistic rejects when
    ``|d| > t_{1-alpha/2, df_hat} * se_hat`` with the Welch-Satterthwaite ``df_hat`` of the
    sample values. That conditional power is a normal tail; it is averaged over a midpoint
    grid of the two chi-square quantile functions. Plugging the true variances into a
    noncentral t instead overstates the power at a few seeds (0.8 becomes about 0.7 at 3+3).
    """
    u = (np.arange(_WELCH_GRID) + 0.5) / _WELCH_GRID
    va = sd_a**2 * st.chi2.ppf(u, n_a - 1)[:, None] / (n_a - 1)
    vb = sd_b**2 * st.chi2.ppf(u, n_b - 1)[None, :] / (n_b - 1)
    wa, wb = va / n_a, vb / n_b
    se_hat = np.sqrt(wa + wb)
    df_hat = (wa + wb) ** 2 / (wa**2 / (n_a - 1) + wb**2 / (n_b - 1))
    reach = st.t.ppf(1 - alpha / 2, df_hat) * se_hat
    se = math.sqrt(sd_a**2 / n_a + sd_b**2 / n_b)
    return float(np.mean(st.norm.sf((reach - effect) / se) + st.norm.cdf((-reach - effect) / se)))


def _se_df(sd_a: float, n_a: int, sd_b: float | None, n_b: int | None, paired_test: bool) -> tuple[float, float]:
    """Standard error of the difference and the t-test's degrees of freedom (Welch-Satterthwaite at the true sds)."""
    n_b = n_a if n_b is None else n_b
    if n_a < 2 or (not paired_test and n_b < 2):
        raise ValueError(f"a minimum detectable effect needs two or more seeds per side, got {n_a} and {n_b}")
    if paired_test:
        return sd_a / math.sqrt(n_a), float(n_a - 1)
    sd_b = sd_a if sd_b is None else sd_b
    return math.sqrt(sd_a**2 / n_a + sd_b**2 / n_b), welch_df(sd_a, n_a, sd_b, n_b)


def mde(
    sd_a: float,
    n_a: int,
    sd_b: float | None = None,
    n_b: int | None = None,
    alpha: float = ALPHA,
    power: float = POWER,
    paired_test: bool = False,
    normal: bool = False,
) -> float:
    """Smallest true difference a two-sided t-test at level ``alpha`` detects with probability ``power``.

    Two-sample (``paired_test=False``): seeds ``n_a``, ``n_b`` with standard deviations
    ``sd_a``, ``sd_b`` (defaults ``n_a`` and ``sd_a``), standard error
    ``se = sqrt(sd_a^2/n_a + sd_b^2/n_b)``; solves "power of the Welch test as it is run,
    sample variances and their degrees of freedom included (:func:`_welch_power`) =
    ``power``" for the effect. Paired: ``sd_a`` is the standard deviation of the same-seed
    differences over ``n_a`` pairs; solves ``P(|T| > t_{1-alpha/2, n-1}) = power``, ``T``
    noncentral t with noncentrality ``effect / se`` (exact). ``normal=True`` gives the
    textbook approximation ``(z_{1-alpha/2} + z_{power}) * se`` instead, which is too
    small at a few seeds.
    """
    se, df = _se_df(sd_a, n_a, sd_b, n_b, paired_test)
    if not (0 < alpha < 1 and alpha < power < 1):
        raise ValueError(f"need 0 < alpha < power < 1, got alpha={alpha}, power={power}")
    approx = float((st.norm.ppf(1 - alpha / 2) + st.norm.ppf(power)) * se)
    if normal or se == 0:
        return approx
    if paired_test:

        def power_at(e: float) -> float:
            return _paired_power(e, se, df, alpha)
    else:
        sd_b_, n_b_ = (sd_a if sd_b is None else sd_b), (n_a if n_b is None else n_b)

        def power_at(e: float) -> float:
            return _welch_power(e, sd_a, n_a, sd_b_, n_b_, alpha)

    hi = approx
    while power_at(hi) < power:
        hi *= 2.0
    return float(optimize.brentq(lambda e: power_at(e) - power, 0.0, hi, xtol=1e-9 * se))


def seeds_for_mde(
    target: float,
    sd_a: float,
    sd_b: float | None = None,
    alpha: float = ALPHA,
    power: float = POWER,
    paired_test: bool = False,
    max_seeds: int = 10_000,
) -> int:
    """Fewest seeds per side (the same on both) whose :func:`mde` is at most ``target``.

    ``ValueError`` when ``target`` is not positive or needs more than ``max_seeds``.
    """
    if not target > 0:
        raise ValueError(f"target effect must be positive, got {target}")

    def fits(n: int) -> bool:
        return mde(sd_a, n, sd_b, None if paired_test else n, alpha, power, paired_test) <= target

    lo, hi = 1, 2  # mde falls with n: double to bracket, then bisect (fits(hi) holds, fits(lo) does not)
    while not fits(hi):
        lo, hi = hi, hi * 2
        if hi > max_seeds:
            raise ValueError(f"an effect of {target} needs more than {max_seeds} seeds per side at sd {sd_a}")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


# -- the bootstrap over validation scenes ----------------------------------------------------


def scene_draws(n_scenes: int, replicates: int, seed: int = 0) -> np.ndarray:
    """``(replicates, n_scenes)`` multiplicities: how often each scene is drawn in each replicate.

    Each row draws ``n_scenes`` scenes with replacement. A function of its arguments alone,
    so every evaluation on the same split resamples the same scenes in replicate ``b``.
    """
    if n_scenes < 1 or replicates < 1:
        raise ValueError(f"need at least one scene and one replicate, got {n_scenes} and {replicates}")
    rng = np.random.default_rng([seed, n_scenes])
    picks = rng.integers(0, n_scenes, size=(replicates, n_scenes))
    counts = np.zeros((replicates, n_scenes), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(replicates), n_scenes), picks.ravel()), 1)
    return counts


def percentile_interval(estimate: float, replicates: Sequence[float], confidence: float = 0.95) -> Interval:
    """Percentile bootstrap interval of ``estimate`` from its ``replicates`` (kind ``"scenes"``)."""
    r = _values(replicates, "a bootstrap interval")
    lo, hi = np.quantile(r, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return Interval(float(estimate), float(lo), float(hi), "scenes", len(r))


# -- where the variance comes from -----------------------------------------------------------


@dataclass(frozen=True)
class VarianceSplit:
    """Standard deviations of one metric over a set of runs of one entry (same units as the metric).

    ``seeds``: observed spread over training seeds on the fixed validation set.
    ``scenes``: bootstrap spread of one run's number over validation scenes (evaluation
    noise of the absolute value; mean of the runs' bootstrap variances).
    ``scenes_in_seeds``: the part of the seed spread that is model-by-scene interaction
    (two seeds err on different scenes), from the paired bootstrap of seed differences:
    ``Var_boot(x_a - x_b) / 2`` averaged over seed pairs; a larger validation split shrinks it.
    ``training``: ``sqrt(max(0, seeds^2 - scenes_in_seeds^2))``, what is left for the seed
    itself. ``corruption_seeds``: spread over corruption seeds of the same model (None when
    not measured).
    """

    metric: str
    n_seeds: int
    seeds: float | None
    scenes: float | None
    scenes_in_seeds: float | None
    training: float | None
    corruption_seeds: float | None = None

    def to_dict(self) -> dict[str, float | int | str | None]:
        return dict(self.__dict__)


def variance_split(
    metric: str,
    values: Mapping[int, float],
    replicates: Mapping[int, Sequence[float]] | None = None,
    corruption_seed_values: Mapping[int, Sequence[float]] | None = None,
) -> VarianceSplit:
    """Split the spread of ``values`` (seed -> metric) into training and evaluation noise.

    ``replicates`` (seed -> bootstrap replicates of the metric, drawn by :func:`scene_draws`
    so replicate ``b`` of every seed used the same scenes) give the scene terms;
    ``corruption_seed_values`` (seed -> the metric of that model under several corruption
    seeds) the corruption-seed term. See :class:`VarianceSplit` for each field.
    """
    seeds = sorted(values)
    x = np.array([values[s] for s in seeds], dtype=np.float64)
    seed_sd = float(x.std(ddof=1)) if len(x) > 1 else None
    scenes = interaction = training = None
    if replicates:
        reps = {s: np.asarray(replicates[s], dtype=np.float64) for s in seeds if s in replicates}
        if reps:
            scenes = math.sqrt(float(np.mean([r.var(ddof=1) for r in reps.values()])))
        have = sorted(reps)
        pairs = [(a, b) for i, a in enumerate(have) for b in have[i + 1 :] if len(reps[a]) == len(reps[b])]
        if pairs:
            interaction = math.sqrt(float(np.mean([(reps[a] - reps[b]).var(ddof=1) / 2 for a, b in pairs])))
            if seed_sd is not None:
                training = math.sqrt(max(0.0, seed_sd**2 - interaction**2))
    corr = None
    if corruption_seed_values:
        per_model = [np.asarray(v, dtype=np.float64) for v in corruption_seed_values.values() if len(v) > 1]
        if per_model:
            corr = math.sqrt(float(np.mean([v.var(ddof=1) for v in per_model])))
    return VarianceSplit(metric, len(seeds), seed_sd, scenes, interaction, training, corr)
