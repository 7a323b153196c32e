"""Names and output paths: entry names are slugs, a path built from a name stays inside its
folder, and no command writes into a dataset folder or takes a folder for a file (or the reverse)."""

from __future__ import annotations

from pathlib import Path

import pytest

from robobench import registry
from robobench.errors import UserError
from robobench.paths import contained, output_dir, output_file
from robobench.registry import register_entry
from robobench.sweep import plan_cells
from tests.helpers.registry import ContractModel as Tiny

HOSTILE_NAMES = [
    "../../evil",
    "a/b",
    "/abs",
    "..",
    ".",
    "with space",
    "Upper",
    "",
    "a..b",
    "-x",
    "x-",
    "é",
    "a" * 65,
    "x\n",
    "a\\b",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_registration_refuses_names_that_are_not_slugs(clean_registry, name) -> None:
    with pytest.raises(UserError, match="not a valid name: use lower-case letters"):
        register_entry(name, role="student")(lambda cfg: Tiny())
    assert not clean_registry


@pytest.mark.parametrize("name", ["bevdet", "bevdet-rayd3d-noteacherside", "my_method.v2", "a" * 64, "x1"])
def test_slugs_register(clean_registry, name) -> None:
    register_entry(name, role="student")(lambda cfg: Tiny())
    assert name in clean_registry


def test_every_builtin_name_is_a_slug() -> None:
    for entry in registry.discover():
        registry.check_entry_name(entry.name)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_model_folders_stay_inside_out_whatever_the_name(clean_registry, tmp_path: Path, name) -> None:
    """Second line of defence: a name that slipped past registration (an Entry put into the
    registry by hand) still cannot lead the sweep's model folder out of ``--out``."""
    out = tmp_path / "out"
    clean_registry[name] = registry.Entry(
        name=name, role=registry.Role.STUDENT, build=lambda cfg: Tiny(), profiles={"quick": {}}
    )
    try:
        cells = plan_cells(
            [name],
            train_modes=["clean"],
            seeds=[0],
            conditions=["clean"],
            profile="quick",
            dataset_id="d",
            out=out,
            code="c",
        )
    except UserError as exc:
        assert "would lead outside" in str(exc)
        return
    assert all(c.model_dir.resolve().is_relative_to((out / "models").resolve()) for c in cells)


def test_contained_refuses_escapes(tmp_path: Path) -> None:
    assert contained(tmp_path, "a", "b") == tmp_path / "a" / "b"
    for parts in (("..", "x"), ("a", "../../x"), ("/etc",)):
        with pytest.raises(UserError, match="would lead outside"):
            contained(tmp_path, *parts)


def test_output_path_rules(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "v1.0-synth").mkdir(parents=True)
    a_file = tmp_path / "f.json"
    a_file.write_text("{}")
    with pytest.raises(UserError, match="is a folder; give a file path"):
        output_file(tmp_path)
    with pytest.raises(UserError, match="is a file; give a folder"):
        output_dir(a_file)
    with pytest.raises(UserError, match="is a file, not a folder"):
        output_file(a_file / "x.json")
    for inside in (data, data / "sub" / "C", data / "sub" / ".." / "x"):
        with pytest.raises(UserError, match="inside the dataset folder"):
            output_dir(inside, dataroots=[data])
    link = tmp_path / "link"
    link.symlink_to(data)
    with pytest.raises(UserError, match="inside the dataset folder"):
        output_file(link / "r.json", dataroots=[data])
    assert output_dir(tmp_path / "out", dataroots=[data, None]) == tmp_path / "out"
    assert output_file(tmp_path / "new" / "r.json", dataroots=[data]) == tmp_path / "new" / "r.json"


def test_entry_point_with_a_bad_name_is_one_error_naming_the_package(clean_registry, monkeypatch) -> None:
    """An installed plugin registering '../x' is refused like a built-in or an entry file."""

    class FakeEntryPoint:
        name, value, dist = "evil", "evil_pkg.entries", type("Dist", (), {"name": "evil-pkg"})()

        def load(self):
            register_entry("../x", role="student")(lambda cfg: Tiny())

    class BuiltinEntryPoint:  # robobench's own, already imported: loading it registers nothing new
        name, value, dist = "baselines", registry.BUILTIN_ENTRIES, type("Dist", (), {"name": "robobench"})()

        def load(self):
            return None

    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEntryPoint(), BuiltinEntryPoint()])
    monkeypatch.setattr(registry, "_INSTALLED", False)
    with pytest.raises(UserError, match=r"entry point 'evil' of package 'evil-pkg'.*'\.\./x' is not a valid name"):
        registry.load_installed_entries()
    assert not clean_registry
