"""The crossover rule and the above-baseline gate on synthetic results: a clear effect, none, reversed, one seed."""

import pytest

from mdlm_core.companion.verdicts import (above_baseline_gate, crossover_test, gated, paired_difference_test,
                                          rank_agreement_test)

CLEAR = [0.05, 0.06, 0.055, 0.045]          # the paper's side, z >> 2
NONE = [0.01, -0.012, 0.004, -0.003]        # no effect
REVERSED = [-0.05, -0.06, -0.055, -0.045]   # the other side, z << -2


def cross(first, second, **kw):
    return crossover_test(paired_difference_test(first, **kw), paired_difference_test(second, **kw), ("d", "g"))


def test_crossover_clear_on_both_tasks_is_reproduced():
    result = cross(CLEAR, CLEAR)
    assert result.verdict == "reproduced" and result.z > 2 and result.n_seeds == 4
    # the intersection-union p is the larger of the two one-sided p's
    assert result.p_value == pytest.approx(max(paired_difference_test(CLEAR).p_value,
                                               paired_difference_test(CLEAR).p_value))


@pytest.mark.parametrize("first,second,verdict", [
    (NONE, NONE, "inconclusive"),          # no effect on either task
    (CLEAR, NONE, "inconclusive"),         # one half of the flip only: not a crossover
    (CLEAR, REVERSED, "not reproduced"),   # the same window wins on both tasks: no flip
    (REVERSED, REVERSED, "not reproduced"),  # the opposite crossover
    ([0.03, 0.0, 0.05, -0.01], [0.03, 0.0, 0.05, -0.01], "partly"),   # both right-signed, 1 <= z < 2
])
def test_crossover_other_outcomes(first, second, verdict):
    result = cross(first, second)
    assert result.verdict == verdict
    assert result.z == pytest.approx(min(paired_difference_test(first).z, paired_difference_test(second).z))


def test_crossover_with_one_seed_is_inconclusive_even_with_an_evaluation_se():
    # one seed: paired_difference_test alone would decide on the evaluation s.e.; the flip needs a seed spread
    assert paired_difference_test([0.2], eval_se=0.01).verdict == "reproduced"
    result = cross([0.2], [0.2], eval_se=0.01)
    assert result.verdict == "inconclusive" and result.n_seeds == 1


def test_gate_passes_above_the_baseline_and_fails_at_it():
    passed = above_baseline_gate([0.62, 0.60, 0.64], baseline=0.509, eval_se=0.016)
    assert passed.verdict == "reproduced" and passed.z > 2 and "0.509" in passed.test
    failed = above_baseline_gate([0.51, 0.52, 0.50], baseline=0.509, eval_se=0.017)
    assert failed.verdict != "reproduced" and abs(failed.z) < 1
    below = above_baseline_gate([0.40, 0.41, 0.39], baseline=0.509, eval_se=0.01)
    assert below.verdict == "not reproduced"


def test_gated_keeps_a_passed_result_and_makes_a_failed_one_inconclusive_with_why():
    result = paired_difference_test(CLEAR)
    ok = above_baseline_gate([0.7, 0.72, 0.71], 0.5, 0.01)
    bad = above_baseline_gate([0.011, 0.009, 0.01], 0.01, 0.004)
    assert gated(result, [("sst2", ok)]) == result
    out = gated(result, [("sst2", ok), ("arithmetic", bad)])
    assert out.verdict == "inconclusive" and "arithmetic" in out.test and "sst2" not in out.test.split("gated")[1]
    assert out.z == result.z and out.p_value == result.p_value       # the numbers stay visible
    ranked = gated(rank_agreement_test([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], 3), [("arithmetic", bad)])
    assert ranked.verdict == "inconclusive" and ranked.p_value == pytest.approx(1 / 120)
