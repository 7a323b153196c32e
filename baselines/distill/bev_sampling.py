"""BEV geometry shared by the distillation losses.

All coordinates are metric ``(x, y)`` in the key ego frame (``robobench.contract``), and
BEV maps are ``(B, C, Y, X)`` with cell ``[iy, ix]`` centred at
``(x_min + (ix + 0.5) res, y_min + (iy + 0.5) res)`` (``baselines.common.geometry.BEVGrid``).

* :func:`bev_grid_coords` / :func:`sample_bev_points`: bilinear sampling of a BEV map at
  ego points with ``grid_sample`` (``align_corners=False``, so a point at a cell centre
  reads exactly that cell).
* :func:`ray_ids` / :func:`cell_ray_ids`: the even angular partition of the BEV into
  ``n_rays`` rays from the ego origin (RayD3D, "we evenly divide the BEV feature map
  into N_ray rays").
* :func:`points_in_boxes` / :func:`box_cell_masks`: rotated-box membership of points and
  of BEV cells (the foreground of each object).
* :func:`box_keypoints`: a regular grid of keypoints inside each (enlarged) rotated box
  footprint (TiGDistill-BEV's target keypoints).
"""

from __future__ import annotations

import enum
import math

import torch
import torch.nn.functional as F

from baselines.common.geometry import BEVGrid


def bev_grid_coords(xy: torch.Tensor, grid: BEVGrid) -> torch.Tensor:
    """``grid_sample`` coordinates in ``[-1, 1]`` of ego points ``(..., 2)``.

    With ``align_corners=False``, ``-1``/``+1`` are the outer edges of the first/last cell,
    so ``g = 2 (x - x_min) / (x_max - x_min) - 1`` maps a cell centre to that cell.
    """
    gx = 2.0 * (xy[..., 0] - grid.x_min) / (grid.nx * grid.res) - 1.0
    gy = 2.0 * (xy[..., 1] - grid.y_min) / (grid.ny * grid.res) - 1.0
    return torch.stack([gx, gy], dim=-1)


def sample_bev_points(bev: torch.Tensor, batch_idx: torch.Tensor, xy: torch.Tensor, grid: BEVGrid) -> torch.Tensor:
    """Bilinearly sample ``bev`` ``(B, C, Y, X)`` at points ``xy`` ``(P, 2)`` of samples ``batch_idx`` ``(P,)``.

    Returns ``(P, C)``. Points outside the grid read the nearest border value
    (``padding_mode="border"``, as the clipping of TiGDistill-BEV's public code).
    Gradients flow to ``bev`` only. Points are grouped by sample (callers usually pass them
    already grouped) and each group is read with one ``grid_sample``; reordering uses
    ``index_select``, whose backward is an ``index_add`` (advanced indexing would sort instead).
    """
    p = xy.shape[0]
    batch_idx = batch_idx.to(bev.device)
    coords = bev_grid_coords(xy.to(bev.dtype), grid)
    grouped = bool((batch_idx[1:] >= batch_idx[:-1]).all())
    order = None if grouped else torch.argsort(batch_idx, stable=True)
    if order is not None:
        coords = coords.index_select(0, order)
    counts = torch.bincount(batch_idx, minlength=bev.shape[0]).tolist()
    parts = [
        F.grid_sample(
            bev[b : b + 1], chunk.view(1, 1, -1, 2), mode="bilinear", padding_mode="border", align_corners=False
        )[0, :, 0].t()
        for b, chunk in enumerate(coords.split(counts))
        if counts[b]
    ]
    vals = torch.cat(parts) if parts else bev.new_zeros(0, bev.shape[1])
    if order is not None:
        vals = vals.index_select(0, torch.empty_like(order).scatter_(0, order, torch.arange(p, device=order.device)))
    return vals


def ray_ids(xy: torch.Tensor, n_rays: int) -> torch.Tensor:
    """Ray index ``(...,)`` of ego points ``(..., 2)`` in an even partition into ``n_rays`` rays.

    Ray ``i`` holds the azimuths ``atan2(y, x)`` in ``[-pi + 2 pi i / n, -pi + 2 pi (i + 1) / n)``
    (``atan2 = pi`` joins ray ``n - 1``; the origin itself gets the ray of azimuth 0).
    """
    if n_rays < 1:
        raise ValueError(f"n_rays must be >= 1, got {n_rays}")
    azimuth = torch.atan2(xy[..., 1], xy[..., 0])
    idx = torch.floor((azimuth + math.pi) / (2.0 * math.pi / n_rays)).long()
    return idx.clamp(0, n_rays - 1)


def cell_ray_ids(grid: BEVGrid, n_rays: int, device: torch.device | None = None) -> torch.Tensor:
    """``(Y, X)`` ray index of every BEV cell (by its centre); each cell lies on exactly one ray."""
    return ray_ids(grid.cell_centres(device), n_rays)


