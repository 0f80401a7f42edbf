r"""The SFT window comparison of notebook 04 (Huang & Mirzasoleiman 2026, Tables 2 and 3).

The paper fine-tunes LLaDA-8B with the SFT mask ratio t restricted to a window and finds a crossover:
the mid window [0.45, 0.55] is best on discriminative benchmarks (MMLU, GPQA), while high-noise windows
such as [0.5, 1] are best on generative maths (GSM8K). Here, at a scale two CPU cores can train:

* the **base model** is notebook 03's pretrained MD language model (its ``uniform`` run, seed 0, of the
  same profile), loaded from the run cache or trained on the spot through the same code (``experiments.u_curve``);
  pretraining uses the standard U[0, 1]; the windows apply to SFT only. There is no random-init path;
* every (window, seed) is **one multi-task SFT run** from that base, as the paper fine-tunes one model
  and scores it on several benchmarks. Each step draws one batch per task (each task with its own
  sequence layout) and minimises the mean of the tasks' ``sft_loss`` (prompt never masked, answer
  masked with t from the window, loss per answer length, EOS padding trained as answer);
* **discriminative** tasks (the arithmetic problems as multiple choice against one-digit variants of the result,
  trained by the arithmetic task's SFT; next-word choice on held-out WikiText-2, HellaSwag-style; SST-2 with
  word labels) are scored as LLaDA scores multiple choice: the candidate answer with the largest Monte Carlo ELBO of
  ``answer | prompt`` (``sft.answer_elbo_mc``: the number of masked answer tokens l ~ U{1..A}, stratified over
  ``score_draws`` draws, weight A / l), on masks drawn from ``score_seed`` alone, so candidates, windows and
  seeds are compared on common draws;
* **generative** tasks (multi-digit arithmetic; GSM8K in the ``paper`` profile) are scored by exact match
  of an answer generated with ``samplers.generate`` (low-confidence remasking, greedy by default).

Before any window verdict a gate asks whether SFT learned each task at all (``verdicts.above_baseline_gate``
against the best constant choice / the commonest answer); the base model is scored by the same scorers, so
what SFT added is on the same scale; the crossover is ``verdicts.crossover_test``.

The id of ``<pad>`` serves as EOS: the pretraining text never contains it, so it is free to mean
"the answer ended", and everything after the first EOS of a generated answer is dropped.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .u_curve import LM_PROFILES, UNIFORM, LMConfig, LMData, prepare_lm_data, train_lm_model
from ..mask_ratio import MaskRatio
from ..model import DiffusionTransformer
from ..samplers import generate
from ..schedules import size_schedule
from ..sft import answer_elbo_mc, answer_masks, pack_sft_examples, sft_loss, strip_after_eos
from ..data.tasks import (SST2_LABELS, SFTExample, arithmetic_choices, exact_match, gsm8k_final_answer, load_gsm8k,
                          load_sst2, make_arithmetic, make_next_word_choice, most_common_answer_accuracy)
from ..data.text import PAD_TOKEN, decode_stream, load_wikitext2
from ..companion import figure_names
from ..companion.verdicts import (Claim, TestResult, above_baseline_gate, crossover_test, gated, paired_difference_test,
                                 rank_agreement_test)
from ..training import (TrainConfig, cached_evaluation, derive_config, grid_workers, resolve_device, run_grid,
                        train_cached)

# The paper's SFT windows (Tables 2 and 3), in the order it lists them.
SFT_WINDOWS = ("[0,1]", "[0.45,0.55]", "[0.2,1]", "[0.3,1]", "[0.5,1]")   # MaskRatio labels
STANDARD, MID, HIGH_NOISE = "[0,1]", "[0.45,0.55]", "[0.5,1]"
TASKS = ("arithmetic_choice", "next_word", "sst2", "arithmetic", "gsm8k")
DISCRIMINATIVE = {"arithmetic_choice", "next_word", "sst2"}   # scored by choosing among candidates; the others by generation
# tasks with no SFT data of their own: scored on the problems (and with the layout) of the task they name
SCORED_ON = {"arithmetic_choice": "arithmetic"}

# The paper's numbers (LLaDA-8B SFT): discriminative (Table 2) and GSM8K (Table 3).
PAPER_DISCRIMINATIVE = {"MMLU": {STANDARD: 0.659, MID: 0.669}, "GPQA": {STANDARD: 0.344, MID: 0.402}}
PAPER_GSM8K = {HIGH_NOISE: 0.785, "[0.3,1]": 0.774, STANDARD: 0.768, "[0.2,1]": 0.762, MID: 0.738}


@dataclass(frozen=True)
class SFTConfig:
    # the base model: notebook 03's run (LM_PROFILES[pretrain_profile], window, seed), loaded from the run
    # cache (or trained there through notebook 03's code); there is no random-initialisation path
    pretrain_profile: str = "quick"
    pretrain_window: str = UNIFORM
    pretrain_seed: int = 0
    # the crossover pairs the first discriminative and the first generative task
    tasks: tuple[str, ...] = ("arithmetic_choice", "arithmetic")
    # next-word choice: train on the true next word after contexts from the train split, score on items from the
    # test split (data.tasks.make_next_word_choice: the true word vs same-length distractors, chance 1 / choices)
    next_word_train: int = 20_000
    next_word_eval: int = 1_000
    next_word_choices: int = 4
    next_word_chars: tuple[int, int] = (4, 9)   # letters in the answer word (and in every distractor)
    next_word_context_chars: int = 400          # characters of context before the word (then left-truncated in tokens)
    next_word_prompt_tokens: int = 96
    next_word_answer_tokens: int = 8            # the word + EOS padding
    # SST-2: train on a seeded subset of the train phrases, score on the dev sentences
    sst2_train: int | None = 20_000
    sst2_eval: int | None = None             # None: all 872 dev sentences
    sst2_prompt_tokens: int = 40             # prompts left-padded / left-truncated (the question is at the end)
    sst2_answer_tokens: int = 4              # label + EOS padding
    sst2_labels: tuple[str, str] = SST2_LABELS   # answers for GLUE labels 0 / 1
    # arithmetic: seeded disjoint train / test problems
    arithmetic_digits: int = 3
    arithmetic_ops: tuple[str, ...] = ("+",)
    arithmetic_spaced: bool = True           # digits as separate words (for BPE); a character tokenizer needs no spaces
    arithmetic_train: int = 20_000
    arithmetic_eval: int = 500
    arithmetic_prompt_tokens: int = 16       # must hold every prompt (an operand is never truncated)
    arithmetic_answer_tokens: int = 6        # digits + EOS padding
    arithmetic_choices: int = 4              # arithmetic_choice: the result and 3 one-digit variants (chance 1/4)
    # GSM8K (paper profile): examples whose solution does not fit are dropped (the count is reported)
    gsm8k_train: int | None = None
    gsm8k_eval: int | None = None
    gsm8k_prompt_tokens: int = 128
    gsm8k_answer_tokens: int = 128
    # discriminative scoring: Monte Carlo ELBO of each candidate answer (sft.answer_elbo_mc), common draws
    score_draws: int = 8                    # draws per example for the final scores
    curve_draws: int = 2                    # ... and for the training-curve scores
    score_seed: int = 4321                  # the masks' own generator (same for every candidate, run and window)
    # generation for generative tasks: one token per round by default (K = answer length)
    gen_steps: int | None = None
    gen_order: str = "confidence"
    temperature: float = 0.0
    # training (one batch per task per step)
    batch_size: int = 32
    arithmetic_batch_size: int | None = None   # None: batch_size (short rows are cheap: a larger batch costs little)
    steps: int = 300
    lr: float = 1e-3
    warmup_steps: int = 30
    weight_decay: float = 0.1
    eval_every: int = 100
    curve_eval: int = 200                   # examples per task scored at every evaluation (training curves)
    eval_batch_size: int = 128
    data_seed: int = 0
    # the experiment
    windows: tuple[str, ...] = SFT_WINDOWS      # MaskRatio labels
    stratified: bool = False                    # i.i.d. t per sequence, as LLaDA's SFT draws it
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "auto"
    workers: int | None = None                  # run_grid processes, 1 torch thread each (None: one per core; 1 on a GPU)
    pretrain: LMConfig | None = field(default=None, compare=False, repr=False)  # resolved once, below

    def __post_init__(self) -> None:
        if self.pretrain_profile not in LM_PROFILES:
            raise ValueError(f"pretrain_profile={self.pretrain_profile!r}: choose one of {list(LM_PROFILES)}")
        # the pretraining LM config, resolved once (dataclasses.replace re-resolves it)
        object.__setattr__(self, "pretrain", LM_PROFILES[self.pretrain_profile])
        for task in self.tasks:
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
            if task in SCORED_ON and SCORED_ON[task] not in self.tasks:
                raise ValueError(f"{task} is scored on the SFT of {SCORED_ON[task]!r}, which is not in tasks={self.tasks}: "
                                 f"add {SCORED_ON[task]!r}")
        for label in self.windows:
            MaskRatio.parse(label)
        if not self.seeds or not self.windows or not self.tasks:
            raise ValueError("name at least one task, window and seed")
        if self.score_draws < 1 or self.curve_draws < 1 or (self.workers is not None and self.workers < 1):
            raise ValueError("score_draws, curve_draws and workers must be >= 1 (workers=None: automatic)")
        block = self.pretrain.seq_len
        for task in self.tasks:
            if self.sequence_length(task) > block:
                raise ValueError(f"{task}: prompt + answer = {self.sequence_length(task)} tokens exceed the base "
                                 f"model's block size {block}; shorten {SCORED_ON.get(task, task)}_prompt_tokens / "
                                 "_answer_tokens")

    def mask_ratio(self, label: str) -> MaskRatio:
        return MaskRatio.parse(label, stratified=self.stratified)

    def answer_tokens(self, task: str) -> int:
        return getattr(self, f"{SCORED_ON.get(task, task)}_answer_tokens")

    def prompt_tokens(self, task: str) -> int:
        return getattr(self, f"{SCORED_ON.get(task, task)}_prompt_tokens")

    def sequence_length(self, task: str) -> int:
        return self.prompt_tokens(task) + self.answer_tokens(task)

    def task_batch_size(self, task: str) -> int:
        return (self.arithmetic_batch_size or self.batch_size) if task == "arithmetic" else self.batch_size

    def train_config(self, seed: int) -> TrainConfig:
        return derive_config(TrainConfig, self, seed=seed)


SFT_PROFILES = {
    # seconds: notebook 03's smoke model (BPE, 32 tokens), tiny task sets (every task kind), every window, two seeds
    "smoke": SFTConfig(pretrain_profile="smoke", tasks=("arithmetic_choice", "next_word", "sst2", "arithmetic"),
                       next_word_train=256,
                       next_word_eval=48, next_word_chars=(4, 6), next_word_context_chars=80, next_word_prompt_tokens=20,
                       next_word_answer_tokens=8, sst2_train=256, sst2_eval=64, sst2_prompt_tokens=22,
                       sst2_answer_tokens=8, arithmetic_digits=2, arithmetic_train=256, arithmetic_eval=32,
                       arithmetic_prompt_tokens=14, arithmetic_answer_tokens=8, batch_size=8, steps=6, warmup_steps=1,
                       eval_every=3, curve_eval=16, score_draws=2, curve_draws=1, seeds=(0, 1), workers=1),
    # 2 CPU cores: notebook 03's quick model (character-level WikiText-2, rotary, 0.35M parameters, its uniform
    # run, seed 0). Counted in characters: SFT on 2-digit addition "47+85=" -> " 132" (a batch of 64 per step),
    # scored by generation (exact match) and as a 4-way multiple choice against one-digit variants of the sum;
    # 5 windows x 5 seeds (addition is bimodal across seeds at a short budget: some learn it, some not) at an
    # equal budget of 1,600 steps, two 1-thread workers. Left out here, both measured near chance for this model:
    # SST-2 (stop 12: 0.507 after SFT vs majority 0.509) and next-word choice (stop 13: base model 0.248, SFT
    # 0.267-0.283 over windows, 1,000 items, 3 seeds, chance 0.25, best constant choice 0.259)
    "quick": SFTConfig(next_word_context_chars=53, next_word_prompt_tokens=53, next_word_answer_tokens=11,
                       sst2_prompt_tokens=54, sst2_answer_tokens=10, arithmetic_digits=2, arithmetic_spaced=False,
                       arithmetic_train=2000, arithmetic_eval=500, arithmetic_prompt_tokens=6,
                       arithmetic_answer_tokens=5, batch_size=16, arithmetic_batch_size=64, steps=1600, lr=3e-3,
                       warmup_steps=100, eval_every=200, curve_eval=128, score_draws=4, curve_draws=2,
                       seeds=(0, 1, 2, 3, 4), workers=2),
    # a GPU: notebook 03's paper model (~50M parameters), GSM8K added, longer SFT
    "paper": SFTConfig(pretrain_profile="paper", tasks=("arithmetic_choice", "next_word", "sst2", "arithmetic", "gsm8k"),
                       sst2_train=None,
                       next_word_train=100_000, next_word_eval=2_000, next_word_context_chars=600,
                       sst2_prompt_tokens=96, sst2_answer_tokens=4, arithmetic_digits=4, arithmetic_ops=("+", "-"),
                       arithmetic_prompt_tokens=20,
                       arithmetic_train=100_000, arithmetic_eval=1000, batch_size=64, steps=5000, lr=2e-4,
                       warmup_steps=200, eval_every=500, curve_eval=500, score_draws=32, curve_draws=4, seeds=(0, 1, 2)),
}


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


def task_examples(cfg: SFTConfig, task: str, data_dir=None) -> tuple[list[SFTExample], list[SFTExample]]:
    """(train, eval) examples of a task, from ``data_dir`` or ``$MDLM_DATA_DIR`` (never downloaded). Next-word
    items come from WikiText-2's train split (SFT) and its test split (scoring), which pretraining never saw."""
    if task == "next_word":
        corpus = load_wikitext2(data_dir)
        make = functools.partial(make_next_word_choice, context_chars=cfg.next_word_context_chars,
                                 choices=cfg.next_word_choices, word_chars=cfg.next_word_chars, seed=cfg.data_seed)
        return make(corpus.text("train"), cfg.next_word_train), make(corpus.text("test"), cfg.next_word_eval)
    if task == "sst2":
        return (load_sst2("train", data_dir, limit=cfg.sst2_train, seed=cfg.data_seed, labels=cfg.sst2_labels),
                load_sst2("dev", data_dir, limit=cfg.sst2_eval, seed=cfg.data_seed, labels=cfg.sst2_labels))
    if task in ("arithmetic", "arithmetic_choice"):
        train, test = make_arithmetic(cfg.arithmetic_train, cfg.arithmetic_eval, cfg.arithmetic_digits,
                                      cfg.arithmetic_ops, seed=cfg.data_seed, spaced_digits=cfg.arithmetic_spaced)
        if task == "arithmetic":
            return train, test
        return [], arithmetic_choices(test, cfg.arithmetic_choices, cfg.data_seed, cfg.arithmetic_spaced)
    return (load_gsm8k("train", data_dir, limit=cfg.gsm8k_train, seed=cfg.data_seed),
            load_gsm8k("test", data_dir, limit=cfg.gsm8k_eval, seed=cfg.data_seed))


