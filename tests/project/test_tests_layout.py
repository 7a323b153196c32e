"""The tests import shared code one way: fixtures come from ``conftest.py`` files, everything else from
``tests.helpers``; a test module never imports another test module (top level or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.paths import ROOT

TESTS = ROOT / "tests"


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_no_test_module_or_helper_is_imported_by_another_name() -> None:
    helpers = {p.stem for p in (TESTS / "helpers").glob("*.py")} - {"__init__"}
    bad = []
    for path in sorted(TESTS.rglob("*.py")):
        for name in _imported_modules(path):
            parts = name.split(".")
            if parts[-1].startswith("test_") or parts[-1] == "conftest":
                bad.append(f"{path.relative_to(ROOT)} imports the test module {name}")
            elif parts[0] != "tests" and parts[0] in helpers | {"helpers"}:
                bad.append(f"{path.relative_to(ROOT)} imports {name}; use tests.helpers.{parts[-1]}")
            elif parts[0] == "tests" and parts[:2] != ["tests", "helpers"]:
                bad.append(f"{path.relative_to(ROOT)} imports {name}; shared test code belongs in tests.helpers")
    assert bad == [], "\n".join(bad)
