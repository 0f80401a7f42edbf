"""E copies of ``DiffusionTransformer`` trained as one hand-batched model: matmuls over a leading member axis.

``ensemble.Ensemble`` runs any module per member through ``vmap(functional_call)``; for the small parity
transformer (d = 64, L = 21) that costs as much as a loop over members, because functorch's batching
rules and the math attention kernel add work per op. ``TransformerEnsemble`` writes the same forward
pass once for all members instead:

* every parameter carries a leading member axis E (``blocks.0.attn.qkv.weight`` is [E, 3d, d]), with the
  names and layout of ``DiffusionTransformer`` so ``member(i)`` is a plain solo model;
* activations are [E, B*L, d]; a linear layer is one ``torch.baddbmm`` over the members;
* a layer norm normalises each token without affine terms, then applies each member's gain and bias;
* attention folds the members into the batch, [E*B, H, L, d/H], for ``F.scaled_dot_product_attention``
  (the fused CPU kernel, which has no vmap rule and so is out of ``Ensemble``'s reach).

Member i is initialised as ``torch.manual_seed(seeds[i]); DiffusionTransformer(cfg)``, so it computes what
a solo model of that seed computes up to float rounding (tests/test_transformer_ensemble.py trains both in
float64 and compares). As with ``Ensemble``: the caller's loss is the sum of the members' losses, AdamW is
elementwise so one optimiser over the stacked tensors is per-member exact, and ``clip_grad_norm_`` clips
each member by its own global norm.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ensemble import clip_member_grad_norms_
from .model import DiffusionTransformer, ModelConfig, apply_rotary, rotary_tables


class StackedLinear(nn.Module):
    """E linear layers: weight [E, out, in] (nn.Linear's layout per member), bias [E, out] or None."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias) if bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # [E, N, in] -> [E, N, out]
        if self.bias is None:
            return torch.bmm(x, self.weight.transpose(1, 2))
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class StackedLayerNorm(nn.Module):
    """E layer norms: one normalisation for every token, then each member's gain [E, d] and bias [E, d]."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, eps: float):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias) if bias is not None else None
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # [E, N, d]
        normed = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        if self.bias is None:
            return normed * self.weight.unsqueeze(1)
        return torch.addcmul(self.bias.unsqueeze(1), normed, self.weight.unsqueeze(1))


class StackedEmbedding(nn.Module):
    """E embedding tables [E, rows, d]; member e looks up its own table."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:   # long [E, ...] -> [E, ..., d]
        members, rows, dim = self.weight.shape
        offset = torch.arange(members, device=ids.device).mul_(rows).view(-1, *[1] * (ids.dim() - 1))
        return F.embedding(ids + offset, self.weight.view(members * rows, dim))


def _linear(state: dict, prefix: str) -> StackedLinear:
    return StackedLinear(state[f"{prefix}.weight"], state.get(f"{prefix}.bias"))


def _layer_norm(state: dict, prefix: str, eps: float) -> StackedLayerNorm:
    return StackedLayerNorm(state[f"{prefix}.weight"], state.get(f"{prefix}.bias"), eps)


class _Attention(nn.Module):
    def __init__(self, state: dict, prefix: str, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.qkv, self.proj = _linear(state, f"{prefix}.qkv"), _linear(state, f"{prefix}.proj")

    def forward(self, x: torch.Tensor, batch: int, rope) -> torch.Tensor:   # [E, B*L, d]
        members, tokens, dim = x.shape
        length, head_dim = tokens // batch, dim // self.n_head
        # [E, B, L, 3, H, hd] -> [3, E*B, H, L, hd]: E and B stay adjacent, so q, k, v are views, not copies
        qkv = self.qkv(x).view(members, batch, length, 3, self.n_head, head_dim).permute(3, 0, 1, 4, 2, 5)
        q, k, v = (part.reshape(members * batch, self.n_head, length, head_dim) for part in qkv)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=False)
        return self.proj(y.transpose(1, 2).reshape(members, tokens, dim))


class _MLP(nn.Module):
    def __init__(self, state: dict, prefix: str):
        super().__init__()
        self.fc, self.proj = _linear(state, f"{prefix}.fc"), _linear(state, f"{prefix}.proj")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class _Block(nn.Module):
    def __init__(self, state: dict, prefix: str, cfg: ModelConfig, eps: float):
        super().__init__()
        self.ln_1, self.ln_2 = _layer_norm(state, f"{prefix}.ln_1", eps), _layer_norm(state, f"{prefix}.ln_2", eps)
        self.attn = _Attention(state, f"{prefix}.attn", cfg.n_head)
        self.mlp = _MLP(state, f"{prefix}.mlp")

    def forward(self, x: torch.Tensor, batch: int, rope) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), batch, rope)
        return x + self.mlp(self.ln_2(x))


