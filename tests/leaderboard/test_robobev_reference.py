"""RoboBEV's published results, built in: the data, the recomputed aggregates and the leaderboard flag."""

from __future__ import annotations

import csv
from collections import defaultdict

import pytest

from corruptions.spec import CORRUPTIONS, LEVELS
from leaderboard.references import load_references
from leaderboard.robobev import (
    CE_BASELINE_PAGE,
    check_printed,
    data_path,
    load_robobev,
    page_levels,
    parse_results_page,
    read_printed,
)
from robobench.cli import main
from robobench.conditions import Condition, all_conditions
from robobench.schema import ResultRow
from robobench.store import ResultStore


def _checks() -> list[dict[str, str]]:
    with open(data_path("check"), encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_shipped_numbers_load_as_reference_rows():
    refs = load_robobev()
    assert len(refs) >= 30
    by_name = {r.name: r for r in refs}
    detr3d = by_name["DETR3D (RoboBEV)"]
    assert refs[0] is detr3d  # first: the default mCE baseline among reference rows, as in RoboBEV
    assert set(detr3d.nds) == set(all_conditions()) and set(detr3d.map) == set(all_conditions())
    assert detr3d.nds[Condition()] == pytest.approx(0.4224)
    assert all(r.source.startswith("RoboBEV docs/results/") and "@ ff5c267" in r.source for r in refs)
    assert len(load_references(data_path("reference"))) == len(refs)


def test_shipped_check_file_is_what_the_code_computes_now():
    fresh = check_printed(page_levels(), read_printed())
    assert [(c.page, c.table, c.metric, c.status) for c in fresh] == [
        (r["page"], r["table"], r["metric"], r["status"]) for r in _checks()
    ]


def test_printed_aggregates_are_reproduced_wherever_roboBEV_is_self_consistent():
    """RoboBEV disagrees with itself on a model when the per-corruption means its result page prints
    differ from the means of the page's levels, or when two of its tables print different values of
    the same aggregate. On every other model each printed mRR, mCE, RR and CE is reproduced."""
    rows = _checks()
    inconsistent = {r["page"] for r in rows if r["table"] == "page summary" and r["status"] == "differs"}
    printed_values = defaultdict(set)
    for r in rows:
        printed_values[(r["page"], r["metric"])].add(round(float(r["printed"]), 2))
    inconsistent |= {page for (page, _), values in printed_values.items() if len(values) > 1}
    by_page = defaultdict(list)
    for r in rows:
        if r["recomputed"] and r["metric"].split(":")[0] in ("mrr", "mce", "rr", "ce"):
            by_page[r["page"]].append(r)
    consistent = set(by_page) - inconsistent
    assert len(consistent) >= 20
    assert [
        (p, r["table"], r["metric"]) for p in consistent for r in by_page[p] if not r["status"].startswith("agrees")
    ] == []
    # where RoboBEV prints two values, ours is one of them:
    # BEVFormer-Small's mCE is 101.23 in its README, 102.40 in RESULTS.md
    agree = {(r["page"], r["metric"]) for r in rows if r["status"] == "agrees"}
    assert (
        ("BEVFormer-Small.md", "mce") in agree
        and ("BEVDet-r50.md", "mrr") in agree
        and ("BEVDet-r50.md", "mce") in agree
    )
    assert inconsistent  # RoboBEV's pages that disagree with themselves are listed, not hidden


def test_page_parser_reads_clean_and_levels():
    page = "\n".join(
        [
            "## Some model",
            "",
            "| **Corruption** | **NDS** | **mAP** |",
            "| :-: | :-: | :-: |",
            "| Clean | 0.4000 | 0.3000 |",
            "## Experiment Log",
            "### Fog",
            "| **Severity** | **NDS** | **mAP** |",
            "| :-: | :-: | :-: |",
            "| Easy | 0.3500 | 0.2500 |",
            "| Moderate | 0.3000 | 0.2000 |",
            "| Hard | 0.2500 | 0.1500 |",
            "| Average | 0.3 | 0.2 |",
        ]
    )
    title, values = parse_results_page(page)
    assert title == "Some model"
    assert values == {
        Condition(): (0.4, 0.3),
        Condition("Fog", "easy"): (0.35, 0.25),
        Condition("Fog", "mid"): (0.3, 0.2),
        Condition("Fog", "hard"): (0.25, 0.15),
    }
    assert CE_BASELINE_PAGE in page_levels()


def _store(path, dataset_id: str) -> None:
    with ResultStore(path) as store:
        store.add_many(
            [
                ResultRow(
                    entry="my-bevdet",
                    train_mode="clean",
                    condition=str(c),
                    seed=0,
                    dataset_id=dataset_id,
                    config_hash="h",
                    nds=0.35 if c.is_clean else 0.2,
                    map=0.3,
                )
                for c in all_conditions()
            ]
        )


def test_leaderboard_reference_robobev_on_real_nuscenes_only(tmp_path, capsys):
    real, synth = tmp_path / "real.sqlite", tmp_path / "synth.sqlite"
    _store(real, "v1.0-trainval-0123456789/val")
    _store(synth, "v1.0-synth-0123456789/synth_val")
    assert main(["leaderboard", "--db", str(synth), "--out", str(tmp_path / "s"), "--reference", "robobev"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "v1.0-synth-0123456789/synth_val" in err
    assert not (tmp_path / "s" / "index.html").exists()
    assert main(["leaderboard", "--db", str(real), "--out", str(tmp_path / "r"), "--reference", "robobev"]) == 0
    html = (tmp_path / "r" / "index.html").read_text()
    assert 'data-entry="DETR3D (RoboBEV)"' in html and 'class="reference"' in html and "published" in html
    assert 'data-entry="my-bevdet"' in html


def test_every_level_of_a_camera_model_is_published():
    refs = {r.name: r for r in load_robobev()}
    for name in ("BEVDet-r50 (RoboBEV)", "BEVDepth-r50 (RoboBEV)", "BEVFormer-Base (RoboBEV)", "PETR-R50 (RoboBEV)"):
        assert {Condition(c, lvl) for c in CORRUPTIONS for lvl in LEVELS} <= set(refs[name].nds), name


def test_reference_rows_use_detr3d_as_mce_baseline_and_reproduce_roboBEV():
    from leaderboard.model import build_board

    board = build_board([], {}, references=load_robobev())
    assert board.reference_baseline.entry == "DETR3D (RoboBEV)"
    bevdet = next(g for g in board.references if g.entry == "BEVDet-r50 (RoboBEV)")
    assert 100 * bevdet.metrics["mce"].mean == pytest.approx(115.12, abs=0.03)  # RoboBEV's README and RESULTS.md
    assert 100 * bevdet.metrics["mrr"].mean == pytest.approx(51.83, abs=0.03)
