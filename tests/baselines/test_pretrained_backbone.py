"""``model.backbone.pretrained``: torchvision weights by name and state-dict files.

Nothing here downloads: a stand-in ``torchvision.models`` module serves a locally made
state dict the way torchvision's ``WeightsEnum.get_state_dict`` would.
"""

from __future__ import annotations

import sys
import types
import urllib.error

import pytest
import torch

from baselines.common.backbone import IMAGENET_RESNET50, ImageEncoder, ResNet, load_backbone_weights
from baselines.common.config import BackboneConfig
from robobench.contract import load_pretrained
from robobench.errors import UserError
from robobench.registry import get_entry

SMALL = {"depth": 18, "width": 8, "layers": (1, 1, 1, 1)}


class _Weights:
    """What torchvision's weight enum members offer: ``url`` and ``get_state_dict``."""

    def __init__(self, state: dict[str, torch.Tensor] | Exception) -> None:
        self.state = state
        self.url = "https://example.org/models/resnet18-f37072fd.pth"
        self.calls: list[dict] = []

    def get_state_dict(self, **kwargs) -> dict[str, torch.Tensor]:
        self.calls.append(kwargs)
        if isinstance(self.state, Exception):
            raise self.state
        return self.state


def _fake_torchvision(monkeypatch, weights: dict[str, dict[str, _Weights]]) -> None:
    def get_model_weights(name: str) -> dict[str, _Weights]:
        if name not in weights:
            raise ValueError(f"Unknown model {name}")
        return weights[name]

    tv = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    models.get_model_weights = get_model_weights
    tv.models = models
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)


def _imagenet_like_state() -> tuple[ResNet, dict[str, torch.Tensor]]:
    torch.manual_seed(3)
    src = ResNet(18, 8, layers=(1, 1, 1, 1))
    for p in src.parameters():
        torch.nn.init.normal_(p)
    state = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 64), torch.zeros(1000)
    return src, state


def test_torchvision_weights_load_into_the_encoder_by_name(monkeypatch) -> None:
    src, state = _imagenet_like_state()
    served = _Weights(state)
    _fake_torchvision(monkeypatch, {"resnet18": {"IMAGENET1K_V1": served}})
    enc = ImageEncoder(
        BackboneConfig(**SMALL, pretrained="torchvision:resnet18.IMAGENET1K_V1"), downsample=16, out_channels=8
    )
    assert served.calls == []  # building a model (e.g. to predict from a checkpoint) fetches nothing
    assert load_pretrained(enc) == 1  # what the training engine calls when a run starts from scratch
    for key, value in src.state_dict().items():
        torch.testing.assert_close(enc.backbone.state_dict()[key], value)
    assert served.calls == [{"progress": False, "check_hash": True}]


def test_a_state_dict_file_still_loads(tmp_path) -> None:
    src, state = _imagenet_like_state()
    path = tmp_path / "r18.pth"
    torch.save(state, path)
    enc = ImageEncoder(BackboneConfig(**SMALL, pretrained=str(path)), downsample=16, out_channels=8)
    load_pretrained(enc)
    torch.testing.assert_close(enc.backbone.conv1.weight, src.conv1.weight)


def test_a_frozen_module_keeps_its_weights(tmp_path) -> None:
    """A distillation teacher is frozen and loaded from its checkpoint: no pretrained weights over it."""
    _, state = _imagenet_like_state()
    path = tmp_path / "r18.pth"
    torch.save(state, path)
    enc = ImageEncoder(BackboneConfig(**SMALL, pretrained=str(path)), downsample=16, out_channels=8)
    before = enc.backbone.conv1.weight.detach().clone()
    enc.requires_grad_(False)
    assert load_pretrained(enc) == 0
    torch.testing.assert_close(enc.backbone.conv1.weight, before)


def test_fetch_failure_is_one_line_naming_the_weights_and_the_cache(monkeypatch) -> None:
    _fake_torchvision(monkeypatch, {"resnet50": {"IMAGENET1K_V1": _Weights(urllib.error.URLError("no route"))}})
    with pytest.raises(UserError, match=r"cannot fetch backbone weights torchvision:resnet50\.IMAGENET1K_V1") as info:
        load_backbone_weights(ResNet(50, 64), IMAGENET_RESNET50)
    message = str(info.value)
    assert "\n" not in message and "checkpoints" in message and "resnet18-f37072fd.pth" in message


def test_unknown_names_missing_torchvision_and_mismatches_are_user_errors(monkeypatch) -> None:
    _, state = _imagenet_like_state()
    _fake_torchvision(monkeypatch, {"resnet18": {"IMAGENET1K_V1": _Weights(state)}})
    model = ResNet(18, 8, layers=(1, 1, 1, 1))
    with pytest.raises(UserError, match="knows no weights 'resnet18.IMAGENET9K'"):
        load_backbone_weights(model, "torchvision:resnet18.IMAGENET9K")
    with pytest.raises(UserError, match="knows no weights 'resnet77.IMAGENET1K_V1'"):
        load_backbone_weights(model, "torchvision:resnet77.IMAGENET1K_V1")
    with pytest.raises(UserError, match="expected torchvision:<model>.<weights>"):
        load_backbone_weights(model, "torchvision:resnet18")
    with pytest.raises(UserError, match="do not match the configured ResNet"):
        load_backbone_weights(ResNet(18, 16, layers=(1, 1, 1, 1)), "torchvision:resnet18.IMAGENET1K_V1")
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision now raises ImportError
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    with pytest.raises(UserError, match="needs torchvision"):
        load_backbone_weights(model, "torchvision:resnet18.IMAGENET1K_V1")


def test_the_nuscenes_profile_starts_camera_backbones_from_imagenet() -> None:
    for name in ("bevdet", "bevdepth", "bevformer", "bevdet-rayd3d"):
        entry = get_entry(name)
        assert entry.config("nuscenes")["model"]["backbone"]["pretrained"] == IMAGENET_RESNET50
        for profile in ("quick", "full", "large"):
            assert not entry.config(profile)["model"]["backbone"].get("pretrained")
