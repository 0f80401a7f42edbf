# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Parity: does supervised training grok while masked diffusion does not?
#
# Huang & Mirzasoleiman (2026) train one model on one finite $k$-sparse parity set in two ways:
#
# * **supervised**: input $[x_1, \dots, x_n, \texttt{MASK}]$, cross-entropy on $y$ only;
# * **masked diffusion (MD)**: the sequence $[x_1, \dots, x_n, y]$, every token (label included) masked with
#   probability $t$, the ELBO's $1/t$-weighted cross-entropy on the masked tokens (`md_loss`).
#
# The paper: supervised training memorises and then *groks* after a long plateau; MD generalises without one,
# fastest with $t \sim U[0, t_1]$ (notebook 01). We test this on two model families with **one objective code
# path** (`ParityObjective`): the same init, weight decay, optimiser, data order and float64 log-softmax for both
# objectives.
#
# * **The theory's model** (`mdlm_core.mlp.MLPEnsemble`): uniform attention over one-hot $\{0, 1, \texttt{MASK}\}$
#   tokens, one hidden ReLU layer, a head per position (MD reads all, supervised reads $y$'s). Every run of a
#   profile is one member of a `torch.bmm` ensemble: $\ge 10$ seeds per objective and a real window sweep.
# * **The nanoGPT-style transformer** (`DiffusionTransformer`, batched as `Ensemble`), $\ge 4$ seeds per objective.
#
# **Metrics with censoring.** *Memorised* = train accuracy $\ge 0.98$; *generalised* = test accuracy $\ge 0.95$
# (mask only $y$, argmax). A run that does not get there within the budget is **censored** at the budget:
# neither a success nor a failure. Objectives and windows are compared with Gehan's censored Mann-Whitney test
# (`companion.verdicts.gehan_test`). Every claim's rule is in `companion/verdicts.py`.
#
# **Calibration** (throwaway probes, not results: 1 torch thread on a 2-core machine shared with other jobs, load
# 6-8; MLP n = 20, k = 3, 300 train / 512 test examples, width 128, batch 64, 4 seeds, 3,000 steps; "mem" = first
# step with train >= 0.98, "95%" = first with test >= 0.95, "never" = censored at 3,000):
#
# | setting | supervised | MD at $t^*$ | other MD |
# |---|---|---|---|
# | lr 1e-3, wd 1.0 | mem 600-700; 95% at 1,700 / 1,900 / never / never (final 0.89-0.90) | never memorises; test 0.51-0.61 | $U[0,1]$: 0.48-0.52 |
# | lr 1e-3, wd 0.1, 1,000 examples | mem 700-900; 95% at 800-1,100 (no plateau) | test 0.62-0.75 | $U[0,1]$: 0.50-0.53 |
# | lr 1e-3, wd 0 | mem 500-600; never 95% (final 0.68-0.88) | test 0.50-0.60 | $U[0,0.42]$ without $1/t$: 0.49-0.55 |
# | **lr 3e-3, wd 1.0 (quick)** | mem 300; 95% at 600 / 800 / 1,200 / 2,900 | never memorises; test 0.65-0.80 | $U[0,0.42]$: 0.56-0.68; without $1/t$: 0.63-0.75 |
# | lr 3e-3, wd 1.0, 1,000 examples | mem and 95% at 300-400 (no plateau) | mem 1,600-2,100, 95% at 1,500-2,400 (train and test together) | $U[0,0.42]$ without $1/t$: 95% at 2,000 / 2,000 / 3,000 / never |
#
# With 1,000 examples MD does learn without a plateau, but supervised training is 4-6x faster and has no plateau
# either. So in the 300-example regime supervised training memorises first and then generalises after a plateau of 300-2,600
# steps, while MD has not memorised, let alone generalised, when supervised is done. The MD loss averages over
# all $n + 1 = 21$ tokens, so the label is one term in 21 and most of the gradient fits the Noise regime; the
# quick profile's 4,000-step budget is what the 25-minute notebook affords. Read the claims as what holds here.

