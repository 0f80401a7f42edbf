"""mdlm_core.hf on tiny random HF models built from a config (no weights are downloaded).

The adapter's ELBO, losses, candidate scores and greedy generation must equal the same model called by hand; the
masking function must mask what md_loss masks, and its loss must average to elbo_eval's ELBO; bad input must be
refused with the fix; the README's "Use it with your model" blocks must run on a tiny model.
The tiny vocabulary has 3 real tokens a, b, c (ids 0..2) and the tokenizer's [MASK] (id 3).
"""

import math
import re
import subprocess
import sys
import tomllib
from itertools import combinations
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402
from transformers import (BertConfig, BertForMaskedLM, BertLMHeadModel, DistilBertConfig,  # noqa: E402
                          DistilBertForMaskedLM, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast)

from mdlm_core import (AdaptiveBins, BetaRatio, CurriculumRatio, DiffusionTransformer, MaskRatio,  # noqa: E402
                       ModelConfig, PackedSequences, ancestral_sample, answer_region, block_schedules, elbo_eval,
                       generate, generate_blockwise, md_loss, schedule_distribution, sft_loss)
from mdlm_core.evaluation import stratified_mask_ratios  # noqa: E402
from mdlm_core.hf import IGNORE_INDEX, HFMaskedLM, mask_for_training  # noqa: E402
from mdlm_core.sft import answer_elbo_exact, answer_elbo_mc, answer_masks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = 3       # real tokens a, b, c
HF_MASK = 3    # the tokenizer's [MASK]: the last id, so the real tokens are the first REAL logits


def tiny_tokenizer(words=("a", "b", "c"), mask_token: str | None = "[MASK]", specials=()) -> PreTrainedTokenizerFast:
    """A word-level fast tokenizer: ids in the order words, specials, mask; unknown words read as the first word."""
    names = [*words, *specials] + ([mask_token] if mask_token else [])
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(names)}, unk_token=words[0]))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    extra = {"mask_token": mask_token} if mask_token else {}
    return PreTrainedTokenizerFast(tokenizer_object=backend, **extra)


def tiny_bert(vocab_size: int = 4, seed: int = 0, max_positions: int = 64, **config) -> BertForMaskedLM:
    torch.manual_seed(seed)
    config.setdefault("pad_token_id", HF_MASK)
    cfg = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=max_positions, initializer_range=0.5, **config)
    return BertForMaskedLM(cfg).eval()


def tiny_distilbert(vocab_size: int = 4, seed: int = 0, **config) -> DistilBertForMaskedLM:
    torch.manual_seed(seed)
    config.setdefault("pad_token_id", HF_MASK)
    cfg = DistilBertConfig(vocab_size=vocab_size, dim=16, n_layers=2, n_heads=2, hidden_dim=32,
                           max_position_embeddings=64, initializer_range=0.5, **config)
    return DistilBertForMaskedLM(cfg).eval()


@pytest.fixture(params=[tiny_bert, tiny_distilbert], ids=["bert", "distilbert"])
def pair(request):
    """(raw HF model, adapter) of one architecture, the mask id read from the tokenizer."""
    model = request.param()
    return model, HFMaskedLM(model, tiny_tokenizer())


def raw_log_probs(model, hf_ids: torch.Tensor, attention_mask=None) -> torch.Tensor:
    """By hand: log p(v | z) over the 3 real tokens, from the raw model's logits without the MASK column."""
    with torch.no_grad():
        logits = model(input_ids=hf_ids, attention_mask=attention_mask).logits
    return torch.log_softmax(logits[..., :REAL].double(), dim=-1)


# -- the adapter: ids, forward, ELBO ----------------------------------------------------------------------------
def test_adapter_ids_and_forward_match_the_raw_model(pair):
    model, adapter = pair
    assert (adapter.cfg.hf_mask_id, adapter.mask_id, adapter.cfg.vocab_size) == (3, 4, 4)
    z = torch.tensor([[0, 4, 2, 4], [1, 1, 4, 0]])                  # library ids: MASK = 4
    logits = adapter(z)
    expected = model(input_ids=torch.where(z == 4, HF_MASK, z)).logits
    assert torch.isneginf(logits[..., HF_MASK]).all()
    torch.testing.assert_close(logits[..., :REAL], expected[..., :REAL])
    picked = adapter(z, output_mask=z == 4)                          # md_loss's call: logits at masked positions
    torch.testing.assert_close(picked[:, :REAL], expected[z == 4][:, :REAL])
    with pytest.raises(ValueError, match="adapter.mask_id"):
        adapter(torch.tensor([[0, HF_MASK]]))                         # the tokenizer's mask id is not MASK here


