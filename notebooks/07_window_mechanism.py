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
# # 07 · Why do windows help the language model: a regulariser or an optimiser?
#
# Notebook 03 reproduces the paper's U-curve: training on the window $t \sim U[0.4, 0.5]$ gives a lower test
# ELBO than $t \sim U[0, 1]$. Huang & Mirzasoleiman read that as an **implicit regulariser**: a window that keeps
# the Signal regime and drops the Noise regime changes *which* solution is learned. Notebook 03's runs cannot
# test that reading:
#
# - **No overfitting is possible there.** Each run sees ~2M characters, about 0.2 epoch; a regulariser has
#   nothing to act on, and the validation loss is still falling at the last step.
# - **The gap shrinks as training goes on.** That fits a different reading just as well: *faster optimisation*.
#   Under $U[0, 1]$ the loss weight $1/t$ reaches $1/\varepsilon$, so the gradient of one step is noisy; a mid
#   window's weights lie between 2 and 2.5.
#
# Three experiments, each with its claim and test declared in `mdlm_core/experiments/window_mechanism.py`
# before the runs, separate the readings:
#
# 1. **Longer training.** $U[0, 1]$ and $[0.4, 0.5]$ (the window notebook 03 found best, declared here, not
#    re-picked) for longer than notebook 03, seeds paired. A gap that *persists* points to a different optimum; a
#    gap that *closes* points to optimisation speed.
# 2. **A data-limited, multi-epoch regime**, where overfitting can show: the leading rows of the training split
#    only, for many epochs, for $U[0, 1]$, $[0.4, 0.5]$, $[0.45, 0.55]$, a low-$t$ window $[0.1, 0.2]$ (mostly
#    Signal: a masked character is recoverable from a nearly clean context) and a high-$t$ window $[0.8, 0.9]$
#    (mostly Noise). The regulariser reading predicts that the low-$t$ window, which drops the Noise regime,
#    overfits **more** than $U[0, 1]$ and the high-$t$ window.
# 3. **The variance explanation, measured.** The per-step gradient noise of each window's training estimator, at
#    initialisation and at the end of training, against the window's test ELBO, over all twelve of notebook
#    03's windows.
#
# Notebook 03's runs are **reused, not retrained**: the same LM spec, window and seed give the same run in the
# cache (as notebook 04 loads its base model). Run notebook 03 first (or let this notebook train its runs).
#
# **Budget (quick profile, 2 CPU cores).** Notebook 07 must stay within ~13 minutes with notebook 03's runs
# cached. The issue asks for "about 4x the steps, >= 2 seeds" for the long runs; 4 runs of 4,000 steps alone
# take ~14 minutes of two workers, so the long runs are **2x** notebook 03's steps (2,000), the largest multiple
# that leaves room for the other two parts. The data-limited runs are short (400 steps over 64 rows, 100 epochs)
# and buy a **third seed** for the three windows the overfitting claim compares.

# %% tags=["parameters"]
profile = None          # smoke | quick | paper (None: $MDLM_PROFILE, else quick)
long_steps = None       # steps of the long runs (quick 2,000, twice notebook 03's)
limited_rows = None     # training rows of the data-limited regime (quick: 64 rows of 128 characters)
limited_steps = None    # steps of the data-limited runs
n_draws = None          # gradients per gradient-noise measurement
workers = None          # runs trained in parallel, one thread each (None: one per CPU core; 1 on a GPU)
data_dir = None         # folder holding wikitext-2/ (None: the MDLM_DATA_DIR environment variable)

# %%
from mdlm_core.companion import Outputs, config_for_profile, figure_names, interactive
from mdlm_core.experiments import window_mechanism as experiment

out = Outputs(profile)
cfg = config_for_profile(experiment.PROFILES, profile, workers=workers,
                         **{"long.steps": long_steps, "limited.train_rows": limited_rows,
                            "limited.steps": limited_steps, "noise.n_draws": n_draws})
print(cfg)
results = experiment.run(cfg, out, data_dir=data_dir)
figs = experiment.figures(results, out)
print(f"trained here: {len(results.timing)} runs, {results.timing.train_seconds.sum() / 60:.1f} min of training in "
      "their last sessions (cached runs load in seconds)")

