"""Typed, strict entry configurations: every profile builds, and every bad key or value is one line."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from robobench.cli import main
from robobench.config import build_config, parse_overrides
from robobench.errors import UserError
from robobench.registry import discover, get_entry, register_entry
from robobench.train import TrainConfig, entry_config

PROFILES = [(e.name, p) for e in discover() for p in e.profiles]


@pytest.mark.parametrize(("name", "profile"), PROFILES, ids=[f"{n}-{p}" for n, p in PROFILES])
def test_every_registered_profile_builds_its_typed_config(name: str, profile: str) -> None:
    entry = next(e for e in discover() if e.name == name)
    _, typed = entry_config(entry, profile)
    assert entry.schema is not None, f"built-in entry {name} declares no schema: its model section would go unchecked"
    assert isinstance(typed, entry.schema)


def test_defaults_come_from_the_dataclasses() -> None:
    """A section left out of a profile takes the dataclass defaults (the one place they are written)."""
    bevdet = next(e for e in discover() if e.name == "bevdet")
    cfg = bevdet.config("quick")
    del cfg["model"]["head"]
    typed = bevdet.schema.parse(cfg)
    assert typed.model.head == type(typed.model.head)()
    assert typed.model.backbone.pretrained is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "model.backbone.widht=3",
            r"unknown config key model\.backbone\.widht \(did you mean model\.backbone\.width\?\)",
        ),
        ("train.epocs=2", r"unknown config key train\.epocs \(did you mean train\.epochs\?\)"),
        ("trian.epochs=2", r"unknown config key trian \(did you mean train\?\)"),
        ('train.epochs="two"', r"config train\.epochs expects `int`, got 'two'"),
        ("train.epochs=-1", r"config train\.epochs expects `int` >= 1, got -1"),
        ("train.epochs=[1", r"--set 'train\.epochs=\[1': '\[1' is not valid JSON"),
        ("train.epochs.x=1", r"config train\.epochs expects `int`, got \{'x': 1\}"),
        ("train.lr=0", r"config train\.lr expects `float` > 0\.0, got 0"),
        ("model.backbone.depth=19", r"config model\.backbone\.depth expects one of 18, 34, 50, got 19"),
        (
            'train.num_workers="many"',
            r"config train\.num_workers expects one of 'auto' or `int` >= 0, got 'many'",
        ),
        ("model.depth_bins=[1,2]", r"config model\.depth_bins expects `array` of length 3, got \[1, 2\]"),
        ("model.pillars.channels=8", r"unknown config key model\.pillars; valid keys of model: backbone, bev,"),
        ("distill.terms.rcd=1", r"unknown config key distill; valid keys: data, model, teacher_checkpoint, train"),
        ("data.input_size=[100,352]", r"data\.input_size \[100, 352\] must be divisible by data\.depth_downsample=16"),
        ("model.downsample=8", r"data\.depth_downsample=16 must equal model\.downsample=8"),
    ],
)
def test_bad_overrides_fail_the_dry_run_in_one_line(override: str, message: str, tmp_path: Path, capsys) -> None:
    """Caught when the sweep is planned (no dataset needed, nothing run), not by a failing cell."""
    code = main(
        [
            "sweep",
            "--dry-run",
            "--entries",
            "bevdet",
            "--set",
            override,
            "--out",
            str(tmp_path / "runs"),
            "--dataroot",
            str(tmp_path / "no-world"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("distill.terms.rcdd=1", r"unknown config key distill\.terms\.rcdd \(did you mean distill\.terms\.rcd\?\)"),
        (
            "distill.rayd3d.negatives=uniform",
            r"config distill\.rayd3d\.negatives expects one of 'gaussian', 'random', got 'uniform'",
        ),
        (
            "distill.tig.keypoints=3",
            r"unknown config key distill\.tig\.keypoints \(did you mean distill\.tig\.keypoints_[xy]\?\)",
        ),
    ],
)
def test_distill_section_is_strict(override: str, message: str) -> None:
    entry = next(e for e in discover() if e.name == "bevdet-rayd3d")
    with pytest.raises(UserError, match=message):
        entry_config(entry, "quick", parse_overrides([override]))


def test_train_takes_set_and_refuses_a_misspelled_key(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "train",
            "bevdet",
            "--set",
            "model.backbone.widht=3",
            "--out",
            str(tmp_path / "run"),
            "--dataroot",
            str(tmp_path / "no-world"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "did you mean model.backbone.width?" in err and "profile 'quick'" in err
    assert not (tmp_path / "run").exists()
    code = main(["train", "bevdet", "--set", "train.epochs=2", "--dataroot", str(tmp_path / "no-world")])
    assert code == 2 and "dataset" in capsys.readouterr().err  # a valid --set reaches the dataset check


def test_a_misspelled_key_in_an_entry_file_is_named(tmp_path: Path, capsys) -> None:
    path = tmp_path / "my_entries.py"
    path.write_text(
        textwrap.dedent("""
        import copy
        from baselines.common.config import CameraEntryConfig
        from robobench.registry import get_entry, register_entry

        BEVDET = get_entry("bevdet")
        PROFILES = copy.deepcopy(BEVDET.profiles)
        PROFILES["quick"]["model"]["bev_encoder"]["out_channel"] = 32

        @register_entry("my-typo", role="student", base="bevdet", profiles=PROFILES, schema=CameraEntryConfig)
        def build(cfg):
            return BEVDET.build(cfg)
    """)
    )
    code = main(
        [
            "sweep",
            "--dry-run",
            "--entry-file",
            str(path),
            "--entries",
            "my-typo",
            "--dataroot",
            str(tmp_path / "no-world"),
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and f"entry 'my-typo' ({path})" in err, err
    assert "unknown config key model.bev_encoder.out_channel (did you mean model.bev_encoder.out_channels?)" in err


def test_parse_overrides() -> None:
    assert parse_overrides(["train.epochs=2", "model.backbone.width=8", "train.lr=1e-3", "x.name=text"]) == {
        "train": {"epochs": 2, "lr": 1e-3},
        "model": {"backbone": {"width": 8}},
        "x": {"name": "text"},
    }
    for bad, message in (
        ("epochs", "write KEY=VALUE"),
        ("train..epochs=1", "write KEY=VALUE"),
        ('a={"b"', "not valid JSON"),
    ):
        with pytest.raises(UserError, match=message):
            parse_overrides([bad])
    with pytest.raises(UserError, match="conflicts"):
        parse_overrides(["train.epochs=2", "train.epochs.x=1"])


def test_build_config_names_nested_positions() -> None:
    with pytest.raises(UserError, match=r"config train\.max_train_samples expects `int` >= 1, got 0"):
        build_config(TrainConfig, {"max_train_samples": 0}, "train")
    with pytest.raises(UserError, match=r"config train must be a section of keys, got 3"):
        build_config(TrainConfig, 3, "train")  # type: ignore[arg-type]


def test_an_entry_without_schema_keeps_its_own_sections_free(clean_registry) -> None:
    """A plugin that declares no schema: ``data``/``train`` are strict, the sections its profiles
    declare are its own, and a section none of them declares is a typo."""

    @register_entry("plain", role="student", profiles={"quick": {"w": 1, "train": {"epochs": 1}}})
    def build(cfg):
        raise AssertionError("not built here")

    entry = get_entry("plain")
    assert entry_config(entry, "quick", {"w": {"any": "thing"}})[0]["w"] == {"any": "thing"}
    with pytest.raises(UserError, match=r"unknown config key trian \(did you mean train\?\)"):
        entry_config(entry, "quick", {"trian": {"epochs": 2}})
    with pytest.raises(UserError, match=r"unknown config key train\.epoch \(did you mean train\.epochs\?\)"):
        entry_config(entry, "quick", {"train": {"epoch": 2}})
