"""Ensemble vs sequential training speed on parity, measured in one run.

    PYTHONPATH=. python bench/bench_parity_ensemble.py [--members 6] [--steps 60] [--batch 32] [--threads 1]

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
from mdlm_core.experiments.parity_grokking import MD, SUPERVISED, PARITY_PROFILES, ParityMember, train_parity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=6)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=None, help="per-member batch (default: the quick profile's)")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (notebook 02 uses 1)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    base = PARITY_PROFILES[args.profile]
    cfg = dataclasses.replace(base, batch_size=args.batch or base.batch_size, eval_every=args.steps, warmup_steps=0)
    kinds = [lambda s: ParityMember(SUPERVISED, s), lambda s: ParityMember(MD, s, MaskRatio.fixed(1 / (cfg.k + 1)))]
    members = [kinds[i % 2](i // 2) for i in range(args.members)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; n={cfg.n}, k={cfg.k}, d={cfg.n_embd}, "
          f"layers={cfg.n_layer}, batch {cfg.batch_size} per member, {args.members} members, {args.steps} steps")

    def timed(ensemble: bool) -> float:
        t0 = time.perf_counter()
        train_parity(members, cfg, args.steps, ensemble=ensemble, cache=False, progress=False)
        return time.perf_counter() - t0

    timed(True), timed(False)                    # warm-up (allocator, kernels)
    sequential, together = timed(False), timed(True)
    per = args.members * args.steps
    print(f"sequential: {sequential:.2f} s ({1e3 * sequential / per:.1f} ms per member-step)")
    print(f"ensemble:   {together:.2f} s ({1e3 * together / per:.1f} ms per member-step)")
    print(f"speedup:    {sequential / together:.2f}x")


if __name__ == "__main__":
    main()
