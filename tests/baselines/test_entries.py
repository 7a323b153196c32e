"""The LSS students and the pillar teacher: head outputs and loss terms, shared grids, BDA, fitting one batch.

The model contract itself (shapes, finite losses, gradients, decoded boxes) is checked on every registered
entry by tests/robobench/test_contract.py."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from baselines.common.bev_encoder import BEVEncoder
from baselines.common.config import BEVEncoderConfig
from baselines.common.geometry import BEVGrid
from robobench.data.dataset import DataConfig
from robobench.registry import Role, get_entry, list_entries
from tests.helpers.batch_factory import make_batch, rigid_motion

ENTRIES = ("bevdet", "bevdepth", "bevdepth4d", "centerpoint")


def _build(name: str, profile: str = "quick") -> tuple[dict, torch.nn.Module]:
    """The entry's model in ``profile``, with a randomly initialised backbone (no ImageNet download)."""
    entry = get_entry(name)
    cfg = copy.deepcopy(entry.config(profile))
    if "backbone" in cfg["model"]:
        cfg["model"]["backbone"]["pretrained"] = None
    torch.manual_seed(0)
    return cfg, entry.build(cfg)


def _batch(cfg: dict, name: str, batch_size: int = 2, seed: int = 0) -> dict:
    h, w = cfg["data"]["input_size"]
    return make_batch(batch_size, h, w, cfg["data"]["depth_downsample"], prev=name == "bevdepth4d", seed=seed)


@pytest.mark.parametrize("name", ENTRIES)
def test_head_outputs_and_loss_terms(name: str) -> None:
    """What these baselines add to the contract (checked on every entry in tests/robobench/test_contract.py):
    the CenterPoint head's per-task maps on the BEV grid, the pre-encoder BEV, image features, and the loss terms."""
    cfg, model = _build(name)
    batch = _batch(cfg, name)
    out = model(batch)
    grid = model.grid
    assert out["bev_raw"].shape[2:] == (grid.ny, grid.nx)
    for heat, reg, task in zip(out["preds"]["heatmap"], out["preds"]["reg"], model.head.tasks):
        assert heat.shape == (2, len(task), grid.ny, grid.nx)
        assert reg.shape == (2, 10, grid.ny, grid.nx)
    if name != "centerpoint":
        assert out["img_feats"].shape[0] == 12
    expected = {"heatmap", "bbox"} | ({"depth"} if name in ("bevdepth", "bevdepth4d") else set())
    assert set(model.loss(batch, out)) == expected


def test_student_and_teacher_share_the_bev_grid_in_every_profile() -> None:
    for profile in ("quick", "full", "large", "nuscenes"):
        grids = {name: get_entry(name).config(profile)["model"]["bev"] for name in ENTRIES}
        assert len({repr(g) for g in grids.values()}) == 1, grids
    assert get_entry("centerpoint").role == Role.TEACHER
    assert get_entry("bevdepth4d").config("quick")["data"]["prev_frame"] is True


def test_teacher_bev_encoder_keeps_a_full_resolution_path() -> None:
    """The pillar teacher's head must see its input grid directly (sub-cell offsets), the
    students keep BEVDet's FPN_LSS layout; the skip changes neither the output size nor
    its alignment."""
    for profile in ("quick", "full", "large", "nuscenes"):
        assert get_entry("centerpoint").config(profile)["model"]["bev_encoder"]["full_res_skip"] is True
        assert "full_res_skip" not in get_entry("bevdet").config(profile)["model"]["bev_encoder"]
    cfg = BEVEncoderConfig(channels=(8, 16, 32), blocks=1, out_channels=8)
    torch.manual_seed(0)
    plain, skip = BEVEncoder(4, cfg), BEVEncoder(4, dataclasses.replace(cfg, full_res_skip=True))
    x = torch.randn(2, 4, 20, 20)
    assert plain(x).shape == skip(x).shape == (2, 8, 20, 20)
    n_plain = sum(p.numel() for p in plain.parameters())
    n_skip = sum(p.numel() for p in skip.parameters())
    assert n_skip - n_plain == (4 * 9 * 8 + 2 * 8) + (16 * 9 * 8 + 2 * 8)  # the skip conv and the merge conv (+ BN)


def test_temporal_model_uses_the_previous_frame() -> None:
    cfg, model = _build("bevdepth4d")
    model.eval()
    batch = _batch(cfg, "bevdepth4d", batch_size=1)
    with torch.no_grad():
        a = model(batch)["bev"]
        batch["prev"]["imgs"] = torch.randn_like(batch["prev"]["imgs"])
        b = model(batch)["bev"]
    assert not torch.allclose(a, b)


