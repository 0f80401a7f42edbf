r"""Generation samplers for masked diffusion models.

Every sampler starts from ``[prompt | MASK x length]``, fills every MASK and never changes a prompt or
already revealed token; the same ``generator`` seed gives the same output. A *denoiser* maps the
partially revealed sequence z [B, L] to logits [B, L, V] over the V real tokens (MASK is never
predicted: the SUBS parameterisation of ``md_loss``); a ``DiffusionTransformer`` can be passed directly.

* ``ancestral_sample``: MDLM's ancestral sampler with K time steps, optionally caching the forward pass
  of rows that did not change (exactly the same samples, fewer forward passes).
* ``unmask_by_schedule`` / ``generate``: K rounds revealing a given *schedule of sizes* (s_1, ..., s_K),
  positions picked at random (Zhao & Cai, 2026) or by confidence: ``sampled-confidence`` is LLaDA's
  low-confidence remasking (rank by the probability of the token just sampled), ``max-confidence`` ranks
  by the largest probability instead (the two agree at temperature 0). Any schedule can be passed, so
  the randomized schedules of notebook 05 plug in unchanged.
* ``generate_blockwise``: LLaDA's semi-autoregressive generation, blocks left to right, each block with
  its own schedule of sizes.

Temperature tau draws tokens proportionally to p_theta(x^i | z)^{1/tau}; tau = 0 takes the argmax.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from .schedules import size_schedule

Denoiser = Callable[[torch.Tensor], torch.Tensor]   # z [B, L] -> logits [B, L, V] over real tokens
# "confidence" is kept as a name for LLaDA's rule ("sampled-confidence"), which notebook 04's configs use
ORDERS = ("random", "sampled-confidence", "max-confidence", "confidence")


# -- plumbing --------------------------------------------------------------------------------------
def _is_time_conditioned(model) -> bool:
    return bool(getattr(getattr(model, "cfg", None), "time_conditioning", False))


def as_denoiser(model: torch.nn.Module | Denoiser) -> Denoiser:
    """A gradient-free ``z -> logits`` callable; a plain callable is returned unchanged.

    Samplers condition on z only: a time-conditioned model has no well-defined t inside a round of
    these samplers (use ``ancestral_sample(..., cache=False)``, which passes the time grid).
    """
    if not isinstance(model, torch.nn.Module):
        return model
    if model.training:
        raise ValueError("the model is in training mode (dropout would perturb sampling): call model.eval() first")
    if _is_time_conditioned(model):
        raise ValueError("this model is time-conditioned (cfg.time_conditioning=True): its logits depend on t, "
                         "which only ancestral_sample(..., cache=False) supplies; use that sampler")

    def denoise(z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(z)
    return denoise


def _mask_id(model, mask_id: int | None) -> int:
    mask_id = getattr(model, "mask_id", None) if mask_id is None else mask_id
    if mask_id is None:
        raise ValueError("pass mask_id= (the denoiser has no .mask_id attribute to read it from)")
    return int(mask_id)


def start_sequence(prompt: torch.Tensor, length: int, mask_id: int) -> torch.Tensor:
    """``[prompt | MASK x length]``, long [B, P + length]; a 1-D prompt is one row."""
    prompt = torch.as_tensor(prompt, dtype=torch.long)
    prompt = prompt.unsqueeze(0) if prompt.dim() == 1 else prompt
    if prompt.dim() != 2:
        raise ValueError(f"prompt must be [B, P] token ids (P may be 0), got shape {tuple(prompt.shape)}")
    if (prompt == mask_id).any():
        raise ValueError(f"the prompt contains the MASK id {mask_id}: prompts must be fully visible")
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length={length!r} (tokens to generate) must be a positive integer")
    return torch.cat([prompt, torch.full((prompt.shape[0], int(length)), mask_id, dtype=torch.long,
                                         device=prompt.device)], dim=1)


def sample_tokens(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """Draw one token per row of ``logits`` [..., V] from softmax(logits / temperature); 0 is argmax."""
    if temperature < 0:
        raise ValueError(f"temperature={temperature} must be >= 0")
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def gumbel_noise(shape: torch.Size, generator: torch.Generator | None, device=None) -> torch.Tensor:
    """Standard Gumbel noise in float64: -log(-log U), U ~ U(0, 1)."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64, device=device)
    return -torch.log(-torch.log(u.clamp_min(torch.finfo(torch.float64).tiny)))


def top_positions(score: torch.Tensor, tie_break: torch.Tensor, eligible: torch.Tensor, size: int) -> torch.Tensor:
    """bool [B, L]: per row, the ``size`` eligible positions ranking highest by (score, tie_break).

    The order is lexicographic: ``tie_break`` only decides between exactly equal scores.
    """
    score = score.double().masked_fill(~eligible, float("-inf"))
    by_tie = tie_break.argsort(dim=-1, descending=True)
    by_score = score.gather(-1, by_tie).argsort(dim=-1, descending=True, stable=True)
    chosen = by_tie.gather(-1, by_score)[:, :size]
    return torch.zeros_like(eligible).scatter_(-1, chosen, True)


