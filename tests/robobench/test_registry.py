"""Entry registration, discovery (built-ins, entry points, files) and the ``robobench entries`` command."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap

import pytest
import torch

from robobench import registry
from robobench.cli import main
from robobench.errors import UserError
from robobench.registry import Role, check_builder, discover, get_entry, list_entries, register_entry, teacher_order
from tests.helpers.paths import ROOT


class TinyModel(torch.nn.Module):
    """Honours the model contract with one parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, batch):
        return {"bev": self.w.view(1, 1, 1, 1), "preds": {}}

    def loss(self, batch, outputs):
        return {"l": self.w.sum()}

    def decode(self, batch, outputs):
        return []


class NoDecode(torch.nn.Module):
    def forward(self, batch):
        return {}

    def loss(self, batch, outputs):
        return {}


def _register(name, role="student", **kw):
    kw.setdefault("profiles", {"quick": {"width": 4}})
    register_entry(name, role=role, **kw)(lambda cfg: TinyModel())


def test_register_and_look_up(clean_registry):
    @register_entry("tiny", role="student", profiles={"quick": {"width": 4}}, paper="arXiv:0000.0000")
    def tiny(cfg):
        """A tiny student for tests."""
        return TinyModel()

    entry = get_entry("tiny")
    assert entry.role is Role.STUDENT and entry.description == "A tiny student for tests."
    assert entry.config("quick") == {"width": 4}
    entry.config("quick")["width"] = 99  # a copy: the default is unchanged
    assert entry.config("quick") == {"width": 4}
    assert entry.record().to_dict() == {
        "name": "tiny",
        "role": "student",
        "base": None,
        "teacher": None,
        "paper": "arXiv:0000.0000",
        "description": "A tiny student for tests.",
    }
    with pytest.raises(UserError, match="has no profile 'full'; available: quick"):
        entry.config("full")
    with pytest.raises(UserError, match="unknown entry 'nope'; known entries: tiny"):
        get_entry("nope")
    assert isinstance(check_builder(entry), TinyModel)


def test_registration_errors(clean_registry):
    _register("a")
    with pytest.raises(UserError, match="'a' is registered twice"):
        _register("a")
    with pytest.raises(UserError, match="unknown role 'teachr'"):
        _register("b", role="teachr")
    with pytest.raises(UserError, match="names itself as its base"):
        _register("c", base="c")
    with pytest.raises(UserError, match="profile 'quick' must map a name to a config dict"):
        _register("d", profiles={"quick": 3})


def test_reference_errors_at_listing_time(clean_registry):
    _register("student")
    _register("distilled", role="distill", base="student", teacher="ghost")
    with pytest.raises(UserError, match="'distilled' .* names unknown teacher 'ghost'"):
        list_entries()
    clean_registry.pop("distilled")
    _register("distilled", role="distill", base="student", teacher="student")
    with pytest.raises(UserError, match="names 'student' as teacher, but that entry's role is student"):
        discover()
    clean_registry.pop("distilled")
    _register("distilled", role="distill", base="student")
    with pytest.raises(UserError, match="distillation entry 'distilled' .* names no teacher"):
        discover()
    clean_registry.pop("distilled")
    _register("lidar", role="teacher")
    _register("distilled", role="distill", base="student", teacher="lidar")
    assert [e.name for e in list_entries("d*")] == ["distilled"]
    assert teacher_order(["student", "distilled"]) == ["student", "lidar", "distilled"]


def test_builder_contract_is_checked(clean_registry):
    register_entry("not-a-module", role="student", profiles={"quick": {}})(lambda cfg: object())
    register_entry("no-decode", role="student", profiles={"quick": {}})(lambda cfg: NoDecode())
    register_entry("bare", role="student", profiles={"quick": {}})(lambda cfg: torch.nn.Linear(1, 1))
    register_entry("raises", role="student", profiles={"quick": {}})(lambda cfg: cfg["missing"])
    with pytest.raises(UserError, match="returned object, expected a torch.nn.Module"):
        check_builder(get_entry("not-a-module"))
    with pytest.raises(UserError, match="model NoDecode lacks decode"):
        check_builder(get_entry("no-decode"))
    with pytest.raises(UserError, match="model Linear lacks decode, loss"):
        check_builder(get_entry("bare"))
    with pytest.raises(UserError, match="building the 'quick' model failed: KeyError"):
        check_builder(get_entry("raises"))


MY_FILE = """
import torch
from robobench.registry import register_entry

class M(torch.nn.Module):
    def forward(self, batch): return {}
    def loss(self, batch, outputs): return {}
    def decode(self, batch, outputs): return []

@register_entry("file-student", role="student", profiles={"quick": {}}, paper="https://example.org/paper")
def build(cfg):
    return M()
"""


