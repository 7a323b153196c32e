"""The held-out training corruptions: disjoint from the eight test corruptions, seeded."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from corruptions import CORRUPTIONS, LEVELS, corrupt_views
from corruptions.spec import canonical_name
from corruptions.synthetic import street_scene
from robobench.data.corrupt_aug import HELDOUT, HeldoutCorruption
from robobench.schema import TrainMode

VIEWS = np.stack([street_scene(i, 96, 160) for i in range(6)])
SEEDS = range(6)


def _each_heldout(name: str) -> list[np.ndarray]:
    """``name`` applied to the views under several seeds (its strength range)."""
    aug = HeldoutCorruption(p=1.0, names=[name])
    return [aug(VIEWS, sample_token=f"t{s}") for s in SEEDS]


def _directional_detail(views: np.ndarray) -> np.ndarray:
    """Gradient energy of the grey views along 0, 90, 45 and 135 degrees."""
    g = views.astype(np.float64).mean(-1)
    diffs = (
        g[:, :, 1:] - g[:, :, :-1],
        g[:, 1:] - g[:, :-1],
        g[:, 1:, 1:] - g[:, :-1, :-1],
        g[:, 1:, :-1] - g[:, :-1, 1:],
    )
    return np.array([np.mean(d**2) for d in diffs])


def _blur_anisotropy(out: np.ndarray) -> tuple[float, float]:
    """(fraction of gradient energy kept, max/min of that fraction over the four directions)."""
    kept = _directional_detail(out) / _directional_detail(VIEWS)
    return float(kept.mean()), float(kept.max() / kept.min())


def _value(views: np.ndarray) -> float:
    """Mean HSV value (0-255) of the views: what Brightness raises and LowLight lowers."""
    return float(np.mean([cv2.cvtColor(v, cv2.COLOR_RGB2HSV)[..., 2].mean() for v in views]))


def test_disjoint_by_name_from_the_test_corruptions() -> None:
    for name in HELDOUT:
        with pytest.raises(ValueError):
            canonical_name(name)  # not a spelling of any of the eight
    assert {"speckle_noise", "gaussian_blur", "spatter", "saturate"} <= set(HELDOUT)  # imagecorruptions' validation set
    assert TrainMode.CORRUPTED.uses_test_corruptions and not TrainMode.HELDOUT.uses_test_corruptions


@pytest.mark.parametrize("name", sorted(HELDOUT))
def test_disjoint_by_effect_from_the_test_corruptions(name: str) -> None:
    """No held-out transform does what a test corruption does (cheap signatures of each, and output distance)."""
    clean_value = _value(VIEWS)
    brightness_easy = _value(corrupt_views(VIEWS, "Brightness", "easy", 0)) - clean_value
    tests = {(c, lvl): corrupt_views(VIEWS, c, lvl, 0).astype(np.float64) for c in CORRUPTIONS for lvl in LEVELS}
    for out in _each_heldout(name):
        assert not np.array_equal(out, VIEWS)
        # CameraCrash / FrameLost black whole views
        assert all(v.max() > 0 for v in out)
        # ColorQuant posterises to 4 bits or fewer: values on a grid of 16
        assert np.unique(out % 16).size > 1
        # Brightness raises the HSV value (+0.2 to +0.5) and LowLight lowers it: the held-out set keeps
        # the exposure within half of Brightness:easy's change
        assert abs(_value(out) - clean_value) < 0.5 * brightness_easy
        # MotionBlur removes detail along one direction (test below); a held-out
        # transform that removes detail removes it evenly
        kept, anisotropy = _blur_anisotropy(out)
        if kept < 0.8:
            assert anisotropy < 1.6, f"{name} blurs along a direction, as MotionBlur does"
        # and it reproduces no test corruption: its output stays farther from each test output
        # than half of what that test corruption changes
        x = out.astype(np.float64)
        for (c, lvl), y in tests.items():
            assert np.abs(x - y).mean() > 0.5 * np.abs(y - VIEWS).mean(), f"{name} imitates {c}:{lvl}"


def test_motion_blur_is_anisotropic_on_these_views() -> None:
    """The direction check above can fail: MotionBlur itself is caught by it at every level."""
    for level in LEVELS:
        kept, anisotropy = _blur_anisotropy(corrupt_views(VIEWS, "MotionBlur", level, 0))
        assert kept < 0.8 and anisotropy > 2.0, (level, kept, anisotropy)


def test_heldout_is_seeded_and_draws_every_transform() -> None:
    a, b = HeldoutCorruption(p=1.0, seed=3), HeldoutCorruption(p=1.0, seed=3)
    outs = [a(VIEWS, sample_token=f"s{i}") for i in range(40)]
    for i in reversed(range(40)):
        np.testing.assert_array_equal(b(VIEWS, sample_token=f"s{i}"), outs[i])
    np.testing.assert_array_equal(a(VIEWS, np.random.default_rng(9)), b(VIEWS, np.random.default_rng(9)))
    assert not np.array_equal(HeldoutCorruption(p=1.0, seed=4)(VIEWS, sample_token="s0"), outs[0])
    singles = {
        name: [HeldoutCorruption(p=1.0, seed=3, names=[name])(VIEWS, sample_token=f"s{i}") for i in range(40)]
        for name in HELDOUT
    }
    # the same seed draws the same transform parameters whether alone or in the mix, so each output is one of them
    used = {name for i, out in enumerate(outs) for name, alone in singles.items() if np.array_equal(out, alone[i])}
    assert len(used) >= 5, used
    never = HeldoutCorruption(p=0.0)
    np.testing.assert_array_equal(never(VIEWS, sample_token="s0"), VIEWS)
    with pytest.raises(ValueError, match="unknown held-out"):
        HeldoutCorruption(names=["Fog"])


def test_train_modes_pick_their_corruptions() -> None:
    from robobench.data.corrupt_aug import RandomCorruption
    from robobench.train import _train_corruption

    assert _train_corruption(TrainMode.CLEAN, 0) is None
    assert type(_train_corruption(TrainMode.CORRUPTED, 0)) is RandomCorruption
    heldout = _train_corruption(TrainMode.HELDOUT, 0)
    assert isinstance(heldout, HeldoutCorruption) and heldout.names == tuple(HELDOUT)
