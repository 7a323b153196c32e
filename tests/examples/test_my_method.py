"""``examples/my_method.py`` registers through the public API and runs through the real sweep."""

from __future__ import annotations

import json

import pytest
import torch

from robobench.registry import check_builder, discover, get_entry, load_entry_file
from robobench.store import ResultStore
from robobench.sweep import SweepContext, SweepRequest, _evaluator, run_cell, sweep
from robobench.train import FINAL_CKPT, load_checkpoint
from tests.helpers.paths import ROOT

EXAMPLE = ROOT / "examples" / "my_method.py"


def test_example_registers_a_variant_and_a_distillation_recipe():
    load_entry_file(EXAMPLE)
    entries = {e.name: e for e in discover([EXAMPLE])}
    wide, kd = entries["my-bevdet-wide"], entries["my-bevdet-bevkd"]
    assert (wide.role.value, wide.base, wide.teacher) == ("student", "bevdet", None)
    assert (kd.role.value, kd.base, kd.teacher) == ("distill", "bevdet", "centerpoint")
    bevdet = get_entry("bevdet")
    assert (
        wide.config("quick")["model"]["backbone"]["width"] == 2 * bevdet.config("quick")["model"]["backbone"]["width"]
    )
    assert set(wide.profiles) == set(bevdet.profiles) == set(kd.profiles)
    model = check_builder(kd)
    n_student = sum(p.numel() for p in check_builder(bevdet).parameters())
    assert sum(p.numel() for p in model.student.parameters()) == n_student
    assert all(not p.requires_grad for p in model.teacher.parameters())
    model.train()
    assert model.student.training and not model.teacher.training


@pytest.mark.slow
def test_example_trains_and_evaluates_in_the_sweep(tiny_world, tmp_path):
    """Teacher, variant and distilled student trained (shortened) and evaluated for real."""
    load_entry_file(EXAMPLE)
    _evaluator.cache_clear()
    store = ResultStore(tmp_path / "results.sqlite")
    ctx = SweepContext(
        tiny_world.dataroot,
        tiny_world.version,
        tmp_path / "runs",
        split=tiny_world.val_split,
        entry_files=(str(EXAMPLE),),
    )
    request = SweepRequest(
        entries=["my-bevdet-wide", "my-bevdet-bevkd"],
        conditions=["clean"],
        overrides={"train": {"epochs": 1, "max_train_samples": 2}},
    )
    # A fixed code version: the rerun below must not depend on source edits made meanwhile.
    report = sweep(request, ctx, store, dataset_id="tiny", fn=run_cell, code="example-test")
    assert [o.cell.id for o in report.ran if o.cell.kind == "train"] == [
        "train/my-bevdet-wide/clean/seed0",
        "train/centerpoint/clean/seed0",
        "train/my-bevdet-bevkd/clean/seed0",
    ]
    assert not report.failed, [o.error for o in report.failed]
    rows = {r.entry: r for r in store.rows()}
    assert set(rows) == {"my-bevdet-wide", "my-bevdet-bevkd"}
    assert _evaluator.cache_info()[:2] == (1, 1)  # one hit, one miss: the GT was prepared once
    for row in rows.values():
        assert row.status == "ok" and 0.0 <= row.nds <= 1.0 and 0.0 <= row.map <= 1.0
        assert set(row.per_class) and "small_map" in row.breakdown
        assert row.depth  # LSS students predict depth: depth metrics are stored
    # The distilled student was trained against the trained teacher's weights.
    cells = {c.id: c for c in report.planned}
    teacher_ckpt = cells["train/centerpoint/clean/seed0"].model_dir / FINAL_CKPT
    kd = load_checkpoint(cells["train/my-bevdet-bevkd/clean/seed0"].model_dir / FINAL_CKPT)
    assert kd["config"]["teacher_checkpoint"] == str(teacher_ckpt)
    teacher_state = load_checkpoint(teacher_ckpt)["model"]
    for name, value in teacher_state.items():
        assert torch.equal(kd["model"]["teacher." + name], value), name
    assert (
        json.loads((cells["train/my-bevdet-bevkd/clean/seed0"].model_dir / "train_stats.json").read_text())[
            "iterations"
        ]
        == 1
    )
    # Rerunning finds everything done.
    again = sweep(request, ctx, store, dataset_id="tiny", fn=run_cell, code="example-test")
    assert again.ran == []
