"""Generate the synthetic world as a nuScenes-format dataset (``v1.0-synth``).

``generate(out_dir, preset, seed)`` lays out each scene (:mod:`synth_world`), drives
the ego through it at 2 Hz key frames, renders the six cameras
(:mod:`synth_render`), ray-casts the LiDAR and radars (:mod:`synth_sensors`) and
writes everything the devkit reads: the 13 JSON tables, ``splits.json`` with the
custom splits ``synth_train``/``synth_val`` (and ``synth_val_mini``, the first validation
scene(s) of the preset, for demos), JPEGs, ``.pcd.bin`` and radar ``.pcd``.

Optionally (``lidar_sweeps`` > 0) the LiDAR also writes non-key sweeps between key
frames, as nuScenes' 20 Hz LiDAR does (9 per key-frame interval there): ``sweeps/LIDAR_TOP``
files with ``is_key_frame`` false, their own ego poses, linked into the LiDAR's
``prev``/``next`` chain in time order and tied to the nearest sample, unannotated. The
key frames are the same bytes with or without them (each sweep draws its own noise).

``render="realistic"`` writes the candidate next default world (generator version 4): the same
kind of streets with detailed actors, more street furniture, per-scene lighting conditions named
in ``scene.description`` as nuScenes does (``Night``, ``Rain``), per-scene haze and lens glare,
and photometrically realistic images (:class:`~robobench.data.synth_render.RealisticRenderer`,
JPEG quality 80 as nuScenes').
``camera="nuscenes"`` renders the cameras at nuScenes' 1600x900 instead of the preset's size, so
pixel-sized corruptions act at the scale RoboBEV defines them; the data pipeline resizes to the
network input as BEVDet does. Both are recorded in the world's stamp and in its log table.

Annotation counts (``num_lidar_pts``, ``num_radar_pts``) are computed with the
devkit's own ``points_in_box`` on the points exactly as they are written, after the
same sensor -> ego -> global transforms the devkit applies, so they agree with what
a reader recomputes. Same preset and seed give byte-identical tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from nuscenes.utils.data_classes import Box, LidarPointCloud, RadarPointCloud
from nuscenes.utils.geometry_utils import points_in_box
from pyquaternion import Quaternion

from robobench.constants import ATTRIBUTES, CAMERAS, LIDAR, RADARS
from robobench.data.synth_render import RealisticRenderer, SceneRenderer, make_ground, make_realistic_ground
from robobench.data.synth_sensors import (
    FULL_H,
    FULL_W,
    RADAR_DTYPE,
    lidar_scan,
    make_rig,
    radar_returns,
    rot_z,
    write_radar_pcd,
)
from robobench.data.synth_textures import JPEG_QUALITY
from robobench.data.synth_world import CLASS_SPECS, KEYFRAME_DT, build_scene
from robobench.errors import UserError

VERSION = "v1.0-synth"
TRAIN_SPLIT = "synth_train"
VAL_SPLIT = "synth_val"
#: The first validation scene alone: a fast evaluation split for demos and smoke runs
#: (``make demo`` scores its 25 conditions per model on it).
VAL_MINI_SPLIT = "synth_val_mini"
#: Objects farther than this from the ego (m, in the ground plane) are not annotated.
ANNOTATION_RANGE = 60.0
#: File marking a folder as written by ``generate`` (only such folders are overwritten); once
#: the world is complete it holds the JSON stamp of :func:`world_stamp`.
MARKER = ".robobench-synth"
#: Bumped whenever the generator's output changes (layouts, parts, sensors), so that a world
#: written by an older generator is recognised as stale (``robobench demo`` regenerates it).
#: 2: vehicles have off-centre cabins and head/tail lamps, pedestrians a face.
GENERATOR_VERSION = 2
#: Version of the realistic world (``render="realistic"``): textured, lit, camera-finished images.
#: 4: each scene has its own haze distance, and lenses facing the sun a veiling glare.
REALISTIC_GENERATOR_VERSION = 4
#: Renderers: today's flat-shaded default (generator 2) and the realistic candidate (generator 4).
RENDERS = ("flat", "realistic")
#: Scenes generated in parallel unless told otherwise: one process per core, at most 4 (each holds
#: a scene's textures and renders; the output does not depend on the count).
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)
#: Camera geometries: the preset's image size, or nuScenes' 1600x900.
CAMERA_GEOMETRIES = ("preset", "nuscenes")
TABLES = ("category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor", "ego_pose", "log",
          "scene", "sample", "sample_data", "sample_annotation", "map")
_BASE_TIMESTAMP = 1_600_000_000_000_000  # microseconds
_VISIBILITY = [("1", "v0-40", 0.0), ("2", "v40-60", 0.4), ("3", "v60-80", 0.6), ("4", "v80-100", 0.8)]
# Every category of nuScenes v1.0 (the devkit maps ten of them to detection classes).
_CATEGORIES = [
    "animal", "human.pedestrian.adult", "human.pedestrian.child", "human.pedestrian.construction_worker",
    "human.pedestrian.personal_mobility", "human.pedestrian.police_officer", "human.pedestrian.stroller",
    "human.pedestrian.wheelchair", "movable_object.barrier", "movable_object.debris",
    "movable_object.pushable_pullable", "movable_object.trafficcone", "static_object.bicycle_rack",
    "vehicle.bicycle", "vehicle.bus.bendy", "vehicle.bus.rigid", "vehicle.car", "vehicle.construction",
    "vehicle.emergency.ambulance", "vehicle.emergency.police", "vehicle.motorcycle", "vehicle.trailer", "vehicle.truck",
]


@dataclass(frozen=True)
class Preset:
    """World size and sensor resolution."""

    n_train: int
    n_val: int
    n_frames: int
    width: int
    height: int
    n_azimuth: int
    density: float
    jpeg_quality: int = 90
    #: validation scenes in ``synth_val_mini`` (the first ones of ``synth_val``)
    n_val_mini: int = 1


PRESETS: dict[str, Preset] = {
    "tiny": Preset(n_train=2, n_val=2, n_frames=6, width=352, height=198, n_azimuth=540, density=0.7),
    # 320 training and 160 validation samples in 48 street layouts of 10 key frames (5 s)
    "default": Preset(n_train=32, n_val=16, n_frames=10, width=704, height=396, n_azimuth=720, density=1.0, n_val_mini=4),
    # the same samples and sensors in 12 layouts of 40 key frames (the default until generator 2's
    # runs showed it too few layouts: a camera model learns its eight training streets and
    # scores far lower on the four new ones; README's status section)
    "long": Preset(n_train=8, n_val=4, n_frames=40, width=704, height=396, n_azimuth=720, density=1.0),
}


#: Most non-key LiDAR sweeps per key-frame interval ``generate`` writes (19 would be a 40 Hz LiDAR).
MAX_LIDAR_SWEEPS = 19


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``UserError`` listing the known ones otherwise."""
    if name not in PRESETS:
        raise UserError(f"unknown synthetic-world preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


def _token(seed: int, *key: object) -> str:
    return hashlib.md5(("synth/%d/" % seed + "/".join(map(str, key))).encode()).hexdigest()


def _quat(rot: np.ndarray) -> list[float]:
    return [float(x) for x in Quaternion(matrix=rot, atol=1e-7).elements]


def _pose(translation: np.ndarray, yaw: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rot_z(yaw)
    m[:3, 3] = translation
    return m


def _record_pose(translation: np.ndarray, rot: np.ndarray) -> tuple[list[float], list[float]]:
    """(translation, quaternion) as stored in the tables (Python floats: exact JSON round trip)."""
    return [float(x) for x in translation], _quat(rot)


def _to_global(pc_cls, points: np.ndarray, cs: tuple[list[float], list[float]], ego: tuple[list[float], list[float]]):
    """Sensor points -> global, with the devkit's classes and the stored calibration (as a reader does it)."""
    pc = pc_cls(points)
    pc.rotate(Quaternion(cs[1]).rotation_matrix)
    pc.translate(np.array(cs[0]))
    pc.rotate(Quaternion(ego[1]).rotation_matrix)
    pc.translate(np.array(ego[0]))
    return pc.points[:3]


def _count_in_boxes(points_global: np.ndarray, boxes: list) -> list[int]:
    """Devkit ``points_in_box`` count per box, after a cheap distance pre-filter."""
    counts = []
    for box in boxes:
        r = np.linalg.norm(box.wlh) / 2 + 0.5
        near = np.flatnonzero(np.abs(points_global[:2] - box.center[:2, None]).max(axis=0) < r)
        counts.append(int(points_in_box(box, points_global[:, near]).sum()) if len(near) else 0)
    return counts


def _scene_tables(args: tuple[int, str, int, Preset, str, int, str, str]) -> dict[str, list[dict]]:
    """Generate one scene's files under ``root`` and return its table records."""
    writer = _SceneWriter(*args)
    for f in range(writer.scene.n_frames):
        writer.key_frame(f)
    return writer.finish()


class _SceneWriter:
    """Writes one scene's sensor files and collects its table records, key frame by key frame.

    The records are appended in the order the sensors fire, and each key frame ``f`` draws its
    noise from its own generator ``(seed, scene index, f)`` (each non-key sweep from its own), so
    the bytes depend on nothing but the preset, the seed and the scene.
    """

    def __init__(self, index: int, name: str, seed: int, preset: Preset, root: str, lidar_sweeps: int, render: str,
                 camera: str) -> None:
        self.index, self.name, self.seed, self.preset, self.root = index, name, seed, preset, root
        self.lidar_sweeps, self.camera = lidar_sweeps, camera
        self.realistic = render == "realistic"
        self.scene = build_scene(index, name, preset.n_frames, seed, preset.density, realistic=self.realistic)
        if self.realistic:
            self.ground = make_realistic_ground(self.scene)
            self.renderer: SceneRenderer = RealisticRenderer(self.scene, self.ground)
        else:
            self.ground = make_ground(self.scene)
            self.renderer = SceneRenderer(self.scene, self.ground)
        self.jpeg_quality = JPEG_QUALITY if self.realistic else preset.jpeg_quality
        self.rig = make_rig(*((FULL_W, FULL_H) if camera == "nuscenes" else (preset.width, preset.height)))
        self.log_name = f"synth-log-{index:04d}"
        self.out: dict[str, list[dict]] = {t: [] for t in TABLES}
        self.base_ts = _BASE_TIMESTAMP + index * 100_000_000
        self.cs_rec = {}  # channel -> stored (translation, rotation) of its calibration
        for ch, cal in self.rig.items():
            tr, q = _record_pose(cal.translation, cal.rotation)
            self.cs_rec[ch] = (tr, q)
            intrinsic = [[float(x) for x in row] for row in cal.intrinsic] if cal.intrinsic is not None else []
            self.out["calibrated_sensor"].append({
                "token": self.tok("cs", ch), "sensor_token": _token(seed, "sensor", ch), "translation": tr, "rotation": q,
                "camera_intrinsic": intrinsic})
        self.rcs = np.array([CLASS_SPECS[a.cls].rcs for a in self.scene.actors])
        self.actor_vel = np.array([a.vel for a in self.scene.actors]).reshape(-1, 2)
        self.sample_tokens = [self.tok("sample", f) for f in range(self.scene.n_frames)]
        self.tracks: dict[int, list[tuple[int, dict]]] = {}  # actor -> (key frame, annotation record)
        self.sd_by_channel: dict[str, list[dict]] = {ch: [] for ch in self.rig}

    def tok(self, *key: object) -> str:
        """The token of a record of this scene."""
        return _token(self.seed, self.name, *key)

    def sensor_record(
        self, ch: str, f: int, ext: str, sweep: int = 0
    ) -> tuple[str, tuple[list, list], np.ndarray, float]:
        """Register key frame ``f`` of sensor ``ch`` (its own time, ego pose, file), or with
        ``sweep`` = k > 0 the k-th non-key sweep after key frame ``f - 1``; return
        (relative file name, stored ego pose, sensor -> global, scene time)."""
        cal = self.rig[ch]
        frac = sweep / (self.lidar_sweeps + 1)
        t = (f - 1 + frac if sweep else f) * KEYFRAME_DT + cal.delay
        ts = self.base_ts + int(round(t * 1e6))
        filename = f"{'sweeps' if sweep else 'samples'}/{ch}/{self.log_name}__{ch}__{ts}.{ext}"
        ego_xyz, ego_yaw = self.scene.ego_pose(t)
        ego = _record_pose(ego_xyz, rot_z(ego_yaw))
        key = (ch, f, "sweep", sweep) if sweep else (ch, f)
        ep_token = self.tok("ego_pose", *key)
        self.out["ego_pose"].append({"token": ep_token, "timestamp": ts, "rotation": ego[1], "translation": ego[0]})
        nearest = f if not sweep or frac >= 0.5 else f - 1  # a sweep belongs to the nearest sample, as in nuScenes
        self.sd_by_channel[ch].append({
            "token": self.tok("sd", *key), "sample_token": self.sample_tokens[nearest], "ego_pose_token": ep_token,
            "calibrated_sensor_token": self.tok("cs", ch), "timestamp": ts, "fileformat": ext.split(".")[0],
            "is_key_frame": not sweep, "height": cal.height, "width": cal.width, "filename": filename,
            "prev": "", "next": ""})
        return filename, ego, _pose(np.array(ego[0]), ego_yaw) @ cal.to_ego(), t

    def write_scan(self, fn: str, pose: np.ndarray, t: float, rng: np.random.Generator) -> Any:
        """Ray-cast the LiDAR from ``pose`` at time ``t`` into file ``fn``; return the scan."""
        scan = lidar_scan(pose[:3, 3], float(np.arctan2(pose[1, 0], pose[0, 0])), self.scene.cuboids(t),
                          len(self.scene.actors), self.preset.n_azimuth, rng, self.ground.sample_intensity)
        scan.points.tofile(os.path.join(self.root, fn))
        return scan

    def key_frame(self, f: int) -> None:
        """Write key frame ``f``: the LiDAR sweeps before it, its LiDAR, radars and cameras, and its annotations."""
        t = f * KEYFRAME_DT
        rng = np.random.default_rng([self.seed, self.index, f])
        # Non-key LiDAR sweeps since the previous key frame, in time order.
        for k in range(1, self.lidar_sweeps + 1 if f else 1):
            sweep_fn, _, sweep_pose, t_sweep = self.sensor_record(LIDAR, f, "pcd.bin", sweep=k)
            self.write_scan(sweep_fn, sweep_pose, t_sweep, np.random.default_rng([self.seed, self.index, f, k]))
        # LiDAR (defines the key-frame time).
        fn, ego, pose, _ = self.sensor_record(LIDAR, f, "pcd.bin")
        scan = self.write_scan(fn, pose, t, rng)
        lidar_global = _to_global(LidarPointCloud, scan.points.T[:4].copy(), self.cs_rec[LIDAR], ego)
        # Annotated actors of this key frame.
        actors = self.scene.actors
        ego_xy = np.array(ego[0][:2])
        ann_ids = [i for i, a in enumerate(actors) if np.linalg.norm(a.center(t)[:2] - ego_xy) <= ANNOTATION_RANGE]
        boxes = [Box(actors[i].center(t).tolist(), actors[i].wlh.tolist(),
                     Quaternion(axis=[0, 0, 1], angle=actors[i].yaw)) for i in ann_ids]
        n_lidar = _count_in_boxes(lidar_global, boxes)
        n_radar = self.radars(f, boxes, rng)
        self.cameras(f, rng)
        for k, i in enumerate(ann_ids):
            self.tracks.setdefault(i, []).append((f, self.annotation(f, t, i, scan, n_lidar[k], int(n_radar[k]))))
        self.out["sample"].append({"token": self.sample_tokens[f], "timestamp": self.base_ts + int(round(t * 1e6)),
                                   "scene_token": self.tok("scene"), "prev": self.sample_tokens[f - 1] if f else "",
                                   "next": self.sample_tokens[f + 1] if f + 1 < self.scene.n_frames else ""})

    def radars(self, f: int, boxes: list[Box], rng: np.random.Generator) -> np.ndarray:
        """Write key frame ``f`` of each radar, at its own time; return the radar returns in each of ``boxes``."""
        n_radar = np.zeros(len(boxes), int)
        for ch in RADARS:
            fn, r_ego, pose, tr = self.sensor_record(ch, f, "pcd")
            pts = radar_returns(self.rig[ch], pose[:3, 3], float(np.arctan2(pose[1, 0], pose[0, 0])),
                                self.scene.cuboids(tr), self.actor_vel, self.scene.ego_velocity(), self.rcs, rng)
            write_radar_pcd(os.path.join(self.root, fn), pts)
            if len(pts) and len(boxes):
                arr = np.stack([pts[n].astype(np.float64) for n in RADAR_DTYPE.names])
                n_radar += np.array(_count_in_boxes(_to_global(RadarPointCloud, arr, self.cs_rec[ch], r_ego), boxes))
        return n_radar

    def cameras(self, f: int, rng: np.random.Generator) -> None:
        """Render and write key frame ``f`` of each camera, at its own time."""
        for ch in CAMERAS:
            fn, _, cam2global, tc = self.sensor_record(ch, f, "jpg")
            img, _ = self.renderer.render(self.rig[ch], cam2global, self.scene.cuboids(tc))
            bgr = cv2.cvtColor(self.renderer.finish(img, int(rng.integers(2**31))), cv2.COLOR_RGB2BGR)
            cv2.imwrite(os.path.join(self.root, fn), bgr, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])

    def annotation(self, f: int, t: float, i: int, scan: Any, n_lidar: int, n_radar: int) -> dict:
        """The annotation record of actor ``i`` in key frame ``f`` (tokens and links are set by :meth:`finish`)."""
        a = self.scene.actors[i]
        vis = scan.visible_rays[i] / scan.total_rays[i] if scan.total_rays[i] else 0.0
        level = [v for v, _, lo in _VISIBILITY if vis >= lo][-1]
        attr = [_token(self.seed, "attribute", a.attribute)] if a.attribute else []
        return {"token": "", "sample_token": self.sample_tokens[f], "instance_token": "", "visibility_token": level,
                "attribute_tokens": attr, "translation": [float(x) for x in a.center(t)],
                "size": [float(x) for x in a.wlh],
                "rotation": [float(x) for x in Quaternion(axis=[0, 0, 1], angle=a.yaw).elements],
                "prev": "", "next": "", "num_lidar_pts": n_lidar, "num_radar_pts": n_radar}

    def finish(self) -> dict[str, list[dict]]:
        """Link the sample data and annotations into their chains, add instances, scene and log; return the tables."""
        out = self.out
        for recs in self.sd_by_channel.values():
            for a, b in zip(recs[:-1], recs[1:]):
                a["next"], b["prev"] = b["token"], a["token"]
            out["sample_data"].extend(recs)
        for i, recs in sorted(self.tracks.items()):
            self.instances(i, recs)
        out["scene"].append({"token": self.tok("scene"), "log_token": self.tok("log"),
                             "nbr_samples": self.scene.n_frames,
                             "first_sample_token": self.sample_tokens[0], "last_sample_token": self.sample_tokens[-1],
                             "name": self.name, "description": self.scene.description})
        vehicle = "synth-zoe"
        if self.realistic:
            vehicle = f"synth-zoe, generator {REALISTIC_GENERATOR_VERSION}, {self.camera} cameras"
        out["log"].append({"token": self.tok("log"), "logfile": self.log_name, "vehicle": vehicle,
                           "date_captured": "2020-09-13", "location": f"synth-city-{self.index % 2}"})
        return out

    def instances(self, i: int, recs: list[tuple[int, dict]]) -> None:
        """Instances of actor ``i``: contiguous runs of its key frames; single-frame runs are dropped (no velocity)."""
        runs: list[list[tuple[int, dict]]] = []
        for fr, rec in recs:
            if runs and runs[-1][-1][0] == fr - 1:
                runs[-1].append((fr, rec))
            else:
                runs.append([(fr, rec)])
        for r_i, run in enumerate(r for r in runs if len(r) > 1):
            inst = self.tok("instance", i, r_i)
            for fr, rec in run:
                rec["token"], rec["instance_token"] = self.tok("ann", i, fr), inst
            for (_, a), (_, b) in zip(run[:-1], run[1:]):
                a["next"], b["prev"] = b["token"], a["token"]
            self.out["sample_annotation"].extend(rec for _, rec in run)
            category = _token(self.seed, "category", self.scene.actors[i].category)
            self.out["instance"].append({"token": inst, "category_token": category,
                                         "nbr_annotations": len(run), "first_annotation_token": run[0][1]["token"],
                                         "last_annotation_token": run[-1][1]["token"]})


def _static_tables(seed: int, scene_logs: list[dict]) -> dict[str, list[dict]]:
    cats = [{"token": _token(seed, "category", c), "name": c, "description": f"nuScenes category {c}"} for c in _CATEGORIES]
    attrs = [{"token": _token(seed, "attribute", a), "name": a, "description": f"nuScenes attribute {a}"} for a in ATTRIBUTES]
    vis = [{"token": t, "level": lvl, "description": f"visibility of the whole object is between {lvl[1:].replace('-', ' and ')} %"}
           for t, lvl, _ in _VISIBILITY]
    sensors = [{"token": _token(seed, "sensor", ch), "channel": ch, "modality": m}
               for ch, m in [*((c, "camera") for c in CAMERAS), (LIDAR, "lidar"), *((r, "radar") for r in RADARS)]]
    maps = []
    for loc in sorted({lg["location"] for lg in scene_logs}):
        maps.append({"token": _token(seed, "map", loc), "category": "semantic_prior", "filename": "",
                     "log_tokens": [lg["token"] for lg in scene_logs if lg["location"] == loc]})
    return {"category": cats, "attribute": attrs, "visibility": vis, "sensor": sensors, "map": maps}


def generate(
    out_dir: Path, preset: str = "tiny", seed: int = 0, workers: int = 1, progress: bool = False, lidar_sweeps: int = 0,
    render: str = "flat", camera: str = "preset", val_scenes: int | None = None,
) -> Path:
    """Write a ``v1.0-synth`` dataset into ``out_dir`` (the dataroot) and return that path.

    ``workers`` > 1 generates scenes in parallel processes (the result does not depend
    on it). ``lidar_sweeps`` non-key LiDAR sweeps are written between consecutive key
    frames (nuScenes: 9, its 20 Hz LiDAR; 0 writes key frames only). ``render`` is one of
    :data:`RENDERS` and ``camera`` one of :data:`CAMERA_GEOMETRIES` (module docstring).
    ``val_scenes`` replaces the preset's number of validation scenes: every scene depends only
    on the seed and its index, so a larger validation split adds scenes after the preset's and
    leaves the training scenes and the first validation scenes the same bytes (less evaluation
    noise for models trained on the same world). The tables and ``splits.json`` are written
    last, so a dataroot with tables is complete.
    """
    cfg = get_preset(preset)
    if val_scenes is not None:
        if isinstance(val_scenes, bool) or not isinstance(val_scenes, int) or val_scenes < cfg.n_val_mini:
            raise UserError(f"val_scenes={val_scenes!r}: give a whole number of validation scenes of at least "
                            f"{cfg.n_val_mini} (the {preset!r} preset's synth_val_mini)")
        cfg = replace(cfg, n_val=val_scenes)
    if render not in RENDERS:
        raise UserError(f"render={render!r}: choose one of {list(RENDERS)}")
    if camera not in CAMERA_GEOMETRIES:
        raise UserError(f"camera={camera!r}: choose one of {list(CAMERA_GEOMETRIES)}")
    if isinstance(lidar_sweeps, bool) or not isinstance(lidar_sweeps, int) or not 0 <= lidar_sweeps <= MAX_LIDAR_SWEEPS:
        raise UserError(f"lidar_sweeps={lidar_sweeps!r}: give a whole number of non-key LiDAR sweeps per key-frame "
                        f"interval from 0 to {MAX_LIDAR_SWEEPS} (nuScenes has 9)")
    root = Path(out_dir)
    _prepare_root(root, lidar_sweeps)
    version_dir = root / VERSION
    names = [f"scene-{i + 1:04d}" for i in range(cfg.n_train + cfg.n_val)]
    jobs = [(i, n, seed, cfg, str(root), lidar_sweeps, render, camera) for i, n in enumerate(names)]
    parts = _generate_scenes(jobs, workers, f"synth {preset}" if progress else None)
    tables = {t: [rec for p in parts for rec in p[t]] for t in TABLES}
    tables.update(_static_tables(seed, tables["log"]))
    version_dir.mkdir(parents=True)
    for name, records in tables.items():
        with open(version_dir / f"{name}.json", "w") as f:
            json.dump(records, f, indent=0)
    with open(version_dir / "splits.json", "w") as f:
        val = names[cfg.n_train:]
        json.dump({TRAIN_SPLIT: names[: cfg.n_train], VAL_SPLIT: val, VAL_MINI_SPLIT: val[: cfg.n_val_mini]}, f, indent=1)
    stamp = {"generator_version": GENERATOR_VERSION, "preset": preset, "seed": seed, "lidar_sweeps": lidar_sweeps}
    if val_scenes is not None:
        stamp["val_scenes"] = val_scenes
    if (render, camera) != ("flat", "preset"):
        stamp.update(generator_version=REALISTIC_GENERATOR_VERSION if render == "realistic" else GENERATOR_VERSION,
                     render=render, camera=camera)
    (root / MARKER).write_text(json.dumps(stamp) + "\n")
    return root


def _prepare_root(root: Path, lidar_sweeps: int) -> None:
    """Make ``root`` ready for a new world: refuse a file or a foreign non-empty folder (nothing
    changed), mark it as the generator's, and empty the tables and sensor folders of an earlier world."""
    if root.exists() and not root.is_dir():
        raise UserError(f"output {str(root)!r} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()) and not (root / MARKER).is_file():
        raise UserError(f"output folder {str(root)!r} is not empty and holds no synthetic world; "
                        "choose an empty or new folder (nothing was changed)")
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("written by robobench data synth; the folder may be overwritten by it\n")
    if (root / VERSION).exists():
        shutil.rmtree(root / VERSION)
    if (root / "sweeps").exists():
        shutil.rmtree(root / "sweeps")
    if lidar_sweeps:
        (root / "sweeps" / LIDAR).mkdir(parents=True)
    for ch in (*CAMERAS, LIDAR, *RADARS):
        d = root / "samples" / ch
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)


def _generate_scenes(jobs: list[tuple], workers: int, progress: str | None) -> list[dict[str, list[dict]]]:
    """The table records of each scene job (:func:`_scene_tables`), in job order, from ``workers``
    processes; a progress bar titled ``progress`` unless that is None."""
    bar = None
    if progress is not None:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=progress, unit="scene")
    parts = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for res in pool.map(_scene_tables, jobs):
                parts.append(res)
                if bar:
                    bar.update(1)
    else:
        for job in jobs:
            parts.append(_scene_tables(job))
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    return parts


def world_stamp(root: Path) -> dict[str, Any] | None:
    """``{"generator_version", "preset", "seed", "lidar_sweeps"}`` (and ``render``, ``camera`` where not the
    defaults) of the world that ``generate`` finished in ``root``,
    or None (no world, a world cut short, or one written before generators stamped their worlds)."""
    try:
        stamp = json.loads((Path(root) / MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return stamp if isinstance(stamp, dict) and "generator_version" in stamp else None
