"""Consistency of the synthetic world: links, timing, motion, radar velocities, image/LiDAR agreement, determinism."""

from __future__ import annotations

import filecmp

import cv2
import numpy as np
import pytest
from nuscenes.utils.data_classes import LidarPointCloud, RadarPointCloud
from nuscenes.utils.geometry_utils import points_in_box, transform_matrix, view_points
from pyquaternion import Quaternion

from robobench.constants import CAMERAS, LIDAR, RADARS
from robobench.data.nusc import open_nuscenes, split_scenes
from robobench.data.synth import PRESETS, TABLES, generate
from robobench.data.synth_render import RealisticRenderer, SceneRenderer, make_ground, make_realistic_ground
from robobench.data.synth_sensors import make_rig
from robobench.data.synth_world import build_scene


@pytest.fixture(scope="module")
def nusc(tiny_world):
    return open_nuscenes(tiny_world.dataroot, tiny_world.version)


def _pose(rec: dict) -> np.ndarray:
    return transform_matrix(rec["translation"], Quaternion(rec["rotation"]))


def _sensor2global(nusc, sd_token: str) -> np.ndarray:
    sd = nusc.get("sample_data", sd_token)
    return _pose(nusc.get("ego_pose", sd["ego_pose_token"])) @ _pose(
        nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
    )


def test_sample_chain_and_2hz_timestamps(nusc):
    for scene in nusc.scene:
        tokens, token = [], scene["first_sample_token"]
        while token:
            tokens.append(token)
            sample = nusc.get("sample", token)
            assert sample["scene_token"] == scene["token"]
            if sample["prev"]:
                assert nusc.get("sample", sample["prev"])["next"] == token
            token = sample["next"]
        assert len(tokens) == scene["nbr_samples"] and tokens[-1] == scene["last_sample_token"]
        stamps = np.array([nusc.get("sample", t)["timestamp"] for t in tokens])
        assert np.all(np.diff(stamps) == 500_000)
        for ch in (*CAMERAS, LIDAR, *RADARS):
            sds = [nusc.get("sample_data", nusc.get("sample", t)["data"][ch]) for t in tokens]
            assert all(a["next"] == b["token"] and b["prev"] == a["token"] for a, b in zip(sds[:-1], sds[1:]))
            assert sds[0]["prev"] == "" and sds[-1]["next"] == ""
            lag = np.array([sd["timestamp"] for sd in sds]) - stamps
            assert np.all(lag == lag[0]) and abs(lag[0]) <= 50_000  # sensors fire within 50 ms of the LiDAR
            assert all(nusc.get("ego_pose", sd["ego_pose_token"])["timestamp"] == sd["timestamp"] for sd in sds)
        assert all(
            nusc.get("sample_data", nusc.get("sample", t)["data"][LIDAR])["timestamp"]
            == nusc.get("sample", t)["timestamp"]
            for t in tokens
        )


def test_instances_and_annotation_links(nusc):
    for inst in nusc.instance:
        chain, token = [], inst["first_annotation_token"]
        while token:
            ann = nusc.get("sample_annotation", token)
            assert ann["instance_token"] == inst["token"]
            chain.append(ann)
            token = ann["next"]
        assert len(chain) == inst["nbr_annotations"] >= 2
        assert chain[-1]["token"] == inst["last_annotation_token"]
        for a, b in zip(chain[:-1], chain[1:]):
            assert b["prev"] == a["token"]
            assert nusc.get("sample", a["sample_token"])["next"] == b["sample_token"]  # consecutive key frames


def test_velocity_matches_displacement_and_attributes(nusc):
    """Devkit velocities (centred difference of positions) agree with attributes; motion is constant-velocity."""
    attr = {a["token"]: a["name"] for a in nusc.attribute}
    seen = set()
    for ann in nusc.sample_annotation:
        if not (ann["prev"] and ann["next"]):
            continue
        prev, nxt = nusc.get("sample_annotation", ann["prev"]), nusc.get("sample_annotation", ann["next"])
        dt = (
            nusc.get("sample", nxt["sample_token"])["timestamp"] - nusc.get("sample", prev["sample_token"])["timestamp"]
        ) / 1e6
        v_expected = (np.array(nxt["translation"]) - np.array(prev["translation"])) / dt
        v = nusc.box_velocity(ann["token"])
        np.testing.assert_allclose(v, v_expected, atol=1e-9)
        # Constant velocity: the forward difference equals the centred one.
        v_fwd = (np.array(nxt["translation"]) - np.array(ann["translation"])) / (dt / 2)
        np.testing.assert_allclose(v_fwd, v, atol=1e-6)
        speed = np.linalg.norm(v[:2])
        name = attr[ann["attribute_tokens"][0]] if ann["attribute_tokens"] else ""
        seen.add(name)
        if name in ("vehicle.moving", "pedestrian.moving"):
            assert speed > 0.5, (name, speed)
        elif name in ("vehicle.parked", "vehicle.stopped", "pedestrian.standing", "cycle.without_rider", ""):
            assert speed == 0.0, (name, speed)
        if name == "pedestrian.moving":
            assert speed < 2.0
        # Heading follows the motion for moving objects.
        if speed > 0.5:
            yaw = Quaternion(ann["rotation"]).yaw_pitch_roll[0]
            assert abs(np.cos(yaw) * v[0] + np.sin(yaw) * v[1] - speed) < 1e-6
    assert {"vehicle.moving", "vehicle.parked", "pedestrian.moving", "cycle.with_rider"} <= seen


