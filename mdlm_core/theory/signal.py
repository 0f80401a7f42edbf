r"""Signal-regime theory for k-parity under masked diffusion (Huang & Mirzasoleiman, 2026).

A k-parity sequence is [x_1 .. x_n, y] with y = XOR of the bits in a secret set S, |S| = k.
The k + 1 *relevant* tokens are S and y. Every token is masked independently with probability t.
The model can only learn the parity feature from a mask in which **exactly one** relevant token
is hidden: then the other k relevant tokens are visible and determine it. That is the Signal
regime. With two or more relevant tokens hidden, the hidden ones are uniform given the visible
ones, so the best prediction is 1/2 (zero logit): the Noise regime, which only pulls outputs
towards zero, an implicit L2 regulariser. Counting the masks that hide exactly one of k + 1
tokens gives the binomial term

.. math::  P_S(t) = (k+1)\, t\, (1-t)^k,

maximised where d/dt log P_S = 1/t - k/(1-t) = 0, i.e. at :math:`t^* = 1/(k+1)`.

Averaged over a mask-ratio window t ~ U[t_0, t_1], with the antiderivative
:math:`F(t) = -(1-t)^{k+1} + \tfrac{k+1}{k+2}(1-t)^{k+2}`,

.. math::  \bar P_S(t_0, t_1) = \frac{F(t_1) - F(t_0)}{t_1 - t_0}.

Over windows anchored at 0, :math:`\bar P_S(0, t_1)` is maximised where
:math:`P_S(t_1) = \bar P_S(0, t_1)` (the mean stops rising once the curve drops below it);
for k = 6 that is t_1 ~ 0.246, the paper's "sample-complexity-optimal" window U[0, 0.246].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import optimize


def _check_k(k: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"parity order k={k!r} must be an integer >= 1 (the number of secret bits)")


def _check_t(t: np.ndarray) -> None:
    if np.any((t < 0) | (t > 1)) or np.any(~np.isfinite(t)):
        raise ValueError("mask ratio t must lie in [0, 1]")


def signal_probability(t, k: int):
    """P_S(t) = (k+1) t (1-t)^k: probability that exactly one of the k+1 relevant tokens is masked."""
    _check_k(k)
    t_arr = np.asarray(t, dtype=np.float64)
    _check_t(t_arr)
    out = (k + 1) * t_arr * (1.0 - t_arr) ** k
    return float(out) if out.ndim == 0 else out


def optimal_mask_ratio(k: int) -> float:
    """Closed-form maximiser of P_S: t* = 1 / (k + 1)."""
    _check_k(k)
    return 1.0 / (k + 1)


def argmax_signal_probability(k: int) -> float:
    """Numerical maximiser of P_S on [0, 1] (bounded Brent); used to check the closed form."""
    _check_k(k)
    res = optimize.minimize_scalar(lambda t: -signal_probability(t, k), bounds=(0.0, 1.0),
                                   method="bounded", options={"xatol": 1e-10})
    return float(res.x)


def _antiderivative(t: np.ndarray, k: int) -> np.ndarray:
    u = 1.0 - t
    return -(u ** (k + 1)) + (k + 1) / (k + 2) * u ** (k + 2)


def window_average_signal(t0, t1, k: int):
    """Mean of P_S over t ~ U[t0, t1] (closed form; equals P_S(t0) when t0 == t1)."""
    _check_k(k)
    a = np.asarray(t0, dtype=np.float64)
    b = np.asarray(t1, dtype=np.float64)
    _check_t(a)
    _check_t(b)
    if np.any(a > b):
        raise ValueError("window [t0, t1] needs t0 <= t1")
    width = b - a
    safe = np.where(width > 1e-9, width, 1.0)
    mean = (_antiderivative(b, k) - _antiderivative(a, k)) / safe
    # Narrow windows: the midpoint value is exact to O(width^2) and avoids cancellation.
    out = np.where(width > 1e-9, mean, signal_probability((a + b) / 2, k))
    return float(out) if out.ndim == 0 else out


def optimal_window_upper(k: int, t0: float = 0.0) -> float:
    """The t1 that maximises the window average of P_S over U[t0, t1] (t0 = 0: the paper's U[0, t1])."""
    _check_k(k)
    t_star = optimal_mask_ratio(k)
    if t0 >= t_star:
        return float(t0)  # P_S falls on [t*, 1]: widening only lowers the mean
    res = optimize.minimize_scalar(lambda t1: -window_average_signal(t0, t1, k),
                                   bounds=(t_star, 1.0), method="bounded", options={"xatol": 1e-10})
    return float(res.x)


def count_masked_relevant(mask: torch.Tensor, relevant_positions) -> torch.Tensor:
    """Number of masked relevant tokens per sequence. mask: bool [..., L]; returns int [...]."""
    idx = torch.as_tensor(relevant_positions, dtype=torch.long, device=mask.device)
    return mask.index_select(-1, idx).sum(-1)


def is_signal_mask(mask: torch.Tensor, relevant_positions) -> torch.Tensor:
    """True where exactly one relevant token is masked (the Signal regime); else Noise regime."""
    return count_masked_relevant(mask, relevant_positions) == 1


@dataclass(frozen=True)
class MonteCarloSignal:
    t: np.ndarray           # mask ratios probed
    estimate: np.ndarray    # fraction of sampled masks in the Signal regime
    stderr: np.ndarray      # binomial standard error of that fraction
    n_samples: int


def monte_carlo_signal_probability(t_values, k: int, n_samples: int, seq_len: int | None = None,
                                   seed: int = 0) -> MonteCarloSignal:
    """Estimate P_S(t) by sampling i.i.d. Bernoulli(t) masks over a sequence of ``seq_len`` tokens
    (default k + 1) whose first k and last positions are the relevant ones, as in [x_S.., x_rest.., y]."""
    from ..loss import sample_mask  # the same forward-process masking used in training

    _check_k(k)
    seq_len = k + 1 if seq_len is None else seq_len
    if seq_len < k + 1:
        raise ValueError(f"seq_len={seq_len} cannot hold k + 1 = {k + 1} relevant tokens")
    relevant = list(range(k)) + [seq_len - 1]
    gen = torch.Generator().manual_seed(seed)
    t_arr = np.asarray(t_values, dtype=np.float64)
    est = np.empty_like(t_arr)
    for i, t in enumerate(t_arr):
        ts = torch.full((n_samples,), float(t))
        mask = sample_mask((n_samples, seq_len), ts, generator=gen)
        est[i] = is_signal_mask(mask, relevant).double().mean().item()
    stderr = np.sqrt(np.maximum(est * (1 - est), 1e-300) / n_samples)
    return MonteCarloSignal(t_arr, est, stderr, n_samples)
