"""Damaged (truncated) images stop `predict`, `sweep` and `corrupt`, or are counted with
``--allow-damaged-images`` (issue 33.2): OpenCV decodes a truncated JPEG into a partly grey
view with only a libjpeg warning, so a model was scored on broken inputs without a word."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from robobench.cli import main
from robobench.constants import CAMERAS
from robobench.data.dataset import BEVDataset
from robobench.data.index import load_index
from robobench.errors import UserError
from robobench.nuscenes_c import check_images, is_complete, write_nuscenes_c
from robobench.predict import predict


def truncate(path: Path) -> None:
    """Cut a file to half its size, as an interrupted copy or download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def world(tiny_world, tmp_path_factory):
    """A copy of the tiny world (the shared one stays intact) with one truncated validation
    image, and a nuScenes-C root (Fog:easy) written before the damage, with one truncated image."""
    root = tmp_path_factory.mktemp("damaged") / "world"
    shutil.copytree(tiny_world.dataroot, root)
    c_root = root.parent / "nuscenes-c"
    write_nuscenes_c(root, tiny_world.version, tiny_world.val_split, c_root, ["Fog"], ["easy"], progress=False)
    index = load_index(root, tiny_world.version)
    token = index.split_tokens(tiny_world.val_split)[0]
    broken = root / index[token].cams[CAMERAS[1]].path
    truncate(broken)
    broken_c = c_root / "Fog" / "easy" / CAMERAS[2] / Path(index[token].cams[CAMERAS[2]].path).name
    truncate(broken_c)
    return root, tiny_world, broken, c_root, broken_c


def test_check_images_names_and_counts(world, tmp_path, capsys):
    root, tw, broken, _, _ = world
    paths = BEVDataset(load_index(root, tw.version), tw.val_split).image_paths()
    assert broken in paths and len(paths) == 6 * len(load_index(root, tw.version).split_tokens(tw.val_split))
    with pytest.raises(UserError, match=r"1 damaged image\(s\) in here .*" + broken.name + ".*--allow-damaged-images"):
        check_images(paths, "here")
    assert check_images(paths, "here", allow_damaged=True) == 1
    err = capsys.readouterr().err
    assert err.startswith("warning: 1 damaged image(s)") and err.count("\n") == 1
    assert check_images([p for p in paths if p != broken], "here") == 0
    assert check_images([tmp_path / "missing.jpg"], "here") == 0  # missing files are named by the readers


def test_predict_stops_on_a_damaged_dataroot_image_or_counts_it(world, oracle, tmp_path, capsys):  # noqa: F811
    root, tw, broken, _, _ = world
    entry, ckpt = oracle
    out = tmp_path / "results.json"
    with pytest.raises(UserError, match=rf"1 damaged image\(s\) in {root} \(split '{tw.val_split}'\).*{broken.name}"):
        predict(entry, ckpt, "clean", root, tw.version, tw.val_split, out, progress=False)
    assert not out.exists()
    res = predict(entry, ckpt, "clean", root, tw.version, tw.val_split, out, progress=False, allow_damaged_images=True)
    assert res.damaged_images == 1 and out.is_file()
    assert "warning: 1 damaged image(s)" in capsys.readouterr().err


def test_predict_stops_on_a_damaged_nuscenes_c_image(world, oracle, tmp_path):  # noqa: F811
    root, tw, _, c_root, broken_c = world
    entry, ckpt = oracle
    with pytest.raises(UserError, match=rf"in nuScenes-C root {c_root} .*{broken_c.name}"):
        predict(
            entry,
            ckpt,
            "Fog:easy",
            root,
            tw.version,
            tw.val_split,
            tmp_path / "r.json",
            corrupt_root=c_root,
            progress=False,
        )


def test_predict_command_passes_the_flag(world, monkeypatch, tmp_path):
    import robobench.predict

    seen = {}

    def fake_predict(*args, **kwargs):
        seen.update(kwargs)
        return robobench.predict.PredictionOutput(tmp_path / "r.json", None, 0, 0.0, 1)

    monkeypatch.setattr(robobench.predict, "predict", fake_predict)
    assert main(["predict", "bevdet", "--checkpoint", str(tmp_path / "c.pt"), "--allow-damaged-images"]) == 0
    assert seen["allow_damaged_images"] is True


def test_corrupt_does_not_carry_a_damaged_source_into_nuscenes_c(world, tmp_path, capsys):
    root, tw, broken, _, _ = world
    out = tmp_path / "c"
    argv = [
        "corrupt",
        "--dataroot",
        str(root),
        "--version",
        tw.version,
        "--split",
        tw.val_split,
        "--out",
        str(out),
        "--corruptions",
        "Snow",
        "--levels",
        "easy",
        "--no-progress",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 damaged image(s)") and err.count("\n") == 1 and str(broken) in err
    assert not list(out.rglob("*.jpg"))
    assert main([*argv, "--allow-damaged-images"]) == 0
    assert "warning: 1 damaged image(s)" in capsys.readouterr().err
    written = list(out.rglob("*.jpg"))
    assert written and all(is_complete(p) for p in written)


def test_sweep_stops_before_training_on_a_damaged_image(world, tmp_path, capsys):
    root, tw, broken, _, _ = world
    out = tmp_path / "runs"
    assert (
        main(
            [
                "sweep",
                "--entries",
                "bevdet",
                "--conditions",
                "clean",
                "--dataroot",
                str(root),
                "--version",
                tw.version,
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: 1 damaged image(s)") and err.count("\n") == 1 and broken.name in err
    assert not (out / "models").exists()
