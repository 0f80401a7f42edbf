"""Masked-diffusion language modelling on WikiText-2: what the LM experiments (notebooks 03, 04, 06) share.

* ``LMSpec``: one LM training run's settings, in four parts, each owning its defaults: ``data`` (the slice of
  WikiText-2 and the tokenizer), ``model`` (the transformer), ``train`` (optimiser, batches, the validation
  curve) and ``eval`` (the test ELBO). ``LM_SMOKE`` / ``LM_QUICK`` / ``LM_PAPER`` are the named specs of the
  three profiles (``LM_SPECS``): notebook 03 trains them, notebook 04 fine-tunes one of their runs, notebook 06
  trains more distributions of t on them, so each is written down once, here;
* ``prepare_lm_data``: WikiText-2 -> tokenizer fit on the (sliced) train split (BPE: cached) -> packed rows;
* ``make_lm_step`` / ``build_lm_model`` / ``train_lm_model``: one cached, resumable run on a mask-ratio
  distribution through the shared loop in ``training.py``, keyed by ``run_config``;
* ``train_lm_run``: that run plus its test evaluation (``elbo_eval``, cached beside the run under
  ``eval_config``): a fixed-seed stratified Monte Carlo over t whose masks never depend on the model, so every
  model is scored on the same masks (common random numbers);
* statistics over a table of runs (window, seed, test_loss): ``pooled_seed_sd``, ``seed_differences``,
  ``evaluation_se``; and ``lm_flops_per_token`` for the benches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .data.text import (CharTokenizer, PackedSequences, encode_stream, load_or_train_tokenizer, load_wikitext2,
                        pack_sequences, take_lines, texts_digest, tokenizer_key)
from .evaluation import ELBOResult, elbo_eval
from .loss import md_loss
from .mask_ratio import AdaptiveBins, MaskRatio, parse_mask_ratio
from .model import DiffusionTransformer, ModelConfig, bf16_autocast
from .training import TrainConfig, TrainResult, cached_evaluation, derive_config, resolve_device, train_cached

# the mask-ratio windows the LM experiments name: the standard U[0, 1], the paper's mid window, its ten bins
UNIFORM = MaskRatio.uniform().label          # "[0,1]"
CENTER = MaskRatio.window(0.45, 0.55).label  # "[0.45,0.55]"
BINS = tuple(MaskRatio.window(round(i / 10, 1), round((i + 1) / 10, 1)).label for i in range(10))


# -- the spec -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LMDataSpec:
    tokenizer: str = "bpe"             # "bpe" (byte-level BPE of vocab_size) or "char" (the vocab_size - 2 commonest characters)
    vocab_size: int = 4096
    seq_len: int = 128
    train_chars: int | None = None     # leading characters of the train split used (None: all)
    eval_chars: int | None = None      # leading characters of valid / test used (None: all)
    # the data-limited regime: train on the leading train_rows packed rows only (None: all). The tokenizer is still
    # fit on the train_chars slice, so a limited run shares its vocabulary with the full ones
    train_rows: int | None = None

    def __post_init__(self) -> None:
        if self.tokenizer not in ("bpe", "char"):
            raise ValueError(f"tokenizer={self.tokenizer!r}: use 'bpe' or 'char'")
        if self.train_rows is not None and self.train_rows < 1:
            raise ValueError(f"train_rows={self.train_rows}: use None (every packed row) or >= 1 rows")


@dataclass(frozen=True)
class LMModelSpec:
    """The transformer; ``ModelConfig``'s other fields keep their defaults, vocab and block size come from the data."""
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    position_encoding: str = "learned"  # "learned", "rotary" or "both" (see model.py)


@dataclass(frozen=True)
class LMTrainSpec:
    """Optimisation (the ``TrainConfig`` fields of the same names), batches, and the validation curve."""
    batch_size: int = 32
    steps: int = 500
    lr: float = 2e-3
    warmup_steps: int = 50
    weight_decay: float = 0.1
    eval_every: int = 100
    stratified: bool = True            # antithetic t draws across a batch, as MDLM trains
    valid_seqs: int = 64               # fixed validation subset scored during training (training curves)
    valid_draws: int = 4
    # also score valid_seqs leading training rows and test rows during training, with the same estimator and the same
    # masks as the validation curve (metrics train_elbo, test_elbo): the train-vs-test gap of a data-limited run
    train_test_curve: bool = False


