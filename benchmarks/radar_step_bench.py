"""Training-step cost of the camera-radar student and IMKD against ``bevdepth`` (the reference, same run).

Each entry's profile runs forward + loss + backward + an AdamW step on one random contract
batch (``tests/helpers/batch_factory.py``, 20 boxes per sample) carrying about 100 radar returns per
sample (five on each box, as many as a tiny-world key frame has). ``bevdepth-radar-imkd`` also
runs its frozen CenterPoint teacher (random weights: the cost does not depend on them).
Prints seconds per sample and the ratio to ``bevdepth``.

Usage: ``OMP_NUM_THREADS=1 nice -n 10 python benchmarks/radar_step_bench.py [--profile quick] [--threads 1]``
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
from tests.helpers.radar import radar_on_boxes  # noqa: E402

ENTRIES = ("bevdepth", "bevdepth-radar", "bevdepth-radar-imkd")


def step_time(name: str, profile: str, batch_size: int, steps: int) -> float:
    """Median seconds per training step of entry ``name``."""
    cfg = get_entry(name).config(profile)
    torch.manual_seed(0)
    model = get_entry(name).build(cfg)
    if get_entry(name).teacher:
        teacher = get_entry(name).teacher
        model.set_teacher(get_entry(teacher).build(get_entry(teacher).config(profile)))
    model.train()
    h, w = cfg["data"]["input_size"]
    batch = make_batch(batch_size, h, w, cfg["data"]["depth_downsample"], n_boxes=20)
    batch["radar"] = [radar_on_boxes(boxes, per_box=5, seed=i) for i, boxes in enumerate(batch["gt_boxes"])]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        opt.zero_grad()
        sum(model.loss(batch, model(batch)).values()).backward()
        opt.step()

    return timed(step, steps) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    per_sample = {
        name: step_time(name, args.profile, args.batch_size, args.steps) / args.batch_size for name in ENTRIES
    }
    ref = per_sample[ENTRIES[0]]
    for name, sec in per_sample.items():
        print(
            f"{name:22s} [{args.profile}] {sec:6.3f} s/sample (fwd+loss+bwd+step, batch {args.batch_size})  "
            f"x{sec / ref:4.2f} vs {ENTRIES[0]}"
        )


if __name__ == "__main__":
    main()
