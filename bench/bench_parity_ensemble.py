"""Parity ensembles in steady state against the FLOP floor, every number from one run.

    PYTHONPATH=. python bench/bench_parity_ensemble.py [--family transformer|mlp|both] [--members 4 8 16]
        [--batch 32 64] [--threads 1 2] [--steps 20] [--warmup 5] [--variants batched vmap loop]
        [--profile-table] [--figure bench/parity_ensemble_flops.png]

For each thread count the fp32 matmul peak is measured first (best of 5 ``torch.mm`` 1024^3 on those threads),
then every (family, members, batch) configuration: each variant takes ``--warmup`` untimed training steps, then
``--steps`` rounds in which every variant's step and one 1024^3 ``torch.mm`` are timed one after another; a row
reports the MEDIAN step, and "row peak" is the peak from the median interleaved ``torch.mm``. On a shared
machine a load change then hits the variants and the peak probe alike, so "% of row peak" is the fair figure;
"% of peak" (against the best-of-5 peak taken first) is pessimistic when the machine is loaded.
A step is what ``training.train`` does with notebook 02's objective: forward, the float64 MD / supervised loss,
backward, per-member clipping, AdamW, on batches drawn before timing (drawing them, a Python loop over members
in ``ParityObjective.draw_batch``, is timed on its own and shown as "draw").

Variants (transformer family, notebook 02's quick model, half the members supervised, half MD at t*):
* ``batched``: ``TransformerEnsemble`` (hand-batched bmm / fused attention over a member axis);
* ``vmap``: ``Ensemble`` (``vmap(functional_call)`` over stacked members);
* ``loop``: E plain ``DiffusionTransformer`` models stepped one after another, each with its own AdamW.
The MLP family has ``batched`` (``MLPEnsemble``) and ``loop`` (E one-member ``MLPEnsemble``s).

FLOP floor of a member-step: its matmul FLOPs (forward + backward = 3x the forward) over the peak;
"% of peak" = floor / measured ms per member-step. ``--profile-table`` prints torch.profiler's op table for the
largest batched transformer row (where the time goes). The machine may be shared: the load average is printed
per thread count.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
import warnings

import torch

from mdlm_core import MaskRatio
from mdlm_core.ensemble import Ensemble
from mdlm_core.experiments.parity_grokking import PROFILES
from mdlm_core.parity import (MD, MLP, OPTIMIZERS, SUPERVISED, ParityMember, ParityObjective, ParitySpec, build_model,
                              seeded_model)
from mdlm_core.theory.signal import optimal_mask_ratio
from mdlm_core.training import clip_gradients
from mdlm_core.transformer_ensemble import TransformerEnsemble

VARIANTS = {"transformer": ("batched", "vmap", "loop"), "mlp": ("batched", "loop")}


PEAK_SIZE = 1024


def matmul_peak_flops(size: int = PEAK_SIZE, repeats: int = 5) -> float:
    """Measured fp32 matmul FLOP/s on the current torch threads (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size ** 3 / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def parity_members(count: int, k: int) -> list[ParityMember]:
    """Half supervised, half MD at t* (notebook 02's two objectives), seeds 0, 0, 1, 1, ..."""
    t_star = MaskRatio.fixed(optimal_mask_ratio(k))
    return [ParityMember(SUPERVISED, i // 2) if i % 2 == 0 else ParityMember(MD, i // 2, t_star) for i in range(count)]


class Trainer:
    """One model, its objective and AdamW, stepped exactly as ``training.train`` steps it.

    ``notebook=False`` times the model step alone on batches drawn beforehand; ``notebook=True`` times what
    notebook 02's loop does per step: draw the batch, the loss, the per-member metrics (``.tolist()``, and
    the Signal/Noise bookkeeping when the profile logs it), backward, clip (where the spec clips), the spec's optimiser.
    """

    def __init__(self, model: torch.nn.Module, members: list[ParityMember], cfg: ParitySpec, batches: int,
                 notebook: bool = False):
        self.model, self.notebook = model, notebook
        train = cfg.train
        self.objective = ParityObjective(members, [cfg.data.for_seed(m.seed) for m in members], train.batch_size,
                                         float64_loss=train.float64_loss,
                                         log_train_regimes=train.log_train_regimes and notebook,
                                         md_normalisation=train.md_normalisation, online=train.online)
        self.train_cfg = cfg.train_config(batches)
        self.optimizer = OPTIMIZERS[train.optimizer](model, self.train_cfg)   # the spec's: AdamW, or SGD
        self.batches = [] if notebook else [self.objective.draw_batch(step) for step in range(batches)]

    def step(self, index: int) -> None:
        if self.notebook:
            loss, metrics = self.objective.step_fn(self.model, index, None)
        else:
            losses, _ = self.objective.member_losses(self.model, self.batches[index % len(self.batches)])
            loss = losses.sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.train_cfg.grad_clip:
            clip_gradients(self.model, self.train_cfg.grad_clip)
        self.optimizer.step()
        if self.notebook:
            loss.item()

    def evaluate(self) -> None:
        self.model.eval()
        with torch.no_grad():
            self.objective.eval_fn(self.model, 0)
        self.model.train()


def trainers(family: str, variant: str, members: list[ParityMember], cfg: ParitySpec, batches: int,
             notebook: bool = False) -> list[Trainer]:
    seeds = [m.seed for m in members]
    if variant == "loop":
        return [trainers(family, "batched" if family == MLP else "solo", [m], cfg, batches, notebook)[0]
                for m in members]
    if family == MLP:
        model = build_model(cfg, seeds)
    elif variant == "solo":
        model = seeded_model(cfg.model_config(), seeds[0])
    elif variant == "vmap":
        model = Ensemble([seeded_model(cfg.model_config(), s) for s in seeds])
    else:
        model = TransformerEnsemble.from_seeds(cfg.model_config(), seeds)
    return [Trainer(model, members, cfg, batches, notebook)]


def median_step_seconds(groups: dict[str, list[Trainer]], warmup: int, steps: int) -> dict[str, float]:
    """Median wall time of one step of each group (a loop steps its trainers one after another), the groups
    interleaved round by round with one 1024^3 ``torch.mm`` (key "peak mm"), so that a change in the machine's
    load during the run hits every variant and the peak probe alike."""
    a, b = torch.randn(PEAK_SIZE, PEAK_SIZE), torch.randn(PEAK_SIZE, PEAK_SIZE)
    for i in range(warmup):
        for group in groups.values():
            for trainer in group:
                trainer.step(i)
    times: dict[str, list[float]] = {name: [] for name in [*groups, "peak mm"]}
    for i in range(warmup, warmup + steps):
        for name, group in groups.items():
            t0 = time.perf_counter()
            for trainer in group:
                trainer.step(i)
            times[name].append(time.perf_counter() - t0)
        times["peak mm"].append(_timed(lambda: torch.mm(a, b)))
    return {name: statistics.median(values) for name, values in times.items()}


def flops_per_member_step(family: str, cfg: ParitySpec) -> float:
    if family == MLP:
        return build_model(cfg, [0]).flops_per_member_step(cfg.train.batch_size)
    return TransformerEnsemble.from_seeds(cfg.model_config(), [0]).flops_per_member_step(cfg.train.batch_size,
                                                                                         cfg.data.n + 1)


def family_spec(family: str, profile: str, batch: int) -> ParitySpec:
    """Notebook 02's spec of a family under a profile (its Config's ``mlp`` or ``transformer``), at another batch."""
    spec = getattr(PROFILES[profile], family)
    return dataclasses.replace(spec, train=dataclasses.replace(spec.train, batch_size=batch))


def profile_table(group: list[Trainer], steps: int = 10, rows: int = 18) -> str:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            group[0].step(i)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="transformer", choices=["transformer", "mlp", "both"])
    parser.add_argument("--members", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 64], help="per-member batch")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row (after --warmup)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--variants", nargs="+", default=["batched", "vmap", "loop"],
                        choices=["batched", "vmap", "loop"])
    parser.add_argument("--profile", default="quick", help="notebook 02 profile (experiment.PROFILES) whose model is timed")
    parser.add_argument("--profile-table", action="store_true", help="torch.profiler table of the largest batched row")
    parser.add_argument("--notebook-step", action="store_true",
                        help="also time notebook 02's whole step (batch drawing, metrics, bookkeeping) and one "
                             "evaluation")
    parser.add_argument("--figure", default=None, help="write a PNG of ms per member-step vs the FLOP floor here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    families = ["transformer", "mlp"] if args.family == "both" else [args.family]
    batches = args.warmup + args.steps
    rows = []
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs; median of {args.steps} steps after {args.warmup} warm-up")
    for threads in args.threads:
        torch.set_num_threads(threads)
        peak = matmul_peak_flops()
        print(f"\n== {threads} thread(s): fp32 matmul peak {peak / 1e9:.1f} GFLOP/s; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("family       variant  E   batch  ms/step  ms/member-step  draw ms/member-step  floor ms  % of peak  "
              "row peak  % of row peak")
        for family in families:
            for batch in args.batch:
                cfg = family_spec(family, args.profile, batch)
                floor_ms = 1e3 * flops_per_member_step(family, cfg) / peak
                for size in args.members:
                    members = parity_members(size, cfg.data.k)
                    variants = [v for v in args.variants if v in VARIANTS[family]]
                    groups = {v: trainers(family, v, members, cfg, batches) for v in variants}
                    medians = median_step_seconds(groups, args.warmup, args.steps)
                    row_peak = 2 * PEAK_SIZE ** 3 / medians["peak mm"]   # the peak probe, interleaved with the steps
                    row_floor_ms = 1e3 * flops_per_member_step(family, cfg) / row_peak
                    for variant, group in groups.items():
                        step_ms = 1e3 * medians[variant]
                        draw_ms = 1e3 * statistics.median(_timed(lambda: [t.objective.draw_batch(i) for t in group])
                                                          for i in range(5))
                        per = step_ms / size
                        rows.append(dict(threads=threads, family=family, variant=variant, members=size, batch=batch,
                                         ms_per_step=step_ms, ms_per_member_step=per, draw_ms=draw_ms / size,
                                         floor_ms=floor_ms, peak_gflops=peak / 1e9, row_floor_ms=row_floor_ms,
                                         row_peak_gflops=row_peak / 1e9))
                        print(f"{family:12s} {variant:8s} {size:<3d} {batch:<6d} {step_ms:8.1f}  {per:14.2f}  "
                              f"{draw_ms / size:19.2f}  {floor_ms:8.2f}  {100 * floor_ms / per:8.0f}%  "
                              f"{row_peak / 1e9:8.1f}  {100 * row_floor_ms / per:8.0f}%", flush=True)
        if args.notebook_step:
            notebook_rows(families, args, threads, batches)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.figure:   # after every thread count, so an interrupted run keeps the rows it finished
            draw_figure(rows, args.figure)
    if args.profile_table and "transformer" in families:
        torch.set_num_threads(args.threads[0])
        cfg = family_spec("transformer", args.profile, max(args.batch))
        group = trainers("transformer", "batched", parity_members(max(args.members), cfg.data.k), cfg, 10)
        median_step_seconds({"batched": group}, 3, 1)
        print(f"\ntorch.profiler, batched transformer, E={max(args.members)}, batch {cfg.train.batch_size}, "
              f"{args.threads[0]} thread(s), 10 steps:")
        print(profile_table(group))


def notebook_rows(families: list[str], args, threads: int, batches: int) -> None:
    """Notebook 02's step as ``training.train`` runs it (profile's bookkeeping on), plus one evaluation
    amortised over the profile's ``eval_every`` steps."""
    print(f"-- notebook 02's whole step, {threads} thread(s) (batch drawn inside, metrics, bookkeeping), and eval")
    print("family       variant  E   batch  ms/member-step  eval ms/member  + eval/eval_every  % of row peak (all in)")
    for family in families:
        for batch in args.batch:
            cfg = family_spec(family, args.profile, batch)
            for size in args.members:
                variants = [v for v in args.variants if v in VARIANTS[family] and v != "loop"]
                groups = {v: trainers(family, v, parity_members(size, cfg.data.k), cfg, batches, notebook=True)
                          for v in variants}
                medians = median_step_seconds(groups, args.warmup, args.steps)
                floor_ms = 1e3 * flops_per_member_step(family, cfg) * medians["peak mm"] / (2 * PEAK_SIZE ** 3)
                for variant, group in groups.items():
                    per = 1e3 * medians[variant] / size
                    group[0].evaluate()
                    eval_ms = 1e3 * statistics.median(_timed(group[0].evaluate) for _ in range(3)) / size
                    total = per + eval_ms / cfg.train.eval_every
                    print(f"{family:12s} {variant:8s} {size:<3d} {batch:<6d} {per:14.2f}  {eval_ms:14.1f}  "
                          f"{total:17.2f}  {100 * floor_ms / total:8.0f}%  (log_train_regimes="
                          f"{cfg.train.log_train_regimes}, eval_every={cfg.train.eval_every})", flush=True)


def draw_figure(rows: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["family"], r["threads"]) for r in rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), layout="constrained", squeeze=False)
    for ax, (family, threads) in zip(axes[0], panels):
        mine = [r for r in rows if (r["family"], r["threads"]) == (family, threads)]
        configs = sorted({(r["batch"], r["members"]) for r in mine})
        variants = [v for v in VARIANTS[family] if any(r["variant"] == v for r in mine)]
        width = 0.8 / (len(variants) + 1)
        for j, variant in enumerate(variants):
            ys = [next((r["ms_per_member_step"] for r in mine if r["variant"] == variant
                        and (r["batch"], r["members"]) == c), float("nan")) for c in configs]
            ax.bar([i + j * width for i in range(len(configs))], ys, width, label=variant)
        floors = [next(r["row_floor_ms"] for r in mine if (r["batch"], r["members"]) == c) for c in configs]
        ax.bar([i + len(variants) * width for i in range(len(configs))], floors, width, color="k",
               label="FLOP floor (interleaved peak)")
        ax.set(xticks=[i + 0.4 - width / 2 for i in range(len(configs))],
               xticklabels=[f"B{b}\nE{e}" for b, e in configs], yscale="log", ylabel="ms per member-step",
               title=f"{family}, {threads} thread(s)")
        ax.legend(fontsize=7, loc="best", framealpha=0.6)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