# %% tags=["parameters"]
profile = None          # smoke | quick | paper (None: $MDLM_PROFILE, else quick)
mlp_seeds = None        # e.g. 10: seeds of supervised and of MD at t* (the sweep uses the first `sweep_seeds`)
sweep_seeds = None
mlp_width = None
batch_size = None
weight_decay = None     # lever: the same for both objectives
init_scale = None       # lever (Omnigrok): multiplies the init std, both objectives
output_scale = None     # lever (lazy to rich, Kumar et al.): logits = alpha * f(x), both objectives
steps = None            # MLP budget: runs that do not reach a threshold are censored here
window_uppers = None    # b of the U[0, b] windows swept
run_transformer = True  # the transformer family beside the MLP (quick: 4 seeds per objective, 10k steps)
transformer_seeds = None
transformer_steps = None
torch_threads = 1       # 1: the ensemble is bmm-bound and the machine is shared

# %%
import dataclasses
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

import mdlm_core as mdlm
from mdlm_core.companion import Outputs, config_for_profile, figure_names, interactive
from mdlm_core.experiments import parity_grokking as experiment

warnings.filterwarnings("ignore", message="There is a performance drop")
if torch_threads:
    torch.set_num_threads(torch_threads)
out = Outputs(profile)   # where this run's figures, tables and claims go
cfg = config_for_profile(experiment.MLP_PROFILES, profile, mlp_width=mlp_width, batch_size=batch_size,
                         weight_decay=weight_decay, init_scale=init_scale, output_scale=output_scale, steps=steps,
                         seeds=tuple(range(mlp_seeds)) if mlp_seeds else None, sweep_seeds=sweep_seeds,
                         window_uppers=tuple(window_uppers) if window_uppers else None)
tf_cfg = config_for_profile(experiment.PARITY_PROFILES, profile, steps=transformer_steps,
                            seeds=tuple(range(transformer_seeds)) if transformer_seeds else None)
sns.set_theme(style="whitegrid", context="notebook")
t_star, t1_theory = mdlm.optimal_mask_ratio(cfg.k), mdlm.optimal_window_upper(cfg.k)
print(cfg)
print(f"t* = 1/(k+1) = {t_star:.3f};  theory-optimal window U[0, {t1_theory:.3f}]")

# %% [markdown]
# ## Training: every MLP run in one ensemble
#
# Supervised and MD at $t^*$ on every seed; on the first `sweep_seeds` seeds every window $U[0, b]$, and the
# $1/t$ ablation (the window nearest $t_1$ and $U[0, 1]$ without the weight). Runs are cached by configuration
# hash under `build/cache/runs/`. The lever run repeats supervised and MD at $t^*$ with weight decay 0
# (the paper: the Noise regime regularises without weight decay).

# %%
metrics = experiment.train_parity(cfg.members(), cfg, desc=f"MLP parity n={cfg.n} k={cfg.k}")
summary = experiment.parity_summary(metrics, cfg.target_acc)
lever_cfg = dataclasses.replace(cfg, weight_decay=0.0)
lever_metrics = experiment.train_parity(lever_cfg.members(sweep=False), lever_cfg, desc="MLP parity, wd 0")
levers = pd.concat([summary[summary.window.isin(["-", cfg.md_ratio().label])].assign(weight_decay=cfg.weight_decay),
                    experiment.parity_summary(lever_metrics, cfg.target_acc).assign(weight_decay=0.0)])
frames, summaries = [metrics], [summary]
if run_transformer:
    tf_metrics = experiment.train_parity(tf_cfg.members(sweep=False), tf_cfg, desc=f"transformer parity k={tf_cfg.k}")
    frames.append(tf_metrics)
    summaries.append(experiment.parity_summary(tf_metrics, tf_cfg.target_acc))
all_metrics, all_summary = pd.concat(frames, ignore_index=True), pd.concat(summaries, ignore_index=True)
out.table(all_metrics.drop(columns="seconds"), "02_parity_metrics")
out.table(all_metrics[["family", "seconds"]].drop_duplicates(), "02_timing")   # wall clock: not a result
out.table(all_summary, "02_parity_summary")
out.table(levers, "02_parity_levers")
all_summary.groupby(["family", "objective", "window"], sort=False).agg(
    seeds=("seed", "size"), memorised=("memorise_censored", lambda c: int((~c).sum())),
    generalised=("censored", lambda c: int((~c).sum())), median_steps=("steps_to_generalise", "median"))

# %% [markdown]
# ### The weight-decay lever
#
# The same supervised and MD-at-$t^*$ runs with weight decay 0 for both objectives (the paper argues that the
# Noise regime regularises MD without weight decay), next to the main runs.

# %%
levers.groupby(["objective", "window", "weight_decay"], sort=False).agg(
    seeds=("seed", "size"), memorised=("memorise_censored", lambda c: int((~c).sum())),
    generalised=("censored", lambda c: int((~c).sum())), median_steps=("steps_to_generalise", "median"),
    median_final_test=("final_test_acc", "median"))

