"""The library API: lazily re-exported by ``robobench``, returns objects, and README's example uses it as defined."""

from __future__ import annotations

import ast
import inspect
import pkgutil
import re
import subprocess
import sys

import pytest

import robobench
from robobench import api
from robobench.errors import UserError
from tests.helpers.paths import ROOT


def test_importing_robobench_loads_no_engine() -> None:
    """``import robobench`` stays cheap: the API, torch and the leaderboard load on first use only."""
    code = (
        "import sys, robobench; heavy = [m for m in ('robobench.api', 'torch', 'leaderboard', 'nuscenes') "
        "if m in sys.modules]; print(heavy); robobench.run_benchmark; print('robobench.api' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.split("\n")[:2] == ["[]", "True"], out


def test_every_exported_name_is_the_api_function() -> None:
    """Also once every submodule is imported: a submodule named like an API function (``robobench.train``)
    would replace the function as the package's attribute."""
    submodules = {m.name for m in pkgutil.iter_modules(robobench.__path__)}
    assert not submodules & set(robobench.API_NAMES)
    for name in robobench.API_NAMES:
        assert getattr(robobench, name) is getattr(api, name), name
    with pytest.raises(AttributeError):
        robobench.no_such_function  # noqa: B018
    assert set(robobench.API_NAMES) <= set(dir(robobench))


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Library API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_calls_the_api_as_defined() -> None:
    """Each ``robobench.<name>(...)`` of README's example names an API function and passes parameters it takes."""
    calls = [
        n
        for n in ast.walk(ast.parse(_readme_example()))
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "robobench"
    ]
    assert {c.func.attr for c in calls} >= {"run_benchmark", "evaluate_results", "render_leaderboard"}
    for call in calls:
        assert call.func.attr in robobench.API_NAMES, call.func.attr
        inspect.signature(getattr(api, call.func.attr)).bind(
            *[None] * len(call.args), **{k.arg: None for k in call.keywords}
        )


def test_a_dry_run_returns_the_plan_and_writes_nothing(tiny_world, tmp_path) -> None:
    result = api.run_benchmark(
        ["bevdet"],
        dataroot=tiny_world.dataroot,
        version=tiny_world.version,
        out=tmp_path / "runs",
        conditions=["clean", "Fog:hard"],
        dry_run=True,
    )
    assert isinstance(result, api.BenchmarkResult) and result.board is None and result.summary() == []
    assert [c.kind for c in result.planned].count("eval") == 2 and result.todo == result.planned
    assert result.checkpoint("bevdet").name == "final.pt"
    with pytest.raises(UserError, match="trained no 'bevdet' with seed 1"):
        result.checkpoint("bevdet", seed=1)
    assert not (tmp_path / "runs" / "results.sqlite").exists()


def test_bad_input_raises_a_user_error(tmp_path) -> None:
    with pytest.raises(UserError, match="no results database"):
        api.render_leaderboard(tmp_path / "missing.sqlite", tmp_path / "site")
    with pytest.raises(UserError, match="does not exist"):
        api.export_results(tmp_path / "missing.sqlite", tmp_path / "e.json")
    with pytest.raises(UserError, match="must be a positive difference"):
        api.plan_seeds(-0.1, sd=0.01)
