"""Image encoder cost in the channels-last layout (what :class:`ImageEncoder` uses) vs the default layout.

The camera students spend most of a training step in the image encoder's convolutions.
This times forward + backward of one profile's encoder on a batch of views (``batch_size``
samples x 6 cameras at the profile's input size) with the same weights in both memory
layouts, checks that the outputs agree, and prints the ratio.

Usage: ``python benchmarks/encoder_layout_bench.py [--profile full] [--repeats 5] [--threads 1]``
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bev_pool_bench import timed  # noqa: E402  (same folder)
from baselines.common.backbone import ImageEncoder  # noqa: E402
from baselines.common.config import CameraEntryConfig  # noqa: E402
from baselines.common.profiles import BASE_PROFILES, camera_profiles  # noqa: E402
from robobench.constants import CAMERAS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=sorted(BASE_PROFILES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = BASE_PROFILES[args.profile]
    model = CameraEntryConfig.parse(camera_profiles()[args.profile]).model
    torch.manual_seed(0)
    fast = ImageEncoder(model.backbone, model.downsample, model.neck_channels)
    plain = copy.deepcopy(fast).to(memory_format=torch.contiguous_format)
    views = cfg["train"]["batch_size"] * len(CAMERAS)
    x = torch.randn(views, 3, *cfg["data"]["input_size"])

    def step(encoder: ImageEncoder, layout: torch.memory_format) -> None:
        encoder.zero_grad(set_to_none=True)
        encoder.neck(encoder.backbone(x.contiguous(memory_format=layout))).contiguous().sum().backward()

    with torch.no_grad():
        diff = (fast.eval()(x) - plain.eval().neck(plain.backbone(x))).abs().max().item()
    fast.train()
    plain.train()
    t_plain = timed(lambda: step(plain, torch.contiguous_format), args.repeats)
    t_fast = timed(lambda: step(fast, torch.channels_last), args.repeats)
    print(f"profile {args.profile}: {views} views of {cfg['data']['input_size']}, {args.threads} thread(s)")
    print(f"default layout  {t_plain:8.1f} ms forward+backward")
    print(f"channels-last   {t_fast:8.1f} ms forward+backward  (max output difference {diff:.1e})")
    print(f"speed-up {t_plain / t_fast:.2f}x")


if __name__ == "__main__":
    main()
