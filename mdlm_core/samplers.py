r"""Generation samplers for masked diffusion models.

The generic sampler reveals masked positions in K rounds with a given schedule of sizes
(s_1, ..., s_K), sum_k s_k = number of masked positions. In round k it calls the denoiser once on the
current partially revealed sequence z, and

* picks s_k still-masked positions: uniformly at random (``order="random"``, the setting of
  Zhao & Cai, 2026), or the s_k positions whose predicted distribution is most confident
  (``order="confidence"``, LLaDA's low-confidence remasking: confidence = probability of the argmax,
  ties broken by float64 Gumbel noise);
* fills each picked position i independently from the model's conditional marginal
  p_theta(x^i | z) at temperature tau, i.e. proportionally to p_theta(x^i | z)^{1/tau}.

Every prompt or already revealed token is left untouched. Any schedule of sizes can be passed, so
randomized schedules (notebook 05) plug in without change.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

Denoiser = Callable[[torch.Tensor], torch.Tensor]   # z [B, L] -> logits [B, L, V] over real tokens
ORDERS = ("random", "confidence")


def _check_sizes(sizes: torch.Tensor, n_masked: torch.Tensor) -> None:
    if sizes.dim() != 1 or (sizes < 0).any():
        raise ValueError("sizes must be a 1-D sequence of non-negative integers (one per round)")
    if not torch.all(n_masked == int(sizes.sum())):
        raise ValueError(f"the schedule reveals {int(sizes.sum())} tokens but the rows have "
                         f"{n_masked.tolist()} masked positions: sizes must sum to the masked count")


def sample_tokens(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """Draw one token per position from softmax(logits / temperature); temperature 0 is argmax."""
    if temperature < 0:
        raise ValueError(f"temperature={temperature} must be >= 0")
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def unmask_by_schedule(denoise: Denoiser, tokens: torch.Tensor, sizes: Sequence[int] | torch.Tensor,
                       mask_id: int, *, order: str = "random", temperature: float = 1.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill every ``mask_id`` position of ``tokens`` [B, L] in len(sizes) rounds; returns a new tensor."""
    if order not in ORDERS:
        raise ValueError(f"order={order!r}: choose one of {ORDERS}")
    z = tokens.clone()
    sizes = torch.as_tensor(list(sizes) if not torch.is_tensor(sizes) else sizes, dtype=torch.long)
    _check_sizes(sizes, (z == mask_id).sum(-1))
    for size in sizes.tolist():
        if size == 0:
            continue
        masked = z == mask_id
        logits = denoise(z)
        proposal = sample_tokens(logits, temperature, generator)
        noise = -torch.log(-torch.log(torch.rand(z.shape, generator=generator, dtype=torch.float64)))
        if order == "random":
            score = noise  # Gumbel-top-s of uniform scores = a uniformly random s-subset
        else:
            confidence = torch.softmax(logits.double(), dim=-1).max(-1).values
            score = confidence + 1e-12 * noise  # tiny Gumbel noise only breaks exact ties
        score = score.masked_fill(~masked, float("-inf"))
        picked = torch.zeros_like(masked).scatter_(-1, score.topk(size, dim=-1).indices, True)
        z = torch.where(picked, proposal, z)
    return z
