# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Parity: supervised training groks, masked diffusion does not
#
# Huang & Mirzasoleiman (2026) train the same transformer on the same finite $k$-sparse parity set in two ways:
#
# * **supervised**: input $[x_1, \dots, x_n, \texttt{MASK}]$, cross-entropy on $y$ only;
# * **masked diffusion (MD)**: the sequence $[x_1, \dots, x_n, y]$, every token (label included) masked with
#   probability $t$, loss on the masked tokens (`md_loss`).
#
# Supervised training memorises the train set at once and *groks*: test accuracy sits at 50% for a long
# plateau. MD training generalises without that plateau, and the mask-ratio window that converges fastest is
# the theory's $U[0, t_1]$ (notebook 01). Accuracy is always measured the same way: mask only $y$, take the argmax.
#
# **Scale.** The paper uses $(n, k) = (20, 6)$ and a nanoGPT model (`profile = "paper"`, for a GPU). On two CPU
# cores the `quick` profile makes the smallest change that kept masked diffusion learning in our calibration
# runs: $k = 3$ instead of 6 ($n = 20$ kept), 300 training examples, batch 128, weight decay 0.3, 3,000 steps,
# and a sweep of $U[0, 0.42] \approx U[0, t_1]$, $U[0, 1]$ and the fixed $t^*$. Supervised grokking is the part
# that does not fit this budget. Calibration on this CPU (3 seeds per setting unless noted, $n = 20$):
#
# | setting | supervised | MD at $t^*$ |
# |---|---|---|
# | $k=3$, 100 or 150 examples, wd 0.3 | memorises by step 500-1400 on 3/3 seeds, test stays at 0.46-0.66 for the rest of 2,500 steps (a plateau that is never left) | 150 examples: memorises too, 1/3 seeds generalise |
# | $k=3$, 150 examples, wd 0.5 | 2 seeds memorise and stay at 0.5; 1 generalises at once | 1/1 seed stays at 0.5 |
# | $k=3$, 150 or 200 examples, wd 1.0 | late, partial generalisation on some seeds (test 0.86-0.88); runs that had learned collapse back to 0.5 | 1/1 seed: 150 examples 0.76 at step 3,000; 200 examples 95% by step 1,400 |
# | $k=3$, 200 examples, wd 0.5 | 2 of 3 seeds generalise at once (no plateau) | 1/1 seed at 95% by step 1,400 |
# | $k=3$, 300 examples, wd 0.3 (this profile) | mixed: at once, never, or a short gap | 3/3 seeds, no plateau |
# | $k=4$, 500 examples, wd 0.3 | clear grokking (train 100% by about step 1,500, test about 0.52 until 3,500-8,000), 95% test at 2,500-9,000 steps | 2 of 3 seeds by 4,500 steps; the third not in 12,000 |
# | $k=4$, $n=14$, 500 examples, wd 0.3 | 2 of 3 seeds generalise at once, 1 learns nothing | 1/1 seed learns nothing in 3,000 steps |
#
# So a small train set makes supervised training memorise and plateau, but it makes MD memorise as well; a
# train set large enough for MD lets supervised runs skip the plateau on some seeds. The clear supervised
# grokking of the paper needs $k \ge 4$ and about 10,000 steps per seed, which is the `paper` profile's job on
# a GPU. Read the claims table per seed: seed-to-seed variance is large. All runs of the notebook are trained
# as one batched ensemble (`mdlm_core.ensemble`), each member exactly as if trained alone. Every size
# is a parameter of the next cell.

# %% tags=["parameters"]
profile = None          # smoke | quick | paper (None: $MDLM_PROFILE, else quick)
n = None                # input bits
k = None                # parity order |S|
n_train = None          # size of the finite train set
n_test = None
n_layer = None
n_embd = None
batch_size = None
lr = None
weight_decay = None
steps = None            # training steps of every run
seeds = None            # e.g. [0, 1, 2]
window_uppers = None    # b of the U[0, b] windows swept
window_delta = None     # half-width of the window around t*
torch_threads = None    # None: every core (fastest on an idle machine); 1 is faster when other jobs share the CPU

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

import mdlm_core as mdlm
from mdlm_core.companion import Outputs, config_for_profile, figure_names
from mdlm_core.experiments import parity_grokking as experiment

warnings.filterwarnings("ignore", message="There is a performance drop")
if torch_threads:
    torch.set_num_threads(torch_threads)
out = Outputs(profile)   # where this run's figures, tables and claims go
cfg = config_for_profile(experiment.PARITY_PROFILES, profile, n=n, k=k, n_train=n_train, n_test=n_test,
                              n_layer=n_layer, n_embd=n_embd, batch_size=batch_size, lr=lr,
                              weight_decay=weight_decay, steps=steps, seeds=tuple(seeds) if seeds else None,
                              window_uppers=tuple(window_uppers) if window_uppers else None,
                              window_delta=window_delta)
