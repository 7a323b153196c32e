"""Fidelity statistics on hand-made images with known answers, and the ``data fidelity`` command."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from PIL import Image

from corruptions.spec import CORRUPTIONS, LEVELS
from robobench.cli import main
from robobench.data import fidelity, fidelity_report
from robobench.schema import ResultRow
from robobench.store import ResultStore


def _rgb(grey_image: np.ndarray) -> np.ndarray:
    return np.repeat(grey_image[..., None], 3, axis=2).astype(np.uint8)


def _checkerboard(height: int, width: int, square: int, value: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return _rgb(((ys // square + xs // square) % 2) * value)


def test_flat_image_has_no_gradient_detail_or_colour():
    stats = fidelity.view_statistics(np.full((64, 64, 3), 120, np.uint8), width=64)
    for key in (
        "gradient_mean",
        "gradient_above_50",
        "laplacian_variance",
        "high_frequency_energy",
        "colourfulness",
        "luminance_std",
        "saturation_mean",
        "noise_sigma",
        "edge_density",
    ):
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
    assert stats["luminance_mean"] == {
        "mean": 30.0,
        "std": pytest.approx(np.std([10, 20, 60])),
        "min": 10.0,
        "max": 60.0,
    }
    with pytest.raises(ValueError, match="no views"):
        fidelity.image_statistics([])


def test_ssim_equals_scikit_image_and_is_one_for_identical_images():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(4)
    a = np.clip(cv2.GaussianBlur(rng.normal(128, 50, (60, 90)).astype(np.float32), (0, 0), 1), 0, 255).astype(np.uint8)
    b = np.clip(a.astype(np.int16) // 2 + rng.integers(0, 40, a.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(
        a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert fidelity.ssim(a, b) == pytest.approx(expected, abs=1e-5)
    assert fidelity.ssim(a, a) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [np.zeros((16, 16), np.uint8), np.zeros((16, 16, 3), np.float32), "image.jpg"])
def test_bad_views_are_refused_with_their_shape(bad):
    with pytest.raises(ValueError, match="H x W x 3 uint8 RGB"):
        fidelity.view_statistics(bad)


# -- the reference file, the calibration target and the command ----------------------------------


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    assert err[0].startswith("error: ")
    return err[0]


def test_shipped_reference_holds_real_statistics_and_a_generic_command():
    ref = fidelity_report.read_reference(fidelity_report.DEFAULT_REFERENCE)
    assert ref.source.views == 7 and ref.source.sizes == ["1600x900"]
    assert ref.width == fidelity.MODEL_WIDTH
    assert ref.command.startswith("robobench data fidelity --images DIR") and "/" not in ref.command
    assert set(fidelity.STATISTIC_KEYS) <= set(ref.statistics)
    stat = ref.statistics["gradient_mean"]
    assert stat.min <= stat.mean <= stat.max
    # Real street views are sharp and grey: far more gradient than colour.
    assert ref.statistics["gradient_mean"].mean > 2 * ref.statistics["colourfulness"].mean
    assert (
        ref.corruption_response["Snow"]["hard"]["ssim"].mean
        < ref.corruption_response["Brightness"]["easy"]["ssim"].mean
    )


def test_calibration_target_has_every_corruption():
    target = fidelity_report.read_target()
    assert set(target.rr) == set(CORRUPTIONS)
    assert min(target.rr, key=target.rr.get) == "Snow"


def _image_folder(path, n=3):
    path.mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        img = cv2.GaussianBlur(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8), (0, 0), 1 + i)
        Image.fromarray(img).save(path / f"view{i}.png")
    return path


@pytest.mark.slow
def test_written_reference_reproduces_itself(tmp_path, capsys):
    folder = _image_folder(tmp_path / "imgs")
    ref_file = tmp_path / "ref.json"
    assert (
        main(
            ["data", "fidelity", "--images", str(folder), "--corruption-views", "1", "--write-reference", str(ref_file)]
        )
        == 0
    )
    ref = fidelity_report.read_reference(ref_file)
    assert ref.source.views == 3 and ref.source.sizes == ["160x90"] and ref.corruption_views == 1
    assert str(tmp_path) not in ref_file.read_text()
    assert ref.command == "robobench data fidelity --images DIR --corruption-views 1 --write-reference FILE"
    capsys.readouterr()
    out = tmp_path / "report.json"
    assert (
        main(
            [
                "data",
                "fidelity",
                "--images",
                str(folder),
                "--corruption-views",
                "1",
                "--reference",
                str(ref_file),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rep = json.loads(out.read_text())
    assert all(v["ratio"] == pytest.approx(1.0) and v["within"] for v in rep["statistics"].values())
    assert rep["corruption_response"]["spearman_corruptions"] == pytest.approx(1.0)
    text = capsys.readouterr().out
    assert "the fidelity bar: 5 of 5 within 25%" in text


@pytest.mark.slow
def test_command_on_the_tiny_world_compares_with_the_shipped_reference(tiny_world, tmp_path, capsys):
    code = main(
        [
            "data",
            "fidelity",
            "--dataroot",
            str(tiny_world.dataroot),
            "--views",
            "6",
            "--corruption-views",
            "2",
            "--json",
        ]
    )
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    world = rep["world"]
    assert world["source"]["views"] == 6 and world["corruption_views"] == 2
    ref = fidelity_report.read_reference(fidelity_report.DEFAULT_REFERENCE)
    for key in fidelity.STATISTIC_KEYS:
        assert rep["statistics"][key]["ratio"] == pytest.approx(
            world["statistics"][key]["mean"] / ref.statistics[key].mean
        )
    assert set(world["corruption_response"]) == set(CORRUPTIONS)
    assert -1.0 <= rep["corruption_response"]["spearman_corruptions"] <= 1.0
    assert rep["calibration"]["entries"] == []
    written = tmp_path / "ref.json"
    assert (
        main(
            [
                "data",
                "fidelity",
                "--dataroot",
                str(tiny_world.dataroot),
                "--views",
                "6",
                "--corruption-views",
                "2",
                "--write-reference",
                str(written),
            ]
        )
        == 0
    )
    mine = fidelity_report.read_reference(written)
    assert mine.command == (
        "robobench data fidelity --dataroot DATAROOT --version v1.0-synth --views 6 "
        "--corruption-views 2 --write-reference FILE"
    )
    assert mine.source.description == "key-frame camera views of a nuScenes dataroot (v1.0-synth)"
    assert mine.statistics["gradient_mean"].mean == pytest.approx(world["statistics"]["gradient_mean"]["mean"])


def _rr_rows(entry, seed, offset, clean=0.5):
    """Rows whose RR per corruption is the target's plus ``offset`` points."""
    target = fidelity_report.read_target()
    rows = [
        ResultRow(
            entry=entry,
            train_mode="clean",
            condition="clean",
            seed=seed,
            dataset_id="w/val",
            config_hash="h",
            profile="full",
            nds=clean,
        )
    ]
    for name in CORRUPTIONS:
        for level in LEVELS:
            rows.append(
                ResultRow(
                    entry=entry,
                    train_mode="clean",
                    condition=f"{name}:{level}",
                    seed=seed,
                    dataset_id="w/val",
                    config_hash="h",
                    profile="full",
                    nds=clean * (target.rr[name] + offset) / 100,
                )
            )
    return rows


