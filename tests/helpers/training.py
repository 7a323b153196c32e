"""Training an entry on a generated world's training split, quietly (the call most engine tests make),
and the train -> predict -> evaluate round trip of an entry on the tiny world."""

from __future__ import annotations

import math
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


def train_predict_evaluate(name: str, world, tmp_path: Path, **overrides: object) -> dict[str, float]:
    """Train ``name`` (quick profile, 2 iterations of 2 samples), predict the val split, score it; the summary."""
    from robobench.data.nusc import open_nuscenes
    from robobench.metrics.detection import DetectionEvaluator
    from robobench.predict import predict
    from robobench.train import load_checkpoint, train_entry

    final = train_entry(
        name,
        "quick",
        "clean",
        seed=0,
        dataroot=world.dataroot,
        version=world.version,
        split=world.train_split,
        out_dir=tmp_path / "run",
        progress=False,
        overrides={"train": {"epochs": 1, "max_train_samples": 4}, **overrides},
    )
    history = load_checkpoint(final)["history"]
    assert len(history) == 2 and all(math.isfinite(v) for v in history)
    out = predict(
        name, final, "clean", world.dataroot, world.version, world.val_split, tmp_path / "results.json", progress=False
    )
    assert out.num_samples > 0 and out.depth_metrics is not None
    result = DetectionEvaluator(open_nuscenes(world.dataroot, world.version), world.val_split).evaluate(
        out.results_path
    )
    summary = result.summary()
    assert 0.0 <= summary["nds"] <= 1.0 and 0.0 <= summary["map"] <= 1.0, summary
    return summary
