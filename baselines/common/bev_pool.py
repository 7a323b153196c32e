"""BEV pooling of lifted camera features (the "splat" of LSS) in the spirit of BEVPoolv2.

LSS forms, for every view, feature cell and depth bin, the outer product
``depth_prob[d] * context[c]`` and sums it into the BEV cell its 3D point falls in.
Materialising that outer product (``B N D h w C`` values) dominates memory and time.
BEVPoolv2 (Huang & Huang, 2022) instead precomputes, once per geometry, three index
arrays over the *kept* points -- into the depth tensor, the context tensor and the BEV
grid -- and accumulates ``depth[rd] * feat[rf]`` into ``bev[rb]`` directly.

Here the same precomputation is done in torch (:func:`pool_indices`), and the pooling
is a custom autograd function (:class:`BEVPool`) whose forward is one ``index_add_``
and whose backward computes both input gradients with gathers/``index_add_``, without
storing the ``(P, C)`` product for backward. Points are sorted by BEV cell so the
accumulation walks memory in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baselines.common.geometry import BEVGrid


@dataclass
class PoolIndices:
    """Flat indices of the points that fall inside the grid (one geometry, one batch)."""

    ranks_depth: torch.Tensor  # (P,) into depth.view(-1)         (B*N*D*h*w)
    ranks_feat: torch.Tensor  # (P,) into feat.view(-1, C)        (B*N*h*w)
    ranks_bev: torch.Tensor  # (P,) into bev.view(-1, C)         (B*Y*X)
    batch_size: int
    grid: BEVGrid


def pool_indices(points: torch.Tensor, grid: BEVGrid) -> PoolIndices:
    """Index arrays for :class:`BEVPool` from ego points ``(B, N, D, h, w, 3)``.

    Points outside the grid's x/y range or z slab are dropped (all z inside the slab
    collapse into one cell, as BEVDet's single z bin). Sorted by BEV cell.
    """
    b, n, d, h, w, _ = points.shape
    ix, iy, inside = grid.cell_index(points)
    batch = torch.arange(b, device=points.device).view(b, 1, 1, 1, 1).expand(b, n, d, h, w)
    ranks_bev = (batch * grid.ny + iy) * grid.nx + ix
    ranks_depth = torch.arange(b * n * d * h * w, device=points.device).view(b, n, d, h, w)
    ranks_feat = torch.arange(b * n * h * w, device=points.device).view(b, n, 1, h, w).expand(b, n, d, h, w)
    ranks_bev, ranks_depth, ranks_feat = ranks_bev[inside], ranks_depth[inside], ranks_feat[inside]
    order = torch.argsort(ranks_bev, stable=True)
    return PoolIndices(ranks_depth[order], ranks_feat[order], ranks_bev[order], b, grid)


class BEVPool(torch.autograd.Function):
    """``bev[rb] += depth[rd] * feat[rf]`` over kept points, with a memory-light backward."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        depth: torch.Tensor,
        feat: torch.Tensor,
        ranks_depth: torch.Tensor,
        ranks_feat: torch.Tensor,
        ranks_bev: torch.Tensor,
        n_cells: int,
    ) -> torch.Tensor:
        depth_flat = depth.reshape(-1)
        feat_flat = feat.reshape(-1, feat.shape[-1])
        out = feat_flat.new_zeros(n_cells, feat_flat.shape[1])
        out.index_add_(0, ranks_bev, feat_flat[ranks_feat] * depth_flat[ranks_depth, None])
        ctx.save_for_backward(depth, feat, ranks_depth, ranks_feat, ranks_bev)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor):  # type: ignore[override]
        depth, feat, ranks_depth, ranks_feat, ranks_bev = ctx.saved_tensors  # type: ignore[attr-defined]
        depth_flat = depth.reshape(-1)
        feat_flat = feat.reshape(-1, feat.shape[-1])
        g = grad_out[ranks_bev]
        grad_depth = grad_feat = None
        if ctx.needs_input_grad[0]:  # type: ignore[attr-defined]
            grad_depth = torch.zeros_like(depth_flat).index_add_(0, ranks_depth, (g * feat_flat[ranks_feat]).sum(1)).view_as(depth)
        if ctx.needs_input_grad[1]:  # type: ignore[attr-defined]
            grad_feat = torch.zeros_like(feat_flat).index_add_(0, ranks_feat, g * depth_flat[ranks_depth, None]).view_as(feat)
        return grad_depth, grad_feat, None, None, None, None


def bev_pool(depth: torch.Tensor, feat: torch.Tensor, idx: PoolIndices) -> torch.Tensor:
    """Splat ``depth (B*N, D, h, w)`` x ``feat (B*N, C, h, w)`` into a ``(B, C, Y, X)`` BEV map."""
    c = feat.shape[1]
    feat_last = feat.permute(0, 2, 3, 1).contiguous()  # (B*N, h, w, C) so ranks_feat indexes rows
    grid = idx.grid
    out = BEVPool.apply(depth.contiguous(), feat_last, idx.ranks_depth, idx.ranks_feat, idx.ranks_bev, idx.batch_size * grid.ny * grid.nx)
    return out.view(idx.batch_size, grid.ny, grid.nx, c).permute(0, 3, 1, 2).contiguous()


def bev_pool_reference(depth: torch.Tensor, feat: torch.Tensor, points: torch.Tensor, grid: BEVGrid) -> torch.Tensor:
    """The straightforward LSS splat: materialise the full outer product and scatter it point by point.

    Used as the reference in tests and in ``benchmarks/bev_pool_bench.py``.
    """
    b, n, d, h, w, _ = points.shape
    c = feat.shape[1]
    outer = depth.view(b, n, d, 1, h, w) * feat.view(b, n, 1, c, h, w)  # (B, N, D, C, h, w)
    outer = outer.permute(0, 1, 2, 4, 5, 3).reshape(-1, c)
    ix, iy, inside = grid.cell_index(points)
    batch = torch.arange(b, device=points.device).view(b, 1, 1, 1, 1).expand(b, n, d, h, w)
    flat = ((batch * grid.ny + iy) * grid.nx + ix).reshape(-1)
    keep = inside.reshape(-1)
    out = feat.new_zeros(b * grid.ny * grid.nx, c)
    out = out.index_put((flat[keep],), outer[keep], accumulate=True)
    return out.view(b, grid.ny, grid.nx, c).permute(0, 3, 1, 2)