def masked_elbo_by_enumeration(model, x: torch.Tensor) -> float:
    r"""-ELBO of one sequence by hand: \int_0^1 (1/t) E[sum_masked -log p] dt = sum_M S(M) (k-1)! (L-k)! / L!."""
    length = len(x)
    total = 0.0
    for k in range(1, length + 1):
        for positions in combinations(range(length), k):
            z = x.clone()
            z[list(positions)] = HF_MASK
            lp = raw_log_probs(model, z[None])[0]
            nll = -sum(float(lp[i, x[i]]) for i in positions)
            total += nll * math.factorial(k - 1) * math.factorial(length - k) / math.factorial(length)
    return total


def test_adapter_elbo_equals_the_hand_computed_masked_nll(pair):
    model, adapter = pair
    x = torch.tensor([0, 2, 1])
    exact = masked_elbo_by_enumeration(model, x)
    assert answer_elbo_exact(adapter, torch.tensor([], dtype=torch.long), x, adapter.mask_id) \
        == pytest.approx(-exact, rel=1e-9)
    # elbo_eval's Monte Carlo (stratified t, masks from its seed) brackets it: 256 copies of x, so its s.e. is MC noise
    n, draws = 256, 10
    result = elbo_eval(adapter, PackedSequences(x.repeat(n, 1), torch.ones(n, 3, dtype=torch.bool)), n_draws=draws,
                       seed=0)
    assert abs(result.loss - exact / 3) < 4 * result.stderr
    assert result.stderr < 0.1 * exact / 3                            # the bracket is not vacuous


def test_elbo_eval_on_the_adapter_replays_by_hand(pair):
    """Every draw of elbo_eval (t's and masks from its generator, in its order) recomputed with the raw model."""
    model, adapter = pair
    tokens = torch.randint(0, REAL, (6, 5), generator=torch.Generator().manual_seed(5))
    valid = torch.ones_like(tokens, dtype=torch.bool)
    valid[-1, 3:] = False                                             # a padded last row, as pack_sequences makes
    seed, draws, batch_size = 7, 4, 4
    result = elbo_eval(adapter, PackedSequences(tokens, valid), n_draws=draws, seed=seed, t_bins=2,
                       batch_size=batch_size)
    generator = torch.Generator().manual_seed(seed)
    ts = stratified_mask_ratios(len(tokens), draws, generator)
    sums = torch.zeros(draws, len(tokens), dtype=torch.float64)
    for d in range(draws):
        for start in range(0, len(tokens), batch_size):
            rows = slice(start, start + batch_size)
            x, t, ok = tokens[rows], ts[d, rows], valid[rows]
            mask = (torch.rand(x.shape, generator=generator) < t[:, None]) & ok
            nll = -raw_log_probs(model, torch.where(mask, HF_MASK, x)).gather(-1, x[..., None])[..., 0]
            sums[d, rows] = (nll * mask).sum(-1) / t.double()
    per_sequence = (sums.mean(0) / valid.sum(-1)).numpy()
    np.testing.assert_allclose(result.per_sequence, per_sequence, rtol=1e-5)
    assert result.loss == pytest.approx(float(sums.mean(0).sum() / valid.sum()), rel=1e-5)
    assert result.stderr == pytest.approx(per_sequence.std(ddof=1) / math.sqrt(len(tokens)), rel=1e-4)


