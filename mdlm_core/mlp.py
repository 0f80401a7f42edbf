r"""The theory's parity model: a 2-layer MLP with uniform attention, trained as a batched ensemble.

Huang & Mirzasoleiman reduce the transformer to one attention layer with *uniform* weights followed by a
one-hidden-layer MLP. With uniform attention every position sees the same average of value vectors
v(z_l, l) over the L positions; for one-hot tokens z_l in {0, 1, MASK} that average is a linear map of the
flattened one-hot input [L * 3], so the whole model is

    h = ReLU(W_in onehot(z) + b_in)            W_in: [L*3 -> H]   (the 1/L of the average sits in the init)
    logits_l = alpha * (W_out h + b_out)_l      one head per position l, over the V = 2 real tokens

The MD objective reads every position's head; the supervised one reads only y's (the last position). Both
objectives use this one model, so init, weight decay and optimiser are the same by construction.

``MLPEnsemble`` holds E members stacked on a leading axis and runs them with ``torch.bmm``: member e's
parameters are ``param[e]``, initialised from its own seed exactly as a one-member ensemble of that seed
(so a member equals a solo run). ``leading_member_dims`` and ``clip_grad_norm_`` follow ``ensemble.Ensemble``
so ``training.train`` decays the matrices only and clips each member by its own norm.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .ensemble import clip_member_grad_norms_

TOKEN_KINDS = 3   # 0, 1, MASK


class MLPEnsemble(nn.Module):
    leading_member_dims = 1   # parameter shapes are [E, *member_shape] (read by training.make_optimizer)

    def __init__(self, seeds: Sequence[int], seq_len: int, width: int, vocab: int = 2, *,
                 init_scale: float = 1.0, output_scale: float = 1.0):
        super().__init__()
        if not seeds:
            raise ValueError("an MLPEnsemble needs at least one member seed")
        if width < 1 or seq_len < 1:
            raise ValueError(f"width={width} and seq_len={seq_len} must be positive")
        self.seq_len, self.width, self.vocab = seq_len, width, vocab
        self.output_scale = float(output_scale)   # alpha: logits = alpha * f(x) (lazy -> rich, Kumar et al.)
        fan_in = seq_len * TOKEN_KINDS
        w_in, w_out = [], []
        for seed in seeds:   # each member from its own generator: member e == a solo run of seeds[e]
            gen = torch.Generator().manual_seed(int(seed))
            # each input has exactly seq_len active one-hot entries: std init_scale / sqrt(L) keeps h = O(1)
            w_in.append(torch.randn(fan_in, width, generator=gen) * (init_scale / math.sqrt(seq_len)))
            w_out.append(torch.randn(width, seq_len * vocab, generator=gen) * (init_scale / math.sqrt(width)))
        self.w_in = nn.Parameter(torch.stack(w_in))                          # [E, L*3, H]
        self.b_in = nn.Parameter(torch.zeros(len(seeds), width))             # [E, H]
        self.w_out = nn.Parameter(torch.stack(w_out))                        # [E, H, L*V]
        self.b_out = nn.Parameter(torch.zeros(len(seeds), seq_len * vocab))  # [E, L*V]

    @property
    def size(self) -> int:
        return self.w_in.shape[0]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens long [E, B, L] in {0, 1, MASK=2} -> logits [E, B, L, V]."""
        e, b, length = tokens.shape
        if e != self.size or length != self.seq_len:
            raise ValueError(f"tokens {tuple(tokens.shape)} do not fit {self.size} members of length {self.seq_len}")
        onehot = nn.functional.one_hot(tokens, TOKEN_KINDS).to(self.w_in.dtype).reshape(e, b, length * TOKEN_KINDS)
        hidden = torch.relu(torch.baddbmm(self.b_in.unsqueeze(1), onehot, self.w_in))
        out = torch.baddbmm(self.b_out.unsqueeze(1), hidden, self.w_out)
        return (self.output_scale * out).view(e, b, length, self.vocab)

    def flops_per_member_step(self, batch: int) -> float:
        """Forward + backward matmul FLOPs of one member's step (3x the forward's 2 m n k per matmul)."""
        return 3 * 2 * batch * self.width * (self.seq_len * TOKEN_KINDS + self.seq_len * self.vocab)

    @torch.no_grad()
    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Clip each member's gradient to norm ``max_norm`` on its own; returns the E pre-clip norms."""
        return clip_member_grad_norms_(self.parameters(), max_norm, self.size)
