"""CenterPoint-style detection head (Yin et al., CVPR 2021) on a BEV feature map.

Per class group ("task", CenterPoint's nuScenes grouping) the head predicts a heatmap
with one channel per class and a 10-channel regression map at every cell:
``[dx, dy, z, log w, log l, log h, sin yaw, cos yaw, vx, vy]`` where ``(dx, dy)`` is the
sub-cell offset of the box centre from the cell's corner ``(x_min + ix res, y_min + iy res)``.

Targets: a Gaussian per box on its class channel (CenterNet radius formula, Zhou et al.
2019, with ``sigma = (2r + 1) / 6``), regression at the box's centre cell. Losses: the
Gaussian focal loss of CornerNet/CenterNet (alpha 2, beta 4) normalised by the number
of objects, and a code-weighted L1 on the regression. Decoding: top-k over each task's
heatmap, score threshold, circle NMS within the task, boxes in the ego frame.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from baselines.common.attributes import assign_attributes
from baselines.common.backbone import conv_bn_relu
from baselines.common.config import HeadConfig
from baselines.common.geometry import BEVGrid
from robobench.constants import DETECTION_CLASSES
from robobench.errors import UserError

N_REG = 10


def gaussian_radius(length: torch.Tensor, width: torch.Tensor, min_overlap: float = 0.1) -> torch.Tensor:
    """CenterNet's radius (in cells) within which a shifted box keeps IoU >= ``min_overlap``.

    The minimum of the three quadratic cases of CornerNet (Law & Deng 2018, as used by
    CenterNet/CenterPoint, including their ``/2`` normalisation).
    """
    h, w, o = length, width, min_overlap
    b1 = h + w
    c1 = w * h * (1 - o) / (1 + o)
    r1 = (b1 + torch.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (h + w)
    c2 = (1 - o) * w * h
    r2 = (b2 + torch.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * o
    b3 = -2 * o * (h + w)
    c3 = (o - 1) * w * h
    r3 = (b3 + torch.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


def gaussian_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0
) -> torch.Tensor:
    """Summed penalty-reduced focal loss of CornerNet eq. 1 (positives where target == 1)."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).to(p.dtype)
    pos_loss = -torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = -torch.log(1 - p) * p**alpha * (1 - target) ** beta * (1 - pos)
    return (pos_loss + neg_loss).sum()


def circle_nms(centres: torch.Tensor, radius: float) -> torch.Tensor:
    """Greedy circle NMS over score-sorted ``centres (K, 2)``; returns the kept mask.

    A box is suppressed when a kept higher-scored box lies within ``radius`` metres
    (CenterPoint's circle NMS). The greedy pass's decisions are reached in rounds instead of
    box by box: in each round, every undecided box with a kept box close before it is
    suppressed, then every undecided box with no undecided box close before it is kept. The
    first undecided box is always decided, and no two boxes kept in one round are close, so
    the result is the greedy one; a round is one matrix operation, and rounds are few (the
    longest chain of boxes suppressing each other), where the greedy loop ran once per box.
    """
    x, y = centres.detach().cpu().double().numpy().T
    k = len(x)
    dx, dy = x[:, None] - x[None, :], y[:, None] - y[None, :]
    close = np.triu(dx * dx + dy * dy < radius**2, 1)  # [i, j]: i before j
    keep = np.zeros(k, dtype=bool)
    undecided = np.ones(k, dtype=bool)
    while undecided.any():
        undecided &= ~close[keep].any(axis=0)
        free = undecided & ~close[undecided].any(axis=0)
        keep |= free
        undecided &= ~free
    return torch.from_numpy(keep).to(centres.device)


