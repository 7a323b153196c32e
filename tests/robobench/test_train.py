"""The training engine: schedule, loss going down, NaN stop, exact resume after SIGKILL, CLI errors.

The tiny model trained here, and the child process the resume and torchrun tests start, are in
``tests/helpers/tiny_training.py``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from robobench.errors import UserError
from robobench.train import (
    FINAL_CKPT,
    LAST_CKPT,
    STATS_FILE,
    NonFiniteLoss,
    TrainConfig,
    load_checkpoint,
    loader_workers,
    lr_factor,
    train_entry,
)
from tests.helpers.tiny_training import child_command, child_env, tiny_entry, train_tiny
from tests.helpers.training import train_on


def test_auto_loader_workers_load_in_process_on_two_cpus(monkeypatch) -> None:
    """``train.num_workers = "auto"``: no worker processes where the run may use 2 CPUs or fewer
    (they would share the cores with the step), 2 on more; a number is taken as given."""
    for cpus, workers in ((1, 0), (2, 0), (3, 2), (16, 2)):
        monkeypatch.setattr("os.sched_getaffinity", lambda pid, n=cpus: set(range(n)))
        assert loader_workers("auto") == workers
    assert loader_workers(5) == 5
    assert TrainConfig.from_dict({"num_workers": "auto"}).num_workers == "auto"
    with pytest.raises(UserError, match="num_workers"):
        TrainConfig.from_dict({"num_workers": "many"})


def test_lr_schedule_warms_up_then_decays_to_the_floor() -> None:
    f = [lr_factor(i, 100, 10, 0.1, 0.01) for i in range(101)]
    assert f[0] == pytest.approx(0.1) and f[10] == pytest.approx(1.0) and f[100] == pytest.approx(0.01)
    assert all(a < b for a, b in zip(f[:10], f[1:11]))
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert f[55] == pytest.approx(0.01 + 0.99 * 0.5, abs=1e-9)  # cosine midpoint


@pytest.mark.slow
def test_training_reduces_loss_and_writes_stats(tiny_world, tmp_path: Path) -> None:
    final = train_tiny(tiny_world, tmp_path / "run")
    ckpt = load_checkpoint(final)
    history = ckpt["history"]
    assert ckpt["iteration"] == len(history) == 9  # 3 epochs x 6 samples / batch 2
    assert sum(history[-3:]) < sum(history[:3])
    stats = json.loads((final.parent / STATS_FILE).read_text())
    assert stats["iterations"] == 9 and stats["wall_time_s"] > 0 and stats["peak_rss_mb"] > 0
    terms = stats["loss_terms"]  # each named term per iteration; they add up to the logged total
    assert terms and all(len(v) == 9 for v in terms.values()) and terms == ckpt["loss_terms"]
    for i, total in enumerate(history):
        assert sum(v[i] for v in terms.values()) == pytest.approx(total, rel=1e-5)
    with pytest.raises(UserError, match="--resume"):
        train_tiny(tiny_world, tmp_path / "run")
    assert train_tiny(tiny_world, tmp_path / "run", resume=True) == final  # a finished run is not redone


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_world, tmp_path: Path) -> None:
    with pytest.raises(NonFiniteLoss, match="iteration 3") as err:
        train_tiny(tiny_world, tmp_path / "nan", nan_at=3)
    assert "last.pt" in str(err.value)
    ckpt = load_checkpoint(tmp_path / "nan" / LAST_CKPT)
    assert ckpt["iteration"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_resume_refuses_a_run_of_another_config(tiny_world, tmp_path: Path) -> None:
    """A checkpoint of another recipe is neither resumed nor reused as finished, and is kept."""
    with pytest.raises(NonFiniteLoss):
        train_tiny(tiny_world, tmp_path / "run", nan_at=3)
    last = tmp_path / "run" / LAST_CKPT
    before = last.read_bytes()
    with pytest.raises(UserError, match=r"another config, differing at model\.nan_at \(3 vs '<absent>'\)"):
        train_tiny(tiny_world, tmp_path / "run", resume=True)
    assert last.read_bytes() == before


def test_resume_refuses_a_run_of_another_seed(tiny_world, tmp_path: Path) -> None:
    """A finished run of seed 5 is not handed back as seed 6's model, and stays as it was."""
    entry = tiny_entry(nan_at=3)
    with pytest.raises(NonFiniteLoss):
        train_tiny(tiny_world, tmp_path / "run", nan_at=3)
    final = (tmp_path / "run" / LAST_CKPT).rename(tmp_path / "run" / FINAL_CKPT)  # stands in for a finished run
    before = final.read_bytes()
    with pytest.raises(UserError, match="belongs to entry .*seed 5; it cannot resume .*seed 6"):
        train_entry(
            entry,
            "quick",
            "clean",
            seed=6,
            dataroot=tiny_world.dataroot,
            version=tiny_world.version,
            split=tiny_world.train_split,
            out_dir=tmp_path / "run",
            resume=True,
            progress=False,
        )
    assert final.read_bytes() == before


