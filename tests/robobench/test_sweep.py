"""Sweep planning, skipping, failure isolation, resume after a kill, executors and the CLI.

The cell functions here are cheap deterministic ones injected into the scheduler
(the product's cell function trains and evaluates real models; see
``test_example_entry.py`` for that path).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robobench import registry
from robobench.cli import main
from robobench.conditions import Condition
from robobench.errors import UserError
from robobench.registry import register_entry
from robobench.store import ResultStore, row_key
from robobench.train import STATS_FILE
from robobench.sweep import (
    InlineExecutor,
    backfill_trainings,
    code_version,
    dataset_id,
    SweepContext,
    SweepRequest,
    make_executor,
    plan_cells,
    threads_per_cell,
    prune,
    run_cells,
    sweep,
)
from tests.helpers.registry import ContractModel as Tiny

CONDS = ["clean", "Fog:hard", "Snow:easy"]


@pytest.fixture
def entries(clean_registry):
    """An isolated registry: a student, a teacher and a distillation entry."""
    for name, role, kw in (
        ("stud", "student", {}),
        ("lidar", "teacher", {}),
        ("stud-kd", "distill", {"base": "stud", "teacher": "lidar"}),
    ):
        register_entry(name, role=role, profiles={"quick": {"w": 1}, "full": {"w": 2}}, **kw)(lambda cfg: Tiny())
    return clean_registry


def fake_metrics(cell) -> dict:
    """Deterministic metrics of a cell (a number in [0.2, 0.6] from its identity)."""
    h = int(hashlib.sha256(f"{cell.entry}|{cell.train_mode}|{cell.seed}|{cell.condition}".encode()).hexdigest(), 16)
    nds = 0.2 + (h % 4000) / 10000
    return {"nds": nds, "map": nds / 2, "per_class": {"car": {"ap_mean": nds / 3}}}


def fake_cell(cell, ctx) -> dict:
    """Train: write a checkpoint file (needs the teacher's); eval: read it, return metrics."""
    if cell.kind == "train":
        if cell.teacher_dir is not None:
            assert (cell.teacher_dir / "model.pt").is_file(), "teacher trained after its student"
        cell.model_dir.mkdir(parents=True, exist_ok=True)
        (cell.model_dir / "model.pt").write_text(cell.config_hash)
        stats = {
            "wall_time_s": 10.0 + cell.seed,
            "peak_rss_mb": 321.5,
            "iterations": 9,
            "world_size": 1,
            "device": "cpu",
        }
        return {"checkpoint": str(cell.model_dir / "model.pt"), "train_stats": stats}
    assert (cell.model_dir / "model.pt").read_text() == cell.config_hash
    return fake_metrics(cell)


def failing_cell(cell, ctx) -> dict:
    """Fails training of the distilled entry at seed 1 and every Fog:hard evaluation."""
    if cell.kind == "train" and cell.entry == "stud-kd" and cell.seed == 1:
        raise RuntimeError("out of memory (simulated)")
    if cell.condition == "Fog:hard":
        raise ValueError("bad predictions (simulated)")
    return fake_cell(cell, ctx)


def plan(tmp_path, **kw):
    args = dict(
        train_modes=["clean"],
        seeds=[0, 1],
        conditions=CONDS,
        profile="quick",
        dataset_id="synth-x",
        out=tmp_path,
        code="v+1",
    )
    args.update(kw)
    return plan_cells(args.pop("entries", ["stud", "stud-kd"]), **args)


def test_plan_orders_teachers_first_and_hashes_what_matters(entries, tmp_path):
    cells = plan(tmp_path)
    ids = [c.id for c in cells]
    train = [c for c in cells if c.kind == "train"]
    assert [c.entry for c in train] == ["stud", "stud", "lidar", "lidar", "stud-kd", "stud-kd"]
    assert sum(c.kind == "eval" for c in cells) == 2 * 2 * 3  # the teacher is not evaluated
    assert not any(c.entry == "lidar" and c.kind == "eval" for c in cells)
    for cell in cells:  # everything a cell needs comes before it
        assert all(ids.index(n) < ids.index(cell.id) for n in cell.needs)
    kd0 = next(c for c in train if c.entry == "stud-kd" and c.seed == 0)
    assert kd0.needs == ("train/lidar/clean/seed0",) and kd0.teacher_dir == train[2].model_dir
    assert len({c.config_hash for c in train}) == 6
    # The hash follows config, profile, code, dataset and (for distillation) the teacher's hash.
    base = {c.id: c.config_hash for c in train}
    for change in (dict(profile="full"), dict(code="v+2"), dict(dataset_id="other")):
        assert all(base[c.id] != c.config_hash for c in plan(tmp_path, **change) if c.kind == "train")
    entries["lidar"] = registry.Entry(**{**entries["lidar"].__dict__, "profiles": {"quick": {"w": 9}}})
    changed = {c.id: c.config_hash for c in plan(tmp_path) if c.kind == "train"}
    assert changed["train/stud/clean/seed0"] == base["train/stud/clean/seed0"]
    assert changed["train/stud-kd/clean/seed0"] != base["train/stud-kd/clean/seed0"]


def test_teacher_seed_distils_every_student_seed_from_one_teacher(entries, tmp_path):
    cells = plan(tmp_path, seeds=[1, 2], teacher_seed=0)
    train = {c.id: c for c in cells if c.kind == "train"}
    assert [i for i in train if "lidar" in i] == ["train/lidar/clean/seed0"]  # one teacher, not evaluated
    assert not train["train/lidar/clean/seed0"].evaluate
    teacher = train["train/lidar/clean/seed0"]
    for seed in (1, 2):
        kd = train[f"train/stud-kd/clean/seed{seed}"]
        assert kd.needs == (teacher.id,) and kd.teacher_dir == teacher.model_dir
    # Seed 0 with teacher seed 0 is the model the default plan makes: its results are reused.
    same = {c.id: c.config_hash for c in plan(tmp_path, seeds=[0], teacher_seed=0)}
    default = {c.id: c.config_hash for c in plan(tmp_path, seeds=[0])}
    assert same == default
    # A student of seed 1 from teacher seed 0 is another model than from teacher seed 1.
    own = {c.id: c.config_hash for c in plan(tmp_path, seeds=[1])}
    assert own["train/stud-kd/clean/seed1"] != train["train/stud-kd/clean/seed1"].config_hash
    assert own["train/stud/clean/seed1"] == train["train/stud/clean/seed1"].config_hash
    # A requested teacher is evaluated at the requested seeds, and trained at the teacher seed too.
    cells = plan(tmp_path, entries=["lidar", "stud-kd"], seeds=[1], teacher_seed=0)
    assert [c.id for c in cells if c.entry == "lidar"] == [
        "train/lidar/clean/seed1",
        *(f"eval/lidar/clean/seed1/{c}" for c in ["clean", "Fog:hard", "Snow:easy"]),
        "train/lidar/clean/seed0",
    ]
    assert next(c for c in cells if c.id == "train/stud-kd/clean/seed1").needs == ("train/lidar/clean/seed0",)


def test_code_version_follows_the_sources_that_matter(tmp_path):
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "model.py").write_text("WIDTH = 1\n")
    (tmp_path / "robobench").mkdir()
    (tmp_path / "robobench" / "sweep.py").write_text("# harness\n")
    user_file = tmp_path / "my_method.py"
    user_file.write_text("A = 1\n")
    parts = ("baselines", "robobench/train.py")
    first = code_version(tmp_path, parts, extra=[user_file])
    assert first == code_version(tmp_path, parts, extra=[user_file]) and first.startswith("0.1.0+")
    (tmp_path / "robobench" / "sweep.py").write_text("# harness, edited\n")
    assert code_version(tmp_path, parts, extra=[user_file]) == first
    (tmp_path / "baselines" / "model.py").write_text("WIDTH = 2\n")
    second = code_version(tmp_path, parts, extra=[user_file])
    assert second != first
    user_file.write_text("A = 2\n")
    assert code_version(tmp_path, parts, extra=[user_file]) != second


