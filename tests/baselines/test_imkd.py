"""IMKD: the intensity map and the two distillation losses on hand-computed tensors, the
intensity-guided fusion, the registered entry and its ablations, and a quick end-to-end run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from baselines import bevdepth_radar, centerpoint, imkd
from baselines.bevdepth_radar import ConcatFusion
from baselines.distill.imkd_losses import bev_intensity, fused_distill_loss, radar_distill_loss
from robobench.errors import UserError
from robobench.registry import Role, get_entry
from tests.helpers.batch_factory import make_batch
from tests.helpers.radar import radar_on_boxes
from tests.helpers.training import train_predict_evaluate
from tests.helpers.training import train_on

ENTRIES = ("bevdepth-radar-imkd", "bevdepth-radar-imkd-no1", "bevdepth-radar-imkd-no2", "bevdepth-radar-imkd-no3")


def _teacher_map() -> torch.Tensor:
    """``(1, 2, 1, 2)``: cell 0 holds (3, 4) (norm 5), cell 1 holds (0, 1) (norm 1)."""
    return torch.tensor([[[[3.0, 0.0]], [[4.0, 1.0]]]])


def test_intensity_is_the_channel_norm_over_the_sample_maximum() -> None:
    feat = torch.cat([_teacher_map(), torch.zeros(1, 2, 1, 2)])
    torch.testing.assert_close(bev_intensity(feat), torch.tensor([[[1.0, 0.2]], [[0.0, 0.0]]]))


def test_radar_loss_hand_computed() -> None:
    """W = (1, 0.2); student 0: (1 * (9 + 16) + 0.2 * (0 + 1)) / 1.2 = 21; dL/dS = 2 W (S - T) / 1.2."""
    teacher = _teacher_map().requires_grad_()
    student = torch.zeros(1, 2, 1, 2, requires_grad=True)
    loss = radar_distill_loss(student, teacher)
    torch.testing.assert_close(loss, torch.tensor(21.0))
    loss.backward()
    expected = torch.tensor([[[[-6.0 / 1.2, 0.0]], [[-8.0 / 1.2, -0.4 / 1.2]]]])
    torch.testing.assert_close(student.grad, expected)
    assert teacher.grad is None  # the teacher is detached


def test_radar_loss_ignores_cells_without_lidar() -> None:
    teacher = torch.zeros(1, 2, 1, 3)
    teacher[0, :, 0, 1] = torch.tensor([3.0, 4.0])  # LiDAR in the middle cell only
    student = torch.randn(1, 2, 1, 3, requires_grad=True)
    radar_distill_loss(student, teacher).backward()
    assert float(student.grad[..., 0].abs().sum()) == 0.0 and float(student.grad[..., 2].abs().sum()) == 0.0
    assert float(student.grad[..., 1].abs().sum()) > 0


@pytest.mark.parametrize(
    ("foreground", "expected"),
    [
        ([[[0.0, 1.0]]], 1.0),  # W = (0, 0.2): only cell 1, error (1 - 0)^2 + (1 - 1)^2 = 1
        ([[[1.0, 1.0]]], 11.0),  # W = (1, 0.2): (1 * (4 + 9) + 0.2 * 1) / 1.2
        ([[[0.5, 0.0]]], 13.0),  # W = (0.5, 0): cell 0 only, (1 - 3)^2 + (1 - 4)^2
    ],
)
def test_fused_loss_hand_computed(foreground: list, expected: float) -> None:
    student = torch.ones(1, 2, 1, 2, requires_grad=True)
    loss = fused_distill_loss(student, _teacher_map(), torch.tensor(foreground))
    torch.testing.assert_close(loss, torch.tensor(expected))


def test_fused_loss_without_foreground_is_zero_with_a_graph() -> None:
    student = torch.ones(1, 2, 1, 2, requires_grad=True)
    loss = fused_distill_loss(student, _teacher_map(), torch.zeros(1, 1, 2))
    assert float(loss.detach()) == 0.0 and loss.requires_grad
    loss.backward()
    assert float(student.grad.abs().sum()) == 0.0


def test_intensity_guided_fusion_gates_each_modality() -> None:
    """With the gate conv zeroed and biases (+20, -20), the camera passes and the radar is shut out."""
    torch.manual_seed(0)
    fusion = imkd.IntensityGuidedFusion(4, 3, 5).eval()
    cam, radar = torch.randn(2, 4, 6, 6), torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        fusion.gate.weight.zero_()
        fusion.gate.bias.copy_(torch.tensor([20.0, -20.0]))
        out = fusion(cam, radar)
        camera_only = fusion.fuse(torch.cat([cam, torch.zeros_like(radar)], dim=1))
    assert out.shape == (2, 5, 6, 6)
    torch.testing.assert_close(out, camera_only, atol=1e-6, rtol=0)


def test_intensity_guided_fusion_reads_the_radar_intensity() -> None:
    """The gate's extra input channel is I(radar): weighting only it changes the output where the radar is strong."""
    torch.manual_seed(0)
    fusion = imkd.IntensityGuidedFusion(2, 2, 3).eval()
    cam, radar = torch.randn(1, 2, 5, 5), torch.zeros(1, 2, 5, 5)
    radar[0, :, 2, 2] = 1.0
    with torch.no_grad():
        fusion.gate.weight.zero_()
        fusion.gate.bias.zero_()
        before = fusion(cam, radar)
        fusion.gate.weight[0, 4, 1, 1] = 10.0  # camera gate from the intensity channel, centre tap
        after = fusion(cam, radar)
    changed = (after - before).abs().sum(1)[0] > 1e-6
    assert bool(changed[1:4, 1:4].any()) and not bool(changed[0].any()) and not bool(changed[:, 0].any())