@dataclass(frozen=True)
class LMEvalSpec:
    """The test ELBO (and the seed of every evaluation's masks, the validation curve's included)."""
    test_seqs: int | None = None       # leading test rows scored (None: all, the padded tail row included)
    test_draws: int = 20               # t-strata per sequence; a multiple of t_bins
    t_bins: int = 10
    eval_seed: int = 1234
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        if self.test_draws % self.t_bins:
            raise ValueError(f"test_draws={self.test_draws} must be a multiple of t_bins={self.t_bins} "
                             "(each t-bin gets the same number of strata)")


@dataclass(frozen=True)
class LMSpec:
    data: LMDataSpec = LMDataSpec()
    model: LMModelSpec = LMModelSpec()
    train: LMTrainSpec = LMTrainSpec()
    eval: LMEvalSpec = LMEvalSpec()
    device: str = "auto"               # "auto": cuda when available, else cpu (not part of any cache key)

    def mask_ratio(self, label: str):
        """The training distribution of t for a label: a window, or notebook 06's beta / curriculum / adaptive."""
        return parse_mask_ratio(label, stratified=self.train.stratified)

    def model_config(self, vocab_size: int) -> ModelConfig:
        return derive_config(ModelConfig, self.model, vocab_size=vocab_size, block_size=self.data.seq_len)

    def train_config(self, seed: int) -> TrainConfig:
        return derive_config(TrainConfig, self.train, seed=seed)

    @property
    def tokens_per_run(self) -> int:
        return self.train.steps * self.train.batch_size * self.data.seq_len

    def epochs(self, n_train_rows: int) -> float:
        """Passes over ``n_train_rows`` training rows in one run (rows are drawn with replacement: the expected
        number of times each row is seen)."""
        return self.train.steps * self.train.batch_size / n_train_rows


# The three profiles' LMs. smoke: seconds, a slice of the real files and a tiny model; BPE because notebook 04's
# smoke profile fine-tunes it and counts its prompt / answer budgets in BPE tokens.
LM_SMOKE = LMSpec(LMDataSpec(vocab_size=384, seq_len=32, train_chars=200_000, eval_chars=40_000),
                  LMModelSpec(n_layer=1, n_head=2, n_embd=32, position_encoding="rotary"),
                  LMTrainSpec(batch_size=8, steps=4, warmup_steps=1, eval_every=2, valid_seqs=8, valid_draws=2),
                  LMEvalSpec(test_seqs=16, test_draws=10, eval_batch_size=16))
# quick, 2 CPU cores: character-level WikiText-2 (126 commonest characters, 99.99% of the text), rotary positions
# (learned absolute positions stall near the unigram entropy at this budget: see notebook 03), a 0.35M-parameter
# model, 1,000 steps of 16 x 128 characters
LM_QUICK = LMSpec(LMDataSpec(tokenizer="char", vocab_size=128, seq_len=128),
                  LMModelSpec(n_layer=3, n_head=4, n_embd=96, position_encoding="rotary"),
                  LMTrainSpec(batch_size=16, steps=1000, lr=3e-3, warmup_steps=50, eval_every=250, valid_seqs=64,
                              valid_draws=2),
                  LMEvalSpec(test_seqs=256, test_draws=10))
# paper: the paper's scale (~50M parameters) on one GPU; same code
LM_PAPER = LMSpec(LMDataSpec(vocab_size=8192, seq_len=256),
                  LMModelSpec(n_layer=8, n_head=10, n_embd=640, dropout=0.1, position_encoding="rotary"),
                  LMTrainSpec(batch_size=64, steps=10_000, lr=3e-4, warmup_steps=500, eval_every=500, valid_seqs=256,
                              valid_draws=10),
                  LMEvalSpec(test_seqs=None, test_draws=50, eval_batch_size=64))
LM_SPECS = {"smoke": LM_SMOKE, "quick": LM_QUICK, "paper": LM_PAPER}


def spec_name(spec: LMSpec) -> str:
    """The profile name of a named spec ("smoke", "quick", "paper"), else "custom" (an overridden spec)."""
    device_free = replace(spec, device="auto")
    return next((name for name, named in LM_SPECS.items() if named == device_free), "custom")


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


