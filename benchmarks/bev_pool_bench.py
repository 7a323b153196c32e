"""BEV pooling speed: index-based pooling (baselines.common.bev_pool) vs the straightforward LSS splat.

The reference materialises the full depth x context outer product and scatters every
point with ``index_put_(accumulate=True)``; ours precomputes the kept points' indices once
per geometry and accumulates ``depth[rd] * feat[rf]`` with ``index_add_`` (custom
backward). Both are run on the frustum of a six-camera ring at the ``quick`` and ``full``
profile sizes; outputs and input gradients are checked equal, then timed.

Usage: ``python benchmarks/bev_pool_bench.py [--repeats 5] [--threads 2]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch

from baselines.common.bev_pool import bev_pool, bev_pool_reference, pool_indices
from baselines.common.geometry import BEVGrid, DepthBins, frustum_to_ego, make_frustum
from baselines.common.config import CameraEntryConfig
from baselines.common.profiles import BASE_PROFILES, camera_profiles


def ring_rig(batch: int, height: int, width: int) -> tuple[torch.Tensor, ...]:
    """Six cameras 60 degrees apart, 70 degree horizontal field of view, 1.6 m high, no augmentation."""
    fx = width / 2 / math.tan(math.radians(35))
    k = torch.tensor([[fx, 0.0, width / 2], [0.0, fx, height / 2], [0.0, 0.0, 1.0]])
    poses = []
    for i in range(6):
        yaw = math.radians(60 * i)
        pose = torch.eye(4)
        pose[:3, 0] = torch.tensor([math.sin(yaw), -math.cos(yaw), 0.0])
        pose[:3, 1] = torch.tensor([0.0, 0.0, -1.0])
        pose[:3, 2] = torch.tensor([math.cos(yaw), math.sin(yaw), 0.0])
        pose[2, 3] = 1.6
        poses.append(pose)
    intrins = k.expand(batch, 6, 3, 3)
    post_rots = torch.eye(3).expand(batch, 6, 3, 3)
    post_trans = torch.zeros(batch, 6, 3)
    return intrins, post_rots, post_trans, torch.stack(poses).expand(batch, 6, 4, 4)


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` untimed runs, in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def run(profile: str, repeats: int) -> None:
    cfg = BASE_PROFILES[profile]
    model, batch = CameraEntryConfig.parse(camera_profiles()[profile]).model, cfg["train"]["batch_size"]
    height, width = cfg["data"]["input_size"]
    grid = BEVGrid.from_config(model.bev)
    bins = DepthBins.from_config(model.depth_bins)
    ds, c = model.downsample, model.context_channels
    points = frustum_to_ego(make_frustum(height, width, ds, bins), *ring_rig(batch, height, width))
    h, w = height // ds, width // ds
    gen = torch.Generator().manual_seed(0)
    depth = torch.randn(batch * 6, bins.n, h, w, generator=gen).softmax(1).requires_grad_()
    feat = torch.randn(batch * 6, c, h, w, generator=gen, requires_grad=True)
    grad_out = torch.randn(batch, c, grid.ny, grid.nx, generator=gen)

    idx = pool_indices(points, grid)
    ours, ref = bev_pool(depth, feat, idx), bev_pool_reference(depth, feat, points, grid)
    same = torch.allclose(ours, ref, rtol=1e-4, atol=1e-5)
    g_ours = torch.autograd.grad(ours, (depth, feat), grad_out)
    g_ref = torch.autograd.grad(ref, (depth, feat), grad_out)
    same_grad = all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(g_ours, g_ref))

    def ours_fwd_bwd() -> None:
        torch.autograd.grad(bev_pool(depth, feat, idx), (depth, feat), grad_out)

    def ref_fwd_bwd() -> None:
        torch.autograd.grad(bev_pool_reference(depth, feat, points, grid), (depth, feat), grad_out)

    t_idx = timed(lambda: pool_indices(points, grid), repeats)
    with torch.no_grad():
        t_ours_f = timed(lambda: bev_pool(depth, feat, idx), repeats)
        t_ref_f = timed(lambda: bev_pool_reference(depth, feat, points, grid), repeats)
    t_ours_fb = timed(ours_fwd_bwd, repeats)
    t_ref_fb = timed(ref_fwd_bwd, repeats)
    n_points = points[..., 0].numel()
    print(
        f"[{profile}] B={batch} views=6 D={bins.n} feat={h}x{w} C={c} BEV={grid.ny}x{grid.nx}: "
        f"{n_points} frustum points, {idx.ranks_depth.numel()} inside the grid; "
        f"outputs equal: {same}, gradients equal: {same_grad}"
    )
    print(f"  index precompute (once per geometry)   {t_idx:8.2f} ms")
    print(
        f"  forward           ours {t_ours_f:8.2f} ms   reference {t_ref_f:8.2f} ms   "
        f"speed-up x{t_ref_f / t_ours_f:.2f}"
    )
    print(
        f"  forward+backward  ours {t_ours_fb:8.2f} ms   reference {t_ref_fb:8.2f} ms   "
        f"speed-up x{t_ref_fb / t_ours_fb:.2f}"
    )
    print(
        f"  ours incl. index precompute, fwd+bwd {t_idx + t_ours_fb:8.2f} ms   "
        f"speed-up x{t_ref_fb / (t_idx + t_ours_fb):.2f}"
    )
    if not (same and same_grad):
        raise SystemExit("pooling does not match the reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profiles", nargs="+", default=["quick", "full"], choices=sorted(BASE_PROFILES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for profile in args.profiles:
        run(profile, args.repeats)


if __name__ == "__main__":
    main()
