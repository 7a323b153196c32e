"""Fidelity statistics on hand-made images with known answers, and the ``data fidelity`` command."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from robobench.data import fidelity


def _rgb(grey_image: np.ndarray) -> np.ndarray:
    return np.repeat(grey_image[..., None], 3, axis=2).astype(np.uint8)


def _checkerboard(height: int, width: int, square: int, value: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return _rgb(((ys // square + xs // square) % 2) * value)


def test_flat_image_has_no_gradient_detail_or_colour():
    stats = fidelity.view_statistics(np.full((64, 64, 3), 120, np.uint8), width=64)
    for key in ("gradient_mean", "gradient_above_50", "laplacian_variance", "high_frequency_energy",
                "colourfulness", "luminance_std", "saturation_mean", "noise_sigma", "edge_density"):
        assert stats[key] == 0.0, key
    assert stats["luminance_mean"] == 120.0
    assert stats["jpeg_blockiness"] == pytest.approx(1.0)


def test_checkerboard_gradient_matches_the_sobel_kernel_by_hand():
    # Squares of s pixels alternating 0 / v. Away from a crossing, the two pixels either side
    # of an edge have |gradient| = (1 + 2 + 1) v; the four pixels around a crossing have
    # gx = gy = 2v. Reflected borders add no edge at the image boundary.
    s, v, n = 8, 100, 8
    size = s * n
    image = _checkerboard(size, size, s, v)
    edges, crossings = n - 1, (n - 1) ** 2
    plain = 2 * size * edges * 2 - 8 * crossings
    expected_sum = 4 * v * plain + 2 * math.sqrt(2) * v * 4 * crossings
    stats = fidelity.view_statistics(image, width=size)
    assert stats["gradient_mean"] == pytest.approx(expected_sum / size**2, rel=1e-5)
    assert stats["gradient_above_50"] == pytest.approx((plain + 4 * crossings) / size**2)
    assert stats["colourfulness"] == 0.0


def test_grey_image_has_zero_colourfulness_and_a_pure_colour_the_formula_value():
    noise = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    assert fidelity.colourfulness(_rgb(noise)) == 0.0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    # rg = 255, yb = 127.5 everywhere: M = 0.3 * sqrt(255^2 + 127.5^2).
    assert fidelity.colourfulness(red) == pytest.approx(0.3 * math.hypot(255.0, 127.5), rel=1e-6)


def test_high_frequency_energy_separates_fine_from_coarse_patterns():
    fine = _checkerboard(64, 64, 1, 200)[..., 0]
    x = np.arange(128)
    coarse = np.tile((127 + 100 * np.sin(2 * np.pi * x / 64)).astype(np.uint8), (128, 1))
    assert fidelity.high_frequency_energy(fine) > 0.99
    assert fidelity.high_frequency_energy(coarse) < 0.01
    assert fidelity.high_frequency_energy(np.full((32, 32), 7, np.uint8)) == 0.0


def test_noise_sigma_recovers_added_gaussian_noise():
    rng = np.random.default_rng(1)
    noisy = np.clip(128 + rng.normal(0.0, 10.0, (256, 256)), 0, 255).astype(np.uint8)
    assert fidelity.noise_sigma(noisy) == pytest.approx(10.0, rel=0.05)


def test_jpeg_blockiness_rises_with_compression():
    rng = np.random.default_rng(2)
    smooth = cv2.GaussianBlur(rng.normal(128, 40, (256, 256)).astype(np.float32), (0, 0), 3)
    image = np.clip(smooth, 0, 255).astype(np.uint8)
    _, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 10])
    compressed = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    assert fidelity.jpeg_blockiness(image) == pytest.approx(1.0, abs=0.05)
    assert fidelity.jpeg_blockiness(compressed) > 1.3


def test_views_are_resized_to_the_model_width_keeping_the_aspect_ratio():
    assert fidelity.resize_to_width(np.zeros((900, 1600, 3), np.uint8)).shape == (396, 704, 3)
    assert fidelity.resize_to_width(np.zeros((198, 352, 3), np.uint8)).shape == (396, 704, 3)


def test_image_statistics_summarises_over_views_in_table_order():
    views = [np.full((32, 32, 3), level, np.uint8) for level in (10, 20, 60)]
    stats = fidelity.image_statistics(iter(views), width=32)
    assert tuple(stats) == fidelity.STATISTIC_KEYS
    assert stats["luminance_mean"] == {"mean": 30.0, "std": pytest.approx(np.std([10, 20, 60])),
                                       "min": 10.0, "max": 60.0}
    with pytest.raises(ValueError, match="no views"):
        fidelity.image_statistics([])


@pytest.mark.parametrize("bad", [np.zeros((16, 16), np.uint8), np.zeros((16, 16, 3), np.float32), "image.jpg"])
def test_bad_views_are_refused_with_their_shape(bad):
    with pytest.raises(ValueError, match="H x W x 3 uint8 RGB"):
        fidelity.view_statistics(bad)