# %% [markdown]
# ## 1 · Longer training: does the gap close?
#
# Left: the validation ELBO (64 validation rows, common masks) of the long runs, each seed a line; the markers
# are test ELBOs (notebook 03's 1,000-step runs as crosses, the long runs at their end as dots). Each run has its
# own cosine schedule, so a long run at step 1,000 is not notebook 03's run at its end: compare the ends. Right:
# the validation gap $U[0,1] - [0.4,0.5]$ per seed over steps (log scale), its least-squares trend on
# $\log_2$(step) with a 95% interval (points along a run are correlated: read the interval as a guide), and the
# test gap at both horizons.

# %%
figs[figure_names.WINDOW_LONG_TRAINING]

# %%
results.long_runs.round(4)

# %%
results.long_curves.round(4)

# %% [markdown]
# The trend: the slope is the change of the gap per doubling of training; `closes_at_step` is where the fitted
# line would reach 0 (infinite when the gap does not shrink). Extrapolating a log-linear fit is a rough guide.

# %%
results.trend_table.round(4)

# %% [markdown]
# ## 2 · A data-limited regime: which windows overfit?
#
# The leading training rows only, trained for many epochs (rows are drawn with replacement; an epoch is one
# expected pass). The **train ELBO** is scored on the leading training rows with the same estimator, row count,
# eval seed and therefore the same $t$'s and masks as the **test ELBO** on test rows, during training (64 rows
# each, 2 draws of $t$ per row: the curves) and at the end (the same rows, 10 strata of $t$ per row: the table and
# the claim). The gap is test minus train: how much better the model does on text it trained on. At step 0 every
# window of a seed has the same model, so the gap there is the two row sets' own difference; the gate asks that the
# gap grow from it.

# %%
figs[figure_names.WINDOW_OVERFITTING]

# %%
results.limited_runs.round(4)

# %%
results.limited_curves.round(4)

# %% [markdown]
# ## 3 · The gradient noise of each window's estimator
#
# For every window of notebook 03 and each seed: `n_draws` independent gradients of one training step's loss
# (its own batch of rows, $t$'s from the window and masks) at fixed parameters, by `mdlm_core.diagnostics.
# gradient_noise`. At **init** every window is measured at the same parameters (the seed's initial model) and on
# the same rows: only the estimator differs. At the **end**, each window's own model after notebook 03's run.
# Shown: the noise-to-signal ratio $\mathrm{tr\,Cov}(g) / \lVert \mathbb E g \rVert^2$ (scale-free, what Adam's
# normalised step feels) against the window's test ELBO. The raw variance is in the table.

# %%
figs[figure_names.WINDOW_GRADIENT_NOISE]

# %%
results.noise.round(4)

# %% [markdown]
# ## Explorer: one data-limited run
#
# Pick a window and a seed: its train and test ELBO over epochs (in JupyterLab; static under reproduce.sh).

# %%
experiment.explorer(results)

# %% [markdown]
# ## Claims (beyond the paper: its explanation, tested)
#
# Declared before the runs, in `window_mechanism.py`, and judged by the rules of `companion.verdicts`
# ("reproduced" here means "the claim holds"):
#
# - **The gap persists with training**: the paired test-ELBO gap at the long horizon is positive and at least half
#   its size at notebook 03's 1,000 steps (same seeds); "not reproduced" when the 95% bound excludes half: the gap
#   closed. Seed s.d. pooled over notebook 03's windows, seeds as blocks.
# - **Low-$t$ windows overfit more**: the low-$t$ window's final gap exceeds both $U[0, 1]$'s and the high-$t$
#   window's (intersection-union of two paired differences, seed s.d. pooled over the five windows).
# - **The gain tracks the estimator's variance**: over the twelve windows, ordered by decreasing noise-to-signal
#   at init, the test ELBO falls (Page's L over the seeds; effect: the mean Spearman rho).
#
# **Gates**: claims 1 and 3 need notebook 03's runs to show the gap at 1,000 steps (there is a gain to explain);
# claim 2 needs the regime to overfit at all (the mean gap over its windows > 0). A claim whose gate fails is
# "inconclusive (gate: ...)" and stays out of the report's false-discovery family.

# %%
interactive.show_claims(out.claims(experiment.NOTEBOOK, experiment.claims(results)))
