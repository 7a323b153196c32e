"""A small nuScenes-format database written by hand, with what the synthetic world may lack (bicycle
racks with bikes inside, boxes without LiDAR/radar points, objects beyond the class ranges, annotations
without attributes, one-frame tracks, categories outside the detection classes), and results files for it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from nuscenes.eval.detection.utils import category_to_detection_name, detection_name_to_rel_attributes
from PIL import Image
from pyquaternion import Quaternion

from robobench.constants import ATTRIBUTES

VERSION = "v1.0-handmade"
CATEGORIES = {
    "vehicle.car": "car",
    "vehicle.truck": "truck",
    "vehicle.bus.rigid": "bus",
    "vehicle.trailer": "trailer",
    "vehicle.construction": "construction_vehicle",
    "human.pedestrian.adult": "pedestrian",
    "vehicle.motorcycle": "motorcycle",
    "vehicle.bicycle": "bicycle",
    "movable_object.trafficcone": "traffic_cone",
    "movable_object.barrier": "barrier",
    "animal": None,
    "static_object.bicycle_rack": None,
}


def write_handmade_nuscenes(root: Path, seed: int = 0, n_scenes: int = 3, n_frames: int = 4) -> dict[str, list[str]]:
    """Write a small nuScenes database under ``root/VERSION``; returns its custom splits."""
    rng = np.random.default_rng(seed)
    tables: dict[str, list[dict]] = {
        k: []
        for k in (
            "category",
            "attribute",
            "visibility",
            "instance",
            "sensor",
            "calibrated_sensor",
            "ego_pose",
            "log",
            "scene",
            "sample",
            "sample_data",
            "sample_annotation",
            "map",
        )
    }
    cat_token = {name: f"cat-{i}" for i, name in enumerate(CATEGORIES)}
    tables["category"] = [{"token": t, "name": n, "description": ""} for n, t in cat_token.items()]
    attr_token = {name: f"attr-{i}" for i, name in enumerate(ATTRIBUTES)}
    tables["attribute"] = [{"token": t, "name": n, "description": ""} for n, t in attr_token.items()]
    tables["visibility"] = [{"token": "1", "level": "v0-40", "description": ""}]
    tables["sensor"] = [{"token": "sensor-lidar", "channel": "LIDAR_TOP", "modality": "lidar"}]
    tables["calibrated_sensor"] = [
        {
            "token": "cs-lidar",
            "sensor_token": "sensor-lidar",
            "translation": [0.9, 0, 1.8],
            "rotation": [1, 0, 0, 0],
            "camera_intrinsic": [],
        }
    ]
    (root / "maps").mkdir(parents=True, exist_ok=True)
    Image.new("L", (4, 4)).save(root / "maps" / "blank.png")
    tables["map"] = [{"token": "map-0", "log_tokens": [], "category": "semantic_prior", "filename": "maps/blank.png"}]
    names = []
    for s in range(n_scenes):
        log = f"log-{s}"
        tables["log"].append({"token": log, "logfile": "", "vehicle": "", "date_captured": "", "location": "synth"})
        tables["map"][0]["log_tokens"].append(log)
        origin = rng.uniform(-500, 500, 2)
        heading = rng.uniform(-np.pi, np.pi)
        fwd = np.array([np.cos(heading), np.sin(heading)])
        # tracks: (category, offset from the first ego pose, velocity, attribute, points)
        tracks = []
        for k in range(26):
            cat = list(CATEGORIES)[k % len(CATEGORIES)] if k < 24 else "vehicle.bicycle"
            det = CATEGORIES[cat]
            attrs = detection_name_to_rel_attributes(det) if det else []
            tracks.append(
                dict(
                    cat=cat,
                    rel=rng.uniform(-65, 65, 2),
                    vel=rng.normal(0, 2, 2) * (det not in ("barrier", "traffic_cone")),
                    attr=(attrs[rng.integers(len(attrs))] if attrs and rng.random() > 0.15 else None),
                    size=rng.uniform(0.5, 4, 3),
                    yaw=rng.uniform(-np.pi, np.pi),
                    z=rng.uniform(0, 2),
                    frames=range(n_frames) if k % 9 else [int(rng.integers(n_frames))],  # some one-frame tracks
                )
            )
        # a bike rack with a bicycle and a motorcycle inside it
        rack_rel = fwd * 12
        tracks.append(
            dict(
                cat="static_object.bicycle_rack",
                rel=rack_rel,
                vel=np.zeros(2),
                attr=None,
                size=np.array([6.0, 3.0, 2.0]),
                yaw=heading,
                z=0.5,
                frames=range(n_frames),
            )
        )
        for dx, cat in ((0.8, "vehicle.bicycle"), (-1.0, "vehicle.motorcycle")):
            tracks.append(
                dict(
                    cat=cat,
                    rel=rack_rel + fwd * dx,
                    vel=np.zeros(2),
                    attr="cycle.without_rider",
                    size=np.array([0.6, 1.7, 1.2]),
                    yaw=heading,
                    z=0.6,
                    frames=range(n_frames),
                )
            )
        sample_tokens = [f"sample-{s}-{f}" for f in range(n_frames)]
        scene_name = f"scene-{s:04d}"
        names.append(scene_name)
        tables["scene"].append(
            {
                "token": f"scene-{s}",
                "log_token": log,
                "nbr_samples": n_frames,
                "name": scene_name,
                "first_sample_token": sample_tokens[0],
                "last_sample_token": sample_tokens[-1],
                "description": "",
            }
        )
        ann_tokens = {}
        for f, tok in enumerate(sample_tokens):
            ts = 1_500_000_000_000_000 + s * 10**9 + f * 500_000
            ego_xy = origin + fwd * 5.0 * f
            tables["sample"].append(
                {
                    "token": tok,
                    "timestamp": ts,
                    "scene_token": f"scene-{s}",
                    "prev": sample_tokens[f - 1] if f else "",
                    "next": sample_tokens[f + 1] if f + 1 < n_frames else "",
                }
            )
            q = Quaternion(axis=[0, 0, 1], angle=heading)
            tables["ego_pose"].append(
                {"token": f"ego-{s}-{f}", "timestamp": ts, "translation": [*ego_xy, 0.0], "rotation": list(q.elements)}
            )
            tables["sample_data"].append(
                {
                    "token": f"sd-{s}-{f}",
                    "sample_token": tok,
                    "ego_pose_token": f"ego-{s}-{f}",
                    "calibrated_sensor_token": "cs-lidar",
                    "timestamp": ts,
                    "fileformat": "pcd",
                    "is_key_frame": True,
                    "height": 0,
                    "width": 0,
                    "filename": f"samples/LIDAR_TOP/{tok}.pcd.bin",
                    "prev": f"sd-{s}-{f - 1}" if f else "",
                    "next": f"sd-{s}-{f + 1}" if f + 1 < n_frames else "",
                }
            )
            for k, tr in enumerate(tracks):
                if f not in tr["frames"]:
                    continue
                xy = origin + tr["rel"] + tr["vel"] * 0.5 * f
                ann_tokens.setdefault(k, []).append(f"ann-{s}-{k}-{f}")
                tables["sample_annotation"].append(
                    {
                        "token": f"ann-{s}-{k}-{f}",
                        "sample_token": tok,
                        "instance_token": f"inst-{s}-{k}",
                        "visibility_token": "1",
                        "attribute_tokens": [attr_token[tr["attr"]]] if tr["attr"] else [],
                        "translation": [*xy, tr["z"]],
                        "size": list(tr["size"]),
                        "rotation": list(Quaternion(axis=[0, 0, 1], angle=tr["yaw"]).elements),
                        "num_lidar_pts": int(rng.integers(0, 3)) * int(rng.integers(0, 20)),
                        "num_radar_pts": int(rng.random() < 0.2),
                        "prev": "",
                        "next": "",
                    }
                )
        by_token = {a["token"]: a for a in tables["sample_annotation"]}
        for k, toks in ann_tokens.items():
            for a, b in zip(toks, toks[1:]):
                by_token[a]["next"], by_token[b]["prev"] = b, a
            tables["instance"].append(
                {
                    "token": f"inst-{s}-{k}",
                    "category_token": cat_token[tracks[k]["cat"]],
                    "nbr_annotations": len(toks),
                    "first_annotation_token": toks[0],
                    "last_annotation_token": toks[-1],
                }
            )
    out = root / VERSION
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        (out / f"{name}.json").write_text(json.dumps(rows))
    splits = {"hand_val": names[1:], "hand_train": names[:1]}
    (out / "splits.json").write_text(json.dumps(splits))
    return splits


def make_results(
    nusc, sample_tokens, rng, *, jitter=0.4, n_fp=6, drop=(), score_levels=None, miss=0.1, only_scored_gt=False
) -> dict:
    """Predictions in the global frame: jittered GT (incl. racked bikes and far boxes) plus false positives.

    ``only_scored_gt`` copies only GT with LiDAR/radar points (a copy of a GT box the
    evaluation drops would be a false positive).
    """
    results = {}
    for tok in sample_tokens:
        boxes = []
        sample = nusc.get("sample", tok)
        for ann in (nusc.get("sample_annotation", a) for a in sample["anns"]):
            det = category_to_detection_name(ann["category_name"])
            if det is None or det in drop or rng.random() < miss:
                continue
            if only_scored_gt and ann["num_lidar_pts"] + ann["num_radar_pts"] == 0:
                continue
            attrs = detection_name_to_rel_attributes(det)
            yaw = Quaternion(ann["rotation"]).yaw_pitch_roll[0] + rng.normal(0, jitter)
            boxes.append(
                {
                    "sample_token": tok,
                    "translation": list(np.array(ann["translation"]) + rng.normal(0, jitter, 3)),
                    "size": list(np.array(ann["size"]) * np.exp(rng.normal(0, 0.1, 3))),
                    "rotation": list(Quaternion(axis=[0, 0, 1], angle=yaw).elements),
                    "velocity": list(rng.normal(0, 1, 2)),
                    "detection_name": det,
                    "detection_score": float(rng.random()),
                    "attribute_name": attrs[rng.integers(len(attrs))] if attrs else "",
                }
            )
        ego = nusc.get("ego_pose", nusc.get("sample_data", sample["data"]["LIDAR_TOP"])["ego_pose_token"])
        for _ in range(n_fp):
            det = list(v for v in CATEGORIES.values() if v and v not in drop)[rng.integers(10 - len(drop))]
            boxes.append(
                {
                    "sample_token": tok,
                    "translation": list(np.array(ego["translation"]) + rng.uniform(-60, 60, 3)),
                    "size": list(rng.uniform(0.5, 4, 3)),
                    "rotation": [1.0, 0.0, 0.0, 0.0],
                    "velocity": [0.0, 0.0],
                    "detection_name": det,
                    "detection_score": float(rng.random()),
                    "attribute_name": "",
                }
            )
        if score_levels:
            for b in boxes:
                b["detection_score"] = float(np.round(b["detection_score"] * score_levels) / score_levels)
        results[tok] = boxes
    return {"meta": {"use_camera": True}, "results": results}
