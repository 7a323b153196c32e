"""The two model families built from the common parts: camera LSS detectors and the pillar LiDAR detector.

Both follow :mod:`robobench.contract`: ``forward(batch)`` returns a dict with ``bev``
(the BEV encoder's output, the head's input: what BEV distillation aligns), ``bev_raw``
(the BEV map before the encoder), ``preds`` (the head's outputs) and, for camera models,
``img_feats``, ``depth`` (bin probabilities), ``depth_logits`` and ``context``;
``loss`` returns named scalars; ``decode`` returns boxes in the ego frame.

A detector is built from its entry's typed configuration (:mod:`baselines.common.config`:
``model`` holds the grid, the image network, depth and view transform settings, the BEV
encoder and the head; ``data`` the input the model expects).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from baselines.common.backbone import ImageEncoder
from baselines.common.bev_encoder import BEVEncoder
from baselines.common.geometry import BEVGrid, DepthBins, augmented_motion
from baselines.common.head import CenterHead
from baselines.common.pillars import PillarEncoder
from baselines.common.view_transformer import LSSViewTransformer, depth_loss
from baselines.common.config import CameraEntryConfig, LidarEntryConfig, ModelConfig


class BEVDetectorBase(nn.Module):
    """BEV encoder + CenterPoint head shared by every detector; subclasses produce ``bev_raw``."""

    def __init__(self, model: ModelConfig, bev_in_channels: int) -> None:
        super().__init__()
        self.grid = BEVGrid.from_config(model.bev)
        self.bev_encoder = BEVEncoder(bev_in_channels, model.bev_encoder)
        self.head = CenterHead(self.bev_encoder.out_channels, self.grid, model.head)

    def loss(self, batch: dict[str, Any], outputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Head losses (``heatmap``, ``bbox``)."""
        return self.head.loss(outputs["preds"], batch["gt_boxes"], batch["gt_labels"])

    def decode(self, batch: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, torch.Tensor]]:
        """Per sample boxes/scores/labels/attrs in the key ego frame."""
        return self.head.decode(outputs["preds"])

    def _finish(self, outputs: dict[str, Any], bev_in: torch.Tensor) -> dict[str, Any]:
        bev = self.bev_encoder(bev_in)
        outputs["bev"] = bev
        outputs["preds"] = self.head(bev)
        return outputs


