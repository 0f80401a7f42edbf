"""A bidirectional nanoGPT-style transformer for masked diffusion.

One readable file: a config dataclass, pre-LN blocks, SDPA attention with no causal mask, and a choice
of position encoding: learned absolute positions added to the input, rotary embeddings (RoPE) applied
to queries and keys in every attention layer, or both. Rotary attention scores depend only on the
offset between two positions, which suits language (notebook 03: with learned positions alone the small
CPU models stall near the unigram entropy); parity needs absolute positions (which bits count) and keeps
learned ones. Token ids 0..vocab_size-1 are real tokens and ``mask_id = vocab_size`` is MASK: the
embedding has vocab_size + 1 rows, the head has vocab_size outputs, so MASK can be read but never
predicted (the SUBS rule). Optional time conditioning adds an embedding of the mask ratio t to every
position; it is off by default because for masked diffusion the number of MASK tokens already
reveals t (MDLM reports no gain from it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int            # real tokens; MASK gets id vocab_size
    block_size: int            # maximum sequence length
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    mlp_ratio: int = 4
    dropout: float = 0.0
    bias: bool = True
    time_conditioning: bool = False
    position_encoding: str = "learned"   # "learned" (absolute, added to the input), "rotary" (RoPE), or "both"

    def __post_init__(self) -> None:
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size={self.vocab_size} must be >= 2")
        for name in ("n_head", "n_embd", "mlp_ratio"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1 (a model needs at least one attention "
                                 "head, one embedding dimension and a hidden MLP layer): pass a positive value")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if self.block_size < 1 or self.n_layer < 1:
            raise ValueError("block_size and n_layer must be >= 1")

    @property
    def mask_id(self) -> int:
        return self.vocab_size


POSITION_ENCODINGS = ("learned", "rotary", "both")
ROPE_BASE = 10_000.0


def rotary_tables(seq_len: int, head_dim: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [seq_len, head_dim / 2] of the angles pos * ROPE_BASE^(-2i / head_dim)."""
    inv_freq = ROPE_BASE ** (-torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.arange(seq_len, device=device, dtype=torch.float32)[:, None] * inv_freq
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x[..., 2i], x[..., 2i+1]) of x [..., L, head_dim] by its position's angle.

    A rotation by angle a at position m and by b at position n leaves <R_m q, R_n k> a function of
    m - n only: attention scores see relative offsets.
    """
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2).type_as(x)


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.rotary = cfg.position_encoding in ("rotary", "both")
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.n_head, D // self.n_head).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=False,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, cfg.mlp_ratio * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.mlp_ratio * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = SelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), rope)
        return x + self.mlp(self.ln_2(x))


class TimeEmbedding(nn.Module):
    """Sinusoidal features of t in [0, 1] followed by a small MLP (as in diffusion models)."""

    def __init__(self, n_embd: int, n_freq: int = 64):
        super().__init__()
        self.register_buffer("freqs", torch.exp(-math.log(1e4) * torch.arange(n_freq // 2) / (n_freq // 2)),
                             persistent=False)
        self.mlp = nn.Sequential(nn.Linear(n_freq, n_embd), nn.SiLU(), nn.Linear(n_embd, n_embd))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = 1000.0 * t.float().reshape(-1, 1) * self.freqs
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))


class DiffusionTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.position_encoding not in POSITION_ENCODINGS:
            raise ValueError(f"position_encoding={cfg.position_encoding!r}: choose one of {POSITION_ENCODINGS}")
        head_dim = cfg.n_embd // cfg.n_head
        if cfg.position_encoding != "learned" and head_dim % 2:
            raise ValueError(f"rotary positions rotate pairs of channels: n_embd / n_head = {head_dim} must be even")
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size + 1, cfg.n_embd)  # + 1 row for MASK
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.position_encoding != "rotary" else None
        if cfg.position_encoding != "learned":
            cos, sin = rotary_tables(cfg.block_size, head_dim)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.time_emb = TimeEmbedding(cfg.n_embd) if cfg.time_conditioning else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)  # no MASK logit: SUBS
        self.apply(self._init_weights)
        # GPT-2 style: scale residual projections by 1/sqrt(2 * n_layer) to keep the stream's variance flat.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def mask_id(self) -> int:
        return self.cfg.mask_id

    def num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.pos_emb.weight.numel() if non_embedding and self.pos_emb is not None else n

    def forward(self, tokens: torch.Tensor, t: torch.Tensor | None = None,
                output_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits over the V real tokens.

        tokens: long [B, L] (MASK = ``mask_id``); t: [B] mask ratios, used only with time conditioning;
        output_mask: bool [B, L]: if given, the head runs only there and the result is [n_true, V]
        (the MD loss needs logits only at masked positions; the head is the costliest matmul).
        """
        B, L = tokens.shape
        if L > self.cfg.block_size:
            raise ValueError(f"sequence length {L} exceeds block_size={self.cfg.block_size}")
        x = self.tok_emb(tokens)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(L, device=tokens.device))
        rope = (self.rope_cos[:L], self.rope_sin[:L]) if self.cfg.position_encoding != "learned" else None
        if self.time_emb is not None:
            if t is None:
                raise ValueError("this model was built with time_conditioning=True: pass t")
            x = x + self.time_emb(t).unsqueeze(1)
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, rope)
        x = self.ln_f(x)
        if output_mask is not None:
            x = x[output_mask]
        return self.head(x)


def bf16_autocast(device: torch.device | str, enabled: bool | None = None):
    """bf16 autocast for a forward pass on ``device``: by default on CUDA only (on these CPUs fp32 is faster,
    see BENCHMARKS.md). Callers keep their reductions in fp32 or fp64: the log-softmax of ``loss.py`` promotes to
    fp32, the ELBO sums are fp64."""
    device = torch.device(device)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                          enabled=device.type == "cuda" if enabled is None else enabled)
