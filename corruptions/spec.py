"""Names, levels and the level -> severity table of the RoboBEV (nuScenes-C) corruptions.

Source: RoboBEV ``corruptions/project/config/nuscenes_c.py`` (docs/corruptions.md).
This module has no dependencies so every other part can import it cheaply.
"""

from __future__ import annotations

import re
from typing import Final

#: The eight corruptions, spelled exactly as RoboBEV spells them (also its folder names).
CORRUPTIONS: Final[tuple[str, ...]] = (
    "Brightness",
    "LowLight",
    "Fog",
    "Snow",
    "MotionBlur",
    "ColorQuant",
    "CameraCrash",
    "FrameLost",
)

LEVELS: Final[tuple[str, ...]] = ("easy", "mid", "hard")

#: Integer severity RoboBEV passes to each corruption function for each level.
SEVERITY: Final[dict[str, dict[str, int]]] = {
    "CameraCrash": {"easy": 2, "mid": 4, "hard": 5},
    "FrameLost": {"easy": 2, "mid": 4, "hard": 5},
    "MotionBlur": {"easy": 2, "mid": 4, "hard": 5},
    "ColorQuant": {"easy": 1, "mid": 2, "hard": 3},
    "Brightness": {"easy": 2, "mid": 4, "hard": 5},
    "LowLight": {"easy": 2, "mid": 3, "hard": 4},
    "Fog": {"easy": 2, "mid": 4, "hard": 5},
    "Snow": {"easy": 1, "mid": 2, "hard": 3},
}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_ALIASES: Final[dict[str, str]] = {_key(c): c for c in CORRUPTIONS}


def canonical_name(name: str) -> str:
    """Return RoboBEV's spelling of a corruption name.

    Accepts any case and snake_case / kebab-case aliases (``low_light``, ``lowlight``,
    ``LOW-LIGHT`` -> ``LowLight``). Raises ``ValueError`` naming the allowed names.
    """
    if not isinstance(name, str) or _key(name) not in _ALIASES:
        raise ValueError(f"unknown corruption {name!r}; expected one of {', '.join(CORRUPTIONS)}")
    return _ALIASES[_key(name)]


def canonical_level(level: str) -> str:
    """Return the level name (``easy|mid|hard``), case-insensitive; ``ValueError`` otherwise."""
    if isinstance(level, str) and level.lower() in LEVELS:
        return level.lower()
    raise ValueError(f"unknown severity level {level!r}; expected one of {', '.join(LEVELS)}")


def severity_of(name: str, severity: str | int) -> int:
    """Integer severity 1..5 for a corruption given a level name or an int.

    ``severity_of('LowLight', 'hard') == 4``; an int is checked to lie in 1..5.
    """
    canon = canonical_name(name)
    if isinstance(severity, str):
        return SEVERITY[canon][canonical_level(severity)]
    if isinstance(severity, bool) or not isinstance(severity, (int,)) or not 1 <= int(severity) <= 5:
        raise ValueError(
            f"severity {severity!r} out of range for {canon}; expected a level ({', '.join(LEVELS)}) or an integer 1..5"
        )
    return int(severity)
