r"""Unmasking schedules: how many tokens each of K rounds reveals, (s_1, ..., s_K) with sum L.

Deterministic schedules are given by a *masked-fraction curve* gamma: [0, 1] -> [0, 1], decreasing from
gamma(0) = 1 to gamma(1) = 0; after round k a fraction gamma(k/K) of the L positions is still masked, so

.. math::  s_k = \lceil L(1 - \gamma(k/K)) \rfloor - \lceil L(1 - \gamma((k-1)/K)) \rfloor ,

rounded so that every round reveals at least one token when K <= L.

* ``equal``:  gamma(u) = 1 - u, sizes as equal as possible, split as LLaDA's ``get_num_transfer_tokens``
  does: every round gets floor(L/K) tokens and the first L mod K rounds one more
  (12 tokens in 5 rounds: [3, 3, 2, 2, 2]). It is computed directly, not by rounding the curve.
* ``linear``: sizes grow linearly with the round index, s_k proportional to k
  (gamma(u) = 1 - u^2): few tokens first, while little is known, many at the end.
* ``cosine``: gamma(u) = cos(pi u / 2) (MaskGIT): small early rounds, large late rounds.

Schedule *distributions* (notebook 05, Zhao & Cai, 2026) draw the sizes at random before sampling. Each
one can ``draw`` a schedule and gives the exact expected *overrun* E[R_m] (defined below), the only
property of a schedule that the sampling error depends on (``mdlm_core.theory.dependence.expected_kl``):

* :class:`FixedSchedule`: one deterministic schedule (the baselines ``equal``, ``linear``, ``cosine``).
* :class:`RandomPhaseSchedule`: round boundaries t_k = ceil(F(k - U)), k = 1..K-1, for a fixed
  increasing curve F: [0, K-1] -> [0, L-1] with F' >= 1 and one uniform phase U ~ U[0, 1). The curves
  ``tc`` (large rounds first, geometric decay), ``dtc`` (its mirror image: small rounds first) and
  ``equal-random`` (a straight line) are built in; :func:`schedule_distribution` picks one by name.
* :class:`ProductWeightSchedule`: the K - 1 boundaries drawn with probability proportional to a product of
  per-position weights (``tc-product``, ``dtc-product``), by dynamic programming: a smooth alternative.

**Overrun.** Reveal the L positions in a uniformly random order and number them 1..L in that order;
round k reveals numbers t_{k-1}+1 .. t_k. For m = 1..L-1, R_m = t_{k(m)} - m is the number of tokens
revealed in the same round as token m but after it (0 when m closes its round). With exact conditional
marginals the expected KL of the sampler is E[KL] = sum_m (Z_{m+1} - Z_m) E[R_m] (derivation in
``dependence.py``).

**Exact E[R_m] of a random-phase schedule.** R_m = #{j in [m, L-1]: no boundary in [m, j]}. A boundary
t = ceil(F(x)) lies in [m, j] iff x lies in (G(m-1), G(j)] with G = F^{-1}, and the boundaries are exactly
the points of the shifted lattice Z - U inside (0, K-1]. A uniformly shifted unit lattice misses an
interval of length l with probability (1 - l)_+, hence

.. math::  E[R_m] = \sum_{j=m}^{L-1} \bigl(1 - G(j) + G(m-1)\bigr)_+ ,

evaluated for all m at once with prefix sums in O(L log L). Drawing one schedule costs O(K); the only
precomputation is the curve's rate (a few Newton steps).
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
    """Raise a clear ValueError unless 1 <= K <= L are integers."""
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
    # At least one token per round: a_k = revealed_k - k must be non-decreasing in [0, L - K]; then
    # revealed_k = a_k + k rises by >= 1 every round whatever the curve's shape (plateaus included).
    k = np.arange(rounds + 1)
    slack = np.maximum.accumulate(np.clip(revealed - k, 0, length - rounds))
    return np.diff(slack + k)


def equal_sizes(length: int, rounds: int) -> np.ndarray:
    """LLaDA's split (``get_num_transfer_tokens``): floor(L/K) per round, the remainder to the first rounds."""
    check_rounds(length, rounds)
    base, remainder = divmod(int(length), int(rounds))
    return base + (np.arange(rounds) < remainder).astype(np.int64)