def test_radar_velocity_is_radial_box_velocity(nusc):
    """Compensated radar velocities equal the radial component of the velocity of the box they fall in."""
    checked = 0
    for sample in nusc.sample:
        anns = [a for a in sample["anns"] if nusc.get("sample_annotation", a)["num_radar_pts"] > 0]
        for ch in RADARS:
            sd_token = sample["data"][ch]
            pc = RadarPointCloud.from_file(nusc.get_sample_data_path(sd_token))
            if pc.nbr_points() == 0:
                continue
            to_global = _sensor2global(nusc, sd_token)
            xyz = to_global[:3, :3] @ pc.points[:3] + to_global[:3, 3:4]
            v_comp = to_global[:2, :2] @ pc.points[8:10]
            sensor_xy = to_global[:2, 3]
            for a in anns:
                inside = points_in_box(nusc.get_box(a), xyz)
                if (
                    not inside.any()
                    or not nusc.get("sample_annotation", a)["prev"]
                    or not nusc.get("sample_annotation", a)["next"]
                ):
                    continue
                v_box = nusc.box_velocity(a)[:2]
                for i in np.flatnonzero(inside):
                    u = xyz[:2, i] - sensor_xy
                    u /= np.linalg.norm(u)
                    # Noise of 5 cm on the point position tilts the direction slightly.
                    assert np.linalg.norm(v_comp[:, i] - (v_box @ u) * u) < 0.05 * np.linalg.norm(v_box) + 1e-3
                    checked += 1
    assert checked > 20


@pytest.mark.parametrize("render", ["flat", "realistic"])
def test_lidar_points_land_on_their_object_in_the_images(render, request):
    """Re-render a view with an owner map: the written JPEG is that render, and each box's LiDAR returns,
    projected with the devkit's calibration of the camera, fall on pixels drawn for that object
    (for both renderers: GT boxes project onto the rendered objects)."""
    world = request.getfixturevalue("tiny_world" if render == "flat" else "realistic_world")
    nusc = open_nuscenes(world.dataroot, world.version)
    preset = PRESETS["tiny"]
    scene_rec = next(s for s in nusc.scene if s["name"] == split_scenes(nusc, world.val_split)[0])
    index = int(scene_rec["name"].split("-")[1]) - 1
    scene = build_scene(index, scene_rec["name"], preset.n_frames, 0, preset.density, realistic=render == "realistic")
    if render == "realistic":
        renderer: SceneRenderer = RealisticRenderer(scene, make_realistic_ground(scene))
    else:
        renderer = SceneRenderer(scene, make_ground(scene))
    rig = make_rig(preset.width, preset.height)
    start = nusc.get("sample", scene_rec["first_sample_token"])["timestamp"]
    sample = nusc.get("sample", nusc.get("sample", scene_rec["first_sample_token"])["next"])
    t_sample = (sample["timestamp"] - start) / 1e6
    owner_of = {tuple(np.round(a.center(t_sample)[:2], 3)): i for i, a in enumerate(scene.actors)}
    lidar_sd = sample["data"][LIDAR]
    pc = LidarPointCloud.from_file(nusc.get_sample_data_path(lidar_sd))
    pc.transform(_sensor2global(nusc, lidar_sd))
    hits = total = 0
    for ch in CAMERAS:
        sd_token = sample["data"][ch]
        sd = nusc.get("sample_data", sd_token)
        cam2global = _sensor2global(nusc, sd_token)
        img, ids = renderer.render(rig[ch], cam2global, scene.cuboids((sd["timestamp"] - start) / 1e6), with_ids=True)
        jpeg = cv2.cvtColor(cv2.imread(nusc.get_sample_data_path(sd_token)), cv2.COLOR_BGR2RGB).astype(float)
        assert np.abs(jpeg - renderer.finish(img, 0)).mean() < 8.0  # the same render, other sensor noise
        k = np.array(nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])["camera_intrinsic"])
        g2c = np.linalg.inv(cam2global)
        for ann_token in sample["anns"]:
            ann = nusc.get("sample_annotation", ann_token)
            actor = owner_of[tuple(np.round(ann["translation"][:2], 3))]
            inside = points_in_box(nusc.get_box(ann_token), pc.points[:3])
            pts = g2c[:3, :3] @ pc.points[:3, inside] + g2c[:3, 3:4]
            pts = pts[:, pts[2] > 0.5]
            uv = np.floor(view_points(pts, k, normalize=True)[:2]).astype(int)
            ok = (uv[0] >= 0) & (uv[0] < sd["width"]) & (uv[1] >= 0) & (uv[1] < sd["height"])
            if ok.sum() == 0:
                continue
            hits += int((ids[uv[1, ok], uv[0, ok]] == actor).sum())
            total += int(ok.sum())
    assert total > 200
    # 97 % measured; the rest is motion between the LiDAR and camera times, and edges.
    assert hits / total >= 0.93, (hits, total)


