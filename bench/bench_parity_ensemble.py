"""Ensemble vs sequential training speed on parity, measured in one run, against the FLOP floor.

    PYTHONPATH=. python bench/bench_parity_ensemble.py [--family transformer|mlp|both] [--members 6] [--steps 60]
        [--batch 32] [--threads 1] [--figure bench/parity_ensemble_flops.png]

The FLOP floor of a member-step is its matmul FLOPs (forward + backward = 3x the forward) divided by the
fp32 matmul peak measured here (a 1024^3 ``torch.mm`` on the same threads); "% of peak" = floor / measured.

Times the same E members (seeds x objectives of notebook 02's quick model) trained for --steps steps
(a) one after another as plain models and (b) as one vmapped Ensemble, after a warm-up, and prints
both and their ratio. Only the ratio measured in one run is meaningful: this machine is shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import torch

from mdlm_core import MaskRatio
from mdlm_core.experiments.parity_grokking import (MD, MLP, MLP_PROFILES, PARITY_PROFILES, SUPERVISED, ParityMember,
                                                  build_model, train_parity)


def matmul_peak_flops(size: int = 1024, repeats: int = 5) -> float:
    """Measured fp32 matmul FLOP/s on the current torch threads (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size ** 3 / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def flops_per_member_step(cfg) -> float:
    """Matmul FLOPs of one member's training step (forward + backward)."""
    if cfg.family == MLP:
        return build_model(cfg, [0]).flops_per_member_step(cfg.batch_size)
    model = build_model(cfg, [0], ensemble=False)
    matrices = sum(p.numel() for name, p in model.named_parameters() if p.dim() == 2 and "emb" not in name)
    length = cfg.n + 1
    forward = 2 * matrices * length + cfg.n_layer * 4 * length * length * cfg.n_embd   # weights + attention
    return 3 * forward * cfg.batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=6)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=None, help="per-member batch (default: the quick profile's)")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--family", default="both", choices=["transformer", "mlp", "both"])
    parser.add_argument("--figure", default=None, help="write a PNG of ms per member-step vs the FLOP floor here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (notebook 02 uses 1)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    peak = matmul_peak_flops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 matmul peak {peak / 1e9:.1f} GFLOP/s")
    families = ["transformer", "mlp"] if args.family == "both" else [args.family]
    rows = []
    for family in families:
        base = (MLP_PROFILES if family == MLP else PARITY_PROFILES)[args.profile]
        cfg = dataclasses.replace(base, batch_size=args.batch or base.batch_size, eval_every=args.steps, warmup_steps=0)
        kinds = [lambda s: ParityMember(SUPERVISED, s), lambda s: ParityMember(MD, s, MaskRatio.fixed(1 / (cfg.k + 1)))]
        members = [kinds[i % 2](i // 2) for i in range(args.members)]
        print(f"{family}: n={cfg.n}, k={cfg.k}, batch {cfg.batch_size} per member, {args.members} members, "
              f"{args.steps} steps")

        def timed(ensemble: bool) -> float:
            return _timed(lambda: train_parity(members, cfg, args.steps, ensemble=ensemble, cache=False,
                                               progress=False))

        timed(True), timed(False)                    # warm-up (allocator, kernels)
        sequential, together = timed(False), timed(True)
        per = args.members * args.steps
        floor_ms = 1e3 * flops_per_member_step(cfg) / peak
        rows.append((family, 1e3 * sequential / per, 1e3 * together / per, floor_ms))
        print(f"  sequential: {sequential:.2f} s ({1e3 * sequential / per:.2f} ms per member-step)")
        print(f"  ensemble:   {together:.2f} s ({1e3 * together / per:.2f} ms per member-step), speedup "
              f"{sequential / together:.2f}x")
        print(f"  FLOP floor: {floor_ms:.3f} ms per member-step -> ensemble at {100 * floor_ms / (1e3 * together / per):.0f}% "
              "of the measured matmul peak (evaluation and the per-step Python included)")
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
        x = range(len(rows))
        ax.bar([i - 0.25 for i in x], [r[1] for r in rows], 0.25, label="sequential")
        ax.bar(list(x), [r[2] for r in rows], 0.25, label="ensemble")
        ax.bar([i + 0.25 for i in x], [r[3] for r in rows], 0.25, label="FLOP floor (measured fp32 peak)")
        ax.set(xticks=list(x), xticklabels=[r[0] for r in rows], yscale="log", ylabel="ms per member-step",
               title=f"parity ensemble, {torch.get_num_threads()} thread(s)")
        ax.legend(fontsize=8)
        fig.savefig(args.figure, dpi=120)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