def _encode(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def tokenize_task(cfg: SFTConfig, task: str, tokenizer, data_dir=None) -> TaskData:
    """Tokenize a task into its layout; prompts are left-padded with EOS to P tokens (text prompts that are
    longer are left-truncated, keeping the question at their end; an arithmetic prompt never is). An example
    whose answer (or, scoring a multiple choice, any candidate) leaves no room for an EOS is dropped and counted.
    Candidates are laid out like answers: a leading space, then EOS padding to A tokens."""
    eos = eos_id(tokenizer)
    prompt_len, answer_len = cfg.prompt_tokens(task), cfg.answer_tokens(task)
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
            raise ValueError(f"{task}: no {split} answer fits in {answer_len - 1} tokens; raise "
                             f"{SCORED_ON.get(task, task)}_answer_tokens")
        prompts = _encode(tokenizer, [examples[i].prompt for i in keep])
        longest = max(len(p) for p in prompts)
        if SCORED_ON.get(task, task) == "arithmetic" and longest > prompt_len:   # truncating would drop operand digits
            raise ValueError(f"arithmetic: a prompt has {longest} tokens > arithmetic_prompt_tokens={prompt_len}; "
                             "raise arithmetic_prompt_tokens")
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


def prepare_sft_data(cfg: SFTConfig, data_dir: str | Path | None = None) -> SFTData:
    lm = prepare_lm_data(cfg.pretrain, data_dir)
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
                     cfg: SFTConfig, seed: int = 0) -> list[str]:
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


