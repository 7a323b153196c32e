"""Accumulated radar sweeps: the index follows ``sample_data.prev`` within a scene, and the Dataset
puts ``data.radar_sweeps`` sweeps per channel in the key ego frame, checked against the devkit's
own reading and pose chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nuscenes.utils.data_classes import RadarPointCloud

from robobench.constants import LIDAR, RADARS
from robobench.data import index as index_module
from robobench.data.dataset import BEVDataset, DataConfig
from robobench.data.index import RADAR_MAX_SWEEPS, build_record
from robobench.errors import UserError
from tests.helpers.sweeps import devkit_chain, position

INPUT = [96, 256]


def _dataset(index, split: str, sweeps: int) -> BEVDataset:
    return BEVDataset(index, split, {"input_size": INPUT, "radar": True, "radar_sweeps": sweeps})


def _devkit_rows(nusc: Any, sd_token: str, key_lidar_token: str) -> np.ndarray:
    """``(R, 7)`` rows of one radar sweep computed with the devkit only: ``from_file`` with its default
    filters, then ``transform_matrix`` of sensor -> ego(t_sweep) -> global -> ego(t_key LiDAR)."""
    sd, chain, lag = devkit_chain(nusc, sd_token, key_lidar_token)
    pc = RadarPointCloud.from_file(str(Path(nusc.dataroot) / sd["filename"]))
    vel = chain[:3, :3] @ np.vstack([pc.points[8:10], np.zeros(pc.nbr_points())])
    pc.transform(chain)
    return np.c_[pc.points[:3].T, pc.points[5], vel[:2].T, np.full(pc.nbr_points(), lag)]


def test_index_keeps_the_prev_chain_within_the_scene(index, nusc) -> None:
    for rec in index.records.values():
        sample = nusc.get("sample", rec.token)
        for ch in RADARS:
            chain, sd = [], nusc.get("sample_data", sample["data"][ch])
            while sd["prev"]:
                sd = nusc.get("sample_data", sd["prev"])
                chain.append(sd["token"])
            assert [s.token for s in rec.radar_prev[ch]] == chain[: RADAR_MAX_SWEEPS - 1]
            if not rec.prev:
                assert rec.radar_prev[ch] == []
    assert max(len(r.radar_prev[RADARS[0]]) for r in index.records.values()) >= 2


def test_index_caps_the_sweeps_and_stops_at_another_scene(index, nusc, monkeypatch) -> None:
    last = max(index.records.values(), key=lambda r: len(r.radar_prev[RADARS[0]]))
    monkeypatch.setattr(index_module, "RADAR_MAX_SWEEPS", 3)
    assert all(len(v) == 2 for v in build_record(nusc, last.token).radar_prev.values())

    # a prev link into another scene (not in the synthetic data, possible in other logs) is not followed
    first = next(r for r in index.records.values() if not r.prev)
    other = next(r for r in index.records.values() if r.scene_token != first.scene_token)
    first_sd = nusc.get("sample", first.token)["data"][RADARS[0]]

    class LinkedAcrossScenes:
        def get(self, table: str, token: str) -> dict:
            rec = nusc.get(table, token)
            return {**rec, "prev": other.radars[RADARS[0]].token} if token == first_sd else rec

    assert (
        index_module._previous_sweeps(
            LinkedAcrossScenes(), first_sd, first.scene_token, np.eye(4), RADAR_MAX_SWEEPS - 1
        )
        == []
    )


def test_two_sweeps_add_the_previous_sweep_in_the_key_ego_frame(index, nusc, tiny_world) -> None:
    """Rows equal the devkit's: per channel the key sweep, then the previous one (lag ~0.5 s)."""
    RadarPointCloud.default_filters()  # the devkit's defaults, whatever another test did to the class
    ds = _dataset(index, tiny_world.val_split, 2)
    i = position(ds, has_prev=True)
    rec = index[ds.tokens[i]]
    sample = nusc.get("sample", rec.token)
    got = ds[i]["radar"].numpy().astype(np.float64)

    expected, n_prev = [], 0
    for ch in RADARS:
        key_sd = nusc.get("sample_data", sample["data"][ch])
        key_rows = _devkit_rows(nusc, key_sd["token"], sample["data"][LIDAR])
        prev_rows = _devkit_rows(nusc, key_sd["prev"], sample["data"][LIDAR])
        expected += [key_rows, prev_rows]
        n_prev += len(prev_rows)
    expected = np.concatenate(expected)
    assert n_prev > 0 and len(got) == len(expected)
    np.testing.assert_allclose(got[:, :3], expected[:, :3], atol=2e-3)  # positions (float32 rows)
    np.testing.assert_allclose(got[:, 3:6], expected[:, 3:6], atol=1e-4)  # rcs, rotated velocities
    np.testing.assert_allclose(got[:, 6], expected[:, 6], atol=1e-6)
    prev = got[:, 6] > 0.25
    assert prev.sum() == n_prev and np.allclose(got[prev, 6], 0.5, atol=0.05)
    assert np.all(np.abs(got[~prev, 6]) < 0.05)

    # one sweep is today's behaviour: exactly the key-sweep rows
    key_only = _dataset(index, tiny_world.val_split, 1)[i]["radar"].numpy()
    np.testing.assert_array_equal(key_only, got[~prev].astype(np.float32))