# -- losses and the masking function ----------------------------------------------------------------------------
def test_md_loss_on_the_adapter_and_the_masking_function_agree_by_hand(pair):
    model, adapter = pair
    x = torch.randint(0, REAL, (4, 6), generator=torch.Generator().manual_seed(1))
    window = MaskRatio.window(0.3, 0.8)
    out = md_loss(adapter, x, window, adapter.mask_id, torch.Generator().manual_seed(2))
    batch = mask_for_training(x, window, HF_MASK, torch.Generator().manual_seed(2))
    assert torch.equal(batch.t, out.t) and torch.equal(batch.mask, out.mask) and out.mask.any()
    assert torch.equal(batch.input_ids, torch.where(out.mask, HF_MASK, x))
    assert torch.equal(batch.labels, torch.where(out.mask, x, IGNORE_INDEX))
    torch.testing.assert_close(batch.loss_weights, (1 / out.t)[:, None].expand(4, 6))
    nll = -raw_log_probs(model, batch.input_ids).gather(-1, x[..., None])[..., 0]
    by_hand = float((nll * out.mask / out.t[:, None].double()).sum() / x.numel())
    raw_logits = model(input_ids=batch.input_ids).logits
    assert out.loss.item() == pytest.approx(by_hand, rel=1e-5)
    assert batch.loss(raw_logits).item() == pytest.approx(by_hand, rel=1e-5)
    # keeping MASK in the softmax (LLaDA's / dllm's cross-entropy) can only raise the loss
    assert batch.loss(raw_logits, subs=False).item() > batch.loss(raw_logits).item()
    out.loss.backward()                                               # gradients reach the HF model
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_sft_loss_on_the_adapter_and_the_masking_function_agree_by_hand(pair):
    model, adapter = pair
    x = torch.randint(0, REAL, (4, 6), generator=torch.Generator().manual_seed(3))
    prompt_lengths = torch.tensor([2, 1, 3, 2])
    window = MaskRatio.window(0.45, 0.55)
    out = sft_loss(adapter, x, prompt_lengths, window, adapter.mask_id, torch.Generator().manual_seed(4))
    answer = answer_region(prompt_lengths, 6)
    batch = mask_for_training(x, window, HF_MASK, torch.Generator().manual_seed(4), maskable=answer)
    assert torch.equal(batch.mask, out.mask) and not (out.mask & ~answer).any()
    nll = -raw_log_probs(model, batch.input_ids).gather(-1, x[..., None])[..., 0]
    by_hand = float(((nll * out.mask).sum(-1) / out.t.double() / answer.sum(-1)).mean())
    assert out.loss.item() == pytest.approx(by_hand, rel=1e-5)
    with torch.no_grad():
        sequence_loss = batch.loss(model(input_ids=batch.input_ids).logits, per="sequence")
    assert sequence_loss.item() == pytest.approx(by_hand, rel=1e-5)


def test_masking_function_loss_averages_to_the_elbo(pair):
    """A trainer fed mask_for_training's batches at elbo_eval's t's and seed computes elbo_eval's ELBO."""
    model, adapter = pair
    tokens = torch.randint(0, REAL, (5, 4), generator=torch.Generator().manual_seed(8))
    valid = torch.ones_like(tokens, dtype=torch.bool)
    valid[-1, 2:] = False
    seed, draws = 11, 6
    result = elbo_eval(adapter, PackedSequences(tokens, valid), n_draws=draws, seed=seed, t_bins=3)
    generator = torch.Generator().manual_seed(seed)
    ts = stratified_mask_ratios(len(tokens), draws, generator)
    per_draw = []
    for d in range(draws):
        batch = mask_for_training(tokens, MaskRatio.uniform(), HF_MASK, generator, maskable=valid, t=ts[d])
        per_draw.append(batch.per_sequence_loss(model(input_ids=batch.input_ids).logits).detach())
    np.testing.assert_allclose(torch.stack(per_draw).mean(0).numpy(), result.per_sequence, rtol=1e-5)


