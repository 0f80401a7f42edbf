import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from mdlm_core import MaskRatio, optimal_mask_ratio, optimal_window_upper, signal_probability, window_average_signal
from mdlm_core.companion import Outputs, config_for_profile, figure_names
from mdlm_core.experiments import signal_curve
from mdlm_core.theory import argmax_signal_probability, is_signal_mask, monte_carlo_signal_probability


@pytest.mark.parametrize("k", [1, 2, 4, 6])
def test_signal_probability_matches_monte_carlo(k):
    t = np.array([0.05, 1 / (k + 1), 0.3, 0.6, 0.9])
    mc = monte_carlo_signal_probability(t, k, n_samples=40_000, seq_len=k + 5, seed=k)
    exact = signal_probability(t, k)
    # 4.5 standard errors: a per-point false-alarm rate below 1e-5
    assert np.all(np.abs(mc.estimate - exact) <= 4.5 * mc.stderr + 1e-4), (mc.estimate, exact)


def test_signal_probability_is_exactly_one_of_k_plus_one_masked():
    # brute force over all masks of k + 1 = 4 relevant tokens
    k, t = 3, 0.27
    total = 0.0
    for bits in range(2 ** (k + 1)):
        m = [(bits >> i) & 1 for i in range(k + 1)]
        if sum(m) == 1:
            total += np.prod([t if b else 1 - t for b in m])
    assert signal_probability(t, k) == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 6, 10])
def test_numerical_optimum_agrees_with_closed_form(k):
    assert argmax_signal_probability(k) == pytest.approx(optimal_mask_ratio(k), abs=1e-6)
    grid = np.linspace(0, 1, 20001)
    assert grid[np.argmax(signal_probability(grid, k))] == pytest.approx(1 / (k + 1), abs=1e-4)


def test_window_average_matches_quadrature_and_limits():
    k = 6
    for t0, t1 in [(0.001, 0.246), (0.1, 0.5), (0.45, 0.55), (0.001, 1.0)]:
        assert window_average_signal(t0, t1, k) == pytest.approx(
            MaskRatio.window(t0, t1).expectation(lambda t: signal_probability(t, k)), rel=1e-9)
    assert window_average_signal(0.2, 0.2, k) == pytest.approx(signal_probability(0.2, k))
    # over U[0, 1] the average is (k+1) B(2, k+1) = 1 / (k + 2)
    assert window_average_signal(0.0, 1.0, k) == pytest.approx(1 / (k + 2))


def test_optimal_window_for_k6_is_the_papers_0_246():
    t1 = optimal_window_upper(6)
    assert t1 == pytest.approx(0.246, abs=1e-3)
    # first-order condition: at the optimum the curve crosses its running mean
    assert signal_probability(t1, 6) == pytest.approx(window_average_signal(0, t1, 6), rel=1e-5)
    grid = np.linspace(0.01, 1, 5000)
    assert window_average_signal(0, t1, 6) >= window_average_signal(np.zeros_like(grid), grid, 6).max() - 1e-9


def test_signal_mask_classification():
    relevant = [0, 2, 4]
    mask = torch.tensor([[1, 0, 0, 1, 0],   # one relevant (0) -> signal
                         [1, 0, 1, 0, 0],   # two relevant -> noise
                         [0, 1, 0, 1, 0],   # none relevant -> noise
                         [0, 0, 0, 0, 1]], dtype=torch.bool)
    assert is_signal_mask(mask, relevant).tolist() == [True, False, False, True]


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_bad_k_is_rejected(bad):
    with pytest.raises(ValueError, match="k="):
        signal_probability(0.1, bad)


def test_bad_t_and_window_rejected():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        signal_probability(1.5, 3)
    with pytest.raises(ValueError, match="t0 <= t1"):
        window_average_signal(0.5, 0.2, 3)


# -- the experiment (notebook 01) ------------------------------------------------------------------------------------
def _results(z, **config) -> signal_curve.Results:
    """Notebook 01's results by hand: a Monte Carlo table with these z-scores (all the claims read from it)."""
    cfg = dataclasses.replace(signal_curve.PROFILES["smoke"], **config)
    return signal_curve.Results(config=cfg, monte_carlo=pd.DataFrame({"z": z}), window_average=pd.DataFrame(),
                                heatmap_grid=np.zeros(0), heatmap=np.zeros((0, 0)))


def test_signal_curve_claims_are_all_derived_and_catch_a_broken_sampler():
    claims = signal_curve.claims(_results([0.3, -1.2, 2.1, 0.0]))
    assert {c.kind for c in claims} == {"derived"} and all(c.verdict in ("derived", "checked") for c in claims)
    broken = signal_curve.claims(_results([0.3, 9.0]))
    assert [c.verdict for c in broken if "sampler" in c.claim] == ["fails check"]
    assert "(k = 4)" in signal_curve.claims(_results([0.0], k_heatmap=4))[2].claim   # t* of the heat map's k


def test_window_table_averages_the_heat_maps_windows_under_every_k():
    table = signal_curve.window_average_table([2, 6], k_windows=6)
    t1 = optimal_window_upper(6)
    assert list(table.columns) == ["k", "t_star", "t1_opt", "fixed t*", f"U[0, {t1:.3f}] (optimal)",
                                   "U[0, 0.246] (paper)", "U[0.45, 0.55]", "U[0, 1]"]
    k2 = table.set_index("k").loc[2]
    assert k2.t_star == pytest.approx(1 / 3) and k2.t1_opt == pytest.approx(optimal_window_upper(2))
    # the windows are k = 6's (t* = 1/7), averaged under k = 2
    assert k2["fixed t*"] == pytest.approx(signal_probability(1 / 7, 2))
    assert k2["U[0, 1]"] == pytest.approx(1 / 4)


