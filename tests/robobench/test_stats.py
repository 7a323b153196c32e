"""robobench.stats: intervals against scipy.stats on fixed data, minimum detectable effects against simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from robobench import stats

A = [0.343, 0.331, 0.356]
B = [0.353, 0.366, 0.341, 0.360]


def test_t_interval_is_scipys():
    got = stats.t_interval(A)
    lo, hi = st.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=st.sem(A))
    assert (got.low, got.high) == pytest.approx((lo, hi), abs=1e-12)
    assert got.estimate == pytest.approx(np.mean(A)) and got.kind == "seeds"


def test_welch_interval_and_p_are_scipys():
    got = stats.welch(A, B, confidence=0.9)
    ref = st.ttest_ind(A, B, equal_var=False)
    ci = ref.confidence_interval(0.9)
    assert (got.low, got.high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert got.p == pytest.approx(ref.pvalue, abs=1e-12) and got.df == pytest.approx(ref.df)


def test_paired_interval_and_p_are_scipys():
    got = stats.paired(A, B[:3])
    ref = st.ttest_rel(A, B[:3])
    ci = ref.confidence_interval(0.95)
    assert (got.low, got.high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert got.p == pytest.approx(ref.pvalue, abs=1e-12) and got.kind == "paired seeds"


def test_interval_needs_two_values():
    with pytest.raises(ValueError, match="at least 2"):
        stats.t_interval([0.3])


def _simulated_power(effect: float, n_a: int, sd_b: float, n_b: int, paired: bool, rng: np.random.Generator) -> float:
    reps = 40_000
    if paired:
        p = st.ttest_1samp(rng.normal(effect, 1.0, (reps, n_a)), 0.0, axis=1).pvalue
    else:
        x, y = rng.normal(effect, 1.0, (reps, n_a)), rng.normal(0.0, sd_b, (reps, n_b))
        p = st.ttest_ind(x, y, axis=1, equal_var=False).pvalue
    return float(np.mean(p < 0.05))


@pytest.mark.parametrize(
    "n_a, sd_b, n_b, paired", [(3, 1.0, 3, False), (3, 2.0, 5, False), (8, 1.0, 8, False), (5, None, None, True)]
)
def test_mde_has_its_power_in_simulation(n_a, sd_b, n_b, paired):
    """At the minimum detectable effect the simulated test rejects 80 % of the time (MC sd 0.002)."""
    effect = stats.mde(1.0, n_a, sd_b, n_b, paired_test=paired)
    power = _simulated_power(effect, n_a, sd_b or 1.0, n_b or n_a, paired, np.random.default_rng(7))
    assert power == pytest.approx(0.8, abs=0.01)


def test_normal_approximation_overstates_power_at_few_seeds():
    """The textbook (z + z) * se effect is detected far less often than 80 % with 3 seeds a side."""
    effect = stats.mde(1.0, 3, normal=True)
    assert effect < stats.mde(1.0, 3)
    assert _simulated_power(effect, 3, 1.0, 3, False, np.random.default_rng(3)) < 0.7


def test_mde_scales_with_sd_and_falls_with_seeds():
    assert stats.mde(0.02, 3) == pytest.approx(2 * stats.mde(0.01, 3), rel=1e-6)
    assert stats.mde(0.01, 5) < stats.mde(0.01, 3)
    assert stats.mde(0.0, 3) == 0.0


def test_seeds_for_mde_is_the_smallest_count_that_reaches_the_target():
    n = stats.seeds_for_mde(0.012, 0.011)
    assert stats.mde(0.011, n) <= 0.012 < stats.mde(0.011, n - 1)
    assert stats.seeds_for_mde(0.5, 0.011) == 2
    with pytest.raises(ValueError, match="positive"):
        stats.seeds_for_mde(0.0, 0.011)


def test_scene_draws_resample_every_scene_count_and_repeat():
    draws = stats.scene_draws(16, 50, seed=3)
    assert draws.shape == (50, 16) and (draws.sum(axis=1) == 16).all()
    assert np.array_equal(draws, stats.scene_draws(16, 50, seed=3))
    assert not np.array_equal(draws, stats.scene_draws(16, 50, seed=4))


def test_percentile_interval():
    reps = np.linspace(0.0, 1.0, 1001)
    got = stats.percentile_interval(0.5, reps)
    assert (got.low, got.high) == pytest.approx((0.025, 0.975)) and got.kind == "scenes"


def test_variance_split_separates_shared_scene_noise_from_seed_noise():
    rng = np.random.default_rng(0)
    scene_effect = rng.normal(0.0, 0.01, 400)  # the same scenes in every seed's replicate b
    offsets = {0: 0.30, 1: 0.32, 2: 0.31}
    reps = {s: off + scene_effect for s, off in offsets.items()}
    split = stats.variance_split("nds", offsets, reps)
    assert split.seeds == pytest.approx(0.01)
    assert split.scenes == pytest.approx(np.std(scene_effect, ddof=1))
    assert split.scenes_in_seeds == pytest.approx(0.0, abs=1e-12)
    assert split.training == pytest.approx(0.01)
    noisy = {s: r + rng.normal(0.0, 0.02, 400) for s, r in reps.items()}  # each seed errs on other scenes
    split = stats.variance_split("nds", offsets, noisy, {0: [0.30, 0.31], 1: [0.32, 0.33]})
    assert split.scenes_in_seeds == pytest.approx(0.02, rel=0.15)
    assert split.training == 0.0  # the whole seed spread is within what scene interaction explains
    assert split.corruption_seeds == pytest.approx(np.std([0.30, 0.31], ddof=1))
