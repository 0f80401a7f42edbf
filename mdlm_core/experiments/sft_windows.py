r"""The SFT window comparison of notebook 04 (Huang & Mirzasoleiman 2026, Tables 2 and 3).

The paper fine-tunes LLaDA-8B with the SFT mask ratio t restricted to a window and finds a crossover:
the mid window [0.45, 0.55] is best on discriminative benchmarks (MMLU, GPQA), while high-noise windows
such as [0.5, 1] are best on generative maths (GSM8K). Here, at a scale two CPU cores can train:

* the **base model** is notebook 03's pretrained MD language model: ``Config.base`` names its LM spec (in each
  profile the named spec of ``mdlm_core.lm`` that notebook 03's profile trains, ``LM_SMOKE`` / ``LM_QUICK`` /
  ``LM_PAPER``), and its ``uniform`` run, seed 0, is loaded from the run cache or trained there through the same
  code (``lm.train_lm_model``); pretraining uses the standard U[0, 1]; the windows apply to SFT only. There is no
  random-init path;
* every (window, seed) is **one multi-task SFT run** from that base, as the paper fine-tunes one model
  and scores it on several benchmarks. Each step draws one batch per task (each task with its own
  sequence layout; tasks of one sequence length share a forward pass) and minimises the mean of the tasks'
  SFT losses (prompt never masked, answer masked with t from the window, loss per answer length, EOS padding
  trained as answer);
* **discriminative** tasks (number comparison ``4715?4785`` -> ``<``, a skill of its own with its own SFT data,
  the first discriminative task of ``quick``; the arithmetic problems as multiple choice against one-digit
  variants of the result, trained by the arithmetic task's SFT; next-word choice on held-out WikiText-2,
  HellaSwag-style; SST-2 with word labels) are scored as LLaDA scores multiple choice: the candidate answer with
  the largest Monte Carlo ELBO of ``answer | prompt`` (``sft.answer_elbo_mc``: the number of masked answer
  tokens l ~ U{1..A}, stratified over ``score_draws`` draws, weight A / l), on masks drawn from ``score_seed``
  alone, so candidates, windows and seeds are compared on common draws;
* **generative** tasks (multi-digit arithmetic; GSM8K in the ``paper`` profile) are scored by exact match
  of an answer generated with ``samplers.generate`` (low-confidence remasking, greedy by default).

Before any window verdict a gate asks whether SFT learned each task at all (``verdicts.above_baseline_gate``
against the best constant choice / the commonest answer); the base model is scored by the same scorers, so
what SFT added is on the same scale; the crossover is ``verdicts.crossover_test``, judged only where its two
readouts are two skills (``two_skill_gate``: |r| < ``TWO_SKILL_MAX_R`` across runs), and the generative ranking
Page's L test (``verdicts.page_trend_test``, seeds as blocks). Beside accuracy at the budget, each pairwise claim
and the crossover are judged on the steps to a declared threshold read from the logged curves
(``paired_gehan_test``: Gehan's censored scoring, paired by seed, exact sign-flip). No minimum effects: the claims
are directional (``MIN_EFFECT_PAIRWISE``, ``MIN_EFFECT_RANKING``).

The config is nested: ``base`` (the LM spec), ``tasks`` (the tasks run) with ``task_specs`` (every task's
``TaskSpec``: sizes, layout, its own options), ``scoring``, ``train``. ``run(cfg, out)`` does every run and writes
every table; ``claims``, ``figures`` and ``explorer`` read its ``Results``.

The id of ``<pad>`` serves as EOS: the pretraining text never contains it, so it is free to mean
"the answer ended", and everything after the first EOS of a generated answer is dropped.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ..lm import LM_PAPER, LM_QUICK, LM_SMOKE, UNIFORM, LMData, LMSpec, prepare_lm_data, spec_name, train_lm_model
from ..mask_ratio import MaskRatio
from ..model import DiffusionTransformer, bf16_autocast
from ..samplers import generate
from ..schedules import size_schedule
from ..sft import answer_elbo_mc, answer_masks, pack_sft_examples, sft_row_losses, strip_after_eos
from ..data.tasks import (SST2_LABELS, SFTExample, arithmetic_choices, exact_match, gsm8k_final_answer, load_gsm8k,
                          load_sst2, make_arithmetic, make_comparison, make_next_word_choice,
                          most_common_answer_accuracy)
from ..data.text import PAD_TOKEN, decode_stream, load_wikitext2
from ..companion import figure_names
from ..companion.verdicts import (ALPHA, MAX_EXACT_SEEDS, Z_MDE, Claim, Gate, TestResult, above_baseline_gate,
                                 crossover_test, experiment_verdict, gated, gehan_scores, page_trend_test,
                                 paired_difference_test, sign_flip_p, with_finding)
from ..training import (TrainConfig, cached_evaluation, derive_config, grid_workers, resolve_device, run_grid,
                        train_cached)

NOTEBOOK = "04_sft_windows"

# The paper's SFT windows (Tables 2 and 3), in the order it lists them.
SFT_WINDOWS = ("[0,1]", "[0.45,0.55]", "[0.2,1]", "[0.3,1]", "[0.5,1]")   # MaskRatio labels
STANDARD, MID, HIGH_NOISE = "[0,1]", "[0.45,0.55]", "[0.5,1]"
TASKS = ("comparison", "arithmetic_choice", "next_word", "sst2", "arithmetic", "gsm8k")
# scored by choosing among candidates; the others by generation
DISCRIMINATIVE = {"comparison", "arithmetic_choice", "next_word", "sst2"}
# tasks with no SFT data of their own: scored on the problems (and with the layout) of the task they name
SCORED_ON = {"arithmetic_choice": "arithmetic"}

# The paper's numbers (LLaDA-8B SFT): discriminative (Table 2) and GSM8K (Table 3).
PAPER_DISCRIMINATIVE = {"MMLU": {STANDARD: 0.659, MID: 0.669}, "GPQA": {STANDARD: 0.344, MID: 0.402}}
PAPER_GSM8K = {HIGH_NOISE: 0.785, "[0.3,1]": 0.774, STANDARD: 0.768, "[0.2,1]": 0.762, MID: 0.738}
# The ranking claim's predicted order, increasing (Page's L test): GSM8K's, worst window first.
PAPER_GSM8K_ORDER = tuple(sorted(PAPER_GSM8K, key=PAPER_GSM8K.get))

# Minimum effects (companion.verdicts), declared before any re-render: none; every claim of this notebook is
# directional. The paper's gaps are accuracy points of LLaDA-8B on MMLU, GPQA and GSM8K (+0.010, +0.058; +0.017,
# +0.030), benchmarks with their own chance levels and ceilings: an accuracy gap does not carry over to addition
# on a 0.35M-parameter character model, nor does a relative one (the same gap means one thing near chance and
# another near a ceiling). The ranking's effect is a rank correlation, and the paper gives an order, not a size.
MIN_EFFECT_PAIRWISE = None     # accuracy points, the pairwise window claims and both halves of the crossover
MIN_EFFECT_RANKING = None      # mean Spearman rho of a seed's ranking with GSM8K's (page_trend_test)

# Declared with the design, before its runs. Steps to threshold: the first logged SFT step at which a task's
# training-curve accuracy reaches its baseline + THRESHOLD_FRACTION x (1 - baseline), halfway from the trivial
# accuracy to perfect (comparison 0.75, addition about 0.5); a run that never does is censored at the budget.
# Two skills: the crossover reads a discriminative and a generative task; it is judged only where the two readouts
# do not move together across runs, |Pearson r| < TWO_SKILL_MAX_R of the two accuracies over every (window, seed)
# run (the old design's one skill scored twice gave r = 0.991 over 25 runs).
THRESHOLD_FRACTION = 0.5
TWO_SKILL_MAX_R = 0.8


@dataclass(frozen=True)
class TaskSpec:
    """One task's data and fixed layout ``[prompt (prompt_tokens) | answer (answer_tokens)]``."""
    train: int | None = 20_000          # SFT examples (None: all)
    eval: int | None = 500              # scored examples (None: all)
    prompt_tokens: int = 16             # prompts are left-padded / left-truncated to this many tokens
    answer_tokens: int = 6              # the answer + EOS padding
    batch_size: int | None = None       # rows per SFT step (None: the SFT batch size)


@dataclass(frozen=True)
class NextWordSpec(TaskSpec):
    """Next-word choice: train on the true next word after contexts from the train split, score on items from the
    test split (data.tasks.make_next_word_choice: the true word vs same-length distractors, chance 1 / choices)."""
    train: int | None = 20_000
    eval: int | None = 1_000
    prompt_tokens: int = 96
    answer_tokens: int = 8              # the word + EOS padding
    choices: int = 4
    chars: tuple[int, int] = (4, 9)     # letters in the answer word (and in every distractor)
    context_chars: int = 400            # characters of context before the word (then left-truncated in tokens)


@dataclass(frozen=True)
class SST2Spec(TaskSpec):
    """SST-2: train on a seeded subset of the train phrases, score on the dev sentences."""
    train: int | None = 20_000
    eval: int | None = None             # None: all 872 dev sentences
    prompt_tokens: int = 40             # left-padded / left-truncated (the question is at the end)
    answer_tokens: int = 4              # label + EOS padding
    labels: tuple[str, str] = SST2_LABELS   # answers for GLUE labels 0 / 1


@dataclass(frozen=True)
class ArithmeticSpec(TaskSpec):
    """Arithmetic: seeded disjoint train / test problems; arithmetic_choice scores the same test problems."""
    train: int | None = 20_000
    eval: int | None = 500
    prompt_tokens: int = 16             # must hold every prompt (an operand is never truncated)
    answer_tokens: int = 6              # digits + EOS padding
    digits: int = 3
    ops: tuple[str, ...] = ("+",)
    spaced: bool = True                 # digits as separate words (for BPE); a character tokenizer needs no spaces
    choices: int = 4                    # arithmetic_choice: the result and 3 one-digit variants (chance 1/4)


