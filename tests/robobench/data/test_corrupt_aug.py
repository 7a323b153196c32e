"""Training-time corruption: probability, same corruption on all views, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from corruptions import CORRUPTIONS, corrupt_views
from corruptions.synthetic import street_scene
from robobench.data.corrupt_aug import RandomCorruption

VIEWS = np.stack([street_scene(i, 48, 64) for i in range(6)])


def test_applies_with_probability_p() -> None:
    aug = RandomCorruption(p=0.3, seed=1, corruptions=[c for c in CORRUPTIONS if c != "FrameLost"])
    changed = [not np.array_equal(aug(VIEWS, sample_token=f"t{i}"), VIEWS) for i in range(300)]
    assert abs(np.mean(changed) - 0.3) < 0.07
    never = RandomCorruption(p=0.0)
    always = RandomCorruption(p=1.0, corruptions=["Fog", "CameraCrash"])
    for i in range(20):
        np.testing.assert_array_equal(never(VIEWS, sample_token=f"t{i}"), VIEWS)
        assert not np.array_equal(always(VIEWS, sample_token=f"t{i}"), VIEWS)


def test_one_corruption_and_level_for_all_views_of_a_sample() -> None:
    aug = RandomCorruption(p=1.0, corruptions=["Brightness", "ColorQuant"], levels=["hard"])
    expected = {name: corrupt_views(VIEWS, name, "hard") for name in ("Brightness", "ColorQuant")}
    seen = set()
    for i in range(30):
        out = aug(VIEWS, sample_token=f"s{i}")
        match = [name for name, exp in expected.items() if np.array_equal(out, exp)]
        assert len(match) == 1, "every view must carry the same corruption"
        seen.add(match[0])
    assert seen == {"Brightness", "ColorQuant"}


def test_reproducible_per_seed_and_token_and_from_a_generator() -> None:
    a, b = RandomCorruption(p=1.0, seed=4), RandomCorruption(p=1.0, seed=4)
    outs = [a(VIEWS, sample_token=f"t{i}") for i in range(8)]
    for i in reversed(range(8)):  # other instance, other order
        np.testing.assert_array_equal(b(VIEWS, sample_token=f"t{i}"), outs[i])
    assert len({o.tobytes() for o in outs}) > 4
    assert not np.array_equal(RandomCorruption(p=1.0, seed=5)(VIEWS, sample_token="t0"), outs[0])
    np.testing.assert_array_equal(a(VIEWS, np.random.default_rng(7)), b(VIEWS, np.random.default_rng(7)))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="p must lie"):
        RandomCorruption(p=1.5)
    with pytest.raises(ValueError, match="unknown corruption"):
        RandomCorruption(corruptions=["Rain"])
    with pytest.raises(ValueError, match="sample_token"):
        RandomCorruption()(VIEWS)
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        RandomCorruption()(VIEWS[0], sample_token="t")
