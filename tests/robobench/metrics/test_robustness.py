"""RR, mRR, CE, mCE against values computed by hand (RoboBEV definitions)."""

from __future__ import annotations

import pytest

from corruptions.spec import CORRUPTIONS, LEVELS
from robobench.conditions import Condition
from robobench.errors import UserError
from robobench.metrics.robustness import (
    IncompleteConditionsError,
    RobustnessAggregate,
    corruption_error,
    mce,
    mrr,
    resilience_rate,
    resilience_rates,
    to_percent,
)


def full_table(value_of) -> dict[str, float]:
    return {f"{c}:{lvl}": value_of(i, j) for i, c in enumerate(CORRUPTIONS) for j, lvl in enumerate(LEVELS)}


def test_resilience_rate_by_hand():
    # (0.4 + 0.3 + 0.2) / (3 * 0.5) = 0.6
    nds = {"Fog:easy": 0.4, Condition("Fog", "mid"): 0.3, "fog:HARD": 0.2}
    assert resilience_rate(nds, 0.5) == pytest.approx(0.6, abs=1e-15)
    assert resilience_rate({**nds, "clean": 0.5}) == pytest.approx(0.6, abs=1e-15)
    assert to_percent(resilience_rate(nds, 0.5)) == pytest.approx(60.0)


def test_resilience_rate_picks_named_corruption():
    nds = {"Fog:easy": 0.4, "Fog:mid": 0.3, "Fog:hard": 0.2, "Snow:easy": 0.1, "Snow:mid": 0.1, "Snow:hard": 0.1}
    assert resilience_rate(nds, 0.5, corruption="snow") == pytest.approx(0.2)
    with pytest.raises(UserError, match="corruption="):
        resilience_rate(nds, 0.5)


def test_resilience_rate_missing_level_and_zero_clean():
    with pytest.raises(IncompleteConditionsError, match="Fog:mid"):
        resilience_rate({"Fog:easy": 0.4, "Fog:hard": 0.2}, 0.5)
    with pytest.raises(IncompleteConditionsError, match="clean"):
        resilience_rate({"Fog:easy": 0.4, "Fog:mid": 0.3, "Fog:hard": 0.2})
    with pytest.raises(UserError, match="must be > 0"):
        resilience_rate({"Fog:easy": 0.4, "Fog:mid": 0.3, "Fog:hard": 0.2}, 0.0)


def test_mrr_by_hand():
    # corruption i at level j has NDS 0.05 * (i + 1) + 0.01 * j; clean 0.5
    table = full_table(lambda i, j: 0.05 * (i + 1) + 0.01 * j)
    per = [(3 * 0.05 * (i + 1) + 0.03) / 1.5 for i in range(8)]
    assert mrr(table, 0.5) == pytest.approx(sum(per) / 8, abs=1e-14)
    rates = resilience_rates(table, 0.5)
    assert list(rates) == list(CORRUPTIONS)
    assert rates["Snow"] == pytest.approx(per[3])


def test_mrr_missing_raises_or_reports_partial():
    table = full_table(lambda i, j: 0.3)
    del table["Snow:mid"]
    del table["FrameLost:easy"]
    with pytest.raises(IncompleteConditionsError, match="Snow:mid, FrameLost:easy"):
        mrr(table, 0.6)
    part = mrr(table, 0.6, partial=True)
    assert isinstance(part, RobustnessAggregate)
    assert not part.complete
    assert part.missing == ("Snow:mid", "FrameLost:easy")
    assert set(part.per_corruption) == set(CORRUPTIONS) - {"Snow", "FrameLost"}
    assert part.value == pytest.approx(0.5)
    assert part.to_percent().value == pytest.approx(50.0)
    complete = mrr(full_table(lambda i, j: 0.3), 0.6, partial=True)
    assert complete.complete and complete.value == pytest.approx(0.5)


