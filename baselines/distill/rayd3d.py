"""RayD3D loss terms (paper ``000_2d8cae2078c02cbc``: RCD eq. 1-4, RWD eq. 5-8, RES eq. 9).

Notation of the paper -> arguments here: ``C`` (camera/student BEV features, already resized
to the LiDAR map by the distiller's adapter) = ``student`` ``(B, D, H, W)``; ``L`` (LiDAR/teacher
BEV features) = ``teacher``; ``N_ray`` = ``n_rays``; ``N_neg`` = ``n_neg``; ``tau`` and ``xi`` as in
eq. 2-3; ``s`` = ``bg_scale``. Teacher inputs are detached inside every loss, so gradients reach
the student only.

Readings of points the paper leaves open (each also noted where it is implemented):

* Rays: ray ``i`` holds the BEV cells whose centre azimuth from the ego origin falls in the
  ``i``-th of ``n_rays`` equal angular sectors (:func:`~baselines.distill.bev_sampling.ray_ids`).
  The paper gives no value for ``n_rays``, ``sigma``, ``m`` or ``s``; the defaults of
  :class:`RayD3DConfig` are ours.
* RCD anchors: one per GT object whose centre is on the grid, on the ray through that centre;
  the positive ``j`` is the object centre; negatives are background cells (outside every GT
  footprint) of the same ray. The ``N_ray`` of eq. 2-4 is the number of anchors actually used.
* RCD features are L2-normalised before the dot products (a dot product of raw features over
  ``tau = 0.07`` overflows ``exp``; MoCo/CRD, which the paper cites for the loss, normalise too).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from baselines.common.geometry import BEVGrid
from baselines.distill.bev_sampling import box_cell_masks, cell_ray_ids, ray_ids, sample_bev_points


class NegativeSampling(str, enum.Enum):
    """How RCD draws negatives along a ray (Table 5)."""

    GAUSSIAN = "gaussian"  # eq. 1: P(k) proportional to exp(-d^2 / (2 sigma^2))
    RANDOM = "random"  # uniform over the ray's background cells


class Divergence(str, enum.Enum):
    """How RWD measures the camera/LiDAR difference along a ray (Table 6)."""

    KL = "kl"
    JS = "js"
    COSINE = "cosine"


@dataclass(frozen=True)
class RayD3DConfig:
    """Settings of RayD3D; ``tau``, ``xi`` and ``n_neg`` are the paper's, the rest are our choices.

    The paper's "KL temperature is 0.07" is read as the contrastive ``tau`` of eq. 2-3 (0.07 is
    MoCo's value); eq. 5-6 show no temperature, so the attention softmax defaults to 1.
    """

    n_rays: int = 360
    n_neg: int = 5
    negatives: NegativeSampling = NegativeSampling.GAUSSIAN
    sigma: float = 3.0  # metres, eq. 1
    teacher_side: bool = True  # eq. 3 on/off ("sample in teacher", Table 5)
    window: int = 3  # m of the m x m region
    tau: float = 0.07
    xi: float = 1e-6
    divergence: Divergence = Divergence.KL
    bg_scale: float = 0.1  # s
    attention_temperature: float = 1.0  # eq. 5-6 have none; 1 reads them literally


# --------------------------------------------------------------------------- RCD (eq. 1-4)


@dataclass
class RaySamples:
    """Positions (ego metres) drawn for RCD; ``A`` anchors, ``K = n_neg`` negatives each."""

    batch_idx: torch.Tensor  # (A,) long, sample of each anchor
    positive: torch.Tensor  # (A, 2) object centre (position j)
    neg_student: torch.Tensor  # (A, K, 2) negatives C_{i,k} of eq. 2
    neg_teacher: torch.Tensor | None  # (A, K, 2) negatives L_{i,k} of eq. 3, or None without eq. 3


def negative_logits(dist: torch.Tensor, strategy: NegativeSampling, sigma: float) -> torch.Tensor:
    """Unnormalised log-probabilities of negative candidates at distances ``dist`` (metres).

    Gaussian (eq. 1): ``P(C_{i,k}) = exp(-d_k^2 / 2 sigma^2) / sum_l exp(-d_l^2 / 2 sigma^2)``,
    the sum running over the candidate positions ``l`` of the ray; random: uniform.
    """
    if NegativeSampling(strategy) is NegativeSampling.RANDOM:
        return torch.zeros_like(dist)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    return -(dist**2) / (2.0 * sigma**2)


def sample_ray_negatives(
    gt_boxes: Sequence[torch.Tensor], grid: BEVGrid, cfg: RayD3DConfig, generator: torch.Generator
) -> RaySamples:
    """Draw RCD's anchors and negatives for a batch (``gt_boxes[b]`` ``(M_b, 9)`` in ego).

    For each object with its centre on the grid: the ray ``i`` through the centre, candidate
    cells = cells of ray ``i`` outside every GT footprint of the sample, ``n_neg`` of them drawn
    by :func:`negative_logits` without replacement (with replacement when the ray has fewer
    candidates). Objects whose ray has no candidate are skipped. A second, independent draw
    gives the teacher-side negatives when ``cfg.teacher_side``. Sampling runs on the CPU with
    ``generator`` (a CPU ``torch.Generator``), so a seed fixes the positions on any device.
    """
    centres = grid.cell_centres().double().view(-1, 2)
    rays = cell_ray_ids(grid, cfg.n_rays).view(-1)
    batch_idx, positives, negs_s, negs_t = [], [], [], []
    for b, boxes in enumerate(gt_boxes):
        boxes = boxes.detach().cpu().double()
        if boxes.shape[0] == 0:
            continue
        background = ~box_cell_masks(boxes, grid).any(0).view(-1)
        on_grid = (
            (boxes[:, 0] >= grid.x_min)
            & (boxes[:, 0] < grid.x_max)
            & (boxes[:, 1] >= grid.y_min)
            & (boxes[:, 1] < grid.y_max)
        )
        for box, ray in zip(boxes[on_grid], ray_ids(boxes[on_grid, :2], cfg.n_rays).tolist()):
            cand = ((rays == ray) & background).nonzero(as_tuple=True)[0]
            if cand.numel() == 0:
                continue
            logits = negative_logits((centres[cand] - box[:2]).norm(dim=-1), cfg.negatives, cfg.sigma)
            weights = torch.exp(logits - logits.max())
            draws = [
                cand[torch.multinomial(weights, cfg.n_neg, replacement=cand.numel() < cfg.n_neg, generator=generator)]
                for _ in range(2 if cfg.teacher_side else 1)
            ]
            batch_idx.append(b)
            positives.append(box[:2])
            negs_s.append(centres[draws[0]])
            if cfg.teacher_side:
                negs_t.append(centres[draws[1]])
    k = cfg.n_neg
    return RaySamples(
        batch_idx=torch.tensor(batch_idx, dtype=torch.long),
        positive=torch.stack(positives).float() if positives else torch.zeros(0, 2),
        neg_student=torch.stack(negs_s).float() if negs_s else torch.zeros(0, k, 2),
        neg_teacher=(torch.stack(negs_t).float() if negs_t else torch.zeros(0, k, 2)) if cfg.teacher_side else None,
    )


def window_features(
    bev: torch.Tensor, batch_idx: torch.Tensor, xy: torch.Tensor, grid: BEVGrid, m: int
) -> torch.Tensor:
    """``(P, C)`` mean of ``bev`` over the ``m x m`` region around each point ``xy`` ``(P, 2)``.

    "We sample from an m x m region around each location": the mean of ``m x m`` bilinear
    samples spaced one cell apart and centred on the point. At a cell centre this is the
    ``m x m`` window of cells (average-pool with stride 1, then sample), and bilinear
    interpolation commutes with that pooling, so off-centre points read the pooled map's
    interpolation; only at the map border do edge cells repeat (``padding_mode="border"``)
    instead of dropping out of the mean. Cost grows with the points, not the map. ``m`` must be
    odd so the window is centred.
    """
    if m < 1 or m % 2 == 0:
        raise ValueError(f"window m must be a positive odd number, got {m}")
    r = m // 2
    steps = torch.arange(-r, r + 1, device=xy.device, dtype=xy.dtype) * grid.res
    offsets = torch.stack(torch.meshgrid(steps, steps, indexing="ij"), dim=-1).view(-1, 2)  # (m*m, 2)
    pts = (xy[:, None, :] + offsets[None]).reshape(-1, 2)
    vals = sample_bev_points(bev, batch_idx.repeat_interleave(m * m), pts, grid)
    return vals.view(xy.shape[0], m * m, -1).mean(dim=1)


def rcd_features(
    student: torch.Tensor, teacher: torch.Tensor, samples: RaySamples, grid: BEVGrid, m: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Window features (:func:`window_features`) at the sampled positions: ``C_{i,j}`` ``(A, D)``,
    ``C_{i,k}`` ``(A, K, D)``, ``L_{i,j}`` ``(A, D)`` and ``L_{i,k}`` ``(A, K, D)`` (``None``
    without teacher-side negatives). The teacher's features are detached.
    """
    dev = student.device
    teacher = teacher.detach()
    a, k = samples.neg_student.shape[:2]
    bidx = samples.batch_idx.to(dev)
    bneg = bidx.repeat_interleave(k)
    pos = samples.positive.to(dev, student.dtype)
    c_pos = window_features(student, bidx, pos, grid, m)
    l_pos = window_features(teacher, bidx, pos, grid, m)
    c_neg = window_features(student, bneg, samples.neg_student.to(dev, student.dtype).reshape(-1, 2), grid, m).view(
        a, k, -1
    )
    l_neg = None
    if samples.neg_teacher is not None:
        l_neg = window_features(teacher, bneg, samples.neg_teacher.to(dev, student.dtype).reshape(-1, 2), grid, m).view(
            a, k, -1
        )
    return c_pos, c_neg, l_pos, l_neg


