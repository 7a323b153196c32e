"""No function or method of the project (tests aside) is longer than 80 lines.

A long function hides its steps; this keeps each one short enough to be read at once and makes a
function that grows past the limit be split along its own steps. A function counts from its ``def``
line to its last line, docstring included (decorators excluded).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.paths import ROOT

MAX_LINES = 80
#: Top-level folders that hold no project code: tests, environments, run outputs, datasets, build output.
SKIPPED_TOP = {"tests", "venv", "runs", "build", "dist", "data", "results", "site"}


def _sources(folder: Path, top: bool = True) -> Iterator[Path]:
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            hidden = path.name.startswith(".") or path.name == "__pycache__" or path.name.endswith(".egg-info")
            if not hidden and not (top and path.name in SKIPPED_TOP):
                yield from _sources(path, top=False)
        elif path.suffix == ".py":
            yield path


def long_functions(root: Path, limit: int = MAX_LINES) -> list[str]:
    """``path::name (N lines)`` of every function or method under ``root`` longer than ``limit`` lines."""
    found = []
    for path in _sources(root):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(root)}::{node.name} ({length} lines)")
    return found


def test_the_scan_finds_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n")
    (tmp_path / "pkg" / "data").mkdir()  # only the top-level data folder is skipped
    method_body = body.replace("\n", "\n    ")
    (tmp_path / "pkg" / "data" / "gen.py").write_text(f"class C:\n    def long(self):\n    {method_body}\n")
    for skipped in ("tests", "data", ".venv"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "test_mod.py").write_text(f"def test_long():\n{body}\n")
    assert long_functions(tmp_path) == [
        f"pkg/data/gen.py::long ({MAX_LINES + 1} lines)",
        f"pkg/mod.py::long ({MAX_LINES + 1} lines)",
    ]


def test_no_function_is_longer_than_the_limit() -> None:
    found = long_functions(ROOT)
    assert not found, f"functions over {MAX_LINES} lines (split them along their steps):\n" + "\n".join(found)
