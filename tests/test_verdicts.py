"""Every verdict rule on synthetic results: a clear effect, no effect, the opposite effect, censored runs."""

import math

import numpy as np
import pytest
from scipy import stats

from mdlm_core.companion.verdicts import (Claim, check_close, logrank_scores, logrank_statistic, logrank_test,
                                          paired_difference_test, paired_rule_p, rank_agreement_test, share_test,
                                          sign_flip_p, two_way_residual_sd, u_shape_test)

RNG = np.random.default_rng(0)


def test_paired_difference_clear_effect_is_reproduced():
    result = paired_difference_test([0.10, 0.12, 0.11, 0.09, 0.10, 0.13])
    assert result.verdict == "reproduced" and result.z > 2 and result.n_seeds == 6
    # six positive seeds: the sign-flip p is 1/64, larger than the t's, so it decides
    assert result.p_value == pytest.approx(1 / 64) and "decided by: sign-flip" in result.test
    assert result.p_opposite == pytest.approx(1.0) and result.effect == pytest.approx(0.1083, abs=1e-4)


@pytest.mark.parametrize("diffs,verdict", [([0.01, -0.01, 0.005, -0.004, 0.002, -0.003], "inconclusive"),  # none
                                           ([-0.10, -0.12, -0.11, -0.09, -0.1], "not reproduced"),       # reversed
                                           ([0.03, 0.0, 0.05, -0.01], "inconclusive")])   # z = 1.4: no "1 sigma partly"
def test_paired_difference_other_outcomes(diffs, verdict):
    assert paired_difference_test(diffs).verdict == verdict


def test_four_or_fewer_seeds_cannot_be_decided_by_their_own_spread():
    """The sign-flip's smallest p over n seeds is 2^-n: 1/16 > 0.05 at n = 4, so however large the t, nothing is
    decided, and the MDE says so (None: nothing is detectable)."""
    for n in (2, 3, 4):
        result = paired_difference_test(np.full(n, 0.2) + RNG.normal(0, 1e-3, n))
        assert result.p_value == pytest.approx(2.0 ** -n) and result.verdict == "inconclusive" and result.mde is None
    assert paired_difference_test(np.full(5, 0.2) + RNG.normal(0, 1e-3, 5)).verdict == "reproduced"


def test_the_equivalence_no_needs_the_declared_minimum_effect_excluded():
    # a tight null over 6 seeds that rules out an effect of 0.2: refuted
    tight = [0.001, -0.002, 0.0, 0.002, -0.001, 0.0005]
    result = paired_difference_test(tight, eval_se=0.005, min_effect=0.2)
    assert result.verdict == "not reproduced" and result.p_below_min <= 0.05
    assert paired_difference_test(tight, eval_se=0.005).verdict == "inconclusive"      # no minimum declared
    # significant, but the effect is below the declared minimum: partly
    small = paired_difference_test([0.05, 0.06, 0.055, 0.045, 0.05, 0.052], min_effect=0.1)
    assert small.p_value <= 0.05 and small.verdict == "partly"
    # one seed and nothing else: no spread to judge by
    assert paired_difference_test([0.5]).verdict == "inconclusive"


def test_paired_difference_has_the_stated_false_positive_rate():
    """Under no effect, a test alone (q = p) says 'reproduced' at most 5% of the time for any seed count; the
    vectorised rule (``paired_rule_p``) is what ``paired_difference_test`` computes."""
    for n_seeds in (5, 10, 15):
        null = RNG.normal(size=(4000, n_seeds))
        hits = np.mean(paired_rule_p(null)[0] <= 0.05)
        assert 0.015 < hits < 0.05 + 0.011, (n_seeds, hits)      # it fires, and not more than stated
        for d in null[:5]:
            assert paired_difference_test(d).p_value == pytest.approx(float(paired_rule_p(d)[0]))


