"""Shared fixtures: the tiny synthetic world is generated once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from robobench.data.index import CACHE_ENV
from robobench.data.synth import TRAIN_SPLIT, VAL_SPLIT, VERSION, generate


@dataclass(frozen=True)
class World:
    """A generated dataset: where it is and how to address it through the devkit."""

    dataroot: Path
    version: str
    train_split: str
    val_split: str


@pytest.fixture(scope="session", autouse=True)
def _index_cache(tmp_path_factory: pytest.TempPathFactory):
    """Index caches of the session (also of the CLI subprocesses) go to a temporary folder, not the user's."""
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("index-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The ``tiny`` preset (seed 0), generated once for the whole session; treat it as read-only."""
    root = generate(tmp_path_factory.mktemp("synth_tiny"), preset="tiny", seed=0)
    return World(dataroot=root, version=VERSION, train_split=TRAIN_SPLIT, val_split=VAL_SPLIT)


@pytest.fixture(scope="session")
def realistic_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The ``tiny`` preset (seed 0) drawn by the realistic renderer (generator 4); read-only."""
    root = generate(tmp_path_factory.mktemp("synth_tiny_realistic"), preset="tiny", seed=0, render="realistic")
    return World(dataroot=root, version=VERSION, train_split=TRAIN_SPLIT, val_split=VAL_SPLIT)
