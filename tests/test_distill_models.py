"""The loss terms accept the outputs of the real students and teacher (quick profile)."""

from __future__ import annotations

import pytest
import torch

from baselines.bevdepth import DEPTH_LOSS_WEIGHT, bevdepth
from baselines.centerpoint import centerpoint
from baselines.common.profiles import camera_profiles, lidar_profiles
from baselines.distill import dense, rayd3d, tigdistill
from tests.batch_factory import make_batch


@pytest.mark.slow
def test_every_loss_term_runs_on_bevdepth_and_centerpoint_outputs() -> None:
    torch.manual_seed(0)
    student = bevdepth(camera_profiles(depth_loss_weight=DEPTH_LOSS_WEIGHT, camera_aware=True)["quick"])
    teacher = centerpoint(lidar_profiles()["quick"]).eval()
    batch = make_batch(batch_size=1, n_boxes=3)
    out_s = student(batch)
    with torch.no_grad():
        out_t = teacher(batch)
    grid, s_bev, t_bev = student.grid, out_s["bev"], out_t["bev"]
    assert s_bev.shape == t_bev.shape  # a profile's student and teacher share the BEV grid

    ids = tigdistill.object_id_maps(batch, downsample=student.downsample, depth_range=(0.1, float("inf")))
    assert ids.shape == batch["depth"].shape
    fg = ids > 0
    assert fg.sum() > 0 and bool((batch["depth"][fg] > 0).all())  # foreground cells carry depth GT

    f_s, f_t = tigdistill.keypoint_features(s_bev, t_bev, batch["gt_boxes"], grid, tigdistill.TiGConfig())
    losses = {
        "rcd": rayd3d.rcd(s_bev, t_bev, batch["gt_boxes"], grid, rayd3d.RayD3DConfig(), torch.Generator().manual_seed(0)),
        "rwd": rayd3d.rwd(s_bev, t_bev, batch["gt_boxes"], grid, rayd3d.RayD3DConfig()),
        "res": rayd3d.response_loss(out_s["preds"], out_t["preds"]),
        "inner_depth": tigdistill.inner_depth_loss(out_s["depth"], batch["depth"], ids, student.bins.centres()),
        "inter_channel": tigdistill.inter_channel_loss(f_s, f_t),
        "inter_keypoint": tigdistill.inter_keypoint_loss(f_s, f_t),
        "dense": dense.dense_mse_loss(s_bev, t_bev),
        "bevdistill": dense.fg_weighted_mse_loss(
            s_bev, t_bev, dense.gaussian_foreground(student.head, batch["gt_boxes"], batch["gt_labels"])
        ),
    }
    for name, value in losses.items():
        assert value.ndim == 0 and torch.isfinite(value) and value.item() > 0, name
    sum(losses.values()).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert student.head.heatmap[0][-1].weight.grad.abs().sum() > 0
