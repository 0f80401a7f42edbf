r"""Sampling error of a randomized unmasking schedule, in terms of the target's intrinsic dependence
(Zhao & Cai, 2026, "Adaptation to Intrinsic Dependence in Diffusion Language Models").

**Setting.** A sampler fills L masked positions in K rounds: it reveals the positions in a uniformly random
order, s_k of them in round k (the schedule, drawn from a distribution independent of the data), and draws
every token of a round independently from the *exact* conditional marginal p(x_i | tokens revealed before
the round). For one order and schedule its output law is q(x) = prod_k prod_{i in B_k} p(x_i | x_{B_<k}).

**Information profile.** Z_j = E[I(X_i; X_S)] over a uniformly random set S of j - 1 positions and a
uniformly random i not in S (Z_1 = 0). It is non-decreasing: Delta Z_m = Z_{m+1} - Z_m >= 0.

**The identity.** Number the positions 1..L in reveal order; round k holds numbers t_{k-1}+1 .. t_k. Then
KL(p || q) = sum_k TC(X_{B_k} | X_{B_<k}); the chain rule inside a round splits the conditional total
correlation into sum over n in the round of I(X_(n); X_(a+1..n-1) | X_(1..a)) with a = t_{k-1}, and each
term is I(X_(n); X_(1..n-1)) - I(X_(n); X_(1..a)). Averaging over the uniformly random order turns these
into Z_n - Z_{a+1} = sum_{m=a+1}^{n-1} Delta Z_m. Summing over n in the round, Delta Z_m is counted once
for every n in (m, t_k], i.e. t_k - m times, so

.. math::  E[KL] = \sum_{m=1}^{L-1} \Delta Z_m \, E[R_m], \qquad R_m = t_{k(m)} - m

(R_m: tokens of m's round revealed after m; ``schedules.overrun``). One round (K = 1) gives R_m = L - m and
KL = TC = sum_m Delta Z_m (L - m); the sum sum_m Delta Z_m m is DTC. Hence E[R_m] <= c (L - m) for all m
means E[KL] <= c TC, and E[R_m] <= c m means E[KL] <= c DTC (``schedules.tc_adaptive_schedule`` and
``dtc_adaptive_schedule`` reach c ~ log(L) / (2K)). "E" averages over the order and the schedule:
E[KL(p || q_{order, schedule})], an upper bound on KL(p || averaged q) by convexity.

**Targets with a known profile.** The uniform distribution over an [L, d] MDS code over an alphabet of
size q (Reed-Solomon over GF(q) for prime q >= L): any d coordinates are independent and uniform and
determine the rest, so Z_j = log q * 1{j >= d + 1}, TC = (L - d) log q and DTC = d log q; E[KL] =
log q * E[R_d].
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..schedules import check_rounds, overrun

# ---------------------------------------------------------------------------------------------------
# Information profiles and the exact calculator


def check_alphabet(q) -> None:
    if not isinstance(q, (int, np.integer)) or q < 2:
        raise ValueError(f"alphabet size q={q!r} must be an integer >= 2")


def mds_information_profile(length: int, dimension: int, alphabet: int) -> np.ndarray:
    """Z_j, j = 1..L (array index j-1), of the uniform law on an [L, d] MDS code over q symbols."""
    check_rounds(length, 1)
    check_alphabet(alphabet)
    if not isinstance(dimension, (int, np.integer)) or not 1 <= dimension <= length:
        raise ValueError(f"code dimension d={dimension!r} must be an integer in [1, L={length}]")
    j = np.arange(1, length + 1)
    return np.where(j >= dimension + 1, math.log(alphabet), 0.0)


def _check_profile(profile, length: int | None = None) -> np.ndarray:
    z = np.asarray(profile, dtype=np.float64)
    if z.ndim != 1 or z.size == 0:
        raise ValueError("the information profile Z must be a 1-D array (Z_1, ..., Z_L)")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"the information profile Z holds {np.count_nonzero(~np.isfinite(z))} NaN/inf entries: "
                         "every Z_j must be a finite mutual information in nats (check how the profile was estimated)")
    if length is not None and z.size != length:
        raise ValueError(f"the profile has {z.size} entries but the schedule fills L={length} positions")
    if np.any(np.diff(z) < -1e-9):
        raise ValueError("the profile Z_j must be non-decreasing in j (more context never hurts on average)")
    return z


def total_correlation(profile) -> float:
    """TC = sum_j Z_j = sum_m Delta Z_m (L - m)."""
    return float(_check_profile(profile).sum())


def dual_total_correlation(profile) -> float:
    """DTC = sum_j (Z_L - Z_j) = sum_m Delta Z_m m."""
    z = _check_profile(profile)
    return float((z[-1] - z).sum())


def expected_kl(schedule, profile, overrun=None) -> float:
    """Exact E[KL] = sum_m Delta Z_m E[R_m] of ``schedule`` (any distribution from ``schedules``); pass its
    ``overrun`` = ``schedule.expected_overrun()`` to reuse it across many profiles."""
    z = _check_profile(profile, schedule.length)
    return float(np.diff(z) @ (schedule.expected_overrun() if overrun is None else overrun))


# ---------------------------------------------------------------------------------------------------
# Brute force on small joint distributions (the tests' ground truth for the identity)


def _log_marginal(log_pmf: np.ndarray, keep: tuple[int, ...]) -> np.ndarray:
    """log p(x_keep) broadcastable to the full grid (summed over the other axes, kept as size-1 axes)."""
    drop = tuple(a for a in range(log_pmf.ndim) if a not in keep)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(log_pmf).sum(axis=drop, keepdims=True)) if drop else log_pmf


def information_profile(pmf: np.ndarray) -> np.ndarray:
    """Z_j by enumeration, for a joint pmf of shape (V,) * L: mean of I(X_i; X_S) over i, |S| = j-1."""
    p = np.asarray(pmf, dtype=np.float64)
    L = p.ndim
    def entropy(axes):
        if not axes:
            return 0.0
        marg = p.sum(axis=tuple(a for a in range(L) if a not in axes))
        nz = marg[marg > 0]
        return float(-(nz * np.log(nz)).sum())
    z = np.zeros(L)
    for j in range(2, L + 1):
        values = [entropy((i,)) + entropy(s) - entropy(tuple(sorted(s + (i,))))
                  for i in range(L) for s in itertools.combinations([a for a in range(L) if a != i], j - 1)]
        z[j - 1] = np.mean(values)
    return z


def sampling_kl(pmf: np.ndarray, order, sizes) -> float:
    """KL(p || q) for one reveal order and schedule, q(x) = prod_k prod_{i in B_k} p(x_i | x_{B_<k}),
    computed by enumerating every x (no use of the identity)."""
    p = np.asarray(pmf, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_p = np.log(p)
    log_q = np.zeros_like(p)
    start = 0
    for size in sizes:
        before = tuple(sorted(order[:start]))
        for i in order[start:start + size]:
            log_q = log_q + _log_marginal(log_p, tuple(sorted(before + (i,)))) - _log_marginal(log_p, before)
        start += size
    support = p > 0
    return float((p[support] * (log_p[support] - log_q[support])).sum())


def expected_sampling_kl_bruteforce(pmf: np.ndarray, schedule) -> float:
    """E[KL] averaged over all L! orders and the schedule's support (small L only)."""
    L = np.asarray(pmf).ndim
    orders = list(itertools.permutations(range(L)))
    return sum(w * np.mean([sampling_kl(pmf, order, sizes) for order in orders]) for w, sizes in schedule.support())


