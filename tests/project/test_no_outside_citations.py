"""No tracked file of the project cites a file that is not in the project.

Docstrings and docs once pointed at design notes kept outside the repository; a reader of a
checkout cannot open those. Design and method choices are cited from ``docs/`` instead.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

#: Citations of files that are not in the repository: the team's design notes, and absolute paths
#: of one user's home folder.
OUTSIDE = re.compile(r"\b(?:DESIGN|REFERENCE)\.md\b|(?<![\w.])/(?:home|Users|root)/\w")
#: A relative Markdown link target, ``[text](target)``.
MD_LINK = re.compile(r"\]\(([^)\s#]+)")


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
        return None  # binary data, or a file deleted in the work tree


def outside_citations(path: Path, text: str, root: Path = ROOT) -> list[str]:
    """``"path:line: citation"`` for each citation in ``text`` of something outside ``root``."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        cites = [m.group(0) for m in OUTSIDE.finditer(line)]
        if path.suffix == ".md":
            for target in MD_LINK.findall(line):
                if "://" not in target and not target.startswith("mailto:"):
                    resolved = (path.parent / target).resolve()
                    if not resolved.is_relative_to(root.resolve()):
                        cites.append(target)
        found += [f"{path.relative_to(root)}:{number}: {c}" for c in cites]
    return found


def test_no_tracked_file_cites_a_file_outside_the_project() -> None:
    this = Path(__file__).resolve()
    found = []
    for path in tracked_files():
        if path.resolve() != this and (text := text_of(path)) is not None:
            found += outside_citations(path, text)
    assert found == [], "cite the project's docs/ instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("a.py", '"""Formulas as in REFERENCE.md."""'),
        ("a.py", "# see DESIGN.md, Contracts"),
        ("a.py", "data = '/home/someone/data'"),
        ("notes.md", "details in [the notes](../../elsewhere.md)"),
    ],
)
def test_a_citation_outside_is_found(tmp_path: Path, name: str, line: str) -> None:
    (tmp_path / "docs").mkdir()
    path = tmp_path / "docs" / name
    assert outside_citations(path, f"first line\n{line}\n", tmp_path) != []


def test_citations_inside_are_fine(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    path = tmp_path / "docs" / "notes.md"
    text = "see [metrics](metrics.md), [the code](../robobench/store.py) and https://example.org/docs/x\n"
    assert outside_citations(path, text, tmp_path) == []