class CameraBEVDetector(BEVDetectorBase):
    """BEVDet / BEVDepth / BEVDepth4D: ResNet + FPN-lite, LSS view transformer, BEV encoder, CenterPoint head.

    ``depth_loss_weight > 0`` adds BEVDepth's LiDAR depth supervision; ``temporal``
    concatenates the previous key frame's BEV, warped into the current ego frame. Both
    frames are lifted into the batch's BEV-augmented ego frame (``bda``, BEVDet's BDA).
    """

    def __init__(self, cfg: CameraEntryConfig) -> None:
        model = cfg.model
        self.temporal = model.temporal
        super().__init__(model, model.context_channels * (2 if self.temporal else 1))
        self.downsample = model.downsample
        self.bins = DepthBins.from_config(model.depth_bins)
        self.img_encoder = ImageEncoder(model.backbone, self.downsample, model.neck_channels)
        self.view_transformer = LSSViewTransformer(
            model.neck_channels,
            model.context_channels,
            self.bins,
            self.grid,
            self.downsample,
            camera_aware=model.camera_aware,
            depth_blocks=model.depth_blocks,
        )
        self.depth_loss_weight = model.depth_loss_weight

    def lift(self, views: dict[str, torch.Tensor], bda: torch.Tensor) -> dict[str, torch.Tensor]:
        """Image features, depth, context and the pooled BEV of one frame's views (``imgs``, calibration),
        the BEV in that frame's ego frame augmented by ``bda`` ``(B, 3, 3)``."""
        imgs = views["imgs"]
        img_feats = self.img_encoder(imgs.flatten(0, 1))
        out = self.view_transformer(
            img_feats, imgs.shape[-2:], views["intrins"], views["post_rots"], views["post_trans"], views["cam2ego"], bda
        )
        out["img_feats"] = img_feats
        return out

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = self.lift(batch, batch["bda"])
        out["bev_raw"] = out.pop("bev")
        bev_in = out["bev_raw"]
        if self.temporal:
            bev_in = torch.cat([bev_in, self.previous_bev(batch, bev_in)], dim=1)
        return self._finish(out, bev_in)

    def previous_bev(self, batch: dict[str, Any], current: torch.Tensor) -> torch.Tensor:
        """The previous key frame's BEV, warped into the current ego frame (BEVDet4D's alignment).

        Computed without gradients, as BEVDet4D does for previous frames. The previous views
        are lifted with the current sample's ``bda`` and the ego motion is conjugated by it
        (:func:`warp_bev`), so under BEV augmentation a static object lands on the same cells
        in both maps. Without a ``prev`` entry in the batch the current BEV stands in (static scene).
        """
        prev = batch.get("prev")
        if prev is None:
            return current.detach()
        with torch.no_grad():
            prev_bev = self.lift(prev, batch["bda"])["bev"]
            return warp_bev(prev_bev, prev["prev2cur"].to(prev_bev), self.grid, batch["bda"].to(prev_bev))

    def loss(self, batch: dict[str, Any], outputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Head losses, plus ``depth`` (BEVDepth's BCE, weighted) when depth supervision is on."""
        losses = super().loss(batch, outputs)
        if self.depth_loss_weight > 0:
            losses["depth"] = self.depth_loss_weight * depth_loss(
                outputs["depth_logits"], batch["depth"].to(outputs["depth_logits"].device), self.bins
            )
        return losses


def warp_bev(prev_bev: torch.Tensor, prev2cur: torch.Tensor, grid: BEVGrid, bda: torch.Tensor) -> torch.Tensor:
    """Resample ``prev_bev (B, C, Y, X)`` (previous ego frame) on the current frame's grid.

    Both maps are in their ego frames augmented by the same ``bda`` ``(B, 3, 3)`` (BEVDet4D with
    BEVDet's BDA), so the motion between them is ``M = bda @ prev2cur @ bda^-1``
    (:func:`~baselines.common.geometry.augmented_motion`; ``M = prev2cur`` for an identity ``bda``).
    Each current cell centre ``p`` is mapped to ``M^-1 p`` (at z = 0) and the previous map is
    sampled bilinearly there; cells that come from outside the previous grid are 0.
    """
    b = prev_bev.shape[0]
    centres = grid.cell_centres(prev_bev.device).to(prev_bev.dtype)  # (Y, X, 2)
    ones = torch.ones_like(centres[..., :1])
    homog = torch.cat([centres, torch.zeros_like(ones), ones], dim=-1).view(1, -1, 4)
    cur2prev = torch.linalg.inv(augmented_motion(prev2cur, bda))
    in_prev = homog @ cur2prev.transpose(-1, -2)  # (B, Y*X, 4)
    gx = (in_prev[..., 0] - grid.x_min) / (grid.x_max - grid.x_min) * 2 - 1
    gy = (in_prev[..., 1] - grid.y_min) / (grid.y_max - grid.y_min) * 2 - 1
    sample = torch.stack([gx, gy], dim=-1).view(b, grid.ny, grid.nx, 2)
    return nn.functional.grid_sample(prev_bev, sample, mode="bilinear", padding_mode="zeros", align_corners=False)


def lidar_point_features(lidar_sweeps: int) -> int:
    """How many measurements after ``x, y, z`` of a ``points`` row the LiDAR pillar encoder reads.

    Intensity, plus the time lag (column 4, :mod:`robobench.contract`) when several sweeps are
    accumulated: the lag is what tells a moving object's older points from its current ones.
    With one sweep the lag is always 0 and is left out, which also keeps teachers trained
    before sweeps were accumulated loadable.
    """
    return 2 if lidar_sweeps > 1 else 1


class PillarBEVDetector(BEVDetectorBase):
    """CenterPoint-style LiDAR detector: dynamic pillars -> BEV encoder -> CenterPoint head.

    ``lidar_sweeps`` (from ``cfg.data``) is the number of LiDAR sweeps the model expects in
    ``batch["points"]``; a distiller checks that its student's batches carry as many.
    """

    def __init__(self, cfg: LidarEntryConfig) -> None:
        pillars = cfg.model.pillars
        super().__init__(cfg.model, pillars.channels)
        self.lidar_sweeps = cfg.data.lidar_sweeps
        self.pillars = PillarEncoder(
            self.grid, pillars.channels, pillars.subdivision, point_features=lidar_point_features(self.lidar_sweeps)
        )

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        bev_raw = self.pillars(batch["points"])
        return self._finish({"bev_raw": bev_raw}, bev_raw)
