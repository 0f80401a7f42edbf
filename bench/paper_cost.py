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


def notebook_flops(one_seed: bool = False) -> dict[str, float]:
    """Training FLOPs per notebook of the paper profile (``one_seed``: each run group cut to a single seed)."""
    p = {name: REGISTRY[name].PROFILES["paper"] for name in REGISTRY}
    u, sft, ada, par, mech = (p["u_curve"], p["sft_windows"], p["adaptive_mask_ratio"], p["parity_grokking"],
                              p["window_mechanism"])

    def share(seeds) -> float:   # the fraction of a group's runs kept with one seed
        return 1 / len(set(seeds)) if one_seed else 1.0

    sft_tokens = sft.train.steps * sft.train.batch_size * sft.base.data.seq_len * len(
        [t for t in sft.tasks if t != "arithmetic_choice"])
    sft_flop = lm_flops_per_token(sft.base.model_config(sft.base.data.vocab_size)) * sft_tokens
    sft_jobs = sft.jobs
    limited = mech.limited_spec()
    return {
        "02": sum(parity_flops(cell.spec, len(cell.members)) * share(m.seed for m in cell.members)
                  for cell in par.cells()),
        "03": lm_runs(u.lm, len(u.windows) * len(u.seeds)) * share(u.seeds),
        "04": (len(sft.windows) if one_seed else len(sft_jobs)) * sft_flop,
        "06": (lm_runs(ada.lm, 3 * len(ada.seeds)) * share(ada.seeds)
               + sum(parity_flops(ada.parity.spec(k), len(ada.parity.seeds)) * share(ada.parity.seeds)
                     for k in ada.parity.ks)),
        "07": (lm_runs(mech.long_spec(), len(mech.long.windows) * len(mech.long.seeds)) * share(mech.long.seeds)
               + lm_runs(limited, len(mech.limited.windows) if one_seed else len(mech.limited.jobs))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mfu", type=float, default=0.3, help="model FLOPs utilisation assumed (default 0.3)")
    args = parser.parse_args()
    rate = H200_BF16_DENSE * args.mfu
    full, one = notebook_flops(), notebook_flops(one_seed=True)
    print(f"| notebook | training PFLOP | H200-hours at MFU {args.mfu:.0%} | with `seeds=[0]` |")
    print("|---|---|---|---|")
    for nb in full:
        print(f"| {nb} | {full[nb] / 1e15:,.0f} | {full[nb] / rate / 3600:.2f} | {one[nb] / rate / 3600:.2f} |")
    print(f"| all | {sum(full.values()) / 1e15:,.0f} | {sum(full.values()) / rate / 3600:.2f} | "
          f"{sum(one.values()) / rate / 3600:.2f} |")


if __name__ == "__main__":
    main()
