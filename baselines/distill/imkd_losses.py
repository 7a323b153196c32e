"""IMKD's loss terms and intensity map (Mishra et al., WACV 2026, arXiv 2512.15581), pure functions.

The paper's abstract names three intensity-aware stages without equations; the readings
below are ours (the full list of choices is in :mod:`baselines.imkd`):

* :func:`bev_intensity` -- the *intensity* of a BEV feature map: per cell the L2 norm of the
  feature vector over channels, divided by the sample's maximum so it lies in ``[0, 1]``.
  Cells no point reaches have exactly zero intensity in a pillar map (the scatter leaves
  them empty), so the LiDAR map's intensity is also its occupancy mask.
* :func:`radar_distill_loss` -- stage 1, LiDAR-to-radar intensity-aware feature
  distillation: ``sum W (A(R) - T_raw)^2 / sum W`` with ``W = I(T_raw)``: the (adapted) radar
  pillar map imitates the LiDAR pillar map where the LiDAR sees structure, in proportion to
  the LiDAR response, and nowhere else.
* :func:`fused_distill_loss` -- stage 2, LiDAR-to-fused intensity-guided distillation:
  the same form on the BEV encoder outputs with ``W = I(T_bev) * G``, ``G`` the
  class-agnostic Gaussian foreground of the GT boxes, so only the object cells the LiDAR
  responds strongly to are transferred to the fused map (selective, not a full alignment).

Both are :func:`~baselines.distill.dense.fg_weighted_mse_loss` (squared error summed over
channels, normalised by the summed weight) with an intensity weight; teachers are detached.
"""

from __future__ import annotations

import torch

from baselines.distill.dense import fg_weighted_mse_loss

#: Floor of the per-sample maximum in :func:`bev_intensity` (an all-zero map stays all zero).
INTENSITY_EPS = 1e-6


def bev_intensity(feat: torch.Tensor) -> torch.Tensor:
    """``(B, Y, X)`` intensity of ``feat`` ``(B, C, Y, X)``: channel L2 norm per cell over the sample's maximum.

    Differentiable; callers detach it where it is only a guide.
    """
    norm = torch.linalg.vector_norm(feat, dim=1)
    return norm / norm.flatten(1).amax(dim=1).clamp_min(INTENSITY_EPS)[:, None, None]


def radar_distill_loss(radar: torch.Tensor, teacher_raw: torch.Tensor) -> torch.Tensor:
    """Stage 1: adapted radar map ``(B, C, Y, X)`` vs the LiDAR pillar map, weighted by the LiDAR's intensity."""
    teacher_raw = teacher_raw.detach()
    return fg_weighted_mse_loss(radar, teacher_raw, bev_intensity(teacher_raw))


def fused_distill_loss(fused: torch.Tensor, teacher_bev: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
    """Stage 2: adapted fused BEV map vs the teacher's BEV map, weighted by
    ``I(teacher) * foreground`` ``(B, Y, X)``.
    """
    teacher_bev = teacher_bev.detach()
    return fg_weighted_mse_loss(fused, teacher_bev, bev_intensity(teacher_bev) * foreground.detach())
