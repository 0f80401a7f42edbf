"""The paper-scale GPU probe: time every GPU path at paper sizes, project the paper runs, train notebook 03's pair.

On a lent GPU, from the checkout root, with WikiText-2 carried inside the checkout as
``data/wikitext-2/wiki.{train,valid,test}.tokens`` (about 13 MB; never ``../shared`` there: here,
``mkdir -p data && cp -r ../shared/data/wikitext-2 data/ && echo /data/ >> .git/info/exclude``, then name ``data`` in
the run's ``carry``), one command, with a time limit that leaves room for one rerun (e.g. ``timeout_s`` 540)::

    PYTHONUNBUFFERED=1 python3 bench/gpu_paper_probe.py --budget 480 --out figures/paper

(``--data DIR`` names another data folder; the default is ``$MDLM_DATA_DIR``, else ``data/`` of the checkout.)
It needs torch, numpy, scipy, pandas, matplotlib, seaborn, tqdm and tokenizers, and neither papermill, jupytext,
ipykernel nor a network. It ends within ``--budget`` seconds, counted from its start, and rewrites
``OUT/gpu_probe.json`` and ``OUT/gpu_probe.csv`` (one row per path) atomically after every measurement, so a kill
still leaves everything measured so far.

* **Phase A** (about 90 s of 480): every GPU path of the paper profile, at paper sizes and batches, on random
  tokens (a rate does not depend on the text): the LM step (U[0, 1] and notebook 06's adaptive mask ratio; bf16
  autocast on CUDA, as ``lm.make_lm_step`` does), ``elbo_eval`` (as the library runs it, and under a bf16
  autocast wrapper), the multi-task SFT step (``sft.sft_loss`` on ``pack_sft_examples`` rows at notebook 04's
  layouts), generation with 128 rounds (``generate`` and ``generate_blockwise``), candidate scoring
  (``sft.answer_elbo_mc``), the parity MLP ensembles (notebook 02's groups and notebook 06's adaptive one) and the
  parity transformer ensemble (``ensemble.Ensemble``, as notebook 02 builds it, and ``TransformerEnsemble``).
  A path that raises is recorded (exception type and message) and the others still run. Each path is warmed up,
  then timed call by call (``torch.cuda.synchronize`` on GPU). From the rates: the projected minutes of every
  paper run, and the 50M LM's bf16 MFU against a dense 8192^3 bf16 matmul timed in the same run.
* **Phase B** (the rest): notebook 03's headline pair, ``[0,1]`` against ``[0.4,0.5]``, seed 0, the 50M model
  (``LM_PAPER``), batch 64, as many steps as fit (the time left split evenly, steps and LR schedule fixed up front
  from Phase A's step time), then the learning gate and the test ELBO at 10 draws with its s.e., and the paired
  difference on common masks. One seed at a truncated budget: a measurement, not a reproduction.

``--tiny`` runs every path at toy sizes on the CPU (the matmul reference is then a small fp32 one), so the whole
probe takes well under ``--budget 120`` on two cores (``tests/test_gpu_paper_probe.py``). ``--paths`` runs a
subset, ``--no-phase-b`` stops after Phase A, ``--fail-path NAME`` makes one path raise (to check that a crash is
recorded and the others still run).
"""

from __future__ import annotations

import time

_T0 = time.monotonic()   # the budget counts from here, before the heavy imports

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:   # a lent machine runs the checkout as it is, without installing it
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from mdlm_core.data.text import PackedSequences, unigram_entropy  # noqa: E402
from mdlm_core.evaluation import ELBOResult, elbo_eval, paired_difference  # noqa: E402
from mdlm_core.experiments import (adaptive_mask_ratio, parity_grokking, sft_windows, u_curve,  # noqa: E402
                                  window_mechanism)
from mdlm_core.io import write_text  # noqa: E402
from mdlm_core.lm import (BINS, LM_SMOKE, UNIFORM, LMSpec, build_lm_model, lm_flops_per_token, make_lm_step,  # noqa: E402
                          prepare_lm_data, scored_test_rows)
from mdlm_core.parity import MD, ParityMember, ParityObjective, ParitySpec, build_model  # noqa: E402
from mdlm_core.samplers import block_schedules, generate, generate_blockwise  # noqa: E402
from mdlm_core.schedules import size_schedule  # noqa: E402
from mdlm_core.sft import answer_elbo_mc, answer_masks, pack_sft_examples, sft_loss  # noqa: E402
from mdlm_core.training import TrainConfig, clip_gradients, learning_rate, make_optimizer, resolve_device, train  # noqa: E402
from mdlm_core.transformer_ensemble import TransformerEnsemble  # noqa: E402

SCHEMA = "gpu_paper_probe/1"
HEADLINE = "one seed at a truncated budget: a measurement, not a reproduction"
PAIR = (UNIFORM, BINS[4])   # "[0,1]" against "[0.4,0.5]"
JSON_NAME, CSV_NAME = "gpu_probe.json", "gpu_probe.csv"


class BudgetExceeded(RuntimeError):
    """The probe's clock ran out inside a measurement."""


# -- the clock --------------------------------------------------------------------------------------------------
@dataclass
class Clock:
    budget: float                     # seconds from the probe's start
    margin: float                     # kept free at the end (writing, interpreter exit)

    def elapsed(self) -> float:
        return time.monotonic() - _T0

    def left(self) -> float:
        """Seconds left before the hard end (budget minus margin)."""
        return self.budget - self.margin - self.elapsed()

    def check(self, deadline: float | None = None) -> None:
        """Raise ``BudgetExceeded`` past the hard end, or past ``deadline`` (seconds since the start)."""
        now = self.elapsed()
        if now > self.budget - self.margin or (deadline is not None and now > deadline):
            raise BudgetExceeded(f"out of time at {now:.1f} s (budget {self.budget:.0f} s, margin {self.margin:.0f} s)")


# -- the sizes: the paper profile's, or toy ones ------------------------------------------------------------------
@dataclass
class Sizes:
    mode: str                                   # "paper" or "tiny"
    lm: LMSpec                                  # the LM of notebooks 03, 04 (base) and 06
    adaptive_label: str                         # notebook 06's adaptive mask ratio
    sft_tasks: list[tuple[str, int, int, int]]  # (task, prompt tokens, answer tokens, batch) with SFT data
    sft_mask_ratio: str                         # the window timed (every window costs the same)
    gen: dict                                   # batch, prompt, answer, rounds, block, order
    scoring: dict                               # examples, prompt, answer, draws, batch
    elbo: dict                                  # rows, draws, batch
    parity: dict[str, tuple[ParitySpec, list]]  # group -> (spec, members), notebook 02
    adaptive_parity: dict                       # notebook 06: spec, members, sampler spec, ensembles
    warmup: int = 3
    iters: int = 20
    matmul: dict = field(default_factory=dict)  # n, dtype
    max_b_steps: int | None = None              # Phase B's cap on steps per run (--tiny)


