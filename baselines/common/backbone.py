"""Image backbone (ResNet-18/50 layouts in plain torch) and an FPN-lite neck.

torchvision does not install beside every torch build, so the two ResNet layouts of
He et al. (2016) are written out here. ``width`` (channels of the stem) and ``layers``
(blocks per stage) shrink them for CPU-sized variants; ``width=64`` with the default
``layers`` gives exactly torchvision's parameter names and shapes, so ImageNet weights
(a state-dict file, or torchvision's by name) load with :func:`load_backbone_weights`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from baselines.common.config import BackboneConfig
from robobench.errors import UserError


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (+ ReLU): the unit every CNN here is built from."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _downsample(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    """The 1x1 projection shortcut used when a block changes shape (torchvision naming)."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity/projection shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(c_in, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, with shortcut (ResNet-50/101, stride on the 3x3 as v1.5)."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(c_in, planes * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


LAYOUTS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
}


class ResNet(nn.Module):
    """ResNet trunk returning the feature maps of every stage (strides 4, 8, 16, 32).

    Args:
        depth: 18, 34 or 50 (block type and default blocks per stage).
        width: channels of the stem and of the first stage (64 in the paper).
        layers: blocks per stage, overriding the layout's (e.g. ``(1, 1, 1, 1)`` on a CPU).
        in_channels: input channels (3 for RGB).
    """

    def __init__(
        self, depth: int = 18, width: int = 64, layers: tuple[int, ...] | None = None, in_channels: int = 3
    ) -> None:
        super().__init__()
        if depth not in LAYOUTS:
            raise UserError(f"model.backbone.depth={depth} is not supported; use one of {sorted(LAYOUTS)}")
        block, default_layers = LAYOUTS[depth]
        layers = tuple(layers or default_layers)
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        c_in = width
        self.out_channels: list[int] = []
        for i, n_blocks in enumerate(layers):
            planes = width * 2**i
            blocks = []
            for j in range(n_blocks):
                blocks.append(block(c_in, planes, stride=2 if (i > 0 and j == 0) else 1))
                c_in = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.out_channels.append(c_in)
        self.strides = [4 * 2**i for i in range(len(layers))]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        feats = []
        for i in range(len(self.out_channels)):
            x = getattr(self, f"layer{i + 1}")(x)
            feats.append(x)
        return feats


#: Prefix of a ``model.backbone.pretrained`` value that names torchvision weights.
TORCHVISION_PREFIX = "torchvision:"
#: The ImageNet weights the ``nuscenes`` profile starts from, as BEVDet, BEVDepth and the
#: distillation papers compared with do.
IMAGENET_RESNET50 = TORCHVISION_PREFIX + "resnet50.IMAGENET1K_V1"