@pytest.mark.slow
def test_resume_after_sigkill_matches_an_uninterrupted_run(tiny_world, tmp_path: Path) -> None:
    """Kill a training process mid-run, resume it, and get bit-identical weights and loss curve."""
    reference = load_checkpoint(train_tiny(tiny_world, tmp_path / "ref"))

    out = tmp_path / "killed"
    args = [sys.executable, *child_command(tiny_world, out)]
    child = subprocess.Popen(args, env=child_env(PYTHONHASHSEED="0"), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    killed_at = None
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if (out / LAST_CKPT).is_file():
                it = load_checkpoint(out / LAST_CKPT)["iteration"]
                if it >= 4:
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    killed_at = it
                    break
            time.sleep(0.05)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert killed_at is not None, f"the child finished or failed before it could be killed: {child.stderr.read()!r}"
    assert child.returncode == -signal.SIGKILL
    interrupted = load_checkpoint(out / LAST_CKPT)
    assert 4 <= interrupted["iteration"] < 9

    final = load_checkpoint(train_tiny(tiny_world, out, resume=True, sleep=0.3))  # the killed run's config
    assert final["iteration"] == 9
    assert final["history"] == reference["history"] and final["loss_terms"] == reference["loss_terms"]
    for key, value in reference["model"].items():
        assert torch.equal(final["model"][key], value), key


def test_corrupted_train_mode_feeds_corrupted_views(tiny_world, tmp_path: Path) -> None:
    runs = {}
    for mode in ("clean", "corrupted"):
        final = train_entry(
            tiny_entry(),
            "quick",
            mode,
            seed=5,
            dataroot=tiny_world.dataroot,
            version=tiny_world.version,
            split=tiny_world.train_split,
            out_dir=tmp_path / mode,
            progress=False,
            overrides={"train": {"epochs": 1, "max_train_samples": 4}},
        )
        runs[mode] = load_checkpoint(final)
    assert runs["corrupted"]["meta"]["train_mode"] == "corrupted"
    assert runs["corrupted"]["history"] != runs["clean"]["history"]


@pytest.mark.slow
def test_bevdet_quick_profile_loss_goes_down(tiny_world, tmp_path: Path) -> None:
    """The real camera student through the engine: three iterations on one sample reduce its loss."""
    final = train_on(
        tiny_world,
        "bevdet",
        tmp_path / "bevdet",
        overrides={"train": {"epochs": 3, "max_train_samples": 1, "batch_size": 1, "warmup_iters": 0, "lr": 2e-3}},
    )
    history = load_checkpoint(final)["history"]
    assert len(history) == 3 and all(math.isfinite(x) for x in history)
    assert history[-1] < history[0]


def test_training_fills_the_input_cache_and_empties_it_at_the_end(tiny_world, tmp_path: Path, monkeypatch) -> None:
    """The training split's views and camera points are cached in the process for later epochs, and
    dropped when the run ends, so that an evaluation in the same process finds the room."""
    from robobench.data import dataset as dataset_mod

    cache = dataset_mod.EvalInputCache(2**30)
    monkeypatch.setattr(dataset_mod, "_EVAL_CACHE", cache)
    filled = []
    monkeypatch.setattr(cache, "clear", lambda real=cache.clear: filled.append(len(cache.entries)) or real())
    overrides = {"train": {"epochs": 2, "max_train_samples": 2, "batch_size": 1, "num_workers": 0}}
    train_on(tiny_world, "bevdet", tmp_path / "bevdet", overrides=overrides)
    assert filled == [4] and cache.entries == {}  # views and camera points of two samples, then dropped


def test_bevdet_quick_step_with_bev_augmentation(tiny_world, tmp_path: Path) -> None:
    """One quick-profile step of bevdet with BEVDet's BDA switched on by a config override: the
    Dataset augments the scene, the view transformer follows, and the loss is finite."""
    bda = {"bev_rot_lim": [-22.5, 22.5], "bev_scale_lim": [0.95, 1.05], "bev_flip": True}
    final = train_on(
        tiny_world,
        "bevdet",
        tmp_path / "bevdet-bda",
        overrides={"data": bda, "train": {"epochs": 1, "max_train_samples": 1, "batch_size": 1, "warmup_iters": 0}},
    )
    ckpt = load_checkpoint(final)
    assert ckpt["config"]["data"]["bev_flip"] is True
    assert len(ckpt["history"]) == 1 and math.isfinite(ckpt["history"][0])


@pytest.mark.slow
def test_distributed_training_under_torchrun(tiny_world, tmp_path: Path) -> None:
    """Two CPU processes (gloo) split each epoch between them and write one checkpoint."""
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        *child_command(tiny_world, out),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=child_env(OMP_NUM_THREADS="1"),
    )
    try:
        _, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and its workers
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-2000:]
    ckpt = load_checkpoint(out / "final.pt")
    assert ckpt["iteration"] == 3 * 2  # 6 samples / 2 processes / batch 2 = 2 iterations per epoch
    assert json.loads((out / STATS_FILE).read_text())["world_size"] == 2