def test_entry_rr_is_the_mean_over_seeds_and_scored_against_the_target(tmp_path):
    db = tmp_path / "results.sqlite"
    with ResultStore(db) as store:
        store.add_many(_rr_rows("mine", 0, 1.0, clean=0.3) + _rr_rows("mine", 1, 3.0, clean=0.5))
    (got,) = fidelity_report.entry_rr(db, "mine")
    target = fidelity_report.read_target()
    assert got.seeds == [0, 1] and got.profile == "full"
    assert got.clean_nds == pytest.approx(0.4) and got.clean_nds_std == pytest.approx(0.2 / 2**0.5)
    assert got.rr == {c: pytest.approx(target.rr[c] + 2.0) for c in CORRUPTIONS}
    score = fidelity_report.agreement(got.rr, target)
    assert score["spearman"] == pytest.approx(1.0)
    assert score["mean_abs_diff"] == pytest.approx(2.0)
    assert score["corruptions"] == 8
    assert score["bar"] is True
    # Fog made the worst corruption breaks the bar even with a perfect rank elsewhere.
    assert fidelity_report.agreement({**got.rr, "Fog": 1.0}, target)["bar"] is False
    partial = {c: v for c, v in got.rr.items() if c != "Snow"}
    assert fidelity_report.agreement(partial, target)["bar"] is None


