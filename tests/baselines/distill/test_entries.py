"""Distillation entries end to end on the tiny world: the teacher is trained first, the student trains
with it, and prediction runs the exported student only."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from robobench.predict import predict
from robobench import registry
from robobench.registry import get_entry
from robobench.schema import TrainMode
from robobench.train import FINAL_CKPT, STATS_FILE, deep_merge, load_checkpoint, teacher_run_dir, train_entry

pytestmark = pytest.mark.slow

#: Two iterations of one sample each: enough to run every term forward and backward.
SHORT = {"train": {"epochs": 1, "max_train_samples": 2, "batch_size": 1, "warmup_iters": 0}}
#: The teacher of these tests: quick profile, shortened the same way.
TEACHER_SHORT = {"train": {"epochs": 1, "max_train_samples": 4, "warmup_iters": 0}}


@pytest.fixture(scope="module")
def teacher_ckpt(tiny_world, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short-trained centerpoint teacher for the module."""
    out = tmp_path_factory.mktemp("teacher")
    return train_entry(
        "centerpoint",
        "quick",
        seed=0,
        dataroot=tiny_world.dataroot,
        version=tiny_world.version,
        out_dir=out,
        overrides=TEACHER_SHORT,
        progress=False,
    )


@pytest.mark.parametrize("name", ["bevdet-rayd3d", "bevdepth4d-rayd3d", "bevdepth-tig", "bevdet-dense-fg"])
def test_entry_trains_and_predicts_with_the_student_only(
    name: str, tiny_world, teacher_ckpt: Path, tmp_path: Path
) -> None:
    teacher_before = load_checkpoint(teacher_ckpt)["model"]
    final = train_entry(
        name,
        "quick",
        seed=0,
        dataroot=tiny_world.dataroot,
        version=tiny_world.version,
        out_dir=tmp_path / name,
        overrides={**SHORT, "teacher_checkpoint": str(teacher_ckpt)},
        progress=False,
    )
    ckpt = load_checkpoint(final)
    assert ckpt["iteration"] == 2
    assert all(
        k.startswith(("student.", "adapters.")) for k in ckpt["model"]
    )  # no teacher weights in the student's checkpoint
    assert ckpt["config"]["teacher_checkpoint"] == str(teacher_ckpt)
    stats = json.loads((tmp_path / name / STATS_FILE).read_text())
    assert len(stats["loss_history"]) == 2 and all(torch.isfinite(torch.tensor(stats["loss_history"])))
    for k, v in load_checkpoint(teacher_ckpt)["model"].items():  # the teacher file is untouched
        assert torch.equal(v, teacher_before[k])
    pred = predict(
        name,
        final,
        "clean",
        tiny_world.dataroot,
        tiny_world.version,
        out_path=tmp_path / "results.json",
        progress=False,
    )
    results = json.loads(pred.results_path.read_text())
    assert pred.num_samples > 0 and len(results["results"]) == pred.num_samples
    assert results["meta"]["use_camera"] and not results["meta"]["use_lidar"]


def test_missing_teacher_is_trained_first_next_to_the_student_and_reused(
    tiny_world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the registered teacher, with its quick schedule shortened for the test (restored afterwards)
    teacher_entry = get_entry("centerpoint")
    short = {"quick": deep_merge(teacher_entry.config("quick"), TEACHER_SHORT)}
    monkeypatch.setitem(registry._REGISTRY, "centerpoint", dataclasses.replace(teacher_entry, profiles=short))
    runs = tmp_path / "runs"
    final = train_entry(
        "bevdet-dense",
        "quick",
        seed=3,
        dataroot=tiny_world.dataroot,
        version=tiny_world.version,
        out_dir=runs / "student",
        overrides=SHORT,
        progress=False,
    )
    teacher_final = teacher_run_dir(runs / "student", "centerpoint", "quick", TrainMode.CLEAN, 3) / FINAL_CKPT
    assert teacher_final == runs / "teachers" / "centerpoint-quick-clean-s3" / FINAL_CKPT
    teacher = load_checkpoint(teacher_final)
    assert teacher["meta"]["entry"] == "centerpoint" and teacher["config"] == get_entry("centerpoint").config("quick")
    assert load_checkpoint(final)["config"]["teacher_checkpoint"] == str(teacher_final)
    stamp = teacher_final.stat().st_mtime_ns
    # a second student of the same folder reuses the finished teacher
    train_entry(
        "bevdet-dense-fg",
        "quick",
        seed=3,
        dataroot=tiny_world.dataroot,
        version=tiny_world.version,
        out_dir=runs / "student2",
        overrides=SHORT,
        progress=False,
    )
    assert teacher_final.stat().st_mtime_ns == stamp


def test_given_teacher_checkpoint_must_exist(tiny_world, tmp_path: Path) -> None:
    from robobench.errors import UserError

    with pytest.raises(UserError, match="does not exist"):
        train_entry(
            "bevdet-rayd3d",
            "quick",
            dataroot=tiny_world.dataroot,
            version=tiny_world.version,
            out_dir=tmp_path / "s",
            overrides={**SHORT, "teacher_checkpoint": str(tmp_path / "nope.pt")},
            progress=False,
        )


@pytest.mark.parametrize("name", ["bevdet-rayd3d-rcd", "bevdepth-tig-ik"])
def test_ablation_entries_build_in_every_profile(name: str) -> None:
    entry = get_entry(name)
    for profile in ("quick", "full"):
        model = entry.build(entry.config(profile))
        base = get_entry(entry.base).build(get_entry(entry.base).config(profile))
        assert sum(p.numel() for p in model.inference_model().parameters()) == sum(p.numel() for p in base.parameters())
