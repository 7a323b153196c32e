"""A pytest fixture giving a test an empty entry registry (restored afterwards)."""

from __future__ import annotations

import pytest
import torch

from robobench import registry


@pytest.fixture
def clean_registry(monkeypatch):
    """A registry holding only what a test registers (built-ins and plugins count as discovered)."""
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_LOADED_FILES", {})
    monkeypatch.setattr(registry, "_INSTALLED", True)
    return registry._REGISTRY


class ContractModel(torch.nn.Module):
    """The smallest model honouring the model contract (``forward``, ``loss``, ``decode``)."""

    def forward(self, batch):
        return {}

    def loss(self, batch, outputs):
        return {}

    def decode(self, batch, outputs):
        return []
