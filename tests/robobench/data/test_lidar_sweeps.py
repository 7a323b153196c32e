"""Accumulated LiDAR sweeps: the index follows the LiDAR's ``sample_data.prev`` within a scene, the
Dataset puts ``data.lidar_sweeps`` sweeps in the key ego frame with a time-lag column (checked
against the devkit's own reading and pose chain), depth supervision keeps the key sweep only, and
the teacher's pillar encoder and its distillation students follow the sweep count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from nuscenes.utils.data_classes import LidarPointCloud

from baselines import centerpoint
from baselines.common.pillars import N_OFFSET_FEATURES
from baselines.common.profiles import LIDAR_SWEEPS
from baselines.distill import tigdistill
from robobench.constants import LIDAR
from robobench.contract import key_sweep
from robobench.data.dataset import SWEEP_CLOSE_RADIUS, BEVDataset, DataConfig, points_in_boxes
from robobench.data.index import LIDAR_MAX_SWEEPS
from robobench.errors import UserError
from robobench.registry import Role, get_entry, list_entries
from robobench.train import deep_merge
from tests.helpers.batch_factory import make_batch
from tests.helpers.sweeps import devkit_chain, position

INPUT = [96, 256]


def _dataset(index, split: str, sweeps: int, lidar: bool = True, **kwargs: Any) -> BEVDataset:
    return BEVDataset(index, split, {"input_size": INPUT, "lidar_sweeps": sweeps, "lidar": lidar}, **kwargs)


def _devkit_rows(nusc: Any, sd_token: str, key_lidar_token: str) -> np.ndarray:
    """``(P, 5)`` rows of one LiDAR sweep computed with the devkit only: ``LidarPointCloud.from_file``,
    ``remove_close`` for a previous sweep (as ``from_file_multisweep``), then ``transform_matrix`` of
    sensor -> ego(t_sweep) -> global -> ego(t_key), and the lag in seconds."""
    sd, chain, lag = devkit_chain(nusc, sd_token, key_lidar_token)
    pc = LidarPointCloud.from_file(str(Path(nusc.dataroot) / sd["filename"]))
    if sd_token != key_lidar_token:
        pc.remove_close(SWEEP_CLOSE_RADIUS)
    pc.transform(chain)
    return np.c_[pc.points[:4].T, np.full(pc.nbr_points(), lag)]


def test_index_keeps_the_lidar_prev_chain_within_the_scene(index, nusc) -> None:
    for rec in index.records.values():
        chain, sd = [], nusc.get("sample_data", nusc.get("sample", rec.token)["data"][LIDAR])
        while sd["prev"]:
            sd = nusc.get("sample_data", sd["prev"])
            chain.append(sd["token"])
        assert [s.token for s in rec.lidar_prev] == chain[: LIDAR_MAX_SWEEPS - 1]
        if not rec.prev:
            assert rec.lidar_prev == []
    assert max(len(r.lidar_prev) for r in index.records.values()) >= 2


def test_two_sweeps_add_the_previous_sweep_in_the_key_ego_frame(index, nusc, tiny_world) -> None:
    """Rows equal the devkit's: the key sweep with lag 0, then the previous key frame's with lag 0.5 s."""
    ds = _dataset(index, tiny_world.val_split, 2)
    i = position(ds, has_prev=True)
    sample = nusc.get("sample", ds.tokens[i])
    key_token = sample["data"][LIDAR]
    got = ds[i]["points"].numpy().astype(np.float64)
    key_rows = _devkit_rows(nusc, key_token, key_token)
    prev_rows = _devkit_rows(nusc, nusc.get("sample_data", key_token)["prev"], key_token)
    expected = np.concatenate([key_rows, prev_rows])
    assert len(prev_rows) > 0 and len(got) == len(expected)
    np.testing.assert_allclose(got[:, :3], expected[:, :3], atol=2e-3)  # positions (float32 rows)
    np.testing.assert_allclose(got[:, 3], expected[:, 3])  # intensity
    np.testing.assert_allclose(got[:, 4], expected[:, 4], atol=1e-6)
    assert np.all(got[: len(key_rows), 4] == 0) and np.allclose(got[len(key_rows) :, 4], 0.5)

    # one sweep is the key sweep alone, and key_sweep() recovers it from the accumulated rows
    key_only = _dataset(index, tiny_world.val_split, 1)[i]["points"].numpy()
    np.testing.assert_array_equal(key_only, key_sweep(got).astype(np.float32))


def test_previous_static_returns_lie_on_the_key_sweep(index, tiny_world) -> None:
    """Physical check: returns of the previous sweep above the ground, off the objects that were
    moving, land on the key sweep's returns; ignoring the ego motion (3 m here) would miss them."""
    from scipy.spatial import cKDTree

    ds = _dataset(index, tiny_world.val_split, 2)
    i = position(ds, has_prev=True)
    rec = index[ds.tokens[i]]
    prev_rec = index[rec.prev]
    points = ds[i]["points"].numpy().astype(np.float64)
    key, prev = points[points[:, 4] == 0], points[points[:, 4] > 0]
    prev2cur = np.linalg.inv(rec.ego2global) @ prev_rec.ego2global
    moving = prev_rec.gt_boxes[np.hypot(prev_rec.gt_boxes[:, 7], prev_rec.gt_boxes[:, 8]) > 0.1]
    in_prev_ego = (prev[:, :3] - prev2cur[:3, 3]) @ prev2cur[:3, :3]
    static = prev[(prev[:, 2] > 0.3) & ~points_in_boxes(in_prev_ego, moving)]
    assert len(moving) > 0 and len(static) > 1000
    tree = cKDTree(key[key[:, 2] > 0.3, :3])
    dist = np.median(tree.query(static[:, :3])[0])
    assert np.linalg.norm(prev2cur[:2, 3]) > 1.0
    dist_no_motion = np.median(tree.query(static[:, :3] - prev2cur[:3, 3])[0])
    assert dist < 0.25 and dist < 0.5 * dist_no_motion


