r"""The masked-diffusion (MD) loss as small pure functions.

Forward process (linear schedule alpha_t = 1 - t): every token is replaced by MASK independently
with probability t. With the SUBS parameterisation of MDLM (Sahoo et al., 2024) the denoiser

* never predicts MASK (our model's head has only the V real-token logits), and
* carries unmasked tokens over unchanged (log-probability 0 on the visible token),

the continuous-time negative ELBO reduces to a 1/t-weighted cross-entropy on masked tokens:

.. math::  -\log p_\theta(x) \le \mathcal{L}(x)
           = \int_0^1 \frac{1}{t}\, \mathbb{E}_{z_t \sim q(\cdot|x)}
             \Big[\sum_{i:\, z_t^i = \mathrm{MASK}} -\log p_\theta(x^i \mid z_t)\Big]\, dt .

With the exact conditionals p(x^i | x_visible) the bound is tight (the any-order-autoregressive
identity), which ``tests/test_md_loss.py`` checks by enumeration. ``md_loss_terms`` returns the
per-token integrand so callers can bin it by t; training samples t from any ``MaskRatio`` and uses
the per-token mean, which for t ~ U[0, 1] is an unbiased estimate of L(x) / L.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .mask_ratio import MIN_MASK_RATIO, MaskRatio


def sample_mask(shape: tuple[int, int], t: torch.Tensor, generator: torch.Generator | None = None,
                maskable: torch.Tensor | None = None) -> torch.Tensor:
    """Forward process q(z_t | x): bool [B, L], each entry True with probability t[b].

    ``maskable`` (bool [B, L]) excludes positions that are never masked, e.g. SFT prompts.
    """
    # draw on the generator's device (a CPU generator can drive a GPU run reproducibly), then move
    rng_device = generator.device if generator is not None else t.device
    u = torch.rand(shape, generator=generator, device=rng_device).to(t.device)
    mask = u < t.reshape(-1, 1)
    return mask if maskable is None else mask & maskable


def mask_tokens(tokens: torch.Tensor, mask: torch.Tensor, mask_id: int) -> torch.Tensor:
    """z_t: the tokens with masked positions replaced by ``mask_id``."""
    return torch.where(mask, torch.full_like(tokens, mask_id), tokens)


def subs_log_probs(logits: torch.Tensor, noisy_tokens: torch.Tensor, mask_id: int) -> torch.Tensor:
    """SUBS parameterisation: log p_theta(x^i | z_t) over the V real tokens, shape [B, L, V].

    Masked positions: log-softmax of the logits (MASK is not among the V outputs, so it is never
    predicted). Unmasked positions: carry-over, a point mass on the visible token.
    """
    vocab = logits.shape[-1]
    if mask_id < vocab:
        raise ValueError(f"mask_id={mask_id} must lie outside the {vocab} predicted tokens (SUBS never predicts MASK)")
    is_masked = noisy_tokens == mask_id
    log_probs = F.log_softmax(logits, dim=-1, dtype=torch.promote_types(logits.dtype, torch.float32))
    visible = noisy_tokens.clamp(max=vocab - 1)
    carry = torch.full_like(log_probs, float("-inf")).scatter_(-1, visible.unsqueeze(-1), 0.0)
    return torch.where(is_masked.unsqueeze(-1), log_probs, carry)


def md_loss_terms(log_probs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                  t: torch.Tensor) -> torch.Tensor:
    """Per-token MD integrand, [B, L]: -log p(x^i | z_t) / t on masked tokens, 0 elsewhere."""
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    weighted = nll / t.reshape(-1, 1)
    return torch.where(mask, weighted, torch.zeros_like(weighted))


@dataclass
class MDLossOutput:
    loss: torch.Tensor    # scalar: sum of terms / number of tokens (what is minimised)
    terms: torch.Tensor   # [B, L] per-token integrand, 0 on unmasked tokens
    mask: torch.Tensor    # [B, L] bool, the sampled forward-process mask
    t: torch.Tensor       # [B] mask ratios used
    logits: torch.Tensor  # [n_masked, V] logits at the masked positions (row-major order)


def _check_tokens(model: torch.nn.Module, tokens: torch.Tensor, mask_id: int) -> int | None:
    """Shape, dtype and mask_id checks (no device sync); returns the model's vocabulary size if it has one."""
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype.is_floating_point \
            or tokens.dtype == torch.bool:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        dtype = tokens.dtype if isinstance(tokens, torch.Tensor) else None
        raise ValueError(f"tokens must be a [batch, length] integer tensor of token ids, got {shape} {dtype}: "
                         "pass ids as torch.long (e.g. tokens.long(), tokens.unsqueeze(0) for one sequence)")
    if tokens.numel() == 0:
        raise ValueError(f"tokens {tuple(tokens.shape)} is an empty batch: the loss of no tokens is undefined; "
                         "pass at least one sequence of length >= 1")
    vocab = getattr(getattr(model, "cfg", None), "vocab_size", None)
    if vocab is not None and mask_id < vocab:
        raise ValueError(f"mask_id={mask_id} is inside the vocabulary (0..{vocab - 1}), so MASK would be a real token: "
                         f"use mask_id = model.cfg.mask_id = {vocab}")
    return vocab


