"""The model contract (:mod:`robobench.contract`) on every registered entry, found through the registry.

One test per entry: it builds from its ``quick`` profile, a forward pass on a tiny random batch gives
the contract's outputs (shapes, finite values, depth probabilities), the losses are finite scalars
that reach the parameters, and predict's path (fresh build, trained weights, the exported model in
eval mode) decodes boxes in the results format. An entry registered later (a plugin, a new baseline,
an entry file) is checked without being listed anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from robobench import registry
from robobench.registry import Entry, Role, get_entry, load_entry_file
from tests.helpers.entry_contract import check_entry_contract, registered_entry_names
from tests.helpers.paths import ROOT

EXAMPLE = (ROOT / "examples" / "my_method.py").resolve()
EXAMPLE_ENTRIES = {"my-bevdet-wide", "my-bevdet-bevkd"}


@pytest.mark.parametrize("name", registered_entry_names())
def test_entry_honours_the_model_contract(name: str, tmp_path: Path) -> None:
    check_entry_contract(get_entry(name), tmp_path)


def test_an_entry_registered_later_is_checked_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The example's two entries, registered from their file, join the checked names and pass."""
    # a registry as before the file was loaded (another test may have loaded it); restored afterwards
    others = {n: e for n, e in registry._REGISTRY.items() if n not in EXAMPLE_ENTRIES}
    monkeypatch.setattr(registry, "_REGISTRY", others)
    monkeypatch.setattr(registry, "_LOADED_FILES", {p: m for p, m in registry._LOADED_FILES.items() if p != EXAMPLE})
    before = set(registered_entry_names())
    added = set(load_entry_file(EXAMPLE))
    assert added == EXAMPLE_ENTRIES and not added & before
    assert set(registered_entry_names()) == before | added
    for name in sorted(added):
        check_entry_contract(get_entry(name), tmp_path / name)


class TinyDetector(nn.Module):
    """A small model honouring the contract; ``broken`` names one way of breaking it."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.broken = cfg["model"].get("broken")
        self.conv = nn.Conv2d(3, 4, 3, stride=4)
        self.score = nn.Linear(4, 2)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        b, n = batch["imgs"].shape[:2]
        feats = self.conv(batch["imgs"].flatten(0, 1)).relu()
        bev = nn.functional.adaptive_avg_pool2d(feats, (8, 8)).view(b, n, 4, 8, 8).mean(1)
        preds = self.score(bev.mean(dim=(2, 3)))
        return {"bev": bev.flatten(2) if self.broken == "bev_dims" else bev, "preds": preds}

    def loss(self, batch: dict[str, Any], outputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        loss = outputs["preds"].pow(2).mean()
        return {"score": loss * float("nan") if self.broken == "nan_loss" else loss}

    def decode(self, batch: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, torch.Tensor]]:
        scores = outputs["preds"].sigmoid().sort(dim=1, descending=True).values
        if self.broken == "score_order":
            scores = scores.flip(1)
        return [
            {
                "boxes": torch.zeros(2, 9 if self.broken != "box_columns" else 7),
                "scores": s,
                "labels": torch.zeros(2, dtype=torch.long),
                "attrs": torch.full((2,), -1, dtype=torch.long),
            }
            for s in scores
        ]


def _tiny(broken: str | None = None) -> Entry:
    cfg = {"data": {"input_size": [64, 176], "depth_downsample": 8}, "model": {"broken": broken}, "train": {}}
    return Entry(name="tiny-detector", role=Role.STUDENT, build=TinyDetector, profiles={"quick": cfg})


def test_a_small_model_honouring_the_contract_passes(tmp_path: Path) -> None:
    check_entry_contract(_tiny(), tmp_path)


@pytest.mark.parametrize("broken", ["bev_dims", "nan_loss", "score_order", "box_columns"])
def test_a_broken_contract_is_caught(broken: str, tmp_path: Path) -> None:
    with pytest.raises(AssertionError):
        check_entry_contract(_tiny(broken), tmp_path)
