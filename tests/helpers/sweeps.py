"""Shared pieces of the LiDAR and radar multi-sweep tests: the devkit-only pose chain each sweep's rows are
checked against (their ``index`` and ``nusc`` fixtures are in ``tests/robobench/data/conftest.py``)."""

from __future__ import annotations

from functools import reduce
from typing import Any

import numpy as np
from pyquaternion import Quaternion

from nuscenes.utils.geometry_utils import transform_matrix

from robobench.data.dataset import BEVDataset


def position(ds: BEVDataset, has_prev: bool) -> int:
    """Position in ``ds`` of a sample that has (or has not) a previous key frame."""
    return next(i for i, t in enumerate(ds.tokens) if bool(ds.index[t].prev) == has_prev)


def devkit_chain(nusc: Any, sd_token: str, key_lidar_token: str) -> tuple[dict, np.ndarray, float]:
    """A sweep's ``sample_data`` record, its 4x4 ``transform_matrix`` chain sensor -> ego(t_sweep) ->
    global -> ego(t_key LiDAR) built with the devkit only, and its lag behind the key LiDAR in seconds."""
    sd = nusc.get("sample_data", sd_token)
    cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
    pose = nusc.get("ego_pose", sd["ego_pose_token"])
    key_sd = nusc.get("sample_data", key_lidar_token)
    key_pose = nusc.get("ego_pose", key_sd["ego_pose_token"])
    chain = reduce(
        np.dot,
        [
            transform_matrix(key_pose["translation"], Quaternion(key_pose["rotation"]), inverse=True),
            transform_matrix(pose["translation"], Quaternion(pose["rotation"])),
            transform_matrix(cs["translation"], Quaternion(cs["rotation"])),
        ],
    )
    return sd, chain, (key_sd["timestamp"] - sd["timestamp"]) * 1e-6
