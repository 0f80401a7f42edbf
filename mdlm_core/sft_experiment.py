r"""The SFT window comparison of notebook 04 (Huang & Mirzasoleiman 2026, Tables 2 and 3).

The paper fine-tunes LLaDA-8B with the SFT mask ratio t restricted to a window and finds a crossover:
the mid window [0.45, 0.55] is best on discriminative benchmarks (MMLU, GPQA), while high-noise windows
such as [0.5, 1] are best on generative maths (GSM8K). Here, at a scale two CPU cores can train:

* the **base model** is notebook 03's pretrained MD language model (its ``uniform`` run, seed 0, of the
  same profile), loaded from the run cache or trained on the spot through the same code (``lm.py``);
* every (window, seed) is **one multi-task SFT run** from that base, as the paper fine-tunes one model
  and scores it on several benchmarks. Each step draws one batch per task (each task with its own
  sequence layout) and minimises the mean of the tasks' ``sft_loss`` (prompt never masked, answer
  masked with t from the window, loss per answer length, EOS padding trained as answer);
* **discriminative** tasks (SST-2) are scored by the model's answer among the candidate labels: the one
  with the largest log-likelihood of ``answer | prompt`` with the whole answer region masked, i.e. the
  t = 1 term of the MD likelihood, one forward pass per candidate (LLaDA scores multiple choice by
  conditional likelihood too);
* **generative** tasks (multi-digit arithmetic; GSM8K in the ``paper`` profile) are scored by exact match
  of an answer generated with ``samplers.generate`` (low-confidence remasking, greedy by default).

The id of ``<pad>`` serves as EOS: the pretraining text never contains it, so it is free to mean
"the answer ended", and everything after the first EOS of a generated answer is dropped.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .lm import LM_PROFILES, UNIFORM, LMData, prepare_lm_data, train_lm_model
from .mask_ratio import MaskRatio
from .model import DiffusionTransformer
from .outputs import Claim, cache_dir, write_text
from .samplers import generate
from .schedules import size_schedule
from .sft import pack_sft_examples, sft_loss, strip_after_eos
from .sft_tasks import SST2_LABELS, SFTExample, exact_match, gsm8k_final_answer, load_gsm8k, load_sst2, make_arithmetic
from .text_data import PAD_TOKEN, decode_stream
from .train import TrainConfig, config_hash, resolve_device, run_dir_for, train

# The paper's SFT windows (Tables 2 and 3), in the order it lists them.
SFT_WINDOWS = {"[0,1]": (0.0, 1.0), "[0.45,0.55]": (0.45, 0.55), "[0.2,1]": (0.2, 1.0), "[0.3,1]": (0.3, 1.0),
               "[0.5,1]": (0.5, 1.0)}
STANDARD, MID, HIGH_NOISE = "[0,1]", "[0.45,0.55]", "[0.5,1]"
TASKS = ("sst2", "arithmetic", "gsm8k")
DISCRIMINATIVE = {"sst2"}

# The paper's numbers (LLaDA-8B SFT): discriminative (Table 2) and GSM8K (Table 3).
PAPER_DISCRIMINATIVE = {"MMLU": {STANDARD: 0.659, MID: 0.669}, "GPQA": {STANDARD: 0.344, MID: 0.402}}
PAPER_GSM8K = {HIGH_NOISE: 0.785, "[0.3,1]": 0.774, STANDARD: 0.768, "[0.2,1]": 0.762, MID: 0.738}


def sft_mask_ratio(label: str) -> MaskRatio:
    if label not in SFT_WINDOWS:
        raise ValueError(f"unknown SFT window {label!r}; choose from {', '.join(SFT_WINDOWS)}")
    return MaskRatio.window(*SFT_WINDOWS[label])


@dataclass(frozen=True)
class SFTConfig:
    # the base model: notebook 03's run (LM_PROFILES[pretrain_profile], window, seed), or with
    # pretrained=False the same architecture and tokenizer from a random initialisation
    pretrain_profile: str = "quick"
    pretrained: bool = True
    pretrain_window: str = UNIFORM
    pretrain_seed: int = 0
    tasks: tuple[str, ...] = ("sst2", "arithmetic")
    # SST-2: train on a seeded subset of the train phrases, score on the dev sentences
    sst2_train: int | None = 20_000
    sst2_eval: int | None = None             # None: all 872 dev sentences
    sst2_prompt_tokens: int = 40             # prompts left-padded / left-truncated (the question is at the end)
    sst2_answer_tokens: int = 4              # label + EOS padding
    sst2_labels: tuple[str, str] = SST2_LABELS   # answers for GLUE labels 0 / 1
    # arithmetic: seeded disjoint train / test problems
    arithmetic_digits: int = 3
    arithmetic_ops: tuple[str, ...] = ("+",)
    arithmetic_train: int = 20_000
    arithmetic_eval: int = 500
    arithmetic_prompt_tokens: int = 16       # must hold every prompt (an operand is never truncated)
    arithmetic_answer_tokens: int = 6        # digits + EOS padding
    # GSM8K (paper profile): examples whose solution does not fit are dropped (the count is reported)
    gsm8k_train: int | None = None
    gsm8k_eval: int | None = None
    gsm8k_prompt_tokens: int = 128
    gsm8k_answer_tokens: int = 128
    # generation for generative tasks: one token per round by default (K = answer length)
    gen_steps: int | None = None
    gen_order: str = "confidence"
    temperature: float = 0.0
    # training (one batch per task per step)
    batch_size: int = 32
    steps: int = 300
    lr: float = 1e-3
    warmup_steps: int = 30
    weight_decay: float = 0.1
    eval_every: int = 100
    curve_eval: int = 200                   # examples per task scored at every evaluation (training curves)
    eval_batch_size: int = 128
    data_seed: int = 0
    # the experiment
    windows: tuple[str, ...] = tuple(SFT_WINDOWS)
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.pretrain_profile not in LM_PROFILES:
            raise ValueError(f"pretrain_profile={self.pretrain_profile!r}: choose one of {list(LM_PROFILES)}")
        for task in self.tasks:
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
        for label in self.windows:
            sft_mask_ratio(label)
        if not self.seeds or not self.windows or not self.tasks:
            raise ValueError("name at least one task, window and seed")
        block = self.lm_config().seq_len
        for task in self.tasks:
            if self.sequence_length(task) > block:
                raise ValueError(f"{task}: prompt + answer = {self.sequence_length(task)} tokens exceed the base "
                                 f"model's block size {block}; shorten {task}_prompt_tokens / _answer_tokens")

    def lm_config(self):
        return LM_PROFILES[self.pretrain_profile]

    def answer_tokens(self, task: str) -> int:
        return getattr(self, f"{task}_answer_tokens")

    def prompt_tokens(self, task: str) -> int:
        return getattr(self, f"{task}_prompt_tokens")

    def sequence_length(self, task: str) -> int:
        return self.prompt_tokens(task) + self.answer_tokens(task)

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig.from_experiment(self, seed=seed)


SFT_PROFILES = {
    # seconds: notebook 03's smoke model, tiny task sets, every window, two seeds
    "smoke": SFTConfig(pretrain_profile="smoke", sst2_train=256, sst2_eval=64, sst2_prompt_tokens=22,
                       sst2_answer_tokens=8, arithmetic_digits=2, arithmetic_train=256, arithmetic_eval=32,
                       arithmetic_prompt_tokens=14, arithmetic_answer_tokens=8, batch_size=8, steps=6, warmup_steps=1, eval_every=3,
                       curve_eval=16, seeds=(0, 1)),
    # 2 CPU cores: notebook 03's quick architecture and tokenizer (1.3M parameters) from a random
    # initialisation (03's 300-step quick model was measured to be a worse start than random: see notebook
    # 04), one-token SST-2 answers ('0' / '1', GLUE's label ids), 2-digit addition; 5 windows x 3 seeds
    "quick": SFTConfig(pretrained=False, sst2_labels=("0", "1"), sst2_answer_tokens=3, arithmetic_digits=2,
                       arithmetic_train=2000, arithmetic_eval=500, arithmetic_prompt_tokens=10,
                       arithmetic_answer_tokens=4, steps=800, lr=1e-3, warmup_steps=50, eval_every=200),
    # a GPU: notebook 03's paper model (~50M parameters), GSM8K added, longer SFT
    "paper": SFTConfig(pretrain_profile="paper", tasks=("sst2", "arithmetic", "gsm8k"), sst2_train=None,
                       sst2_prompt_tokens=96, arithmetic_digits=4, arithmetic_ops=("+", "-"),
                       arithmetic_prompt_tokens=20,
                       arithmetic_train=100_000, arithmetic_eval=1000, batch_size=64, steps=5000, lr=2e-4,
                       warmup_steps=200, eval_every=500, curve_eval=500, seeds=(0, 1, 2)),
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
    dropped: dict = field(default_factory=dict)   # split -> examples dropped because the answer did not fit
    candidates: torch.Tensor | None = None        # discriminative: long [C, A] candidate answer regions
    candidate_names: tuple[str, ...] = ()

    @property
    def discriminative(self) -> bool:
        return self.candidates is not None

    @property
    def answer_tokens(self) -> int:
        return self.train_tokens.shape[1] - self.prompt_tokens


def eos_id(tokenizer) -> int:
    """``<pad>`` doubles as EOS: pretraining text never contains it."""
    return int(tokenizer.token_to_id(PAD_TOKEN))


def task_examples(cfg: SFTConfig, task: str) -> tuple[list[SFTExample], list[SFTExample]]:
    """(train, eval) examples of a task; data come from ``$MDLM_DATA_DIR`` (never downloaded)."""
    if task == "sst2":
        return (load_sst2("train", limit=cfg.sst2_train, seed=cfg.data_seed, labels=cfg.sst2_labels),
                load_sst2("dev", limit=cfg.sst2_eval, seed=cfg.data_seed, labels=cfg.sst2_labels))
    if task == "arithmetic":
        return make_arithmetic(cfg.arithmetic_train, cfg.arithmetic_eval, cfg.arithmetic_digits,
                               cfg.arithmetic_ops, seed=cfg.data_seed)
    return (load_gsm8k("train", limit=cfg.gsm8k_train, seed=cfg.data_seed),
            load_gsm8k("test", limit=cfg.gsm8k_eval, seed=cfg.data_seed))


def _encode(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def tokenize_task(cfg: SFTConfig, task: str, tokenizer) -> TaskData:
    """Tokenize a task into its layout; prompts are left-padded with EOS to P tokens (text prompts that are
    longer are left-truncated, keeping the question at their end; an arithmetic prompt never is)."""
    eos = eos_id(tokenizer)
    prompt_len, answer_len = cfg.prompt_tokens(task), cfg.answer_tokens(task)
    packed, dropped, targets = {}, {}, []
    for split, examples in zip(("train", "eval"), task_examples(cfg, task)):
        # answers are encoded with a leading space: the prompt ends a word, the answer starts a new one
        answers = _encode(tokenizer, [" " + ex.answer for ex in examples])
        keep = [i for i, a in enumerate(answers) if len(a) < answer_len]   # room for >= 1 EOS
        dropped[split] = len(examples) - len(keep)
        if not keep:
            raise ValueError(f"{task}: no {split} answer fits in {answer_len - 1} tokens; raise {task}_answer_tokens")
        prompts = _encode(tokenizer, [examples[i].prompt for i in keep])
        longest = max(len(p) for p in prompts)
        if task == "arithmetic" and longest > prompt_len:   # truncating would drop operand digits
            raise ValueError(f"arithmetic: a prompt has {longest} tokens > arithmetic_prompt_tokens={prompt_len}; "
                             "raise arithmetic_prompt_tokens")
        tokens, _ = pack_sft_examples(prompts, [answers[i] for i in keep], prompt_len + answer_len, eos,
                                      prompt_length=prompt_len, pad_id=eos)
        packed[split] = tokens
        if split == "eval":
            targets = [examples[i].target for i in keep]
    candidates, names = None, ()
    if task in DISCRIMINATIVE:
        names = cfg.sst2_labels
        candidates = torch.full((len(names), answer_len), eos, dtype=torch.long)
        for row, ids in enumerate(_encode(tokenizer, [" " + name for name in names])):
            candidates[row, :len(ids)] = torch.as_tensor(ids)
    return TaskData(task, packed["train"], packed["eval"], targets, prompt_len, dropped, candidates, names)


@dataclass(frozen=True)
class SFTData:
    lm: LMData
    tasks: dict[str, TaskData]

    @property
    def eos_id(self) -> int:
        return eos_id(self.lm.tokenizer)

    @property
    def fingerprint(self) -> dict:
        return {"lm": self.lm.fingerprint, "tasks": {name: {"train": int(t.train_tokens.sum()), "n": len(t.train_tokens),
                                                            "eval": int(t.eval_tokens.sum())}
                                                     for name, t in self.tasks.items()}}


def prepare_sft_data(cfg: SFTConfig, data_dir: str | Path | None = None) -> SFTData:
    lm = prepare_lm_data(cfg.lm_config(), data_dir)
    return SFTData(lm, {task: tokenize_task(cfg, task, lm.tokenizer) for task in cfg.tasks})


# -- scoring ----------------------------------------------------------------------------------------
@torch.no_grad()
def candidate_log_likelihoods(model: DiffusionTransformer, prompts: torch.Tensor, candidates: torch.Tensor,
                              batch_size: int = 128) -> torch.Tensor:
    """[N, C]: log p(candidate answer region | prompt) with the whole answer region masked (one forward
    pass per candidate and batch): sum_i log p_theta(a^i | prompt, MASK ... MASK)."""
    device = next(model.parameters()).device
    n, answer_len = prompts.shape[0], candidates.shape[1]
    out = torch.empty(n, candidates.shape[0], dtype=torch.float64)
    masked = torch.full((1, answer_len), model.mask_id, dtype=torch.long)
    for start in range(0, n, batch_size):
        rows = prompts[start:start + batch_size]
        z = torch.cat([rows, masked.expand(rows.shape[0], -1)], dim=1).to(device)
        log_probs = torch.log_softmax(model(z)[:, -answer_len:].double(), dim=-1)   # [B, A, V]
        for c, cand in enumerate(candidates.to(device)):
            out[start:start + rows.shape[0], c] = log_probs.gather(-1, cand.expand(rows.shape[0], -1)
                                                                   .unsqueeze(-1)).squeeze(-1).sum(-1).cpu()
    return out


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
               limit: int | None = None) -> dict:
    """Accuracy of the model's answers on (the first ``limit`` of) the task's eval examples."""
    tokens = task.eval_tokens[:limit]
    prompts, targets = tokens[:, :task.prompt_tokens], task.eval_targets[:len(tokens)]
    if task.discriminative:
        scores = candidate_log_likelihoods(model, prompts, task.candidates, cfg.eval_batch_size)
        answers = [task.candidate_names[i] for i in scores.argmax(-1).tolist()]
    else:
        answers = generate_answers(model, prompts, task.answer_tokens, eos, tokenizer, cfg)
        if task.name == "gsm8k":   # scored on the number after '####' in the generated solution
            answers = [gsm8k_final_answer(a) or "" for a in answers]
    correct = np.array([exact_match(a, t) for a, t in zip(answers, targets)], dtype=float)
    return {"accuracy": float(correct.mean()), "n": len(correct), "correct": correct.astype(int).tolist(),
            "examples": [{"answer": a, "target": t} for a, t in list(zip(answers, targets))[:5]]}


# -- training ---------------------------------------------------------------------------------------
def make_sft_step(data: SFTData, cfg: SFTConfig, mask_ratio: MaskRatio, device: torch.device):
    """step_fn for ``train``: one batch per task, the mean of the tasks' ``sft_loss``."""
    use_amp = device.type == "cuda"  # on CPU fp32 is faster (see the CPU calibration notes)

    def step(model: DiffusionTransformer, step: int, generator: torch.Generator):
        losses = {}
        for name, task in data.tasks.items():
            idx = torch.randint(0, task.train_tokens.shape[0], (cfg.batch_size,), generator=generator)
            prompt_lengths = torch.full((cfg.batch_size,), task.prompt_tokens, dtype=torch.long, device=device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                losses[name] = sft_loss(model, task.train_tokens[idx].to(device), prompt_lengths, mask_ratio,
                                        model.mask_id, generator).loss
        loss = torch.stack(list(losses.values())).mean()
        return loss, {f"loss_{name}": value.item() for name, value in losses.items()}

    return step


def base_model(cfg: SFTConfig, data: SFTData, progress: bool = True) -> tuple[dict, str]:
    """The weights SFT starts from and a name for them: notebook 03's run (trained here if not cached),
    or a seeded random initialisation when ``cfg.pretrained`` is False."""
    if not cfg.pretrained:
        torch.manual_seed(cfg.pretrain_seed)
        model = DiffusionTransformer(cfg.lm_config().model_config(data.lm.vocab_size))
        return model.state_dict(), f"random-init-s{cfg.pretrain_seed}"
    model, result, _ = train_lm_model(cfg.lm_config(), data.lm, cfg.pretrain_window, cfg.pretrain_seed,
                                      progress=progress)
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, result.run_dir.name


def run_key(cfg: SFTConfig, data: SFTData, label: str, seed: int, base_name: str) -> dict:
    """What one SFT run depends on (its cache key): everything but the other windows and seeds."""
    fields = {k: v for k, v in vars(cfg).items() if k not in ("windows", "seeds", "device")}
    return {"cfg": fields, "window": SFT_WINDOWS[label], "seed": seed, "base": base_name,
            "data": data.fingerprint}


@dataclass
class SFTRun:
    window: str
    seed: int
    metrics: pd.DataFrame        # training curves: step, train_loss, train_loss_<task>, <task>_acc
    scores: dict                 # task -> score_task(...) on the full eval set
    run_dir: Path
    seconds: float


def train_sft_run(cfg: SFTConfig, data: SFTData, label: str, seed: int, base: tuple[dict, str],
                  progress: bool = True) -> SFTRun:
    """Fine-tune the base model on ``label``'s window with ``seed`` (cached, resumable), then score every task."""
    device = resolve_device(cfg.device)
    state, base_name = base
    run_dir = run_dir_for(cache_dir("runs"), f"sft-{label}-s{seed}", run_key(cfg, data, label, seed, base_name))
    model = DiffusionTransformer(cfg.lm_config().model_config(data.lm.vocab_size)).to(device)
    model.load_state_dict(state)
    tokenizer, eos = data.lm.tokenizer, data.eos_id

    def eval_fn(m: DiffusionTransformer, step: int) -> dict:
        return {f"{name}_acc": score_task(m, task, cfg, tokenizer, eos, limit=cfg.curve_eval)["accuracy"]
                for name, task in data.tasks.items()}

    t0 = time.perf_counter()
    result = train(model, make_sft_step(data, cfg, sft_mask_ratio(label), device), cfg.train_config(seed),
                   eval_fn=eval_fn, run_dir=run_dir, desc=f"SFT {label} s{seed}", progress=progress)
    seconds = time.perf_counter() - t0
    score_path = run_dir / "scores.json"
    if score_path.exists():
        scores = json.loads(score_path.read_text())
    else:
        model.eval()
        scores = {name: score_task(model, task, cfg, tokenizer, eos) for name, task in data.tasks.items()}
        write_text(score_path, json.dumps(scores) + "\n")
    return SFTRun(label, seed, result.metrics, scores, run_dir, seconds)


@dataclass
class SFTResults:
    runs: pd.DataFrame       # one row per (window, seed, task): accuracy, n
    metrics: pd.DataFrame    # training curves of every run
    correct: dict            # (window, seed, task) -> per-example 0/1 (same eval examples for every run)
    examples: pd.DataFrame   # a few generated / chosen answers per run and task


def run_sft_windows(cfg: SFTConfig, data: SFTData, progress: bool = True) -> SFTResults:
    """Every (window, seed) SFT run of the config, seeds outermost so the first pass covers every window."""
    base = base_model(cfg, data, progress=progress)
    rows, curves, correct, examples = [], [], {}, []
    jobs = [(label, seed) for seed in cfg.seeds for label in cfg.windows]
    for label, seed in tqdm(jobs, desc="SFT runs", disable=not progress):
        run = train_sft_run(cfg, data, label, seed, base, progress=progress)
        for task, score in run.scores.items():
            rows.append({"window": label, "low": SFT_WINDOWS[label][0], "high": SFT_WINDOWS[label][1],
                         "seed": seed, "task": task, "discriminative": task in DISCRIMINATIVE,
                         "accuracy": score["accuracy"], "n": score["n"], "train_seconds": run.seconds})
            correct[(label, seed, task)] = np.asarray(score["correct"])
            examples += [{"window": label, "seed": seed, "task": task, **ex} for ex in score["examples"]]
        curves.append(run.metrics.assign(window=label, seed=seed))
    return SFTResults(pd.DataFrame(rows), pd.concat(curves, ignore_index=True), correct, pd.DataFrame(examples))


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
                      correct: dict | None = None) -> tuple[float, float, int]:
    """Accuracy of window a minus window b on ``task``, paired by seed: (mean, s.e., number of seeds).

    The s.e. is the larger of two: the seed s.d. of the paired differences / sqrt(seeds) (the SFT
    randomness) and, given the per-example 0/1 scores ``correct`` ((window, seed, task) -> array), the
    s.e. over eval examples of the seed-averaged per-example difference (the finite test set: with one
    base model the seeds can agree closely while a few hundred examples still leave a wide margin).
    """
    t = runs[runs.task == task].pivot_table(index="seed", columns="window", values="accuracy")
    diff = (t[a] - t[b]).dropna()
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    if correct is not None:
        per_example = np.mean([np.asarray(correct[(a, s, task)], float) - np.asarray(correct[(b, s, task)], float)
                               for s in diff.index], axis=0)
        example_se = float(per_example.std(ddof=1) / math.sqrt(len(per_example)))
        se = example_se if not np.isfinite(se) else max(se, example_se)
    return float(diff.mean()), se, len(diff)


