import numpy as np
import pytest
import torch
from scipy import stats

from mdlm_core import DiffusionTransformer, ModelConfig
from mdlm_core.samplers import (ancestral_sample, block_schedules, generate, generate_blockwise, start_sequence,
                                unmask_by_schedule)

MASK = 5
V = 5


def random_denoiser(z):
    return torch.randn(*z.shape, V, generator=torch.Generator().manual_seed(int(z.sum())))


class Recorder:
    """Wraps a denoiser and keeps a copy of every sequence it is called on."""

    def __init__(self, denoise, mask_id=MASK):
        self.denoise, self.mask_id, self.seen = denoise, mask_id, []

    def __call__(self, z):
        self.seen.append(z.clone())
        return self.denoise(z)


class FixedMarginals:
    """A denoiser whose prediction is the same distribution ``probs`` at every position, whatever z."""

    def __init__(self, probs, mask_id=MASK):
        self.log_probs, self.mask_id = torch.log(torch.as_tensor(probs, dtype=torch.float64)), mask_id

    def __call__(self, z):
        return self.log_probs.expand(*z.shape, -1).clone()


def tiny_model(time_conditioning=False):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=7, block_size=32, n_layer=2, n_head=2, n_embd=32,
                      time_conditioning=time_conditioning)
    return DiffusionTransformer(cfg).eval()


PROMPT = torch.tensor([[0, 1, 2], [3, 4, 0]])
LENGTH = 8
SAMPLERS = {
    "ancestral": lambda m, p, g: ancestral_sample(m, p, LENGTH, 2 * LENGTH, cache=False, generator=g),
    "random": lambda m, p, g: generate(m, p, LENGTH, [1, 3, 0, 4], order="random", temperature=1.0, generator=g),
    "sampled-confidence": lambda m, p, g: generate(m, p, LENGTH, [2, 2, 2, 2], order="sampled-confidence",
                                                   temperature=1.0, generator=g),
    "max-confidence": lambda m, p, g: generate(m, p, LENGTH, [2, 2, 2, 2], order="max-confidence", temperature=1.0,
                                               generator=g),
    "blockwise": lambda m, p, g: generate_blockwise(m, p, LENGTH, [[1, 2], [3], [1, 1]], temperature=1.0,
                                                    generator=g),
}


@pytest.mark.parametrize("name", SAMPLERS)
def test_fills_every_mask_and_never_changes_a_revealed_or_prompt_token(name):
    rec = Recorder(random_denoiser)
    out = SAMPLERS[name](rec, PROMPT, torch.Generator().manual_seed(0))
    assert out.shape == (2, 3 + LENGTH) and not (out == MASK).any()
    assert torch.equal(out[:, :3], PROMPT)
    states = rec.seen + [out]
    assert torch.equal(states[0], start_sequence(PROMPT, LENGTH, MASK))
    for before, after in zip(states, states[1:]):
        visible = before != MASK
        assert torch.equal(after[visible], before[visible])  # revealed tokens are final
        assert ((after != MASK).sum() >= visible.sum())


@pytest.mark.parametrize("name", SAMPLERS)
def test_same_seed_same_sample(name):
    model = tiny_model()
    prompt = torch.randint(0, 7, (4, 3), generator=torch.Generator().manual_seed(1))
    run = lambda seed: SAMPLERS[name](model, prompt, torch.Generator().manual_seed(seed))
    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


