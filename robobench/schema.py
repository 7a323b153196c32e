"""The results row: one evaluation of one trained model under one condition; and the
training record: what training that model cost.

These are the records the store keeps and the leaderboard reads (DESIGN.md,
"Results row"). Robustness aggregates (RR, mRR, CE, mCE) are never stored; they
are computed from rows by :mod:`robobench.metrics.robustness`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


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
    ``bootstrap``: scene-bootstrap replicates of the row's NDS and mAP, {"unit": "scene", "seed": ..,
    "scenes": .., "nds": [...], "map": [...]} (:meth:`robobench.metrics.detection.DetectionEvaluator.bootstrap`),
    or empty when the evaluation drew none.
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
    bootstrap: dict[str, Any] = field(default_factory=dict)
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
