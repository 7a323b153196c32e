"""Imports point one way: ``corruptions`` <- ``robobench`` core <- ``baselines`` <- commands.

``leaderboard`` reads the core; the library API (``robobench.api``) sits on the core and the
leaderboard. A command is a module of the ``robobench.commands`` package or the console script
(``robobench.cli``, ``robobench.__main__``); it may import anything. Every ``import`` statement
counts, also one inside a function: a lazy import is still a dependency. (``robobench/__init__.py``
re-exports the API's names by ``importlib`` on first attribute access, not by an import statement:
the package stays importable without the API.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from robobench.cli import COMMAND_MODULES
from tests.helpers.paths import ROOT

PACKAGES = ("corruptions", "robobench", "baselines", "leaderboard")
#: Command modules besides the ``robobench.commands`` package.
ENTRY_SCRIPTS = {"robobench.cli", "robobench.__main__"}
COMMANDS_PACKAGE = "robobench.commands"
API_MODULE = "robobench.api"
#: Layer -> the layers it may import.
ALLOWED: dict[str, set[str]] = {
    "corruptions": {"corruptions"},
    "core": {"corruptions", "core"},
    "baselines": {"corruptions", "core", "baselines"},
    "leaderboard": {"corruptions", "core", "leaderboard"},
    "api": {"corruptions", "core", "leaderboard", "api"},
    "commands": {"corruptions", "core", "baselines", "leaderboard", "api", "commands"},
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str, commands: set[str]) -> str:
    if module in commands or module == COMMANDS_PACKAGE or module.startswith(COMMANDS_PACKAGE + "."):
        return "commands"
    if module == API_MODULE:
        return "api"
    top = module.split(".")[0]
    return "core" if top == "robobench" else top


def imported_modules(node: ast.AST, known: set[str]) -> list[str]:
    """The project modules an ``import`` node names (``from robobench import registry`` -> ``robobench.registry``)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names]
    else:
        return []
    return [n for n in names if n.split(".")[0] in PACKAGES]


def violations(root: Path, commands: set[str]) -> list[str]:
    """``"path:line: a (layer) imports b (layer)"`` for every import against the direction under ``root``."""
    files = {module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}
    found = []
    for module, path in files.items():
        src = layer(module, commands)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in imported_modules(node, set(files)):
                dst = layer(target, commands)
                if dst not in ALLOWED[src]:
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {module} ({src}) imports {target} ({dst})")
    return found


def test_imports_point_down() -> None:
    assert violations(ROOT, ENTRY_SCRIPTS) == []


def test_every_command_module_is_in_the_commands_package() -> None:
    """A command registered from elsewhere would escape the layer check (and the thin-module rule)."""
    assert all(m.startswith(COMMANDS_PACKAGE + ".") for m in COMMAND_MODULES), COMMAND_MODULES


#: A command module parses, calls the API and prints: anything longer holds logic that belongs below.
MAX_COMMAND_LINES = 150


def test_command_modules_are_thin() -> None:
    long = {
        p.name: n
        for p in sorted((ROOT / "robobench" / "commands").glob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_COMMAND_LINES
    }
    assert not long, f"command modules over {MAX_COMMAND_LINES} lines: {long}"


def test_registry_imports_no_model_code() -> None:
    tree = ast.parse((ROOT / "robobench" / "registry.py").read_text())
    assert not [t for n in ast.walk(tree) for t in imported_modules(n, set()) if t.split(".")[0] == "baselines"]


@pytest.mark.parametrize(
    ("module", "text", "expected"),
    [
        (
            "robobench/store.py",
            "def f():\n    import baselines.bevdet\n",
            "robobench.store (core) imports baselines.bevdet (baselines)",
        ),
        (
            "corruptions/api.py",
            "from robobench import errors\n",
            "corruptions.api (corruptions) imports robobench.errors (core)",
        ),
        (
            "baselines/x.py",
            "from leaderboard import render\n",
            "baselines.x (baselines) imports leaderboard (leaderboard)",
        ),
        (
            "leaderboard/model.py",
            "import robobench.commands.sweep\n",
            "leaderboard.model (leaderboard) imports robobench.commands.sweep (commands)",
        ),
        (
            "robobench/store.py",
            "from robobench.api import run_benchmark\n",
            "robobench.store (core) imports robobench.api (api)",
        ),
        (
            "leaderboard/render.py",
            "import robobench.api\n",
            "leaderboard.render (leaderboard) imports robobench.api (api)",
        ),
        ("robobench/api.py", "import baselines.bevdet\n", "robobench.api (api) imports baselines.bevdet (baselines)"),
    ],
)
def test_a_wrong_way_import_is_named(tmp_path: Path, module: str, text: str, expected: str) -> None:
    """The check itself: an import against the direction is reported with its file, line and layers."""
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "robobench" / "commands").mkdir()
    for name in ("errors", "api", "commands/__init__", "commands/sweep"):
        (tmp_path / "robobench" / f"{name}.py").write_text("")
    (tmp_path / module).write_text(text)
    found = violations(tmp_path, ENTRY_SCRIPTS)
    assert len(found) == 1 and found[0].endswith(expected), found
