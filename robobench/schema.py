"""The results row: one evaluation of one trained model under one condition; and the
training record: what training that model cost.

These are the records the store keeps and the leaderboard reads. Robustness aggregates
(RR, mRR, CE, mCE) are never stored; they are computed from rows by
:mod:`robobench.metrics.robustness`.

The ``check_*`` functions hold the rules a stored record obeys (types, known conditions
and roles, fractions in ``[0, 1]``, finite non-negative errors). The store applies them
wherever a record enters (an import, a write) or leaves it (a read), so a bad value is
one message naming the record and field, never NaN on the leaderboard or a crash deep
in rendering.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

#: How far outside ``[0, 1]`` a metric bounded by definition (NDS, mAP, AP) may come out of
#: floating-point sums and still count as that bound (the devkit's ``calc_ap`` gives a
#: perfect AP as ``1.0000000000000004``). Within it the metric code clamps the value.
FRACTION_TOLERANCE = 1e-9
#: Largest seed a store holds (SQLite's INTEGER is a signed 64-bit number).
MAX_SEED = 2**63 - 1
#: What a results row's ``status`` may be: evaluated, or a failed sweep cell with its error.
STATUSES: tuple[str, ...] = ("ok", "failed")
#: Keys of a ``per_class`` entry besides ``ap`` / ``ap_mean``: the devkit's TP errors.
TP_ERROR_KEYS: tuple[str, ...] = ("trans_err", "scale_err", "orient_err", "vel_err", "attr_err")
#: Leaves of ``breakdown`` and ``depth`` that are fractions (NDS, mAP, the depth delta
#: accuracies); every other leaf there is a finite number >= 0.
_FRACTION_LEAVES = frozenset({"nds", "map", "small_map", "a1", "a2", "a3"})
_PER_CLASS_KEYS = frozenset({"ap", "ap_mean", *TP_ERROR_KEYS})


def clamp_fraction(value: float, what: str, tolerance: float = FRACTION_TOLERANCE) -> float:
    """``value`` clamped to ``[0, 1]`` when within ``tolerance`` of it (rounding in sums of
    fractions); ``ValueError`` naming ``what`` when further out, which only a bug can cause."""
    if not -tolerance <= value <= 1.0 + tolerance:
        raise ValueError(f"{what} is {value!r}; a fraction in [0, 1] was expected")
    return min(max(value, 0.0), 1.0)


class Role(str, Enum):
    """What an entry is: a camera student, a LiDAR/fusion teacher, or a distillation recipe."""

    STUDENT = "student"
    TEACHER = "teacher"
    DISTILL = "distill"


class TrainMode(str, Enum):
    """How the entry was trained (its training protocol).

    ``clean``: clean data; ``corrupted``: the eight test corruptions simulated during
    training (``--train-corruption mixed``), so its robustness numbers are not comparable
    with the others'; ``heldout``: corruptions disjoint from the eight
    (:data:`robobench.data.corrupt_aug.HELDOUT`).
    """

    CLEAN = "clean"
    CORRUPTED = "corrupted"
    HELDOUT = "heldout"

    @property
    def uses_test_corruptions(self) -> bool:
        """Whether training saw the corruptions the benchmark scores."""
        return self is TrainMode.CORRUPTED


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


class InvalidRecord(ValueError):
    """A record breaks a rule of the ``check_*`` functions; the message names the field."""


_FRACTION = "a fraction in [0, 1]"
_NON_NEGATIVE = "a finite number >= 0"


def _bad(name: str, value: Any, expected: str) -> InvalidRecord:
    return InvalidRecord(f"field {name!r} is {value!r}; expected {expected}")


def _is_fraction(value: Any) -> bool:
    """A number (not a bool) in ``[0, 1]`` within :data:`FRACTION_TOLERANCE`; NaN is not."""
    return (
        type(value) is not bool
        and isinstance(value, (int, float))
        and (-FRACTION_TOLERANCE <= value <= 1.0 + FRACTION_TOLERANCE)
    )


def _is_non_negative(value: Any) -> bool:
    """A finite number (not a bool) ``>= 0``; NaN is not."""
    return type(value) is not bool and isinstance(value, (int, float)) and 0 <= value < math.inf


def _fraction(value: Any, name: str) -> None:
    if not _is_fraction(value):
        raise _bad(name, value, _FRACTION)


def _non_negative(value: Any, name: str) -> None:
    if not _is_non_negative(value):
        raise _bad(name, value, _NON_NEGATIVE)


def _optional(check: Any) -> Any:
    def checked(value: Any, name: str) -> None:
        if value is not None:
            check(value, name)

    return checked


def _text(value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise _bad(name, value, "a string")


def _name(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, value, "a non-empty name")


def _seed(value: Any, name: str) -> None:
    if type(value) is not int or not 0 <= value <= MAX_SEED:
        raise _bad(name, value, "an integer seed in [0, 2^63)")


def _count(minimum: int) -> Any:
    def checked(value: Any, name: str) -> None:
        if type(value) is not int or value < minimum:
            raise _bad(name, value, f"an integer >= {minimum}")

    return checked


def _choice(allowed: tuple[str, ...]) -> Any:
    def checked(value: Any, name: str) -> None:
        if value not in allowed:
            raise _bad(name, value, f"one of {', '.join(allowed)}")

    return checked


def _condition(value: Any, name: str) -> None:
    from robobench.conditions import Condition

    try:
        canonical = str(Condition.parse(value))
    except ValueError as exc:
        raise InvalidRecord(f"field {name!r}: {exc}") from None
    if canonical != value:
        raise InvalidRecord(f"field {name!r} is {value!r}; write it {canonical!r}")


def _metric_tree(value: Any, name: str) -> None:
    """``breakdown`` / ``depth``: nested objects whose leaves are fractions under the keys of
    :data:`_FRACTION_LEAVES` and finite numbers ``>= 0`` elsewhere (messages name the key path)."""
    if not isinstance(value, dict):
        raise _bad(name, value, "an object")
    for key, sub in value.items():
        if isinstance(sub, dict):
            _metric_tree(sub, f"{name}.{key}")
        elif key in _FRACTION_LEAVES:
            if not _is_fraction(sub):
                raise _bad(f"{name}.{key}", sub, _FRACTION)
        elif not _is_non_negative(sub):
            raise _bad(f"{name}.{key}", sub, _NON_NEGATIVE)


def _per_class(value: Any, name: str) -> None:
    if not isinstance(value, dict):
        raise _bad(name, value, "an object of classes")
    for cls, metrics in value.items():
        where = f"{name}.{cls}"
        if not isinstance(metrics, dict):
            raise _bad(where, metrics, "an object")
        if not metrics.keys() <= _PER_CLASS_KEYS:
            raise InvalidRecord(
                f"field {where!r} has unknown keys {sorted(metrics.keys() - _PER_CLASS_KEYS)}; "
                f"expected ap, ap_mean, {', '.join(TP_ERROR_KEYS)}"
            )
        aps = metrics.get("ap", {})
        if not isinstance(aps, dict):
            raise _bad(f"{where}.ap", aps, "an object of thresholds")
        for th, ap in aps.items():
            if not _is_fraction(ap):
                raise _bad(f"{where}.ap.{th}", ap, _FRACTION)
        ap_mean = metrics.get("ap_mean")
        if ap_mean is not None and not _is_fraction(ap_mean):
            raise _bad(f"{where}.ap_mean", ap_mean, _FRACTION)
        for key in TP_ERROR_KEYS:
            err = metrics.get(key)
            if err is not None and not _is_non_negative(err):
                raise _bad(f"{where}.{key}", err, _NON_NEGATIVE)


_ROW_RULES: dict[str, Any] = {
    "entry": _name,
    "train_mode": _choice(tuple(m.value for m in TrainMode)),
    "condition": _condition,
    "seed": _seed,
    "dataset_id": _text,
    "config_hash": _text,
    "profile": _text,
    "status": _choice(STATUSES),
    "error": _optional(_text),
    "nds": _optional(_fraction),
    "map": _optional(_fraction),
    **{name: _optional(_non_negative) for name in DETECTION_METRICS[2:]},
    "per_class": _per_class,
    "breakdown": _metric_tree,
    "depth": _metric_tree,
    "wall_time": _optional(_non_negative),
    "code_version": _text,
    "created_at": _text,
}
_TRAINING_RULES: dict[str, Any] = {
    **{name: _ROW_RULES[name] for name in TRAINING_KEY_FIELDS},
    "profile": _text,
    "wall_time_s": _optional(_non_negative),
    "peak_rss_mb": _optional(_non_negative),
    "peak_cuda_mb": _optional(_non_negative),
    "iterations": _optional(_count(0)),
    "world_size": _optional(_count(1)),
    "device": _text,
    "code_version": _text,
    "created_at": _text,
}
_ENTRY_RULES: dict[str, Any] = {
    "name": _name,
    "role": _choice(tuple(r.value for r in Role)),
    "base": _optional(_name),
    "teacher": _optional(_name),
    "paper": _text,
    "description": _text,
}


def _check(record: Any, rules: dict[str, Any]) -> None:
    for name, rule in rules.items():
        rule(getattr(record, name), name)


def check_result_row(row: ResultRow) -> None:
    """:class:`InvalidRecord` naming the first field of ``row`` that breaks the store's rules:
    known train mode, status and condition (canonical spelling), integer seed, NDS/mAP/AP and
    depth delta accuracies in ``[0, 1]`` (within :data:`FRACTION_TOLERANCE`), TP errors, wall
    time and the other depth errors finite and ``>= 0``; NaN is none of these."""
    _check(row, _ROW_RULES)


def check_training_record(record: TrainingRecord) -> None:
    """:class:`InvalidRecord` naming the first bad field of a training record (as :func:`check_result_row`)."""
    _check(record, _TRAINING_RULES)


def check_entry_record(record: EntryRecord) -> None:
    """:class:`InvalidRecord` naming the first bad field of entry metadata (a known role, names)."""
    _check(record, _ENTRY_RULES)


def describe_record(record: ResultRow | TrainingRecord | EntryRecord) -> str:
    """The record's identity for messages: ``entry 'bevdet', condition 'Fog:hard', seed 0, ...``."""
    if isinstance(record, EntryRecord):
        return f"entry {record.name!r}"
    keys = (
        ("entry", "train_mode", "condition", "seed")
        if isinstance(record, ResultRow)
        else ("entry", "train_mode", "seed")
    )
    return ", ".join(f"{k.replace('_', ' ')} {getattr(record, k)!r}" for k in keys)
