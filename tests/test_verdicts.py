"""Every verdict rule on synthetic results: a clear effect, no effect, the opposite effect, censored runs."""

import math

import numpy as np
import pytest

from mdlm_core.companion.verdicts import (Claim, check_close, logrank_statistic, logrank_test, paired_difference_test,
                                          rank_agreement_test, share_test, two_way_residual_sd,
                                          u_shape_test)

RNG = np.random.default_rng(0)


def test_paired_difference_clear_effect_is_reproduced():
    result = paired_difference_test([0.10, 0.12, 0.11, 0.09])
    assert result.verdict == "reproduced" and result.z > 2 and result.p_value < 0.023 and result.n_seeds == 4


@pytest.mark.parametrize("diffs,verdict", [([0.01, -0.01, 0.005, -0.004], "inconclusive"),    # no effect
                                           ([-0.10, -0.12, -0.11], "not reproduced"),           # the other way
                                           ([0.03, 0.0, 0.05, -0.01], "partly")])               # 1 <= z < 2
def test_paired_difference_other_outcomes(diffs, verdict):
    assert paired_difference_test(diffs).verdict == verdict


def test_paired_difference_pools_the_evaluation_se_and_can_exclude_the_paper_effect():
    # seeds agree exactly, so the seed s.e. is 0: only the pooled evaluation s.e. keeps the z finite
    assert paired_difference_test([0.01, 0.01, 0.01]).verdict == "reproduced"
    assert paired_difference_test([0.01, 0.01, 0.01], eval_se=0.02).verdict == "inconclusive"
    # a tight null that rules out an effect of 0.2: refuted with power
    assert paired_difference_test([0.001, -0.002, 0.0], eval_se=0.005, min_effect=0.2).verdict == "not reproduced"
    # one seed and nothing else: no spread to judge by
    assert paired_difference_test([0.5]).verdict == "inconclusive"


def test_paired_difference_has_the_stated_false_positive_rate():
    """Under no effect, 'reproduced' (one-sided p <= 0.0228) fires 2.3% of the time for any seed count. The old
    normal rule (z >= 2 on the seed s.e.) fired at P(t_{n-1} >= 2): 3.8% with 10 seeds and 14.8% with 2."""
    for n_seeds in (2, 3, 10):
        hits = np.mean([paired_difference_test(RNG.normal(size=n_seeds)).verdict == "reproduced" for _ in range(4000)])
        assert 0.014 < hits < 0.033, (n_seeds, hits)
    # power: an effect of 1.3 s.d. over 10 seeds (noncentrality 4.1) is found nearly always
    power = np.mean([paired_difference_test(RNG.normal(1.3, 1.0, size=10)).verdict == "reproduced" for _ in range(500)])
    assert power > 0.9


def test_two_seeds_need_a_larger_t_unless_the_seed_sd_is_pooled():
    # t = 11 on 1 d.o.f. is p = 0.029: short of 0.0228, only "partly"; the normal rule called it reproduced
    result = paired_difference_test([1.0, 1.2])
    assert result.z == pytest.approx(11.0) and result.p_value == pytest.approx(0.0288, abs=5e-4)
    assert result.verdict == "partly" and "1.0 d.o.f." in result.statistic
    # the same differences with a seed s.d. pooled over windows on 11 d.o.f.: p ~ 1e-7, reproduced
    pooled = paired_difference_test([1.0, 1.2], seed_sd=0.1414, seed_dof=11)
    assert pooled.verdict == "reproduced" and pooled.p_value < 1e-6 and "11.0 d.o.f." in pooled.statistic


def test_two_way_residual_sd_by_hand():
    # windows x seeds; additive part: window means (1, 2, 4), seed offsets (-0.5, +0.5); noise +-e on a checkerboard
    e = 0.1
    y = np.array([[0.5 + e, 1.5 - e], [1.5 - e, 2.5 + e], [3.5, 4.5]])
    sd, dof = two_way_residual_sd(y)
    assert dof == 2
    resid = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean()
    assert sd == pytest.approx(float(np.sqrt((resid ** 2).sum() / 2)))
    assert sd > 0 and two_way_residual_sd(np.array([[1.0, 2.0], [3.0, 4.0]]))[0] == pytest.approx(0.0)
    assert two_way_residual_sd(np.ones((5, 1))) == (pytest.approx(float("nan"), nan_ok=True), 0)


def test_share_test():
    assert share_test(10, 10).verdict == "reproduced" and share_test(10, 10).p_value < 0.01
    assert share_test(0, 10).verdict == "not reproduced"
    assert share_test(3, 3).verdict == "partly"          # 3/3 is p = 0.125: a majority short of significance
    assert share_test(5, 10).verdict == "inconclusive"
    assert share_test(2, 6, censored=4).verdict == "inconclusive"   # most seeds censored


