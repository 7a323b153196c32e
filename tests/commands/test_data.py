"""`robobench data synth|show`, `robobench demo` and the devkit helpers' user errors."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from PIL import Image

from robobench.cli import main
from robobench.constants import LIDAR
from robobench.data.nusc import open_nuscenes, split_sample_tokens, split_scenes
from robobench.demo import prepare_world, world_is_complete
from robobench.errors import UserError


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    assert err[0].startswith("error: ")
    return err[0]


@pytest.fixture()
def world_copy(tiny_world, tmp_path):
    """A private copy of the tiny world that a test may damage."""
    root = tmp_path / "copy"
    shutil.copytree(tiny_world.dataroot, root)
    return root


@pytest.mark.slow
def test_show_writes_png(tiny_world, tmp_path, capsys):
    out = tmp_path / "pic" / "sample.png"
    code = main(["data", "show", "--dataroot", str(tiny_world.dataroot), "--out", str(out)])
    assert code == 0
    assert str(out) in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.width > 1000 and img.height > 400


def test_show_missing_dataroot(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["data", "show", "--dataroot", str(missing), "--out", str(tmp_path / "x.png")]) == 2
    line = _error_line(capsys)
    assert str(missing) in line and "does not exist" in line


def test_show_wrong_version_lists_existing(tiny_world, tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "show",
                "--dataroot",
                str(tiny_world.dataroot),
                "--version",
                "v1.0-mini",
                "--out",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    line = _error_line(capsys)
    assert "'v1.0-mini' not found" in line and "v1.0-synth" in line


def test_show_unknown_sample(tiny_world, tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "show",
                "--dataroot",
                str(tiny_world.dataroot),
                "--sample",
                "deadbeef",
                "--out",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    assert "'deadbeef' not found" in _error_line(capsys)


@pytest.mark.parametrize("channel", ["CAM_BACK", LIDAR])
def test_show_missing_sensor_file(world_copy, tmp_path, capsys, channel):
    nusc = open_nuscenes(world_copy, "v1.0-synth")
    sample = nusc.sample[0]
    path = nusc.get_sample_data_path(sample["data"][channel])
    (world_copy / nusc.get("sample_data", sample["data"][channel])["filename"]).unlink()
    assert (
        main(
            [
                "data",
                "show",
                "--dataroot",
                str(world_copy),
                "--sample",
                sample["token"],
                "--out",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    line = _error_line(capsys)
    assert channel in line and path in line and "missing" in line


def test_synth_cli_errors(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["data", "synth", "--out", str(blocker), "--preset", "tiny"]) == 2
    assert "not a directory" in _error_line(capsys)
    foreign = tmp_path / "nuscenes"
    (foreign / "samples" / "CAM_FRONT").mkdir(parents=True)
    assert main(["data", "synth", "--out", str(foreign), "--preset", "tiny"]) == 2
    assert "not empty" in _error_line(capsys)
    assert (foreign / "samples" / "CAM_FRONT").is_dir()  # nothing deleted
    with pytest.raises(SystemExit) as exc:
        main(["data", "synth", "--out", str(tmp_path / "w"), "--preset", "huge"])
    assert exc.value.code == 2


def test_malformed_and_missing_tables(world_copy):
    scene_json = world_copy / "v1.0-synth" / "scene.json"
    original = scene_json.read_text()
    scene_json.write_text("[{")
    with pytest.raises(UserError, match="scene.json.*not valid JSON"):
        open_nuscenes(world_copy, "v1.0-synth")
    scene_json.unlink()
    with pytest.raises(UserError, match="scene.json.*missing"):
        open_nuscenes(world_copy, "v1.0-synth")
    scene_json.write_text(original)
    (world_copy / "v1.0-synth" / "sample_annotation.json").write_text(json.dumps([{"token": "a"}]))
    with pytest.raises(UserError, match="malformed.*instance_token"):
        open_nuscenes(world_copy, "v1.0-synth")


def test_splits(tiny_world):
    nusc = open_nuscenes(tiny_world.dataroot, tiny_world.version)
    train, val = split_scenes(nusc, tiny_world.train_split), split_scenes(nusc, tiny_world.val_split)
    assert train == ["scene-0001", "scene-0002"] and val == ["scene-0003", "scene-0004"]
    tokens = split_sample_tokens(nusc, tiny_world.val_split)
    assert len(tokens) == 12 and len(set(tokens)) == 12
    stamps = [nusc.get("sample", t)["timestamp"] for t in tokens[:6]]
    assert stamps == sorted(stamps)
    with pytest.raises(UserError, match="unknown split 'nope'.*synth_train, synth_val"):
        split_scenes(nusc, "nope")
    with pytest.raises(
        UserError,
        match=(
            "split 'mini_val' belongs to nuScenes \\*-mini versions.*available: synth_train, synth_val, synth_val_mini$"
        ),
    ):
        split_scenes(nusc, "mini_val")
    with pytest.raises(UserError, match="split 'train' belongs to nuScenes \\*-trainval"):
        split_scenes(nusc, "train")


def test_demo_validates_existing_world(tiny_world, capsys):
    assert world_is_complete(tiny_world.dataroot)
    assert prepare_world(tiny_world.dataroot, preset="tiny")
    out = capsys.readouterr().out
    assert "4 scenes, 24 samples" in out and "validation: OK" in out
    assert "construction_vehicle" in out


def test_demo_reports_missing_files(world_copy, capsys):
    victim = next((world_copy / "samples" / "CAM_FRONT").iterdir())
    victim.unlink()
    assert not prepare_world(world_copy, preset="tiny")
    out = capsys.readouterr().out
    assert "(1 missing)" in out and "FAILED" in out


@pytest.mark.slow
def test_demo_regenerates_an_incomplete_world(tmp_path, monkeypatch, capsys):
    """A half-written world (killed before its tables were written) is generated again, then validated."""
    import robobench.demo as demo
    from robobench.data.synth import MARKER, generate

    calls = []

    def tiny_generate(out_dir, preset, seed, workers, progress):
        calls.append(preset)
        return generate(out_dir, preset="tiny", seed=seed, workers=1, progress=False)

    monkeypatch.setattr(demo, "generate", tiny_generate)
    root = tmp_path / "world"
    (root / "samples" / "CAM_FRONT").mkdir(parents=True)
    (root / MARKER).write_text("partial")
    (root / "samples" / "CAM_FRONT" / "stale.jpg").write_bytes(b"")
    assert not world_is_complete(root)
    assert demo.prepare_world(root)
    assert calls == ["default"] and world_is_complete(root)
    assert not (root / "samples" / "CAM_FRONT" / "stale.jpg").exists()
    assert "validation: OK" in capsys.readouterr().out


def test_custom_split_without_scenes(world_copy):
    splits = world_copy / "v1.0-synth" / "splits.json"
    splits.write_text(json.dumps({"synth_train": ["scene-0001"], "ghost": ["scene-9999"]}))
    nusc = open_nuscenes(world_copy, "v1.0-synth")
    assert split_scenes(nusc, "synth_train") == ["scene-0001"]
    with pytest.raises(UserError, match="split 'ghost' has no scene"):
        split_scenes(nusc, "ghost")
    splits.write_text("{not json")
    with pytest.raises(UserError, match="splits.json.*not valid JSON"):
        split_scenes(nusc, "synth_train")


def test_world_from_an_older_generator_is_not_complete(world_copy):
    """A world whose splits.json lacks the demo's split is regenerated by the demo."""
    splits = world_copy / "v1.0-synth" / "splits.json"
    data = json.loads(splits.read_text())
    assert world_is_complete(world_copy)
    del data["synth_val_mini"]
    splits.write_text(json.dumps(data))
    assert not world_is_complete(world_copy)


