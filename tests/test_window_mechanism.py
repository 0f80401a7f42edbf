"""Notebook 07 (window mechanism): the data-limited split, the gradient-noise estimator on a toy model whose gradient
variance is known, the gap trend, and the claims on hand-built results."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from mdlm_core.diagnostics import gradient_noise
from mdlm_core.experiments import window_mechanism as wm
from mdlm_core.lm import LM_SMOKE, LMDataSpec, UNIFORM, prepare_lm_data, run_config
from mdlm_core.training import config_hash
from shared_data import needs_data


# -- the data-limited split ------------------------------------------------------------------------------------
def _wikitext(folder, n_lines=120):
    """A tiny WikiText-2 folder whose splits share no line (numbered sentences, each split its own numbers)."""
    folder.mkdir(parents=True)
    for split, words in (("train", "the cat sat on a mat"), ("valid", "one owl flew by"), ("test", "big fox ran up")):
        text = "".join(f" {words} {i} .\n" for i in range(n_lines))
        (folder / f"wiki.{split}.tokens").write_text(text, encoding="utf-8")


def test_the_data_limited_split_is_the_leading_training_rows_disjoint_from_test_with_epochs_counted(tmp_path,
                                                                                                  monkeypatch):
    monkeypatch.setenv("MDLM_CACHE_DIR", str(tmp_path / "cache"))
    _wikitext(tmp_path / "data" / "wikitext-2")
    full_spec = replace(LM_SMOKE, data=LMDataSpec(tokenizer="char", vocab_size=64, seq_len=16))
    full = prepare_lm_data(full_spec, tmp_path / "data")
    limited_spec = replace(full_spec, data=replace(full_spec.data, train_rows=20),
                           train=replace(full_spec.train, steps=30, batch_size=8))
    limited = prepare_lm_data(limited_spec, tmp_path / "data")
    assert full.train.shape[0] > 100 and limited.train.shape == (20, 16)
    assert torch.equal(limited.train, full.train[:20])                        # the leading rows, nothing else
    assert torch.equal(limited.test.tokens, full.test.tokens) and limited.vocab_size == full.vocab_size
    train_rows = {tuple(r.tolist()) for r in limited.train}
    test_rows = {tuple(r.tolist()) for r in limited.test.tokens}
    assert train_rows and not train_rows & test_rows                          # disjoint from every test row
    assert limited_spec.epochs(20) == pytest.approx(30 * 8 / 20)              # 12 passes over the 20 rows
    # the run key names the limit; a spec without one keeps the key it always had (cached runs stay valid)
    assert run_config(limited_spec, limited, UNIFORM, 0)["train_rows"] == 20
    assert "train_rows" not in run_config(full_spec, full, UNIFORM, 0)
    assert config_hash(run_config(limited_spec, limited, UNIFORM, 0)) != config_hash(
        run_config(replace(limited_spec, data=replace(limited_spec.data, train_rows=None)), full, UNIFORM, 0))
    with pytest.raises(ValueError, match="lower train_rows"):
        prepare_lm_data(replace(full_spec, data=replace(full_spec.data, train_rows=10 ** 6)), tmp_path / "data")
    with pytest.raises(ValueError, match="train_rows=0"):
        LMDataSpec(train_rows=0)


@needs_data("wikitext-2")
def test_the_quick_data_limited_rows_share_no_row_with_the_test_split():
    spec = wm.PROFILES["quick"].limited_spec()
    data = prepare_lm_data(spec)
    assert data.train.shape[0] == spec.data.train_rows == wm.PROFILES["quick"].limited.train_rows
    train_rows = {tuple(r.tolist()) for r in data.train}
    assert not train_rows & {tuple(r.tolist()) for r in data.test.tokens}
    assert spec.epochs(data.train.shape[0]) == pytest.approx(spec.train.steps * spec.train.batch_size / 64)
    assert spec.epochs(64) == pytest.approx(100.0)   # the quick profile's 100 epochs


# -- the gradient-noise estimator ------------------------------------------------------------------------------
class Quadratic(torch.nn.Module):
    """loss(x) = ||w - x||^2 / 2 with x ~ N(mu, sigma^2 I): the gradient w - x has covariance sigma^2 I exactly, so
    tr Cov = d sigma^2 and ||E g||^2 = ||w - mu||^2."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float64))


def _quadratic_loss(mu, sigma, model, generator):
    x = mu + sigma * torch.randn(len(mu), generator=generator, dtype=torch.float64)
    return 0.5 * ((model.w - x) ** 2).sum()