def prepare_lm_data(spec: LMSpec, data_dir: str | Path | None = None, source: str = "local") -> LMData:
    """WikiText-2 -> a tokenizer fit on the (sliced) train split (BPE: cached) -> packed rows."""
    cfg = spec.data
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
    train = packed["train"].full_rows
    if cfg.train_rows is not None:
        if cfg.train_rows > train.shape[0]:
            raise ValueError(f"train_rows={cfg.train_rows} but the train split packs into {train.shape[0]} full rows "
                             "of seq_len tokens: lower train_rows or raise train_chars")
        train = train[:cfg.train_rows]
    return LMData(train, packed["valid"], packed["test"], tokenizer,
                  tokenizer.get_vocab_size(), dict(corpus.sha256), key, corpus.source)


def leading_rows(rows: PackedSequences | torch.Tensor, n: int) -> PackedSequences:
    """The leading ``n`` rows of packed sequences (or of full training rows: every token valid)."""
    if isinstance(rows, torch.Tensor):
        return PackedSequences(rows[:n], torch.ones_like(rows[:n], dtype=torch.bool))
    return PackedSequences(rows.tokens[:n], rows.valid[:n])


def scored_test_rows(spec: LMSpec, data: LMData) -> PackedSequences:
    """The test rows the test ELBO scores (the leading ``eval.test_seqs``)."""
    n = data.test.tokens.shape[0] if spec.eval.test_seqs is None else min(spec.eval.test_seqs, data.test.tokens.shape[0])
    return PackedSequences(data.test.tokens[:n], data.test.valid[:n])


# -- training -----------------------------------------------------------------------------------------
def make_lm_step(train_rows: torch.Tensor, batch_size: int, mask_ratio, device: torch.device,
                 bf16: bool | None = None):
    """step_fn for ``train``: a random batch of packed rows, one MD-loss draw (bf16 autocast on GPU only, unless
    ``bf16`` says otherwise: the paper-profile test forces it on a CPU).

    ``mask_ratio`` is any distribution of ``mask_ratio.py``; t is drawn with the step number (a curriculum moves)
    in the same generator order md_loss uses (rows, t, mask). An adaptive one gets a sampler, fed each
    sequence's loss after the step and exposed as ``step.state`` for ``train(..., state=)``."""
    sampler = mask_ratio.new_sampler() if isinstance(mask_ratio, AdaptiveBins) else mask_ratio

    def step(model: DiffusionTransformer, step: int, generator: torch.Generator):
        idx = torch.randint(0, train_rows.shape[0], (batch_size,), generator=generator)
        t = sampler.sample(batch_size, generator=generator, device=generator.device, step=step).to(device)
        with bf16_autocast(device, bf16):
            out = md_loss(model, train_rows[idx].to(device), mask_ratio, model.mask_id, generator, t=t)
        if sampler is not mask_ratio:
            sampler.update(out.t, out.terms.detach().sum(1) / out.terms.shape[1], step)
        return out.loss, {"mask_frac": out.mask.float().mean().item()}

    step.state = sampler if sampler is not mask_ratio else None
    return step


def build_lm_model(spec: LMSpec, vocab_size: int, seed: int, device: torch.device | None = None) -> DiffusionTransformer:
    torch.manual_seed(seed)
    return DiffusionTransformer(spec.model_config(vocab_size)).to(device or resolve_device(spec.device))


def run_config(spec: LMSpec, data: LMData, label: str, seed: int) -> dict:
    """Everything a training run's result depends on (the run cache key)."""
    return {"model": spec.model_config(data.vocab_size), "train": spec.train_config(seed),
            "mask_ratio": spec.mask_ratio(label), "batch_size": spec.train.batch_size,
            "train_chars": spec.data.train_chars, "eval_chars": spec.data.eval_chars,
            "valid": [spec.train.valid_seqs, spec.train.valid_draws, spec.eval.eval_seed], "data": data.fingerprint,
            # keys added after the first cached runs: present only when set, so those runs keep their keys
            **({"train_rows": spec.data.train_rows} if spec.data.train_rows is not None else {}),
            **({"train_test_curve": True} if spec.train.train_test_curve else {})}


def eval_config(spec: LMSpec) -> dict:
    """What the test evaluation depends on besides the weights (its cache key beside the run)."""
    e = spec.eval
    return {"test_seqs": e.test_seqs, "test_draws": e.test_draws, "t_bins": e.t_bins, "eval_seed": e.eval_seed,
            "eval_batch_size": e.eval_batch_size}