@dataclass(frozen=True)
class ComparisonSpec(TaskSpec):
    """Comparison (data.tasks.make_comparison): ``a ? b`` -> ``<`` / ``>``, both numbers of ``digits`` digits, labels
    balanced (chance and the best constant choice 1/2); a skill of its own with its own SFT data."""
    train: int | None = 20_000
    eval: int | None = 500
    prompt_tokens: int = 16             # must hold every prompt (a number is never truncated)
    answer_tokens: int = 4              # the symbol + EOS padding
    digits: int = 3
    spaced: bool = True                 # digits as separate words (for BPE); a character tokenizer needs no spaces
    one_digit_apart: bool = True        # the two numbers differ in one digit (find it, then compare it)


@dataclass(frozen=True)
class GSM8KSpec(TaskSpec):
    """GSM8K (paper profile): examples whose solution does not fit are dropped (the count is reported)."""
    train: int | None = None
    eval: int | None = None
    prompt_tokens: int = 128
    answer_tokens: int = 128


@dataclass(frozen=True)
class TaskSpecs(Mapping):
    """Task name -> its spec, for every task with data of its own (a frozen mapping: the config stays hashable;
    ``task_specs.arithmetic.digits`` is an override's dotted path). A task in ``SCORED_ON`` has no spec of its own:
    ``Config.spec`` gives the one it is scored on."""
    next_word: NextWordSpec = NextWordSpec()
    sst2: SST2Spec = SST2Spec()
    arithmetic: ArithmeticSpec = ArithmeticSpec()
    gsm8k: GSM8KSpec = GSM8KSpec()
    comparison: ComparisonSpec = ComparisonSpec()

    def __getitem__(self, task: str) -> TaskSpec:
        if task not in self:
            raise KeyError(f"no task spec {task!r}: the specs are {', '.join(self)}")
        return getattr(self, task)

    def __contains__(self, task) -> bool:
        return task in (f.name for f in fields(self))

    def __iter__(self):
        return (f.name for f in fields(self))

    def __len__(self) -> int:
        return len(fields(self))


@dataclass(frozen=True)
class ScoringSpec:
    """Discriminative tasks: Monte Carlo ELBO of each candidate answer (sft.answer_elbo_mc) on common draws;
    generative tasks: generation, one token per round by default (K = answer length)."""
    score_draws: int = 8                # draws per example for the final scores
    curve_draws: int = 2                # ... and for the training-curve scores
    score_seed: int = 4321              # the masks' own generator (same for every candidate, run and window)
    curve_eval: int = 200               # examples per task scored at every evaluation (training curves)
    eval_batch_size: int = 128
    gen_steps: int | None = None
    gen_order: str = "confidence"
    temperature: float = 0.0
    # generative tasks on the training curves: every evaluation (1), every n-th, or only the last one (0). Generation
    # costs answer-length forward passes per example: paper's GSM8K curves would regenerate 500 answers of 128 tokens
    # at every evaluation, where the base model scores about 0.
    curve_generate_every: int = 1

    def __post_init__(self) -> None:
        if self.curve_generate_every < 0:
            raise ValueError(f"curve_generate_every={self.curve_generate_every}: use 1 (every evaluation), n (every "
                             "n-th) or 0 (the last evaluation only)")


@dataclass(frozen=True)
class SFTTrainSpec:
    """SFT optimisation (the ``TrainConfig`` fields of the same names); one batch per task per step."""
    batch_size: int = 32
    steps: int = 300
    lr: float = 1e-3
    warmup_steps: int = 30
    weight_decay: float = 0.1
    eval_every: int = 100
    stratified: bool = False            # i.i.d. t per sequence, as LLaDA's SFT draws it


@dataclass(frozen=True)
class Config:
    # the base model: notebook 03's run of this LM spec (window, seed), from the run cache (trained there through
    # the same code, mdlm_core.lm, if missing); there is no random-initialisation path
    base: LMSpec = LM_QUICK
    base_window: str = UNIFORM
    base_seed: int = 0
    # the tasks run (the crossover pairs the first discriminative and the first generative task), and every task's spec
    tasks: tuple[str, ...] = ("arithmetic_choice", "arithmetic")
    task_specs: TaskSpecs = TaskSpecs()
    scoring: ScoringSpec = ScoringSpec()
    train: SFTTrainSpec = SFTTrainSpec()
    data_seed: int = 0                  # the task examples drawn / subsampled
    # the experiment
    windows: tuple[str, ...] = SFT_WINDOWS      # MaskRatio labels
    seeds: tuple[int, ...] = (0, 1, 2)          # every window is trained with these seeds
    extra_seeds: tuple[int, ...] = ()           # ... and the crossover's windows also with these (its power; a seed
                                                # already in seeds is not run twice)
    extra_seed_windows: tuple[str, ...] = (STANDARD, MID, HIGH_NOISE)
    device: str = "auto"
    workers: int | None = None                  # run_grid processes, 1 torch thread each (None: one per core; 1 on a GPU)

    def __post_init__(self) -> None:
        for task in self.tasks:
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
            if task in SCORED_ON and SCORED_ON[task] not in self.tasks:
                raise ValueError(f"{task} is scored on the SFT of {SCORED_ON[task]!r}, which is not in tasks={self.tasks}: "
                                 f"add {SCORED_ON[task]!r}")
        for label in (*self.windows, *self.extra_seed_windows, self.base_window):
            MaskRatio.parse(label)
        if not self.seeds or not self.windows or not self.tasks:
            raise ValueError("name at least one task, window and seed")
        if self.scoring.score_draws < 1 or self.scoring.curve_draws < 1 or (self.workers is not None and self.workers < 1):
            raise ValueError("score_draws, curve_draws and workers must be >= 1 (workers=None: automatic)")
        block = self.base.data.seq_len
        for task in self.tasks:
            if self.sequence_length(task) > block:
                raise ValueError(f"{task}: prompt + answer = {self.sequence_length(task)} tokens exceed the base "
                                 f"model's block size {block}; shorten task_specs.{SCORED_ON.get(task, task)}."
                                 "prompt_tokens / answer_tokens")

    @property
    def jobs(self) -> list[tuple[str, int]]:
        """(window, seed) of every run, seeds outermost so the first pass covers every window; the extra seeds
        train the extra-seed windows that are run."""
        jobs = [(label, seed) for seed in self.seeds for label in self.windows]
        return jobs + [(label, seed) for seed in self.extra_seeds if seed not in self.seeds
                       for label in self.extra_seed_windows if label in self.windows]

    def spec(self, task: str) -> TaskSpec:
        """The spec a task is laid out and scored by (a task in ``SCORED_ON``: the one it is scored on)."""
        return self.task_specs[SCORED_ON.get(task, task)]

    def mask_ratio(self, label: str) -> MaskRatio:
        return MaskRatio.parse(label, stratified=self.train.stratified)

    def sequence_length(self, task: str) -> int:
        return self.spec(task).prompt_tokens + self.spec(task).answer_tokens

    def task_batch_size(self, task: str) -> int:
        return self.spec(task).batch_size or self.train.batch_size

    def train_config(self, seed: int) -> TrainConfig:
        return derive_config(TrainConfig, self.train, seed=seed)


PROFILES = {
    # seconds: notebook 03's smoke model (BPE, 32 tokens), tiny task sets (every task kind), every window, two seeds
    "smoke": Config(base=LM_SMOKE, tasks=("comparison", "next_word", "sst2", "arithmetic"),
                    task_specs=TaskSpecs(
                        next_word=NextWordSpec(train=256, eval=48, chars=(4, 6), context_chars=80, prompt_tokens=20,
                                               answer_tokens=8),
                        sst2=SST2Spec(train=256, eval=64, prompt_tokens=22, answer_tokens=8),
                        arithmetic=ArithmeticSpec(digits=2, train=256, eval=32, prompt_tokens=14, answer_tokens=8),
                        comparison=ComparisonSpec(digits=2, train=256, eval=32, prompt_tokens=14, answer_tokens=4)),
                    scoring=ScoringSpec(curve_eval=16, score_draws=2, curve_draws=1),
                    train=SFTTrainSpec(batch_size=8, steps=6, warmup_steps=1, eval_every=3), seeds=(0, 1),
                    extra_seeds=(2,), extra_seed_windows=(STANDARD,), workers=1),
    # 2 CPU cores: notebook 03's quick model (character-level WikiText-2, rotary, 0.35M parameters, its uniform
    # run, seed 0). Counted in characters, one SFT mix of two skills, each with its own SFT data and batch, laid out
    # to one length (12 characters: one forward pass per step): comparison of 4-digit numbers one digit apart,
    # "4715?4785" -> " <" (discriminative, scored by the two candidates' MC ELBO; in a probe, any two 2-digit numbers
    # and 3-digit numbers one digit apart were learned to 0.97-0.99 within 300-1,000 steps, at the ceiling) and
    # 2-digit addition "47+85=" -> " 132" (generative, exact match of the generated sum), batches of 48 + 16 rows
    # (a run's cost grows with the rows of a step; 64 + 32 would not fit 30 runs in the budget); every window with
    # seeds 0-2 (the ranking), the crossover's three windows with 5 more (8 seeds: addition is bimodal across seeds
    # at a short budget) at an
    # equal budget, two 1-thread workers. Left out here, all measured for this model: SST-2 (stop 12: 0.507 after
    # SFT vs majority 0.509), next-word choice (stop 13: base 0.248, SFT 0.267-0.283, chance 0.25) and addition as
    # multiple choice (stop 14: the same skill as generated addition, r = 0.991 across runs); the layouts of the
    # first two are the character counts they were measured with
    "quick": Config(base=LM_QUICK, tasks=("comparison", "arithmetic"),
                    task_specs=TaskSpecs(
                        next_word=NextWordSpec(context_chars=53, prompt_tokens=53, answer_tokens=11),
                        sst2=SST2Spec(prompt_tokens=54, answer_tokens=10),
                        arithmetic=ArithmeticSpec(digits=2, spaced=False, train=2000, eval=500, prompt_tokens=7,
                                                  answer_tokens=5, batch_size=48),
                        comparison=ComparisonSpec(digits=4, spaced=False, train=2000, eval=500, prompt_tokens=9,
                                                  answer_tokens=3, batch_size=16)),
                    scoring=ScoringSpec(curve_eval=128, score_draws=4, curve_draws=2),
                    train=SFTTrainSpec(batch_size=16, steps=1600, lr=3e-3, warmup_steps=100, eval_every=100),
                    seeds=(0, 1, 2), extra_seeds=(3, 4, 5, 6, 7), workers=2),
    # a GPU: notebook 03's paper model (~50M parameters), GSM8K added, longer SFT
    "paper": Config(base=LM_PAPER,
                    tasks=("comparison", "arithmetic_choice", "next_word", "sst2", "arithmetic", "gsm8k"),
                    task_specs=TaskSpecs(
                        next_word=NextWordSpec(train=100_000, eval=2_000, context_chars=600),
                        sst2=SST2Spec(train=None, prompt_tokens=96, answer_tokens=4),
                        arithmetic=ArithmeticSpec(digits=4, ops=("+", "-"), prompt_tokens=20, train=100_000,
                                                  eval=1000),
                        comparison=ComparisonSpec(digits=4, prompt_tokens=20, train=100_000, eval=1000)),
                    scoring=ScoringSpec(curve_eval=500, score_draws=32, curve_draws=4, curve_generate_every=0),
                    train=SFTTrainSpec(batch_size=64, steps=5000, lr=2e-4, warmup_steps=200, eval_every=500),
                    seeds=(0, 1, 2), extra_seeds=(3, 4, 5, 6, 7)),
}

