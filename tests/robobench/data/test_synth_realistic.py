"""The realistic synthetic world (generator 4): devkit loading, lighting words, determinism, image
statistics, nuScenes camera geometry; and the flat world (generator 2) staying byte-identical."""

from __future__ import annotations

import contextlib
import dataclasses
import filecmp
import hashlib
import io
import json
from collections import Counter

import cv2
import numpy as np
import pytest
from nuscenes import NuScenes
from nuscenes.eval.detection.utils import category_to_detection_name

from benchmarks.synth_render_bench import generate_subset
from robobench.constants import CAMERAS, DETECTION_CLASSES, LIDAR, RADARS
from robobench.data.nusc import split_sample_tokens
from robobench.data.synth import MARKER, PRESETS, TABLES, _scene_tables, generate, world_stamp
from robobench.data.synth_sensors import FULL_H, FULL_W
from robobench.data import synth_world
from robobench.data.synth_render import RealisticRenderer, make_realistic_ground
from robobench.data.synth_world import build_scene
from robobench.errors import UserError

#: sha256 over every file of the flat tiny world (seed 0) but its stamp, as generator 2 wrote it
#: before the realistic renderer existed: the reference results belong to that world.
FLAT_TINY_SHA256 = "5060f1ae0923f7903ce6188cd2c13a9debede5c1f5d6c1bdbd2dd24ce55b9c7a"

#: Real nuScenes camera views at 704x396, grey (issue 29's reference): mean Sobel gradient, fraction
#: of pixels with gradient > 50, variance of the Laplacian, colourfulness (Hasler-Suesstrunk).
NUSCENES_STATS = np.array([46.5, 0.27, 253.0, 12.6])


def test_flat_world_is_byte_identical(tiny_world):
    """The default renderer still writes the same bytes as before generator 3 existed."""
    digest = hashlib.sha256()
    for path in sorted(tiny_world.dataroot.rglob("*")):
        if path.is_file() and path.name != MARKER:
            digest.update(str(path.relative_to(tiny_world.dataroot)).encode())
            digest.update(path.read_bytes())
    assert digest.hexdigest() == FLAT_TINY_SHA256
    assert world_stamp(tiny_world.dataroot) == {"generator_version": 2, "preset": "tiny", "seed": 0, "lidar_sweeps": 0}


def test_realistic_world_loads_with_devkit(realistic_world):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        nusc = NuScenes(version=realistic_world.version, dataroot=str(realistic_world.dataroot), verbose=False)
    assert out.getvalue() == ""
    assert len(nusc.scene) == 4 and len(nusc.sample) == 4 * 6
    for sd in nusc.sample_data:
        assert (realistic_world.dataroot / sd["filename"]).is_file()
    val = set(split_sample_tokens(nusc, realistic_world.val_split))
    names = {
        category_to_detection_name(a["category_name"])
        for a in nusc.sample_annotation
        if a["sample_token"] in val and a["num_lidar_pts"] + a["num_radar_pts"] > 0
    }
    assert names == set(DETECTION_CLASSES)
    stamp = world_stamp(realistic_world.dataroot)
    assert stamp["generator_version"] == 4 and stamp["render"] == "realistic" and stamp["camera"] == "preset"
    assert all("generator 4" in log["vehicle"] for log in nusc.log)


def test_scene_descriptions_name_night_and_rain(realistic_world):
    """Each scene's description starts with nuScenes' words for its conditions, and over many scenes
    night and rain come about as often as in nuScenes (about 12 % and 19 % of its scenes)."""
    scenes = json.loads((realistic_world.dataroot / realistic_world.version / "scene.json").read_text())
    for rec in scenes:
        index = int(rec["name"].split("-")[1]) - 1
        scene = build_scene(index, rec["name"], PRESETS["tiny"].n_frames, 0, PRESETS["tiny"].density, realistic=True)
        assert rec["description"] == scene.description
    built = [build_scene(i, "s", 10, seed=1, realistic=True) for i in range(120)]
    for scene in built:
        words = scene.description.split(", ")
        assert ("Night" in words) == (scene.look.condition == "night") and ("Rain" in words) == scene.look.rain
    looks = [scene.look for scene in built]
    counts = Counter(look.condition for look in looks)
    assert 0.04 <= counts["night"] / len(looks) <= 0.22
    assert 0.08 <= sum(look.rain for look in looks) / len(looks) <= 0.32
    assert {"day", "overcast", "dusk", "night"} <= set(counts)
    assert "Night" not in build_scene(0, "s", 10, seed=1).description  # the flat world has no conditions


def test_atmosphere_ranges_and_skew():
    """Haze distance 80-1000 m (halved in rain), glare within its condition's cap and mostly small."""
    looks = [build_scene(i, "s", 10, seed=2, realistic=True).look for i in range(200)]
    caps = {"day": 1.0, "dusk": 1.0, "overcast": 0.5, "night": 0.3}
    for look in looks:
        lo, hi = (40.0, 500.0) if look.rain else (80.0, 1000.0)
        assert lo <= look.haze_dist <= hi and 0.0 <= look.glare <= caps[look.condition]
    day = [look.glare for look in looks if look.condition == "day"]
    assert np.median(day) < 0.35 and max(day) > 0.6  # the square of a uniform draw: median 0.25
    hazes = [look.haze_dist for look in looks if not look.rain]
    assert min(hazes) < 120 and max(hazes) > 700


