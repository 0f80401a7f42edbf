r"""Supervised vs masked-diffusion (MD) training on k-sparse parity, many runs trained as one ensemble.

A *member* is one training run: an objective, a seed (which fixes the secret set S, the finite train
set, the test set, the initialisation and the batch order) and, for MD, a mask-ratio distribution.

* **Supervised baseline**: the input is [x_1 .. x_n, MASK]; cross-entropy on y only.
* **MD**: the clean sequence [x_1 .. x_n, y]; every token, label included, is masked with probability
  t ~ ``MaskRatio``; the loss is ``md_loss_terms`` (1/t-weighted CE on masked tokens) averaged over
  the B (n+1) tokens, exactly ``md_loss``. The supervised loss is the same computation with the mask
  fixed to the label, t := 1 and the mean over sequences instead of tokens.
* **Accuracy** (train and test alike): mask only y and take the argmax over {0, 1}.

While MD trains, the same batches give the paper's loss decomposition (theory/signal.py): a mask is in the
**Signal regime** when exactly one of the k + 1 relevant tokens S ∪ {y} is masked. We log the CE on that
one masked relevant token (how well the parity feature is computed), the mean squared logit margin
(logit_1 - logit_0)^2 over the masked tokens of **Noise-regime** masks (the output magnitude that the
implicit L2 term pulls to zero: its Bayes-optimal value is 0), and the fraction of Signal masks, to
compare with P_S = E_t[(k+1) t (1-t)^k] of the mask-ratio distribution.

All members of one call share the training loop of ``training.py`` (lr, schedule, weight decay, steps) and
run as one ``Ensemble``; each member's randomness is a pure function of (seed, step), so a member draws
exactly what a solo run of the same seed draws.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..ensemble import Ensemble
from ..mlp import MLPEnsemble
from ..mask_ratio import MaskRatio
from ..loss import mask_tokens, md_loss_terms, sample_mask, subs_log_probs
from ..model import DiffusionTransformer, ModelConfig
from ..companion import figure_names
from ..companion.verdicts import Claim, gehan_test, share_test
from ..data.parity import PARITY_MASK_ID, PARITY_VOCAB, ParityData, make_parity_data
from ..theory.signal import count_masked_relevant, optimal_mask_ratio, optimal_window_upper, signal_probability
from ..training import TrainConfig, derive_config, resolve_device, train, train_cached

SUPERVISED = "supervised"
MD = "md"
MLP, TRANSFORMER = "mlp", "transformer"
MEMORISED_ACC = 0.98        # "memorised": train accuracy >= 0.98 (not 1.0: one noisy example must not censor a run)


@dataclass(frozen=True)
class ParityMember:
    objective: str                       # "supervised" or "md"
    seed: int
    mask_ratio: MaskRatio | None = None  # MD only
    weighted: bool = True                # MD only: the ELBO's 1/t weight (False: the ablation, weight 1)

    def __post_init__(self) -> None:
        if self.objective not in (SUPERVISED, MD):
            raise ValueError(f"objective={self.objective!r}: use 'supervised' or 'md'")
        if (self.objective == MD) != (self.mask_ratio is not None):
            raise ValueError("an MD member needs a mask_ratio (e.g. MaskRatio.fixed(0.2)); a supervised one takes none")
        if self.objective == SUPERVISED and not self.weighted:
            raise ValueError("weighted=False is the MD 1/t-weight ablation; a supervised member has no 1/t weight")

    @property
    def window(self) -> str:
        """The mask-ratio window label ("-" for supervised), with " unweighted" for the 1/t ablation."""
        if self.objective == SUPERVISED:
            return "-"
        return self.mask_ratio.label + ("" if self.weighted else " unweighted")

    @property
    def label(self) -> str:
        return SUPERVISED if self.objective == SUPERVISED else f"MD {self.window}"


@dataclass(frozen=True)
class ParityConfig:
    """Everything notebook 02 varies; each profile in PARITY_PROFILES is one of these."""

    family: str = TRANSFORMER            # "transformer" (nanoGPT-style) or "mlp" (the theory's model, mlp.py)
    n: int = 20
    k: int = 4
    n_train: int = 500
    n_test: int = 512
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    mlp_width: int = 256                 # MLP family: hidden width
    init_scale: float = 1.0              # MLP family: multiplies the init std (Omnigrok lever)
    output_scale: float = 1.0            # MLP family: alpha in logits = alpha f(x) (lazy -> rich lever)
    float64_loss: bool = True            # log-softmax in float64 (against softmax collapse), both objectives
    log_train_regimes: bool = True       # per-step Signal/Noise bookkeeping of the training batches
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.3
    warmup_steps: int = 100
    grad_clip: float = 1.0
    steps: int = 10_000                  # (a) supervised vs MD, and the window sweep
    eval_every: int = 100
    seeds: tuple[int, ...] = (0, 1, 2)
    md_mask_ratio: object = None         # MD in (a): None means t* = 1/(k+1); else a MaskRatio.parse spec
    window_uppers: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.6, 1.0)   # U[0, b]
    window_delta: float | None = 0.05    # [t* - delta, t* + delta]; None leaves the band out of the sweep
    target_acc: float = 0.95
    sweep_seeds: int = 5                 # seeds per window of the sweep and the 1/t ablation (the first ones)
    ablation_uppers: tuple[float, ...] = ()   # U[0, b] also run without the 1/t weight (1.0 is always added)
    device: str = "auto"                 # "auto": cuda when available, else cpu

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"k={self.k} must satisfy 1 <= k <= n={self.n}")
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        if self.family not in (MLP, TRANSFORMER):
            raise ValueError(f"family={self.family!r}: use 'mlp' or 'transformer'")
        if self.window_delta is not None and not 0 < self.window_delta < optimal_mask_ratio(self.k):
            raise ValueError(f"window_delta={self.window_delta} must lie in (0, t*={optimal_mask_ratio(self.k):.3f})")

    def model_config(self) -> ModelConfig:
        return derive_config(ModelConfig, self, vocab_size=PARITY_VOCAB, block_size=self.n + 1)

    def train_config(self, steps: int | None = None) -> TrainConfig:
        return derive_config(TrainConfig, self, steps=steps or self.steps, schedule="constant")

    def md_ratio(self) -> MaskRatio:
        return MaskRatio.fixed(optimal_mask_ratio(self.k)) if self.md_mask_ratio is None \
            else MaskRatio.parse(self.md_mask_ratio, stratified=False)

    def sweep_windows(self) -> list[MaskRatio]:
        """U[0, b] for every b, then fixed t* and (unless window_delta is None) U[t* - delta, t* + delta]."""
        t_star = optimal_mask_ratio(self.k)
        band = [] if self.window_delta is None else [MaskRatio.window(t_star - self.window_delta, t_star + self.window_delta)]
        return [MaskRatio.window(0.0, b) for b in self.window_uppers] + [MaskRatio.fixed(t_star)] + band


    def members(self, sweep: bool = True) -> list[ParityMember]:
        """Supervised and MD at ``md_ratio`` on every seed; with ``sweep``, every ``sweep_windows`` window and the
        unweighted ablation (the U[0, b] nearest t1 plus U[0, 1], and ``ablation_uppers``) on the first
        ``sweep_seeds`` seeds. One list, so one ensemble and one cache entry."""
        main = self.md_ratio()
        out = [ParityMember(SUPERVISED, s) for s in self.seeds] + [ParityMember(MD, s, main) for s in self.seeds]
        if not sweep:
            return out
        sweep_seeds = self.seeds[:self.sweep_seeds]
        windows = [w for w in self.sweep_windows() if w != main]
        t1 = optimal_window_upper(self.k)
        near_t1 = min(self.window_uppers, key=lambda b: abs(b - t1))
        ablated = [MaskRatio.window(0.0, b) for b in dict.fromkeys((near_t1, 1.0, *self.ablation_uppers))]
        out += [ParityMember(MD, s, w) for w in windows for s in sweep_seeds]
        out += [ParityMember(MD, s, w, weighted=False) for w in ablated for s in sweep_seeds]
        return out


PARITY_PROFILES = {
    "smoke": ParityConfig(n=8, k=2, n_train=128, n_test=128, n_layer=1, n_embd=32, batch_size=32, steps=60,
                          eval_every=20, warmup_steps=10, seeds=(0, 1, 2), window_uppers=(0.3, 1.0)),
    # quick (the transformer family, beside the MLP in notebook 02): the regime where the earlier CPU calibration saw
    # supervised grokking:
    # k = 4, 500 examples, batch 32 (12 ms per member-step against 33 at batch 128), 10k steps, 4 seeds.
    "quick": ParityConfig(n=20, k=4, n_train=500, n_test=512, batch_size=32, lr=1e-3, weight_decay=0.3,
                          warmup_steps=100, steps=10_000, eval_every=100, seeds=(0, 1, 2, 3),
                          window_uppers=(0.34, 1.0), window_delta=None),
    # the paper's (n, k) = (20, 6) with weight decay 0.1 and a nanoGPT-sized model, for a GPU
    "paper": ParityConfig(n=20, k=6, n_train=2000, n_test=2000, n_layer=6, n_head=6, n_embd=384,
                          weight_decay=0.1, steps=50_000, eval_every=250, seeds=(0, 1, 2, 3, 4),
                          window_uppers=(0.1, 0.15, 0.2, 0.246, 0.3, 0.4, 0.6, 1.0), window_delta=0.05),
}


# The theory's MLP (mlp.py): cheap enough for >= 10 seeds per objective and a real window sweep.
MLP_PROFILES = {
    "smoke": ParityConfig(family=MLP, n=8, k=2, n_train=64, n_test=128, mlp_width=32, batch_size=32, lr=1e-3,
                          weight_decay=1.0, warmup_steps=0, steps=60, eval_every=20, seeds=(0, 1, 2), sweep_seeds=2,
                          window_uppers=(0.3, 1.0), window_delta=None, log_train_regimes=True),
    # quick: n = 20, k = 3, 300 examples, width 128, batch 64, AdamW lr 3e-3, wd 1.0, 4000 steps. Probes (4 seeds,
    # 3000 steps): lr 3e-3 makes supervised memorise by step 300 and reach 95% test at 600-2900 (a plateau);
    # MD at t* is at test 0.65-0.80 and memorises on no seed by 3000; lr 1e-3 leaves MD at chance.
    "quick": ParityConfig(family=MLP, n=20, k=3, n_train=300, n_test=512, mlp_width=128, batch_size=64, lr=3e-3,
                          weight_decay=1.0, warmup_steps=0, steps=4000, eval_every=100, seeds=tuple(range(10)),
                          sweep_seeds=5, window_uppers=(0.1, 0.2, 0.3, 0.42, 0.6, 0.8, 1.0), window_delta=None,
                          log_train_regimes=False),   # per-step bookkeeping costs more than the MLP step itself
    "paper": ParityConfig(family=MLP, n=20, k=6, n_train=2000, n_test=2000, mlp_width=1024, batch_size=256,
                          lr=1e-3, weight_decay=0.1, warmup_steps=0, steps=50_000, eval_every=250,
                          seeds=tuple(range(16)), sweep_seeds=8,
                          window_uppers=(0.05, 0.1, 0.15, 0.2, 0.246, 0.3, 0.4, 0.6, 1.0), window_delta=0.05),
}


# -- randomness and forward ----------------------------------------------------------------------

def member_generator(seed: int, step: int) -> torch.Generator:
    """A member's randomness at one step, a pure function of (seed, step): ensemble members and solo runs
    of the same seed draw identically, and a resumed run needs no extra RNG state."""
    return torch.Generator().manual_seed((int(seed) << 32) + int(step))


def stacked_forward(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Logits [E, B, L, V] for tokens [E, B, L], from an ensemble (a model with ``leading_member_dims``:
    ``Ensemble``, ``TransformerEnsemble``, ``MLPEnsemble``) or a plain model (E = 1)."""
    if getattr(model, "leading_member_dims", 0):
        return model(tokens)
    if tokens.shape[0] != 1:
        raise ValueError(f"a plain model trains one member, got {tokens.shape[0]} member slices")
    return model(tokens[0]).unsqueeze(0)


