"""The sample index: GT and camera frames agree with the devkit's own transforms; the cache is reused
while the tables are unchanged and rebuilt when they change."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nuscenes.utils.geometry_utils import BoxVisibility

from robobench.constants import CAMERAS, DETECTION_CLASSES, RADARS
from robobench.data.index import load_index
from robobench.errors import UserError


@pytest.fixture(scope="module")
def nusc(tiny_world):
    from robobench.data.nusc import open_nuscenes

    return open_nuscenes(tiny_world.dataroot, tiny_world.version)


@pytest.fixture(scope="module")
def index(tiny_world, nusc, tmp_path_factory):
    return load_index(tiny_world.dataroot, tiny_world.version, cache_dir=tmp_path_factory.mktemp("cache"), nusc=nusc)


def test_records_cover_every_sample_with_all_sensors(index, nusc) -> None:
    assert set(index.records) == {s["token"] for s in nusc.sample}
    rec = next(iter(index.records.values()))
    assert set(rec.cams) == set(CAMERAS) and set(rec.radars) == set(RADARS)
    assert all(c.intrinsic.shape == (3, 3) for c in rec.cams.values())
    assert rec.gt_boxes.shape[1] == 9 and len(rec.gt_boxes) == len(rec.gt_labels) == len(rec.gt_attrs)


def test_gt_boxes_match_the_devkit_in_lidar_and_camera_frames(index, nusc) -> None:
    """GT in the key ego frame, mapped to a sensor with the record's transforms, equals the devkit's
    ``get_sample_data`` boxes (which go global -> ego at the sensor's own timestamp -> sensor)."""
    from nuscenes.eval.detection.utils import category_to_detection_name

    checked = 0
    for rec in list(index.records.values())[::5]:
        for sensor in (rec.lidar, rec.cams["CAM_FRONT"], rec.cams["CAM_BACK_LEFT"]):
            _, dk_boxes, _ = nusc.get_sample_data(sensor.token, box_vis_level=BoxVisibility.NONE)
            dk = {b.token: b for b in dk_boxes}
            ego2sensor = np.linalg.inv(sensor.sensor2ego)
            for box, label, token in zip(rec.gt_boxes, rec.gt_labels, rec.ann_tokens):
                ref = dk[token]
                assert category_to_detection_name(ref.name) == DETECTION_CLASSES[label]
                assert np.allclose(ego2sensor[:3, :3] @ box[:3] + ego2sensor[:3, 3], ref.center, atol=1e-6)
                assert np.allclose(box[3:6], ref.wlh)
                # the box's heading axis, carried into the sensor frame, is the devkit's
                heading = ego2sensor[:3, :3] @ np.array([np.cos(box[6]), np.sin(box[6]), 0.0])
                assert np.allclose(heading, ref.orientation.rotation_matrix[:, 0], atol=1e-6)
                checked += 1
    assert checked > 20
    n_det = sum(category_to_detection_name(a["category_name"]) is not None for a in nusc.sample_annotation)
    assert sum(len(r.gt_labels) for r in index.records.values()) == n_det


def test_velocities_are_the_devkit_velocities_in_the_ego_frame(index, nusc) -> None:
    rec = max(index.records.values(), key=lambda r: np.abs(r.gt_boxes[:, 7:9]).sum())
    rot = rec.ego2global[:3, :3]
    moving = 0
    for box, token in zip(rec.gt_boxes, rec.ann_tokens):
        v_global = np.nan_to_num(nusc.box_velocity(token))  # devkit: global frame, nan when unknown
        assert np.allclose(box[7:9], (rot.T @ v_global)[:2], atol=1e-9)
        moving += np.linalg.norm(v_global[:2]) > 0.5
    assert moving > 0


def test_cache_is_reused_and_invalidated_when_tables_change(tiny_world, tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "root"
    shutil.copytree(tiny_world.dataroot / tiny_world.version, root / tiny_world.version)
    cache = tmp_path / "cache"
    first = load_index(root, tiny_world.version, cache_dir=cache)
    assert len(list(cache.glob("index-*.npz"))) == 1

    def no_devkit(*args, **kwargs):
        raise AssertionError("the devkit was opened although the cache is valid")

    import robobench.data.nusc as nusc_mod

    monkeypatch.setattr(nusc_mod, "open_nuscenes", no_devkit)
    again = load_index(root, tiny_world.version, cache_dir=cache)
    assert again.records.keys() == first.records.keys()
    token = next(iter(first.records))
    assert np.array_equal(again[token].gt_boxes, first[token].gt_boxes)

    table = root / tiny_world.version / "sample_annotation.json"
    stat = table.stat()
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    with pytest.raises(AssertionError, match="devkit was opened"):
        load_index(root, tiny_world.version, cache_dir=cache)
    monkeypatch.undo()
    load_index(root, tiny_world.version, cache_dir=cache)
    assert len(list(cache.glob("index-*.npz"))) == 1  # the stale cache was replaced


def test_missing_dataroot_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="robobench data synth"):
        load_index(tmp_path / "nowhere", "v1.0-synth")


def _same_record(a, b) -> bool:
    """Field-by-field equality of two records (arrays exactly, sensors recursively)."""
    import dataclasses

    def same(x, y) -> bool:
        if dataclasses.is_dataclass(x):
            return type(x) is type(y) and all(
                same(getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x)
            )
        if isinstance(x, np.ndarray):
            return isinstance(y, np.ndarray) and x.dtype == y.dtype and np.array_equal(x, y)
        if isinstance(x, dict):
            return isinstance(y, dict) and list(x) == list(y) and all(same(x[k], y[k]) for k in x)
        if isinstance(x, list):
            return isinstance(y, list) and len(x) == len(y) and all(same(u, v) for u, v in zip(x, y))
        return type(x) is type(y) and x == y

    return same(a, b)


def test_cache_round_trip_is_exact(index, tiny_world, nusc) -> None:
    """Every field of every record (and the splits) reads back from the .npz cache unchanged."""
    tokens = index.split_tokens(tiny_world.val_split)  # adds a split to the cache
    again = load_index(tiny_world.dataroot, tiny_world.version, cache_dir=index.cache_path.parent)
    assert again.splits == {tiny_world.val_split: tokens}
    assert list(again.records) == list(index.records)
    assert all(_same_record(index[t], again[t]) for t in index.records)
    assert any(r.radar_prev and any(r.radar_prev.values()) for r in again.records.values())


class _Payload:
    """Unpickling it creates ``path`` (what a hostile cache file would do, harmlessly)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _crafted_caches(cache: Path, version: str, fingerprint: str, marker: Path, valid: dict) -> list[Path]:
    """A pickle under the old cache name, then contents for the current name, written one at a time:
    arrays (an object array carrying a pickle, indices out of range, a wrong shape) and raw bytes
    (an array header claiming more than memory, a file that is no zip)."""
    import pickle

    legacy = cache / f"index-{version}-{fingerprint}.pkl"
    legacy.write_bytes(pickle.dumps({"format": 3, "version": version, "records": _Payload(marker), "splits": {}}))
    with_object = dict(valid, sensor_path=np.array([_Payload(marker)], dtype=object))
    out_of_range = dict(valid, cams=valid["cams"] + len(valid["sensor_token"]))
    wrong_shape = dict(valid, gt_offsets=valid["gt_offsets"][:-1])
    header = io.BytesIO()  # an array header claiming 8 TB, followed by 16 bytes
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w") as zf:
        zf.writestr("cams.npy", header.getvalue() + b"x" * 16)
    return [legacy, with_object, out_of_range, wrong_shape, bomb.getvalue(), b"not a zip file"]


def test_planted_cache_files_never_run_code_and_are_rebuilt(index, tiny_world, tmp_path: Path) -> None:
    """A pickle (the old format) or a crafted .npz planted in the cache folder runs nothing and is
    not trusted: the index is rebuilt from the tables and equals the one built without them."""
    from robobench.data.index import CACHE_SUFFIX, _encode, table_fingerprint

    fingerprint = table_fingerprint(tiny_world.dataroot, tiny_world.version)
    marker = tmp_path / "payload-ran"
    valid = _encode(tiny_world.version, index.records, {})
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / f"index-{tiny_world.version}-{fingerprint}{CACHE_SUFFIX}"
    for crafted in _crafted_caches(cache, tiny_world.version, fingerprint, marker, valid):
        if isinstance(crafted, dict):
            with open(target, "wb") as fh:
                np.savez(fh, **crafted)
        elif isinstance(crafted, bytes):
            target.write_bytes(crafted)
        got = load_index(tiny_world.dataroot, tiny_world.version, cache_dir=cache)
        assert not marker.exists(), "a file in the cache folder ran code"
        assert list(got.records) == list(index.records)
        assert all(_same_record(index[t], got[t]) for t in index.records)
    assert not (cache / f"index-{tiny_world.version}-{fingerprint}.pkl").exists()  # the old pickle was removed
    with np.load(target, allow_pickle=False) as npz:  # the crafted file was replaced by a valid one
        assert npz["sensor_path"].dtype.kind == "S" and npz["cams"].max() < len(npz["sensor_token"])


def test_the_cache_lives_outside_the_dataset_one_folder_per_dataroot(tmp_path: Path, monkeypatch) -> None:
    """No command writes into a dataset folder (issue 27): the index cache goes to the user cache."""
    from robobench.data.index import CACHE_ENV, default_cache_dir

    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    a, b = tmp_path / "world-a", tmp_path / "world-b"
    assert default_cache_dir(a).parent == tmp_path / "xdg" / "robobench"
    assert default_cache_dir(a) != default_cache_dir(b) and default_cache_dir(a) == default_cache_dir(a)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert default_cache_dir(a).parent == tmp_path / "mine" and not default_cache_dir(a).is_relative_to(a)
