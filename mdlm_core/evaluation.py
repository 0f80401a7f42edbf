"""The masked-diffusion test loss: the MD ELBO per token, estimated with common random numbers.

``elbo_eval`` scores a model on packed sequences with a fixed-seed stratified Monte Carlo over t (every
sequence gets one t in each of ``n_draws`` equal strata of [eps, 1]) and reports the loss per t-bin too.
The t's and masks come from the evaluation's own seeded generator and never from the model, so two
models scored with the same seed see the same masks: their per-sequence difference
(``paired_difference``) is far more precise than either model's own standard error suggests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .data.text import PackedSequences
from .loss import md_loss
from .mask_ratio import MIN_MASK_RATIO, MaskRatio
from .model import DiffusionTransformer, bf16_autocast


@dataclass
class ELBOResult:
    loss: float                    # MD ELBO per token (nats), averaged over t in [eps, 1]
    stderr: float                  # standard error over test sequences (MC noise + sequence sampling)
    per_bin: pd.DataFrame          # t_low, t_high, t_mid, loss: the integrand averaged within each t-bin
    per_sequence: np.ndarray       # [N] each sequence's ELBO estimate (for paired comparisons)
    n_sequences: int
    n_draws: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    def to_json(self) -> dict:
        return {"loss": self.loss, "stderr": self.stderr, "per_bin": self.per_bin.to_dict(orient="list"),
                "per_sequence": self.per_sequence.tolist(), "n_sequences": self.n_sequences, "n_draws": self.n_draws}

    @classmethod
    def from_json(cls, d: dict) -> "ELBOResult":
        return cls(d["loss"], d["stderr"], pd.DataFrame(d["per_bin"]), np.asarray(d["per_sequence"]),
                   d["n_sequences"], d["n_draws"])


def stratified_mask_ratios(n_sequences: int, n_draws: int, generator: torch.Generator) -> torch.Tensor:
    """[n_draws, N] mask ratios: row d puts every sequence's t in the d-th of n_draws equal strata of [eps, 1].

    One uniform offset per sequence is shared by all its strata, so each t is marginally U[eps, 1] (the
    estimate is unbiased) while the draws cover [eps, 1] evenly (low discrepancy).
    """
    offsets = torch.rand(n_sequences, generator=generator, dtype=torch.float64)
    u = (torch.arange(n_draws, dtype=torch.float64).reshape(-1, 1) + offsets) / n_draws
    return (MIN_MASK_RATIO + (1 - MIN_MASK_RATIO) * u).to(torch.float32)


@torch.no_grad()
def elbo_eval(model: DiffusionTransformer, data: PackedSequences, n_draws: int, seed: int, t_bins: int = 10,
              batch_size: int = 64, progress: bool = False, bf16: bool | None = None) -> ELBOResult:
    """The MD ELBO per token of ``data`` under ``model``: deterministic given ``seed``. The forward passes run
    under bf16 autocast on CUDA (``bf16``: force it on or off); the per-sequence sums accumulate in fp64."""
    if n_draws % t_bins:
        raise ValueError(f"n_draws={n_draws} must be a multiple of t_bins={t_bins}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    n = data.tokens.shape[0]
    ts = stratified_mask_ratios(n, n_draws, generator)
    sums = torch.zeros(n_draws, n, dtype=torch.float64)   # sum over a sequence of the 1/t-weighted NLL
    for d in tqdm(range(n_draws), desc="ELBO", disable=not progress, leave=False):
        for start in range(0, n, batch_size):
            rows = slice(start, start + batch_size)
            with bf16_autocast(device, bf16):
                out = md_loss(model, data.tokens[rows].to(device), MaskRatio.uniform(), model.mask_id, generator,
                              maskable=data.valid[rows].to(device), t=ts[d, rows].to(device))
            sums[d, rows] = out.terms.sum(dim=1).double().cpu()
    model.train(was_training)
    n_valid = data.valid.sum(dim=1).double()
    per_sequence = (sums.mean(dim=0) / n_valid).numpy()
    loss = float(sums.mean(dim=0).sum() / n_valid.sum())
    stderr = float(per_sequence.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    # strata are ordered in t, so consecutive groups of n_draws / t_bins strata form the t-bins
    by_bin = sums.reshape(t_bins, n_draws // t_bins, n).mean(dim=1).sum(dim=1) / n_valid.sum()
    edges = MIN_MASK_RATIO + (1 - MIN_MASK_RATIO) * np.arange(t_bins + 1) / t_bins
    per_bin = pd.DataFrame({"t_low": edges[:-1], "t_high": edges[1:], "t_mid": (edges[:-1] + edges[1:]) / 2,
                            "loss": by_bin.numpy()})
    return ELBOResult(loss, stderr, per_bin, per_sequence, n, n_draws)


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """mean(a - b) and its standard error, for per-sequence ELBOs computed with the same eval seed."""
    diff = np.asarray(a) - np.asarray(b)
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff)))
