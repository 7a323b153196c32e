"""BEV grid description and camera frustum geometry (Lift-Splat-Shoot, Philion & Fidler 2020).

Conventions are those of :mod:`robobench.contract`: cameras in OpenCV axes, a network
pixel is ``post_rots @ [u, v, 1] + post_trans`` of an original pixel, ``cam2ego`` maps a
camera to the key ego frame, and BEV cell ``[iy, ix]`` is centred at
``(x_min + (ix + 0.5) res, y_min + (iy + 0.5) res)``.

BEV data augmentation (BEVDet's BDA, arXiv 2112.11790): the batch's ``bda`` ``(B, 3, 3)``
maps the key ego frame to the *augmented* ego frame in which that sample's points, radar
and GT boxes are given (identity when not augmenting). A camera model lands in the same
frame by applying ``bda`` after ``cam2ego`` (:func:`augmented_cam2ego`); the image-view
augmentation and the camera-frame depth are untouched by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from robobench.errors import UserError

if TYPE_CHECKING:
    from baselines.common.config import BEVGridConfig


@dataclass(frozen=True)
class BEVGrid:
    """A square-celled BEV grid over ``[x_min, x_max) x [y_min, y_max)`` and a z slab."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float
    z_min: float
    z_max: float
    res: float

    @classmethod
    def from_config(cls, cfg: BEVGridConfig) -> BEVGrid:
        """The grid of a ``model.bev`` section."""
        return cls(*cfg.x, *cfg.y, *cfg.z, cfg.res)

    @property
    def nx(self) -> int:
        return round((self.x_max - self.x_min) / self.res)

    @property
    def ny(self) -> int:
        return round((self.y_max - self.y_min) / self.res)

    def cell_index(self, xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Integer ``(ix, iy)`` of points ``(..., 3)`` and a mask of those inside the grid and z slab."""
        ix = torch.floor((xyz[..., 0] - self.x_min) / self.res).long()
        iy = torch.floor((xyz[..., 1] - self.y_min) / self.res).long()
        inside = (
            (ix >= 0)
            & (ix < self.nx)
            & (iy >= 0)
            & (iy < self.ny)
            & (xyz[..., 2] >= self.z_min)
            & (xyz[..., 2] < self.z_max)
        )
        return ix, iy, inside

    def cell_centres(self, device: torch.device | None = None) -> torch.Tensor:
        """``(Y, X, 2)`` metric ``(x, y)`` of every cell centre."""
        xs = self.x_min + (torch.arange(self.nx, device=device, dtype=torch.float32) + 0.5) * self.res
        ys = self.y_min + (torch.arange(self.ny, device=device, dtype=torch.float32) + 0.5) * self.res
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([gx, gy], dim=-1)


@dataclass(frozen=True)
class DepthBins:
    """Uniform depth bins ``[start, stop)`` of width ``step`` (BEVDet's ``dbound``)."""

    start: float
    stop: float
    step: float

    @classmethod
    def from_config(cls, cfg: Any) -> DepthBins:
        """From ``[start, stop, step]`` in metres."""
        try:
            start, stop, step = map(float, cfg)
        except (TypeError, ValueError):
            raise UserError(f"model.depth_bins must be [start, stop, step] in metres, got {cfg!r}") from None
        if not (0 < start < stop and step > 0):
            raise UserError(f"model.depth_bins={cfg!r} needs 0 < start < stop and step > 0")
        return cls(start, stop, step)

    @property
    def n(self) -> int:
        return round((self.stop - self.start) / self.step)

    def centres(self) -> torch.Tensor:
        """``(D,)`` depth of each bin's centre."""
        return self.start + (torch.arange(self.n, dtype=torch.float32) + 0.5) * self.step

    def one_hot(self, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bin one-hot targets ``(..., D)`` of a depth map and the mask of pixels with a depth inside the bins."""
        idx = torch.floor((depth - self.start) / self.step).long()
        valid = (depth > 0) & (idx >= 0) & (idx < self.n)
        onehot = torch.nn.functional.one_hot(idx.clamp(0, self.n - 1), self.n).to(depth.dtype)
        return onehot * valid[..., None], valid


def make_frustum(height: int, width: int, downsample: int, bins: DepthBins) -> torch.Tensor:
    """``(D, h, w, 3)`` network-input pixel ``(u, v)`` and depth ``d`` of every feature cell and bin.

    Feature cell ``(i, j)`` at stride ``downsample`` is represented by the input pixel at
    its centre, ``((j + 0.5) d - 0.5, (i + 0.5) d - 0.5)`` in pixel-centre coordinates.
    """
    h, w = height // downsample, width // downsample
    us = (torch.arange(w, dtype=torch.float32) + 0.5) * downsample - 0.5
    vs = (torch.arange(h, dtype=torch.float32) + 0.5) * downsample - 0.5
    ds = bins.centres()
    d, v, u = torch.meshgrid(ds, vs, us, indexing="ij")
    return torch.stack([u, v, d], dim=-1)


def frustum_to_ego(
    frustum: torch.Tensor,
    intrins: torch.Tensor,
    post_rots: torch.Tensor,
    post_trans: torch.Tensor,
    cam2ego: torch.Tensor,
) -> torch.Tensor:
    """Ego coordinates ``(B, N, D, h, w, 3)`` of frustum points ``(D, h, w, 3)`` for each view.

    Undo the image augmentation (``p = post_rots^-1 (p' - post_trans)``), lift the original
    pixel to the camera frame (``K^-1 [u d, v d, d]``), then map it by ``cam2ego`` (pass
    :func:`augmented_cam2ego` to land in the BEV-augmented ego frame).
    """
    b, n = intrins.shape[:2]
    pts = frustum.to(intrins.dtype).view(1, 1, -1, 3) - post_trans.view(b, n, 1, 3)
    pts = pts @ torch.linalg.inv(post_rots).transpose(-1, -2)
    pts = torch.cat([pts[..., :2] * pts[..., 2:3], pts[..., 2:3]], dim=-1)
    combine = cam2ego[..., :3, :3] @ torch.linalg.inv(intrins)
    pts = pts @ combine.transpose(-1, -2) + cam2ego[..., None, :3, 3]
    return pts.view(b, n, *frustum.shape)


def _bda_homogeneous(bda: torch.Tensor) -> torch.Tensor:
    """``(B, 4, 4)`` homogeneous form of the ``(B, 3, 3)`` BEV augmentation (a linear map, no shift)."""
    out = torch.zeros(*bda.shape[:-2], 4, 4, dtype=bda.dtype, device=bda.device)
    out[..., :3, :3] = bda
    out[..., 3, 3] = 1.0
    return out


def augmented_cam2ego(cam2ego: torch.Tensor, bda: torch.Tensor) -> torch.Tensor:
    """Camera -> augmented ego ``(B, N, 4, 4)``: ``bda @ cam2ego`` for every view of a sample.

    BEVDet applies BDA to the lifted frustum points after the camera-to-ego transform; folding
    it into ``cam2ego`` does the same for :func:`frustum_to_ego`, and its inverse maps augmented
    ego points back to the camera for :func:`project_to_image` (``cam2ego^-1 bda^-1``: undo the
    augmentation, then project), so lifting and projecting stay each other's inverse.
    """
    return _bda_homogeneous(bda)[:, None] @ cam2ego


def augmented_motion(prev2cur: torch.Tensor, bda: torch.Tensor) -> torch.Tensor:
    """Previous augmented ego -> current augmented ego ``(B, 4, 4)``: ``bda @ prev2cur @ bda^-1``.

    Temporal models (BEVDet4D) lift both frames with the sample's one ``bda``, so the ego
    motion between their BEV maps is the batch's ``prev2cur`` conjugated by it.
    """
    hom = _bda_homogeneous(bda)
    return hom @ prev2cur @ torch.linalg.inv(hom)


def project_to_image(
    points: torch.Tensor,
    intrins: torch.Tensor,
    post_rots: torch.Tensor,
    post_trans: torch.Tensor,
    cam2ego: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Network-input pixels ``(N, P, 2)`` and camera depths ``(N, P)`` of ego points ``(P, 3)`` in N views.

    The inverse of :func:`frustum_to_ego` for one sample; used to build sparse depth maps.
    """
    ego2cam = torch.linalg.inv(cam2ego)
    cam = points[None] @ ego2cam[:, :3, :3].transpose(-1, -2) + ego2cam[:, None, :3, 3]
    depth = cam[..., 2]
    uvw = cam @ intrins.transpose(-1, -2)
    uv1 = torch.cat([uvw[..., :2] / uvw[..., 2:3].clamp(min=1e-6), torch.ones_like(depth[..., None])], dim=-1)
    pix = uv1 @ post_rots.transpose(-1, -2) + post_trans[:, None]
    return pix[..., :2], depth
