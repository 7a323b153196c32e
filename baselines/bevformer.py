"""``bevformer``: a BEVFormer-style student (Li et al., ECCV 2022) with the students' CenterPoint head.

Learnable BEV queries on a grid look into the six views through spatial cross-attention
(pillar reference points projected with the camera calibration, deformable sampling of
the image features, :mod:`baselines.common.spatial_attention`) and at the previous frame's
BEV, aligned by ego motion, through temporal self-attention. The query map is then
resampled to the students' BEV grid of the profile and goes through the same BEV encoder
and CenterPoint head as ``bevdet``, so results, BEV distillation and the head line up
cell for cell with the other students and the teacher.

Where this lite version differs from BEVFormer
----------------------------------------------
* **Head**: a CenterPoint heatmap head (after the shared BEV encoder) instead of the
  Deformable-DETR detection decoder with 900 object queries and Hungarian matching, so
  that all students are compared with the same head (RayD3D does the same comparison).
* **BEV resolution**: the query grid (``model.bevformer.queries`` cells a side: 32 quick;
  50 full, large and nuscenes, BEVFormer-tiny's setting used by RayD3D) is resampled bilinearly
  to the students' grid (64, 64, 128, 128) before the BEV encoder; BEVFormer decodes boxes
  from its query map.
* **Width**: 4 heads (quick, full, large; 8 on nuscenes) and the profile's neck width as query
  channels (64, 128, 128, 256). A ``full`` training step costs more than ``bevdet``'s on CPU,
  much of it in the deformable sampling and its backward; ``benchmarks/model_step_bench.py
  --profile full --batch-size 4`` measures the ratio.
* **Layers and scales**: 1 (quick) / 2 (full, large) / 3 (nuscenes, BEVFormer-tiny) encoder
  layers; one feature level by default (the FPN-lite output at stride 16, as
  BEVFormer-tiny's single level); ``levels > 1`` adds stride-2 convolutions of it
  (RetinaNet-style extra levels) rather than BEVFormer's FPN over ResNet stages 2-4.
* **Cross-attention cost**: as BEVFormer, each view gathers only the queries that hit it,
  but every view is padded to the largest view's count (one batched ``grid_sample``).
* **Temporal**: on when ``data.prev_frame`` is on (the ``nuscenes`` profile). One previous
  key frame, its BEV computed without gradients by the same encoder (with no earlier
  history), instead of BEVFormer's recurrent queue of 3 frames with random history
  lengths; the alignment uses the batch's ego motion (``warp_bev``), not BEVFormer's
  shift-and-rotate of the query grid by CAN-bus values. Without a previous frame the
  temporal layer attends to the current queries (deformable BEV self-attention), as
  BEVFormer's first frame. No CAN-bus MLP on the queries.
* **Input**: the ``nuscenes`` profile uses 448x800 (800x450 cropped to a multiple of the
  stride 16) instead of 450x800 padded to 480x800.
* **BEV augmentation**: the camera students' BEVDet BDA (``data.bev_*``, on in the
  ``nuscenes`` profile) applies here too, which BEVFormer does not train with. The queries
  live in the batch's augmented ego frame (``bda``): their pillar points are mapped back by
  ``bda^-1`` before being projected into the cameras, and the previous BEV is aligned with
  the ego motion conjugated by ``bda``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from baselines.common.backbone import ImageEncoder, conv_bn_relu
from baselines.common.config import ImageModelConfig
from baselines.common.detector import BEVDetectorBase, warp_bev
from baselines.common.geometry import BEVGrid, augmented_cam2ego
from baselines.common.profiles import camera_profiles
from baselines.common.spatial_attention import (
    SpatialCrossAttention,
    TemporalSelfAttention,
    pillar_points,
    reference_pixels,
)
from robobench.config import PositiveInt
from robobench.errors import UserError
from robobench.registry import register_entry
from robobench.train import EntryConfig


class EncoderLayer(nn.Module):
    """One BEVFormer encoder layer (post-norm): temporal self-attention, spatial cross-attention, FFN."""

    def __init__(self, embed_dims: int, heads: int, levels: int, heights: int, points: int, ffn_dims: int) -> None:
        super().__init__()
        self.temporal_attn = TemporalSelfAttention(embed_dims, heads, points=2 * points)
        self.spatial_attn = SpatialCrossAttention(embed_dims, heads, levels, heights, points)
        self.ffn = nn.Sequential(
            nn.Linear(embed_dims, ffn_dims), nn.ReLU(inplace=True), nn.Linear(ffn_dims, embed_dims)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dims) for _ in range(3))

    def forward(
        self,
        query: torch.Tensor,
        pos: torch.Tensor,
        prev: torch.Tensor | None,
        hw: tuple[int, int],
        feats: list[torch.Tensor],
        ref: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        query = self.norms[0](query + self.temporal_attn(query, pos, prev, hw))
        query = self.norms[1](query + self.spatial_attn(query, pos, feats, ref, mask))
        return self.norms[2](query + self.ffn(query))


@dataclass(frozen=True)
class BEVFormerConfig:
    """``model.bevformer``: ``queries`` (cells a side of the query grid over the BEV extent),
    ``layers``, ``heads``, ``levels`` (image feature levels), ``heights`` (pillar points),
    ``points`` (sampling points per pillar point), ``ffn_dims`` (``None``: twice the query channels)."""

    queries: PositiveInt = 50
    layers: PositiveInt = 1
    heads: PositiveInt = 8
    levels: PositiveInt = 1
    heights: PositiveInt = 4
    points: PositiveInt = 2
    ffn_dims: PositiveInt | None = None


@dataclass(frozen=True)
class BEVFormerModelConfig(ImageModelConfig):
    """The BEVFormer-style student's ``model`` section: the image network and ``bevformer``; the
    queries' channels are ``neck_channels``."""

    bevformer: BEVFormerConfig = field(default_factory=BEVFormerConfig)

    def __post_init__(self) -> None:
        if self.neck_channels % self.bevformer.heads:
            raise UserError(
                f"model.neck_channels={self.neck_channels} must be divisible by "
                f"model.bevformer.heads={self.bevformer.heads}"
            )


