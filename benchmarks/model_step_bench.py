"""Training-step cost of the built-in model entries: forward + loss + backward time per sample.

Runs each entry's profile on a random contract batch (``tests/helpers/batch_factory.py``) with
an AdamW step, after warm-up, and prints seconds per sample, parameter counts and an
estimate of the profile's training time on a given number of training samples
(the ``default`` synthetic world has 320).

Usage: ``python benchmarks/model_step_bench.py [--profile quick] [--batch-size 2] [--steps 3]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bev_pool_bench import timed  # noqa: E402  (same folder)
from robobench.registry import get_entry  # noqa: E402
from tests.helpers.batch_factory import make_batch  # noqa: E402

ENTRIES = ("bevdet", "bevdepth", "bevdepth4d", "bevformer", "centerpoint")


def step_time(name: str, profile: str, batch_size: int, steps: int) -> tuple[float, int, dict]:
    """Median seconds per training step, the parameter count and the profile config."""
    cfg = get_entry(name).config(profile)
    torch.manual_seed(0)
    model = get_entry(name).build(cfg)
    h, w = cfg["data"]["input_size"]
    batch = make_batch(
        batch_size, h, w, cfg["data"]["depth_downsample"], n_boxes=20, prev=bool(cfg["data"].get("prev_frame"))
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad()
        sum(model.loss(batch, model(batch)).values()).backward()
        opt.step()

    return timed(step, steps) / 1000, sum(p.numel() for p in model.parameters()), cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=320, help="training-set size for the time estimate")
    parser.add_argument("--entries", nargs="+", default=list(ENTRIES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.entries:
        sec, n_params, cfg = step_time(name, args.profile, args.batch_size, args.steps)
        per_sample = sec / args.batch_size
        epochs = cfg["train"]["epochs"]
        total_h = per_sample * args.train_samples * epochs / 3600
        print(
            f"{name:12s} [{args.profile}] {n_params / 1e6:6.2f} M params  {per_sample:6.3f} s/sample "
            f"(fwd+loss+bwd+step, batch {args.batch_size}); "
            f"{epochs} epochs x {args.train_samples} samples ~ {total_h:5.2f} h of compute (data loading excluded)"
        )


if __name__ == "__main__":
    main()
