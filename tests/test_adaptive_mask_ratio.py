"""Notebook 06's distributions of t: each samples its declared density (chi-square, with its power shown on a
wrong density), the adaptive sampler finds a planted best bin, and an adaptive run resumes bit-exactly."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from mdlm_core.experiments.adaptive_mask_ratio import fit_beta_to_u_curve
from mdlm_core.experiments.u_curve import BINS, train_lm_run
from mdlm_core.mask_ratio import (AdaptiveBins, BetaRatio, CurriculumRatio, MaskRatio, parse_mask_ratio)
from test_u_curve import CFG, kill_lm_run_at_step, synthetic_data

N_DRAWS, N_CELLS = 20_000, 40
EDGES = np.linspace(0.0, 1.0, N_CELLS + 1)


def chi_square_p(samples: np.ndarray, density) -> float:
    """p-value of Pearson's chi-square test of the samples against ``density`` over 40 equal cells of [0, 1]."""
    fine = (np.arange(N_CELLS * 250) + 0.5) / (N_CELLS * 250)          # midpoint rule, 250 points per cell
    expected = np.asarray(density(fine), dtype=float).reshape(N_CELLS, 250).sum(1)
    observed = np.histogram(samples, EDGES)[0]
    keep = expected > 5   # Pearson's rule of thumb; tiny cells are merged into nothing (their mass is ~0)
    return float(stats.chisquare(observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum()).pvalue)


