"""Lift-splat view transformer: per-pixel depth distribution x context, pooled to BEV.

LSS (Philion & Fidler 2020) eq. 1: the feature of a frustum point at depth bin ``d`` is
``alpha_d * c``, the depth probability times the context vector; all points are then
splatted into the BEV grid (:mod:`baselines.common.bev_pool`). BEVDepth (Li et al. 2023)
adds a camera-aware depth net: the camera parameters pass through an MLP whose output
gates the image features channel-wise (squeeze-excitation) before depth and context are
predicted; it is switched on with ``camera_aware``.

BEV data augmentation (BEVDet's BDA, arXiv 2112.11790): the frustum points are mapped by the
batch's ``bda`` after ``cam2ego`` (:func:`~baselines.common.geometry.augmented_cam2ego`), so
the pooled BEV map is in the same augmented ego frame as that batch's points and GT boxes.
The depth net's camera vector keeps the *un-augmented* ``cam2ego``, as BEVDepth's: the depth
it predicts is a camera-frame quantity (supervised by camera-frame LiDAR depth) that BDA does
not change. BEVDepth also appends five entries of ``bda`` to that vector (27 values); we leave
them out: they carry no information about camera-frame depth, and a longer vector would stop
the camera-aware checkpoints trained on the 22 values from loading.
"""

from __future__ import annotations

import torch
from torch import nn

from baselines.common.backbone import BasicBlock, conv_bn_relu
from baselines.common.bev_pool import PoolIndices, bev_pool, pool_indices
from baselines.common.geometry import BEVGrid, DepthBins, augmented_cam2ego, frustum_to_ego, make_frustum

N_CAMERA_PARAMS = 22


def camera_params(
    intrins: torch.Tensor, post_rots: torch.Tensor, post_trans: torch.Tensor, cam2ego: torch.Tensor
) -> torch.Tensor:
    """``(B*N, 22)`` per-view camera vector: fx, fy, cx, cy, the 2x2 image-aug matrix and shift, cam2ego[:3, :4]."""
    k = intrins.flatten(0, 1)
    pr = post_rots.flatten(0, 1)
    pt = post_trans.flatten(0, 1)
    ce = cam2ego.flatten(0, 1)
    return torch.cat(
        [
            k[:, 0, 0:1],
            k[:, 1, 1:2],
            k[:, 0, 2:3],
            k[:, 1, 2:3],
            pr[:, :2, :2].flatten(1),
            pt[:, :2],
            ce[:, :3, :4].flatten(1),
        ],
        dim=1,
    )