def train_lm_model(spec: LMSpec, data: LMData, label: str, seed: int, root: str | Path | None = None,
                   progress: bool = True) -> tuple[DiffusionTransformer, TrainResult]:
    """Train (or load from the run cache) one model on ``label``'s mask-ratio distribution, as
    ``lm-<label>-s<seed>-<hash of run_config>``. Also how notebook 04 gets its pretrained base model: the same
    spec, window and seed give the same run as notebook 03's."""
    device = resolve_device(spec.device)
    model = build_lm_model(spec, data.vocab_size, seed, device)
    curves = {"valid_loss": leading_rows(data.valid, spec.train.valid_seqs)}
    if spec.train.train_test_curve:
        curves |= {"train_elbo": leading_rows(data.train, spec.train.valid_seqs),
                   "test_elbo": leading_rows(data.test, spec.train.valid_seqs)}

    def eval_fn(m: DiffusionTransformer, step: int) -> dict:
        # one eval seed for every curve: the same t's and masks on each set of rows (common random numbers)
        return {name: elbo_eval(m, rows, spec.train.valid_draws, spec.eval.eval_seed, t_bins=1,
                                batch_size=spec.eval.eval_batch_size).loss for name, rows in curves.items()}

    step_fn = make_lm_step(data.train, spec.train.batch_size, spec.mask_ratio(label), device)
    result = train_cached(model, step_fn, spec.train_config(seed), name=f"lm-{label}-s{seed}",
                          key=run_config(spec, data, label, seed), eval_fn=eval_fn, root=root, progress=progress,
                          state=getattr(step_fn, "state", None))
    return model, result


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


def train_lm_run(spec: LMSpec, data: LMData, label: str, seed: int, root: str | Path | None = None,
                 progress: bool = True) -> LMRun:
    """Train (or load from the run cache) one model on ``label``'s distribution of t, then score it on test."""
    model, result = train_lm_model(spec, data, label, seed, root=root, progress=progress)
    e = spec.eval
    test = ELBOResult.from_json(cached_evaluation(
        result.run_dir, "test", eval_config(spec),
        lambda: elbo_eval(model, scored_test_rows(spec, data), e.test_draws, e.eval_seed, e.t_bins,
                          e.eval_batch_size).to_json()))
    return LMRun(label, seed, result.metrics, test, result.run_dir, result.seconds, model, result.state)


def train_lm_job(spec: LMSpec, data: LMData, root: str | Path | None, progress: bool, job: tuple[str, int]) -> LMRun:
    """``train_lm_run`` of one (label, seed) job: a picklable ``run_one`` for ``run_grid``'s worker processes."""
    return train_lm_run(spec, data, *job, root=root, progress=progress)


def lm_flops_per_token(cfg: ModelConfig, mask_frac: float = 0.5) -> float:
    """Training FLOPs per token (forward + backward = 3x forward), counting matmuls only.

    Multiply-adds per token and layer: attention projections 4 d^2, MLP 2 * mlp_ratio * d^2, attention
    scores and weighted values 2 L d; the head (V d) runs only on masked tokens, a fraction ``mask_frac``
    of them (E[t] = 1/2 under U[0, 1]). One multiply-add = 2 FLOPs, backward = 2x forward: 6x in all.
    """
    d, L = cfg.n_embd, cfg.block_size
    per_layer = (4 + 2 * cfg.mlp_ratio) * d * d + 2 * L * d
    return 6.0 * (cfg.n_layer * per_layer + mask_frac * cfg.vocab_size * d)


# -- statistics over a table of runs (columns window, seed, test_loss, test_stderr) ---------------------
def pooled_seed_sd(runs: pd.DataFrame) -> float:
    """Seed-to-seed s.d. of the test loss, pooled over every window run with >= 2 seeds (NaN if none)."""
    groups = [g["test_loss"].to_numpy() for _, g in runs.groupby("window") if len(g) >= 2]
    dof = sum(len(g) - 1 for g in groups)
    return float(np.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / dof)) if dof else float("nan")


def seed_differences(runs: pd.DataFrame, a: str, b: str, value: str = "test_loss") -> pd.Series:
    """``value`` (the test loss) of window a minus window b, per seed that both were trained with (paired: same data
    order)."""
    table = runs.pivot_table(index="seed", columns="window", values=value)
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
