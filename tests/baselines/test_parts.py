"""Model parts: ResNet layouts and weight loading, BEVDepth's depth loss, the pillar encoder."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.common.backbone import ImageEncoder, ResNet, load_backbone_weights
from baselines.common.config import BackboneConfig
from baselines.common.geometry import BEVGrid, DepthBins
from baselines.common.pillars import PillarEncoder
from baselines.common.view_transformer import depth_loss
from robobench.errors import UserError


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_resnet_layouts_match_the_published_parameter_counts() -> None:
    # torchvision's resnet18 / resnet50 have 11,689,512 / 25,557,032 parameters, of which the
    # 1000-way fc layer holds 513,000 / 2,049,000.
    assert _n_params(ResNet(18, 64)) == 11_689_512 - 513_000
    assert _n_params(ResNet(50, 64)) == 25_557_032 - 2_049_000
    feats = ResNet(18, 8, layers=(1, 1, 1, 1))(torch.zeros(1, 3, 64, 96))
    assert [f.shape[-1] for f in feats] == [24, 12, 6, 3]
    assert [f.shape[1] for f in feats] == [8, 16, 32, 64]


def test_backbone_weights_load_with_wrappers_and_reject_mismatches(tmp_path) -> None:
    src = ResNet(18, 8, layers=(1, 1, 1, 1))
    state = {f"module.{k}": v for k, v in src.state_dict().items()}
    state["fc.weight"] = torch.zeros(10, 64)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # as released ImageNet files
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": state}, path)
    dst = ResNet(18, 8, layers=(1, 1, 1, 1))
    load_backbone_weights(dst, path)
    for k, v in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[k], v)
    with pytest.raises(UserError, match="do not match"):
        load_backbone_weights(ResNet(18, 16, layers=(1, 1, 1, 1)), path)
    with pytest.raises(UserError, match="does not exist"):
        load_backbone_weights(dst, tmp_path / "missing.pth")


def test_depth_loss_hand_value() -> None:
    bins = DepthBins(1.0, 5.0, 2.0)  # bins [1, 3) and [3, 5)
    logits = torch.zeros(1, 2, 1, 3)  # uniform: p = 0.5 in both bins at every pixel
    gt = torch.tensor([[[[2.0, 0.0, 9.0]]]])  # valid, no point, beyond the bins
    # one valid pixel: BCE(0.5, 1) + BCE(0.5, 0) = 2 log 2, averaged over 1 pixel
    assert float(depth_loss(logits, gt, bins)) == pytest.approx(2 * math.log(2), rel=1e-5)
    empty = depth_loss(logits.requires_grad_(), torch.zeros(1, 1, 1, 3), bins)
    assert float(empty.detach()) == 0.0
    empty.backward()


def test_pillar_encoder_equals_per_pillar_definition() -> None:
    grid = BEVGrid(0.0, 4.0, 0.0, 2.0, -2.0, 2.0, 1.0)
    enc = PillarEncoder(grid, channels=4).eval()
    gen = torch.Generator().manual_seed(0)
    pts = torch.rand(40, 5, generator=gen) * torch.tensor([5.0, 2.0, 3.0, 1.0, 1.0]) - torch.tensor(
        [0.5, 0.0, 1.0, 0.0, 0.0]
    )
    out = enc([pts])[0]  # (C, Y, X)
    expected = torch.zeros_like(out)
    for iy in range(grid.ny):
        for ix in range(grid.nx):
            inside = (pts[:, 0] >= ix) & (pts[:, 0] < ix + 1) & (pts[:, 1] >= iy) & (pts[:, 1] < iy + 1)
            p = pts[inside, :4]
            if p.shape[0] == 0:
                continue
            feats = torch.cat([p, p[:, :3] - p[:, :3].mean(0), p[:, :1] - (ix + 0.5), p[:, 1:2] - (iy + 0.5)], dim=1)
            expected[:, iy, ix] = enc.pfn(feats).max(0).values
    torch.testing.assert_close(out, expected)
    assert int((out.abs().sum(0) > 0).sum()) > 0


def test_image_encoder_runs_channels_last_and_matches_the_default_layout() -> None:
    """The channels-last encoder (a speed choice) computes what the same weights compute in
    the default layout, forward and backward, and hands back a default-layout map."""
    torch.manual_seed(0)
    enc = ImageEncoder(BackboneConfig(depth=18, width=16), downsample=16, out_channels=24).eval()
    assert enc.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    plain = ImageEncoder(BackboneConfig(depth=18, width=16), downsample=16, out_channels=24).eval()
    plain.load_state_dict(enc.state_dict())
    x = torch.randn(2, 3, 64, 96, requires_grad=True)
    out = enc(x)
    ref = plain.neck(plain.backbone.to(memory_format=torch.contiguous_format)(x))
    assert out.shape == (2, 24, 4, 6) and out.is_contiguous()
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    (grad_ref,) = torch.autograd.grad(ref.square().sum(), x)
    torch.testing.assert_close(grad, grad_ref, atol=1e-5, rtol=1e-4)
