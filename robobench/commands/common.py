"""Argument groups every command shares, so the same option has the same name, form and help everywhere.

* the dataset: ``--dataroot``, ``--version``, ``--split``;
* ``--entry-file`` (repeatable), ``--set KEY=VALUE`` (repeatable), ``--db``, ``--no-progress``;
* lists are comma-separated (``--entries a,b``, ``--conditions clean,Fog:hard``); the space-separated
  form some commands took earlier (``--levels easy hard``) still works and says so on stderr;
* a renamed option keeps its old name as a deprecated alias that works and says so on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from robobench.argtypes import name_list
from robobench.constants import DEFAULT_DATAROOT, DEFAULT_VERSION

DEFAULT_DB = Path("runs") / "results.sqlite"


def deprecation(note: str) -> None:
    """Tell the user on stderr that a form they used is deprecated (standard output stays the command's)."""
    print(f"note: {note}", file=sys.stderr)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width text table (header, rule, rows); ``None`` prints as ``-``."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


class _DeprecatedAlias(argparse.Action):
    """Stores like the option it aliases (``const`` for a flag, else the value) and notes the new name."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: str | None = None
    ) -> None:
        deprecation(f"{option_string} is deprecated; use {self.new}")
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def add_alias(parser: Any, old: str, new: str, dest: str, *, flag: bool = False, **kwargs: Any) -> None:
    """``old`` as a hidden, deprecated alias of ``new`` (same ``dest``); ``flag``: it takes no value."""
    extra = {"nargs": 0, "const": True} if flag else {}
    parser.add_argument(old, dest=dest, action=_DeprecatedAlias, new=new, help=argparse.SUPPRESS, **extra, **kwargs)


class _CommaList(argparse.Action):
    """A comma-separated list; several space-separated words (the old form) are joined, with a note."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str,
        convert: Callable[[str], list[Any]],
        extend: bool = False,
        **kwargs: Any,
    ) -> None:
        self.convert, self.extend = convert, extend
        super().__init__(option_strings, dest, nargs="+", **kwargs)

    def __call__(
        self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: str | None = None
    ) -> None:
        if len(values) > 1:
            deprecation(f"space-separated {option_string} is deprecated; write {option_string} {','.join(values)}")
        try:
            items = [item for word in values for item in self.convert(word)]
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        before = list(getattr(namespace, self.dest, None) or []) if self.extend else []
        setattr(namespace, self.dest, before + items)


def add_list(
    parser: Any, flag: str, what: str, convert: Callable[[str], list[Any]] | None = None, **kwargs: Any
) -> None:
    """A comma-separated list option (``convert``: one word -> its items, default :func:`name_list`);
    the space-separated old form is accepted with a deprecation note. ``extend=True``: a repeated
    option adds to the list instead of replacing it."""
    parser.add_argument(flag, action=_CommaList, convert=convert or name_list(what), **kwargs)


def add_dataset(
    parser: Any,
    *,
    dataroot: Path | None = DEFAULT_DATAROOT,
    split: str | None = None,
    split_help: str | None = None,
    dataroot_help: str | None = None,
) -> None:
    """``--dataroot``, ``--version`` and ``--split``: which nuScenes-format dataset and split."""
    default_help = f"nuScenes-format root (default {DEFAULT_DATAROOT}, made by 'robobench data synth')"
    parser.add_argument("--dataroot", type=Path, default=dataroot, help=dataroot_help or default_help)
    parser.add_argument("--version", default=DEFAULT_VERSION, help=f"devkit version folder (default {DEFAULT_VERSION})")
    parser.add_argument(
        "--split", default=split, help=split_help or "split name (default: synth_val / mini_val / val by version)"
    )


def add_entry_file(parser: Any) -> None:
    """``--entry-file F`` (repeatable): a Python file registering entries; installed plugins are found too."""
    parser.add_argument(
        "--entry-file",
        action="append",
        default=[],
        metavar="F",
        help="a .py file registering entries (repeatable); plugin packages are found too",
    )


def add_set(parser: Any) -> None:
    """``--set KEY=VALUE`` (repeatable; parsed by :func:`robobench.config.parse_overrides` into ``args.overrides``)."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. train.epochs=2 (VALUE parsed as JSON); repeatable",
    )


def add_db(parser: Any, default: Path | None = DEFAULT_DB, help: str | None = None) -> None:
    """``--db``: the results database (SQLite)."""
    parser.add_argument("--db", type=Path, default=default, help=help or f"results database (default {default})")


def add_progress(parser: Any) -> None:
    """``--no-progress``: no progress bar (stderr)."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