def test_scene_layout_depends_on_seed():
    a, b = build_scene(0, "s", 10, seed=0), build_scene(0, "s", 10, seed=1)
    assert not np.allclose(a.origin, b.origin)
    c = build_scene(0, "s", 10, seed=0)
    assert np.array_equal(a.origin, c.origin) and len(a.actors) == len(c.actors)


@pytest.mark.slow
def test_same_seed_same_files(tiny_world, tmp_path):
    """Generating again with the same preset and seed gives byte-identical tables and sensor files,
    also when scenes are generated in parallel processes."""
    other = generate(tmp_path / "again", preset="tiny", seed=0, workers=2)
    version = tiny_world.version
    for table in (*TABLES, "splits"):
        assert filecmp.cmp(
            tiny_world.dataroot / version / f"{table}.json", other / version / f"{table}.json", shallow=False
        ), table
    files = sorted(
        p.relative_to(tiny_world.dataroot) for p in (tiny_world.dataroot / "samples").rglob("*") if p.is_file()
    )
    assert files == sorted(p.relative_to(other) for p in (other / "samples").rglob("*") if p.is_file())
    for rel in files[:: max(1, len(files) // 40)]:
        assert filecmp.cmp(tiny_world.dataroot / rel, other / rel, shallow=False), rel


def _footprints_overlap(c1, yaw1, half1, c2, yaw2, half2) -> bool:
    """Separating-axis test of two oriented rectangles (centre, yaw, half extents along heading/across)."""
    axes1 = np.array([[np.cos(yaw1), np.sin(yaw1)], [-np.sin(yaw1), np.cos(yaw1)]])
    axes2 = np.array([[np.cos(yaw2), np.sin(yaw2)], [-np.sin(yaw2), np.cos(yaw2)]])
    d = np.asarray(c2) - np.asarray(c1)
    return all(
        abs(d @ ax) < np.abs(axes1 @ ax) @ half1 + np.abs(axes2 @ ax) @ half2 for ax in np.vstack([axes1, axes2])
    )


@pytest.mark.parametrize("realistic", [False, True])
def test_objects_never_intersect(realistic):
    """Annotated boxes do not intersect each other or the clutter at any time (so every LiDAR
    return belongs to at most one box)."""
    for index in range(4):
        scene = build_scene(index, "s", 40, seed=3, density=1.0, realistic=realistic)
        clutter = scene.clutter
        for t in (0.0, 6.5, 13.0, 19.5):
            centers = np.array([a.center(t) for a in scene.actors])
            for i, a in enumerate(scene.actors):
                half_a = np.array([a.wlh[1], a.wlh[0]]) / 2
                for j in np.flatnonzero(np.linalg.norm(centers[:, :2] - centers[i, :2], axis=1) < 16):
                    b = scene.actors[j]
                    if j > i:
                        assert not _footprints_overlap(
                            centers[i, :2], a.yaw, half_a, centers[j, :2], b.yaw, np.array([b.wlh[1], b.wlh[0]]) / 2
                        ), (a.cls, b.cls)
                low, high = centers[i, 2] - a.wlh[2] / 2, centers[i, 2] + a.wlh[2] / 2
                for k in np.flatnonzero(np.linalg.norm(clutter.center[:, :2] - centers[i, :2], axis=1) < 40):
                    if (
                        clutter.center[k, 2] - clutter.half[k, 2] > high
                        or clutter.center[k, 2] + clutter.half[k, 2] < low
                    ):
                        continue
                    assert not _footprints_overlap(
                        centers[i, :2], a.yaw, half_a, clutter.center[k, :2], clutter.yaw[k], clutter.half[k, :2]
                    ), (a.cls, "clutter")


def test_windowed_lidar_cast_matches_brute_force():
    """The LiDAR's per-cuboid azimuth windows find the same first hits as testing every ray
    against every cuboid (``raycast``), up to the simulated range noise."""
    from robobench.data.synth_sensors import LIDAR_RANGE, lidar_scan, raycast

    scene = build_scene(1, "s", 10, seed=0)
    cub = scene.cuboids(2.0)
    origin = np.array([*scene.ego_pose(2.0)[0][:2], 1.84])
    yaw = scene.heading - np.pi / 2
    scan = lidar_scan(
        origin, yaw, cub, len(scene.actors), 360, np.random.default_rng(0), lambda xy: np.full(len(xy), 9.0)
    )
    local = scan.points[:, :3].astype(np.float64)
    r = np.linalg.norm(local, axis=1)
    c, s = np.cos(yaw), np.sin(yaw)
    dirs = (
        np.column_stack([c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1], local[:, 2]])
        / r[:, None]
    )
    t_ref, idx_ref = raycast(origin, dirs, cub, LIDAR_RANGE)
    assert len(r) > 5000 and np.all(idx_ref > -2)
    np.testing.assert_allclose(r, t_ref, atol=0.021)
