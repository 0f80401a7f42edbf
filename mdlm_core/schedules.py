r"""Unmasking schedules: how many tokens each of K rounds reveals, (s_1, ..., s_K) with sum L.

Deterministic schedules are given by a *masked-fraction curve* gamma: [0, 1] -> [0, 1], decreasing from
gamma(0) = 1 to gamma(1) = 0; after round k a fraction gamma(k/K) of the L positions is still masked, so

.. math::  s_k = \lceil L(1 - \gamma(k/K)) \rfloor - \lceil L(1 - \gamma((k-1)/K)) \rfloor ,

rounded so that every round reveals at least one token when K <= L.

* ``equal``:  gamma(u) = 1 - u, sizes as equal as possible (LLaDA's default split).
* ``linear``: sizes grow linearly with the round index, s_k proportional to k
  (gamma(u) = 1 - u^2): few tokens first, while little is known, many at the end.
* ``cosine``: gamma(u) = cos(pi u / 2) (MaskGIT): small early rounds, large late rounds.

Randomized schedules (Zhao & Cai, 2026) live beside these (notebook 05).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

MASKED_FRACTION: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "equal": lambda u: 1.0 - u,
    "linear": lambda u: 1.0 - u ** 2,
    "cosine": lambda u: np.cos(0.5 * math.pi * u),
}


def check_rounds(length: int, rounds: int) -> None:
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length L={length!r} must be a positive integer")
    if not isinstance(rounds, (int, np.integer)) or rounds < 1:
        raise ValueError(f"rounds K={rounds!r} must be a positive integer")
    if rounds > length:
        raise ValueError(f"K={rounds} rounds > L={length} tokens: every round must reveal at least one token, "
                         "so use K <= L")


def sizes_from_masked_fraction(gamma: Callable[[np.ndarray], np.ndarray], length: int, rounds: int) -> np.ndarray:
    """Integer sizes (int64 [K], each >= 1, sum L) following the masked-fraction curve ``gamma``."""
    check_rounds(length, rounds)
    u = np.arange(rounds + 1) / rounds
    revealed = np.rint(length * (1.0 - gamma(u))).astype(np.int64)
    revealed[0], revealed[-1] = 0, length
    # at least one token per round: clip the cumulative count into [k, L - (K - k)]
    k = np.arange(rounds + 1)
    revealed = np.clip(np.maximum.accumulate(revealed), k, length - (rounds - k))
    revealed = np.maximum.accumulate(revealed)
    return np.diff(revealed)


def size_schedule(name: str, length: int, rounds: int) -> np.ndarray:
    """A named deterministic schedule: 'equal', 'linear' or 'cosine'."""
    if name not in MASKED_FRACTION:
        raise ValueError(f"unknown schedule {name!r}: choose one of {', '.join(MASKED_FRACTION)}")
    return sizes_from_masked_fraction(MASKED_FRACTION[name], length, rounds)
