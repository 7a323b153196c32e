"""Training-step overhead of the distillation entries over their base students (same run, same batch).

For each distillation entry and its base student: forward + loss + backward + an AdamW step
on one random contract batch (``tests/helpers/batch_factory.py``, 20 boxes per sample). A distilled
step also runs the frozen CenterPoint teacher (random weights: its cost does not depend on
them), the adapters and the distillation terms. Prints seconds per sample of each entry, the
ratio to its base, and the inference parameter count (equal to the base's by construction).

Usage: ``OMP_NUM_THREADS=1 nice -n 10 python benchmarks/distill_step_bench.py [--profile quick] [--entries ...]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bev_pool_bench import timed  # noqa: E402  (same folder)
from baselines.distill.entries import RECIPES  # noqa: E402
from robobench.registry import get_entry  # noqa: E402
from tests.helpers.batch_factory import make_batch  # noqa: E402


#: untimed training steps first: the first steps of a process can run slower than one warm-up
#: covers (at the full profile, one warm-up and ``--steps 3`` once timed the first entry 3x too slow)
WARMUP_STEPS = 4


def build_for_training(name: str, profile: str) -> tuple[dict, torch.nn.Module]:
    """Entry ``name``'s profile config and model in training mode, a distiller with a random-weight teacher."""
    entry = get_entry(name)
    cfg = entry.config(profile)
    torch.manual_seed(0)
    model = entry.build(cfg)
    if entry.teacher:
        teacher = get_entry(entry.teacher)
        model.set_teacher(teacher.build(teacher.config(profile)))
    return cfg, model.train()


def distill_step_time(name: str, profile: str, batch_size: int, steps: int) -> tuple[float, int]:
    """Median seconds per training step of entry ``name`` and the parameter count of what inference runs."""
    cfg, model = build_for_training(name, profile)
    data = cfg["data"]
    h, w = data["input_size"]
    batch = make_batch(batch_size, h, w, data["depth_downsample"], n_boxes=20, prev=bool(data.get("prev_frame")))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step() -> None:
        losses = model.loss(batch, model(batch))
        optimizer.zero_grad()
        torch.stack(list(losses.values())).sum().backward()
        optimizer.step()

    inference = getattr(model, "inference_model", lambda: model)()
    return timed(train_step, steps, warmup=WARMUP_STEPS) / 1000, sum(p.numel() for p in inference.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--batch-size", type=int, default=2, help="samples per step")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--entries", nargs="+", default=[r.name for r in RECIPES])
    args = parser.parse_args()
    measured: dict[str, tuple[float, int]] = {}
    for name in args.entries:
        base = get_entry(name).base
        for n in (base, name):
            if n not in measured:
                sec, params = distill_step_time(n, args.profile, args.batch_size, args.steps)
                measured[n] = (sec / args.batch_size, params)
        (sec, params), (ref, ref_params) = measured[name], measured[base]
        print(
            f"{name:28s} [{args.profile}] {sec:6.3f} s/sample vs {base} {ref:6.3f}  x{sec / ref:4.2f}  "
            f"inference params {params / 1e6:.3f} M ({'=' if params == ref_params else '!='} base)"
        )


if __name__ == "__main__":
    main()
