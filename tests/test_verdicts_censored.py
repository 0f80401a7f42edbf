"""The censored Mann-Whitney (Gehan) rule on synthetic times: clear effect, no effect, censoring."""

import numpy as np
import pytest
from scipy import stats

from mdlm_core.companion.verdicts import gehan_statistic, gehan_test, logrank_test


def test_gehan_w_by_enumeration_of_pairs():
    # a: events at 1 and 5, censored at 3; b: event at 2, censored at 5
    ta, ea = [1, 5, 3], [True, True, False]
    tb, eb = [2, 5], [True, False]
    # pairs (a_i, b_j): (1,2) +1; (1,5c) +1; (5,2) -1; (5,5c) +1 (event at the censoring time);
    # (3c,2) -1; (3c,5c) 0  ->  W = 1
    w, variance = gehan_statistic(ta, ea, tb, eb)
    assert w == 1
    assert variance > 0


def test_gehan_without_censoring_is_mann_whitney():
    rng = np.random.default_rng(0)
    a, b = rng.exponential(1.0, 9), rng.exponential(2.0, 7)
    w, _ = gehan_statistic(a, np.ones(9, bool), b, np.ones(7, bool))
    u = stats.mannwhitneyu(b, a).statistic          # pairs with b > a, i.e. a first
    assert w == pytest.approx(2 * u - 9 * 7)


def test_clear_effect_both_directions():
    fast = np.array([100, 200, 200, 300, 400, 300, 250, 150, 350, 200.0])
    slow = np.array([3000] * 10, float)            # every slow run censored at the budget
    r = gehan_test(fast, np.ones(10, bool), slow, np.zeros(10, bool))
    assert r.verdict == "reproduced" and r.z > 0 and r.effect == 1.0
    assert r.p_value == pytest.approx(1 / 184756) and "all 184756 splits" in r.test   # exact: C(20, 10) splits
    r = gehan_test(slow, np.zeros(10, bool), fast, np.ones(10, bool))
    assert r.verdict == "not reproduced" and r.z < 0 and r.p_opposite == pytest.approx(1 / 184756)


def test_no_effect_is_inconclusive_and_the_false_positive_rate_is_at_most_alpha():
    rng = np.random.default_rng(1)
    rejections = 0
    for _ in range(300):
        times = rng.exponential(1000, 12)
        events = times < 1500                       # administrative censoring at a common budget
        times = np.minimum(times, 1500)
        rejections += gehan_test(times[:6], events[:6], times[6:], events[6:]).p_value <= 0.05
    assert rejections / 300 <= 0.05 + 0.025         # exact permutation at 6 + 6: at most 5% (conservative)


def test_power_on_a_twofold_hazard():
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(200):
        a, b = rng.exponential(500, 12), rng.exponential(2000, 12)
        ea, eb = a < 3000, b < 3000
        r = gehan_test(np.minimum(a, 3000), ea, np.minimum(b, 3000), eb)
        hits += r.verdict == "reproduced"
    assert hits / 200 > 0.6


def test_all_censored_gives_no_evidence():
    r = gehan_test([3000] * 5, [False] * 5, [3000] * 5, [False] * 5)
    assert r.verdict == "inconclusive" and r.p_value == 1.0 and r.p_opposite == 1.0 and r.mde is None
    assert logrank_test([3000] * 5, [False] * 5, [3000] * 5, [False] * 5).verdict == "inconclusive"
