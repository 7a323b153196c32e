"""Method entries: a decorator records a function that builds a model (timm-style).

Example::

    from robobench.registry import register_entry

    @register_entry("my-bevdet", role="student", base="bevdet",
                    profiles={"quick": {...}, "full": {...}})
    def my_bevdet(cfg: dict) -> torch.nn.Module:
        ...

Entries come from two places, both found by :func:`discover`:

* installed packages that declare the entry-point group ``robobench.entries``
  (``[project.entry-points."robobench.entries"] my_method = "my_pkg.entries"``):
  loading the entry point imports the module, whose decorators register entries.
  robobench's own built-in entries (the ``baselines`` package) are found this way too
  (its ``pyproject.toml``), so the registry imports no model code;
* a plain Python file given with ``--entry-file my_method.py``.

Entry names are slugs (:data:`ENTRY_NAME_PATTERN`): lower-case letters and digits in
runs joined by single ``-``, ``_`` or ``.``, at most 64 characters (``bevdet-rayd3d``,
``my_method.v2``). A name becomes a folder of the sweep's output (``OUT/models/<name>``),
so ``/``, ``..``, spaces and upper case (two names differing only in case share a folder
on case-insensitive file systems) are refused wherever an entry registers.

Checks happen in two steps so that listing stays fast: names, roles and profiles
are checked when an entry registers; references (``base``/``teacher`` must name
registered entries, a ``distill`` entry needs a ``teacher`` that is a teacher) are
checked by :func:`discover` once every source is loaded. Building a model to check
that it honours the model contract (an ``nn.Module`` with ``forward``/``loss``/
``decode``) means building every model, so it is done by :func:`check_builder`, which
``robobench entries --check`` and the sweep (before planning) call.
"""

from __future__ import annotations

import copy
import fnmatch
import importlib.util
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, is_dataclass, replace
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import torch

from robobench.config import deep_merge
from robobench.errors import UserError
from robobench.schema import EntryRecord, Role

#: Entry-point group that packages (robobench's own ``baselines`` included) use to register entries.
ENTRY_POINT_GROUP = "robobench.entries"
#: The module robobench's own entry point loads: the built-in entries.
BUILTIN_ENTRIES = "baselines"
#: What an entry name must match: lower-case alphanumeric runs joined by one of ``-_.``.
ENTRY_NAME_PATTERN = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")
#: Longest entry name (it is a folder name, and a column of every table).
ENTRY_NAME_MAX = 64
#: The model contract's methods (robobench.contract.BEVModel).
MODEL_METHODS: tuple[str, ...] = ("forward", "loss", "decode")


Builder = Callable[[dict[str, Any]], torch.nn.Module]


@dataclass(frozen=True)
class Entry:
    """One registered method: how to build it and its default configuration per profile.

    ``base`` names the entry a "gain over base" column compares against (the plain
    student of a variant or distillation recipe); ``teacher`` names the frozen
    teacher a ``distill`` entry learns from. ``source`` says where it was registered
    (module name, or the file given with ``--entry-file``). ``schema`` is the dataclass
    its configuration is checked against when a run is planned
    (:func:`robobench.train.entry_config`; ``None``: :class:`robobench.train.UntypedEntryConfig`,
    whose ``model`` and ``distill`` sections are free-form).
    """

    name: str
    role: Role
    build: Builder
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    paper: str = ""
    base: str | None = None
    teacher: str | None = None
    source: str = ""
    schema: type | None = None

    def config(self, profile: str) -> dict[str, Any]:
        """A deep copy of the entry's configuration for ``profile`` (``UserError`` if unknown).

        Deep, so a caller editing a nested section never changes the registered profile.
        """
        if profile not in self.profiles:
            raise UserError(
                f"entry {self.name!r} has no profile {profile!r}; "
                f"available: {', '.join(sorted(self.profiles)) or 'none'}"
            )
        return copy.deepcopy(self.profiles[profile])

    def record(self) -> EntryRecord:
        """The metadata the results store keeps (no builder)."""
        return EntryRecord(self.name, self.role.value, self.base, self.teacher, self.paper, self.description)


_REGISTRY: dict[str, Entry] = {}
#: Resolved paths of entry files already executed (loading one twice is a no-op).
_LOADED_FILES: dict[Path, str] = {}
#: Whether the installed entry points were loaded.
_INSTALLED = False


