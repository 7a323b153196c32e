"""The ``robobench`` console script.

Each feature keeps its command-line code next to it, in a module that exposes
``register(subparsers) -> None``; that function adds one sub-command whose parser
sets ``func`` (called with the parsed ``argparse.Namespace``, returning an exit code).
Add a feature's module to ``COMMAND_MODULES`` to expose it.

User errors (:class:`robobench.errors.UserError`, ``FileNotFoundError`` of user
paths, ``ValueError`` from argument parsing helpers) print one ``error:`` line and
exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from robobench import __version__
from robobench.errors import UserError

#: Modules providing sub-commands, in the order they appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = (
    "robobench.data.cli",
    "robobench.demo",
    "robobench.evaluate",
    "robobench.train_cli",
    "robobench.sweep_cli",
    "robobench.corrupt_cli",
    "robobench.results_cli",
    "leaderboard.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="robobench",
        description="Robustness benchmark for multi-view camera BEV 3D detectors (RoboBEV corruptions, distillation).",
    )
    parser.add_argument("--version", action="version", version=f"robobench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