@dataclass(frozen=True)
class BEVFormerEntryConfig(EntryConfig):
    """The BEVFormer-style student's configuration."""

    model: BEVFormerModelConfig = field(default_factory=BEVFormerModelConfig)


class BEVFormerDetector(BEVDetectorBase):
    """BEV queries + deformable spatial/temporal attention encoder -> BEV encoder -> CenterPoint head.

    Configured by :class:`BEVFormerEntryConfig`; ``data.prev_frame`` turns on the temporal
    self-attention over the previous frame's BEV. ``forward`` returns the contract's
    ``bev``/``bev_raw``/``preds`` and ``img_feats`` plus ``bev_queries`` (the encoder's query
    map before resampling).
    """

    def __init__(self, cfg: BEVFormerEntryConfig) -> None:
        model, bf = cfg.model, cfg.model.bevformer
        embed = model.neck_channels
        super().__init__(model, embed)
        g = self.grid
        self.query_grid = BEVGrid(
            g.x_min, g.x_max, g.y_min, g.y_max, g.z_min, g.z_max, (g.x_max - g.x_min) / bf.queries
        )
        self.downsample = model.downsample
        self.img_encoder = ImageEncoder(model.backbone, self.downsample, embed)
        self.extra_levels = nn.ModuleList(conv_bn_relu(embed, embed, 3, stride=2) for _ in range(bf.levels - 1))
        ny, nx = self.query_grid.ny, self.query_grid.nx
        self.bev_queries = nn.Parameter(torch.randn(ny * nx, embed) * 0.02)
        self.row_embed = nn.Parameter(torch.randn(ny, embed // 2) * 0.02)
        self.col_embed = nn.Parameter(torch.randn(nx, embed - embed // 2) * 0.02)
        self.layers = nn.ModuleList(
            EncoderLayer(embed, bf.heads, bf.levels, bf.heights, bf.points, bf.ffn_dims or 2 * embed)
            for _ in range(bf.layers)
        )
        self.register_buffer("pillars", pillar_points(self.query_grid, bf.heights).view(-1, 3), persistent=False)
        self.heights = bf.heights
        self.temporal = cfg.data.prev_frame

    def query_pos(self) -> torch.Tensor:
        """``(Q, C)`` learned positional embedding of each query cell (row and column halves)."""
        ny, nx = self.row_embed.shape[0], self.col_embed.shape[0]
        return torch.cat(
            [self.row_embed[:, None].expand(ny, nx, -1), self.col_embed[None].expand(ny, nx, -1)], -1
        ).view(ny * nx, -1)

    def encode(
        self, views: dict[str, torch.Tensor], bda: torch.Tensor, prev_bev: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The query map ``(B, C, Yq, Xq)`` and the image features ``(B*N, C, h, w)`` of one frame's views.

        The query grid is in the ego frame augmented by ``bda`` ``(B, 3, 3)`` (BEVDet's BDA), where
        the batch's GT boxes are: the pillar reference points go back by ``bda^-1`` before the
        projection (folded into the calibration, :func:`~baselines.common.geometry.augmented_cam2ego`).
        ``prev_bev (B, C, Yq, Xq)``: the previous BEV aligned to this frame, or ``None``.
        """
        imgs = views["imgs"]
        b = imgs.shape[0]
        feats = [self.img_encoder(imgs.flatten(0, 1))]
        for conv in self.extra_levels:
            feats.append(conv(feats[-1]))
        ref, mask = reference_pixels(
            self.pillars,
            views["intrins"],
            views["post_rots"],
            views["post_trans"],
            augmented_cam2ego(views["cam2ego"], bda.to(views["cam2ego"])),
            tuple(imgs.shape[-2:]),
        )
        n = ref.shape[1]
        ref = ref.view(b, n, -1, self.heights, 2).to(feats[0].dtype)
        mask = mask.view(b, n, -1, self.heights)
        hw = (self.query_grid.ny, self.query_grid.nx)
        query = self.bev_queries[None].expand(b, -1, -1)
        pos = self.query_pos()[None]
        prev = None if prev_bev is None else prev_bev.flatten(2).transpose(1, 2)
        for layer in self.layers:
            query = layer(query, pos, prev, hw, feats, ref, mask)
        return query.transpose(1, 2).reshape(b, -1, *hw), feats[0]

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        prev_bev = None
        if self.temporal and batch.get("prev") is not None:
            prev = batch["prev"]
            with torch.no_grad():  # as BEVFormer's history BEV: no gradients into the previous frame
                prev_q, _ = self.encode(prev, batch["bda"])
                prev_bev = warp_bev(prev_q, prev["prev2cur"].to(prev_q), self.query_grid, batch["bda"].to(prev_q))
        bev_q, img_feats = self.encode(batch, batch["bda"], prev_bev)
        size = (self.grid.ny, self.grid.nx)
        bev_raw = (
            bev_q
            if bev_q.shape[-2:] == size
            else nn.functional.interpolate(bev_q, size=size, mode="bilinear", align_corners=False)
        )
        return self._finish({"img_feats": img_feats, "bev_queries": bev_q, "bev_raw": bev_raw}, bev_raw)


def _profiles() -> dict[str, dict[str, Any]]:
    """The camera base profiles with the query encoder per profile (``nuscenes``: BEVFormer-tiny as in RayD3D)."""
    profiles = camera_profiles()
    for prof in profiles.values():
        for key in ("depth_bins", "context_channels", "depth_blocks"):  # no depth or LSS context here
            prof["model"].pop(key, None)
    profiles["quick"]["model"]["bevformer"] = {
        "queries": 32,
        "layers": 1,
        "heads": 4,
        "heights": 4,
        "points": 2,
        "ffn_dims": 128,
    }
    for name in ("full", "large"):
        profiles[name]["model"]["bevformer"] = {
            "queries": 50,
            "layers": 2,
            "heads": 4,
            "heights": 4,
            "points": 2,
            "ffn_dims": 256,
        }
    nus = profiles["nuscenes"]
    nus["data"].update(input_size=[448, 800], prev_frame=True)
    nus["model"]["bevformer"] = {"queries": 50, "layers": 3, "heads": 8, "heights": 4, "points": 2, "ffn_dims": 512}
    return profiles


#: The entry's profiles (distillation entries derive theirs from these).
PROFILES = _profiles()


@register_entry(
    "bevformer",
    role="student",
    profiles=PROFILES,
    schema=BEVFormerEntryConfig,
    description=(
        "BEVFormer-lite: BEV queries with deformable spatial cross-attention and temporal self-attention, "
        "BEV ResNet, CenterPoint head"
    ),
    paper=(
        "BEVFormer: Learning Bird's-Eye-View Representation from Multi-Camera Images "
        "via Spatiotemporal Transformers (ECCV 2022)"
    ),
)
def bevformer(cfg: dict[str, Any]) -> BEVFormerDetector:
    """Build the BEVFormer-style student from a profile configuration."""
    return BEVFormerDetector(BEVFormerEntryConfig.parse(cfg))
