"""The loss terms accept the outputs of the real students and teacher (quick profile)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.bevdepth import DEPTH_LOSS_WEIGHT, bevdepth
from baselines.centerpoint import centerpoint
from baselines.common.profiles import camera_profiles, lidar_profiles
from baselines.distill import dense, rayd3d, tigdistill
from robobench.data.dataset import apply_bev_aug
from tests.helpers.batch_factory import bda_matrix, lift_lidar_depth, make_batch, points_for, sparse_depth


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
        "rcd": rayd3d.rcd(
            s_bev, t_bev, batch["gt_boxes"], grid, rayd3d.RayD3DConfig(), torch.Generator().manual_seed(0)
        ),
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


def _one_car_batch(bda: torch.Tensor) -> dict:
    """A contract batch holding one car ahead-left and its LiDAR points only, the points and the box
    moved by ``bda`` as the Dataset does (after the depth maps, which stay camera-frame)."""
    batch = make_batch(batch_size=1, n_boxes=1)
    box = torch.tensor([[12.0, 5.0, 0.85, 1.9, 4.6, 1.7, 0.4, 1.0, 0.0]])
    points = points_for(box, torch.Generator().manual_seed(1), n_ground=0, per_box=400)
    rig = {k: batch[k][0] for k in ("intrins", "post_rots", "post_trans", "cam2ego")}
    batch["depth"] = sparse_depth(points, rig, 128, 352, 16)[None]
    moved, box_aug, _ = apply_bev_aug(
        bda.double().numpy(), points.double().numpy(), box.double().numpy(), np.zeros((0, 7))
    )
    batch.update(points=[torch.from_numpy(moved).float()], gt_boxes=[torch.from_numpy(box_aug).float()], bda=bda[None])
    return batch


def test_teacher_and_student_put_an_object_on_the_same_cells_under_bda() -> None:
    """The frozen teacher runs on the student's batch: under a BDA its pillars see the augmented
    points, and the student lifts the same LiDAR depths into the augmented frame, so both maps hold
    the car on the same cells; a student ignoring the BDA would not."""
    torch.manual_seed(0)
    student = bevdepth(camera_profiles(depth_loss_weight=DEPTH_LOSS_WEIGHT, camera_aware=True)["quick"]).eval()
    teacher = centerpoint(lidar_profiles()["quick"]).eval()
    bda = bda_matrix(30.0, 1.05, flip_y=True)
    batch = _one_car_batch(bda)
    with torch.no_grad():
        teacher_cells = teacher(batch)["bev_raw"][0].abs().sum(0) > 0
    near_teacher = F.max_pool2d(teacher_cells[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0  # within one cell
    for frame, agree in ((bda, lambda x: x > 0.9), (torch.eye(3), lambda x: x < 0.2)):
        student_cells = lift_lidar_depth(student.view_transformer, batch["depth"], batch, frame[None])[0] > 1e-3
        assert student_cells.sum() >= 2 and teacher_cells.sum() >= 2
        assert agree(float(near_teacher[student_cells].float().mean())), frame
    ids = tigdistill.object_id_maps(batch, student.downsample, (0.1, float("inf")))
    assert torch.equal(ids > 0, batch["depth"] > 0)  # TiG's object ids undo the BDA: every depth cell is the car's