def _check_values(tokens: torch.Tensor, t: torch.Tensor, mask_id: int, vocab: int | None) -> None:
    """Token id range and mask ratios, read back in one device sync per call."""
    t = torch.as_tensor(t)
    if t.shape != (tokens.shape[0],):
        raise ValueError(f"t has shape {tuple(t.shape)}; pass one mask ratio per sequence, shape ({tokens.shape[0]},)")
    lo_id, hi_id, lo_t, hi_t, nan_t = torch.stack([
        tokens.min().double(), tokens.max().double(), t.min().double(), t.max().double(),
        t.isnan().any().double()]).tolist()
    if nan_t or lo_t < MIN_MASK_RATIO * (1 - 1e-6) or hi_t > 1:
        raise ValueError(f"mask ratios t must lie in [{MIN_MASK_RATIO}, 1] (the 1/t weight explodes below the floor "
                         f"and t > 1 is not a probability), got min {lo_t}, max {hi_t}{' and NaN' if nan_t else ''}: "
                         "draw t from a MaskRatio or clamp it to that range")
    limit = mask_id if vocab is None else vocab
    if lo_id < 0 or hi_id >= limit:
        found = "the MASK id" if hi_id == mask_id else f"id {int(hi_id) if hi_id >= limit else int(lo_id)}"
        raise ValueError(f"tokens hold {found}, outside the real vocabulary 0..{limit - 1}: clean tokens (including "
                         "prompt and visible tokens) must be real ids; md_loss inserts MASK itself, and ids must be "
                         "produced by the same tokenizer as the model's vocab_size")


def md_loss(model: torch.nn.Module, tokens: torch.Tensor, mask_ratio: MaskRatio, mask_id: int,
            generator: torch.Generator | None = None, maskable: torch.Tensor | None = None,
            t: torch.Tensor | None = None) -> MDLossOutput:
    """One Monte Carlo draw of the MD loss for a batch of clean ``tokens`` [B, L].

    Draws t from ``mask_ratio`` (unless ``t`` is given), masks, and evaluates the model's head only at
    masked positions: under SUBS unmasked positions contribute exactly 0, so this equals the full
    ``md_loss_terms(subs_log_probs(...))`` computation at a fraction of the cost.
    """
    vocab = _check_tokens(model, tokens, mask_id)
    batch, length = tokens.shape
    if t is None:
        rng_device = generator.device if generator is not None else tokens.device
        t = mask_ratio.sample(batch, generator=generator, device=rng_device).to(tokens.device)
    _check_values(tokens, t, mask_id, vocab)
    mask = sample_mask((batch, length), t, generator=generator, maskable=maskable)
    logits = model(mask_tokens(tokens, mask, mask_id), t=t, output_mask=mask)
    nll = F.cross_entropy(logits.float(), tokens[mask], reduction="none")
    weights = t.reshape(-1, 1).expand(batch, length)[mask]
    terms = torch.zeros(batch, length, device=tokens.device, dtype=nll.dtype)
    terms[mask] = nll / weights
    return MDLossOutput(terms.sum() / terms.numel(), terms, mask, t, logits)
