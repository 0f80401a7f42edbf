import numpy as np
import pytest

from mdlm_core.schedules import size_schedule, sizes_from_masked_fraction


@pytest.mark.parametrize("name", ["equal", "linear", "cosine"])
@pytest.mark.parametrize("L,K", [(1, 1), (7, 3), (64, 64), (100, 7), (2000, 1000), (2000, 17)])
def test_schedules_sum_to_L_with_K_positive_rounds(name, L, K):
    sizes = size_schedule(name, L, K)
    assert len(sizes) == K and sizes.sum() == L and sizes.min() >= 1


@pytest.mark.parametrize("L,K,expected", [(12, 5, [3, 3, 2, 2, 2]), (10, 4, [3, 3, 2, 2]), (7, 7, [1] * 7),
                                          (8, 4, [2, 2, 2, 2]), (5, 1, [5]), (9, 2, [5, 4]), (64, 6, [11, 11, 11, 11, 10, 10])])
def test_equal_splits_like_llada(L, K, expected):
    """LLaDA's get_num_transfer_tokens: floor(L/K) each, the remainder L mod K to the FIRST rounds."""
    assert size_schedule("equal", L, K).tolist() == expected


def test_equal_split_by_enumeration():
    """Every (L, K) with K <= L <= 40: sizes differ by at most one, larger ones first, sum L."""
    for L in range(1, 41):
        for K in range(1, L + 1):
            sizes = size_schedule("equal", L, K)
            assert sizes.sum() == L and len(sizes) == K
            assert set(sizes.tolist()) <= {L // K, L // K + 1} and np.all(np.diff(sizes) <= 0)
            assert int((sizes == L // K + 1).sum()) == L % K


def test_shapes_of_the_named_schedules():
    lin = size_schedule("linear", 1000, 10)
    assert np.all(np.diff(lin) > 0)  # growing sizes
    cos = size_schedule("cosine", 1000, 10)
    assert cos[0] < cos[-1]


@pytest.mark.parametrize("L,K,match", [(10, 11, "K=11 rounds > L=10"), (10, 0, "rounds K"), (0, 1, "length L")])
def test_bad_arguments(L, K, match):
    with pytest.raises(ValueError, match=match):
        size_schedule("equal", L, K)
    with pytest.raises(ValueError, match="unknown schedule"):
        size_schedule("zigzag", 10, 2)


# --- schedule distributions (notebook 05) -------------------------------------------------------------

from mdlm_core.schedules import (SCHEDULE_NAMES, adaptivity_constants, geometric_rate, monte_carlo_overrun, overrun,
                                 schedule_distribution)

SIZES = [(1, 1), (5, 1), (6, 2), (10, 3), (10, 10), (37, 5), (200, 50), (2000, 1000), (2000, 7)]


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
@pytest.mark.parametrize("L,K", SIZES)
def test_drawn_schedules_have_K_positive_rounds_summing_to_L(name, L, K):
    dist = schedule_distribution(name, L, K)
    rng = np.random.default_rng(0)
    support = [s for _, s in dist.support()] if L <= 40 else []
    for sizes in [dist.draw(rng) for _ in range(20)] + support:
        assert len(sizes) == K and sizes.sum() == L and sizes.min() >= 1


def test_overrun_counts_tokens_after_m_in_its_round():
    # rounds {1,2,3}, {4}, {5,6}: R_1 = 2, R_2 = 1, R_3 = 0, R_4 = 0, R_5 = 1
    assert overrun([3, 1, 2]).tolist() == [2, 1, 0, 0, 1]


@pytest.mark.parametrize("name", ["tc", "dtc", "equal-random", "tc-product", "dtc-product"])
@pytest.mark.parametrize("L,K", [(6, 2), (10, 3), (12, 5), (37, 5), (200, 50)])
def test_exact_overrun_and_sizes_match_the_support_average(name, L, K):
    if name.endswith("product") and L > 12:
        pytest.skip("product-weight supports are enumerated only for small L")
    dist = schedule_distribution(name, L, K)
    support = dist.support()
    assert sum(w for w, _ in support) == pytest.approx(1.0)
    np.testing.assert_allclose(dist.expected_overrun(), sum(w * overrun(s) for w, s in support), atol=1e-9)
    np.testing.assert_allclose(dist.expected_sizes(), sum(w * s for w, s in support), atol=1e-9)


@pytest.mark.parametrize("name", ["tc", "dtc", "tc-product", "dtc-product"])
def test_monte_carlo_overrun_matches_the_exact_value(name):
    dist = schedule_distribution(name, 300, 40)
    mean, stderr = monte_carlo_overrun(dist, 3000, np.random.default_rng(1))
    exact = dist.expected_overrun()
    z = (mean - exact) / np.maximum(stderr, 1e-3)
    assert np.abs(z).max() < 5.5 and np.abs(mean - exact).mean() < 0.05 * exact.mean()


def test_adaptive_schedules_reach_c_of_order_log_L_over_K():
    """E[R_m] <= c (L-m) (TC) resp. c m (DTC) for all m with c <= (1 + log L) / (K - 1); DTC needs K > 1 + log L
    (with fewer rounds the first round alone already exceeds c m at m = 1)."""
    for L in (10, 100, 600):
        bound = lambda K: (1 + np.log(L)) / (K - 1)
        for K in range(2, L + 1):
            c_tc, _ = adaptivity_constants(schedule_distribution("tc", L, K))
            assert c_tc <= bound(K)
            if K > 1 + np.log(L):
                _, c_dtc = adaptivity_constants(schedule_distribution("dtc", L, K))
                assert c_dtc <= bound(K)


def test_shapes_of_the_adaptive_schedules():
    tc, dtc = schedule_distribution("tc", 2000, 100), schedule_distribution("dtc", 2000, 100)
    sizes = tc.expected_sizes()
    # large rounds first, shrinking; the first round covers F(1 - U) only: half a round on average
    assert np.all(np.diff(sizes[1:]) <= 0.5) and sizes[1] > 100 and sizes[-1] == 1  # (ceil wiggles near 1)
    assert sizes[0] == pytest.approx(np.mean([tc.sizes_at(u)[0] for u in np.linspace(0, 1, 2001)[:-1]]), rel=1e-2)
    np.testing.assert_allclose(dtc.expected_sizes(), tc.expected_sizes()[::-1], atol=1e-6)  # mirror images
    assert schedule_distribution("tc", 50, 50).expected_overrun().max() == 0  # K = L: one token per round
    np.testing.assert_allclose(schedule_distribution("dtc", 9, 1).expected_overrun(), np.arange(8, 0, -1))
    a = geometric_rate(2000, 1000)
    assert a * 999 == pytest.approx(1 + np.log(a * 1999))


@pytest.mark.parametrize("L,K,match", [(10, 11, "K=11 rounds > L=10"), (10, 0, "rounds K"), (0, 1, "length L")])
@pytest.mark.parametrize("name", ["tc", "dtc", "cosine", "tc-product"])
def test_bad_arguments_of_distributions(name, L, K, match):
    with pytest.raises(ValueError, match=match):
        schedule_distribution(name, L, K)


def test_unknown_distribution_and_bad_phase():
    with pytest.raises(ValueError, match="unknown schedule"):
        schedule_distribution("geometric", 10, 2)
    with pytest.raises(ValueError, match="phase"):
        schedule_distribution("tc", 10, 2).sizes_at(1.0)


def test_product_weight_schedules_adapt_too():
    for K in (20, 60, 150):
        c_tc, _ = adaptivity_constants(schedule_distribution("tc-product", 300, K))
        _, c_dtc = adaptivity_constants(schedule_distribution("dtc-product", 300, K))
        assert max(c_tc, c_dtc) <= (1 + np.log(300)) / (K - 1)
    with pytest.raises(ValueError, match="too many"):
        schedule_distribution("tc-product", 200, 50).support()


def test_plateauing_curve_still_reveals_a_token_every_round():
    # masked fraction stuck at 1/2 for the middle half of the rounds: rounding alone would give empty rounds
    plateau = lambda u: np.where(u < 0.25, 1 - 2 * u, np.where(u < 0.75, 0.5, 2 * (1 - u)))
    sizes = sizes_from_masked_fraction(plateau, 10, 8)
    assert len(sizes) == 8 and sizes.sum() == 10 and sizes.min() >= 1
