"""Training an entry on a generated world's training split, quietly: the call most engine tests make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robobench.registry import Entry
from robobench.train import train_entry


def train_on(
    world: Any,
    entry: str | Entry,
    out_dir: Path,
    *,
    mode: str = "clean",
    seed: int = 0,
    profile: str = "quick",
    **kwargs: Any,
) -> Path:
    """:func:`robobench.train.train_entry` of ``entry`` on ``world``'s training split (a ``World`` of
    ``conftest``) into ``out_dir``, without a progress bar; ``kwargs`` go through (``overrides``, ...)."""
    return train_entry(
        entry,
        profile,
        mode,
        seed=seed,
        dataroot=world.dataroot,
        version=world.version,
        split=world.train_split,
        out_dir=out_dir,
        progress=False,
        **kwargs,
    )