class LSSViewTransformer(nn.Module):
    """Image features ``(B*N, C_in, h, w)`` -> depth probabilities, context, and the pooled BEV map."""

    def __init__(
        self,
        in_channels: int,
        context_channels: int,
        bins: DepthBins,
        grid: BEVGrid,
        downsample: int,
        camera_aware: bool = False,
        depth_blocks: int = 0,
    ) -> None:
        super().__init__()
        self.bins, self.grid, self.downsample = bins, grid, downsample
        self.context_channels = context_channels
        self.reduce = conv_bn_relu(in_channels, in_channels)
        self.camera_aware = camera_aware
        if camera_aware:
            self.cam_bn = nn.BatchNorm1d(N_CAMERA_PARAMS)
            self.depth_gate = nn.Sequential(
                nn.Linear(N_CAMERA_PARAMS, in_channels), nn.ReLU(inplace=True), nn.Linear(in_channels, in_channels)
            )
            self.context_gate = nn.Sequential(
                nn.Linear(N_CAMERA_PARAMS, in_channels), nn.ReLU(inplace=True), nn.Linear(in_channels, in_channels)
            )
        self.depth_branch = nn.Sequential(
            *[BasicBlock(in_channels, in_channels) for _ in range(depth_blocks)], nn.Conv2d(in_channels, bins.n, 1)
        )
        self.context_branch = nn.Conv2d(in_channels, context_channels, 1)
        self._frustum_cache: dict[tuple[int, int], torch.Tensor] = {}
        self._pool_cache: tuple[torch.Tensor, torch.Size, PoolIndices] | None = None

    def frustum(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        """The ``(D, h, w, 3)`` frustum for a network input of ``height x width`` (cached)."""
        key = (height, width)
        if key not in self._frustum_cache:
            self._frustum_cache[key] = make_frustum(height, width, self.downsample, self.bins)
        return self._frustum_cache[key].to(device)

    @torch.no_grad()
    def pool_indices(
        self,
        frustum: torch.Tensor,
        intrins: torch.Tensor,
        post_rots: torch.Tensor,
        post_trans: torch.Tensor,
        cam2ego: torch.Tensor,
    ) -> PoolIndices:
        """BEV pooling indices for this geometry; reused while the calibration and augmentation repeat (evaluation).

        ``cam2ego`` maps each camera to the frame the BEV is pooled in (with BDA folded in,
        :func:`~baselines.common.geometry.augmented_cam2ego`), so a new ``bda`` is a new geometry.
        """
        key = torch.cat([intrins.flatten(2), post_rots.flatten(2), post_trans, cam2ego.flatten(2)], dim=2).float()
        cached = self._pool_cache
        if (
            cached is not None
            and cached[0].shape == key.shape
            and cached[1] == frustum.shape
            and torch.equal(cached[0], key)
        ):
            return cached[2]
        points = frustum_to_ego(frustum, intrins.float(), post_rots.float(), post_trans.float(), cam2ego.float())
        idx = pool_indices(points, self.grid)
        self._pool_cache = (key, frustum.shape, idx)
        return idx

    def forward(
        self,
        img_feats: torch.Tensor,
        image_size: tuple[int, int],
        intrins: torch.Tensor,
        post_rots: torch.Tensor,
        post_trans: torch.Tensor,
        cam2ego: torch.Tensor,
        bda: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """``{"depth_logits", "depth" (B*N, D, h, w), "context" (B*N, C, h, w), "bev" (B, C, Y, X)}``.

        ``bda`` ``(B, 3, 3)``: the batch's BEV augmentation; the BEV map is pooled in the
        augmented ego frame, depth and context are those of the (un-augmented) camera.
        """
        x = self.reduce(img_feats)
        x_depth = x_ctx = x
        if self.camera_aware:
            cam = self.cam_bn(camera_params(intrins, post_rots, post_trans, cam2ego).to(x.dtype))
            x_depth = x * torch.sigmoid(self.depth_gate(cam))[:, :, None, None]
            x_ctx = x * torch.sigmoid(self.context_gate(cam))[:, :, None, None]
        depth_logits = self.depth_branch(x_depth)
        depth = depth_logits.float().softmax(dim=1)  # float32 under autocast: 60 bins, small probabilities
        context = self.context_branch(x_ctx)
        frustum = self.frustum(*image_size, img_feats.device)
        if frustum.shape[1:3] != depth.shape[2:]:
            raise ValueError(
                f"image features {tuple(depth.shape[2:])} do not match input {image_size} at stride {self.downsample}"
            )
        idx = self.pool_indices(frustum, intrins, post_rots, post_trans, augmented_cam2ego(cam2ego, bda.to(cam2ego)))
        bev = bev_pool(depth, context, idx)
        return {"depth_logits": depth_logits, "depth": depth, "context": context, "bev": bev}


def depth_loss(depth_logits: torch.Tensor, gt_depth: torch.Tensor, bins: DepthBins) -> torch.Tensor:
    """BEVDepth's depth loss: binary cross-entropy between the predicted bin distribution and one-hot LiDAR bins.

    ``depth_logits (B*N, D, h, w)``; ``gt_depth (B, N, h, w)`` sparse LiDAR depth (0 = none).
    Averaged over pixels with a depth inside the bins (BEVDepth's ``get_depth_loss``).
    """
    target, valid = bins.one_hot(gt_depth.flatten(0, 1).to(depth_logits.dtype))  # (B*N, h, w, D)
    if target.shape[1:3] != depth_logits.shape[2:]:
        raise ValueError(
            f"batch['depth'] is {tuple(gt_depth.shape[-2:])} per view "
            f"but the depth net predicts {tuple(depth_logits.shape[2:])}; "
            "set data.depth_downsample equal to model.downsample"
        )
    prob = depth_logits.permute(0, 2, 3, 1)[valid].softmax(dim=-1)
    if prob.numel() == 0:
        return depth_logits.sum() * 0.0
    return (
        nn.functional.binary_cross_entropy(prob.clamp(1e-6, 1 - 1e-6), target[valid], reduction="sum") / prob.shape[0]
    )