def paper_sizes() -> Sizes:
    lm = u_curve.PROFILES["paper"].lm
    sft = sft_windows.PROFILES["paper"]
    scored_on = getattr(sft_windows, "SCORED_ON", {})
    tasks = [(t, sft.spec(t).prompt_tokens, sft.spec(t).answer_tokens, sft.task_batch_size(t))
             for t in sft.tasks if t not in scored_on]
    gen_task = "gsm8k" if "gsm8k" in sft.tasks else tasks[-1][0]
    answer = sft.spec(gen_task).answer_tokens
    disc = "next_word" if "next_word" in sft.tasks else tasks[0][0]
    parity = parity_grokking.PROFILES["paper"]
    adaptive = adaptive_mask_ratio.PROFILES["paper"]
    return Sizes(
        "paper", lm, adaptive.labels()["adaptive"], tasks, sft.windows[0],
        gen=dict(batch=sft.scoring.eval_batch_size, prompt=sft.spec(gen_task).prompt_tokens, answer=answer,
                 rounds=sft.scoring.gen_steps or answer, block=32, order=sft.scoring.gen_order, task=gen_task),
        scoring=dict(examples=8, prompt=sft.spec(disc).prompt_tokens, answer=sft.spec(disc).answer_tokens,
                     draws=sft.scoring.score_draws, batch=sft.scoring.eval_batch_size, task=disc),
        elbo=dict(rows=512, draws=2, batch=lm.eval.eval_batch_size),
        parity=notebook02_groups(parity),
        adaptive_parity=adaptive_parity_sizes(adaptive, parity.mlp),
        matmul=dict(n=8192, dtype="bfloat16"))


def tiny_sizes() -> Sizes:
    lm = replace(LM_SMOKE, model=replace(LM_SMOKE.model, dropout=0.1))   # the smoke LM, with the paper's dropout
    parity = parity_grokking.PROFILES["smoke"]
    adaptive = adaptive_mask_ratio.PROFILES["smoke"]
    return Sizes(
        "tiny", lm, adaptive.labels()["adaptive"], [("next_word", 12, 4, 4), ("arithmetic", 6, 4, 4)], "[0,1]",
        gen=dict(batch=4, prompt=8, answer=16, rounds=16, block=8, order="confidence", task="toy"),
        scoring=dict(examples=4, prompt=12, answer=4, draws=4, batch=8, task="toy"),
        elbo=dict(rows=16, draws=2, batch=8),
        parity={name: (spec, members[:4]) for name, (spec, members) in notebook02_groups(parity).items()},
        adaptive_parity=adaptive_parity_sizes(adaptive, parity.mlp) | {"members": 2, "ensembles": 1},
        warmup=1, iters=3, matmul=dict(n=256, dtype="float32"), max_b_steps=20)


def notebook02_groups(cfg) -> dict:
    """Notebook 02's probed ensembles from its cells: "mlp" the largest phase-diagram cell, "levers" the AdamW
    ablation cell (the sweep cell where there is none), "transformer" the transformer cell."""
    first = {}
    for cell in cfg.cells():
        first.setdefault(cell.group, cell)
    chosen = {"mlp": first["phase"], "levers": first.get("optimiser", first["sweep"]),
              **({"transformer": first["transformer"]} if "transformer" in first else {})}
    return {name: (cell.spec, list(cell.members)) for name, cell in chosen.items()}


def adaptive_parity_sizes(cfg, mlp: ParitySpec) -> dict:
    """Notebook 06's parity from its config: notebook 02's MLP at its largest k, one ensemble of its seeds per k,
    each member's t from an ``AdaptiveBins`` sampler, no per-step regime bookkeeping. (Reads the config as it
    is nested now, ``cfg.parity.ks`` / ``cfg.adaptive.bins(steps)``, or flat as it was, ``cfg.parity_ks`` /
    ``cfg.adaptive(steps)``.)"""
    runs = getattr(cfg, "parity", None)
    if hasattr(runs, "ks"):
        ks, seeds, spec = runs.ks, runs.seeds, runs.spec(max(runs.ks))
    else:
        ks, seeds = cfg.parity_ks, cfg.parity_seeds
        spec = replace(mlp, data=replace(mlp.data, k=min(max(ks), mlp.data.n)))
    spec = replace(spec, train=replace(spec.train, log_train_regimes=False))
    return dict(spec=spec, members=len(seeds), sampler=adaptive_bins(cfg, spec.train.steps), ensembles=len(ks),
                ks=tuple(ks))


def adaptive_bins(cfg, steps: int):
    """Notebook 06's ``AdaptiveBins`` for a run of ``steps`` (its time scales are shares of training)."""
    return cfg.adaptive.bins(steps) if hasattr(cfg.adaptive, "bins") else cfg.adaptive(steps)


def config_sizes(sizes: Sizes, n_params: int | None) -> dict:
    """The paper configs' sizes the probe used (JSON)."""
    cfg = sizes.lm.model_config(sizes.lm.data.vocab_size)
    return {"lm": {**_jsonable(sizes.lm), "n_params": n_params, "flops_per_token": lm_flops_per_token(cfg)},
            "adaptive_label": sizes.adaptive_label,
            "sft_tasks": [dict(task=t, prompt=p, answer=a, batch=b) for t, p, a, b in sizes.sft_tasks],
            "generation": sizes.gen, "scoring": sizes.scoring, "elbo": sizes.elbo,
            "parity": {name: {"family": spec.family, "members": len(members), "batch": spec.train.batch_size,
                              "steps": spec.train.steps, "eval_every": spec.train.eval_every,
                              "model": _jsonable(spec.model), "data": _jsonable(spec.data),
                              "log_train_regimes": spec.train.log_train_regimes}
                       for name, (spec, members) in sizes.parity.items()},
            "adaptive_parity": {"members": sizes.adaptive_parity["members"],
                                "ensembles": sizes.adaptive_parity["ensembles"],
                                "sampler": sizes.adaptive_parity["sampler"].label, "ks": sizes.adaptive_parity["ks"],
                                "data": _jsonable(sizes.adaptive_parity["spec"].data)},
            "matmul": sizes.matmul}


def _jsonable(obj):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


# -- the writer ---------------------------------------------------------------------------------------------------
class Probe:
    """Everything measured so far; ``write`` puts it in OUT/gpu_probe.json and OUT/gpu_probe.csv (atomically)."""

    CSV_COLUMNS = ["path", "status", "precision", "seconds_per_call", "calls", "warmup", "items_per_call", "unit",
                   "items_per_second", "seconds_total", "error"]

    def __init__(self, out: Path, clock: Clock, mode: str):
        self.out, self.clock = out, clock
        self.data: dict = {"schema": SCHEMA, "label": HEADLINE, "mode": mode, "status": "running",
                           "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "budget_s": clock.budget, "margin_s": clock.margin, "elapsed_s": 0.0,
                           "environment": {}, "sizes": {}, "matmul": {}, "paths": {}, "mfu": {},
                           "projection": {}, "phase_b": {"label": HEADLINE, "status": "not started"}, "events": []}

    def log(self, message: str) -> None:
        line = f"[{self.clock.elapsed():7.1f} s] {message}"
        print(line, flush=True)
        self.data["events"].append(line)

    def path(self, name: str, record: dict) -> None:
        self.data["paths"][name] = record
        self.write()

    def write(self) -> None:
        self.data["elapsed_s"] = round(self.clock.elapsed(), 2)
        write_text(self.out / JSON_NAME, json.dumps(_jsonable(self.data), indent=2) + "\n")
        rows = [{col: rec.get(col) for col in self.CSV_COLUMNS} | {"path": name}
                for name, rec in self.data["paths"].items()]
        write_text(self.out / CSV_NAME, pd.DataFrame(rows, columns=self.CSV_COLUMNS).to_csv(index=False))


