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
from mdlm_core.companion import Outputs, config_for_profile, figure_names, interactive
from mdlm_core.experiments import signal_curve as experiment

out = Outputs(profile)   # where this run's figures, tables and claims go
cfg = config_for_profile(experiment.PROFILES, profile, k_values=k_values, k_heatmap=k_heatmap,
                         mc_samples=mc_samples, seed=seed)
print(cfg)

# %%
results = experiment.run(cfg, out)          # the Monte Carlo check, the window averages and the heat map
figures = experiment.figures(results, out)  # drawn and saved; shown below

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
# length $k + 5$ (four irrelevant bits, which must not matter), and classify each with `is_signal_mask`
# (`experiment.run` does this at `mc_points` mask ratios per $k$: the table `01_signal_probability_monte_carlo`).

# %%
max_z = results.monte_carlo["z"].abs().max()
print(f"{len(results.monte_carlo)} probes, {cfg.mc_samples} masks each: max |MC - exact| / stderr = {max_z:.2f}")
figures[figure_names.SIGNAL_PROBABILITY]

# %% [markdown]
# ## Which window of mask ratios?
#
# Training draws $t \sim U[t_0, t_1]$, so the fraction of Signal-regime masks is the window average
# $\bar P_S(t_0, t_1) = \frac{1}{t_1 - t_0}\int_{t_0}^{t_1} P_S(t)\,dt$, in closed form with
# $F(t) = -(1-t)^{k+1} + \frac{k+1}{k+2}(1-t)^{k+2}$. Among windows anchored at zero, $U[0, t_1]$, the
# average rises while $P_S(t_1)$ is above it and falls after, so the best $t_1$ solves
# $P_S(t_1) = \bar P_S(0, t_1)$ — the paper's *sample-complexity-optimal* window. Any window's average is at
# most $P_S(t^*)$ (reached only by the degenerate window $t_0 = t_1 = t^*$), and the standard $U[0, 1]$
# gives only $1/(k+2)$. The heat map marks both optima the claims check: the **global maximum** (white circle, on
# the diagonal at $t_0 = t_1 = t^*$) and the **best window starting at 0**, $U[0, t_1^*]$ (cyan star); the grid's own
# maxima lie within one grid step of them (`experiment.heatmap_optima`).

# %%
figures[figure_names.WINDOW_AVERAGE_HEATMAP]

# %%
results.window_average.round(4)

# %% [markdown]
# ## Claims

# %%
interactive.show_claims(out.claims(experiment.NOTEBOOK, experiment.claims(results)))

# %% [markdown]
# ## Explore
# In JupyterLab the sliders below redraw the curve live: pick k and a training window and read off the
# fraction of Signal-regime masks it yields. Run headless (reproduce.sh, nbval) it draws the default once.

# %%
experiment.explorer(results)
