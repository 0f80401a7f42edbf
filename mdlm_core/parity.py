r"""k-sparse parity trained by supervised and masked-diffusion (MD) objectives, many runs as one ensemble.

A *member* is one training run: an objective, a seed (which fixes the secret set S, the finite train
set, the test set, the initialisation and the batch order) and, for MD, a mask-ratio distribution.

* **Supervised baseline**: the input is [x_1 .. x_n, MASK]; cross-entropy on y only.
* **MD**: the clean sequence [x_1 .. x_n, y]; every token, label included, is masked with probability
  t ~ ``MaskRatio``; the loss is ``md_loss_terms`` (1/t-weighted CE on masked tokens), reduced by the spec's
  ``md_normalisation``: ``token_mean`` (over the B (n+1) tokens, exactly ``md_loss``; the default),
  ``sequence_sum`` (the per-sequence ELBO, summed over positions and averaged over the B sequences) or
  ``label_weighted`` (the token mean with the label's term weighted n + 1, so that y's expected weight per
  sequence is 1, as under supervised training, while each input bit keeps 1/(n+1)). Under SGD the scale is
  the step size: the token mean gives the label 1/(n+1) of supervised training's step. The supervised loss is
  the same computation with the mask fixed to the label, t := 1 and the mean over sequences.
* **Online** (``online=True``): every step draws fresh uniform inputs (no finite train set); the train set
  is then only evaluated, a second held-out set.
* **Accuracy** (train and test alike): mask only y and take the argmax over {0, 1}.

While MD trains, the same batches give the paper's loss decomposition (theory/signal.py): a mask is in the
**Signal regime** when exactly one of the k + 1 relevant tokens S ∪ {y} is masked. We log the CE on that
one masked relevant token (how well the parity feature is computed), the mean squared logit margin
(logit_1 - logit_0)^2 over the masked tokens of **Noise-regime** masks (the output magnitude that the
implicit L2 term pulls to zero: its Bayes-optimal value is 0), and the fraction of Signal masks, to
compare with P_S = E_t[(k+1) t (1-t)^k] of the mask-ratio distribution.

The optimiser is AdamW (``training.make_optimizer``) or, with ``optimizer="sgd"``, plain SGD with weight decay
on every parameter (the parity-nn recipe of Merrill et al. 2023); both are elementwise, so an ensemble member
still equals a solo run.

A ``ParitySpec`` (data, model, training) is what the members of one call share: they run as one ensemble
(``MLPEnsemble``, or ``TransformerEnsemble`` for the transformer)
through the training loop of ``training.py``, and each member's randomness is a pure function of (seed, step),
so a member draws exactly what a solo run of the same seed draws. ``train_parity`` caches the call in the run
cache under ``run_key``; ``parity_summary`` turns its curves into censored times to memorise and to generalise.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .data.parity import PARITY_MASK_ID, PARITY_VOCAB, ParityData, make_parity_data, parity_labels
from .loss import mask_tokens, md_loss_terms, sample_mask, subs_log_probs
from .mask_ratio import MaskRatio
from .mlp import MLPEnsemble
from .model import DiffusionTransformer, ModelConfig
from .theory.signal import count_masked_relevant, signal_probability
from .training import (TrainConfig, derive_config, distributed_rank_and_size, make_optimizer, resolve_device, train,
                       train_cached)
from .transformer_ensemble import TransformerEnsemble

SUPERVISED = "supervised"
MD = "md"
MLP, TRANSFORMER = "mlp", "transformer"
MEMORISED_ACC = 0.98        # "memorised": train accuracy >= 0.98 (not 1.0: one noisy example must not censor a run)
TOKEN_MEAN, SEQUENCE_SUM, LABEL_WEIGHTED = "token_mean", "sequence_sum", "label_weighted"
MD_NORMALISATIONS = (TOKEN_MEAN, SEQUENCE_SUM, LABEL_WEIGHTED)
ADAMW, SGD = "adamw", "sgd"


# -- what the members of one call share: data, model, training ----------------------------------------------

@dataclass(frozen=True)
class ParityDataSpec:
    """A seed's k-sparse parity problem: n input bits, k of them secret, finite train and test sets."""

    n: int = 20
    k: int = 4
    n_train: int = 500
    n_test: int = 512

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"k={self.k} must satisfy 1 <= k <= n={self.n}")

    def for_seed(self, seed: int) -> ParityData:
        return make_parity_data(self.n, self.k, self.n_train, self.n_test, seed=seed)