@pytest.mark.parametrize("name", [name for name in SAMPLERS if name != "sampled-confidence"])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_token_frequencies_match_the_model_marginals(name, temperature):
    """Chi-square test: with a model predicting fixed p at every position, each generated token is a
    draw from p^(1/tau) (normalised), whatever the schedule, for every order that picks positions before
    drawing tokens (LLaDA's sampled-confidence order does not: see the test below)."""
    probs = torch.tensor([0.1, 0.2, 0.3, 0.15, 0.25], dtype=torch.float64)
    prompt = torch.zeros(400, 1, dtype=torch.long)
    sample = {
        "ancestral": lambda g: ancestral_sample(FixedMarginals(probs), prompt, LENGTH, 16, temperature=temperature,
                                                generator=g),
        "random": lambda g: generate(FixedMarginals(probs), prompt, LENGTH, [3, 5], order="random",
                                     temperature=temperature, generator=g),
        "max-confidence": lambda g: generate(FixedMarginals(probs), prompt, LENGTH, [1] * LENGTH,
                                             order="max-confidence", temperature=temperature, generator=g),
        "blockwise": lambda g: generate_blockwise(FixedMarginals(probs), prompt, LENGTH,
                                                  block_schedules(LENGTH, 3, 2), order="max-confidence",
                                                  temperature=temperature, generator=g),
    }[name]
    tokens = sample(torch.Generator().manual_seed(0))[:, 1:]
    counts = torch.bincount(tokens.reshape(-1), minlength=V).numpy()
    expected = (probs ** (1 / temperature)) / (probs ** (1 / temperature)).sum() * tokens.numel()
    assert stats.chisquare(counts, expected.numpy()).pvalue > 1e-3
    # and the test has power: the untempered marginals are rejected at tau = 0.5
    if temperature != 1.0:
        assert stats.chisquare(counts, (probs * tokens.numel()).numpy()).pvalue < 1e-6


def test_temperature_zero_takes_the_argmax():
    probs = [0.1, 0.2, 0.4, 0.05, 0.25]
    out = ancestral_sample(FixedMarginals(probs), torch.zeros(3, 0, dtype=torch.long), 6, 6, temperature=0.0,
                           generator=torch.Generator().manual_seed(0))
    assert (out == 2).all()


def test_ancestral_reveal_times_follow_the_linear_schedule():
    """alpha_t = 1 - t: each token is revealed at a step uniform over the K steps (reveal prob 1/j at j)."""
    rec = Recorder(FixedMarginals([0.5, 0.5, 0, 0, 0]))
    steps, rows = 8, 300
    ancestral_sample(rec, torch.zeros(rows, 0, dtype=torch.long), LENGTH, steps, cache=False,
                     generator=torch.Generator().manual_seed(0))
    masked = [int((z == MASK).sum()) for z in rec.seen] + [0]
    revealed_per_step = -np.diff(masked)
    assert len(rec.seen) == steps and masked[0] == rows * LENGTH
    assert stats.chisquare(revealed_per_step).pvalue > 1e-3


def test_cached_ancestral_sampler_is_exactly_the_uncached_one_with_fewer_forward_rows():
    model = tiny_model()
    prompt = torch.randint(0, 7, (6, 4), generator=torch.Generator().manual_seed(2))
    rows = {}

    def run(cache):
        rec = Recorder(lambda z: model(z), mask_id=model.mask_id)
        with torch.no_grad():
            out = ancestral_sample(rec, prompt, 16, 64, cache=cache, generator=torch.Generator().manual_seed(5))
        rows[cache] = sum(z.shape[0] for z in rec.seen)
        return out

    uncached = run(False)
    assert torch.equal(run(True), uncached)
    assert rows[False] == 6 * 64 and rows[True] <= 6 * 17   # at most one forward per reveal step, + the first
    # the model itself (not wrapped) takes the same path; cache=True is the default
    assert torch.equal(ancestral_sample(model, prompt, 16, 64, generator=torch.Generator().manual_seed(5)), uncached)


def test_time_conditioned_models_need_the_uncached_ancestral_sampler():
    model = tiny_model(time_conditioning=True)
    prompt = torch.zeros(2, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="cache=False"):
        ancestral_sample(model, prompt, 4, 8, cache=True)
    out = ancestral_sample(model, prompt, 4, 8, cache=False, generator=torch.Generator().manual_seed(0))
    assert not (out == model.mask_id).any()
    with pytest.raises(ValueError, match="time-conditioned"):
        generate(model, prompt, 4, [4])