# -- timing -------------------------------------------------------------------------------------------------------
@dataclass
class Context:
    sizes: Sizes
    device: torch.device
    clock: Clock
    fail_path: str | None = None
    deadline: float = math.inf                  # the current path's end (seconds since start)
    _lm: torch.nn.Module | None = None

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def lm_model(self) -> torch.nn.Module:
        """The paper LM, built once and shared by the LM, ELBO, SFT, generation and scoring paths."""
        if self._lm is None:
            self._lm = build_lm_model(self.sizes.lm, self.sizes.lm.data.vocab_size, seed=0, device=self.device)
        return self._lm

    def tokens(self, shape, generator_seed: int = 0) -> torch.Tensor:
        """Random real token ids (never MASK) of the LM's vocabulary."""
        gen = torch.Generator().manual_seed(generator_seed)
        return torch.randint(1, self.sizes.lm.data.vocab_size, shape, generator=gen)

    def autocast(self):
        """bf16 autocast on CUDA (what the library's LM and SFT steps use there); nothing on the CPU."""
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else nullcontext()

    def time_calls(self, call: Callable[[], object], items: float, unit: str, *, warm_call=None,
                   warmup: int | None = None, iters: int | None = None) -> dict:
        """Warm up, then time call by call until ``iters`` calls or the path's deadline (at least one timed call)."""
        warmup = self.sizes.warmup if warmup is None else warmup
        iters = self.sizes.iters if iters is None else iters
        for _ in range(warmup):
            (warm_call or call)()
            self.clock.check()
        self.sync()
        times: list[float] = []
        while len(times) < iters:
            start = time.perf_counter()
            call()
            self.sync()
            times.append(time.perf_counter() - start)
            self.clock.check()
            if self.clock.elapsed() > self.deadline:
                break
        per_call = float(np.median(times))
        return {"seconds_per_call": per_call, "seconds_mean": float(np.mean(times)), "calls": len(times),
                "warmup": warmup, "items_per_call": items, "unit": unit, "items_per_second": items / per_call}