def test_world_from_an_older_generator_version_is_stale(world_copy, capsys):
    """A world stamped by another generator version (or not stamped) is not complete, and says why."""
    from robobench.data.synth import GENERATOR_VERSION, MARKER, world_stamp
    from robobench.demo import stale_world_reason

    assert world_stamp(world_copy) == {
        "generator_version": GENERATOR_VERSION,
        "preset": "tiny",
        "seed": 0,
        "lidar_sweeps": 0,
    }
    assert stale_world_reason(world_copy) is None
    (world_copy / MARKER).write_text(
        json.dumps({"generator_version": GENERATOR_VERSION - 1, "preset": "tiny", "seed": 0})
    )
    assert not world_is_complete(world_copy)
    assert f"generator version {GENERATOR_VERSION - 1}" in stale_world_reason(world_copy)
    (world_copy / MARKER).write_text("written by robobench data synth; the folder may be overwritten by it\n")
    assert not world_is_complete(world_copy)
    assert "no generator stamp" in stale_world_reason(world_copy)


def test_world_of_another_render_or_camera_is_stale(world_copy):
    """The demo's world is the flat render at the preset's size: another render or camera is replaced."""
    from robobench.data.synth import GENERATOR_VERSION, MARKER
    from robobench.demo import stale_world_reason

    stamp = {
        "generator_version": GENERATOR_VERSION,
        "preset": "tiny",
        "seed": 0,
        "lidar_sweeps": 0,
        "render": "flat",
        "camera": "nuscenes",
    }
    (world_copy / MARKER).write_text(json.dumps(stamp))
    assert "--camera nuscenes" in stale_world_reason(world_copy)
    assert not world_is_complete(world_copy)


def test_world_of_another_preset_or_an_old_preset_size_is_stale(world_copy, monkeypatch):
    """The demo replaces a world of another preset, and one whose preset's size has changed since."""
    from robobench.data import synth
    from robobench.demo import stale_world_reason

    assert world_is_complete(world_copy, "tiny") and not world_is_complete(world_copy, "default")
    assert stale_world_reason(world_copy, "default") == "it is the 'tiny' preset, not 'default'"
    monkeypatch.setitem(synth.PRESETS, "tiny", dataclasses.replace(synth.PRESETS["tiny"], n_train=5))
    assert (
        stale_world_reason(world_copy) == "it has 2 training and 2 validation scenes, today's 'tiny' preset has 5 and 2"
    )
    assert not world_is_complete(world_copy)


def test_val_mini_holds_the_presets_first_validation_scenes(tmp_path, monkeypatch):
    from robobench.data import synth

    tiny = synth.PRESETS["tiny"]
    monkeypatch.setitem(
        synth.PRESETS, "mini-test", dataclasses.replace(tiny, n_train=1, n_val=3, n_frames=2, n_val_mini=2)
    )
    splits = json.loads((synth.generate(tmp_path / "w", preset="mini-test") / "v1.0-synth" / "splits.json").read_text())
    assert splits == {
        "synth_train": ["scene-0001"],
        "synth_val": ["scene-0002", "scene-0003", "scene-0004"],
        "synth_val_mini": ["scene-0002", "scene-0003"],
    }
    long, default = synth.PRESETS["long"], synth.PRESETS["default"]
    assert long.n_train * long.n_frames == default.n_train * default.n_frames  # same training cost per epoch
    assert long.n_val * long.n_frames == default.n_val * default.n_frames
    assert (
        default.n_val_mini * default.n_frames == long.n_val_mini * long.n_frames
    )  # the demo evaluates as many samples