def test_masking_function_draws_t_from_every_mask_ratio_kind():
    x = torch.zeros(8, 5, dtype=torch.long)
    curriculum = CurriculumRatio(start=0.8, end=0.5, width=0.1, ramp=10, steps=20)
    sampler = AdaptiveBins(n_bins=4, warmup=0).new_sampler()
    for dist, step in [(MaskRatio.window(0.45, 0.55), None), (BetaRatio(2.0, 5.0), None), (curriculum, 5),
                       (sampler, 0)]:
        batch = mask_for_training(x, dist, HF_MASK, torch.Generator().manual_seed(3), step=step)
        assert torch.equal(batch.t, dist.sample(8, generator=torch.Generator().manual_seed(3), step=step))
    low, high = curriculum.window_at(5).support
    t = mask_for_training(x, curriculum, HF_MASK, torch.Generator().manual_seed(0), step=5).t
    assert ((t >= low) & (t <= high)).all() and low == pytest.approx(0.6)
    with pytest.raises(ValueError, match="step="):
        mask_for_training(x, curriculum, HF_MASK)
    with pytest.raises(TypeError, match="new_sampler"):
        mask_for_training(x, AdaptiveBins(), HF_MASK)
    with pytest.raises(ValueError, match="already hold the mask id"):
        mask_for_training(torch.full((2, 3), HF_MASK), MaskRatio.uniform(), HF_MASK)
    with pytest.raises(ValueError, match="one mask ratio per row"):
        mask_for_training(x, MaskRatio.uniform(), HF_MASK, t=torch.zeros(8))


# -- candidate scoring and generation ---------------------------------------------------------------------------
def test_answer_elbo_mc_on_the_adapter_equals_by_hand(pair):
    model, adapter = pair
    prompts = torch.tensor([[0, 1], [2, 2]])
    candidates = [torch.tensor([[1, 0, 2], [0, 0, 1]]), torch.tensor([[2, 2, 2], [1, 0, 1]])]
    masks = answer_masks(2, 3, 5, torch.Generator().manual_seed(0))
    for answers in candidates:
        got = answer_elbo_mc(adapter, prompts, answers, masks, adapter.mask_id)
        by_hand = torch.zeros(2, dtype=torch.float64)
        for n in range(2):
            for m in masks[n]:
                z = torch.cat([prompts[n], torch.where(m, HF_MASK, answers[n])])
                lp = raw_log_probs(model, z[None])[0, 2:].gather(-1, answers[n][:, None])[:, 0]
                by_hand[n] += float((lp * m).sum()) * 3 / int(m.sum()) / len(masks[n])
        torch.testing.assert_close(got, by_hand, rtol=1e-5, atol=1e-6)


def llada_greedy_by_hand(model, prompt: torch.Tensor, length: int, block_sizes) -> torch.Tensor:
    """LLaDA's low-confidence remasking at temperature 0 on the raw model: each round, in the current block, reveal
    the s_k masked positions whose argmax token is most probable (MASK, id 3, is never predicted)."""
    x = torch.cat([prompt, torch.full((len(prompt), length), HF_MASK)], dim=1)
    start = prompt.shape[1]
    for sizes in block_sizes:
        end = start + int(np.sum(sizes))
        for size in sizes:
            confidence, token = torch.softmax(raw_log_probs(model, x), dim=-1).max(-1)
            eligible = torch.zeros_like(x, dtype=torch.bool)
            eligible[:, start:end] = x[:, start:end] == HF_MASK
            for row in range(len(x)):
                pick = confidence[row].masked_fill(~eligible[row], -1.0).topk(int(size)).indices
                x[row, pick] = token[row, pick]
        start = end
    return x


def test_greedy_generation_on_the_adapter_equals_the_model_called_directly(pair):
    model, adapter = pair
    prompt = torch.tensor([[0, 1, 2], [2, 0, 0]])
    tc = schedule_distribution("tc", 4, 2)
    for block_sizes in (block_schedules(8, 4, 2), [tc.draw(np.random.default_rng(s)) for s in range(2)],
                        block_schedules(8, 8, 8)):
        expected = llada_greedy_by_hand(model, prompt, 8, block_sizes)
        for order in ("sampled-confidence", "max-confidence"):
            assert torch.equal(generate_blockwise(adapter, prompt, 8, block_sizes, order=order), expected)
    assert torch.equal(generate(adapter, prompt, 8, [3, 3, 2]), llada_greedy_by_hand(model, prompt, 8, [[3, 3, 2]]))


