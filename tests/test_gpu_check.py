"""The prepared GPU check (``benchmarks/gpu_check.py``): its choices, and its CPU dry run end to end."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from robobench.data.synth import PRESETS, Preset

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_world_is_the_1600x900_preset_when_the_generator_has_one(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu_check = _load()
    assert gpu_check.world_preset(dry_run=True) == "tiny"
    monkeypatch.setattr(gpu_check, "PRESETS", {k: v for k, v in PRESETS.items() if v.width != 1600})
    assert gpu_check.world_preset(dry_run=False) == "default"
    wide = Preset(n_train=1, n_val=1, n_frames=2, width=1600, height=900, n_azimuth=720, density=1.0)
    monkeypatch.setattr(gpu_check, "PRESETS", {**PRESETS, "nuscenes-cam": wide})
    assert gpu_check.world_preset(dry_run=False) == "nuscenes-cam"


def test_training_runs_at_least_the_asked_iterations_with_cuda_amp() -> None:
    over = _load().train_overrides(300, 8, 320, 4, dry_run=False)["train"]
    assert over["amp"] is True and over["epochs"] * (320 // 8) >= 300 and (over["epochs"] - 1) * (320 // 8) < 300


@pytest.mark.slow
def test_dry_run_passes_every_step_on_the_cpu(tiny_world, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path), "--data", str(tiny_world.dataroot)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert {"world", "train bevdet", "train centerpoint", "evaluate bevdet (2 conditions)", "torchrun 1 process"} <= set(report)
    assert report["train centerpoint"]["iterations"] == 2 and set(report["evaluate bevdet (2 conditions)"]["nds"]) == {
        "clean", "Brightness:easy"}
    assert "all steps passed" in proc.stdout