def test_atmosphere_has_its_own_random_stream(monkeypatch):
    """However many numbers the atmosphere draws, a scene's layout and other conditions stay the same."""
    before = build_scene(3, "s", 10, seed=0, realistic=True)

    def greedy(rng, cond, rain):
        rng.random(1000)
        return 123.0, 0.5

    monkeypatch.setattr(synth_world, "_atmosphere", greedy)
    after = build_scene(3, "s", 10, seed=0, realistic=True)
    assert (after.look.haze_dist, after.look.glare) == (123.0, 0.5)
    assert np.array_equal(after.clutter.center, before.clutter.center) and after.description == before.description
    assert [a.cls for a in after.actors] == [a.cls for a in before.actors]
    same, other = dataclasses.asdict(after.look), dataclasses.asdict(before.look)
    assert all(np.array_equal(same[k], other[k]) for k in same if k not in ("haze_dist", "glare"))


def test_veiling_glare_is_a_uniform_veil_strongest_towards_the_sun():
    """The veil adds the view's mean colour times the glare: all of it facing the sun, 30 % facing away."""
    scene = next(
        s for i in range(50) if (s := build_scene(i, "s", 2, seed=0, realistic=True)).look.condition == "day"
    )
    scene.look.glare = 0.8
    renderer = RealisticRenderer(scene, make_realistic_ground(scene))
    img = np.random.default_rng(0).uniform(0, 2, (30, 40, 3)).astype(np.float32)
    sun = scene.lighting.sun[:2] / np.linalg.norm(scene.lighting.sun[:2])
    for direction, share in ((sun, 1.0), (-sun, 0.3)):
        pose = np.eye(4)
        pose[:2, 2] = direction  # the camera's optical axis (its z) in the global frame
        veil = renderer._veiling_glare(img, pose) - img
        assert np.allclose(veil, 0.8 * share * img.reshape(-1, 3).mean(axis=0), rtol=1e-5)


def _statistics(path) -> np.ndarray:
    """Mean Sobel gradient, fraction above 50, Laplacian variance, colourfulness of one view at 704x396."""
    rgb = cv2.cvtColor(cv2.resize(cv2.imread(str(path)), (704, 396), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mag = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    r, gr, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - gr, 0.5 * (r + gr) - b
    colour = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    return np.array([mag.mean(), (mag > 50).mean(), cv2.Laplacian(g, cv2.CV_32F).var(), colour])


def test_realistic_images_are_closer_to_nuscenes_than_flat(tmp_path):
    """On every statistic the realistic views are nearer real nuScenes' than the flat views (log ratio),
    on the first key frame of three layouts of the ``default`` preset: at its 704x396, the size the
    statistics are defined at (the ``tiny`` preset's 352-pixel views would be measured upsampled)."""

    def distance(render: str) -> np.ndarray:
        generate_subset(tmp_path / render, scenes=3, frames=1, render=render, camera="preset")
        paths = sorted((tmp_path / render / "samples").glob("CAM_*/*.jpg"))
        return np.abs(np.log(np.mean([_statistics(p) for p in paths], axis=0) / NUSCENES_STATS))

    flat, realistic = distance("flat"), distance("realistic")
    assert (realistic < flat).all(), (flat, realistic)


@pytest.mark.slow
def test_realistic_same_seed_same_bytes(realistic_world, tmp_path):
    """The realistic world is deterministic from the seed: every file again byte for byte (two workers)."""
    other = generate(tmp_path / "again", preset="tiny", seed=0, workers=2, render="realistic")
    version = realistic_world.version
    for table in (*TABLES, "splits"):
        assert filecmp.cmp(
            realistic_world.dataroot / version / f"{table}.json", other / version / f"{table}.json", shallow=False
        ), table
    files = sorted(p.relative_to(other) for p in (other / "samples").rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(realistic_world.dataroot)
        for p in (realistic_world.dataroot / "samples").rglob("*")
        if p.is_file()
    )
    for rel in files:
        assert filecmp.cmp(realistic_world.dataroot / rel, other / rel, shallow=False), rel


def test_nuscenes_camera_geometry(tmp_path):
    """``camera="nuscenes"`` writes 1600x900 views with nuScenes-like intrinsics (front focal 1266 px)."""
    for ch in (*CAMERAS, LIDAR, *RADARS):
        (tmp_path / "samples" / ch).mkdir(parents=True)
    cfg = dataclasses.replace(PRESETS["tiny"], n_frames=1)
    tables = _scene_tables((0, "scene-0001", 0, cfg, str(tmp_path), 0, "realistic", "nuscenes"))
    cams = [sd for sd in tables["sample_data"] if sd["fileformat"] == "jpg"]
    assert len(cams) == 6 and all((sd["width"], sd["height"]) == (FULL_W, FULL_H) for sd in cams)
    assert all(cv2.imread(str(tmp_path / sd["filename"])).shape == (FULL_H, FULL_W, 3) for sd in cams)
    front = next(
        cs
        for cs in tables["calibrated_sensor"]
        if cs["camera_intrinsic"] and cs["token"] == cams[0]["calibrated_sensor_token"]
    )
    k = np.array(front["camera_intrinsic"])
    assert 800 <= k[0, 0] <= 1300 and abs(k[0, 2] - 808) < 1 and abs(k[1, 2] - 490) < 1


@pytest.mark.parametrize("kwargs", [{"render": "photo"}, {"camera": "fisheye"}])
def test_unknown_render_or_camera_is_a_user_error(tmp_path, kwargs):
    with pytest.raises(UserError, match="choose one of"):
        generate(tmp_path / "w", preset="tiny", **kwargs)
    assert not (tmp_path / "w").exists()
