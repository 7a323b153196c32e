"""The synthetic world's optional non-key LiDAR sweeps (``robobench data synth --lidar-sweeps N``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nuscenes.utils.data_classes import LidarPointCloud

from robobench.cli import main as cli_main
from robobench.constants import LIDAR
from robobench.data.dataset import BEVDataset
from robobench.data.index import load_index
from robobench.data.nusc import open_nuscenes
from robobench.data.synth import MARKER, VAL_SPLIT, VERSION, generate, world_stamp
from robobench.data.synth_world import KEYFRAME_DT
from robobench.errors import UserError

SWEEPS = 2


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    """The tiny world (seed 0) with two non-key LiDAR sweeps per key-frame interval."""
    return generate(tmp_path_factory.mktemp("tiny_sweeps"), preset="tiny", seed=0, lidar_sweeps=SWEEPS)


def test_key_frames_are_the_same_bytes_with_or_without_sweeps(swept, tiny_world) -> None:
    for table in ("sample", "sample_annotation", "instance", "scene"):
        assert (swept / VERSION / f"{table}.json").read_bytes() == (
            tiny_world.dataroot / VERSION / f"{table}.json"
        ).read_bytes()
    for path in sorted((tiny_world.dataroot / "samples" / LIDAR).iterdir())[:5]:
        assert (swept / "samples" / LIDAR / path.name).read_bytes() == path.read_bytes()
    assert world_stamp(swept)["lidar_sweeps"] == SWEEPS and world_stamp(tiny_world.dataroot)["lidar_sweeps"] == 0


def test_sweeps_are_non_key_sample_data_in_the_lidar_chain(swept) -> None:
    """Between consecutive key frames: SWEEPS unannotated sweeps in ``sweeps/``, evenly spaced in
    time, each with its own ego pose and tied to the nearest sample, as nuScenes links them."""
    nusc = open_nuscenes(swept, VERSION)
    n_intervals = sum(s["nbr_samples"] - 1 for s in nusc.scene)
    lidar = [sd for sd in nusc.sample_data if sd["channel"] == LIDAR]
    sweeps = [sd for sd in lidar if not sd["is_key_frame"]]
    assert len(sweeps) == SWEEPS * n_intervals == len(list((swept / "sweeps" / LIDAR).iterdir()))
    assert all(sd["filename"].startswith(f"sweeps/{LIDAR}/") for sd in sweeps)
    for scene in nusc.scene:
        sd = nusc.get("sample_data", nusc.get("sample", scene["first_sample_token"])["data"][LIDAR])
        chain = [sd]
        while sd["next"]:
            sd = nusc.get("sample_data", sd["next"])
            chain.append(sd)
        assert [s["is_key_frame"] for s in chain] == [True] + [False] * SWEEPS + [True] + (
            [False] * SWEEPS + [True]
        ) * (scene["nbr_samples"] - 2)
        steps = np.diff([s["timestamp"] for s in chain]) * 1e-6
        np.testing.assert_allclose(steps, KEYFRAME_DT / (SWEEPS + 1), atol=2e-6)
        for s in chain:
            sample = nusc.get("sample", s["sample_token"])
            assert abs(sample["timestamp"] - s["timestamp"]) * 1e-6 <= KEYFRAME_DT / 2 + 1e-6  # the nearest sample
        assert len({s["ego_pose_token"] for s in chain}) == len(chain)
        assert len({tuple(nusc.get("ego_pose", s["ego_pose_token"])["translation"]) for s in chain}) == len(
            chain
        )  # the ego moves


def test_devkit_multisweep_and_our_loader_accumulate_the_sweeps(swept, tmp_path) -> None:
    """The devkit's ``from_file_multisweep`` and the Dataset both read the sweeps: three sweeps
    reach back two thirds of a key-frame interval, not to the previous key frame."""
    nusc = open_nuscenes(swept, VERSION)
    sample = next(s for s in nusc.sample if s["prev"])
    pc, times = LidarPointCloud.from_file_multisweep(nusc, sample, LIDAR, LIDAR, nsweeps=SWEEPS + 1)
    np.testing.assert_allclose(
        np.unique(np.round(times, 4)), np.round(np.arange(SWEEPS + 1) * KEYFRAME_DT / (SWEEPS + 1), 4)
    )
    index = load_index(swept, VERSION, cache_dir=tmp_path)
    ds = BEVDataset(index, VAL_SPLIT, {"input_size": [96, 256], "lidar": True, "lidar_sweeps": SWEEPS + 1})
    i = next(k for k, tok in enumerate(ds.tokens) if index[tok].prev)
    lags = np.unique(np.round(ds[i]["points"][:, 4].numpy(), 4))
    np.testing.assert_allclose(lags, np.round(np.arange(SWEEPS + 1) * KEYFRAME_DT / (SWEEPS + 1), 4), atol=1e-4)


@pytest.mark.parametrize("value", [-1, 20, 1.5, True])
def test_a_bad_sweep_count_is_refused_before_anything_is_written(tmp_path, value) -> None:
    with pytest.raises(UserError, match="non-key LiDAR sweeps"):
        generate(tmp_path / "w", preset="tiny", lidar_sweeps=value)
    assert not (tmp_path / "w").exists()


def test_cli_refuses_a_bad_sweep_count_without_a_traceback(tmp_path, capsys) -> None:
    assert cli_main(["data", "synth", "--out", str(tmp_path / "w"), "--preset", "tiny", "--lidar-sweeps", "-2"]) != 0
    err = capsys.readouterr().err
    assert "non-key LiDAR sweeps" in err and "Traceback" not in err
    assert not (tmp_path / "w" / MARKER).exists()
