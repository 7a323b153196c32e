"""Results -> a static HTML leaderboard (jinja2 templates, inlined CSS/JS, inline SVG charts).

Public API::

    from leaderboard import render_site, load_references, build_board
    render_site(rows, entries_meta, out_dir, baseline=None, references=(), gallery=None, trainings=()) -> Path
    render_store(store, out_dir, baseline=None, references=(), gallery=None) -> Path

``robobench leaderboard`` (:mod:`leaderboard.cli`) reads rows and entry metadata
from the results store and calls :func:`render_site`.
"""

from leaderboard.model import Board, build_board
from leaderboard.references import ReferenceEntry, load_references
from leaderboard.render import render_site, render_store

__all__ = ["Board", "ReferenceEntry", "build_board", "load_references", "render_site", "render_store"]
