import math

import numpy as np
import pytest
import torch

from mdlm_core import MaskRatio
from mdlm_core.mask_ratio import MIN_MASK_RATIO


@pytest.mark.parametrize("a,b,match", [(-0.1, 0.5, "outside"), (0.2, 1.2, "outside"),
                                        (0.6, 0.4, "a > b"), (float("nan"), 0.5, "finite")])
def test_bad_windows_raise_clear_errors(a, b, match):
    with pytest.raises(ValueError, match=match):
        MaskRatio.window(a, b)


def test_window_samples_stay_inside_and_have_the_right_mean():
    gen = torch.Generator().manual_seed(0)
    t = MaskRatio.window(0.45, 0.55).sample(100_000, gen)
    assert t.min() >= 0.45 and t.max() <= 0.55
    assert t.mean().item() == pytest.approx(0.5, abs=1e-3)


def test_window_from_zero_is_floored():
    t = MaskRatio.window(0.0, 0.1).sample(10_000, torch.Generator().manual_seed(1))
    assert t.min() >= MIN_MASK_RATIO


def test_stratified_draws_cover_the_window_evenly():
    dist = MaskRatio.window(0.2, 0.6, stratified=True)
    t = torch.sort(dist.sample(64, torch.Generator().manual_seed(3))).values.double()
    gaps = t[1:] - t[:-1]
    assert torch.allclose(gaps, torch.full_like(gaps, 0.4 / 64), atol=1e-6)
    # still marginally uniform: the mean over many batches is the midpoint
    means = [dist.sample(8, torch.Generator().manual_seed(s)).mean().item() for s in range(2000)]
    assert np.mean(means) == pytest.approx(0.4, abs=2e-3)
    assert np.std(means) < 0.4 / 8  # far less spread than i.i.d. draws (sd 0.4/sqrt(12*8) ~ 0.041)


def test_fixed_and_uniform_and_parse():
    assert torch.all(MaskRatio.fixed(0.25).sample(10) == 0.25)
    assert MaskRatio.uniform().support == (MIN_MASK_RATIO, 1.0)
    assert MaskRatio.parse("uniform") == MaskRatio.uniform()
    assert MaskRatio.parse(0.2) == MaskRatio.fixed(0.2)
    assert MaskRatio.parse([0.45, 0.55]) == MaskRatio.window(0.45, 0.55)
    assert MaskRatio.parse([0.45, 0.55]).label == "[0.45,0.55]"
    with pytest.raises(ValueError, match="unknown mask-ratio spec"):
        MaskRatio.parse("gaussian")


@pytest.mark.parametrize("ratio", [MaskRatio.uniform(), MaskRatio.window(0.45, 0.55), MaskRatio.window(0, 0.246),
                                   MaskRatio.fixed(0.25), MaskRatio.fixed(1 / 7)])
def test_every_label_parses_back_to_its_ratio(ratio):
    assert MaskRatio.parse(ratio.label) == ratio
    assert MaskRatio.parse(ratio.label, stratified=True).stratified == (not ratio.is_fixed)


def test_one_window_vocabulary_accepts_every_spelling():
    assert MaskRatio.parse("U[0, 0.42]") == MaskRatio.parse(" [0,0.42] ") == MaskRatio.window(0, 0.42)
    assert MaskRatio.parse("t=0.25") == MaskRatio.fixed(0.25)
    assert MaskRatio.parse((np.float32(0.2), torch.tensor(0.4))) == MaskRatio.window(float(np.float32(0.2)), np.float32(0.4))
    assert MaskRatio.fixed(np.float64(0.3)).low == 0.3 and type(MaskRatio.fixed(torch.tensor(0.3)).low) is float
    with pytest.raises(ValueError, match="finite number"):
        MaskRatio.fixed(True)


def test_expectation():
    assert MaskRatio.window(0.2, 0.4).expectation(lambda t: t) == pytest.approx(0.3)
    assert MaskRatio.fixed(0.3).expectation(lambda t: t ** 2) == pytest.approx(0.09)
    assert MaskRatio.uniform().expectation(lambda t: t) == pytest.approx((1 + MIN_MASK_RATIO) / 2)
    assert math.isclose(MaskRatio.window(0, 1).expectation(lambda t: np.ones_like(t)), 1.0)
