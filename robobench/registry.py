"""Method entries: a decorator records a function that builds a model (timm-style).

Example::

    from robobench.registry import register_entry

    @register_entry("my-bevdet", role="student", base="bevdet",
                    profiles={"quick": {...}, "full": {...}})
    def my_bevdet(cfg: dict) -> torch.nn.Module:
        ...
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import torch

from robobench.errors import UserError


class Role(str, Enum):
    """What an entry is: a camera student, a LiDAR/fusion teacher, or a distillation recipe."""

    STUDENT = "student"
    TEACHER = "teacher"
    DISTILL = "distill"


Builder = Callable[[dict[str, Any]], torch.nn.Module]


@dataclass(frozen=True)
class Entry:
    """One registered method: how to build it and its default configuration per profile."""

    name: str
    role: Role
    build: Builder
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    paper: str = ""
    base: str | None = None
    teacher: str | None = None

    def config(self, profile: str) -> dict[str, Any]:
        """A copy of the entry's configuration for ``profile`` (``UserError`` if unknown)."""
        if profile not in self.profiles:
            raise UserError(
                f"entry {self.name!r} has no profile {profile!r}; available: {', '.join(sorted(self.profiles)) or 'none'}"
            )
        return dict(self.profiles[profile])


_REGISTRY: dict[str, Entry] = {}


def register_entry(
    name: str,
    *,
    role: Role | str,
    profiles: dict[str, dict[str, Any]] | None = None,
    description: str = "",
    paper: str = "",
    base: str | None = None,
    teacher: str | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator recording ``fn(cfg) -> nn.Module`` as entry ``name``; duplicate names are an error."""

    def decorator(fn: Builder) -> Builder:
        if name in _REGISTRY:
            raise UserError(f"entry {name!r} is registered twice ({_REGISTRY[name].build.__module__} and {fn.__module__})")
        try:
            role_ = Role(role)
        except ValueError:
            raise UserError(f"entry {name!r}: unknown role {role!r}; expected one of {[r.value for r in Role]}") from None
        _REGISTRY[name] = Entry(
            name=name,
            role=role_,
            build=fn,
            profiles=dict(profiles or {}),
            description=description or (fn.__doc__ or "").strip().split("\n")[0],
            paper=paper,
            base=base,
            teacher=teacher,
        )
        return fn

    return decorator


def get_entry(name: str) -> Entry:
    """The entry called ``name``; ``UserError`` listing the known names otherwise."""
    load_builtin_entries()
    if name not in _REGISTRY:
        raise UserError(f"unknown entry {name!r}; known entries: {', '.join(sorted(_REGISTRY)) or 'none'}")
    return _REGISTRY[name]


def list_entries(pattern: str = "*") -> list[Entry]:
    """Registered entries whose names match the glob ``pattern``, sorted by name."""
    load_builtin_entries()
    return [e for n, e in sorted(_REGISTRY.items()) if fnmatch.fnmatch(n, pattern)]


def load_builtin_entries() -> None:
    """Import ``baselines`` so its modules register the built-in entries."""
    import baselines  # noqa: F401  (import registers entries)