def test_training_mode_model_is_refused():
    with pytest.raises(ValueError, match="model.eval"):
        generate(tiny_model().train(), torch.zeros(1, 1, dtype=torch.long), 3, [3])


def confidence_denoiser(peaks):
    """Position i predicts token 0 with logit peaks[i] (others 0): confidence increases with the peak."""
    peaks = torch.as_tensor(peaks, dtype=torch.float64)

    def denoise(z):
        logits = torch.zeros(*z.shape, V, dtype=torch.float64)
        logits[..., 0] = peaks
        return logits
    return denoise


CONFIDENCE_RUNS = [("max-confidence", 1.0), ("max-confidence", 0.0), ("sampled-confidence", 0.0)]


@pytest.mark.parametrize("order,temperature", CONFIDENCE_RUNS)
def test_low_confidence_sampler_picks_the_most_confident_masked_positions(order, temperature):
    peaks = torch.tensor([0.5, 3.0, 1.0, 4.0, 2.0, 5.0, 0.0, 2.5])
    tokens = torch.tensor([[MASK, MASK, MASK, MASK, MASK, 1, MASK, MASK]])   # position 5 already revealed
    for size, expected in [(1, {3}), (3, {1, 3, 7})]:
        out = unmask_by_schedule(confidence_denoiser(peaks), tokens, [size, 7 - size], MASK, order=order,
                                 temperature=temperature, generator=torch.Generator().manual_seed(0))
        rec = Recorder(confidence_denoiser(peaks))
        unmask_by_schedule(rec, tokens, [size, 7 - size], MASK, order=order, temperature=temperature,
                           generator=torch.Generator().manual_seed(0))
        first_round = set(torch.nonzero(rec.seen[1][0] != tokens[0]).flatten().tolist())
        assert first_round == expected and not (out == MASK).any()


@pytest.mark.parametrize("order,temperature", CONFIDENCE_RUNS)
def test_confidence_ties_are_broken_by_noise_and_only_ties(order, temperature):
    """Lexicographic (confidence, Gumbel): a position more confident by 1e-14 always wins; exact ties split."""
    picks = {"more": 0, "tie_a": 0, "tie_b": 0}
    peaks = torch.tensor([2.0, 2.0 + 1e-14, 1.0, 1.0, 0.0], dtype=torch.float64)
    for seed in range(60):
        rec = Recorder(confidence_denoiser(peaks))
        unmask_by_schedule(rec, torch.full((1, 5), MASK), [1, 1, 3], MASK, order=order, temperature=temperature,
                           generator=torch.Generator().manual_seed(seed))
        first, second = (torch.nonzero(b[0] != a[0]).flatten().tolist() for a, b in zip(rec.seen, rec.seen[1:]))
        assert first == [1] and second == [0]
        third = torch.nonzero(rec.seen[2][0] == MASK).flatten().tolist()
        assert third == [2, 3, 4]
    # exact ties (positions 2 and 3) are decided by the noise: each wins in some seeds
    wins = [0, 0]
    for seed in range(60):
        tokens = torch.tensor([[0, 0, MASK, MASK, 0]])
        rec = Recorder(confidence_denoiser(peaks))
        unmask_by_schedule(rec, tokens, [1, 1], MASK, order=order, temperature=temperature,
                           generator=torch.Generator().manual_seed(seed))
        wins[int(rec.seen[1][0, 3] != MASK)] += 1
    assert 15 <= wins[0] <= 45


def test_blockwise_generation_goes_left_to_right():
    rec = Recorder(random_denoiser)
    blocks = block_schedules(7, 3, 2)   # blocks of 3, 3, 1 tokens
    assert [int(b.sum()) for b in blocks] == [3, 3, 1]
    out = generate_blockwise(rec, torch.zeros(2, 2, dtype=torch.long), 7, blocks, generator=torch.Generator().manual_seed(0))
    assert not (out == MASK).any()
    starts = np.cumsum([0] + [int(b.sum()) for b in blocks]) + 2
    calls = np.cumsum([0] + [len(b) for b in blocks])
    for block, (lo, hi) in enumerate(zip(starts, starts[1:])):
        for z in rec.seen[calls[block]:calls[block + 1]]:
            assert not (z[:, :lo] == MASK).any()      # earlier blocks are complete
            assert (z[:, hi:] == MASK).all()          # later blocks are untouched