def _box_local_xy(xy: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Points in each box's footprint frame ``(M, P, 2)``, x along the heading (length).

    ``xy`` is ``(P, 2)`` (the same points for every box) or ``(M, P, 2)`` (points per box).
    """
    d = (xy if xy.ndim == 3 else xy[None]) - boxes[:, None, :2]
    c, s = torch.cos(boxes[:, 6])[:, None], torch.sin(boxes[:, 6])[:, None]
    return torch.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], dim=-1)


def _in_footprint(local: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """``(M, P)``: local points ``(M, P, 2)`` within ``|x| <= l/2`` and ``|y| <= w/2`` (borders inside)."""
    return (local[..., 0].abs() <= boxes[:, 4:5] / 2) & (local[..., 1].abs() <= boxes[:, 3:4] / 2)


def points_in_boxes(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """``(M, P)`` membership of points in boxes ``(M, 9)`` (contract order ``x y z w l h yaw vx vy``).

    ``points`` ``(P, 2)`` tests the BEV footprint only; ``(P, >=3)`` also tests
    ``|z - z_c| <= h / 2``. Borders count as inside (as the devkit's ``points_in_box``).
    """
    inside = _in_footprint(_box_local_xy(points[:, :2].to(boxes.dtype), boxes), boxes)
    if points.shape[1] >= 3:
        inside &= (points[None, :, 2].to(boxes.dtype) - boxes[:, 2:3]).abs() <= boxes[:, 5:6] / 2
    return inside


def box_cell_masks(boxes: torch.Tensor, grid: BEVGrid) -> torch.Tensor:
    """``(M, Y, X)`` foreground cells of each box: cells whose centre lies in its BEV footprint,
    plus the cell holding the box centre (so a box smaller than a cell still owns one cell).
    Boxes whose centre is off the grid keep only the cells of their footprint on it.

    Only the square window of cells around each box's circumscribed circle is tested, so the
    cost grows with the boxes' area, not with the grid's.
    """
    m = boxes.shape[0]
    masks = torch.zeros(m, grid.ny, grid.nx, dtype=torch.bool, device=boxes.device)
    if m == 0:
        return masks
    radius = 0.5 * torch.hypot(boxes[:, 3], boxes[:, 4])
    k = int(torch.ceil(2 * radius.max() / grid.res).item()) + 2
    offs = torch.arange(k, device=boxes.device)
    ix = torch.floor((boxes[:, 0] - radius - grid.x_min) / grid.res).long()[:, None] + offs  # (M, k)
    iy = torch.floor((boxes[:, 1] - radius - grid.y_min) / grid.res).long()[:, None] + offs
    wy, wx = iy[:, :, None].expand(-1, k, k), ix[:, None, :].expand(-1, k, k)  # (M, k, k)
    centres = torch.stack([grid.x_min + (wx + 0.5) * grid.res, grid.y_min + (wy + 0.5) * grid.res], dim=-1).to(
        boxes.dtype
    )
    inside = _in_footprint(_box_local_xy(centres.view(m, -1, 2), boxes), boxes).view(m, k, k)
    inside &= (wx >= 0) & (wx < grid.nx) & (wy >= 0) & (wy < grid.ny)
    box_idx = torch.arange(m, device=boxes.device)[:, None, None].expand(-1, k, k)
    masks[box_idx[inside], wy[inside], wx[inside]] = True
    cx = torch.floor((boxes[:, 0] - grid.x_min) / grid.res).long()
    cy = torch.floor((boxes[:, 1] - grid.y_min) / grid.res).long()
    on = (cx >= 0) & (cx < grid.nx) & (cy >= 0) & (cy < grid.ny)
    masks[torch.arange(m, device=boxes.device)[on], cy[on], cx[on]] = True
    return masks


class Enlarge(str, enum.Enum):
    """How a box footprint is enlarged before sampling keypoints.

    ``FACTOR``: length and width multiplied by the amount (the paper's wording; docs/methods.md).
    ``MARGIN``: the amount in metres added on every side, i.e. ``+2 * amount`` to length and
    width (what the ``enlarged_box(extra_width)`` call of TiGDistill-BEV's code does).
    """

    FACTOR = "factor"
    MARGIN = "margin"


def box_keypoints(
    boxes: torch.Tensor, n_x: int, n_y: int, enlarge: float = 1.0, mode: Enlarge = Enlarge.FACTOR
) -> torch.Tensor:
    """``(M, n_y * n_x, 2)`` ego ``(x, y)`` of a regular ``n_y x n_x`` keypoint grid in each box footprint.

    The footprint (``l`` along the heading, ``w`` across) is first enlarged (:class:`Enlarge`);
    keypoints run from edge to edge (``linspace``, both borders included, as the public
    TiGDistill-BEV code spans corner to corner), ``n_x`` along the length and ``n_y``
    across, row-major over (across, along).
    """
    if n_x < 1 or n_y < 1:
        raise ValueError(f"keypoint grid must be at least 1 x 1, got {n_y} x {n_x}")
    length, width = boxes[:, 4], boxes[:, 3]
    if Enlarge(mode) is Enlarge.FACTOR:
        length, width = length * enlarge, width * enlarge
    else:
        length, width = length + 2 * enlarge, width + 2 * enlarge
    t_along = torch.linspace(-0.5, 0.5, n_x, dtype=boxes.dtype, device=boxes.device) if n_x > 1 else boxes.new_zeros(1)
    t_across = torch.linspace(-0.5, 0.5, n_y, dtype=boxes.dtype, device=boxes.device) if n_y > 1 else boxes.new_zeros(1)
    ta, tc = torch.meshgrid(t_across, t_along, indexing="ij")
    u = tc.reshape(1, -1) * length[:, None]  # along the heading
    v = ta.reshape(1, -1) * width[:, None]  # across
    c, s = torch.cos(boxes[:, 6])[:, None], torch.sin(boxes[:, 6])[:, None]
    x = boxes[:, 0:1] + c * u - s * v
    y = boxes[:, 1:2] + s * u + c * v
    return torch.stack([x, y], dim=-1)