# %% [markdown]
# ## (a) Accuracy vs step and the grokking gap per seed
#
# Left: supervised and MD at $t^*$ (dashed train, solid test; thin lines are seeds). Right: per seed, the span from
# memorising to generalising (the grokking gap); an open end means censored at the budget.

# %%
def draw_accuracy(metrics, summary, main_window, title):
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1, 0.9]})
    for ax, window in zip(axes, ("-", main_window)):
        runs = metrics[metrics.window == window]
        for seed, curve in runs.groupby("seed"):
            color = f"C{seed % 10}"
            ax.plot(curve.step, curve.train_acc, color=color, ls="--", lw=0.9, alpha=0.6)
            ax.plot(curve.step, curve.test_acc, color=color, lw=1.4)
        ax.axhline(0.95, color="grey", lw=0.8, ls=":")
        ax.set(title="supervised" if window == "-" else f"MD {window}", xlabel="step", ylim=(0.4, 1.02))
    axes[0].set_ylabel("accuracy (dashed: train, solid: test)")
    rows = summary[summary.window.isin(["-", main_window])].reset_index(drop=True)
    for i, row in rows.iterrows():
        color = "tab:orange" if row.objective == "supervised" else "tab:blue"
        axes[2].plot([row.steps_to_memorise, row.steps_to_generalise], [i, i], color=color, lw=2)
        axes[2].plot(row.steps_to_memorise, i, "|", color="k", ms=8)
        axes[2].plot(row.steps_to_generalise, i, "o", color=color, mfc="white" if row.censored else color)
    axes[2].set_yticks(range(len(rows)), [f"{'sup' if r.objective == 'supervised' else 'MD'} s{r.seed}" for r in rows.itertuples()],
                       fontsize=7)
    axes[2].set(xlabel="step: | memorised (train >= 0.98), o test >= 0.95 (open: censored)", title="grokking gap per seed")
    fig.suptitle(title)
    return fig


fig = draw_accuracy(metrics, summary, cfg.md_ratio().label,
                    f"MLP, {cfg.k}-sparse parity, n = {cfg.n}, {cfg.n_train} train examples, wd {cfg.weight_decay}")
out.figure(fig, figure_names.PARITY_GROKKING_ACCURACY)
plt.show()
if run_transformer:
    draw_accuracy(tf_metrics, summaries[-1], tf_cfg.md_ratio().label,
                  f"transformer, {tf_cfg.k}-sparse parity, n = {tf_cfg.n}, {tf_cfg.n_train} examples")
    plt.show()

# %% [markdown]
# ## (b) Held-out loss decomposition, the same measurement for both objectives
#
# At every evaluation each run is scored on the test sequences with one fixed mask per sequence at
# $t^* = 1/(k+1)$ (the same masks for every objective and window of a seed). **Signal-regime CE**: the
# cross-entropy on the one hidden relevant token of masks with exactly one of $S \cup \{y\}$ hidden; it falls
# below $\log 2$ only once the parity feature is computed. **Noise-regime squared margin**: the mean
# $(\ell_1 - \ell_0)^2$ on hidden tokens of the other masks, whose Bayes-optimal value is 0; it measures output
# magnitude where no prediction is possible (the paper's implicit-L2 argument says training should keep it small;
# the plot shows whether it does).

# %%
shown = ["-", cfg.md_ratio().label, "[0,1]"]
runs = metrics[metrics.window.isin(shown) & (metrics.step > 0)].replace({"window": {"-": "supervised"}})
fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained")
sns.lineplot(runs, x="step", y="heldout_signal_loss", hue="window", units="seed", estimator=None, lw=0.8, ax=axes[0])
axes[0].axhline(np.log(2), color="grey", ls=":", lw=1)
axes[0].set(ylabel="held-out CE, Signal regime", title="Signal regime (dotted: log 2)", yscale="log")
sns.lineplot(runs, x="step", y="heldout_noise_sq_margin", hue="window", units="seed", estimator=None, lw=0.8,
             ax=axes[1], legend=False)
axes[1].set(yscale="log", ylabel=r"held-out mean $(\ell_1 - \ell_0)^2$", title="Noise regime: squared logit margin")
out.figure(fig, figure_names.PARITY_LOSS_DECOMPOSITION)
plt.show()

