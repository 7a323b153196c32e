"""Published results imported as clearly marked reference rows (``robobench leaderboard --import FILE``).

File format (CSV with a header, or JSON: a list of objects with the same keys)::

    entry,source,role,base,teacher,train_mode,dataset,condition,metric,value
    BEVDet (paper),"RayD3D, Table 1",student,,,clean,nuScenes-C,clean,nds,37.4
    BEVDet (paper),"RayD3D, Table 1",student,,,clean,nuScenes-C,Fog,rr,64.9
    BEVDet (paper),"RayD3D, Table 1",student,,,clean,nuScenes-C,Fog:hard,nds,21.0

Required columns: ``entry`` (the name shown, make it unique against your own
entries), ``condition``, ``metric`` and ``value``. Optional: ``source`` (the
citation shown next to the row), ``role`` (student/teacher/distill), ``base``
(another reference entry, for the gain column), ``teacher``, ``train_mode``
(default ``clean``) and ``dataset`` (default ``nuScenes-C``). One line per number:

* ``condition``: ``clean``, ``Corruption:level`` (``Fog:hard``), or a bare
  corruption name (``Fog``) for a number that papers report per corruption only.
* ``metric``: ``nds`` (any condition; for a bare corruption it is the mean NDS over
  its three levels), ``map`` (any condition), or ``rr`` (bare corruption only: the
  resilience rate ``RR_i``, as RayD3D's Table 1 prints it; needs the clean NDS).
* ``value``: in percent, the way papers print them (NDS 37.4, RR 64.9).

``RR_i`` and ``CE_i`` depend on the three levels of a corruption only through their
sum, so a per-corruption mean (given, or ``RR_i * NDS_clean``) yields exactly the
published RR and CE when handed to :mod:`robobench.metrics.robustness`: the
leaderboard computes mRR/mCE of reference rows with the same code as for its own
rows. Per-level curves are drawn only for levels the file gives.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corruptions.spec import LEVELS, canonical_name
from robobench.conditions import Condition
from robobench.errors import UserError
from robobench.schema import ResultRow

REQUIRED = ("entry", "condition", "metric", "value")
OPTIONAL = ("source", "role", "base", "teacher", "train_mode", "dataset")
METRICS = ("nds", "map", "rr")
DEFAULT_DATASET = "nuScenes-C"


@dataclass
class ReferenceEntry:
    """One published result set; NDS/mAP as fractions keyed by condition."""

    name: str
    source: str = ""
    role: str = ""
    base: str | None = None
    teacher: str | None = None
    train_mode: str = "clean"
    dataset: str = DEFAULT_DATASET
    nds: dict[Condition, float] = field(default_factory=dict)
    map: dict[Condition, float] = field(default_factory=dict)
    #: corruption -> mean NDS over its levels, for corruptions given per corruption only
    corruption_mean: dict[str, float] = field(default_factory=dict)
    #: corruption -> RR fraction as published (turned into a mean once the clean NDS is known)
    rr: dict[str, float] = field(default_factory=dict)

    def level_nds(self) -> dict[Condition, float]:
        """NDS per condition for the robustness metrics: given levels, and per-corruption means on every level."""
        out = dict(self.nds)
        for name, mean in self.corruption_mean.items():
            for level in LEVELS:
                out[Condition(name, level)] = mean
        return out

    @property
    def exact_levels(self) -> set[Condition]:
        """Conditions whose NDS the file states (not derived from a per-corruption number)."""
        return set(self.nds)

    def to_rows(self) -> list[ResultRow]:
        """The reference as result rows (seed 0), so it flows through the same aggregation as measured rows."""
        rows = []
        for cond, nds in sorted(self.level_nds().items(), key=lambda kv: str(kv[0])):
            rows.append(
                ResultRow(
                    entry=self.name,
                    train_mode=self.train_mode,
                    condition=str(cond),
                    seed=0,
                    dataset_id=self.dataset,
                    config_hash="published",
                    profile="reference",
                    nds=nds,
                    map=self.map.get(cond),
                )
            )
        return rows

    def meta(self) -> dict[str, Any]:
        """Entry metadata in the shape :func:`leaderboard.model.entry_meta_map` reads."""
        return {
            "role": self.role,
            "base": self.base,
            "teacher": self.teacher,
            "paper": self.source,
            "description": f"published result ({self.source})" if self.source else "published result",
        }


def _records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(
                f"{path}: not valid JSON ({exc}); see the format in `robobench leaderboard --help`"
            ) from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise UserError(f"{path}: expected a JSON list of objects with keys {', '.join(REQUIRED)}")
        return data
    if path.suffix.lower() != ".csv":
        raise UserError(f"{path}: reference files must end in .csv or .json")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED)}")
    return list(reader)


def _value(path: Path, line: int, raw: Any) -> float:
    try:
        val = float(raw)
    except (TypeError, ValueError):
        raise UserError(f"{path}, record {line}: value {raw!r} is not a number") from None
    if not math.isfinite(val) or not 0.0 <= val <= 100.0:
        raise UserError(f"{path}, record {line}: value {raw!r} must be a percentage in [0, 100]")
    return val


def _condition(path: Path, line: int, raw: str) -> Condition | str:
    """A Condition, or a canonical corruption name for a bare per-corruption number."""
    text = str(raw).strip()
    try:
        if ":" in text or text.lower() == "clean":
            return Condition.parse(text)
        return canonical_name(text)
    except ValueError as exc:
        raise UserError(f"{path}, record {line}: bad condition {raw!r}: {exc}") from None


def load_references(path: str | Path) -> list[ReferenceEntry]:
    """Parse one reference file (format in the module docstring); ``UserError`` names the record at fault."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"reference file {path} does not exist")
    entries: dict[tuple[str, str], ReferenceEntry] = {}
    records = _records(path)
    if not records:
        raise UserError(f"{path}: no records")
    for line, rec in enumerate(records, start=1):
        absent = [k for k in REQUIRED if not str(rec.get(k) or "").strip()]
        if absent:
            raise UserError(f"{path}, record {line}: empty {', '.join(absent)}")
        unknown = sorted(set(rec) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise UserError(
                f"{path}, record {line}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(REQUIRED + OPTIONAL)}"
            )
        name, mode = str(rec["entry"]).strip(), str(rec.get("train_mode") or "clean").strip()
        ref = entries.setdefault((name, mode), ReferenceEntry(name=name, train_mode=mode))
        for key in ("source", "role", "base", "teacher", "dataset"):
            val = str(rec.get(key) or "").strip()
            if val:
                setattr(ref, key, val)
        metric = str(rec["metric"]).strip().lower()
        if metric not in METRICS:
            raise UserError(f"{path}, record {line}: metric {rec['metric']!r}; expected one of {', '.join(METRICS)}")
        cond = _condition(path, line, rec["condition"])
        frac = _value(path, line, rec["value"]) / 100.0
        if metric == "rr":
            if not isinstance(cond, str):
                raise UserError(f"{path}, record {line}: metric rr needs a bare corruption name, not {cond}")
            ref.rr[cond] = frac
        elif isinstance(cond, str):
            if metric == "nds":
                ref.corruption_mean[cond] = frac
        else:
            (ref.nds if metric == "nds" else ref.map)[cond] = frac
    for ref in entries.values():
        _resolve(path, ref)
    if all(v <= 0.01 for ref in entries.values() for v in ref.level_nds().values()):
        raise UserError(
            f"{path}: every value is <= 1; values are percentages as papers print them (NDS 37.4, not 0.374)"
        )
    return list(entries.values())


def _resolve(path: Path, ref: ReferenceEntry) -> None:
    """Turn RR numbers into per-corruption mean NDS and reject contradictory records."""
    clean = ref.nds.get(Condition())
    if ref.rr and clean is None:
        raise UserError(f"{path}: entry {ref.name!r} gives RR values but no clean NDS (add a 'clean,nds' record)")
    for name, rr in ref.rr.items():
        if name in ref.corruption_mean:
            raise UserError(f"{path}: entry {ref.name!r} gives both rr and a mean nds for {name}; keep one")
        ref.corruption_mean[name] = rr * clean
    ref.rr.clear()
    for name in ref.corruption_mean:
        given = [c for c in ref.nds if c.corruption == name]
        if given:
            raise UserError(
                f"{path}: entry {ref.name!r} gives {name} both per level ({', '.join(map(str, given))}) "
                "and per corruption; keep one"
            )
