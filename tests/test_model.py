import pytest
import torch

from mdlm_core import DiffusionTransformer, ModelConfig


def small(**kw):
    return ModelConfig(vocab_size=5, block_size=8, n_layer=2, n_head=2, n_embd=16, **kw)


def test_shapes_and_mask_never_predicted():
    model = DiffusionTransformer(small())
    tokens = torch.randint(0, 6, (3, 8))
    assert model(tokens).shape == (3, 8, 5)  # 5 real tokens, no MASK logit
    out_mask = tokens == 5
    assert model(tokens, output_mask=out_mask).shape == (int(out_mask.sum()), 5)


def test_attention_is_bidirectional():
    torch.manual_seed(0)
    model = DiffusionTransformer(small()).eval()
    a = torch.tensor([[1, 2, 3, 4, 0, 1, 2, 3]])
    b = a.clone()
    b[0, -1] = 4  # change only the LAST token
    assert not torch.allclose(model(a)[0, 0], model(b)[0, 0])  # the FIRST position sees it


def test_time_conditioning_flag():
    tokens = torch.randint(0, 5, (2, 8))
    plain = DiffusionTransformer(small())
    assert torch.equal(plain(tokens, t=torch.tensor([0.1, 0.9])), plain(tokens))  # t ignored when off
    timed = DiffusionTransformer(small(time_conditioning=True))
    with pytest.raises(ValueError, match="pass t"):
        timed(tokens)
    assert not torch.allclose(timed(tokens, t=torch.tensor([0.1, 0.1])), timed(tokens, t=torch.tensor([0.9, 0.9])))


def test_bad_config_and_too_long_input():
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(vocab_size=5, block_size=8, n_head=3, n_embd=16)
    with pytest.raises(ValueError, match="block_size"):
        DiffusionTransformer(small())(torch.zeros(1, 9, dtype=torch.long))
