"""Shared pieces of the LiDAR and radar multi-sweep tests: a freshly built index of the tiny world,
its devkit object, and the devkit-only pose chain each sweep's rows are checked against."""

from __future__ import annotations

from functools import reduce
from typing import Any

import numpy as np
import pytest
from pyquaternion import Quaternion

from nuscenes.utils.geometry_utils import transform_matrix

from robobench.data.dataset import BEVDataset
from robobench.data.index import SampleIndex, load_index


@pytest.fixture(scope="module")
def index(tiny_world, tmp_path_factory, request) -> SampleIndex:
    """The tiny world's index, built afresh in a cache folder of the requesting test module."""
    return load_index(
        tiny_world.dataroot, tiny_world.version, cache_dir=tmp_path_factory.mktemp(request.module.__name__)
    )


@pytest.fixture(scope="module")
def nusc(index: SampleIndex) -> Any:
    """The devkit object the index was built with."""
    return index.nusc()


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