def test_plan_is_pure_given_a_lookup(tmp_path):
    """Planning reads entries only through ``lookup`` (here: entries no registry knows)."""

    def entry(name, role, teacher=None):
        return registry.Entry(
            name, registry.Role(role), build=lambda cfg: Tiny(), profiles={"quick": {}}, teacher=teacher
        )

    table = {e.name: e for e in (entry("t", "teacher"), entry("k", "distill", "t"))}
    cells = plan(tmp_path, entries=["k"], conditions=["clean"], lookup=table.__getitem__)
    assert [c.id for c in cells] == [
        "train/t/clean/seed0",
        "train/t/clean/seed1",
        "train/k/clean/seed0",
        "eval/k/clean/seed0/clean",
        "train/k/clean/seed1",
        "eval/k/clean/seed1/clean",
    ]
    cyclic = {"a": entry("a", "distill", "b"), "b": entry("b", "distill", "a")}
    with pytest.raises(UserError, match="teacher cycle: a -> b -> a"):
        plan(tmp_path, entries=["a"], lookup=cyclic.__getitem__)


def test_plan_rejects_bad_requests(entries, tmp_path):
    with pytest.raises(UserError, match="unknown entry 'nope'"):
        plan(tmp_path, entries=["nope"])
    with pytest.raises(UserError, match="unknown train mode 'noisy'"):
        plan(tmp_path, train_modes=["noisy"])
    with pytest.raises(UserError, match="unknown corruption 'Rain'"):
        plan(tmp_path, conditions=["Rain:hard"])
    with pytest.raises(UserError, match="seed.* 1 given twice"):
        plan(tmp_path, seeds=[1, 1])
    with pytest.raises(UserError, match="has no profile 'huge'"):
        plan(tmp_path, profile="huge")