def test_gradient_noise_matches_the_direct_computation_and_leaves_the_parameters_alone():
    d, k = 5, 7
    mu, w = torch.arange(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64)
    model = Quadratic(w)
    got = gradient_noise(model, lambda m, g: _quadratic_loss(mu, 2.0, m, g), k, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    grads = np.stack([(w - (mu + 2.0 * torch.randn(d, generator=gen, dtype=torch.float64))).numpy() for _ in range(k)])
    assert got.variance == pytest.approx(grads.var(axis=0, ddof=1).sum(), rel=1e-12)
    assert got.mean_norm_sq == pytest.approx((grads.mean(0) ** 2).sum(), rel=1e-12)
    assert got.signal == pytest.approx(got.mean_norm_sq - got.variance / k, rel=1e-12)
    assert got.n_draws == k and got.n_params == d
    assert torch.equal(model.w.detach(), w) and model.w.grad is None
    with pytest.raises(ValueError, match="at least 2"):
        gradient_noise(model, lambda m, g: _quadratic_loss(mu, 2.0, m, g), 1, torch.Generator())


def test_gradient_noise_recovers_a_known_variance_and_signal():
    d, k, sigma = 50, 40, 0.5
    mu = torch.zeros(d, dtype=torch.float64)
    w = torch.full((d,), 0.3, dtype=torch.float64)      # ||E g||^2 = 50 x 0.09 = 4.5, tr Cov = 50 x 0.25 = 12.5
    got = gradient_noise(Quadratic(w), lambda m, g: _quadratic_loss(mu, sigma, m, g), k,
                         torch.Generator().manual_seed(0))
    # the unbiased trace is sigma^2 chi^2_{d(k-1)} / (k-1): its s.d. is d sigma^2 sqrt(2 / (d (k-1))) = 0.28
    true_var, sd_var = d * sigma ** 2, d * sigma ** 2 * math.sqrt(2 / (d * (k - 1)))
    assert abs(got.variance - true_var) < 4 * sd_var
    assert abs(got.variance - true_var) < 4 * got.variance_se          # its own s.e. covers the truth too
    # ||g_bar||^2 - var / k: its s.d. is about sqrt(4 ||m||^2 sigma^2 / k + 2 d sigma^4 / k^2) = 0.17
    sd_signal = math.sqrt(4 * 4.5 * sigma ** 2 / k + 2 * d * sigma ** 4 / k ** 2)
    assert abs(got.signal - 4.5) < 4 * sd_signal
    assert got.noise_to_signal == pytest.approx(got.variance / got.signal)


def test_gradient_noise_variance_is_unbiased_over_repetitions():
    # 200 repetitions of a k = 4 estimate: the mean of the unbiased trace is d sigma^2 (t test, 4.5 s.e.), while the
    # biased (ddof 0) version, 3/4 of it, is excluded by many s.e.
    d, k, sigma = 3, 4, 1.0
    mu, w = torch.zeros(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    draws = np.array([gradient_noise(Quadratic(w), lambda m, g: _quadratic_loss(mu, sigma, m, g), k, gen).variance
                      for _ in range(200)])
    se = draws.std(ddof=1) / math.sqrt(len(draws))
    assert abs(draws.mean() - d * sigma ** 2) < 4.5 * se
    assert abs(draws.mean() - 0.75 * d * sigma ** 2) > 4.5 * se


# -- the gap trend and the claims on hand-built results --------------------------------------------------------
def test_gap_trend_recovers_a_known_slope_per_doubling():
    steps = [250, 500, 1000, 2000]
    rows = [{"window": w, "seed": s, "step": st, "valid_loss": 3.0 - (0.4 - 0.05 * math.log2(st / 250)) * (w == "b")
             + 0.001 * s} for w in ("a", "b") for s in (0, 1) for st in steps]
    trend = wm.gap_trend(pd.DataFrame(rows), "a", "b")
    assert trend["slope_per_doubling"] == pytest.approx(-0.05, abs=1e-9)
    assert trend["ci_low"] <= -0.05 <= trend["ci_high"]
    assert trend["closes_at_step"] == pytest.approx(250 * 2 ** 8)     # 0.4 / 0.05 = 8 doublings after step 250


def _results(limited_gaps, long_gap=0.2, base_gap=0.25, seeds=(0, 1, 2), noise_order=None, seed=0):
    """Results built by hand: notebook 03's windows, long runs, data-limited gaps per window (a mean per window, small
    seed noise), and gradient noise whose ranking is ``noise_order`` (first: the noisiest)."""
    rng = np.random.default_rng(seed)
    cfg = replace(wm.PROFILES["quick"], long=wm.LongSpec(seeds=seeds), noise=wm.NoiseSpec(seeds=seeds))
    windows = list(wm.WINDOWS_03)
    base_loss = {w: 2.5 + 0.01 * i for i, w in enumerate(windows)}
    base_loss[UNIFORM] = base_loss[wm.BEST] + base_gap
    base = pd.DataFrame([{"window": w, "seed": s, "steps": 1000, "test_stderr": 0.01,
                          "test_loss": base_loss[w] + 0.003 * rng.standard_normal() + 0.01 * s}
                         for w in windows for s in seeds])
    long = pd.DataFrame([{"window": w, "seed": s, "steps": 2000, "test_stderr": 0.01,
                          "test_loss": 2.3 + long_gap * (w == UNIFORM) + 0.003 * rng.standard_normal()}
                         for w in (UNIFORM, wm.BEST) for s in seeds])
    per_sequence = {(kind, w, s): np.zeros(8) for kind, w in [("base", w) for w in windows]
                    + [("long", w) for w in (UNIFORM, wm.BEST)] for s in seeds}
    limited = pd.DataFrame([{"window": w, "seed": s, "steps": 400, "epochs": 17.0, "train_elbo": 2.8, "gap": g
                             + 0.002 * rng.standard_normal(), "train_stderr": 0.01, "test_stderr": 0.01}
                            for w, g in limited_gaps.items() for s in seeds])
    limited["test_elbo"] = limited.train_elbo + limited.gap
    limited_per_sequence = {(w, s): (np.zeros(8), np.zeros(8)) for w in limited_gaps for s in seeds}
    limited_curves = pd.DataFrame([{"window": w, "seed": s, "step": step,
                                    "gap": g * (step > 0) + 0.002 * rng.standard_normal()}
                                   for w, g in limited_gaps.items() for s in seeds for step in (0, 400)])
    order = noise_order or windows
    noise = pd.DataFrame([{"window": w, "seed": s, "measured_at": at,
                           "noise_to_signal": 10.0 ** (len(order) - order.index(w)),
                           "test_loss": float(base.set_index(["window", "seed"]).test_loss[(w, s)])}
                          for w in windows for s in seeds for at in ("init", "end")])
    curves = pd.DataFrame([{"window": w, "seed": s, "step": st, "valid_loss": 2.5 + long_gap * (w == UNIFORM)}
                           for w in (UNIFORM, wm.BEST) for s in seeds for st in (250, 500, 1000, 2000)])
    return wm.Results(cfg, base, long, curves, limited, limited_curves, noise, wm.gap_trend(curves, UNIFORM, wm.BEST),
                      per_sequence, limited_per_sequence, train_rows=64, train_chars=8192)


def test_the_claims_follow_their_declared_tests():
    gaps = {UNIFORM: 0.05, wm.BEST: 0.06, wm.CENTER: 0.06, wm.LOW_T: 0.20, wm.HIGH_T: 0.02}
    persist, overfit, variance = wm.claims(_results(gaps))
    assert persist.verdict == "reproduced" and persist.gate_passed        # 0.2 >= half of 0.25, far above noise
    assert overfit.verdict == "reproduced" and "crossover" in overfit.test
    closed = wm.claims(_results(gaps, long_gap=0.0))[0]
    assert closed.verdict == "not reproduced"                               # the bound excludes half the gap
    reversed_gaps = dict(gaps, **{wm.LOW_T: 0.0})
    assert wm.claims(_results(reversed_gaps))[1].verdict == "not reproduced"
    shrinking = {w: -0.05 for w in gaps}                                   # the gap shrinks: no overfitting
    gated_out = wm.claims(_results(shrinking))[1]
    assert gated_out.verdict == "inconclusive" and gated_out.gate_passed is False and "gate failed" in gated_out.test
    # gradient noise ordered exactly as the losses (noisiest = worst): the trend is reproduced; reversed: not
    results = _results(gaps)
    by_loss = list(results.base_runs.groupby("window").test_loss.mean().sort_values(ascending=False).index)
    assert wm.claims(_results(gaps, noise_order=by_loss))[2].verdict == "reproduced"
    assert wm.claims(_results(gaps, noise_order=by_loss[::-1]))[2].verdict == "not reproduced"
