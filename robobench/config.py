"""Entry configurations: merging, ``--set`` overrides, and strict typed sections.

An entry's configuration is a nested dict (its profile, deep-merged with the user's
overrides); each section is read through a frozen dataclass built by :func:`build_config`,
which is the one place its keys, types and defaults are defined. Building rejects, with one
line naming the dotted key:

* an unknown key, with the nearest valid one (``model.backbone.widht`` -> ``width``);
* a value of the wrong type (``"two"`` for an int, a section where a number belongs, a list
  of the wrong length), or outside a declared range (``Annotated[int, Meta(ge=1)]``).

Type conversion is msgspec's strict mode (an int is accepted where a float is expected, a list
where a tuple is; nothing else is coerced); ``__post_init__`` checks what spans fields.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import enum
import json
import re
import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar, Union

import msgspec

from robobench.errors import UserError

T = TypeVar("T")

#: An int of at least 1 (counts, sizes, epochs).
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
#: An int of at least 0 (optional counts, 0 meaning "off").
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
#: A float of at least 0 (weights, rates, thresholds).
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
#: A float above 0 (learning rates, resolutions).
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
#: A float in [0, 1) (decays, where 0 means "off" and 1 would never move).
DecayFloat = Annotated[float, msgspec.Meta(ge=0, lt=1)]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively by ``override`` (dicts merged, other values replaced)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["train.epochs=2", "model.backbone.width=8"]`` -> nested dict.

    A value is parsed as JSON (``2``, ``1e-3``, ``true``, ``[1, 2]``, ``null``, ``"text"``);
    anything else is taken as text. A value that starts like a JSON list, object or string
    but does not parse (``[1``) is a ``UserError``, not text that a number field would
    reject later with a less helpful message.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise UserError(f"bad --set {item!r}; write KEY=VALUE with a dotted key, e.g. train.epochs=2")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            if text.strip()[:1] in ("[", "{", '"'):
                raise UserError(
                    f"--set {item!r}: {text!r} is not valid JSON ({exc.msg}); quote it for the shell, e.g. "
                    f"--set '{key}=[1, 2]'"
                ) from None
            value = text
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {item!r} conflicts with another --set of {part!r}")
        node[parts[-1]] = value
    return out


def build_config(cls: type[T], data: dict[str, Any] | None, section: str) -> T:
    """An instance of the frozen dataclass ``cls`` from ``data`` (the config ``section``, e.g. ``"model"``).

    Missing keys take the dataclass defaults; unknown keys and wrong types are a ``UserError``
    naming the dotted key (``section.key.subkey``), and for an unknown key the nearest valid one.
    """
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise UserError(f"config {section} must be a section of keys, got {data!r}")
    check_keys(cls, data, section)
    try:
        return msgspec.convert(data, cls, strict=True)
    except msgspec.ValidationError as exc:
        raise UserError(_type_error_message(cls, data, section, str(exc))) from None


def _type_error_message(cls: type, data: dict[str, Any], section: str, error: str) -> str:
    """msgspec's ``"Expected `int`, got `str` - at `$.train.epochs`"`` as ``"config train.epochs expects
    `int`, got 'two'"``: the dotted key, what it takes (the choices of an enum), the value given."""
    message, _, where = error.partition(" - at `$")
    parts = [p for p in re.split(r"[.\[\]]", where.rstrip("`")) if p]
    key = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in [section, *parts] if p).lstrip(".")
    missing = re.fullmatch(r"Object missing required field `(\w+)`", message)
    if missing:
        return f"config {key + '.' if key else ''}{missing.group(1)} is missing; it has no default"
    value: Any = data
    for part in parts:
        value = value[int(part)] if isinstance(value, list) else value.get(part) if isinstance(value, dict) else None
    expected = re.sub(r"^Expected (.*?)(, got .*)?$", r"\1", message)
    if message.startswith("Invalid enum value"):
        choices, others = _choices(cls, parts)
        expected = "one of " + ", ".join(repr(c) for c in choices) + "".join(f" or {o}" for o in others)
    return f"config {key} expects {expected}, got {value!r}"


def _choices(cls: type, parts: Sequence[str]) -> tuple[list[Any], list[str]]:
    """The values the enum or ``Literal`` field at dotted ``parts`` of dataclass ``cls`` accepts, and
    the other types of its union in msgspec's words (``train.num_workers``: ``'auto'`` or `int` >= 0)."""
    tp: Any = cls
    for part in parts:
        section = section_type(tp)
        if section is None or part not in typing.get_type_hints(section):
            return [], []
        tp = typing.get_type_hints(section, include_extras=True)[part]
    args = (
        [t for t in typing.get_args(tp) if t is not type(None)]
        if typing.get_origin(tp) in (Union, types.UnionType)
        else [tp]
    )
    choices: list[Any] = []
    others: list[str] = []
    for arg in args:
        if typing.get_origin(arg) is typing.Literal:
            choices += typing.get_args(arg)
        elif isinstance(arg, type) and issubclass(arg, enum.Enum):
            choices += [m.value for m in arg]
        else:
            others.append(_type_words(arg))
    return choices, others


def _type_words(tp: Any) -> str:
    """A type as msgspec's errors name it: `int`, `int` >= 0 (``Annotated`` bounds), `float` > 0.0."""
    meta: list[Any] = []
    if typing.get_origin(tp) is typing.Annotated:
        tp, *meta = typing.get_args(tp)
    bounds = [
        f"{sign} {getattr(m, attr)}"
        for m in meta
        if isinstance(m, msgspec.Meta)
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        if getattr(m, attr) is not None
    ]
    return " ".join([f"`{getattr(tp, '__name__', tp)}`", *bounds])


def check_keys(cls: type, data: dict[str, Any], section: str) -> None:
    """``UserError`` for the first key of ``data``, or of a nested section, that ``cls`` does not declare."""
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        if key not in hints:
            raise UserError(unknown_key_message(f"{section}.{key}" if section else str(key), list(hints)))
        inner = section_type(hints[key])
        if inner is not None and isinstance(value, dict):
            check_keys(inner, value, f"{section}.{key}" if section else key)


def unknown_key_message(key: str, valid: Sequence[str]) -> str:
    """``"unknown config key a.b.widht (did you mean a.b.width?); valid keys of a.b: ..."`` (difflib's nearest)."""
    prefix, _, name = key.rpartition(".")
    near = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    hint = f" (did you mean {prefix + '.' if prefix else ''}{near[0]}?)" if near else ""
    return f"unknown config key {key}{hint}; valid keys{' of ' + prefix if prefix else ''}: {', '.join(sorted(valid))}"


def section_type(tp: Any) -> type | None:
    """The dataclass a field of type ``tp`` holds (``X``, ``X | None``, ``Annotated[X, ...]``), else ``None``."""
    if typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (Union, types.UnionType):
        found = [section_type(t) for t in typing.get_args(tp)]
        return next((t for t in found if t is not None), None)
    return tp if dataclasses.is_dataclass(tp) and isinstance(tp, type) else None
