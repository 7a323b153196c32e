"""``robobench evaluate`` on good and bad results files (exit code, one-line errors, store rows)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from robobench.cli import main
from robobench.conditions import Condition
from robobench.constants import BOOTSTRAP_REPLICATES
from robobench.errors import UserError
from robobench.evaluate import condition_file_name, condition_of_file, find_results_files
from tests.helpers.devkit_boxes import devkit_on_file
from tests.helpers.handmade_nuscenes import VERSION, make_results, write_handmade_nuscenes
from tests.helpers.results_files import mutate_at_random, perfect_results


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from nuscenes import NuScenes

    from robobench.metrics.detection import DetectionEvaluator

    root = tmp_path_factory.mktemp("evalcli")
    write_handmade_nuscenes(root)
    nusc = NuScenes(version=VERSION, dataroot=str(root), verbose=False)
    evaluator = DetectionEvaluator(nusc, "hand_val")
    good = make_results(nusc, evaluator.sample_tokens, np.random.default_rng(0))
    worse = make_results(nusc, evaluator.sample_tokens, np.random.default_rng(1), jitter=1.5, n_fp=15)
    return root, evaluator, good, worse


def args(root, results, *extra):
    return [
        "evaluate",
        "--results",
        str(results),
        "--dataroot",
        str(root),
        "--version",
        VERSION,
        "--split",
        "hand_val",
        *extra,
    ]


def test_condition_file_names_round_trip(tmp_path):
    for text in ("clean", "Fog:hard", "LowLight:easy", "CameraCrash:mid"):
        cond = Condition.parse(text)
        assert condition_of_file(tmp_path / condition_file_name(cond)) == cond
    assert condition_file_name("fog:hard") == "Fog_hard.json"
    assert condition_of_file(tmp_path / "low_light_mid.json") == Condition("LowLight", "mid")
    with pytest.raises(UserError, match="Fog_hard.json"):
        condition_of_file(tmp_path / "foggy.json")


def test_directory_of_conditions_prints_table_and_stores_rows(world, tmp_path, capsys):
    root, evaluator, good, worse = world
    d = tmp_path / "preds"
    d.mkdir()
    (d / "clean.json").write_text(json.dumps(good))
    for level in ("easy", "mid", "hard"):
        (d / f"Fog_{level}.json").write_text(json.dumps(worse))
    db = tmp_path / "results.sqlite"
    assert main(args(root, d, "--db", str(db), "--entry", "ext-model")) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["condition", "NDS", "MAP"]
    clean_nds = evaluator.evaluate(good).nds
    fog_nds = evaluator.evaluate(worse).nds
    assert lines[1].split()[0] == "clean" and float(lines[1].split()[1]) == pytest.approx(clean_nds, abs=1e-4)
    assert [line.split()[0] for line in lines[1:5]] == ["clean", "Fog:easy", "Fog:mid", "Fog:hard"]
    assert float(lines[4].split()[1]) == pytest.approx(fog_nds, abs=1e-4)
    rr = next(line for line in lines if line.startswith("RR Fog:"))
    assert float(rr.split()[-1].rstrip("%")) == pytest.approx(100 * fog_nds / clean_nds, abs=0.01)
    assert "mRR (partial: 21 conditions missing)" in out  # labelled partial, never a silent mean

    from robobench.store import ResultStore

    with ResultStore(db) as store:
        rows = {r.condition: r for r in store.rows(entry="ext-model")}
    assert set(rows) == {"clean", "Fog:easy", "Fog:mid", "Fog:hard"}
    assert rows["clean"].nds == pytest.approx(clean_nds, abs=1e-12)
    assert rows["Fog:hard"].per_class["car"]["ap"]["2.0"] == pytest.approx(
        evaluator.evaluate(worse).label_aps["car"][2.0], abs=1e-12
    )
    assert rows["clean"].dataset_id == f"{VERSION}/hand_val"
    assert not math.isnan(rows["clean"].breakdown["range_30_60"]["map"])
    boot = rows["clean"].bootstrap  # the scene bootstrap's replicates travel with every row
    assert (
        boot["unit"] == "scene" and len(boot["nds"]) == len(rows["Fog:hard"].bootstrap["map"]) == BOOTSTRAP_REPLICATES
    )
    assert min(boot["nds"]) <= clean_nds <= max(boot["nds"])
    with ResultStore(db) as store:
        assert [(e.name, e.role) for e in store.entries()] == [("ext-model", "student")]
    # scoring again with explicit metadata updates the record; without it, the record stays
    assert (
        main(
            args(
                root,
                d,
                "--db",
                str(db),
                "--entry",
                "ext-model",
                "--role",
                "distill",
                "--base",
                "bevdet",
                "--teacher",
                "centerpoint",
            )
        )
        == 0
    )
    assert main(args(root, d, "--db", str(db), "--entry", "ext-model")) == 0
    with ResultStore(db) as store:
        (rec,) = store.entries()
    assert (rec.role, rec.base, rec.teacher) == ("distill", "bevdet", "centerpoint")


def test_single_file_with_condition(world, tmp_path, capsys):
    root, _, good, _ = world
    f = tmp_path / "mine.json"
    f.write_text(json.dumps(good))
    assert main(args(root, f, "--condition", "snow:mid")) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("Snow:mid")
    with pytest.raises(UserError, match="pass a directory"):
        find_results_files(f, ["clean", "Fog:hard"])


def _bad(good, mutate):
    data = json.loads(json.dumps(good))
    mutate(data)
    return data


BAD = {
    "no_meta": (lambda d: d.pop("meta"), "'meta'"),
    "missing_sample": (lambda d: d["results"].pop(sorted(d["results"])[0]), "is missing"),
    "foreign_sample": (lambda d: d["results"].update({"not-a-token": []}), "'not-a-token' is not in the split"),
    "unknown_class": (lambda d: d["results"][sorted(d["results"])[1]][0].update(detection_name="tram"), "tram"),
    "nan_translation": (
        lambda d: d["results"][sorted(d["results"])[1]][0].update(translation=[0.0, None, 1.0]),
        "translation",
    ),
    "short_size": (lambda d: d["results"][sorted(d["results"])[1]][0].update(size=[1.0, 2.0]), "'size'"),
    "too_many": (
        lambda d: d["results"].update({sorted(d["results"])[2]: d["results"][sorted(d["results"])[2]][:1] * 501}),
        "at most 500",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_results_exit_2_with_one_line(world, tmp_path, capsys, case):
    root, _, good, _ = world
    mutate, message = BAD[case]
    f = tmp_path / "clean.json"
    f.write_text(json.dumps(_bad(good, mutate)))
    assert main(args(root, f)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err and str(f) in err


def test_bad_paths_and_names(world, tmp_path, capsys):
    root, _, good, _ = world
    d = tmp_path / "dir"
    d.mkdir()
    (d / "clean.json").write_text(json.dumps(good))
    (d / "rainy.json").write_text(json.dumps(good))
    for argv, message in [
        (args(root, d), "rainy.json"),
        (args(root, tmp_path / "nope.json"), "does not exist"),
        (args(tmp_path, d / "clean.json"), "not found under dataroot"),
        (args(root, d / "clean.json")[:-1] + ["no_such_split"], "unknown split 'no_such_split'"),
        (args(root, d / "clean.json", "--condition", "Rain:hard"), "unknown corruption"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and message in err, err
    (d / "rainy.json").unlink()
    assert main(args(root, d, "--condition", "Fog:hard")) == 2
    assert "Fog_hard.json" in capsys.readouterr().err
    (tmp_path / "garbage.json").write_text("{not json")
    assert main(args(root, tmp_path / "garbage.json")) == 2
    assert "not readable JSON" in capsys.readouterr().err


@pytest.mark.slow  # a fresh interpreter imports every sub-command (torch included)
def test_console_script_has_no_traceback(world, tmp_path):
    root, _, good, _ = world
    f = tmp_path / "clean.json"
    f.write_text(json.dumps(_bad(good, BAD["unknown_class"][0])))
    proc = subprocess.run([sys.executable, "-m", "robobench", *args(root, f)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().startswith("error: ")


def test_dataroot_version_and_split_default_like_predict(world, tmp_path, monkeypatch, capsys):
    root, _, good, _ = world
    results = tmp_path / "clean.json"
    results.write_text(json.dumps(good))
    # no --split on a version without a conventional val split: told to pass it, exit 2
    assert main(["evaluate", "--results", str(results), "--dataroot", str(root), "--version", VERSION]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass the split name" in err
    # no --dataroot/--version: the embedded synthetic world in the working folder, named when missing
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data/synth-default" in err and "robobench data synth" in err


def test_perfect_submission_scores_one_from_a_folder_and_a_file(tiny_world, tmp_path, capsys):
    """Issue 33.1: a perfect AP sums to 1.0000000000000002; bounded metrics are clamped, so a
    perfect submission scores 1.0 from a folder (with RR) and from a file, and 1.0 is stored."""
    from nuscenes import NuScenes

    from robobench.metrics.detection import split_sample_tokens
    from robobench.store import ResultStore

    nusc = NuScenes(version=tiny_world.version, dataroot=str(tiny_world.dataroot), verbose=False)
    perfect = json.dumps(perfect_results(nusc, split_sample_tokens(nusc, tiny_world.val_split)))
    d = tmp_path / "preds"
    d.mkdir()
    for name in ("clean.json", "Fog_easy.json", "Fog_mid.json", "Fog_hard.json"):
        (d / name).write_text(perfect)
    base = [
        "evaluate",
        "--dataroot",
        str(tiny_world.dataroot),
        "--version",
        tiny_world.version,
        "--split",
        tiny_world.val_split,
    ]
    db = tmp_path / "r.sqlite"
    assert main([*base, "--results", str(d), "--db", str(db), "--entry", "oracle"]) == 0, capsys.readouterr().err
    assert "RR Fog: 100.00%" in capsys.readouterr().out
    assert main([*base, "--results", str(d / "clean.json"), "--db", str(db), "--entry", "oracle-file"]) == 0
    with ResultStore(db) as store:
        rows = store.rows()
    assert len(rows) == 5
    for row in rows:
        assert (row.nds, row.map) == (1.0, 1.0), (row.condition, row.nds, row.map)
        assert all(ap <= 1.0 for c in row.per_class.values() for ap in [c["ap_mean"], *c["ap"].values()])


@pytest.mark.parametrize("seed", range(3))
def test_fuzzed_results_fail_in_one_line_or_score_as_the_devkit(world, tmp_path, capsys, seed):
    """Issue 27.6: a results file mutated at random (a field set to a wrong type, an out-of-range
    or non-finite number, or deleted; samples dropped or added) is refused in one line, or, when
    it obeys the rules, scores what the devkit's DetectionEval scores: never a traceback."""
    root, evaluator, good, _ = world
    rng = np.random.default_rng(seed)
    outcomes = []
    for trial in range(12):
        data = json.loads(json.dumps(good))
        changes = [mutate_at_random(data, rng) for _ in range(int(rng.integers(1, 3)))]
        f = tmp_path / f"clean{trial}.json"
        f.write_text(json.dumps(data))
        code = main(args(root, f, "--condition", "clean"))
        captured = capsys.readouterr()
        outcomes.append(code)
        if code == 0:
            nds = float(captured.out.splitlines()[1].split()[1])
            # the devkit's NaN checks fail on integers beyond 64 bits, so it reads them as floats
            as_floats = tmp_path / "devkit.json"
            as_floats.write_text(json.dumps(json.loads(f.read_text(), parse_int=float)))
            _, devkit = devkit_on_file(evaluator.nusc, as_floats, "hand_val", tmp_path)
            capsys.readouterr()  # the devkit's progress bars
            assert nds == pytest.approx(devkit.nd_score, abs=1e-4), changes
        else:
            assert code == 2, (changes, captured.err)
            assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, (changes, captured.err)
            assert str(f) in captured.err, (changes, captured.err)
    assert 2 in outcomes, outcomes
