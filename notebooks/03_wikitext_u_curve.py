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
# # 03 · WikiText-2: the mask-ratio U-curve
#
# Huang & Mirzasoleiman (2026) train a 50M-parameter masked-diffusion LM on WikiText once per mask-ratio
# bin $t \sim U[0, 0.1], \dots, U[0.9, 1.0]$, plus the standard $t \sim U[0, 1]$ and the window
# $U[0.45, 0.55]$, and score every model on the **same** test loss: the full MD ELBO over $t \in [0, 1]$.
# The test loss is U-shaped in the training bin; the middle bins reach **3.62** against **3.88** for uniform.
#
# Here the same experiment runs through `mdlm_core`: a tokenizer fit on the train split, packed fixed-length
# sequences, the shared training loop, and a fixed-seed stratified Monte Carlo estimate of the ELBO (every
# test sequence gets one $t$ in each of `test_draws` equal strata of $[0, 1]$, and every model sees the same
# masks). Absolute losses depend on the tokenisation: compare the **shape** and the **relative gap**.
#
# **Choices for a 2-core budget (quick profile), and why.**
# - *Character level* (the 126 commonest characters of the train split, 99.99% of it, plus `<unk>`): a BPE
#   vocabulary of 2,048 spends most of a small model on its embedding and head and leaves ~1M tokens per run;
#   characters give 128 ids, ~10M training symbols, and a unigram entropy near 3.2 nats to learn against.
# - *Rotary positions* (`position_encoding="rotary"`), measured on this profile (U[0, 1], seed 0, 1,000 steps,
#   same test masks; test-set unigram entropy 3.147 nats/char): with learned absolute positions the test ELBO
#   is 3.133 (0.995 x unigram) and the loss per t-bin is flat (2.96 at t ~ 0.05, 3.12-3.17 from t ~ 0.15 to
#   0.95), so the model uses no context and fails the gate; with rotary positions it is 2.392 (0.760 x
#   unigram), rising from 1.75 at t ~ 0.05 to 3.08 at t ~ 0.95. Rotary attention sees relative offsets, which
#   is what language needs. Parity (notebook 02) keeps learned positions: which bits count is absolute.
# - *Size*: d = 96, 3 layers (0.36M parameters), 1,000 steps of 16 x 128 symbols (2M symbols, ~6 per
#   parameter: under Chinchilla's 20, because 24 runs must fit the budget).
# - A **gate** before any verdict: the uniform model's test ELBO must be at most 0.8 x the unigram entropy of
#   the same test tokens, and its loss at $t \approx 0.1$ at most 0.8 x its loss at $t \approx 0.9$ (it uses
#   context). The notebook stops if not (except in the smoke profile, which only checks the plumbing).
#
# Change the profile or any knob in the next cell and re-run; finished runs are cached by their config.

# %% tags=["parameters"]
profile = None          # smoke | quick | paper (None: $MDLM_PROFILE, else quick)
vocab_size = None       # tokenizer vocabulary size (char: the commonest vocab_size - 2 characters)
steps = None            # optimiser steps per run
n_embd = None           # model width
n_layer = None
seeds = None            # e.g. [0, 1, 2]
windows = None          # subset of training windows, e.g. ["[0.4,0.5]", "uniform"]
test_draws = None       # t-strata per test sequence
data_dir = None         # folder holding wikitext-2/ (None: the MDLM_DATA_DIR environment variable)
workers = None          # runs trained in parallel, one thread each (None: one per CPU core; 1 on a GPU)

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

import mdlm_core as mdlm
from mdlm_core.companion import Outputs, config_for_profile, figure_names, interactive
from mdlm_core.experiments import u_curve as experiment

out = Outputs(profile)   # where this run's figures, tables and claims go
cfg = config_for_profile(experiment.LM_PROFILES, profile, vocab_size=vocab_size, steps=steps, n_embd=n_embd,
                              n_layer=n_layer, seeds=None if seeds is None else tuple(seeds),
                              windows=None if windows is None else tuple(windows), test_draws=test_draws,
                         workers=workers)
sns.set_theme(style="whitegrid", context="notebook")
print(cfg)
print("device:", mdlm.resolve_device(cfg.device))

# %% [markdown]
# ## Data and tokenizer
#
# WikiText-2 (tokenized v1) is read from `data_dir` or `$MDLM_DATA_DIR`; nothing is downloaded. The sha256
# of every file read is recorded in `figures/data/03_data_provenance.csv`. The tokenizer is cached on disk
# under a key made of the training text's hash and the vocabulary size.

# %%
data = experiment.prepare_lm_data(cfg, data_dir)
provenance = pd.DataFrame([dict(split=split, sha256=sha, source=data.source) for split, sha in data.sha256.items()])
provenance["packed_rows"] = [data.train.shape[0], data.valid.tokens.shape[0], data.test.tokens.shape[0]]
provenance["tokens"] = [data.train.numel(), int(data.valid.valid.sum()), int(data.test.valid.sum())]
out.table(provenance, "03_data_provenance")
model_cfg = cfg.model_config(data.vocab_size)
n_params = mdlm.DiffusionTransformer(model_cfg).num_params(non_embedding=False)
tokens_per_run = cfg.steps * cfg.batch_size * cfg.seq_len
print(f"vocabulary {data.vocab_size}, {n_params / 1e6:.2f}M parameters, {tokens_per_run / 1e6:.2f}M training "
      f"tokens per run ({tokens_per_run / data.train.numel():.2f} epochs)")
