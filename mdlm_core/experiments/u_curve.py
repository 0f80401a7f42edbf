"""Masked-diffusion language modelling on WikiText-2: the mask-ratio U-curve (notebook 03).

Huang & Mirzasoleiman (2026) train one MDLM per mask-ratio bin [0, 0.1], ..., [0.9, 1.0], plus the
standard t ~ U[0, 1] and the window [0.45, 0.55], and score every model on the same test loss: the full
MD ELBO over t in [0, 1]. This module holds the experiment's pieces:

* ``LMConfig`` + ``LM_PROFILES`` (smoke / quick / paper): data slice, tokenizer, model, training, evaluation;
* ``prepare_lm_data``: WikiText-2 -> BPE tokenizer (cached) -> packed train / valid / test rows;
* ``elbo_eval``: the test loss, a fixed-seed stratified Monte Carlo over t (every sequence gets one t in
  each of ``n_draws`` equal strata of [eps, 1]), with its standard error and the loss per t-bin;
* ``train_lm_run`` / ``run_u_curve``: one cached, resumable run per (window, seed) through the shared loop
  in ``training.py``, then the test evaluation (cached beside the run).

The evaluation draws its t's and masks from its own seeded generator and never from the model, so every
model sees the same masks (common random numbers): differences between models are far more precise
than each model's own standard error suggests; ``paired_difference`` measures exactly that.
"""

from __future__ import annotations

import math
from functools import partial
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..loss import md_loss
from ..mask_ratio import AdaptiveBins, MaskRatio, parse_mask_ratio
from ..model import DiffusionTransformer, ModelConfig
from ..data.text import (CharTokenizer, PackedSequences, encode_stream, unigram_entropy, load_or_train_tokenizer, load_wikitext2, pack_sequences,
                        take_lines, texts_digest, tokenizer_key)
from ..evaluation import ELBOResult, elbo_eval
from ..companion import figure_names
from ..companion.verdicts import Claim, paired_difference_test, two_way_residual_sd, u_shape_test
from ..training import (TrainConfig, TrainResult, cached_evaluation, derive_config, grid_workers, resolve_device,
                        run_grid, train_cached)

# The paper's twelve training distributions: ten 0.1-wide bins, the standard U[0, 1], the [0.45, 0.55] window.
BINS = tuple(MaskRatio.window(round(i / 10, 1), round((i + 1) / 10, 1)).label for i in range(10))
UNIFORM = MaskRatio.uniform().label          # "[0,1]"
CENTER = MaskRatio.window(0.45, 0.55).label  # "[0.45,0.55]"
WINDOWS = (*BINS, UNIFORM, CENTER)


@dataclass(frozen=True)
class LMConfig:
    # data and tokenizer
    tokenizer: str = "bpe"             # "bpe" (byte-level BPE of vocab_size) or "char" (the vocab_size - 2 commonest characters)
    vocab_size: int = 4096
    seq_len: int = 128
    train_chars: int | None = None     # leading characters of the train split used (None: all)
    eval_chars: int | None = None      # leading characters of valid / test used (None: all)
    # model
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    position_encoding: str = "learned" # "learned", "rotary" or "both" (see model.py)
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
    windows: tuple[str, ...] = WINDOWS          # MaskRatio labels (MaskRatio.parse reads them)
    stratified: bool = True            # antithetic t draws across a batch, as MDLM trains
    seeds: tuple[int, ...] = (0,)               # every window is trained with these seeds
    extra_seeds: tuple[int, ...] = ()           # ... and these windows also with extra_seeds (the seed spread)
    extra_seed_windows: tuple[str, ...] = (UNIFORM, CENTER)
    device: str = "auto"               # "auto": cuda when available, else cpu
    workers: int | None = None         # parallel training processes (None: one per CPU core; 1 on a GPU)

    def __post_init__(self) -> None:
        if self.test_draws % self.t_bins:
            raise ValueError(f"test_draws={self.test_draws} must be a multiple of t_bins={self.t_bins} "
                             "(each t-bin gets the same number of strata)")
        for label in (*self.windows, *self.extra_seed_windows):
            parse_mask_ratio(label)
        if self.tokenizer not in ("bpe", "char"):
            raise ValueError(f"tokenizer={self.tokenizer!r}: use 'bpe' or 'char'")

    @property
    def jobs(self) -> list[tuple[str, int]]:
        """(window, seed) of every run, seeds outermost so the first pass covers every window."""
        jobs = [(label, seed) for seed in self.seeds for label in self.windows]
        jobs += [(label, seed) for seed in self.extra_seeds for label in self.extra_seed_windows
                 if label in self.windows and (label, seed) not in jobs]
        return jobs

    def mask_ratio(self, label: str):
        """The training distribution of t for a label: a window, or notebook 06's beta / curriculum / adaptive."""
        return parse_mask_ratio(label, stratified=self.stratified)

    def model_config(self, vocab_size: int) -> ModelConfig:
        return derive_config(ModelConfig, self, vocab_size=vocab_size, block_size=self.seq_len)

    def train_config(self, seed: int) -> TrainConfig:
        return derive_config(TrainConfig, self, seed=seed)


