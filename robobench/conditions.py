"""Evaluation conditions: ``clean`` or one (corruption, level) of nuScenes-C.

A condition is written ``clean`` or ``Corruption:level`` (``Fog:hard``); the full
benchmark has 25 (clean + 8 corruptions x 3 levels).
"""

from __future__ import annotations

from dataclasses import dataclass

from corruptions.spec import CORRUPTIONS, LEVELS, canonical_level, canonical_name


@dataclass(frozen=True, order=True)
class Condition:
    """``corruption is None`` means clean; otherwise both fields are canonical names."""

    corruption: str | None = None
    level: str | None = None

    @property
    def is_clean(self) -> bool:
        return self.corruption is None

    def __str__(self) -> str:
        return "clean" if self.corruption is None else f"{self.corruption}:{self.level}"

    @classmethod
    def parse(cls, text: str) -> "Condition":
        """Parse ``clean`` or ``Name:level`` (any case / snake_case name); ``ValueError`` otherwise."""
        if not isinstance(text, str):
            raise ValueError(f"condition must be a string, got {text!r}")
        if text.strip().lower() == "clean":
            return cls()
        name, sep, level = text.partition(":")
        if not sep:
            raise ValueError(
                f"bad condition {text!r}; write 'clean' or 'Corruption:level', e.g. 'Fog:hard' "
                f"(levels: {', '.join(LEVELS)})"
            )
        return cls(canonical_name(name.strip()), canonical_level(level.strip()))


CLEAN = Condition()


def all_conditions(include_clean: bool = True) -> list[Condition]:
    """Clean first, then the 24 corrupted conditions in RoboBEV's corruption order."""
    conds = [Condition(c, lvl) for c in CORRUPTIONS for lvl in LEVELS]
    return [CLEAN, *conds] if include_clean else conds
