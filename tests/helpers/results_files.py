"""Results files for the evaluation tests: a perfect submission copied from the GT, and random damage to
a results file (the fuzzing of the validation and evaluate tests)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np


def perfect_results(nusc, sample_tokens) -> dict:
    """Every scored GT box of the split, copied exactly (velocity included where the GT has one)."""
    from nuscenes.eval.detection.utils import category_to_detection_name

    attr_names = {a["token"]: a["name"] for a in nusc.attribute}
    results = {}
    for tok in sample_tokens:
        boxes = []
        for ann_token in nusc.get("sample", tok)["anns"]:
            ann = nusc.get("sample_annotation", ann_token)
            name = category_to_detection_name(ann["category_name"])
            if name is None or ann["num_lidar_pts"] + ann["num_radar_pts"] == 0:
                continue
            vel = nusc.box_velocity(ann_token)[:2]
            boxes.append(
                {
                    "sample_token": tok,
                    "translation": ann["translation"],
                    "size": ann["size"],
                    "rotation": ann["rotation"],
                    "velocity": [0.0, 0.0] if np.isnan(vel).any() else vel.tolist(),
                    "detection_name": name,
                    "detection_score": 1.0,
                    "attribute_name": attr_names[ann["attribute_tokens"][0]] if ann["attribute_tokens"] else "",
                }
            )
        results[tok] = boxes
    return {"meta": {"use_camera": True}, "results": results}


FUZZ_VALUES: tuple[Any, ...] = (
    None,
    True,
    -1,
    0,
    1,
    2,
    1.5,
    -0.5,
    1e300,
    float("nan"),
    float("inf"),
    "",
    "x",
    "Fog:hard",
    "clean",
    [],
    [1],
    {},
    {"a": 1},
    2**70,
)


def key_paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into nested dicts/lists (dict keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += key_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += key_paths(v, (*prefix, i))
    return out


def mutate_at_random(data: Any, rng: np.random.Generator) -> str:
    """One random change of ``data`` in place: scale a float (often still valid), set a leaf or
    branch to a fuzz value, or delete it."""
    paths = key_paths(data)
    path = paths[int(rng.integers(len(paths)))]
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if rng.random() < 0.15 and isinstance(parent, dict):
        del parent[path[-1]]
        return f"del {path}"
    value = FUZZ_VALUES[int(rng.integers(len(FUZZ_VALUES)))]
    if isinstance(parent[path[-1]], float) and rng.random() < 0.4:
        value = parent[path[-1]] * float(rng.uniform(0.5, 1.5))
    parent[path[-1]] = copy.deepcopy(value)
    return f"{path} = {value!r}"
