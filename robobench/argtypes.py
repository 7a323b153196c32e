"""argparse ``type=`` converters shared by the sub-commands.

Each turns a bad value into argparse's usage error (``error: argument --seeds: ...``,
exit 2) before any work starts, so a meaningless value (``--workers 0``, ``--seeds -1``,
an empty ``--entries ''``) never reaches the code that would fail on it later, or
worse, read it as "everything".
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from robobench.errors import UserError

#: Seeds are passed to ``numpy.random.seed``, which takes integers in [0, 2**32).
SEED_LIMIT = 2**32


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None


def at_least(low: float, number: Callable[[str], float] = int) -> Callable[[str], float]:
    """A number (``int`` or ``float``, finite) ``>= low``: ``--workers`` at least 1, ``--gpus-per-cell`` at least 0."""

    def convert(text: str) -> float:
        try:
            value = number(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if number is int else 'a number'}, got {text!r}"
            ) from None
        if not value >= low or value == float("inf"):  # NaN compares false
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {text}")
        return value

    return convert


def seed(text: str) -> int:
    """A random seed: an integer in [0, 2**32) (numpy's range)."""
    value = _int(text, "a seed")
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, {SEED_LIMIT - 1}] (numpy's range), got {value}")
    return value


def csv_items(text: str, what: str) -> list[str]:
    """The stripped comma-separated items of ``text``; an empty list is an error (it would not mean "all")."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(
            f"empty list {text!r}; name at least one {what}, or leave the option out for the default"
        )
    return items


def name_list(what: str) -> Callable[[str], list[str]]:
    """A non-empty comma-separated list of names (``--entries a,b``)."""
    return lambda text: csv_items(text, what)


def checked_list(parse: Callable[[str], str], what: str) -> Callable[[str], list[str]]:
    """A non-empty comma-separated list, each item canonicalised by ``parse`` (a ``UserError`` is a usage error)."""

    def convert(text: str) -> list[str]:
        try:
            return [parse(t) for t in csv_items(text, what)]
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def seed_list(text: str) -> list[int]:
    """A non-empty comma-separated list of seeds (:func:`seed` each)."""
    return [seed(t) for t in csv_items(text, "seed")]
