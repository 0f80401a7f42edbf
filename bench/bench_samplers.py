"""Cached vs uncached MDLM ancestral sampling at K = 4L on a realistic small model (issue 5 target: >= 3x).

    PYTHONPATH=. python bench/bench_samplers.py            # batch 16 and 32 in one run (BENCHMARKS.md rows)
    PYTHONPATH=. python bench/bench_samplers.py --batch 16 --repeats 1 [--width 128 --layers 4 --vocab 8192 --length 64]

Both samplers run the same seed, so their outputs must agree token for token (checked). The cached one
re-runs the model only on rows that changed in the previous step; with K = 4L most steps change few
rows. Each ratio is measured in one run, best of ``--repeats``, after a warm-up. The 1-minute load average
is printed before and after: a ratio taken while other work shares the cores is not an idle figure.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from mdlm_core import DiffusionTransformer, ModelConfig, ancestral_sample


def timed(fn, repeats: int) -> tuple[float, torch.Tensor]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def measure(model: DiffusionTransformer, vocab: int, length: int, batch: int, repeats: int) -> tuple[float, float]:
    """(uncached seconds, cached seconds) for one batch size; raises if the samples differ."""
    prompt = torch.randint(0, vocab, (batch, 16), generator=torch.Generator().manual_seed(1))
    steps = 4 * length

    def run(cache: bool) -> torch.Tensor:
        return ancestral_sample(model, prompt, length, steps, cache=cache, generator=torch.Generator().manual_seed(2))

    run(True)  # warm-up
    t_uncached, out_uncached = timed(lambda: run(False), repeats)
    t_cached, out_cached = timed(lambda: run(True), repeats)
    if not torch.equal(out_cached, out_uncached):
        raise AssertionError(f"batch {batch}: cached and uncached samples differ")
    return t_uncached, t_cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--length", type=int, default=64, help="tokens generated (L); the prompt adds 16")
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 32], help="one or more batch sizes")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=args.vocab, block_size=args.length + 16, n_layer=args.layers, n_head=4,
                      n_embd=args.width)
    model = DiffusionTransformer(cfg).eval()
    print(f"model: width {args.width}, {args.layers} layers, vocab {args.vocab}, {model.num_params() / 1e6:.2f}M "
          f"params; L = {args.length} (+16 prompt), K = 4L = {4 * args.length}; best of {args.repeats} after a "
          f"warm-up; torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    print(f"before: {load()}")
    rows = []
    for batch in args.batch:
        t_uncached, t_cached = measure(model, args.vocab, args.length, batch, args.repeats)
        rows.append((batch, t_uncached, t_cached))
        print(f"batch {batch}: uncached {t_uncached:.2f} s   cached {t_cached:.2f} s   speed-up "
              f"{t_uncached / t_cached:.2f}x (target >= 3x)   samples identical: yes   ({load()})", flush=True)
    print(f"after: {load()}")
    print("\nBENCHMARKS.md rows (| what | measured | target |):")
    for batch, t_uncached, t_cached in rows:
        ratio = t_uncached / t_cached
        print(f"| batch {batch} | uncached {t_uncached:.2f} s, cached {t_cached:.2f} s: **{ratio:.2f}x** "
              f"(identical samples) | ≥ 3x{'' if ratio >= 3 else ': **missed**'} |")


if __name__ == "__main__":
    main()