@dataclass(frozen=True)
class ParityModelSpec:
    """Either family: the nanoGPT-style transformer (n_layer, n_head, n_embd) or the theory's MLP (mlp.py)."""

    family: str = TRANSFORMER            # "transformer" (nanoGPT-style) or "mlp" (the theory's model, mlp.py)
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    mlp_width: int = 256                 # MLP family: hidden width
    init_scale: float = 1.0              # MLP family: multiplies the init std (Omnigrok lever)
    output_scale: float = 1.0            # MLP family: alpha in logits = alpha f(x) (lazy -> rich lever)

    def __post_init__(self) -> None:
        if self.family not in (MLP, TRANSFORMER):
            raise ValueError(f"family={self.family!r}: use 'mlp' or 'transformer'")


@dataclass(frozen=True)
class ParityTrainSpec:
    """The training loop every member of a call shares (AdamW, constant lr after warm-up)."""

    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.3
    warmup_steps: int = 100
    grad_clip: float = 1.0
    steps: int = 10_000                  # the budget: a run that reaches no threshold is censored here
    eval_every: int = 100
    float64_loss: bool = True            # log-softmax in float64 (against softmax collapse), both objectives
    log_train_regimes: bool = True       # per-step Signal/Noise bookkeeping of the training batches
    device: str = "auto"                 # "auto": cuda when available, else cpu
    # Added later: each enters run_key only when set away from its default, so older runs keep their keys.
    optimizer: str = ADAMW               # "adamw" or "sgd" (plain SGD, weight decay on every parameter)
    md_normalisation: str = TOKEN_MEAN   # MD's loss reduction: token_mean | sequence_sum | label_weighted
    online: bool = False                 # a fresh batch of inputs every step instead of the finite train set
    log_trainset_regimes: bool = False   # also the Signal/Noise split on fixed masks of train sequences, and
                                         # the label CE with x visible on the test set, at every evaluation
    train_eval_size: int | None = None   # train accuracy on the first this many train sequences (None: all)

    def __post_init__(self) -> None:
        if self.optimizer not in (ADAMW, SGD):
            raise ValueError(f"optimizer={self.optimizer!r}: use 'adamw' or 'sgd'")
        if self.md_normalisation not in MD_NORMALISATIONS:
            raise ValueError(f"md_normalisation={self.md_normalisation!r}: use one of {', '.join(MD_NORMALISATIONS)}")
        if self.train_eval_size is not None and self.train_eval_size < 1:
            raise ValueError(f"train_eval_size={self.train_eval_size} must be >= 1, or None to score every train "
                             "sequence")


# the ParityTrainSpec fields added after runs were cached, with the defaults that leave a run's key as it was
_KEYED_WHEN_SET = {"optimizer": ADAMW, "md_normalisation": TOKEN_MEAN, "online": False,
                   "log_trainset_regimes": False, "train_eval_size": None}


@dataclass(frozen=True)
class ParitySpec:
    data: ParityDataSpec = field(default_factory=ParityDataSpec)
    model: ParityModelSpec = field(default_factory=ParityModelSpec)
    train: ParityTrainSpec = field(default_factory=ParityTrainSpec)

    @property
    def family(self) -> str:
        return self.model.family

    def model_config(self) -> ModelConfig:
        """The transformer family's ``ModelConfig`` (vocabulary {0, 1}, sequence [x, y])."""
        return derive_config(ModelConfig, self.model, vocab_size=PARITY_VOCAB, block_size=self.data.n + 1)

    def train_config(self, steps: int | None = None) -> TrainConfig:
        return derive_config(TrainConfig, self.train, steps=steps or self.train.steps, schedule="constant")


# The theory's MLP of the three profiles (``MLP_SPECS``): notebook 02 trains it, notebook 06 runs its adaptive
# sampler on it, so each is written down once, here.
MLP_SMOKE = ParitySpec(ParityDataSpec(n=8, k=2, n_train=64, n_test=128), ParityModelSpec(family=MLP, mlp_width=32),
                       ParityTrainSpec(batch_size=32, lr=1e-3, weight_decay=1.0, warmup_steps=0, steps=60,
                                       eval_every=20))
# quick: n = 20, k = 3, 300 examples, width 128, batch 64, AdamW lr 3e-3, wd 1.0, 4000 steps. Probes (4 seeds,
# 3000 steps): lr 3e-3 makes supervised memorise by step 300 and reach 95% test at 600-2900 (a plateau); MD at t*
# is at test 0.65-0.80 and memorises on no seed by 3000; lr 1e-3 leaves MD at chance. Its per-step Signal/Noise
# bookkeeping is off: it costs more than the MLP step itself.
MLP_QUICK = ParitySpec(ParityDataSpec(n=20, k=3, n_train=300, n_test=512), ParityModelSpec(family=MLP, mlp_width=128),
                       ParityTrainSpec(batch_size=64, lr=3e-3, weight_decay=1.0, warmup_steps=0, steps=4000,
                                       eval_every=100, log_train_regimes=False))