def test_prune_skips_done_cells_and_unneeded_training(entries, tmp_path):
    cells = plan(tmp_path)
    assert prune(cells, set()) == cells
    done = {c.key for c in cells if c.kind == "eval" and c.entry == "stud"}
    left = prune(cells, done)
    assert not any(c.entry == "stud" for c in left)  # its training is not needed any more
    assert {c.entry for c in left if c.kind == "train"} == {"lidar", "stud-kd"}
    done |= {c.key for c in cells if c.kind == "eval" and c.entry == "stud-kd" and c.seed == 0}
    left = prune(cells, done)
    assert [c.id for c in left if c.kind == "train"] == ["train/lidar/clean/seed1", "train/stud-kd/clean/seed1"]
    assert prune(cells, {c.key for c in cells if c.kind == "eval"}) == []


def test_run_writes_rows_and_isolates_failures(entries, tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    ctx = SweepContext(tmp_path, "v1.0-synth", tmp_path)
    cells = plan(tmp_path)
    outcomes = run_cells(cells, failing_cell, ctx, store, InlineExecutor(), code="v+1")
    assert len(outcomes) == len(cells)
    rows = store.rows()
    assert len(rows) == 12
    failed = {r.condition if r.entry != "stud-kd" or r.seed != 1 else "kd1" for r in rows if r.status == "failed"}
    assert failed == {"Fog:hard", "kd1"}
    kd1 = store.rows(entry="stud-kd", seed=1)
    assert all(
        r.status == "failed" and "needs train/stud-kd/clean/seed1, which failed: RuntimeError: out of memory" in r.error
        for r in kd1
    )
    fog = store.rows(entry="stud", condition="Fog:hard", seed=0)[0]
    assert fog.error.startswith("ValueError: bad predictions (simulated)") and fog.nds is None
    ok = store.rows(status="ok")
    assert len(ok) == 12 - 3 - 3  # minus stud-kd seed 1 (3), minus Fog:hard of the 3 other models
    for row in ok:
        cell = next(c for c in cells if c.kind == "eval" and c.key == row_key(row))
        assert row.nds == fake_metrics(cell)["nds"] and row.per_class == {"car": {"ap_mean": row.nds / 3}}
        assert row.code_version == "v+1" and row.wall_time >= 0 and row.profile == "quick"
    # Rerunning retries only the failed cells (and the trainings they need).
    todo = prune(cells, store.keys())
    assert {c.id for c in todo if c.kind == "train"} == {
        "train/stud/clean/seed0",
        "train/stud/clean/seed1",
        "train/lidar/clean/seed0",
        "train/lidar/clean/seed1",
        "train/stud-kd/clean/seed0",
        "train/stud-kd/clean/seed1",
    }
    assert sum(c.kind == "eval" for c in todo) == 6
    # Each trained model's cost is stored under its own key; the failed training has none.
    trained = {(c.entry, c.seed, c.config_hash) for c in cells if c.kind == "train"} - {
        (c.entry, c.seed, c.config_hash) for c in cells if c.id == "train/stud-kd/clean/seed1"
    }
    records = store.trainings()
    assert {(t.entry, t.seed, t.config_hash) for t in records} == trained and len(records) == 5
    assert all(
        t.wall_time_s == 10.0 + t.seed
        and t.peak_rss_mb == 321.5
        and t.iterations == 9
        and t.device == "cpu"
        and t.code_version == "v+1"
        and t.dataset_id == "synth-x"
        and t.profile == "quick"
        for t in records
    )
    run_cells(todo, fake_cell, ctx, store, InlineExecutor(), code="v+1")
    assert store.count(status="ok") == 12 and len(store.trainings()) == 6


def test_backfill_records_the_cost_of_models_trained_before_the_store_kept_it(entries, tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    cells = plan(tmp_path, entries=["stud"], seeds=[0, 1], conditions=["clean"])
    trained = next(c for c in cells if c.id == "train/stud/clean/seed1")
    trained.model_dir.mkdir(parents=True)
    (trained.model_dir / STATS_FILE).write_text(
        json.dumps(
            {
                "wall_time_s": 75.5,
                "peak_rss_mb": 900.0,
                "iterations": 40,
                "world_size": 1,
                "device": "cpu",
                "loss_history": [1.0],
            }
        )
    )
    assert backfill_trainings(cells, store, "v+1") == 1
    (record,) = store.trainings()
    assert (record.entry, record.seed, record.config_hash, record.wall_time_s, record.iterations) == (
        "stud",
        1,
        trained.config_hash,
        75.5,
        40,
    )
    assert backfill_trainings(cells, store, "v+1") == 0  # known records are not read again


def test_cell_returning_unknown_fields_fails_cleanly(entries, tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    cells = plan(tmp_path, entries=["stud"], seeds=[0], conditions=["clean"])
    run_cells(
        cells,
        lambda c, ctx: {"ndss": 0.3} if c.kind == "eval" else {},
        SweepContext(tmp_path, "v", tmp_path),
        store,
        InlineExecutor(),
        code="v",
    )
    (row,) = store.rows()
    assert row.status == "failed" and "['ndss'] that are not ResultRow metric fields" in row.error


def test_sweep_records_entries_and_skips_finished_work(entries, tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    ctx = SweepContext(tmp_path, "v1.0-synth", tmp_path)
    request = SweepRequest(entries=["stud-kd"], seeds=[0], conditions=CONDS)
    calls = []

    def counting(cell, c):
        calls.append(cell.id)
        return fake_cell(cell, c)

    report = sweep(request, ctx, store, dataset_id="d", fn=counting, code="v")
    assert calls[:2] == ["train/lidar/clean/seed0", "train/stud-kd/clean/seed0"] and len(calls) == 5
    assert not report.failed and store.count() == 3
    assert [e.name for e in store.entries()] == ["lidar", "stud-kd"]
    assert store.entries()[1].teacher == "lidar"
    calls.clear()
    report = sweep(request, ctx, store, dataset_id="d", fn=counting, code="v")
    assert calls == [] and report.ran == [] and len(report.planned) == 5
    sweep(request, ctx, store, dataset_id="d", fn=counting, code="v2")  # new code version: redone
    assert len(calls) == 5 and store.count() == 6


def test_scores_on_another_split_are_new_cells_not_done_work(entries, tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    request = SweepRequest(entries=["stud"], seeds=[0], conditions=CONDS)
    calls: list[str] = []

    def counting(cell, c):
        calls.append(cell.id)
        return fake_cell(cell, c)

    sweep(request, SweepContext(tmp_path, "v1.0-synth", tmp_path), store, dataset_id="d", fn=counting, code="v")
    assert {r.dataset_id for r in store.rows()} == {"d/synth_val"}  # the default val split of the version
    calls.clear()
    mini = SweepContext(tmp_path, "v1.0-synth", tmp_path, split="synth_val_mini")
    sweep(request, mini, store, dataset_id="d", fn=counting, code="v")
    assert [c for c in calls if c.startswith("eval/")] == [f"eval/stud/clean/seed0/{c}" for c in CONDS]
    assert {r.dataset_id for r in store.rows()} == {"d/synth_val", "d/synth_val_mini"}


RESUME_SCRIPT = """
import hashlib, sys, time
from pathlib import Path
import torch
from robobench.registry import register_entry
from robobench.store import ResultStore
from robobench.sweep import SweepContext, SweepRequest, sweep

class Tiny(torch.nn.Module):
    def forward(self, b): return {}
    def loss(self, b, o): return {}
    def decode(self, b, o): return []

register_entry("resume-student", role="student", profiles={"quick": {}})(lambda cfg: Tiny())

EVALS = []

def cell_fn(cell, ctx):
    if cell.kind == "train":
        cell.model_dir.mkdir(parents=True, exist_ok=True)
        (cell.model_dir / "model.pt").write_text("weights")
        return {}
    if len(EVALS) == int(sys.argv[3]):  # hang in the middle of an evaluation until killed
        time.sleep(3600)
    EVALS.append(cell.id)
    h = int(hashlib.sha256(f"{cell.seed}|{cell.condition}".encode()).hexdigest(), 16)
    return {"nds": (h % 1000) / 1000, "map": (h % 777) / 1000}

out = Path(sys.argv[1])
request = SweepRequest(entries=["resume-student"], seeds=[0, 1])
sweep(request, SweepContext(out, "v1.0-synth", out), ResultStore(sys.argv[2]), dataset_id="d", fn=cell_fn, code="c")
"""


def _values(path):
    return sorted((row_key(r), r.nds, r.map, r.status) for r in ResultStore(path).rows())


@pytest.mark.slow
def test_killed_sweep_resumes_and_matches_an_uninterrupted_run(tmp_path):
    script = tmp_path / "sweep_script.py"
    script.write_text(RESUME_SCRIPT)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    full_db, cut_db = tmp_path / "full.sqlite", tmp_path / "cut.sqlite"
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "a"), str(full_db), "-1"], check=True, env=env, timeout=120
    )
    assert len(_values(full_db)) == 50  # 2 seeds x 25 conditions

    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "b"), str(cut_db), "17"], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (cut_db.exists() and ResultStore(cut_db).count() >= 17):
        time.sleep(0.05)
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)  # it hangs inside its 18th evaluation
    proc.wait(30)
    assert len(_values(cut_db)) == 17
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "b"), str(cut_db), "-1"], check=True, env=env, timeout=120
    )
    assert _values(cut_db) == _values(full_db)


