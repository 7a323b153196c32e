"""The smallest model a test can register as an entry."""

from __future__ import annotations

import torch


class ContractModel(torch.nn.Module):
    """The smallest model honouring the model contract (``forward``, ``loss``, ``decode``)."""

    def forward(self, batch):
        return {}

    def loss(self, batch, outputs):
        return {}

    def decode(self, batch, outputs):
        return []
