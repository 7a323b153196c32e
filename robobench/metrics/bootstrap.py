"""The scene bootstrap's replicates scored all at once, number for number as one at a time.

:meth:`robobench.metrics.detection.DetectionEvaluator.bootstrap` scores ``B`` copies of the
split in which sample ``i`` appears ``w[b, i]`` times. Its definition is
:func:`robobench.metrics.detection.score_matches` with ``sample_weight = w[b]``: every
prediction of the score order repeated in place ``w`` times, then the devkit's curves
(``accumulate``), ``calc_ap``, ``calc_tp`` and ``DetectionMetrics``. Called once per
replicate, that is ``B x classes x thresholds`` passes over small arrays (seconds per
evaluation cell at ``B = 200``). Here each class and threshold is handled for all replicates
together, with the same arithmetic:

* the precision and confidence curves (``np.interp`` at 101 recall points) need only the two
  points each query falls between; in row ``b`` those are found from the replicates'
  cumulative copy counts by exact integer searches (recall ``tp / npos`` is at most ``x``
  exactly when ``tp`` is at most the largest count ``m`` with ``m / npos <= x``), and their TP
  and FP counts follow from their positions, so the repeated order is never built;
* the TP-error curves need the running mean over every TP copy (``cummean``), so the TP
  copies are laid out as padded rows (one per replicate) and accumulated along the rows,
  then read at the confidence curve with the same searches (confidences by their rank among
  the class's distinct TP scores);
* numpy's interpolation formula and edge rules (first value below the first point, 0 or the
  last value beyond the last, the point's own value on a point), ``calc_ap`` and ``calc_tp``
  per row, and NDS and mAP from the devkit's ``DetectionMetrics`` filled per replicate.

``tests/robobench/metrics/test_bootstrap.py`` holds it to the replicate-by-replicate
definition bit for bit, and ``benchmarks/eval_path_bench.py`` times both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from nuscenes.eval.detection.constants import TP_METRICS
from nuscenes.eval.detection.data_classes import DetectionConfig, DetectionMetricData, DetectionMetrics

from robobench.metrics.detection import UNDEFINED_TP, BoxArrays, tp_errors_of_pairs
from robobench.schema import clamp_fraction

_NELEM = DetectionMetricData.nelem
_REC_INTERP = np.linspace(0, 1, _NELEM)


def bootstrap_scores(
    gt: BoxArrays,
    pred: BoxArrays,
    cfg: DetectionConfig,
    class_names: Sequence[str],
    order: np.ndarray,
    match: np.ndarray,
    weights: np.ndarray,
) -> tuple[list[float], list[float]]:
    """NDS and mAP of every replicate: ``weights (B, n_samples)`` copies of each sample.

    ``gt``/``pred`` are :class:`~robobench.metrics.detection.BoxArrays`, ``order``/``match``
    the score order and greedy matches of the unweighted set.
    """
    replicates = weights.shape[0]
    metrics = [DetectionMetrics(cfg) for _ in range(replicates)]
    tp_index = list(cfg.dist_ths).index(cfg.dist_th_tp)
    first = round(100 * cfg.min_recall) + 1
    for c, name in enumerate(class_names):
        undefined = UNDEFINED_TP.get(name, frozenset())
        npos = weights[:, gt.sample[gt.label == c]].sum(axis=1)
        cls_order = order[pred.label[order] == c]
        order_c = _Order(weights[:, pred.sample[cls_order]], pred.score[cls_order])
        for t, th in enumerate(cfg.dist_ths):
            is_tp = match[t, cls_order] >= 0
            if not is_tp.any():  # every replicate scores the devkit's no_predictions(): AP 0, TP errors 1
                for b in range(replicates):
                    metrics[b].add_label_ap(name, th, 0.0)
                    if t == tp_index:
                        for metric in TP_METRICS:
                            metrics[b].add_label_tp(name, metric, np.nan if metric in undefined else 1.0)
                continue
            curves = _Curves(order_c, is_tp, npos)
            aps = _calc_ap(curves.precision, first, cfg.min_precision)
            for b in range(replicates):
                metrics[b].add_label_ap(name, th, clamp_fraction(aps[b], f"AP of {name} at {th} m"))
            if t != tp_index:
                continue
            errors = tp_errors_of_pairs(
                gt, pred, match[t, cls_order][is_tp], cls_order[is_tp], period=np.pi if name == "barrier" else 2 * np.pi
            )
            for metric in TP_METRICS:
                if metric in undefined:
                    values = np.full(replicates, np.nan)
                else:
                    values = _calc_tp(curves.error_curve(errors[metric]), curves.confidence, first)
                for b in range(replicates):
                    metrics[b].add_label_tp(name, metric, values[b])
    return [m.nd_score for m in metrics], [m.mean_ap for m in metrics]


class _Rows:
    """Items ``0..n-1`` repeated in place ``counts[b, i]`` times, one padded row per replicate:
    ``index (B, L)`` (``-1`` past the row's ``length``)."""

    def __init__(self, counts: np.ndarray) -> None:
        replicates, n = counts.shape
        self.length = counts.sum(axis=1)
        width = int(self.length.max()) if replicates else 0
        self.index = np.full((replicates, max(width, 1)), -1, dtype=np.int64)
        flat = np.repeat(np.tile(np.arange(n), replicates), counts.ravel())
        row = np.repeat(np.arange(replicates), self.length)
        column = np.arange(len(flat)) - np.repeat(np.cumsum(self.length) - self.length, self.length)
        self.index[row, column] = flat
        self.valid = self.index >= 0


class _Order:
    """One class's score order under every replicate's weights, without repeating it: ``start[b, i]``
    is the first position of prediction ``i``'s copies in row ``b`` (``counts[b, i]`` of them)."""

    def __init__(self, counts: np.ndarray, scores: np.ndarray) -> None:
        self.counts, self.scores = counts, scores
        self.start = np.cumsum(counts, axis=1) - counts
        self.length = counts.sum(axis=1)
        self._search = _RowSearch(self.start)

    def score_at(self, position: np.ndarray) -> np.ndarray:
        """The score of the copy at ``position (B, Q)`` of each row (``0 <= position < length``): the
        last prediction whose first copy is at or before it (that one has copies)."""
        return self.scores[np.maximum(self._search.last_at_most(position), 0)]


class _Curves:
    """The devkit's ``accumulate`` curves of one class and threshold, one row per replicate.

    Only the points the 101 recall queries fall between are computed: in row ``b`` the point
    at or below recall ``x`` is the copy just before the ``(K + 1)``-th TP copy (``K`` the
    largest count with ``K / npos <= x``), where the TP count is ``K`` and the FP count the
    rest; the next point is that TP copy.
    """

    def __init__(self, order: _Order, is_tp: np.ndarray, npos: np.ndarray) -> None:
        self.is_tp, self.order = is_tp, order
        tp_counts = order.counts[:, is_tp]
        tp_start = np.cumsum(tp_counts, axis=1) - tp_counts  # TP copies before each TP prediction
        self.n_tp = tp_counts.sum(axis=1)
        # the devkit scores a class without GT, or without any TP, as DetectionMetricData.no_predictions()
        self.empty = (npos == 0) | (self.n_tp == 0)
        n = np.where(npos == 0, 1, npos).astype(float)[:, None]
        x = _REC_INTERP[None, :]
        # largest K with K / npos <= x (float division, as the devkit's recall): tp <= K <=> tp / npos <= x
        k = np.floor(x * n).astype(np.int64)
        k += (k + 1) / n <= x
        k -= k / n > x
        n_tp, length = self.n_tp[:, None], order.length[:, None]
        inside = k < n_tp
        k_in = np.minimum(k, n_tp - 1)
        q = np.maximum(_RowSearch(tp_start).last_at_most(k_in), 0)
        rows = np.arange(len(q))[:, None]
        tp_pred = np.flatnonzero(is_tp)[q]
        nxt = order.start[rows, tp_pred] + k_in - tp_start[rows, q]  # the (K+1)-th TP copy
        j = np.where(inside, nxt - 1, length - 1)
        tp_j = np.minimum(k, n_tp)
        fp_j = j + 1 - tp_j
        last_rec = self.n_tp / n[:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            x0, x1 = tp_j / n, (tp_j + 1) / n
            p0, p1 = tp_j / (fp_j + tp_j).astype(float), (tp_j + 1) / (fp_j + tp_j + 1).astype(float)
        c0 = order.score_at(np.clip(j, 0, np.maximum(length - 1, 0)))
        c1 = order.scores[tp_pred]
        beyond = x > last_rec[:, None]
        self.precision = _interp_points(x, x0, x1, p0, p1, j, inside, beyond)
        self.confidence = _interp_points(x, x0, x1, c0, c1, j, inside, beyond)
        self.precision[self.empty] = 0.0
        self.confidence[self.empty] = 0.0

    def error_curve(self, errors: np.ndarray) -> np.ndarray:
        """The devkit's TP-error curve of one metric, ``(B, 101)``: the running nan-skipping mean
        (``cummean``) of ``errors`` (one per TP of the class's score order) over each row's TP copies,
        read at the row's confidence curve (``np.interp`` on the reversed arrays, as ``accumulate``)."""
        tp_scores = self.order.scores[self.is_tp]
        copies = _Rows(self.order.counts[:, self.is_tp])
        length, valid = copies.length, copies.valid
        values = np.where(valid, errors[np.maximum(copies.index, 0)], np.nan)
        count = np.cumsum(~np.isnan(values), axis=1)
        running = np.divide(np.nancumsum(values, axis=1), count, out=np.zeros(values.shape), where=count != 0)
        running[count[:, -1] == 0] = 1.0
        distinct = np.unique(tp_scores)
        # reversed rows: ascending confidence, ranked exactly among the class's distinct TP scores
        rev_conf = _reverse_rows(np.where(valid, tp_scores[np.maximum(copies.index, 0)], np.inf), length)
        rev_running = _reverse_rows(running, length)
        queries = self.confidence[:, ::-1]
        rank = np.searchsorted(distinct, rev_conf, "right")
        j = _RowSearch(rank, length).last_at_most(np.searchsorted(distinct, queries, "right"))
        curve = _interp_rows(queries, rev_conf, rev_running, j, length, right=None)[:, ::-1]
        curve[self.empty] = 1.0
        return curve


def _reverse_rows(a: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Each row's first ``length`` entries reversed (the padding stays at the end)."""
    column = np.arange(a.shape[1])[None, :]
    source = np.where(column < length[:, None], length[:, None] - 1 - column, column)
    return np.take_along_axis(a, source, axis=1)


class _RowSearch:
    """Per row of ``keys`` (non-negative integers, non-decreasing along each row's first ``length``
    columns): the last column at or below a bound. One ``searchsorted`` over the rows laid end to
    end, each shifted above the one before, the padding above every bound of its row."""

    def __init__(self, keys: np.ndarray, length: np.ndarray | None = None) -> None:
        replicates, self.width = keys.shape
        valid = True if length is None else np.arange(self.width)[None, :] < length[:, None]
        self.span = int(np.where(valid, keys, 0).max(initial=0)) + 2
        self.shift = (np.arange(replicates, dtype=np.int64) * self.span)[:, None]
        self.flat = (np.where(valid, keys, self.span - 1) + self.shift).ravel()

    def last_at_most(self, bound: np.ndarray) -> np.ndarray:
        """``(B, Q)``: per row and bound, the last valid column whose key is ``<= bound`` (-1 for none)."""
        query = np.clip(bound, -1, self.span - 2) + self.shift
        found = np.searchsorted(self.flat, query.ravel(), "right").reshape(query.shape)
        return found - 1 - (self.shift // self.span) * self.width


def _between(x: np.ndarray, x0: np.ndarray, x1: np.ndarray, y0: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """numpy's ``interp`` formula between ``(x0, y0)`` and ``(x1, y1)``: ``slope * (x - x0) + y0``, and
    where that is nan, the same from the right-hand point, then ``y0`` where both values agree."""
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (y1 - y0) / (x1 - x0)
        out = slope * (x - x0) + y0
        retry = slope * (x - x1) + y1
    return np.where(np.isnan(out), np.where(np.isnan(retry) & (y0 == y1), y0, retry), out)


def _interp_points(
    x: np.ndarray,
    x0: np.ndarray,
    x1: np.ndarray,
    y0: np.ndarray,
    y1: np.ndarray,
    j: np.ndarray,
    inside: np.ndarray,
    beyond: np.ndarray,
) -> np.ndarray:
    """``np.interp(x, xp, fp, right=0)`` of the recall curve from the points around each query: ``(x0, y0)``
    the last point at or below ``x`` (index ``j``, -1 for none) and ``(x1, y1)`` the next (``inside``:
    there is one; else ``j`` is the last point and ``beyond`` says whether ``x`` lies past it). Below
    the first point numpy gives the first value, which is then the next point's."""
    out = np.where(x0 == x, y0, _between(x, x0, x1, y0, y1))
    out = np.where(j < 0, y1, out)
    return np.where(inside, out, np.where(beyond, 0.0, y0))


def _interp_rows(
    x: np.ndarray, xp: np.ndarray, fp: np.ndarray, j: np.ndarray, length: np.ndarray, right: float | None = 0.0
) -> np.ndarray:
    """``np.interp(x, xp[b, :length[b]], fp[b, :length[b]], right=right)`` per row ``b`` (``right=None``:
    numpy's default, the row's last value), given ``j``, the last point at or below each query
    (:class:`_RowSearch`): numpy's formula and edge rules."""
    rows = np.arange(xp.shape[0])[:, None]
    x = np.broadcast_to(x, j.shape)
    last = (length - 1)[:, None]
    jc = np.clip(j, 0, np.maximum(last, 0))
    nxt = np.minimum(jc + 1, np.maximum(last, 0))
    x0, x1, y0, y1 = xp[rows, jc], xp[rows, nxt], fp[rows, jc], fp[rows, nxt]
    out = np.where((j == last) | (x0 == x), y0, _between(x, x0, x1, y0, y1))
    out = np.where(j < 0, fp[:, :1], out)
    beyond = fp[rows, np.maximum(last, 0)] if right is None else right
    out = np.where(x > xp[rows, np.maximum(last, 0)], beyond, out)
    return out


def _calc_ap(precision: np.ndarray, first: int, min_precision: float) -> np.ndarray:
    """The devkit's ``calc_ap`` of every row."""
    prec = precision[:, first:] - min_precision
    prec[prec < 0] = 0
    return np.mean(prec, axis=1) / (1.0 - min_precision)


def _calc_tp(curve: np.ndarray, confidence: np.ndarray, first: int) -> np.ndarray:
    """The devkit's ``calc_tp`` of every row: the mean of the curve from ``first`` to the last point of
    non-zero confidence, 1 when that point comes before ``first``."""
    nonzero = confidence != 0
    last = np.where(nonzero.any(axis=1), confidence.shape[1] - 1 - np.argmax(nonzero[:, ::-1], axis=1), 0)
    out = np.ones(len(curve))
    for b in np.flatnonzero(last >= first):
        out[b] = float(np.mean(curve[b, first : last[b] + 1]))
    return out
