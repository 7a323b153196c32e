"""The static leaderboard: numbers, partial results, odd names, references, exports, CLI (no browser)."""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import re
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corruptions.spec import CORRUPTIONS, LEVELS
from tests.helpers.leaderboard_rows import (
    ENTRIES_META,
    make_row,
    PARTIAL_FAILED,
    PARTIAL_MISSING,
    RAYD3D_TABLE1_CSV,
    XSS_NAME,
    fixture_rows,
    nds_table,
)
from leaderboard import build_board, load_references, render_site
from leaderboard.charts import nice_ticks, series_for, top_series
from leaderboard.gallery import gallery_png, source_image
from leaderboard.model import nested_getter
from leaderboard.render import page_name
from robobench.cli import main as cli_main
from robobench.conditions import CLEAN, all_conditions
from robobench.errors import UserError
from robobench.schema import EntryRecord, TrainingRecord, trained_dataset_id


class Cells(HTMLParser):
    """Collects, per ``<tr data-entry>`` of the results table, each cell's attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[dict, list[dict]]] = []
        self._cell: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-entry" in a:
            self.rows.append((a, []))
        elif tag == "td" and self.rows and self._cell is None:
            self._cell = {**a, "text": ""}
            self.rows[-1][1].append(self._cell)

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def rr_by_hand(nds: dict[str, float], corruption: str) -> float:
    """RoboBEV's RR_i written out independently of the project's metric code."""
    return sum(nds[f"{corruption}:{lvl}"] for lvl in LEVELS) / (3 * nds["clean"])


@pytest.fixture(scope="module")
def ref_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("refs") / "rayd3d_table1.csv"
    path.write_text(RAYD3D_TABLE1_CSV)
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory, ref_file) -> Path:
    out = tmp_path_factory.mktemp("site")
    render_site(fixture_rows(), ENTRIES_META, out, references=load_references(ref_file))
    return out


@pytest.fixture(scope="module")
def table(site) -> dict[tuple[str, str], dict[str, dict]]:
    """(entry, train mode) -> column key -> cell attributes/text of the fixture site."""
    return read_table(site)


def read_table(site: Path) -> dict[tuple[str, str], dict[str, dict]]:
    """(entry, train mode) -> column key -> cell attributes/text, read back from index.html."""
    html = (site / "index.html").read_text()
    keys = re.findall(r'<th data-sort="[a-z]+" data-col="(\d+)"(?: data-key="([^"]+)")?', html)
    names = {int(c): (k or f"col{c}") for c, k in keys}
    parser = Cells()
    parser.feed(html)
    out = {}
    for attrs, cells in parser.rows:
        out[(attrs["data-entry"], attrs["data-mode"])] = {names[i]: c for i, c in enumerate(cells) if i in names}
    return out


def test_index_has_one_row_per_entry_and_train_mode(table):
    expected = {(e, "clean") for e in ENTRIES_META} | {("bevdet-tiny+tig", "corrupted")}
    expected |= {("BEVDet (paper)", "clean"), ("BEVDet + RayD3D (paper)", "clean")}
    assert set(table) == expected


def test_mrr_and_rr_match_roboBEV_definition(table):
    nds = nds_table("bevdepth-tiny")
    rr = {c: rr_by_hand(nds, c) for c in CORRUPTIONS}
    row = table[("bevdepth-tiny", "clean")]
    for c in CORRUPTIONS:
        assert float(row[f"rr:{c}"]["data-v"]) == pytest.approx(rr[c], abs=1e-6)
    assert float(row["mrr"]["data-v"]) == pytest.approx(sum(rr.values()) / 8, abs=1e-6)
    assert row["nds"]["text"].strip().startswith("36.0")


def test_mce_against_default_baseline_the_first_student(table):
    base, own = nds_table("bevdet-tiny"), nds_table("bevdepth-tiny")
    ce = [
        sum(1 - own[f"{c}:{level}"] for level in LEVELS) / sum(1 - base[f"{c}:{level}"] for level in LEVELS)
        for c in CORRUPTIONS
    ]
    assert float(table[("bevdepth-tiny", "clean")]["mce"]["data-v"]) == pytest.approx(sum(ce) / 8, abs=1e-6)
    assert float(table[("bevdet-tiny", "clean")]["mce"]["data-v"]) == pytest.approx(1.0)


def test_partial_entry_is_marked_partial_never_averaged(table, site):
    row = table[("bevdet-partial", "clean")]
    for key in ("mrr", "mce", "rr:Fog", "rr:Snow", "rr:MotionBlur", "absrel_corrupted"):
        assert "partial" in row[key]["class"] and row[key]["data-v"] == "", key
    assert "Fog:easy" in row["mrr"]["title"] and PARTIAL_FAILED in row["mrr"]["title"]
    assert "5/8" in row["mrr"]["text"]
    # complete corruptions of the partial entry are still shown as numbers
    nds = nds_table("bevdet-partial")
    assert float(row["rr:Brightness"]["data-v"]) == pytest.approx(rr_by_hand(nds, "Brightness"), abs=1e-6)
    # the tooltip's partial mean is over the 5 complete corruptions only
    five = [c for c in CORRUPTIONS if c not in ("Fog", "Snow", "MotionBlur")]
    partial_mean = 100 * sum(rr_by_hand(nds, c) for c in five) / 5
    assert f"{partial_mean:.1f}" in row["mrr"]["title"]
    records = {(r["entry"], r["train_mode"]): r for r in json.loads((site / "results.json").read_text())["rows"]}
    rec = records[("bevdet-partial", "clean")]["mrr"]
    assert rec["partial"] and set(PARTIAL_MISSING) <= set(rec["missing"])
    csv_rows = {r["entry"]: r for r in csv.DictReader(io.StringIO((site / "results.csv").read_text()))}
    assert csv_rows["bevdet-partial"]["mrr"] == "" and "Fog:easy" in csv_rows["bevdet-partial"]["missing"]


def test_seeds_show_mean_and_sample_std(table):
    cell = table[("bevdet-tiny+rayd3d", "clean")]["nds"]
    assert cell["text"].replace(" ", "") == "34.0±1.4"  # seeds 0.33 and 0.35: mean 34.0, sample std 1.41
    assert float(cell["data-v"]) == pytest.approx(0.34)


def test_gain_over_base_same_train_mode_only(table):
    assert "+4.0 NDS" in table[("bevdet-tiny+rayd3d", "clean")]["gain"]["text"]
    assert table[("bevdet-tiny+tig", "corrupted")]["gain"]["text"].strip() == ""  # no corrupted-trained base
    assert "+4.5 NDS" in table[("BEVDet + RayD3D (paper)", "clean")]["gain"]["text"]
    assert "+2.5 mRR" in table[("BEVDet + RayD3D (paper)", "clean")]["gain"]["text"]


def test_best_marked_among_camera_models_only(table):
    assert "best" in table[("bevdepth-tiny", "clean")]["nds"]["class"]
    assert "best" not in table[("centerpoint-tiny", "clean")]["nds"]["class"]  # LiDAR teacher is not ranked
    assert "best" in table[("bevdet-tiny+tig", "corrupted")]["mrr"]["class"]
    assert "best" in table[("bevdepth-tiny", "clean")]["absrel_clean"]["class"]  # lower is better


def _row_html(html: str, entry: str, mode: str = "clean") -> str:
    start = html.index(f'<tr data-entry="{entry}"')
    while f'data-mode="{mode}"' not in html[start : html.index(">", start)]:
        start = html.index(f'<tr data-entry="{entry}"', start + 1)
    return html[start : html.index("</tr>", start)]


def test_rows_below_the_map_floor_are_tagged_and_not_ranked(site, tmp_path):
    assert "tag-lowmap" not in (site / "index.html").read_text().split("<tbody>")[1].split("</tbody>")[0]
    # fixture clean mAPs: bevdepth-tiny 0.288, the other camera models 0.16-0.28, the LiDAR teacher 0.44
    board = build_board(fixture_rows(), ENTRIES_META, min_map=0.285)
    flagged = {(g.entry, g.train_mode) for g in board.measured if g.low_map}
    assert ("bevdepth-tiny", "clean") not in flagged and ("centerpoint-tiny", "clean") not in flagged
    assert {("bevdet-tiny", "clean"), ("bevdet-tiny+rayd3d", "clean"), ("bevdet-tiny+tig", "corrupted")} <= flagged
    assert board.best["mrr"] and {key[0] for key in board.best["mrr"]} == {"bevdepth-tiny"}
    render_site(fixture_rows(), ENTRIES_META, tmp_path, min_map=0.285)
    html = (tmp_path / "index.html").read_text()
    assert "tag-lowmap" in _row_html(html, "bevdet-tiny") and "tag-lowmap" not in _row_html(html, "bevdepth-tiny")
    with pytest.raises(UserError, match="min_map=1.5"):
        build_board(fixture_rows(), ENTRIES_META, min_map=1.5)


def test_reference_rows_reproduce_published_mrr(table):
    # RayD3D Table 1 prints mRR 52.2 (BEVDet) and 54.7 (+RayD3D); recomputed from its RR columns
    assert 100 * float(table[("BEVDet (paper)", "clean")]["mrr"]["data-v"]) == pytest.approx(52.2, abs=0.05)
    assert 100 * float(table[("BEVDet + RayD3D (paper)", "clean")]["mrr"]["data-v"]) == pytest.approx(54.7, abs=0.05)
    assert float(table[("BEVDet (paper)", "clean")]["mce"]["data-v"]) == pytest.approx(
        1.0
    )  # its own reference baseline


def test_odd_entry_name_is_escaped_everywhere(site):
    for page in site.glob("*.html"):
        text = page.read_text()
        assert XSS_NAME not in text, page.name
        assert "<b>bold</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (site / "index.html").read_text()
    entry_page = site / page_name(XSS_NAME)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in entry_page.read_text()
    assert r"\textless{}script\textgreater{}" in (site / "results.tex").read_text()


def test_page_names_are_safe_and_unique():
    names = [XSS_NAME, "a/b", "a b", "../../etc/passwd", "", "ÜNICODE ✓", "x" * 300]
    pages = [page_name(n) for n in names]
    assert len(set(pages)) == len(pages)
    for p in pages:
        assert re.fullmatch(r"entry-[a-z0-9-]{1,40}-[0-9a-f]{8}\.html", p), p


def test_entry_page_has_robobev_tables_depth_and_provenance(site):
    html = (site / page_name("bevdet-tiny+rayd3d")).read_text()
    assert html.count('<tr class="level">') == 24  # the per-level table; the summary shows averages only
    assert html.count('<tr class="average">') == 2 * 8
    for text in (
        "mATE",
        "mAAE",
        "abc123",
        "0.1.0+g1234567",
        "synth-tiny-0",
        "0–30 m NDS",
        "all AbsRel",
        "small-object mAP",
        "traffic_cone",
    ):
        assert text in html, text
    partial = (site / page_name("bevdet-partial")).read_text()
    assert "CUDA out of memory &lt;oops&gt;" in partial and "Failed cells" in partial
    teacher = (site / page_name("centerpoint-tiny")).read_text()
    assert "predicts no depth" in teacher


def test_charts_are_inline_svg_with_escaped_labels(site):
    html = (site / "index.html").read_text()
    assert (
        html.count("<svg") == 3
        and "<script src" not in html
        and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    assert "No gallery image was given" in html


def test_exports_markdown_latex_csv(site):
    md = (site / "results.md").read_text()
    assert md.startswith("| Entry |") and "**36.0**" in md and "partial" in md
    tex = (site / "results.tex").read_text()
    assert tex.startswith(r"\begin{tabular}") and r"\bottomrule" in tex and r"34.0 $\pm$ 1.4" in tex
    rows = list(csv.DictReader(io.StringIO((site / "results.csv").read_text())))
    assert len(rows) == 10 and {r["kind"] for r in rows} == {"measured", "reference"}


def test_empty_store_renders(tmp_path):
    index = render_site([], {}, tmp_path)
    html = index.read_text()
    assert "No results yet" in html and html.count("<svg") == 3
    assert (tmp_path / "results.csv").read_text().startswith("entry,")
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == []


def test_only_clean_rows_render_as_partial(tmp_path):
    rows = [r for r in fixture_rows() if r.condition == "clean"]
    board = build_board(rows, ENTRIES_META)
    g = board.measured[0]
    assert g.metrics["mrr"].partial and g.metrics["mrr"].mean is None
    render_site(rows, ENTRIES_META, tmp_path)
    assert "partial" in (tmp_path / "index.html").read_text()


def test_entries_without_metadata_and_rerender_removes_stale_pages(tmp_path):
    rows = fixture_rows()
    render_site(rows, ENTRIES_META, tmp_path)
    assert (tmp_path / page_name("bevdet-partial")).exists()
    render_site([r for r in rows if r.entry != "bevdet-partial"], {}, tmp_path)  # no metadata at all
    assert not (tmp_path / page_name("bevdet-partial")).exists()
    assert "unknown" in (tmp_path / "index.html").read_text()


def test_baseline_option(tmp_path):
    board = build_board(fixture_rows(), ENTRIES_META, baseline="bevdepth-tiny")
    g = next(g for g in board.measured if g.entry == "bevdepth-tiny")
    assert g.metrics["mce"].mean == pytest.approx(1.0)
    with pytest.raises(UserError, match="no-such-entry"):
        build_board(fixture_rows(), ENTRIES_META, baseline="no-such-entry")


def test_default_baseline_is_a_root_student_whatever_the_name_order():
    """A store lists names in order, so ``bevdepth`` (base ``bevdet``) comes first; the default stays ``bevdet``."""
    metas = {name: dict(ENTRIES_META[name]) for name in ("bevdepth-tiny", "bevdet-tiny")}
    metas["bevdepth-tiny"]["base"] = "bevdet-tiny"
    rows = sorted((r for r in fixture_rows() if r.entry in metas), key=lambda r: r.entry)  # as a store reads them
    assert build_board(rows, metas).baseline.entry == "bevdet-tiny"
    # without a root student among the results, a derived student is still a baseline
    only_derived = [r for r in rows if r.entry == "bevdepth-tiny"]
    assert build_board(only_derived, metas).baseline.entry == "bevdepth-tiny"


def test_reference_file_json_equals_csv(tmp_path, ref_file):
    recs = list(csv.DictReader(io.StringIO(RAYD3D_TABLE1_CSV)))
    path = tmp_path / "refs.json"
    path.write_text(json.dumps(recs))
    a, b = load_references(ref_file), load_references(path)
    assert [(r.name, r.level_nds()) for r in a] == [(r.name, r.level_nds()) for r in b]


@pytest.mark.parametrize(
    "text, match",
    [
        ("entry,condition,metric\nA,clean,nds\n", "missing column"),
        ("entry,condition,metric,value\nA,clean,nds,0.374\nA,Fog,rr,0.6\n", "percent"),
        ("entry,condition,metric,value\nA,Fog,rr,60\n", "no clean NDS"),
        ("entry,condition,metric,value\nA,clean,nds,37\nA,Haze,rr,60\n", "bad condition"),
        ("entry,condition,metric,value\nA,clean,nds,137\n", r"\[0, 100\]"),
        ("entry,condition,metric,value\nA,clean,ap,37\n", "metric"),
        ("entry,condition,metric,value\nA,clean,nds,37\nA,Fog:hard,rr,60\n", "bare corruption"),
        ("entry,condition,metric,value\nA,clean,nds,37\nA,Fog,nds,30\nA,Fog:easy,nds,31\n", "both per level"),
        ("entry,condition,metric,value,colour\nA,clean,nds,37,red\n", "unknown key"),
    ],
)
def test_reference_file_errors_name_the_problem(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(UserError, match=match):
        load_references(path)


def test_reference_name_clash_with_measured_entry(tmp_path):
    path = tmp_path / "clash.csv"
    path.write_text("entry,condition,metric,value\nbevdet-tiny,clean,nds,37\n")
    with pytest.raises(UserError, match="same names"):
        build_board(fixture_rows(), ENTRIES_META, references=load_references(path))


def _png(tmp_path: Path, name: str = "img.png", size=(8, 6)) -> Path:
    path = tmp_path / name
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(path)
    return path


def test_gallery_png_embedded_inline(tmp_path):
    png = _png(tmp_path)
    index = render_site(fixture_rows()[:5], ENTRIES_META, tmp_path / "site", gallery=png)
    assert 'src="data:image/png;base64,' in index.read_text()
    with pytest.raises(UserError, match="not a PNG"):
        render_site([], {}, tmp_path / "site2", gallery=b"GIF89a...")


def test_gallery_rendered_from_a_dataroot(tmp_path, monkeypatch):
    cams = tmp_path / "root" / "samples" / "CAM_FRONT"
    cams.mkdir(parents=True)
    _png(cams, "b.png")
    _png(cams, "a.png", size=(10, 4))
    assert source_image(tmp_path / "root").name == "a.png"
    calls = []

    def render_gallery(image, seed=0):
        calls.append((image.shape, seed))
        return np.zeros((20, 30, 3), np.uint8)

    monkeypatch.setitem(sys.modules, "corruptions.gallery", types.SimpleNamespace(render_gallery=render_gallery))
    data = gallery_png(tmp_path / "root")
    assert calls == [((4, 10, 3), 0)] and Image.open(io.BytesIO(data)).size == (30, 20)
    with pytest.raises(UserError, match="CAM_FRONT"):
        source_image(tmp_path)


def test_cli_renders_from_the_store(tmp_path, ref_file, capsys):
    from robobench.store import ResultStore

    db = tmp_path / "results.sqlite"
    with ResultStore(db) as store:
        store.add_many(fixture_rows())
        store.add_entries([EntryRecord(name=n, **{k: v for k, v in m.items()}) for n, m in ENTRIES_META.items()])
    out = tmp_path / "site"
    code = cli_main(
        [
            "leaderboard",
            "--db",
            str(db),
            "--out",
            str(out),
            "--import",
            str(ref_file),
            "--ce-baseline",
            "bevdepth-tiny",
            "--gallery",
            str(_png(tmp_path)),
        ]
    )
    assert code == 0 and str(out / "index.html") in capsys.readouterr().out
    html = (out / "index.html").read_text()
    assert "mCE is measured against <strong>bevdepth-tiny</strong>" in html and "BEVDet (paper)" in html
    assert len(list(out.glob("entry-*.html"))) == len(ENTRIES_META)
    assert cli_main(["leaderboard", "--db", str(db), "--out", str(out), "--min-map", "0.285"]) == 0
    assert "tag-lowmap" in _row_html((out / "index.html").read_text(), "bevdet-tiny")
    assert cli_main(["leaderboard", "--db", str(db), "--out", str(out), "--min-map", "5"]) == 2
    assert "min_map=5.0" in capsys.readouterr().err


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert cli_main(["leaderboard", "--db", str(tmp_path / "nope.sqlite"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no results database") and err.count("\n") == 1
    assert not (tmp_path / "nope.sqlite").exists()


def test_undefined_tp_error_is_not_a_missing_condition(tmp_path):
    rows = fixture_rows()
    for r in rows:
        if r.entry == "bevdet-tiny" and r.condition == "clean":
            r.per_class["bus"]["trans_err"] = None  # the devkit leaves TP errors of undetected classes undefined
    board = build_board(rows, ENTRIES_META)
    g = board.entry_groups("bevdet-tiny")[0]
    st = g.condition_stat(CLEAN, nested_getter("per_class", ("bus", "trans_err")))
    assert st.mean is None and not st.partial and st.note == "undefined"


def test_crowded_charts_keep_the_highest_mrr_lines(tmp_path):
    rows, meta = [], {}
    for e in range(15):
        name = f"e{e:02d}"
        meta[name] = {"role": "student"}
        rows += [make_row(name, "clean", 0, c, 0.3, 0.5 + 0.03 * e) for c in all_conditions()]
    board = build_board(rows, meta)
    kept = top_series(series_for(board.groups), 12)
    assert [s.label for s in kept] == [f"e{e:02d}" for e in range(3, 15)]
    assert len({s.color for s in kept}) == 12
    html = render_site(rows, meta, tmp_path).read_text()
    assert "Showing the 12 lines with the highest mRR" in html


def test_nice_ticks_cover_the_range():
    ticks = nice_ticks(17.3, 83.2)
    assert ticks[0] <= 17.3 and ticks[-1] >= 83.2 and len(ticks) <= 9
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1


@pytest.mark.slow
def test_cli_renders_the_real_corruption_gallery(tmp_path, capsys):
    from robobench.store import ResultStore

    db = tmp_path / "results.sqlite"
    with ResultStore(db) as store:
        store.add_many([r for r in fixture_rows() if r.entry == "bevdet-tiny"])
    image = tmp_path / "cam.png"
    Image.fromarray((np.random.default_rng(0).random((90, 160, 3)) * 255).astype(np.uint8)).save(image)
    out = tmp_path / "site"
    assert cli_main(["leaderboard", "--db", str(db), "--out", str(out), "--gallery-from", str(image)]) == 0
    html = (out / "index.html").read_text()
    data = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert data is not None
    grid = Image.open(io.BytesIO(base64.b64decode(data[1])))
    assert grid.width > 5 * 160 and grid.height > grid.width / 2  # 5 x 5 tiles of the 16:9 view


def test_zero_clean_nds_and_failed_only_entries_render(tmp_path):
    rows = [make_row("untrained", "clean", 0, c, 0.0, 0.5) for c in all_conditions()]
    rows += [r for r in fixture_rows() if r.entry == "bevdet-tiny"]
    failed = make_row("crashed", "clean", 0, CLEAN, 0.3, 0.5)
    failed.status, failed.error, failed.nds = "failed", "killed", None
    board = build_board(rows + [failed], {"untrained": {"role": "student"}, "crashed": {"role": "student"}})
    g = next(g for g in board.measured if g.entry == "untrained")
    assert g.metrics["mrr"].mean is None and not g.metrics["mrr"].partial and "undefined" in g.metrics["mrr"].note
    assert g.metrics["rr:Fog"].mean is None and not g.metrics["rr:Fog"].partial
    crashed = next(g for g in board.measured if g.entry == "crashed")
    assert crashed.metrics["nds"].partial and crashed.metrics["mrr"].partial
    render_site(rows + [failed], {}, tmp_path)
    assert "killed" in (tmp_path / page_name("crashed")).read_text()


def _cost(entry: str, seed: int, hours: float, config_hash: str = "abc123") -> TrainingRecord:
    return TrainingRecord(
        entry=entry,
        train_mode="clean",
        seed=seed,
        dataset_id="synth-tiny-0",
        config_hash=config_hash,
        profile="quick",
        wall_time_s=3600 * hours,
        peak_rss_mb=1200.0 + seed,
        iterations=2400,
        world_size=1,
        device="cpu",
        created_at="2026-11-21T12:00:00+00:00",
    )


def test_training_cost_column_ratio_and_provenance(tmp_path):
    """The records of the evaluated models give each line its training hours (mean over seeds),
    a distillation line its training time over its base entry's, and the entry page the per-seed
    cost; a record of another config is ignored, and the cost is never marked best."""
    costs = [
        _cost("bevdet-tiny", 0, 1.0),
        _cost("bevdet-tiny+rayd3d", 0, 1.25),
        _cost("bevdet-tiny+rayd3d", 1, 1.5),
        _cost("bevdet-tiny", 0, 9.0, config_hash="other-recipe"),
    ]
    # as a sweep stores them: rows name the scored split, training records the training dataset
    rows = [dataclasses.replace(r, dataset_id=f"{r.dataset_id}/synth_val") for r in fixture_rows()]
    assert {trained_dataset_id(r.dataset_id) for r in rows} == {"synth-tiny-0"}
    board = build_board(rows, ENTRIES_META, trainings=costs)
    by = {(g.entry, g.train_mode): g for g in board.groups}
    rayd3d = by[("bevdet-tiny+rayd3d", "clean")]
    assert rayd3d.metrics["train_h"].mean == pytest.approx(1.375) and rayd3d.metrics["train_h"].std == pytest.approx(
        0.1768, abs=1e-4
    )
    assert rayd3d.train_ratio == pytest.approx(1.375) and by[("bevdet-tiny", "clean")].metrics["train_h"].mean == 1.0
    assert (
        by[("bevdepth-tiny", "clean")].metrics["train_h"].mean is None
        and by[("bevdet-tiny+tig", "clean")].train_ratio is None
    )
    assert "train_h" not in board.best

    index = render_site(fixture_rows(), ENTRIES_META, tmp_path, trainings=costs)
    cells = Cells()
    cells.feed(index.read_text())
    col = 3 + [c.key for c in board.columns].index("train_h")
    row = {a["data-entry"]: tds for a, tds in cells.rows if a.get("data-mode") == "clean"}
    assert row["bevdet-tiny+rayd3d"][col]["text"].startswith("1.38") and row["bevdepth-tiny"][col]["text"] == "—"
    assert "×1.38 train time" in row["bevdet-tiny+rayd3d"][col + 1]["text"]
    page = (tmp_path / page_name("bevdet-tiny+rayd3d")).read_text()
    assert "seed 0: 1.25 h; seed 1: 1.50 h" in page and "1201 MB RSS" in page and "1.38 × bevdet-tiny&#39;s" in page
    assert "no training record" in (tmp_path / page_name("bevdepth-tiny")).read_text()
    header = next(csv.reader(io.StringIO((tmp_path / "results.csv").read_text())))
    assert "train_h" in header and "Train h" not in (tmp_path / "results.md").read_text()


def _seeded_rows(entry: str, cleans: list[float]) -> list:
    return [
        make_row(entry, "clean", seed, cond, clean, 0.8)
        for seed, clean in enumerate(cleans)
        for cond in all_conditions()
    ]


def _welch_p(a: list[float], b: list[float]) -> float:
    """Welch's two-sided p-value written out from its formula (Welch-Satterthwaite degrees of freedom)."""
    from scipy.stats import t as student_t

    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    stat = (np.mean(a) - np.mean(b)) / np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(2 * student_t.sf(abs(stat), dof))