LM_PROFILES = {
    # seconds: a slice of the real files, a tiny model, every window (seed 0) and the references with seed 1;
    # BPE because notebook 04's smoke profile pretrains from it and counts its prompt/answer budgets in BPE tokens
    "smoke": LMConfig(vocab_size=384, position_encoding="rotary", seq_len=32, train_chars=200_000,
                      eval_chars=40_000, n_layer=1, n_head=2,
                      n_embd=32, batch_size=8, steps=4, warmup_steps=1, eval_every=2, valid_seqs=8, valid_draws=2,
                      test_seqs=16, test_draws=10, eval_batch_size=16, extra_seeds=(1,)),
    # 2 CPU cores: character-level WikiText-2 (126 commonest characters, 99.99% of the text), rotary
    # positions (learned absolute positions stall near the unigram entropy at this budget: see notebook 03),
    # a 0.35M-parameter model, 1,000 steps of 16 x 128 characters; every window with seeds 0 and 1 (paired)
    "quick": LMConfig(tokenizer="char", vocab_size=128, seq_len=128, n_layer=3, n_head=4, n_embd=96,
                      position_encoding="rotary", batch_size=16, steps=1000, lr=3e-3, warmup_steps=50,
                      eval_every=250, valid_seqs=64, valid_draws=2, test_seqs=256, test_draws=10, seeds=(0, 1)),
    # the paper's scale (~50M parameters) on one GPU; same code
    "paper": LMConfig(vocab_size=8192, position_encoding="rotary", seq_len=256, n_layer=8, n_head=10, n_embd=640, dropout=0.1,
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
    """WikiText-2 -> a tokenizer fit on the (sliced) train split (BPE: cached) -> packed rows."""
    corpus = load_wikitext2(data_dir, source=source)
    train_lines = take_lines(corpus.splits["train"], cfg.train_chars)
    if cfg.tokenizer == "char":
        tokenizer = CharTokenizer.fit(train_lines, cfg.vocab_size)
        key = "char-" + tokenizer.key
    else:
        tokenizer = load_or_train_tokenizer(train_lines, cfg.vocab_size)
        key = tokenizer_key(texts_digest(train_lines), cfg.vocab_size, 2)
    lines = {"train": train_lines, "valid": take_lines(corpus.splits["valid"], cfg.eval_chars),
             "test": take_lines(corpus.splits["test"], cfg.eval_chars)}
    packed = {split: pack_sequences(encode_stream(tokenizer, text), cfg.seq_len) for split, text in lines.items()}
    return LMData(packed["train"].full_rows, packed["valid"], packed["test"], tokenizer,
                  tokenizer.get_vocab_size(), dict(corpus.sha256), key, corpus.source)


# -- training -----------------------------------------------------------------------------------------
def make_lm_step(train_rows: torch.Tensor, batch_size: int, mask_ratio, device: torch.device):
    """step_fn for ``train``: a random batch of packed rows, one MD-loss draw (bf16 autocast on GPU only).

    ``mask_ratio`` is any distribution of ``mask_ratio.py``; t is drawn with the step number (a curriculum moves)
    in the same generator order md_loss uses (rows, t, mask). An adaptive one gets a sampler, fed each
    sequence's loss after the step and exposed as ``step.state`` for ``train(..., state=)``."""
    use_amp = device.type == "cuda"  # on CPU fp32 is faster (see the CPU calibration notes)
    sampler = mask_ratio.new_sampler() if isinstance(mask_ratio, AdaptiveBins) else mask_ratio

    def step(model: DiffusionTransformer, step: int, generator: torch.Generator):
        idx = torch.randint(0, train_rows.shape[0], (batch_size,), generator=generator)
        t = sampler.sample(batch_size, generator=generator, device=generator.device, step=step).to(device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            out = md_loss(model, train_rows[idx].to(device), mask_ratio, model.mask_id, generator, t=t)
        if sampler is not mask_ratio:
            sampler.update(out.t, out.terms.detach().sum(1) / out.terms.shape[1], step)
        return out.loss, {"mask_frac": out.mask.float().mean().item()}

    step.state = sampler if sampler is not mask_ratio else None
    return step


def build_lm_model(cfg: LMConfig, vocab_size: int, seed: int, device: torch.device | None = None) -> DiffusionTransformer:
    torch.manual_seed(seed)
    return DiffusionTransformer(cfg.model_config(vocab_size)).to(device or resolve_device(cfg.device))


def run_config(cfg: LMConfig, data: LMData, label: str, seed: int) -> dict:
    """Everything a training run's result depends on (the run cache key)."""
    return {"model": cfg.model_config(data.vocab_size), "train": cfg.train_config(seed),
            "mask_ratio": cfg.mask_ratio(label), "batch_size": cfg.batch_size, "train_chars": cfg.train_chars,
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
    seconds: float                # wall time of the training session that finished it (a resumed run: its last part)
    model: DiffusionTransformer = field(repr=False)
    train_state: dict | None = field(default=None, repr=False)   # an adaptive sampler's final state


def train_lm_model(cfg: LMConfig, data: LMData, label: str, seed: int, root: str | Path | None = None,
                   progress: bool = True) -> tuple[DiffusionTransformer, TrainResult]:
    """Train (or load from the run cache) one model on ``label``'s mask-ratio window.

    Also the way other experiments get a pretrained model (notebook 04 fine-tunes notebook 03's uniform run).
    """
    device = resolve_device(cfg.device)
    model = build_lm_model(cfg, data.vocab_size, seed, device)
    valid = PackedSequences(data.valid.tokens[:cfg.valid_seqs], data.valid.valid[:cfg.valid_seqs])

    def eval_fn(m: DiffusionTransformer, step: int) -> dict:
        return {"valid_loss": elbo_eval(m, valid, cfg.valid_draws, cfg.eval_seed, t_bins=1,
                                        batch_size=cfg.eval_batch_size).loss}

    step_fn = make_lm_step(data.train, cfg.batch_size, cfg.mask_ratio(label), device)
    result = train_cached(model, step_fn, cfg.train_config(seed), name=f"lm-{label}-s{seed}",
                          key=run_config(cfg, data, label, seed), eval_fn=eval_fn, root=root, progress=progress,
                          state=getattr(step_fn, "state", None))
    return model, result


def train_lm_run(cfg: LMConfig, data: LMData, label: str, seed: int, root: str | Path | None = None,
                 progress: bool = True) -> LMRun:
    """Train (or load from the run cache) one model on ``label``'s mask-ratio window, then score it on test."""
    model, result = train_lm_model(cfg, data, label, seed, root=root, progress=progress)
    test = ELBOResult.from_json(cached_evaluation(
        result.run_dir, "test", eval_config(cfg),
        lambda: elbo_eval(model, scored_test_rows(cfg, data), cfg.test_draws, cfg.eval_seed, cfg.t_bins,
                          cfg.eval_batch_size).to_json()))
    return LMRun(label, seed, result.metrics, test, result.run_dir, result.seconds, model, result.state)


def _train_lm_job(cfg: LMConfig, data: LMData, root: str | Path | None, progress: bool, job: tuple[str, int]) -> LMRun:
    return train_lm_run(cfg, data, *job, root=root, progress=progress)  # a picklable run_one for worker processes


@dataclass
class UCurveResults:
    runs: pd.DataFrame       # one row per (window, seed): test loss, stderr, perplexity
    loss_vs_t: pd.DataFrame  # window, seed, t_mid, loss
    metrics: pd.DataFrame    # training curves: window, seed, step, train_loss, valid_loss, ...
    per_sequence: dict       # (window, seed) -> per-sequence test ELBO (same masks for every model)
    timing: pd.DataFrame     # window, seed, train_seconds (wall clock: kept out of the result tables)


def run_u_curve(cfg: LMConfig, data: LMData, root: str | Path | None = None, progress: bool = True) -> UCurveResults:
    """Every (window, seed) run of the config; seeds are the outer loop so early results cover all windows."""
    workers = grid_workers(cfg.workers, len(cfg.jobs), resolve_device(cfg.device))
    runs = run_grid(cfg.jobs, partial(_train_lm_job, cfg, data, root, progress), desc="runs", progress=progress,
                    workers=workers)
    rows = []
    for run in runs:
        ratio = MaskRatio.parse(run.label)
        rows.append({"window": run.label, "low": ratio.low, "high": ratio.high, "seed": run.seed,
                     "test_loss": run.test.loss, "test_stderr": run.test.stderr, "perplexity": run.test.perplexity,
                     "run_dir": str(run.run_dir)})
    return UCurveResults(pd.DataFrame(rows),
                         pd.concat([r.test.per_bin.assign(window=r.label, seed=r.seed) for r in runs], ignore_index=True),
                         pd.concat([r.metrics.assign(window=r.label, seed=r.seed) for r in runs], ignore_index=True),
                         {(r.label, r.seed): r.test.per_sequence for r in runs},
                         pd.DataFrame([{"window": r.label, "seed": r.seed, "train_seconds": r.seconds} for r in runs]))


def masked_tokens_per_step(cfg: LMConfig, label: str) -> float:
    """Expected masked (supervised) tokens per optimiser step: E[t] over the window x batch x sequence length."""
    return cfg.mask_ratio(label).expectation(lambda t: t) * cfg.batch_size * cfg.seq_len


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


def seed_differences(runs: pd.DataFrame, a: str, b: str) -> pd.Series:
    """Test loss of window a minus window b, per seed that both were trained with (paired: same data order)."""
    table = runs.pivot_table(index="seed", columns="window", values="test_loss")
    return (table[a] - table[b]).dropna() if {a, b} <= set(table.columns) else pd.Series(dtype=float)


def evaluation_se(per_sequence: dict | None, a: str, b: str, seeds, runs: pd.DataFrame | None = None) -> float:
    """s.e. of the seed-mean difference a - b that comes from the finite test set: the per-sequence differences
    (common evaluation masks) averaged over seeds, then their s.e. over sequences. Without per-sequence results
    it is the unpaired sqrt(s.e._a^2 + s.e._b^2) of the two models' own test s.e. in ``runs`` (conservative:
    common masks make the paired s.e. smaller)."""
    seeds = list(seeds)
    if not seeds:
        return 0.0
    if per_sequence is None:
        se = runs.groupby("window").test_stderr.mean()
        return float(math.sqrt(se[a] ** 2 + se[b] ** 2))
    diff = np.mean([np.asarray(per_sequence[(a, s)]) - np.asarray(per_sequence[(b, s)]) for s in seeds], axis=0)
    return float(diff.std(ddof=1) / math.sqrt(len(diff)))


def u_curve_claims(results: UCurveResults, n_params: int, vocab_size: int) -> list[Claim]:
    """Notebook 03's claims table, by the pre-declared rules of ``companion.verdicts``."""
    runs, claims = results.runs, []
    setting = f"{n_params / 1e6:.2f}M parameters, {vocab_size}-token vocabulary: compare the relative effect"
    seeds_all = [s for s, g in runs.groupby("seed") if set(BINS) <= set(g.window)]
    if len(seeds_all) >= 1 and set(BINS) <= set(runs.window):
        table = runs[runs.seed.isin(seeds_all)].pivot_table(index="window", columns="seed", values="test_loss")
        centres = [MaskRatio.parse(b).expectation(lambda t: t) for b in BINS]
        result = u_shape_test(centres, table.loc[list(BINS)].to_numpy())
        claims.append(Claim.experiment(
            "Test loss is U-shaped in the training mask-ratio bin", "U-shape, minimum at [0.4,0.5] and [0.5,0.6]",
            result, figure_names.U_CURVE, setting))
    means = runs.groupby("window").test_loss.mean()
    interior = [b for b in BINS[1:-1] if b in means.index]
    # seeds are blocks (each trains every window on the same data order): pool the seed noise over all windows
    complete = runs.pivot_table(index="window", columns="seed", values="test_loss").dropna(axis=1)
    resid_sd, resid_dof = two_way_residual_sd(complete.to_numpy()) if complete.shape[1] >= 2 else (math.nan, 0)
    for a, b, claim, paper in [
            (min(interior, key=means.get) if interior else None, UNIFORM, "The best bin beats uniform t ~ U[0,1]",
             "3.62 vs 3.88 (-0.26 nats, -6.7%)"),
            (CENTER, UNIFORM, "The window [0.45,0.55] beats uniform", "better than U[0,1]")]:
        if a is None or not {a, b} <= set(runs.window):
            continue
        diff = seed_differences(runs, b, a)     # > 0: window a has the lower loss, the paper's direction
        ese = evaluation_se(results.per_sequence, b, a, diff.index, runs)
        result = paired_difference_test(diff.to_numpy(), eval_se=ese, unit=" nats",
                                        seed_sd=math.sqrt(2) * resid_sd if resid_dof else None, seed_dof=resid_dof)
        ours = (f"{a} {means[a]:.3f} vs {b} {means[b]:.3f} ({-diff.mean():+.3f} nats, "
                f"{-100 * diff.mean() / means[b]:+.1f}%); uniform minus window: {result.summary}")
        notes = setting + ("; the best bin is chosen from the same runs, which biases this test towards it"
                           if a != CENTER else "")
        claims.append(Claim.experiment(claim, paper, result, figure_names.U_CURVE, notes, ours=ours))
    return claims


# -- the gate: did the models learn? ----------------------------------------------------------------------
GATE_RATIO = 0.8   # the uniform model's test ELBO must be <= 0.8 x the test set's unigram entropy


@dataclass(frozen=True)
class LearningGate:
    """Did the uniform-trained model learn? Two pre-declared conditions, both needed before any verdict:
    its test ELBO <= GATE_RATIO x the unigram entropy, and it uses context: its loss in the t-bin nearest
    0.1 (most context visible) <= GATE_RATIO x its loss in the bin nearest 0.9."""

    unigram_entropy: float      # nats per token, the scored test tokens' own unigram distribution
    uniform_test_loss: float    # mean over seeds of the U[0,1] model's test ELBO
    loss_low_t: float           # U[0,1] model's loss in the t-bin nearest 0.1 (mean over seeds)
    loss_high_t: float          # ... and nearest 0.9

    @property
    def ratio(self) -> float:
        return self.uniform_test_loss / self.unigram_entropy

    @property
    def uses_context(self) -> bool:
        return self.loss_low_t <= GATE_RATIO * self.loss_high_t

    @property
    def passed(self) -> bool:
        return self.ratio <= GATE_RATIO and self.uses_context

    def describe(self) -> str:
        return (f"uniform test ELBO {self.uniform_test_loss:.3f} = {self.ratio:.3f} x unigram entropy "
                f"{self.unigram_entropy:.3f} (needs <= {GATE_RATIO}); loss at t~0.1 {self.loss_low_t:.3f} vs t~0.9 "
                f"{self.loss_high_t:.3f} (needs ratio <= {GATE_RATIO}): {'PASS' if self.passed else 'FAIL'}")

    def enforce(self) -> None:
        if not self.passed:
            raise RuntimeError("the models did not learn enough to read the U-curve: " + self.describe()
                               + ". Train longer (steps), tune lr, or resize the model before reading any verdict.")


def learning_gate(results: "UCurveResults", data: LMData, cfg: LMConfig) -> LearningGate:
    """The gate's numbers from the runs: unigram entropy of the scored test tokens, the uniform model's losses."""
    test = scored_test_rows(cfg, data)
    entropy = unigram_entropy(test.tokens[test.valid].numpy())
    uniform = results.runs[results.runs.window == UNIFORM]
    if uniform.empty:
        raise ValueError(f"the gate needs the {UNIFORM} window among cfg.windows")
    curve = results.loss_vs_t[results.loss_vs_t.window == UNIFORM].groupby("t_mid").loss.mean()
    at = lambda t: float(curve.iloc[int(np.abs(curve.index.to_numpy() - t).argmin())])
    return LearningGate(entropy, float(uniform.test_loss.mean()), at(0.1), at(0.9))


def lm_flops_per_token(cfg: ModelConfig, mask_frac: float = 0.5) -> float:
    """Training FLOPs per token (forward + backward = 3x forward), counting matmuls only.

    Multiply-adds per token and layer: attention projections 4 d^2, MLP 2 * mlp_ratio * d^2, attention
    scores and weighted values 2 L d; the head (V d) runs only on masked tokens, a fraction ``mask_frac``
    of them (E[t] = 1/2 under U[0, 1]). One multiply-add = 2 FLOPs, backward = 2x forward: 6x in all.
    """
    d, L = cfg.n_embd, cfg.block_size
    per_layer = (4 + 2 * cfg.mlp_ratio) * d * d + 2 * L * d
    return 6.0 * (cfg.n_layer * per_layer + mask_frac * cfg.vocab_size * d)


# -- the explorer over saved runs (notebook 03) -----------------------------------------------------------
def draw_runs(loss_vs_t: pd.DataFrame, runs: pd.DataFrame, windows=(UNIFORM, CENTER, "[0,0.1]", "[0.9,1]")):
    """Left: test loss per t-bin of the chosen windows (mean over seeds); right: the U-curve with them marked."""
    import matplotlib.pyplot as plt

    windows = [w for w in windows if w in set(runs.window)]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    curves = loss_vs_t.groupby(["window", "t_mid"], as_index=False)["loss"].mean()
    means = runs.groupby("window").test_loss.mean()
    for i, window in enumerate(windows):
        sub = curves[curves.window == window]
        ax.plot(sub.t_mid, sub.loss, marker="o", ms=3, color=f"C{i}", label=f"{window}: {means[window]:.3f}")
    ax.set(xlabel="mask ratio t at test time", ylabel="loss at t (nats per masked token)", title="Loss vs t")
    ax.legend(title="trained on: test ELBO", fontsize=8)
    bins = [b for b in BINS if b in means.index]
    centres = [MaskRatio.parse(b).expectation(lambda t: t) for b in bins]
    ax2.plot(centres, [means[b] for b in bins], "o-", color="0.5", label="bins (mean over seeds)")
    for i, window in enumerate(windows):
        if window in bins:
            ax2.plot(centres[bins.index(window)], means[window], "o", ms=10, color=f"C{i}")
        else:
            ax2.axhline(means[window], ls="--", color=f"C{i}", label=window)
    ax2.set(xlabel="training bin (centre)", ylabel="test ELBO (nats/token)", title="U-curve")
    ax2.legend(fontsize=8)
    return fig


def runs_explorer(loss_vs_t: pd.DataFrame, runs: pd.DataFrame, windows=(UNIFORM, CENTER, "[0,0.1]", "[0.9,1]")):
    """Pick training windows and slide along the ten bins to add one more: see their loss-vs-t curves and where they
    sit on the U-curve (static when headless, with the best bin as the slider's first position)."""
    from ..companion.interactive import explore, is_headless

    present = [w for w in WINDOWS if w in set(runs.window)]
    bins = [b for b in BINS if b in present]
    if not bins:
        raise ValueError("runs_explorer needs notebook 03's runs with at least one 0.1-wide training bin")
    means = runs.groupby("window").test_loss.mean()
    best = min(bins, key=means.get)
    controls = {}
    if not is_headless():
        import ipywidgets as widgets
        style = {"description_width": "6em"}
        controls = {"windows": widgets.SelectMultiple(options=present, description="windows", rows=12, style=style),
                    "bin": widgets.SelectionSlider(options=bins, value=best, description="and bin", style=style,
                                                   continuous_update=False, layout=widgets.Layout(width="34em"))}
    draw = lambda windows, bin: draw_runs(loss_vs_t, runs, tuple(dict.fromkeys((*windows, bin))))  # noqa: E731
    return explore(draw, controls, {"windows": tuple(w for w in windows if w in present), "bin": best})