def test_a_moving_actors_previous_returns_lie_where_it_was(index, tiny_world) -> None:
    """Motion is observable: a fast actor's previous-sweep returns lie ``v * lag`` behind its
    key-sweep returns. Its box moved back by the GT velocity times the lag holds about as many
    previous returns as the box holds key returns; the box moved ahead by as much holds few."""
    ds = _dataset(index, tiny_world.val_split, 2)
    counts = np.zeros(3)  # key returns in the box, previous returns behind, previous returns ahead
    for i in range(len(ds)):
        points = ds[i]["points"].numpy().astype(np.float64)
        key, prev = points[points[:, 4] == 0], points[points[:, 4] > 0]
        if len(prev) == 0:
            continue
        boxes = index[ds.tokens[i]].gt_boxes
        lag = prev[0, 4]
        fast = boxes[np.hypot(boxes[:, 7], boxes[:, 8]) * lag > boxes[:, 4]]  # moved more than its length
        step = np.c_[fast[:, 7:9] * lag, np.zeros(len(fast)), np.zeros((len(fast), 6))]
        counts += [
            points_in_boxes(key, fast).sum(),
            points_in_boxes(prev, fast - step).sum(),
            points_in_boxes(prev, fast + step).sum(),
        ]
    key_in, behind, ahead = counts
    assert key_in > 200
    assert 0.4 < behind / key_in < 2.5  # the actor was at another range and aspect 0.5 s earlier
    assert ahead < 0.1 * behind


def test_evaluation_items_of_a_camera_model_hold_the_key_sweep_only(index, tiny_world) -> None:
    """A distillation student's batch carries the teacher's sweeps in training only: the teacher
    does not run at evaluation, and the student's depth maps use the key sweep."""
    i = position(_dataset(index, tiny_world.val_split, 1), has_prev=True)
    train = _dataset(index, tiny_world.val_split, 2, lidar=False, train=True)[i]["points"].numpy()
    evaluation = _dataset(index, tiny_world.val_split, 2, lidar=False)[i]["points"].numpy()
    assert np.any(train[:, 4] > 0) and np.all(evaluation[:, 4] == 0)
    np.testing.assert_array_equal(evaluation, _dataset(index, tiny_world.val_split, 1)[i]["points"].numpy())


def test_first_sample_of_a_scene_has_only_its_key_sweep(index, tiny_world) -> None:
    ds = _dataset(index, tiny_world.val_split, LIDAR_MAX_SWEEPS)
    i = position(ds, has_prev=False)
    points = ds[i]["points"].numpy()
    assert len(points) > 0 and np.all(points[:, 4] == 0)
    np.testing.assert_array_equal(points, _dataset(index, tiny_world.val_split, 1)[i]["points"].numpy())


