"""Masked-diffusion language modelling on WikiText-2: the mask-ratio U-curve (notebook 03).

Huang & Mirzasoleiman (2026) train one MDLM per mask-ratio bin [0, 0.1], ..., [0.9, 1.0], plus the
standard t ~ U[0, 1] and the window [0.45, 0.55], and score every model on the same test loss: the full
MD ELBO over t in [0, 1]. This module holds the experiment's pieces:

* ``LMConfig`` + ``LM_PROFILES`` (smoke / quick / paper): data slice, tokenizer, model, training, evaluation;
* ``prepare_lm_data``: WikiText-2 -> BPE tokenizer (cached) -> packed train / valid / test rows;
* ``elbo_eval``: the test loss, a fixed-seed stratified Monte Carlo over t (every sequence gets one t in
  each of ``n_draws`` equal strata of [eps, 1]), with its standard error and the loss per t-bin;
* ``train_lm_run`` / ``run_u_curve``: one cached, resumable run per (window, seed) through the shared loop
  in ``train.py``, then the test evaluation (cached beside the run).

The evaluation draws its t's and masks from its own seeded generator and never from the model, so every
model sees the same masks (common random numbers): differences between models are far more precise
than each model's own standard error suggests; ``paired_difference`` measures exactly that.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .mask_ratio import MIN_MASK_RATIO, MaskRatio
from .md_loss import md_loss
from .model import DiffusionTransformer, ModelConfig
from .outputs import cache_dir, write_text
from .text_data import (PackedSequences, encode_stream, load_or_train_tokenizer, load_wikitext2, pack_sequences,
                        take_lines, texts_digest, tokenizer_key)
from .train import TrainConfig, TrainResult, config_hash, resolve_device, run_dir_for, train

# The paper's twelve training distributions: ten 0.1-wide bins, the standard U[0, 1], the [0.45, 0.55] window.
BIN_WINDOWS = tuple((round(i / 10, 1), round((i + 1) / 10, 1)) for i in range(10))
UNIFORM = "uniform"
CENTER = "[0.45,0.55]"


def window_label(low: float, high: float) -> str:
    return f"[{low:g},{high:g}]"


def lm_windows() -> dict[str, tuple[float, float]]:
    """label -> (low, high) of every training distribution, bins first, then the two references."""
    out = {window_label(a, b): (a, b) for a, b in BIN_WINDOWS}
    out[UNIFORM] = (0.0, 1.0)
    out[CENTER] = (0.45, 0.55)
    return out


def training_mask_ratio(label: str) -> MaskRatio:
    """Stratified (antithetic) draws over the window, as MDLM trains; [0, x] windows are floored at eps."""
    windows = lm_windows()
    if label not in windows:
        raise ValueError(f"unknown training window {label!r}; choose from {', '.join(windows)}")
    return MaskRatio.window(*windows[label], stratified=True)


@dataclass(frozen=True)
class LMConfig:
    # data and tokenizer
    vocab_size: int = 4096
    seq_len: int = 128
    train_chars: int | None = None     # leading characters of the train split used (None: all)
    eval_chars: int | None = None      # leading characters of valid / test used (None: all)
    # model
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    # training
    batch_size: int = 32
    steps: int = 500
    lr: float = 2e-3
    warmup_steps: int = 50
    weight_decay: float = 0.1
    eval_every: int = 100
    valid_seqs: int = 64               # fixed validation subset scored during training (training curves)
    valid_draws: int = 4
    # test evaluation
    test_seqs: int | None = None       # leading test rows scored (None: all, the padded tail row included)
    test_draws: int = 20               # t-strata per sequence; a multiple of t_bins
    t_bins: int = 10
    eval_seed: int = 1234
    eval_batch_size: int = 64
    # the experiment
    windows: tuple[str, ...] = tuple(lm_windows())
    seeds: tuple[int, ...] = (0,)               # every window is trained with these seeds
    extra_seeds: tuple[int, ...] = ()           # ... and these windows also with extra_seeds (the seed spread)
    extra_seed_windows: tuple[str, ...] = (UNIFORM, CENTER)
    device: str = "auto"               # "auto": cuda when available, else cpu

    def __post_init__(self) -> None:
        if self.test_draws % self.t_bins:
            raise ValueError(f"test_draws={self.test_draws} must be a multiple of t_bins={self.t_bins} "
                             "(each t-bin gets the same number of strata)")
        for label in (*self.windows, *self.extra_seed_windows):
            training_mask_ratio(label)

    @property
    def jobs(self) -> list[tuple[str, int]]:
        """(window, seed) of every run, seeds outermost so the first pass covers every window."""
        jobs = [(label, seed) for seed in self.seeds for label in self.windows]
        jobs += [(label, seed) for seed in self.extra_seeds for label in self.extra_seed_windows
                 if label in self.windows and (label, seed) not in jobs]
        return jobs

    def model_config(self, vocab_size: int) -> ModelConfig:
        return ModelConfig(vocab_size=vocab_size, block_size=self.seq_len, n_layer=self.n_layer,
                           n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout)

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig.from_experiment(self, seed=seed)


LM_PROFILES = {
    # seconds: a slice of the real files, a tiny model, every window (seed 0) and the references with seed 1
    "smoke": LMConfig(vocab_size=384, seq_len=32, train_chars=200_000, eval_chars=40_000, n_layer=1, n_head=2,
                      n_embd=32, batch_size=8, steps=4, warmup_steps=1, eval_every=2, valid_seqs=8, valid_draws=2,
                      test_seqs=16, test_draws=10, eval_batch_size=16, extra_seeds=(1,)),
    # 2 CPU cores, ~35 min for the whole notebook: all of WikiText-2, a 1.3M-parameter model; every window
    # with seed 0, the two references with seed 1 as well (14 runs) to measure the seed spread
    "quick": LMConfig(vocab_size=2048, seq_len=128, n_layer=4, n_head=4, n_embd=128, batch_size=32, steps=300,
                      lr=3e-3, warmup_steps=30, eval_every=50, valid_seqs=64, valid_draws=2,
                      test_seqs=256, test_draws=20, seeds=(0,), extra_seeds=(1,)),
    # the paper's scale (~50M parameters) on one GPU; same code
    "paper": LMConfig(vocab_size=8192, seq_len=256, n_layer=8, n_head=10, n_embd=640, dropout=0.1,
                      batch_size=64, steps=10_000, lr=3e-4, warmup_steps=500, eval_every=500,
                      valid_seqs=256, valid_draws=10, test_seqs=None, test_draws=50, eval_batch_size=64,
                      seeds=(0, 1, 2)),
}


# -- data ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LMData:
    train: torch.Tensor            # long [N, seq_len], full rows only (the last partial row is not trained on)
    valid: PackedSequences
    test: PackedSequences
    tokenizer: object = field(repr=False)
    vocab_size: int = 0            # the tokenizer's real size (smaller than asked for on tiny slices)
    sha256: dict = field(default_factory=dict)    # split -> sha256 of the file read
    tokenizer_key: str = ""
    source: str = ""

    @property
    def fingerprint(self) -> dict:
        """What the runs depend on besides the config: the data files and the tokenizer."""
        return {"sha256": dict(self.sha256), "tokenizer": self.tokenizer_key, "vocab_size": self.vocab_size}


def prepare_lm_data(cfg: LMConfig, data_dir: str | Path | None = None, source: str = "local") -> LMData:
    """WikiText-2 -> byte-level BPE trained on the (sliced) train split, cached -> packed rows."""
    corpus = load_wikitext2(data_dir, source=source)
    train_lines = take_lines(corpus.splits["train"], cfg.train_chars)
    tokenizer = load_or_train_tokenizer(train_lines, cfg.vocab_size)
    key = tokenizer_key(texts_digest(train_lines), cfg.vocab_size, 2)
    lines = {"train": train_lines, "valid": take_lines(corpus.splits["valid"], cfg.eval_chars),
             "test": take_lines(corpus.splits["test"], cfg.eval_chars)}
    packed = {split: pack_sequences(encode_stream(tokenizer, text), cfg.seq_len) for split, text in lines.items()}
    return LMData(packed["train"].full_rows, packed["valid"], packed["test"], tokenizer,
                  tokenizer.get_vocab_size(), dict(corpus.sha256), key, corpus.source)


# -- evaluation ---------------------------------------------------------------------------------------
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
              batch_size: int = 64, progress: bool = False) -> ELBOResult:
    """The MD ELBO per token of ``data`` under ``model``: deterministic given ``seed``."""
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


# -- training -----------------------------------------------------------------------------------------
def make_lm_step(train_rows: torch.Tensor, batch_size: int, mask_ratio: MaskRatio, device: torch.device):
    """step_fn for ``train``: a random batch of packed rows, one MD-loss draw (bf16 autocast on GPU only)."""
    use_amp = device.type == "cuda"  # on CPU fp32 is faster (see the CPU calibration notes)

    def step(model: DiffusionTransformer, step: int, generator: torch.Generator):
        idx = torch.randint(0, train_rows.shape[0], (batch_size,), generator=generator)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            out = md_loss(model, train_rows[idx].to(device), mask_ratio, model.mask_id, generator)
        return out.loss, {"mask_frac": out.mask.float().mean().item()}

    return step


def build_lm_model(cfg: LMConfig, vocab_size: int, seed: int, device: torch.device | None = None) -> DiffusionTransformer:
    torch.manual_seed(seed)
    return DiffusionTransformer(cfg.model_config(vocab_size)).to(device or resolve_device(cfg.device))


def run_config(cfg: LMConfig, data: LMData, label: str, seed: int) -> dict:
    """Everything a training run's result depends on (the run cache key)."""
    return {"model": cfg.model_config(data.vocab_size), "train": cfg.train_config(seed),
            "window": lm_windows()[label], "batch_size": cfg.batch_size, "train_chars": cfg.train_chars,
            "eval_chars": cfg.eval_chars, "valid": [cfg.valid_seqs, cfg.valid_draws, cfg.eval_seed],
            "data": data.fingerprint}


