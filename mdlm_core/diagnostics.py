"""Diagnostics of a stochastic training objective at fixed parameters: the per-step gradient noise.

``gradient_noise`` draws ``n_draws`` independent gradients of one optimiser step's loss (each its own minibatch,
mask ratios and masks, from the given generator) at the same parameters and measures their spread:

* ``variance``: the trace of the gradient covariance, E||g - E g||^2, estimated without bias
  (sum_k ||g_k - g_bar||^2 / (K - 1));
* ``signal``: ||E g||^2, estimated without bias as ||g_bar||^2 - variance / K;
* ``noise_to_signal``: variance / signal, McCandlish et al.'s "simple noise scale" in units of one step's batch.
  It is invariant to rescaling the loss (a window's 1/t weights are larger than another's): what an optimiser
  that normalises its steps (Adam) feels is this ratio, not the raw variance.

The standard error of ``variance`` is the s.d. of the K per-draw terms K/(K-1) ||g_k - g_bar||^2 over sqrt(K)
(a delta-method approximation, good once K is a few tens; NaN below 4 draws).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class GradientNoise:
    variance: float          # tr Cov(g), per step
    variance_se: float       # its Monte Carlo s.e. over the draws
    signal: float            # ||E g||^2 (unbiased; can be < 0 when the mean gradient is buried in noise)
    mean_norm_sq: float      # ||g_bar||^2 as measured
    n_draws: int
    n_params: int

    @property
    def noise_to_signal(self) -> float:
        """tr Cov(g) / ||E g||^2 (inf where the signal estimate is <= 0)."""
        return self.variance / self.signal if self.signal > 0 else math.inf

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "GradientNoise":
        return cls(**d)


def flat_gradient(model: torch.nn.Module) -> torch.Tensor:
    """Every parameter's gradient, flattened into one float64 vector (zeros for parameters without one)."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).detach().reshape(-1).double()
                      for p in model.parameters() if p.requires_grad])


def gradient_noise(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, torch.Generator], torch.Tensor],
                   n_draws: int, generator: torch.Generator) -> GradientNoise:
    """``n_draws`` gradients of ``loss_fn(model, generator)`` (one step's loss: it draws everything random from
    ``generator``) at the model's current parameters, which are left unchanged; see the module docstring."""
    if n_draws < 2:
        raise ValueError(f"n_draws={n_draws}: the variance needs at least 2 gradient draws")
    was_training = model.training
    model.train()
    grads = []
    for _ in range(n_draws):
        model.zero_grad(set_to_none=True)
        loss_fn(model, generator).backward()
        grads.append(flat_gradient(model))
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    g = torch.stack(grads)                          # [K, P]
    mean = g.mean(0)
    terms = ((g - mean) ** 2).sum(1) * n_draws / (n_draws - 1)   # their mean is the unbiased tr Cov
    variance = float(terms.mean())
    mean_norm_sq = float(mean.pow(2).sum())
    # with 2 or 3 draws the terms are (nearly) tied by construction: no s.e. is estimable
    se = float(terms.std(unbiased=True) / math.sqrt(n_draws)) if n_draws >= 4 else math.nan
    return GradientNoise(variance, se, mean_norm_sq - variance / n_draws, mean_norm_sq, n_draws, int(g.shape[1]))
