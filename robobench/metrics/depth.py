"""Monocular depth metrics (Eigen et al.; TiGDistill-BEV section IV-A and Table VI).

Over the pixels ``i`` with valid ground truth ``g_i`` (finite, ``> 0``), prediction ``d_i``
(clamped below at ``min_pred`` so logarithms exist), ``e_i = ln d_i - ln g_i``, ``n`` pixels:

=============  ===============================================================
``abs_rel``    ``mean |d - g| / g``
``sq_rel``     ``mean (d - g)^2 / g``
``rmse``       ``sqrt(mean (d - g)^2)``
``rmse_log``   ``sqrt(mean e^2)``
``silog``      ``100 sqrt(mean e^2 - (mean e)^2)`` (scale-invariant log error, KITTI scale)
``log10``      ``mean |log10 d - log10 g|``
``a1/a2/a3``   fraction with ``max(d/g, g/d) < 1.25^k``, k = 1, 2, 3
=============  ===============================================================

Every metric is a function of nine running sums (``n``, ``sum |d-g|/g``,
``sum (d-g)^2/g``, ``sum (d-g)^2``, ``sum e``, ``sum e^2``, ``sum |e|/ln 10`` and the
three threshold counts), so :class:`DepthAccumulator` takes one view at a time and
keeps only those sums per group (all pixels, foreground pixels, GT-depth bins); the
result equals evaluating the concatenation of every pixel at once. SILog uses
``mean e^2 - (mean e)^2 = S_e2 / n - (S_e / n)^2``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Metric names in reporting order.
DEPTH_METRICS: tuple[str, ...] = ("abs_rel", "sq_rel", "rmse", "rmse_log", "silog", "log10", "a1", "a2", "a3")
#: Default GT-depth bin edges (metres) of the per-distance breakdown; the last bin is open.
DEFAULT_BINS: tuple[float, ...] = (0.0, 20.0, 40.0, 60.0)
_N_SUMS = 10  # n, abs_rel, sq_rel, sq, e, e2, |log10|, a1, a2, a3


def _as_array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _sums(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The ten running sums over paired 1-D arrays of valid pixels."""
    diff = pred - gt
    sq = diff * diff
    e = np.log(pred) - np.log(gt)
    ratio = np.maximum(pred / gt, gt / pred)
    return np.array(
        [
            len(gt),
            np.sum(np.abs(diff) / gt),
            np.sum(sq / gt),
            np.sum(sq),
            np.sum(e),
            np.sum(e * e),
            np.sum(np.abs(e)) / math.log(10.0),
            np.count_nonzero(ratio < 1.25),
            np.count_nonzero(ratio < 1.25**2),
            np.count_nonzero(ratio < 1.25**3),
        ],
        dtype=np.float64,
    )


def _metrics(s: np.ndarray) -> dict[str, float]:
    n = s[0]
    mean_e, mean_e2 = s[4] / n, s[5] / n
    return {
        "abs_rel": s[1] / n,
        "sq_rel": s[2] / n,
        "rmse": math.sqrt(s[3] / n),
        "rmse_log": math.sqrt(mean_e2),
        "silog": 100.0 * math.sqrt(max(mean_e2 - mean_e * mean_e, 0.0)),
        "log10": s[6] / n,
        "a1": s[7] / n,
        "a2": s[8] / n,
        "a3": s[9] / n,
        "count": int(n),
    }


def _bin_name(lo: float, hi: float) -> str:
    return f"{lo:g}-{hi:g}" if math.isfinite(hi) else f"{lo:g}-inf"


class DepthAccumulator:
    """Streaming depth metrics: ``update`` per view (or batch), ``compute`` at the end.

    Groups: ``all`` valid pixels, ``fg`` valid pixels inside a GT box (``fg_mask``), and
    one group per GT-depth bin ``[edges[k], edges[k+1])`` (the last is open-ended, named
    ``"60-inf"`` for the default edges). Groups that received no pixel are left out of
    :meth:`compute`'s result.
    """

    def __init__(self, bins: tuple[float, ...] = DEFAULT_BINS, min_pred: float = 1e-3) -> None:
        edges = [float(b) for b in bins]
        if edges != sorted(edges) or len(set(edges)) != len(edges) or not edges:
            raise ValueError(f"depth bin edges must be strictly increasing, got {bins!r}")
        self.edges = np.array([*edges, math.inf])
        self.min_pred = float(min_pred)
        self.sums = {"all": np.zeros(_N_SUMS), "fg": np.zeros(_N_SUMS)}
        self.bin_sums = np.zeros((len(edges), _N_SUMS))

    def update(self, pred: Any, gt: Any, fg_mask: Any = None, mask: Any = None) -> None:
        """Add one view (any shape; numpy or torch). ``gt <= 0`` or non-finite is ignored.

        ``fg_mask`` marks foreground (in-box) pixels; ``mask`` restricts all groups further.
        """
        p, g = _as_array(pred), _as_array(gt)
        if p.shape != g.shape:
            raise ValueError(f"depth prediction shape {p.shape} differs from GT shape {g.shape}")
        valid = np.isfinite(g) & (g > 0)
        if mask is not None:
            valid &= _as_array(mask).astype(bool).reshape(g.shape)
        p = np.maximum(np.nan_to_num(p[valid], nan=self.min_pred), self.min_pred)
        g = g[valid]
        self.sums["all"] += _sums(p, g)
        if fg_mask is not None:
            fg = _as_array(fg_mask).astype(bool).reshape(valid.shape)[valid]
            self.sums["fg"] += _sums(p[fg], g[fg])
        which = np.searchsorted(self.edges, g, side="right") - 1
        for k in np.unique(which):
            if 0 <= k < len(self.bin_sums):
                sel = which == k
                self.bin_sums[k] += _sums(p[sel], g[sel])

    def compute(self) -> dict[str, Any]:
        """``{"all": {...}, "fg": {...}, "bins": {"0-20": {...}, ...}}``; metrics per group plus ``count``."""
        out: dict[str, Any] = {name: _metrics(s) for name, s in self.sums.items() if s[0] > 0}
        out["bins"] = {
            _bin_name(self.edges[k], self.edges[k + 1]): _metrics(s) for k, s in enumerate(self.bin_sums) if s[0] > 0
        }
        return out


def depth_errors(pred: Any, gt: Any, mask: Any = None, min_pred: float = 1e-3) -> dict[str, float]:
    """All depth metrics over the valid pixels of ``pred``/``gt`` (and ``mask``); see the module docstring.

    Raises ``ValueError`` when no pixel has a valid GT depth.
    """
    acc = DepthAccumulator(min_pred=min_pred)
    acc.update(pred, gt, mask=mask)
    if acc.sums["all"][0] == 0:
        raise ValueError("no pixel with a valid (finite, > 0) ground-truth depth")
    return acc.compute()["all"]