sns.set_theme(style="whitegrid", context="notebook")
t_star, t1_theory = mdlm.optimal_mask_ratio(cfg.k), mdlm.optimal_window_upper(cfg.k)
print(cfg)
print(f"t* = 1/(k+1) = {t_star:.3f};  theory-optimal window U[0, {t1_theory:.3f}]")

# %% [markdown]
# ## Training: every run in one ensemble
#
# For each seed (secret set, train/test sets, initialisation, batch order): one supervised run, and one MD
# run per mask-ratio window: $U[0, b]$ for every $b$, the fixed $t^*$, and $[t^* - \delta, t^* + \delta]$.
# Runs are cached by configuration hash under `build/cache/runs/`, so re-running the notebook is instant.

# %%
md_ratio = cfg.md_ratio()
windows = list(dict.fromkeys([md_ratio, *cfg.sweep_windows()]))
members = [experiment.ParityMember("supervised", s) for s in cfg.seeds]
members += [experiment.ParityMember("md", s, w) for w in windows for s in cfg.seeds]
metrics = experiment.train_parity(members, cfg, desc=f"parity n={cfg.n} k={cfg.k}")
summary = experiment.grokking_summary(metrics, cfg.target_acc)
out.table(metrics, "02_parity_metrics")
out.table(summary, "02_parity_summary")
summary.round(3)

# %% [markdown]
# ## (a) Accuracy vs step: supervised vs MD at $t^*$
#
# Thin lines are seeds. The shaded span on each seed runs from the step train accuracy first reaches 100% to
# the step test accuracy first reaches 95%: the grokking gap.

# %%
sup_label, md_label = "supervised", f"MD {md_ratio.label}"
fig, axes = plt.subplots(1, 2, figsize=(13, 4.4), sharey=True, layout="constrained")
palette = sns.color_palette("tab10", len(cfg.seeds))
for ax, run in zip(axes, (sup_label, md_label)):
    for color, seed in zip(palette, cfg.seeds):
        curve = metrics[(metrics.run == run) & (metrics.seed == seed)]
        ax.plot(curve.step, curve.train_acc, color=color, ls="--", lw=1.2, alpha=0.8)
        ax.plot(curve.step, curve.test_acc, color=color, lw=1.8, label=f"seed {seed}")
        row = summary[(summary.run == run) & (summary.seed == seed)].iloc[0]
        if np.isfinite(row.steps_to_train_100):
            end = row.steps_to_test_target if np.isfinite(row.steps_to_test_target) else row.max_steps
            ax.axvspan(row.steps_to_train_100, max(end, row.steps_to_train_100), color=color, alpha=0.08)
    ax.axhline(cfg.target_acc, color="grey", lw=0.8, ls=":")
    gaps = summary[summary.run == run].gap
    finite = gaps[np.isfinite(gaps)]
    gap_text = (f"median gap train-100% → test-{cfg.target_acc:.0%} = {np.median(finite):.0f} steps "
                f"({len(finite)}/{len(gaps)} seeds)" if len(finite)
                else f"no seed reached both 100% train and {cfg.target_acc:.0%} test")
    ax.set(title=f"{run}: {gap_text}", xlabel="step", ylim=(0.4, 1.02))
axes[0].set_ylabel("accuracy (dashed: train, solid: test)")
axes[0].legend(loc="lower right", fontsize=9)
fig.suptitle(f"{cfg.k}-sparse parity, n = {cfg.n}, {cfg.n_train} train examples, weight decay {cfg.weight_decay}")
out.figure(fig, figure_names.PARITY_GROKKING_ACCURACY)
plt.show()

# %% [markdown]
# ## (b) The loss decomposition during MD training
#
# Measured on the training batches themselves. **Signal loss**: the cross-entropy on the one masked relevant
# token of Signal-regime masks (exactly one of $S \cup \{y\}$ hidden); it falls from $\log 2$ once the parity
# feature is computed. **Noise-regime output**: the mean squared logit margin $(\ell_1 - \ell_0)^2$ on masked
# tokens of Noise-regime masks, whose optimum is 0: the implicit L2 term that keeps outputs small.
# **Signal fraction**: how many masks are in the Signal regime, against the theory $\bar P_S = E_t[P_S(t)]$.

# %%
shown = [md_ratio] + [w for w in windows if w in (mdlm.MaskRatio.window(0.0, 1.0),)]
shown += [min((w for w in windows if w.low == 0 and not w.is_fixed), key=lambda w: abs(w.high - t1_theory))]
shown = list(dict.fromkeys(shown))
md_runs = metrics[metrics.run.isin([f"MD {w.label}" for w in shown]) & (metrics.step > 0)]
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
sns.lineplot(md_runs, x="step", y="signal_loss", hue="run", units="seed", estimator=None, lw=1, ax=axes[0])
axes[0].axhline(np.log(2), color="grey", ls=":", lw=1)
axes[0].set(ylabel="CE on the masked relevant token", title="Signal regime loss (dotted: log 2)")
sns.lineplot(md_runs, x="step", y="noise_sq_margin", hue="run", units="seed", estimator=None, lw=1, ax=axes[1],
             legend=False)