def draws(sample, batch=50) -> np.ndarray:
    g = torch.Generator().manual_seed(0)
    return torch.cat([sample(batch, g, i) for i in range(N_DRAWS // batch)]).numpy()


def planted_sampler(probs, stratified=False):
    sampler = AdaptiveBins(stratified=stratified).new_sampler()
    sampler.probs = torch.tensor(probs, dtype=torch.float64)
    return sampler


PLANTED = [0.02, 0.03, 0.05, 0.1, 0.3, 0.2, 0.1, 0.1, 0.05, 0.05]
SHIFTED = [0.02, 0.03, 0.05, 0.12, 0.28, 0.2, 0.1, 0.1, 0.05, 0.05]   # 2% of the mass moved one bin left
CURRICULUM = CurriculumRatio(0.8, 0.45, 0.1, ramp=50, steps=100)
CASES = {
    # name: (sampler(batch, generator, step), declared density, a wrong density close to it)
    "beta": (lambda b, g, s: BetaRatio(5.1, 4.6).sample(b, g), BetaRatio(5.1, 4.6).density,
             BetaRatio(5.1, 4.4).density),
    "beta stratified": (lambda b, g, s: BetaRatio(2, 4, stratified=True).sample(b, g), BetaRatio(2, 4).density,
                        BetaRatio(2, 4.2).density),
    # steps cycle over the whole run (400 batches: 4 runs of 100 steps), so the draws follow the run-averaged density
    "curriculum": (lambda b, g, s: CURRICULUM.sample(b, g, step=s % 100), CURRICULUM.density,
                   CurriculumRatio(0.8, 0.45, 0.1, ramp=60, steps=100).density),
    "adaptive": (lambda b, g, s: planted_sampler(PLANTED).sample(b, g), lambda t: AdaptiveBins().density(t, PLANTED),
                 lambda t: AdaptiveBins().density(t, SHIFTED)),
    "adaptive stratified": (lambda b, g, s: planted_sampler(PLANTED, True).sample(b, g),
                            lambda t: AdaptiveBins().density(t, PLANTED), lambda t: AdaptiveBins().density(t, SHIFTED)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_distribution_samples_its_declared_density_and_the_test_has_power(name):
    sample, declared, wrong = CASES[name]
    t = draws(sample)
    assert t.min() >= 1e-3 and t.max() <= 1.0
    assert chi_square_p(t, declared) > 1e-3
    assert chi_square_p(t, wrong) < 1e-4      # power: the same draws reject a density a few percent off


def test_curriculum_moves_its_window_and_densities_integrate_to_one():
    assert CURRICULUM.window_at(0).label == "[0.75,0.85]" and CURRICULUM.window_at(50) == CURRICULUM.window_at(99)
    assert CURRICULUM.centre_at(25) == pytest.approx(0.625)
    fine = (np.arange(100_000) + 0.5) / 100_000
    for dist in (BetaRatio(5.1, 4.6), CURRICULUM, AdaptiveBins(), MaskRatio.window(0.4, 0.5)):
        assert dist.density(fine).mean() == pytest.approx(1.0, abs=1e-3)
    assert BetaRatio(2, 5).expectation(lambda t: t) == pytest.approx(2 / 7, abs=1e-6)   # mean a / (a + b)


def test_labels_read_back_and_bad_specs_name_the_fix():
    for dist in (BetaRatio(5.1, 4.6), CURRICULUM, AdaptiveBins(explore=0.3, warmup=7)):
        assert parse_mask_ratio(dist.label) == dist, dist.label
        assert parse_mask_ratio(dist.label, stratified=True).stratified
    assert parse_mask_ratio("[0.4,0.5]", stratified=True) == MaskRatio.window(0.4, 0.5, True)
    with pytest.raises(ValueError, match="name=value"):
        parse_mask_ratio("beta(2,3)")
    with pytest.raises(ValueError, match="fields of beta"):
        parse_mask_ratio("beta(a=2,c=3)")
    with pytest.raises(ValueError, match="> 0"):
        BetaRatio(0, 1)
    with pytest.raises(ValueError, match="width/2"):
        CurriculumRatio(0.99, 0.5, 0.1, 10, 100)
    with pytest.raises(ValueError, match="explore"):
        AdaptiveBins(explore=0)
    with pytest.raises(ValueError, match="pass step="):
        CURRICULUM.sample(4)
    with pytest.raises(TypeError, match="new_sampler"):
        AdaptiveBins().sample(4)


@pytest.mark.parametrize("z", [2.0, 0.0])
def test_adaptive_sampler_moves_its_mass_to_a_planted_best_bin(z):
    """Toy objective: each bin's loss falls by rate_j per sequence drawn there; bin 4 learns 3x faster (its
    progress, centre x drop, beats every other bin's). The sampler must put most of its mass there."""
    spec = AdaptiveBins(explore=0.2, fast=20, slow=80, warmup=20, z=z)
    sampler, g = spec.new_sampler(), torch.Generator().manual_seed(0)
    rate = torch.full((10,), 0.002, dtype=torch.float64)
    rate[4] = 0.006
    loss = torch.full((10,), 5.0, dtype=torch.float64)
    for step in range(600):
        t = sampler.sample(32, g)
        j = (t.double() * 10).long().clamp(max=9)
        observed = loss[j] + 0.3 * torch.randn(32, generator=g, dtype=torch.float64)
        sampler.update(t, observed, step)
        loss -= rate * torch.bincount(j, minlength=10)
    probs = sampler.probs.numpy()
    assert probs.argmax() == 4 and probs[4] > 0.5
    assert probs.min() >= 0.2 / 10 - 1e-12 and probs.sum() == pytest.approx(1.0)   # the exploration floor
    # and with no bin better than another it stays near uniform (no planted bin, no preference)
    flat, loss = spec.new_sampler(), torch.full((10,), 5.0, dtype=torch.float64)
    for step in range(600):
        t = flat.sample(32, g)
        flat.update(t, loss[(t.double() * 10).long().clamp(max=9)] + 0.3 * torch.randn(32, generator=g,
                                                                                         dtype=torch.float64), step)
    history = np.array([p for _, p in flat.history])
    if z > 0:
        assert history.max() < 0.2                   # noise within z s.e. earns no bin any mass
    else:
        assert history.mean(0).max() < 0.2           # it chases noise, but no bin is favoured over the run


def test_fit_beta_to_u_curve_recovers_a_planted_quadratic():
    centres = np.arange(0.05, 1.0, 0.1)
    summary = pd.DataFrame({"window": BINS, "low": centres - 0.05, "high": centres + 0.05,
                            "test_loss": 4.0 * (centres - 0.5) ** 2 + 2.2})
    fit = fit_beta_to_u_curve(summary, seed_sd=0.09)
    assert fit["minimum"] == pytest.approx(0.5) and fit["sd"] == pytest.approx(0.15)
    beta = BetaRatio(fit["a"], fit["b"])
    assert beta.expectation(lambda t: t) == pytest.approx(0.5, abs=1e-4)
    assert np.sqrt(beta.expectation(lambda t: (t - 0.5) ** 2)) == pytest.approx(0.15, abs=1e-4)


ADAPTIVE = AdaptiveBins(n_bins=2, fast=1, slow=4, warmup=0, record_every=1, z=0).label   # moves within 9 steps


def test_adaptive_lm_run_resumes_bit_exactly_after_a_kill(tmp_path, monkeypatch):
    data = synthetic_data()
    reference = train_lm_run(CFG, data, ADAPTIVE, seed=3, root=tmp_path / "a", progress=False)
    history = reference.train_state["history_probs"]
    assert history.shape == (CFG.steps, 2) and not torch.allclose(history[-1], torch.full((2,), 0.5,
                                                                                          dtype=torch.float64))
    kill_lm_run_at_step(monkeypatch, CFG, data, ADAPTIVE, tmp_path / "b")
    resumed = train_lm_run(CFG, data, ADAPTIVE, seed=3, root=tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(reference.metrics, resumed.metrics, check_exact=True)
    for key, value in reference.train_state.items():
        assert torch.equal(value, resumed.train_state[key]), key
    for p, q in zip(resumed.model.parameters(), reference.model.parameters()):
        assert torch.equal(p, q)
    cached = train_lm_run(CFG, data, ADAPTIVE, seed=3, root=tmp_path / "b", progress=False)
    assert torch.equal(cached.train_state["history_probs"], history)


def test_windows_keep_their_draws_and_run_keys():
    """make_lm_step now draws t itself (with the step): a window's draws, hence notebook 03's cached runs, are
    unchanged (same generator order as md_loss drawing t)."""
    ratio = MaskRatio.window(0.4, 0.5, stratified=True)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(ratio.sample(16, g1, step=3), ratio.sample(16, g2))
    assert CFG.mask_ratio("[0.4,0.5]") == MaskRatio.parse("[0.4,0.5]", stratified=True)