def test_cli_reports_a_missing_dataset_in_one_line(tmp_path: Path, capsys) -> None:
    from robobench.cli import main

    assert main(["train", "bevdet", "--dataroot", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "robobench data synth" in err


def test_config_typos_are_user_errors() -> None:
    from robobench.data.dataset import DataConfig
    from robobench.errors import UserError
    from robobench.train import TrainConfig

    with pytest.raises(UserError, match=r"unknown config key train\.epoch \(did you mean train\.epochs\?\)"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(UserError, match=r"unknown config key data\.input \(did you mean data\.input_size\?\)"):
        DataConfig.from_dict({"input": [1, 2]})


@pytest.mark.slow
def test_train_command_finds_entries_of_an_entry_file(tmp_path) -> None:
    """`robobench train --entry-file F` resolves F's entry (then fails on the missing dataset)."""
    import subprocess
    import sys

    entry_file = tmp_path / "my_entry.py"
    entry_file.write_text(
        "from robobench.registry import get_entry, register_entry\n"
        "B = get_entry('bevdet')\n"
        "@register_entry('file-bevdet', role='student', base='bevdet', profiles=B.profiles)\n"
        "def file_bevdet(cfg):\n"
        "    return B.build(cfg)\n"
    )
    cmd = [sys.executable, "-m", "robobench", "train", "file-bevdet", "--dataroot", str(tmp_path / "none")]
    without = subprocess.run(cmd, capture_output=True, text=True)
    assert without.returncode == 2 and "unknown entry 'file-bevdet'" in without.stderr
    with_file = subprocess.run([*cmd, "--entry-file", str(entry_file)], capture_output=True, text=True)
    assert with_file.returncode == 2 and "not found; run 'robobench data synth" in with_file.stderr
    assert "Traceback" not in with_file.stderr


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to reset the RSS peak")
def test_peak_rss_is_measured_per_training_not_per_process() -> None:
    """A sweep worker trains models one after another: each must report its own peak, not an earlier one's."""
    import numpy as np

    from robobench.train import peak_rss_mb, reset_peak_rss

    assert reset_peak_rss()
    block = np.ones(300 * 2**20, dtype=np.uint8)  # touched, so resident
    high = peak_rss_mb(since_reset=True)
    del block
    assert reset_peak_rss()
    assert peak_rss_mb(since_reset=True) < high - 250  # the 300 MiB no longer counts
