"""The distiller: frozen teacher, student-only inference, named weighted terms, config checks, ablation switches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from baselines import centerpoint
from baselines.distill import rayd3d
from baselines.distill.distiller import Distiller, load_teacher
from baselines.distill.entries import RECIPES
from robobench.errors import UserError
from robobench.registry import Role, get_entry
from robobench.train import deep_merge
from tests.helpers.batch_factory import make_batch


def _teacher(seed: int = 1) -> torch.nn.Module:
    torch.manual_seed(seed)
    entry = get_entry("centerpoint")
    return entry.build(entry.config("quick"))


def _distiller(
    name: str, overrides: dict | None = None, terms: dict[str, float] | None = None
) -> tuple[dict, Distiller]:
    cfg = deep_merge(get_entry(name).config("quick"), overrides or {})
    if terms is not None:
        cfg["distill"]["terms"] = terms
    torch.manual_seed(0)
    model = get_entry(name).build(cfg)
    model.set_teacher(_teacher())
    return cfg, model


def _batch(cfg: dict, prev: bool = False, seed: int = 0, size: int = 2) -> dict:
    h, w = cfg["data"]["input_size"]
    return make_batch(size, h, w, cfg["data"]["depth_downsample"], prev=prev, seed=seed)


def _losses(model: Distiller, batch: dict) -> dict[str, torch.Tensor]:
    model.train()
    return model.loss(batch, model(batch))


def test_teacher_is_frozen_outside_the_parameters_and_stays_in_eval_mode() -> None:
    cfg, model = _distiller("bevdet-rayd3d")
    teacher = model.teacher
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for seed in range(2):
        model.train()
        assert not teacher.training and all(not m.training for m in teacher.modules())
        losses = model.loss(_batch(cfg, seed=seed), model(_batch(cfg, seed=seed)))
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert not any(k.startswith("teacher") for k in model.state_dict())
    ids = {id(p) for p in model.parameters()}
    assert not any(id(p) in ids for p in teacher.parameters())
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k  # BatchNorm statistics untouched too (eval mode)
    # the student did learn from the step
    assert all(p.grad is not None for p in model.adapters.parameters())


@pytest.mark.parametrize("name", ["bevdet-rayd3d", "bevdepth-tig"])
def test_exported_student_equals_the_base_student(name: str) -> None:
    entry = get_entry(name)
    cfg, model = _distiller(name)
    model.train()
    batch = _batch(cfg)
    sum(model.loss(batch, model(batch)).values()).backward()  # BatchNorm stats move; weights compared after
    model.eval()
    student = model.inference_model()
    base_entry = get_entry(entry.base)
    base = base_entry.build(base_entry.config("quick"))
    assert type(student) is type(base)
    assert sum(p.numel() for p in student.parameters()) == sum(p.numel() for p in base.parameters())
    base.load_state_dict(student.state_dict())  # strict: same parameter and buffer names and shapes
    base.eval()
    with torch.no_grad():
        out_d, out_b = model(batch), base(batch)
        assert "teacher" not in out_d
        for a, b in zip(
            out_d["preds"]["heatmap"] + out_d["preds"]["reg"], out_b["preds"]["heatmap"] + out_b["preds"]["reg"]
        ):
            assert torch.equal(a, b)
        for det_d, det_b in zip(model.decode(batch, out_d), base.decode(batch, out_b)):
            for key in det_d:
                assert torch.equal(det_d[key], det_b[key])
    # the distiller's checkpoint is the student's weights plus training-only adapters
    keys = set(model.state_dict())
    assert {f"student.{k}" for k in base.state_dict()} == {k for k in keys if k.startswith("student.")}
    assert all(k.startswith(("student.", "adapters.")) for k in keys)


def test_losses_are_named_and_weighted_from_the_config() -> None:
    cfg, model = _distiller("bevdet-rayd3d", terms={"res": 1.0})
    batch = _batch(cfg)
    losses = _losses(model, batch)
    assert set(losses) == {"heatmap", "bbox", "distill_res"}
    _, model3 = _distiller("bevdet-rayd3d", terms={"res": 3.0})
    assert torch.allclose(_losses(model3, batch)["distill_res"], 3.0 * losses["distill_res"])
    model.eval()  # eval-mode loss: the teacher does not run, only the student's losses
    with torch.no_grad():
        assert set(model.loss(batch, model(batch))) == {"heatmap", "bbox"}


EXPECTED_TERMS = {
    "bevdet-rayd3d": {"rcd", "rwd", "res"},
    "bevdepth4d-rayd3d": {"rcd", "rwd", "res"},
    "bevformer-rayd3d": {"rcd", "rwd", "res"},
    "bevdet-rayd3d-rcd": {"rcd"},
    "bevdet-rayd3d-rwd": {"rwd"},
    "bevdet-rayd3d-randneg": {"rcd", "rwd", "res"},
    "bevdet-rayd3d-noteacherside": {"rcd", "rwd", "res"},
    "bevdet-rayd3d-js": {"rcd", "rwd", "res"},
    "bevdet-rayd3d-cos": {"rcd", "rwd", "res"},
    "bevdepth-tig": {"tig_depth", "tig_ic", "tig_ik"},
    "bevdepth-tig-depth": {"tig_depth"},
    "bevdepth-tig-feat": {"tig_ic", "tig_ik"},
    "bevdepth-tig-ic": {"tig_ic"},
    "bevdepth-tig-ik": {"tig_ik"},
    "bevdet-dense": {"dense"},
    "bevdet-dense-fg": {"dense_fg"},
}


def test_every_recipe_is_registered_with_profiles_base_and_teacher() -> None:
    assert {r.name for r in RECIPES} == set(EXPECTED_TERMS)
    for recipe in RECIPES:
        entry = get_entry(recipe.name)
        base = get_entry(recipe.base)
        assert entry.role is Role.DISTILL and entry.teacher == "centerpoint" and entry.base == recipe.base
        assert set(entry.profiles) == {"quick", "full", "large", "nuscenes"} == set(base.profiles)
        for profile in entry.profiles:
            cfg = entry.config(profile)
            distill = cfg.pop("distill")
            assert distill["teacher"] == entry.teacher
            assert (
                distill["teacher_bev_channels"]
                == get_entry("centerpoint").config(profile)["model"]["bev_encoder"]["out_channels"]
            )
            assert set(distill["terms"]) == EXPECTED_TERMS[recipe.name]
            # the student part is the base's profile (TiGDistill-BEV changes only the depth-loss weight),
            # its batches carrying the teacher's LiDAR sweeps
            assert cfg == deep_merge(
                base.config(profile), {"data": centerpoint.student_data(profile), "model": recipe.model}
            )
    assert get_entry("bevdepth-tig").config("quick")["model"]["depth_loss_weight"] == 100.0


@pytest.mark.parametrize("name", sorted(EXPECTED_TERMS))
def test_ablations_compute_their_terms(name: str) -> None:
    cfg, model = _distiller(name)
    losses = _losses(model, _batch(cfg, prev=name.startswith("bevdepth4d"), size=1))
    assert {k for k in losses if k.startswith("distill_")} == {f"distill_{t}" for t in EXPECTED_TERMS[name]}
    assert all(torch.isfinite(v) for v in losses.values())
    # only the adapters the terms use exist
    uses_bev = bool(EXPECTED_TERMS[name] & {"rcd", "rwd", "dense", "dense_fg"})
    assert ("bev" in model.adapters) == uses_bev and ("ic" in model.adapters) == ("tig_ic" in EXPECTED_TERMS[name])


def test_rayd3d_switches_reach_the_losses(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list] = {"strategy": [], "teacher_side": [], "divergence": []}
    orig_logits, orig_rcd_loss, orig_div = rayd3d.negative_logits, rayd3d.rcd_loss, rayd3d.ray_divergence

    def spy_logits(dist, strategy, sigma):
        seen["strategy"].append(rayd3d.NegativeSampling(strategy))
        return orig_logits(dist, strategy, sigma)

    def spy_rcd_loss(c_pos, c_neg, l_pos, l_neg, *args, **kwargs):
        seen["teacher_side"].append(l_neg is not None)
        return orig_rcd_loss(c_pos, c_neg, l_pos, l_neg, *args, **kwargs)

    def spy_div(log_sl, log_sc, ray_map, n_rays, kind=rayd3d.Divergence.KL):
        seen["divergence"].append(rayd3d.Divergence(kind))
        return orig_div(log_sl, log_sc, ray_map, n_rays, kind)

    monkeypatch.setattr(rayd3d, "negative_logits", spy_logits)
    monkeypatch.setattr(rayd3d, "rcd_loss", spy_rcd_loss)
    monkeypatch.setattr(rayd3d, "ray_divergence", spy_div)
    expected = {
        "bevdet-rayd3d": ("gaussian", True, "kl"),
        "bevdet-rayd3d-randneg": ("random", True, "kl"),
        "bevdet-rayd3d-noteacherside": ("gaussian", False, "kl"),
        "bevdet-rayd3d-js": ("gaussian", True, "js"),
        "bevdet-rayd3d-cos": ("gaussian", True, "cosine"),
    }
    for name, (strategy, teacher_side, divergence) in expected.items():
        for v in seen.values():
            v.clear()
        cfg, model = _distiller(name)
        _losses(model, _batch(cfg))
        assert seen["strategy"] and set(seen["strategy"]) == {rayd3d.NegativeSampling(strategy)}, name
        assert seen["teacher_side"] == [teacher_side], name
        assert seen["divergence"] == [rayd3d.Divergence(divergence)], name


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"distill": {"terms": {"magic": 1.0}}}, "distill.terms"),
        ({"distill": {"rayd3d": {"n_negs": 3}}}, "n_negs"),
        ({"distill": {"rayd3d": {"divergence": "l2"}}}, "divergence"),
        ({"distill": {"tig": {"keypoints": 4}}}, "keypoints"),
        ({"distill": {"temperature": 1}}, "temperature"),
        ({"distill": {"teacher_bev_channels": 32}}, "teacher_bev_channels"),
    ],
)
def test_bad_distill_config_is_a_user_error(overrides: dict, match: str) -> None:
    with pytest.raises(UserError, match=match):
        _distiller("bevdet-rayd3d", overrides)


def test_training_without_a_teacher_checkpoint_says_how_to_get_one() -> None:
    cfg = get_entry("bevdet-dense").config("quick")
    model = get_entry("bevdet-dense").build(cfg).train()
    with pytest.raises(UserError, match="teacher_checkpoint"):
        model(_batch(cfg))


def _save_teacher(path: Path, entry_name: str = "centerpoint") -> torch.nn.Module:
    teacher = _teacher(seed=7)
    torch.save(
        {
            "model": teacher.state_dict(),
            "config": get_entry("centerpoint").config("quick"),
            "meta": {"entry": entry_name},
        },
        path,
    )
    return teacher


def test_teacher_loads_lazily_from_its_checkpoint_frozen(tmp_path: Path) -> None:
    saved = _save_teacher(tmp_path / "final.pt")
    cfg = {**get_entry("bevdet-dense").config("quick"), "teacher_checkpoint": str(tmp_path / "final.pt")}
    model = get_entry("bevdet-dense").build(cfg)
    assert not model._teacher  # nothing loaded at build time (inference never needs the teacher)
    model.train()
    losses = model.loss(_batch(cfg), model(_batch(cfg)))
    assert "distill_dense" in losses
    teacher = model.teacher
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    for k, v in saved.state_dict().items():
        assert torch.equal(teacher.state_dict()[k], v)


def test_teacher_checkpoint_of_another_entry_is_rejected(tmp_path: Path) -> None:
    _save_teacher(tmp_path / "final.pt", entry_name="bevdet")
    with pytest.raises(UserError, match="trained for entry 'bevdet'"):
        load_teacher("centerpoint", tmp_path / "final.pt")


def test_no_terms_is_a_user_error() -> None:
    with pytest.raises(UserError, match="non-empty"):
        _distiller("bevdet-rayd3d", terms={})