def test_logrank_statistic_matches_a_hand_computed_case():
    # a: events at 1, 2; b: events at 3 and a censored run at 4. At t=1: 4 at risk, 2 in a, 1 event -> E_a = 1/2;
    # t=2: 3 at risk, 1 in a -> 1/3; t=3: 2 at risk, 0 in a -> 0. O_a - E_a = 2 - 5/6.
    chi2, o_minus_e = logrank_statistic([1, 2], [True, True], [3, 4], [True, False])
    variance = (1 / 2) * (1 / 2) + (1 / 3) * (2 / 3) + 0
    assert o_minus_e == pytest.approx(2 - 5 / 6)
    assert chi2 == pytest.approx((2 - 5 / 6) ** 2 / variance)


def test_logrank_test_directions_and_censoring():
    fast = (np.arange(100, 1100, 100), np.ones(10, bool))
    slow = (np.full(10, 3000), np.zeros(10, bool))                  # every slow run censored at the budget
    assert logrank_test(*fast, *slow).verdict == "reproduced"
    assert logrank_test(*slow, *fast).verdict == "not reproduced"
    same = logrank_test(np.arange(100, 1100, 100), np.ones(10, bool), np.arange(150, 1150, 100), np.ones(10, bool))
    assert same.verdict in ("inconclusive", "partly") and same.p_value > 0.05
    all_censored = logrank_test(np.full(5, 3000), np.zeros(5, bool), np.full(5, 3000), np.zeros(5, bool))
    assert all_censored.verdict == "inconclusive" and "10/10 runs censored" in all_censored.summary


CENTRES = np.arange(0.05, 1.0, 0.1)


def test_u_shape_says_yes_on_a_u_and_no_on_flat_data():
    u = 2.0 + 1.5 * (CENTRES - 0.45) ** 2
    losses = u[:, None] + RNG.normal(0, 0.01, size=(10, 3))
    result = u_shape_test(CENTRES, losses)
    assert result.verdict == "reproduced" and result.n_seeds == 3
    flat = 2.0 + RNG.normal(0, 0.01, size=(10, 3))
    assert u_shape_test(CENTRES, flat).verdict in ("inconclusive", "partly", "not reproduced")
    assert u_shape_test(CENTRES, flat).verdict != "reproduced"
    inverted = 2.0 - 1.5 * (CENTRES - 0.45) ** 2
    assert u_shape_test(CENTRES, inverted[:, None] + RNG.normal(0, 0.01, size=(10, 3))).verdict == "not reproduced"


def test_u_shape_on_pure_noise_rarely_passes():
    """The old range > 2 sigma check passed on pure noise ~15% of the time; this rule must not."""
    passes = np.mean([u_shape_test(CENTRES, RNG.normal(size=(10, 3))).verdict == "reproduced" for _ in range(300)])
    assert passes < 0.03


def test_rank_agreement_uses_the_exact_permutation_p_value():
    result = rank_agreement_test([5, 4, 3, 2, 1], [0.9, 0.8, 0.7, 0.6, 0.5], n_seeds=3)
    assert result.verdict == "reproduced" and result.p_value == pytest.approx(1 / 120)
    # rho >= 0.9 for n = 5: the identity and the 4 adjacent swaps, so p = 5/120
    weak = rank_agreement_test([5, 4, 3, 1, 2], [0.9, 0.8, 0.7, 0.6, 0.5], n_seeds=3)
    assert weak.statistic == "rho = +0.90" and weak.p_value == pytest.approx(5 / 120) and weak.verdict == "reproduced"
    assert rank_agreement_test([3, 1, 2, 5, 4], [0.9, 0.8, 0.7, 0.6, 0.5], 3).verdict in ("partly", "not reproduced")
    assert rank_agreement_test([1, 2, 3, 4, 5], [0.9, 0.8, 0.7, 0.6, 0.5], 3).verdict == "not reproduced"
    with pytest.raises(ValueError, match="equal-length"):
        rank_agreement_test([1, 2], [1, 2], 3)


def test_claims_keep_the_kinds_apart():
    assert check_close(0.1429, 1 / 7, 1e-4) == "checked" and check_close(0.2, 1 / 7, 1e-4) == "fails check"
    claim = Claim.experiment("x", "paper", paired_difference_test([0.1, 0.12, 0.11]))
    assert claim.kind == "experiment" and claim.n_seeds == 3 and math.isfinite(claim.z) and claim.p_value < 0.05
    assert claim.ours.startswith("+0.110")
    with pytest.raises(ValueError, match="derived claim's verdict"):
        Claim.derived("identity", "paper", "ours", "reproduced")
