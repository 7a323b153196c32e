"""Deformable attention of BEVFormer (Li et al., ECCV 2022) in plain torch with ``grid_sample``.

Deformable attention (Deformable DETR, Zhu et al. 2021, eq. 2-3) lets each query attend to
a few learned sampling locations around a reference point instead of every pixel:

    DeformAttn(q, p, x) = W_o sum_h sum_l sum_k A_hlk(q) W_v x_l(p + dp_hlk(q))

with ``A`` softmax-normalised over the levels ``l`` and points ``k`` of head ``h``, and
``x_l(.)`` bilinear sampling of feature level ``l``. BEVFormer uses it twice per encoder
layer (its eq. 2 and 4):

* **spatial cross-attention** (:class:`SpatialCrossAttention`): every BEV query owns a
  pillar of ``Z`` reference points at heights in the BEV grid's z slab; they are projected
  into every view with the camera calibration (:func:`reference_pixels`), each view hit
  by at least one point is sampled around the projected points (only the queries that hit
  a view are gathered for it, BEVFormer's "rebatching"), and the view results are
  averaged over the hit views (``1/|V_hit| sum_v``);
* **temporal self-attention** (:class:`TemporalSelfAttention`): each query samples the
  current BEV queries and the previous frame's BEV (already aligned to the current ego
  frame) around its own BEV position; the two results are averaged.

Locations are normalised to ``[-1, 1]`` as ``grid_sample`` with ``align_corners=False``
expects: pixel ``u`` (pixel-centre coordinates of the network input, as
:func:`~baselines.common.geometry.project_to_image`) of an image ``W`` wide is
``(u + 0.5) / W * 2 - 1``; a feature map of any stride covering the image uses the same
normalisation. Offsets are predicted in feature-map cells of their level, as BEVFormer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from baselines.common.geometry import BEVGrid, project_to_image


def deformable_sample(values: list[torch.Tensor], locations: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted bilinear samples: the core sum of Deformable DETR's eq. 3 (before ``W_o``).

    Args:
        values: per level ``l``, ``(S, heads, C_h, h_l, w_l)`` projected features of ``S``
            sources (views, or BEV frames).
        locations: ``(S, Q, heads, L, P, 2)`` sampling points ``(x, y)`` in ``[-1, 1]``
            (outside: zero contribution).
        weights: ``(S, Q, heads, L, P)`` attention weight of each point.

    Returns:
        ``(S, Q, heads * C_h)``: ``sum_{l, p} weights * values_l(locations)`` per head.
    """
    s, q, heads, _, p, _ = locations.shape
    out = locations.new_zeros(s * heads, q, values[0].shape[2])
    for lvl, value in enumerate(values):
        _, _, c_h, h, w = value.shape
        grid = locations[:, :, :, lvl].permute(0, 2, 1, 3, 4).reshape(s * heads, q, p, 2)
        sampled = nn.functional.grid_sample(
            value.reshape(s * heads, c_h, h, w), grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )  # (S*heads, C_h, Q, P)
        w_l = weights[:, :, :, lvl].permute(0, 2, 1, 3).reshape(s * heads, q, p, 1)
        # sum over points as one batched product, without materialising the elementwise product
        out = out + torch.matmul(sampled.permute(0, 2, 1, 3), w_l).squeeze(-1)
    return out.view(s, heads, q, -1).transpose(1, 2).reshape(s, q, -1)


def pillar_points(grid: BEVGrid, n_heights: int) -> torch.Tensor:
    """``(Y, X, Z, 3)`` ego points of every cell's pillar: the cell centre at ``Z`` heights
    uniformly spaced inside the grid's z slab (bin centres), BEVFormer's pillar reference points."""
    centres = grid.cell_centres()
    zs = grid.z_min + (torch.arange(n_heights, dtype=torch.float32) + 0.5) * (grid.z_max - grid.z_min) / n_heights
    xy = centres[:, :, None, :].expand(-1, -1, n_heights, -1)
    z = zs.view(1, 1, -1, 1).expand(*centres.shape[:2], -1, 1)
    return torch.cat([xy, z], dim=-1)