def eval_config(cfg: LMConfig) -> dict:
    return {"test_seqs": cfg.test_seqs, "test_draws": cfg.test_draws, "t_bins": cfg.t_bins,
            "eval_seed": cfg.eval_seed, "eval_batch_size": cfg.eval_batch_size}


def scored_test_rows(cfg: LMConfig, data: LMData) -> PackedSequences:
    n = data.test.tokens.shape[0] if cfg.test_seqs is None else min(cfg.test_seqs, data.test.tokens.shape[0])
    return PackedSequences(data.test.tokens[:n], data.test.valid[:n])


@dataclass
class LMRun:
    label: str
    seed: int
    metrics: pd.DataFrame
    test: ELBOResult
    run_dir: Path
    train_seconds: float          # wall time of the training session that finished it (a resumed run: its last part)
    model: DiffusionTransformer = field(repr=False)


def train_lm_model(cfg: LMConfig, data: LMData, label: str, seed: int, root: str | Path | None = None,
                   progress: bool = True) -> tuple[DiffusionTransformer, TrainResult, float]:
    """Train (or load from the run cache) one model on ``label``'s mask-ratio window: (model, result, seconds).

    Also the way other experiments get a pretrained model (notebook 04 fine-tunes notebook 03's uniform run).
    """
    device = resolve_device(cfg.device)
    run_dir = run_dir_for(Path(root) if root is not None else cache_dir("runs"), f"lm-{label}-s{seed}",
                          run_config(cfg, data, label, seed))
    model = build_lm_model(cfg, data.vocab_size, seed, device)
    valid = PackedSequences(data.valid.tokens[:cfg.valid_seqs], data.valid.valid[:cfg.valid_seqs])

    def eval_fn(m: DiffusionTransformer, step: int) -> dict:
        return {"valid_loss": elbo_eval(m, valid, cfg.valid_draws, cfg.eval_seed, t_bins=1,
                                        batch_size=cfg.eval_batch_size).loss}

    t0 = time.perf_counter()
    result = train(model, make_lm_step(data.train, cfg.batch_size, training_mask_ratio(label), device),
                   cfg.train_config(seed), eval_fn=eval_fn, run_dir=run_dir, desc=f"{label} s{seed}",
                   progress=progress)
    timing = run_dir / "timing.json"  # written by train(); a cached run reports its last session's time
    seconds = (json.loads(timing.read_text())["seconds_this_session"] if result.cached and timing.exists()
               else time.perf_counter() - t0)
    return model, result, seconds


