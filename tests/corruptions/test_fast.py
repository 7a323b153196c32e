"""The fast engine's building blocks against direct computations of what they stand for."""

from __future__ import annotations

import numpy as np
import pytest

import corruptions as C
from corruptions import fast, params
from corruptions.synthetic import street_scene


def _dense_line_sum(image: np.ndarray, taps: list[tuple[int, int, float]]) -> np.ndarray:
    """``sum_i w_i image[clamp(y - dy_i), clamp(x - dx_i)]`` in float64, tap by tap."""
    h, w = image.shape[:2]
    rows, cols = np.arange(h), np.arange(w)
    total = np.zeros(image.shape, np.float64)
    for dy, dx, weight in taps:
        total += weight * image[np.clip(rows - dy, 0, h - 1)][:, np.clip(cols - dx, 0, w - 1)]
    return total


@pytest.mark.parametrize("angle", [-135.0, -90.0, -60.0, -45.0, -10.0, 0.0, 10.0, 30.0, 45.0])
def test_line_filter_equals_the_tap_sum(angle: float) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    layer = rng.random((48, 80), dtype=np.float32)
    for radius, sigma in params.MOTION_BLUR:
        taps = fast.line_kernel_taps(radius, sigma, angle, image.shape[:2])
        exact = _dense_line_sum(image.astype(np.float64), taps)
        floored = fast.line_filter_u8(image, taps, beta=0.5 / fast._U8_SUM_SCALE - 0.5)
        assert np.abs(floored - np.floor(exact + 1e-9)).max() <= 1, (angle, radius)
        rounded = fast.line_filter_u8(layer, taps, alpha=255.0)
        assert np.abs(rounded - np.rint(255 * _dense_line_sum(layer.astype(np.float64), taps))).max() <= 1, (
            angle,
            radius,
        )
    assert len(fast._tap_groups(fast.line_kernel_taps(20, 15, 45.0, (900, 1600)))) > 1  # the split path is exercised


def test_block_sizes_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    views = np.stack([street_scene(i) for i in range(2)])
    normal = {n: C.corrupt_views(views, n, "hard", sample_token="b") for n in C.CORRUPTIONS}
    monkeypatch.setattr(fast, "_BLOCK_BYTES", 1)  # one row per block
    monkeypatch.setattr(fast, "_PLASMA_BLOCK", 1)  # one lattice row per block
    for name, expected in normal.items():
        np.testing.assert_array_equal(C.corrupt_views(views, name, "hard", sample_token="b"), expected, err_msg=name)


def test_plasma_is_diamond_square_with_its_noise() -> None:
    """The blocked refinement equals the textbook toroidal diamond-square step for step."""
    size, decay = 16, 1.7
    rng = np.random.default_rng(4)
    got = fast.plasma_fractal(size, decay, rng)
    replay = np.random.default_rng(4)
    grid = np.zeros((size, size))
    step, wibble = size, 100.0
    while step >= 2:
        n, half = size // step, step // 2
        count = 3 * n * n
        words = replay.bit_generator.random_raw((count + 3) // 4).view(np.int16)[:count].reshape(3, n, n)
        noise = wibble * wibble * (words + 0.5) / 2.0**15
        corner = grid[::step, ::step]
        centre = (
            corner + np.roll(corner, -1, 0) + np.roll(corner, -1, 1) + np.roll(corner, (-1, -1), (0, 1))
        ) / 4 + noise[0]
        top = (corner + np.roll(corner, -1, 1) + centre + np.roll(centre, 1, 0)) / 4 + noise[1]
        left = (corner + np.roll(corner, -1, 0) + centre + np.roll(centre, 1, 1)) / 4 + noise[2]
        grid[half::step, half::step], grid[::step, half::step], grid[half::step, ::step] = centre, top, left
        step, wibble = half, wibble / decay
    grid = (grid - grid.min()) / (grid.max() - grid.min())
    np.testing.assert_allclose(got, grid, atol=1e-5)


def test_low_light_output_law_matches_reference_per_level() -> None:
    """Each input level's output histogram: fast sampling vs RoboBEV's Poisson + Gaussian draws."""
    levels = np.array([0, 3, 40, 128, 255], np.uint8)
    image = np.repeat(levels, 24_000).reshape(-1, 200, 3)  # each level on 24000 values
    for severity in (2, 3, 4):
        fast_out = C.corrupt(image, "LowLight", severity, sample_token="law")
        ref_out = C.corrupt(image, "LowLight", severity, sample_token="law", engine="reference")
        for level in levels:
            at = image == level
            p = np.bincount(fast_out[at], minlength=256) / at.sum()
            q = np.bincount(ref_out[at], minlength=256) / at.sum()
            # Total variation distance; two samples of 24000 from one law give about 0.02-0.05.
            assert 0.5 * np.abs(p - q).sum() < 0.06, (severity, int(level))


def test_low_light_table_is_the_inverse_cdf_of_the_compound_law() -> None:
    """Quantile table probabilities equal sum_k Poisson(k) P(out | k) to 1/4096, checked at small lambda."""
    from scipy import special, stats

    severity, lo, hi = 3, 0, 255
    table = fast._low_light_table(severity, lo, hi).reshape(256, -1)
    cp, gain, sigma = params.LOWLIGHT_POISSON[severity], params.LOWLIGHT_GAIN[severity], params.LOWLIGHT_GAUSS[severity]
    for level in (0, 1, 5, 20):
        lam = (level / 255) ** 2 * gain * cp
        k = np.arange(0, 40)
        bounds = np.concatenate([[-np.inf], np.arange(1, 256) / 255.0, [np.inf]])
        given_k = np.diff(special.ndtr((bounds[None, :] - k[:, None] / cp) / sigma), axis=1)
        law = stats.poisson.pmf(k, lam) @ given_k
        sampled = np.bincount(table[level], minlength=256) / table.shape[1]
        assert np.abs(sampled - law).max() <= 1.0 / table.shape[1] + 1e-12, level
