"""Experiment profiles: one name picks every size parameter of a notebook.

* ``smoke``: seconds; used by CI and nbval, checks that the code path runs end to end.
* ``quick``: the CPU default; the whole reproduction in well under an hour on 2 cores and still
  large enough to show each effect.
* ``paper``: the paper's scale, meant for a GPU. Same code path as the others.

A notebook's papermill ``profile`` parameter (or ``$MDLM_PROFILE``) selects one; any other
parameter left at ``None`` takes the profile's value, so a reader can override a single knob.
"""

from __future__ import annotations

import dataclasses
import os
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


def config_for_profile(profiles: Mapping[str, C], profile: str | None = None, **overrides: Any) -> C:
    """The profile's config dataclass with every non-None override applied."""
    base = profiles[resolve_profile(profile)]
    return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})