def train_lm_run(cfg: LMConfig, data: LMData, label: str, seed: int, root: str | Path | None = None,
                 progress: bool = True) -> LMRun:
    """Train (or load from the run cache) one model on ``label``'s mask-ratio window, then score it on test."""
    model, result, seconds = train_lm_model(cfg, data, label, seed, root=root, progress=progress)
    eval_path = result.run_dir / f"test-{config_hash(eval_config(cfg))}.json"
    if eval_path.exists():
        test = ELBOResult.from_json(json.loads(eval_path.read_text()))
    else:
        test = elbo_eval(model, scored_test_rows(cfg, data), cfg.test_draws, cfg.eval_seed, cfg.t_bins, cfg.eval_batch_size)
        write_text(eval_path, json.dumps(test.to_json()) + "\n")
    return LMRun(label, seed, result.metrics, test, result.run_dir, seconds, model)


@dataclass
class UCurveResults:
    runs: pd.DataFrame       # one row per (window, seed): test loss, stderr, perplexity, train seconds
    loss_vs_t: pd.DataFrame  # window, seed, t_mid, loss
    metrics: pd.DataFrame    # training curves: window, seed, step, train_loss, valid_loss, ...
    per_sequence: dict       # (window, seed) -> per-sequence test ELBO (same masks for every model)