def test_gain_is_tested_against_the_seed_spread(tmp_path):
    base, big, small = [0.30, 0.31, 0.29], [0.40, 0.42, 0.41], [0.305, 0.29, 0.31]
    rows = (
        _seeded_rows("bevdet-tiny", base)
        + _seeded_rows("bevdet-tiny+rayd3d", big)
        + _seeded_rows("bevdet-tiny+tig", small)
    )
    rows += _seeded_rows("bevdet-partial", [0.5])
    meta = {
        **ENTRIES_META,
        "bevdet-partial": {**ENTRIES_META["bevdet-partial"], "role": "distill", "base": "bevdet-tiny"},
    }
    board = build_board(rows, meta)
    by = {g.entry: g for g in board.groups}
    assert by["bevdet-tiny+rayd3d"].gain_p["nds"] == pytest.approx(
        _welch_p([100 * v for v in big], [100 * v for v in base]), rel=1e-6
    )
    assert by["bevdet-tiny+rayd3d"].gain_p["nds"] < 0.05
    assert (
        by["bevdet-tiny+tig"].gain_p["nds"] == pytest.approx(_welch_p(small, base), rel=1e-6)
        and by["bevdet-tiny+tig"].gain_p["nds"] > 0.05
    )
    assert "nds" in by["bevdet-partial"].gain and by["bevdet-partial"].gain_p == {}  # one seed: untested

    render_site(rows, meta, tmp_path)
    cells = read_table(tmp_path)

    def nds_gain(entry: str) -> str:
        return re.search(r"[+-][\d.]+ NDS( n\.s\.)?", cells[(entry, "clean")]["gain"]["text"]).group(0)

    assert nds_gain("bevdet-tiny+tig").endswith("n.s.")
    assert nds_gain("bevdet-tiny+rayd3d") == "+11.0 NDS" and nds_gain("bevdet-partial") == "+20.0 NDS"
    exported = {r["entry"]: r for r in csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text()))}
    assert float(exported["bevdet-tiny+tig"]["gain_nds_p"]) > 0.05 and exported["bevdet-partial"]["gain_nds_p"] == ""
    assert "(n.s. p=" in (tmp_path / "results.md").read_text()


