"""Fixtures of the core's tests: an empty entry registry, and an entry returning the ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from robobench import registry
from robobench.registry import Entry, Role
from robobench.train import save_checkpoint
from tests.helpers.oracle import DEPTH_BINS, OracleModel


@pytest.fixture
def clean_registry(monkeypatch):
    """A registry holding only what a test registers (built-ins and plugins count as discovered)."""
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_LOADED_FILES", {})
    monkeypatch.setattr(registry, "_INSTALLED", True)
    return registry._REGISTRY


@pytest.fixture()
def oracle(tmp_path: Path) -> tuple[Entry, Path]:
    """The ``oracle`` entry (an :class:`OracleModel`) and a checkpoint of it."""
    cfg = {"data": {"input_size": [96, 256], "depth_downsample": 8}, "model": {"depth_bins": DEPTH_BINS}, "train": {}}
    entry = Entry(name="oracle", role=Role.STUDENT, build=OracleModel, profiles={"quick": cfg})
    ckpt = tmp_path / "oracle.pt"
    save_checkpoint({"model": {}, "config": cfg, "meta": {"entry": "oracle"}}, ckpt)
    return entry, ckpt
