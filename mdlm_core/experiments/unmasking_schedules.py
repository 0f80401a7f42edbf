"""Notebook 05 (Zhao & Cai's randomized unmasking schedules): its sizes, profiles and claims."""

from __future__ import annotations

from dataclasses import dataclass




@dataclass(frozen=True)
class UnmaskingScheduleConfig:
    """Sizes for notebook 05 (pure computation plus a small sampler check; quick is the paper's scale)."""

    length: int = 2000             # L
    alphabet: int = 2048           # q
    rounds_fig1: int = 1000        # K of Fig. 1
    rounds_fig2b: int = 500        # K of Fig. 2b
    codimension_fig2a: int = 5     # L - d of Fig. 2a (low TC); its mirror d = 5 shows low DTC
    n_rounds: int = 60             # log-spaced K values in Fig. 2a
    n_codimensions: int = 40       # log-spaced L - d values in Fig. 2b
    mc_draws: int = 2000           # drawn schedules for the Monte Carlo checks
    rs_prime: int = 5              # the end-to-end Reed-Solomon check: GF(p), length, dimension, rounds
    rs_length: int = 5
    rs_dimension: int = 2
    rs_rounds: int = 3
    rs_samples: int = 20_000       # sampler runs per schedule in the support
    seed: int = 0


UNMASKING_SCHEDULE_PROFILES = {
    "smoke": UnmaskingScheduleConfig(length=200, rounds_fig1=100, rounds_fig2b=50, n_rounds=15, n_codimensions=10,
                                     mc_draws=200, rs_samples=2000),
    "quick": UnmaskingScheduleConfig(),
    "paper": UnmaskingScheduleConfig(n_rounds=120, n_codimensions=80, mc_draws=20_000, rs_samples=200_000),
}