class CenterHead(nn.Module):
    """Shared conv, then per task a heatmap branch and a regression branch.

    ``forward`` returns ``{"heatmap": [T x (B, n_t, Y, X) logits], "reg": [T x (B, 10, Y, X)]}``;
    ``self.tasks[t]`` lists the ``DETECTION_CLASSES`` indices of task ``t``'s channels.
    """

    def __init__(self, in_channels: int, grid: BEVGrid, cfg: HeadConfig) -> None:
        super().__init__()
        self.grid = grid
        for name in (n for t in cfg.tasks for n in t):
            if name not in DETECTION_CLASSES:
                raise UserError(f"model.head.tasks names unknown class {name!r}; classes are {list(DETECTION_CLASSES)}")
        self.tasks = [[DETECTION_CLASSES.index(n) for n in t] for t in cfg.tasks]
        self.nms_radius = list(cfg.nms_radius)
        if len(self.nms_radius) != len(self.tasks):
            raise UserError(
                f"model.head.nms_radius needs one value per task ({len(self.tasks)}), got {len(self.nms_radius)}"
            )
        if len(cfg.code_weights) != N_REG:
            raise UserError(
                f"model.head.code_weights needs one weight per regression channel ({N_REG}), "
                f"got {len(cfg.code_weights)}"
            )
        self.register_buffer("code_weights", torch.tensor(cfg.code_weights, dtype=torch.float32))
        self.min_overlap = cfg.min_overlap
        self.min_radius = cfg.min_radius
        self.weight_heatmap = cfg.weight_heatmap
        self.weight_bbox = cfg.weight_bbox
        self.topk = cfg.topk
        self.score_threshold = cfg.score_threshold
        self.max_per_sample = cfg.max_per_sample
        ch = cfg.channels
        # CenterPoint gives every output of every task its own 3x3 conv; on a CPU-sized grid
        # ``branch_convs: false`` predicts the outputs directly from the shared features.
        branch = cfg.branch_convs
        self.shared = conv_bn_relu(in_channels, ch)
        self.heatmap = nn.ModuleList()
        self.reg = nn.ModuleList()
        for task in self.tasks:
            hm = nn.Sequential(*([conv_bn_relu(ch, ch)] if branch else []), nn.Conv2d(ch, len(task), 3, padding=1))
            nn.init.constant_(hm[-1].bias, -2.19)  # prior probability 0.1 (CenterPoint init_bias)
            self.heatmap.append(hm)
            self.reg.append(
                nn.Sequential(*([conv_bn_relu(ch, ch)] if branch else []), nn.Conv2d(ch, N_REG, 3, padding=1))
            )

    def forward(self, bev: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        x = self.shared(bev)
        return {"heatmap": [m(x) for m in self.heatmap], "reg": [m(x) for m in self.reg]}

    # ---------------------------------------------------------------- targets
    def targets(self, boxes: torch.Tensor, labels: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Per task: ``heatmap (n_t, Y, X)``, ``index (M_t,)`` flat cell, ``reg (M_t, 10)`` for one sample.

        Boxes whose centre falls outside the grid are ignored (as CenterPoint's range filter).
        """
        g = self.grid
        cx = (boxes[:, 0] - g.x_min) / g.res
        cy = (boxes[:, 1] - g.y_min) / g.res
        ix, iy = torch.floor(cx).long(), torch.floor(cy).long()
        inside = (ix >= 0) & (ix < g.nx) & (iy >= 0) & (iy < g.ny)
        radius = gaussian_radius(boxes[:, 4] / g.res, boxes[:, 3] / g.res, self.min_overlap)
        radius = torch.clamp(torch.floor(radius), min=self.min_radius)
        reg = torch.stack(
            [
                cx - ix,
                cy - iy,
                boxes[:, 2],
                torch.log(boxes[:, 3].clamp(min=1e-3)),
                torch.log(boxes[:, 4].clamp(min=1e-3)),
                torch.log(boxes[:, 5].clamp(min=1e-3)),
                torch.sin(boxes[:, 6]),
                torch.cos(boxes[:, 6]),
                boxes[:, 7],
                boxes[:, 8],
            ],
            dim=1,
        )
        out = []
        for task in self.tasks:
            channel = torch.full_like(labels, -1)
            for c, cls in enumerate(task):
                channel[labels == cls] = c
            sel = inside & (channel >= 0)
            heat = boxes.new_zeros(len(task), g.ny * g.nx)
            if sel.any():
                heat = heat.scatter_reduce(
                    0,
                    channel[sel, None].expand(-1, g.ny * g.nx),
                    self._gaussians(ix[sel], iy[sel], radius[sel]),
                    "amax",
                )
            out.append({"heatmap": heat.view(len(task), g.ny, g.nx), "index": (iy * g.nx + ix)[sel], "reg": reg[sel]})
        return out

    def _gaussians(self, ix: torch.Tensor, iy: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
        """``(M, Y*X)`` truncated Gaussians (CenterNet ``draw_gaussian``) centred at the integer cells."""
        g = self.grid
        dx = torch.arange(g.nx, device=ix.device)[None, None, :] - ix[:, None, None]
        dy = torch.arange(g.ny, device=iy.device)[None, :, None] - iy[:, None, None]
        r = radius[:, None, None]
        sigma = (2 * r + 1) / 6
        val = torch.exp(-(dx**2 + dy**2).to(sigma.dtype) / (2 * sigma**2))
        val = val * ((dx.abs() <= r) & (dy.abs() <= r))
        return val.view(ix.shape[0], -1)

    # ---------------------------------------------------------------- loss
    def loss(
        self, preds: dict[str, list[torch.Tensor]], gt_boxes: list[torch.Tensor], gt_labels: list[torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """``{"heatmap": focal, "bbox": L1}`` summed over tasks, each normalised by its object count."""
        dev = preds["heatmap"][0].device
        per_sample = [self.targets(b.to(dev, torch.float32), lab.to(dev)) for b, lab in zip(gt_boxes, gt_labels)]
        loss_hm = preds["heatmap"][0].new_zeros(())
        loss_box = preds["heatmap"][0].new_zeros(())
        for t in range(len(self.tasks)):
            heat_t = torch.stack([s[t]["heatmap"] for s in per_sample])
            n_obj = sum(int(s[t]["index"].numel()) for s in per_sample)
            loss_hm = loss_hm + gaussian_focal_loss(preds["heatmap"][t], heat_t) / max(n_obj, 1)
            reg_pred = preds["reg"][t].flatten(2)  # (B, 10, Y*X)
            gathered = torch.cat([reg_pred[b][:, s[t]["index"]].T for b, s in enumerate(per_sample)])
            target = torch.cat([s[t]["reg"] for s in per_sample])
            if n_obj:
                loss_box = loss_box + ((gathered - target).abs() * self.code_weights).sum() / n_obj
        return {"heatmap": self.weight_heatmap * loss_hm, "bbox": self.weight_bbox * loss_box}

    # ---------------------------------------------------------------- decoding
    @torch.no_grad()
    def decode(self, preds: dict[str, list[torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        """Per sample ``{"boxes" (K, 9), "scores", "labels", "attrs"}`` in the ego frame, best first."""
        g = self.grid
        bsz = preds["heatmap"][0].shape[0]
        results = []
        for b in range(bsz):
            parts = []
            for t, task in enumerate(self.tasks):
                heat = torch.sigmoid(preds["heatmap"][t][b]).flatten()  # (n_t*Y*X,)
                scores, idx = heat.topk(min(self.topk, heat.numel()))
                keep = scores > self.score_threshold
                scores, idx = scores[keep], idx[keep]
                cell = idx % (g.ny * g.nx)
                cls = torch.as_tensor(task, device=idx.device)[idx // (g.ny * g.nx)]
                boxes = self.decode_cells(preds["reg"][t][b].flatten(1)[:, cell].T, cell)
                nms = circle_nms(boxes[:, :2], self.nms_radius[t])
                parts.append((boxes[nms], scores[nms], cls[nms]))
            boxes = torch.cat([p[0] for p in parts])
            scores = torch.cat([p[1] for p in parts])
            labels = torch.cat([p[2] for p in parts])
            order = scores.argsort(descending=True)[: self.max_per_sample]
            boxes, scores, labels = boxes[order], scores[order], labels[order]
            results.append(
                {"boxes": boxes, "scores": scores, "labels": labels, "attrs": assign_attributes(labels, boxes[:, 7:9])}
            )
        return results

    def decode_cells(self, reg: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Boxes ``(K, 9)`` from regression rows ``(K, 10)`` at flat cells ``(K,)`` (inverse of :meth:`targets`)."""
        g = self.grid
        iy, ix = cell // g.nx, cell % g.nx
        x = (ix + reg[:, 0]) * g.res + g.x_min
        y = (iy + reg[:, 1]) * g.res + g.y_min
        dims = torch.exp(reg[:, 3:6].clamp(max=math.log(100.0)))
        yaw = torch.atan2(reg[:, 6], reg[:, 7])
        return torch.cat([x[:, None], y[:, None], reg[:, 2:3], dims, yaw[:, None], reg[:, 8:10]], dim=1)
