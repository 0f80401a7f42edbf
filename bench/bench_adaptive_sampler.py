"""Cost of notebook 06's adaptive mask-ratio sampler per training step, against the quick LM's step.

    python bench/bench_adaptive_sampler.py            # target: sampler < 5% of the step time

The sampler's work per step is drawing the batch's t (inverse CDF over its bins) and folding the batch's
per-sequence losses into its exponential averages (``AdaptiveBinsSampler.sample`` + ``update``). It is timed
alone (``adaptive_mask_ratio.sampler_seconds_per_step``) and set against the quick LM's optimiser step timed
by ``bench_lm_throughput.seconds_per_step`` (1 thread, as notebook 06's grid workers train); both read notebook
06's quick config (``adaptive_mask_ratio.PROFILES["quick"]``: its LM spec and its sampler). Record ``uptime``
beside the numbers: on a shared machine compare the ratio, not the absolute times.
"""

from __future__ import annotations

import argparse
import os

import torch

from bench_lm_throughput import seconds_per_step
from mdlm_core.experiments import adaptive_mask_ratio as experiment

TARGET = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = experiment.PROFILES["quick"]
    spec = cfg.adaptive.bins(cfg.lm.train.steps)
    sampler = experiment.sampler_seconds_per_step(spec, cfg.lm.train.batch_size)
    step = seconds_per_step(cfg.lm, args.warmup, args.steps, torch.device("cpu"), threads=1)
    print(f"load {os.getloadavg()[0]:.1f}; sampler {sampler * 1e3:.3f} ms/step; quick LM step {step * 1e3:.1f} ms; "
          f"overhead {100 * sampler / step:.2f}% (target < {100 * TARGET:.0f}%): {'PASS' if sampler < TARGET * step else 'FAIL'}")


if __name__ == "__main__":
    main()
