"""Radar encoder, the camera-radar student ``bevdepth-radar``, and radar under camera corruptions."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from baselines import bevdepth, bevdepth_radar
from baselines.common.geometry import BEVGrid
from baselines.common.radar import RADAR_DIM, RadarEncoder
from robobench.conditions import Condition
from robobench.data.dataset import collate, make_dataset
from robobench.errors import UserError
from robobench.registry import get_entry
from tests.helpers.batch_factory import make_batch
from tests.helpers.radar import radar_on_boxes
from tests.helpers.training import train_predict_evaluate

#: The quick profile's grid: 64 x 64 cells of 1.6 m over [-51.2, 51.2] m.
GRID = BEVGrid(-51.2, 51.2, -51.2, 51.2, -5.0, 3.0, 1.6)


def test_encoder_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    enc = RadarEncoder(GRID, channels=8)
    radar = [radar_on_boxes(torch.tensor([[10.0, -4.0], [-20.0, 30.0]])), torch.zeros(0, RADAR_DIM)]
    out = enc(radar)
    assert out.shape == (2, 8, 64, 64)
    out.square().mean().backward()
    pfn = enc.pillars.pfn[0].weight
    assert pfn.shape == (8, 3 + 4 + 5)  # x y z, 4 radar measurements, 5 pillar offsets
    assert pfn.grad is not None and float(pfn.grad.abs().sum()) > 0
    assert float(enc.spread[0].weight.grad.abs().sum()) > 0


def test_radar_measurements_reach_the_features() -> None:
    """RCS, velocity and time lag are PFN inputs: changing one of them changes the pillar feature."""
    torch.manual_seed(0)
    enc = RadarEncoder(GRID, channels=8).eval()
    pts = torch.tensor([[10.0, -4.0, 0.5, 5.0, 1.0, -2.0, 0.02]])
    base = enc.pillars([pts])
    for col in range(3, RADAR_DIM):
        moved = pts.clone()
        moved[0, col] += 3.0
        assert not torch.allclose(enc.pillars([moved]), base), col


def test_object_radar_points_land_in_the_object_cell() -> None:
    """Returns around a box centre at (10.0, -4.0) fill cell ix = floor(61.2 / 1.6) = 38,
    iy = floor(47.2 / 1.6) = 29 only.
    """
    torch.manual_seed(0)
    enc = RadarEncoder(GRID, channels=16).eval()
    pts = radar_on_boxes(torch.tensor([[10.0, -4.0]]), per_box=5)
    with torch.no_grad():
        canvas = enc.pillars([pts])[0]  # before the spreading conv
    occupied = torch.nonzero(canvas.abs().sum(0) > 0).tolist()
    assert occupied == [[29, 38]]


def test_points_off_the_grid_are_dropped() -> None:
    enc = RadarEncoder(GRID, channels=4).eval()
    far = torch.tensor([[70.0, 0.0, 0.5, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 9.0, 1.0, 0.0, 0.0, 0.0]])
    with torch.no_grad():
        assert float(enc.pillars([far]).abs().sum()) == 0.0


def test_single_point_trains_like_its_duplicate() -> None:
    """One point on the grid in training: duplicated, so BatchNorm has two rows (the pillar is unchanged)."""
    torch.manual_seed(0)
    enc = RadarEncoder(GRID, channels=4).train()
    one = torch.tensor([[10.0, -4.0, 0.5, 5.0, 1.0, -2.0, 0.02]])
    torch.testing.assert_close(enc([one]), enc([one.repeat(2, 1)]))
    with pytest.raises(ValueError, match="radar points"):
        enc([torch.zeros(3, 5)])


def test_profiles_are_bevdepth_plus_radar() -> None:
    for name, prof in bevdepth_radar.PROFILES.items():
        base = bevdepth.PROFILES[name]
        assert prof["data"] == {**base["data"], "radar": True, "radar_sweeps": bevdepth_radar.RADAR_SWEEPS[name]}
        assert prof["model"] == {**base["model"], "radar": bevdepth_radar.RADAR_MODEL}
        assert prof["train"] == base["train"]


def _quick_model_and_batch() -> tuple[torch.nn.Module, dict]:
    cfg = get_entry("bevdepth-radar").config("quick")
    torch.manual_seed(0)
    model = get_entry("bevdepth-radar").build(cfg)
    h, w = cfg["data"]["input_size"]
    batch = make_batch(2, h, w, cfg["data"]["depth_downsample"], n_boxes=3)
    batch["radar"] = [radar_on_boxes(boxes, seed=i) for i, boxes in enumerate(batch["gt_boxes"])]
    return model, batch


def test_quick_forward_fuses_camera_and_radar() -> None:
    """The two BEV branches and their fusion, and the radar branch trained through it (the contract's checks,
    decoding included, run on every entry in tests/robobench/test_contract.py)."""
    model, batch = _quick_model_and_batch()
    out = model(batch)
    g = model.grid
    assert out["bev_cam"].shape == (2, 32, g.ny, g.nx) and out["bev_radar"].shape == (2, 32, g.ny, g.nx)
    assert out["bev_raw"].shape == (2, 32, g.ny, g.nx) and out["bev"].shape == (2, 64, g.ny, g.nx)
    losses = model.loss(batch, out)
    assert set(losses) == {"heatmap", "bbox", "depth"}
    sum(losses.values()).backward()
    assert float(model.radar.pillars.pfn[0].weight.grad.abs().sum()) > 0  # radar is trained through the fusion


def test_radar_changes_the_prediction() -> None:
    model, batch = _quick_model_and_batch()
    model.eval()
    with torch.no_grad():
        with_radar = model(batch)["preds"]["heatmap"][0]
        batch["radar"] = [torch.zeros(0, RADAR_DIM) for _ in batch["radar"]]
        without = model(batch)["preds"]["heatmap"][0]
    assert not torch.allclose(with_radar, without)


def test_config_errors_name_the_key() -> None:
    cfg = get_entry("bevdepth-radar").config("quick")
    with pytest.raises(UserError, match="data.radar"):
        get_entry("bevdepth-radar").build({**cfg, "data": {**cfg["data"], "radar": False}})
    with pytest.raises(UserError, match="model.temporal"):
        get_entry("bevdepth-radar").build({**cfg, "model": {**cfg["model"], "temporal": True}})


@pytest.mark.slow
def test_dataset_never_corrupts_radar(tiny_world) -> None:
    """The eight corruptions are camera corruptions: radar points are the clean ones under every condition,
    in evaluation and with training-time augmentation."""
    cfg = get_entry("bevdepth-radar").config("quick")["data"]
    clean = make_dataset(tiny_world.dataroot, tiny_world.version, tiny_world.val_split, cfg)
    ref = clean[0]
    assert ref["radar"].shape[0] > 0 and ref["radar"].shape[1] == RADAR_DIM
    for name in ("Fog:hard", "CameraCrash:hard", "FrameLost:hard", "Snow:mid"):
        ds = make_dataset(
            tiny_world.dataroot, tiny_world.version, tiny_world.val_split, cfg, condition=Condition.parse(name)
        )
        item = ds[0]
        assert not torch.equal(item["imgs"], ref["imgs"]), name  # the views are corrupted ...
        torch.testing.assert_close(item["radar"], ref["radar"], rtol=0, atol=0)  # ... the radar is not
    train = make_dataset(tiny_world.dataroot, tiny_world.version, tiny_world.val_split, cfg, train=True)
    torch.testing.assert_close(train[0]["radar"], ref["radar"], rtol=0, atol=0)


@pytest.mark.slow
def test_real_radar_lies_on_the_objects(tiny_world) -> None:
    """Most radar returns of the tiny world fall within 1 m of a GT box footprint (ego frames agree)."""
    from baselines.distill.bev_sampling import points_in_boxes

    cfg = get_entry("bevdepth-radar").config("quick")["data"]
    ds = make_dataset(tiny_world.dataroot, tiny_world.version, tiny_world.train_split, cfg)
    batch = collate([ds[0], ds[len(ds) - 1]])
    for radar, boxes in zip(batch["radar"], batch["gt_boxes"]):
        grown = boxes.clone()
        grown[:, 3:5] += 2.0
        on_objects = points_in_boxes(radar[:, :2], grown).any(0)
        assert on_objects.float().mean() > 0.5


@pytest.mark.slow
def test_quick_train_predict_evaluate(tiny_world, tmp_path: Path) -> None:
    """A few iterations of ``bevdepth-radar`` on the tiny world, then predict and evaluate with the devkit."""
    train_predict_evaluate("bevdepth-radar", tiny_world, tmp_path)
