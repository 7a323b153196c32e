"""The BEVFormer-style student: reference-point projection, deformable attention, the entry end to end."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from baselines.common.geometry import BEVGrid, augmented_cam2ego, frustum_to_ego, project_to_image
from baselines.common.spatial_attention import (
    SpatialCrossAttention,
    TemporalSelfAttention,
    deformable_sample,
    pillar_points,
    reference_pixels,
)
from robobench.registry import get_entry
from tests.helpers.batch_factory import bda_matrix, camera_rig, make_batch
from tests.helpers.training import train_on

H, W = 128, 352
FRONT = 0  # CAMERAS order: CAM_FRONT first


def _rig(batch_size: int = 1) -> dict[str, torch.Tensor]:
    return {k: v.expand(batch_size, *v.shape).clone() for k, v in camera_rig(H, W).items()}


def _identity_attention(heights: int) -> SpatialCrossAttention:
    """One head, one point per pillar point, no offsets, uniform weights, identity projections:
    the output is the mean of the features at the projected reference points."""
    sca = SpatialCrossAttention(1, heads=1, levels=1, heights=heights, points=1)
    with torch.no_grad():
        for lin in (sca.value_proj, sca.output_proj):
            lin.weight.fill_(1.0)
            lin.bias.zero_()
        sca.sampling_offsets.bias.zero_()
    return sca


def test_reference_pixels_hand_values() -> None:
    rig = _rig()
    # On the front camera's optical axis at its height (camera at x=2, z=1.6): the principal point
    # (800, 450) of the 1600x900 image, resized by 0.22 and cropped by 900*0.22-128 = 70 rows.
    ahead = torch.tensor([[20.0, 0.0, 1.6], [-20.0, 0.0, 1.6]])
    ref, valid = reference_pixels(ahead, **rig, image_hw=(H, W))
    u, v = 800 * 0.22, 450 * 0.22 - 70
    torch.testing.assert_close(ref[0, FRONT, 0], torch.tensor([(u + 0.5) / W * 2 - 1, (v + 0.5) / H * 2 - 1]))
    assert bool(valid[0, FRONT, 0]) and not bool(valid[0, FRONT, 1])  # the second point is behind it
    assert bool(valid[0, 3, 1])  # ... and straight ahead of CAM_BACK (yaw 180)


def test_query_above_an_object_samples_its_pixels_and_a_query_behind_every_camera_is_masked() -> None:
    rig = _rig()
    # A 2 m cube standing at (20, 0): paint its image rectangle in the front view only.
    corners = torch.tensor([[x, y, z] for x in (19.0, 21.0) for y in (-1.0, 1.0) for z in (0.0, 2.0)])
    pix, depth = project_to_image(corners, *(rig[k][0] for k in ("intrins", "post_rots", "post_trans", "cam2ego")))
    assert bool((depth[FRONT] > 0).all())
    lo, hi = pix[FRONT].min(0).values, pix[FRONT].max(0).values
    feats = torch.zeros(6, 1, H, W)
    u0, v0, u1, v1 = int(lo[0].ceil()), int(lo[1].ceil()), int(hi[0].floor()), int(hi[1].floor())
    feats[FRONT, 0, v0 : v1 + 1, u0 : u1 + 1] = 1.0

    # Two pillars with points at heights 0.5 and 1.5 (z slab [0, 2]): over the cube, and at
    # (1, 0.1), inside the rig, behind all six cameras.
    grid = BEVGrid(19.0, 21.0, -1.0, 1.0, 0.0, 2.0, 2.0)
    pillars = torch.cat([pillar_points(grid, 2).view(-1, 3), torch.tensor([[1.0, 0.1, 0.5], [1.0, 0.1, 1.5]])])
    ref, mask = reference_pixels(pillars, **rig, image_hw=(H, W))
    ref, mask = ref.view(1, 6, 2, 2, 2), mask.view(1, 6, 2, 2)

    # sampling locations of the object's query land inside the painted rectangle of the front view
    sca = _identity_attention(heights=2)
    query = torch.zeros(1, 2, 1)
    with torch.no_grad():
        loc, attn, index = sca.sampling(query, ref, mask, [(H, W)])
    assert index.shape == (1, 6, 1) and int(index[0, FRONT, 0]) == 0  # only the object's query, in one slot
    front_px = (loc[FRONT, 0, 0, 0] + 1) / 2 * torch.tensor([W, H]) - 0.5  # (Z*P, 2) network pixels
    assert bool(((front_px >= lo) & (front_px <= hi)).all()), (front_px, lo, hi)
    assert bool(mask[0, FRONT, 0].all()) and float(attn[FRONT, 0].sum()) == pytest.approx(1.0)
    others = [v for v in range(6) if v != FRONT]
    assert not bool(mask[0, :, 1].any())  # behind every camera: no view
    assert float(attn[others].abs().sum()) == 0.0  # padding slots of the views nobody sees weigh nothing

    with torch.no_grad():
        out = sca(query, torch.zeros_like(query), [feats], ref, mask)
        moved = sca(query, torch.zeros_like(query), [feats.roll(W // 2, dims=-1)], ref, mask)
    assert float(out[0, 0, 0]) == pytest.approx(1.0)  # the painted value, averaged over the one hit view
    assert float(out[0, 1, 0]) == 0.0
    assert float(moved[0, 0, 0]) == pytest.approx(0.0)  # paint moved elsewhere in the image: not seen


def test_untrained_offsets_look_around_the_reference_point() -> None:
    """Deformable DETR's initialisation: head h's point k starts k + 1 feature cells along direction 2 pi h / heads."""
    sca = SpatialCrossAttention(8, heads=4, levels=1, heights=1, points=2)
    ref, mask = torch.zeros(1, 1, 1, 1, 2), torch.ones(1, 1, 1, 1, dtype=torch.bool)
    with torch.no_grad():
        loc, _, _ = sca.sampling(torch.zeros(1, 1, 8), ref, mask, [(8, 22)])
    cells = loc[0, 0, :, 0] / torch.tensor([2 / 22, 2 / 8])  # (heads, points, 2) in feature cells
    expected = (
        torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])[:, None] * torch.tensor([1.0, 2.0])[:, None]
    )
    torch.testing.assert_close(cells, expected, atol=1e-5, rtol=0)


def test_deformable_sample_hand_value_and_zero_outside() -> None:
    value = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 1, 2, 2)
    # pixel (u=1, v=0) centre: x = (1 + 0.5) / 2 * 2 - 1 = 0.5, y = -0.5; and one point far outside
    loc = torch.tensor([[0.5, -0.5], [3.0, 3.0]]).view(1, 1, 1, 1, 2, 2)
    weights = torch.tensor([0.7, 0.3]).view(1, 1, 1, 1, 2)
    torch.testing.assert_close(deformable_sample([value], loc, weights), torch.tensor([[[1.4]]]))


def test_deformable_sample_gradcheck() -> None:
    gen = torch.Generator().manual_seed(0)
    s, q, heads, c_h, p = 2, 3, 2, 2, 2
    values = [
        torch.randn(s, heads, c_h, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True),
        torch.randn(s, heads, c_h, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True),
    ]
    loc = (torch.rand(s, q, heads, 2, p, 2, generator=gen, dtype=torch.float64) * 1.6 - 0.8).requires_grad_()
    weights = torch.rand(s, q, heads, 2, p, generator=gen, dtype=torch.float64, requires_grad=True)
    assert deformable_sample(values, loc, weights).shape == (s, q, heads * c_h)
    assert torch.autograd.gradcheck(lambda a, b, lc, w: deformable_sample([a, b], lc, w), (*values, loc, weights))


def test_attention_shapes_and_gradients_reach_offsets_weights_and_features() -> None:
    torch.manual_seed(0)
    b, n, q, z, c = 2, 6, 16, 4, 8
    sca = SpatialCrossAttention(c, heads=2, levels=2, heights=z, points=2)
    grid = BEVGrid(-16.0, 16.0, -16.0, 16.0, -2.0, 2.0, 8.0)
    ref, mask = reference_pixels(pillar_points(grid, z).view(-1, 3), **_rig(b), image_hw=(H, W))
    ref, mask = ref.view(b, n, q, z, 2), mask.view(b, n, q, z)
    assert bool(mask.any()) and not bool(mask.all())
    feats = [torch.randn(b * n, c, 8, 22, requires_grad=True), torch.randn(b * n, c, 4, 11, requires_grad=True)]
    query = torch.randn(b, q, c)
    out = sca(query, torch.randn(b, q, c), feats, ref, mask)
    assert out.shape == (b, q, c)
    out.square().sum().backward()
    for name in ("sampling_offsets", "attention_weights", "value_proj", "output_proj"):
        assert float(getattr(sca, name).weight.grad.abs().sum()) > 0, name
    assert all(float(f.grad.abs().sum()) > 0 for f in feats)

    tsa = TemporalSelfAttention(c, heads=2, points=3)
    prev = torch.randn(b, q, c, requires_grad=True)
    out = tsa(query, torch.zeros_like(query), prev, (4, 4))
    assert out.shape == (b, q, c)
    out.square().sum().backward()
    assert float(prev.grad.abs().sum()) > 0 and float(tsa.sampling_offsets.weight.grad.abs().sum()) > 0
    assert not torch.allclose(tsa(query, torch.zeros_like(query), None, (4, 4)), out)


def test_rebatched_cross_attention_equals_every_query_in_every_view() -> None:
    """Gathering only the queries that hit a view gives the dense masked sum over all views and queries."""
    torch.manual_seed(1)
    b, n, z, c, hd, lv, p = 2, 6, 3, 8, 2, 2, 2
    sca = SpatialCrossAttention(c, heads=hd, levels=lv, heights=z, points=p)
    with torch.no_grad():
        for lin in (sca.sampling_offsets, sca.attention_weights):
            lin.weight.normal_(0, 0.5)
    grid = BEVGrid(-24.0, 24.0, -24.0, 24.0, -1.0, 3.0, 6.0)
    ref, mask = reference_pixels(pillar_points(grid, z).view(-1, 3), **_rig(b), image_hw=(H, W))
    q = ref.shape[2] // z
    ref, mask = ref.view(b, n, q, z, 2), mask.view(b, n, q, z)
    feats = [torch.randn(b * n, c, 8, 22), torch.randn(b * n, c, 4, 11)]
    query = torch.randn(b, q, c)
    with torch.no_grad():
        fast = sca(query, torch.zeros_like(query), feats, ref, mask)
        # dense reference: every query in every view, weights of missed reference points zeroed
        offsets = sca.sampling_offsets(query).view(b, 1, q, hd, lv, z, p, 2) * torch.tensor(
            [[2 / 22, 2 / 8], [2 / 11, 2 / 4]]
        ).view(lv, 1, 1, 2)
        loc = (ref.view(b, n, q, 1, 1, z, 1, 2) + offsets).reshape(b * n, q, hd, lv, z * p, 2)
        attn = sca.attention_weights(query).view(b, 1, q, hd, -1).softmax(-1).view(b, 1, q, hd, lv, z, p)
        attn = (attn * mask.view(b, n, q, 1, 1, z, 1)).reshape(b * n, q, hd, lv, z * p)
        per_view = deformable_sample([sca._values(f) for f in feats], loc, attn).view(b, n, q, c)
        dense = sca.output_proj(per_view.sum(1) / mask.any(-1).sum(1).clamp(min=1)[..., None])
    assert int(mask.any(-1).sum(-1).max()) < q  # the gather really drops queries
    torch.testing.assert_close(fast, dense)


def _build(profile: str = "quick", **data) -> tuple[dict, torch.nn.Module]:
    entry = get_entry("bevformer")
    cfg = copy.deepcopy(entry.config(profile))  # config() copies only the top level
    cfg["data"].update(data)
    cfg["model"]["backbone"]["pretrained"] = None  # random initialisation: no ImageNet download in tests
    torch.manual_seed(0)
    return cfg, entry.build(cfg)


def test_quick_forward_shapes_and_first_step_gradients() -> None:
    """BEVFormer's own outputs and which weights train from the first step (the contract's checks, decoding
    included, run on every entry in tests/robobench/test_contract.py)."""
    cfg, model = _build()
    batch = make_batch(2, *cfg["data"]["input_size"], cfg["data"]["depth_downsample"])
    out = model(batch)
    grid = model.grid
    assert out["bev"].shape[2:] == out["bev_raw"].shape[2:] == (grid.ny, grid.nx) == (64, 64)
    assert out["bev_queries"].shape == (2, cfg["model"]["neck_channels"], 32, 32)
    for heat, reg, task in zip(out["preds"]["heatmap"], out["preds"]["reg"], model.head.tasks):
        assert heat.shape == (2, len(task), 64, 64) and reg.shape == (2, 10, 64, 64)
    losses = model.loss(batch, out)
    assert set(losses) == {"heatmap", "bbox"}
    sum(losses.values()).backward()
    assert model.bev_queries.grad is not None and float(model.bev_queries.grad.abs().sum()) > 0

    def without_grad() -> list[str]:
        # head branches of class groups without boxes in this batch get no gradient
        return [
            n
            for n, p in model.named_parameters()
            if not n.startswith("head.") and (p.grad is None or float(p.grad.abs().sum()) == 0)
        ]

    # The positional embedding only feeds the offset/weight projections, which start at zero
    # weights (Deformable DETR's initialisation): it receives gradients from the second step on.
    assert without_grad() == ["row_embed", "col_embed"]
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    model.zero_grad()
    sum(model.loss(batch, model(batch)).values()).backward()
    assert without_grad() == []


def test_temporal_variant_uses_the_previous_frame() -> None:
    cfg, model = _build(prev_frame=True)
    model.eval()
    batch = make_batch(1, *cfg["data"]["input_size"], cfg["data"]["depth_downsample"], prev=True)
    with torch.no_grad():
        a = model(batch)["bev"]
        batch["prev"]["imgs"] = torch.randn_like(batch["prev"]["imgs"])
        b = model(batch)["bev"]
        del batch["prev"]
        c = model(batch)["bev"]  # no previous frame in the batch: the current queries stand in
    assert not torch.allclose(a, b) and not torch.allclose(a, c)


def test_temporal_variant_encodes_and_aligns_the_previous_frame_with_the_samples_bda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under BDA the previous query map is encoded in the augmented frame (the same ``bda``) and
    warped by the ego motion conjugated with it (``warp_bev``'s ``bda``, checked in test_geometry)."""
    import baselines.bevformer as bevformer_module

    cfg, model = _build(prev_frame=True)
    model.eval()
    batch = make_batch(1, *cfg["data"]["input_size"], cfg["data"]["depth_downsample"], prev=True)
    batch["bda"] = bda_matrix(20.0, 1.03, flip_x=True)[None]
    seen: list[tuple[str, torch.Tensor]] = []
    encode, warp = model.encode, bevformer_module.warp_bev

    def spy_encode(
        views: dict, bda: torch.Tensor, prev_bev: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        seen.append(("encode", bda))
        return encode(views, bda, prev_bev)

    def spy_warp(prev_bev: torch.Tensor, prev2cur: torch.Tensor, grid: BEVGrid, bda: torch.Tensor) -> torch.Tensor:
        seen.append(("warp", bda))
        return warp(prev_bev, prev2cur, grid, bda)

    monkeypatch.setattr(model, "encode", spy_encode)
    monkeypatch.setattr(bevformer_module, "warp_bev", spy_warp)
    with torch.no_grad():
        out = model(batch)
    assert [name for name, _ in seen] == ["encode", "warp", "encode"]  # previous frame, alignment, current frame
    assert all(torch.equal(bda, batch["bda"]) for _, bda in seen)
    assert torch.isfinite(out["bev"]).all()


def test_augmented_queries_project_through_bda_inverse_and_lift_back() -> None:
    """The queries live in the BDA frame: their pillar points project where their un-augmented points
    ``bda^-1 p`` do, and lifting each projection at its camera depth gives the point back."""
    rig = _rig()
    bda = bda_matrix(30.0, 1.05, flip_y=True)[None]
    cam2ego = augmented_cam2ego(rig["cam2ego"], bda)
    points = pillar_points(BEVGrid(-20.0, 20.0, -20.0, 20.0, -3.0, 3.0, 2.0), 4).view(-1, 3)
    ref, mask = reference_pixels(points, **{**rig, "cam2ego": cam2ego}, image_hw=(H, W))
    ref_plain, mask_plain = reference_pixels(points @ torch.linalg.inv(bda[0]).T, **rig, image_hw=(H, W))
    assert mask.sum() > 500 and (mask != mask_plain).sum() <= 2  # a point may sit on an image border
    both = mask & mask_plain
    torch.testing.assert_close(ref[both], ref_plain[both], atol=1e-4, rtol=1e-4)
    calib = [rig[k] for k in ("intrins", "post_rots", "post_trans")]
    pix, depth = project_to_image(points, *(c[0] for c in calib), cam2ego[0])
    for view in range(6):
        seen = mask[0, view]
        frustum = torch.cat([pix[view, seen], depth[view, seen, None]], -1).view(-1, 1, 1, 3)
        back = frustum_to_ego(frustum, *(c[:, view : view + 1] for c in calib), cam2ego[:, view : view + 1]).view(-1, 3)
        torch.testing.assert_close(back, points[seen], atol=1e-3, rtol=1e-4)


def test_profiles_share_the_students_bev_grid_and_nuscenes_follows_the_paper() -> None:
    for profile in ("quick", "full", "large", "nuscenes"):
        assert (
            get_entry("bevformer").config(profile)["model"]["bev"]
            == get_entry("bevdet").config(profile)["model"]["bev"]
        )
        assert (
            get_entry("bevformer").config(profile)["model"]["head"]
            == get_entry("bevdet").config(profile)["model"]["head"]
        )
    cfg = get_entry("bevformer").config("nuscenes")
    assert cfg["model"]["backbone"]["depth"] == 50 and cfg["data"]["input_size"] == [448, 800]
    assert cfg["model"]["bevformer"]["queries"] == 50 and cfg["data"]["prev_frame"] is True
    _, full = _build("full")
    assert full.query_grid.nx == 50 and full.grid.nx == 64
    _, large = _build("large")
    assert large.query_grid.nx == 50 and large.grid.nx == 128


def test_bad_attention_config_is_a_user_error() -> None:
    from robobench.errors import UserError

    cfg = copy.deepcopy(get_entry("bevformer").config("quick"))
    cfg["model"]["bevformer"] = dict(cfg["model"]["bevformer"], heads=5)
    with pytest.raises(UserError, match="heads=5"):
        get_entry("bevformer").build(cfg)


def test_rayd3d_on_bevformer_adds_the_three_terms_and_exports_the_plain_student() -> None:
    """RayD3D's RCD/RWD work on BEV features alone (RWD: attention maps, no depth), so they apply
    to a student without depth; inference is the plain bevformer."""
    entry = get_entry("bevformer-rayd3d")
    assert entry.base == "bevformer" and entry.teacher == "centerpoint"
    cfg = copy.deepcopy(entry.config("quick"))
    torch.manual_seed(0)
    model = entry.build(cfg)
    teacher = get_entry("centerpoint")
    model.set_teacher(teacher.build(teacher.config("quick")))
    batch = make_batch(2, *cfg["data"]["input_size"], cfg["data"]["depth_downsample"], n_boxes=6)
    model.train()
    losses = model.loss(batch, model(batch))
    assert {"distill_rcd", "distill_rwd", "distill_res"} <= set(losses)
    assert all(torch.isfinite(v) and float(v.detach()) > 0 for k, v in losses.items() if k.startswith("distill_"))
    (losses["distill_rcd"] + losses["distill_rwd"]).backward()
    student = model.inference_model()
    assert float(student.bev_queries.grad.abs().sum()) > 0  # the feature terms reach the BEV queries
    assert type(student).__name__ == "BEVFormerDetector"
    assert sum(p.numel() for p in student.parameters()) == sum(
        p.numel() for p in get_entry("bevformer").build(get_entry("bevformer").config("quick")).parameters()
    )


@pytest.mark.slow
def test_quick_train_predict_evaluate(tiny_world, tmp_path) -> None:
    from robobench.data.nusc import open_nuscenes
    from robobench.metrics.detection import DetectionEvaluator
    from robobench.predict import predict
    from robobench.train import STATS_FILE, load_checkpoint

    final = train_on(
        tiny_world,
        "bevformer",
        tmp_path / "run",
        overrides={"train": {"epochs": 4, "max_train_samples": 4, "warmup_iters": 2, "lr": 2e-3}},
    )
    history = load_checkpoint(final)["history"]
    assert len(history) == 8 and history[-1] < 0.7 * history[0], history
    assert json.loads((final.parent / STATS_FILE).read_text())["iterations"] == 8
    out = predict(
        "bevformer",
        final,
        "clean",
        tiny_world.dataroot,
        tiny_world.version,
        tiny_world.val_split,
        tmp_path / "results.json",
        progress=False,
    )
    assert out.depth_metrics is None  # no depth prediction
    result = DetectionEvaluator(open_nuscenes(tiny_world.dataroot, tiny_world.version), tiny_world.val_split).evaluate(
        out.results_path
    )
    summary = result.summary()
    assert 0.0 <= summary["nds"] <= 1.0 and 0.0 <= summary["map"] <= 1.0, summary


@pytest.mark.heavy
def test_nuscenes_profile_forward_with_the_previous_frame() -> None:
    cfg, model = _build("nuscenes")
    batch = make_batch(1, *cfg["data"]["input_size"], cfg["data"]["depth_downsample"], prev=True)
    out = model(batch)
    assert out["bev_queries"].shape[-2:] == (50, 50) and out["bev"].shape[-2:] == (128, 128)
    assert all(torch.isfinite(v) for v in model.loss(batch, out).values())
