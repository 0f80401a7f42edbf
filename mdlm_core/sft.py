r"""Supervised fine-tuning (SFT) of a masked diffusion model, as in LLaDA (Nie et al., 2025).

A training sequence is ``[prompt | answer | EOS ... EOS]`` padded to a fixed length with EOS. The EOS
padding belongs to the answer: it is masked and trained on like any answer token, which is how the
model learns where to stop (at generation time everything after the first EOS is dropped). The
forward process masks only answer positions, each with probability t drawn from the chosen
``MaskRatio`` window; the prompt is never masked. The loss of a row is normalised by its answer length
|a| (EOS padding included) and averaged over the batch:

.. math::  \mathcal{L} = \frac{1}{B} \sum_b \frac{1}{|a_b|} \sum_{i \in a_b:\, z^i = \mathrm{MASK}}
           \frac{-\log p_\theta(x^i \mid z)}{t_b} .

With an empty prompt every row has |a| = L and this is exactly ``md_loss``.

Scoring a given answer (LLaDA's conditional likelihood evaluation). The log-likelihood of an answer a (A tokens) given a prompt p is bounded below by the MD ELBO, written over
the number l of masked answer tokens instead of t (l ~ U{1..A}, then l answer positions uniformly without
replacement; prompt never masked):

.. math::  \log p_\theta(a \mid p) \ge \mathbb{E}_{l}\, \mathbb{E}_{M:\,|M| = l}
           \Big[\frac{A}{l} \sum_{i \in M} \log p_\theta(a^i \mid p, a_{\setminus M})\Big] .

``answer_elbo_mc`` estimates it from given masks; ``answer_masks`` draws them with l stratified over the K
draws of an example (draw k takes l from the k-th of K equal-probability slices of U{1..A}), which keeps the
estimator unbiased and spreads the draws over all noise levels, as LLaDA's evaluation spreads the masked
counts over its Monte Carlo batch. Masks come from their own seeded generator and never depend on the model
or the candidate, so candidates and models are compared on common random draws.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch

from .mask_ratio import MaskRatio
from .loss import MDLossOutput, md_loss
from .model import bf16_autocast


def answer_region(prompt_lengths: torch.Tensor, length: int) -> torch.Tensor:
    """bool [B, length]: True on answer positions (index >= the row's prompt length)."""
    prompt_lengths = torch.as_tensor(prompt_lengths, dtype=torch.long)
    if prompt_lengths.dim() != 1 or (prompt_lengths < 0).any() or (prompt_lengths >= length).any():
        raise ValueError(f"prompt_lengths {prompt_lengths.tolist()} must be a [B] tensor with 0 <= P < {length} "
                         "(every row needs at least one answer position)")
    return torch.arange(length, device=prompt_lengths.device) >= prompt_lengths.unsqueeze(1)


def sft_row_losses(model: torch.nn.Module, tokens: torch.Tensor, prompt_lengths: torch.Tensor, mask_ratio: MaskRatio,
                   mask_id: int, generator: torch.Generator | None = None,
                   t: torch.Tensor | None = None) -> tuple[torch.Tensor, MDLossOutput]:
    """(per-row SFT loss [B], the ``md_loss`` output): one Monte Carlo draw for ``tokens`` [B, L] whose first
    ``prompt_lengths[b]`` tokens are the prompt, the prompt unmaskable, each row normalised by its answer length.
    Rows of several tasks (prompt lengths of their own) share one forward pass; ``sft_loss`` is their mean."""
    answer = answer_region(prompt_lengths.to(tokens.device), tokens.shape[1])
    out = md_loss(model, tokens, mask_ratio, mask_id, generator=generator, maskable=answer, t=t)
    return out.terms.sum(-1) / answer.sum(-1), out


def sft_loss(model: torch.nn.Module, tokens: torch.Tensor, prompt_lengths: torch.Tensor, mask_ratio: MaskRatio,
             mask_id: int, generator: torch.Generator | None = None, t: torch.Tensor | None = None) -> MDLossOutput:
    """One Monte Carlo draw of the SFT loss for ``tokens`` [B, L] whose first ``prompt_lengths[b]`` tokens
    are the prompt: ``md_loss`` with the prompt unmaskable, renormalised per row by answer length."""
    per_row, out = sft_row_losses(model, tokens, prompt_lengths, mask_ratio, mask_id, generator, t)
    return dataclasses.replace(out, loss=per_row.mean())


def pack_sft_examples(prompts: Sequence[Sequence[int]], answers: Sequence[Sequence[int]], length: int, eos_id: int,
                      *, prompt_length: int | None = None, pad_id: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids -> (tokens long [N, length], prompt_lengths long [N]) laid out ``prompt | answer | EOS...``.

    Every answer is followed by at least one EOS (so the model sees where to stop). With
    ``prompt_length=P`` every prompt is left-padded with ``pad_id`` (or left-truncated, keeping its end,
    where the question is asked) to exactly P tokens, so all rows share one prompt length and one
    answer region of ``length - P`` tokens: batched generation then takes ``tokens[:, :P]`` as prompt.
    """
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
    if prompt_length is not None and pad_id is None:
        raise ValueError("prompt_length= left-pads prompts: pass pad_id= too")
    tokens = torch.full((len(prompts), length), eos_id, dtype=torch.long)
    prompt_lengths = torch.empty(len(prompts), dtype=torch.long)
    for row, (prompt, answer) in enumerate(zip(prompts, answers)):
        prompt = list(prompt)
        if prompt_length is not None:
            prompt = [pad_id] * (prompt_length - len(prompt)) + prompt[max(0, len(prompt) - prompt_length):]
        if len(prompt) + len(answer) + 1 > length:
            raise ValueError(f"example {row}: prompt ({len(prompt)}) + answer ({len(answer)}) + one EOS exceed "
                             f"length={length}; raise the sequence length or shorten/drop the example")
        seq = prompt + list(answer)
        tokens[row, :len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        prompt_lengths[row] = len(prompt)
    return tokens, prompt_lengths


def strip_after_eos(answer_tokens: torch.Tensor, eos_id: int) -> list[list[int]]:
    """Generated answers [B, A] -> per row, the token ids before the first EOS."""
    rows = []
    for row in answer_tokens.tolist():
        rows.append(row[:row.index(eos_id)] if eos_id in row else row)
    return rows


# -- likelihood of a given answer (LLaDA's conditional likelihood evaluation) ------------------------------------


def answer_masks(n: int, answer_len: int, draws: int, generator: torch.Generator) -> torch.Tensor:
    """bool [n, draws, answer_len]: for each example and draw, l masked answer positions, l stratified over draws."""
    if answer_len < 1 or draws < 1 or n < 0:
        raise ValueError(f"answer_masks needs answer_len >= 1 and draws >= 1, got {answer_len}, {draws}")
    u = (torch.arange(draws, dtype=torch.float64) + torch.rand(n, draws, generator=generator, dtype=torch.float64)) / draws
    count = (u * answer_len).ceil().clamp(1, answer_len).long()                 # l in 1..A; P(l) = 1/A overall
    rank = torch.rand(n, draws, answer_len, generator=generator).argsort(-1).argsort(-1)   # a uniform permutation
    return rank < count.unsqueeze(-1)


@torch.no_grad()
def answer_elbo_terms(model: torch.nn.Module, prompts: torch.Tensor, answers: torch.Tensor, masks: torch.Tensor,
                      mask_id: int, batch_size: int = 128, bf16: bool | None = None) -> torch.Tensor:
    """float64 [N, K]: per draw, (A / l) * sum over the masked answer positions of log p(a^i | prompt, visible answer).
    Forward passes under bf16 autocast on CUDA (``bf16`` forces it on or off), the log-softmax in fp64.

    ``prompts`` [N, P], ``answers`` [N, A] (or [A]: one answer for every prompt), ``masks`` bool [N, K, A]."""
    n, draws, answer_len = masks.shape
    answers = answers.expand(n, answer_len) if answers.dim() == 1 else answers
    if prompts.shape[0] != n or answers.shape != (n, answer_len):
        raise ValueError(f"prompts {tuple(prompts.shape)}, answers {tuple(answers.shape)} and masks "
                         f"{tuple(masks.shape)} disagree: need [N, P], [N, A] and [N, K, A]")
    if not masks.any(-1).all():
        raise ValueError("every draw must mask at least one answer token (draw them with answer_masks)")
    device = next(model.parameters()).device
    rows_p = prompts.repeat_interleave(draws, 0)                                # [N*K, P]
    rows_a = answers.repeat_interleave(draws, 0)                                # [N*K, A]
    rows_m = masks.reshape(n * draws, answer_len)
    out = torch.empty(n * draws, dtype=torch.float64)
    for start in range(0, n * draws, batch_size):
        a, m = rows_a[start:start + batch_size], rows_m[start:start + batch_size]
        z = torch.cat([rows_p[start:start + batch_size], torch.where(m, mask_id, a)], dim=1).to(device)
        with bf16_autocast(device, bf16):
            logits = model(z)[:, -answer_len:]
        log_probs = torch.log_softmax(logits.double(), dim=-1).cpu()
        picked = log_probs.gather(-1, a.unsqueeze(-1)).squeeze(-1)               # [b, A]
        out[start:start + len(a)] = (picked * m).sum(-1) * answer_len / m.sum(-1)
    return out.reshape(n, draws)


def answer_elbo_mc(model: torch.nn.Module, prompts: torch.Tensor, answers: torch.Tensor, masks: torch.Tensor,
                   mask_id: int, batch_size: int = 128, bf16: bool | None = None) -> torch.Tensor:
    """float64 [N]: the Monte Carlo ELBO of each answer given its prompt (mean over the K draws of ``masks``)."""
    return answer_elbo_terms(model, prompts, answers, masks, mask_id, batch_size, bf16).mean(-1)


@torch.no_grad()
def answer_elbo_exact(model: torch.nn.Module, prompt: torch.Tensor, answer: torch.Tensor, mask_id: int) -> float:
    """The same ELBO for one (prompt [P], answer [A]) by enumerating every mask (2^A - 1 of them): a reference
    for tests on toy models, independent of ``answer_masks`` and of batching."""
    from itertools import combinations
    from math import comb

    answer_len = len(answer)
    total = 0.0
    for count in range(1, answer_len + 1):
        for positions in combinations(range(answer_len), count):
            z = answer.clone()
            z[list(positions)] = mask_id
            log_probs = torch.log_softmax(model(torch.cat([prompt, z])[None])[0, len(prompt):].double(), dim=-1)
            inner = sum(float(log_probs[i, answer[i]]) for i in positions)
            total += inner * answer_len / count / answer_len / comb(answer_len, count)   # P(l) P(M | l) (A / l) sum
    return total
