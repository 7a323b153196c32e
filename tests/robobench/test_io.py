"""Atomic writes (:func:`robobench.io.atomic_write`): complete or absent, unique temporary names."""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import pytest
import torch

from robobench.io import atomic_write, load_checkpoint, save_checkpoint, write_json_atomic
from tests.helpers.paths import ROOT


def test_two_writers_of_one_file_never_share_a_temporary_file(tmp_path: Path) -> None:
    """Two processes writing the same file at once (two sweep workers) each write their own
    temporary file; the last to finish wins, whole."""
    path = tmp_path / "results.json"
    with atomic_write(path) as first, atomic_write(path) as second:
        assert len(list(tmp_path.glob(".results.json.*.tmp"))) == 2
        first.write("first")
        second.write("second")
    assert path.read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_an_error_leaves_the_old_file_and_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    write_json_atomic({"rows": [1]}, path)
    with pytest.raises(TypeError):
        write_json_atomic({"rows": [object()]}, path)  # cannot be encoded: the old file stays
    assert json.loads(path.read_text()) == {"rows": [1]}
    assert [p.name for p in tmp_path.iterdir()] == ["export.json"]
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "new.bin", "wb") as fh:
            fh.write(b"partial")
            raise RuntimeError("killed")
    assert [p.name for p in tmp_path.iterdir()] == ["export.json"]


def test_prefix_and_permissions(tmp_path: Path) -> None:
    """A caller's prefix names the temporary file (what a resumable writer cleans up), and the written
    file gets the usual permissions, not ``mkstemp``'s private 0600."""
    with atomic_write(tmp_path / "a" / "img.jpg", "wb", prefix=".partial-", fsync=False) as fh:
        assert [p.name[:9] for p in (tmp_path / "a").iterdir()] == [".partial-"]
        fh.write(b"jpeg")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "a" / "img.jpg").stat().st_mode) == 0o666 & ~umask


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    save_checkpoint({"model": {"w": torch.ones(2)}, "iteration": 3}, tmp_path / "last.pt")
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert loaded["iteration"] == 3 and torch.equal(loaded["model"]["w"], torch.ones(2))


def test_no_hand_written_atomic_writes() -> None:
    """Files are replaced through robobench.io only (one implementation, unique temporary names)."""
    calls = []
    for pkg in ("robobench", "baselines", "corruptions", "leaderboard"):
        for path in (ROOT / pkg).rglob("*.py"):
            if path == ROOT / "robobench" / "io.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in ("replace", "mkstemp", "rename"):
                    if isinstance(node.value, ast.Name) and node.value.id in ("os", "tempfile"):
                        calls.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert calls == []
