"""The results row: one evaluation of one trained model under one condition; and the
training record: what training that model cost.

These are the records the store keeps and the leaderboard reads. Robustness aggregates
(RR, mRR, CE, mCE) are never stored; they are computed from rows by
:mod:`robobench.metrics.robustness`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

#: How far outside ``[0, 1]`` a metric bounded by definition (NDS, mAP, AP) may come out of
#: floating-point sums and still count as that bound (the devkit's ``calc_ap`` gives a
#: perfect AP as ``1.0000000000000004``). Within it the metric code clamps the value.
FRACTION_TOLERANCE = 1e-9


def clamp_fraction(value: float, what: str, tolerance: float = FRACTION_TOLERANCE) -> float:
    """``value`` clamped to ``[0, 1]`` when within ``tolerance`` of it (rounding in sums of
    fractions); ``ValueError`` naming ``what`` when further out, which only a bug can cause."""
    if not -tolerance <= value <= 1.0 + tolerance:
        raise ValueError(f"{what} is {value!r}; a fraction in [0, 1] was expected")
    return min(max(value, 0.0), 1.0)


class TrainMode(str, Enum):
    """How the entry was trained: on clean data, or with the eight corruptions simulated."""

    CLEAN = "clean"
    CORRUPTED = "corrupted"


#: Scalar detection metrics, devkit names lower-cased (``map`` is mAP).
DETECTION_METRICS: tuple[str, ...] = ("nds", "map", "mate", "mase", "maoe", "mave", "maae")


@dataclass
class ResultRow:
    """One (entry, train mode, condition, seed, dataset id, config hash) result.

    ``per_class``: class -> {"ap": {"0.5": .., "1.0": .., "2.0": .., "4.0": ..}, "ap_mean": ..,
    "trans_err": .., "scale_err": .., "orient_err": .., "vel_err": .., "attr_err": ..}.
    ``breakdown``: e.g. {"small_map": .., "range_0_30": {"nds": .., "map": ..}, "range_30_60": {...}}.
    ``depth``: {"all": {"abs_rel": .., ...}, "fg": {...}} or empty when the model predicts no depth.
    A failed cell has ``status == "failed"``, ``error`` set and metric fields ``None``.
    """

    entry: str
    train_mode: str
    condition: str
    seed: int
    dataset_id: str
    config_hash: str
    profile: str = "quick"
    status: str = "ok"
    error: str | None = None
    nds: float | None = None
    map: float | None = None
    mate: float | None = None
    mase: float | None = None
    maoe: float | None = None
    mave: float | None = None
    maae: float | None = None
    per_class: dict[str, Any] = field(default_factory=dict)
    breakdown: dict[str, Any] = field(default_factory=dict)
    depth: dict[str, Any] = field(default_factory=dict)
    wall_time: float | None = None
    code_version: str = ""
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict of every field."""
        return asdict(self)


@dataclass(frozen=True)
class EntryRecord:
    """What the store and the leaderboard know about an entry (no builder, no torch).

    Stored beside the results so a leaderboard can be rendered from a results file
    alone, even for entries registered on another machine.
    """

    name: str
    role: str
    base: str | None = None
    teacher: str | None = None
    paper: str = ""
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict of every field."""
        return asdict(self)


#: Fields forming a training record's identity: a results row's key without the condition
#: (and with the row's dataset id reduced by :func:`trained_dataset_id`).
TRAINING_KEY_FIELDS: tuple[str, ...] = ("entry", "train_mode", "seed", "dataset_id", "config_hash")


def trained_dataset_id(dataset_id: str) -> str:
    """The dataset a model was trained on, from a row's or a training record's dataset id.

    A sweep stores what was evaluated, ``<dataset id>/<eval split>``, in its rows and what
    was trained on, ``<dataset id>``, in its training records, so the two meet only on the
    part before the ``/``.
    """
    return dataset_id.split("/", 1)[0]


@dataclass(frozen=True)
class TrainingRecord:
    """What training one model (one sweep train cell) cost, from its ``train_stats.json``.

    Distillation is sold as free at inference but not in training: the leaderboard
    shows these costs next to the accuracy so a recipe's overhead over its base
    student is visible. ``wall_time_s`` is the model's own training (a teacher it
    trained first is its own record); ``peak_rss_mb`` the training process's peak
    resident memory; ``peak_cuda_mb`` the peak CUDA allocation (None on CPU).
    """

    entry: str
    train_mode: str
    seed: int
    dataset_id: str
    config_hash: str
    profile: str = "quick"
    wall_time_s: float | None = None
    peak_rss_mb: float | None = None
    peak_cuda_mb: float | None = None
    iterations: int | None = None
    world_size: int | None = None
    device: str = ""
    code_version: str = ""
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict of every field."""
        return asdict(self)