@pytest.mark.parametrize("length,block,steps", [(7, 3, 2), (64, 16, 4), (10, 10, 10), (5, 8, 3), (9, 2, 5)])
@pytest.mark.parametrize("schedule", ["equal", "linear", "cosine"])
def test_block_schedules_sum_to_the_requested_length(length, block, steps, schedule):
    blocks = block_schedules(length, block, steps, schedule)
    assert sum(int(b.sum()) for b in blocks) == length
    assert all(b.min() >= 1 and int(b.sum()) <= block and len(b) <= steps for b in blocks)


def test_bad_inputs_get_clear_errors():
    tokens = torch.full((3, 6), MASK)
    with pytest.raises(ValueError, match="sum to the masked count"):
        unmask_by_schedule(random_denoiser, tokens, [3, 2], MASK)
    with pytest.raises(ValueError, match="order"):
        unmask_by_schedule(random_denoiser, tokens, [6], MASK, order="left-to-right")
    with pytest.raises(ValueError, match="MASK id"):
        generate(random_denoiser, torch.tensor([[0, MASK]]), 2, [2], mask_id=MASK)
    with pytest.raises(ValueError, match="mask_id"):
        generate(random_denoiser, torch.tensor([[0]]), 2, [2])
    with pytest.raises(ValueError, match="block_schedules"):
        generate_blockwise(random_denoiser, torch.tensor([[0]]), 5, [[2], [2]], mask_id=MASK)


def test_the_two_confidence_orders_agree_at_temperature_zero():
    """tau = 0 draws the argmax, so ranking by the drawn token's probability is ranking by the max."""
    for seed in range(5):
        model = tiny_model()
        prompt = torch.randint(0, 7, (4, 3), generator=torch.Generator().manual_seed(seed))
        run = lambda order: generate(model, prompt, LENGTH, [3, 1, 4], order=order, temperature=0.0,
                                     generator=torch.Generator().manual_seed(seed))
        assert torch.equal(run("sampled-confidence"), run("max-confidence"))
        assert torch.equal(run("confidence"), run("sampled-confidence"))   # the old name is LLaDA's rule


def test_the_two_confidence_orders_differ_at_temperature_one():
    """Two masked positions, both predicting p = (0.9, 0.1), one revealed in round 1.

    max-confidence: the scores tie, a random position is revealed with a fresh draw: P(token 0) = 0.9.
    sampled-confidence (LLaDA): both positions draw; a 0-draw (score 0.9) beats a 1-draw (0.1), so the
    revealed token is 1 only when both drew 1: P(token 0) = 1 - 0.1^2 = 0.99. With n = 4000 rows the
    standard errors are 0.0047 and 0.0016, so the 0.09 gap is ~18 s.e.: the test cannot pass by chance.
    """
    rows, probs = 4000, [0.9, 0.1, 0.0, 0.0, 0.0]
    tokens = torch.full((rows, 2), MASK)
    first_token = {}
    for order in ("max-confidence", "sampled-confidence"):
        rec = Recorder(FixedMarginals(probs))
        unmask_by_schedule(rec, tokens, [1, 1], MASK, order=order, temperature=1.0,
                           generator=torch.Generator().manual_seed(0))
        revealed = rec.seen[1]                      # after round 1: one token per row
        first_token[order] = float((revealed[revealed != MASK] == 0).double().mean())
    for order, exact in (("max-confidence", 0.9), ("sampled-confidence", 0.99)):
        se = (exact * (1 - exact) / rows) ** 0.5
        assert abs(first_token[order] - exact) < 4 * se, (order, first_token[order], exact)