def test_a_pooled_seed_sd_lets_the_block_model_t_decide():
    # t = 11 on 1 d.o.f. with 2 seeds: the sign-flip p is 1/4, it decides, inconclusive
    result = paired_difference_test([1.0, 1.2])
    assert result.z == pytest.approx(11.0) and result.p_value == pytest.approx(0.25)
    assert result.verdict == "inconclusive" and "1.0 d.o.f." in result.statistic
    # the same differences with a seed s.d. pooled over windows on 11 d.o.f.: the block-model t decides
    pooled = paired_difference_test([1.0, 1.2], seed_sd=0.1414, seed_dof=11)
    assert pooled.verdict == "reproduced" and pooled.p_value < 1e-6 and "11.0 d.o.f." in pooled.statistic
    assert "sign-flip p = 0.25" in pooled.statistic and "decided by: Student t" in pooled.test
    assert paired_difference_test([1.0, 1.2], seed_sd=0.1414, seed_dof=11, exact=True).verdict == "inconclusive"


def test_sign_flip_p_by_enumeration():
    d = np.array([0.3, -0.1, 0.2])
    sums = [s1 * 0.3 + s2 * -0.1 + s3 * 0.2 for s1 in (1, -1) for s2 in (1, -1) for s3 in (1, -1)]
    p, p_opposite = sign_flip_p(d)
    assert p == pytest.approx(np.mean([s >= 0.4 - 1e-12 for s in sums]))           # 2/8: 0.4 and 0.6
    assert p_opposite == pytest.approx(np.mean([s <= 0.4 + 1e-12 for s in sums]))   # 7/8


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


def test_share_test_reports_both_one_sided_binomial_p_values():
    ten = share_test(10, 10)
    assert ten.verdict == "reproduced" and ten.p_value == pytest.approx(2 ** -10) and ten.p_opposite == 1.0
    zero = share_test(0, 10)
    assert zero.verdict == "not reproduced" and zero.p_value == 1.0 and zero.p_opposite == pytest.approx(2 ** -10)
    assert share_test(3, 3).verdict == "inconclusive"      # 3/3 is p = 0.125: no "majority" partly any more
    assert share_test(3, 3).mde is None                    # 3 seeds can never reach 0.05 against 1/2
    assert share_test(2, 10).p_opposite == pytest.approx(stats.binom.cdf(2, 10, 0.5))
    assert share_test(2, 6, censored=4).verdict == "inconclusive"   # most seeds censored: the gate fails
    assert share_test(2, 6, censored=4).gate_passed is False


def test_binomial_mde_has_the_stated_power():
    result = share_test(5, 10, p0=0.5)
    p1 = 0.5 + result.mde
    k = 9                                       # P0(X >= 9) = 0.0107 <= 0.05 < P0(X >= 8) = 0.055
    assert stats.binom.sf(k - 1, 10, p1) == pytest.approx(0.8, abs=1e-6)


def test_logrank_statistic_matches_a_hand_computed_case():
    # a: events at 1, 2; b: events at 3 and a censored run at 4. At t=1: 4 at risk, 2 in a, 1 event -> E_a = 1/2;
    # t=2: 3 at risk, 1 in a -> 1/3; t=3: 2 at risk, 0 in a -> 0. O_a - E_a = 2 - 5/6.
    chi2, o_minus_e = logrank_statistic([1, 2], [True, True], [3, 4], [True, False])
    variance = (1 / 2) * (1 / 2) + (1 / 3) * (2 / 3) + 0
    assert o_minus_e == pytest.approx(2 - 5 / 6)
    assert chi2 == pytest.approx((2 - 5 / 6) ** 2 / variance)
    # the log-rank scores sum to O - E over the group: the permutation test is a subset-sum test
    assert logrank_scores([1, 2, 3, 4], [True, True, True, False])[:2].sum() == pytest.approx(2 - 5 / 6)


