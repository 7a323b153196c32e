"""Bad command-line input, probe by probe: each is one ``error:`` line and a non-zero exit,
never a traceback, and writes nothing.

One table row per probe: the arguments (``{root}`` is the tiny world's dataroot,
``{tmp}`` the test's folder, ``{file}`` an existing file, ``{dir}`` an existing folder,
``{ckpt}`` a checkpoint missing half its weights, ``{db}`` an empty results store), the exit code, and a fragment of the
message. Usage errors (argparse) exit 2 like ``UserError``; environment failures
(permissions, a damaged checkpoint) exit 1.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from pathlib import Path

import pytest

from robobench.cli import expected_failure, main

PROBES: list[tuple[str, str, int, str]] = [
    # 27.7 / 33.3: numbers and lists a sweep cannot mean
    (
        "sweep-workers-0",
        "sweep --entries bevdet --dataroot {root} --out {tmp}/o --workers 0 --dry-run",
        2,
        "must be at least 1",
    ),
    (
        "sweep-workers-neg",
        "sweep --entries bevdet --dataroot {root} --out {tmp}/o --workers -2 --dry-run",
        2,
        "must be at least 1",
    ),
    (
        "sweep-cpus-neg",
        "sweep --entries bevdet --dataroot {root} --out {tmp}/o --cpus-per-cell -1 --dry-run",
        2,
        "must be at least 0",
    ),
    (
        "sweep-gpus-nan",
        "sweep --entries bevdet --dataroot {root} --out {tmp}/o --gpus-per-cell nan --dry-run",
        2,
        "must be at least 0",
    ),
    (
        "sweep-seed-neg",
        "sweep --entries bevdet --dataroot {root} --out {tmp}/o --seeds -1 --dry-run",
        2,
        "a seed must be in [0, 4294967295]",
    ),
    (
        "sweep-seed-huge",
        "sweep --entries bevdet --dataroot {root} --out {tmp}/o --seeds 99999999999999999999 --dry-run",
        2,
        "a seed must be in",
    ),
    (
        "sweep-seed-text",
        "sweep --entries bevdet --dataroot {root} --out {tmp}/o --seeds 0,x --dry-run",
        2,
        "a seed must be an integer",
    ),
    (
        "sweep-teacher-seed-neg",
        "sweep --entries bevdet --dataroot {root} --out {tmp}/o --teacher-seed -1 --dry-run",
        2,
        "a seed must be in",
    ),
    (
        "sweep-entries-empty",
        "sweep --entries '' --dataroot {root} --out {tmp}/o --dry-run",
        2,
        "empty list ''; name at least one entry",
    ),
    (
        "sweep-entries-commas",
        "sweep --entries , --dataroot {root} --out {tmp}/o --dry-run",
        2,
        "name at least one entry",
    ),
    (
        "sweep-conditions-empty",
        "sweep --entries bevdet --conditions '' --dataroot {root} --out {tmp}/o --dry-run",
        2,
        "name at least one condition",
    ),
    (
        "sweep-train-modes-empty",
        "sweep --entries bevdet --train-modes '' --dataroot {root} --out {tmp}/o --dry-run",
        2,
        "name at least one train mode",
    ),
    ("train-seed-neg", "train bevdet --seed -1 --dataroot {root} --out {tmp}/t", 2, "a seed must be in"),
    ("train-seed-2-32", "train bevdet --seed 4294967296 --dataroot {root} --out {tmp}/t", 2, "a seed must be in"),
    (
        "corrupt-workers-0",
        "corrupt --dataroot {root} --split synth_val --out {tmp}/c --workers 0",
        2,
        "must be at least 1",
    ),
    (
        "predict-workers-neg",
        "predict bevdet --checkpoint {ckpt} --dataroot {root} --out {tmp}/r.json --workers -1",
        2,
        "must be at least 0",
    ),
    (
        "predict-batch-0",
        "predict bevdet --checkpoint {ckpt} --dataroot {root} --out {tmp}/r.json --batch-size 0",
        2,
        "must be at least 1",
    ),
    ("demo-entries-empty", "demo --dataroot {tmp}/w --out {tmp}/o --entries ''", 2, "name at least one entry"),
    ("demo-entries-unknown", "demo --dataroot {tmp}/w --out {tmp}/o --entries nope", 2, "unknown entry 'nope'"),
    ("export-entries-empty", "results export --db {db} --out {tmp}/e.json --entries ''", 2, "name at least one entry"),
    # 27.3: nothing written into the dataset folder
    (
        "corrupt-into-dataroot",
        "corrupt --dataroot {root} --split synth_val --out {root}",
        2,
        "inside the dataset folder",
    ),
    (
        "corrupt-into-dataroot-sub",
        "corrupt --dataroot {root} --split synth_val --out {root}/nuscenes-c",
        2,
        "inside the dataset folder",
    ),
    ("gallery-into-dataroot", "corrupt gallery --dataroot {root} --out {root}/g.png", 2, "inside the dataset folder"),
    ("demo-into-world", "demo --dataroot {tmp}/w --out {tmp}/w/runs", 2, "inside the dataset folder"),
    (
        "sweep-into-dataroot",
        "sweep --entries bevdet --dataroot {root} --out {root}/runs --dry-run",
        2,
        "inside the dataset folder",
    ),
    (
        "sweep-db-into-dataroot",
        "sweep --entries bevdet --dataroot {root} --out {tmp}/o --db {root}/r.sqlite --dry-run",
        2,
        "inside the dataset folder",
    ),
    ("train-into-dataroot", "train bevdet --dataroot {root} --out {root}/model", 2, "inside the dataset folder"),
    (
        "predict-into-dataroot",
        "predict bevdet --checkpoint {ckpt} --dataroot {root} --out {root}/r.json",
        2,
        "inside the dataset folder",
    ),
    ("show-into-dataroot", "data show --dataroot {root} --out {root}/s.png", 2, "inside the dataset folder"),
    (
        "evaluate-db-into-dataroot",
        "evaluate --results {file} --dataroot {root} --db {root}/r.sqlite",
        2,
        "inside the dataset folder",
    ),
    # 27.3: a folder where a file is meant, and the reverse
    (
        "predict-out-dir",
        "predict bevdet --checkpoint {ckpt} --dataroot {root} --out {dir}",
        2,
        "is a folder; give a file path",
    ),
    ("export-out-dir", "results export --db {db} --out {dir}", 2, "is a folder; give a file path"),
    ("import-db-dir", "results import --db {dir} {file}", 2, "is a folder; give a file path"),
    ("gallery-out-dir", "corrupt gallery --dataroot {root} --out {dir}", 2, "is a folder; give a file path"),
    ("evaluate-db-dir", "evaluate --results {file} --dataroot {root} --db {dir}", 2, "is a folder; give a file path"),
    ("leaderboard-out-file", "leaderboard --db {db} --out {file}", 2, "is a file; give a folder"),
    (
        "sweep-out-file",
        "sweep --entries bevdet --dataroot {root} --out {file} --dry-run",
        2,
        "is a file; give a folder",
    ),
    ("corrupt-out-file", "corrupt --dataroot {root} --split synth_val --out {file}", 2, "is a file; give a folder"),
    ("train-out-under-file", "train bevdet --dataroot {root} --out {file}/model", 2, "is a file, not a folder"),
    # 27.2: entry names
    ("entry-file-evil-name", "entries --entry-file {evil}", 2, "'../../evil' is not a valid name"),
    (
        "sweep-evil-name",
        "sweep --entry-file {evil} --entries ../../evil --dataroot {root} --out {tmp}/o",
        2,
        "is not a valid name",
    ),
    # 27 (tracebacks): a results database that is not one, a checkpoint missing half its weights
    ("import-into-non-db", "results import --db {file} {db}", 2, "is not a robobench results database"),
    ("leaderboard-non-db", "leaderboard --db {file} --out {tmp}/site", 2, "is not a robobench results database"),
    (
        "predict-half-checkpoint",
        "predict bevdet --checkpoint {ckpt} --dataroot {root} --out {tmp}/r.json --no-progress",
        1,
        "does not fit the entry's model (Missing key(s)",
    ),
]


@pytest.fixture(scope="module")
def places(tiny_world, tmp_path_factory) -> dict[str, str]:
    """The placeholders of :data:`PROBES` (the checkpoint is built once: bevdet's quick model, half its weights)."""
    from robobench.registry import get_entry
    from robobench.store import ResultStore
    from robobench.train import save_checkpoint

    base = tmp_path_factory.mktemp("bad-inputs")
    entry = get_entry("bevdet")
    cfg = entry.config("quick")
    state = entry.build(cfg).state_dict()
    half = dict(list(state.items())[: len(state) // 2])
    save_checkpoint({"model": half, "config": cfg, "meta": {"entry": "bevdet"}}, base / "half.pt")
    (base / "a-file.json").write_text("{}")
    (base / "a-dir").mkdir()
    ResultStore(base / "store.sqlite").close()
    (base / "evil.py").write_text(
        "import torch\nfrom robobench.registry import register_entry\n"
        "@register_entry('../../evil', role='student', profiles={'quick': {}})\n"
        "def evil(cfg):\n    return torch.nn.Linear(1, 1)\n"
    )
    return {
        "root": str(tiny_world.dataroot),
        "ckpt": str(base / "half.pt"),
        "file": str(base / "a-file.json"),
        "dir": str(base / "a-dir"),
        "evil": str(base / "evil.py"),
        "db": str(base / "store.sqlite"),
    }


def snapshot(*roots: Path) -> dict[str, int]:
    """Every file under ``roots`` with its size and mtime (what a probe must leave unchanged)."""
    return {str(p): p.stat().st_mtime_ns for r in roots for p in Path(r).rglob("*") if p.is_file()}


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit code, standard error and standard output of ``robobench ARGV`` run in this process."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.err, captured.out


@pytest.mark.parametrize("name,args,code,fragment", PROBES, ids=[p[0] for p in PROBES])
def test_bad_input_is_one_line_and_writes_nothing(name, args, code, fragment, places, tmp_path, capsys) -> None:
    import shlex

    argv = [a.format(tmp=tmp_path, **places) for a in shlex.split(args)]
    before = snapshot(places["root"], tmp_path, Path(places["dir"]).parent)
    got, err, _ = run_cli(argv, capsys)
    lines = [
        line
        for line in err.splitlines()
        if line.strip() and not line.startswith("usage:") and not line.startswith("  ")
    ]
    assert got == code, err
    assert "Traceback" not in err
    assert len(lines) == 1 and "error: " in lines[0], err
    assert fragment in lines[0], err
    assert snapshot(places["root"], tmp_path, Path(places["dir"]).parent) == before  # nothing written or changed
    assert not any((tmp_path / d).exists() for d in ("o", "t", "w"))


def test_dry_run_writes_nothing(places, tmp_path, capsys) -> None:
    """33.3: a dry run lists what is left without creating the output folder or a results database."""
    code, err, out = run_cli(
        ["sweep", "--entries", "bevdet", "--dataroot", places["root"], "--out", str(tmp_path / "o"), "--dry-run"],
        capsys,
    )
    assert code == 0, err
    assert "train/bevdet/clean/seed0" in out
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_read_only_store_is_one_line(places, tmp_path, capsys) -> None:
    from robobench.store import ResultStore

    db = tmp_path / "ro.sqlite"
    ResultStore(db).close()
    db.chmod(0o444)
    code, err, _ = run_cli(["results", "import", "--db", str(db), places["db"]], capsys)
    assert code == 1 and "readonly" in err and "Traceback" not in err


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**kw)


@pytest.mark.parametrize(
    "exc,fragment",
    [
        (
            sqlite3.OperationalError("attempt to write a readonly database"),
            "results database runs/r.sqlite: attempt to write",
        ),
        (sqlite3.OperationalError("database is locked"), "database is locked; check the file"),
        (sqlite3.DatabaseError("file is not a database"), "file is not a database"),
        (IsADirectoryError(21, "Is a directory", "out.json"), "out.json: Is a directory"),
        (NotADirectoryError(20, "Not a directory", "f/x"), "f/x: Not a directory"),
        (PermissionError(13, "Permission denied", "/x"), "/x: Permission denied"),
    ],
)
def test_expected_failures_become_one_line(exc, fragment) -> None:
    assert fragment in expected_failure(exc, _args(db="runs/r.sqlite"))


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("a bug"),
        KeyError("x"),
        ZeroDivisionError(),
        sqlite3.OperationalError("no such column: nds"),
        OSError(5, "Input/output error"),
        RuntimeError("CUDA error"),
        TypeError("NoneType"),
    ],
)
def test_bugs_keep_their_traceback(exc) -> None:
    assert expected_failure(exc, _args(db="x")) is None


def test_debug_shows_the_traceback(monkeypatch, tmp_path) -> None:
    """A user error normally prints one line; with --debug it raises (the traceback shows)."""
    from robobench.errors import UserError

    argv = ["results", "export", "--db", str(tmp_path / "missing.sqlite"), "--out", str(tmp_path / "e.json")]
    assert main(argv) == 2
    with pytest.raises(UserError, match="does not exist"):
        main(["--debug", *argv])


def test_a_bug_is_not_swallowed(monkeypatch, tmp_path) -> None:
    import robobench.api as api

    def boom(path):
        raise KeyError("a real bug")

    monkeypatch.setattr(api, "_existing_store", boom)
    with pytest.raises(KeyError):
        main(["results", "export", "--db", str(tmp_path / "x.sqlite"), "--out", str(tmp_path / "e.json")])
