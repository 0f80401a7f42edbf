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


# -- LLaDA's conditional likelihood: the Monte Carlo ELBO of a given answer ------------------------------------
from itertools import combinations  # noqa: E402
from math import comb  # noqa: E402

from scipy import stats  # noqa: E402

from mdlm_core.samplers import generate  # noqa: E402
from mdlm_core.sft import answer_elbo_exact, answer_elbo_mc, answer_elbo_terms, answer_masks  # noqa: E402


def toy_model(vocab=6, seed=0):
    torch.manual_seed(seed)
    return DiffusionTransformer(ModelConfig(vocab_size=vocab, block_size=8, n_layer=1, n_head=2, n_embd=16)).eval()


def test_answer_masks_stratify_the_masked_count_over_draws():
    masks = answer_masks(50, 4, 4, torch.Generator().manual_seed(0))
    assert masks.shape == (50, 4, 4) and masks.dtype == torch.bool
    # with as many draws as answer tokens, draw k masks exactly k + 1 tokens (one stratum per count)
    assert (masks.sum(-1) == torch.arange(1, 5)).all()
    # fewer draws: every draw masks 1..A tokens, from its own slice of the counts
    counts = answer_masks(2000, 6, 3, torch.Generator().manual_seed(1)).sum(-1)
    assert counts.min() >= 1 and counts.max() <= 6
    for k, allowed in enumerate(({1, 2}, {3, 4}, {5, 6})):
        assert set(counts[:, k].unique().tolist()) == allowed


def test_mask_sampler_draws_each_mask_with_its_elbo_probability():
    """P(M) = P(l = |M|) P(M | l) = 1 / (A C(A, |M|)): chi-square goodness of fit over all 2^A - 1 masks
    (the test has power: a sampler that ignored the strata's uniform count would fail it)."""
    answer_len, n = 3, 60_000
    masks = answer_masks(n, answer_len, 1, torch.Generator().manual_seed(2))[:, 0]
    keys = (masks.long() * torch.tensor([1, 2, 4])).sum(-1)
    observed = torch.bincount(keys, minlength=8)[1:].numpy()
    expected = [n / (answer_len * comb(answer_len, bin(m).count("1"))) for m in range(1, 8)]
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # power check: the same counts judged against uniform-over-masks are rejected
    assert stats.chisquare(observed, [n / 7] * 7).pvalue < 1e-6


def test_mc_elbo_expectation_equals_exact_enumeration_on_a_toy_model():
    model = toy_model()
    prompt, answer = torch.tensor([2, 3, 1]), torch.tensor([4, 0, 3])
    exact = answer_elbo_exact(model, prompt, answer, model.mask_id)
    # (1) the expectation computed exactly: every mask once, weighted by its probability under the sampler
    all_masks = torch.tensor([[i in pos for i in range(3)] for l in range(1, 4) for pos in combinations(range(3), l)])
    terms = answer_elbo_terms(model, prompt[None], answer, all_masks[None], model.mask_id)[0]
    weights = torch.tensor([1 / (3 * comb(3, int(m.sum()))) for m in all_masks], dtype=torch.float64)
    assert float((terms * weights).sum()) == pytest.approx(exact, rel=1e-6)   # float32 forward passes
    # (2) the estimator with sampled masks converges to it (within 4 s.e.), and is an ELBO: <= the exact
    # log-likelihood of a one-token answer, where the two coincide
    draws = answer_elbo_terms(model, prompt[None], answer,
                              answer_masks(1, 3, 20_000, torch.Generator().manual_seed(3)), model.mask_id)[0]
    se = float(draws.std() / len(draws) ** 0.5)
    assert abs(float(draws.mean()) - exact) < 4 * se
    one = answer_elbo_exact(model, prompt, answer[:1], model.mask_id)
    logp = torch.log_softmax(model(torch.cat([prompt, torch.tensor([model.mask_id])])[None])[0, -1].double(), -1)
    assert one == pytest.approx(float(logp[answer[0]].detach()), rel=1e-12)
    mc_one = answer_elbo_mc(model, prompt[None], answer[:1], answer_masks(1, 1, 3, torch.Generator()), model.mask_id)
    assert float(mc_one) == pytest.approx(one, rel=1e-6)


def test_mc_elbo_is_batch_invariant_and_rejects_empty_masks():
    model = toy_model()
    prompts = torch.randint(0, 6, (7, 3), generator=torch.Generator().manual_seed(4))
    answers = torch.randint(0, 6, (7, 4), generator=torch.Generator().manual_seed(5))
    masks = answer_masks(7, 4, 5, torch.Generator().manual_seed(6))
    torch.testing.assert_close(answer_elbo_mc(model, prompts, answers, masks, model.mask_id, batch_size=3),
                               answer_elbo_mc(model, prompts, answers, masks, model.mask_id, batch_size=64))
    with pytest.raises(ValueError, match="at least one"):
        answer_elbo_mc(model, prompts, answers, torch.zeros(7, 2, 4, dtype=torch.bool), model.mask_id)


@pytest.fixture
def one_thread():
    """Tiny models train far faster on one thread than on several contending ones (a shared machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_fine_tuned_toy_model_beats_its_base(one_thread):
    """A toy task with two-token answers: after 'prompt' (two tokens in 2..5) the answer is the prompt reversed.
    SFT (prompt never masked) lifts exact match of generated answers, and the candidate-ELBO choice between
    the right answer and the prompt copied, far above the base model's."""
    vocab, eos = 7, 6
    gen = torch.Generator().manual_seed(0)
    prompts = torch.randint(2, 6, (256, 2), generator=gen)
    tokens = torch.cat([prompts, prompts.flip(1), torch.full((256, 1), eos)], dim=1)           # [p | a | EOS]
    prompt_lengths = torch.full((256,), 2)

    def scores(model):
        out = generate(model, prompts, 3, [1, 1, 1], order="confidence", temperature=0.0)
        exact = (out[:, 2:] == tokens[:, 2:]).all(-1).float().mean().item()
        masks = answer_masks(256, 3, 4, torch.Generator().manual_seed(1))
        right = answer_elbo_mc(model, prompts, tokens[:, 2:], masks, model.mask_id)
        copied = answer_elbo_mc(model, prompts, torch.cat([prompts, tokens[:, 4:]], 1), masks, model.mask_id)
        palindromes = prompts[:, 0] == prompts[:, 1]          # there the two candidates coincide: left out
        return exact, (right > copied)[~palindromes].float().mean().item()

    torch.manual_seed(0)
    model = DiffusionTransformer(ModelConfig(vocab_size=vocab, block_size=8, n_layer=1, n_head=2, n_embd=32))
    base_exact, base_choice = scores(model.eval())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(200):
        idx = torch.randint(0, 256, (64,), generator=gen)
        loss = sft_loss(model, tokens[idx], prompt_lengths[idx], MaskRatio.uniform(), model.mask_id, gen).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    tuned_exact, tuned_choice = scores(model.eval())
    assert base_exact < 0.2 and tuned_exact > 0.9
    assert tuned_choice > 0.9 and tuned_choice > base_choice + 0.3
