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

Beyond the paper's windows (notebook 06), three more distributions share the interface
(``label``, ``sample(batch, generator, device, step=...)``, ``density(t)``, ``expectation(fn)``) and the
one label vocabulary (``parse_mask_ratio``):

* ``BetaRatio(a, b)``                  t ~ Beta(a, b), a smooth window      (label ``beta(a=5,b=4.6)``)
* ``CurriculumRatio(start, end, ...)`` a window whose centre moves from ``start`` to ``end`` over the first
  ``ramp`` steps, then stays                                               (label ``curriculum(...)``)
* ``AdaptiveBins(...)``                a bandit over ``n_bins`` equal bins whose density follows each bin's
  learning progress; stateful: ``new_sampler()`` gives the ``AdaptiveBinsSampler`` a run updates and
  checkpoints (``state_dict`` / ``load_state_dict``)

All of them, like the windows, CHANGE the training distribution of t (the per-sequence loss keeps its 1/t
weight and is not reweighted by 1/p(t)): the objective becomes E_{t~p}[ELBO integrand], which is the paper's
move. None of them is an importance-sampled ELBO (that flavour keeps the objective and only cuts variance).
"""

from __future__ import annotations

import dataclasses
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
def uniform_draws(batch_size: int, stratified: bool, generator: torch.Generator | None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """U[0, 1] draws, float64 [batch_size]; stratified: (u + i / B) mod 1 with one shared u (see the module doc).
    Every distribution here maps these through its inverse CDF, so every one can be stratified."""
    if stratified:
        offset = torch.rand(1, generator=generator, device=device, dtype=torch.float64)
        return (offset + torch.arange(batch_size, device=device, dtype=torch.float64) / batch_size) % 1.0
    return torch.rand(batch_size, generator=generator, device=device, dtype=torch.float64)


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
               device: torch.device | str = "cpu", step: int | None = None) -> torch.Tensor:
        """Draw a batch of mask ratios, shape [batch_size], float32 (``step`` is ignored: a window is static)."""
        lo, hi = self.support
        u = uniform_draws(batch_size, self.stratified, generator, device)
        return (lo + (hi - lo) * u).to(torch.float32)

    def density(self, t) -> np.ndarray:
        """p(t): 1/(b-a) on the window (a point mass has no density and raises)."""
        if self.is_fixed:
            raise ValueError(f"{self.label} is a point mass: it has no density; plot it as a vertical line")
        lo, hi = self.support
        t = np.asarray(t, dtype=float)
        return np.where((t >= lo) & (t <= hi), 1.0 / (hi - lo), 0.0)

    def expectation(self, fn: Callable[[np.ndarray], np.ndarray]) -> float:
        """E_t[fn(t)] under this distribution (adaptive quadrature; exact for a point mass)."""
        lo, hi = self.support
        if hi - lo < 1e-12:
            return float(fn(np.asarray(lo)))
        value, _ = integrate.quad(lambda t: float(fn(np.asarray(t))), lo, hi, limit=200)
        return value / (hi - lo)


# -- beyond the paper's windows (notebook 06) ------------------------------------------------------------------
def _labelled(name: str, **fields) -> str:
    return f"{name}(" + ",".join(f"{k}={_short(float(v)) if not isinstance(v, int) else v}" for k, v in fields.items()) + ")"


def _quad_expectation(density: Callable[[np.ndarray], np.ndarray], fn, points=None) -> float:
    value, _ = integrate.quad(lambda t: float(density(np.asarray(t)) * fn(np.asarray(t))), MIN_MASK_RATIO, 1.0,
                              limit=400, points=points)
    return value


@dataclass(frozen=True)
class BetaRatio:
    """t ~ Beta(a, b) (clamped to t >= MIN_MASK_RATIO): a smooth window with mean a / (a + b).

    With a = 2 and b = k + 1 its density is P_S(t) = (k + 1) t (1 - t)^k normalised, the Signal-regime
    probability of notebook 01 for k-parity."""

    a: float
    b: float
    stratified: bool = False

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            value = _as_float(getattr(self, name))
            if value is None or not math.isfinite(value) or value <= 0:
                raise ValueError(f"Beta parameter {name}={getattr(self, name)!r} must be a finite number > 0")
            object.__setattr__(self, name, value)

    @classmethod
    def from_mean_sd(cls, mean: float, sd: float, stratified: bool = False) -> "BetaRatio":
        """The Beta with this mean and standard deviation (method of moments; needs sd^2 < mean (1 - mean))."""
        if not 0 < mean < 1 or not 0 < sd ** 2 < mean * (1 - mean):
            raise ValueError(f"no Beta has mean {mean} and s.d. {sd}: need 0 < mean < 1 and sd^2 < mean (1 - mean)")
        concentration = mean * (1 - mean) / sd ** 2 - 1
        return cls(mean * concentration, (1 - mean) * concentration, stratified)

    @property
    def label(self) -> str:
        return _labelled("beta", a=self.a, b=self.b)

    def sample(self, batch_size: int, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu", step: int | None = None) -> torch.Tensor:
        from scipy import stats

        u = uniform_draws(batch_size, self.stratified, generator, device)
        t = stats.beta.ppf(u.cpu().numpy(), self.a, self.b)           # inverse CDF, float64
        return torch.from_numpy(np.clip(t, MIN_MASK_RATIO, 1.0)).to(device=device, dtype=torch.float32)

    def density(self, t) -> np.ndarray:
        from scipy import stats

        return stats.beta.pdf(np.asarray(t, dtype=float), self.a, self.b)

    def expectation(self, fn: Callable[[np.ndarray], np.ndarray]) -> float:
        return _quad_expectation(self.density, fn)


@dataclass(frozen=True)
class CurriculumRatio:
    """A window of ``width`` whose centre moves linearly from ``start`` to ``end`` over the first ``ramp`` steps
    and then stays at ``end`` (centres are kept inside [width / 2, 1 - width / 2]). ``density(t)`` without a step
    is the density averaged over a run of ``steps`` steps (what the run saw in all)."""

    start: float
    end: float
    width: float
    ramp: int
    steps: int
    stratified: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.width <= 1:
            raise ValueError(f"curriculum width={self.width} must lie in (0, 1]")
        for name in ("start", "end"):
            if not self.width / 2 <= getattr(self, name) <= 1 - self.width / 2:
                raise ValueError(f"curriculum {name}={getattr(self, name)} must lie in [width/2, 1 - width/2] = "
                                 f"[{self.width / 2:g}, {1 - self.width / 2:g}] so its window stays inside [0, 1]")
        if not 0 <= self.ramp <= self.steps or self.steps < 1:
            raise ValueError(f"curriculum ramp={self.ramp} must lie in [0, steps={self.steps}] and steps >= 1")

    @property
    def label(self) -> str:
        return _labelled("curriculum", start=self.start, end=self.end, width=self.width, ramp=int(self.ramp),
                         steps=int(self.steps))

    def centre_at(self, step: int) -> float:
        progress = 1.0 if self.ramp == 0 else min(max(step, 0) / self.ramp, 1.0)
        return self.start + (self.end - self.start) * progress

    def window_at(self, step: int) -> MaskRatio:
        centre = self.centre_at(step)
        # rounded so labels read [0.75,0.85], not [0.75,0.8500000000000001]
        return MaskRatio(max(0.0, round(centre - self.width / 2, 10)), min(1.0, round(centre + self.width / 2, 10)),
                         self.stratified)

    def sample(self, batch_size: int, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu", step: int | None = None) -> torch.Tensor:
        if step is None:
            raise ValueError("a curriculum's distribution depends on the training step: pass step=")
        return self.window_at(step).sample(batch_size, generator, device)

    def density(self, t, step: int | None = None) -> np.ndarray:
        if step is not None:
            return self.window_at(step).density(t)
        t = np.asarray(t, dtype=float)
        grid = np.linspace(0, self.steps - 1, min(self.steps, 400)).round().astype(int)
        return np.mean([self.window_at(int(s)).density(t) for s in grid], axis=0)

    def expectation(self, fn: Callable[[np.ndarray], np.ndarray]) -> float:
        grid = np.linspace(0, self.steps - 1, min(self.steps, 100)).round().astype(int)
        return float(np.mean([self.window_at(int(s)).expectation(fn) for s in grid]))


@dataclass(frozen=True)
class AdaptiveBins:
    """A bandit over ``n_bins`` equal t-bins; its density follows each bin's learning progress.

    The signal (per bin j with centre c_j): the per-sequence training loss of the sequences whose t fell in
    bin j is tracked by two exponential averages in *steps* (half-lives ``fast`` and ``slow``; a bin sampled
    rarely still forgets at the same pace). Progress = c_j x (slow - fast - z s.e.): the recent drop of the
    bin's loss per masked token beyond ``z`` standard errors of that difference (so pure noise earns nothing),
    times the share of tokens masked at c_j, i.e. the drop in nats per sequence position, which counts what
    training at that t is still learning. The sampler draws bin j with probability
    explore / n_bins + (1 - explore) progress_j^+ / sum progress^+ (uniform while no bin progresses and during
    the first ``warmup`` steps), then t uniformly inside the bin. Reading the loss costs O(batch) per step."""

    n_bins: int = 10
    explore: float = 0.2
    fast: float = 50.0
    slow: float = 200.0
    warmup: int = 100
    record_every: int = 25
    z: float = 2.0
    stratified: bool = False

    def __post_init__(self) -> None:
        if self.z < 0:
            raise ValueError(f"z={self.z} must be >= 0 (standard errors of noise ignored by the progress signal)")
        if self.n_bins < 2 or not 0 < self.explore <= 1:
            raise ValueError(f"adaptive sampler needs n_bins >= 2 (got {self.n_bins}) and explore in (0, 1] "
                             f"(got {self.explore}): explore > 0 keeps every bin measured")
        if not 0 < self.fast < self.slow:
            raise ValueError(f"half-lives fast={self.fast} and slow={self.slow} must satisfy 0 < fast < slow")
        if self.warmup < 0 or self.record_every < 1:
            raise ValueError("warmup must be >= 0 and record_every >= 1")

    @property
    def label(self) -> str:
        return _labelled("adaptive", n_bins=self.n_bins, explore=self.explore, fast=self.fast, slow=self.slow,
                         warmup=self.warmup, record_every=self.record_every, z=self.z)

    low = property(lambda self: 0.0, doc="the support's ends, as a window's (the bins cover [0, 1])")
    high = property(lambda self: 1.0)

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, self.n_bins + 1)

    def new_sampler(self) -> "AdaptiveBinsSampler":
        return AdaptiveBinsSampler(self)

    def density(self, t, probs=None) -> np.ndarray:
        """Piecewise-constant density of bin probabilities ``probs`` (default: uniform, the initial state)."""
        probs = np.full(self.n_bins, 1.0 / self.n_bins) if probs is None else np.asarray(probs, dtype=float)
        idx = np.clip((np.asarray(t, dtype=float) * self.n_bins).astype(int), 0, self.n_bins - 1)
        return probs[idx] * self.n_bins

    def expectation(self, fn: Callable[[np.ndarray], np.ndarray], probs=None) -> float:
        return _quad_expectation(lambda t: self.density(t, probs), fn, points=list(self.edges[1:-1]))

    def sample(self, *args, **kwargs):
        raise TypeError("AdaptiveBins is stateful: draw from its sampler, AdaptiveBins.new_sampler().sample(...)")


class AdaptiveBinsSampler:
    """The state of one run's ``AdaptiveBins``: the bins' exponential averages, the current probabilities and
    their history. ``state_dict`` / ``load_state_dict`` make a killed run resume bit-exactly."""

    def __init__(self, spec: AdaptiveBins):
        self.spec = spec
        n = spec.n_bins
        # exponential sums in steps: value_j = sum_i w^(age_i) loss_i, weight_j = sum_i w^(age_i)
        self.sums = torch.zeros(2, n, dtype=torch.float64)
        self.squares = torch.zeros(2, n, dtype=torch.float64)       # sum_i w^age loss_i^2 (for the noise)
        self.weights = torch.zeros(2, n, dtype=torch.float64)
        self.weights_sq = torch.zeros(2, n, dtype=torch.float64)    # sum_i w^(2 age): effective counts
        self.decay = torch.tensor([0.5 ** (1 / spec.fast), 0.5 ** (1 / spec.slow)], dtype=torch.float64)
        self.probs = torch.full((n,), 1.0 / n, dtype=torch.float64)
        self.centres = torch.as_tensor((spec.edges[:-1] + spec.edges[1:]) / 2)
        self.history: list[tuple[int, list[float]]] = []

    # -- drawing ----------------------------------------------------------------------------------
    def sample(self, batch_size: int, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu", step: int | None = None) -> torch.Tensor:
        """t by the inverse CDF of the piecewise-constant density (stratified draws stay stratified)."""
        u = uniform_draws(batch_size, self.spec.stratified, generator, device).cpu()
        cdf = torch.cat([torch.zeros(1, dtype=torch.float64), self.probs.cumsum(0)])
        cdf[-1] = 1.0
        j = torch.searchsorted(cdf[1:-1].contiguous(), u, right=True).clamp(max=self.spec.n_bins - 1)
        within = ((u - cdf[j]) / self.probs[j]).clamp(0.0, 1.0)
        t = (j.double() + within) / self.spec.n_bins
        return t.clamp(min=MIN_MASK_RATIO).to(device=device, dtype=torch.float32)

    # -- learning from the loss -------------------------------------------------------------------
    @property
    def progress(self) -> torch.Tensor:
        weights = self.weights.clamp(min=1e-12)
        means = self.sums / weights
        variance = (self.squares / weights - means ** 2).clamp(min=0)
        effective = weights ** 2 / self.weights_sq.clamp(min=1e-24)       # Kish's effective sample size
        se = (variance / effective.clamp(min=1.0)).sum(0).sqrt()          # s.e. of slow mean - fast mean (upper)
        seen = (effective >= 2).all(0)
        drop = means[1] - means[0] - self.spec.z * se
        return torch.where(seen, self.centres * drop, torch.zeros_like(self.centres))

    @torch.no_grad()
    def update(self, t: torch.Tensor, per_sequence_loss: torch.Tensor, step: int) -> None:
        """Feed one step's mask ratios and per-sequence (1/t-weighted) losses; then set the next probabilities."""
        t = t.detach().double().cpu()
        loss = per_sequence_loss.detach().double().cpu()
        j = (t * self.spec.n_bins).long().clamp(0, self.spec.n_bins - 1)
        batch_sum = torch.zeros(self.spec.n_bins, dtype=torch.float64).index_add_(0, j, loss)
        batch_count = torch.bincount(j, minlength=self.spec.n_bins).double()
        batch_squares = torch.zeros(self.spec.n_bins, dtype=torch.float64).index_add_(0, j, loss ** 2)
        self.sums = self.sums * self.decay[:, None] + batch_sum
        self.squares = self.squares * self.decay[:, None] + batch_squares
        self.weights = self.weights * self.decay[:, None] + batch_count
        self.weights_sq = self.weights_sq * self.decay[:, None] ** 2 + batch_count
        if step + 1 >= self.spec.warmup:
            gain = self.progress.clamp(min=0)
            share = gain / gain.sum() if gain.sum() > 0 else torch.full_like(gain, 1.0 / self.spec.n_bins)
            self.probs = self.spec.explore / self.spec.n_bins + (1 - self.spec.explore) * share
        if (step + 1) % self.spec.record_every == 0:
            self.history.append((step + 1, self.probs.tolist()))

    # -- checkpointing ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"sums": self.sums.clone(), "squares": self.squares.clone(), "weights": self.weights.clone(),
                "weights_sq": self.weights_sq.clone(), "probs": self.probs.clone(),
                "history_steps": torch.tensor([s for s, _ in self.history], dtype=torch.long),
                "history_probs": torch.tensor([p for _, p in self.history], dtype=torch.float64).reshape(
                    -1, self.spec.n_bins)}

    def load_state_dict(self, state: dict) -> None:
        self.sums, self.squares, self.weights, self.weights_sq, self.probs = (
            state[k].clone() for k in ("sums", "squares", "weights", "weights_sq", "probs"))
        self.history = [(int(s), p.tolist()) for s, p in zip(state["history_steps"], state["history_probs"])]


