"""The commands' shared options: one name per option everywhere, comma-separated lists, deprecated aliases.

Parsing only: every check runs ``robobench.cli.build_parser`` and runs no command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from robobench.cli import build_parser

#: Old names that must not show in any command's help (they survive as hidden aliases).
RETIRED = {"--store", "--quiet", "--baseline", "--data"}


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Every (sub-)command's parser by its ``prog`` name, nested actions included."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser) -> None:
        found[parser.prog] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child)

    walk(build_parser())
    return found


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_the_same_thing_has_the_same_option_name_everywhere() -> None:
    """Every results database is ``--db``, every progress switch ``--no-progress``, no retired name is shown."""
    for prog, parser in _parsers().items():
        visible = [a for a in parser._actions if a.help != argparse.SUPPRESS]
        names = {o for a in visible for o in a.option_strings}
        assert not names & RETIRED, (prog, names & RETIRED)
        for action in visible:
            if action.dest == "db":
                assert "--db" in action.option_strings, (prog, action.option_strings)
            if action.dest == "baseline" or action.dest == "ce_baseline":
                assert "--ce-baseline" in action.option_strings, (prog, action.option_strings)
            if action.dest == "dataroot":
                assert "--dataroot" in action.option_strings, (prog, action.option_strings)
            if action.dest == "no_progress":
                assert action.option_strings == ["--no-progress"], (prog, action.option_strings)


@pytest.mark.parametrize(
    ("argv", "dest", "value", "note"),
    [
        (
            ["evaluate", "--results", "r", "--store", "s.sqlite"],
            "db",
            Path("s.sqlite"),
            "--store is deprecated; use --db",
        ),
        (["corrupt", "--quiet"], "no_progress", True, "--quiet is deprecated; use --no-progress"),
        (["leaderboard", "--baseline", "bevdet"], "baseline", "bevdet", "--baseline is deprecated; use --ce-baseline"),
        (["demo", "--data", "w"], "dataroot", Path("w"), "--data is deprecated; use --dataroot"),
        (["corrupt", "--levels", "easy", "hard"], "levels", ["easy", "hard"], "write --levels easy,hard"),
        (
            ["evaluate", "--results", "r", "--condition", "clean", "Fog:hard"],
            "condition",
            ["clean", "Fog:hard"],
            "write --condition clean,Fog:hard",
        ),
    ],
)
def test_an_old_form_still_works_and_says_so(argv, dest, value, note, capsys) -> None:
    assert getattr(parse(argv), dest) == value
    err = capsys.readouterr().err
    assert note in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["evaluate", "--results", "r", "--db", "s.sqlite"], "db", Path("s.sqlite")),
        (["corrupt", "--no-progress"], "no_progress", True),
        (["corrupt", "--corruptions", "Fog,Snow", "--levels", "easy,hard"], "corruptions", ["Fog", "Snow"]),
        (["evaluate", "--results", "r", "--condition", "clean,Fog:hard"], "condition", ["clean", "Fog:hard"]),
        (["sweep", "--seeds", "0,2", "--entries", "a,b"], "seeds", [0, 2]),
        (
            ["leaderboard", "--import", "a.csv", "--import", "b.csv,c.json"],
            "imports",
            [Path("a.csv"), Path("b.csv"), Path("c.json")],
        ),
        (["demo", "--entries", "bevdet,bevdepth"], "entries", ["bevdet", "bevdepth"]),
    ],
)
def test_lists_are_comma_separated_without_a_note(argv, dest, value, capsys) -> None:
    assert getattr(parse(argv), dest) == value
    assert capsys.readouterr().err == ""


def test_a_bad_list_item_is_a_usage_error_naming_the_option(capsys) -> None:
    with pytest.raises(SystemExit):
        parse(["sweep", "--seeds", "0,x"])
    assert "argument --seeds: a seed must be an integer" in capsys.readouterr().err


def test_every_command_with_a_dataset_takes_the_same_three_options() -> None:
    """``--dataroot``, ``--version`` and ``--split`` come from one argument group (same names, same default version)."""
    from robobench.constants import DEFAULT_VERSION

    for prog in ("robobench sweep", "robobench train", "robobench predict", "robobench evaluate", "robobench corrupt"):
        actions = {o: a for a in _parsers()[prog]._actions for o in a.option_strings}
        assert {"--dataroot", "--version", "--split"} <= set(actions), prog
        assert actions["--version"].default == DEFAULT_VERSION, prog


def test_demo_runs_the_benchmark_through_the_api(monkeypatch, tmp_path, capsys) -> None:
    """``demo`` validates the world, then calls :func:`robobench.api.run_benchmark` (no argv list in between)."""
    import robobench.api as api
    import robobench.demo as demo
    from robobench.cli import main
    from robobench.data.synth import VAL_MINI_SPLIT, VERSION

    calls, world_ok = [], [True]
    monkeypatch.setattr(demo, "prepare_world", lambda data: world_ok[0])

    def fake_run(entries, **kw):
        calls.append((entries, kw))
        return api.BenchmarkResult(tmp_path / "r.sqlite", tmp_path, "d", kw["profile"], list(entries), [], [])

    monkeypatch.setattr(api, "run_benchmark", fake_run)
    argv = [
        "demo",
        "--dataroot",
        str(tmp_path / "world"),
        "--out",
        str(tmp_path / "out"),
        "--entries",
        "bevdet,bevdepth",
    ]
    assert main([*argv, "--validate-only"]) == 0 and calls == []
    assert main(argv) == 0
    ((entries, kw),) = calls
    assert entries == ["bevdet", "bevdepth"] and kw["profile"] == "quick"
    assert (kw["version"], kw["split"], kw["dataroot"]) == (VERSION, VAL_MINI_SPLIT, tmp_path / "world")
    assert "mCE % (vs no baseline)" in capsys.readouterr().out
    world_ok[0] = False
    assert main(argv) == 1 and len(calls) == 1
    assert main([*argv[:-1], "no-such-entry"]) == 2  # checked before minutes of world generation
