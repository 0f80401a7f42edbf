"""The verdict rules as a statistician would check them: error rates over a whole report, power, exact tests at
small n, gates, one training seed, the Benjamini-Hochberg q-values and Page's L."""

import itertools

import numpy as np
import pytest
from scipy import stats

from mdlm_core.companion.verdicts import (ONE_SIDED, Claim, apply_fdr, benjamini_hochberg, experiment_verdict,
                                          gated, gehan_test, in_fdr_family, page_l, page_trend_test,
                                          paired_difference_test, paired_rule_p, sign_flip_rule_mde)


def test_under_a_global_null_of_25_claims_any_reproduced_is_at_most_5_percent():
    """2,000 simulated reports, 25 null experiment claims each (paired differences over 10 and 6 seeds, shares of
    10 seeds against 1/2): the share of reports with any "reproduced" is <= 5% with the BH q, and far above it if
    each claim were judged by its own p."""
    rng = np.random.default_rng(26)
    sims = 2000
    p = np.concatenate([paired_rule_p(rng.normal(size=(sims, 15, 10)))[0],
                        paired_rule_p(rng.normal(size=(sims, 5, 6)))[0],
                        stats.binom.sf(rng.binomial(10, 0.5, size=(sims, 5)) - 1, 10, 0.5)], axis=1)
    q = benjamini_hochberg(p)
    verdicts = np.array([[experiment_verdict(p_, 1 - p_, q_, n_seeds=10) for p_, q_ in zip(ps, qs)]
                         for ps, qs in zip(p, q)])
    any_reproduced = (verdicts == "reproduced").any(axis=1).mean()
    assert any_reproduced <= 0.05, any_reproduced
    assert (p <= 0.05).any(axis=1).mean() > 0.4          # without the FDR: most reports would claim something


def test_power_at_the_declared_effect_for_a_10_seed_design():
    """A design planned for an effect of 1 seed s.d. over 10 seeds: its MDE is below that effect, and the rule
    finds the effect with >= 80% power; at the MDE itself the power is 80%."""
    rng = np.random.default_rng(1)
    declared = 1.0
    mde = sign_flip_rule_mde(10)
    assert mde < declared
    power = np.mean(paired_rule_p(rng.normal(declared, 1.0, size=(4000, 10)))[0] <= 0.05)
    assert power >= 0.8, power
    at_mde = np.mean(paired_rule_p(rng.normal(mde, 1.0, size=(4000, 10)))[0] <= 0.05)
    assert at_mde == pytest.approx(0.8, abs=0.025)
    # the test reports it, scaled by the seeds' own s.d.
    d = rng.normal(declared, 1.0, size=10)
    assert paired_difference_test(d).mde == pytest.approx(mde * d.std(ddof=1), rel=0.05)


def _censored_sample(rng, n, scale, budget):
    t = rng.exponential(scale, n)
    return np.minimum(t, budget), t < budget


def test_exact_and_asymptotic_gehan_agree_at_30_per_arm():
    rng = np.random.default_rng(3)
    for scale in (1000.0, 1400.0, 2500.0):
        fast, slow = _censored_sample(rng, 30, 1000.0, 3000), _censored_sample(rng, 30, scale, 3000)
        permutation = gehan_test(*fast, *slow, method="permutation")
        asymptotic = gehan_test(*fast, *slow)                      # auto: > 10 per arm is asymptotic
        assert "normal approximation" in asymptotic.test and "Monte Carlo" in permutation.test
        assert permutation.p_value == pytest.approx(asymptotic.p_value, abs=0.01 + 0.1 * asymptotic.p_value)
        assert permutation.p_opposite == pytest.approx(asymptotic.p_opposite, abs=0.01 + 0.1 * asymptotic.p_opposite)


