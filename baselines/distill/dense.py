"""Dense BEV feature distillation: the baseline both papers compare against.

* :func:`dense_mse_loss`: the "naive" imitation, MSE between whole student and teacher BEV maps.
* :func:`fg_weighted_mse_loss` with :func:`gaussian_foreground`: BEVDistill's dense term
  (Chen et al., ICLR 2023, "fg_weight = gt"): the squared error of each cell, summed over
  channels, weighted by a class-agnostic CenterPoint heatmap of the GT boxes and normalised by
  the heatmap's sum. Reading of its public code: the weight is the maximum over boxes of
  CenterNet's truncated Gaussian at each box's centre cell (radius from ``gaussian_radius`` with
  ``min_overlap`` 0.1, ``sigma = (2r + 1) / 6``), i.e. the CenterPoint heatmap target collapsed
  over classes; ``loss = sum_{b,c,y,x} W_{b,y,x} (S - T)^2 / sum_{b,y,x} W_{b,y,x}``.

Student maps must already have the teacher's shape (the distiller's adapter); the teacher is
detached inside the losses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from baselines.common.head import CenterHead


def dense_mse_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every element of the ``(B, C, Y, X)`` maps."""
    return F.mse_loss(student, teacher.detach())


def gaussian_foreground(
    head: CenterHead, gt_boxes: Sequence[torch.Tensor], gt_labels: Sequence[torch.Tensor]
) -> torch.Tensor:
    """``(B, Y, X)`` class-agnostic Gaussian foreground: the maximum over classes of ``head``'s
    CenterPoint heatmap targets (its grid, radius rule and minimum radius) for each sample.

    BEVDistill draws these Gaussians with a minimum radius of 1 cell; the head's default is
    CenterPoint's 2 (``model.head.min_radius``), which we keep so the weight is exactly the
    student's own heatmap target.
    """
    maps = []
    for boxes, labels in zip(gt_boxes, gt_labels):
        per_task = head.targets(boxes, labels)
        maps.append(torch.cat([t["heatmap"] for t in per_task]).amax(dim=0))
    return torch.stack(maps)


def fg_weighted_mse_loss(student: torch.Tensor, teacher: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """BEVDistill's foreground-weighted dense loss ``sum W (S - T)^2 / sum W``.

    ``weight`` ``(B, Y, X)`` (e.g. :func:`gaussian_foreground`) broadcasts over channels in the
    numerator and is summed over cells only in the denominator; without any foreground the
    loss is 0 (with the student's graph kept).
    """
    w = weight.detach().to(student.dtype)
    num = (w[:, None] * (student - teacher.detach()) ** 2).sum()
    den = w.sum()
    return num / den if bool(den > 0) else num * 0.0