def contrastive_ratio(
    anchor: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, tau: float, xi: float
) -> torch.Tensor:
    """The per-ray fraction of eq. 2/3: ``exp(a.p/tau) / (sum_{k=1}^{K+1} exp(a.c_k/tau) + xi)``.

    ``anchor`` ``(A, D)``, ``positive`` ``(A, D)``, ``negatives`` ``(A, K, D)``; the sum in the
    denominator runs over the positive and the ``K`` negatives (``N_neg + 1`` terms). Computed
    in log space (``xi`` enters as ``log xi`` inside a logsumexp), so it is exact and finite for
    any feature scale. Returns ``(A,)`` values in ``(0, 1)``.
    """
    cands = torch.cat([positive[:, None], negatives], dim=1)
    logits = torch.einsum("ad,akd->ak", anchor, cands) / tau
    log_xi = logits.new_full((logits.shape[0], 1), math.log(xi))
    return torch.exp(logits[:, 0] - torch.logsumexp(torch.cat([logits, log_xi], dim=1), dim=1))


def rcd_loss(
    c_pos: torch.Tensor,
    c_neg: torch.Tensor,
    l_pos: torch.Tensor,
    l_neg: torch.Tensor | None,
    tau: float = 0.07,
    xi: float = 1e-6,
    normalize: bool = True,
) -> torch.Tensor:
    """RCD loss, eq. 4: ``L_RCD = -log((L_RCDS + L_RCDT) / N_ray)``.

    * eq. 2 (student side): ``L_RCDS = sum_i contrastive_ratio(anchor=L_{i,j}, positive=C_{i,j},
      negatives=C_{i,k})`` -- the LiDAR anchor against camera samples;
    * eq. 3 (teacher side): ``L_RCDT = sum_i contrastive_ratio(anchor=C_{i,j}, positive=L_{i,j},
      negatives=L_{i,k})``; left out when ``l_neg`` is None (Table 5 "sample in teacher" off),
      giving ``-log(L_RCDS / N_ray)``.

    As written, the log is taken of the *mean* ratio (not a mean of logs) and with both terms the
    argument lies in ``(0, 2)``, so the loss is bounded below by ``-log 2``, not 0. ``N_ray`` is
    the number of anchors ``A``; with no anchor the loss is a zero that keeps the graph.
    ``normalize`` L2-normalises all features first. ``l_pos``/``l_neg`` are detached.
    """
    if normalize:
        c_pos, c_neg = F.normalize(c_pos, dim=-1), F.normalize(c_neg, dim=-1)
        l_pos = F.normalize(l_pos, dim=-1)
        l_neg = F.normalize(l_neg, dim=-1) if l_neg is not None else None
    n_anchor = c_pos.shape[0]
    if n_anchor == 0:
        return c_pos.sum() * 0.0
    l_pos = l_pos.detach()
    total = contrastive_ratio(l_pos, c_pos, c_neg, tau, xi).sum()
    if l_neg is not None:
        total = total + contrastive_ratio(c_pos, l_pos, l_neg.detach(), tau, xi).sum()
    return -torch.log(total / n_anchor)