def test_random_order_schedules_and_ancestral_sampling_run_on_the_adapter(pair):
    _, adapter = pair
    prompt = torch.tensor([[0, 1, 2]])
    dtc = schedule_distribution("dtc", 12, 4)
    outs = [generate(adapter, prompt, 12, dtc.draw(np.random.default_rng(0)), order="random", temperature=1.0,
                     generator=torch.Generator().manual_seed(9)) for _ in range(2)]
    assert torch.equal(outs[0], outs[1])                               # seeded
    sampled = ancestral_sample(adapter, prompt, 12, steps=5, generator=torch.Generator().manual_seed(1))
    for out in (outs[0], sampled):
        assert torch.equal(out[:, :3], prompt) and out.shape == (1, 15)
        assert ((out >= 0) & (out < REAL)).all()                       # every MASK filled, MASK never drawn


def test_shift_logits_moves_them_one_position_right(pair):
    """Dream's convention: the logits at position i - 1 predict token i."""
    model, _ = pair
    shifted = HFMaskedLM(model, tiny_tokenizer(), shift_logits=True)
    z = torch.tensor([[0, 4, 2, 4]])
    raw = model(input_ids=torch.where(z == 4, HF_MASK, z)).logits[..., :REAL]
    torch.testing.assert_close(shifted(z)[0, 1:, :REAL], raw[0, :-1])
    with pytest.raises(ValueError, match="keep it visible"):
        shifted(torch.tensor([[4, 0, 1]]))


def test_pad_id_hides_padding_from_attention():
    tokenizer = tiny_tokenizer(specials=("[PAD]",))                    # a b c [PAD] [MASK]: pad 3, mask 4
    tokenizer.pad_token = "[PAD]"
    model = tiny_bert(vocab_size=5, pad_token_id=3)
    padded = HFMaskedLM(model, tokenizer, pad_id=tokenizer.pad_token_id)
    assert (padded.cfg.hf_mask_id, padded.mask_id) == (4, 5)
    z = torch.tensor([[0, 5, 2, 1], [1, 5, 3, 3]])                     # row 1: two pads at the end
    logits = padded(z)
    torch.testing.assert_close(logits[1, :2], padded(z[1:, :2])[0])   # the padded row reads as if cut short
    assert not torch.allclose(HFMaskedLM(model, tokenizer)(z)[1, :2], logits[1, :2])   # padding is visible without
    assert torch.isneginf(logits[..., 4]).all()


# -- bad input ----------------------------------------------------------------------------------------------------
def test_mask_id_comes_from_the_tokenizer_or_the_config():
    assert HFMaskedLM(tiny_bert(mask_token_id=3)).cfg.hf_mask_id == 3      # config only
    assert HFMaskedLM(tiny_bert(), mask_token_id=3).mask_id == 4           # given
    with pytest.raises(ValueError, match=r"add_special_tokens.*resize_token_embeddings"):
        HFMaskedLM(tiny_bert(), tiny_tokenizer(mask_token=None))          # neither names one
    with pytest.raises(ValueError, match="differs from the config"):
        HFMaskedLM(tiny_bert(vocab_size=5, mask_token_id=4), tiny_tokenizer())
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        HFMaskedLM(tiny_bert(), mask_token_id=7)


def test_vocabulary_mismatch_names_the_fix():
    with pytest.raises(ValueError, match=r"tokenizer has 6 tokens.*resize_token_embeddings\(len\(tokenizer\)\)"):
        HFMaskedLM(tiny_bert(), tiny_tokenizer(words=("a", "b", "c", "d", "e")))
    model = tiny_bert()
    model.config.vocab_size = 6                                        # a config edited without resizing
    with pytest.raises(ValueError, match="resize_token_embeddings"):
        HFMaskedLM(model, tiny_tokenizer())


def test_causal_lm_and_non_hf_models_are_refused():
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=4, n_embd=16, n_layer=1, n_head=2, n_positions=16,
                                      bos_token_id=0, eos_token_id=0))
    bert_decoder = BertLMHeadModel(BertConfig(vocab_size=4, hidden_size=16, num_hidden_layers=1,
                                              num_attention_heads=2, intermediate_size=32, is_decoder=True))
    for causal in (gpt2, bert_decoder):
        with pytest.raises(ValueError, match=r"causal.*AutoModelForMaskedLM"):
            HFMaskedLM(causal, tiny_tokenizer())
    with pytest.raises(TypeError, match="transformers model"):
        HFMaskedLM(DiffusionTransformer(ModelConfig(vocab_size=3, block_size=8, n_layer=1, n_head=1, n_embd=8)))