def register_entry(
    name: str,
    *,
    role: Role | str,
    profiles: dict[str, dict[str, Any]] | None = None,
    description: str = "",
    paper: str = "",
    base: str | None = None,
    teacher: str | None = None,
    schema: type | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator recording ``fn(cfg) -> nn.Module`` as entry ``name``.

    ``schema``: a subclass of :class:`robobench.train.EntryConfig` typing the entry's whole
    configuration (its ``model`` section above all), so that unknown keys and wrong values
    are refused when a run is planned; ``fn`` still receives the config as a dict.
    Duplicate names, unknown roles, non-callable builders, a ``schema`` that is not a
    dataclass and profiles that are not dicts of dicts are ``UserError`` here;
    ``base``/``teacher`` references are checked by :func:`discover` (they may register later).
    """

    def decorator(fn: Builder) -> Builder:
        check_entry_name(name)
        if name in _REGISTRY:
            raise UserError(
                f"entry {name!r} is registered twice ({_REGISTRY[name].source} and {fn.__module__}); rename one of them"
            )
        try:
            role_ = Role(role)
        except ValueError:
            raise UserError(
                f"entry {name!r}: unknown role {role!r}; expected one of {[r.value for r in Role]}"
            ) from None
        if not callable(fn):
            raise UserError(f"entry {name!r}: register_entry decorates a function cfg -> nn.Module, got {fn!r}")
        for profile, cfg in (profiles or {}).items():
            if not isinstance(profile, str) or not isinstance(cfg, dict):
                raise UserError(f"entry {name!r}: profile {profile!r} must map a name to a config dict")
        if schema is not None and not (isinstance(schema, type) and is_dataclass(schema)):
            raise UserError(
                f"entry {name!r}: schema must be a dataclass (a robobench.train.EntryConfig subclass), got {schema!r}"
            )
        for ref, kind in ((base, "base"), (teacher, "teacher")):
            if ref == name:
                raise UserError(f"entry {name!r} names itself as its {kind}")
        _REGISTRY[name] = Entry(
            name=name,
            role=role_,
            build=fn,
            profiles={p: dict(c) for p, c in (profiles or {}).items()},
            description=description or (fn.__doc__ or "").strip().split("\n")[0],
            paper=paper,
            base=base,
            teacher=teacher,
            source=fn.__module__,
            schema=schema,
        )
        return fn

    return decorator


def check_entry_name(name: object) -> None:
    """``UserError`` unless ``name`` is a slug of :data:`ENTRY_NAME_PATTERN`, at most
    :data:`ENTRY_NAME_MAX` characters (it becomes a folder name under ``--out``)."""
    if not isinstance(name, str) or len(name) > ENTRY_NAME_MAX or not ENTRY_NAME_PATTERN.fullmatch(name):
        raise UserError(
            f"entry name {name!r} is not a valid name: use lower-case letters and digits joined by single "
            f"'-', '_' or '.', at most {ENTRY_NAME_MAX} characters (e.g. 'my-bevdet-v2')"
        )


def load_installed_entries() -> list[str]:
    """Load every ``robobench.entries`` entry point, robobench's own (the built-in entries) first;
    returns their names. Later calls load nothing.

    The built-in ``baselines`` are found like any plugin, so this module imports no model code.
    A source checkout that was not installed (or installed before the entry point existed)
    has no such entry point: that is a ``UserError`` saying to install it, not an empty registry.
    """
    global _INSTALLED
    if _INSTALLED:
        return []
    points = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: not _is_builtin(ep))
    if not any(_is_builtin(ep) for ep in points):
        raise UserError(
            f"robobench's built-in entries are not registered (no {ENTRY_POINT_GROUP!r} entry point of the "
            "robobench package): run pip install -e . in the robobench checkout"
        )
    _INSTALLED = True  # before loading: a plugin that looks an entry up while it loads must not reload
    try:
        for ep in points:
            _load_entry_point(ep)
    except BaseException:
        _INSTALLED = False
        raise
    return [ep.name for ep in points]


def _load_entry_point(ep: EntryPoint) -> None:
    """Import ``ep``'s module (its decorators register entries); ``UserError`` naming the package on failure."""
    dist = getattr(ep.dist, "name", "?")
    try:
        ep.load()
    except UserError as exc:
        raise UserError(f"entry point {ep.name!r} of package {dist!r} ({ep.value}): {exc}") from None
    except Exception as exc:  # an installed plugin that fails to import: say which one
        raise UserError(
            f"entry point {ep.name!r} of package {dist!r} ({ep.value}) failed to load: "
            f"{type(exc).__name__}: {exc}; fix or uninstall that package"
        ) from None


def _is_builtin(ep: EntryPoint) -> bool:
    """Whether ``ep`` is the entry point of robobench's own built-in entries."""
    return ep.value == BUILTIN_ENTRIES and getattr(ep.dist, "name", None) in (None, "robobench")


def load_entry_file(path: str | Path) -> list[str]:
    """Execute a user's Python file that registers entries; returns the names it added.

    Syntax errors, import errors and registration errors become one ``UserError``
    naming the file (and line); on any error the file's registrations are undone.
    Loading the same file again does nothing.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"entry file {path} does not exist; pass a .py file that calls register_entry")
    if path.suffix != ".py":
        raise UserError(f"entry file {path} is not a .py file")
    resolved = path.resolve()
    if resolved in _LOADED_FILES:
        return [n for n, e in _REGISTRY.items() if e.source == _LOADED_FILES[resolved]]
    load_installed_entries()  # a user file may name built-ins as base/teacher and must not shadow them
    module_name = f"robobench_entry_file_{len(_LOADED_FILES)}_{resolved.stem}"
    before = dict(_REGISTRY)
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        _REGISTRY.clear()
        _REGISTRY.update(before)
        sys.modules.pop(module_name, None)
        if isinstance(exc, SyntaxError):
            raise UserError(f"entry file {path}, line {exc.lineno}: syntax error: {exc.msg}") from None
        if isinstance(exc, UserError):
            raise UserError(f"entry file {path}: {exc}") from None
        if isinstance(exc, Exception):
            where = _user_frame(exc, resolved)
            raise UserError(f"entry file {path}{where} failed to load: {type(exc).__name__}: {exc}") from None
        raise
    source = str(path)
    added = [n for n in _REGISTRY if n not in before]
    for n in added:
        _REGISTRY[n] = replace(_REGISTRY[n], source=source)
    _LOADED_FILES[resolved] = source
    return added


def _user_frame(exc: BaseException, path: Path) -> str:
    """``", line N"`` of the deepest traceback frame inside ``path`` (empty when none)."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f", line {line}," if line is not None else ""


def discover(entry_files: Iterable[str | Path] = ()) -> list[Entry]:
    """Load built-in, plugin and file entries, check their references; returns all, by name."""
    load_installed_entries()
    for path in entry_files:
        load_entry_file(path)
    check_references()
    return [e for _, e in sorted(_REGISTRY.items())]


def check_references() -> None:
    """``UserError`` listing every entry whose ``base``/``teacher`` is unknown or of the wrong role."""
    problems = []
    for entry in _REGISTRY.values():
        for ref, kind in ((entry.base, "base"), (entry.teacher, "teacher")):
            if ref is not None and ref not in _REGISTRY:
                problems.append(f"{entry.name!r} ({entry.source}) names unknown {kind} {ref!r}")
        if entry.teacher in _REGISTRY and _REGISTRY[entry.teacher].role is not Role.TEACHER:
            problems.append(
                f"{entry.name!r} names {entry.teacher!r} as teacher, but that entry's role is "
                f"{_REGISTRY[entry.teacher].role.value}"
            )
        if entry.role is Role.DISTILL and entry.teacher is None:
            problems.append(f"distillation entry {entry.name!r} ({entry.source}) names no teacher")
    if problems:
        raise UserError(
            "bad entry references: " + "; ".join(problems) + f"; known entries: {', '.join(sorted(_REGISTRY))}"
        )


def get_entry(name: str) -> Entry:
    """The entry called ``name``; ``UserError`` listing the known names otherwise."""
    discover()
    if name not in _REGISTRY:
        raise UserError(f"unknown entry {name!r}; known entries: {', '.join(sorted(_REGISTRY)) or 'none'}")
    return _REGISTRY[name]


def list_entries(pattern: str = "*") -> list[Entry]:
    """Registered entries whose names match the glob ``pattern``, sorted by name."""
    return [e for e in discover() if fnmatch.fnmatch(e.name, pattern)]


def teacher_order(names: Iterable[str], lookup: Callable[[str], Entry] | None = None) -> list[str]:
    """``names`` plus the teachers they need, each teacher before the entries distilling from it.

    ``lookup`` resolves a name to its entry (default :func:`get_entry`).
    """
    lookup = get_entry if lookup is None else lookup
    ordered: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in chain:
            raise UserError(f"entries form a teacher cycle: {' -> '.join((*chain, name))}")
        teacher = lookup(name).teacher
        if teacher is not None:
            visit(teacher, (*chain, name))
        if name not in ordered:
            ordered.append(name)

    for n in names:
        visit(n, ())
    return ordered


def check_builder(entry: Entry, profile: str = "quick", overrides: dict[str, Any] | None = None) -> torch.nn.Module:
    """Build ``entry`` with its ``profile`` config (deep-merged with ``overrides``) and check the
    model contract; returns the model.

    ``UserError`` when the builder raises, returns something other than an
    ``nn.Module``, or the module lacks a callable ``forward``/``loss``/``decode``.
    """
    cfg = deep_merge(entry.config(profile), overrides or {})
    try:
        model = entry.build(cfg)
    except UserError as exc:
        raise UserError(f"entry {entry.name!r} ({entry.source}), profile {profile!r}: {exc}") from None
    except Exception as exc:
        raise UserError(
            f"entry {entry.name!r} ({entry.source}): building the {profile!r} model failed: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(model, torch.nn.Module):
        raise UserError(
            f"entry {entry.name!r} ({entry.source}): the builder returned {type(model).__name__}, "
            "expected a torch.nn.Module"
        )
    missing = [m for m in MODEL_METHODS if not callable(getattr(model, m, None))]
    # nn.Module.forward exists on the base class and raises NotImplementedError: it must be overridden.
    if type(model).forward is torch.nn.Module.forward:
        missing.insert(0, "forward")
    if missing:
        raise UserError(
            f"entry {entry.name!r} ({entry.source}): model {type(model).__name__} "
            f"lacks {', '.join(sorted(set(missing)))}; "
            "a model needs forward(batch), loss(batch, outputs) and decode(batch, outputs) (robobench.contract)"
        )
    return model
