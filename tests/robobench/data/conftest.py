"""Fixtures of the data tests: a freshly built index of the tiny world and its devkit object
(the LiDAR and radar multi-sweep tests)."""

from __future__ import annotations

from typing import Any

import pytest

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
