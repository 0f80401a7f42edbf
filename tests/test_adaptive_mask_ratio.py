"""Notebook 06's distributions of t: each samples its declared density (chi-square, with its power shown on a
wrong density), the adaptive sampler finds a planted best bin, and an adaptive run resumes bit-exactly; the
experiment keeps its run-cache keys, reads notebook 03's tables of its own profile, gates its claims on the models
having learned, and runs its smoke profile in-process."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from mdlm_core import lm, parity
from mdlm_core.companion import Outputs, config_for_profile, figure_names
from mdlm_core.companion.verdicts import Claim
from mdlm_core.experiments import adaptive_mask_ratio as experiment
from mdlm_core.experiments.adaptive_mask_ratio import PROFILES, Config, Results, fit_beta_to_u_curve
from mdlm_core.lm import BINS, train_lm_run
from mdlm_core.mask_ratio import (AdaptiveBins, BetaRatio, CurriculumRatio, MaskRatio, parse_mask_ratio)
from mdlm_core.training import config_hash
from shared_data import needs_data
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
    assert history.shape == (CFG.train.steps, 2) and not torch.allclose(history[-1], torch.full((2,), 0.5,
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


# -- the experiment: keys, inputs, gates, the smoke run ----------------------------------------------------------
# run-dir names recorded with the code before the contract refactor (PYTHONPATH=/work/cachebuild): the same
# configs must keep hitting the same run-cache entries (notebook 03's uniform / [0.4,0.5] runs among them)
RECORDED_SMOKE_RUN_DIRS = {
    "lm-[0,1]-s0-c5a304dc884a", "lm-[0.4,0.5]-s1-8e89aaac1a86", "lm-beta(a=5.1,b=4.6)-s2-5fa4da18d2ef",
    "lm-curriculum(start=0.8,end=0.45,width=0.1,ramp=2,steps=4)-s0-7323f798c048",
    "lm-adaptive(n_bins=10,explore=0.3,fast=1,slow=2,warmup=0,record_every=1,z=0)-s1-42ff93ffd032",
    "parity-adaptive-054f8c3aa8be",
}
RECORDED_QUICK_LM_RUN_DIRS = {
    ("uniform", 0): "lm-[0,1]-s0-63ed3f4dfa93",
    ("best window", 2): "lm-[0.4,0.5]-s2-3658fe941983",
    ("beta", 2): "lm-beta(a=5.1,b=4.6)-s2-3a1965358152",
    ("curriculum", 1): "lm-curriculum(start=0.8,end=0.45,width=0.1,ramp=500,steps=1000)-s1-9b3f2a31834c",
    ("adaptive", 0): "lm-adaptive(n_bins=10,explore=0.3,fast=50,slow=200,warmup=100,record_every=25,z=0)-s0-101f5948dabe",
}
RECORDED_QUICK_PARITY_RUN_DIRS = {3: "parity-adaptive-13065c0a8ec3", 4: "parity-adaptive-d8d629caa463"}


def test_parity_ensembles_keep_their_recorded_run_cache_keys():
    cfg = PROFILES["quick"]
    for k, recorded in RECORDED_QUICK_PARITY_RUN_DIRS.items():
        name, key = experiment.parity_run_key(cfg, k)
        assert f"{name}-{config_hash(key)}" == recorded
    name, key = experiment.parity_run_key(PROFILES["smoke"], 2)
    assert f"{name}-{config_hash(key)}" in RECORDED_SMOKE_RUN_DIRS


@needs_data("wikitext-2")
def test_quick_lm_runs_keep_their_recorded_run_cache_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_CACHE_DIR", str(tmp_path))
    cfg = PROFILES["quick"]
    data, labels = lm.prepare_lm_data(cfg.lm), cfg.labels()
    for (name, seed), recorded in RECORDED_QUICK_LM_RUN_DIRS.items():
        assert f"lm-{labels[name]}-s{seed}-{config_hash(lm.run_config(cfg.lm, data, labels[name], seed))}" == recorded
    assert (labels["uniform"], 0) in cfg.jobs and len(cfg.jobs) == 15


def test_profiles_compose_the_named_specs_of_notebooks_02_and_03_and_overrides_reach_them():
    for name, cfg in PROFILES.items():
        assert cfg.lm is lm.LM_SPECS[name] and cfg.parity.mlp is parity.MLP_SPECS[name]
        assert cfg.u_curve_tables == "03_wikitext_u_curve"
    assert PROFILES["quick"] == Config()
    cfg = config_for_profile(PROFILES, "smoke", seeds=[4, 5], workers=2, ks=[2, 3], **{"parity.seeds": [7]})
    assert (cfg.seeds, cfg.workers, cfg.parity.ks, cfg.parity.seeds) == ((4, 5), 2, (2, 3), (7,))
    assert cfg.parity.spec(3).data.k == 3 and cfg.parity.spec(30).data.k == cfg.parity.mlp.data.n   # k <= n
    assert [job[1] for job in cfg.jobs] == [4] * 5 + [5] * 5
    with pytest.raises(ValueError, match="window label"):
        replace(PROFILES["smoke"], best_window="beta(a=2,b=3)")
    with pytest.raises(ValueError, match="family 'mlp'"):
        replace(PROFILES["smoke"].parity, mlp=parity.ParitySpec())


def test_the_beta_fit_reads_notebook_03s_tables_of_its_own_profile_and_fails_loudly_without_them(tmp_path,
                                                                                                  monkeypatch):
    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path / "figures"))
    with pytest.raises(FileNotFoundError, match="run 03_wikitext_u_curve under profile 'smoke' first"):
        experiment.run(PROFILES["smoke"], Outputs("smoke"))
    centres = np.arange(0.05, 1.0, 0.1)
    summary = pd.DataFrame({"window": BINS, "low": centres - 0.05, "high": centres + 0.05,
                            "test_loss": 4.0 * (centres - 0.5) ** 2 + 2.2})
    runs = pd.DataFrame({"window": ["[0,1]"] * 2, "seed": [0, 1], "test_loss": [2.5, 2.5 + 0.09 * np.sqrt(2)],
                         "test_stderr": 0.01})
    paper, smoke = Outputs("paper"), Outputs("smoke")
    paper.table(summary, "03_u_curve_summary")   # another profile's tables are never read
    paper.table(runs, "03_runs")
    with pytest.raises(FileNotFoundError, match="profile 'smoke'"):
        experiment.beta_fit_table(PROFILES["smoke"], smoke)
    fit = experiment.beta_fit_table(PROFILES["paper"], paper).iloc[0]
    assert fit.minimum == pytest.approx(0.5) and fit.sd == pytest.approx(0.15)
    assert (fit.declared_a, fit.declared_b) == (PROFILES["paper"].beta.a, PROFILES["paper"].beta.b)


def _synthetic_results(learned: bool, parity_acc: float, n_seeds: int = 6) -> Results:
    """Hand-built Results: every new distribution 0.1 nats better than uniform on every seed (plus noise), a uniform
    model that learned (or sits at the unigram entropy), and k = 3 parity densities that all peak at t* = 0.25."""
    cfg = replace(PROFILES["quick"], seeds=tuple(range(n_seeds)), parity=replace(PROFILES["quick"].parity, ks=(3,),
                                                                                 seeds=tuple(range(n_seeds))))
    labels, rng, entropy = cfg.labels(), np.random.default_rng(0), 3.2
    uniform_loss = 0.6 * entropy if learned else 0.97 * entropy
    offset = {"uniform": 0.0, "best window": -0.15, "beta": -0.1, "curriculum": -0.1, "adaptive": -0.1}
    rows, per_sequence, curves = [], {}, []
    for seed in cfg.seeds:
        for name in experiment.DISTRIBUTIONS:
            loss = uniform_loss + offset[name] + 0.01 * rng.standard_normal()
            rows.append({"distribution": name, "label": labels[name], "seed": seed, "test_loss": loss,
                         "test_stderr": 0.01})
            per_sequence[(labels[name], seed)] = loss + 0.05 * rng.standard_normal(64)
            t_mid = (np.arange(10) + 0.5) / 10
            curve = np.linspace(1.5, 3.0, 10) if learned else np.full(10, uniform_loss)
            curves.append(pd.DataFrame({"t_mid": t_mid, "loss": curve, "distribution": name, "seed": seed}))
    runs, loss_vs_t = pd.DataFrame(rows), pd.concat(curves, ignore_index=True)
    probs = np.full(10, 0.05)
    probs[2] = 0.55                                   # bin [0.2, 0.3]: centre 0.25 = t* for k = 3
    history = pd.DataFrame([{"step": step, "bin": j, "t_mid": (j + 0.5) / 10, "prob": probs[j], "seed": seed, "k": 3}
                            for seed in cfg.parity.seeds for step in (0, 100, 200) for j in range(10)])
    accuracy = pd.DataFrame([{"k": 3, "seed": seed, "step": step, "train_acc": 1.0,
                              "test_acc": parity_acc if step == 200 else 0.5}
                             for seed in cfg.parity.seeds for step in (0, 100, 200)])
    peaks = experiment.peak_summary(experiment.final_density(history.drop(columns="k")), 3, 0.05)
    paired = experiment.paired_table(runs, per_sequence, labels)
    timing = runs[["distribution", "seed"]].assign(train_seconds=10.0)
    return Results(cfg, pd.DataFrame(), runs, loss_vs_t, pd.DataFrame(columns=["step", "bin", "t_mid", "prob", "seed"]),
                   timing, paired, peaks, history, accuracy, per_sequence, entropy, 1e-4)


def test_claims_are_gated_on_the_models_having_learned():
    passed = {c.claim: c for c in experiment.claims(_synthetic_results(learned=True, parity_acc=0.97))}
    failed = {c.claim: c for c in experiment.claims(_synthetic_results(learned=False, parity_acc=0.55))}
    assert passed.keys() == failed.keys() and len(passed) == 7
    lm_claims = [name for name in passed if "parity" not in name]
    (parity_claim,) = [name for name in passed if "parity" in name]
    for name in lm_claims:
        assert passed[name].gate_passed is True and "LM learned" in passed[name].gate
        assert failed[name].gate_passed is False and failed[name].verdict == "inconclusive"
        assert "gate failed" in failed[name].test and "unigram entropy" in failed[name].test
    beats_uniform = [name for name in lm_claims if name.endswith("beats uniform ([0,1])")]
    assert all(passed[name].verdict == "reproduced" for name in beats_uniform)   # 0.1 nats on 6 of 6 seeds
    assert passed[parity_claim].gate_passed is True and passed[parity_claim].verdict == "reproduced"
    assert failed[parity_claim].gate_passed is False and failed[parity_claim].verdict == "inconclusive"
    assert "mean final test accuracy 0.55" in failed[parity_claim].test
    assert failed[parity_claim].p_value == passed[parity_claim].p_value   # a gate leaves the numbers as they are


def test_figures_and_explorer_draw_from_hand_built_results(tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path))
    monkeypatch.setenv("MDLM_HEADLESS", "1")
    results = _synthetic_results(learned=True, parity_acc=0.97)
    out = Outputs("smoke")
    figs = experiment.figures(results, out)
    assert set(figs) == {figure_names.MASK_RATIO_DENSITIES, figure_names.ADAPTIVE_TEST_ELBO,
                         figure_names.ADAPTIVE_PARITY}
    for name in figs:
        assert (out.directory / f"{name}.png").is_file()
    experiment.explorer(results)
    import matplotlib.pyplot as plt
    plt.close("all")


@needs_data("wikitext-2")
def test_smoke_run_in_process_writes_every_table_and_well_formed_gated_claims(tmp_path, monkeypatch):
    from mdlm_core.experiments import u_curve

    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("MDLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MDLM_HEADLESS", "1")
    u_curve.run(u_curve.PROFILES["smoke"], Outputs("smoke"), progress=False)   # the Beta fit's input
    out = Outputs("smoke")
    results = experiment.run(PROFILES["smoke"], out, progress=False)
    for table in ("06_beta_fit", "06_adaptive_runs", "06_loss_vs_t", "06_adaptive_history", "06_timing",
                  "06_paired_differences", "06_parity_peaks", "06_parity_history", "06_parity_accuracy"):
        assert (out.directory / "data" / f"{table}.csv").is_file(), table
    # the fit is to notebook 03's smoke tables (not to the quick tables of the checkout), beside the declared Beta
    summary, runs = (pd.read_csv(out.directory / "data" / f"{t}.csv") for t in ("03_u_curve_summary", "03_runs"))
    expected = fit_beta_to_u_curve(summary, lm.pooled_seed_sd(runs))
    assert results.beta_fit.iloc[0][["a", "b"]].tolist() == pytest.approx([expected["a"], expected["b"]])
    assert results.beta_fit.iloc[0][["declared_a", "declared_b"]].tolist() == [5.1, 4.6]
    assert len(results.runs) == 15 and set(results.runs.distribution) == set(experiment.DISTRIBUTIONS)
    assert RECORDED_SMOKE_RUN_DIRS <= {p.name for p in (tmp_path / "cache" / "runs").iterdir()}
    claims = experiment.claims(results)
    assert len(claims) == 7 and all(isinstance(c, Claim) and c.kind == "experiment" for c in claims)
    assert all(c.gate and c.gate_passed is False and c.verdict == "inconclusive" for c in claims)  # smoke learns nothing
    saved = out.claims(experiment.NOTEBOOK, claims)
    assert len(saved) == 7