def test_cli_sweep_summary_and_exit_code(entries, tmp_path, monkeypatch, capsys):
    root = tmp_path / "data"
    (root / "v1.0-synth").mkdir(parents=True)
    (root / "v1.0-synth" / "scene.json").write_text(json.dumps([{"token": "s"}]))
    import robobench.sweep as sweep_mod
    import robobench.nuscenes_c as nuscenes_c

    monkeypatch.setattr(sweep_mod, "run_cell", fake_cell)
    monkeypatch.setattr(nuscenes_c, "check_eval_images", lambda *a: 0)  # the stand-in world has no images
    args = [
        "sweep",
        "--entries",
        "stud,stud-kd",
        "--dataroot",
        str(root),
        "--out",
        str(tmp_path / "out"),
        "--conditions",
        ",".join(["clean"] + [f"{c}:{lvl}" for c in ("Fog", "Snow") for lvl in ("easy", "mid", "hard")]),
        "--ce-baseline",
        "stud",
        "--no-leaderboard",
    ]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "17 to run" in out and "train/lidar/clean/seed0" in out
    assert not (tmp_path / "out" / "models").exists() and ResultStore(tmp_path / "out" / "results.sqlite").count() == 0
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("17 cells planned (14 evaluations); 17 to run")
    table = lines[lines.index(next(line for line in lines if line.startswith("entry"))) + 2 :]
    stud = table[0].split()
    assert stud[:3] == ["stud", "clean", "1"] and stud[5].endswith("*") and stud[6] == "100.00*"
    assert table[1].split()[0] == "stud-kd"
    store = ResultStore(tmp_path / "out" / "results.sqlite")
    rows = {r.condition: r.nds for r in store.rows(entry="stud")}
    expected_rr = sum(rows[f"Fog:{lvl}"] for lvl in ("easy", "mid", "hard")) / (3 * rows["clean"])
    expected_rr = (expected_rr + sum(rows[f"Snow:{lvl}"] for lvl in ("easy", "mid", "hard")) / (3 * rows["clean"])) / 2
    assert stud[5] == f"{100 * expected_rr:.2f}*"  # partial: 2 of 8 corruptions
    assert stud[3] == f"{rows['clean']:.4f}"
    # Everything is done: nothing to run; the leaderboard is rendered from the store.
    assert main(args[:-1]) == 0
    out = capsys.readouterr().out
    assert "0 to run" in out
    index = Path(out.split("leaderboard: ")[1].split()[0])
    assert index.is_file() and "stud-kd" in index.read_text()
    # --teacher-seed: the seed-1 student learns from the seed-0 teacher, no seed-1 teacher is planned.
    assert main([*args, "--seeds", "1", "--teacher-seed", "0", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "train/stud-kd/clean/seed1" in out and "train/lidar/clean/seed0" in out
    assert "train/lidar/clean/seed1" not in out
    # A failing cell makes the exit code 1.
    monkeypatch.setattr(sweep_mod, "run_cell", failing_cell)
    assert main([*args, "--seeds", "1"]) == 1
    assert "cell(s) failed" in capsys.readouterr().err
    assert main(["sweep", "--entries", "stud", "--dataroot", str(tmp_path / "nowhere")]) == 2
    with pytest.raises(SystemExit):  # argparse usage error, before any model is built
        main([*args, "--conditions", "clean,Rain:hard"])
    assert "unknown corruption 'Rain'" in capsys.readouterr().err


def test_printed_summary_and_leaderboard_agree_on_every_mce(entries, tmp_path, monkeypatch, capsys):
    """One mCE: the sweep's printed summary shows the leaderboard's (each seed's CE against the
    baseline's NDS averaged over its seeds), not a second definition pairing seeds."""
    from robobench.metrics import robustness

    root = tmp_path / "data"
    (root / "v1.0-synth").mkdir(parents=True)
    (root / "v1.0-synth" / "scene.json").write_text(json.dumps([{"token": "s"}]))
    import robobench.nuscenes_c as nuscenes_c
    import robobench.sweep as sweep_mod

    monkeypatch.setattr(sweep_mod, "run_cell", fake_cell)
    monkeypatch.setattr(nuscenes_c, "check_eval_images", lambda *a: 0)  # the stand-in world has no images
    out = tmp_path / "out"
    argv = [
        "sweep",
        "--entries",
        "stud,stud-kd",
        "--seeds",
        "0,1,2",
        "--dataroot",
        str(root),
        "--out",
        str(out),
        "--ce-baseline",
        "stud",
        "--no-progress",
    ]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("entry"))
    assert lines[header].endswith("mCE % (vs stud)")
    printed = {cols[0]: cols[6] for cols in (line.split() for line in lines[header + 2 : header + 4])}
    board = json.loads((out / "leaderboard" / "results.json").read_text())
    shown = {r["entry"]: r["mce"]["mean"] for r in board["rows"]}
    assert board["baseline"] == "stud" and set(printed) == {"stud", "stud-kd"}
    for entry, value in printed.items():
        assert value == f"{shown[entry]:.2f}", (entry, value, shown[entry])
    # the seed-paired definition the summary used to print gives another value on this store
    tables: dict[tuple[str, int], dict[Condition, float]] = {}
    for row in ResultStore(out / "results.sqlite").rows():
        tables.setdefault((row.entry, row.seed), {})[Condition.parse(row.condition)] = row.nds
    paired = sum(robustness.mce(tables[("stud-kd", s)], tables[("stud", s)]) for s in range(3)) / 3
    assert f"{100 * paired:.2f}" != printed["stud-kd"]


def _pool_cell(cell, ctx):
    return {**fake_cell(cell, ctx), "breakdown": {"pid": os.getpid()}}


@pytest.fixture
def local_ray():
    """A local Ray instance on 2 CPUs that ships this module's functions by value."""
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "ray"])
def test_parallel_executors(kind, tmp_path, request):
    """Cells run in two worker processes (a spawn pool, or Ray tasks); the driver writes the rows."""
    if kind == "ray":
        request.getfixturevalue("local_ray")
    from robobench.sweep import Cell

    cells = []
    for seed in range(2):
        model_dir = tmp_path / f"m{seed}"
        model_dir.mkdir()
        (model_dir / "model.pt").write_text("h")
        cells += [Cell("eval", "e", "clean", seed, "quick", "d", "h", model_dir, condition=c) for c in CONDS]
    store = ResultStore(tmp_path / "r.sqlite")
    executor = make_executor(kind, workers=2)
    try:
        outcomes = run_cells(cells, _pool_cell, SweepContext(tmp_path, "v", tmp_path), store, executor, code="c")
    finally:
        executor.shutdown()
    assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes]
    assert store.count(status="ok") == 6
    rows = store.rows()
    assert {r.nds for r in rows} == {fake_metrics(c)["nds"] for c in cells}
    assert os.getpid() not in {r.breakdown["pid"] for r in rows}  # computed in other processes