# The paper profile's CPU dry run (tests/test_paper_profile.py): ``apply_overrides(PROFILES['paper'], **DRY_RUN)``
# cuts steps, seeds, evaluation and data-item counts; every model and sequence size stays the paper's.
DRY_RUN = {
    "base.train.steps": 2, "base.train.warmup_steps": 1, "base.train.eval_every": 1, "base.train.batch_size": 2,
    "base.train.valid_seqs": 2, "base.train.valid_draws": 1, "base.eval.test_seqs": 4, "base.eval.test_draws": 10,
    "base.eval.eval_batch_size": 4, "base.data.eval_chars": 100_000,
    "base.data.train_chars": 2_000_000,   # still enough text for the 8192-token BPE (the test checks the vocabulary)
    "train.steps": 2, "train.warmup_steps": 1, "train.eval_every": 1, "train.batch_size": 2,
    "task_specs.next_word.train": 8, "task_specs.next_word.eval": 4, "task_specs.sst2.train": 8,
    "task_specs.sst2.eval": 4, "task_specs.arithmetic.train": 8, "task_specs.arithmetic.eval": 4,
    "task_specs.gsm8k.train": 8, "task_specs.gsm8k.eval": 2, "task_specs.comparison.train": 8,
    "task_specs.comparison.eval": 4, "scoring.score_draws": 2, "scoring.curve_draws": 1,
    "scoring.curve_eval": 2, "scoring.eval_batch_size": 4, "scoring.gen_steps": 4,
    "windows": ("[0,1]", "[0.5,1]"), "seeds": (0,), "extra_seeds": ()}


# -- data -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskData:
    """One task tokenized into its fixed layout ``[prompt (P) | answer (A)]``."""
    name: str
    train_tokens: torch.Tensor        # long [N, P + A]
    eval_tokens: torch.Tensor         # long [M, P + A]
    eval_targets: list[str]           # what an answer is scored against
    prompt_tokens: int                # P
    dropped: dict = field(default_factory=dict)   # split -> examples dropped because an answer did not fit
    candidates: torch.Tensor | None = None        # discriminative: long [M, C, A] candidate answer regions per example
    candidate_names: list[tuple[str, ...]] = field(default_factory=list)   # ... and their texts
    baseline: float = 0.0     # the gate's trivial accuracy: best constant choice (discriminative), commonest answer

    @property
    def discriminative(self) -> bool:
        return self.candidates is not None

    @property
    def chance(self) -> float | None:
        """A uniformly random choice's accuracy (discriminative tasks)."""
        return None if self.candidates is None else 1.0 / self.candidates.shape[1]

    @property
    def answer_tokens(self) -> int:
        return self.train_tokens.shape[1] - self.prompt_tokens


def eos_id(tokenizer) -> int:
    """``<pad>`` doubles as EOS: pretraining text never contains it."""
    return int(tokenizer.token_to_id(PAD_TOKEN))


def task_examples(cfg: Config, task: str, data_dir=None) -> tuple[list[SFTExample], list[SFTExample]]:
    """(train, eval) examples of a task, from ``data_dir`` or ``$MDLM_DATA_DIR`` (never downloaded). Next-word
    items come from WikiText-2's train split (SFT) and its test split (scoring), which pretraining never saw."""
    spec, seed = cfg.spec(task), cfg.data_seed
    if task == "next_word":
        corpus = load_wikitext2(data_dir)
        make = functools.partial(make_next_word_choice, context_chars=spec.context_chars, choices=spec.choices,
                                 word_chars=spec.chars, seed=seed)
        return make(corpus.text("train"), spec.train), make(corpus.text("test"), spec.eval)
    if task == "sst2":
        return (load_sst2("train", data_dir, limit=spec.train, seed=seed, labels=spec.labels),
                load_sst2("dev", data_dir, limit=spec.eval, seed=seed, labels=spec.labels))
    if task in ("arithmetic", "arithmetic_choice"):
        train, test = make_arithmetic(spec.train, spec.eval, spec.digits, spec.ops, seed=seed,
                                      spaced_digits=spec.spaced)
        if task == "arithmetic":
            return train, test
        return [], arithmetic_choices(test, spec.choices, seed, spec.spaced)
    if task == "comparison":
        return make_comparison(spec.train, spec.eval, spec.digits, seed=seed, spaced_digits=spec.spaced,
                               one_digit_apart=spec.one_digit_apart)
    return (load_gsm8k("train", data_dir, limit=spec.train, seed=seed),
            load_gsm8k("test", data_dir, limit=spec.eval, seed=seed))


def _encode(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def tokenize_task(cfg: Config, task: str, tokenizer, data_dir=None) -> TaskData:
    """Tokenize a task into its layout; prompts are left-padded with EOS to P tokens (text prompts that are
    longer are left-truncated, keeping the question at their end; an arithmetic prompt never is). An example
    whose answer (or, scoring a multiple choice, any candidate) leaves no room for an EOS is dropped and counted.
    Candidates are laid out like answers: a leading space, then EOS padding to A tokens."""
    eos = eos_id(tokenizer)
    prompt_len, answer_len = cfg.spec(task).prompt_tokens, cfg.spec(task).answer_tokens
    where = f"task_specs.{SCORED_ON.get(task, task)}"   # the spec to change when an example does not fit
    packed, dropped = {}, {}
    train_examples, eval_examples = task_examples(cfg, task, data_dir)
    eval_choices = ([_encode(tokenizer, [" " + c for c in ex.choices]) for ex in eval_examples]
                    if task in DISCRIMINATIVE else None)
    for split, examples in zip(("train", "eval"), (train_examples, eval_examples)):
        if split == "train" and not examples:   # no SFT data of its own (SCORED_ON): trained by another task's
            packed[split], dropped[split] = torch.empty(0, prompt_len + answer_len, dtype=torch.long), 0
            continue
        # answers are encoded with a leading space: the prompt ends a word, the answer starts a new one
        answers = _encode(tokenizer, [" " + ex.answer for ex in examples])
        fits = [len(a) < answer_len for a in answers]   # room for >= 1 EOS
        if split == "eval" and eval_choices is not None:
            fits = [ok and all(len(c) < answer_len for c in cs) for ok, cs in zip(fits, eval_choices)]
        keep = [i for i, ok in enumerate(fits) if ok]
        dropped[split] = len(examples) - len(keep)
        if not keep:
            raise ValueError(f"{task}: no {split} answer fits in {answer_len - 1} tokens; raise {where}.answer_tokens")
        prompts = _encode(tokenizer, [examples[i].prompt for i in keep])
        longest = max(len(p) for p in prompts)
        if SCORED_ON.get(task, task) in ("arithmetic", "comparison") and longest > prompt_len:   # truncating
            # would drop digits of a number
            raise ValueError(f"{task}: a prompt has {longest} tokens > {where}.prompt_tokens={prompt_len}; "
                             f"raise {where}.prompt_tokens")
        tokens, _ = pack_sft_examples(prompts, [answers[i] for i in keep], prompt_len + answer_len, eos,
                                      prompt_length=prompt_len, pad_id=eos)
        packed[split] = tokens
    targets = [eval_examples[i].target for i in keep]
    candidates, names = None, []
    if task in DISCRIMINATIVE:
        names = [eval_examples[i].choices for i in keep]
        if len({len(n) for n in names}) != 1:
            raise ValueError(f"{task}: every example needs the same number of choices")
        candidates = torch.stack([pack_sft_examples([[]] * len(names[0]), eval_choices[i], answer_len, eos)[0]
                                  for i in keep])   # each candidate laid out as an answer: ids, then EOS padding
        # the best constant choice: the majority class where the choices come in a fixed order (SST-2), about
        # chance where their order is shuffled (next-word)
        baseline = max(float(np.mean([t == n[c] for t, n in zip(targets, names)])) for c in range(len(names[0])))
    else:
        baseline = most_common_answer_accuracy([ex.target for ex in train_examples], targets)
    return TaskData(task, packed["train"], packed["eval"], targets, prompt_len, dropped, candidates, names, baseline)


@dataclass(frozen=True)
class SFTData:
    lm: LMData
    tasks: dict[str, TaskData]

    @property
    def eos_id(self) -> int:
        return eos_id(self.lm.tokenizer)

    @property
    def fingerprint(self) -> dict:
        """What runs and scores depend on besides the config: the corpus, and every task's token tensors."""
        digest = lambda t: None if t is None else hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]  # noqa: E731
        return {"lm": self.lm.fingerprint,
                "tasks": {name: {"train": digest(t.train_tokens), "eval": digest(t.eval_tokens),
                                 "candidates": digest(t.candidates)} for name, t in self.tasks.items()}}


