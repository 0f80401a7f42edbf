import pytest
import torch

from mdlm_core.samplers import unmask_by_schedule

MASK = 5


def random_denoiser(z):
    return torch.randn(*z.shape, 5, generator=torch.Generator().manual_seed(int(z.sum())))


@pytest.mark.parametrize("order", ["random", "confidence"])
def test_fills_every_mask_and_keeps_revealed_tokens(order):
    tokens = torch.tensor([[0, 1, MASK, MASK, MASK, 2, MASK], [3, MASK, MASK, 4, MASK, MASK, 1]])
    gen = torch.Generator().manual_seed(0)
    out = unmask_by_schedule(random_denoiser, tokens, [2, 0, 1, 1], MASK, order=order, generator=gen)
    assert not (out == MASK).any()
    keep = tokens != MASK
    assert torch.equal(out[keep], tokens[keep])


def test_same_seed_same_sample_and_bad_schedule():
    tokens = torch.full((3, 6), MASK)
    a = unmask_by_schedule(random_denoiser, tokens, [3, 3], MASK, generator=torch.Generator().manual_seed(1))
    b = unmask_by_schedule(random_denoiser, tokens, [3, 3], MASK, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="sum to the masked count"):
        unmask_by_schedule(random_denoiser, tokens, [3, 2], MASK)
    with pytest.raises(ValueError, match="order"):
        unmask_by_schedule(random_denoiser, tokens, [6], MASK, order="left-to-right")