def test_mrr_subset_of_corruptions_and_bad_inputs():
    assert mrr({"Fog:easy": 0.2, "Fog:mid": 0.2, "Fog:hard": 0.2}, 0.4, corruptions=["fog"]) == pytest.approx(0.5)
    with pytest.raises(UserError, match="must be > 0"):
        mrr(full_table(lambda i, j: 0.3), 0.0, partial=True)
    with pytest.raises(UserError, match="Rain"):
        mrr({"Rain:hard": 0.3}, 0.5)
    with pytest.raises(UserError, match="twice"):
        mrr({"Fog:hard": 0.3, Condition("Fog", "hard"): 0.3}, 0.5)
    with pytest.raises(UserError, match="nan"):
        mrr({"Fog:hard": float("nan")}, 0.5)
    part = mrr({"Fog:hard": 0.3}, partial=True)
    assert part.value is None and part.missing[0] == "clean"


def test_corruption_error_by_hand():
    # (0.6 + 0.7 + 0.8) / (0.5 + 0.6 + 0.9) = 2.1 / 2.0 = 1.05
    nds = {"Snow:easy": 0.4, "Snow:mid": 0.3, "Snow:hard": 0.2}
    base = {"Snow:easy": 0.5, "Snow:mid": 0.4, "Snow:hard": 0.1}
    assert corruption_error(nds, base) == pytest.approx(1.05, abs=1e-14)
    with pytest.raises(IncompleteConditionsError, match="baseline Snow:hard"):
        corruption_error(nds, {"Snow:easy": 0.5, "Snow:mid": 0.4})
    with pytest.raises(UserError, match="undefined"):
        corruption_error(nds, {"Snow:easy": 1.0, "Snow:mid": 1.0, "Snow:hard": 1.0})


def test_mce_by_hand_and_partial():
    table = full_table(lambda i, j: 0.5 if i % 2 == 0 else 0.2)
    base = full_table(lambda i, j: 0.5)
    # even corruptions: CE 1; odd: 2.4 / 1.5 = 1.6 -> mean 1.3
    assert mce(table, base) == pytest.approx(1.3, abs=1e-14)
    del base["Brightness:easy"]
    with pytest.raises(IncompleteConditionsError, match="baseline Brightness:easy"):
        mce(table, base)
    part = mce(table, base, partial=True)
    assert part.missing == ("baseline Brightness:easy",)
    assert part.value == pytest.approx((3 * 1.0 + 4 * 1.6) / 7)


def test_nds_rounded_past_one_is_clamped_within_tolerance_only():
    """Issue 33.1: a perfect NDS an older version stored as 1.0000000000000002 is 1, not an
    error; further outside [0, 1], or NaN, it is still refused."""
    perfect = {"clean": 1.0000000000000002, **{f"Fog:{lvl}": 1.0000000000000002 for lvl in LEVELS}}
    assert resilience_rate(perfect) == 1.0
    for bad in (1.001, -0.01, float("nan")):
        with pytest.raises(UserError, match=r"expected|fraction in \[0, 1\]"):
            resilience_rate({**perfect, "clean": bad})


def test_mean_corrupted_nds_is_mrr_times_clean_and_needs_every_condition():
    from robobench.conditions import all_conditions
    from robobench.metrics.robustness import IncompleteConditionsError, clean_nds, mean_corrupted_nds, mrr

    table = {c: 0.4 if c.is_clean else 0.1 + 0.01 * i for i, c in enumerate(all_conditions())}
    assert mean_corrupted_nds(table) == pytest.approx(mrr(table) * 0.4) and clean_nds(table) == 0.4
    del table[next(c for c in table if not c.is_clean)]
    with pytest.raises(IncompleteConditionsError, match="corrupted NDS"):
        mean_corrupted_nds(table)


def test_table_metric_by_seed_leaves_out_seeds_that_cannot_give_the_metric():
    from robobench.conditions import all_conditions
    from robobench.metrics.robustness import table_metric_by_seed

    full = {c: 0.4 if c.is_clean else 0.2 for c in all_conditions()}
    partial = {c: v for c, v in full.items() if str(c) != "Fog:hard"}
    zero_clean = {c: 0.0 if c.is_clean else 0.1 for c in all_conditions()}
    tables = {0: full, 1: partial, 2: zero_clean}
    assert table_metric_by_seed(tables, "mrr") == {0: pytest.approx(0.5)}
    assert table_metric_by_seed(tables, "nds") == {0: 0.4, 1: 0.4, 2: 0.0}
    assert table_metric_by_seed(tables, lambda t: len(t)) == {0: 25, 1: 24, 2: 25}
