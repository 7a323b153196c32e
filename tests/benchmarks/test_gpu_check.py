"""The prepared GPU check (``benchmarks/gpu_check.py``): its choices, and its CPU dry run end to end."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_world_is_tiny_at_nuscenes_camera_geometry_and_flat_for_a_dry_run() -> None:
    gpu_check = _load()
    assert gpu_check.world_options(dry_run=True) == {"preset": "tiny", "render": "flat", "camera": "preset"}
    assert gpu_check.world_options(dry_run=False) == {"preset": "tiny", "render": "realistic", "camera": "nuscenes"}


def test_an_existing_world_is_reused_only_when_written_with_the_same_options(tiny_world) -> None:
    gpu_check = _load()
    assert gpu_check.has_world(tiny_world.dataroot, gpu_check.world_options(dry_run=True))
    assert not gpu_check.has_world(tiny_world.dataroot, gpu_check.world_options(dry_run=False))
    assert not gpu_check.has_world(tiny_world.dataroot.parent / "no-such-world", gpu_check.world_options(dry_run=True))


def test_training_runs_at_least_the_asked_iterations_with_cuda_amp() -> None:
    over = _load().train_overrides(300, 8, 320, 4, dry_run=False)["train"]
    assert over["amp"] is True and over["epochs"] * (320 // 8) >= 300 and (over["epochs"] - 1) * (320 // 8) < 300


@pytest.mark.slow
def test_dry_run_passes_every_step_on_the_cpu(tiny_world, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path), "--data", str(tiny_world.dataroot)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert {
        "world",
        "train bevdet",
        "train centerpoint",
        "evaluate bevdet (2 conditions)",
        "torchrun 1 process",
    } <= set(report)
    assert report["train centerpoint"]["iterations"] == 2 and set(report["evaluate bevdet (2 conditions)"]["nds"]) == {
        "clean",
        "Brightness:easy",
    }
    assert "all steps passed" in proc.stdout
