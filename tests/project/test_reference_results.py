"""The measured results shipped in ``reference-results/``: valid, complete, registered and renderable.

README's status quotes them, and a researcher compares a new entry against them without
retraining the built-ins (``make reference-leaderboard``). So a file the store cannot
import, a run missing conditions, an entry that is no longer registered under its name and
role, or a folder mixing worlds or profiles must fail here, not on the user's machine.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from robobench.cli import main as cli_main
from robobench.conditions import CLEAN, all_conditions
from robobench.registry import get_entry
from robobench.schema import trained_dataset_id
from robobench.store import ResultStore, read_export, training_key
from tests.helpers.paths import ROOT as REPO_ROOT

ROOT = REPO_ROOT / "reference-results"
FOLDERS = sorted(p for p in ROOT.iterdir() if p.is_dir())
FILES = sorted(ROOT.glob("*/*.json"))
#: every condition a student's sweep evaluates: clean and the 8 corruptions x 3 levels
ALL_CONDITIONS = {str(c) for c in all_conditions()}


def _stored(paths: list[Path], db: Path) -> ResultStore:
    """A store holding ``paths``, imported through the store's own validation."""
    store = ResultStore(db)
    store.import_payloads([(read_export(p), p) for p in paths])
    return store


def test_reference_results_exist() -> None:
    assert FOLDERS and FILES, f"no result exports under {ROOT}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_export_is_a_complete_measured_run(path: Path, tmp_path: Path) -> None:
    with _stored([path], tmp_path / "one.sqlite") as store:
        rows, trainings = store.rows(), store.trainings()
        records = {e.name: e for e in store.entries()}
    assert rows, f"{path} holds no results"
    assert [r for r in rows if r.status != "ok"] == [], "a failed cell is not a reference result"
    conditions: dict[tuple, set[str]] = defaultdict(set)
    for r in rows:
        conditions[training_key(r)].add(r.condition)
    for (name, _mode, seed, _dataset, _hash), conds in conditions.items():  # TRAINING_KEY_FIELDS order
        entry = get_entry(name)  # still registered under this name
        assert records[name].role == entry.role.value
        wanted = {str(CLEAN)} if entry.role.value == "teacher" else ALL_CONDITIONS
        assert wanted <= conds, f"{path}: {name} seed {seed} lacks {sorted(wanted - conds)}"
    models = {training_key(t) for t in trainings}
    assert set(conditions) <= models, f"{path}: results without the training record of their model"
    assert all(t.wall_time_s and t.peak_rss_mb for t in trainings)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_folder_is_one_world_and_profile(folder: Path, tmp_path: Path) -> None:
    with _stored(sorted(folder.glob("*.json")), tmp_path / "all.sqlite") as store:
        rows, trainings = store.rows(), store.trainings()
    assert len({r.profile for r in rows} | {t.profile for t in trainings}) == 1
    train_ids = {t.dataset_id for t in trainings}
    assert len(train_ids) == 1, f"{folder} mixes worlds: {sorted(train_ids)}"
    (train_id,) = train_ids
    assert {trained_dataset_id(r.dataset_id) for r in rows} == {train_id}
    assert len({r.dataset_id for r in rows}) == 1, "one evaluation split per folder"
    models = defaultdict(set)
    for t in trainings:
        models[(t.entry, t.train_mode, t.seed)].add(t.config_hash)
    twice = sorted(k for k, hashes in models.items() if len(hashes) > 1)
    assert twice == [], f"{folder}: two models for one seed, the leaderboard would mix them: {twice}"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_folder_renders_its_leaderboard(folder: Path, tmp_path: Path) -> None:
    db, out = tmp_path / "ref.sqlite", tmp_path / "site"
    files = sorted(str(p) for p in folder.glob("*.json"))
    assert cli_main(["results", "import", "--db", str(db), *files]) == 0
    assert cli_main(["leaderboard", "--db", str(db), "--out", str(out)]) == 0
    with ResultStore(db) as store:
        rows = [r for r in store.rows() if r.condition == str(CLEAN)]
    board = json.loads((out / "results.json").read_text())
    listed = json.dumps(board)
    for name in {r.entry for r in rows}:
        assert name in listed, f"{name} is missing from the leaderboard of {folder.name}"
    assert (out / "index.html").is_file()
    # every tested gain (two or more seeds on both sides) shows its minimum detectable effect
    tested = [r for r in board["rows"] if r["gain_p"]]
    assert all(set(r["gain_mde"]) == set(r["gain_p"]) for r in tested)
    if tested:
        assert "MDE" in (out / "index.html").read_text()