def test_corrupt_width_changes_the_scale_the_corruptions_act_at():
    # MotionBlur's radius is defined in pixels: on the view upsampled 2x before corrupting, it
    # smears half as much of the scene, so the view at the model's width keeps more structure.
    rng = np.random.default_rng(5)
    view = np.clip(cv2.GaussianBlur(rng.normal(128, 40, (90, 160, 3)).astype(np.float32), (0, 0), 2), 0, 255)
    view = view.astype(np.uint8)
    native = fidelity.view_corruption_response(view, "v", width=160)
    assert fidelity.view_corruption_response(view, "v", width=160, corrupt_width=160) == native
    scaled = fidelity.view_corruption_response(view, "v", width=160, corrupt_width=320)
    for level in LEVELS:
        assert scaled["MotionBlur", level]["ssim"] > native["MotionBlur", level]["ssim"]
    assert scaled["CameraCrash", "mid"]["gradient_ratio"] == native["CameraCrash", "mid"]["gradient_ratio"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--db", "x.sqlite"], "--db and --entry go together"),
        (["--images", "no-such-dir"], "is not a folder"),
        (["--views", "0"], "--views must be >= 1"),
        (["--label", "x"], "--label names the views"),
        (["--corrupt-width", "16"], "--corrupt-width 16: must be >= 32"),
    ],
)
def test_bad_arguments_fail_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["data", "fidelity", *argv]) == 2
    assert message in _error_line(capsys)


def test_broken_reference_or_unknown_entry_fail_with_one_line(tmp_path, capsys):
    folder = _image_folder(tmp_path / "imgs", n=1)
    bad = tmp_path / "ref.json"
    bad.write_text(json.dumps({"format": "robobench-fidelity-reference"}))
    assert main(["data", "fidelity", "--images", str(folder), "--reference", str(bad)]) == 2
    line = _error_line(capsys)
    assert str(bad) in line and "not valid" in line
    db = tmp_path / "results.sqlite"
    with ResultStore(db) as store:
        store.add_many(_rr_rows("mine", 0, 0.0))
    assert main(["data", "fidelity", "--images", str(folder), "--db", str(db), "--entry", "theirs"]) == 2
    assert "entries there: mine" in _error_line(capsys)


def test_unmeasurable_image_or_unwritable_out_fail_with_one_line(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "tiny.png")
    assert main(["data", "fidelity", "--images", str(folder)]) == 2
    line = _error_line(capsys)
    assert "tiny.png cannot be measured" in line and "32 x 32" in line
    good = _image_folder(tmp_path / "good", n=1)
    assert main(["data", "fidelity", "--images", str(good), "--corruption-views", "0", "--out", str(tmp_path)]) == 2
    assert "is a folder" in _error_line(capsys)


def test_report_without_corruption_views_has_no_response_section(tmp_path, capsys):
    folder = _image_folder(tmp_path / "imgs", n=2)
    assert main(["data", "fidelity", "--images", str(folder), "--corruption-views", "0"]) == 0
    text = capsys.readouterr().out
    assert "of 5 within 25%" in text
    assert "corruption response" not in text and "Spearman of world" not in text
    assert "target RR" in text and "Spearman of reference SSIM" in text