# -- packaging ----------------------------------------------------------------------------------------------------
def test_import_mdlm_core_loads_no_transformers_and_hf_names_its_extra():
    check = ("import sys, mdlm_core; loaded = [m for m in ('transformers', 'matplotlib') if m in sys.modules]; "
             "assert not loaded, loaded; import mdlm_core.hf; assert 'transformers' in sys.modules")
    subprocess.run([sys.executable, "-c", check], cwd=ROOT, check=True)
    missing = "import sys; sys.modules['transformers'] = None; import mdlm_core.hf"
    run = subprocess.run([sys.executable, "-c", missing], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode != 0 and 'pip install -e ".[hf]"' in run.stderr


def test_transformers_is_pinned_and_installed_by_ci():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert len(extras["hf"]) == 1 and re.fullmatch(r"transformers==\d+\.\d+\.\d+", extras["hf"][0])
    assert "hub" in extras
    assert '-e ".[dev,hf]"' in (ROOT / ".ci/run").read_text()


# -- the README's "Use it with your model" ------------------------------------------------------------------------
def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Use it with your model\n")
    return text[start:text.index("\n## ", start + 1)]


def test_readme_use_it_with_your_model_runs_on_a_tiny_model():
    section = readme_section()
    load = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "HFMaskedLM(model, tokenizer" in load and "from_pretrained" in load   # what the test substitutes
    blocks = re.findall(r"<!-- hf-example -->\n```python\n(.*?)```", section, re.S)
    assert len(blocks) == 3
    words = [f"w{i}" for i in range(20)]
    tokenizer = tiny_tokenizer(words=tuple(words), specials=("[PAD]",))
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    model = tiny_bert(vocab_size=len(tokenizer), max_positions=1024, mask_token_id=tokenizer.mask_token_id,
                      pad_token_id=tokenizer.convert_tokens_to_ids("[PAD]"))
    adapter = HFMaskedLM(model, tokenizer)
    held_out = [" ".join(words[(i * 7 + j) % 20] for j in range(100)) for i in range(22)]   # 2,200 tokens: 2 rows
    namespace = {"torch": torch, "device": "cpu", "model": model, "tokenizer": tokenizer, "adapter": adapter,
                 "held_out": held_out}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)

    # 1. the trainer's loss is sft_loss on the adapter, for the same draws (global RNG, as a Trainer has)
    input_ids = torch.randint(0, len(words), (3, 10), generator=torch.Generator().manual_seed(0))
    prompt_lengths = torch.tensor([4, 2, 6])
    answer = answer_region(prompt_lengths, 10)
    inputs = {"input_ids": input_ids, "labels": torch.where(answer, input_ids, -100),
              "attention_mask": torch.ones_like(input_ids)}
    trainer = SimpleNamespace(state=SimpleNamespace(global_step=0))
    torch.manual_seed(1)
    loss = namespace["WindowTrainer"].compute_loss(trainer, model, inputs)
    torch.manual_seed(1)
    expected = sft_loss(adapter, input_ids, prompt_lengths, namespace["window"], adapter.mask_id)
    assert loss.item() == pytest.approx(expected.loss.item(), rel=1e-5)
    loss.backward()
    # 2. TC-schedule generation filled every position after the prompt with a real token
    out, prompt = namespace["out"], namespace["prompt"]
    assert out.shape == (1, prompt.shape[1] + 256) and torch.equal(out[:, :prompt.shape[1]], prompt)
    assert ((out >= 0) & (out < len(tokenizer)) & (out != tokenizer.mask_token_id)).all()
    assert isinstance(namespace["answer"], str)
    # 3. the ELBO with its s.e., over the 2 full rows of 1,024 tokens
    result = namespace["result"]
    assert result.n_sequences == 2 and result.n_draws == 10
    assert math.isfinite(result.loss) and 0 < result.stderr < result.loss