def _direction_verdict(diff: float, se: float) -> str:
    """reproduced: the paper's sign, > 2 s.e.; partly: the paper's sign within noise; else not reproduced."""
    if diff > 0 and np.isfinite(se) and diff > 2 * se:
        return "reproduced"
    return "partly" if diff > 0 else "not reproduced"


def _fmt_diff(diff: float, se: float, n: int) -> str:
    return f"{diff:+.3f} ± {se:.3f} (paired over {n} seeds)"


def ranking(values: dict[str, float]) -> str:
    """'a > b = c': keys by decreasing value, equal values joined by '='."""
    items = sorted(values.items(), key=lambda kv: -kv[1])
    out = items[0][0]
    for (_, prev), (name, value) in zip(items, items[1:]):
        out += (" = " if np.isclose(value, prev) else " > ") + name
    return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def sft_claims(runs: pd.DataFrame, cfg: SFTConfig, correct: dict | None = None) -> list[Claim]:
    """Notebook 04's claims table against the paper's Tables 2 and 3 (``correct``: see window_difference)."""
    summary = summarize_sft(runs)
    claims = []
    disc = [t for t in cfg.tasks if t in DISCRIMINATIVE]
    gen = [t for t in cfg.tasks if t not in DISCRIMINATIVE]
    acc = lambda task, w: summary[(summary.task == task) & (summary.window == w)].accuracy.iloc[0]  # noqa: E731
    setting = (f"{'pretrained ' + cfg.pretrain_profile if cfg.pretrained else 'randomly initialised'} base model, "
               f"{cfg.steps} SFT steps, seeds {list(cfg.seeds)}; s.e.: the larger of seed and test-example s.e.")
    compare = lambda task, a, b: window_difference(runs, task, a, b, correct)  # noqa: E731
    # the paper's pairwise claim per task kind: (window that should win, what is scored, the paper's numbers)
    pairwise = {True: (MID, "accuracy", "MMLU 0.669 vs 0.659; GPQA 0.402 vs 0.344 (LLaDA-8B)"),
                False: (HIGH_NOISE, "exact match", "GSM8K 0.785 vs 0.768 (LLaDA-8B)")}
    for task in [*disc, *gen]:
        winner, metric, paper = pairwise[task in DISCRIMINATIVE]
        kind = "Discriminative" if task in DISCRIMINATIVE else "Generative"
        if {STANDARD, winner} <= set(cfg.windows):
            diff, se, n = compare(task, winner, STANDARD)
            label = "the mid window" if winner == MID else "the high-noise window"
            claims.append(Claim(
                f"{kind} ({task}): {label} {winner} beats standard SFT {STANDARD}", paper,
                f"{metric} {acc(task, winner):.3f} vs {acc(task, STANDARD):.3f}; difference {_fmt_diff(diff, se, n)}",
                _direction_verdict(diff, se), "04_huang_tables2_3_sft_windows", setting))
        if task in DISCRIMINATIVE:
            continue
        common = [w for w in PAPER_GSM8K if w in cfg.windows]
        if len(common) >= 3:
            ours = [acc(task, w) for w in common]
            rho = spearman(ours, [PAPER_GSM8K[w] for w in common])
            claims.append(Claim(
                f"Generative ({task}): the window ranking matches GSM8K's",
                "[0.5,1] > [0.3,1] > [0,1] > [0.2,1] > [0.45,0.55] (0.785 ... 0.738)",
                f"ours: {ranking(dict(zip(common, ours)))}; Spearman rho = {rho:+.2f} over {len(common)} windows",
                "reproduced" if rho >= 0.7 else "partly" if rho > 0 else "not reproduced",  # NaN (all tied): not
                "04_huang_tables2_3_sft_windows", "rho >= 0.7: reproduced; 0 < rho < 0.7: partly"))
    if disc and gen and {MID, HIGH_NOISE} <= set(cfg.windows):
        # a crossover is a flip of the ranking of the two windows between the task kinds
        d_task, g_task = disc[0], gen[0]
        d_diff, d_se, _ = compare(d_task, MID, HIGH_NOISE)
        g_diff, g_se, _ = compare(g_task, HIGH_NOISE, MID)
        verdicts = [_direction_verdict(d_diff, d_se), _direction_verdict(g_diff, g_se)]
        verdict = ("reproduced" if verdicts == ["reproduced"] * 2 else
                   "not reproduced" if "not reproduced" in verdicts else "partly")
        claims.append(Claim(
            f"Crossover: {MID} ranks above {HIGH_NOISE} on discriminative tasks and below it on generative ones",
            "Tables 2 and 3", f"{d_task}: {MID} - {HIGH_NOISE} = {_fmt_diff(d_diff, d_se, len(cfg.seeds))}; "
            f"{g_task}: {HIGH_NOISE} - {MID} = {_fmt_diff(g_diff, g_se, len(cfg.seeds))}",
            verdict, "04_huang_tables2_3_sft_windows",
            "both differences must have the paper's sign; reproduced when both exceed 2 s.e."))
    return claims
