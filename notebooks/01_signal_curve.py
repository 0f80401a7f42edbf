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
# # 01 · The Signal regime: $P_S(t) = (k+1)\,t\,(1-t)^k$
#
# Huang & Mirzasoleiman (2026) split the masked-diffusion loss on $k$-parity into a **Signal regime**,
# which teaches the parity feature, and a **Noise regime**, which acts as an implicit L2 regulariser.
# This notebook derives how often a training mask lands in the Signal regime, checks the formula
# against sampled masks, and computes the two numbers the paper builds on: the best fixed mask ratio
# $t^* = 1/(k+1)$ and the best window $U[0, t_1]$ ($t_1 \approx 0.246$ for $k = 6$).
#
# Change `k_values`, `k_heatmap` or the profile in the next cell and re-run to explore.

# %% tags=["parameters"]
profile = None          # smoke | quick | paper (None: $MDLM_PROFILE, else quick)
k_values = None         # parity orders to plot (None: profile default)
k_heatmap = None        # k for the window heat map (paper: 6)
mc_samples = None       # sampled masks per probed t
seed = None

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

import mdlm_core as mdlm
from mdlm_core.companion import Outputs, config_for_profile, figure_names, interactive
from mdlm_core.experiments import signal_curve as experiment

out = Outputs(profile)   # where this run's figures, tables and claims go
cfg = config_for_profile(experiment.SIGNAL_CURVE_PROFILES, profile, k_values=k_values, k_heatmap=k_heatmap,
                            mc_samples=mc_samples, seed=seed)
sns.set_theme(style="whitegrid", context="notebook")
print(cfg)

# %% [markdown]
# ## Deriving $P_S(t)$
#
# A training sequence is $[x_1, \dots, x_n, y]$ with $y = \bigoplus_{i \in S} x_i$, $|S| = k$. The forward
# process masks every token independently with probability $t$ (label included). Call the $k+1$ tokens
# $S \cup \{y\}$ *relevant*.
#
# * If **no** relevant token is masked, the masked tokens are irrelevant bits, independent of everything
#   visible: the best prediction is $1/2$ whatever the network has learned.
# * If **two or more** relevant tokens are masked, each of them is still a fair coin given all visible
#   tokens (the parity constraint links the hidden ones only to each other), so again the best
#   prediction is $1/2$. Together with the first case this is the **Noise regime**: its gradient only
#   pulls the logits towards zero, like weight decay on the outputs.
# * If **exactly one** relevant token is masked, the other $k$ are visible and determine it: predicting it
#   requires computing the parity of the visible relevant bits. Only this **Signal regime** carries
#   information about $S$.
#
# Each relevant token is masked independently with probability $t$, so the number masked is
# $\mathrm{Binomial}(k+1, t)$ and
# $$P_S(t) = \Pr[\text{exactly one}] = \binom{k+1}{1} t (1-t)^k = (k+1)\, t\, (1-t)^k .$$
# Setting $\frac{d}{dt}\log P_S = \frac1t - \frac{k}{1-t} = 0$ gives $t^* = \frac{1}{k+1}$.
#
# **Monte Carlo check.** We sample masks with the same `sample_mask` the training loss uses, on sequences of
# length $k + 5$ (four irrelevant bits, which must not matter), and classify each with `is_signal_mask`.

# %%
rows = []
for k in cfg.k_values:
    t_probe = np.linspace(0.02, 0.95, cfg.mc_points)
    est = mdlm.theory.monte_carlo_signal_probability(t_probe, k, cfg.mc_samples, seq_len=k + 5, seed=cfg.seed + k)
    exact = mdlm.signal_probability(t_probe, k)
    # z-score against the binomial s.e. of the exact value (floored at one count, 1/n, where P_S ~ 0)
    se_exact = np.maximum(np.sqrt(exact * (1 - exact) / cfg.mc_samples), 1 / cfg.mc_samples)
    rows += [dict(k=k, t=t, monte_carlo=e, stderr=s, exact=x, z=(e - x) / se)
             for t, e, s, x, se in zip(t_probe, est.estimate, est.stderr, exact, se_exact)]
mc_table = pd.DataFrame(rows)
out.table(mc_table, "01_signal_probability_monte_carlo")
max_z = mc_table["z"].abs().max()
print(f"{len(mc_table)} probes, {cfg.mc_samples} masks each: max |MC - exact| / stderr = {max_z:.2f}")

# %%
fig, ax = plt.subplots(figsize=(7, 4.2))
t = np.linspace(0, 1, 501)
palette = sns.color_palette("viridis", len(cfg.k_values))
for color, k in zip(palette, cfg.k_values):
    ax.plot(t, mdlm.signal_probability(t, k), color=color, label=f"k = {k}")
    sub = mc_table[mc_table.k == k]
    ax.errorbar(sub.t, sub.monte_carlo, yerr=2 * sub.stderr, fmt="o", ms=3, color=color, alpha=0.8)
    t_star = mdlm.optimal_mask_ratio(k)
    ax.plot([t_star], [mdlm.signal_probability(t_star, k)], marker="*", ms=12, color=color, mec="black", mew=0.6)
