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

from .mask_ratio import MaskRatio


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


def md_loss(model: torch.nn.Module, tokens: torch.Tensor, mask_ratio: MaskRatio, mask_id: int,
            generator: torch.Generator | None = None, maskable: torch.Tensor | None = None,
            t: torch.Tensor | None = None) -> MDLossOutput:
    """One Monte Carlo draw of the MD loss for a batch of clean ``tokens`` [B, L].

    Draws t from ``mask_ratio`` (unless ``t`` is given), masks, and evaluates the model's head only at
    masked positions: under SUBS unmasked positions contribute exactly 0, so this equals the full
    ``md_loss_terms(subs_log_probs(...))`` computation at a fraction of the cost.
    """
    batch, length = tokens.shape
    if t is None:
        rng_device = generator.device if generator is not None else tokens.device
        t = mask_ratio.sample(batch, generator=generator, device=rng_device).to(tokens.device)
    mask = sample_mask((batch, length), t, generator=generator, maskable=maskable)
    logits = model(mask_tokens(tokens, mask, mask_id), t=t, output_mask=mask)
    nll = F.cross_entropy(logits.float(), tokens[mask], reduction="none")
    weights = t.reshape(-1, 1).expand(batch, length)[mask]
    terms = torch.zeros(batch, length, device=tokens.device, dtype=nll.dtype)
    terms[mask] = nll / weights
    return MDLossOutput(terms.sum() / terms.numel(), terms, mask, t, logits)