def test_the_exact_gehan_is_used_at_4_per_arm_nb02_transformer():
    """NB02's transformer: all 4 MD runs censored at 10,000 steps; supervised reached 95% at 2,900, 4,500 and
    8,600 and one was censored. Gehan's W = -12: the normal approximation says z = -1.98, two-sided p = 0.047
    ("not reproduced"); over all C(8, 4) = 70 splits, 5 give W <= -12, so p against = 5/70 = 0.071 (two-sided
    0.143): inconclusive."""
    md = (np.full(4, 10_000.0), np.zeros(4, bool))
    supervised = (np.array([2900, 4500, 8600, 10_000.0]), np.array([True, True, True, False]))
    exact = gehan_test(*md, *supervised)
    assert "exact permutation over all 70 splits" in exact.test
    assert exact.p_opposite == pytest.approx(5 / 70) and 2 * exact.p_opposite == pytest.approx(0.143, abs=5e-4)
    assert exact.verdict == "inconclusive" and exact.z == pytest.approx(-1.984, abs=1e-3)
    assert exact.mde is None            # with this censoring no split could be significant at 0.05
    asymptotic = gehan_test(*md, *supervised, method="asymptotic")
    assert 2 * asymptotic.p_opposite == pytest.approx(0.0472, abs=5e-4) and asymptotic.verdict == "not reproduced"


def test_a_failed_gate_gives_inconclusive_gate_and_leaves_the_fdr_family():
    strong = paired_difference_test([0.1, 0.12, 0.11, 0.1, 0.13, 0.12])
    assert strong.verdict == "reproduced"
    result = gated(strong, [("the baseline groks (supervised plateau on most seeds)", False)])
    assert result.verdict == "inconclusive" and result.gate_passed is False
    assert result.gate == "the baseline groks (supervised plateau on most seeds)"
    row = {**Claim.experiment("x", "p", result).to_dict()}
    assert not in_fdr_family(row)
    final = apply_fdr([row])[0]
    assert final["verdict"] == "inconclusive" and final["q_value"] is None
    assert final["p_value"] == strong.p_value                  # the numbers stay visible


@pytest.mark.parametrize("effect", [0.5, -0.5, 0.0])
@pytest.mark.parametrize("eval_se", [1e-9, 1e-4, 0.0])
def test_one_training_seed_is_never_judged(effect, eval_se):
    for min_effect in (None, 10.0):
        result = paired_difference_test([effect], eval_se=eval_se, min_effect=min_effect)
        assert result.verdict == "inconclusive", (effect, eval_se, min_effect)
        final = apply_fdr([Claim.experiment("x", "p", result).to_dict()])[0]
        assert final["verdict"] == "inconclusive" and final["q_value"] is None
    # even handed numbers that would otherwise be decisive
    assert experiment_verdict(1e-12, 1.0, 1e-12, n_seeds=1) == "inconclusive"
    assert experiment_verdict(1.0, 1e-12, n_seeds=1) == "inconclusive"


def test_benjamini_hochberg_matches_a_hand_computation():
    # sorted: 0.005, 0.01, 0.03, 0.04, 0.2 -> m p / rank: 0.025, 0.025, 0.05, 0.05, 0.2, then the running minimum
    # from the top leaves them as they are
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    assert benjamini_hochberg(p) == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.2])
    # the step-up minimum: 0.02 at rank 1 gives 0.06, but 0.03 at rank 3 gives 0.045, which caps both
    assert benjamini_hochberg([0.02, 0.03, 0.03]) == pytest.approx([0.03, 0.03, 0.03])
    p = [0.02, 0.5, 0.9, 0.03]
    assert benjamini_hochberg(p) == pytest.approx(stats.false_discovery_control(p))
    assert benjamini_hochberg([]).shape == (0,)


def _row(p, p_opposite=None, n_seeds=5, gate_passed=None, notebook="01"):
    return {"kind": "experiment", "claim": f"c{p}", "verdict": "inconclusive", "p_value": p, "p_opposite": p_opposite,
            "n_seeds": n_seeds, "gate_passed": gate_passed, "p_convention": ONE_SIDED, "notebook": notebook}


