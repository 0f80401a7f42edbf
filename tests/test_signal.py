import numpy as np
import pytest
import torch

from mdlm_core import MaskRatio, optimal_mask_ratio, optimal_window_upper, signal_probability, window_average_signal
from mdlm_core.theory import argmax_signal_probability, is_signal_mask, monte_carlo_signal_probability


@pytest.mark.parametrize("k", [1, 2, 4, 6])
def test_signal_probability_matches_monte_carlo(k):
    t = np.array([0.05, 1 / (k + 1), 0.3, 0.6, 0.9])
    mc = monte_carlo_signal_probability(t, k, n_samples=40_000, seq_len=k + 5, seed=k)
    exact = signal_probability(t, k)
    # 4.5 standard errors: a per-point false-alarm rate below 1e-5
    assert np.all(np.abs(mc.estimate - exact) <= 4.5 * mc.stderr + 1e-4), (mc.estimate, exact)


def test_signal_probability_is_exactly_one_of_k_plus_one_masked():
    # brute force over all masks of k + 1 = 4 relevant tokens
    k, t = 3, 0.27
    total = 0.0
    for bits in range(2 ** (k + 1)):
        m = [(bits >> i) & 1 for i in range(k + 1)]
        if sum(m) == 1:
            total += np.prod([t if b else 1 - t for b in m])
    assert signal_probability(t, k) == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 6, 10])
def test_numerical_optimum_agrees_with_closed_form(k):
    assert argmax_signal_probability(k) == pytest.approx(optimal_mask_ratio(k), abs=1e-6)
    grid = np.linspace(0, 1, 20001)
    assert grid[np.argmax(signal_probability(grid, k))] == pytest.approx(1 / (k + 1), abs=1e-4)


def test_window_average_matches_quadrature_and_limits():
    k = 6
    for t0, t1 in [(0.001, 0.246), (0.1, 0.5), (0.45, 0.55), (0.001, 1.0)]:
        assert window_average_signal(t0, t1, k) == pytest.approx(
            MaskRatio.window(t0, t1).expectation(lambda t: signal_probability(t, k)), rel=1e-9)
    assert window_average_signal(0.2, 0.2, k) == pytest.approx(signal_probability(0.2, k))
    # over U[0, 1] the average is (k+1) B(2, k+1) = 1 / (k + 2)
    assert window_average_signal(0.0, 1.0, k) == pytest.approx(1 / (k + 2))


def test_optimal_window_for_k6_is_the_papers_0_246():
    t1 = optimal_window_upper(6)
    assert t1 == pytest.approx(0.246, abs=1e-3)
    # first-order condition: at the optimum the curve crosses its running mean
    assert signal_probability(t1, 6) == pytest.approx(window_average_signal(0, t1, 6), rel=1e-5)
    grid = np.linspace(0.01, 1, 5000)
    assert window_average_signal(0, t1, 6) >= window_average_signal(np.zeros_like(grid), grid, 6).max() - 1e-9


def test_signal_mask_classification():
    relevant = [0, 2, 4]
    mask = torch.tensor([[1, 0, 0, 1, 0],   # one relevant (0) -> signal
                         [1, 0, 1, 0, 0],   # two relevant -> noise
                         [0, 1, 0, 1, 0],   # none relevant -> noise
                         [0, 0, 0, 0, 1]], dtype=torch.bool)
    assert is_signal_mask(mask, relevant).tolist() == [True, False, False, True]


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_bad_k_is_rejected(bad):
    with pytest.raises(ValueError, match="k="):
        signal_probability(0.1, bad)


def test_bad_t_and_window_rejected():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        signal_probability(1.5, 3)
    with pytest.raises(ValueError, match="t0 <= t1"):
        window_average_signal(0.5, 0.2, 3)


def test_signal_curve_claims_are_all_derived_and_catch_a_broken_sampler():
    import pandas as pd
    from mdlm_core.experiments.signal_curve import SIGNAL_CURVE_PROFILES, signal_curve_claims
    cfg = SIGNAL_CURVE_PROFILES["smoke"]
    good = pd.DataFrame({"z": [0.3, -1.2, 2.1, 0.0]})
    claims = signal_curve_claims(good, 6, cfg)
    assert {c.kind for c in claims} == {"derived"} and all(c.verdict in ("derived", "checked") for c in claims)
    broken = signal_curve_claims(pd.DataFrame({"z": [0.3, 9.0]}), 6, cfg)
    assert [c.verdict for c in broken if "sampler" in c.claim] == ["fails check"]