# ---------------------------------------------------------------------------------------------------
# A real Reed-Solomon code and an exact-marginal oracle for the generic sampler


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % f for f in range(2, math.isqrt(n) + 1))


class ReedSolomonCode:
    """RS code over GF(p): messages c in GF(p)^d, codeword x_i = sum_r c_r alpha_i^r, alpha_i = i (L <= p)."""

    def __init__(self, prime: int, length: int, dimension: int, max_codewords: int = 1_000_000):
        check_alphabet(prime)
        if not _is_prime(int(prime)):
            raise ValueError(f"alphabet size p={prime} must be prime for GF(p) arithmetic")
        if not isinstance(length, (int, np.integer)) or not 1 <= length <= prime:
            raise ValueError(f"length L={length!r} must be in [1, p={prime}]: RS needs L distinct field elements")
        if not isinstance(dimension, (int, np.integer)) or not 1 <= dimension <= length:
            raise ValueError(f"code dimension d={dimension!r} must be an integer in [1, L={length}]")
        if prime ** dimension > max_codewords:
            raise ValueError(f"p^d = {prime}^{dimension} codewords exceed max_codewords={max_codewords}")
        self.prime, self.length, self.dimension = int(prime), int(length), int(dimension)
        messages = np.array(list(itertools.product(range(prime), repeat=dimension)), dtype=np.int64)
        powers = np.arange(length)[None, :] ** np.arange(dimension)[:, None] % prime   # [d, L] Vandermonde
        self.codewords = messages @ powers % prime                                      # [p^d, L]
        self.mask_id = self.prime

    def information_profile(self) -> np.ndarray:
        return mds_information_profile(self.length, self.dimension, self.prime)

    def is_codeword(self, x: np.ndarray) -> np.ndarray:
        weights = self.prime ** np.arange(self.length)
        return np.isin(np.asarray(x) @ weights, self.codewords @ weights)

    def oracle(self):
        """A denoiser z [B, L] -> logits [B, L, p]: the exact conditional marginals of the uniform law on the
        code given z's revealed tokens (uniform logits where no codeword agrees, which happens only after the
        sampler has left the code and does not affect q on codewords)."""
        words = torch.as_tensor(self.codewords)
        onehot = torch.nn.functional.one_hot(words, self.prime).double()                # [M, L, p]

        def denoise(z: torch.Tensor) -> torch.Tensor:
            revealed = z != self.mask_id
            agree = ((words[None] == z[:, None]) | ~revealed[:, None]).all(-1).double()   # [B, M]
            counts = torch.einsum("bm,mlv->blv", agree, onehot)
            counts = torch.where(agree.sum(-1)[:, None, None] > 0, counts, torch.ones_like(counts))
            return torch.log(counts / counts.sum(-1, keepdim=True))

        return denoise


