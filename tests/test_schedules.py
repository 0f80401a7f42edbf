import numpy as np
import pytest

from mdlm_core.schedules import size_schedule


@pytest.mark.parametrize("name", ["equal", "linear", "cosine"])
@pytest.mark.parametrize("L,K", [(1, 1), (7, 3), (64, 64), (100, 7), (2000, 1000), (2000, 17)])
def test_schedules_sum_to_L_with_K_positive_rounds(name, L, K):
    sizes = size_schedule(name, L, K)
    assert len(sizes) == K and sizes.sum() == L and sizes.min() >= 1


def test_shapes_of_the_named_schedules():
    assert size_schedule("equal", 10, 4).tolist() in ([3, 2, 3, 2], [2, 3, 2, 3], [3, 3, 2, 2], [2, 2, 3, 3],
                                                    [3, 2, 2, 3], [2, 3, 3, 2])
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