def test_entries_and_ablations_are_registered() -> None:
    for name in ENTRIES:
        entry = get_entry(name)
        assert entry.role is Role.DISTILL and entry.teacher == "centerpoint" and entry.base == "bevdepth-radar"
    quick = {name: get_entry(name).config("quick") for name in ENTRIES}
    assert quick["bevdepth-radar-imkd"]["distill"]["terms"] == {"imkd_radar": 1.0, "imkd_fused": 1.0}
    assert quick["bevdepth-radar-imkd-no1"]["distill"]["terms"] == {"imkd_fused": 1.0}
    assert quick["bevdepth-radar-imkd-no2"]["distill"]["terms"] == {"imkd_radar": 1.0}
    assert quick["bevdepth-radar-imkd-no3"]["distill"]["terms"] == {"imkd_radar": 1.0, "imkd_fused": 1.0}
    assert [quick[n]["model"]["imkd"]["fusion"] for n in ENTRIES] == ["intensity", "intensity", "intensity", "concat"]
    for profile, base in bevdepth_radar.PROFILES.items():
        cfg = get_entry("bevdepth-radar-imkd").config(profile)
        assert cfg["data"] == {**base["data"], **centerpoint.student_data(profile)} and cfg["train"] == base["train"]
        assert {k: v for k, v in cfg["model"].items() if k != "imkd"} == base["model"]


def _distiller(name: str) -> tuple[torch.nn.Module, dict]:
    cfg = get_entry(name).config("quick")
    torch.manual_seed(0)
    model = get_entry(name).build(cfg)
    teacher = get_entry("centerpoint").build(get_entry("centerpoint").config("quick"))
    model.set_teacher(teacher)
    h, w = cfg["data"]["input_size"]
    batch = make_batch(2, h, w, cfg["data"]["depth_downsample"], n_boxes=3)
    batch["radar"] = [radar_on_boxes(boxes, seed=i) for i, boxes in enumerate(batch["gt_boxes"])]
    return model, batch


@pytest.mark.parametrize("name", ENTRIES)
def test_stage_terms_and_fusion_per_entry(name: str) -> None:
    model, batch = _distiller(name)
    model.train()
    out = model(batch)
    losses = model.loss(batch, out)
    terms = set(get_entry(name).config("quick")["distill"]["terms"])
    assert set(losses) == {"heatmap", "bbox", "depth"} | {f"distill_{t}" for t in terms}
    assert all(torch.isfinite(v) and float(v.detach()) > 0 for v in losses.values())
    assert isinstance(model.student.fusion, ConcatFusion if name.endswith("no3") else imkd.IntensityGuidedFusion)
    assert ("radar" in model.adapters) == ("imkd_radar" in terms)
    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    if "imkd_radar" in terms:
        assert float(model.adapters["radar"].weight.grad.abs().sum()) > 0
    model.eval()
    with torch.no_grad():
        assert "teacher" not in model(batch)  # inference runs the student alone


def test_stage1_reaches_radar_cells_with_lidar_only() -> None:
    model, batch = _distiller("bevdepth-radar-imkd")
    model.train()
    out = model(batch)
    loss = model.distill_losses(batch, out)["distill_imkd_radar"]
    (grad,) = torch.autograd.grad(loss, out["bev_radar"])
    lidar = out["teacher"]["bev_raw"].abs().sum(1) > 0  # (B, Y, X) LiDAR-occupied cells
    per_cell = grad.abs().sum(1)
    assert float(per_cell[~lidar].sum()) == 0.0 and float(per_cell[lidar].sum()) > 0


def test_teacher_pillar_width_must_match() -> None:
    cfg = get_entry("bevdepth-radar-imkd").config("quick")
    model = get_entry("bevdepth-radar-imkd").build(cfg)
    teacher_cfg = get_entry("centerpoint").config("quick")
    teacher_cfg["model"] = {**teacher_cfg["model"], "pillars": {"channels": 16, "subdivision": 1}}
    with pytest.raises(UserError, match="teacher_raw_channels"):
        model.set_teacher(get_entry("centerpoint").build(teacher_cfg))
    bad = {**cfg, "model": {**cfg["model"], "imkd": {**cfg["model"]["imkd"], "fusion": "sum"}}}
    with pytest.raises(UserError, match="model.imkd.fusion"):
        imkd.build_imkd(bad)
    with pytest.raises(UserError, match="model.imkd.teacher_raw_channels"):
        imkd.build_imkd({**cfg, "model": {**cfg["model"], "imkd": {"fusion": "concat"}}})


@pytest.mark.slow
def test_quick_train_predict_evaluate(tiny_world, tmp_path: Path) -> None:
    """Teacher trained for two iterations, then two IMKD iterations, prediction and devkit scores."""
    teacher = train_on(
        tiny_world,
        "centerpoint",
        tmp_path / "teacher",
        overrides={"train": {"epochs": 1, "max_train_samples": 4}},
    )
    train_predict_evaluate("bevdepth-radar-imkd", tiny_world, tmp_path / "student", teacher_checkpoint=str(teacher))