def test_logrank_test_directions_and_censoring():
    fast = (np.arange(100, 1100, 100), np.ones(10, bool))
    slow = (np.full(10, 3000), np.zeros(10, bool))                  # every slow run censored at the budget
    assert logrank_test(*fast, *slow).verdict == "reproduced" and "exact permutation" in logrank_test(*fast, *slow).test
    assert logrank_test(*slow, *fast).verdict == "not reproduced"
    same = logrank_test(np.arange(100, 1100, 100), np.ones(10, bool), np.arange(150, 1150, 100), np.ones(10, bool))
    assert same.verdict == "inconclusive" and same.p_value > 0.05 and same.p_opposite > 0.05
    all_censored = logrank_test(np.full(5, 3000), np.zeros(5, bool), np.full(5, 3000), np.zeros(5, bool))
    assert all_censored.verdict == "inconclusive" and "10/10 runs censored" in all_censored.summary
    assert all_censored.mde is None


CENTRES = np.arange(0.05, 1.0, 0.1)


def test_u_shape_says_yes_on_a_u_and_no_on_flat_data():
    u = 2.0 + 1.5 * (CENTRES - 0.45) ** 2
    losses = u[:, None] + RNG.normal(0, 0.01, size=(10, 3))
    result = u_shape_test(CENTRES, losses)
    assert result.verdict == "reproduced" and result.n_seeds == 3 and result.p_value <= 0.05
    flat = 2.0 + RNG.normal(0, 0.01, size=(10, 3))
    assert u_shape_test(CENTRES, flat).verdict != "reproduced"
    inverted = 2.0 - 1.5 * (CENTRES - 0.45) ** 2
    cap = u_shape_test(CENTRES, inverted[:, None] + RNG.normal(0, 0.01, size=(10, 3)))
    assert cap.verdict == "not reproduced" and cap.p_opposite <= 0.05


def test_u_shape_on_pure_noise_rarely_passes():
    """The old range > 2 sigma check passed on pure noise ~15% of the time; this rule about its 5% at most."""
    passes = np.mean([u_shape_test(CENTRES, RNG.normal(size=(10, 3))).verdict == "reproduced" for _ in range(300)])
    assert passes <= 0.07


def test_rank_agreement_uses_the_exact_permutation_p_values():
    result = rank_agreement_test([5, 4, 3, 2, 1], [0.9, 0.8, 0.7, 0.6, 0.5], n_seeds=3)
    assert result.verdict == "reproduced" and result.p_value == pytest.approx(1 / 120)
    # rho >= 0.9 for n = 5: the identity and the 4 adjacent swaps, so p = 5/120
    weak = rank_agreement_test([5, 4, 3, 1, 2], [0.9, 0.8, 0.7, 0.6, 0.5], n_seeds=3)
    assert weak.statistic == "rho = +0.90" and weak.p_value == pytest.approx(5 / 120) and weak.verdict == "reproduced"
    assert rank_agreement_test([3, 1, 2, 5, 4], [0.9, 0.8, 0.7, 0.6, 0.5], 3).verdict == "inconclusive"
    reversed_ = rank_agreement_test([1, 2, 3, 4, 5], [0.9, 0.8, 0.7, 0.6, 0.5], 3)
    assert reversed_.verdict == "not reproduced" and reversed_.p_opposite == pytest.approx(1 / 120)
    with pytest.raises(ValueError, match="equal-length"):
        rank_agreement_test([1, 2], [1, 2], 3)


def test_claims_keep_the_kinds_apart_and_carry_the_new_fields():
    assert check_close(0.1429, 1 / 7, 1e-4) == "checked" and check_close(0.2, 1 / 7, 1e-4) == "fails check"
    claim = Claim.experiment("x", "paper", paired_difference_test([0.1, 0.12, 0.11, 0.1, 0.13]))
    assert claim.kind == "experiment" and claim.n_seeds == 5 and math.isfinite(claim.z) and claim.p_value < 0.05
    assert claim.ours.startswith("+0.112") and claim.p_opposite == pytest.approx(1.0) and claim.mde > 0
    assert claim.p_convention == "one-sided" and claim.q_value is None       # q comes from the whole report
    with pytest.raises(ValueError, match="derived claim's verdict"):
        Claim.derived("identity", "paper", "ours", "reproduced")
