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


def test_rotary_scores_depend_only_on_the_relative_offset():
    from mdlm_core.model import apply_rotary, rotary_tables
    torch.manual_seed(0)
    cos, sin = rotary_tables(64, 16)
    q, k = torch.randn(16), torch.randn(16)
    rq, rk = apply_rotary(q.expand(64, 16), cos, sin), apply_rotary(k.expand(64, 16), cos, sin)
    scores = rq @ rk.T                                   # scores[m, n] = <R_m q, R_n k>
    for offset in (-5, 0, 1, 7):
        diag = torch.diagonal(scores, offset=offset)     # every (m, m + offset)
        assert torch.allclose(diag, diag[0].expand_as(diag), atol=1e-4), offset
    assert not torch.allclose(torch.diagonal(scores, 1)[0], torch.diagonal(scores, 2)[0], atol=1e-3)
    assert torch.allclose(rq.norm(dim=-1), q.norm().expand(64), atol=1e-4)   # a rotation: norms kept


def test_rotary_model_output_is_unchanged_when_every_position_shifts():
    """Model-level relative-position property: numbering the positions s, s+1, ... instead of 0, 1, ... changes
    nothing in a rotary model (scores see offsets only), while a model with learned absolute positions changes."""
    from mdlm_core.model import rotary_tables
    torch.manual_seed(0)
    tokens = torch.randint(0, 6, (2, 12))
    torch.manual_seed(1)
    rotary = DiffusionTransformer(ModelConfig(vocab_size=5, block_size=64, n_layer=2, n_head=2, n_embd=16,
                                              position_encoding="rotary")).eval()
    with torch.no_grad():   # sharpen attention (at init it is near uniform, so positions barely matter)
        for block in rotary.blocks:
            block.attn.qkv.weight.mul_(30)
    before = rotary(tokens)
    cos, sin = rotary_tables(64, 8)
    rotary.rope_cos, rotary.rope_sin = cos[37:], sin[37:]          # positions 37..48 instead of 0..11
    assert (before - rotary(tokens)).abs().max() < 1e-4
    rotary.rope_cos, rotary.rope_sin = cos[:12].flip(0), sin[:12].flip(0)   # not a shift: the output changes
    assert (before - rotary(tokens)).abs().max() > 1e-2
    torch.manual_seed(1)
    learned = DiffusionTransformer(ModelConfig(vocab_size=5, block_size=64, n_layer=2, n_head=2, n_embd=16)).eval()
    before = learned(tokens)
    with torch.no_grad():
        learned.pos_emb.weight.copy_(learned.pos_emb.weight.roll(-37, dims=0))   # the same shift, absolute
    assert (before - learned(tokens)).abs().max() > 1e-3


def test_position_encoding_choice():
    assert DiffusionTransformer(small()).pos_emb is not None
    rotary = DiffusionTransformer(small(position_encoding="rotary"))
    assert rotary.pos_emb is None and rotary.num_params() == rotary.num_params(non_embedding=False)
    with pytest.raises(ValueError, match="position_encoding='alibi'"):
        DiffusionTransformer(small(position_encoding="alibi"))
    with pytest.raises(ValueError, match="must be even"):
        DiffusionTransformer(ModelConfig(vocab_size=5, block_size=8, n_head=2, n_embd=6, position_encoding="rotary"))
