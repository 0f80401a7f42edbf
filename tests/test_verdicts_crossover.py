"""The crossover rule and the above-baseline gate on synthetic results: a clear effect, none, reversed, one seed."""

import pytest

from mdlm_core.companion.verdicts import (Gate, above_baseline_gate, crossover_test, gated, paired_difference_test,
                                          rank_agreement_test)

CLEAR = [0.05, 0.06, 0.055, 0.045, 0.05, 0.058]        # the paper's side on every seed: p = 1/64
NONE = [0.01, -0.012, 0.004, -0.003, 0.002, -0.001]    # no effect
REVERSED = [-0.05, -0.06, -0.055, -0.045, -0.05, -0.058]


def cross(first, second, **kw):
    return crossover_test(paired_difference_test(first, **kw), paired_difference_test(second, **kw), ("d", "g"))


def test_crossover_clear_on_both_tasks_is_reproduced():
    result = cross(CLEAR, CLEAR)
    assert result.verdict == "reproduced" and result.z > 2 and result.n_seeds == 6
    # the intersection-union p is the larger of the two one-sided p's
    assert result.p_value == pytest.approx(paired_difference_test(CLEAR).p_value)


@pytest.mark.parametrize("first,second,verdict", [
    (NONE, NONE, "inconclusive"),            # no effect on either task
    (CLEAR, NONE, "inconclusive"),           # one half of the flip only: not a crossover
    (CLEAR, REVERSED, "not reproduced"),     # the same window wins on both tasks: no flip
    (REVERSED, REVERSED, "not reproduced"),  # the opposite crossover
])
def test_crossover_other_outcomes(first, second, verdict):
    result = cross(first, second)
    assert result.verdict == verdict
    assert result.z == pytest.approx(min(paired_difference_test(first).z, paired_difference_test(second).z))


def test_crossover_against_is_bonferroni_over_the_two_parts():
    a, b = paired_difference_test(CLEAR), paired_difference_test(REVERSED)
    result = crossover_test(a, b)
    assert result.p_opposite == pytest.approx(min(1.0, 2 * min(a.p_opposite, b.p_opposite)))
    assert result.p_value == pytest.approx(max(a.p_value, b.p_value))


def test_crossover_with_one_seed_is_inconclusive_even_with_an_evaluation_se():
    # one training seed: however small the evaluation s.e., nothing about training is decided
    assert paired_difference_test([0.2], eval_se=1e-6).verdict == "inconclusive"
    result = cross([0.2], [0.2], eval_se=0.01)
    assert result.verdict == "inconclusive" and result.n_seeds == 1


def test_gate_passes_above_the_baseline_and_fails_at_it():
    passed = above_baseline_gate([0.62, 0.60, 0.64, 0.61, 0.63], baseline=0.509, eval_se=0.016)
    assert passed.verdict == "reproduced" and passed.z > 2 and "0.509" in passed.test
    failed = above_baseline_gate([0.51, 0.52, 0.50, 0.505, 0.51], baseline=0.509, eval_se=0.017)
    assert failed.verdict != "reproduced" and abs(failed.z) < 1
    below = above_baseline_gate([0.40, 0.41, 0.39, 0.40, 0.42], baseline=0.509, eval_se=0.01)
    assert below.verdict == "not reproduced"


def test_gated_records_a_passed_gate_and_makes_a_failed_one_inconclusive_with_why():
    result = paired_difference_test(CLEAR)
    ok = above_baseline_gate([0.7, 0.72, 0.71, 0.73, 0.7], 0.5, 0.01)
    bad = above_baseline_gate([0.011, 0.009, 0.01, 0.01, 0.012], 0.01, 0.004)
    kept = gated(result, [("sst2 above baseline", ok)])
    assert kept.verdict == result.verdict == "reproduced" and kept.gate_passed is True
    assert kept.gate == "sst2 above baseline"
    out = gated(result, [("sst2 above baseline", ok), ("arithmetic above baseline", bad)])
    assert out.verdict == "inconclusive" and out.gate_passed is False and out.gate == "arithmetic above baseline"
    assert "arithmetic" in out.test and "sst2" not in out.test.split("gated")[1]
    assert out.z == result.z and out.p_value == result.p_value       # the numbers stay visible
    ranked = gated(rank_agreement_test([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], 3), [("arithmetic", bad)])
    assert ranked.verdict == "inconclusive" and ranked.p_value == pytest.approx(1 / 120)
    # a boolean gate and a Gate object fit the same helper
    learned = gated(result, [("the model learned (test accuracy >= 0.9)", False)])
    assert learned.verdict == "inconclusive" and learned.gate == "the model learned (test accuracy >= 0.9)"
    assert gated(result, [Gate("baseline groks", True, "8/10 seeds")]).gate_passed is True