def seeded_model(cfg: ModelConfig, seed: int) -> DiffusionTransformer:
    torch.manual_seed(seed)
    return DiffusionTransformer(cfg)


def build_model(cfg: ParityConfig, seeds: Sequence[int], ensemble: bool = True) -> torch.nn.Module:
    """The members' model for either family; member i is initialised from seeds[i] alone."""
    if cfg.family == MLP:
        return MLPEnsemble(seeds, cfg.n + 1, cfg.mlp_width, PARITY_VOCAB, init_scale=cfg.init_scale,
                           output_scale=cfg.output_scale)
    models = [seeded_model(cfg.model_config(), s) for s in seeds]
    if not ensemble and len(models) != 1:
        raise ValueError("a plain (non-ensemble) transformer holds one member")
    return Ensemble(models) if ensemble else models[0]


# -- the objective ---------------------------------------------------------------------------------

@dataclass
class ParityBatch:
    tokens: torch.Tensor   # long [E, B, L] clean sequences [x, y]
    mask: torch.Tensor     # bool [E, B, L] what is hidden
    t: torch.Tensor        # float [E, B] mask ratios (1 for supervised members)


class ParityObjective:
    """``step_fn`` and ``eval_fn`` for ``train.train`` over a list of members trained together."""

    def __init__(self, members: Sequence[ParityMember], data: Sequence[ParityData], batch_size: int,
                 device: torch.device | str = "cpu", *, float64_loss: bool = True, log_train_regimes: bool = True):
        if len(members) != len(data) or not members:
            raise ValueError("need one ParityData per member")
        self.members, self.data, self.batch_size = list(members), list(data), batch_size
        self.float64_loss, self.log_train_regimes = float64_loss, log_train_regimes
        self.device = torch.device(device)
        # batches are drawn on the CPU (from each member's CPU generator) and then moved, so a run draws
        # the same batches and masks on any device
        self.train_seq = torch.stack([d.train_sequences() for d in data])   # [E, N, L]
        self.test_seq = torch.stack([d.test_sequences() for d in data])
        self.seq_len = self.train_seq.shape[-1]
        is_md = torch.tensor([m.objective == MD for m in members])
        # per-member loss normaliser: MD averages over tokens (as md_loss), supervised over sequences
        self.normaliser = torch.where(is_md, batch_size * self.seq_len, batch_size).float().to(self.device)
        self.unweighted = torch.tensor([not m.weighted for m in members]).to(self.device)
        # held-out decomposition: one fixed mask per test sequence at t* = 1/(k+1), a function of the seed
        # only, so every objective and window of a seed is measured on the same masks
        heldout = []
        for member, d in zip(self.members, self.data):
            gen = member_generator(member.seed, 2 ** 31)   # never a training step
            t = torch.full((self.test_seq.shape[1],), 1.0 / (d.k + 1))
            heldout.append(ParityBatch(self.test_seq[0].new_empty(0), sample_mask((len(t), self.seq_len), t, generator=gen), t))
        self.heldout = ParityBatch(self.test_seq.to(self.device), torch.stack([b.mask for b in heldout]).to(self.device),
                                   torch.stack([b.t for b in heldout]).to(self.device))

    def draw_batch(self, step: int) -> ParityBatch:
        tokens, masks, ts = [], [], []
        for i, member in enumerate(self.members):
            gen = member_generator(member.seed, step)
            idx = torch.randint(0, self.train_seq.shape[1], (self.batch_size,), generator=gen)
            tokens.append(self.train_seq[i, idx])
            if member.objective == SUPERVISED:
                t = torch.ones(self.batch_size)
                mask = torch.zeros(self.batch_size, self.seq_len, dtype=torch.bool)
                mask[:, -1] = True
            else:  # the draws md_loss makes, in the same order: t, then the mask
                t = member.mask_ratio.sample(self.batch_size, generator=gen)
                mask = sample_mask((self.batch_size, self.seq_len), t, generator=gen)
            masks.append(mask)
            ts.append(t)
        return ParityBatch(*(torch.stack(x).to(self.device) for x in (tokens, masks, ts)))

    def member_losses(self, model: torch.nn.Module, batch: ParityBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-member training losses [E] and the logits [E, B, L, V] they came from."""
        noisy = mask_tokens(batch.tokens, batch.mask, PARITY_MASK_ID)
        logits = stacked_forward(model, noisy)
        # float64 log-softmax: in float32 a margin above ~17 nats rounds the clean token's probability to 1,
        # so the loss reads exactly 0 and that token's gradient vanishes (softmax collapse); float64 keeps
        # the loss and that gradient up to a margin of ~37 nats (tested), not beyond. The loss stays float64.
        scored = logits.double() if self.float64_loss else logits
        log_probs = subs_log_probs(scored.flatten(0, 1), noisy.flatten(0, 1), PARITY_MASK_ID)
        weight = torch.where(self.unweighted.unsqueeze(-1), torch.ones_like(batch.t), batch.t)   # the 1/t ablation
        terms = md_loss_terms(log_probs, batch.tokens.flatten(0, 1), batch.mask.flatten(0, 1), weight.flatten())
        losses = terms.view(batch.mask.shape).sum((1, 2)) / self.normaliser
        return losses, logits

    @torch.no_grad()
    def decomposition(self, logits: torch.Tensor, batch: ParityBatch, md_only: bool = True) -> dict[str, float]:
        """Signal/Noise split of this batch per (MD) member, as sums and counts (training.py averages them)."""
        out: dict[str, float] = {}
        margin = (logits[..., 1] - logits[..., 0]).float()
        nll = F.cross_entropy(logits.float().flatten(0, -2), batch.tokens.flatten(), reduction="none").view(margin.shape)
        for i, (member, data) in enumerate(zip(self.members, self.data)):
            if md_only and member.objective != MD:
                continue
            relevant = list(data.relevant_positions)
            signal = count_masked_relevant(batch.mask[i], relevant) == 1          # [B]
            hidden_relevant = batch.mask[i][:, relevant]                          # [B, k + 1]
            noise_positions = batch.mask[i] & ~signal.unsqueeze(-1)
            out |= {f"signal_nll_sum.m{i}": (nll[i][:, relevant] * hidden_relevant)[signal].sum().item(),
                    f"signal_count.m{i}": signal.sum().item(),
                    f"noise_sq_margin_sum.m{i}": margin[i].pow(2)[noise_positions].sum().item(),
                    f"noise_count.m{i}": noise_positions.sum().item()}
        return out

    def step_fn(self, model: torch.nn.Module, step: int, _generator: torch.Generator):
        batch = self.draw_batch(step)
        losses, logits = self.member_losses(model, batch)
        metrics = {f"loss.m{i}": v for i, v in enumerate(losses.detach().tolist())}
        if self.log_train_regimes:
            metrics |= self.decomposition(logits.detach(), batch)
        return losses.sum(), metrics   # the sum: each member's gradient is its own loss's gradient

    @torch.no_grad()
    def accuracy(self, model: torch.nn.Module, sequences: torch.Tensor) -> torch.Tensor:
        """Per-member accuracy [E] at predicting y with only y masked."""
        noisy = sequences.to(self.device, copy=True)
        noisy[..., -1] = PARITY_MASK_ID
        pred = stacked_forward(model, noisy)[..., -1, :].argmax(-1)
        return (pred.cpu() == sequences[..., -1]).float().mean(-1)

    def eval_fn(self, model: torch.nn.Module, step: int) -> dict[str, float]:
        train_acc, test_acc = self.accuracy(model, self.train_seq), self.accuracy(model, self.test_seq)
        logits = stacked_forward(model, mask_tokens(self.heldout.tokens, self.heldout.mask, PARITY_MASK_ID))
        heldout = self.decomposition(logits, self.heldout, md_only=False)
        return {**{f"acc_train.m{i}": v for i, v in enumerate(train_acc.tolist())},
                **{f"acc_test.m{i}": v for i, v in enumerate(test_acc.tolist())},
                **{f"heldout_{name}": v for name, v in heldout.items()}}


# -- running ----------------------------------------------------------------------------------------

def parity_data_for(cfg: ParityConfig, seed: int) -> ParityData:
    return make_parity_data(cfg.n, cfg.k, cfg.n_train, cfg.n_test, seed=seed)


def run_key(members: Sequence[ParityMember], cfg: ParityConfig, steps: int) -> dict:
    """What a run's result depends on (the run cache is keyed by its hash)."""
    model = cfg.model_config() if cfg.family == TRANSFORMER else {
        "family": MLP, "width": cfg.mlp_width, "init_scale": cfg.init_scale, "output_scale": cfg.output_scale}
    return {"members": list(members), "model": model, "train": cfg.train_config(steps),
            "float64_loss": cfg.float64_loss, "log_train_regimes": cfg.log_train_regimes,
            "data": {"n": cfg.n, "k": cfg.k, "n_train": cfg.n_train, "n_test": cfg.n_test},
            "batch_size": cfg.batch_size}


def train_parity(members: Sequence[ParityMember], cfg: ParityConfig, steps: int | None = None, *,
                 ensemble: bool = True, cache: bool = True, progress: bool = True,
                 desc: str = "parity") -> pd.DataFrame:
    """Train the members (as one Ensemble, or one after another with ``ensemble=False``); tidy metrics.

    Returns one row per (member, evaluation): see ``tidy_metrics``.
    """
    steps = steps or cfg.steps
    members = list(members)
    device = resolve_device(cfg.device)
    data = {seed: parity_data_for(cfg, seed) for seed in {m.seed for m in members}}
    groups = [members] if ensemble else [[m] for m in members]
    frames = []
    for group in groups:
        objective = ParityObjective(group, [data[m.seed] for m in group], cfg.batch_size, device,
                                    float64_loss=cfg.float64_loss, log_train_regimes=cfg.log_train_regimes)
        model = build_model(cfg, [m.seed for m in group], ensemble).to(device)
        label = f"{desc} ({len(group)} run{'s' * (len(group) > 1)})"
        if cache:
            result = train_cached(model, objective.step_fn, cfg.train_config(steps), name="parity",
                                  key=run_key(group, cfg, steps) | {"ensemble": ensemble}, eval_fn=objective.eval_fn,
                                  progress=progress, desc=label)
        else:
            result = train(model, objective.step_fn, cfg.train_config(steps), eval_fn=objective.eval_fn, desc=label,
                           progress=progress)
        frames.append(tidy_metrics(result.metrics, group, cfg.k, cfg.batch_size).assign(
            family=cfg.family, seconds=result.seconds))
    out = pd.concat(frames, ignore_index=True)
    return out


_MEMBER_COLUMN = re.compile(r"^(?P<name>.+)\.m(?P<index>\d+)$")


def tidy_metrics(wide: pd.DataFrame, members: Sequence[ParityMember], k: int, batch_size: int) -> pd.DataFrame:
    """training.py's one-row-per-evaluation table -> one row per (member, evaluation).

    Columns: step, objective, seed, mask_ratio (label), train_acc, test_acc, loss, signal_loss (CE on the
    one masked relevant token of Signal masks), noise_sq_margin (mean (logit_1 - logit_0)^2 on masked
    tokens of Noise masks), signal_fraction (of the batches' masks), p_signal (theory, E_t P_S(t)).
    """
    per_member: dict[int, dict[str, pd.Series]] = {i: {} for i in range(len(members))}
    for column in wide.columns:
        if match := _MEMBER_COLUMN.match(column):
            per_member[int(match["index"])][match["name"]] = wide[column]
    frames = []
    get = lambda cols, name: cols.get(name, pd.Series(np.nan, index=wide.index))  # noqa: E731
    for i, member in enumerate(members):
        cols = per_member[i]
        signal_count = get(cols, "train_signal_count")
        noise_count = get(cols, "train_noise_count")
        heldout_signal, heldout_noise = get(cols, "heldout_signal_count"), get(cols, "heldout_noise_count")
        frame = pd.DataFrame({
            "step": wide["step"], "objective": member.objective, "seed": member.seed, "run": member.label,
            "window": member.window, "weighted": member.weighted,
            "mask_low": member.mask_ratio.low if member.mask_ratio else np.nan,
            "mask_high": member.mask_ratio.high if member.mask_ratio else np.nan,
            "train_acc": cols["acc_train"], "test_acc": cols["acc_test"],
            "loss": get(cols, "train_loss"),
            "signal_loss": get(cols, "train_signal_nll_sum") / signal_count.where(signal_count > 0),
            "signal_fraction": signal_count / batch_size,
            "noise_sq_margin": get(cols, "train_noise_sq_margin_sum") / noise_count.where(noise_count > 0),
            "heldout_signal_loss": get(cols, "heldout_signal_nll_sum") / heldout_signal.where(heldout_signal > 0),
            "heldout_noise_sq_margin": get(cols, "heldout_noise_sq_margin_sum") / heldout_noise.where(heldout_noise > 0),
            "p_signal": member.mask_ratio.expectation(lambda t: signal_probability(t, k)) if member.mask_ratio
            else np.nan,
        })
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# -- summaries ----------------------------------------------------------------------------------------

def first_step_reaching(curve: pd.DataFrame, column: str, threshold: float) -> float:
    """The first evaluated step at which ``column`` >= threshold; inf if never (the run was censored)."""
    hit = curve.loc[curve[column] >= threshold, "step"]
    return float(hit.min()) if len(hit) else float("inf")


def grokking_summary(metrics: pd.DataFrame, target_acc: float = 0.95) -> pd.DataFrame:
    """Per run: steps to 100% train accuracy, to ``target_acc`` test accuracy, and the gap between them."""
    rows = []
    for (run, seed), curve in metrics.groupby(["run", "seed"], sort=False):
        to_train = first_step_reaching(curve, "train_acc", 1.0)
        to_test = first_step_reaching(curve, "test_acc", target_acc)
        at_train_100 = curve.loc[curve.step == to_train, "test_acc"]
        rows.append({"run": run, "seed": seed, "objective": curve["objective"].iloc[0],
                     "mask_low": curve["mask_low"].iloc[0], "mask_high": curve["mask_high"].iloc[0],
                     "steps_to_train_100": to_train, "steps_to_test_target": to_test,
                     "gap": to_test - to_train,
                     "test_acc_at_train_100": float(at_train_100.iloc[0]) if len(at_train_100) else np.nan,
                     "final_test_acc": curve.sort_values("step")["test_acc"].iloc[-1],
                     "max_steps": curve["step"].max()})
    return pd.DataFrame(rows)


def parity_summary(metrics: pd.DataFrame, target_acc: float = 0.95) -> pd.DataFrame:
    """One row per (family, objective, window, seed): the censored times of ``02_parity_summary.csv``.

    steps_to_memorise: first evaluated step with train accuracy >= MEMORISED_ACC (0.98);
    steps_to_generalise: first with test accuracy >= ``target_acc``. A time not reached within the budget
    (the run's last step) is recorded as the budget with its ``*censored`` flag set: censored, neither a
    success nor a failure. ``gap`` = generalise - memorise (a lower bound when generalising is censored).
    """
    rows = []
    for (family, run, seed), curve in metrics.groupby(["family", "run", "seed"], sort=False):
        budget = float(curve["step"].max())
        memorise = first_step_reaching(curve, "train_acc", MEMORISED_ACC)
        generalise = first_step_reaching(curve, "test_acc", target_acc)
        at_memorise = curve.loc[curve.step == memorise, "test_acc"]
        rows.append({"family": family, "objective": curve["objective"].iloc[0], "window": curve["window"].iloc[0],
                     "seed": seed, "steps_to_memorise": min(memorise, budget),
                     "steps_to_generalise": min(generalise, budget), "censored": not np.isfinite(generalise),
                     "budget": budget, "memorise_censored": not np.isfinite(memorise),
                     "weighted": bool(curve["weighted"].iloc[0]), "run": run,
                     "mask_low": curve["mask_low"].iloc[0], "mask_high": curve["mask_high"].iloc[0],
                     "gap": min(generalise, budget) - min(memorise, budget),
                     "test_acc_at_memorise": float(at_memorise.iloc[0]) if len(at_memorise) else np.nan,
                     "final_test_acc": curve.sort_values("step")["test_acc"].iloc[-1]})
    return pd.DataFrame(rows)


def censored_times(rows: pd.DataFrame, event: str = "generalise") -> tuple[np.ndarray, np.ndarray]:
    """(times, reached) of a ``parity_summary`` slice, for ``gehan_test`` / ``logrank_test``."""
    flag = "censored" if event == "generalise" else "memorise_censored"
    return rows[f"steps_to_{event}"].to_numpy(float), ~rows[flag].to_numpy(bool)


def best_window_bootstrap(sweep: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> dict:
    """The U[0, b] with the smallest mean censored time to generalise (censored runs count as the budget, a
    conservative choice), and a bootstrap interval of that argmin b, resampling seeds within each window."""
    anchored = sweep[(sweep.mask_low == 0) & (sweep.mask_high > 0) & sweep.weighted]
    groups = {b: g.steps_to_generalise.to_numpy(float) for b, g in anchored.groupby("mask_high")}
    if len(groups) < 2 or anchored.censored.all():   # all at the budget: no window is faster, no best b
        return {"best_b": np.nan, "low": np.nan, "high": np.nan, "n_windows": len(groups)}
    uppers = np.array(sorted(groups))
    means = np.array([groups[b].mean() for b in uppers])
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        resampled = [rng.choice(groups[b], len(groups[b])).mean() for b in uppers]
        boot.append(uppers[int(np.argmin(resampled))])
    low, high = np.quantile(boot, [0.025, 0.975])
    return {"best_b": float(uppers[int(np.argmin(means))]), "low": float(low), "high": float(high),
            "n_windows": len(uppers), "means": dict(zip(uppers.tolist(), means.tolist()))}


def _steps(values) -> str:
    return "/".join("never" if not np.isfinite(v) else f"{v:.0f}" for v in values)


def has_plateau(rows: pd.DataFrame, eval_every: int, plateau_evals: int = 3) -> pd.Series:
    """A grokking plateau: memorised (train >= 0.98) with test accuracy <= 0.6 at that step, and >= ``plateau_evals``
    evaluations more (or never, within the budget) to reach the target test accuracy."""
    return (~rows.memorise_censored & (rows.test_acc_at_memorise <= 0.6)
            & (rows.gap >= plateau_evals * eval_every))


def lever_claim(levers: pd.DataFrame, cfg: ParityConfig) -> Claim:
    """The paper's "the Noise regime regularises without weight decay": MD at t* with wd = 0 against supervised
    with wd = 0, by Gehan's censored test on steps to the target test accuracy (MD faster is the paper's
    direction). ``levers``: ``parity_summary`` rows with a ``weight_decay`` column."""
    main = cfg.md_ratio().label
    md = levers[(levers.weight_decay == 0) & (levers.window == main)]
    sup = levers[(levers.weight_decay == 0) & (levers.objective == SUPERVISED)]
    result = gehan_test(*censored_times(md), *censored_times(sup), what=f"steps to {cfg.target_acc:.0%} test, wd 0")
    reached = lambda rows: f"{int((~rows.censored).sum())}/{len(rows)}"  # noqa: E731
    with_wd = levers[(levers.weight_decay > 0) & (levers.objective == SUPERVISED)]
    return Claim.experiment(
        f"Without weight decay MD still generalises, sooner than supervised training ({levers.family.iloc[0]})",
        "the Noise regime acts as an implicit regulariser, so MD needs no weight decay", result,
        figure_names.PARITY_GROKKING_ACCURACY,
        f"the same runs as the main comparison with weight decay 0 for both objectives; supervised with wd "
        f"{cfg.weight_decay} reached the target on {reached(with_wd)} seeds",
        ours=f"reached {cfg.target_acc:.0%} test with wd 0: MD {main} {reached(md)}, supervised {reached(sup)}; "
             f"{result.summary}")


def parity_claims(summary: pd.DataFrame, metrics: pd.DataFrame, cfg: ParityConfig) -> list[Claim]:
    """Notebook 02's claims for one family's ``parity_summary``, by the pre-declared rules of ``companion.verdicts``.

    * grokking: the share of supervised seeds with a plateau (``has_plateau``), exact binomial against 1/2;
    * MD vs supervised: Gehan's censored test on steps to the target test accuracy (MD faster is the paper's
      direction), and the share of MD seeds that generalise without a plateau;
    * the window: Gehan's test of U[0, b ~ t1] against U[0, 1], once with the 1/t weight and once without;
      the empirical best b with its bootstrap interval goes in the notes;
    * the mask sampler hits the Signal regime at the rate P_S predicts (a derived check, when logged).
    """
    family = summary.family.iloc[0]
    grokked = has_plateau(summary, cfg.eval_every)
    sup = summary[summary.objective == SUPERVISED]
    main = cfg.md_ratio().label
    md = summary[(summary.objective == MD) & (summary.window == main)]
    setting = (f"{family}: n={cfg.n}, k={cfg.k}, {cfg.n_train} train examples, wd {cfg.weight_decay}, batch "
               f"{cfg.batch_size}, budget {cfg.steps} steps; memorised = train acc >= {MEMORISED_ACC}")
    target = f"{cfg.target_acc:.0%} test"
    sup_result = share_test(int(grokked[sup.index].sum()), len(sup), censored=int(sup.memorise_censored.sum()),
                            what="supervised seeds with a plateau")
    md_clean = ~md.censored & ~grokked[md.index]
    md_result = share_test(int(md_clean.sum()), len(md), censored=int(md.censored.sum()),
                           what=f"MD {main} seeds generalising without a plateau")
    versus = gehan_test(*censored_times(md), *censored_times(sup), what=f"steps to {target}, MD {main} vs supervised")
    claims = [
        Claim.experiment(
            f"Supervised training groks ({family})",
            "test accuracy ~50% for a long plateau after train reaches 100% (n=20, k=6)", sup_result,
            figure_names.PARITY_GROKKING_ACCURACY, setting,
            ours=f"{sup_result.summary}; memorised at {_steps(sup.steps_to_memorise.where(~sup.memorise_censored, np.inf))}, "
                 f"{target} at {_steps(sup.steps_to_generalise.where(~sup.censored, np.inf))} steps"),
        Claim.experiment(
            f"MD training does not grok ({family}, MD {main})", "train and test accuracy rise together", md_result,
            figure_names.PARITY_GROKKING_ACCURACY, setting,
            ours=f"{md_result.summary}; {target} at {_steps(md.steps_to_generalise.where(~md.censored, np.inf))}"),
        Claim.experiment(
            f"MD generalises sooner than supervised training ({family}, MD {main})",
            "MD reaches high test accuracy while supervised training is still on its plateau", versus,
            figure_names.PARITY_GROKKING_ACCURACY, setting,
            ours=f"{versus.summary}; median steps to {target}: MD {md.steps_to_generalise.median():.0f}, "
                 f"supervised {sup.steps_to_generalise.median():.0f} (censored runs at the budget)"),
    ]
    t1 = optimal_window_upper(cfg.k)
    anchored = summary[(summary.objective == MD) & (summary.mask_low == 0) & (summary.mask_high > 0)]
    uppers = sorted(b for b in anchored.mask_high.unique() if b < 1.0)
    best = best_window_bootstrap(summary)
    if uppers and (anchored.mask_high == 1.0).any():
        nearest = min(uppers, key=lambda b: abs(b - t1))
        for weighted in (True, False):
            rows = anchored[anchored.weighted == weighted]
            near, uniform = rows[rows.mask_high == nearest], rows[rows.mask_high == 1.0]
            if not len(near) or not len(uniform):
                continue
            result = gehan_test(*censored_times(near), *censored_times(uniform), what=f"steps to {target}")
            weight = "with the ELBO's 1/t weight" if weighted else "without the 1/t weight (ablation)"
            claims.append(Claim.experiment(
                f"A window U[0, t1] beats standard t ~ U[0, 1], {weight} ({family})",
                f"U[0, t1] converges fastest (t1 = {t1:.3f} for k={cfg.k})", result, figure_names.PARITY_WINDOW_SWEEP,
                setting + (f"; empirical best b = {best['best_b']:g} (95% bootstrap interval over seeds "
                           f"[{best['low']:g}, {best['high']:g}]) against t1 = {t1:.3f}" if weighted else ""),
                ours=f"U[0, {nearest:g}] reached {target} at {_steps(near.steps_to_generalise.where(~near.censored, np.inf))}, "
                     f"U[0, 1] at {_steps(uniform.steps_to_generalise.where(~uniform.censored, np.inf))}; {result.summary}"))
    if "signal_fraction" in metrics and metrics.signal_fraction.notna().any():
        t_star = optimal_mask_ratio(cfg.k)
        fractions = metrics[(metrics.objective == MD) & (metrics.step > 0) & metrics.signal_fraction.notna()].groupby(
            "run").agg(measured=("signal_fraction", "mean"), theory=("p_signal", "first"))
        fixed_label = f"MD {MaskRatio.fixed(t_star).label}"
        if fixed_label in fractions.index:
            measured = fractions.loc[fixed_label, "measured"]
            theory = signal_probability(t_star, cfg.k)
            worst = float((fractions.measured - fractions.theory).abs().max())
            claims.append(Claim.derived(
                f"The training masks hit the Signal regime at the rate P_S predicts, highest at t* = 1/(k+1) (k={cfg.k})",
                f"t* = {t_star:.3f}, P_S(t*) = {theory:.3f}",
                f"measured Signal fraction at t*: {measured:.3f} (theory {theory:.3f}); largest |measured - theory| "
                f"over {len(fractions)} mask-ratio distributions {worst:.3f}",
                "checked" if worst < 0.03 and measured >= fractions.measured.max() - 1e-12 else "fails check",
                figure_names.PARITY_LOSS_DECOMPOSITION, "a property of our mask sampler, not a training result"))
    return claims