def run_u_curve(cfg: LMConfig, data: LMData, root: str | Path | None = None, progress: bool = True) -> UCurveResults:
    """Every (window, seed) run of the config; seeds are the outer loop so early results cover all windows."""
    rows, curves, metrics, per_seq = [], [], [], {}
    for label, seed in tqdm(cfg.jobs, desc="runs", disable=not progress):
        run = train_lm_run(cfg, data, label, seed, root=root, progress=progress)
        low, high = lm_windows()[label]
        rows.append({"window": label, "low": low, "high": high, "seed": seed, "test_loss": run.test.loss,
                     "test_stderr": run.test.stderr, "perplexity": run.test.perplexity,
                     "train_seconds": run.train_seconds, "run_dir": str(run.run_dir)})
        curves.append(run.test.per_bin.assign(window=label, seed=seed))
        metrics.append(run.metrics.assign(window=label, seed=seed))
        per_seq[(label, seed)] = run.test.per_sequence
    return UCurveResults(pd.DataFrame(rows), pd.concat(curves, ignore_index=True),
                         pd.concat(metrics, ignore_index=True), per_seq)


def summarize_windows(runs: pd.DataFrame) -> pd.DataFrame:
    """Per training window: mean test loss over seeds, the seed s.d. (NaN with one seed), mean MC s.e."""
    out = (runs.groupby("window", sort=False)
           .agg(low=("low", "first"), high=("high", "first"), n_seeds=("seed", "nunique"),
                test_loss=("test_loss", "mean"), seed_sd=("test_loss", "std"), mc_stderr=("test_stderr", "mean"))
           .reset_index())
    out["perplexity"] = np.exp(out["test_loss"])
    return out


def pooled_seed_sd(runs: pd.DataFrame) -> float:
    """Seed-to-seed s.d. of the test loss, pooled over every window run with >= 2 seeds (NaN if none)."""
    groups = [g["test_loss"].to_numpy() for _, g in runs.groupby("window") if len(g) >= 2]
    dof = sum(len(g) - 1 for g in groups)
    return float(np.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / dof)) if dof else float("nan")


def window_gap(runs: pd.DataFrame, a: str, b: str) -> tuple[float, float]:
    """Seed-mean test loss of window a minus that of b, and its s.e. from the pooled seed s.d."""
    la, lb = (runs.loc[runs.window == w, "test_loss"] for w in (a, b))
    se = pooled_seed_sd(runs) * math.sqrt(1 / len(la) + 1 / len(lb))
    return float(la.mean() - lb.mean()), se


def lm_flops_per_token(cfg: ModelConfig, mask_frac: float = 0.5) -> float:
    """Training FLOPs per token (forward + backward = 3x forward), counting matmuls only.

    Multiply-adds per token and layer: attention projections 4 d^2, MLP 2 * mlp_ratio * d^2, attention
    scores and weighted values 2 L d; the head (V d) runs only on masked tokens, a fraction ``mask_frac``
    of them (E[t] = 1/2 under U[0, 1]). One multiply-add = 2 FLOPs, backward = 2x forward: 6x in all.
    """
    d, L = cfg.n_embd, cfg.block_size
    per_layer = (4 + 2 * cfg.mlp_ratio) * d * d + 2 * L * d
    return 6.0 * (cfg.n_layer * per_layer + mask_frac * cfg.vocab_size * d)
