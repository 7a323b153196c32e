"""RayD3D loss terms against values computed by hand from the paper's equations."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.common.geometry import BEVGrid
from baselines.distill.bev_sampling import box_cell_masks, cell_ray_ids, ray_ids, sample_bev_points
from baselines.distill.rayd3d import (
    Divergence,
    NegativeSampling,
    RayD3DConfig,
    contrastive_ratio,
    negative_logits,
    ray_divergence,
    ray_log_softmax,
    rcd,
    rcd_loss,
    response_loss,
    rwd,
    rwd_loss,
    rwd_weight_map,
    sample_ray_negatives,
    window_features,
)

E = math.e
XI = 1e-6
GRID = BEVGrid(-8.0, 8.0, -8.0, 8.0, -3.0, 3.0, 1.0)  # 16 x 16 cells of 1 m


def t(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# ---------------------------------------------------------------- RCD, eq. 1-4


def two_ray_features() -> dict[str, torch.Tensor]:
    """2 rays, 3 negatives, 2 channels; dot products are small integers."""
    return {
        "c_pos": t([[1, 0], [0, 1]]),  # C_{i,j}
        "c_neg": t([[[0, 1], [-1, 0], [0, 0]], [[0, 1], [1, 0], [0, -1]]]),  # C_{i,k}
        "l_pos": t([[1, 0], [0, 2]]),  # L_{i,j}
        "l_neg": t([[[1, 0], [0, 0], [0, 0]], [[0, 0], [0, 0], [0, 0]]]),  # L_{i,k}
    }


def test_contrastive_ratio_eq2_by_hand() -> None:
    f = two_ray_features()
    # ray 1: L.C = 1 (positive), negatives 0, -1, 0; ray 2: L.C = 2, negatives 2, 0, -2
    r = contrastive_ratio(f["l_pos"], f["c_pos"], f["c_neg"], tau=1.0, xi=XI)
    assert r[0].item() == pytest.approx(E / (E + 1 + 1 / E + 1 + XI), rel=1e-12)
    assert r[1].item() == pytest.approx(E**2 / (E**2 + E**2 + 1 + E**-2 + XI), rel=1e-12)
    # temperature divides the dot products: anchor (1,0), positive (1,0), negative (0,1), tau 0.5
    r = contrastive_ratio(t([[1, 0]]), t([[1, 0]]), t([[[0, 1]]]), tau=0.5, xi=XI)
    assert r.item() == pytest.approx(E**2 / (E**2 + 1 + XI), rel=1e-12)
    # xi sits in the denominator: all-zero features give 1 / (K + 1 + xi)
    r = contrastive_ratio(t([[0, 0]]), t([[0, 0]]), t([[[0, 0]]]), tau=0.07, xi=1.0)
    assert r.item() == pytest.approx(1 / 3)


def test_rcd_loss_eq4_sign_and_log_by_hand() -> None:
    f = two_ray_features()
    s1 = E / (E + 2 + 1 / E + XI)  # eq. 2, ray 1
    s2 = E**2 / (2 * E**2 + 1 + E**-2 + XI)  # eq. 2, ray 2
    # eq. 3: anchor C_{i,j} against L: ray 1 dots 1 | 1, 0, 0; ray 2 dots 2 | 0, 0, 0
    t1 = E / (E + E + 1 + 1 + XI)
    t2 = E**2 / (E**2 + 3 + XI)
    loss = rcd_loss(**f, tau=1.0, xi=XI, normalize=False)
    assert loss.item() == pytest.approx(-math.log((s1 + s2 + t1 + t2) / 2), rel=1e-12)
    # teacher side off (Table 5): eq. 4 keeps L_RCDS only
    loss = rcd_loss(f["c_pos"], f["c_neg"], f["l_pos"], None, tau=1.0, xi=XI, normalize=False)
    assert loss.item() == pytest.approx(-math.log((s1 + s2) / 2), rel=1e-12)


def test_rcd_loss_is_log_of_mean_ratio_bounded_by_minus_log2() -> None:
    # positives equal to the anchor and orthogonal negatives at tau 0.07: every ratio ~ 1, so
    # eq. 4 gives -log((N + N) / N) = -log 2 < 0 (log of the mean, not a mean of logs)
    pos = t([[1, 0, 0], [0, 1, 0]])
    neg = t([[[0, 0, 1]] * 5, [[0, 0, 1]] * 5])
    loss = rcd_loss(pos, neg, pos.clone(), neg.clone(), tau=0.07, xi=XI)
    assert loss.item() == pytest.approx(-math.log(2.0), abs=1e-5)
    # a student that confuses positive and negatives gets a larger loss
    worse = rcd_loss(neg[:, 0], pos[:, None].expand(-1, 5, -1), pos.clone(), neg.clone(), tau=0.07, xi=XI)
    assert worse.item() > loss.item() + 1.0


def test_rcd_normalises_features_and_handles_no_anchor() -> None:
    f = two_ray_features()
    scaled = {k: v * 10.0 for k, v in f.items()}
    a = rcd_loss(**f, tau=0.07, xi=XI)
    assert torch.isfinite(a)
    assert rcd_loss(**scaled, tau=0.07, xi=XI).item() == pytest.approx(a.item(), rel=1e-9)
    c = torch.zeros(0, 4, requires_grad=True)
    empty = rcd_loss(c, torch.zeros(0, 5, 4), torch.zeros(0, 4), torch.zeros(0, 5, 4))
    assert empty.item() == 0.0
    empty.backward()


def test_rcd_gradients_reach_the_student_only() -> None:
    gen = torch.Generator().manual_seed(0)
    shapes = {"c_pos": (2, 3), "c_neg": (2, 5, 3), "l_pos": (2, 3), "l_neg": (2, 5, 3)}
    f = {k: torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_(True) for k, shape in shapes.items()}
    loss = rcd_loss(**f, tau=0.5, xi=XI)
    loss.backward()
    assert f["l_pos"].grad is None and f["l_neg"].grad is None
    assert f["c_pos"].grad.abs().sum() > 0 and f["c_neg"].grad.abs().sum() > 0
    # one gradient step on the student lowers the loss
    with torch.no_grad():
        stepped = {k: (v - 0.1 * v.grad if k.startswith("c") else v) for k, v in f.items()}
    assert rcd_loss(**stepped, tau=0.5, xi=XI).item() < loss.item()


def test_gaussian_negative_law_eq1() -> None:
    logits = negative_logits(t([0.0, 1.0, 2.0]), NegativeSampling.GAUSSIAN, sigma=1.0)
    # P_k = exp(-d_k^2 / 2) / sum_l exp(-d_l^2 / 2)
    z = 1 + math.exp(-0.5) + math.exp(-2)
    assert torch.softmax(logits, 0).tolist() == pytest.approx([1 / z, math.exp(-0.5) / z, math.exp(-2) / z])
    uniform = torch.softmax(negative_logits(t([0.0, 1.0, 2.0]), NegativeSampling.RANDOM, sigma=1.0), 0)
    assert uniform.tolist() == pytest.approx([1 / 3] * 3)


def one_car() -> list[torch.Tensor]:
    return [torch.tensor([[4.5, 2.0, 0.0, 1.8, 3.0, 1.5, 0.4, 0.0, 0.0]])]


def test_negatives_lie_on_the_anchor_ray_in_the_background() -> None:
    cfg = RayD3DConfig(n_rays=16, sigma=3.0)
    boxes = one_car()
    s = sample_ray_negatives(boxes, GRID, cfg, torch.Generator().manual_seed(0))
    assert s.positive.tolist() == [[4.5, 2.0]] and s.batch_idx.tolist() == [0]
    ray = ray_ids(torch.tensor([[4.5, 2.0]]), 16).item()
    fg = box_cell_masks(boxes[0], GRID)[0]
    for negs in (s.neg_student[0], s.neg_teacher[0]):
        assert negs.shape == (5, 2)
        assert (ray_ids(negs, 16) == ray).all()
        ix = ((negs[:, 0] - GRID.x_min) / GRID.res).floor().long()
        iy = ((negs[:, 1] - GRID.y_min) / GRID.res).floor().long()
        assert not fg[iy, ix].any()
        assert len({tuple(p) for p in negs.tolist()}) == 5  # without replacement
    again = sample_ray_negatives(boxes, GRID, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(again.neg_student, s.neg_student) and torch.equal(again.neg_teacher, s.neg_teacher)
    assert (
        sample_ray_negatives(boxes, GRID, RayD3DConfig(n_rays=16, teacher_side=False), torch.Generator()).neg_teacher
        is None
    )


def test_gaussian_negatives_concentrate_near_the_object_random_do_not() -> None:
    boxes = one_car()
    centre = torch.tensor([4.5, 2.0])

    def mean_distance(cfg: RayD3DConfig) -> float:
        draws = [
            sample_ray_negatives(boxes, GRID, cfg, torch.Generator().manual_seed(i)).neg_student[0] for i in range(40)
        ]
        return (torch.cat(draws) - centre).norm(dim=1).mean().item()

    # the 11 background cells of the car's ray lie 1.5 ... 5.4 m away, 3.19 m on average
    rays = cell_ray_ids(GRID, 16)
    cand = GRID.cell_centres()[(rays == ray_ids(centre[None], 16)) & ~box_cell_masks(boxes[0], GRID)[0]]
    dist = (cand - centre).norm(dim=1)
    assert dist.numel() == 11 and dist.min().item() == pytest.approx(1.5)
    near = mean_distance(RayD3DConfig(n_rays=16, n_neg=2, sigma=1.0))
    spread = mean_distance(RayD3DConfig(n_rays=16, n_neg=2, negatives=NegativeSampling.RANDOM))
    assert near < 2.2
    assert spread == pytest.approx(dist.mean().item(), abs=0.4)


def test_object_whose_ray_has_no_background_is_skipped() -> None:
    huge = [torch.tensor([[0.0, 0.0, 0.0, 40.0, 40.0, 2.0, 0.0, 0.0, 0.0]]), torch.zeros(0, 9)]
    s = sample_ray_negatives(huge, GRID, RayD3DConfig(n_rays=8), torch.Generator())
    assert s.positive.shape == (0, 2) and s.neg_student.shape == (0, 5, 2)


def test_window_features_average_the_m_by_m_region() -> None:
    grid3 = BEVGrid(-1.5, 1.5, -1.5, 1.5, -1.0, 1.0, 1.0)
    x = torch.arange(9, dtype=torch.float64).view(1, 1, 3, 3)  # value 3 iy + ix
    out = window_features(x, torch.tensor([0, 0]), t([[0.0, 0.0], [-1.0, -1.0]]), grid3, 3)
    # centre cell: mean of 0..8 = 4; corner cell: edge cells repeat, rows/columns {0, 0, 1} -> 12 / 9
    assert out[:, 0].tolist() == pytest.approx([4.0, 12.0 / 9.0])
    assert window_features(x, torch.tensor([0]), t([[0.0, 0.0]]), grid3, 1).item() == 4.0
    # inside the map it equals average pooling then bilinear sampling, also between cell centres
    torch.manual_seed(0)
    bev = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    pts = t([[0.3, -1.7], [2.5, 3.5], [-4.2, 0.9]])
    bidx = torch.tensor([1, 0, 1])
    pooled = torch.nn.functional.avg_pool2d(bev, 5, stride=1, padding=2)
    assert torch.allclose(window_features(bev, bidx, pts, GRID, 5), sample_bev_points(pooled, bidx, pts, GRID))
    with pytest.raises(ValueError):
        window_features(x, torch.tensor([0]), t([[0.0, 0.0]]), grid3, 2)


def test_rcd_end_to_end_is_seeded_and_trains_the_student_only() -> None:
    torch.manual_seed(0)
    student = torch.randn(2, 4, 16, 16, requires_grad=True)
    teacher = torch.randn(2, 4, 16, 16, requires_grad=True)
    boxes = one_car() + [torch.tensor([[-3.0, -5.0, 0.0, 2.0, 4.0, 1.5, 1.2, 0.0, 0.0]])]
    cfg = RayD3DConfig(n_rays=16)
    a = rcd(student, teacher, boxes, GRID, cfg, torch.Generator().manual_seed(5))
    b = rcd(student, teacher, boxes, GRID, cfg, torch.Generator().manual_seed(5))
    assert a.item() == b.item()
    a.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0


# ---------------------------------------------------------------- RWD, eq. 5-8


def test_ray_log_softmax_is_the_global_attention_renormalised_on_each_ray() -> None:
    torch.manual_seed(1)
    feat = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    rays = torch.tensor([[0, 0, 1, 1], [0, 2, 1, 1], [3, 2, 2, 1], [3, 3, 2, 2]])
    # eq. 5: softmax over all H x W cells of the channel-mean |F|, then restrict to a ray
    global_att = torch.softmax(feat.abs().mean(1).flatten(1), dim=1).view(2, 4, 4)
    ours = ray_log_softmax(feat.abs().mean(1), rays, 4).exp()
    for r in range(4):
        on = rays == r
        expected = global_att[:, on] / global_att[:, on].sum(1, keepdim=True)
        assert torch.allclose(ours[:, on], expected)


def test_ray_divergences_by_hand() -> None:
    rays = torch.tensor([[0, 0, 1, 1]])
    log_sl = t([[0.5, 0.5, 0.9, 0.1]]).log().view(1, 1, 4)
    log_sc = t([[0.25, 0.75, 0.9, 0.1]]).log().view(1, 1, 4)
    kl = ray_divergence(log_sl, log_sc, rays, 3, Divergence.KL)
    # KL(SL || SC) on ray 0; ray 1 identical; ray 2 empty
    assert kl[0].tolist() == pytest.approx([0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75), 0.0, 0.0])
    js = ray_divergence(log_sl, log_sc, rays, 3, Divergence.JS)
    m = (0.375, 0.625)
    js0 = 0.5 * (0.5 * math.log(0.5 / m[0]) + 0.5 * math.log(0.5 / m[1])) + 0.5 * (
        0.25 * math.log(0.25 / m[0]) + 0.75 * math.log(0.75 / m[1])
    )
    assert js[0].tolist() == pytest.approx([js0, 0.0, 0.0], abs=1e-12)
    cos = ray_divergence(log_sl, log_sc, rays, 3, Divergence.COSINE)
    cos0 = 1 - (0.5 * 0.25 + 0.5 * 0.75) / (math.sqrt(0.5) * math.sqrt(0.25**2 + 0.75**2))
    assert cos[0].tolist() == pytest.approx([cos0, 0.0, 0.0], abs=1e-12)


def test_rwd_weight_map_background_scale_and_max_within_object() -> None:
    rays = torch.tensor([[0, 0, 1], [2, 2, 1]])
    a = t([[0.2, 0.5, 0.1]])  # A_i per ray; eq. 7 map: [[.2, .2, .5], [.1, .1, .5]]
    obj1 = torch.tensor([[False, True, False], [False, True, False]])  # rays 0 and 2 -> max(.2, .1)
    obj2 = torch.tensor([[False, False, False], [False, False, True]])  # ray 1 -> .5
    w = rwd_weight_map(a, rays, [torch.stack([obj1, obj2])], bg_scale=0.1)
    assert torch.allclose(w[0], t([[0.02, 0.2, 0.05], [0.01, 0.2, 0.5]]))
    # overlapping objects: a shared cell takes the larger object weight
    obj3 = torch.tensor([[False, False, True], [False, True, False]])  # rays 1 and 2 -> .5
    w = rwd_weight_map(a, rays, [torch.stack([obj1, obj3])], bg_scale=0.1)
    assert torch.allclose(w[0], t([[0.02, 0.2, 0.5], [0.01, 0.5, 0.05]]))
    # no objects: every cell is background
    assert torch.allclose(
        rwd_weight_map(a, rays, [torch.zeros(0, 2, 3, dtype=torch.bool)], 0.5)[0],
        t([[0.1, 0.1, 0.25], [0.05, 0.05, 0.25]]),
    )


def test_rwd_loss_eq8_by_hand() -> None:
    teacher = t([[[[1, 0]], [[2, 0]]]])  # (1, 2, 1, 2): cell 0 = (1, 2), cell 1 = (0, 0)
    student = t([[[[0, 1]], [[0, -1]]]])  # cell 0 = (0, 0), cell 1 = (1, -1)
    weight = t([[[0.5, 2.0]]])
    # L1 over channels: cell 0 -> 3, cell 1 -> 2; (0.5 * 3 + 2 * 2) / (H W = 2)
    assert rwd_loss(student, teacher, weight).item() == pytest.approx(2.75)


def test_rwd_end_to_end_gradients_and_zero_at_agreement() -> None:
    torch.manual_seed(2)
    student = torch.randn(2, 4, 16, 16, requires_grad=True)
    teacher = torch.randn(2, 4, 16, 16, requires_grad=True)
    boxes = one_car() + [torch.zeros(0, 9)]
    for div in Divergence:
        loss = rwd(student, teacher, boxes, GRID, RayD3DConfig(n_rays=16, divergence=div))
        assert loss.item() > 0
    loss.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    same = teacher.detach().clone().requires_grad_(True)
    assert rwd(same, teacher, boxes, GRID, RayD3DConfig(n_rays=16)).item() == 0.0


# ---------------------------------------------------------------- RES, eq. 9


def test_response_loss_eq9_by_hand() -> None:
    student = {"heatmap": [t([[0.0]])], "reg": [t([1.0, 2.0])]}
    teacher = {"heatmap": [t([[math.log(3.0)]])], "reg": [t([2.0, 0.0])]}
    # heatmap: |sigmoid(ln 3) - sigmoid(0)| = |0.75 - 0.5| = 0.25; reg: mean(|1|, |2|) = 1.5
    assert response_loss(student, teacher).item() == pytest.approx((0.25 + 1.5) / 2)
    assert response_loss(student, teacher, sigmoid_keys=()).item() == pytest.approx((math.log(3.0) + 1.5) / 2)
    plain = response_loss({"reg": t([1.0, 2.0])}, {"reg": t([2.0, 0.0])})
    assert plain.item() == pytest.approx(1.5)
    with pytest.raises(ValueError, match="lack head"):
        response_loss(student, {"reg": teacher["reg"]})


def test_response_loss_gradients_reach_the_student_only() -> None:
    s = torch.zeros(1, 2, 3, 3, requires_grad=True)
    tt = torch.ones(1, 2, 3, 3, requires_grad=True)
    response_loss({"heatmap": [s]}, {"heatmap": [tt]}).backward()
    assert tt.grad is None and s.grad.abs().sum() > 0