def test_intervals_and_minimum_detectable_effects(tmp_path):
    """Seeds give Student-t intervals, one seed the scene-bootstrap percentiles of its own replicates (mRR from
    replicate tables); a tested gain carries Welch's interval and the MDE at its seed counts, on the page and in
    the exports."""
    from scipy import stats as st

    from robobench import stats
    from robobench.conditions import Condition
    from robobench.metrics import robustness

    base, big = [0.30, 0.31, 0.29], [0.40, 0.42, 0.41, 0.40]
    rows = _seeded_rows("bevdet-tiny", base) + _seeded_rows("bevdet-tiny+rayd3d", big)
    rng = np.random.default_rng(0)
    scene_noise = rng.normal(1.0, 0.05, 50)  # replicate b: every condition scaled alike, plus its own noise
    single = []
    for row in _seeded_rows("bevdepth-tiny", [0.45]):
        reps = [round(row.nds * f * rng.normal(1.0, 0.01), 6) for f in scene_noise]
        single.append(
            dataclasses.replace(
                row,
                bootstrap={
                    "unit": "scene",
                    "seed": 0,
                    "scenes": 16,
                    "nds": reps,
                    "map": [round(0.8 * v, 6) for v in reps],
                },
            )
        )
    board = build_board(rows + single, ENTRIES_META)
    by = {g.entry: g for g in board.groups if g.train_mode == "clean"}

    nds = by["bevdet-tiny"].metrics["nds"]
    lo, hi = st.t.interval(0.95, 2, loc=np.mean(base), scale=st.sem(base))
    assert nds.ci_kind == "seeds" and nds.ci == pytest.approx((lo, hi))
    gain = by["bevdet-tiny+rayd3d"]
    ci = st.ttest_ind([100 * v for v in big], [100 * v for v in base], equal_var=False).confidence_interval(0.95)
    assert gain.gain_ci["nds"] == pytest.approx((ci.low, ci.high))
    assert gain.gain_mde["nds"] == pytest.approx(100 * stats.mde(np.std(big, ddof=1), 4, np.std(base, ddof=1), 3))

    one = by["bevdepth-tiny"]
    clean_reps = single[0].bootstrap["nds"]
    assert one.metrics["nds"].ci_kind == "scenes"
    assert one.metrics["nds"].ci == pytest.approx(tuple(np.quantile(clean_reps, [0.025, 0.975])))
    per_rep = [robustness.mrr({Condition.parse(r.condition): r.bootstrap["nds"][b] for r in single}) for b in range(50)]
    assert one.metrics["mrr"].ci == pytest.approx(tuple(np.quantile(per_rep, [0.025, 0.975])))

    render_site(rows + single, ENTRIES_META, tmp_path)
    cells = read_table(tmp_path)
    assert "MDE" in cells[("bevdet-tiny+rayd3d", "clean")]["gain"]["text"]
    exported = {r["entry"]: r for r in csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text()))}
    assert float(exported["bevdet-tiny+rayd3d"]["gain_nds_mde"]) == pytest.approx(gain.gain_mde["nds"], abs=1e-4)
    assert exported["bevdepth-tiny"]["nds_ci_kind"] == "scenes" and exported["bevdet-tiny"]["nds_ci_kind"] == "seeds"
    doc = json.loads((tmp_path / "results.json").read_text())
    rec = next(r for r in doc["rows"] if r["entry"] == "bevdet-tiny" and r["train_mode"] == "clean")
    assert rec["nds"]["ci"] == pytest.approx([100 * lo, 100 * hi])
    assert "MDE" in (tmp_path / "results.md").read_text()