# paper: the paper's (n, k) = (20, 6) with weight decay 0.1, for a GPU. The per-step Signal/Noise bookkeeping of the
# training batches is off: its per-member .item() calls hold a GPU at host speed (about 40 minutes of a 0.7-minute
# run); the held-out decomposition is still measured at every evaluation.
MLP_PAPER = ParitySpec(ParityDataSpec(n=20, k=6, n_train=2000, n_test=2000), ParityModelSpec(family=MLP, mlp_width=1024),
                       ParityTrainSpec(batch_size=256, lr=1e-3, weight_decay=0.1, warmup_steps=0, steps=50_000,
                                       eval_every=250, log_train_regimes=False))
MLP_SPECS = {"smoke": MLP_SMOKE, "quick": MLP_QUICK, "paper": MLP_PAPER}


# -- members and the objective -----------------------------------------------------------------------

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


_RANK_MIX = 0x9E3779B97F4A7C15   # odd 64-bit constant: rank r > 0 moves the seed far from every (seed, step) of rank 0


def member_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """A member's randomness at one step, a pure function of (seed, step): ensemble members and solo runs
    of the same seed draw identically, and a resumed run needs no extra RNG state. Under DistributedDataParallel
    rank r > 0 draws its own batches (rank 0 draws exactly what a single-process run draws)."""
    value = (int(seed) << 32) + int(step)
    return torch.Generator().manual_seed(value ^ ((rank * _RANK_MIX) & (2 ** 64 - 1)) if rank else value)


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


def build_model(spec: ParitySpec, seeds: Sequence[int], ensemble: bool = True) -> torch.nn.Module:
    """The members' model for either family; member i is initialised from seeds[i] alone."""
    model = spec.model
    if model.family == MLP:
        return MLPEnsemble(seeds, spec.data.n + 1, model.mlp_width, PARITY_VOCAB, init_scale=model.init_scale,
                           output_scale=model.output_scale)
    if ensemble:   # hand-batched: faster than Ensemble's vmap at these sizes (bench/bench_parity_ensemble.py)
        return TransformerEnsemble.from_seeds(spec.model_config(), seeds)
    if len(seeds) != 1:
        raise ValueError("a plain (non-ensemble) transformer holds one member")
    return seeded_model(spec.model_config(), seeds[0])


def make_sgd(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    """Plain SGD with weight decay on every parameter, as ``torch.optim.SGD(model.parameters())`` in parity-nn."""
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                           weight_decay=cfg.weight_decay, foreach=True)


OPTIMIZERS = {ADAMW: make_optimizer, SGD: make_sgd}


# -- the objective ---------------------------------------------------------------------------------

@dataclass
class ParityBatch:
    tokens: torch.Tensor   # long [E, B, L] clean sequences [x, y]
    mask: torch.Tensor     # bool [E, B, L] what is hidden
    t: torch.Tensor        # float [E, B] mask ratios (1 for supervised members)


