import math

import numpy as np
import pytest

from mdlm_core.theory.dependence import (ReedSolomonCode, dual_total_correlation, estimate_sampling_kl,
                                  expected_kl, expected_sampling_kl_bruteforce, information_profile,
                                  mds_information_profile, sampling_kl, total_correlation)
from mdlm_core.schedules import SCHEDULE_NAMES, FixedSchedule, schedule_distribution


def random_pmf(alphabet, length, seed, concentration=0.3):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(alphabet ** length, concentration)).reshape((alphabet,) * length)


@pytest.mark.parametrize("alphabet,length,seed", [(2, 4, 0), (3, 3, 1), (2, 5, 2)])
def test_calculator_matches_brute_force_enumeration(alphabet, length, seed):
    pmf = random_pmf(alphabet, length, seed)
    profile = information_profile(pmf)
    for name in SCHEDULE_NAMES:
        for K in range(1, length + 1):
            dist = schedule_distribution(name, length, K)
            assert expected_kl(dist, profile) == pytest.approx(expected_sampling_kl_bruteforce(pmf, dist), abs=1e-10)


def test_one_round_costs_tc_and_profile_sums_give_tc_and_dtc():
    pmf = random_pmf(2, 4, 3)
    p = pmf.ravel()
    marginals = [pmf.sum(axis=tuple(a for a in range(4) if a != i)) for i in range(4)]
    h = lambda x: float(-(x[x > 0] * np.log(x[x > 0])).sum())
    tc = sum(h(m) for m in marginals) - h(p)
    h_given_rest = [h(p) - h(pmf.sum(axis=i).ravel()) for i in range(4)]
    dtc = h(p) - sum(h_given_rest)
    profile = information_profile(pmf)
    assert total_correlation(profile) == pytest.approx(tc)
    assert dual_total_correlation(profile) == pytest.approx(dtc)
    assert sampling_kl(pmf, (2, 0, 3, 1), [4]) == pytest.approx(tc)
    assert sampling_kl(pmf, (2, 0, 3, 1), [1, 1, 1, 1]) == pytest.approx(0, abs=1e-12)


def test_mds_profile_and_the_rs_code_agree():
    code = ReedSolomonCode(5, 4, 2)
    assert code.codewords.shape == (25, 4) and len({tuple(w) for w in code.codewords}) == 25
    pmf = np.zeros((5,) * 4)
    pmf[tuple(code.codewords.T)] = 1 / 25
    np.testing.assert_allclose(information_profile(pmf), code.information_profile(), atol=1e-12)
    z = mds_information_profile(2000, 1995, 2048)
    assert total_correlation(z) == pytest.approx(5 * math.log(2048))
    assert dual_total_correlation(z) == pytest.approx(1995 * math.log(2048))
    dist = FixedSchedule([1000, 995, 5])  # d = 1995 closes round 2: no error
    assert expected_kl(dist, z) == 0
    assert expected_kl(FixedSchedule([1000, 1000]), z) == pytest.approx(5 * math.log(2048))


@pytest.mark.parametrize("name,K", [("tc", 3), ("dtc", 3), ("dtc", 2), ("cosine", 2), ("equal-random", 2), ("tc-product", 3)])
def test_reed_solomon_sampler_matches_the_calculator(name, K):
    """End to end: the generic sampler with an exact-marginal oracle on a real RS code over GF(5)."""
    code = ReedSolomonCode(5, 5, 2)
    est = estimate_sampling_kl(code, schedule_distribution(name, 5, K), n_samples=4000, seed=7)
    assert est.exact > 0.5
    assert abs(est.kl - est.exact) < 4 * est.stderr + 0.01


def test_oracle_returns_exact_conditional_marginals():
    code = ReedSolomonCode(5, 5, 2)
    import torch
    z = torch.tensor([[5, 5, 5, 5, 5], [3, 5, 5, 5, 5], [3, 1, 5, 5, 5]])
    probs = torch.softmax(code.oracle()(z), -1)
    assert torch.allclose(probs[:2, 2:], torch.full((2, 3, 5), 0.2, dtype=probs.dtype))   # < d revealed: uniform
    word = next(w for w in code.codewords if w[0] == 3 and w[1] == 1)
    assert torch.equal(probs[2].argmax(-1)[2:], torch.as_tensor(word[2:])) and probs[2, 2:].max(-1).values.min() == 1


@pytest.mark.parametrize("kwargs,match", [
    (dict(length=10, dimension=11, alphabet=4), "d=11"),
    (dict(length=10, dimension=3, alphabet=1), "alphabet size q=1"),
    (dict(length=10, dimension=0, alphabet=4), "d=0"),
])
def test_bad_profile_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mds_information_profile(**kwargs)


def test_bad_code_and_profile_arguments():
    with pytest.raises(ValueError, match="prime"):
        ReedSolomonCode(6, 4, 2)
    with pytest.raises(ValueError, match="L distinct field elements"):
        ReedSolomonCode(5, 6, 2)
    with pytest.raises(ValueError, match="entries"):
        expected_kl(schedule_distribution("tc", 10, 2), np.zeros(9))
    with pytest.raises(ValueError, match="non-decreasing"):
        expected_kl(schedule_distribution("tc", 3, 2), np.array([0.0, 1.0, 0.5]))
