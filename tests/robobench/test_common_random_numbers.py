"""Common random numbers: a distilled entry and its base student, trained with the same seed, start from the
same student weights and see the same samples in the same order with the same augmentation draws, so their
same-seed difference is the recipe's and a paired test (robobench.stats.paired) can use it."""

from __future__ import annotations

import pytest
import torch

from robobench.data.dataset import BEVDataset, DataConfig
from robobench.data.index import load_index
from robobench.registry import discover, get_entry
from robobench.train import seed_everything


def _start(name: str, world, seed: int):
    """What ``train_entry`` builds before its first step: the dataset, then the model, after seeding."""
    entry = get_entry(name)
    cfg = entry.config("quick")
    seed_everything(seed)
    dataset = BEVDataset(
        load_index(world.dataroot, world.version),
        world.train_split,
        DataConfig.from_dict(cfg["data"]),
        train=True,
        seed=seed,
    )
    model = entry.build(cfg)
    return getattr(model, "student", model), dataset


@pytest.mark.parametrize("recipe, base", [("bevdet-rayd3d", "bevdet"), ("bevdepth-tig", "bevdepth")])
def test_recipe_and_base_share_initialisation_and_augmentation(tiny_world, recipe, base):
    discover()
    student, data = _start(recipe, tiny_world, seed=3)
    plain, base_data = _start(base, tiny_world, seed=3)
    theirs = plain.state_dict()
    assert set(student.state_dict()) == set(theirs)
    assert all(torch.equal(v, theirs[k]) for k, v in student.state_dict().items())
    for epoch in (0, 2):
        data.set_epoch(epoch)
        base_data.set_epoch(epoch)
        a, b = data[1], base_data[1]
        assert torch.equal(a["imgs"], b["imgs"]) and torch.equal(torch.as_tensor(a["bda"]), torch.as_tensor(b["bda"]))
    other, _ = _start(base, tiny_world, seed=4)  # another seed does change them
    assert not all(torch.equal(v, other.state_dict()[k]) for k, v in theirs.items())