MaskRatioLike = "MaskRatio | BetaRatio | CurriculumRatio | AdaptiveBins"
_NAMED = {"beta": BetaRatio, "curriculum": CurriculumRatio, "adaptive": AdaptiveBins}
_CALL = re.compile(r"(?P<name>[a-z]+)\((?P<args>[^()]*)\)")


def parse_mask_ratio(spec, stratified: bool | None = None):
    """Any training distribution of t from its label: the windows of ``MaskRatio.parse`` and
    ``beta(a=..,b=..)``, ``curriculum(start=..,end=..,width=..,ramp=..,steps=..)``, ``adaptive(...)`` (fields
    as in the dataclasses; omitted ones keep their defaults). ``stratified`` overrides the spec's own."""
    if isinstance(spec, (BetaRatio, CurriculumRatio, AdaptiveBins)):
        dist = spec
    elif isinstance(spec, str) and (match := _CALL.fullmatch(spec.strip().lower().replace(" ", ""))) \
            and match["name"] in _NAMED:
        cls = _NAMED[match["name"]]
        kwargs = {}
        for item in filter(None, match["args"].split(",")):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"mask-ratio spec {spec!r}: write every argument as name=value, e.g. 'beta(a=2,b=5)'")
            kwargs[key] = int(value) if key in ("ramp", "steps", "warmup", "n_bins", "record_every") else float(value)
        try:
            dist = cls(**kwargs)
        except TypeError as err:
            raise ValueError(f"mask-ratio spec {spec!r}: {err}; fields of {match['name']}: "
                             f"{', '.join(f.name for f in dataclasses.fields(cls) if f.name != 'stratified')}") from err
    else:
        return MaskRatio.parse(spec, stratified=stratified)
    if stratified is not None and dist.stratified != stratified:
        dist = dataclasses.replace(dist, stratified=stratified)
    return dist
