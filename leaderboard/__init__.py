"""Results -> a static HTML leaderboard (jinja2 templates, inlined CSS/JS, inline SVG charts).

Public API::

    from leaderboard import render_site, load_references, build_board
    render_site(rows, entries_meta, out_dir, baseline=None, references=(), gallery=None, trainings=()) -> Path
    render_store(store, out_dir, baseline=None, references=(), gallery=None) -> Path
    write_board(store_board(store, baseline=None), out_dir) -> Path      # build once, show twice
    summary_lines(board, keys=None) -> [SummaryLine]                      # the sweep's terminal view

``robobench leaderboard`` (:func:`robobench.api.render_leaderboard`) reads rows and entry metadata
from the results store and renders them.
"""

from leaderboard.model import Board, build_board
from leaderboard.references import ReferenceEntry, load_references
from leaderboard.render import render_site, render_store, store_board, write_board
from leaderboard.summary import SummaryLine, summary_lines

__all__ = [
    "Board",
    "ReferenceEntry",
    "SummaryLine",
    "build_board",
    "load_references",
    "render_site",
    "render_store",
    "store_board",
    "summary_lines",
    "write_board",
]
