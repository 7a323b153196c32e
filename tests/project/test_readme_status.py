"""README's status numbers are generated from ``reference-results/`` (``make readme-status``).

A number typed by hand drifts from the file it claims to quote; these tests fail when README's
generated blocks and the files disagree, and show that a changed file does change README.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from robobench import docs_tables
from robobench.docs_tables import (
    BF16_RESULTS,
    MEASUREMENTS,
    RESULTS,
    TEMPLATES,
    Series,
    fill,
    main,
    pct,
    pm,
    render_blocks,
    rewrap,
)
from tests.helpers.paths import ROOT


def test_readme_status_is_generated_from_the_reference_results() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert fill(readme, render_blocks(ROOT)) == readme, "README's generated blocks are stale: run `make readme-status`"


def _checkout(tmp_path: Path) -> Path:
    """A copy of what the generator reads: README, its templates, the result exports and the measurements."""
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    for folder in (TEMPLATES, RESULTS, BF16_RESULTS, MEASUREMENTS):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def test_a_changed_result_file_makes_readme_stale_until_regenerated(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    export = root / RESULTS / "centerpoint-seed0.json"
    payload = json.loads(export.read_text())
    (clean,) = [r for r in payload["rows"] if r["condition"] == "clean"]
    old = f"| `centerpoint` (LiDAR teacher) | 0 | {clean['nds']:.3f} |"
    assert old in (root / "README.md").read_text()
    clean["nds"] = 0.5
    export.write_text(json.dumps(payload))
    assert main(["--root", str(root), "--check"]) == 1
    assert main(["--root", str(root)]) == 0
    readme = (root / "README.md").read_text()
    assert old not in readme and "| `centerpoint` (LiDAR teacher) | 0 | 0.500 |" in readme
    assert main(["--root", str(root), "--check"]) == 0


def test_readme_without_markers_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _checkout(tmp_path)
    readme = root / "README.md"
    text = readme.read_text().replace("<!-- status:end -->", "")
    readme.write_text(text)
    assert main(["--root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "<!-- status:begin -->" in err
    assert readme.read_text() == text  # untouched


def test_a_changed_measurement_makes_readme_stale_and_a_broken_one_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _checkout(tmp_path)
    measured = root / MEASUREMENTS / "eval-path-bevdet.json"
    payload = json.loads(measured.read_text())
    payload["total_after_s"] *= 1.5
    measured.write_text(json.dumps(payload))
    assert main(["--root", str(root), "--check"]) == 1
    assert main(["--root", str(root)]) == 0 and main(["--root", str(root), "--check"]) == 0
    assert "after/before 0.75" in (root / "README.md").read_text().replace("\n", " ")
    measured.write_text("{not json")
    capsys.readouterr()
    assert main(["--root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "eval-path-bevdet.json" in err


def test_formats() -> None:
    glue = docs_tables.GLUE
    assert pm(Series((0.3, 0.4))) == f"0.350{glue}+-{glue}0.071"
    assert pct(Series((0.6228,))) == f"62.3{glue}%"
    # wrapping never breaks inside a number with its spread or unit
    text = rewrap("word " * 18 + pm(Series((0.3, 0.4))) + " and " + pct(Series((0.5, 0.7))), width=100)
    assert "0.350 +- 0.071" in text and "60.0 +- 14.1 %" in text and docs_tables.GLUE not in text


def test_train_modes_of_one_entry_are_separate_lines(tmp_path: Path) -> None:
    """A held-out-trained export of ``bevdet`` beside the clean one: two lines, never one pooled over six seeds."""
    src = ROOT / RESULTS / "bevdet-seeds0-2.json"
    shutil.copy(src, tmp_path / src.name)
    payload = json.loads(src.read_text())
    for record in payload["rows"] + payload["trainings"]:
        record["train_mode"] = "heldout"
    for r in payload["rows"]:
        r["nds"] = r["nds"] / 2
    (tmp_path / "bevdet-heldout.json").write_text(json.dumps(payload))
    runs = docs_tables.load_runs(tmp_path)
    assert set(runs) == {"bevdet", "bevdet:heldout"}
    clean, heldout = runs["bevdet"], runs["bevdet:heldout"]
    assert clean.seeds == heldout.seeds == [0, 1, 2]
    assert heldout["nds"].values == pytest.approx([v / 2 for v in clean["nds"].values])
    assert heldout["minutes"].values == clean["minutes"].values
