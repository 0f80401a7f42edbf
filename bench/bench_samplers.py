"""Cached vs uncached MDLM ancestral sampling at K = 4L on a realistic small model (issue 5 target: >= 3x).

    PYTHONPATH=. python bench/bench_samplers.py [--width 128 --layers 4 --vocab 8192 --length 64 --batch 16]

Both samplers run the same seed, so their outputs must agree token for token (checked). The cached one
re-runs the model only on rows that changed in the previous step; with K = 4L most steps change few
rows. The ratio is measured in one run, best of ``--repeats``, after a warm-up.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--length", type=int, default=64, help="tokens generated (L); the prompt adds 16")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=args.vocab, block_size=args.length + 16, n_layer=args.layers, n_head=4,
                      n_embd=args.width)
    model = DiffusionTransformer(cfg).eval()
    prompt = torch.randint(0, args.vocab, (args.batch, 16), generator=torch.Generator().manual_seed(1))
    steps = 4 * args.length

    def run(cache: bool) -> torch.Tensor:
        return ancestral_sample(model, prompt, args.length, steps, cache=cache,
                                generator=torch.Generator().manual_seed(2))

    run(True)  # warm-up
    t_uncached, out_uncached = timed(lambda: run(False), args.repeats)
    t_cached, out_cached = timed(lambda: run(True), args.repeats)
    assert torch.equal(out_cached, out_uncached), "cached and uncached samples differ"
    print(f"model: width {args.width}, {args.layers} layers, vocab {args.vocab}, "
          f"{model.num_params() / 1e6:.2f}M params; batch {args.batch}, L = {args.length} (+16 prompt), "
          f"K = 4L = {steps}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"uncached: {t_uncached:.2f} s   cached: {t_cached:.2f} s   speed-up: {t_uncached / t_cached:.2f}x "
          f"(target >= 3x)   samples identical: yes")


if __name__ == "__main__":
    main()
