"""The terminal summary of a sweep: a plain-text view of the leaderboard's :class:`~leaderboard.model.Board`.

The sweep prints the lines of the board the leaderboard renders, so there is one definition of
every number: mCE in particular is the leaderboard's (each seed's CE against the baseline entry's
NDS averaged over its seeds, :func:`leaderboard.model.compute_group_metrics`), never a second one.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from leaderboard.model import Board, Group, Stat

#: The summary's columns, in the order of :meth:`SummaryLine.cells`.
SUMMARY_HEADERS: tuple[str, ...] = ("entry", "train", "seeds", "NDS", "mAP", "mRR %", "mCE %")


@dataclass(frozen=True)
class SummaryLine:
    """One board line as the terminal shows it: the board's :class:`Stat` of each metric."""

    entry: str
    train_mode: str
    seeds: int
    nds: Stat
    map: Stat
    mrr: Stat
    mce: Stat

    def cells(self) -> list[str | None]:
        """Text cells: NDS and mAP with four digits, mRR and mCE in percent with two; ``*`` marks a
        mean over fewer than the eight corruptions (conditions missing or failed); None when undefined."""
        return [
            self.entry,
            self.train_mode,
            str(self.seeds),
            _number(self.nds, 1, 4),
            _number(self.map, 1, 4),
            _number(self.mrr, 100, 2),
            _number(self.mce, 100, 2),
        ]


def _number(stat: Stat, scale: float, digits: int) -> str | None:
    if stat.mean is None:
        return None
    return f"{scale * stat.mean:.{digits}f}{'*' if stat.partial else ''}"


def summary_lines(board: Board, keys: Container[tuple[str, str, str, str]] | None = None) -> list[SummaryLine]:
    """The measured lines of ``board`` with results, sorted by entry and train mode; with ``keys``, only the
    lines whose (entry, train mode, dataset id, profile) is among them (what one sweep evaluated)."""

    def wanted(g: Group) -> bool:
        return bool(g.rows) and (keys is None or g.key in keys)

    groups = sorted((g for g in board.measured if wanted(g)), key=lambda g: g.key)
    return [
        SummaryLine(
            g.entry,
            g.train_mode,
            len({r.seed for r in g.rows}),
            g.metrics["nds"],
            g.metrics["map"],
            g.metrics["mrr"],
            g.metrics["mce"],
        )
        for g in groups
    ]
