"""BEV pooling of lifted camera features (the "splat" of LSS) in the spirit of BEVPoolv2.

LSS forms, for every view, feature cell and depth bin, the outer product
``depth_prob[d] * context[c]`` and sums it into the BEV cell its 3D point falls in.
Materialising that outer product (``B N D h w C`` values) dominates memory and time.
BEVPoolv2 (Huang & Huang, 2022) instead precomputes, once per geometry, three index
arrays over the *kept* points -- into the depth tensor, the context tensor and the BEV
grid -- and accumulates ``depth[rd] * feat[rf]`` into ``bev[rb]`` directly.

Here the same precomputation is done in torch (:func:`pool_indices`), and the
accumulation is a sparse-dense product: the kept points form a CSR matrix ``A`` (BEV
cells x feature pixels) whose values are the depth probabilities, so
``bev = A @ feat`` never materialises a ``(points, C)`` tensor. The custom backward
(:class:`BEVPool`) gives ``d feat = A^T @ d bev`` and, per point,
``d depth = <d bev[rb], feat[rf]>`` as a sampled dense-dense product at ``A``'s pattern.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from baselines.common.geometry import BEVGrid
from robobench.precision import float32_region


@dataclass
class PoolIndices:
    """Where each kept point goes (one geometry, one batch), as a CSR matrix of BEV cells x feature pixels.

    Points of one feature pixel (different depth bins) that fall into the same BEV cell
    share one matrix entry; ``entry`` maps each point to it.
    """

    ranks_depth: torch.Tensor  # (P,) kept points as flat indices into depth (B*N*D*h*w)
    entry: torch.Tensor  # (P,) index of the point's matrix entry
    crow: torch.Tensor  # (B*Y*X + 1,) CSR row pointers over entries
    col: torch.Tensor  # (E,) feature-pixel column of each entry, into (B*N*h*w)
    n_feat: int  # B*N*h*w
    batch_size: int
    grid: BEVGrid

    def matrix(self, depth: torch.Tensor) -> torch.Tensor:
        """The ``(B*Y*X, B*N*h*w)`` CSR matrix whose entries sum the depth probabilities of their points."""
        values = depth.new_zeros(self.col.numel()).index_add_(0, self.entry, depth.reshape(-1)[self.ranks_depth])
        shape = (self.crow.numel() - 1, self.n_feat)
        with warnings.catch_warnings():
            # torch flags CSR construction as "beta"; the products used here (CSR @ dense,
            # CSR^T @ dense, sampled_addmm) are checked against the reference in the tests.
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
            return torch.sparse_csr_tensor(self.crow, self.col, values, shape, check_invariants=False)


def pool_indices(points: torch.Tensor, grid: BEVGrid) -> PoolIndices:
    """Index arrays for :class:`BEVPool` from ego points ``(B, N, D, h, w, 3)``.

    Points outside the grid's x/y range or z slab are dropped (all z inside the slab
    collapse into one cell, as BEVDet's single z bin). Entries are sorted by BEV cell,
    then feature pixel.
    """
    b, n, d, h, w, _ = points.shape
    ix, iy, inside = grid.cell_index(points.reshape(-1, 3))
    kept = torch.nonzero(inside).squeeze(1)  # flat index into (B, N, D, h, w) = into depth
    ranks_bev = ((kept // (n * d * h * w)) * grid.ny + iy[kept]) * grid.nx + ix[kept]
    ranks_feat = (kept // (d * h * w)) * (h * w) + kept % (h * w)
    n_feat = b * n * h * w
    keys, entry = torch.unique(ranks_bev * n_feat + ranks_feat, sorted=True, return_inverse=True)
    n_cells = b * grid.ny * grid.nx
    crow = torch.zeros(n_cells + 1, dtype=torch.long, device=points.device)
    crow[1:] = torch.bincount(keys // n_feat, minlength=n_cells).cumsum(0)
    return PoolIndices(kept, entry, crow, keys % n_feat, n_feat, b, grid)


class BEVPool(torch.autograd.Function):
    """``bev[rb] += depth[rd] * feat[rf]`` over the kept points, as ``A @ feat`` with a sparse ``A``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, depth: torch.Tensor, feat: torch.Tensor, idx: PoolIndices
    ) -> torch.Tensor:
        """``depth`` any shape with ``B*N*D*h*w`` elements; ``feat (B*N*h*w, C)``; returns ``(B*Y*X, C)``."""
        ctx.save_for_backward(depth, feat)
        ctx.idx = idx  # type: ignore[attr-defined]
        return idx.matrix(depth) @ feat

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor):  # type: ignore[override]
        depth, feat = ctx.saved_tensors  # type: ignore[attr-defined]
        idx: PoolIndices = ctx.idx  # type: ignore[attr-defined]
        grad_out = grad_out.contiguous()
        a = idx.matrix(depth)
        grad_depth = grad_feat = None
        if ctx.needs_input_grad[0]:  # type: ignore[attr-defined]
            per_entry = torch.sparse.sampled_addmm(a, grad_out, feat.t(), beta=0.0).values()
            grad_depth = (
                torch.zeros_like(depth).view(-1).index_put_((idx.ranks_depth,), per_entry[idx.entry]).view_as(depth)
            )
        if ctx.needs_input_grad[1]:  # type: ignore[attr-defined]
            grad_feat = a.t() @ grad_out
        return grad_depth, grad_feat, None


def bev_pool(depth: torch.Tensor, feat: torch.Tensor, idx: PoolIndices) -> torch.Tensor:
    """Splat ``depth (B*N, D, h, w)`` x ``feat (B*N, C, h, w)`` into a ``(B, C, Y, X)`` BEV map."""
    c = feat.shape[1]
    # In float32 whatever the autocast: the sparse CSR products have no bfloat16 CPU kernel
    # and half-precision sums over thousands of frustum points per cell would lose the small ones.
    dtype = torch.promote_types(torch.promote_types(depth.dtype, feat.dtype), torch.float32)
    depth, feat = depth.to(dtype), feat.to(dtype)
    feat_rows = feat.permute(0, 2, 3, 1).reshape(-1, c)  # (B*N*h*w, C): the columns of the pooling matrix
    with float32_region(depth):
        out = BEVPool.apply(depth, feat_rows, idx)
    grid = idx.grid
    # A channels-last view, not a copy: the convolutions that follow accept that layout.
    return out.view(idx.batch_size, grid.ny, grid.nx, c).permute(0, 3, 1, 2)


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