print("sample:", repr(mdlm.data.decode_stream(data.tokenizer, data.test.tokens[1, :40])))
provenance

# %% [markdown]
# ## Training: one run per (window, seed)
#
# Each run draws $t$ from its window with stratified (antithetic) draws across the batch and minimises the
# 1/t-weighted masked cross-entropy. During training, the full ELBO on a fixed validation subset is logged
# (comparable across windows, unlike each run's own training objective). After training, the test ELBO is
# computed once and cached beside the run.

# %%
results = experiment.run_u_curve(cfg, data)
runs = results.runs
out.table(runs.drop(columns="run_dir"), "03_runs")
out.table(results.loss_vs_t, "03_loss_vs_t")
out.table(results.metrics, "03_training_curves")
summary = experiment.summarize_windows(runs)
summary["masked_tokens_per_step"] = [experiment.masked_tokens_per_step(cfg, w) for w in summary.window]
gate = experiment.learning_gate(results, data, cfg)
summary["unigram_entropy"] = gate.unigram_entropy
summary["uniform_test_loss"] = gate.uniform_test_loss
out.table(summary, "03_u_curve_summary")
out.table(results.timing, "03_timing")
print(f"training time: {results.timing.train_seconds.sum() / 60:.1f} min for {len(runs)} runs (resumed runs: their last session)")
summary.round(4)

# %% [markdown]
# ## Did the models learn? (the gate)
#
# The loss a model that ignores context cannot beat is the unigram entropy of the test tokens. Masked tokens
# per step (in the summary table) differ by window: the [0, 0.1] bin supervises about 5% of the positions per
# step, ten times fewer than uniform, a simpler reason for a high left end of the U-curve.

# %%
print(gate.describe())
if profile != "smoke":   # smoke models are too small to learn; they only check the plumbing
    gate.enforce()
summary[["window", "masked_tokens_per_step"]].round(1)

# %% [markdown]
# ## The U-curve
#
# Test loss (ELBO per token, nats) against the training bin. Dots are single seeds; error bars and bands are
# ± one standard error from the seed spread (the seed s.d. is pooled over every window trained with several
# seeds, divided by the root of the window's number of seeds); horizontal lines are the two references.

# %%
seed_sd = experiment.pooled_seed_sd(runs)
bins = summary[~summary.window.isin([experiment.UNIFORM, experiment.CENTER])].copy()
bins["mid"] = (bins.low + bins.high) / 2
fig, ax = plt.subplots(figsize=(7.5, 4.5))
if len(bins):
    yerr = seed_sd / np.sqrt(bins.n_seeds) if not math.isnan(seed_sd) else None
    ax.errorbar(bins.mid, bins.test_loss, yerr=yerr, fmt="o-", color="C0", capsize=4,
                label="trained on t ~ U[bin]  (mean over seeds ± s.e.)")
    single = runs[runs.window.isin(bins.window)]
    ax.scatter((single.low + single.high) / 2, single.test_loss, s=12, color="C0", alpha=0.4, zorder=3)
for name, color in ((experiment.UNIFORM, "C3"), (experiment.CENTER, "C2")):
    row = summary[summary.window == name]
    if len(row):
        y = float(row.test_loss.iloc[0])
        ax.axhline(y, color=color, ls="--", label=f"{'U[0, 1]' if name == experiment.UNIFORM else 'U[0.45, 0.55]'}: {y:.3f}")
        if not math.isnan(seed_sd):
            half = seed_sd / math.sqrt(int(row.n_seeds.iloc[0]))
            ax.axhspan(y - half, y + half, color=color, alpha=0.12)
ax.set(xlabel="training mask-ratio bin (centre)", ylabel="test loss: MD ELBO per token (nats)",
       title=f"WikiText-2 U-curve ({out.profile}: {n_params / 1e6:.1f}M params, {len(runs)} runs)",
       xticks=np.arange(0.05, 1.0, 0.1))
ax.legend(fontsize=8)
out.figure(fig, figure_names.U_CURVE)
plt.show()

# %% [markdown]
# ## Loss vs t: where each model is good
#
# The ELBO is an average over $t$ of the 1/t-weighted masked cross-entropy, which at mask ratio $t$ is
# (in expectation) the mean cross-entropy per masked token. A model trained on a narrow bin is best near its
# bin; the test loss asks how well it does everywhere.

# %%
curves = results.loss_vs_t.groupby(["window", "t_mid"], as_index=False)["loss"].mean()
bin_only = summary[~summary.window.isin([experiment.UNIFORM, experiment.CENTER])]
show = [w for w in dict.fromkeys([*bin_only.window.iloc[[0, -1]]] if len(bin_only) else [])]
if len(bin_only):
    show.append(bin_only.loc[bin_only.test_loss.idxmin(), "window"])