def reference_pixels(
    points: torch.Tensor,
    intrins: torch.Tensor,
    post_rots: torch.Tensor,
    post_trans: torch.Tensor,
    cam2ego: torch.Tensor,
    image_hw: tuple[int, int],
    min_depth: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised image locations ``(B, N, P, 2)`` of ego ``points (P, 3)`` and their validity ``(B, N, P)``.

    A point is valid in a view when it lies at least ``min_depth`` metres in front of the
    camera and projects inside the network input (BEVFormer's ``bev_mask``). Calibration
    tensors are the batch's ``(B, N, ...)``.
    """
    b, n = intrins.shape[:2]
    pix, depth = project_to_image(
        points.to(intrins.dtype),
        intrins.flatten(0, 1),
        post_rots.flatten(0, 1),
        post_trans.flatten(0, 1),
        cam2ego.flatten(0, 1),
    )
    h, w = image_hw
    size = pix.new_tensor([w, h])
    norm = (pix + 0.5) / size * 2 - 1
    valid = (depth > min_depth) & (norm.abs() <= 1).all(-1)
    return norm.view(b, n, -1, 2), valid.view(b, n, -1)


def _init_offsets(linear: nn.Linear, heads: int, groups: int, points: int) -> None:
    """Zero weights; biases put head ``h``'s point ``k`` at ``k + 1`` cells along direction ``2 pi h / heads``
    (Deformable DETR's initialisation), so untrained queries already look around their reference."""
    nn.init.zeros_(linear.weight)
    theta = torch.arange(heads, dtype=torch.float32) * (2 * math.pi / heads)
    dirs = torch.stack([theta.cos(), theta.sin()], -1)
    dirs = dirs / dirs.abs().max(-1, keepdim=True).values
    bias = dirs.view(heads, 1, 1, 2) * torch.arange(1, points + 1, dtype=torch.float32).view(1, 1, points, 1)
    with torch.no_grad():
        linear.bias.copy_(bias.expand(heads, groups, points, 2).reshape(-1))


class _DeformableBase(nn.Module):
    """Value/output projections and head bookkeeping shared by the two attentions."""

    def __init__(self, embed_dims: int, heads: int) -> None:
        super().__init__()
        if embed_dims % heads:
            raise ValueError(f"embed_dims={embed_dims} must be divisible by heads={heads}")
        self.embed_dims, self.heads = embed_dims, heads
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)

    def _values(self, maps: torch.Tensor) -> torch.Tensor:
        """``(S, C, h, w) -> (S, heads, C / heads, h, w)`` after the value projection ``W_v``."""
        s, c, h, w = maps.shape
        v = self.value_proj(maps.permute(0, 2, 3, 1))
        return v.permute(0, 3, 1, 2).reshape(s, self.heads, c // self.heads, h, w)


class SpatialCrossAttention(_DeformableBase):
    """BEVFormer's spatial cross-attention (its eq. 4): BEV queries sample the views around their pillars.

    Args:
        embed_dims: query and image-feature channels.
        heads: attention heads.
        levels: feature levels (scales) given to :meth:`forward`.
        heights: reference points per pillar (``Z``, BEVFormer: 4).
        points: sampling points per reference point, head and level (BEVFormer: 2, i.e.
            8 per pillar).
    """

    def __init__(self, embed_dims: int, heads: int = 8, levels: int = 1, heights: int = 4, points: int = 2) -> None:
        super().__init__(embed_dims, heads)
        self.levels, self.heights, self.points = levels, heights, points
        self.sampling_offsets = nn.Linear(embed_dims, heads * levels * heights * points * 2)
        self.attention_weights = nn.Linear(embed_dims, heads * levels * heights * points)
        _init_offsets(self.sampling_offsets, heads, levels * heights, points)
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)

    def sampling(
        self, query: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor, sizes: list[tuple[int, int]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per view, the queries that see it, with their sampling locations and weights.

        ``ref (B, N, Q, Z, 2)``/``mask (B, N, Q, Z)`` from :func:`reference_pixels`;
        ``sizes`` the ``(h, w)`` of each level. As BEVFormer, each view only processes the
        queries with a reference point inside it: ``index (B, N, S)`` lists them (``S``: the
        most any view has; shorter lists are padded with queries whose weights are zero).
        Returns ``locations (B*N, S, heads, L, Z*P, 2)``, ``weights (B*N, S, heads, L, Z*P)``
        and ``index``. Weights of reference points that miss the view are zero, so points
        behind a camera or outside its image contribute nothing.
        """
        b, q, _ = query.shape
        n = ref.shape[1]
        hd, lv, z, p = self.heads, self.levels, self.heights, self.points
        hit = mask.any(-1)
        slots = max(int(hit.sum(-1).max()), 1)
        index = torch.argsort(hit.to(torch.int8), dim=-1, descending=True, stable=True)[
            ..., :slots
        ]  # hit queries first
        rows = torch.arange(b, device=query.device).view(b, 1, 1)
        offsets = self.sampling_offsets(query).view(b, q, hd, lv, z, p, 2)[rows, index]  # (B, N, S, hd, lv, z, p, 2)
        attn = (
            self.attention_weights(query).view(b, q, hd, lv * z * p).softmax(-1).view(b, q, hd, lv, z, p)[rows, index]
        )
        ref = torch.gather(ref, 2, index[..., None, None].expand(-1, -1, -1, z, 2))
        mask = torch.gather(mask, 2, index[..., None].expand(-1, -1, -1, z))
        scale = query.new_tensor([[2.0 / w, 2.0 / h] for h, w in sizes]).view(1, 1, 1, 1, lv, 1, 1, 2)
        loc = ref.view(b, n, slots, 1, 1, z, 1, 2) + offsets * scale
        attn = attn * mask.view(b, n, slots, 1, 1, z, 1).to(attn.dtype)
        return loc.reshape(b * n, slots, hd, lv, z * p, 2), attn.reshape(b * n, slots, hd, lv, z * p), index

    def forward(
        self,
        query: torch.Tensor,
        query_pos: torch.Tensor,
        feats: list[torch.Tensor],
        ref: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """``(B, Q, C)`` attended features (before the residual) of queries ``(B, Q, C)``.

        ``feats``: per level ``(B*N, C, h_l, w_l)`` image features of the ``N`` views.
        """
        b, q, c = query.shape
        loc, attn, index = self.sampling(query + query_pos, ref, mask, [tuple(f.shape[-2:]) for f in feats])
        per_view = deformable_sample([self._values(f) for f in feats], loc, attn).reshape(b, -1, c)  # (B, N*S, C)
        summed = query.new_zeros(b, q, c).scatter_add(1, index.reshape(b, -1, 1).expand(-1, -1, c), per_view)
        hits = mask.any(-1).sum(1).clamp(min=1).to(summed.dtype)  # views seen by each query
        return self.output_proj(summed / hits[..., None])


class TemporalSelfAttention(_DeformableBase):
    """BEVFormer's temporal self-attention (its eq. 2): deformable attention over ``{current, previous}`` BEV.

    Offsets and weights come from the query concatenated with the previous BEV at the same
    cell (BEVFormer's ``cat(prev_bev, query)``); each frame is sampled around the query's
    own cell; the two frames' results are averaged. Without a previous BEV the current
    queries stand in for it (BEVFormer's first frame), which makes it a deformable
    self-attention over the BEV.
    """

    def __init__(self, embed_dims: int, heads: int = 8, points: int = 4) -> None:
        super().__init__(embed_dims, heads)
        self.points = points
        self.sampling_offsets = nn.Linear(2 * embed_dims, 2 * heads * points * 2)
        self.attention_weights = nn.Linear(2 * embed_dims, 2 * heads * points)
        _init_offsets(self.sampling_offsets, heads, 2, points)
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)

    def forward(
        self, query: torch.Tensor, query_pos: torch.Tensor, prev: torch.Tensor | None, hw: tuple[int, int]
    ) -> torch.Tensor:
        """``(B, Q, C)`` attended features of queries ``(B, Q, C)`` on a ``hw = (Y, X)`` BEV;
        ``prev (B, Q, C)`` the previous BEV aligned to the current ego frame, or ``None``."""
        b, q, c = query.shape
        ny, nx = hw
        prev = query if prev is None else prev
        x = torch.cat([prev, query + query_pos], dim=-1)
        hd, p = self.heads, self.points
        # (B, 2 frames, Q, heads, 1 level, P, ...): per head, the frames are the offset init's groups
        offsets = self.sampling_offsets(x).view(b, q, hd, 2, p, 2).permute(0, 3, 1, 2, 4, 5).unsqueeze(4)
        attn = self.attention_weights(x).view(b, q, hd, 2, p).softmax(-1).permute(0, 3, 1, 2, 4).unsqueeze(4)
        iy, ix = torch.meshgrid(
            torch.arange(ny, device=query.device), torch.arange(nx, device=query.device), indexing="ij"
        )
        ref = torch.stack([(ix + 0.5) / nx, (iy + 0.5) / ny], -1).to(query.dtype).view(1, 1, q, 1, 1, 1, 2) * 2 - 1
        loc = ref + offsets * query.new_tensor([2.0 / nx, 2.0 / ny])
        maps = torch.stack([prev, query], dim=1).reshape(b * 2, ny, nx, c).permute(0, 3, 1, 2)
        sampled = deformable_sample(
            [self._values(maps)], loc.reshape(b * 2, q, hd, 1, p, 2), attn.reshape(b * 2, q, hd, 1, p)
        )
        return self.output_proj(sampled.view(b, 2, q, c).mean(1))