def size_schedule(name: str, length: int, rounds: int) -> np.ndarray:
    """A named deterministic schedule: 'equal' (LLaDA's split), 'linear' or 'cosine'."""
    if name not in MASKED_FRACTION:
        raise ValueError(f"unknown schedule {name!r}: choose one of {', '.join(MASKED_FRACTION)}")
    if name == "equal":
        return equal_sizes(length, rounds)
    return sizes_from_masked_fraction(MASKED_FRACTION[name], length, rounds)


# ---------------------------------------------------------------------------------------------------
# Schedule distributions


def overrun(sizes) -> np.ndarray:
    """R_m for m = 1..L-1 (array index m-1) of one schedule: how many tokens of m's round come after m."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.ndim != 1 or sizes.size == 0 or (sizes < 0).any():
        raise ValueError("sizes must be a non-empty 1-D sequence of non-negative integers")
    ends = np.cumsum(sizes)
    m = np.arange(1, ends[-1])
    return ends[np.searchsorted(ends, m)] - m


class FixedSchedule:
    """A deterministic schedule seen as a (point-mass) distribution."""

    def __init__(self, sizes, name: str = "fixed"):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.name = name
        self.length, self.rounds = int(self.sizes.sum()), len(self.sizes)
        check_rounds(self.length, self.rounds)
        if self.sizes.min() < 1:
            raise ValueError(f"schedule {name!r} has an empty round: every size must be >= 1")

    def draw(self, rng: np.random.Generator | None = None) -> np.ndarray:
        return self.sizes.copy()

    def expected_overrun(self) -> np.ndarray:
        return overrun(self.sizes).astype(np.float64)

    def expected_sizes(self) -> np.ndarray:
        return self.sizes.astype(np.float64)

    def support(self) -> list[tuple[float, np.ndarray]]:
        """[(probability, sizes)] of every schedule the distribution can draw."""
        return [(1.0, self.sizes.copy())]

    def __repr__(self) -> str:
        return f"FixedSchedule({self.name!r}, L={self.length}, K={self.rounds})"


def geometric_rate(length: int, rounds: int) -> float:
    """The rate a of the ``dtc`` curve F(x) = x on [0, 1/a], (1/a) exp(a x - 1) after, with F(K-1) = L-1.

    Solves a (K-1) = 1 + log(a (L-1)) by Newton's method started right of the root, where the left side
    minus the right is convex and increasing, so the iterates decrease monotonically to it. K = L gives
    a = 1/(K-1) (F is the identity: rounds of one token); K = 1 has no boundaries and gives inf.
    """
    check_rounds(length, rounds)
    if rounds == 1:
        return math.inf
    n, steps = length - 1.0, rounds - 1.0
    if rounds == length:
        return 1.0 / steps
    a = max(1.0, (1.0 + math.log(n)) / steps)
    while a * steps - 1.0 - math.log(a * n) < 0:   # make sure we start right of the root
        a *= 2.0
    for _ in range(200):
        step = (a * steps - 1.0 - math.log(a * n)) / (steps - 1.0 / a)
        a = max(a - step, 1.0 / steps)
        if step <= 1e-15 * a:
            break
    return a


class RandomPhaseSchedule:
    """Boundaries t_k = ceil(F(k - U)), k = 1..K-1, U ~ U[0, 1): exactly K rounds, each >= 1 token.

    ``curve`` F and ``inverse`` G map [0, K-1] <-> [0, L-1], increasing with F' >= 1 (so consecutive
    boundaries differ by >= 1). The random phase U is the only randomness: it smooths the overrun of a
    deterministic staircase into its average (E[R_m] formula in the module docstring).
    """

    def __init__(self, length: int, rounds: int, curve: Callable[[np.ndarray], np.ndarray],
                 inverse: Callable[[np.ndarray], np.ndarray], name: str):
        check_rounds(length, rounds)
        self.length, self.rounds, self.name = int(length), int(rounds), name
        self.curve, self.inverse = curve, inverse

    def sizes_at(self, phase: float) -> np.ndarray:
        """The schedule drawn with phase U = ``phase`` in [0, 1)."""
        if not 0.0 <= phase < 1.0:
            raise ValueError(f"phase={phase} must lie in [0, 1)")
        L, K = self.length, self.rounds
        k = np.arange(1, K)
        t = np.ceil(self.curve(k - phase) - 1e-9).astype(np.int64)
        # exact arithmetic already gives k <= t_k <= L-K+k, strictly increasing; guard against rounding
        t = np.maximum.accumulate(np.clip(t, k, L - K + k) - k) + k
        return np.diff(np.concatenate([[0], t, [L]]))

    def draw(self, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = np.random.default_rng() if rng is None else rng
        return self.sizes_at(float(rng.random()))

    def _inverse_grid(self) -> np.ndarray:
        """G(j) for j = 0..L-1 (K = 1: no boundaries, G = 0)."""
        if self.rounds == 1:
            return np.zeros(self.length)
        return np.asarray(self.inverse(np.arange(self.length, dtype=np.float64)), dtype=np.float64)

    def expected_overrun(self) -> np.ndarray:
        g = self._inverse_grid()
        L = self.length
        m = np.arange(1, L)
        x = g[m - 1]
        stop = np.searchsorted(g, x + 1.0, side="left")      # terms j in [m, stop) are positive
        count = np.maximum(stop - m, 0)
        prefix = np.concatenate([[0.0], np.cumsum(g)])
        total = count * (1.0 + x) - np.where(count > 0, prefix[np.maximum(stop, m)] - prefix[m], 0.0)
        return np.maximum(total, 0.0)

    def expected_sizes(self) -> np.ndarray:
        """Exact E[s_k]: E[t_k] = sum_{j=0}^{L-1} P(F(k - U) > j) = sum_j clip(k - G(j), 0, 1)."""
        g = self._inverse_grid()
        k = np.arange(1, self.rounds, dtype=np.float64)
        full = np.searchsorted(g, k - 1.0, side="right")    # G(j) <= k-1: always counted
        part = np.searchsorted(g, k, side="left")           # k-1 < G(j) < k: counted with prob k - G(j)
        prefix = np.concatenate([[0.0], np.cumsum(g)])
        t = full + (part - full) * k - (prefix[part] - prefix[full])
        return np.diff(np.concatenate([[0.0], t, [float(self.length)]]))

    def support(self) -> list[tuple[float, np.ndarray]]:
        """[(probability, sizes)]: U splits into the intervals between the phases (-G(j) mod 1)."""
        cuts = np.unique(np.concatenate([[0.0, 1.0], np.mod(-self._inverse_grid(), 1.0)]))
        merged: dict[tuple, float] = {}
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            if hi - lo > 1e-12:
                key = tuple(self.sizes_at(0.5 * (lo + hi)).tolist())
                merged[key] = merged.get(key, 0.0) + (hi - lo)
        return [(w, np.array(key, dtype=np.int64)) for key, w in merged.items()]

    def __repr__(self) -> str:
        return f"RandomPhaseSchedule({self.name!r}, L={self.length}, K={self.rounds})"


def _dtc_curve(length: int, rounds: int):
    """F(x) = x up to x0 = 1/a (rounds of one token), then x0 exp(a (x - x0)) (sizes grow by e^a per round)."""
    a = geometric_rate(length, rounds)
    x0 = 1.0 / a

    def curve(x):
        x = np.asarray(x, dtype=np.float64)
        return np.where(x <= x0, x, x0 * np.exp(a * np.maximum(x - x0, 0.0)))

    def inverse(y):
        y = np.asarray(y, dtype=np.float64)
        return np.where(y <= x0, y, x0 + np.log(np.maximum(y, x0) / x0) / a)

    return curve, inverse


def _mirror(length: int, rounds: int, curve, inverse):
    """The time-reversed curve: round k of the mirror has the size of round K+1-k of the original."""
    n, steps = length - 1.0, rounds - 1.0
    return (lambda x: n - curve(steps - np.asarray(x, dtype=np.float64)),
            lambda y: steps - inverse(n - np.asarray(y, dtype=np.float64)))


def dtc_adaptive_schedule(length: int, rounds: int) -> RandomPhaseSchedule:
    """Small rounds first, growing geometrically: E[R_m] <= c m, so E[KL] <= c DTC (Zhao & Cai's DTC/K)."""
    check_rounds(length, rounds)
    return RandomPhaseSchedule(length, rounds, *_dtc_curve(length, rounds), name="dtc")


def tc_adaptive_schedule(length: int, rounds: int) -> RandomPhaseSchedule:
    """Large rounds first, shrinking geometrically: E[R_m] <= c (L - m), so E[KL] <= c TC (TC/K)."""
    check_rounds(length, rounds)
    return RandomPhaseSchedule(length, rounds, *_mirror(length, rounds, *_dtc_curve(length, rounds)), name="tc")


def equal_random_schedule(length: int, rounds: int) -> RandomPhaseSchedule:
    """Equal sizes with a random phase: F a straight line (an ablation: randomization without adaptation)."""
    check_rounds(length, rounds)
    slope = (length - 1) / max(rounds - 1, 1)
    return RandomPhaseSchedule(length, rounds, lambda x: np.asarray(x, dtype=np.float64) * slope,
                               lambda y: np.asarray(y, dtype=np.float64) / slope, name="equal-random")


class ProductWeightSchedule:
    """Boundary set T (K-1 of the positions 1..L-1) drawn with probability proportional to prod_{t in T} w_t:
    independent Bernoulli cuts conditioned on exactly K - 1 of them, so exactly K rounds of >= 1 token.

    Dynamic programming over the elementary symmetric polynomials of the weights, in log space:
    B_r(i) = e_r(w_i, ..., w_{L-1}) and F_k(i) = e_k(w_1, ..., w_i). Precomputation O(KL); a draw walks
    i = 1..L-1 and cuts with probability w_i B_{r-1}(i+1) / B_r(i) (r cuts still to place): O(K + L).
    E[R_m] = sum_j P(no cut in [m, j]) = sum_k F_k(m-1) S_{K-1-k}(m+1) / B_{K-1}(1), S_r(i) = sum_{i'>=i} B_r(i').
    Unlike a random phase this law never forces single-token rounds, so E[R_m] stays proportional to its
    bound everywhere (a smooth, but on average worse, alternative).
    """

    def __init__(self, length: int, rounds: int, weights, name: str):
        check_rounds(length, rounds)
        self.length, self.rounds, self.name = int(length), int(rounds), name
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (length - 1,) or np.any(w <= 0):
            raise ValueError(f"weights must be {length - 1} positive numbers, one per possible boundary 1..L-1")
        L, K = self.length, self.rounds
        log_w = np.log(w)
        # log_b[r, i] = log e_r(w_i..w_{L-1}) for i = 1..L (column i; column L is the empty suffix)
        log_b = np.full((K, L + 1), -np.inf)
        log_b[0, 1:] = 0.0
        for i in range(L - 1, 0, -1):
            log_b[1:, i] = np.logaddexp(log_b[1:, i + 1], log_w[i - 1] + log_b[:-1, i + 1])
        # log_f[k, i] = log e_k(w_1..w_i) for i = 0..L-1
        log_f = np.full((K, L), -np.inf)
        log_f[0] = 0.0
        for i in range(1, L):
            log_f[1:, i] = np.logaddexp(log_f[1:, i - 1], log_w[i - 1] + log_f[:-1, i - 1])
        self._log_w, self._log_b, self._log_f = log_w, log_b, log_f

    def draw(self, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = np.random.default_rng() if rng is None else rng
        L, K, log_b = self.length, self.rounds, self._log_b
        cuts, left = [], K - 1
        for i, u in zip(range(1, L), rng.random(L - 1)):
            if left == 0:
                break
            if u < np.exp(self._log_w[i - 1] + log_b[left - 1, i + 1] - log_b[left, i]):
                cuts.append(i)
                left -= 1
        return np.diff(np.concatenate([[0], cuts, [L]])).astype(np.int64)

    def _cut_position_probs(self) -> np.ndarray:
        """P(t_k = i) for k = 1..K-1 (rows), i = 1..L-1 (columns)."""
        K, L = self.rounds, self.length
        k = np.arange(1, K)[:, None]
        i = np.arange(1, L)[None, :]
        log_p = self._log_f[k - 1, i - 1] + self._log_w[None, :] + self._log_b[K - 1 - k, i + 1] - self._log_b[K - 1, 1]
        return np.exp(log_p)

    def expected_sizes(self) -> np.ndarray:
        t = self._cut_position_probs() @ np.arange(1, self.length, dtype=np.float64)
        return np.diff(np.concatenate([[0.0], t, [float(self.length)]]))

    def expected_overrun(self) -> np.ndarray:
        K, L = self.rounds, self.length
        # log_s[r, i] = log sum_{i' >= i} B_r(i'), i = 1..L
        log_s = np.logaddexp.accumulate(self._log_b[:, :0:-1], axis=1)[:, ::-1]
        log_s = np.concatenate([np.full((K, 1), -np.inf), log_s, np.full((K, 1), -np.inf)], axis=1)  # columns 0..L+1
        m = np.arange(1, L)
        k = np.arange(K)[:, None]
        terms = self._log_f[k, m[None, :] - 1] + log_s[K - 1 - k, m[None, :] + 1]
        top = terms.max(0)
        safe = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore"):   # positions with no term at all: E[R_m] = 0
            total = np.log(np.exp(terms - safe).sum(0)) + safe - self._log_b[K - 1, 1]
        return np.where(np.isfinite(top), np.exp(total), 0.0)

    def support(self) -> list[tuple[float, np.ndarray]]:
        """Every boundary set with its probability (small L only: C(L-1, K-1) sets)."""
        import itertools

        L, K = self.length, self.rounds
        if math.comb(L - 1, K - 1) > 100_000:
            raise ValueError(f"C(L-1, K-1) = C({L - 1}, {K - 1}) boundary sets are too many to enumerate")
        out = []
        for cuts in itertools.combinations(range(1, L), K - 1):
            log_p = sum(self._log_w[c - 1] for c in cuts) - self._log_b[K - 1, 1]
            out.append((float(np.exp(log_p)), np.diff(np.concatenate([[0], cuts, [L]])).astype(np.int64)))
        return out

    def __repr__(self) -> str:
        return f"ProductWeightSchedule({self.name!r}, L={self.length}, K={self.rounds})"


def tc_product_schedule(length: int, rounds: int) -> ProductWeightSchedule:
    """Boundary weights w_t = 1 / (L - t): boundaries get denser as fewer tokens remain (TC-adaptive)."""
    check_rounds(length, rounds)
    return ProductWeightSchedule(length, rounds, 1.0 / (length - np.arange(1, length)), name="tc-product")


def dtc_product_schedule(length: int, rounds: int) -> ProductWeightSchedule:
    """Boundary weights w_t = 1 / t: dense boundaries while few tokens are revealed (DTC-adaptive).

    Its constant c_DTC exceeds (1 + log L)/(K - 1) for small K (every K <= 19 at L = 2000, notebook 05), though
    c K / log L stays bounded."""
    check_rounds(length, rounds)
    return ProductWeightSchedule(length, rounds, 1.0 / np.arange(1, length), name="dtc-product")


RANDOM_SCHEDULES = {"tc": tc_adaptive_schedule, "dtc": dtc_adaptive_schedule, "equal-random": equal_random_schedule,
                    "tc-product": tc_product_schedule, "dtc-product": dtc_product_schedule}
SCHEDULE_NAMES = (*MASKED_FRACTION, *RANDOM_SCHEDULES)


def schedule_distribution(name: str, length: int, rounds: int):
    """A schedule distribution by name: deterministic 'equal', 'linear', 'cosine'; random phase 'tc', 'dtc',
    'equal-random'; product weights 'tc-product', 'dtc-product'."""
    if name in RANDOM_SCHEDULES:
        return RANDOM_SCHEDULES[name](length, rounds)
    if name in MASKED_FRACTION:
        return FixedSchedule(size_schedule(name, length, rounds), name=name)
    raise ValueError(f"unknown schedule {name!r}: choose one of {', '.join(SCHEDULE_NAMES)}")


def monte_carlo_overrun(schedule, n_draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of R_m over ``n_draws`` drawn schedules (checks ``expected_overrun``)."""
    draws = np.stack([overrun(schedule.draw(rng)) for _ in range(n_draws)]).astype(np.float64)
    return draws.mean(0), draws.std(0, ddof=1) / np.sqrt(n_draws) if n_draws > 1 else np.zeros(draws.shape[1])


def adaptivity_constants(schedule, overrun=None) -> tuple[float, float]:
    """(c_TC, c_DTC): the smallest c with E[R_m] <= c (L - m), resp. E[R_m] <= c m, for every m
    (pass ``overrun`` = ``schedule.expected_overrun()`` to reuse it)."""
    r = schedule.expected_overrun() if overrun is None else np.asarray(overrun)
    m = np.arange(1, schedule.length)
    if r.size == 0:
        return 0.0, 0.0
    return float(np.max(r / (schedule.length - m))), float(np.max(r / m))
