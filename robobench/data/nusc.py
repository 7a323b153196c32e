"""Open a nuScenes dataroot through the devkit and resolve splits, with errors a user can act on.

Works the same for real nuScenes (``v1.0-mini``, ``v1.0-trainval``) and the synthetic
world (``v1.0-synth``). Splits resolve like the devkit's ``nuscenes.utils.splits``:
predefined names (``train``, ``val``, ``mini_val``, ...) map to the official scene
lists, any other name is looked up in ``<dataroot>/<version>/splits.json``.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from nuscenes import NuScenes
from nuscenes.utils.splits import create_splits_scenes, get_scenes_of_split, is_predefined_split

from robobench.errors import UserError

#: Tables the devkit loads from the version folder.
REQUIRED_TABLES: tuple[str, ...] = (
    "category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor", "ego_pose", "log",
    "scene", "sample", "sample_data", "sample_annotation", "map",
)


#: Version suffix each predefined split belongs to (the devkit's evaluation asserts the same pairing).
_PREDEFINED_VERSION_SUFFIX = {"mini_train": "mini", "mini_val": "mini", "test": "test"}


def available_versions(dataroot: Path) -> list[str]:
    """Sub-folders of ``dataroot`` that look like devkit versions (they hold ``scene.json``)."""
    root = Path(dataroot)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "scene.json").is_file())


def open_nuscenes(dataroot: Path | str, version: str, verbose: bool = False) -> NuScenes:
    """Load ``version`` from ``dataroot`` with the devkit; ``UserError`` naming what is wrong.

    Checks first what the devkit would only assert on: the dataroot exists, the version
    folder exists (listing the versions that do), every table is present and valid
    JSON. The devkit's own progress printing is silenced unless ``verbose``.
    """
    root = Path(dataroot)
    if not root.is_dir():
        raise UserError(f"dataroot {str(root)!r} does not exist; pass --dataroot pointing at a nuScenes folder "
                        "(or create the synthetic one with `robobench data synth --out DIR`)")
    table_dir = root / version
    if not table_dir.is_dir():
        found = available_versions(root)
        hint = f"versions found there: {', '.join(found)}" if found else "no version folders found there"
        raise UserError(f"version {version!r} not found under dataroot {str(root)!r} ({hint}); pass --version")
    for table in REQUIRED_TABLES:
        path = table_dir / f"{table}.json"
        if not path.is_file():
            raise UserError(f"table {str(path)!r} is missing; the dataset under {str(table_dir)!r} is incomplete "
                            "(regenerate or re-download it)")
        try:
            with open(path) as f:
                records = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"table {str(path)!r} is not valid JSON ({exc}); regenerate or re-download it") from None
        if not isinstance(records, list):
            raise UserError(f"table {str(path)!r} must hold a JSON list of records, got {type(records).__name__}")
    sink = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    try:
        with sink:
            return NuScenes(version=version, dataroot=str(root), verbose=verbose)
    except (KeyError, AssertionError, TypeError, ValueError) as exc:
        raise UserError(f"tables under {str(table_dir)!r} are malformed ({type(exc).__name__}: {exc}); "
                        "regenerate or re-download the dataset") from None


def available_splits(nusc: NuScenes) -> list[str]:
    """Custom splits of ``splits.json`` (if any), then the devkit's predefined ones that fit the version."""
    custom = _custom_splits(nusc)
    fitting = [s for s in create_splits_scenes()
               if s not in custom and nusc.version.endswith(_PREDEFINED_VERSION_SUFFIX.get(s, "trainval"))]
    return [*custom, *fitting]


def _custom_splits(nusc: NuScenes) -> dict[str, list[str]]:
    path = Path(nusc.dataroot) / nusc.version / "splits.json"
    if not path.is_file():
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise UserError(f"splits file {str(path)!r} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise UserError(f"splits file {str(path)!r} must map split names to lists of scene names")
    return data


def split_scenes(nusc: NuScenes, split: str) -> list[str]:
    """Scene names of ``split`` that exist in ``nusc`` (devkit semantics; ``UserError`` if unknown or empty)."""
    if not is_predefined_split(split) and split not in _custom_splits(nusc):
        raise UserError(f"unknown split {split!r} for {nusc.version} under {nusc.dataroot!r}; available: "
                        f"{', '.join(available_splits(nusc))}")
    if is_predefined_split(split):
        suffix = _PREDEFINED_VERSION_SUFFIX.get(split, "trainval")
        if not nusc.version.endswith(suffix):
            raise UserError(f"split {split!r} belongs to nuScenes *-{suffix} versions, not {nusc.version!r}; "
                            f"available: {', '.join(available_splits(nusc))}")
    names = get_scenes_of_split(split, nusc)
    present = {s["name"] for s in nusc.scene}
    scenes = [n for n in names if n in present]
    if not scenes:
        raise UserError(f"split {split!r} has no scene in {nusc.version} under {nusc.dataroot!r} "
                        f"(e.g. a trainval split on v1.0-mini); available: {', '.join(available_splits(nusc))}")
    return scenes


def split_sample_tokens(nusc: NuScenes, split: str) -> list[str]:
    """Key-frame sample tokens of ``split``, scene by scene in split order, each scene in time order."""
    by_name = {s["name"]: s for s in nusc.scene}
    tokens: list[str] = []
    for name in split_scenes(nusc, split):
        token = by_name[name]["first_sample_token"]
        while token:
            tokens.append(token)
            token = nusc.get("sample", token)["next"]
    return tokens