def prepare_sft_data(cfg: Config, data_dir: str | Path | None = None) -> SFTData:
    lm = prepare_lm_data(cfg.base, data_dir)
    return SFTData(lm, {task: tokenize_task(cfg, task, lm.tokenizer, data_dir) for task in cfg.tasks})


# -- scoring ----------------------------------------------------------------------------------------
@torch.no_grad()
def candidate_log_likelihoods(model: DiffusionTransformer, prompts: torch.Tensor, candidates: torch.Tensor,
                              draws: int, seed: int, batch_size: int = 128) -> torch.Tensor:
    """float64 [N, C]: the Monte Carlo ELBO of each candidate answer region given each prompt
    (``sft.answer_elbo_mc``, LLaDA's likelihood evaluation); ``candidates`` is [N, C, A] (per example) or
    [C, A] (the same for every prompt). The masks are drawn once from ``seed``, so every candidate, and every
    model scoring the same prompts, sees the same draws (common random numbers)."""
    if candidates.dim() == 2:
        candidates = candidates.expand(prompts.shape[0], *candidates.shape)
    if candidates.dim() != 3 or candidates.shape[0] != prompts.shape[0]:
        raise ValueError(f"candidates {tuple(candidates.shape)} for prompts {tuple(prompts.shape)}: need [N, C, A] or [C, A]")
    masks = answer_masks(prompts.shape[0], candidates.shape[2], draws, torch.Generator().manual_seed(seed))
    return torch.stack([answer_elbo_mc(model, prompts, candidates[:, c], masks, model.mask_id, batch_size)
                        for c in range(candidates.shape[1])], dim=1)


@torch.no_grad()
def generate_answers(model: DiffusionTransformer, prompts: torch.Tensor, answer_len: int, eos: int, tokenizer,
                     cfg: ScoringSpec, seed: int = 0) -> list[str]:
    """Decoded answers (text before the first EOS) generated after ``prompts`` [N, P]."""
    device = next(model.parameters()).device
    sizes = size_schedule("equal", answer_len, cfg.gen_steps or answer_len)
    generator = torch.Generator(device=device).manual_seed(seed)
    texts = []
    for start in range(0, prompts.shape[0], cfg.eval_batch_size):
        rows = prompts[start:start + cfg.eval_batch_size].to(device)
        out = generate(model, rows, answer_len, sizes, order=cfg.gen_order, temperature=cfg.temperature,
                       generator=generator)
        texts += [decode_stream(tokenizer, ids) for ids in strip_after_eos(out[:, -answer_len:].cpu(), eos)]
    return texts


def score_task(model: DiffusionTransformer, task: TaskData, cfg: ScoringSpec, tokenizer, eos: int,
               limit: int | None = None, draws: int | None = None) -> dict:
    """Accuracy of the model's answers on (the first ``limit`` of) the task's eval examples: the candidate with
    the best MC ELBO (``draws`` per example, default ``cfg.score_draws``) for a discriminative task, exact match
    of a generated answer for a generative one. ``cfg`` is the config's ``scoring`` part."""
    tokens = task.eval_tokens[:limit]
    prompts, targets = tokens[:, :task.prompt_tokens], task.eval_targets[:len(tokens)]
    if task.discriminative:
        scores = candidate_log_likelihoods(model, prompts, task.candidates[:len(tokens)], draws or cfg.score_draws,
                                           cfg.score_seed, cfg.eval_batch_size)
        answers = [names[c] for names, c in zip(task.candidate_names, scores.argmax(-1).tolist())]
    else:
        answers = generate_answers(model, prompts, task.answer_tokens, eos, tokenizer, cfg)
        if task.name == "gsm8k":   # scored on the number after '####' in the generated solution
            answers = [gsm8k_final_answer(a) or "" for a in answers]
    correct = np.array([exact_match(a, t) for a, t in zip(answers, targets)], dtype=float)
    return {"accuracy": float(correct.mean()), "n": len(correct), "correct": correct.astype(int).tolist(),
            "examples": [{"answer": a, "target": t} for a, t in list(zip(answers, targets))[:5]]}


# -- training ---------------------------------------------------------------------------------------
def make_sft_step(data: SFTData, cfg: Config, mask_ratio: MaskRatio, device: torch.device, bf16: bool | None = None):
    """step_fn for ``train``: one batch per task with SFT data (a task in ``SCORED_ON`` has none), the mean of
    those tasks' SFT losses (each the mean of its rows' ``sft_row_losses``). Tasks whose layouts have the same
    sequence length share one forward pass (their rows concatenated, each with its own prompt length: the same
    losses at a fraction of the per-pass overhead); a task alone at its length draws its rows and masks exactly as
    a pass of its own. The generator's draws per step (batch rows, t, mask uniforms) do not depend on the window,
    so a seed gives every window the same data order and the same mask uniforms (common random numbers across
    windows). bf16 autocast on CUDA only, unless ``bf16`` says otherwise."""
    trained = {name: task for name, task in data.tasks.items() if len(task.train_tokens)}
    by_length: dict[int, list[str]] = {}
    for name, task in trained.items():
        by_length.setdefault(task.train_tokens.shape[1], []).append(name)

    def step(model: DiffusionTransformer, step: int, generator: torch.Generator):
        losses = {}
        for names in by_length.values():
            rows, prompt_lengths = [], []
            for name in names:
                task, batch = trained[name], cfg.task_batch_size(name)
                rows.append(task.train_tokens[torch.randint(0, task.train_tokens.shape[0], (batch,),
                                                            generator=generator)])
                prompt_lengths.append(torch.full((batch,), task.prompt_tokens, dtype=torch.long))
            with bf16_autocast(device, bf16):
                per_row, _ = sft_row_losses(model, torch.cat(rows).to(device), torch.cat(prompt_lengths).to(device),
                                            mask_ratio, model.mask_id, generator)
            for name, task_rows in zip(names, per_row.split([len(r) for r in rows])):
                losses[name] = task_rows.mean()
        loss = torch.stack([losses[name] for name in trained]).mean()
        return loss, {f"loss_{name}": losses[name].item() for name in trained}

    return step


@dataclass(frozen=True)
class BaseModel:
    """The weights SFT starts from: notebook 03's pretrained run, named by its run directory."""
    state: dict = field(repr=False)
    name: str          # the run directory's name: window, seed and cache-key hash
    run_dir: Path

    def load(self, cfg: Config, vocab_size: int, device: torch.device) -> DiffusionTransformer:
        model = DiffusionTransformer(cfg.base.model_config(vocab_size)).to(device)
        model.load_state_dict(self.state)
        return model