ax.set(xlabel="mask ratio t", ylabel=r"$P_S(t)$  (exactly one relevant token masked)",
       title=r"Signal probability $(k+1)\,t\,(1-t)^k$; ★ $t^*=1/(k+1)$, dots: Monte Carlo ± 2 s.e.")
ax.legend(ncol=2, fontsize=9)
out.figure(fig, figure_names.SIGNAL_PROBABILITY)
plt.show()

# %% [markdown]
# ## Which window of mask ratios?
#
# Training draws $t \sim U[t_0, t_1]$, so the fraction of Signal-regime masks is the window average
# $\bar P_S(t_0, t_1) = \frac{1}{t_1 - t_0}\int_{t_0}^{t_1} P_S(t)\,dt$, in closed form with
# $F(t) = -(1-t)^{k+1} + \frac{k+1}{k+2}(1-t)^{k+2}$. Among windows anchored at zero, $U[0, t_1]$, the
# average rises while $P_S(t_1)$ is above it and falls after, so the best $t_1$ solves
# $P_S(t_1) = \bar P_S(0, t_1)$ — the paper's *sample-complexity-optimal* window. Any window's average is at
# most $P_S(t^*)$ (reached only by the degenerate window $t_0 = t_1 = t^*$), and the standard $U[0, 1]$
# gives only $1/(k+2)$.

# %%
k = cfg.k_heatmap
grid = np.linspace(0, 1, cfg.grid)
T0, T1 = np.meshgrid(grid, grid, indexing="ij")
valid = T0 <= T1
avg = np.full_like(T0, np.nan)
avg[valid] = mdlm.window_average_signal(T0[valid], T1[valid], k)
t1_opt = mdlm.optimal_window_upper(k)
t_star = mdlm.optimal_mask_ratio(k)

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained",
                             gridspec_kw=dict(width_ratios=[1.15, 1]))
im = ax.pcolormesh(grid, grid, avg.T, shading="auto", cmap="magma", rasterized=True)
fig.colorbar(im, ax=ax, label=r"$\bar P_S$ over $U[t_0, t_1]$")
ax.contour(grid, grid, avg.T, levels=8, colors="white", linewidths=0.5, alpha=0.6)
ax.plot([0], [t1_opt], marker="*", ms=16, color="cyan", mec="black", label=f"best U[0, t1]: t1 = {t1_opt:.3f}")
ax.plot([t_star], [t_star], marker="o", ms=8, color="white", mec="black", label=f"t* = 1/(k+1) = {t_star:.3f}")
ax.plot([0.45], [0.55], marker="s", ms=7, color="lime", mec="black", label="U[0.45, 0.55] (language)")
ax.plot([0], [1], marker="^", ms=9, color="grey", mec="black", label="U[0, 1] (standard)")
for line in ax.lines:
    line.set_clip_on(False)  # windows on the border (t0 = 0, t1 = 1) stay visible
ax.set(xlabel=r"window start $t_0$", ylabel=r"window end $t_1$", title=f"Window-averaged signal, k = {k}")
ax.legend(loc="lower right", fontsize=8)

ax2.plot(grid, mdlm.signal_probability(grid, k), label=r"$P_S(t)$")
upper = grid[1:]
ax2.plot(upper, mdlm.window_average_signal(np.zeros_like(upper), upper, k), label=r"$\bar P_S(0, t_1)$ vs $t_1$")
ax2.axvline(t1_opt, ls="--", color="k", lw=1)
ax2.annotate(f"t1* = {t1_opt:.3f}\n(curves cross)", (t1_opt, mdlm.signal_probability(t1_opt, k)),
             xytext=(t1_opt + 0.2, 0.5 * mdlm.signal_probability(t1_opt, k)), arrowprops=dict(arrowstyle="->"))
ax2.set(xlabel="t", ylabel="probability", title=f"The U[0, t1] optimum, k = {k}")
ax2.legend(loc="upper right")
out.figure(fig, figure_names.WINDOW_AVERAGE_HEATMAP)
plt.show()

# %%
windows = {"fixed t*": (t_star, t_star), f"U[0, {t1_opt:.3f}] (optimal)": (0.0, t1_opt),
           "U[0, 0.246] (paper)": (0.0, 0.246), "U[0.45, 0.55]": (0.45, 0.55), "U[0, 1]": (0.0, 1.0)}
summary = pd.DataFrame([dict(k=kk, t_star=mdlm.optimal_mask_ratio(kk), t1_opt=mdlm.optimal_window_upper(kk),
                             **{name: mdlm.window_average_signal(a, b, kk) for name, (a, b) in windows.items()})
                        for kk in sorted(set(cfg.k_values) | {k})])
out.table(summary, "01_window_average_by_k")
summary.round(4)

# %% [markdown]
# ## Claims

# %%
claims = experiment.signal_curve_claims(mc_table, k, cfg)
interactive.show_claims(out.claims("01_signal_curve", claims))

# %% [markdown]
# ## Explore
# In JupyterLab the sliders below redraw the curve live: pick k and a training window and read off the
# fraction of Signal-regime masks it yields. Run headless (reproduce.sh, nbval) it draws the default once.

# %%
interactive.signal_window_explorer(k=cfg.k_heatmap, window=(0.0, mdlm.optimal_window_upper(cfg.k_heatmap)))
