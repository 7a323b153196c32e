"""The ``robobench`` sub-commands, one thin module per command: parse, call :mod:`robobench.api`, print.

Each module exposes ``register(subparsers) -> None``, which adds its sub-command with ``func``
set (called with the parsed ``argparse.Namespace``, returning an exit code). Options the
commands share come from :mod:`robobench.commands.common`. :data:`robobench.cli.COMMAND_MODULES`
lists the modules in ``--help`` order.
"""
