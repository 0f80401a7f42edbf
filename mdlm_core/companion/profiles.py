"""Experiment profiles: one name picks every size parameter of a notebook.

* ``smoke``: seconds; used by CI and nbval, checks that the code path runs end to end.
* ``quick``: the CPU default; the whole reproduction within 90 minutes on 2 cores, sized so that each claim
  can show.
* ``paper``: the paper's scale, meant for a GPU. Same code path as the others.

A notebook's papermill ``profile`` parameter (or ``$MDLM_PROFILE``) selects one. Overrides name a field of the
(nested) config, by its dotted path (``model.n_embd=128``) or, where the name is unique in the tree, by its
bare name (``n_embd=128``, the flat names notebooks have always used). ``None`` means "the profile's value",
so a notebook passes its parameter cells through unchanged. Values are coerced to the field's type (a list
becomes a tuple, an int a float); an unknown or ambiguous name is an error that lists the fields.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any, Mapping, TypeVar

PROFILES = ("smoke", "quick", "paper")
DEFAULT_PROFILE = "quick"
PROFILE_ENV = "MDLM_PROFILE"

C = TypeVar("C")


def resolve_profile(name: str | None = None) -> str:
    """The profile to use: ``name`` if given, else ``$MDLM_PROFILE``, else ``quick``; validated."""
    chosen = name if name is not None else os.environ.get(PROFILE_ENV, DEFAULT_PROFILE)
    if chosen not in PROFILES:
        raise ValueError(f"unknown profile {chosen!r}: choose one of {', '.join(PROFILES)} "
                         f"(papermill -p profile NAME, reproduce.sh --profile NAME, or ${PROFILE_ENV})")
    return chosen


def field_paths(config: Any, prefix: str = "") -> dict[str, type]:
    """Every leaf field of a (nested) dataclass instance: dotted path -> declared type."""
    hints = typing.get_type_hints(type(config))
    out: dict[str, type] = {}
    for f in dataclasses.fields(config):
        if not f.init:
            continue
        value, path = getattr(config, f.name), prefix + f.name
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out |= field_paths(value, path + ".")
        else:
            out[path] = hints.get(f.name, Any)
    return out


def _resolve_name(name: str, paths: Mapping[str, type]) -> str:
    if name in paths:
        return name
    matches = [p for p in paths if p.rsplit(".", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0]
    hint = (f"ambiguous: it names {', '.join(matches)}; use the dotted path" if matches else
            f"no such field; the config's fields are {', '.join(sorted(paths))}")
    raise ValueError(f"override {name!r}: {hint}")


def coerce(value: Any, annotation: Any) -> Any:
    """``value`` as the declared field type: lists (papermill, JSON) become tuples, ints become floats."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or str(origin) == "types.UnionType":
        if value is None:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg)
            except (TypeError, ValueError):
                continue
        return value
    if origin is tuple and isinstance(value, (list, tuple)):
        inner = args[0] if args and (len(args) == 2 and args[1] is Ellipsis) else None
        return tuple(coerce(v, inner) if inner else v for v in value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if annotation in (int, float, str, bool) and not isinstance(value, annotation):
        raise TypeError(f"{value!r} is not a {annotation.__name__}")
    return value


def _replace_path(config: Any, path: list[str], value: Any) -> Any:
    head, *rest = path
    if not rest:
        return dataclasses.replace(config, **{head: value})
    return dataclasses.replace(config, **{head: _replace_path(getattr(config, head), rest, value)})


def apply_overrides(config: C, **overrides: Any) -> C:
    """``config`` with every non-None override applied (dotted or unique bare names, coerced; module docstring)."""
    paths = field_paths(config)
    for name, value in overrides.items():
        if value is None:
            continue
        path = _resolve_name(name.replace("__", "."), paths)
        try:
            value = coerce(value, paths[path])
        except TypeError as err:
            raise ValueError(f"override {name}={value!r}: {err} (the field {path} is {paths[path]})") from None
        config = _replace_path(config, path.split("."), value)
    return config


def config_for_profile(profiles: Mapping[str, C], profile: str | None = None, **overrides: Any) -> C:
    """The profile's config with every non-None override applied (``apply_overrides``)."""
    return apply_overrides(profiles[resolve_profile(profile)], **overrides)