def test_entry_file(clean_registry, tmp_path):
    path = tmp_path / "my_method.py"
    path.write_text(MY_FILE)
    assert registry.load_entry_file(path) == ["file-student"]
    assert registry.load_entry_file(path) == ["file-student"]  # loading twice is a no-op
    assert get_entry("file-student").source == str(path)
    check_builder(get_entry("file-student"))


DUPLICATE_IN_FILE = MY_FILE + textwrap.dedent(
    """
    @register_entry("file-student", role="student", profiles={"quick": {}})
    def build_again(cfg):
        return M()
    """
)


@pytest.mark.parametrize(
    "text, message",
    [
        ("def broken(:\n", r"bad.py, line 1: syntax error"),
        ("import not_a_module_anywhere\n", r"bad.py, line 1, failed to load: ModuleNotFoundError"),
        ("x = 1\nraise RuntimeError('boom')\n", r"bad.py, line 2, failed to load: RuntimeError: boom"),
        (DUPLICATE_IN_FILE, r"bad.py: entry 'file-student' is registered twice"),
    ],
)
def test_entry_file_errors_name_the_file(clean_registry, tmp_path, text, message):
    path = tmp_path / "bad.py"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        registry.load_entry_file(path)
    assert clean_registry == {}  # nothing half-registered
    with pytest.raises(UserError, match="does not exist"):
        registry.load_entry_file(tmp_path / "missing.py")


def test_entry_point_plugins(clean_registry, tmp_path, monkeypatch):
    pkg = tmp_path / "plugin_pkg_for_tests.py"
    pkg.write_text(MY_FILE.replace("file-student", "plugin-student"))
    monkeypatch.syspath_prepend(str(tmp_path))
    builtin = importlib.metadata.EntryPoint("baselines", registry.BUILTIN_ENTRIES, registry.ENTRY_POINT_GROUP)
    ep = importlib.metadata.EntryPoint("plugin", "plugin_pkg_for_tests", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(
        registry, "entry_points", lambda group: [ep, builtin] if group == registry.ENTRY_POINT_GROUP else []
    )
    monkeypatch.setattr(registry, "_INSTALLED", False)
    assert registry.load_installed_entries() == ["baselines", "plugin"]  # the built-ins first
    assert registry.load_installed_entries() == []  # loaded once
    assert get_entry("plugin-student").source == "plugin_pkg_for_tests"
    sys.modules.pop("plugin_pkg_for_tests", None)
    bad = importlib.metadata.EntryPoint("broken", "no_such_plugin_module", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [builtin, bad])
    monkeypatch.setattr(registry, "_INSTALLED", False)
    with pytest.raises(UserError, match="entry point 'broken' .* failed to load: ModuleNotFoundError"):
        registry.load_installed_entries()


def test_uninstalled_checkout_says_to_install(clean_registry, monkeypatch):
    """Without robobench's own entry point (a source checkout never installed, or installed before
    the entry point existed) discovery fails with one line instead of listing no entries."""
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    monkeypatch.setattr(registry, "_INSTALLED", False)
    with pytest.raises(UserError, match=r"built-in entries are not registered.*pip install -e \."):
        registry.discover()


def test_robobench_declares_its_builtin_entry_point():
    """pyproject.toml registers ``baselines`` in the ``robobench.entries`` group (what a reinstall reads)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    group = pyproject["project"]["entry-points"][registry.ENTRY_POINT_GROUP]
    assert registry.BUILTIN_ENTRIES in group.values()


def test_entries_command(clean_registry, tmp_path, capsys):
    _register("lidar", role="teacher", paper="arXiv:2006.11275")
    path = tmp_path / "my_method.py"
    path.write_text(MY_FILE)
    assert main(["entries", "--entry-file", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "role", "base", "teacher", "paper"]
    assert out[2].split() == ["file-student", "student", "-", "-", "https://example.org/paper"]
    assert out[3].split() == ["lidar", "teacher", "-", "-", "arXiv:2006.11275"]
    assert main(["entries", "--check", "lid*"]) == 0
    assert "lidar" in capsys.readouterr().out
    register_entry("broken", role="student", profiles={"quick": {}})(lambda cfg: object())
    assert main(["entries", "--check"]) == 2
    assert "entry 'broken'" in capsys.readouterr().err
    assert main(["entries", "--entry-file", str(tmp_path / "nope.py")]) == 2
    assert "nope.py does not exist" in capsys.readouterr().err


def test_config_is_a_deep_copy() -> None:
    from robobench.registry import get_entry

    entry = get_entry("bevdet")
    cfg = entry.config("quick")
    cfg["data"]["input_size"] = [1, 1]
    assert entry.config("quick")["data"]["input_size"] != [1, 1]