class ParityObjective:
    """``step_fn`` and ``eval_fn`` for ``train.train`` over a list of members trained together."""

    def __init__(self, members: Sequence[ParityMember], data: Sequence[ParityData], batch_size: int,
                 device: torch.device | str = "cpu", *, float64_loss: bool = True, log_train_regimes: bool = True,
                 md_normalisation: str = TOKEN_MEAN, online: bool = False, log_trainset_regimes: bool = False,
                 train_eval_size: int | None = None):
        if len(members) != len(data) or not members:
            raise ValueError("need one ParityData per member")
        if md_normalisation not in MD_NORMALISATIONS:
            raise ValueError(f"md_normalisation={md_normalisation!r}: use one of {', '.join(MD_NORMALISATIONS)}")
        self.members, self.data, self.batch_size = list(members), list(data), batch_size
        self.float64_loss, self.log_train_regimes = float64_loss, log_train_regimes
        self.online, self.log_trainset_regimes = online, log_trainset_regimes
        self.device = torch.device(device)
        # batches are drawn on the CPU (from each member's CPU generator) and then moved, so a run draws
        # the same batches and masks on any device
        self.train_seq = torch.stack([d.train_sequences() for d in data])   # [E, N, L]
        self.test_seq = torch.stack([d.test_sequences() for d in data])
        self.seq_len = self.train_seq.shape[-1]
        self.train_eval_seq = self.train_seq[:, :train_eval_size] if train_eval_size else self.train_seq
        is_md = torch.tensor([m.objective == MD for m in members])
        # per-member loss normaliser: MD by md_normalisation (token_mean as md_loss), supervised over sequences
        md_normaliser = batch_size if md_normalisation == SEQUENCE_SUM else batch_size * self.seq_len
        self.normaliser = torch.where(is_md, md_normaliser, batch_size).float().to(self.device)
        # label_weighted: the MD members' label term counts n + 1 times (None: every term once, bit for bit)
        self.position_weight = None
        if md_normalisation == LABEL_WEIGHTED:
            weight = torch.ones(len(members), 1, self.seq_len)
            weight[is_md, :, -1] = float(self.seq_len)
            self.position_weight = weight.to(self.device)
        self.unweighted = torch.tensor([not m.weighted for m in members]).to(self.device)
        # held-out decomposition: one fixed mask per test sequence at t* = 1/(k+1), a function of the seed
        # only, so every objective and window of a seed is measured on the same masks
        self.heldout = self._fixed_masks(self.test_seq, 2 ** 31)   # never a training step
        # the same on train sequences (as many as test ones): the Noise regime on data the model was fitted to
        self.trainset = self._fixed_masks(self.train_seq[:, :self.test_seq.shape[1]], 2 ** 31 + 1) \
            if log_trainset_regimes else None

    def _fixed_masks(self, sequences: torch.Tensor, draw: int) -> ParityBatch:
        """One mask per sequence at t* = 1/(k+1) from draw ``draw`` of each member's seed (not a training step)."""
        masks, ts = [], []
        for member, d in zip(self.members, self.data):
            gen = member_generator(member.seed, draw)
            t = torch.full((sequences.shape[1],), 1.0 / (d.k + 1))
            masks.append(sample_mask((len(t), self.seq_len), t, generator=gen))
            ts.append(t)
        return ParityBatch(sequences.to(self.device), torch.stack(masks).to(self.device), torch.stack(ts).to(self.device))

    def draw_batch(self, step: int) -> ParityBatch:
        tokens, masks, ts = [], [], []
        rank = distributed_rank_and_size()[0]   # each DDP rank its own batches
        for i, member in enumerate(self.members):
            gen = member_generator(member.seed, step, rank)
            if self.online:   # fresh inputs: distinct from the test set with probability ~1 for n >= 30
                x = torch.randint(0, 2, (self.batch_size, self.data[i].n), generator=gen)
                tokens.append(ParityData.as_sequence(x, parity_labels(x, self.data[i].secret)))
            else:
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
        terms = terms.view(batch.mask.shape)
        if self.position_weight is not None:
            terms = terms * self.position_weight
        losses = terms.sum((1, 2)) / self.normaliser
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
    def label_scores(self, model: torch.nn.Module, sequences: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-member accuracy [E] and mean CE [E] at predicting y with only y masked: the one input kind both
        objectives train on, so it compares them."""
        noisy = sequences.to(self.device, copy=True)
        noisy[..., -1] = PARITY_MASK_ID
        logits = stacked_forward(model, noisy)[..., -1, :].float().cpu()
        ce = F.cross_entropy(logits.flatten(0, 1), sequences[..., -1].flatten(), reduction="none").view(logits.shape[:2])
        return (logits.argmax(-1) == sequences[..., -1]).float().mean(-1), ce.mean(-1)

    def accuracy(self, model: torch.nn.Module, sequences: torch.Tensor) -> torch.Tensor:
        """Per-member accuracy [E] at predicting y with only y masked."""
        return self.label_scores(model, sequences)[0]

    def eval_fn(self, model: torch.nn.Module, step: int) -> dict[str, float]:
        train_acc = self.accuracy(model, self.train_eval_seq)
        test_acc, test_ce = self.label_scores(model, self.test_seq)
        out = {**{f"acc_train.m{i}": v for i, v in enumerate(train_acc.tolist())},
               **{f"acc_test.m{i}": v for i, v in enumerate(test_acc.tolist())}}
        for prefix, fixed in (("heldout", self.heldout), ("trainset", self.trainset)):
            if fixed is not None:
                logits = stacked_forward(model, mask_tokens(fixed.tokens, fixed.mask, PARITY_MASK_ID))
                out |= {f"{prefix}_{name}": v for name, v in self.decomposition(logits, fixed, md_only=False).items()}
        if self.log_trainset_regimes:
            out |= {f"ce_test_label.m{i}": v for i, v in enumerate(test_ce.tolist())}
        return out


# -- running ----------------------------------------------------------------------------------------

def run_key(members: Sequence[ParityMember], spec: ParitySpec, steps: int | None = None) -> dict:
    """What a run's result depends on (the run cache is keyed by its hash): the members, the model, the training
    loop and the data. Its dicts are those of every cached parity run so far: keep them so."""
    model = spec.model_config() if spec.family == TRANSFORMER else {
        "family": MLP, "width": spec.model.mlp_width, "init_scale": spec.model.init_scale,
        "output_scale": spec.model.output_scale}
    later = {name: getattr(spec.train, name) for name, default in _KEYED_WHEN_SET.items()
             if getattr(spec.train, name) != default}
    batched = {"ensemble_impl": "TransformerEnsemble"} if spec.family == TRANSFORMER else {}
    return {"members": list(members), "model": model, "train": spec.train_config(steps),
            "float64_loss": spec.train.float64_loss, "log_train_regimes": spec.train.log_train_regimes,
            "data": asdict(spec.data), "batch_size": spec.train.batch_size} | later | batched


def parity_objective(members: Sequence[ParityMember], data: Sequence[ParityData], spec: ParitySpec,
                     device: torch.device | str = "cpu") -> ParityObjective:
    """The members' objective with every option the spec's training loop sets."""
    train = spec.train
    return ParityObjective(members, data, train.batch_size, device, float64_loss=train.float64_loss,
                           log_train_regimes=train.log_train_regimes, md_normalisation=train.md_normalisation,
                           online=train.online, log_trainset_regimes=train.log_trainset_regimes,
                           train_eval_size=train.train_eval_size)


def train_parity(members: Sequence[ParityMember], spec: ParitySpec, steps: int | None = None, *,
                 ensemble: bool = True, cache: bool = True, progress: bool = True,
                 desc: str = "parity") -> pd.DataFrame:
    """Train the members (as one Ensemble, or one after another with ``ensemble=False``); tidy metrics.

    Returns one row per (member, evaluation): see ``tidy_metrics``, plus the family and the run's wall clock.
    """
    steps = steps or spec.train.steps
    members = list(members)
    device = resolve_device(spec.train.device)
    data = {seed: spec.data.for_seed(seed) for seed in {m.seed for m in members}}
    groups = [members] if ensemble else [[m] for m in members]
    frames = []
    for group in groups:
        objective = parity_objective(group, [data[m.seed] for m in group], spec, device)
        model = build_model(spec, [m.seed for m in group], ensemble).to(device)
        label = f"{desc} ({len(group)} run{'s' * (len(group) > 1)})"
        if cache:
            result = train_cached(model, objective.step_fn, spec.train_config(steps), name="parity",
                                  key=run_key(group, spec, steps) | {"ensemble": ensemble}, eval_fn=objective.eval_fn,
                                  progress=progress, desc=label, optimizer_factory=OPTIMIZERS[spec.train.optimizer])
        else:
            result = train(model, objective.step_fn, spec.train_config(steps), eval_fn=objective.eval_fn, desc=label,
                           progress=progress, optimizer_factory=OPTIMIZERS[spec.train.optimizer])
        frames.append(tidy_metrics(result.metrics, group, spec.data.k, spec.train.batch_size).assign(
            family=spec.family, seconds=result.seconds))
    return pd.concat(frames, ignore_index=True)


_MEMBER_COLUMN = re.compile(r"^(?P<name>.+)\.m(?P<index>\d+)$")


def tidy_metrics(wide: pd.DataFrame, members: Sequence[ParityMember], k: int, batch_size: int) -> pd.DataFrame:
    """training.py's one-row-per-evaluation table -> one row per (member, evaluation).

    Columns: step, objective, seed, mask_ratio (label), train_acc, test_acc, loss, signal_loss (CE on the
    one masked relevant token of Signal masks), noise_sq_margin (mean (logit_1 - logit_0)^2 on masked
    tokens of Noise masks), signal_fraction (of the batches' masks), p_signal (theory, E_t P_S(t)); the same
    split on the fixed held-out masks (heldout_*) and, with ``log_trainset_regimes``, on fixed masks of train
    sequences (trainset_*) with the test label CE with every x visible (test_label_ce).
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
        trainset_signal, trainset_noise = get(cols, "trainset_signal_count"), get(cols, "trainset_noise_count")
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
            "trainset_signal_loss": get(cols, "trainset_signal_nll_sum") / trainset_signal.where(trainset_signal > 0),
            "trainset_noise_sq_margin": get(cols, "trainset_noise_sq_margin_sum") / trainset_noise.where(trainset_noise > 0),
            "test_label_ce": get(cols, "ce_test_label"),
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
