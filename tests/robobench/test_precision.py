"""CPU mixed precision: the ``train.precision`` switch, its hardware fallback, and the float32 islands."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import torch

import robobench.precision as precision
from baselines.common.bev_pool import bev_pool, bev_pool_reference, pool_indices
from baselines.common.geometry import BEVGrid
from robobench.errors import UserError
from robobench.predict import predict
from robobench.train import STATS_FILE, TrainConfig, load_checkpoint
from tests.helpers.training import train_on

CPU = torch.device("cpu")
needs_bf16 = pytest.mark.skipif(not precision.cpu_bf16_native(), reason="this CPU has no native bfloat16")


def test_precision_is_validated_and_defaults_to_float32() -> None:
    assert TrainConfig.from_dict({}).precision == "fp32"
    with pytest.raises(UserError, match=r"train.precision expects one of 'auto', 'fp32', 'bf16', got 'fp16'"):
        TrainConfig.from_dict({"precision": "fp16"})


def test_autocast_dtype_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    assert precision.cpu_autocast_dtype("fp32", CPU) is None
    assert precision.cpu_autocast_dtype("bf16", torch.device("cuda")) is None  # CUDA keeps train.amp
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    assert precision.cpu_autocast_dtype("auto", CPU) is torch.bfloat16
    assert precision.cpu_autocast_dtype("bf16", CPU) is torch.bfloat16
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: False)
    assert precision.cpu_autocast_dtype("auto", CPU) is None
    with pytest.warns(UserWarning, match="no native bfloat16"):
        assert precision.cpu_autocast_dtype("bf16", CPU) is None


def test_native_bf16_detection_falls_back_to_cpuinfo_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    info = tmp_path / "cpuinfo"
    read_flags = precision._cpuinfo_flags
    monkeypatch.setattr(precision, "_cpuinfo_flags", lambda: read_flags(str(info)))
    info.write_text("processor : 0\nflags : fpu sse avx512f avx512_bf16\n")
    assert precision.cpu_bf16_native()
    info.write_text("processor : 0\nflags : fpu sse avx2\n")
    assert not precision.cpu_bf16_native()


def test_to_float32_casts_low_precision_floats_only() -> None:
    out = precision.to_float32(
        {
            "a": [torch.ones(2, dtype=torch.bfloat16)],
            "b": torch.ones(1, dtype=torch.long),
            "c": torch.ones(1, dtype=torch.float64),
            "d": "x",
        }
    )
    assert out["a"][0].dtype == torch.float32 and out["b"].dtype == torch.long and out["c"].dtype == torch.float64
    assert out["d"] == "x"


@needs_bf16
def test_bev_pool_stays_float32_under_bf16_autocast() -> None:
    """The sparse CSR product has no bfloat16 kernel: under autocast the pooling must still run, in float32."""
    grid = BEVGrid(-4.0, 4.0, -4.0, 4.0, -2.0, 2.0, 1.0)
    gen = torch.Generator().manual_seed(0)
    points = torch.rand(1, 2, 3, 4, 5, 3, generator=gen) * 10 - 5
    depth = torch.rand(2, 3, 4, 5, generator=gen).softmax(1).requires_grad_()
    feat = torch.randn(2, 6, 4, 5, generator=gen).bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = bev_pool(depth, feat, pool_indices(points, grid))
    assert out.dtype == torch.float32
    ref = bev_pool_reference(depth.detach(), feat.detach().float(), points, grid)
    torch.testing.assert_close(out.detach(), ref, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert depth.grad is not None and feat.grad is not None and torch.isfinite(feat.grad.float()).all()


@needs_bf16
@pytest.mark.slow
def test_bf16_training_and_prediction_of_bevdet(tiny_world, tmp_path: Path) -> None:
    """``train.precision=bf16`` trains bevdet through the engine (finite, decreasing loss, recorded),
    and prediction uses it unless told otherwise; its boxes stay close to the float32 prediction's."""
    final = train_on(
        tiny_world,
        "bevdet",
        tmp_path / "bf16",
        overrides={
            "train": {
                "epochs": 3,
                "max_train_samples": 1,
                "batch_size": 1,
                "warmup_iters": 0,
                "lr": 2e-3,
                "precision": "bf16",
            }
        },
    )
    history = load_checkpoint(final)["history"]
    assert all(math.isfinite(x) for x in history) and history[-1] < history[0]
    assert json.loads((final.parent / STATS_FILE).read_text())["precision"] == "bfloat16"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # native bf16: no fallback warning
        out = {
            p: predict(
                "bevdet",
                final,
                "clean",
                tiny_world.dataroot,
                tiny_world.version,
                tiny_world.val_split,
                tmp_path / f"{p}.json",
                precision=p,
                progress=False,
            )
            for p in ("bf16", "fp32")
        }
    boxes = {p: json.loads(o.results_path.read_text())["results"] for p, o in out.items()}
    assert boxes["bf16"].keys() == boxes["fp32"].keys()
    top = {
        p: sorted((b["detection_score"] for r in res.values() for b in r), reverse=True)[:20]
        for p, res in boxes.items()
    }
    assert top["bf16"] == pytest.approx(top["fp32"], abs=0.05)


@needs_bf16
@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "bevdepth",
        "bevdepth4d",
        "bevformer",
        "bevdepth-radar",
        "bevdet-rayd3d",
        "bevdepth-tig",
        "bevdepth-radar-imkd",
        "centerpoint",
    ],
)
def test_bf16_training_step_of_every_model_family_is_finite(name: str) -> None:
    """One bf16 training step per model family (depth supervision, temporal fusion, attention, radar, each
    distillation recipe with its teacher): float32 losses, finite loss and gradients."""
    from robobench.registry import get_entry
    from robobench.train import forward_and_loss
    from tests.helpers.batch_factory import make_batch

    entry = get_entry(name)
    cfg = entry.config("quick")
    torch.manual_seed(0)
    model = entry.build(cfg)
    if entry.teacher:
        teacher = get_entry(entry.teacher)
        model.set_teacher(teacher.build(teacher.config("quick")))
    h, w = cfg["data"]["input_size"]
    batch = make_batch(2, h, w, cfg["data"]["depth_downsample"], n_boxes=8, prev=bool(cfg["data"].get("prev_frame")))
    losses = forward_and_loss(model.train(), model, batch, CPU, torch.bfloat16, False)
    assert losses and all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values()), losses
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