axes[1].set(yscale="log", ylabel=r"mean $(\ell_1 - \ell_0)^2$", title="Noise regime: squared output (implicit L2)")
fractions = (md_runs.assign(measured=md_runs.signal_fraction if "signal_fraction" in md_runs else np.nan)
             .groupby("run").agg(measured=("measured", "mean"), theory=("p_signal", "first")).reset_index())
fractions.plot.bar(x="run", y=["measured", "theory"], ax=axes[2], rot=15)
axes[2].set(ylabel="fraction of masks in the Signal regime", xlabel="", title=r"Signal fraction vs $\bar P_S$")
out.figure(fig, figure_names.PARITY_LOSS_DECOMPOSITION)
plt.show()
fractions.round(4)

# %% [markdown]
# ## (c) Which mask-ratio window trains fastest?
#
# Steps to 95% test accuracy per seed (dots) and their median (line) for $U[0, b]$; runs that never reach it
# within the budget are drawn as crosses at the top (censored). Horizontal bands: the fixed $t^*$ and
# $[t^* \pm \delta]$ (median and seed range). Dashed: the theory optimum $t_1$, where the window average of
# $P_S$ peaks (right axis).

# %%
sweep = summary[summary.objective == "md"].copy()
sweep["censored"] = ~np.isfinite(sweep.steps_to_test_target)
sweep["steps_plot"] = sweep.steps_to_test_target.where(~sweep.censored, cfg.steps * 1.05)
anchored = sweep[(sweep.mask_low == 0) & (sweep.mask_low != sweep.mask_high)]
fig, ax = plt.subplots(figsize=(8.5, 4.6), layout="constrained")
ax.scatter(anchored.mask_high, anchored.steps_plot, c=np.where(anchored.censored, "tab:red", "tab:blue"),
           marker="o", s=28, alpha=0.8, zorder=3)
ax.scatter(anchored.mask_high[anchored.censored], anchored.steps_plot[anchored.censored], marker="x", color="tab:red",
           s=60, zorder=4, label="not reached (censored)")
medians = anchored.groupby("mask_high").steps_plot.median()
ax.plot(medians.index, medians.values, "-o", color="tab:blue", label="U[0, b]: median over seeds")
references = [("fixed t*", mdlm.MaskRatio.fixed(t_star), "tab:green")]
if cfg.window_delta is not None:
    references.append((f"[t* ± {cfg.window_delta:g}]", cfg.sweep_windows()[-1], "tab:purple"))
for label, w, color in references:
    runs = sweep[(sweep.mask_low == w.low) & (sweep.mask_high == w.high)].steps_plot
    ax.axhspan(runs.min(), runs.max(), color=color, alpha=0.12)
    ax.axhline(runs.median(), color=color, lw=1.5, label=f"{label}: median {runs.median():.0f}")
ax.axhline(cfg.steps, color="grey", lw=0.8, ls=":")
ax.axvline(t1_theory, color="k", ls="--", lw=1, label=f"theory optimum t1 = {t1_theory:.3f}")
ax.set(xlabel="window upper end b  (t ~ U[0, b])", ylabel=f"steps to {cfg.target_acc:.0%} test accuracy",
       title=f"Window sweep, k = {cfg.k}, {len(cfg.seeds)} seeds")
twin = ax.twinx()
b_grid = np.linspace(0.02, 1, 200)
twin.plot(b_grid, mdlm.window_average_signal(np.zeros_like(b_grid), b_grid, cfg.k), color="grey", alpha=0.5)
twin.set(ylabel=r"theory $\bar P_S(0, b)$")
twin.grid(False)
ax.legend(fontsize=8, loc="upper center")
out.figure(fig, figure_names.PARITY_WINDOW_SWEEP)
plt.show()

# %%
sweep_table = (sweep.groupby("run", sort=False)
               .agg(low=("mask_low", "first"), high=("mask_high", "first"),
                    median_steps=("steps_plot", "median"), min_steps=("steps_plot", "min"),
                    max_steps=("steps_plot", "max"), reached=("censored", lambda c: f"{(~c).sum()}/{len(c)}"))
               .reset_index())
sweep_table["p_signal_theory"] = [mdlm.window_average_signal(lo, hi, cfg.k) for lo, hi in zip(sweep_table.low, sweep_table.high)]
out.table(sweep_table, "02_parity_window_sweep")
sweep_table.round(3)

# %% [markdown]
# ## (d) Claims
#
# Steps are evaluation steps (every `eval_every`); a run that never reaches the target counts as slower than
# the budget. Verdicts come from the numbers above, over all seeds.

# %%
claims_data = experiment.parity_claims(summary, sweep_table, metrics, cfg)
out.claims("02_parity_grokking", claims_data)