class TransformerEnsemble(nn.Module):
    """E ``DiffusionTransformer`` members as one module: ``forward`` maps tokens [E, B, L] to logits [E, B, L, V]."""

    leading_member_dims = 1   # read by training.make_optimizer: parameter shapes are [E, *member_shape]

    def __init__(self, members: Sequence[DiffusionTransformer]):
        super().__init__()
        if len(members) < 1:
            raise ValueError("a TransformerEnsemble needs at least one member model")
        if not all(isinstance(m, DiffusionTransformer) for m in members):
            raise TypeError("TransformerEnsemble batches DiffusionTransformer members; use ensemble.Ensemble for "
                            "other modules")
        cfg = members[0].cfg
        if any(m.cfg != cfg for m in members):
            raise ValueError("ensemble members must share one ModelConfig (they may differ only in their weights)")
        if cfg.dropout or cfg.time_conditioning:
            raise ValueError(f"TransformerEnsemble does not implement dropout={cfg.dropout} or "
                             f"time_conditioning={cfg.time_conditioning}: set dropout=0 and time_conditioning=False, "
                             "or train these members with ensemble.Ensemble")
        self.cfg = cfg
        eps = members[0].ln_f.eps
        states = [m.state_dict() for m in members]
        state = {name: torch.stack([s[name] for s in states]).detach().clone() for name in states[0]}
        self.tok_emb = StackedEmbedding(state["tok_emb.weight"])
        self.pos_emb = StackedEmbedding(state["pos_emb.weight"]) if "pos_emb.weight" in state else None
        if cfg.position_encoding != "learned":
            cos, sin = rotary_tables(cfg.block_size, cfg.n_embd // cfg.n_head)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.blocks = nn.ModuleList(_Block(state, f"blocks.{i}", cfg, eps) for i in range(cfg.n_layer))
        self.ln_f = _layer_norm(state, "ln_f", eps)
        self.head = _linear(state, "head")

    @classmethod
    def from_seeds(cls, cfg: ModelConfig, seeds: Sequence[int]) -> "TransformerEnsemble":
        """Member i initialised exactly as a solo ``torch.manual_seed(seeds[i]); DiffusionTransformer(cfg)``."""
        members = []
        for seed in seeds:
            torch.manual_seed(int(seed))
            members.append(DiffusionTransformer(cfg))
        return cls(members)

    @property
    def size(self) -> int:
        return self.tok_emb.weight.shape[0]

    @property
    def mask_id(self) -> int:
        return self.cfg.mask_id

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens long [E, B, L] (MASK = ``mask_id``) -> logits [E, B, L, V] over the real tokens."""
        if tokens.dim() != 3 or tokens.shape[0] != self.size:
            raise ValueError(f"tokens {tuple(tokens.shape)}: expected [E={self.size}, batch, length], "
                             "one slice per member")
        members, batch, length = tokens.shape
        if length > self.cfg.block_size:
            raise ValueError(f"sequence length {length} exceeds block_size={self.cfg.block_size}")
        x = self.tok_emb(tokens)                                                     # [E, B, L, d]
        if self.pos_emb is not None:
            x = x + self.pos_emb.weight[:, :length].unsqueeze(1)
        x = x.view(members, batch * length, -1)
        rope = (self.rope_cos[:length], self.rope_sin[:length]) if self.cfg.position_encoding != "learned" else None
        for block in self.blocks:
            x = block(x, batch, rope)
        return self.head(self.ln_f(x)).view(members, batch, length, -1)

    @torch.no_grad()
    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Clip each member's gradient to norm ``max_norm`` on its own; returns the E pre-clip norms."""
        return clip_member_grad_norms_(self.parameters(), max_norm, self.size)

    @torch.no_grad()
    def member(self, index: int) -> DiffusionTransformer:
        """A standalone ``DiffusionTransformer`` with member ``index``'s weights; the global RNG is left as it was."""
        with torch.random.fork_rng(devices=[]):   # building the model draws an init that is overwritten at once
            model = DiffusionTransformer(self.cfg).to(self.tok_emb.weight.dtype)
        model.load_state_dict({name: p[index] for name, p in self.state_dict().items()})
        return model

    def flops_per_member_step(self, batch: int, length: int | None = None) -> float:
        """Matmul FLOPs of one member's training step (forward + backward = 3x the forward's 2mnk per matmul):
        the linear layers (embeddings are lookups) and the two attention products per layer."""
        length = length or self.cfg.block_size
        matrices = sum(p[0].numel() for name, p in self.named_parameters() if name.endswith("weight") and p.dim() == 3
                       and "emb" not in name)
        attention = self.cfg.n_layer * 2 * (2 * length * length * self.cfg.n_embd)   # q k^T and (attn) v
        return 3 * batch * (2 * matrices * length + attention)