# %% [markdown]
# ## (c) Which mask-ratio window trains fastest?
#
# Steps to 95% test accuracy per seed for $U[0, b]$ (open markers: censored at the budget), with and without the
# $1/t$ weight; horizontal: the fixed $t^*$. The empirical best $b$ (smallest mean, censored runs at the budget)
# with a bootstrap interval over seeds, against the theory's $t_1$.

# %%
sweep = summary[summary.objective == "md"]
best = experiment.best_window_bootstrap(summary)
fig, (ax, ax_final) = plt.subplots(1, 2, figsize=(14, 4.6), layout="constrained")
for weighted, color, dx in ((True, "tab:blue", 0.0), (False, "tab:red", 0.01)):
    rows = sweep[(sweep.mask_low == 0) & (sweep.mask_high > 0) & (sweep.weighted == weighted)]
    if not len(rows):
        continue
    ax_final.scatter(rows.mask_high + dx, rows.final_test_acc, s=20, color=color, alpha=0.7)
    finals = rows.groupby("mask_high").final_test_acc.median()
    ax_final.plot(finals.index + dx, finals.values, "-", color=color,
                  label="1/t weight" if weighted else "no 1/t weight")
    ax.scatter(rows.mask_high + dx, rows.steps_to_generalise, s=26, edgecolors=color,
               facecolors=np.where(rows.censored, "white", color), zorder=3)
    means = rows.groupby("mask_high").steps_to_generalise.mean()
    ax.plot(means.index + dx, means.values, "-", color=color, label="1/t weight" if weighted else "no 1/t weight")
fixed = sweep[sweep.window == mdlm.MaskRatio.fixed(t_star).label].steps_to_generalise
ax.axhline(fixed.mean(), color="tab:green", label=f"fixed t*: mean {fixed.mean():.0f}")
ax.axhline(cfg.steps, color="grey", lw=0.8, ls=":")
ax.axvline(t1_theory, color="k", ls="--", lw=1, label=f"theory t1 = {t1_theory:.3f}")
if np.isfinite(best["best_b"]):
    ax.axvspan(best["low"], best["high"], color="tab:blue", alpha=0.1,
               label=f"best b = {best['best_b']:g}, 95% bootstrap [{best['low']:g}, {best['high']:g}]")
ax.set(xlabel="window upper end b  (t ~ U[0, b])", ylabel="steps to 95% test (censored at the budget)",
       title=f"Window sweep, MLP, k = {cfg.k}")
ax.legend(fontsize=8)
fixed_final = sweep[sweep.window == mdlm.MaskRatio.fixed(t_star).label].final_test_acc
ax_final.axhline(fixed_final.median(), color="tab:green", label=f"fixed t*: median {fixed_final.median():.2f}")
ax_final.axvline(t1_theory, color="k", ls="--", lw=1)
ax_final.set(xlabel="window upper end b", ylabel=f"test accuracy at the budget ({cfg.steps} steps)",
             title="where runs are censored: test accuracy at the budget")
ax_final.legend(fontsize=8)
out.figure(fig, figure_names.PARITY_WINDOW_SWEEP)
plt.show()
print("empirical best b:", "none (every U[0, b] run censored)" if not np.isfinite(best["best_b"]) else
      f"{best['best_b']:g}, 95% bootstrap [{best['low']:g}, {best['high']:g}]", f"vs theory t1 = {t1_theory:.3f}")
sweep_table = sweep.groupby("window", sort=False).agg(
    seeds=("seed", "size"), reached=("censored", lambda c: int((~c).sum())),
    mean_steps=("steps_to_generalise", "mean"), median_final_test=("final_test_acc", "median")).reset_index()
out.table(sweep_table, "02_parity_window_sweep")
sweep_table

# %% [markdown]
# ## Explorer
#
# Pick a family, objective, window and seeds to see the saved curves (in JupyterLab; headless it draws the default).

# %%
interactive.parity_curves_explorer(all_metrics)

# %% [markdown]
# ## (d) Claims
#
# One table per family, by the rules in `companion/verdicts.py`: the share of supervised seeds with a plateau
# (binomial), MD vs supervised and $U[0, t_1]$ vs $U[0, 1]$ by Gehan's censored test, with and without $1/t$.

# %%
claims_data = experiment.parity_claims(summary, metrics, cfg) + [experiment.lever_claim(levers, cfg)]
if run_transformer:
    claims_data += experiment.parity_claims(summaries[-1], tf_metrics, tf_cfg)[:3]
interactive.show_claims(out.claims("02_parity_grokking", claims_data))