def base_model(cfg: Config, data: SFTData, progress: bool = True) -> BaseModel:
    """Notebook 03's run of the LM spec ``cfg.base`` (window ``cfg.base_window``, seed ``cfg.base_seed``), loaded
    from the run cache (trained there through the same code, ``lm.train_lm_model``, if missing): an equal spec
    is the same run as notebook 03's."""
    model, result = train_lm_model(cfg.base, data.lm, cfg.base_window, cfg.base_seed, progress=progress)
    return BaseModel({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, result.run_dir.name,
                     result.run_dir)


def scoring_key(cfg: Config, data: SFTData) -> dict:
    """What a model's final scores depend on besides its weights."""
    s = cfg.scoring
    return {"tasks": list(data.tasks), "draws": s.score_draws, "seed": s.score_seed, "data": data.fingerprint,
            "generation": [s.gen_steps, s.gen_order, s.temperature]}


def score_base_model(cfg: Config, data: SFTData, base: BaseModel) -> dict:
    """The base model's scores on every task with the SFT runs' scorers (cached beside the base run): the level
    SFT starts from."""
    model = base.load(cfg, data.lm.vocab_size, resolve_device(cfg.device)).eval()
    return cached_evaluation(base.run_dir, "sft-base-scores", scoring_key(cfg, data),
                             lambda: {name: score_task(model, task, cfg.scoring, data.lm.tokenizer, data.eos_id)
                                      for name, task in data.tasks.items()})


LATER_SPECS = {"comparison"}    # task specs added after the first cached runs (key_fields)


def key_fields(cfg: Config) -> dict:
    """The config part of an SFT run's cache key: every setting but the other windows and seeds, the device and
    the workers, under the flat names the config had before it was nested (``arithmetic_digits``,
    ``score_draws``, ``pretrain_profile``, ...), so that the run cache keeps its keys. The base model itself is
    keyed by its run name and model config in ``run_key``; ``pretrain_profile`` names the spec it came from."""
    out = {"pretrain_profile": spec_name(cfg.base), "pretrain_window": cfg.base_window, "pretrain_seed": cfg.base_seed,
           "tasks": cfg.tasks, "data_seed": cfg.data_seed, **vars(cfg.scoring), **vars(cfg.train)}
    if cfg.scoring.curve_generate_every == 1:   # the default, which runs cached before the field existed had
        del out["curve_generate_every"]
    for task, spec in cfg.task_specs.items():
        if task in LATER_SPECS and task not in cfg.tasks:   # added after runs were cached: keyed only where it is run
            continue
        for name, value in vars(spec).items():
            if name != "batch_size" or task == "arithmetic":   # the flat config had a batch size for arithmetic only
                out[f"{task}_{name}"] = value
    return out


def run_key(cfg: Config, data: SFTData, label: str, seed: int, base_name: str) -> dict:
    """What one SFT run depends on (its cache key): everything but the other windows and seeds."""
    return {"cfg": key_fields(cfg), "pretrain": cfg.base.model_config(data.lm.vocab_size),
            "mask_ratio": cfg.mask_ratio(label), "seed": seed, "base": base_name, "data": data.fingerprint}


@dataclass
class SFTRun:
    window: str
    seed: int
    metrics: pd.DataFrame        # training curves: step, train_loss, train_loss_<task>, <task>_acc
    scores: dict                 # task -> score_task(...) on the full eval set
    run_dir: Path
    seconds: float               # wall clock of the session that finished training
    base: str                    # the base model it was fine-tuned from


def train_sft_run(cfg: Config, data: SFTData, label: str, seed: int, base: BaseModel,
                  progress: bool = True) -> SFTRun:
    """Fine-tune the base model on ``label``'s window with ``seed`` (cached, resumable), then score every task."""
    device = resolve_device(cfg.device)
    model = base.load(cfg, data.lm.vocab_size, device)
    tokenizer, eos = data.lm.tokenizer, data.eos_id

    every, evaluation = cfg.scoring.curve_generate_every, cfg.train.eval_every

    def scored(task: TaskData, step: int) -> bool:   # generative curves only where curve_generate_every asks
        if task.discriminative or step == cfg.train.steps:
            return True
        return every > 0 and (step // evaluation) % every == 0

    def eval_fn(m: DiffusionTransformer, step: int) -> dict:
        return {f"{name}_acc": score_task(m, task, cfg.scoring, tokenizer, eos, limit=cfg.scoring.curve_eval,
                                          draws=cfg.scoring.curve_draws)["accuracy"] if scored(task, step)
                else float("nan") for name, task in data.tasks.items()}

    result = train_cached(model, make_sft_step(data, cfg, cfg.mask_ratio(label), device), cfg.train_config(seed),
                          name=f"sft-{label}-s{seed}", key=run_key(cfg, data, label, seed, base.name), eval_fn=eval_fn,
                          progress=progress)
    model.eval()
    scores = cached_evaluation(result.run_dir, "scores", scoring_key(cfg, data),
                               lambda: {name: score_task(model, task, cfg.scoring, tokenizer, eos)
                                        for name, task in data.tasks.items()})
    return SFTRun(label, seed, result.metrics, scores, result.run_dir, result.seconds, base.name)


# One (data, base model) per configuration and process: the grid's worker processes build theirs once from
# the config (a cache hit for the base model) instead of receiving the packed corpus through a pipe.
_PREPARED: dict[tuple, tuple[SFTData, BaseModel]] = {}


def _prepared(cfg: Config, data_dir, progress: bool) -> tuple[SFTData, BaseModel]:
    key = (repr(cfg), str(data_dir))
    if key not in _PREPARED:
        data = prepare_sft_data(cfg, data_dir)
        _PREPARED[key] = (data, base_model(cfg, data, progress=progress))
    return _PREPARED[key]


def sft_job(cfg: Config, data_dir, progress: bool, job: tuple[str, int]) -> SFTRun:
    """One grid job (window, seed); module-level so that ``run_grid`` can send it to a worker process."""
    data, base = _prepared(cfg, data_dir, progress)
    return train_sft_run(cfg, data, *job, base, progress=progress)


@dataclass
class Results:
    runs: pd.DataFrame       # one row per (window, seed, task): accuracy, n, baseline, base model and its accuracy,
                             # threshold, steps_to_threshold, reached (False: censored at the budget)
    metrics: pd.DataFrame    # training curves of every run
    correct: dict            # (window, seed, task) -> per-example 0/1 (same eval examples for every run)
    examples: pd.DataFrame   # a few generated / chosen answers per run and task
    timing: pd.DataFrame     # window, seed, train_seconds (wall clock: kept out of the result tables)
    cfg: Config              # what was run (claims and figures read its tasks, windows, seeds, steps)
    base_scores: dict = field(default_factory=dict)   # task -> the base model's score_task(...), before any SFT
    layout: pd.DataFrame = field(default_factory=pd.DataFrame)   # per task: sizes, layout, discriminative, chance, baseline
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)  # summarize_sft(runs)
    samples: str = ""        # one decoded training row (and scored item) per task


def layout_table(data: SFTData) -> pd.DataFrame:
    """Per task: train / eval sizes, the layout, dropped examples, kind, chance and the gate's baseline."""
    return pd.DataFrame([dict(task=name, train=len(t.train_tokens), eval=len(t.eval_tokens),
                              prompt_tokens=t.prompt_tokens, answer_tokens=t.answer_tokens, dropped=t.dropped,
                              discriminative=t.discriminative, chance=t.chance, baseline=t.baseline)
                         for name, t in data.tasks.items()])


def describe_samples(data: SFTData) -> str:
    """One training row per task, decoded (and, for multiple choice, a scored item with its candidates)."""
    lines = []
    for name, task in data.tasks.items():
        if len(task.train_tokens):
            lines.append(f"{name}: {decode_stream(data.lm.tokenizer, task.train_tokens[0])!r}")
        else:
            lines.append(f"{name}: no SFT data of its own (trained by {SCORED_ON[name]!r}'s)")
        if task.discriminative:
            prompt = decode_stream(data.lm.tokenizer, task.eval_tokens[0, :task.prompt_tokens])
            lines.append(f"    scored item: {prompt!r} -> one of {task.candidate_names[0]} "
                         f"(true: {task.eval_targets[0]!r})")
    return "\n".join(lines)


def run(cfg: Config, out, *, data_dir=None, progress: bool = True) -> Results:
    """Notebook 04: the tasks' data, the base model (from the run cache), its scores, every (window, seed) SFT
    run (seeds outermost so the first pass covers every window; ``cfg.workers`` processes train in parallel), and
    the tables (``04_sft_data``, ``04_sft_runs``, ``04_sft_summary``, ``04_sft_training_curves``, ``04_timing``)."""
    data = prepare_sft_data(cfg, data_dir)
    layout = layout_table(data)
    out.table(layout, "04_sft_data")
    base = base_model(cfg, data, progress=progress)
    _PREPARED[(repr(cfg), str(data_dir))] = (data, base)
    base_scores = score_base_model(cfg, data, base)
    jobs = cfg.jobs
    sft_runs = run_grid(jobs, functools.partial(sft_job, cfg, data_dir, progress), desc="SFT runs", progress=progress,
                        workers=grid_workers(cfg.workers, len(jobs), resolve_device(cfg.device)))
    rows, correct, examples = [], {}, []
    for r in sft_runs:
        ratio = MaskRatio.parse(r.window)
        for task, score in r.scores.items():
            rows.append({"window": r.window, "low": ratio.low, "high": ratio.high, "seed": r.seed, "task": task,
                         "discriminative": task in DISCRIMINATIVE, "accuracy": score["accuracy"], "n": score["n"],
                         "baseline": data.tasks[task].baseline, "chance": data.tasks[task].chance,
                         "base_model": r.base, "base_accuracy": base_scores[task]["accuracy"]})
            correct[(r.window, r.seed, task)] = np.asarray(score["correct"])
            examples += [{"window": r.window, "seed": r.seed, "task": task, **ex} for ex in score["examples"]]
    runs = pd.DataFrame(rows)
    metrics = pd.concat([r.metrics.assign(window=r.window, seed=r.seed) for r in sft_runs], ignore_index=True)
    runs = runs.merge(run_steps_to_threshold(metrics, data, cfg.train.steps), on=["window", "seed", "task"],
                      how="left", validate="one_to_one")
    timing = pd.DataFrame([{"window": r.window, "seed": r.seed, "train_seconds": r.seconds} for r in sft_runs])
    summary = summarize_sft(runs)
    out.table(runs, "04_sft_runs")
    out.table(summary, "04_sft_summary")
    out.table(metrics, "04_sft_training_curves")
    out.table(timing, "04_timing")
    return Results(runs, metrics, correct, pd.DataFrame(examples), timing, cfg, base_scores, layout, summary,
                   describe_samples(data))


def run_steps_to_threshold(metrics: pd.DataFrame, data: SFTData, budget: int) -> pd.DataFrame:
    """``steps_to_threshold`` of every (window, seed, task), each task at its declared threshold
    (``task_threshold`` of its baseline)."""
    return pd.concat([steps_to_threshold(metrics, name, task_threshold(task.baseline), budget)
                      for name, task in data.tasks.items()], ignore_index=True)


def answers_shown(results: Results, per_group: int = 3) -> pd.DataFrame:
    """A few answers per task from the first seed of the first and the last window (standard, high-noise)."""
    cfg, ex = results.cfg, results.examples
    shown = ex[(ex.seed == cfg.seeds[0]) & ex.window.isin([cfg.windows[0], cfg.windows[-1]])]
    return shown.groupby(["task", "window"]).head(per_group)


# -- summaries and claims ---------------------------------------------------------------------------------
def summarize_sft(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (task, window): mean accuracy over seeds, seed s.d., and the binomial s.e. of one run's accuracy; where
    the runs have steps to threshold, how many seeds reached it and their median steps (NaN: none did)."""
    groups = runs.groupby(["task", "window"], sort=False)
    out = (groups.agg(low=("low", "first"), high=("high", "first"), n_seeds=("seed", "nunique"),
                      accuracy=("accuracy", "mean"), seed_sd=("accuracy", "std"), n=("n", "first"))
           .reset_index())
    out["binomial_se"] = np.sqrt(out.accuracy * (1 - out.accuracy) / out.n)
    if {"steps_to_threshold", "reached"} <= set(runs):
        reached = runs[runs.reached.astype(bool)].groupby(["task", "window"]).steps_to_threshold
        out = out.merge(reached.size().rename("reached_threshold").reset_index(), how="left", on=["task", "window"])
        out = out.merge(reached.median().rename("median_steps_reached").reset_index(), how="left",
                        on=["task", "window"])
        out["reached_threshold"] = out.reached_threshold.fillna(0).astype(int)
    return out


def window_difference(runs: pd.DataFrame, task: str, a: str, b: str,
                      correct: dict | None = None) -> tuple[np.ndarray, float]:
    """Accuracy of window a minus window b on ``task``, paired by seed: (per-seed differences, evaluation s.e.).

    The evaluation s.e. is that of the seed-averaged per-example difference over the eval examples (the finite
    test set), from the per-example 0/1 scores ``correct`` ((window, seed, task) -> array). Without them it is
    the unpaired binomial s.e. of one difference, sqrt(p_a (1 - p_a) / n + p_b (1 - p_b) / n), which the paired
    one never exceeds by much. ``verdicts.paired_difference_test`` pools it with the seed s.e.
    """
    rows = runs[runs.task == task]
    t = rows.pivot_table(index="seed", columns="window", values="accuracy")
    diff = (t[a] - t[b]).dropna()
    if correct is None:
        p_a, p_b, n = t[a].mean(), t[b].mean(), rows.n.iloc[0]
        return diff.to_numpy(), float(math.sqrt((p_a * (1 - p_a) + p_b * (1 - p_b)) / n))
    eval_se = 0.0
    if len(diff):
        per_example = np.mean([np.asarray(correct[(a, s, task)], float) - np.asarray(correct[(b, s, task)], float)
                               for s in diff.index], axis=0)
        eval_se = float(per_example.std(ddof=1) / math.sqrt(len(per_example)))
    return diff.to_numpy(), eval_se


def ranking(values: dict[str, float]) -> str:
    """'a > b = c': keys by decreasing value, equal values joined by '='."""
    items = sorted(values.items(), key=lambda kv: -kv[1])
    out = items[0][0]
    for (_, prev), (name, value) in zip(items, items[1:]):
        out += (" = " if np.isclose(value, prev) else " > ") + name
    return out


def task_threshold(baseline: float) -> float:
    """The declared accuracy whose first crossing is a run's steps to threshold (``THRESHOLD_FRACTION``)."""
    return baseline + THRESHOLD_FRACTION * (1 - baseline)


def steps_to_threshold(metrics: pd.DataFrame, task: str, threshold: float, budget: int) -> pd.DataFrame:
    """Per (window, seed): the first logged step whose ``<task>_acc`` on the training curve reaches ``threshold``
    (``reached`` True), else the budget, censored (``reached`` False). Steps whose curve was not scored (NaN) are
    skipped, so a run is censored at the budget unless a scored evaluation saw the threshold."""
    rows = []
    for (window, seed), curve in metrics.groupby(["window", "seed"], sort=False):
        curve = curve.sort_values("step")
        hit = curve.step[curve[f"{task}_acc"] >= threshold]
        rows.append(dict(window=window, seed=seed, task=task, threshold=threshold,
                         steps_to_threshold=int(hit.iloc[0]) if len(hit) else int(budget), reached=bool(len(hit))))
    return pd.DataFrame(rows)


def paired_gehan_test(times_fast, events_fast, times_slow, events_slow) -> TestResult:
    """Gehan's censored comparison paired by seed: seed i scores +1 when its run of the first (the paper's faster)
    condition certainly reached the event first (``verdicts.gehan_scores`` of the seed's two runs: an event
    strictly before the other's, or at the other's censoring time), -1 when the other certainly did, 0 when
    censoring leaves the order open or they tie; the sum's p is the exact sign-flip test over all 2^n sign patterns
    (<= 10 seeds; above that the normal approximation with the conditional variance sum s_i^2). Effect: the mean
    score, the net share of seeds whose fast-condition run was certainly first. MDE (local alternative, as for the
    verdict module's rank tests): (z_0.95 + z_0.80) x the effect's null s.d., None where the nonzero seeds cannot
    reach p <= 0.05."""
    t_a, t_b = np.asarray(times_fast, float), np.asarray(times_slow, float)
    e_a, e_b = np.asarray(events_fast, bool), np.asarray(events_slow, bool)
    if not len(t_a) == len(t_b) == len(e_a) == len(e_b) or len(t_a) < 1:
        raise ValueError("paired_gehan_test needs one time and one event flag per seed for each condition")
    scores = np.array([gehan_scores([a, b], [ea, eb])[0] for a, b, ea, eb in zip(t_a, t_b, e_a, e_b)])
    n, nonzero = len(scores), int(np.count_nonzero(scores))
    null_sd = math.sqrt(float((scores ** 2).sum())) / n
    if n <= MAX_EXACT_SEEDS:
        p, p_opposite = (float(x) for x in sign_flip_p(scores))
        method = f"exact sign-flip over all {2 ** n} patterns"
    else:
        z = scores.sum() / (null_sd * n) if null_sd > 0 else 0.0
        p, p_opposite = float(stats.norm.sf(z)), float(stats.norm.cdf(z))
        method = "normal approximation"
    z = float(scores.mean() / null_sd) if null_sd > 0 else 0.0
    effect = float(scores.mean())
    mde = Z_MDE * null_sd if 2.0 ** -nonzero <= ALPHA else None
    verdict = experiment_verdict(p, p_opposite, n_seeds=n)
    wins, losses = int((scores > 0).sum()), int((scores < 0).sum())
    return TestResult(verdict, f"Gehan's censored comparison paired by seed ({method}): one-sided p for the paper's "
                      "faster window and against it", f"sum of seed scores = {scores.sum():+.0f} (z = {z:.2f})", n,
                      p, z,
                      f"first certainly faster on {wins} of {n} seeds, slower on {losses}, open or tied on "
                      f"{n - wins - losses}; net {effect:+.2f}, p = {p:.3g}", p_opposite, None, effect, None, mde)


def two_skill_gate(runs: pd.DataFrame, first: str, second: str) -> tuple[Gate, float, int]:
    """The crossover's precondition, declared with the design: the two tasks' accuracies are two skills, not one
    read twice, |Pearson r| < ``TWO_SKILL_MAX_R`` over every (window, seed) run that scored both. (Gate, r, runs);
    r is NaN, and the gate fails, where a readout does not vary across runs (it shows nothing either way)."""
    table = runs[runs.task.isin([first, second])].pivot_table(index=["window", "seed"], columns="task",
                                                              values="accuracy").dropna()
    if first not in table or second not in table:
        raise ValueError(f"two_skill_gate needs runs of both {first!r} and {second!r}")
    a, b = table[first].to_numpy(), table[second].to_numpy()
    r = float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 and a.std() > 0 and b.std() > 0 else math.nan
    passed = bool(np.isfinite(r) and abs(r) < TWO_SKILL_MAX_R)
    detail = (f"Pearson r = {r:+.3f} of {first} and {second} accuracy over {len(a)} runs" if np.isfinite(r) else
              f"r undefined over {len(a)} runs: a readout does not vary across runs")
    return Gate(f"two skills: |r| < {TWO_SKILL_MAX_R} across runs of {first} and {second} accuracy", passed,
                detail), r, len(a)


def task_gate_name(task: str) -> str:
    """The name of a task's gate, as a failed one reads in "inconclusive (gate: ...)"."""
    return f"SFT learned {task} (accuracy above its trivial baseline, one-sided p <= 0.05)"


def task_gate(runs: pd.DataFrame, task: str, correct: dict | None = None) -> TestResult:
    """The pre-declared gate (``verdicts.above_baseline_gate``): per seed, the task's accuracy averaged over the
    windows, minus its trivial baseline (``runs.baseline``); the test-set s.e. is that of the per-example mean
    correctness over all the task's runs (binomial without per-example scores)."""
    rows = runs[runs.task == task]
    per_seed = rows.groupby("seed").accuracy.mean()
    keys = list(zip(rows.window, rows.seed, rows.task))
    if correct is not None and all(key in correct for key in keys):
        per_example = np.mean([np.asarray(correct[key], float) for key in keys], axis=0)
        eval_se = float(per_example.std(ddof=1) / math.sqrt(len(per_example)))
    else:
        p = float(rows.accuracy.mean())
        eval_se = math.sqrt(p * (1 - p) / int(rows.n.iloc[0]))
    return above_baseline_gate(per_seed.to_numpy(), float(rows.baseline.iloc[0]), eval_se, what=f"{task} accuracy")


def sft_claims(runs: pd.DataFrame, cfg: Config, correct: dict | None = None) -> list[Claim]:
    """Notebook 04's claims table against the paper's Tables 2 and 3, by the rules of ``companion.verdicts``.

    Declared before the runs: (1) a gate per task, SFT above the trivial baseline; (2) per task kind the paper's
    pairwise claim as a paired difference over seeds with the test-set s.e. pooled in (discriminative: the mid
    window beats [0, 1]; generative: [0.5, 1] beats [0, 1], and [0, 1] beats the mid window); (3) the crossover
    (``crossover_test``); (4) the generative ranking against GSM8K's by Page's L test, seeds as blocks, the windows
    in GSM8K's order (``page_trend_test``). Beside each pairwise claim and the crossover, the same claim on the steps
    to threshold (``paired_gehan_test`` on the runs' ``steps_to_threshold`` / ``reached``, where the table has them),
    so that a bimodal accuracy at the budget does not decide alone. Each window claim is gated (``verdicts.Gate`` /
    ``gated``) on the gate of every task it reads, the crossover also on the two-skill criterion
    (``two_skill_gate``, recorded as its own row): where one failed it is "inconclusive (gate: ...)". No minimum
    effects: the claims are directional (``MIN_EFFECT_PAIRWISE``, ``MIN_EFFECT_RANKING``)."""
    summary = summarize_sft(runs)
    claims = []
    disc = [t for t in cfg.tasks if t in DISCRIMINATIVE and t in set(runs.task)]
    gen = [t for t in cfg.tasks if t not in DISCRIMINATIVE and t in set(runs.task)]
    acc = lambda task, w: summary[(summary.task == task) & (summary.window == w)].accuracy.iloc[0]  # noqa: E731
    base = runs.base_model.iloc[0] if "base_model" in runs else "?"
    per_window = runs.groupby("window", sort=False).seed.nunique()
    setting = (f"base model {base}, {cfg.train.steps} SFT steps, seeds per window: "
               + ", ".join(f"{w} {n}" for w, n in per_window.items()))
    timed = {"steps_to_threshold", "reached"} <= set(runs)

    def test(task, a, b):
        diffs, eval_se = window_difference(runs, task, a, b, correct)
        return paired_difference_test(diffs, eval_se=eval_se, min_effect=MIN_EFFECT_PAIRWISE)

    def speed(task, fast, slow):   # steps to threshold, paired by seed (the seeds that ran both windows)
        rows = runs[(runs.task == task) & runs.window.isin([fast, slow])]
        steps = rows.pivot_table(index="seed", columns="window", values="steps_to_threshold").dropna()
        hit = rows.pivot_table(index="seed", columns="window", values="reached", aggfunc="max").reindex(steps.index)
        return paired_gehan_test(steps[fast], hit[fast].astype(bool), steps[slow], hit[slow].astype(bool))

    def steps_summary(task, window):
        rows = runs[(runs.task == task) & (runs.window == window)]
        reached = rows[rows.reached.astype(bool)]
        median = f"median {reached.steps_to_threshold.median():.0f} steps where reached" if len(reached) else "never"
        return f"{window} reached {len(reached)} of {len(rows)} seeds ({median})"

    gates: dict[str, Gate] = {}
    for task in [*disc, *gen]:
        if "baseline" not in runs:
            continue
        gate = task_gate(runs, task, correct)
        gates[task] = Gate.of(task_gate_name(task), gate)     # passed where the gate test alone is "reproduced"
        # a gate is a precondition, not a reproduction: it is listed with the checks, its test in the notes
        rows = runs[runs.task == task]
        before = f" (the base model before SFT: {rows.base_accuracy.iloc[0]:.3f})" if "base_accuracy" in rows else ""
        claims.append(Claim.derived(
            f"Gate ({task}): the SFT models beat the trivial baseline "
            f"({'best constant choice' if task in DISCRIMINATIVE else 'commonest answer'})",
            "precondition for the window claims",
            f"mean accuracy {rows.accuracy.mean():.3f} vs baseline {rows.baseline.iloc[0]:.3f}{before}; "
            f"{gate.summary}; {gate.statistic}, p = {gate.p_value:.3g}, {gate.n_seeds} seeds",
            "checked" if gate.verdict == "reproduced" else "fails check", figure_names.SFT_WINDOWS,
            f"{setting}; {gate.test}"))
    gate_of = lambda *tasks: [gates[t] for t in tasks if t in gates]  # noqa: E731

    # the paper's pairwise claims: (task kind, window that should win, window that should lose, the paper's numbers)
    pairwise = [(True, MID, STANDARD, "MMLU 0.669 vs 0.659; GPQA 0.402 vs 0.344 (LLaDA-8B)"),
                (False, HIGH_NOISE, STANDARD, "GSM8K 0.785 vs 0.768 (LLaDA-8B)"),
                (False, STANDARD, MID, "GSM8K 0.768 vs 0.738 (LLaDA-8B)")]
    for task in [*disc, *gen]:
        present = set(runs.window[runs.task == task])
        kind = "Discriminative" if task in DISCRIMINATIVE else "Generative"
        metric = "accuracy" if task in DISCRIMINATIVE else "exact match"
        for discriminative, winner, loser, paper in pairwise:
            if discriminative != (task in DISCRIMINATIVE) or not {winner, loser} <= present:
                continue
            result = gated(test(task, winner, loser), gate_of(task))
            claims.append(Claim.experiment(
                f"{kind} ({task}): {winner} beats {loser}", paper, result, figure_names.SFT_WINDOWS, setting,
                ours=f"{metric} {acc(task, winner):.3f} vs {acc(task, loser):.3f}; difference {result.summary}"))
            if timed:
                result = gated(speed(task, winner, loser), gate_of(task))
                threshold = runs[runs.task == task].threshold.iloc[0]
                claims.append(Claim.experiment(
                    f"{kind} ({task}): {winner} reaches the threshold sooner than {loser}", paper, result,
                    figure_names.SFT_TRAINING_CURVES, f"{setting}; threshold {threshold:.3f} on the training curve, "
                    f"censored at {cfg.train.steps} steps",
                    ours=f"{steps_summary(task, winner)}; {steps_summary(task, loser)}; {result.summary}"))
        if task in DISCRIMINATIVE:
            continue
        # the ranking: Page's L over seeds as blocks, the windows in GSM8K's order (worst first), the seeds that ran
        # every one of them
        order = [w for w in PAPER_GSM8K_ORDER if w in present]
        table = runs[runs.task == task].pivot_table(index="seed", columns="window", values="accuracy")
        table = table.reindex(columns=order).dropna()
        if len(order) >= 3 and len(table):
            result = gated(page_trend_test(table.to_numpy(), what="windows", min_effect=MIN_EFFECT_RANKING),
                           gate_of(task))
            claims.append(Claim.experiment(
                f"Generative ({task}): the window ranking matches GSM8K's",
                "[0.5,1] > [0.3,1] > [0,1] > [0.2,1] > [0.45,0.55] (0.785 ... 0.738)", result,
                figure_names.SFT_WINDOWS, setting + "; windows in GSM8K's order, seeds as blocks",
                ours=f"ours (mean over seeds): {ranking({w: acc(task, w) for w in order})}; {result.summary}"))
    if disc and gen and all({MID, HIGH_NOISE} <= set(runs.window[runs.task == t]) for t in (disc[0], gen[0])):
        d_task, g_task = disc[0], gen[0]
        skills, r, n_runs = two_skill_gate(runs, d_task, g_task)
        claims.append(Claim.derived(
            f"Two skills: {d_task} and {g_task} accuracy do not move together across runs (|r| < {TWO_SKILL_MAX_R})",
            "precondition for the crossover (addition scored twice, generated and as multiple choice, gave r = 0.991)",
            skills.detail, "checked" if skills.passed else "fails check", figure_names.SFT_WINDOWS,
            f"{setting}; declared with the design: the crossover is judged only where the two readouts are two skills"))
        what = (f"{d_task} {MID} - {HIGH_NOISE}", f"{g_task} {HIGH_NOISE} - {MID}")
        result = gated(crossover_test(test(d_task, MID, HIGH_NOISE), test(g_task, HIGH_NOISE, MID), what),
                       [*gate_of(d_task, g_task), skills])
        claims.append(Claim.experiment(
            f"Crossover: {MID} ranks above {HIGH_NOISE} on discriminative tasks and below it on generative ones",
            "Tables 2 and 3 (MMLU/GPQA vs GSM8K)", result, figure_names.SFT_WINDOWS, setting))
        if timed:
            result = gated(crossover_test(speed(d_task, MID, HIGH_NOISE), speed(g_task, HIGH_NOISE, MID),
                                          (f"{d_task} {MID} sooner than {HIGH_NOISE}",
                                           f"{g_task} {HIGH_NOISE} sooner than {MID}")),
                           [*gate_of(d_task, g_task), skills])
            claims.append(Claim.experiment(
                f"Crossover in steps to threshold: {MID} reaches it sooner than {HIGH_NOISE} on discriminative "
                "tasks and later on generative ones", "Tables 2 and 3 (MMLU/GPQA vs GSM8K)", result,
                figure_names.SFT_TRAINING_CURVES, setting + "; censored at the budget"))
    return claims


FINDING = "SFT: [0.45, 0.55] helps discriminative tasks, [0.5, 1] helps generative math (a crossover)"


def claims(results: Results) -> list[Claim]:
    """Notebook 04's claims table (``sft_claims`` on the results' runs, config and per-example scores), one finding:
    its line quotes the crossover on accuracy at the budget."""
    found = sft_claims(results.runs, results.cfg, results.correct)
    primary = next((i for i, c in enumerate(found) if c.claim.startswith("Crossover") and "steps" not in c.claim), None)
    return with_finding(FINDING, found, primary, "" if primary is None else found[primary].ours)


# -- figures and the explorer -----------------------------------------------------------------------------
INTERVAL_LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 10_000     # seed bootstrap of a window's mean accuracy (fixed generator: the figure is stable)


def clopper_pearson(correct: np.ndarray | int, n: np.ndarray | int,
                    level: float = INTERVAL_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The exact (Clopper-Pearson) ``level`` interval of a binomial proportion, ``correct`` of ``n``: always in
    [0, 1] (0 and 1 are reached at 0 and n correct)."""
    k, n = np.asarray(correct, float), np.asarray(n, float)
    alpha = 1 - level
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return low, high


def seed_bootstrap_interval(values, level: float = INTERVAL_LEVEL, resamples: int = BOOTSTRAP_RESAMPLES,
                            seed: int = 0) -> tuple[float, float]:
    """The percentile ``level`` interval of the mean over seeds, resampling the seeds with replacement (a fixed
    generator): inside [min, max] of the values, so inside [0, 1] for accuracies. One seed: (value, value)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan
    means = v[np.random.default_rng(seed).integers(0, len(v), (resamples, len(v)))].mean(1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def accuracy_intervals(runs: pd.DataFrame, level: float = INTERVAL_LEVEL) -> pd.DataFrame:
    """Per (task, window): the mean accuracy over seeds with its seed-bootstrap interval (``low``, ``high``: the seed
    spread the window tests use), inside [0, 1]; ``run_intervals`` gives each run's test-set interval."""
    rows = []
    for (task, window), sub in runs.groupby(["task", "window"], sort=False):
        low, high = seed_bootstrap_interval(sub.accuracy, level)
        rows.append(dict(task=task, window=window, n_seeds=sub.seed.nunique(), accuracy=float(sub.accuracy.mean()),
                         low=low, high=high))
    return pd.DataFrame(rows)


def run_intervals(runs: pd.DataFrame, level: float = INTERVAL_LEVEL) -> pd.DataFrame:
    """``runs`` with each run's Clopper-Pearson interval over its n scored items (``run_low``, ``run_high``)."""
    low, high = clopper_pearson(np.rint(runs.accuracy * runs.n), runs.n, level)
    return runs.assign(run_low=low, run_high=high)


def figures(results: Results, out) -> dict:
    """Notebook 04's figures, saved through ``out``: accuracy per window and task (the paper's Tables 2 and 3 as
    a chart) and the training curves."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    cfg, runs = results.cfg, results.runs
    tasks = results.layout.set_index("task")
    task_names = list(tasks.index)
    windows = list(cfg.windows)
    palette = dict(zip(windows, sns.color_palette("colorblind", len(windows))))
    figs = {}

    # bars: mean over seeds with its 95% seed-bootstrap interval (the seed spread the tests use); dots: single seeds,
    # each with its exact (Clopper-Pearson) 95% interval over its scored items; every interval inside [0, 1]. Per
    # task its baseline, chance and the base model
    fig, axes = plt.subplots(1, len(task_names), figsize=(5.2 * len(task_names), 4.3), layout="constrained",
                             squeeze=False)
    seeds = sorted(runs.seed.unique())
    offsets = dict(zip(seeds, np.linspace(-0.2, 0.2, len(seeds))))   # seeds side by side (no jitter)
    means, per_run = accuracy_intervals(runs), run_intervals(runs)
    for ax, task in zip(axes[0], task_names):
        sub, mean = per_run[per_run.task == task], means[means.task == task]
        sns.barplot(sub, x="window", y="accuracy", hue="window", order=windows, palette=palette, errorbar=None,
                    alpha=0.85, ax=ax, legend=False)
        x = np.array([windows.index(w) for w in mean.window])
        ax.errorbar(x, mean.accuracy, yerr=[mean.accuracy - mean.low, mean.high - mean.accuracy], fmt="none",
                    ecolor="black", elinewidth=1.6, capsize=7, zorder=4,
                    label=f"mean, {INTERVAL_LEVEL:.0%} seed bootstrap")
        seed_x = [windows.index(w) + offsets[seed] for w, seed in zip(sub.window, sub.seed)]
        ax.vlines(seed_x, sub.run_low, sub.run_high, color="black", lw=0.8, alpha=0.4, zorder=3)
        ax.scatter(seed_x, sub.accuracy, color="black", s=14, alpha=0.6, zorder=3,
                   label=f"a seed, {INTERVAL_LEVEL:.0%} Clopper-Pearson")
        discriminative, baseline = bool(tasks.discriminative[task]), float(tasks.baseline[task])
        if discriminative:
            ax.axhline(tasks.chance[task], color="black", ls=":", lw=1, label=f"chance {tasks.chance[task]:.3f}")
        ax.axhline(baseline, color="grey", ls="--", lw=1,
                   label=f"{'best constant choice' if discriminative else 'commonest answer'} {baseline:.3f}")
        before = results.base_scores[task]["accuracy"]
        ax.axhline(before, color="dimgrey", lw=1.5, label=f"base model, before SFT {before:.3f}")
        ax.set_ylim(0.0, 1.3)   # the full 0-1 range, with room above it for the legend
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set(title=f"{task} ({'discriminative' if discriminative else 'generative'})", xlabel="SFT mask-ratio window",
               ylabel="accuracy (candidate MC ELBO)" if discriminative else "exact match (generated)")
        ax.tick_params(axis="x", rotation=20)
        ax.legend(fontsize=8, loc="upper left", ncol=2)
    per_window = runs.groupby("window").seed.nunique()
    seed_counts = ", ".join(f"{w} {per_window[w]}" for w in windows if w in per_window)
    fig.suptitle(f"SFT window comparison ({out.profile}: seeds per window {seed_counts}; {cfg.train.steps} steps per "
                 "run, "
                 f"base {runs.base_model.iloc[0]})\nbars: mean over seeds, its {INTERVAL_LEVEL:.0%} seed-bootstrap "
                 f"interval; dots: single seeds, each with its exact {INTERVAL_LEVEL:.0%} interval over its scored items",
                 fontsize=10)
    figs[figure_names.SFT_WINDOWS] = fig

    # training curves: accuracy on the curve subset per task (mean over seeds, single seeds faint), the declared
    # threshold (dash-dot) with each seed's first crossing (a tick on it), and the SFT loss
    metrics = results.metrics
    curves = metrics.groupby(["window", "step"], as_index=False).mean(numeric_only=True)
    fig, axes = plt.subplots(1, len(task_names) + 1, figsize=(5 * (len(task_names) + 1), 4), layout="constrained")
    for ax, task in zip(axes, task_names):
        for window in windows:
            for _, seed_curve in metrics[metrics.window == window].groupby("seed"):
                ax.plot(seed_curve.step, seed_curve[f"{task}_acc"], color=palette[window], alpha=0.25, lw=0.8)
            sub = curves[curves.window == window]
            ax.plot(sub.step, sub[f"{task}_acc"], marker="o", ms=3, color=palette[window], label=window)
        ax.axhline(tasks.baseline[task], color="grey", ls="--", lw=1)
        if "steps_to_threshold" in runs:
            rows = runs[runs.task == task]
            reached = rows[rows.reached.astype(bool)]
            ax.axhline(rows.threshold.iloc[0], color="black", ls="-.", lw=1,
                       label=f"threshold {rows.threshold.iloc[0]:.2f}: reached by {len(reached)} of {len(rows)} runs")
            ax.scatter(reached.steps_to_threshold, reached.threshold, marker="|", s=120, zorder=4,
                       color=[palette[w] for w in reached.window])
            ax.legend(fontsize=7, loc="lower right")
        ax.set(xlabel="SFT step", ylabel=f"{task} accuracy (subset of {cfg.scoring.curve_eval})", title=task,
               ylim=(0, 1))
    for window in windows:
        sub = curves[(curves.window == window) & (curves.step > 0)]
        axes[-1].plot(sub.step, sub.train_loss, color=palette[window], label=window)
    axes[-1].set(xlabel="SFT step", ylabel="SFT loss on its own window", title="training loss", yscale="log")
    axes[-1].legend(fontsize=8, title="window")
    figs[figure_names.SFT_TRAINING_CURVES] = fig

    for name, fig in figs.items():
        out.figure(fig, name)
        plt.close(fig)   # shown where the notebook displays it, not again at the end of the cell that drew it
    return figs


def draw_sft_curves(metrics: pd.DataFrame, task: str, windows: tuple[str, ...], last_step: int):
    """Mean (over seeds) eval accuracy of ``task`` and SFT loss against step for the chosen windows."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    shown = metrics[metrics.window.isin(windows) & (metrics.step <= last_step)]
    curves = shown.groupby(["window", "step"], as_index=False).mean(numeric_only=True)
    for i, window in enumerate(windows):
        sub = curves[curves.window == window]
        ax.plot(sub.step, sub[f"{task}_acc"], marker="o", ms=3, color=f"C{i}", label=window)
        sub = sub[sub.step > 0]
        ax2.plot(sub.step, sub.train_loss, color=f"C{i}", label=window)
    n_seeds = metrics.seed.nunique() if "seed" in metrics else 1
    ax.set(xlabel="SFT step", ylabel=f"{task} accuracy", title=f"{task}: eval accuracy (mean of {n_seeds} seeds)")
    ax2.set(xlabel="SFT step", ylabel="SFT loss on its own window", yscale="log", title="training loss")
    ax.legend(fontsize=8, title="window")
    return fig


def sft_curves_explorer(metrics: pd.DataFrame):
    """Pick a task, the windows to compare and the last step shown, over notebook 04's saved training curves
    (the ``04_sft_training_curves`` table: window, seed, step, <task>_acc, train_loss)."""
    from ..companion.interactive import explore, is_headless

    tasks = [c[:-len("_acc")] for c in metrics.columns if c.endswith("_acc")]
    windows = tuple(dict.fromkeys(metrics.window))
    steps = sorted(metrics.step.unique())
    if not tasks or not windows or len(steps) < 2:
        raise ValueError("sft_curves_explorer needs the training-curves table with <task>_acc columns, windows and "
                         "at least two logged steps (run notebook 04's training cells first)")
    controls = {}
    if not is_headless():
        import ipywidgets as widgets

        style = {"description_width": "6em"}
        controls = {"metrics": widgets.fixed(metrics),
                    "task": widgets.Dropdown(options=tasks, description="task", style=style),
                    "windows": widgets.SelectMultiple(options=windows, rows=min(6, len(windows)),
                                                      description="windows", style=style),
                    "last_step": widgets.SelectionSlider(options=steps, value=steps[-1], description="up to step",
                                                         continuous_update=False, style=style,
                                                         layout=widgets.Layout(width="34em"))}
    return explore(draw_sft_curves, controls,
                   {"metrics": metrics, "task": tasks[0], "windows": windows, "last_step": steps[-1]})


def explorer(results: Results):
    """The notebook's explorer: ``sft_curves_explorer`` over the results' training curves."""
    return sft_curves_explorer(results.metrics)