def test_previous_static_returns_lie_on_the_key_frame_lidar(index, tiny_world) -> None:
    """Physical check: returns of the previous sweep with zero compensated velocity (static world)
    land on the key frame's LiDAR points; ignoring the ego motion (3 m here) would miss them."""
    from scipy.spatial import cKDTree

    ds = _dataset(index, tiny_world.val_split, 2)
    i = position(ds, has_prev=True)
    rec = index[ds.tokens[i]]
    item = ds[i]
    radar, lidar = item["radar"].numpy(), item["points"].numpy()
    static = radar[(radar[:, 6] > 0.25) & (np.hypot(radar[:, 4], radar[:, 5]) < 0.05)]
    assert len(static) > 20
    tree = cKDTree(lidar[:, :2])
    dist = np.median(tree.query(static[:, :2])[0])
    ego_motion = (np.linalg.inv(rec.ego2global) @ index[rec.prev].ego2global)[:2, 3]
    assert np.linalg.norm(ego_motion) > 1.0
    dist_no_motion = np.median(tree.query(static[:, :2] - ego_motion)[0])
    assert dist < 0.35 and dist < 0.5 * dist_no_motion


def test_first_sample_of_a_scene_has_only_its_own_sweep(index, tiny_world) -> None:
    ds = _dataset(index, tiny_world.val_split, 3)
    i = position(ds, has_prev=False)
    radar = ds[i]["radar"].numpy()
    assert len(radar) > 0 and np.all(np.abs(radar[:, 6]) < 0.05)
    np.testing.assert_array_equal(radar, _dataset(index, tiny_world.val_split, 1)[i]["radar"].numpy())


@pytest.mark.parametrize("value", [0, -1, "x", 2.0, True, RADAR_MAX_SWEEPS + 1])
def test_bad_radar_sweeps_is_a_user_error(value) -> None:
    with pytest.raises(UserError, match=rf"data\.radar_sweeps .*got {value!r}"):
        DataConfig.from_dict({"radar_sweeps": value})


def test_radar_sweeps_defaults_to_the_key_sweep_only() -> None:
    assert (
        DataConfig().radar_sweeps == 1
        and DataConfig.from_dict({"radar_sweeps": RADAR_MAX_SWEEPS}).radar_sweeps == RADAR_MAX_SWEEPS
    )


def test_camera_radar_profiles_set_the_sweeps() -> None:
    """``bevdepth-radar`` sets ``data.radar_sweeps`` per profile and the IMKD entries inherit it."""
    from baselines import bevdepth_radar
    from robobench.registry import get_entry

    assert bevdepth_radar.RADAR_SWEEPS == {"quick": 2, "full": 2, "large": 2, "nuscenes": 8}
    for entry in ("bevdepth-radar", "bevdepth-radar-imkd", "bevdepth-radar-imkd-no3"):
        for profile, sweeps in bevdepth_radar.RADAR_SWEEPS.items():
            data = get_entry(entry).config(profile)["data"]
            assert DataConfig.from_dict(data).radar_sweeps == sweeps and data["radar"] is True