def test_config_rejects_impossible_sizes_and_takes_the_notebooks_overrides():
    with pytest.raises(ValueError, match="k_values"):
        signal_curve.Config(k_values=())
    with pytest.raises(ValueError, match="grid >= 2"):
        signal_curve.Config(grid=1)
    cfg = config_for_profile(signal_curve.PROFILES, "smoke", k_values=[3, 5], k_heatmap=5, mc_samples=None)
    assert cfg.k_values == (3, 5) and cfg.k_heatmap == 5
    assert cfg.mc_samples == signal_curve.PROFILES["smoke"].mc_samples


def test_smoke_run_writes_its_tables_claims_and_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path))
    monkeypatch.setenv("MDLM_HEADLESS", "1")
    cfg, out = signal_curve.PROFILES["smoke"], Outputs("smoke")
    results = signal_curve.run(cfg, out)
    data = out.directory / "data"
    mc = pd.read_csv(data / "01_signal_probability_monte_carlo.csv")
    assert len(mc) == len(cfg.k_values) * cfg.mc_points and set(mc.k) == set(cfg.k_values)
    assert pd.read_csv(data / "01_window_average_by_k.csv").k.tolist() == sorted(set(cfg.k_values) | {cfg.k_heatmap})
    assert results.heatmap.shape == (cfg.grid, cfg.grid) and np.isnan(results.heatmap[1, 0])   # t0 > t1
    claims = signal_curve.claims(results)
    assert len(claims) == 5 and all(c.verdict in ("derived", "checked") for c in claims)
    table = out.claims(signal_curve.NOTEBOOK, claims)
    assert (out.directory / "claims" / "01_signal_curve.json").is_file() and len(table) == 5
    drawn = signal_curve.figures(results, out)
    assert set(drawn) == {figure_names.SIGNAL_PROBABILITY, figure_names.WINDOW_AVERAGE_HEATMAP}
    assert all((out.directory / f"{name}.png").is_file() for name in drawn)
    assert not plt.get_fignums(), "figures() closes what it drew: the notebook shows each where it wants"


def test_explorer_first_frame_agrees_with_its_title(monkeypatch):
    """The optimum t1 ~ 0.2459 snapped to the slider grid gives the same 3-decimal average as the title's."""
    monkeypatch.setenv("MDLM_HEADLESS", "1")
    signal_curve.explorer(_results([0.0]))   # k = 6, its optimal window
    ax = plt.gcf().axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    average = next(t for t in legend if t.startswith("window average")).split("= ")[1]
    assert ax.get_title().endswith(f"with {average}") and "window U[0.000, 0.246]" in legend
    plt.close("all")
    signal_curve.explorer(_results([0.0], k_heatmap=3), window=(0.5, 0.1))
    legend = [t.get_text() for t in plt.gcf().axes[0].get_legend().get_texts()]
    assert legend[0] == "$P_S(t)$, k = 3" and "window U[0.100, 0.500]" in legend
    plt.close("all")


def test_heatmap_marks_the_global_maximum_and_the_best_window_from_zero():
    """Both optima the claims check are drawn, where the heat map's own grid puts them (within a grid step)."""
    cfg = signal_curve.PROFILES["smoke"]
    grid, avg = signal_curve.window_heatmap(cfg.k_heatmap, 201)
    results = signal_curve.Results(config=cfg, monte_carlo=pd.DataFrame({"z": [0.0]}), window_average=pd.DataFrame(),
                                   heatmap_grid=grid, heatmap=avg)
    fig = signal_curve.draw_window_heatmap(results)
    heat = fig.axes[0]
    marks = {line.get_gid(): line for line in heat.get_lines() if line.get_gid() in signal_curve.HEATMAP_MARKS}
    assert set(marks) == {"global-max", "best-from-zero"}
    k, step = cfg.k_heatmap, grid[1] - grid[0]
    t_star, t1 = optimal_mask_ratio(k), optimal_window_upper(k)
    (x, y), = marks["global-max"].get_xydata()
    assert x == pytest.approx(t_star) and y == pytest.approx(t_star)          # on the diagonal, at t*
    (x0, y0), = marks["best-from-zero"].get_xydata()
    assert x0 == 0 and y0 == pytest.approx(t1)                                # U[0, t1*]
    optima = signal_curve.heatmap_optima(results)
    g0, g1, g_avg = optima["global-max"]
    # a window one step wide around t* can beat the grid's diagonal points (t* lies between them)
    assert 0 <= g1 - g0 <= step + 1e-12 and max(abs(g0 - t_star), abs(g1 - t_star)) <= step
    assert g_avg == pytest.approx(np.nanmax(avg)) and g_avg <= signal_probability(t_star, k) + 1e-12
    assert abs(optima["best-from-zero"][1] - t1) <= step
    labels = [t.get_text() for t in heat.get_legend().get_texts()]
    assert any(label.startswith("global max") for label in labels)
    assert any(label.startswith("best window from 0") for label in labels)
    plt.close(fig)