# -- unmasking by a schedule of sizes --------------------------------------------------------------
def _reveal_rounds(denoise: Denoiser, z: torch.Tensor, sizes: Sequence[int], region: torch.Tensor, mask_id: int,
                   order: str, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """Fill the masked positions inside ``region`` of z in len(sizes) rounds (z is updated in place)."""
    if order not in ORDERS:
        raise ValueError(f"order={order!r}: choose one of {ORDERS}")
    sizes = torch.as_tensor(np.asarray(sizes), dtype=torch.long).reshape(-1)
    n_masked = ((z == mask_id) & region).sum(-1)
    if (sizes < 0).any():
        raise ValueError("sizes must be non-negative integers (one per round)")
    if not torch.all(n_masked == int(sizes.sum())):
        raise ValueError(f"the schedule reveals {int(sizes.sum())} tokens but the rows have "
                         f"{n_masked.tolist()} masked positions: sizes must sum to the masked count")
    for size in sizes.tolist():
        if size == 0:
            continue
        eligible = (z == mask_id) & region
        logits = denoise(z)
        noise = gumbel_noise(z.shape, generator, z.device)
        if order == "random":   # all scores tie, so the Gumbel noise picks a uniformly random subset
            score = torch.zeros_like(noise)
        elif order == "max-confidence":
            score = torch.softmax(logits.double(), dim=-1).amax(-1)
        else:   # LLaDA: draw a token everywhere, keep the draws the (untempered) model finds most likely
            drawn = torch.full_like(z, mask_id)
            drawn[eligible] = sample_tokens(logits[eligible], temperature, generator)
            probs = torch.softmax(logits.double(), dim=-1)
            score = probs.gather(-1, drawn.clamp(max=logits.shape[-1] - 1).unsqueeze(-1)).squeeze(-1)
            picked = top_positions(score, noise, eligible, size)
            z[picked] = drawn[picked]
            continue
        picked = top_positions(score, noise, eligible, size)
        z[picked] = sample_tokens(logits[picked], temperature, generator)
    return z


def unmask_by_schedule(denoise: Denoiser, tokens: torch.Tensor, sizes: Sequence[int] | torch.Tensor,
                       mask_id: int, *, order: str = "random", temperature: float = 1.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Fill every ``mask_id`` position of ``tokens`` [B, L] in K = len(sizes) rounds; returns a new tensor.

    Round k calls the denoiser once on the current z and reveals s_k masked positions (every row must
    have sum_k s_k masked positions):

    * ``order="random"``: a uniformly random s_k-subset of the masked positions, each filled
      independently with x^i ~ p_theta(. | z)^{1/tau} (temperature tau);
    * ``order="sampled-confidence"`` (alias ``"confidence"``; LLaDA's low-confidence remasking): draw
      x^i ~ p_theta(. | z)^{1/tau} at *every* masked position, then keep the s_k draws with the largest
      p_theta(x^i | z) (the untempered probability of the token drawn, as LLaDA's ``low_confidence``
      remasking does); the other draws are discarded and the positions stay masked;
    * ``order="max-confidence"``: the s_k positions with the largest max_v p_theta(v | z), each then filled
      with x^i ~ p_theta(. | z)^{1/tau}.

    At tau = 0 the drawn token is the argmax, so the two confidence orders pick the same positions and
    tokens. At tau > 0 they differ: ranking by the sampled token favours positions whose draw happened to
    be likely, so a revealed token is no longer a plain draw from p_theta^{1/tau} (it is biased towards
    the mode). Ties in the score are broken by float64 Gumbel noise.
    """
    z = tokens.clone()
    return _reveal_rounds(as_denoiser(denoise), z, sizes, torch.ones_like(z, dtype=torch.bool), mask_id,
                          order, temperature, generator)


def generate(model: torch.nn.Module | Denoiser, prompt: torch.Tensor, length: int, sizes: Sequence[int], *,
             order: str = "sampled-confidence", temperature: float = 0.0, generator: torch.Generator | None = None,
             mask_id: int | None = None) -> torch.Tensor:
    """Generate ``length`` tokens after ``prompt`` [B, P] in one block: ``unmask_by_schedule`` on
    ``[prompt | MASK x length]``; ``sizes`` sums to ``length``. Returns [B, P + length]."""
    mask_id = _mask_id(model, mask_id)
    return unmask_by_schedule(model, start_sequence(prompt, length, mask_id), sizes, mask_id, order=order,
                              temperature=temperature, generator=generator)


# -- block-wise semi-autoregressive generation ------------------------------------------------------
def block_schedules(length: int, block_length: int, steps_per_block: int, schedule: str = "equal") -> list[np.ndarray]:
    """One size schedule per block: ``length`` split into blocks of ``block_length`` (the last one may be
    shorter), each revealed in ``min(steps_per_block, its length)`` rounds of the named schedule."""
    if block_length < 1 or steps_per_block < 1:
        raise ValueError("block_length and steps_per_block must be >= 1")
    lengths = [min(block_length, length - start) for start in range(0, length, block_length)]
    return [size_schedule(schedule, n, min(steps_per_block, n)) for n in lengths]


def generate_blockwise(model: torch.nn.Module | Denoiser, prompt: torch.Tensor, length: int,
                       block_sizes: Sequence[Sequence[int]], *, order: str = "sampled-confidence", temperature: float = 0.0,
                       generator: torch.Generator | None = None, mask_id: int | None = None) -> torch.Tensor:
    r"""LLaDA's semi-autoregressive generation of ``length`` tokens after ``prompt`` [B, P].

    The answer is cut into blocks, block b of length n_b = sum(block_sizes[b]), generated left to right.
    Block b is filled by ``unmask_by_schedule`` with sizes ``block_sizes[b]``, where only positions of
    block b may be revealed; the denoiser still sees the whole sequence (earlier blocks done, later
    blocks still masked, as LLaDA's ``generate`` does). The default order is LLaDA's low-confidence
    remasking (``sampled-confidence``), and ``block_schedules(..., "equal")`` gives LLaDA's split of each
    block into steps. One block is plain ``generate``.
    """
    mask_id = _mask_id(model, mask_id)
    denoise = as_denoiser(model)
    z = start_sequence(prompt, length, mask_id)
    lengths = [int(np.sum(s)) for s in block_sizes]
    if sum(lengths) != length:
        raise ValueError(f"the block schedules reveal {lengths} = {sum(lengths)} tokens, not length={length}; "
                         "build them with block_schedules(length, block_length, steps_per_block)")
    start = z.shape[1] - length
    for sizes, n in zip(block_sizes, lengths):
        region = torch.zeros_like(z, dtype=torch.bool)
        region[:, start:start + n] = True
        _reveal_rounds(denoise, z, sizes, region, mask_id, order, temperature, generator)
        start += n
    return z


# -- MDLM ancestral sampling -------------------------------------------------------------------------
def ancestral_sample(model: torch.nn.Module | Denoiser, prompt: torch.Tensor, length: int, steps: int, *,
                     temperature: float = 1.0, cache: bool = True, generator: torch.Generator | None = None,
                     mask_id: int | None = None) -> torch.Tensor:
    r"""MDLM ancestral sampling of ``length`` tokens after ``prompt`` [B, P] with K = ``steps`` steps.

    Linear schedule alpha_t = 1 - t on the grid t_j = j / K, j = K, ..., 1. From t = t_j to s = t_{j-1}
    the reverse process of MDLM (SUBS) gives, for each still-masked position i independently,

    .. math::  q(z_s^i \mid z_t) = \frac{t - s}{t}\, p_\theta(x^i \mid z_t) + \frac{s}{t}\, \delta_{\mathrm{MASK}},

    i.e. reveal w.p. (t - s)/t = 1/j with a token drawn from p_theta(. | z_t) (temperature tau), else stay
    masked; revealed and prompt tokens are carried over. At j = 1 every remaining mask is revealed.

    ``cache=True``: without time conditioning the logits are a function of z alone, so a row whose
    tokens did not change in the previous step reuses its logits and skips the forward pass; each step
    draws the same random numbers either way, so cached and uncached samples are identical (given a
    denoiser that treats rows independently, as a transformer in eval mode does). A time-conditioned
    model needs t at every step: it is run with ``cache=False`` only.
    """
    mask_id = _mask_id(model, mask_id)
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps K={steps!r} must be a positive integer")
    if _is_time_conditioned(model):
        if cache:
            raise ValueError("cache=True needs logits that depend on z only, but this model is time-conditioned; "
                             "pass cache=False (every step then runs the model at its own t)")
        if model.training:
            raise ValueError("the model is in training mode (dropout would perturb sampling): call model.eval() first")

        def denoise_at(z: torch.Tensor, t: float) -> torch.Tensor:
            with torch.no_grad():
                return model(z, t=torch.full((z.shape[0],), t, device=z.device))
    else:
        denoise = as_denoiser(model)

        def denoise_at(z: torch.Tensor, t: float) -> torch.Tensor:
            return denoise(z)

    z = start_sequence(prompt, length, mask_id)
    logits = None
    changed = torch.ones(z.shape[0], dtype=torch.bool, device=z.device)  # rows whose cached logits are stale
    for j in range(int(steps), 0, -1):
        if not cache or logits is None:
            logits = denoise_at(z, j / steps)
        elif changed.any():
            logits[changed] = denoise_at(z[changed], j / steps)
        u = torch.rand(z.shape, generator=generator, dtype=torch.float64, device=z.device)
        reveal = (z == mask_id) & (u < 1.0 / j)
        z[reveal] = sample_tokens(logits[reveal], temperature, generator)
        changed = reveal.any(-1)
    return z
