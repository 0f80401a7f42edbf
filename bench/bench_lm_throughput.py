"""Training throughput (tokens/s) and model FLOP utilisation of the language model, on this machine.

    python bench/bench_lm_throughput.py                      # the quick-profile model of notebook 03
    python bench/bench_lm_throughput.py --profile paper      # the ~50M model (use a GPU)
    python bench/bench_lm_throughput.py --n-embd 256 --n-layer 4   # any other size

The peak is measured here, not quoted: the best fp32 GFLOP/s of square matmuls (torch.mm), taken before and
after the model is timed, so a machine shared with other jobs is judged against what it delivered in the
same minute. The model is timed through the real training loop (``mdlm_core.training``: AdamW, clipping,
warm-up + cosine) on random tokens with t ~ U[0, 1]: the time of (warmup + steps) steps minus that of
warmup steps, each from a fresh model. FLOPs per token count matmuls only (``lm_flops_per_token``, the head
on the masked fraction of tokens), so utilisation = tokens/s x FLOPs/token / peak.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

import mdlm_core as mdlm
from mdlm_core.companion import config_for_profile
from mdlm_core.experiments.u_curve import (LM_PROFILES, UNIFORM, LMConfig, build_lm_model, lm_flops_per_token,
                                          make_lm_step, resolve_device)


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


def time_training(cfg: LMConfig, steps: int, device: torch.device) -> float:
    """Wall seconds of ``steps`` optimiser steps of the shared training loop, fresh model, random tokens."""
    rows = torch.randint(1, cfg.vocab_size, (max(1024, cfg.batch_size), cfg.seq_len))
    model = build_lm_model(cfg, cfg.vocab_size, seed=0, device=device)
    step_fn = make_lm_step(rows, cfg.batch_size, cfg.mask_ratio(UNIFORM), device)
    train_cfg = replace(cfg.train_config(0), steps=steps, eval_every=steps, warmup_steps=0)
    start = time.perf_counter()
    mdlm.train(model, step_fn, train_cfg, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick", choices=list(LM_PROFILES))
    parser.add_argument("--n-embd", type=int)
    parser.add_argument("--n-layer", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int, default=40, help="timed steps (after warm-up)")
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    cfg = config_for_profile(LM_PROFILES, args.profile, n_embd=args.n_embd, n_layer=args.n_layer,
                                  batch_size=args.batch_size)
    device = resolve_device(cfg.device)
    torch.manual_seed(0)
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    peak_before = matmul_peak_gflops(device)
    warm = time_training(cfg, args.warmup, device)
    full = time_training(cfg, args.warmup + args.steps, device)
    peak_after = matmul_peak_gflops(device)
    seconds_per_step = (full - warm) / args.steps
    tokens_per_s = cfg.batch_size * cfg.seq_len / seconds_per_step
    model_cfg = cfg.model_config(cfg.vocab_size)
    flops_per_token = lm_flops_per_token(model_cfg, mask_frac=0.5)
    model_gflops = tokens_per_s * flops_per_token / 1e9
    peak = max(peak_before, peak_after)
    n_params = build_lm_model(cfg, cfg.vocab_size, 0, torch.device("cpu")).num_params(non_embedding=False)
    print(f"model: {args.profile} profile, width {cfg.n_embd}, {cfg.n_layer} layers, {cfg.position_encoding} "
          f"positions, vocab {cfg.vocab_size}, "
          f"T={cfg.seq_len}, batch {cfg.batch_size}, {n_params / 1e6:.2f}M params")
    print(f"fp32 matmul peak (best of sizes 512-2048): {peak_before:.1f} GFLOP/s before, {peak_after:.1f} after")
    print(f"training: {seconds_per_step * 1e3:.0f} ms/step, {tokens_per_s:,.0f} tokens/s, "
          f"{flops_per_token / 1e6:.1f} MFLOP/token -> {model_gflops:.1f} GFLOP/s")
    print(f"model FLOP utilisation: {100 * model_gflops / peak:.1f}% of the measured matmul peak")


if __name__ == "__main__":
    main()
