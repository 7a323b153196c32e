"""``robobench entries``: list the registered method entries; ``--check`` builds each and checks the contract."""

from __future__ import annotations

import argparse
from typing import Any

from robobench import api
from robobench.commands.common import add_entry_file, format_table


def register(subparsers: Any) -> None:
    """Add the ``entries`` sub-command."""
    p = subparsers.add_parser("entries", help="list registered method entries (built-in, plugins, --entry-file)")
    p.add_argument("pattern", nargs="?", default="*", help="glob on entry names, e.g. 'bevdepth*'")
    add_entry_file(p)
    p.add_argument(
        "--check", action="store_true", help="also build each entry's quick model and check the model contract"
    )
    p.set_defaults(func=cmd_entries)


def cmd_entries(args: argparse.Namespace) -> int:
    """Print the entries matching the pattern; with ``--check`` build each and check the contract."""
    entries = api.list_entries(args.pattern, args.entry_file)
    print(
        format_table(
            ["name", "role", "base", "teacher", "paper"],
            [[e.name, e.role.value, e.base, e.teacher, e.paper or None] for e in entries],
        )
    )
    if args.check:
        for check in api.check_entries(entries):
            print(f"ok  {check.name}: {check.model}, {check.parameters} parameters")
    return 0