@pytest.mark.slow
def test_real_sweep_killed_mid_evaluation_resumes(tiny_world, tmp_path):
    """The real pipeline in a subprocess: kill it during its second evaluation, rerun with the
    same arguments; rows finished before the kill are kept as they were, the training is not
    redone, and every row equals a fresh evaluation of that condition's predictions."""
    from robobench.data.nusc import open_nuscenes
    from robobench.evaluate import condition_file_name
    from robobench.metrics.detection import DetectionEvaluator
    from robobench.train import FINAL_CKPT, STATS_FILE

    db = tmp_path / "results.sqlite"
    conditions = ["clean", "Brightness:easy"]
    # The CLI in a child process, its code version pinned so that source edits made while the
    # test runs cannot change the config hash between the killed run and the rerun.
    child = (
        "import sys, robobench.sweep as s; from robobench.cli import main; "
        "s.code_version = lambda **kw: 'pinned'; sys.exit(main(sys.argv[1:]))"
    )
    cmd = [
        sys.executable,
        "-c",
        child,
        "sweep",
        "--entries",
        "bevdet",
        "--dataroot",
        str(tiny_world.dataroot),
        "--out",
        str(tmp_path / "runs"),
        "--db",
        str(db),
        "--conditions",
        ",".join(conditions),
        "--set",
        "train.epochs=1",
        "--set",
        "train.max_train_samples=2",
        "--no-leaderboard",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not (db.exists() and ResultStore(db).count() >= 1):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    before = ResultStore(db).rows()
    assert len(before) == 1 and before[0].status == "ok"
    (model_dir,) = (tmp_path / "runs" / "models" / "bevdet" / "clean").iterdir()
    trained_at = (model_dir / FINAL_CKPT).stat().st_mtime_ns

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    # The train cell runs again only to find its finished checkpoint.
    assert "3 cells planned (2 evaluations); 2 to run, 1 already done" in done.stdout
    rows = ResultStore(db).rows()
    assert sorted(r.condition for r in rows) == sorted(conditions) and all(r.status == "ok" for r in rows)
    assert before[0] in rows  # kept as written before the kill (same created_at, same numbers)
    assert (model_dir / FINAL_CKPT).stat().st_mtime_ns == trained_at
    (cost,) = ResultStore(db).trainings()  # stored again from the reused run's train_stats.json
    stats = json.loads((model_dir / STATS_FILE).read_text())
    assert (cost.entry, cost.wall_time_s, cost.peak_rss_mb, cost.iterations) == (
        "bevdet",
        stats["wall_time_s"],
        stats["peak_rss_mb"],
        stats["iterations"],
    )
    assert cost.wall_time_s > 0 and cost.peak_rss_mb > 0 and cost.iterations >= 1
    evaluator = DetectionEvaluator(open_nuscenes(tiny_world.dataroot, tiny_world.version), tiny_world.val_split)
    for row in rows:
        fresh = evaluator.evaluate(model_dir / "results" / condition_file_name(row.condition)).row_fields()
        assert (row.nds, row.map, row.per_class) == (fresh["nds"], fresh["map"], fresh["per_class"])


def test_dataset_id_separates_worlds_that_share_their_tables(tiny_world, tmp_path):
    """Two synthetic worlds of the same scenes drawn differently (another renderer or generator
    version) have equal tables; their ids differ through the generator stamp, while a copy of a
    world keeps its id (content-based, not path-based) and a root without a stamp (real nuScenes)
    is identified by its tables alone."""
    from robobench.data.synth import MARKER

    version = tiny_world.version
    copy = tmp_path / "copy"
    shutil.copytree(tiny_world.dataroot / version, copy / version)
    shutil.copy(tiny_world.dataroot / MARKER, copy / MARKER)
    assert dataset_id(copy, version) == dataset_id(tiny_world.dataroot, version)
    stamp = json.loads((copy / MARKER).read_text())
    (copy / MARKER).write_text(json.dumps({**stamp, "render": "realistic", "camera": "preset"}))
    drawn_otherwise = dataset_id(copy, version)
    assert drawn_otherwise != dataset_id(tiny_world.dataroot, version)
    (copy / MARKER).unlink()
    assert dataset_id(copy, version) not in (drawn_otherwise, dataset_id(tiny_world.dataroot, version))


def test_threads_per_cell_share_the_usable_cpus(monkeypatch) -> None:
    """Local workers split the CPUs this process may use (its affinity set, not the machine's count);
    one worker keeps torch's default (0); a Ray cell gets the CPUs it reserves."""
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(6)))
    assert threads_per_cell("local", 1, 1.0) == 0
    assert threads_per_cell("local", 2, 1.0) == 3
    assert threads_per_cell("local", 8, 1.0) == 1
    assert threads_per_cell("ray", 4, 2.0) == 2
