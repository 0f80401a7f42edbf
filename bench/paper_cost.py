"""What the paper profile costs on one H200, estimated from its configs: ``python bench/paper_cost.py [--mfu 0.3]``.

Training FLOPs per run are counted as the library counts them (``lm.lm_flops_per_token``: matmuls, forward +
backward = 6 x multiply-adds; the parity models as 6 x parameters x tokens) times the tokens the run trains on;
evaluation (test ELBO, scoring, generation) is left out, so the hours are a lower bound. Device-hours = FLOPs /
(H200 dense bf16 peak x MFU). ``bench/gpu_paper_probe.py`` measures the real rates when a GPU is lent; its
projection replaces this estimate. Prints a markdown table for the README.
"""

from __future__ import annotations

import argparse

import torch

from mdlm_core import DiffusionTransformer
from mdlm_core.experiments import REGISTRY
from mdlm_core.lm import lm_flops_per_token

H200_BF16_DENSE = 989e12   # FLOP/s, NVIDIA's dense (no sparsity) bf16 tensor-core peak


def lm_runs(spec, n_runs: int) -> float:
    tokens = spec.train.steps * spec.train.batch_size * spec.data.seq_len
    return n_runs * lm_flops_per_token(spec.model_config(spec.data.vocab_size)) * tokens


def parity_flops(spec, members: int) -> float:
    tokens = spec.train.steps * spec.train.batch_size * (spec.data.n + 1)
    if spec.model.family == "transformer":
        with torch.device("meta"):
            params = DiffusionTransformer(spec.model_config()).num_params(non_embedding=False)
    else:   # the MLP on one-hot [x, y]: 3 symbols per position in, a hidden layer, 2 logits per position out
        width, inputs = spec.model.mlp_width, 3 * (spec.data.n + 1)
        params = inputs * width + width * 2 * (spec.data.n + 1)
        tokens = spec.train.steps * spec.train.batch_size   # one forward per sequence
    return 6.0 * params * tokens * members


def notebook_flops(seeds: tuple[int, ...] | None = None) -> dict[str, float]:
    """Training FLOPs per notebook of the paper profile (``seeds``: every experiment's seeds replaced by these)."""
    p = {name: REGISTRY[name].PROFILES["paper"] for name in REGISTRY}
    n = (lambda s: len(s)) if seeds is None else (lambda s: len(seeds))
    u, sft, ada, par = p["u_curve"], p["sft_windows"], p["adaptive_mask_ratio"], p["parity_grokking"]
    sft_tokens = sft.train.steps * sft.train.batch_size * sft.base.data.seq_len * len(
        [t for t in sft.tasks if t != "arithmetic_choice"])
    groups = (par if seeds is None else _with_seeds(par, seeds)).groups()
    return {
        "02": sum(parity_flops(spec, len(members)) for spec, members in groups.values()),
        "03": lm_runs(u.lm, len(u.windows) * n(u.seeds)),
        "04": len(sft.windows) * n(sft.seeds) * lm_flops_per_token(sft.base.model_config(sft.base.data.vocab_size))
              * sft_tokens,
        "06": lm_runs(ada.lm, 3 * n(ada.seeds)) + sum(
            parity_flops(ada.parity.spec(k), n(ada.parity.seeds)) for k in ada.parity.ks),
    }


def _with_seeds(cfg, seeds):
    from dataclasses import replace
    return replace(cfg, mlp_seeds=tuple(seeds), transformer_seeds=tuple(seeds), sweep_seeds=tuple(seeds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mfu", type=float, default=0.3, help="model FLOPs utilisation assumed (default 0.3)")
    args = parser.parse_args()
    rate = H200_BF16_DENSE * args.mfu
    full, one = notebook_flops(), notebook_flops(seeds=(0,))
    print(f"| notebook | training PFLOP | H200-hours at MFU {args.mfu:.0%} | with `seeds=[0]` |")
    print("|---|---|---|---|")
    for nb in full:
        print(f"| {nb} | {full[nb] / 1e15:,.0f} | {full[nb] / rate / 3600:.2f} | {one[nb] / rate / 3600:.2f} |")
    print(f"| all | {sum(full.values()) / 1e15:,.0f} | {sum(full.values()) / rate / 3600:.2f} | "
          f"{sum(one.values()) / rate / 3600:.2f} |")


if __name__ == "__main__":
    main()
