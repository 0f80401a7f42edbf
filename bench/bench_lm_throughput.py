"""Training throughput (tokens/s) and model FLOP utilisation of the language model, on this machine.

    python bench/bench_lm_throughput.py                      # the quick-profile model of notebook 03 (u_curve.PROFILES)
    python bench/bench_lm_throughput.py --profile paper      # the ~50M model (use a GPU)
    python bench/bench_lm_throughput.py --n-embd 256 --n-layer 4   # any other size
    python bench/bench_lm_throughput.py --workers 2          # two 1-thread runs at once, as notebook 03 trains

The peak is measured here, not quoted: the best fp32 GFLOP/s of square matmuls (torch.mm), taken before and
after the model is timed, so a machine shared with other jobs is judged against what it delivered in the
same minute. The model is timed through the real training loop (``mdlm_core.training``: AdamW, clipping,
warm-up + cosine) on random tokens with t ~ U[0, 1]: the mean step time over ``--steps`` steps after
``--warmup`` untimed ones, inside one run. ``--workers N`` times N one-thread training processes at once
(notebook 03's process-parallel grid) and sums their throughput against the all-thread peak. FLOPs per token count matmuls only (``lm_flops_per_token``, the head
on the masked fraction of tokens), so utilisation = tokens/s x FLOPs/token / peak.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

import mdlm_core as mdlm
from mdlm_core.companion import config_for_profile
from mdlm_core.experiments import u_curve
from mdlm_core.lm import UNIFORM, LMSpec, build_lm_model, lm_flops_per_token, make_lm_step
from mdlm_core.training import resolve_device


def matmul_peak_gflops(device: torch.device, sizes=(512, 1024, 2048), repeats: int = 10) -> float:
    """Best fp32 GFLOP/s over square matmuls of the given sizes (2 n^3 FLOPs each)."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        for _ in range(3):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def seconds_per_step(cfg: LMSpec, warmup: int, steps: int, device: torch.device, threads: int | None = None) -> float:
    """Steady-state wall seconds per optimiser step of the shared training loop (fresh model, random tokens):
    the mean over ``steps`` steps timed inside one run after ``warmup`` untimed ones. (A difference of two
    runs' totals would hide a one-off first-call cost in the shorter run and under-read the step time.)"""
    if threads is not None:
        torch.set_num_threads(threads)
    vocab, batch = cfg.data.vocab_size, cfg.train.batch_size
    rows = torch.randint(1, vocab, (max(1024, batch), cfg.data.seq_len))
    model = build_lm_model(cfg, vocab, seed=0, device=device)
    inner = make_lm_step(rows, batch, cfg.mask_ratio(UNIFORM), device)
    stamps: list[float] = []

    def step_fn(m, step, generator):
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        return inner(m, step, generator)

    total = warmup + steps + 1  # the last step only closes the timing of the one before it
    mdlm.train(model, step_fn, replace(cfg.train_config(0), steps=total, eval_every=total, warmup_steps=0),
               progress=False)
    return (stamps[-1] - stamps[warmup]) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick", choices=list(u_curve.PROFILES))
    parser.add_argument("--n-embd", type=int)
    parser.add_argument("--n-layer", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int, default=40, help="timed steps (after warm-up)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1,
                        help="time this many 1-thread training processes at once (run_grid's workers) against the "
                             "peak of all threads")
    args = parser.parse_args()
    # notebook 03's LM of that profile, so a change of the notebook's config reaches the bench
    cfg = config_for_profile(u_curve.PROFILES, args.profile, n_embd=args.n_embd, n_layer=args.n_layer,
                             batch_size=args.batch_size).lm
    device = resolve_device(cfg.device)
    torch.manual_seed(0)
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    peak_before = matmul_peak_gflops(device)
    if args.workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            per_worker = list(pool.map(seconds_per_step, *zip(*[(cfg, args.warmup, args.steps, device, 1)] * args.workers)))
        step_seconds = sum(per_worker) / len(per_worker)
        print(f"{args.workers} workers x 1 thread, s/step each: " + ", ".join(f"{s * 1e3:.0f} ms" for s in per_worker))
    else:
        per_worker = [seconds_per_step(cfg, args.warmup, args.steps, device)]
        step_seconds = per_worker[0]
    peak_after = matmul_peak_gflops(device)
    tokens_per_s = sum(cfg.train.batch_size * cfg.data.seq_len / s for s in per_worker)
    model_cfg = cfg.model_config(cfg.data.vocab_size)
    flops_per_token = lm_flops_per_token(model_cfg, mask_frac=0.5)
    model_gflops = tokens_per_s * flops_per_token / 1e9
    peak = max(peak_before, peak_after)
    n_params = build_lm_model(cfg, cfg.data.vocab_size, 0, torch.device("cpu")).num_params(non_embedding=False)
    print(f"model: {args.profile} profile, width {cfg.model.n_embd}, {cfg.model.n_layer} layers, "
          f"{cfg.model.position_encoding} positions, vocab {cfg.data.vocab_size}, "
          f"T={cfg.data.seq_len}, batch {cfg.train.batch_size}, {n_params / 1e6:.2f}M params")
    print(f"fp32 matmul peak (best of sizes 512-2048): {peak_before:.1f} GFLOP/s before, {peak_after:.1f} after")
    print(f"training: {step_seconds * 1e3:.0f} ms/step, {tokens_per_s:,.0f} tokens/s, "
          f"{flops_per_token / 1e6:.1f} MFLOP/token -> {model_gflops:.1f} GFLOP/s")
    print(f"model FLOP utilisation: {100 * model_gflops / peak:.1f}% of the measured matmul peak")


if __name__ == "__main__":
    main()
