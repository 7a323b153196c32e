"""The leaderboard marks each row's training protocol and never ranks test-corruption training with the others."""

from __future__ import annotations

from leaderboard.model import build_board
from leaderboard.render import render_site
from robobench.conditions import all_conditions
from tests.helpers.leaderboard_rows import ENTRIES_META, fixture_rows, make_row


def _rows_with_heldout(clean: float, factor: float) -> list:
    return fixture_rows() + [make_row("bevdet-tiny", "heldout", 0, c, clean, factor) for c in all_conditions()]


def test_test_corruption_training_is_ranked_apart(tmp_path):
    board = build_board(fixture_rows(), ENTRIES_META)
    best_mrr = {key[:2] for key in board.best["mrr"]}
    # the corrupted-trained line has the highest mRR (factor 0.90); it does not take the clean lines' mark
    assert ("bevdet-tiny+tig", "corrupted") in best_mrr
    assert ("bevdet-tiny+rayd3d", "clean") in best_mrr  # best among the lines that never saw the test corruptions
    assert board.mixes_protocols
    render_site(fixture_rows(), ENTRIES_META, tmp_path)
    html = (tmp_path / "index.html").read_text()
    assert "protocol-note" in html and "corrupted †" in html


def test_heldout_training_ranks_with_clean_training(tmp_path):
    board = build_board(_rows_with_heldout(0.34, 0.86), ENTRIES_META)
    best_mrr = {key[:2] for key in board.best["mrr"]}
    assert ("bevdet-tiny", "heldout") in best_mrr and ("bevdet-tiny+rayd3d", "clean") not in best_mrr
    render_site(_rows_with_heldout(0.34, 0.86), ENTRIES_META, tmp_path)
    html = (tmp_path / "index.html").read_text()
    assert 'class="badge mode-heldout"' in html


def test_no_protocol_note_without_test_corruption_training(tmp_path):
    rows = [r for r in fixture_rows() if r.train_mode != "corrupted"]
    assert not build_board(rows, ENTRIES_META).mixes_protocols
    render_site(rows, ENTRIES_META, tmp_path)
    assert "protocol-note" not in (tmp_path / "index.html").read_text()