def optimizer_steps(model: torch.nn.Module, step_fn, cfg: TrainConfig) -> Callable[[], None]:
    """One optimiser step per call, as ``training.train`` does it (AdamW, clipping, the loss and metrics read)."""
    optimizer = make_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    counter = iter(range(10 ** 9))
    model.train()

    def call() -> None:
        step = next(counter)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, cfg)
        loss, metrics = step_fn(model, step, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_gradients(model, cfg.grad_clip) if cfg.grad_clip else None
        optimizer.step()
        float(loss.item())
        _ = [float(v) for v in metrics.values()] + ([grad_norm.item()] if grad_norm is not None else [])
    return call


# -- the paths ----------------------------------------------------------------------------------------------------
PATHS: dict[str, Callable[[Context], dict]] = {}


def path(name: str):
    """Register a path: a function that builds it at the context's sizes and times it (returns its record)."""
    def register(fn):
        PATHS[name] = fn
        return fn
    return register


def _lm_step(ctx: Context, label: str) -> dict:
    spec = ctx.sizes.lm
    model = ctx.lm_model()
    batch, seq_len = spec.train.batch_size, spec.data.seq_len
    rows = ctx.tokens((max(1024, 4 * batch), seq_len))
    step = make_lm_step(rows, batch, spec.mask_ratio(label), ctx.device)
    call = optimizer_steps(model, step, spec.train_config(seed=0))
    record = ctx.time_calls(call, batch * seq_len, "tokens")
    return record | {"precision": "bf16 autocast" if ctx.cuda else "fp32", "mask_ratio": label, "batch": batch,
                     "seq_len": seq_len}


@path("lm_step")
def lm_step(ctx: Context) -> dict:
    """Notebook 03's training step, t ~ U[0, 1] (``lm.make_lm_step`` through the training loop's optimiser step)."""
    return _lm_step(ctx, UNIFORM)


@path("lm_step_adaptive")
def lm_step_adaptive(ctx: Context) -> dict:
    """Notebook 06's adaptive mask ratio: the same step with an ``AdaptiveBins`` sampler fed after every step."""
    return _lm_step(ctx, ctx.sizes.adaptive_label)


def _elbo(ctx: Context, autocast: bool) -> dict:
    e = ctx.sizes.elbo
    seq_len = ctx.sizes.lm.data.seq_len
    data = PackedSequences(ctx.tokens((e["rows"], seq_len)), torch.ones(e["rows"], seq_len, dtype=torch.bool))
    model = ctx.lm_model()
    context = (lambda: torch.autocast(ctx.device.type, dtype=torch.bfloat16)) if autocast else nullcontext

    def call():
        with context():
            return elbo_eval(model, data, e["draws"], seed=1234, t_bins=1, batch_size=e["batch"])
    warm = PackedSequences(data.tokens[:e["batch"]], data.valid[:e["batch"]])

    def warm_call():
        with context():
            elbo_eval(model, warm, 1, seed=1234, t_bins=1, batch_size=e["batch"])
    record = ctx.time_calls(call, e["rows"] * e["draws"], "sequence-draws", warm_call=warm_call, warmup=2,
                            iters=max(2, ctx.sizes.iters // 4))
    return record | {"precision": ("bf16 autocast (wrapped by the probe)" if autocast else
                                   "as the library runs it (fp32 unless elbo_eval autocasts)"),
                     "batch": e["batch"], "seq_len": seq_len}


@path("elbo_eval")
def elbo_eval_path(ctx: Context) -> dict:
    """``evaluation.elbo_eval`` as notebook 03 calls it (validation curve and test ELBO)."""
    return _elbo(ctx, autocast=False)


@path("elbo_eval_autocast")
def elbo_eval_autocast(ctx: Context) -> dict:
    """The same under a bf16 autocast wrapper: what evaluating in bf16 would save."""
    return _elbo(ctx, autocast=True)


@path("sft_step")
def sft_step(ctx: Context) -> dict:
    """Notebook 04's multi-task SFT step: one batch per task with SFT data, the mean of the tasks' ``sft_loss``
    (prompt never masked), on ``pack_sft_examples`` rows at the paper layouts, bf16 autocast on CUDA."""
    from mdlm_core.mask_ratio import MaskRatio

    eos = 0
    tasks = {}
    for i, (name, prompt, answer, batch) in enumerate(ctx.sizes.sft_tasks):
        n = max(256, 2 * batch)
        prompts = ctx.tokens((n, prompt), 10 + i).tolist()
        answers = ctx.tokens((n, answer - 1), 20 + i).tolist()   # room for one EOS
        tokens, _ = pack_sft_examples(prompts, answers, prompt + answer, eos, prompt_length=prompt, pad_id=eos)
        tasks[name] = (tokens, prompt, batch)
    mask_ratio = MaskRatio.parse(ctx.sizes.sft_mask_ratio, stratified=False)
    device = ctx.device

    def step(model, step: int, generator: torch.Generator):
        losses = {}
        for name, (tokens, prompt, batch) in tasks.items():
            idx = torch.randint(0, tokens.shape[0], (batch,), generator=generator)
            prompt_lengths = torch.full((batch,), prompt, dtype=torch.long, device=device)
            with ctx.autocast():
                losses[name] = sft_loss(model, tokens[idx].to(device), prompt_lengths, mask_ratio, model.mask_id,
                                        generator).loss
        loss = torch.stack(list(losses.values())).mean()
        return loss, {f"loss_{name}": value.item() for name, value in losses.items()}

    sft = sft_windows.PROFILES[ctx.sizes.mode if ctx.sizes.mode == "paper" else "smoke"].train
    cfg = TrainConfig(steps=sft.steps, lr=sft.lr, warmup_steps=sft.warmup_steps, weight_decay=sft.weight_decay)
    call = optimizer_steps(ctx.lm_model(), step, cfg)
    n_tokens = sum(batch * (prompt + answer) for _, prompt, answer, batch in ctx.sizes.sft_tasks)
    return ctx.time_calls(call, n_tokens, "tokens") | {"precision": "bf16 autocast" if ctx.cuda else "fp32",
                                                       "tasks": [t for t, *_ in ctx.sizes.sft_tasks]}


def _generation(ctx: Context, blockwise: bool) -> dict:
    g = ctx.sizes.gen
    model = ctx.lm_model().eval()
    prompts = ctx.tokens((g["batch"], g["prompt"]), 3).to(ctx.device)

    def run(rounds: int):
        generator = torch.Generator(device=ctx.device).manual_seed(0)
        if blockwise:
            per_block = max(1, rounds * g["block"] // g["answer"])
            return generate_blockwise(model, prompts, g["answer"], block_schedules(g["answer"], g["block"], per_block),
                                      order=g["order"], temperature=0.0, generator=generator)
        return generate(model, prompts, g["answer"], size_schedule("equal", g["answer"], rounds), order=g["order"],
                        temperature=0.0, generator=generator)
    warm_rounds = min(4, g["rounds"])
    record = ctx.time_calls(lambda: run(g["rounds"]), g["batch"], "sequences",
                            warm_call=lambda: run(warm_rounds), warmup=1, iters=max(1, ctx.sizes.iters // 10))
    return record | {"precision": "as the library runs it (fp32)", "rounds": g["rounds"],
                     "seconds_per_round": record["seconds_per_call"] / g["rounds"], "batch": g["batch"],
                     "prompt": g["prompt"], "answer": g["answer"], "order": g["order"],
                     **({"block": g["block"]} if blockwise else {})}


@path("generate")
def generate_path(ctx: Context) -> dict:
    """``samplers.generate``: notebook 04's GSM8K answers, 128 rounds of low-confidence remasking at batch 128."""
    return _generation(ctx, blockwise=False)


@path("generate_blockwise")
def generate_blockwise_path(ctx: Context) -> dict:
    """``samplers.generate_blockwise``: LLaDA's semi-autoregressive blocks, the same 128 rounds in all."""
    return _generation(ctx, blockwise=True)


@path("answer_scoring")
def answer_scoring(ctx: Context) -> dict:
    """``sft.answer_elbo_mc``: one candidate's Monte Carlo ELBO, ``draws`` masks per example (notebook 04's
    discriminative scoring calls it once per candidate)."""
    s = ctx.sizes.scoring
    model = ctx.lm_model().eval()
    prompts, answers = ctx.tokens((s["examples"], s["prompt"]), 4), ctx.tokens((s["examples"], s["answer"]), 5)
    masks = answer_masks(s["examples"], s["answer"], s["draws"], torch.Generator().manual_seed(4321))
    call = lambda: answer_elbo_mc(model, prompts, answers, masks, model.mask_id, s["batch"])  # noqa: E731
    record = ctx.time_calls(call, s["examples"] * s["draws"], "sequences", warmup=1, iters=max(2, ctx.sizes.iters // 4))
    return record | {"precision": "as the library runs it (fp32)", "examples": s["examples"], "draws": s["draws"],
                     "batch": s["batch"], "seq_len": s["prompt"] + s["answer"],
                     "examples_per_second": record["items_per_second"] / s["draws"]}


def _parity(ctx: Context, spec: ParitySpec, members: list, model: torch.nn.Module, step_fn=None,
            objective: ParityObjective | None = None) -> dict:
    seeds = {m.seed for m in members}
    data = {s: spec.data.for_seed(s) for s in seeds}
    objective = objective or ParityObjective(members, [data[m.seed] for m in members], spec.train.batch_size,
                                             ctx.device, float64_loss=spec.train.float64_loss,
                                             log_train_regimes=spec.train.log_train_regimes)
    model = model.to(ctx.device)
    call = optimizer_steps(model, step_fn or objective.step_fn, spec.train_config())
    record = ctx.time_calls(call, len(members) * spec.train.batch_size, "member-sequences")
    model.eval()
    ctx.clock.check()
    start = time.perf_counter()
    with torch.no_grad():
        objective.eval_fn(model, 0)
    ctx.sync()
    return record | {"precision": "fp32 (float64 loss)" if spec.train.float64_loss else "fp32",
                     "members": len(members), "batch": spec.train.batch_size,
                     "log_train_regimes": spec.train.log_train_regimes, "eval_seconds": time.perf_counter() - start,
                     "eval_every": spec.train.eval_every}


def _parity_group(ctx: Context, group: str, stacked: bool = False) -> dict:
    spec, members = ctx.sizes.parity[group]
    seeds = [m.seed for m in members]
    model = (TransformerEnsemble.from_seeds(spec.model_config(), seeds) if stacked else build_model(spec, seeds))
    return _parity(ctx, spec, members, model) | {"model": type(model).__name__}


@path("parity_mlp")
def parity_mlp(ctx: Context) -> dict:
    """Notebook 02's largest phase-diagram cell (supervised and three MD windows) as one ``MLPEnsemble``."""
    return _parity_group(ctx, "mlp")


@path("parity_mlp_levers")
def parity_mlp_levers(ctx: Context) -> dict:
    """Notebook 02's optimiser lever (the AdamW ablation cell) as one ``MLPEnsemble``."""
    return _parity_group(ctx, "levers")


@path("parity_transformer")
def parity_transformer(ctx: Context) -> dict:
    """Notebook 02's transformer cell as ``parity.build_model`` builds it (``TransformerEnsemble``)."""
    return _parity_group(ctx, "transformer")


@path("parity_transformer_stacked")
def parity_transformer_stacked(ctx: Context) -> dict:
    """The same members as one ``TransformerEnsemble`` (stacked weights, fused attention)."""
    return _parity_group(ctx, "transformer", stacked=True)


@path("parity_mlp_adaptive")
def parity_mlp_adaptive(ctx: Context) -> dict:
    """Notebook 06's parity: MD members whose t comes from their own ``AdaptiveBins`` sampler, fed each member's
    per-sequence 1/t-weighted loss after every step (as ``adaptive_mask_ratio.AdaptiveParityObjective``)."""
    a = ctx.sizes.adaptive_parity
    spec: ParitySpec = a["spec"]
    seeds = list(range(a["members"]))
    samplers = [a["sampler"].new_sampler() for _ in seeds]
    members = [ParityMember(MD, s, sampler) for s, sampler in zip(seeds, samplers)]
    objective = ParityObjective(members, [spec.data.for_seed(s) for s in seeds], spec.train.batch_size, ctx.device,
                                float64_loss=spec.train.float64_loss, log_train_regimes=False)

    def step_fn(model, step, _generator):
        batch = objective.draw_batch(step)
        losses, logits = objective.member_losses(model, batch)
        with torch.no_grad():
            nll = torch.nn.functional.cross_entropy(logits.detach().float().flatten(0, -2), batch.tokens.flatten(),
                                                    reduction="none").view(batch.mask.shape)
            per_sequence = (nll * batch.mask).sum(-1) / objective.seq_len / batch.t
            for i, sampler in enumerate(samplers):
                sampler.update(batch.t[i], per_sequence[i], step)
        return losses.sum(), {f"loss.m{i}": v for i, v in enumerate(losses.detach().tolist())}
    return _parity(ctx, spec, members, build_model(spec, seeds), step_fn, objective) | {"ensembles": a["ensembles"]}


def run_path(ctx: Context, probe: Probe, name: str, seconds: float) -> dict:
    """Build and time one path within ``seconds``; a crash is recorded with its type and message."""
    start = time.perf_counter()
    ctx.deadline = ctx.clock.elapsed() + seconds
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats(ctx.device)
    try:
        if name == ctx.fail_path:
            raise RuntimeError(f"forced failure of path {name!r} (--fail-path)")
        record = {"status": "ok", **PATHS[name](ctx)}
    except BudgetExceeded as err:
        record = {"status": "skipped", "error": str(err)}
    except Exception as err:  # noqa: BLE001 - a crash is a result: record it and carry on
        record = {"status": "crash", "error": f"{type(err).__name__}: {err}",
                  "traceback": traceback.format_exc(limit=8)[-3000:]}
    record["seconds_total"] = time.perf_counter() - start
    record["doc"] = (PATHS[name].__doc__ or "").split("\n")[0]
    if ctx.cuda:
        record["peak_memory_gib"] = torch.cuda.max_memory_allocated(ctx.device) / 2 ** 30
        torch.cuda.empty_cache()
    probe.path(name, record)
    probe.log(f"path {name}: {record['status']}"
              + (f", {record['seconds_per_call'] * 1e3:.2f} ms per call, {record['items_per_second']:.4g} "
                 f"{record['unit']}/s" if record["status"] == "ok" else f" ({record.get('error')})"))
    return record


# -- the reference matmul and the MFU -------------------------------------------------------------------------------
def matmul_flops(ctx: Context) -> dict:
    """FLOP/s of a dense n^3 matmul (bf16 8192^3 on the GPU; a small fp32 one under --tiny), mean of 10 after 3."""
    n, dtype = ctx.sizes.matmul["n"], getattr(torch, ctx.sizes.matmul["dtype"])
    a = torch.randn(n, n, device=ctx.device, dtype=dtype)
    b = torch.randn(n, n, device=ctx.device, dtype=dtype)
    for _ in range(3):
        a @ b
    ctx.sync()
    repeats = 10
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    ctx.sync()
    seconds = (time.perf_counter() - start) / repeats
    note = ("dense bf16 8192^3 matmul on the GPU (torch.matmul), the MFU's denominator" if ctx.cuda and n == 8192
            else f"--tiny or CPU: a {n}^3 {ctx.sizes.matmul['dtype']} matmul on the {ctx.device.type}, "
                 "not the 8192^3 bf16 GPU reference")
    return {"n": n, "dtype": ctx.sizes.matmul["dtype"], "device": ctx.device.type, "seconds": seconds,
            "flops": 2.0 * n ** 3 / seconds, "tflops": 2.0 * n ** 3 / seconds / 1e12, "note": note}


def mfu(sizes: Sizes, lm: dict | None, matmul: dict) -> dict:
    """The LM step's achieved FLOP/s (``lm_flops_per_token`` x tokens/s) over the matmul's."""
    if not lm or lm.get("status") != "ok" or not matmul.get("flops"):
        return {"status": "unavailable", "note": "the lm_step path or the matmul did not run"}
    cfg = sizes.lm.model_config(sizes.lm.data.vocab_size)
    fpt = lm_flops_per_token(cfg, mask_frac=0.5)
    achieved = lm["items_per_second"] * fpt
    return {"status": "ok", "model": f"{cfg.n_layer}x{cfg.n_embd} LM, vocab {cfg.vocab_size}, seq {cfg.block_size}",
            "precision": lm.get("precision"), "tokens_per_second": lm["items_per_second"], "flops_per_token": fpt,
            "achieved_tflops": achieved / 1e12, "matmul_tflops": matmul["tflops"], "mfu": achieved / matmul["flops"],
            "note": "matmul FLOPs only (lm_flops_per_token, head on the masked half); " + matmul["note"]}


# -- the projection of every paper run ------------------------------------------------------------------------------
def projection(paths: dict, test_rows: int, test_rows_source: str) -> dict:
    """Minutes of every paper run from the measured rates: runs x steps x seconds per step + evaluation."""
    rate = lambda name, key="seconds_per_call": (paths.get(name, {}).get(key)  # noqa: E731
                                                 if paths.get(name, {}).get("status") == "ok" else None)
    rows: list[dict] = []
    nan = float("nan")

    def add(notebook, part, runs, steps, step_s, eval_s, source, note=""):
        train_min = runs * steps * step_s / 60 if step_s is not None else nan
        eval_min = eval_s / 60 if eval_s is not None else nan
        rows.append(dict(notebook=notebook, part=part, runs=runs, steps=steps, seconds_per_step=step_s,
                         train_minutes=train_min, eval_minutes=eval_min, minutes=train_min + eval_min, rates=source,
                         note=note))

    # notebook 03 (and the LM runs of 04 and 06): the validation curve and the test ELBO per run
    cfg03 = u_curve.PROFILES["paper"]
    lm = cfg03.lm
    elbo_s = rate("elbo_eval")
    per_row_draw = elbo_s / paths["elbo_eval"]["items_per_call"] if elbo_s is not None else None
    evals = lm.train.steps // lm.train.eval_every + 1
    lm_eval_s = (None if per_row_draw is None else
                 per_row_draw * (evals * lm.train.valid_seqs * lm.train.valid_draws + test_rows * lm.eval.test_draws))
    runs03 = len(cfg03.jobs)
    add("03_wikitext_u_curve", "LM runs (windows x seeds)", runs03, lm.train.steps, rate("lm_step"),
        None if lm_eval_s is None else runs03 * lm_eval_s, "lm_step, elbo_eval",
        f"{evals} validation evaluations ({lm.train.valid_seqs} x {lm.train.valid_draws}) and the test ELBO "
        f"({test_rows} rows x {lm.eval.test_draws} draws; rows {test_rows_source}) per run")

    # notebook 04: SFT runs, their training-curve scores and final scores, the base model's scores
    sft = sft_windows.PROFILES["paper"]
    scoring_rows_s = rate("answer_scoring")
    per_row = scoring_rows_s / paths["answer_scoring"]["items_per_call"] if scoring_rows_s is not None else None
    gen_round = rate("generate", "seconds_per_round")
    gen_batch = paths.get("generate", {}).get("batch", sft.scoring.eval_batch_size)
    eval_sizes = {"sst2": 872, "gsm8k": 1068}   # SST-2 dev; GSM8K test after the 251 dropped (issue 30)

    def score_seconds(limit: int | None, draws: int) -> float | None:
        if per_row is None or gen_round is None:
            return None
        total = 0.0
        for task in sft.tasks:
            spec = sft.spec(task)
            n = getattr(spec, "eval", None) or eval_sizes.get(task, 1000)
            n = min(n, limit) if limit else n
            if task in sft_windows.DISCRIMINATIVE:
                choices = getattr(spec, "choices", None) or len(getattr(spec, "labels", ())) or 4
                total += per_row * n * choices * draws
            else:
                rounds = sft.scoring.gen_steps or spec.answer_tokens
                total += math.ceil(n / gen_batch) * rounds * gen_round
        return total
    curve = score_seconds(sft.scoring.curve_eval, sft.scoring.curve_draws)
    final = score_seconds(None, sft.scoring.score_draws)
    sft_evals = sft.train.steps // sft.train.eval_every + 1
    runs04 = len(sft.windows) * len(sft.seeds)
    add("04_sft_windows", "SFT runs (windows x seeds)", runs04, sft.train.steps, rate("sft_step"),
        None if curve is None else runs04 * (sft_evals * curve + final), "sft_step, answer_scoring, generate",
        f"{sft_evals} curve scorings ({sft.scoring.curve_eval} items, {sft.scoring.curve_draws} draws, generation "
        f"for the generative tasks) and the final scores ({sft.scoring.score_draws} draws) per run; every "
        "generated answer costs a GSM8K round (an overestimate for arithmetic)")
    add("04_sft_windows", "base model scores", 1, 0, 0.0, final, "answer_scoring, generate",
        "the base model is notebook 03's [0,1] seed-0 run, from the run cache (one more LM run if 03 did not run)")

    # notebook 06: the new LM runs (uniform and the best window are notebook 03's), the adaptive parity ensembles
    cfg06 = adaptive_mask_ratio.PROFILES["paper"]
    labels = cfg06.labels()
    shared = {labels["uniform"], labels["best window"]} & set(cfg03.windows)
    for name in ("beta", "curriculum", "adaptive"):
        add("06_adaptive_mask_ratio", f"LM runs: {name}", len(cfg06.seeds), lm.train.steps,
            rate("lm_step_adaptive" if name == "adaptive" else "lm_step"),
            None if lm_eval_s is None else len(cfg06.seeds) * lm_eval_s,
            "lm_step_adaptive, elbo_eval" if name == "adaptive" else "lm_step, elbo_eval")
    add("06_adaptive_mask_ratio", "LM runs shared with notebook 03", 0, lm.train.steps, rate("lm_step"), 0.0,
        "-", f"{', '.join(sorted(shared))} x {len(cfg06.seeds)} seeds come from notebook 03's run cache")
    parity = parity_grokking.PROFILES["paper"]
    ap = adaptive_parity_sizes(cfg06, parity.mlp)
    p_eval = rate("parity_mlp_adaptive", "eval_seconds")
    p_evals = ap["spec"].train.steps // ap["spec"].train.eval_every + 1
    add("06_adaptive_mask_ratio", f"adaptive parity ensembles (k = {ap['ks']})", ap["ensembles"],
        ap["spec"].train.steps, rate("parity_mlp_adaptive"),
        None if p_eval is None else ap["ensembles"] * p_evals * p_eval, "parity_mlp_adaptive",
        f"one ensemble of {ap['members']} members per k")

    # notebook 07: the long and the data-limited runs, each scoring three curves (valid, train and test rows) at every
    # evaluation, and the gradient noise of notebook 03's runs (a draw is one forward-backward: an lm_step's cost)
    cfg07 = window_mechanism.PROFILES["paper"]
    jobs07 = {part: [(w, s) for p, w, s in cfg07.jobs if p == part] for part in ("long", "limited", "noise")}
    for part, spec, runs, final_rows in (
            ("long runs", cfg07.long_spec(), len(jobs07["long"]), test_rows),
            ("data-limited runs", cfg07.limited_spec(), len(jobs07["limited"]),
             2 * cfg07.limited.final_seqs)):   # test + train rows
        t = spec.train
        n_evals = t.steps // t.eval_every + 1
        eval_s = (None if per_row_draw is None else
                  runs * per_row_draw * (n_evals * 3 * t.valid_seqs * t.valid_draws + final_rows * spec.eval.test_draws))
        add("07_window_mechanism", part, runs, t.steps, rate("lm_step"), eval_s, "lm_step, elbo_eval",
            f"{n_evals} evaluations of 3 curves ({t.valid_seqs} x {t.valid_draws}) and the final ELBO "
            f"({final_rows} rows x {spec.eval.test_draws} draws) per run")
    noise, measured, trained03 = cfg07.noise, jobs07["noise"], set(cfg03.jobs)
    untrained = [job for job in measured if job not in trained03]
    add("07_window_mechanism", "gradient noise (init and end of each run)", len(measured), 2 * noise.n_draws,
        rate("lm_step"), 0.0, "lm_step", f"{noise.n_draws} gradient draws at each point; the runs are notebook 03's")
    if untrained:
        add("07_window_mechanism", "notebook 03 runs the noise part measures but 03 does not train", len(untrained),
            lm.train.steps, rate("lm_step"), None if lm_eval_s is None else len(untrained) * lm_eval_s,
            "lm_step, elbo_eval")

    # notebook 02: one ensemble per cell, each at the rate of the probed ensemble of its kind
    names = {"transformer": "parity_transformer", "optimiser": "parity_mlp_levers"}
    for cell in parity.cells():
        spec, members, name = cell.spec, cell.members, names.get(cell.group, "parity_mlp")
        evals02 = spec.train.steps // spec.train.eval_every + 1
        eval_s = rate(name, "eval_seconds")
        add("02_parity_grokking", f"{cell.label} ensemble ({len(members)} members)", 1, spec.train.steps,
            rate(name), None if eval_s is None else evals02 * eval_s, name,
            f"{evals02} evaluations" + ("; the per-member Signal/Noise bookkeeping is on"
                                         if spec.train.log_train_regimes else ""))
    for notebook in ("01_signal_curve", "05_unmasking_schedules"):
        add(notebook, "no GPU path", 0, 0, 0.0, 0.0, "-", "numpy theory and Monte Carlo on the CPU: not projected")

    table = pd.DataFrame(rows)
    by_notebook = table.groupby("notebook", sort=False).minutes.sum(min_count=1)
    total = float(by_notebook.sum(min_count=1))
    if not math.isfinite(total):
        total = float("nan")
    return {"rows": rows, "minutes_by_notebook": by_notebook.to_dict(), "total_hours": total / 60,
            "alternative": {"parity_transformer_stacked_seconds_per_step": rate("parity_transformer_stacked"),
                            "elbo_eval_autocast_seconds_per_call": rate("elbo_eval_autocast")},
            "assumptions": ["one GPU, runs one after another (workers=1 on a GPU)",
                            "steps timed at the paper batch on random tokens; evaluation from the elbo_eval, "
                            "answer_scoring and generate rates, per row or per round",
                            "a path that crashed leaves its rows NaN"]}


# -- Phase B: notebook 03's headline pair ----------------------------------------------------------------------------
def phase_b(ctx: Context, probe: Probe, data_dir: str | None, step_seconds: float | None,
            elbo_per_row_draw: float | None) -> None:
    spec = ctx.sizes.lm
    b = probe.data["phase_b"]
    b.update(status="preparing data", pair=list(PAIR), seed=0)
    probe.write()
    start = time.perf_counter()
    data = prepare_lm_data(spec, data_dir)
    test = scored_test_rows(spec, data)
    b["data"] = {"seconds": time.perf_counter() - start, "vocab_size": data.vocab_size, "source": data.source,
                 "train_rows": int(data.train.shape[0]), "test_rows": int(test.tokens.shape[0]),
                 "sha256": data.sha256}
    probe.data["projection"] = projection(probe.data["paths"], int(data.test.tokens.shape[0]), "counted")
    probe.log(f"data: {data.train.shape[0]} train rows, {test.tokens.shape[0]} test rows, vocab {data.vocab_size}")
    probe.write()

    # the plan, fixed before training: the time left minus both evaluations, split evenly
    draws, batch, seq_len = 10, spec.train.batch_size, spec.data.seq_len
    eval_rows = int(test.tokens.shape[0])
    eval_est = 1.5 * (elbo_per_row_draw or 0.0) * eval_rows * draws + 5.0   # + model build and the first batches
    left = ctx.clock.left()
    if step_seconds is None:
        b.update(status="skipped", reason="no measured LM step time (lm_step did not run)")
        probe.write()
        return
    if 2 * eval_est > 0.4 * left:   # evaluation would crowd out training: score fewer test rows (same for both)
        eval_rows = max(2, int(eval_rows * 0.4 * left / (2 * eval_est)))
        eval_est = 1.5 * (elbo_per_row_draw or 0.0) * eval_rows * draws + 5.0
    per_run = (left - 2 * eval_est) / 2
    steps = int(per_run / (1.1 * step_seconds))   # 10% for the first steps' warm-up and the loss reads
    if ctx.sizes.max_b_steps:
        steps = min(steps, ctx.sizes.max_b_steps)
    if steps < 10:
        b.update(status="skipped", reason=f"{left:.0f} s left: fewer than 10 steps per run would fit")
        probe.write()
        return
    warmup = max(1, round(spec.train.warmup_steps * steps / spec.train.steps))
    train_cfg = replace(spec.train_config(seed=0), steps=steps, warmup_steps=warmup,
                        eval_every=max(1, steps // 10), checkpoint_every=0)
    rows = PackedSequences(test.tokens[:eval_rows], test.valid[:eval_rows])
    b.update(status="training", plan={
        "steps_per_run": steps, "warmup_steps": warmup, "schedule": train_cfg.schedule, "lr": train_cfg.lr,
        "batch_size": batch, "seq_len": seq_len, "tokens_per_run": steps * batch * seq_len,
        "spec_steps": spec.train.steps, "fraction_of_spec_steps": steps / spec.train.steps,
        "planned_seconds_per_run": per_run, "step_seconds_phase_a": step_seconds,
        "test_rows_scored": eval_rows, "test_rows_available": int(test.tokens.shape[0]), "test_draws": draws,
        "t_bins": 10, "eval_seed": spec.eval.eval_seed, "estimated_eval_seconds": eval_est})
    b["runs"] = {}
    probe.log(f"phase B: {steps} steps per run (warm-up {warmup}), {eval_rows} test rows x {draws} draws")
    probe.write()

    results: dict[str, ELBOResult] = {}
    for i, label in enumerate(PAIR):
        run_deadline = ctx.clock.elapsed() + (ctx.clock.left() - (len(PAIR) - i) * eval_est) / (len(PAIR) - i)
        entry = b["runs"][label] = {"status": "training"}
        probe.write()
        model = build_lm_model(spec, data.vocab_size, seed=0, device=ctx.device)
        inner = make_lm_step(data.train, batch, spec.mask_ratio(label), ctx.device)
        losses: list[torch.Tensor] = []

        def step_fn(m, step, generator, inner=inner, losses=losses, deadline=run_deadline):
            ctx.clock.check(deadline)
            loss, metrics = inner(m, step, generator)
            losses.append(loss.detach())
            return loss, metrics
        start = time.perf_counter()
        try:
            train(model, step_fn, train_cfg, progress=False, desc=f"probe {label}")
            entry["steps_done"] = steps
        except BudgetExceeded:
            entry["steps_done"] = len(losses)
            entry["stopped_early"] = "the run's share of the budget ran out: the LR schedule did not finish"
        seconds = time.perf_counter() - start
        curve = torch.stack(losses).float().cpu().numpy() if losses else np.zeros(0)
        chunks = np.array_split(curve, min(10, len(curve))) if len(curve) else []
        entry.update(status="evaluating", train_seconds=seconds,
                     tokens_per_second=entry["steps_done"] * batch * seq_len / seconds if seconds else None,
                     train_loss_by_tenth=[float(c.mean()) for c in chunks],
                     final_train_loss=float(curve[-max(1, len(curve) // 10):].mean()) if len(curve) else None)
        probe.write()
        start = time.perf_counter()
        result = elbo_eval(model, rows, draws, spec.eval.eval_seed, t_bins=10, batch_size=spec.eval.eval_batch_size)
        results[label] = result
        entry.update(status="ok", eval_seconds=time.perf_counter() - start, test_loss=result.loss,
                     test_stderr=result.stderr, perplexity=result.perplexity, n_sequences=result.n_sequences,
                     n_draws=result.n_draws, per_bin=result.per_bin.to_dict(orient="list"))
        probe.log(f"phase B {label}: {entry['steps_done']} steps, test ELBO {result.loss:.4f} "
                  f"+- {result.stderr:.4f}")
        probe.write()
        del model
        if ctx.cuda:
            torch.cuda.empty_cache()

    diff, se = paired_difference(results[PAIR[1]].per_sequence, results[UNIFORM].per_sequence)
    b["paired_difference"] = {"comparison": f"{PAIR[1]} - {PAIR[0]}", "mean": diff, "stderr": se,
                              "note": "per-sequence test ELBOs on common masks (same eval seed), one seed each"}
    probe.write()
    # notebook 03's learning gate on the uniform model: test ELBO vs the scored tokens' unigram entropy
    runs = pd.DataFrame([{"window": label, "seed": 0, "test_loss": r.loss} for label, r in results.items()])
    loss_vs_t = pd.concat([r.per_bin.assign(window=label, seed=0) for label, r in results.items()])
    gate = u_curve.learning_gate(runs, loss_vs_t, unigram_entropy(rows.tokens[rows.valid].numpy()))
    b["gate"] = {"passed": gate.passed, "ratio": gate.ratio, "unigram_entropy": gate.unigram_entropy,
                 "uniform_test_loss": gate.uniform_test_loss, "loss_low_t": gate.loss_low_t,
                 "loss_high_t": gate.loss_high_t, "describe": gate.describe()}
    b["status"] = "done"
    probe.log(f"phase B: gate {'PASS' if gate.passed else 'FAIL'} (ratio {gate.ratio:.3f}); "
              f"{PAIR[1]} - {PAIR[0]} = {diff:+.4f} +- {se:.4f} nats")
    probe.write()


# -- the environment --------------------------------------------------------------------------------------------------
def environment(device: torch.device) -> dict:
    env = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
           "platform": platform.platform(), "cpu_count": os.cpu_count(), "device": str(device),
           "torch_threads": torch.get_num_threads(),
           "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32,
           "float32_matmul_precision": torch.get_float32_matmul_precision()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env |= {"gpu": torch.cuda.get_device_name(device), "gpu_memory_gib": props.total_memory / 2 ** 30,
                "capability": f"{props.major}.{props.minor}", "multiprocessors": props.multi_processor_count,
                "cudnn": torch.backends.cudnn.version()}
    else:
        env["gpu"] = None
    try:
        env["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                           timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["git_commit"] = None
    return env


def default_data_dir() -> str:
    return os.environ.get("MDLM_DATA_DIR") or str(ROOT / "data")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=480.0, help="seconds from start to exit (hard), default 480")
    p.add_argument("--out", type=Path, default=ROOT / "figures" / "paper",
                   help=f"folder for {JSON_NAME} and {CSV_NAME} (default figures/paper)")
    p.add_argument("--data", default=None, help="data folder holding wikitext-2/ (default $MDLM_DATA_DIR, else data/)")
    p.add_argument("--tiny", action="store_true", help="every path at toy sizes on the CPU (the test)")
    p.add_argument("--device", default="auto", help="auto (cuda when available; cpu under --tiny), cpu, cuda")
    p.add_argument("--phase-a", type=float, default=None, help="seconds for Phase A (default 19%% of the budget)")
    p.add_argument("--paths", default=None, help=f"comma-separated subset of: {', '.join(PATHS)}")
    p.add_argument("--no-phase-b", action="store_true", help="stop after Phase A")
    p.add_argument("--fail-path", default=None, help="debug: make this path raise (a crash is recorded, others run)")
    args = p.parse_args(argv)
    if args.paths:
        unknown = sorted(set(args.paths.split(",")) - set(PATHS))
        if unknown:
            p.error(f"unknown path(s) {', '.join(unknown)}; choose from {', '.join(PATHS)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    clock = Clock(args.budget, margin=max(3.0, 0.04 * args.budget))
    device = torch.device("cpu") if args.tiny and args.device == "auto" else resolve_device(args.device)
    probe = Probe(args.out, clock, "tiny" if args.tiny else "paper")
    probe.data["environment"] = environment(device)
    probe.log(f"probe on {probe.data['environment'].get('gpu') or device}, torch {torch.__version__}, "
              f"budget {args.budget:.0f} s")
    sizes = tiny_sizes() if args.tiny else paper_sizes()
    ctx = Context(sizes, device, clock, fail_path=args.fail_path)
    try:
        n_params = ctx.lm_model().num_params(non_embedding=False)
    except Exception as err:  # noqa: BLE001 - recorded; the LM paths will crash on their own and say why
        n_params = None
        probe.log(f"building the LM failed: {type(err).__name__}: {err}")
    probe.data["sizes"] = config_sizes(sizes, n_params)
    probe.write()

    # Phase A
    names = args.paths.split(",") if args.paths else list(PATHS)
    phase_a_end = clock.elapsed() + (args.phase_a if args.phase_a is not None else 0.19 * args.budget)
    try:
        probe.data["matmul"] = matmul_flops(ctx)
        probe.log(f"matmul {sizes.matmul['n']}^3 {sizes.matmul['dtype']}: {probe.data['matmul']['tflops']:.4g} TFLOP/s")
    except Exception as err:  # noqa: BLE001
        probe.data["matmul"] = {"status": "crash", "error": f"{type(err).__name__}: {err}"}
    probe.write()
    for i, name in enumerate(names):
        share = max(0.5, (phase_a_end - clock.elapsed()) / (len(names) - i))
        if clock.left() <= 0:
            probe.path(name, {"status": "skipped", "error": "out of time before the path started"})
            continue
        run_path(ctx, probe, name, share)
    probe.data["mfu"] = mfu(sizes, probe.data["paths"].get("lm_step"), probe.data["matmul"])
    probe.data["projection"] = projection(probe.data["paths"], 1263, "assumed (WikiText-2 test at the paper BPE)")
    if probe.data["mfu"].get("status") == "ok":
        probe.log(f"MFU {probe.data['mfu']['mfu']:.3f} ({probe.data['mfu']['achieved_tflops']:.4g} TFLOP/s)")
    probe.write()
    ctx._lm = None
    if device.type == "cuda":
        torch.cuda.empty_cache()

    # Phase B
    if args.no_phase_b:
        probe.data["phase_b"].update(status="skipped", reason="--no-phase-b")
    else:
        lm = probe.data["paths"].get("lm_step", {})
        elbo = probe.data["paths"].get("elbo_eval", {})
        try:
            phase_b(ctx, probe, args.data or default_data_dir(),
                    lm.get("seconds_per_call") if lm.get("status") == "ok" else None,
                    elbo["seconds_per_call"] / elbo["items_per_call"] if elbo.get("status") == "ok" else None)
        except BudgetExceeded as err:
            probe.data["phase_b"].update(status="stopped", reason=str(err))
        except Exception as err:  # noqa: BLE001 - recorded
            probe.data["phase_b"].update(status="crash", error=f"{type(err).__name__}: {err}",
                                         traceback=traceback.format_exc(limit=8)[-3000:])
            probe.log(f"phase B crashed: {type(err).__name__}: {err}")
    probe.data["status"] = "done"
    probe.log(f"done in {clock.elapsed():.1f} s; wrote {args.out / JSON_NAME} and {args.out / CSV_NAME}")
    probe.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