def test_apply_fdr_sets_q_and_the_final_verdicts_over_the_family_only():
    legacy = {"kind": "experiment", "claim": "old", "verdict": "not reproduced", "p_value": 5e-5, "n_seeds": 20}
    derived = {"kind": "derived", "claim": "identity", "verdict": "checked"}
    rows = [_row(0.01), _row(0.04), _row(0.03), _row(0.005), _row(0.2, 0.001), _row(1e-6, n_seeds=1),
            _row(1e-6, gate_passed=False), legacy, derived]
    out = apply_fdr(rows)
    q = [row["q_value"] for row in out[:5]]
    assert q == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.2])      # the one-seed and gated rows are not counted
    assert [row["verdict"] for row in out[:7]] == ["reproduced", "reproduced", "reproduced", "reproduced",
                                                  "not reproduced", "inconclusive", "inconclusive"]
    assert out[7] == legacy and out[8] == derived                   # old files keep their verdicts until re-run
    assert rows[0]["verdict"] == "inconclusive"                     # the input is not modified
    # one more claim in the family: p = 0.04 now has q = 0.0667 -> partly
    more = apply_fdr([*rows[:5], _row(0.5)])
    assert more[1]["q_value"] == pytest.approx(0.04 * 6 / 4) and more[1]["verdict"] == "partly"


def test_the_verdict_rule_in_order():
    assert experiment_verdict(0.01, 0.99, 0.02, n_seeds=5) == "reproduced"
    assert experiment_verdict(0.01, 0.99, 0.08, n_seeds=5) == "partly"                       # p but not q
    assert experiment_verdict(0.01, 0.99, 0.02, n_seeds=5, effect=0.1, min_effect=0.2) == "partly"  # too small
    assert experiment_verdict(0.6, 0.4, 0.9, n_seeds=5, p_below_min=0.01) == "not reproduced"   # bound excludes
    assert experiment_verdict(0.99, 0.01, 1.0, n_seeds=5) == "not reproduced"
    assert experiment_verdict(0.2, 0.8, 0.5, n_seeds=5) == "inconclusive"
    assert experiment_verdict(0.01, 0.99, 0.01, n_seeds=5, gate_passed=False) == "inconclusive"
    assert experiment_verdict(None, None, n_seeds=5) == "inconclusive"


def test_page_l_matches_the_textbook_example():
    """Ellis et al.'s ratings of tutorial < lecture < seminar by 10 students (the example of scipy's
    page_trend_test): L = 133.5 by hand from the midranks."""
    table = np.array([[3, 4, 3], [2, 2, 4], [3, 3, 5], [1, 3, 2], [2, 3, 2],
                      [2, 4, 5], [1, 2, 4], [3, 4, 4], [2, 4, 5], [1, 3, 4]])
    assert page_l(table) == 133.5
    result = page_trend_test(table)
    assert result.statistic.startswith("L = 133.5") and result.verdict == "reproduced" and result.n_seeds == 10
    # without ties the exact null is Page's: the same p as scipy's exact method
    rng = np.random.default_rng(0)
    untied = rng.normal(size=(6, 4)) + np.arange(4) * 0.5
    assert page_trend_test(untied).p_value == pytest.approx(stats.page_trend_test(untied, method="exact").pvalue)
    assert page_trend_test(untied[:, ::-1]).p_opposite == pytest.approx(page_trend_test(untied).p_value)
    # with ties the null is conditional on each seed's ranks: brute force over the 3! x 3! orderings
    tied = np.array([[1.0, 1.0, 2.0], [1.0, 2.0, 3.0]])
    orders = list(itertools.permutations(range(3)))
    ranks = stats.rankdata(tied, axis=1)
    null = [sum((ranks[0][list(a)] * [1, 2, 3])) + sum(ranks[1][list(b)] * [1, 2, 3]) for a in orders for b in orders]
    assert page_trend_test(tied).p_value == pytest.approx(np.mean(np.array(null) >= page_l(tied) - 1e-9))
    # the effect is the mean Spearman rho with the predicted order: +1 when every seed agrees
    assert page_trend_test(np.tile(np.arange(5.0), (4, 1))).effect == pytest.approx(1.0)