def load_backbone_weights(model: nn.Module, source: str | Path) -> None:
    """Load pretrained weights into ``model``: a state-dict file, or torchvision's weights by name.

    ``source`` is either a path to a state dict (``torch.save`` of e.g. torchvision's
    ImageNet ResNet) or ``torchvision:<model>.<weights>`` such as
    ``torchvision:resnet50.IMAGENET1K_V1``, fetched by torchvision into its usual cache
    (``torch.hub.get_dir()/checkpoints``) on first use (:func:`torchvision_state_dict`).
    Keys of a classification head (``fc.*``) and a ``state_dict``/``model`` wrapper are
    ignored; any other missing/unexpected key or shape mismatch is a :class:`UserError`
    that names the source and the first offending keys.
    """
    text = str(source)
    state = torchvision_state_dict(text) if text.startswith(TORCHVISION_PREFIX) else _read_state_dict(Path(text))
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise UserError(f"backbone weights {text} hold a {type(state).__name__}, not a state dict")
    state = {
        k.removeprefix("module.").removeprefix("backbone."): v for k, v in state.items() if not k.startswith("fc.")
    }
    own = model.state_dict()
    bad_shape = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    # released ImageNet weights predate BatchNorm's ``num_batches_tracked`` counters
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if bad_shape or missing or unexpected:
        raise UserError(
            f"backbone weights {text} do not match the configured ResNet (depth/width/layers): "
            f"shape mismatch {bad_shape[:3]}, missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    model.load_state_dict(state, strict=False)


def _read_state_dict(path: Path) -> Any:
    """A state dict saved with ``torch.save``, read without unpickling code (``weights_only``)."""
    if not path.is_file():
        raise UserError(
            f"backbone weights file {path} does not exist; set model.backbone.pretrained to a state-dict file, "
            f"to torchvision weights such as {IMAGENET_RESNET50}, or to null"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/pickled files
        raise UserError(f"cannot read backbone weights {path}: {exc}") from None


def torchvision_state_dict(spec: str) -> dict[str, torch.Tensor]:
    """The state dict of torchvision weights named ``torchvision:<model>.<weights>``.

    torchvision resolves the name (``get_model_weights("resnet50")["IMAGENET1K_V1"]``) and
    downloads the file into its cache once, checking its hash; later calls read the cache.
    torchvision is optional (``pip install 'robobench[pretrained]'``, or the build matching
    your torch); without it, without a network on first use, or for an unknown name the
    error says what to do instead.
    """
    name = spec.removeprefix(TORCHVISION_PREFIX)
    arch, _, tag = name.partition(".")
    if not arch or not tag:
        raise UserError(
            f"model.backbone.pretrained={spec!r}: expected torchvision:<model>.<weights>, e.g. {IMAGENET_RESNET50}"
        )
    try:
        from torchvision.models import get_model_weights
    except ImportError:
        raise UserError(
            f"model.backbone.pretrained={spec!r} needs torchvision (pip install torchvision, the build matching your "
            "torch); or set it to a state-dict file or null"
        ) from None
    try:
        weights = get_model_weights(arch)[tag]
    except (KeyError, ValueError) as exc:
        raise UserError(f"model.backbone.pretrained={spec!r}: torchvision knows no weights {name!r} ({exc})") from None
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, HTTPError, OSError, a hash mismatch: all mean "not fetched"
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        raise UserError(
            f"cannot fetch backbone weights {spec} ({type(exc).__name__}: {exc}); on a machine without internet access "
            f"put torchvision's file {Path(weights.url).name} into {cache}, or set model.backbone.pretrained to a "
            "state-dict file or null"
        ) from None


class FPNLite(nn.Module):
    """Fuse the backbone stages at and below ``out_stride`` into one map at that stride.

    Deeper stages are upsampled bilinearly to the ``out_stride`` map, concatenated with
    it and mixed by a 1x1 then a 3x3 conv (the single-level "CustomFPN" of BEVDet).
    """

    def __init__(self, in_channels: list[int], strides: list[int], out_stride: int, out_channels: int) -> None:
        super().__init__()
        if out_stride not in strides:
            raise UserError(f"model.downsample={out_stride} must be one of the backbone strides {strides}")
        self.first = strides.index(out_stride)
        c_cat = sum(in_channels[self.first :])
        self.fuse = nn.Sequential(conv_bn_relu(c_cat, out_channels, 1), conv_bn_relu(out_channels, out_channels, 3))
        self.out_channels = out_channels

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        base = feats[self.first]
        ups = [base] + [
            nn.functional.interpolate(f, size=base.shape[-2:], mode="bilinear", align_corners=False)
            for f in feats[self.first + 1 :]
        ]
        return self.fuse(torch.cat(ups, dim=1))


class ImageEncoder(nn.Module):
    """Backbone + neck for the ``B*N`` views: ``(B*N, 3, H, W) -> (B*N, C, H/d, W/d)``.

    The encoder runs in the channels-last memory layout (weights and activations), which
    oneDNN's CPU convolutions serve faster than the default layout with the same outputs up to
    float rounding (``benchmarks/encoder_layout_bench.py`` measures both in one run). Its output
    is returned in the default layout, so the rest of the model is unaffected.
    """

    def __init__(self, cfg: BackboneConfig, downsample: int, out_channels: int) -> None:
        super().__init__()
        self.backbone = ResNet(depth=cfg.depth, width=cfg.width, layers=cfg.layers)
        self.pretrained = cfg.pretrained
        self.neck = FPNLite(self.backbone.out_channels, self.backbone.strides, downsample, out_channels)
        self.to(memory_format=torch.channels_last)

    def load_pretrained(self) -> None:
        """Load ``model.backbone.pretrained`` into the ResNet (the training engine calls this once, when a
        training starts from scratch: :func:`robobench.contract.load_pretrained`), so building a model to
        predict from a checkpoint never fetches ImageNet weights."""
        if self.pretrained:
            load_backbone_weights(self.backbone, self.pretrained)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(x.contiguous(memory_format=torch.channels_last))).contiguous()
