"""robobench.ema: the weight average's arithmetic, its checkpoint, and which weights are evaluated."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robobench.ema import WeightEMA, inference_weights
from robobench.errors import UserError
from robobench.train import FINAL_CKPT, TrainConfig, load_checkpoint
from tests.helpers.tiny_training import tiny_entry
from tests.helpers.training import train_on


def test_average_follows_the_decay_schedule_and_copies_integer_buffers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = WeightEMA(model, decay=0.5)
    expected = model[0].weight.detach().clone()
    for n in range(4):
        with torch.no_grad():
            model[0].weight.add_(1.0)
        model[1].num_batches_tracked += 1
        ema.update(model)
        d = min(0.5, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * model[0].weight.detach()
    assert torch.allclose(ema.shadow["0.weight"], expected)
    assert int(ema.shadow["1.num_batches_tracked"]) == 4 and ema.updates == 4
    again = WeightEMA(model, decay=0.5)
    again.load_state_dict(ema.state_dict())
    assert again.updates == 4 and torch.equal(again.shadow["0.weight"], ema.shadow["0.weight"])
    with pytest.raises(ValueError, match="decay"):
        WeightEMA(model, decay=1.0)


def test_decay_is_validated_in_the_train_config():
    assert TrainConfig.from_dict({"ema_decay": 0.999}).ema_decay == 0.999
    with pytest.raises(UserError, match="ema_decay"):
        TrainConfig.from_dict({"ema_decay": 1.5})


def test_checkpoint_carries_the_average_and_evaluation_uses_it(tiny_world, tmp_path):
    entry = tiny_entry()
    overrides = {"train": {"epochs": 1, "max_train_samples": 4, "ema_decay": 0.9}}
    final = train_on(
        tiny_world,
        entry,
        tmp_path / "ema",
        seed=5,
        overrides=overrides,
    )
    ckpt = load_checkpoint(final)
    assert ckpt["ema"]["updates"] == ckpt["iteration"] > 0
    assert inference_weights(ckpt) is ckpt["ema"]["shadow"]
    assert not torch.equal(ckpt["ema"]["shadow"]["conv.weight"], ckpt["model"]["conv.weight"])
    plain = train_on(
        tiny_world,
        entry,
        tmp_path / "plain",
        seed=5,
        overrides={"train": {"epochs": 1, "max_train_samples": 4}},
    )
    ckpt = load_checkpoint(plain)
    assert "ema" not in ckpt and inference_weights(ckpt) is ckpt["model"]
    assert (tmp_path / "ema" / FINAL_CKPT).is_file()
