"""The models on real batches of the tiny synthetic world (the Dataset's contract batch)."""

from __future__ import annotations

import pytest
import torch

from baselines.common.geometry import frustum_to_ego
from robobench.data.dataset import collate, make_dataset
from robobench.registry import get_entry

ENTRIES = ("bevdet", "bevdepth", "bevdepth4d", "centerpoint")


def _real_batch(world, name: str, train: bool = True) -> tuple[dict, dict]:
    cfg = get_entry(name).config("quick")
    ds = make_dataset(world.dataroot, world.version, world.train_split, cfg["data"], train=train)
    return cfg, collate([ds[0], ds[len(ds) - 1]])


@pytest.mark.slow
@pytest.mark.parametrize("name", ENTRIES)
def test_entry_runs_on_a_real_batch(tiny_world, name: str) -> None:
    cfg, batch = _real_batch(tiny_world, name)
    torch.manual_seed(0)
    model = get_entry(name).build(cfg)
    out = model(batch)
    losses = model.loss(batch, out)
    assert all(torch.isfinite(v) for v in losses.values())
    assert sum(int(b.shape[0]) for b in batch["gt_boxes"]) > 0
    assert float(losses["heatmap"].detach()) > 0 and float(losses["bbox"].detach()) > 0
    if "depth" in losses:
        _, valid = model.bins.one_hot(batch["depth"])
        assert int(valid.sum()) > 50  # the depth maps fall inside the configured bins
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        dets = model.decode(batch, model(batch))
    assert len(dets) == 2 and all(d["boxes"].shape[1] == 9 for d in dets)


def test_depth_cells_lift_onto_lidar_points(tiny_world) -> None:
    """A depth-map cell lifted at its LiDAR depth by the model's geometry lands next to a LiDAR point.

    Checks the Dataset's ``post_rots``/``post_trans``/``cam2ego``/``depth`` against the
    frustum geometry on augmented (resized, cropped, rotated, flipped) views.
    """
    cfg, batch = _real_batch(tiny_world, "bevdepth")
    ds = cfg["model"]["downsample"]
    depth = batch["depth"]  # (B, N, h, w)
    _, _, h, w = depth.shape
    for b in range(depth.shape[0]):
        lidar = batch["points"][b][:, :3]
        for n in range(depth.shape[1]):
            rows, cols = torch.nonzero(depth[b, n] > 0, as_tuple=True)
            if rows.numel() == 0:
                continue
            d = depth[b, n, rows, cols]
            pix = torch.stack([(cols + 0.5) * ds - 0.5, (rows + 0.5) * ds - 0.5, d], dim=1).view(-1, 1, 1, 3)
            ego = frustum_to_ego(
                pix, *(batch[k][b : b + 1, n : n + 1] for k in ("intrins", "post_rots", "post_trans", "cam2ego"))
            ).view(-1, 3)
            nearest = torch.cdist(ego, lidar).min(dim=1).values
            # a cell spans ds pixels, so its point may sit anywhere within about ds / f * d metres
            fx = float((batch["post_rots"][b, n, :2, :2] @ batch["intrins"][b, n, :2, :2]).abs().max())
            assert bool((nearest <= ds / fx * d + 0.3).float().mean() > 0.95), (b, n, float(nearest.max()))
