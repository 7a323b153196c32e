"""The ``robobench`` console script.

Each sub-command is a thin module of :mod:`robobench.commands` (parse, call :mod:`robobench.api`,
print) that exposes ``register(subparsers) -> None``; that function adds the sub-command, whose
parser sets ``func`` (called with the parsed ``argparse.Namespace``, returning an exit code).
Add a module to ``COMMAND_MODULES`` to expose it.

Failures the user can act on print one ``error:`` line and no traceback:
:class:`robobench.errors.UserError` (bad input: names, values, files) exits with status
2; an environment failure (:func:`expected_failure`: a read-only, locked or damaged
SQLite database, a file system refusal on a path such as a folder where a file is
meant, a checkpoint whose weights do not fit the entry's model) exits with status 1.
Anything else is a bug and keeps its traceback. ``robobench --debug COMMAND ...``
shows the traceback of every failure.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sqlite3
import sys
from collections.abc import Sequence

from robobench import __version__
from robobench.errors import UserError

#: Modules providing sub-commands, in the order they appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = tuple(
    f"robobench.commands.{name}"
    for name in (
        "data",
        "demo",
        "evaluate",
        "train",
        "predict",
        "entries",
        "sweep",
        "corrupt",
        "results",
        "leaderboard",
    )
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="robobench",
        description="Robustness benchmark for multi-view camera BEV 3D detectors (RoboBEV corruptions, distillation).",
    )
    parser.add_argument("--version", action="version", version=f"robobench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of every failure, user errors too")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


#: File system errors on a user's path: the user can fix them (permissions, a folder where a
#: file is meant, a full disk); other ``OSError``s are left to the traceback.
PATH_ERRNOS: frozenset[int] = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.ENOENT,
        errno.EEXIST,
        errno.EROFS,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.ENAMETOOLONG,
        errno.ELOOP,
    }
)

#: Messages of ``sqlite3`` errors that come from the database file, not from robobench's SQL.
SQLITE_FILE_ERRORS: tuple[str, ...] = (
    "readonly database",
    "database is locked",
    "unable to open database",
    "file is not a database",
    "database disk image is malformed",
    "disk i/o error",
    "database or disk is full",
)


def expected_failure(exc: BaseException, args: argparse.Namespace) -> str | None:
    """The one-line message for an environment failure the user can fix, or None for a bug.

    Names the database (``--db``) or checkpoint (``--checkpoint``) of ``args``
    when the exception itself does not carry a path.
    """
    if isinstance(exc, OSError) and exc.errno in PATH_ERRNOS and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, sqlite3.Error) and any(m in str(exc).lower() for m in SQLITE_FILE_ERRORS):
        db = getattr(args, "db", None)
        where = f"results database {db}" if db else "results database"
        return f"{where}: {exc}; check the file, its permissions, and that no other process holds it"
    if isinstance(exc, RuntimeError) and str(exc).startswith("Error(s) in loading state_dict"):
        ckpt = getattr(args, "checkpoint", None)
        name = f"checkpoint {ckpt}" if ckpt else "the checkpoint"
        detail = " ".join(line.strip() for line in str(exc).splitlines()[1:3])
        return f"{name} does not fit the entry's model ({detail[:300]}); pass a checkpoint trained for this entry"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UserError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        message = None if args.debug else expected_failure(exc, args)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
