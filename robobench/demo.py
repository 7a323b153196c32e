"""The demo's world: what ``robobench demo`` (:func:`robobench.api.run_demo`) checks, generates and validates.

1. Make sure the ``default`` synthetic world exists (generate it when missing, incomplete
   or written by an older generator), load it through the devkit and print a validation
   summary.
2. Run the benchmark sweep on it in the ``quick`` profile (``robobench sweep``: train each
   demo entry, evaluate it on clean data and the 24 corrupted conditions of the
   ``synth_val_mini`` split, store every row) and regenerate the leaderboard.

It is resumable like the sweep: run it again and only unfinished cells run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from robobench.constants import CAMERAS, DETECTION_CLASSES, LIDAR, RADARS
from robobench.data.synth import (
    DEFAULT_WORKERS,
    GENERATOR_VERSION,
    PRESETS,
    TRAIN_SPLIT,
    VAL_MINI_SPLIT,
    VAL_SPLIT,
    VERSION,
    generate,
    world_stamp,
)

DEFAULT_DATA = Path("data/synth-default")
DEFAULT_OUT = Path("runs/demo")
#: The synthetic world the demo runs on (``DEFAULT_DATA``), the one the README's numbers come from.
DEMO_PRESET = "default"
#: A camera student, its depth-supervised variant and one distillation recipe per paper
#: family (their teacher, ``centerpoint``, is trained first), few enough for a laptop CPU.
DEMO_ENTRIES: tuple[str, ...] = ("bevdet", "bevdepth", "bevdet-rayd3d")


def world_is_complete(data_dir: Path, preset: str | None = None) -> bool:
    """True when ``data_dir`` holds a finished ``v1.0-synth`` world of today's generator (tables,
    splits and the generator's stamp are written last), of ``preset`` when one is named."""
    if stale_world_reason(data_dir, preset):
        return False
    if not (Path(data_dir) / VERSION / "sample_annotation.json").is_file():
        return False
    splits = _read_splits(data_dir)
    return splits is not None and all(s in splits for s in (TRAIN_SPLIT, VAL_SPLIT, VAL_MINI_SPLIT))


def _read_splits(data_dir: Path) -> dict | None:
    """The world's ``splits.json`` as a dict, or None when it is missing or not a JSON object."""
    try:
        splits = json.loads((Path(data_dir) / VERSION / "splits.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return splits if isinstance(splits, dict) else None


def stale_world_reason(data_dir: Path, preset: str | None = None) -> str | None:
    """Why the world in ``data_dir`` is not one today's generator wrote (of ``preset``, when named), or None.

    A world written by an older generator differs from the one every documented number was
    measured on (e.g. generator 1's vehicles had no front or back), so the demo replaces it. So
    does a world of another preset, or one whose scene counts are no longer its preset's (a
    preset's size was changed since it was written).
    """
    stamp = world_stamp(data_dir)
    if stamp is None:
        return "it carries no generator stamp (an unfinished world or one from an older generator)"
    if stamp.get("generator_version") != GENERATOR_VERSION:
        return f"it was written by generator version {stamp.get('generator_version')}, today's is {GENERATOR_VERSION}"
    if (stamp.get("render", "flat"), stamp.get("camera", "preset")) != ("flat", "preset"):
        return f"it was rendered with --render {stamp.get('render')} --camera {stamp.get('camera')}, not the default"
    name = stamp.get("preset")
    if preset is not None and name != preset:
        return f"it is the {name!r} preset, not {preset!r}"
    splits = _read_splits(data_dir) or {}
    scenes = [splits.get(s) for s in (TRAIN_SPLIT, VAL_SPLIT)]
    if name not in PRESETS or not all(isinstance(v, list) for v in scenes):
        return None  # no readable splits: world_is_complete tells an unfinished world
    p = PRESETS[name]
    if (len(scenes[0]), len(scenes[1])) != (p.n_train, p.n_val):
        return (
            f"it has {len(scenes[0])} training and {len(scenes[1])} validation scenes, today's {name!r} preset has "
            f"{p.n_train} and {p.n_val}"
        )
    return None


def prepare_world(data_dir: Path, preset: str = DEMO_PRESET) -> bool:
    """Generate (if needed), load and validate the world of ``preset``; True if every check passes."""
    from nuscenes.eval.detection.utils import category_to_detection_name

    from robobench.data.nusc import open_nuscenes, split_sample_tokens

    data_dir = Path(data_dir)
    if not world_is_complete(data_dir, preset):
        reason = stale_world_reason(data_dir, preset) if (data_dir / VERSION).is_dir() else None
        print(
            f"generating the {preset} synthetic world into {data_dir}"
            + (f" (replacing it: {reason})" if reason else "")
            + " ..."
        )
        generate(data_dir, preset=preset, seed=0, workers=DEFAULT_WORKERS, progress=True)
    nusc = open_nuscenes(data_dir, VERSION)
    missing = [sd["filename"] for sd in nusc.sample_data if not (data_dir / sd["filename"]).is_file()]
    size = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    print(
        f"dataset {VERSION} at {data_dir}: {len(nusc.scene)} scenes, {len(nusc.sample)} samples, "
        f"{len(nusc.sample_annotation)} annotations, {len(nusc.sample_data)} sensor files "
        f"({len(missing)} missing), {size / 1e6:.0f} MB"
    )
    channels = Counter(sd["channel"] for sd in nusc.sample_data)
    print("sensors: " + ", ".join(f"{ch} x{channels[ch]}" for ch in (*CAMERAS, LIDAR, *RADARS)))
    ok = not missing and all(channels[ch] == len(nusc.sample) for ch in (*CAMERAS, LIDAR, *RADARS))
    header = f"{'class':<22}" + "".join(f"{s:>14}" for s in (TRAIN_SPLIT, VAL_SPLIT))
    per_split = {}
    for split in (TRAIN_SPLIT, VAL_SPLIT):
        tokens = split_sample_tokens(nusc, split)
        anns = [nusc.get("sample_annotation", a) for t in tokens for a in nusc.get("sample", t)["anns"]]
        per_split[split] = Counter(category_to_detection_name(a["category_name"]) for a in anns)
        n_scenes = len({nusc.get("sample", t)["scene_token"] for t in tokens})
        with_pts = sum(a["num_lidar_pts"] + a["num_radar_pts"] > 0 for a in anns)
        print(
            f"{split}: {n_scenes} scenes, {len(tokens)} samples, {len(anns)} annotations "
            f"({with_pts} with LiDAR/radar points)"
        )
        ok &= len(tokens) > 0
    print(header)
    for cls in DETECTION_CLASSES:
        print(f"{cls:<22}" + "".join(f"{per_split[s][cls]:>14}" for s in (TRAIN_SPLIT, VAL_SPLIT)))
        ok &= all(per_split[s][cls] > 0 for s in per_split)
    print("validation: " + ("OK" if ok else "FAILED (see counts above)"))
    return bool(ok)
