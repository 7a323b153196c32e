"""Two sweeps on the same output train each model once: the cell lock in its model folder.

The sweeps run in two real processes (the lock is the operating system's); the cell
function records every training in a log and takes long enough that the second sweep
starts while the first still trains.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robobench.locking import exclusive
from tests.helpers.paths import ROOT

#: Runs one sweep of entry "stud" (seed 0, clean + Fog:hard) on OUT with a cell function that
#: logs each training and skips a model whose checkpoint exists, as the real one does (resume).
SWEEP_SCRIPT = r"""
import json, os, sys, time
from pathlib import Path
import torch
from robobench import registry
from robobench.registry import register_entry
from robobench.store import ResultStore
from robobench.sweep import SweepContext, SweepRequest, sweep

out, log, hold = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
registry._INSTALLED = True  # the built-in entries are not needed here

class Tiny(torch.nn.Module):
    def forward(self, batch): return {}
    def loss(self, batch, outputs): return {}
    def decode(self, batch, outputs): return []

register_entry("stud", role="student", profiles={"quick": {}})(lambda cfg: Tiny())

def cell(cell, ctx):
    done = cell.model_dir / "final.pt"
    if cell.kind == "train":
        if done.exists():
            return {}
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {cell.id}\n")
        time.sleep(hold)
        cell.model_dir.mkdir(parents=True, exist_ok=True)
        done.write_text("weights")
        return {}
    assert done.read_text() == "weights"
    return {"nds": 0.5, "map": 0.25}

request = SweepRequest(entries=["stud"], conditions=["clean", "Fog:hard"])
ctx = SweepContext(dataroot=out, version="v", out=out, split="val")
report = sweep(request, ctx, ResultStore(out / "results.sqlite"), dataset_id="d", fn=cell, code="c")
print(json.dumps([o.status for o in report.ran]))
"""


def _start(out: Path, log: Path, hold: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    return subprocess.Popen(
        [sys.executable, "-c", SWEEP_SCRIPT, str(out), str(log), str(hold)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_sweeps_on_one_output_train_each_model_once(tmp_path: Path) -> None:
    out, log = tmp_path / "runs", tmp_path / "trainings.log"
    first = _start(out, log, hold=6.0)
    deadline = time.monotonic() + 60
    while not log.exists() and first.poll() is None and time.monotonic() < deadline:  # the first sweep is training
        time.sleep(0.05)
    second = _start(out, log, hold=6.0)
    results = [p.communicate(timeout=120) for p in (first, second)]
    for proc, (stdout, stderr) in zip((first, second), results):
        assert proc.returncode == 0, stderr
        assert json.loads(stdout.splitlines()[-1]) == ["ok", "ok", "ok"]
    assert len(log.read_text().splitlines()) == 1, "the same model was trained twice"
    assert "train/stud/clean/seed0: waiting for pid" in results[1][1]  # the second says why it waits


def test_a_killed_holder_does_not_block(tmp_path: Path) -> None:
    """The kernel drops a dead process's lock: the next process gets it at once."""
    lock = tmp_path / "model" / ".train.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from robobench.locking import exclusive\n"
            "with exclusive(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert holder.stdout.readline().strip() == "held"
    waits: list[str] = []
    holder.kill()
    holder.wait(timeout=30)
    started = time.monotonic()
    with exclusive(lock, on_wait=waits.append):
        assert lock.read_text().startswith(f"pid {os.getpid()} ")
    assert waits == [] and time.monotonic() - started < 5


def test_a_file_system_without_locks_runs_unlocked_with_a_warning(tmp_path: Path, monkeypatch) -> None:
    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    ran = []
    with pytest.warns(UserWarning, match="has no file locks"):
        with exclusive(tmp_path / ".train.lock"):
            ran.append(True)
    assert ran == [True]
