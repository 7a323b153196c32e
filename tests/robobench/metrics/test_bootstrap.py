"""The scene bootstrap of the detection evaluator: a weighted score equals the devkit on the copied set."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from nuscenes.eval.common.data_classes import EvalBoxes

from robobench.metrics.bootstrap import bootstrap_scores
from robobench.metrics.detection import BoxArrays, match_arrays, score_matches
from tests.helpers.reference_paths import bootstrap_scores_per_replicate
from tests.helpers.devkit_boxes import CFG, assert_equal_to_devkit, devkit_metrics, predictions, random_world


def _copied(boxes: EvalBoxes, tokens: list[str], weights: list[int]) -> tuple[list[str], EvalBoxes]:
    """The set in which sample ``i`` appears ``weights[i]`` times (copies get their own tokens)."""
    out, new_tokens = EvalBoxes(), []
    for tok, w in zip(tokens, weights):
        for k in range(w):
            name = f"{tok}#{k}"
            new_tokens.append(name)
            dup = [copy.copy(b) for b in boxes[tok]]
            for b in dup:
                b.sample_token = name
            out.add_boxes(name, dup)
    return new_tokens, out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_score_equals_devkit_on_copied_samples(seed):
    rng = np.random.default_rng(seed)
    tokens, gt = random_world(rng, n_samples=8)
    pred = predictions(rng, tokens, gt, jitter=0.6, n_fp=6)
    weights = [int(w) for w in rng.multinomial(8, [1 / 8] * 8)]
    names = list(CFG.class_names)
    g, p = BoxArrays.from_eval_boxes(gt, tokens, names), BoxArrays.from_eval_boxes(pred, tokens, names)
    got = score_matches(g, p, CFG, names, *match_arrays(g, p, CFG), sample_weight=np.array(weights))
    copied_tokens, gt_copied = _copied(gt, tokens, weights)
    _, pred_copied = _copied(pred, tokens, weights)
    assert copied_tokens  # some samples drawn
    assert_equal_to_devkit(got, devkit_metrics(gt_copied, pred_copied))
    unweighted = score_matches(g, p, CFG, names, *match_arrays(g, p, CFG))
    assert got.nds != pytest.approx(unweighted.nds)  # the weights change the score


@pytest.mark.parametrize(
    ("seed", "score_levels", "drop_classes"),
    [(0, None, ()), (1, 5, ("bus", "barrier")), (2, None, ("traffic_cone",)), (3, 3, ())],
)
def test_all_replicates_at_once_equal_one_replicate_at_a_time(seed, score_levels, drop_classes):
    """:func:`bootstrap_scores` gives every replicate's NDS and mAP bit for bit as :func:`score_matches`
    with that replicate's weights: tied scores, classes without predictions, samples drawn 0 to many
    times, replicates in which a class has no GT."""
    rng = np.random.default_rng(seed)
    tokens, gt = random_world(rng, n_samples=12)
    pred = predictions(
        rng, tokens, gt, jitter=0.7, n_fp=8, n_dup=2, score_levels=score_levels, drop_classes=drop_classes
    )
    names = list(CFG.class_names)
    g, p = BoxArrays.from_eval_boxes(gt, tokens, names), BoxArrays.from_eval_boxes(pred, tokens, names)
    order, match = match_arrays(g, p, CFG)
    weights = rng.multinomial(12, [1 / 12] * 12, size=60)
    weights[0] = 0
    weights[1] = 1
    weights[2, :6] = 0
    nds, map_ = bootstrap_scores(g, p, CFG, names, order, match, weights)
    expected_nds, expected_map = bootstrap_scores_per_replicate(g, p, CFG, names, order, match, weights)
    assert nds == expected_nds
    assert map_ == expected_map
    assert len(set(nds)) > 30  # the replicates differ
