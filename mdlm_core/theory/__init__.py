"""The theory: the Signal-regime probability of k-parity (Huang & Mirzasoleiman 2026) and the information
profiles and exact sampling KL of randomized unmasking schedules (Zhao & Cai 2026)."""

from .dependence import (ReedSolomonCode, SamplingKLEstimate, dual_total_correlation, estimate_sampling_kl, expected_kl,
                         expected_sampling_kl_bruteforce, information_profile, mds_information_profile, sampling_kl,
                         total_correlation)
from .signal import (MonteCarloSignal, argmax_signal_probability, count_masked_relevant, is_signal_mask,
                     monte_carlo_signal_probability, optimal_mask_ratio, optimal_window_upper, signal_probability,
                     window_average_signal)

__all__ = [name for name in dir() if not name.startswith("_")]
