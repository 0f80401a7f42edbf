"""The one training loop, shared by parity (notebook 02), language modelling (03) and SFT (04).

What it owns: AdamW with weight decay on matrices only, linear warm-up then cosine decay, gradient
clipping, a tqdm bar, periodic evaluation into a tidy ``metrics.csv`` (one row per evaluation),
checkpoints that resume bit-exactly after a kill (model, optimiser, data/mask RNG and the global CPU and
CUDA RNGs are all restored), and a run cache keyed by a hash of the full configuration, so re-running a
notebook skips finished runs. What it does not own: the objective. The caller passes
``step_fn(model, step, generator) -> (loss, {name: float})`` and optionally
``eval_fn(model, step) -> {name: float}``; everything random inside them must draw from the given
generator (or the global RNG, which is checkpointed too) for resumes to be exact. A step_fn that keeps state of
its own across steps (an adaptive mask-ratio sampler) passes it as ``state=`` (anything with ``state_dict`` /
``load_state_dict``): it is checkpointed, restored on resume, and saved with the final model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

import pandas as pd
import torch
from tqdm.auto import tqdm

from .io import atomic_path, cache_dir, write_text

StepFn = Callable[[torch.nn.Module, int, torch.Generator], "tuple[torch.Tensor, Mapping[str, float]]"]
EvalFn = Callable[[torch.nn.Module, int], Mapping[str, float]]


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    lr: float = 1e-3
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1        # cosine decays to lr * min_lr_ratio
    schedule: str = "cosine"         # "cosine" or "constant" (after warm-up)
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float | None = 1.0
    eval_every: int = 100
    eval_at_start: bool = True
    checkpoint_every: int = 1        # in evaluations; 0 disables checkpoints
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.eval_every < 1:
            raise ValueError("steps and eval_every must be >= 1")
        if not math.isfinite(self.lr) or self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"lr={self.lr} must be a finite number > 0 and min_lr_ratio={self.min_lr_ratio} in [0, 1]")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be >= 0 (0 means no warm-up)")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule={self.schedule!r}: use 'cosine' or 'constant'")



C = TypeVar("C")


def derive_config(target: type[C], source: Any, **overrides: Any) -> C:
    """A ``target`` dataclass built from the same-named fields of the ``source`` dataclass, then ``overrides``.

    ``derive_config(TrainConfig, cfg, seed=1)``. It fails loudly rather than guess: an override that is not a
    field of ``target`` is an error, and so is a ``target`` field with no default that neither ``source`` nor
    the overrides give (a renamed field would otherwise fall back to a default without a sign).
    """
    if not (dataclasses.is_dataclass(target) and dataclasses.is_dataclass(source)):
        raise TypeError(f"derive_config needs two dataclasses, got {target!r} and {type(source).__name__}")
    fields = {f.name: f for f in dataclasses.fields(target) if f.init}
    if unknown := sorted(set(overrides) - set(fields)):
        raise TypeError(f"derive_config({target.__name__}, ...): {', '.join(unknown)} not a field of "
                        f"{target.__name__} (its fields: {', '.join(fields)})")
    names = set(fields) & {f.name for f in dataclasses.fields(source)}
    missing = [n for n, f in fields.items() if n not in names and n not in overrides
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise TypeError(f"derive_config({target.__name__}, {type(source).__name__}): no value for "
                        f"{', '.join(missing)}; name it in the source config or pass it as an override")
    return target(**({name: getattr(source, name) for name in names} | overrides))


def resolve_device(name: str = "auto") -> torch.device:
    """"auto": cuda when available, else cpu; any other name is passed to torch.device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to cfg.lr over warmup_steps, then cosine decay to lr * min_lr_ratio at the end."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * min(progress, 1.0)))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; matrices (and embeddings) are decayed, vectors (biases, LayerNorm gains) are not.

    A model that stacks several members on leading dimensions (``ensemble.Ensemble``) says how many in
    ``leading_member_dims``; the matrix test then applies to each member's own shape.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    stacked = getattr(model, "leading_member_dims", 0)
    groups = [{"params": [p for p in params if p.dim() - stacked >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() - stacked < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, foreach=True)


def clip_gradients(model: torch.nn.Module, max_norm: float) -> torch.Tensor:
    """Clip to ``max_norm`` and return the pre-clip norm. A model with its own ``clip_grad_norm_`` (an
    ensemble clips each member alone) is asked for it; the mean of its members' norms is returned."""
    if hasattr(model, "clip_grad_norm_"):
        return model.clip_grad_norm_(max_norm).float().mean()
    return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__type__": type(obj).__name__, **{k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}}
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def config_hash(config: Any) -> str:
    """Short stable hash of a (nested) configuration of dataclasses, dicts, lists and scalars."""
    blob = json.dumps(_jsonable(config), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def run_dir_for(root: str | Path, name: str, config: Any) -> Path:
    """``root/<name>-<hash>``; the configuration is stored beside the run for inspection."""
    path = Path(root) / f"{name}-{config_hash(config)}"
    path.mkdir(parents=True, exist_ok=True)
    if not (path / "config.json").exists():
        write_text(path / "config.json", json.dumps(_jsonable(config), indent=2, sort_keys=True) + "\n")
    return path


TRAIN_CONFIG = "train_config.json"
_BOOKKEEPING = {"checkpoint_every"}  # fields that do not change what a run computes


def _check_run_config(run_dir: Path, cfg: TrainConfig, writer: bool) -> None:
    """A run_dir holds one run: refuse to resume or reuse it under a different TrainConfig (the difference is
    shown); record the config on first use."""
    saved_path = run_dir / TRAIN_CONFIG
    current = {k: v for k, v in _jsonable(cfg).items() if k not in _BOOKKEEPING}
    if saved_path.exists():
        saved = {k: v for k, v in json.loads(saved_path.read_text()).items() if k not in _BOOKKEEPING}
        if saved != current:
            diff = ", ".join(f"{k}: saved {saved.get(k)!r} vs now {current.get(k)!r}"
                             for k in sorted(saved.keys() | current.keys()) if saved.get(k) != current.get(k))
            raise ValueError(f"run_dir {run_dir} holds a run trained with a different TrainConfig ({diff}): pass a "
                             "fresh run_dir (run_dir_for(root, name, config) names one per configuration) or delete "
                             "this one to retrain")
    elif writer:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text(saved_path, json.dumps(_jsonable(cfg), indent=2, sort_keys=True) + "\n")


@dataclass
class TrainResult:
    metrics: pd.DataFrame   # one row per evaluation: step, lr, train_* means since the last row, eval metrics
    run_dir: Path | None
    cached: bool            # True when the run was already finished and nothing was trained
    seconds: float = float("nan")   # wall time of the session that finished training (a cached run: as recorded)
    state: dict | None = None       # the final state_dict of ``train(..., state=)``, when one was given


CHECKPOINT = "checkpoint.pt"
TIMING = "timing.json"
FINAL = "final.pt"
METRICS = "metrics.csv"


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint, turning any corruption into an error that says what to do."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, bad pickle, wrong file...
        reason = (str(err).strip().splitlines() or [""])[0][:160]
        raise RuntimeError(f"checkpoint {path} is corrupt or unreadable ({type(err).__name__}: {reason}). "
                           f"Delete it (or its run directory {path.parent}) to retrain that run from scratch.") from err


def _save(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def distributed_rank_and_size() -> tuple[int, int]:
    """(rank, world size) under torch.distributed (e.g. launched by torchrun), else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _wrap_ddp(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` in DistributedDataParallel, with the model's own attributes (``mask_id``, ``leading_member_dims``,
    ``config``) readable through the wrapper: a step function calls the wrapper (its forward syncs the gradients)
    and reads the model's attributes from it, as it would from the bare model."""
    from torch.nn.parallel import DistributedDataParallel

    class ModelDDP(DistributedDataParallel):
        def __getattr__(self, name: str):
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self.module, name)

    device = next(model.parameters()).device
    return ModelDDP(model, device_ids=[device.index] if device.type == "cuda" else None)


def rng_state() -> dict:
    """The global RNG streams a step may draw from (dropout, ``torch.rand``): CPU, and every CUDA device's."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict | torch.Tensor) -> None:
    """Restore ``rng_state()``; a checkpoint from before the CUDA state was saved holds the CPU tensor alone."""
    if isinstance(state, torch.Tensor):
        state = {"cpu": state}
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _gather(obj: Any, world: int) -> list:
    import torch.distributed as dist

    if world == 1:
        return [obj]
    out: list = [None] * world
    dist.all_gather_object(out, obj)
    return out


def _state_entry(state: Any) -> dict:
    return {} if state is None else {"state": state.state_dict()}


def train(model: torch.nn.Module, step_fn: StepFn, cfg: TrainConfig, *, eval_fn: EvalFn | None = None,
          run_dir: str | Path | None = None, desc: str = "train", progress: bool = True,
          state: Any = None, optimizer_factory: Callable[[torch.nn.Module, TrainConfig], torch.optim.Optimizer]
          | None = None) -> TrainResult:
    """Train ``model`` in place for cfg.steps optimiser steps; resumable and cached when run_dir is given.

    Under torch.distributed (``torchrun --nproc_per_node N``) the model is wrapped in
    DistributedDataParallel, rank r draws its batches and masks from seed ``cfg.seed + 1_000_003 r`` (so the
    ranks see different data), and rank 0 alone evaluates, writes metrics and checkpoints; the checkpoint
    holds every rank's generator state, so a resumed multi-GPU run is exact too. ``train_*`` metrics are
    rank 0's. ``optimizer_factory(model, cfg)`` replaces ``make_optimizer`` (AdamW) when given, e.g. plain SGD; the
    caller keys the cache on that choice.
    """
    run_dir = Path(run_dir) if run_dir is not None else None
    rank, world = distributed_rank_and_size()
    verbose = progress and rank == 0
    if run_dir is not None:
        _check_run_config(run_dir, cfg, writer=rank == 0)
    if run_dir is not None and (run_dir / FINAL).exists():
        final = load_checkpoint(run_dir / FINAL)
        model.load_state_dict(final["model"])
        if state is not None:
            state.load_state_dict(final["state"])
        if verbose:
            print(f"[train] {desc}: finished run found in cache ({run_dir.name}), not retrained", flush=True)
        timing = run_dir / TIMING
        seconds = json.loads(timing.read_text())["seconds_this_session"] if timing.exists() else float("nan")
        return TrainResult(pd.DataFrame(final["rows"]), run_dir, cached=True, seconds=seconds,
                           state=final.get("state"))

    net = _wrap_ddp(model) if world > 1 else model
    optimizer = (optimizer_factory or make_optimizer)(model, cfg)
    generator = torch.Generator().manual_seed(cfg.seed + 1_000_003 * rank)
    torch.manual_seed(cfg.seed)  # dropout and any other global-RNG use
    rows: list[dict] = []
    start = 0
    if run_dir is not None and (run_dir / CHECKPOINT).exists():
        ckpt = load_checkpoint(run_dir / CHECKPOINT)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        states = ckpt["generator"]
        generator.set_state(states[rank] if isinstance(states, list) else states)
        set_rng_state(ckpt["torch_rng"])
        rows, start = ckpt["rows"], ckpt["step"]
        if state is not None:
            state.load_state_dict(ckpt["state"])

    def evaluate(step: int, sums: dict[str, float], count: int) -> None:
        row: dict[str, float] = {"step": step, "lr": learning_rate(max(step - 1, 0), cfg)}
        row.update({f"train_{k}": v / max(count, 1) for k, v in sums.items()})
        if eval_fn is not None and rank == 0:
            model.eval()
            with torch.no_grad():
                row.update({k: float(v) for k, v in eval_fn(model, step).items()})
            model.train()
        rows.append(row)
        if run_dir is not None and rank == 0:
            with atomic_path(run_dir / METRICS) as tmp:
                pd.DataFrame(rows).to_csv(tmp, index=False)

    model.train()
    if start == 0 and cfg.eval_at_start and eval_fn is not None:
        evaluate(0, {}, 0)
    sums: dict[str, float] = {}
    count, n_evals, t0 = 0, len(rows), time.perf_counter()
    if verbose:
        print(f"[train] {desc}: steps {start}..{cfg.steps}" + (" (resumed)" if start else ""), flush=True)
    bar = tqdm(range(start, cfg.steps), desc=desc, initial=start, total=cfg.steps, disable=not verbose,
               mininterval=1.0, leave=False)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, cfg)
        loss, metrics = step_fn(net, step, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_gradients(model, cfg.grad_clip) if cfg.grad_clip else None
        optimizer.step()
        for name, value in {"loss": loss.item(), **metrics,
                            **({"grad_norm": grad_norm.item()} if grad_norm is not None else {})}.items():
            sums[name] = sums.get(name, 0.0) + float(value)
        count += 1
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            evaluate(done, sums, count)
            bar.set_postfix(loss=f"{sums['loss'] / count:.4g}")
            sums, count, n_evals = {}, 0, n_evals + 1
            if run_dir is not None and cfg.checkpoint_every and n_evals % cfg.checkpoint_every == 0 \
                    and done < cfg.steps:
                states = _gather(generator.get_state(), world)
                if rank == 0:
                    _save(run_dir / CHECKPOINT, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                                 "generator": states if world > 1 else states[0],
                                                 "torch_rng": rng_state(), "rows": rows, "step": done,
                                                 **_state_entry(state)})
    bar.close()
    seconds = time.perf_counter() - t0
    if run_dir is not None and rank == 0:
        _save(run_dir / FINAL, {"model": model.state_dict(), "rows": rows, **_state_entry(state)})
        write_text(run_dir / TIMING, json.dumps({"seconds_this_session": seconds,
                                                        "resumed_from_step": start}) + "\n")
        (run_dir / CHECKPOINT).unlink(missing_ok=True)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # no rank returns before rank 0 has written the final state
    if verbose:
        print(f"[train] {desc}: {cfg.steps - start} steps in {seconds:.1f} s", flush=True)
    model.eval()
    return TrainResult(pd.DataFrame(rows), run_dir, cached=False, seconds=seconds,
                       state=state.state_dict() if state is not None else None)


# -- the run cache, shared by every experiment ------------------------------------------------------------
def train_cached(model: torch.nn.Module, step_fn: StepFn, cfg: TrainConfig, *, name: str, key: Any,
                 eval_fn: EvalFn | None = None, root: str | Path | None = None, progress: bool = True,
                 desc: str | None = None, state: Any = None,
                 optimizer_factory: Callable[[torch.nn.Module, TrainConfig], torch.optim.Optimizer] | None = None
                 ) -> TrainResult:
    """``train`` in the run cache: ``<root or $MDLM_CACHE_DIR/runs>/<name>-<hash(key)>``. ``key`` must hold
    everything the result depends on (configs, data fingerprints); a finished run is loaded, not retrained,
    and an unfinished one resumes from its last checkpoint."""
    run_dir = run_dir_for(Path(root) if root is not None else cache_dir("runs"), name, key)
    return train(model, step_fn, cfg, eval_fn=eval_fn, run_dir=run_dir, desc=desc or name, progress=progress,
                 state=state, optimizer_factory=optimizer_factory)


def cached_evaluation(run_dir: Path, name: str, config: Any, compute: Callable[[], Any]) -> Any:
    """A JSON-able evaluation of a finished run, computed once and stored beside it as
    ``eval-<name>-<hash(config)>.json`` (the one naming of cached evaluation files)."""
    path = Path(run_dir) / f"eval-{name}-{config_hash(config)}.json"
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    write_text(path, json.dumps(value) + "\n")
    return value


J = TypeVar("J")
R = TypeVar("R")


def grid_workers(requested: int | None, n_jobs: int, device: str | torch.device = "cpu") -> int:
    """How many worker processes a grid uses: ``requested`` if given, else one per CPU core on a CPU (capped at
    the number of jobs), and 1 on a GPU (one process already fills it)."""
    if requested is not None:
        if requested < 1:
            raise ValueError(f"workers={requested}: use 1 (train in this process) or more, or None for automatic")
        return min(requested, max(n_jobs, 1))
    if torch.device(device).type != "cpu":
        return 1
    # the cores this process may run on (a container's cpuset), not the host's count
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, n_jobs))


def _init_worker(run_one: Callable) -> None:
    # One torch thread per worker: the quick models are too small for two threads to help each other
    # (BENCHMARKS.md, "Process-parallel grids"), so the cores are better spent on separate runs.
    torch.set_num_threads(1)
    # Quiet workers: their progress bars would interleave; errors still reach the parent through the future.
    sys.stdout = sys.stderr = open(os.devnull, "w")
    global _WORKER_RUN_ONE  # per worker process, set once so each job sends only its small job tuple
    _WORKER_RUN_ONE = run_one


def _run_in_worker(job):
    _WORKER_RUN_ONE(job)


def run_grid(jobs: Iterable[J], run_one: Callable[[J], R], *, desc: str = "runs", progress: bool = True,
             workers: int = 1) -> list[R]:
    """``run_one`` over a grid of jobs, with one progress bar; each job must be cached by ``run_one``.

    With ``workers > 1`` the jobs first run in that many spawned processes, one torch thread each (``run_one``
    must then be picklable: a module-level function or a ``functools.partial`` of one); their results reach
    this process through the run cache, so it then calls ``run_one`` on every job in order and gets them back
    as cache hits. A run is computed the same way in either mode; only float rounding can depend on the
    thread count. An error in any job stops the grid and names the job.
    """
    jobs = list(jobs)
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn, not fork: forking a process whose OpenMP pool already ran can hang the child
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(run_one,)) as pool:
            futures = {pool.submit(_run_in_worker, job): job for job in jobs}
            for future in tqdm(as_completed(futures), total=len(jobs), desc=f"{desc} ({workers} workers)",
                               disable=not progress):
                if future.exception() is not None:
                    for other in futures:
                        other.cancel()
                    raise RuntimeError(f"{desc}: job {futures[future]!r} failed in a worker process") \
                        from future.exception()
    return [run_one(job) for job in tqdm(jobs, desc=desc, disable=not progress or workers > 1)]
