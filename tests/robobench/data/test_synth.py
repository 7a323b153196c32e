"""The tiny synthetic world read back through the official devkit."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections import Counter

import numpy as np
import pytest
from nuscenes import NuScenes
from nuscenes.eval.detection.config import config_factory
from nuscenes.eval.detection.evaluate import DetectionEval
from nuscenes.eval.detection.utils import category_to_detection_name
from nuscenes.utils.data_classes import LidarPointCloud, RadarPointCloud
from nuscenes.utils.geometry_utils import points_in_box
from pyquaternion import Quaternion

from robobench.constants import CAMERAS, DETECTION_CLASSES, LIDAR, RADARS
from robobench.data.nusc import open_nuscenes, split_sample_tokens
from tests.helpers.results_files import perfect_results


@pytest.fixture(scope="module")
def nusc(tiny_world):
    return open_nuscenes(tiny_world.dataroot, tiny_world.version)


def _to_global(nusc: NuScenes, sd_token: str, pc):
    sd = nusc.get("sample_data", sd_token)
    cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
    pose = nusc.get("ego_pose", sd["ego_pose_token"])
    pc.rotate(Quaternion(cs["rotation"]).rotation_matrix)
    pc.translate(np.array(cs["translation"]))
    pc.rotate(Quaternion(pose["rotation"]).rotation_matrix)
    pc.translate(np.array(pose["translation"]))
    return pc


def test_loads_with_devkit_without_warnings(tiny_world):
    out = io.StringIO()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        warnings.simplefilter("always")
        nusc = NuScenes(version=tiny_world.version, dataroot=str(tiny_world.dataroot), verbose=False)
    assert not [w for w in caught if "pkg_resources" not in str(w.message)]
    assert out.getvalue() == ""
    assert len(nusc.scene) == 4 and len(nusc.sample) == 4 * 6
    for sample in nusc.sample:
        assert set(sample["data"]) == {*CAMERAS, LIDAR, *RADARS}
    for sd in nusc.sample_data:
        assert (tiny_world.dataroot / sd["filename"]).is_file()


def test_all_classes_and_attributes_present(nusc, tiny_world):
    val = set(split_sample_tokens(nusc, tiny_world.val_split))
    names = Counter(
        category_to_detection_name(a["category_name"])
        for a in nusc.sample_annotation
        if a["sample_token"] in val and a["num_lidar_pts"] + a["num_radar_pts"] > 0
    )
    assert set(names) == set(DETECTION_CLASSES)
    attrs = {nusc.get("attribute", t)["name"] for a in nusc.sample_annotation for t in a["attribute_tokens"]}
    assert {"vehicle.moving", "vehicle.parked", "pedestrian.moving", "cycle.with_rider", "cycle.without_rider"} <= attrs


def test_gt_as_predictions_scores_perfectly(nusc, tiny_world, tmp_path):
    """The devkit's own DetectionEval on the custom val split: GT boxes as results give mAP = NDS = 1."""
    results = perfect_results(nusc, split_sample_tokens(nusc, tiny_world.val_split))["results"]
    path = tmp_path / "results.json"
    path.write_text(
        json.dumps(
            {
                "meta": {
                    "use_camera": True,
                    "use_lidar": False,
                    "use_radar": False,
                    "use_map": False,
                    "use_external": False,
                },
                "results": results,
            }
        )
    )
    with contextlib.redirect_stdout(io.StringIO()):
        ev = DetectionEval(
            nusc,
            config_factory("detection_cvpr_2019"),
            str(path),
            eval_set=tiny_world.val_split,
            output_dir=str(tmp_path),
            verbose=False,
        )
        metrics, _ = ev.evaluate()
    assert metrics.mean_ap == pytest.approx(1.0)
    assert metrics.nd_score == pytest.approx(1.0)


def test_num_lidar_pts_matches_points_in_box(nusc):
    """num_lidar_pts equals the devkit's points_in_box count on the written LiDAR file for >= 99 % of boxes."""
    agree = total = nonzero = 0
    for sample in nusc.sample:
        sd_token = sample["data"][LIDAR]
        pc = _to_global(nusc, sd_token, LidarPointCloud.from_file(nusc.get_sample_data_path(sd_token)))
        for ann_token in sample["anns"]:
            ann = nusc.get("sample_annotation", ann_token)
            n = int(points_in_box(nusc.get_box(ann_token), pc.points[:3]).sum())
            agree += n == ann["num_lidar_pts"]
            total += 1
            nonzero += n > 0
    assert total > 500
    assert agree / total >= 0.99
    assert nonzero / total > 0.6  # most annotated objects are actually hit by the LiDAR


def test_num_radar_pts_matches_points_in_box(nusc):
    """Radar files load with the devkit's default filters; counts agree with points_in_box."""
    agree = total = 0
    n_points = 0
    for sample in nusc.sample:
        pcs = []
        for ch in RADARS:
            sd_token = sample["data"][ch]
            pc = RadarPointCloud.from_file(nusc.get_sample_data_path(sd_token))
            n_points += pc.nbr_points()
            pcs.append(_to_global(nusc, sd_token, pc).points[:3])
        pts = np.concatenate(pcs, axis=1)
        for ann_token in sample["anns"]:
            ann = nusc.get("sample_annotation", ann_token)
            agree += int(points_in_box(nusc.get_box(ann_token), pts).sum()) == ann["num_radar_pts"]
            total += 1
    assert n_points > 10 * len(nusc.sample)
    assert agree / total >= 0.99


def test_more_validation_scenes_keep_every_earlier_scene_the_same_bytes(tiny_world, tmp_path):
    """``val_scenes`` appends validation scenes: training and earlier validation scenes are unchanged, so a
    model trained on the preset's world is evaluated on a larger split of the same world."""
    from robobench.data.synth import MARKER, generate
    from robobench.errors import UserError

    root = generate(tmp_path / "more_val", preset="tiny", seed=0, val_scenes=3)
    splits = json.loads((root / "v1.0-synth" / "splits.json").read_text())
    base = json.loads((tiny_world.dataroot / "v1.0-synth" / "splits.json").read_text())
    assert splits["synth_train"] == base["synth_train"]
    assert splits["synth_val"][:2] == base["synth_val"] and len(splits["synth_val"]) == 3
    assert splits["synth_val_mini"] == base["synth_val_mini"]
    assert json.loads((root / MARKER).read_text())["val_scenes"] == 3
    old = {p.relative_to(tiny_world.dataroot): p.read_bytes() for p in (tiny_world.dataroot / "samples").rglob("*.*")}
    new = {p.relative_to(root): p for p in (root / "samples").rglob("*.*")}
    assert old and all(new[rel].read_bytes() == data for rel, data in old.items())
    assert len(new) > len(old)  # the third validation scene's files
    with pytest.raises(UserError, match="val_scenes=0"):
        generate(tmp_path / "none", preset="tiny", val_scenes=0)
