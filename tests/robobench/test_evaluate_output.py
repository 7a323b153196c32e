"""``robobench evaluate --out DIR / --json``: the devkit's files, read by the devkit's readers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from nuscenes.eval.common.config import config_factory
from nuscenes.eval.detection.data_classes import DetectionMetricDataList
from nuscenes.eval.detection.evaluate import DetectionEval

from robobench.cli import main
from robobench.evaluate_output import SUMMARY_FILE
from tests.helpers.handmade_nuscenes import VERSION, make_results, write_handmade_nuscenes

SPLIT = "hand_val"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from nuscenes import NuScenes

    from robobench.metrics.detection import DetectionEvaluator

    root = tmp_path_factory.mktemp("evalout")
    write_handmade_nuscenes(root)
    nusc = NuScenes(version=VERSION, dataroot=str(root), verbose=False)
    tokens = DetectionEvaluator(nusc, SPLIT).sample_tokens
    preds = root / "preds"
    preds.mkdir()
    (preds / "clean.json").write_text(json.dumps(make_results(nusc, tokens, np.random.default_rng(0))))
    for i, level in enumerate(("easy", "mid", "hard")):
        worse = make_results(nusc, tokens, np.random.default_rng(1 + i), jitter=0.8 + 0.4 * i, n_fp=10)
        (preds / f"Fog_{level}.json").write_text(json.dumps(worse))
    return root, nusc, preds


def _args(root: Path, results: Path, *extra: str) -> list[str]:
    return [
        "evaluate",
        "--results",
        str(results),
        "--dataroot",
        str(root),
        "--version",
        VERSION,
        "--split",
        SPLIT,
        *extra,
    ]


def read_like_a_devkit_user(folder: Path) -> dict:
    """What a script written against the devkit's output_dir reads (the keys of its metrics_summary.json)."""
    summary = json.loads((folder / "metrics_summary.json").read_text())
    details = DetectionMetricDataList.deserialize(json.loads((folder / "metrics_details.json").read_text()))
    return {
        "nds": summary["nd_score"],
        "map": summary["mean_ap"],
        "tp": summary["tp_errors"],
        "tp_scores": summary["tp_scores"],
        "class_ap": summary["mean_dist_aps"],
        "label_aps": summary["label_aps"],
        "label_tp": summary["label_tp_errors"],
        "cfg": summary["cfg"],
        "meta": summary["meta"],
        "keys": sorted(summary),
        "curves": {f"{name}:{th}": md for (name, th), md in details.md.items()},
    }


def _assert_same(a, b, path="") -> None:
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), path
        for key in a:
            _assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), path
    elif isinstance(a, (int, float)):
        assert a == pytest.approx(b, abs=1e-9), path
    else:
        assert a == b, path


def test_devkit_readers_get_the_devkits_numbers_from_our_files(world, tmp_path, capsys):
    root, nusc, preds = world
    out = tmp_path / "out"
    assert main(_args(root, preds, "--out", str(out))) == 0
    capsys.readouterr()
    for name in ("clean", "Fog_hard"):
        devkit_dir = tmp_path / f"devkit-{name}"
        devkit_dir.mkdir()
        ev = DetectionEval(
            nusc,
            config_factory("detection_cvpr_2019"),
            str(preds / f"{name}.json"),
            eval_set=SPLIT,
            output_dir=str(devkit_dir),
            verbose=False,
        )
        ev.main(plot_examples=0, render_curves=False)
        capsys.readouterr()
        theirs, ours = read_like_a_devkit_user(devkit_dir), read_like_a_devkit_user(out / name)
        curves_theirs, curves_ours = theirs.pop("curves"), ours.pop("curves")
        _assert_same(theirs, ours, name)
        assert sorted(curves_theirs) == sorted(curves_ours)
        for key, md in curves_theirs.items():
            for field in (
                "recall",
                "precision",
                "confidence",
                "trans_err",
                "vel_err",
                "scale_err",
                "orient_err",
                "attr_err",
            ):
                np.testing.assert_allclose(
                    getattr(curves_ours[key], field), getattr(md, field), atol=1e-9, err_msg=f"{name} {key} {field}"
                )
        assert theirs["nds"] > 0.1


def test_summary_json_has_rr_and_partial_mrr_and_json_prints_it(world, tmp_path, capsys):
    root, _, preds = world
    out = tmp_path / "out"
    assert main(_args(root, preds, "--out", str(out), "--json")) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)  # standard output is the JSON object alone
    written = json.loads((out / SUMMARY_FILE).read_text())
    assert printed == written
    conds = written["conditions"]
    assert list(conds) == ["clean", "Fog:easy", "Fog:mid", "Fog:hard"]
    fog = [
        json.loads((out / f"Fog_{lvl}" / "metrics_summary.json").read_text())["nd_score"]
        for lvl in ("easy", "mid", "hard")
    ]
    clean = json.loads((out / "clean" / "metrics_summary.json").read_text())["nd_score"]
    assert conds["clean"]["nds"] == pytest.approx(clean, abs=1e-12)
    assert written["rr"] == {"Fog": pytest.approx(sum(fog) / (3 * clean), abs=1e-12)}
    assert written["mrr"]["value"] == pytest.approx(sum(fog) / (3 * clean), abs=1e-12)
    assert written["mrr"]["complete"] is False and len(written["mrr"]["missing"]) == 21
    assert "mce" not in written
    assert "stored" not in captured.out and "metrics:" in captured.err


def test_mce_against_a_baseline_entry_in_the_store(world, tmp_path, capsys):
    root, _, preds = world
    db = tmp_path / "results.sqlite"
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    for lvl in ("easy", "mid", "hard"):  # the baseline scores the clean predictions under Fog: fewer errors
        (base_dir / f"Fog_{lvl}.json").write_text((preds / "clean.json").read_text())
    assert main(_args(root, base_dir, "--db", str(db), "--entry", "base")) == 0
    capsys.readouterr()
    assert main(_args(root, preds, "--db", str(db), "--ce-baseline", "base", "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    base_fog = summary["conditions"]["clean"]["nds"]
    fog = [summary["conditions"][f"Fog:{lvl}"]["nds"] for lvl in ("easy", "mid", "hard")]
    expected = sum(1 - v for v in fog) / (3 * (1 - base_fog))
    assert summary["ce_baseline"] == "base"
    assert summary["ce"] == {"Fog": pytest.approx(expected, abs=1e-12)}
    assert summary["mce"]["value"] == pytest.approx(expected, abs=1e-12) and not summary["mce"]["complete"]


def test_bad_out_and_baseline_are_one_line_errors(world, tmp_path, capsys):
    root, _, preds = world
    a_file = tmp_path / "taken"
    a_file.write_text("")
    for extra, message in [
        (["--out", str(a_file)], "is a file"),
        (["--ce-baseline", "nobody"], "--ce-baseline nobody reads that entry's rows from --db"),
    ]:
        assert main(_args(root, preds / "clean.json", *extra)) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and message in err, err