def test_mce_baseline_is_matched_by_dataset_and_profile():
    """One store holding two worlds: each line's mCE divides by the baseline measured on its own world.

    A line whose world has no baseline results shows "no baseline" instead of a CE across worlds.
    """
    from robobench.metrics.robustness import mce

    metas = {name: ENTRIES_META[name] for name in ("bevdet-tiny", "bevdepth-tiny")}
    home = [r for r in fixture_rows() if r.entry in metas and r.train_mode == "clean" and r.seed == 0]
    away_depth = [dataclasses.replace(r, dataset_id="synth-other-0") for r in home if r.entry == "bevdepth-tiny"]
    board = build_board(home + away_depth, metas)
    away = next(g for g in board.measured if g.entry == "bevdepth-tiny" and g.dataset_id == "synth-other-0")
    assert away.metrics["mce"].mean is None and away.metrics["mce"].note == "no baseline"

    # the baseline measured on the other world, 20 % weaker under every corruption there
    away_base = [
        dataclasses.replace(r, dataset_id="synth-other-0", nds=r.nds if r.condition == "clean" else r.nds * 0.8)
        for r in home
        if r.entry == "bevdet-tiny"
    ]
    board = build_board(home + away_depth + away_base, metas)
    groups = {(g.entry, g.dataset_id): g for g in board.measured}
    depth_nds = {r.condition: r.nds for r in away_depth}
    for world, base_rows in (
        ("synth-tiny-0", [r for r in home if r.entry == "bevdet-tiny"]),
        ("synth-other-0", away_base),
    ):
        expected = mce(depth_nds, {r.condition: r.nds for r in base_rows})
        assert groups[("bevdepth-tiny", world)].metrics["mce"].mean == pytest.approx(expected)
    assert groups[("bevdepth-tiny", "synth-other-0")].metrics["mce"].mean != pytest.approx(
        groups[("bevdepth-tiny", "synth-tiny-0")].metrics["mce"].mean
    )