def rcd(
    student: torch.Tensor,
    teacher: torch.Tensor,
    gt_boxes: Sequence[torch.Tensor],
    grid: BEVGrid,
    cfg: RayD3DConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """RCD end to end (eq. 1-4): sample positions, read window features, contrast."""
    samples = sample_ray_negatives(gt_boxes, grid, cfg, generator)
    c_pos, c_neg, l_pos, l_neg = rcd_features(student, teacher, samples, grid, cfg.window)
    return rcd_loss(c_pos, c_neg, l_pos, l_neg, cfg.tau, cfg.xi)


# --------------------------------------------------------------------------- RWD (eq. 5-8)


def attention_logits(feat: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``(B, H, W)`` argument of the softmax of eq. 5-6: ``(1/D) sum_d |F^d|`` (over ``temperature``)."""
    return feat.abs().mean(dim=1) / temperature


def ray_log_softmax(logits: torch.Tensor, ray_map: torch.Tensor, n_rays: int) -> torch.Tensor:
    """``(B, H, W)`` log of the attention map restricted to each ray and renormalised there.

    Eq. 5-6 take a softmax over all ``H x W`` cells; ``SC_i``/``SL_i`` are its values on ray ``i``.
    To compare them as distributions along the ray, we renormalise them on the ray; that equals a
    softmax over the ray's cells alone (the global normaliser cancels), computed here stably.
    """
    b = logits.shape[0]
    flat = logits.reshape(b, -1)
    idx = ray_map.reshape(1, -1).expand(b, -1).to(logits.device)
    ray_max = flat.new_full((b, n_rays), -math.inf).scatter_reduce(1, idx, flat, reduce="amax")
    shifted = flat - ray_max.gather(1, idx)
    mass = flat.new_zeros(b, n_rays).scatter_add(1, idx, shifted.exp())
    return (shifted - mass.gather(1, idx).log()).view_as(logits)


def ray_divergence(
    log_sl: torch.Tensor, log_sc: torch.Tensor, ray_map: torch.Tensor, n_rays: int, kind: Divergence = Divergence.KL
) -> torch.Tensor:
    """``A_i`` ``(B, n_rays)``: difference between the LiDAR and camera attention along each ray.

    Inputs are per-ray log-distributions (:func:`ray_log_softmax`) of LiDAR (``SL``) and camera
    (``SC``). ``KL``: ``A_i = KL(SL_i || SC_i) = sum SL log(SL / SC)`` (the paper's
    ``KL(SL_i, SC_i)``, the usual first-argument-is-the-target order); ``JS``: ``KL(SL||M)/2 +
    KL(SC||M)/2`` with ``M = (SL + SC)/2``; ``COSINE``: ``1 - cos(SL_i, SC_i)`` (a difference, so
    that every option grows with the mismatch). Rays without cells get 0.
    """
    b = log_sl.shape[0]
    idx = ray_map.reshape(1, -1).expand(b, -1).to(log_sl.device)
    lt, ls = log_sl.reshape(b, -1), log_sc.reshape(b, -1)
    pt, ps = lt.exp(), ls.exp()

    def per_ray(v: torch.Tensor) -> torch.Tensor:
        return v.new_zeros(b, n_rays).scatter_add(1, idx, v)

    kind = Divergence(kind)
    if kind is Divergence.KL:
        return per_ray(pt * (lt - ls))
    if kind is Divergence.JS:
        lm = torch.logaddexp(lt, ls) - math.log(2.0)
        return per_ray(0.5 * pt * (lt - lm) + 0.5 * ps * (ls - lm))
    norms = (per_ray(pt * pt) * per_ray(ps * ps)).sqrt()
    cos = per_ray(pt * ps) / norms.clamp_min(1e-12)
    return torch.where(norms > 0, 1.0 - cos, torch.zeros_like(cos))


def rwd_weight_map(
    ray_weights: torch.Tensor, ray_map: torch.Tensor, fg_masks: Sequence[torch.Tensor], bg_scale: float
) -> torch.Tensor:
    """The weight map ``omega`` ``(B, H, W)`` of eq. 7 with the paper's background/object rules.

    Eq. 7: every cell takes the weight ``A_i`` of the ray it lies on (each cell is on exactly
    one ray here, so eq. 7's ``1 / I(.)`` normaliser is 1). Background cells (in no object of
    ``fg_masks[b]`` ``(M_b, H, W)``) are then scaled by ``s = bg_scale``; every cell of object
    ``m`` gets one weight, the maximum of eq. 7's weights over the object's cells ("the maximum
    value among all rays passing through the object"); a cell in several objects takes the
    largest of their weights. The result carries no gradient (it is a weight).
    """
    ray_weights = ray_weights.detach()
    b = ray_weights.shape[0]
    omega = ray_weights[:, ray_map.reshape(-1).to(ray_weights.device)].view(b, *ray_map.shape)
    out = omega * bg_scale
    for i, masks in enumerate(fg_masks):
        if masks.shape[0] == 0:
            continue
        masks = masks.to(omega.device)
        neg_inf = omega.new_tensor(-math.inf)
        obj_w = torch.where(masks, omega[i][None], neg_inf).flatten(1).amax(dim=1)
        cell_w = torch.where(masks, obj_w[:, None, None], neg_inf).amax(dim=0)
        out[i] = torch.where(masks.any(0), cell_w, out[i])
    return out


def rwd_loss(student: torch.Tensor, teacher: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``L_RWD = (1/(H W)) sum_{h,w} omega[h,w] |L[h,w] - C[h,w]|``, averaged over the batch.

    ``|L[h,w] - C[h,w]|`` is the L1 norm over the ``D`` channels of the cell (sum of absolute
    differences). ``teacher`` and ``weight`` are detached.
    """
    diff = (teacher.detach() - student).abs().sum(dim=1)
    return (weight.detach() * diff).mean()


def rwd(
    student: torch.Tensor, teacher: torch.Tensor, gt_boxes: Sequence[torch.Tensor], grid: BEVGrid, cfg: RayD3DConfig
) -> torch.Tensor:
    """RWD end to end (eq. 5-8) on BEV maps ``(B, D, H, W)`` and per-sample GT boxes ``(M_b, 9)``.

    The foreground of each object is :func:`~baselines.distill.bev_sampling.box_cell_masks`
    (cells whose centre is in its GT footprint, at least its centre cell).
    """
    ray_map = cell_ray_ids(grid, cfg.n_rays, student.device)
    with torch.no_grad():  # the weights are computed in float32 (also under mixed precision)
        log_sl = ray_log_softmax(attention_logits(teacher.float(), cfg.attention_temperature), ray_map, cfg.n_rays)
        log_sc = ray_log_softmax(attention_logits(student.float(), cfg.attention_temperature), ray_map, cfg.n_rays)
        a = ray_divergence(log_sl, log_sc, ray_map, cfg.n_rays, cfg.divergence)
    masks = [box_cell_masks(boxes.to(student.device, torch.float32), grid) for boxes in gt_boxes]
    return rwd_loss(student, teacher, rwd_weight_map(a, ray_map, masks, cfg.bg_scale))


# --------------------------------------------------------------------------- RES (eq. 9)


def response_loss(
    student_heads: Mapping[str, torch.Tensor | Sequence[torch.Tensor]],
    teacher_heads: Mapping[str, torch.Tensor | Sequence[torch.Tensor]],
    sigmoid_keys: Collection[str] = ("heatmap",),
) -> torch.Tensor:
    """Eq. 9: ``L_RES = (1/N_heads) sum_n |Y_L,n - Y_C,n|``, each head's term a mean over its elements.

    The paper prints ``(Y_L,n - Y_C,n)`` with no norm, which as a signed sum is not a loss; we
    read it as the L1 distance (mean absolute difference per head). A head is one output map:
    ``student_heads[name]`` is a tensor or a list of per-task tensors (``CenterHead``'s
    ``{"heatmap": [...], "reg": [...]}``), so ``N_heads`` counts every (name, task) map; both
    outputs must have the same structure. Maps under ``sigmoid_keys`` (class heatmap logits) are
    compared as probabilities after a sigmoid. Teacher heads are detached.
    """
    terms = []
    for name, ys in student_heads.items():
        if name not in teacher_heads:
            raise ValueError(f"teacher outputs lack head {name!r}")
        yt = teacher_heads[name]
        pairs = [(ys, yt)] if isinstance(ys, torch.Tensor) else list(zip(ys, yt, strict=True))
        for s_map, t_map in pairs:
            if s_map.shape != t_map.shape:
                raise ValueError(f"head {name!r}: student {tuple(s_map.shape)} vs teacher {tuple(t_map.shape)}")
            t_map = t_map.detach()
            if name in sigmoid_keys:
                s_map, t_map = s_map.sigmoid(), t_map.sigmoid()
            terms.append((t_map - s_map).abs().mean())
    if not terms:
        raise ValueError("response_loss needs at least one head")
    return torch.stack(terms).mean()
