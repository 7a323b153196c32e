"""The ``model`` section of the built-in entries, as strict typed dataclasses.

Each dataclass is the one place its keys and their defaults are defined: a model part reads
its settings from it (never ``cfg.get(key, default)``), and the profiles of
:mod:`baselines.common.profiles` set the values that differ per profile. The sections are
built from the merged profile dict by :func:`robobench.config.build_config`, so an unknown
key (``model.backbone.widht``) or a wrong type is one ``UserError`` naming it.

The model families and their sections:

* every detector (:class:`ModelConfig`): ``bev``, ``bev_encoder``, ``head``;
* image networks (:class:`ImageModelConfig`): ``downsample``, ``backbone``, ``neck_channels``;
* camera LSS detectors (:class:`CameraModelConfig`): depth bins, depth net and view
  transform settings, ``temporal``; the camera-radar student adds ``radar``
  (:class:`RadarCameraModelConfig`);
* the LiDAR pillar detector (:class:`LidarModelConfig`): ``pillars``.

Each family's whole entry configuration (``data``, ``model``, ``train``, ...) is an
:class:`~robobench.train.EntryConfig` subclass named ``...EntryConfig``, which an entry
declares as its ``schema``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from baselines.common.geometry import DepthBins
from robobench.config import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from robobench.errors import UserError
from robobench.train import EntryConfig

#: CenterPoint's nuScenes class groups.
DEFAULT_TASKS: tuple[tuple[str, ...], ...] = (
    ("car",),
    ("truck", "construction_vehicle"),
    ("bus", "trailer"),
    ("barrier",),
    ("motorcycle", "bicycle"),
    ("pedestrian", "traffic_cone"),
)
#: Circle-NMS radius per task in metres (square roots of CenterPoint's squared-distance thresholds
#: 4, 12, 10, 1, 0.85, 0.175).
DEFAULT_NMS_RADIUS: tuple[float, ...] = (2.0, 3.46, 3.16, 1.0, 0.92, 0.42)
#: L1 weight per regression channel (CenterPoint's nuScenes ``code_weights``: velocity down-weighted).
DEFAULT_CODE_WEIGHTS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2)


@dataclass(frozen=True)
class BEVGridConfig:
    """``model.bev``: the BEV grid's ``x``, ``y``, ``z`` ranges ``[min, max]`` and cell size ``res`` (metres),
    shared by students and teacher so their maps align cell for cell."""

    x: tuple[float, float] = (-51.2, 51.2)
    y: tuple[float, float] = (-51.2, 51.2)
    z: tuple[float, float] = (-5.0, 3.0)
    res: PositiveFloat = 0.8

    def __post_init__(self) -> None:
        for axis in ("x", "y", "z"):
            lo, hi = getattr(self, axis)
            if hi <= lo:
                raise UserError(f"model.bev.{axis} range [{lo}, {hi}] is empty")


@dataclass(frozen=True)
class BackboneConfig:
    """``model.backbone``: the image ResNet.

    ``depth`` 18, 34 or 50 (block type and default blocks per stage); ``width``: channels of the
    stem and first stage (64 in the paper); ``layers``: blocks per stage, overriding the
    layout's (e.g. ``[1, 1, 1, 1]`` on a CPU); ``pretrained``: weights to start from.
    """

    depth: Literal[18, 34, 50] = 18
    width: PositiveInt = 64
    layers: tuple[PositiveInt, ...] | None = None
    pretrained: str | None = None


@dataclass(frozen=True)
class BEVEncoderConfig:
    """``model.bev_encoder`` (:class:`~baselines.common.bev_encoder.BEVEncoder`).

    ``channels`` per stage (each halves the resolution; ``None``: twice, four and eight times
    the input channels), ``blocks`` per stage, ``out_channels`` (``None``: twice the input
    channels), ``full_res_skip`` (a path at the input resolution; see the encoder's module).
    """

    channels: tuple[PositiveInt, ...] | None = None
    blocks: PositiveInt = 2
    out_channels: PositiveInt | None = None
    full_res_skip: bool = False


@dataclass(frozen=True)
class HeadConfig:
    """``model.head`` (:class:`~baselines.common.head.CenterHead`).

    ``tasks`` (class names per task), ``nms_radius`` (metres, one per task), ``code_weights``
    (regression loss weight per box code), ``min_overlap``/``min_radius`` (heatmap Gaussian
    radius, CenterNet's), ``weight_heatmap``/``weight_bbox`` (loss weights), ``topk`` (peaks
    decoded), ``score_threshold``, ``max_per_sample`` (boxes kept), ``channels`` (shared conv),
    ``branch_convs`` (CenterPoint's 3x3 conv per output; off predicts from the shared features).
    """

    tasks: tuple[tuple[str, ...], ...] = DEFAULT_TASKS
    nms_radius: tuple[NonNegativeFloat, ...] = DEFAULT_NMS_RADIUS
    code_weights: tuple[float, ...] = DEFAULT_CODE_WEIGHTS
    min_overlap: PositiveFloat = 0.1
    min_radius: NonNegativeInt = 2
    weight_heatmap: NonNegativeFloat = 1.0
    weight_bbox: NonNegativeFloat = 0.25
    topk: PositiveInt = 500
    score_threshold: NonNegativeFloat = 0.1
    max_per_sample: PositiveInt = 500
    channels: PositiveInt = 64
    branch_convs: bool = True


@dataclass(frozen=True)
class PillarsConfig:
    """``model.pillars``: the LiDAR pillar encoder's ``channels`` and ``subdivision`` (pillars per BEV cell side)."""

    channels: PositiveInt = 64
    subdivision: PositiveInt = 1


@dataclass(frozen=True)
class RadarConfig:
    """``model.radar``: the radar pillar encoder's ``channels`` and ``subdivision``."""

    channels: PositiveInt = 32
    subdivision: PositiveInt = 1


@dataclass(frozen=True)
class ModelConfig:
    """What every detector reads: the BEV grid, the BEV encoder and the CenterPoint head."""

    bev: BEVGridConfig = field(default_factory=BEVGridConfig)
    bev_encoder: BEVEncoderConfig = field(default_factory=BEVEncoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)


@dataclass(frozen=True)
class ImageModelConfig(ModelConfig):
    """A detector with an image network: feature stride ``downsample`` (must equal
    ``data.depth_downsample``), ``backbone`` and the FPN-lite neck's ``neck_channels``."""

    downsample: PositiveInt = 16
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    neck_channels: PositiveInt = 128


@dataclass(frozen=True)
class CameraModelConfig(ImageModelConfig):
    """The camera LSS detectors (BEVDet, BEVDepth, BEVDepth4D).

    Depth: ``depth_bins`` ``[start, stop, step]`` metres; the depth net's ``depth_blocks``
    (residual blocks before the depth head) and ``camera_aware`` (BEVDepth's camera-parameter
    conditioning); ``depth_loss_weight`` (BEVDepth's LiDAR depth supervision, 0 = off). View
    transform: ``context_channels`` lifted per depth bin. ``temporal``: fuse the previous key
    frame's BEV (BEVDet4D).
    """

    depth_bins: tuple[float, float, float] = (1.0, 60.0, 0.5)
    depth_blocks: NonNegativeInt = 0
    camera_aware: bool = False
    depth_loss_weight: NonNegativeFloat = 0.0
    context_channels: PositiveInt = 64
    temporal: bool = False

    def __post_init__(self) -> None:
        DepthBins.from_config(self.depth_bins)  # UserError naming model.depth_bins when empty


@dataclass(frozen=True)
class RadarCameraModelConfig(CameraModelConfig):
    """The camera-radar student: a camera LSS detector plus the ``radar`` branch."""

    radar: RadarConfig = field(default_factory=RadarConfig)


@dataclass(frozen=True)
class LidarModelConfig(ModelConfig):
    """The LiDAR pillar detector (CenterPoint): ``pillars``."""

    pillars: PillarsConfig = field(default_factory=PillarsConfig)


@dataclass(frozen=True)
class CameraEntryConfig(EntryConfig):
    """A camera LSS entry's configuration."""

    model: CameraModelConfig = field(default_factory=CameraModelConfig)

    def __post_init__(self) -> None:
        if self.model.downsample != self.data.depth_downsample:
            raise UserError(
                f"data.depth_downsample={self.data.depth_downsample} must equal "
                f"model.downsample={self.model.downsample} "
                "(depth GT is compared per feature cell)"
            )


@dataclass(frozen=True)
class RadarCameraEntryConfig(CameraEntryConfig):
    """The camera-radar student's configuration: radar points loaded, no temporal fusion."""

    model: RadarCameraModelConfig = field(default_factory=RadarCameraModelConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.data.radar:
            raise UserError(
                "the camera-radar detector needs data.radar = true (otherwise the batch carries no radar points)"
            )
        if self.model.temporal:
            raise UserError("model.temporal is not supported by the camera-radar detector; set it to false")


@dataclass(frozen=True)
class LidarEntryConfig(EntryConfig):
    """The LiDAR teacher's configuration."""

    model: LidarModelConfig = field(default_factory=LidarModelConfig)