show += [w for w in (experiment.UNIFORM, experiment.CENTER) if w in set(summary.window)]
show = list(dict.fromkeys(show))
fig, ax = plt.subplots(figsize=(7.5, 4.5))
for i, window in enumerate(show):
    sub = curves[curves.window == window]
    ax.plot(sub.t_mid, sub.loss, marker="o", ms=3, color=f"C{i}", label=window)
    ratio = mdlm.MaskRatio.parse(window)
    low, high = ratio.low, ratio.high
    if window != experiment.UNIFORM:
        ax.axvspan(low, high, color=f"C{i}", alpha=0.08)
ax.set(xlabel="mask ratio t at test time", ylabel="loss at t (nats per masked token)",
       title="Test loss per t-bin (shaded: each model's training window)")
ax.legend(title="trained on", fontsize=8)
out.figure(fig, figure_names.LOSS_VS_T)
plt.show()

# %% [markdown]
# ## Explorer
#
# Pick training windows and see their loss-vs-t curves and where they sit on the U-curve (in JupyterLab with
# ipywidgets; a static figure under reproduce.sh).

# %%
experiment.runs_explorer(results.loss_vs_t, runs)

# %% [markdown]
# ## Training curves
#
# Left: the full ELBO on a fixed validation subset (same masks for every model and step). Right: each run's
# own training objective, which is measured on its own window and so is not comparable across windows.

# %%
curve = results.metrics.groupby(["window", "step"], as_index=False)[["valid_loss", "train_loss"]].mean()
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12.5, 4.5), layout="constrained")
palette = dict(zip(bins.window, sns.color_palette("viridis", len(bins))))
palette.update({experiment.UNIFORM: "C3", experiment.CENTER: "C2"})
for window in summary.window:
    sub = curve[curve.window == window]
    style = "--" if window in (experiment.UNIFORM, experiment.CENTER) else "-"
    ax.plot(sub.step, sub.valid_loss, style, color=palette[window], label=window)
    ax2.plot(sub.step[sub.step > 0], sub.train_loss[sub.step > 0], style, color=palette[window], label=window)
ax.set(xlabel="step", ylabel="validation ELBO (nats/token)", title="Validation loss (full ELBO)")
ax2.set(xlabel="step", ylabel="training objective on its window", title="Training loss", yscale="log")
ax2.legend(fontsize=7, ncol=2)
out.figure(fig, figure_names.LM_TRAINING_CURVES)
plt.show()

# %% [markdown]
# ## How precise are these numbers?
#
# Three sources of spread: the Monte Carlo error of the ELBO estimate (s.e. over test sequences), the
# **paired** s.e. of a difference between two models (they share every mask, so most of the noise cancels),
# and the seed-to-seed spread of training, which is what decides whether two windows really differ.

# %%
best_bin = bin_only.loc[bin_only.test_loss.idxmin(), "window"] if len(bin_only) else None
pairs = [(best_bin, ref) for ref in (experiment.UNIFORM, experiment.CENTER) if best_bin and ref in set(runs.window)]
pairs += [(experiment.CENTER, experiment.UNIFORM)] if {experiment.CENTER, experiment.UNIFORM} <= set(runs.window) else []
precision = []
for a, b in pairs:
    diffs = experiment.seed_differences(runs, a, b)
    precision.append(dict(comparison=f"{a} - {b}", gap=diffs.mean(), n_seeds=len(diffs),
                          seed_se=diffs.std(ddof=1) / np.sqrt(len(diffs)) if len(diffs) > 1 else np.nan,
                          paired_eval_se=experiment.evaluation_se(results.per_sequence, a, b, diffs.index),
                          mc_se_single_model=float(runs.test_stderr.mean())))
precision = pd.DataFrame(precision)
spread = float(bins.test_loss.max() - bins.test_loss.min()) if len(bins) else float("nan")
print(f"pooled seed s.d. = {seed_sd:.4f} nats; range of the U-curve = {spread:.4f} nats; "
      f"mean MC s.e. of one model's test loss = {runs.test_stderr.mean():.4f}")
out.table(precision, "03_precision")
precision.round(4)

# %% [markdown]
# ## Claims
#
# The paper's numbers (50M parameters, its own tokenizer and training length) are not comparable in absolute
# value with ours; the claims compare the shape (where the minimum is, whether the ends rise) and the
# relative gap between the best bin and uniform, judged against the seed spread.

# %%
claims = experiment.u_curve_claims(results, n_params, data.vocab_size)
interactive.show_claims(out.claims("03_wikitext_u_curve", claims))
paper_gap = (3.62 - 3.88) / 3.88
best = bins.loc[bins.test_loss.idxmin()] if len(bins) else None
uniform_loss = gate.uniform_test_loss
if best is not None:
    print(f"paper: 3.62 vs 3.88 ({paper_gap:+.1%}); ours: best bin {best.window} {best.test_loss:.3f} vs uniform "
          f"{uniform_loss:.3f} ({(best.test_loss - uniform_loss) / uniform_loss:+.1%})")
