"""Mask-ratio distributions for masked-diffusion training.

Each training sequence draws a mask ratio t and masks every token independently with
probability t (the linear schedule alpha_t = 1 - t). Standard MDLM training uses t ~ U[0, 1];
Huang & Mirzasoleiman (2026) restrict t to a window U[a, b] to spend more of the batch in the
Signal regime. One dataclass covers every case the papers use:

* ``MaskRatio.uniform()``         t ~ U[0, 1]          (label ``[0,1]``)
* ``MaskRatio.window(a, b)``       t ~ U[a, b]          (label ``[a,b]``, the paper's notation)
* ``MaskRatio.fixed(t)``           t = const            (label ``t=0.25``)
* ``MaskRatio.parse(spec)``        any of the above from a label, a number or a pair: the one window
  vocabulary of every experiment table and papermill parameter
* ``stratified=True``              antithetic / low-discrepancy draws as in MDLM: for a batch of
  B, t_i = a + (b - a) * ((u + i / B) mod 1) with one shared u ~ U[0, 1], so the batch covers the
  window evenly (each t_i is still marginally U[a, b], hence the loss stays unbiased).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy import integrate

# 1/t loss weights explode as t -> 0; a window that starts at 0 is floored here (MDLM uses the
# same kind of floor, eps = 1e-3), which changes the window average of any bounded quantity by < 1e-3.
MIN_MASK_RATIO = 1e-3
_LABEL = re.compile(r"t=(?P<t>[0-9.e+-]+)|u?\[(?P<a>[0-9.e+-]+),(?P<b>[0-9.e+-]+)\]")


def _short(x: float) -> str:
    """The shortest text that reads back as exactly ``x`` (0.45, not 0.45000000000000001; 1, not 1.0)."""
    short = f"{x:g}"
    return short if float(short) == x else repr(x)


def _as_float(value) -> float | None:
    """A plain float from a Python, numpy or 0-d tensor number; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0 and not value.dtype == torch.bool:
        return float(value.item())
    return None


@dataclass(frozen=True)
class MaskRatio:
    """Distribution of the mask ratio t: uniform on [low, high] (a point mass when low == high)."""

    low: float
    high: float
    stratified: bool = False

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = _as_float(getattr(self, name))
            if value is None or not math.isfinite(value):
                raise ValueError(f"mask-ratio {name}={getattr(self, name)!r} must be a finite number in [0, 1]")
            object.__setattr__(self, name, value)   # numpy / 0-d tensor scalars become plain floats
            if not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"mask-ratio window [{self.low}, {self.high}] lies outside [0, 1]: "
                    "t is a masking probability, pick 0 <= a <= b <= 1"
                )
        if self.low > self.high:
            raise ValueError(
                f"mask-ratio window [{self.low}, {self.high}] has a > b: write it as [a, b] with a <= b"
            )
        if self.high < MIN_MASK_RATIO:
            raise ValueError(
                f"mask-ratio window [{self.low}, {self.high}] lies below the floor t >= {MIN_MASK_RATIO}: "
                "with (almost) no masked tokens the 1/t-weighted loss is undefined; raise b"
            )

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def uniform(cls, stratified: bool = False) -> "MaskRatio":
        """Standard MDLM training: t ~ U[0, 1] (drawn from [MIN_MASK_RATIO, 1])."""
        return cls(0.0, 1.0, stratified)

    @classmethod
    def window(cls, a: float, b: float, stratified: bool = False) -> "MaskRatio":
        """The paper's restricted window, t ~ U[a, b]."""
        return cls(a, b, stratified)

    @classmethod
    def fixed(cls, t: float) -> "MaskRatio":
        """A constant mask ratio, e.g. t* = 1/(k+1) for k-parity."""
        return cls(t, t, False)

    @classmethod
    def parse(cls, spec: "str | float | tuple[float, float] | list[float] | MaskRatio",
              stratified: bool | None = None) -> "MaskRatio":
        """Build from a papermill-friendly value: ``"uniform"``, a label (``"[0.45,0.55]"``, ``"U[0,1]"``,
        ``"t=0.25"``), a number t (fixed) or a pair [a, b] (window). ``stratified`` (for windows) overrides
        the spec's own setting; a fixed t is never stratified."""
        ratio = cls._parse(spec)
        if stratified is not None and not ratio.is_fixed:
            ratio = cls(ratio.low, ratio.high, stratified)
        return ratio

    @classmethod
    def _parse(cls, spec) -> "MaskRatio":
        if isinstance(spec, MaskRatio):
            return spec
        if isinstance(spec, str):
            text = spec.strip().lower().replace(" ", "")
            if text == "uniform":
                return cls.uniform()
            if match := _LABEL.fullmatch(text):
                if match["t"] is not None:
                    return cls.fixed(float(match["t"]))
                return cls.window(float(match["a"]), float(match["b"]))
        elif (value := _as_float(spec)) is not None:
            return cls.fixed(value)
        elif isinstance(spec, (tuple, list)) and len(spec) == 2:
            return cls.window(*spec)
        raise ValueError(f"unknown mask-ratio spec {spec!r}: use 'uniform', a label like '[0.45,0.55]' or 't=0.25', "
                         "a number t, or a pair [a, b]")

    # -- properties -----------------------------------------------------------------------------
    @property
    def is_fixed(self) -> bool:
        return self.low == self.high

    @property
    def support(self) -> tuple[float, float]:
        """The interval t is actually drawn from, after the MIN_MASK_RATIO floor."""
        return max(self.low, MIN_MASK_RATIO), max(self.high, MIN_MASK_RATIO)

    @property
    def label(self) -> str:
        """``[a,b]`` for a window (``[0,1]`` is standard MDLM), ``t=x`` for a fixed ratio; ``parse`` reads it back."""
        if self.is_fixed:
            return f"t={_short(self.low)}"
        return f"[{_short(self.low)},{_short(self.high)}]"

    @property
    def is_uniform(self) -> bool:
        return self.support == (MIN_MASK_RATIO, 1.0)

    # -- sampling and expectations --------------------------------------------------------------
    def sample(self, batch_size: int, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
        """Draw a batch of mask ratios, shape [batch_size], float32."""
        lo, hi = self.support
        if self.stratified:
            offset = torch.rand(1, generator=generator, device=device, dtype=torch.float64)
            u = (offset + torch.arange(batch_size, device=device, dtype=torch.float64) / batch_size) % 1.0
        else:
            u = torch.rand(batch_size, generator=generator, device=device, dtype=torch.float64)
        return (lo + (hi - lo) * u).to(torch.float32)

    def expectation(self, fn: Callable[[np.ndarray], np.ndarray]) -> float:
        """E_t[fn(t)] under this distribution (adaptive quadrature; exact for a point mass)."""
        lo, hi = self.support
        if hi - lo < 1e-12:
            return float(fn(np.asarray(lo)))
        value, _ = integrate.quad(lambda t: float(fn(np.asarray(t))), lo, hi, limit=200)
        return value / (hi - lo)