def score_task(model: DiffusionTransformer, task: TaskData, cfg: SFTConfig, tokenizer, eos: int,
               limit: int | None = None, draws: int | None = None) -> dict:
    """Accuracy of the model's answers on (the first ``limit`` of) the task's eval examples: the candidate with
    the best MC ELBO (``draws`` per example, default ``cfg.score_draws``) for a discriminative task, exact match
    of a generated answer for a generative one."""
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
def make_sft_step(data: SFTData, cfg: SFTConfig, mask_ratio: MaskRatio, device: torch.device):
    """step_fn for ``train``: one batch per task with SFT data (a task in ``SCORED_ON`` has none), the mean of
    those tasks' ``sft_loss``. The generator's draws
    per step (batch rows, t, mask uniforms) do not depend on the window, so a seed gives every window the same
    data order and the same mask uniforms (common random numbers across windows)."""
    use_amp = device.type == "cuda"  # on CPU fp32 is faster (see the CPU calibration notes)

    def step(model: DiffusionTransformer, step: int, generator: torch.Generator):
        losses = {}
        for name, task in data.tasks.items():
            if not len(task.train_tokens):
                continue
            batch = cfg.task_batch_size(name)
            idx = torch.randint(0, task.train_tokens.shape[0], (batch,), generator=generator)
            prompt_lengths = torch.full((batch,), task.prompt_tokens, dtype=torch.long, device=device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                losses[name] = sft_loss(model, task.train_tokens[idx].to(device), prompt_lengths, mask_ratio,
                                        model.mask_id, generator).loss
        loss = torch.stack(list(losses.values())).mean()
        return loss, {f"loss_{name}": value.item() for name, value in losses.items()}

    return step


@dataclass(frozen=True)
class BaseModel:
    """The weights SFT starts from: notebook 03's pretrained run, named by its run directory."""
    state: dict = field(repr=False)
    name: str          # the run directory's name: window, seed and cache-key hash
    run_dir: Path

    def load(self, cfg: SFTConfig, vocab_size: int, device: torch.device) -> DiffusionTransformer:
        model = DiffusionTransformer(cfg.pretrain.model_config(vocab_size)).to(device)
        model.load_state_dict(self.state)
        return model


def base_model(cfg: SFTConfig, data: SFTData, progress: bool = True) -> BaseModel:
    """Notebook 03's run of ``cfg.pretrain_profile`` (window ``cfg.pretrain_window``, seed ``cfg.pretrain_seed``),
    loaded from the run cache (trained there through notebook 03's code if missing)."""
    model, result = train_lm_model(cfg.pretrain, data.lm, cfg.pretrain_window, cfg.pretrain_seed, progress=progress)
    return BaseModel({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, result.run_dir.name,
                     result.run_dir)


def scoring_key(cfg: SFTConfig, data: SFTData) -> dict:
    """What a model's final scores depend on besides its weights."""
    return {"tasks": list(data.tasks), "draws": cfg.score_draws, "seed": cfg.score_seed, "data": data.fingerprint,
            "generation": [cfg.gen_steps, cfg.gen_order, cfg.temperature]}


def score_base_model(cfg: SFTConfig, data: SFTData, base: BaseModel) -> dict:
    """The base model's scores on every task with the SFT runs' scorers (cached beside the base run): the level
    SFT starts from."""
    model = base.load(cfg, data.lm.vocab_size, resolve_device(cfg.device)).eval()
    return cached_evaluation(base.run_dir, "sft-base-scores", scoring_key(cfg, data),
                             lambda: {name: score_task(model, task, cfg, data.lm.tokenizer, data.eos_id)
                                      for name, task in data.tasks.items()})


def run_key(cfg: SFTConfig, data: SFTData, label: str, seed: int, base_name: str) -> dict:
    """What one SFT run depends on (its cache key): everything but the other windows and seeds."""
    fields = {k: v for k, v in vars(cfg).items() if k not in ("windows", "seeds", "device", "pretrain", "workers")}
    return {"cfg": fields, "pretrain": cfg.pretrain.model_config(data.lm.vocab_size), "mask_ratio": cfg.mask_ratio(label),
            "seed": seed, "base": base_name, "data": data.fingerprint}


@dataclass
class SFTRun:
    window: str
    seed: int
    metrics: pd.DataFrame        # training curves: step, train_loss, train_loss_<task>, <task>_acc
    scores: dict                 # task -> score_task(...) on the full eval set
    run_dir: Path
    seconds: float               # wall clock of the session that finished training
    base: str                    # the base model it was fine-tuned from


def train_sft_run(cfg: SFTConfig, data: SFTData, label: str, seed: int, base: BaseModel,
                  progress: bool = True) -> SFTRun:
    """Fine-tune the base model on ``label``'s window with ``seed`` (cached, resumable), then score every task."""
    device = resolve_device(cfg.device)
    model = base.load(cfg, data.lm.vocab_size, device)
    tokenizer, eos = data.lm.tokenizer, data.eos_id

    def eval_fn(m: DiffusionTransformer, step: int) -> dict:
        return {f"{name}_acc": score_task(m, task, cfg, tokenizer, eos, limit=cfg.curve_eval,
                                          draws=cfg.curve_draws)["accuracy"]
                for name, task in data.tasks.items()}

    result = train_cached(model, make_sft_step(data, cfg, cfg.mask_ratio(label), device), cfg.train_config(seed),
                          name=f"sft-{label}-s{seed}", key=run_key(cfg, data, label, seed, base.name), eval_fn=eval_fn,
                          progress=progress)
    model.eval()
    scores = cached_evaluation(result.run_dir, "scores", scoring_key(cfg, data),
                               lambda: {name: score_task(model, task, cfg, tokenizer, eos)
                                        for name, task in data.tasks.items()})
    return SFTRun(label, seed, result.metrics, scores, result.run_dir, result.seconds, base.name)


# One (data, base model) per configuration and process: the grid's worker processes build theirs once from
# the config (a cache hit for the base model) instead of receiving the packed corpus through a pipe.
_PREPARED: dict[tuple, tuple[SFTData, BaseModel]] = {}


def _prepared(cfg: SFTConfig, data_dir, progress: bool) -> tuple[SFTData, BaseModel]:
    key = (repr(cfg), str(data_dir))
    if key not in _PREPARED:
        data = prepare_sft_data(cfg, data_dir)
        _PREPARED[key] = (data, base_model(cfg, data, progress=progress))
    return _PREPARED[key]


def sft_job(cfg: SFTConfig, data_dir, progress: bool, job: tuple[str, int]) -> SFTRun:
    """One grid job (window, seed); module-level so that ``run_grid`` can send it to a worker process."""
    data, base = _prepared(cfg, data_dir, progress)
    return train_sft_run(cfg, data, *job, base, progress=progress)


@dataclass
class SFTResults:
    runs: pd.DataFrame       # one row per (window, seed, task): accuracy, n, baseline, base model and its accuracy
    metrics: pd.DataFrame    # training curves of every run
    correct: dict            # (window, seed, task) -> per-example 0/1 (same eval examples for every run)
    examples: pd.DataFrame   # a few generated / chosen answers per run and task
    timing: pd.DataFrame     # window, seed, train_seconds (wall clock: kept out of the result tables)
    base_scores: dict = field(default_factory=dict)   # task -> the base model's score_task(...), before any SFT


def run_sft_windows(cfg: SFTConfig, data: SFTData, progress: bool = True, data_dir=None) -> SFTResults:
    """Every (window, seed) SFT run of the config, seeds outermost so the first pass covers every window;
    ``cfg.workers`` processes train in parallel (``data_dir`` must then be the folder ``data`` came from)."""
    base = base_model(cfg, data, progress=progress)
    _PREPARED[(repr(cfg), str(data_dir))] = (data, base)
    base_scores = score_base_model(cfg, data, base)
    jobs = [(label, seed) for seed in cfg.seeds for label in cfg.windows]
    runs = run_grid(jobs, functools.partial(sft_job, cfg, data_dir, progress), desc="SFT runs", progress=progress,
                    workers=grid_workers(cfg.workers, len(jobs), resolve_device(cfg.device)))
    rows, correct, examples = [], {}, []
    for run in runs:
        ratio = MaskRatio.parse(run.window)
        for task, score in run.scores.items():
            rows.append({"window": run.window, "low": ratio.low, "high": ratio.high, "seed": run.seed, "task": task,
                         "discriminative": task in DISCRIMINATIVE, "accuracy": score["accuracy"], "n": score["n"],
                         "baseline": data.tasks[task].baseline, "chance": data.tasks[task].chance,
                         "base_model": run.base, "base_accuracy": base_scores[task]["accuracy"]})
            correct[(run.window, run.seed, task)] = np.asarray(score["correct"])
            examples += [{"window": run.window, "seed": run.seed, "task": task, **ex} for ex in score["examples"]]
    return SFTResults(pd.DataFrame(rows), pd.concat([r.metrics.assign(window=r.window, seed=r.seed) for r in runs],
                                                    ignore_index=True), correct, pd.DataFrame(examples),
                      pd.DataFrame([{"window": r.window, "seed": r.seed, "train_seconds": r.seconds} for r in runs]),
                      base_scores)


# -- summaries and claims ---------------------------------------------------------------------------------
def summarize_sft(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (task, window): mean accuracy over seeds, seed s.d., and the binomial s.e. of one run's accuracy."""
    out = (runs.groupby(["task", "window"], sort=False)
           .agg(low=("low", "first"), high=("high", "first"), n_seeds=("seed", "nunique"),
                accuracy=("accuracy", "mean"), seed_sd=("accuracy", "std"), n=("n", "first"))
           .reset_index())
    out["binomial_se"] = np.sqrt(out.accuracy * (1 - out.accuracy) / out.n)
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


def sft_claims(runs: pd.DataFrame, cfg: SFTConfig, correct: dict | None = None) -> list[Claim]:
    """Notebook 04's claims table against the paper's Tables 2 and 3, by the rules of ``companion.verdicts``.

    Declared before the runs: (1) a gate per task, SFT above the trivial baseline; (2) per task kind the paper's
    pairwise claim as a paired difference over seeds with the test-set s.e. pooled in (discriminative: the mid
    window beats [0, 1]; generative: [0.5, 1] beats [0, 1], and [0, 1] beats the mid window); (3) the crossover
    (``crossover_test``); (4) the generative ranking against GSM8K's (``rank_agreement_test``). A window verdict
    on a task whose gate failed is ``inconclusive`` and says why."""
    summary = summarize_sft(runs)
    claims = []
    disc = [t for t in cfg.tasks if t in DISCRIMINATIVE and t in set(runs.task)]
    gen = [t for t in cfg.tasks if t not in DISCRIMINATIVE and t in set(runs.task)]
    acc = lambda task, w: summary[(summary.task == task) & (summary.window == w)].accuracy.iloc[0]  # noqa: E731
    base = runs.base_model.iloc[0] if "base_model" in runs else "?"
    setting = f"base model {base}, {cfg.steps} SFT steps, seeds {list(cfg.seeds)}"

    def test(task, a, b):
        diffs, eval_se = window_difference(runs, task, a, b, correct)
        return paired_difference_test(diffs, eval_se=eval_se)

    gates = {}
    for task in [*disc, *gen]:
        if "baseline" not in runs:
            continue
        gates[task] = gate = task_gate(runs, task, correct)
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
    gate_of = lambda *tasks: [(t, gates[t]) for t in tasks if t in gates]  # noqa: E731

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
        if task in DISCRIMINATIVE:
            continue
        common = [w for w in PAPER_GSM8K if w in present]
        if len(common) >= 3:
            ours = [acc(task, w) for w in common]
            result = gated(rank_agreement_test(ours, [PAPER_GSM8K[w] for w in common], len(cfg.seeds)), gate_of(task))
            claims.append(Claim.experiment(
                f"Generative ({task}): the window ranking matches GSM8K's",
                "[0.5,1] > [0.3,1] > [0,1] > [0.2,1] > [0.45,0.55] (0.785 ... 0.738)", result,
                figure_names.SFT_WINDOWS, setting, ours=f"ours: {ranking(dict(zip(common, ours)))}; {result.summary}"))
    if disc and gen and all({MID, HIGH_NOISE} <= set(runs.window[runs.task == t]) for t in (disc[0], gen[0])):
        d_task, g_task = disc[0], gen[0]
        result = gated(crossover_test(test(d_task, MID, HIGH_NOISE), test(g_task, HIGH_NOISE, MID),
                                      (f"{d_task} {MID} - {HIGH_NOISE}", f"{g_task} {HIGH_NOISE} - {MID}")),
                       gate_of(d_task, g_task))
        claims.append(Claim.experiment(
            f"Crossover: {MID} ranks above {HIGH_NOISE} on discriminative tasks and below it on generative ones",
            "Tables 2 and 3 (MMLU/GPQA vs GSM8K)", result, figure_names.SFT_WINDOWS, setting))
    return claims