@dataclass(frozen=True)
class SamplingKLEstimate:
    kl: float          # Monte Carlo estimate of E[KL]
    stderr: float
    exact: float       # the calculator's E[KL]
    n_samples: int     # samples per schedule in the support

    @property
    def z(self) -> float:
        return (self.kl - self.exact) / self.stderr if self.stderr > 0 else 0.0


def estimate_sampling_kl(code: ReedSolomonCode, schedule, n_samples: int, seed: int = 0) -> SamplingKLEstimate:
    """Run ``unmask_by_schedule`` (random order) with the exact oracle for every schedule in the support of
    ``schedule`` and estimate E[KL] from the samples.

    For one schedule s every codeword gets the same probability under the sampler (the tokens drawn before
    the d-th reveal's round closes are uniform, the rest are then determined), so KL(p || q_s) =
    -log q_s(code): minus the log of the fraction of samples that are codewords (delta-method s.e.).
    """
    from ..samplers import unmask_by_schedule

    gen = torch.Generator().manual_seed(seed)
    denoise = code.oracle()
    tokens = torch.full((n_samples, code.length), code.mask_id, dtype=torch.long)
    total, variance = 0.0, 0.0
    for weight, sizes in schedule.support():
        samples = unmask_by_schedule(denoise, tokens, sizes.tolist(), code.mask_id, order="random", generator=gen)
        valid = int(code.is_codeword(samples.numpy()).sum())
        if valid == 0:
            raise RuntimeError(f"no codeword among {n_samples} samples for schedule {sizes.tolist()}: "
                               "raise n_samples or use a smaller code")
        frac = valid / n_samples
        total += weight * -math.log(frac)
        variance += weight ** 2 * (1 - frac) / (frac * n_samples)
    return SamplingKLEstimate(float(total), math.sqrt(variance), expected_kl(schedule, code.information_profile()),
                              n_samples)