def test_depth_maps_come_from_the_key_sweep_only(index, tiny_world) -> None:
    """Depth GT (and its foreground flags) are the same with and without the previous sweep, also
    under training augmentation."""
    one = _dataset(index, tiny_world.val_split, 1, with_depth_fg=True, train=True)
    two = _dataset(index, tiny_world.val_split, 2, with_depth_fg=True, train=True)
    i = position(one, has_prev=True)
    a, b = one[i], two[i]
    assert len(b["points"]) > len(a["points"])
    assert torch.equal(a["depth"], b["depth"]) and torch.equal(a["depth_fg"], b["depth_fg"])
    assert float(a["depth"].count_nonzero()) > 0


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2", LIDAR_MAX_SWEEPS + 1])
def test_bad_lidar_sweeps_is_a_user_error(value) -> None:
    with pytest.raises(UserError, match=rf"data\.lidar_sweeps .*got {value!r}"):
        DataConfig.from_dict({"lidar_sweeps": value})


def test_lidar_sweeps_defaults_to_the_key_sweep_only() -> None:
    assert DataConfig().lidar_sweeps == 1
    assert DataConfig.from_dict({"lidar_sweeps": LIDAR_MAX_SWEEPS}).lidar_sweeps == LIDAR_MAX_SWEEPS


def test_teacher_profiles_and_pillar_input_follow_the_sweeps() -> None:
    """centerpoint: 2 sweeps on the synthetic profiles, CenterPoint's 10 on nuScenes; the pillar
    encoder reads the time lag exactly when sweeps are accumulated."""
    assert LIDAR_SWEEPS == {"quick": 2, "full": 2, "large": 2, "nuscenes": 10}
    entry = get_entry("centerpoint")
    for profile, sweeps in LIDAR_SWEEPS.items():
        assert DataConfig.from_dict(entry.config(profile)["data"]).lidar_sweeps == sweeps
    for sweeps, features in ((1, 1), (2, 2), (LIDAR_MAX_SWEEPS, 2)):
        model = entry.build(deep_merge(entry.config("quick"), {"data": {"lidar_sweeps": sweeps}}))
        assert model.lidar_sweeps == sweeps and model.pillars.point_features == features
        assert model.pillars.pfn[0].in_features == 3 + features + N_OFFSET_FEATURES
    # the lag column changes the teacher's BEV exactly when it reads it
    batch = make_batch(1, *INPUT, 16, seed=0)
    lagged = {
        **batch,
        "points": [torch.cat([p[:, :4], torch.full_like(p[:, 4:], 0.5)], dim=1) for p in batch["points"]],
    }
    for sweeps, changes in ((1, False), (2, True)):
        torch.manual_seed(0)
        model = entry.build(deep_merge(entry.config("quick"), {"data": {"lidar_sweeps": sweeps}})).eval()
        with torch.no_grad():
            assert torch.equal(model(batch)["bev_raw"], model(lagged)["bev_raw"]) != changes


def test_distillation_students_carry_the_teachers_sweeps() -> None:
    """Every entry distilling from centerpoint feeds it the sweeps of its profile; a teacher trained
    on another count is refused rather than fed points it never saw."""
    students = [e for e in list_entries() if e.role is Role.DISTILL and e.teacher == "centerpoint"]
    assert {"bevdepth-tig", "bevdepth-radar-imkd"} <= {e.name for e in students}
    for entry in students:
        for profile in LIDAR_SWEEPS:
            base = get_entry(entry.base).config(profile)["data"]
            assert entry.config(profile)["data"] == {**base, **centerpoint.student_data(profile)}
    cfg = get_entry("bevdet-dense").config("quick")
    teacher_entry = get_entry("centerpoint")
    get_entry("bevdet-dense").build(cfg).set_teacher(teacher_entry.build(teacher_entry.config("quick")))
    one_sweep = deep_merge(teacher_entry.config("quick"), {"data": {"lidar_sweeps": 1}})
    with pytest.raises(UserError, match=r"trained on 1 LiDAR sweeps .*data\.lidar_sweeps=2"):
        get_entry("bevdet-dense").build(cfg).set_teacher(teacher_entry.build(one_sweep))


def test_tig_inner_depth_ignores_previous_sweeps() -> None:
    """Object-id maps (TiGDistill-BEV's inner-depth foreground) see the key sweep only: adding
    previous-sweep points, even inside the boxes, changes nothing."""
    batch = make_batch(2, *INPUT, 16, seed=3)
    base = tigdistill.object_id_maps(batch, 16, (0.1, float("inf")))
    assert int(base.count_nonzero()) > 0
    shifted = []
    for points in batch["points"]:
        old = points.clone()
        old[:, 0] += 2.0  # a moving scene half a second earlier
        old[:, 4] = 0.5
        shifted.append(torch.cat([points, old]))
    assert torch.equal(tigdistill.object_id_maps({**batch, "points": shifted}, 16, (0.1, float("inf"))), base)
