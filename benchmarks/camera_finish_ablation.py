"""Which part of generator 4 moved a model's corruption profile: its atmosphere or its camera finish?

Generator 4 of the realistic world changed two things against generator 3: each scene draws a haze
distance and a lens glare (contrast varies between scenes), and the camera finish became sharper
(ISP local-contrast gain 0.8 -> :data:`~robobench.data.synth_textures.LOCAL_CONTRAST`, lens blur
0.48 -> :data:`~robobench.data.synth_textures.LENS_BLUR`) so that the average view keeps real views'
sharpness. This writes the world with generator 4's atmosphere and generator 3's finish, the
ablation between the two; train and evaluate on it as on any world (``robobench sweep``) and compare
the per-corruption RR with ``robobench data fidelity --db``.

Its stamp records the ablation (``"finish": "generator 3"``), so it is never taken for a world
``robobench data synth`` writes. Its tables are those of the generator-4 world of the same preset
and seed; the stamp is part of the dataset id (:func:`robobench.sweep.dataset_id`), so the two
worlds' results keep apart in one store.

Usage: ``python benchmarks/camera_finish_ablation.py --out data/synth-realistic-g4-softfinish
[--preset default] [--workers 2]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robobench.data import synth, synth_textures  # noqa: E402

#: Generator 3's camera finish: ISP local-contrast gain and lens-blur sigma (pixels of a 704-wide view).
GENERATOR3_FINISH = {"LOCAL_CONTRAST": 0.8, "LENS_BLUR": 0.48}


def write_world(out: Path, preset: str, workers: int) -> dict:
    """Write the ablation world to ``out`` and return its stamp."""
    for name, value in GENERATOR3_FINISH.items():
        setattr(synth_textures, name, value)  # worker processes fork from here and inherit it
    root = synth.generate(out, preset=preset, seed=0, workers=workers, progress=True, render="realistic")
    stamp = {**synth.world_stamp(root), "finish": "generator 3"}
    (root / synth.MARKER).write_text(json.dumps(stamp) + "\n")
    return stamp


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="dataroot to write")
    ap.add_argument("--preset", default="default", choices=sorted(synth.PRESETS))
    ap.add_argument("--workers", type=int, default=synth.DEFAULT_WORKERS)
    args = ap.parse_args(argv)
    print(json.dumps(write_world(args.out, args.preset, args.workers)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
