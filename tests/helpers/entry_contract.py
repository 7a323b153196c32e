"""What every registered entry must do, as :mod:`robobench.contract` states it, checked on a tiny random batch.

:func:`check_entry_contract` builds the entry from its profile configuration the way the registry checks
it, runs one training step (forward, named scalar losses, backward) and then the inference path of
:func:`robobench.predict.predict` (a fresh build loading the trained weights, the model it exports,
eval mode, ``decode``), asserting the shapes and values the contract and the results format require.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from robobench.constants import ATTRIBUTES, DETECTION_CLASSES
from robobench.contract import CAMERA_KEYS, DETECTION_KEYS, BEVModel, validate_batch
from robobench.data.dataset import DataConfig
from robobench.registry import Entry, check_builder, get_entry, list_entries
from robobench.train import save_checkpoint
from tests.helpers.batch_factory import make_batch
from tests.helpers.radar import radar_on_boxes

#: The profile the contract is checked in (every entry has it; the larger ones are benchmark-scale).
PROFILE = "quick"
BATCH_SIZE = 2
#: Share of the trainable parameters one training step must reach with a non-zero gradient. Not all:
#: head branches of classes without a box in the batch get none, nor do parameters that only feed
#: projections initialised at zero (BEVFormer's positional embedding, on the first step).
GRADIENT_SHARE = 0.9


def registered_entry_names() -> list[str]:
    """Every entry the registry knows (built-ins and installed plugins), by name: what the contract
    test is parametrised over, so that an entry registered anywhere is checked without listing it."""
    return [entry.name for entry in list_entries()]


def contract_batch(cfg: dict[str, Any], batch_size: int = BATCH_SIZE, seed: int = 0) -> dict[str, Any]:
    """A random batch shaped by the entry's data configuration: input size, depth downsample, the previous
    frame, radar returns on the boxes, and no camera keys for a LiDAR-only entry."""
    data = DataConfig.from_dict(cfg.get("data"))
    height, width = data.input_size
    batch = make_batch(batch_size, height, width, data.depth_downsample, n_boxes=3, prev=data.prev_frame, seed=seed)
    if data.radar:
        batch["radar"] = [radar_on_boxes(boxes, seed=i) for i, boxes in enumerate(batch["gt_boxes"])]
    if not data.camera:
        for key in (*CAMERA_KEYS, "prev", "depth_fg"):
            batch.pop(key, None)
    validate_batch(batch)
    return batch


def contract_overrides(entry: Entry, tmp_path: Path) -> dict[str, Any]:
    """Config overrides of the check: no ImageNet download, and for a distillation entry a checkpoint of
    its (untrained) teacher, passed the way the trainer passes it (``teacher_checkpoint``)."""
    overrides: dict[str, Any] = {}
    if "pretrained" in entry.config(PROFILE).get("model", {}).get("backbone", {}):
        overrides["model"] = {"backbone": {"pretrained": None}}
    if entry.teacher is not None:
        teacher_entry = get_entry(entry.teacher)
        torch.manual_seed(1)
        teacher = check_builder(teacher_entry, PROFILE, contract_overrides(teacher_entry, tmp_path))
        path = tmp_path / f"{entry.teacher}-teacher.pt"
        save_checkpoint(
            {"model": teacher.state_dict(), "config": teacher_entry.config(PROFILE), "meta": {"entry": entry.teacher}},
            path,
        )
        overrides["teacher_checkpoint"] = str(path)
    return overrides


def _check_outputs(cfg: dict[str, Any], batch: dict[str, Any], out: Any) -> None:
    bsz = len(batch["sample_tokens"])
    assert isinstance(out, dict) and {"bev", "preds"} <= set(out), f"forward must return bev and preds, got {out}"
    bev = out["bev"]
    assert bev.ndim == 4 and bev.shape[0] == bsz, f"bev must be (B, C, Y, X), got {tuple(bev.shape)}"
    assert bool(torch.isfinite(bev).all()), "bev has non-finite values"
    grid = cfg.get("model", {}).get("bev")
    if isinstance(grid, dict) and {"x", "y", "res"} <= set(grid):
        ny = round((grid["y"][1] - grid["y"][0]) / grid["res"])
        nx = round((grid["x"][1] - grid["x"][0]) / grid["res"])
        assert bev.shape[2:] == (ny, nx), f"bev must cover model.bev's {ny} x {nx} cells, got {tuple(bev.shape)}"
    if "depth" in out:
        start, stop, step = cfg["model"]["depth_bins"]
        n_views = batch["imgs"].shape[1]
        h, w = batch["depth"].shape[-2:]
        depth = out["depth"]
        assert depth.shape == (bsz * n_views, len(torch.arange(start, stop, step)), h, w), tuple(depth.shape)
        assert bool((depth >= 0).all()), "depth bin probabilities must not be negative"
        torch.testing.assert_close(depth.sum(1), torch.ones(bsz * n_views, h, w))


def _check_training_step(model: torch.nn.Module, batch: dict[str, Any], out: dict[str, Any]) -> None:
    losses = model.loss(batch, out)
    assert isinstance(losses, dict) and losses, "loss must return named losses"
    for name, value in losses.items():
        assert isinstance(name, str) and isinstance(value, torch.Tensor) and value.ndim == 0, (name, value)
        assert bool(torch.isfinite(value)), f"loss {name} is {value}"
    sum(losses.values()).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable, "the model has nothing to train"
    for name, p in model.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, f"frozen parameter {name} got a gradient"
        elif p.grad is not None:
            assert bool(torch.isfinite(p.grad).all()), f"gradient of {name} is not finite"
    reached = sum(p.grad is not None and bool(p.grad.abs().sum() > 0) for _, p in trainable)
    assert reached >= GRADIENT_SHARE * len(trainable), f"only {reached} of {len(trainable)} parameters got a gradient"


def _check_detections(batch: dict[str, Any], dets: Any) -> None:
    assert isinstance(dets, list) and len(dets) == len(batch["sample_tokens"]), "decode gives one dict per sample"
    for det in dets:
        assert set(DETECTION_KEYS) <= set(det), f"detections need {DETECTION_KEYS}, got {sorted(det)}"
        k = det["boxes"].shape[0]
        assert det["boxes"].shape == (k, 9) and det["boxes"].is_floating_point(), tuple(det["boxes"].shape)
        assert bool(torch.isfinite(det["boxes"]).all()), "boxes must be finite"
        assert det["scores"].shape == det["labels"].shape == det["attrs"].shape == (k,)
        scores, labels, attrs = det["scores"], det["labels"], det["attrs"]
        assert bool(((scores >= 0) & (scores <= 1)).all()), "scores must lie in [0, 1] (the results format)"
        assert bool((scores[:-1] >= scores[1:]).all()), "detections must come best first"
        assert not labels.is_floating_point() and not attrs.is_floating_point()
        assert bool(((labels >= 0) & (labels < len(DETECTION_CLASSES))).all()), labels
        assert bool(((attrs >= -1) & (attrs < len(ATTRIBUTES))).all()), attrs


def check_entry_contract(entry: Entry, tmp_path: Path) -> None:
    """Build ``entry`` in :data:`PROFILE`, train it one step on a contract batch, predict with a fresh
    build of the trained weights, and assert the contract at each step."""
    overrides = contract_overrides(entry, tmp_path)
    torch.manual_seed(0)
    model = check_builder(entry, PROFILE, overrides)
    assert isinstance(model, BEVModel)
    cfg = entry.config(PROFILE)
    batch = contract_batch(cfg)

    model.train()
    out = model(batch)
    _check_outputs(cfg, batch, out)
    _check_training_step(model, batch, out)

    # predict's path: build, load the trained weights, run what the model exports for inference
    fresh = check_builder(entry, PROFILE, overrides)
    fresh.load_state_dict(model.state_dict())
    export = getattr(fresh, "inference_model", None)
    inference = export() if callable(export) else fresh
    inference.eval()
    with torch.no_grad():
        out = inference(batch)
        _check_outputs(cfg, batch, out)
        _check_detections(batch, inference.decode(batch, out))