def _move_cells(bev: torch.Tensor, bda: torch.Tensor, grid: BEVGrid) -> torch.Tensor:
    """``bev`` with every cell moved to ``bda @`` its centre (for a ``bda`` mapping cell centres onto cell centres)."""
    centres = grid.cell_centres()
    source = torch.cat([centres, torch.zeros_like(centres[..., :1])], -1) @ torch.linalg.inv(bda).T
    ix, iy, inside = grid.cell_index(source)
    assert bool(inside.all())
    return bev[..., iy, ix]


def test_bda_moves_the_lss_bev_and_the_aligned_previous_bev_with_the_scene() -> None:
    """BEVDepth4D under a BDA that maps cells onto cells (a quarter turn composed with a mirror): the
    BEV map, the current frame's and the previous frame's aligned by ego motion alike, is the
    un-augmented one with its cells moved by the BDA, so a static object stays on the same cells."""
    cfg, model = _build("bevdepth4d")
    model.eval()
    batch = _batch(cfg, "bevdepth4d", batch_size=1)
    batch["prev"]["prev2cur"] = rigid_motion(10.0, 1.5, 0.5)[None]
    # turn the axis-aligned rig a little: whole rows of its frustum points sit exactly on cell borders,
    # which half-open cells do not mirror
    for views in (batch, batch["prev"]):
        views["cam2ego"] = rigid_motion(7.0, 0.0, 0.0) @ views["cam2ego"]
    bda = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # (x, y) -> (-y, -x)
    aug_batch = {**batch, "bda": bda[None]}
    with torch.no_grad():
        plain, aug = model(batch), model(aug_batch)
        prev_plain = model.previous_bev(batch, plain["bev_raw"])
        prev_aug = model.previous_bev(aug_batch, aug["bev_raw"])
    torch.testing.assert_close(aug["depth"], plain["depth"])  # the depth net sees the un-augmented camera
    torch.testing.assert_close(aug["bev_raw"], _move_cells(plain["bev_raw"], bda, model.grid), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(prev_aug, _move_cells(prev_plain, bda, model.grid), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(prev_plain, plain["bev_raw"], atol=1e-3)  # the ego moved between the frames


def test_camera_students_use_bevdet_bda_in_the_nuscenes_profile_only() -> None:
    """BEVDet's BDA (rotation +-22.5 deg, scale 0.95-1.05, flips) on nuscenes; quick/full/large unchanged."""
    students = [e for e in list_entries() if e.role == Role.STUDENT]
    assert {"bevdet", "bevdepth", "bevdepth4d", "bevformer"} <= {e.name for e in students}
    for entry in students:
        for profile in ("quick", "full", "large"):
            assert not DataConfig.from_dict(entry.config(profile)["data"]).bev_aug, (entry.name, profile)
        data = DataConfig.from_dict(entry.config("nuscenes")["data"])
        assert (data.bev_rot_lim, data.bev_scale_lim, data.bev_flip) == ((-22.5, 22.5), (0.95, 1.05), True), entry.name


def test_depth_supervision_needs_matching_downsample() -> None:
    cfg = get_entry("bevdepth").config("quick")
    cfg["data"] = dict(cfg["data"], depth_downsample=8)
    with pytest.raises(Exception, match="depth_downsample"):
        get_entry("bevdepth").build(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("name", ENTRIES)
def test_overfits_one_batch(name: str) -> None:
    cfg, model = _build(name)
    batch = _batch(cfg, name, batch_size=1, seed=3)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = sum(model.loss(batch, model(batch)).values())
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0], losses


@pytest.mark.parametrize("profile", ["full", "large", "nuscenes"])
def test_larger_profiles_build(profile: str) -> None:
    """The full, large and nuscenes profiles construct (their training runs are benchmark-scale)."""
    for name in ENTRIES:
        cfg, model = _build(name, profile)
        assert model.grid.nx == model.grid.ny == (64 if profile == "full" else 128)
        if name != "centerpoint":
            assert model.bins.n == (118 if profile == "nuscenes" else 60)
            n_params = sum(p.numel() for p in model.img_encoder.backbone.parameters())
            assert (n_params == 25_557_032 - 2_049_000) == (profile == "nuscenes")  # ResNet-50 only on nuscenes


@pytest.mark.heavy
@pytest.mark.parametrize("name", ENTRIES)
def test_nuscenes_profile_forward(name: str) -> None:
    cfg, model = _build(name, "nuscenes")
    batch = _batch(cfg, name, batch_size=1)
    losses = model.loss(batch, model(batch))
    assert all(torch.isfinite(v) for v in losses.values())
