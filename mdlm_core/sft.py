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
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch

from .mask_ratio import MaskRatio
from .loss import MDLossOutput, md_loss


def answer_region(prompt_lengths: torch.Tensor, length: int) -> torch.Tensor:
    """bool [B, length]: True on answer positions (index >= the row's prompt length)."""
    prompt_lengths = torch.as_tensor(prompt_lengths, dtype=torch.long)
    if prompt_lengths.dim() != 1 or (prompt_lengths < 0).any() or (prompt_lengths >= length).any():
        raise ValueError(f"prompt_lengths {prompt_lengths.tolist()} must be a [B] tensor with 0 <= P < {length} "
                         "(every row needs at least one answer position)")
    return torch.arange(length, device=prompt_lengths.device) >= prompt_lengths.unsqueeze(1)


def sft_loss(model: torch.nn.Module, tokens: torch.Tensor, prompt_lengths: torch.Tensor, mask_ratio: MaskRatio,
             mask_id: int, generator: torch.Generator | None = None, t: torch.Tensor | None = None) -> MDLossOutput:
    """One Monte Carlo draw of the SFT loss for ``tokens`` [B, L] whose first ``prompt_lengths[b]`` tokens
    are the prompt: ``md_loss`` with the prompt unmaskable, renormalised per row by answer length."""
    answer = answer_region(prompt_lengths.to(tokens.device), tokens.shape[1])
    out = md_loss(model, tokens, mask_ratio, mask_id, generator=generator, maskable=answer, t=t)
    per_row = out.terms.sum(-1) / answer.sum(-1)
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
