"""nuScenes (through the devkit) -> flat per-sample records, cached on disk.

Walking the devkit's tables for every sample of every epoch is slow and needs the
whole ``NuScenes`` object in each data-loader worker. The index does that walk once,
stores the records as flat numpy arrays in an ``.npz`` file (see :func:`_encode`), and
reloads them as long as the version's table files are unchanged (the cache key is a
fingerprint of their names, sizes and modification times).

The cache sits in the user's cache folder (:func:`default_cache_dir`), never in the dataset;
it is still data, never code (a cache folder may be shared, or planted): it is read with ``allow_pickle=False``
(an object array, the only way an ``.npz`` can carry a pickle, is refused), and every
array's presence, dtype, shape and index range is checked before a record is built
(:func:`_decode`). A cache that fails any check is rebuilt from the tables, never used. It reads only devkit tables, so the same
code serves the synthetic world and real nuScenes (``v1.0-mini``, ``v1.0-trainval``).

Frames follow :mod:`robobench.contract`: everything is expressed in the *key ego*
frame, the ego pose at the LIDAR_TOP key-frame timestamp. A camera's ``sensor2ego``
therefore includes the ego motion between the camera's and the LiDAR's timestamps
(BEVDet's ``sensor2keyego``): ``keyego <- global <- ego(t_cam) <- camera``.

Radar channels and the LiDAR also keep their previous sweeps (``SampleRecord.radar_prev``,
``SampleRecord.lidar_prev``): the ``sample_data.prev`` chain of the key sweep, followed
within the scene for up to ``RADAR_MAX_SWEEPS - 1`` (``LIDAR_MAX_SWEEPS - 1``) steps. On
real nuScenes these are the non-key sweeps (radar ~13 Hz, LiDAR 20 Hz); the synthetic
world writes its sensors only at key frames, so there they are the previous key frames'
sweeps (0.5 s apart). Each carries its own ``sensor2ego`` into this sample's key ego
frame, built the same way as the cameras'.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pyquaternion import Quaternion

from robobench.constants import ATTRIBUTES, CAMERAS, DETECTION_CLASSES, LIDAR, RADARS
from robobench.errors import UserError
from robobench.io import atomic_write

#: Bump when the record layout changes so that old caches are rebuilt
#: (2: ``SampleRecord.radar_prev``, the previous radar sweeps; 3: ``SampleRecord.lidar_prev``;
#: 4: ``.npz`` arrays instead of a pickle).
INDEX_FORMAT = 4

#: File name suffix of index caches (format 4 on).
CACHE_SUFFIX = ".npz"

#: Most radar sweeps per channel a sample can use: the key sweep plus up to
#: ``RADAR_MAX_SWEEPS - 1`` previous ones kept in the index. Above CRN's 8 sweeps on
#: nuScenes; each extra sweep costs five small records per sample in the cache.
RADAR_MAX_SWEEPS = 10

#: Most LiDAR sweeps a sample can use: the key sweep plus up to ``LIDAR_MAX_SWEEPS - 1``
#: previous ones kept in the index. CenterPoint accumulates 10 sweeps on nuScenes.
LIDAR_MAX_SWEEPS = 10

#: Environment variable naming a directory for index caches (overrides the default).
CACHE_ENV = "ROBOBENCH_CACHE_DIR"


@dataclass
class SensorRecord:
    """One sensor's key-frame file and its calibration.

    ``path`` is relative to the dataroot (the devkit's ``filename``), so a cache stays
    valid when the dataset folder moves. ``sensor2ego`` maps the sensor frame to the
    sample's key ego frame; ``intrinsic`` is set for cameras only.
    """

    token: str
    path: str
    timestamp: int
    sensor2ego: np.ndarray
    intrinsic: np.ndarray | None = None


@dataclass
class SampleRecord:
    """Everything the Dataset needs about one key frame.

    GT boxes are ``(M, 9)``: ``x, y, z, w, l, h, yaw, vx, vy`` in the key ego frame
    (:mod:`robobench.contract`); labels index ``DETECTION_CLASSES``; attrs index
    ``ATTRIBUTES`` or are -1 (no attribute). Annotations whose category has no
    detection class are dropped.

    ``radars`` holds each radar channel's key sweep; ``radar_prev`` holds the same
    channel's previous sweeps, newest first (at most ``RADAR_MAX_SWEEPS - 1``, empty at
    the start of a scene), each with ``sensor2ego`` into this sample's key ego frame.
    ``lidar_prev`` holds the LiDAR's previous sweeps the same way (at most
    ``LIDAR_MAX_SWEEPS - 1``).
    """

    token: str
    scene_token: str
    scene_name: str
    timestamp: int
    prev: str
    next: str
    ego2global: np.ndarray
    cams: dict[str, SensorRecord]
    lidar: SensorRecord
    radars: dict[str, SensorRecord]
    gt_boxes: np.ndarray
    gt_labels: np.ndarray
    gt_attrs: np.ndarray
    num_lidar_pts: np.ndarray
    num_radar_pts: np.ndarray
    ann_tokens: list[str] = field(default_factory=list)
    radar_prev: dict[str, list[SensorRecord]] = field(default_factory=dict)
    lidar_prev: list[SensorRecord] = field(default_factory=list)


def pose_matrix(translation: Any, rotation: Any) -> np.ndarray:
    """4x4 homogeneous transform from a devkit ``translation`` and ``rotation`` (w, x, y, z)."""
    mat = np.eye(4)
    mat[:3, :3] = Quaternion(rotation).rotation_matrix
    mat[:3, 3] = np.asarray(translation, dtype=np.float64)
    return mat


def _sensor_record(nusc: Any, sd_token: str, global2keyego: np.ndarray) -> SensorRecord:
    sd = nusc.get("sample_data", sd_token)
    cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
    pose = nusc.get("ego_pose", sd["ego_pose_token"])
    sensor2ego = global2keyego @ pose_matrix(pose["translation"], pose["rotation"]) @ pose_matrix(
        cs["translation"], cs["rotation"]
    )
    intrinsic = np.asarray(cs["camera_intrinsic"], dtype=np.float64) if cs.get("camera_intrinsic") else None
    return SensorRecord(sd_token, sd["filename"], int(sd["timestamp"]), sensor2ego, intrinsic)


def _previous_sweeps(
    nusc: Any, sd_token: str, scene_token: str, global2keyego: np.ndarray, max_sweeps: int
) -> list[SensorRecord]:
    """The sweeps before ``sd_token`` on its ``sample_data.prev`` chain, newest first.

    Stops at the start of the chain, at the first sweep of another scene, or after
    ``max_sweeps`` sweeps. ``sensor2ego`` of each maps into the key ego frame given by
    ``global2keyego`` (through the sweep's own ego pose).
    """
    out: list[SensorRecord] = []
    sd = nusc.get("sample_data", sd_token)
    while sd["prev"] and len(out) < max_sweeps:
        sd = nusc.get("sample_data", sd["prev"])
        if nusc.get("sample", sd["sample_token"])["scene_token"] != scene_token:
            break
        out.append(_sensor_record(nusc, sd["token"], global2keyego))
    return out


def _gt(nusc: Any, sample: dict, ego2global: np.ndarray) -> dict[str, Any]:
    """GT boxes of ``sample`` in its key ego frame (velocities from ``nusc.box_velocity``)."""
    from nuscenes.eval.detection.utils import category_to_detection_name

    rot_inv = ego2global[:3, :3].T
    ego_q_inv = Quaternion(matrix=ego2global[:3, :3]).inverse
    attr_index = {name: i for i, name in enumerate(ATTRIBUTES)}
    boxes, labels, attrs, n_lidar, n_radar, tokens = [], [], [], [], [], []
    for ann_token in sample["anns"]:
        ann = nusc.get("sample_annotation", ann_token)
        name = category_to_detection_name(ann["category_name"])
        if name is None:
            continue
        centre = rot_inv @ (np.asarray(ann["translation"], dtype=np.float64) - ego2global[:3, 3])
        yaw = (ego_q_inv * Quaternion(ann["rotation"])).yaw_pitch_roll[0]
        velocity = np.nan_to_num(nusc.box_velocity(ann_token), nan=0.0)
        vel_ego = rot_inv @ velocity
        boxes.append([*centre, *ann["size"], yaw, vel_ego[0], vel_ego[1]])
        labels.append(DETECTION_CLASSES.index(name))
        attr_names = [nusc.get("attribute", t)["name"] for t in ann["attribute_tokens"]]
        attrs.append(attr_index.get(attr_names[0], -1) if len(attr_names) == 1 else -1)
        n_lidar.append(int(ann["num_lidar_pts"]))
        n_radar.append(int(ann["num_radar_pts"]))
        tokens.append(ann_token)
    return {
        "gt_boxes": np.asarray(boxes, dtype=np.float64).reshape(-1, 9),
        "gt_labels": np.asarray(labels, dtype=np.int64),
        "gt_attrs": np.asarray(attrs, dtype=np.int64),
        "num_lidar_pts": np.asarray(n_lidar, dtype=np.int64),
        "num_radar_pts": np.asarray(n_radar, dtype=np.int64),
        "ann_tokens": tokens,
    }


def build_record(nusc: Any, sample_token: str) -> SampleRecord:
    """One sample's record, read from the devkit's tables."""
    sample = nusc.get("sample", sample_token)
    missing = [c for c in (*CAMERAS, LIDAR) if c not in sample["data"]]
    if missing:
        raise UserError(f"sample {sample_token} has no data for {missing}; robobench needs six cameras and {LIDAR}")
    lidar_sd = nusc.get("sample_data", sample["data"][LIDAR])
    pose = nusc.get("ego_pose", lidar_sd["ego_pose_token"])
    ego2global = pose_matrix(pose["translation"], pose["rotation"])
    global2keyego = np.linalg.inv(ego2global)
    scene = nusc.get("scene", sample["scene_token"])
    radars = [r for r in RADARS if r in sample["data"]]
    return SampleRecord(
        token=sample_token,
        scene_token=sample["scene_token"],
        scene_name=scene["name"],
        timestamp=int(sample["timestamp"]),
        prev=sample["prev"],
        next=sample["next"],
        ego2global=ego2global,
        cams={c: _sensor_record(nusc, sample["data"][c], global2keyego) for c in CAMERAS},
        lidar=_sensor_record(nusc, sample["data"][LIDAR], global2keyego),
        radars={r: _sensor_record(nusc, sample["data"][r], global2keyego) for r in radars},
        **_gt(nusc, sample, ego2global),
        radar_prev={
            r: _previous_sweeps(nusc, sample["data"][r], sample["scene_token"], global2keyego, RADAR_MAX_SWEEPS - 1)
            for r in radars
        },
        lidar_prev=_previous_sweeps(nusc, sample["data"][LIDAR], sample["scene_token"], global2keyego, LIDAR_MAX_SWEEPS - 1),
    )


def table_fingerprint(dataroot: Path, version: str) -> str:
    """Hash of the names, sizes and mtimes of ``<dataroot>/<version>/*.json`` (plus the format)."""
    table_dir = Path(dataroot) / version
    if not table_dir.is_dir():
        raise UserError(f"no table folder {table_dir}; check --dataroot and --version")
    digest = hashlib.sha1(f"format={INDEX_FORMAT}".encode())
    for path in sorted(table_dir.glob("*.json")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def default_cache_dir(dataroot: Path) -> Path:
    """The folder of ``dataroot``'s index caches: ``<base>/<key>``, outside the dataset.

    ``<base>`` is ``$ROBOBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/robobench``, else
    ``~/.cache/robobench``; ``<key>`` is a hash of the dataroot's resolved path, so two datasets
    never share (or clean up) each other's caches. No command writes into a dataset folder.
    """
    base = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "robobench"
    key = hashlib.sha1(str(Path(dataroot).resolve()).encode()).hexdigest()[:12]
    return Path(base) / key


class _BadCache(ValueError):
    """A cache file that does not hold what :func:`_encode` writes (it is rebuilt)."""


def _strings(values: list[str]) -> np.ndarray:
    """UTF-8 bytes array (``S`` dtype, a plain numpy type, no pickle) of ``values``."""
    return np.array([v.encode() for v in values], dtype=bytes) if values else np.zeros(0, dtype="S1")


def _padded(rows: list[list[int]], width: int) -> np.ndarray:
    """``(len(rows), width)`` int64 array of the rows' indices, ``-1`` after each row's end."""
    out = np.full((len(rows), width), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _encode(version: str, records: dict[str, SampleRecord], splits: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """The index as flat arrays: one table of sensor records that samples point into by row.

    Sensor rows: ``sensor_token``, ``sensor_path``, ``sensor_timestamp``, ``sensor2ego``
    (N, 4, 4), ``intrinsic`` (N, 3, 3; NaN without one). Sample rows point at them with
    ``cams`` (S, 6), ``lidar`` (S,), ``radars`` (S, 5; -1: channel absent), ``radar_prev``
    (S, 5, RADAR_MAX_SWEEPS - 1) and ``lidar_prev`` (S, LIDAR_MAX_SWEEPS - 1), newest first and
    -1-padded. GT rows of all samples are concatenated, sample ``i`` owning rows
    ``gt_offsets[i]:gt_offsets[i + 1]``; splits the same way over ``split_tokens``.
    """
    sensors: list[SensorRecord] = []

    def add(rec: SensorRecord) -> int:
        sensors.append(rec)
        return len(sensors) - 1

    recs = list(records.values())
    cams = [[add(r.cams[c]) for c in CAMERAS] for r in recs]
    lidar = [add(r.lidar) for r in recs]
    radars = [[add(r.radars[ch]) if ch in r.radars else -1 for ch in RADARS] for r in recs]
    radar_prev = np.stack(
        [_padded([[add(s) for s in r.radar_prev.get(ch, [])] for ch in RADARS], RADAR_MAX_SWEEPS - 1) for r in recs]
    ) if recs else np.zeros((0, len(RADARS), RADAR_MAX_SWEEPS - 1), dtype=np.int64)
    lidar_prev = _padded([[add(s) for s in r.lidar_prev] for r in recs], LIDAR_MAX_SWEEPS - 1)
    intrinsic = np.full((len(sensors), 3, 3), np.nan)
    for i, s in enumerate(sensors):
        if s.intrinsic is not None:
            intrinsic[i] = s.intrinsic
    n_gt = [len(r.gt_labels) for r in recs]
    split_names = sorted(splits)
    return {
        "format": np.array(INDEX_FORMAT, dtype=np.int64),
        "version": _strings([version]),
        "sensor_token": _strings([s.token for s in sensors]),
        "sensor_path": _strings([s.path for s in sensors]),
        "sensor_timestamp": np.array([s.timestamp for s in sensors], dtype=np.int64),
        "sensor2ego": np.array([s.sensor2ego for s in sensors], dtype=np.float64).reshape(-1, 4, 4),
        "intrinsic": intrinsic,
        "token": _strings([r.token for r in recs]),
        "scene_token": _strings([r.scene_token for r in recs]),
        "scene_name": _strings([r.scene_name for r in recs]),
        "prev": _strings([r.prev for r in recs]),
        "next": _strings([r.next for r in recs]),
        "timestamp": np.array([r.timestamp for r in recs], dtype=np.int64),
        "ego2global": np.array([r.ego2global for r in recs], dtype=np.float64).reshape(-1, 4, 4),
        "cams": np.array(cams, dtype=np.int64).reshape(-1, len(CAMERAS)),
        "lidar": np.array(lidar, dtype=np.int64),
        "radars": np.array(radars, dtype=np.int64).reshape(-1, len(RADARS)),
        "radar_prev": radar_prev,
        "lidar_prev": lidar_prev,
        "gt_offsets": np.concatenate([[0], np.cumsum(n_gt, dtype=np.int64)]).astype(np.int64),
        "gt_boxes": np.concatenate([r.gt_boxes for r in recs]).reshape(-1, 9) if recs else np.zeros((0, 9)),
        "gt_labels": np.concatenate([r.gt_labels for r in recs] or [np.zeros(0)]).astype(np.int64),
        "gt_attrs": np.concatenate([r.gt_attrs for r in recs] or [np.zeros(0)]).astype(np.int64),
        "num_lidar_pts": np.concatenate([r.num_lidar_pts for r in recs] or [np.zeros(0)]).astype(np.int64),
        "num_radar_pts": np.concatenate([r.num_radar_pts for r in recs] or [np.zeros(0)]).astype(np.int64),
        "ann_tokens": _strings([t for r in recs for t in r.ann_tokens]),
        "split_names": _strings(split_names),
        "split_offsets": np.concatenate([[0], np.cumsum([len(splits[n]) for n in split_names], dtype=np.int64)]).astype(np.int64),
        "split_tokens": _strings([t for n in split_names for t in splits[n]]),
    }


#: Every array of a cache file: dtype kind (``S`` bytes, ``i`` integers, ``f`` floats) and shape,
#: where a letter is a length that must agree between arrays (N sensors, S samples, M GT boxes,
#: K splits, T split tokens) and a number a fixed size.
_LAYOUT: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "format": ("i", ()),
    "version": ("S", (1,)),
    "sensor_token": ("S", ("N",)),
    "sensor_path": ("S", ("N",)),
    "sensor_timestamp": ("i", ("N",)),
    "sensor2ego": ("f", ("N", 4, 4)),
    "intrinsic": ("f", ("N", 3, 3)),
    "token": ("S", ("S",)),
    "scene_token": ("S", ("S",)),
    "scene_name": ("S", ("S",)),
    "prev": ("S", ("S",)),
    "next": ("S", ("S",)),
    "timestamp": ("i", ("S",)),
    "ego2global": ("f", ("S", 4, 4)),
    "cams": ("i", ("S", len(CAMERAS))),
    "lidar": ("i", ("S",)),
    "radars": ("i", ("S", len(RADARS))),
    "radar_prev": ("i", ("S", len(RADARS), RADAR_MAX_SWEEPS - 1)),
    "lidar_prev": ("i", ("S", LIDAR_MAX_SWEEPS - 1)),
    "gt_offsets": ("i", ("S+1",)),
    "gt_boxes": ("f", ("M", 9)),
    "gt_labels": ("i", ("M",)),
    "gt_attrs": ("i", ("M",)),
    "num_lidar_pts": ("i", ("M",)),
    "num_radar_pts": ("i", ("M",)),
    "ann_tokens": ("S", ("M",)),
    "split_names": ("S", ("K",)),
    "split_offsets": ("i", ("K+1",)),
    "split_tokens": ("S", ("T",)),
}


def _check_layout(arrays: dict[str, np.ndarray]) -> None:
    """``_BadCache`` unless every array of :data:`_LAYOUT` is there with its dtype kind and a shape
    whose named lengths agree across arrays."""
    sizes: dict[str, int] = {}
    for name, (kind, shape) in _LAYOUT.items():
        if name not in arrays:
            raise _BadCache(f"no array {name!r}")
        arr = arrays[name]
        if arr.dtype.kind != kind or arr.ndim != len(shape):
            raise _BadCache(f"array {name!r} is {arr.dtype}{arr.shape}, expected kind {kind!r} with {len(shape)} axes")
        for axis, (want, got) in enumerate(zip(shape, arr.shape)):
            if isinstance(want, str):
                letter, plus = (want[0], 1) if want.endswith("+1") else (want, 0)
                want = sizes.setdefault(letter, got - plus) + plus
            if got != want:
                raise _BadCache(f"array {name!r} has length {got} on axis {axis}, expected {want}")


def _check_offsets(offsets: np.ndarray, total: int, what: str) -> None:
    if offsets[0] != 0 or offsets[-1] != total or np.any(np.diff(offsets) < 0):
        raise _BadCache(f"{what} offsets do not partition {total} rows")


def _check_rows(name: str, rows: np.ndarray, n: int, *, optional: bool) -> None:
    low = -1 if optional else 0
    if rows.size and (rows.min() < low or rows.max() >= n):
        raise _BadCache(f"array {name!r} points outside the {n} sensor rows")


def _decode(arrays: dict[str, np.ndarray], version: str) -> tuple[dict[str, SampleRecord], dict[str, list[str]]]:
    """Records and splits from the arrays of :func:`_encode`; ``_BadCache`` on any inconsistency.

    Checks the format number, the dataset version, the layout, that every sensor index
    points at a sensor row, that the GT and split offsets partition their rows, that labels
    and attributes index the known classes, and that split tokens name samples.
    """
    _check_arrays(arrays, version)
    labels, attrs = arrays["gt_labels"], arrays["gt_attrs"]
    # Records hold row views of the loaded arrays (no copies): each view is its own memory.
    sensors = _SensorRows(arrays)
    tokens, ann = _text(arrays, "token"), _text(arrays, "ann_tokens")
    scene_tokens, scene_names = _text(arrays, "scene_token"), _text(arrays, "scene_name")
    prevs, nexts = _text(arrays, "prev"), _text(arrays, "next")
    off = arrays["gt_offsets"].tolist()
    cams, lidar, radars = arrays["cams"].tolist(), arrays["lidar"].tolist(), arrays["radars"].tolist()
    radar_prev, lidar_prev = arrays["radar_prev"].tolist(), arrays["lidar_prev"].tolist()
    timestamps, ego2global = arrays["timestamp"].tolist(), list(arrays["ego2global"])
    records: dict[str, SampleRecord] = {}
    for i, token in enumerate(tokens):
        a, b = off[i], off[i + 1]
        present = [k for k, r in enumerate(radars[i]) if r >= 0]
        records[token] = SampleRecord(
            token=token,
            scene_token=scene_tokens[i],
            scene_name=scene_names[i],
            timestamp=timestamps[i],
            prev=prevs[i],
            next=nexts[i],
            ego2global=ego2global[i],
            cams={c: sensors.record(r) for c, r in zip(CAMERAS, cams[i])},
            lidar=sensors.record(lidar[i]),
            radars={RADARS[k]: sensors.record(radars[i][k]) for k in present},
            gt_boxes=arrays["gt_boxes"][a:b],
            gt_labels=labels[a:b],
            gt_attrs=attrs[a:b],
            num_lidar_pts=arrays["num_lidar_pts"][a:b],
            num_radar_pts=arrays["num_radar_pts"][a:b],
            ann_tokens=ann[a:b],
            radar_prev={RADARS[k]: sensors.chain(radar_prev[i][k]) for k in present},
            lidar_prev=sensors.chain(lidar_prev[i]),
        )
    split_tokens, split_off = _text(arrays, "split_tokens"), arrays["split_offsets"].tolist()
    split_names = _text(arrays, "split_names")
    splits = {name: split_tokens[split_off[k] : split_off[k + 1]] for k, name in enumerate(split_names)}
    if len(records) != len(tokens) or any(t not in records for ts in splits.values() for t in ts):
        raise _BadCache("duplicate sample tokens, or a split naming an unknown sample")
    return records, splits


def _check_arrays(arrays: dict[str, np.ndarray], version: str) -> None:
    """``_BadCache`` unless the arrays have this format, ``version`` and layout, every sensor index
    points at a sensor row, the GT and split offsets partition their rows, and the GT labels and
    attributes index the known classes and attributes."""
    _check_layout(arrays)
    if int(arrays["format"]) != INDEX_FORMAT or arrays["version"][0].decode() != version:
        raise _BadCache("another format or dataset version")
    n = len(arrays["sensor_token"])
    for name in ("cams", "lidar"):
        _check_rows(name, arrays[name], n, optional=False)
    for name in ("radars", "radar_prev", "lidar_prev"):
        _check_rows(name, arrays[name], n, optional=True)
    _check_offsets(arrays["gt_offsets"], len(arrays["gt_labels"]), "GT")
    _check_offsets(arrays["split_offsets"], len(arrays["split_tokens"]), "split")
    labels, attrs = arrays["gt_labels"], arrays["gt_attrs"]
    if labels.size and (labels.min() < 0 or labels.max() >= len(DETECTION_CLASSES)):
        raise _BadCache("a GT label outside the detection classes")
    if attrs.size and (attrs.min() < -1 or attrs.max() >= len(ATTRIBUTES)):
        raise _BadCache("a GT attribute outside the attributes")


def _text(arrays: dict[str, np.ndarray], name: str) -> list[str]:
    """The byte-string array ``name`` as Python strings."""
    return [v.decode() for v in arrays[name].tolist()]


class _SensorRows:
    """The sensor rows of the arrays of :func:`_encode`, each made a :class:`SensorRecord` where a
    sample refers to it."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.tokens, self.paths = _text(arrays, "sensor_token"), _text(arrays, "sensor_path")
        self.timestamps = arrays["sensor_timestamp"].tolist()
        self.sensor2ego = list(arrays["sensor2ego"])
        has_k = (~np.isnan(arrays["intrinsic"]).all(axis=(1, 2))).tolist()
        self.intrinsics = [k if has else None for k, has in zip(arrays["intrinsic"], has_k)]

    def record(self, i: int) -> SensorRecord:
        """The record of sensor row ``i``."""
        return SensorRecord(self.tokens[i], self.paths[i], self.timestamps[i], self.sensor2ego[i], self.intrinsics[i])

    def chain(self, rows: list[int]) -> list[SensorRecord]:
        """The records of ``rows``, without the -1 padding."""
        return [self.record(i) for i in rows if i >= 0]


def _read_cache(path: Path, version: str) -> tuple[dict[str, SampleRecord], dict[str, list[str]]] | None:
    """The records and splits of the cache at ``path``, or None when it is missing or fails any check."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in _LAYOUT if name in npz.files}
        return _decode(arrays, version)
    except (OSError, ValueError, KeyError, EOFError, MemoryError, zipfile.BadZipFile):
        # ValueError covers _BadCache and numpy's refusal of object (pickled) arrays;
        # MemoryError a header that claims an array larger than memory.
        return None


class SampleIndex:
    """All sample records of one dataset version, plus the sample tokens of its splits.

    Split membership comes from :func:`robobench.data.nusc.split_sample_tokens`; it is
    resolved on first use (opening the devkit only then) and added to the cache.
    """

    def __init__(
        self,
        dataroot: Path,
        version: str,
        records: dict[str, SampleRecord],
        splits: dict[str, list[str]] | None = None,
        cache_path: Path | None = None,
        nusc: Any = None,
    ) -> None:
        self.dataroot = Path(dataroot)
        self.version = version
        self.records = records
        self.splits: dict[str, list[str]] = dict(splits or {})
        self.cache_path = cache_path
        self._nusc = nusc

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, token: str) -> SampleRecord:
        return self.records[token]

    def nusc(self) -> Any:
        """The devkit ``NuScenes`` object (opened on first call)."""
        if self._nusc is None:
            from robobench.data.nusc import open_nuscenes

            self._nusc = open_nuscenes(self.dataroot, self.version)
        return self._nusc

    def split_tokens(self, split: str) -> list[str]:
        """Sample tokens of ``split`` ordered by (scene name, timestamp); ``UserError`` if unknown."""
        if split not in self.splits:
            from robobench.data.nusc import split_sample_tokens

            tokens = [t for t in split_sample_tokens(self.nusc(), split) if t in self.records]
            tokens.sort(key=lambda t: (self.records[t].scene_name, self.records[t].timestamp))
            self.splits[split] = tokens
            if self.cache_path is not None:
                self._save(self.cache_path)
        return list(self.splits[split])

    def _save(self, path: Path) -> None:
        with atomic_write(path, "wb") as fh:
            np.savez(fh, **_encode(self.version, self.records, self.splits))

    def __getstate__(self) -> dict[str, Any]:
        # Data-loader workers get a copy without the devkit object (large, and not needed there).
        state = dict(self.__dict__)
        state["_nusc"] = None
        return state


def load_index(
    dataroot: str | os.PathLike,
    version: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    nusc: Any = None,
    verbose: bool = False,
) -> SampleIndex:
    """The index of ``<dataroot>/<version>``, from the cache when the tables are unchanged.

    ``nusc`` may pass an already opened devkit object (avoids opening it twice).
    The cache lives in ``cache_dir`` (default: :func:`default_cache_dir`); stale
    caches of the same version are removed when a new one is written.
    """
    dataroot = Path(dataroot)
    if not dataroot.is_dir():
        raise UserError(f"dataroot {dataroot} does not exist; generate one with 'robobench data synth --out {dataroot}'")
    fingerprint = table_fingerprint(dataroot, version)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(dataroot)
    cache_path = cache_dir / f"index-{version}-{fingerprint}{CACHE_SUFFIX}"
    cached = _read_cache(cache_path, version)
    if cached is not None:
        return SampleIndex(dataroot, version, *cached, cache_path, nusc)
    if nusc is None:
        from robobench.data.nusc import open_nuscenes

        nusc = open_nuscenes(dataroot, version)
    records = {s["token"]: build_record(nusc, s["token"]) for s in nusc.sample}
    index = SampleIndex(dataroot, version, records, None, cache_path, nusc)
    try:
        index._save(cache_path)
        for stale in cache_dir.glob(f"index-{version}-*"):
            if stale != cache_path and stale.suffix in (CACHE_SUFFIX, ".pkl"):  # .pkl: format 3 and older
                stale.unlink(missing_ok=True)
    except OSError as exc:  # a read-only location only costs speed
        index.cache_path = None
        if verbose:
            print(f"note: could not write the index cache {cache_path}: {exc}")
    return index
