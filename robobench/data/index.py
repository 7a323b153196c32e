"""nuScenes (through the devkit) -> flat per-sample records, cached on disk.

Walking the devkit's tables for every sample of every epoch is slow and needs the
whole ``NuScenes`` object in each data-loader worker. The index does that walk once,
stores plain numpy records (DESIGN.md, "Sample record") in a pickle, and reloads them
as long as the version's table files are unchanged (the cache key is a fingerprint of
their names, sizes and modification times). It reads only devkit tables, so the same
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
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pyquaternion import Quaternion

from robobench.constants import ATTRIBUTES, CAMERAS, DETECTION_CLASSES, LIDAR, RADARS
from robobench.errors import UserError
from robobench.io import atomic_write

#: Bump when the record layout changes so that old caches are rebuilt
#: (2: ``SampleRecord.radar_prev``, the previous radar sweeps; 3: ``SampleRecord.lidar_prev``).
INDEX_FORMAT = 3

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
    """Everything the Dataset needs about one key frame (DESIGN.md, "Sample record").

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
    """``$ROBOBENCH_CACHE_DIR``, else ``<dataroot>/.robobench_cache`` if writable, else the user cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    dataroot = Path(dataroot)
    local = dataroot / ".robobench_cache"
    if local.is_dir() and os.access(local, os.W_OK) or os.access(dataroot, os.W_OK):
        return local
    key = hashlib.sha1(str(dataroot.resolve()).encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "robobench" / key


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
        payload = {"format": INDEX_FORMAT, "version": self.version, "records": self.records, "splits": self.splits}
        with atomic_write(path, "wb") as fh:
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)

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
    cache_path = cache_dir / f"index-{version}-{fingerprint}.pkl"
    if cache_path.is_file():
        try:
            with open(cache_path, "rb") as fh:
                payload = pickle.load(fh)
            if payload.get("format") == INDEX_FORMAT and payload.get("version") == version:
                return SampleIndex(dataroot, version, payload["records"], payload["splits"], cache_path, nusc)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, KeyError):
            pass  # an unreadable cache is rebuilt below
    if nusc is None:
        from robobench.data.nusc import open_nuscenes

        nusc = open_nuscenes(dataroot, version)
    records = {s["token"]: build_record(nusc, s["token"]) for s in nusc.sample}
    index = SampleIndex(dataroot, version, records, None, cache_path, nusc)
    try:
        index._save(cache_path)
        for stale in cache_dir.glob(f"index-{version}-*.pkl"):
            if stale != cache_path:
                stale.unlink(missing_ok=True)
    except OSError as exc:  # a read-only location only costs speed
        index.cache_path = None
        if verbose:
            print(f"note: could not write the index cache {cache_path}: {exc}")
    return index
