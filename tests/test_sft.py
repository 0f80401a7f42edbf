import pytest
import torch
import torch.nn.functional as F

from mdlm_core import DiffusionTransformer, MaskRatio, ModelConfig, md_loss
from mdlm_core.sft import answer_region, pack_sft_examples, sft_loss, strip_after_eos

EOS, PAD = 5, 6


def tiny_model():
    torch.manual_seed(0)
    return DiffusionTransformer(ModelConfig(vocab_size=8, block_size=16, n_layer=1, n_head=2, n_embd=16))


def batch():
    prompts = [[1, 2, 3], [4], [2, 2, 2, 2, 1]]
    answers = [[7, 7], [1, 2, 3, 4], [0]]
    return pack_sft_examples(prompts, answers, 10, EOS)


def test_packing_puts_eos_padding_in_the_answer():
    tokens, prompt_lengths = batch()
    assert prompt_lengths.tolist() == [3, 1, 5]
    assert tokens[0].tolist() == [1, 2, 3, 7, 7] + [EOS] * 5
    assert tokens[1].tolist() == [4, 1, 2, 3, 4] + [EOS] * 5
    region = answer_region(prompt_lengths, 10)
    assert region.sum(-1).tolist() == [7, 9, 5]   # answer lengths include the EOS padding
    assert strip_after_eos(tokens[:, 3:], EOS) == [[7, 7], [3, 4], [2, 1, 0]]


def test_packing_to_one_prompt_length_and_errors():
    tokens, lengths = pack_sft_examples([[1, 2], [1, 2, 3, 4]], [[7], [7]], 6, EOS, prompt_length=3, pad_id=PAD)
    assert lengths.tolist() == [3, 3]
    assert tokens.tolist() == [[PAD, 1, 2, 7, EOS, EOS], [2, 3, 4, 7, EOS, EOS]]  # left-truncated keeps the end
    with pytest.raises(ValueError, match="one EOS"):
        pack_sft_examples([[1, 2, 3]], [[1, 2]], 5, EOS)
    with pytest.raises(ValueError, match="pad_id"):
        pack_sft_examples([[1]], [[1]], 5, EOS, prompt_length=2)
    with pytest.raises(ValueError, match="answer position"):
        answer_region(torch.tensor([4]), 4)


def test_prompt_is_never_masked_and_eos_padding_is_trained():
    model = tiny_model()
    tokens, prompt_lengths = batch()
    answer = answer_region(prompt_lengths, tokens.shape[1])
    gen = torch.Generator().manual_seed(0)
    seen = torch.zeros_like(answer)
    for _ in range(20):
        out = sft_loss(model, tokens, prompt_lengths, MaskRatio.uniform(), model.mask_id, generator=gen)
        assert not (out.mask & ~answer).any()
        seen |= out.mask
    assert torch.equal(seen, answer)   # every answer position, EOS padding included, gets masked sometimes
    assert (out.terms[~answer] == 0).all()


def test_loss_is_normalised_by_answer_length():
    """t = 1 masks the whole answer: the loss is the batch mean of each row's mean answer cross-entropy."""
    model = tiny_model()
    tokens, prompt_lengths = batch()
    answer = answer_region(prompt_lengths, tokens.shape[1])
    out = sft_loss(model, tokens, prompt_lengths, MaskRatio.fixed(1.0), model.mask_id,
                   generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.mask, answer)
    logits = model(torch.where(answer, model.mask_id, tokens))
    ce = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")
    expected = torch.stack([ce[b][answer[b]].mean() for b in range(3)]).mean()
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()


def test_agrees_with_md_loss_without_a_prompt():
    model = tiny_model()
    tokens = torch.randint(0, 8, (4, 12), generator=torch.Generator().manual_seed(1))
    ratio = MaskRatio.window(0.45, 0.55)
    sft = sft_loss(model, tokens, torch.zeros(4, dtype=torch.long), ratio, model.mask_id,
                   generator=torch.Generator().manual_seed(3))
    md = md_loss(model, tokens, ratio, model.mask_id, generator=torch.Generator().manual_seed(3))
    assert torch.equal(sft.mask, md.mask)
    torch.testing.assert_close(sft.loss, md.loss)
