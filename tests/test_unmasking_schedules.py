"""Notebook 05's experiment: the fitting helpers on exact inputs, the claims on synthetic results, the smoke run and
the explorer."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mdlm_core.companion import Outputs, config_for_profile, figure_names, interactive
from mdlm_core.experiments import unmasking_schedules as ex
from mdlm_core.schedules import overrun


def test_loglog_slope_recovers_a_power_law_and_ignores_zeros():
    k = np.array([10, 20, 40, 80, 160], dtype=float)
    assert ex.loglog_slope(k, 3.0 / k) == pytest.approx(-1.0)
    assert ex.loglog_slope(k, np.array([5.0, 2.5, 0.0, 0.625, 0.0]) * 1) == pytest.approx(-1.0)  # 5 * 10/k where > 0
    assert math.isnan(ex.loglog_slope(k, [1.0, 0.0, 0.0, 0.0, 2.0]))   # fewer than 3 positive points


def test_kl_slopes_finds_the_first_K_with_zero_kl():
    fig2a = pd.DataFrame(dict(target="codimension x", schedule="tc", K=[10, 20, 40, 80, 160],
                              kl=[1.0, 0.5, 0.25, 0.0, 0.0]))
    row = ex.kl_slopes(fig2a, (10, 160)).iloc[0]
    assert row.slope == pytest.approx(-1.0) and row.K_with_zero_kl == 2 and row.first_K_with_zero == 80
    none = ex.kl_slopes(fig2a.assign(kl=[1.0, 0.5, 0.25, 0.125, 0.0625]), (10, 40)).iloc[0]
    assert none.first_K_with_zero is None and none.slope == pytest.approx(-1.0)


def _fig2b(kl: dict, codims) -> pd.DataFrame:
    return pd.DataFrame([dict(codimension=int(c), TC=c * math.log(7), schedule=n, kl=v[i])
                         for n, v in kl.items() for i, c in enumerate(codims)])


def test_tc_slopes_and_wins_count_exact_zeros_and_ties():
    codims = np.array([1, 2, 4, 100, 200])
    kl = {"tc": [0.0, 0.0, 1.0, 10.0, 20.0], "tc-product": [0.1, 0.2, 0.4, 10.0, 999.0],
          "equal": [1.0, 1.0, 1.0, 5.0, 5.0], "cosine": [2.0, 2.0, 1.0, 50.0, 50.0],
          "equal-random": [1.5, 1.5, 1.0, 8.0, 8.0]}
    fig2b = _fig2b(kl, codims)
    slopes = ex.tc_slopes(fig2b).set_index("schedule")
    assert slopes.codims_with_zero_kl["tc"] == 2 and slopes.largest_codim_with_zero_kl["tc"] == 2
    assert pd.isna(slopes.largest_codim_with_zero_kl["equal"]) and slopes.codims_with_zero_kl["equal"] == 0
    assert slopes.slope_vs_TC["tc-product"] == pytest.approx(ex.loglog_slope(codims, kl["tc-product"]))
    wins = ex.wins_against_baselines(fig2b, length=1000)   # low TC: codimension <= 100
    assert wins["n_low_tc"] == 4 and wins["n_all"] == 5
    assert wins["low_tc"] == {"tc": 3, "tc-product": 3}     # the tie at codimension 4 counts as a win
    assert wins["all"] == {"tc": 3, "tc-product": 3}
    assert wins["worst_kl_over_tc"]["tc-product"] == pytest.approx(999.0 / (200 * math.log(7)))


def test_wins_are_judged_against_the_random_phase_equal_size_schedule_not_a_deterministic_zero():
    """The deterministic equal-size schedule hits E[KL] = 0 where d falls on a round boundary (codimension 4):
    the adaptive schedules lose that pointwise comparison but still beat the phase-randomised baseline."""
    codims = np.array([1, 2, 4, 8, 500])
    kl = {"tc": [0.0, 0.0, 0.0, 0.5, 20.0], "tc-product": [0.1, 0.2, 0.4, 0.8, 30.0],
          "equal": [1.0, 1.0, 0.0, 1.0, 1.0], "cosine": [2.0, 2.0, 3.0, 2.0, 2.0],
          "equal-random": [1.0, 1.0, 1.0, 1.0, 1.0]}
    wins = ex.wins_against_baselines(_fig2b(kl, codims), length=1000)
    assert wins["n_low_tc"] == 4 and wins["low_tc"] == {"tc": 4, "tc-product": 4}
    assert wins["low_tc_deterministic"] == {"tc": 4, "tc-product": 3}   # tc ties the zero, the product loses
    assert wins["low_tc_deterministic_losses_at_zero"] == {"tc": 0, "tc-product": 1}
    assert wins["deterministic_zero_low_tc"] == 1
    res = synthetic_results(wins=wins, kl_at_fig2b={n: 0.1 for n in ex.SCHEDULE_LABELS})
    claim = ex.claims(res)[5]
    assert claim.verdict == "checked" and "random-phase equal-size schedule at 4 (product 4) of 4" in claim.ours
    assert "1 of the product's 1 losses where a deterministic E[KL] = 0 exactly" in claim.ours
    assert "large TC" not in claim.notes.split(";")[0]   # the low-TC note blames round boundaries, not TC
    # one low-TC codimension where the product-weight schedule is above the random-phase baseline: fails
    kl["tc-product"][3] = 1.2
    worse = ex.wins_against_baselines(_fig2b(kl, codims), length=1000)
    assert worse["low_tc"] == {"tc": 4, "tc-product": 3}
    assert ex.claims(synthetic_results(wins=worse))[5].verdict == "fails check"


def _fig2a_tables(kl_tc, c_tc, ks=(10, 20, 40, 80)):
    """Fig. 2a and adaptivity tables with one TC and one DTC code: the tc schedule has E[KL] = ``kl_tc`` and
    c = ``c_tc``; every other adaptive schedule sits at half its bound."""
    info = 5.0
    rows_a, rows_k = [], []
    for name in ex.ADAPTIVE:
        target = "dimension d = 5" if ex.is_dtc(name) else "codimension L - d = 5"
        for i, k in enumerate(ks):
            c = c_tc[i] if name == "tc" else 1.0 / k
            rows_a.append(dict(schedule=name, K=k, c=c, valid=True))
            rows_k.append(dict(target=target, schedule=name, K=k, kl=kl_tc[i] if name == "tc" else 0.5 * c * info))
    info_by_target = {"codimension L - d = 5": info, "dimension d = 5": info}
    return pd.DataFrame(rows_k), pd.DataFrame(rows_a), info_by_target


def test_fig2a_bound_check_catches_a_violation_at_one_K_and_accepts_steep_decay_and_zeros():
    c = [0.1, 0.05, 0.025, 0.0125]
    # a steeper decay than 1/K, then exactly 0: consistent with the bound
    fig2a, adapt, info = _fig2a_tables([0.4, 0.1, 0.0, 0.0], c)
    table = ex.fig2a_bound_check(fig2a, adapt, info, length=1000).set_index("schedule")
    assert set(table.index) == set(ex.ADAPTIVE) and (table.violations == 0).all()
    assert table.K_with_zero_kl["tc"] == 2 and table.max_kl_over_bound["tc"] == pytest.approx(0.8)
    assert ex.claims(synthetic_results(fig2a_bounds=table.reset_index()))[3].verdict == "checked"
    # the bound reached exactly (ratio 1) is not a violation
    fig2a, adapt, info = _fig2a_tables([0.5, 0.25, 0.125, 0.0625], c)
    assert ex.fig2a_bound_check(fig2a, adapt, info, length=1000).violations.sum() == 0
    # E[KL] above c(K) TC at K = 40 alone: fails
    fig2a, adapt, info = _fig2a_tables([0.4, 0.2, 0.13, 0.05], c)
    table = ex.fig2a_bound_check(fig2a, adapt, info, length=1000)
    row = table.set_index("schedule").loc["tc"]
    assert row.violations == 1 and row.first_violation_K == 40
    got = verdicts(synthetic_results(fig2a_bounds=table))
    assert got[3] == "fails check" and got[:3] + got[4:] == ["checked"] * 5


def test_bound_summary_declares_bounded_as_a_constant_and_ignores_the_slope():
    K = np.array([10, 20, 40, 80, 160])
    L = 1000
    steep = pd.DataFrame(dict(schedule="tc", K=K, c=1.0 / K ** 2, bound=(1 + math.log(L)) / (K - 1), valid=True))
    steep["cK_over_logL"] = steep.c * steep.K / math.log(L)
    summary = ex.bound_summary(steep, (10, 160))["tc"]
    assert summary["slope"] == pytest.approx(-2.0) and summary["rate_bounded"] and summary["bound_holds"]
    assert summary["K_at_max"] == 10
    near = steep.assign(c=0.9 * (1 + math.log(L)) / (K - 1))   # 0.9 x the guarantee: c K / log L = 1.14 at K = 10
    near["cK_over_logL"] = near.c * near.K / math.log(L)
    got = ex.bound_summary(near, (10, 160))["tc"]
    assert got["bound_holds"] and got["rate_bounded"] and got["max_cK_over_logL"] == pytest.approx(1.1447, abs=1e-4)
    growing = steep.assign(cK_over_logL=[0.5, 1.0, 1.5, 2.0, 2.5])
    assert not ex.bound_summary(growing, (10, 160))["tc"]["rate_bounded"]


def test_rounds_breaking_bound_scans_every_integer_K():
    """Exact c(K) by enumeration of the support, compared with the scan on a small L."""
    L = 24
    expected = []
    for k in range(2, 7):
        dist = ex.schedule_distribution("dtc-product", L, k)
        m = np.arange(1, L)
        r = sum(p * overrun(sizes) for p, sizes in dist.support())
        if np.max(r / m) > (1 + math.log(L)) / (k - 1):
            expected.append(k)
    assert ex.rounds_breaking_bound("dtc-product", L, 6) == expected
    assert expected and expected == list(range(2, expected[-1] + 1))   # the scan finds a real, contiguous break
    assert expected == [2, 3]
    assert ex.rounds_breaking_bound("tc", L, 6) == []


def test_adaptivity_table_and_bound_summary_on_a_small_grid():
    L, k_grid = 200, ex.rounds_grid(200, 12)
    dists, overruns = ex.overruns_on_grid(ex.ADAPTIVE, L, k_grid, progress=False)
    table = ex.adaptivity_table(dists, overruns, L, k_grid)
    assert set(table.schedule) == set(ex.ADAPTIVE) and len(table) == len(ex.ADAPTIVE) * len(k_grid)
    assert not table[(table.schedule == "dtc") & (table.K <= ex.dtc_needs(L))].valid.any()
    summary = ex.bound_summary(table, (10, 20))
    assert summary["tc"]["bound_holds"] and summary["dtc"]["bound_holds"]
    assert not summary["dtc-product"]["bound_holds"]   # breaks the bound at small K (as at L = 2000)


# -- claims on synthetic results --------------------------------------------------------------------------------------
def synthetic_results(**change) -> ex.Results:
    """A result set at the paper's scale (quick) where every check passes; ``change`` breaks one. The tables only
    the figures draw are left empty."""
    slopes_a = pd.DataFrame([dict(target=f"{t} x", schedule=n, slope=-1.0, K_with_zero_kl=0, first_K_with_zero=None)
                             for t in ("codimension", "dimension") for n in ex.SCHEDULE_LABELS])
    slopes_b = pd.DataFrame([dict(schedule=n, slope_vs_TC=1.0, codims_with_zero_kl=0, largest_codim_with_zero_kl=None)
                             for n in ex.SCHEDULE_LABELS])
    bounds = {n: dict(bound_holds=True, max_cK_over_logL=0.5, K_at_max=15, rate_bounded=True, slope=-1.0)
              for n in ex.ADAPTIVE}
    fig2a_bounds = pd.DataFrame([dict(target=("dimension x" if ex.is_dtc(n) else "codimension x"), schedule=n,
                                      info=38.1, K_checked=54, violations=0, first_violation_K=None,
                                      max_kl_over_bound=0.9, max_kl_K_over_info_logL=0.4, K_with_zero_kl=0)
                                 for n in ex.ADAPTIVE])
    values = dict(config=ex.PROFILES["quick"], adaptivity=pd.DataFrame(), overrun_monte_carlo=pd.DataFrame(),
                  kl_vs_rounds=pd.DataFrame(), kl_vs_tc=pd.DataFrame(), reed_solomon=pd.DataFrame({"z": [1.0, -0.5] * 3 + [0.2]}),
                  mean_sizes={}, targets={}, c_fig2b={n: 0.01 for n in ex.ADAPTIVE}, brute_max_error=1e-15, brute_cases=49, bounds=bounds,
                  breaking_rounds={"tc-product": [], "dtc-product": list(range(2, 20))}, breaking_scan=86,
                  slopes_fig2a=slopes_a, slopes_fig2b=slopes_b, fig2a_bounds=fig2a_bounds,
                  fig2b_bounds={n: dict(violations=0, max_kl_over_bound=0.9) for n in ("tc", "tc-product")},
                  kl_at_fig2b={n: 0.1 for n in ex.SCHEDULE_LABELS},
                  wins=dict(low_tc={"tc": 20, "tc-product": 20}, n_low_tc=20, all={"tc": 25, "tc-product": 24},
                            n_all=40, low_tc_deterministic={"tc": 20, "tc-product": 13},
                            all_deterministic={"tc": 23, "tc-product": 15},
                            low_tc_deterministic_losses_at_zero={"tc": 0, "tc-product": 7}, deterministic_zero_low_tc=7,
                            worst_kl_over_tc={n: 0.01 for n in ex.SCHEDULE_LABELS}))
    values.update(change)
    return ex.Results(**values)


def verdicts(results) -> list[str]:
    return [c.verdict for c in ex.claims(results)]


def test_claims_all_checked_on_a_passing_result_and_all_derived():
    claims = ex.claims(synthetic_results())
    assert [c.verdict for c in claims] == ["checked"] * 6
    assert all(c.kind == "derived" for c in claims)   # checks: outside the FDR family
    assert "derived here" in claims[0].claim
    assert "max |z| = 1.00 (7 schedule laws, 20000 samples per schedule)" in claims[0].ours
    assert "L = 2000" in claims[1].ours and "10 <= K <= 200" in claims[1].ours   # fitted over 10 <= K <= L/10
    assert all("an independent construction" in c.claim for c in claims[1:])
    assert all("c(K) K / log L <= 2" in c.notes for c in claims[1:4])   # "bounded", declared in the claim
    dtc = claims[2]
    assert "breaks it for K <= 19" in dtc.notes and "[2, 86]" in dtc.notes


def test_a_steeper_decay_or_an_exact_zero_does_not_fail_the_bound_checks():
    base = synthetic_results()
    for name in ex.ADAPTIVE:
        base.bounds[name]["slope"] = -2.5
    base.slopes_fig2a["slope"] = -3.0
    base.slopes_fig2a["first_K_with_zero"] = 37
    base.fig2a_bounds["K_with_zero_kl"] = 20
    assert verdicts(base) == ["checked"] * 6


@pytest.mark.parametrize("index,change", [
    (0, dict(brute_max_error=1e-6)),
    (0, dict(reed_solomon=pd.DataFrame({"z": [1.0, -5.0]}))),
    (1, "tc_bound"),
    (1, "tc_rate"),
    (2, "dtc_rate"),
    (3, "fig2a_violation"),
    (4, "fig2b_slope"),
    (4, "fig2b_bound"),
    (5, "wins"),
])
def test_each_claim_fails_when_its_check_fails(index, change):
    base = synthetic_results()
    if change == "tc_bound":
        base.bounds["tc"]["bound_holds"] = False
    elif change == "tc_rate":
        base.bounds["tc"].update(max_cK_over_logL=2.3, rate_bounded=False)
    elif change == "dtc_rate":
        base.bounds["dtc"].update(max_cK_over_logL=2.3, rate_bounded=False)
    elif change == "fig2a_violation":
        base.fig2a_bounds.loc[base.fig2a_bounds.schedule == "dtc-product", ["violations", "first_violation_K"]] = [1, 40]
    elif change == "fig2b_slope":
        base.slopes_fig2b.loc[base.slopes_fig2b.schedule == "tc-product", "slope_vs_TC"] = 0.5
    elif change == "fig2b_bound":
        base.fig2b_bounds["tc-product"]["violations"] = 1
    elif change == "wins":
        base.wins["low_tc"]["tc-product"] = 19
    else:
        base = synthetic_results(**change)
    got = verdicts(base)
    assert got[index] == "fails check"
    # only the claim whose check failed (a random-phase rate is read by its own claim and by Fig. 2a's)
    others = {"tc_rate": {1, 3}, "dtc_rate": {2, 3}}.get(change, {index}) if isinstance(change, str) else {index}
    assert [v for i, v in enumerate(got) if i not in others] == ["checked"] * (6 - len(others))
    assert all(got[i] == "fails check" for i in others)


def test_breaking_note_reports_a_clean_schedule_and_a_gapped_break():
    clean = ex.claims(synthetic_results(breaking_rounds={"tc-product": [], "dtc-product": []}))
    assert "keeps the bound at every K in [2, 86]" in clean[2].notes
    gapped = ex.claims(synthetic_results(breaking_rounds={"tc-product": [3, 5],
                                                                              "dtc-product": []}))
    assert "breaks it at K = [3, 5]" in gapped[1].notes


# -- config, smoke run, figures and explorer ----------------------------------------------------------------------------
def test_config_takes_the_notebooks_overrides_and_rejects_impossible_sizes():
    cfg = config_for_profile(ex.PROFILES, "smoke", length=300, rounds_fig1=None, codimension_fig2a=7, samples=500)
    assert (cfg.length, cfg.rounds_fig1, cfg.codimension_fig2a) == (300, 100, 7) and cfg.fit_k == (10, 30)
    assert cfg.reed_solomon.samples == 500 and cfg.reed_solomon.length == 5   # the RS check keeps its own length
    with pytest.raises(ValueError, match="rounds_fig1, rounds_fig2b <= length"):
        config_for_profile(ex.PROFILES, "smoke", rounds_fig2b=500)
    with pytest.raises(ValueError, match="codimension_fig2a < length"):
        ex.Config(length=10, rounds_fig1=5, rounds_fig2b=5, codimension_fig2a=10)


def test_smoke_run_writes_its_tables_claims_and_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path))
    cfg, out = ex.PROFILES["smoke"], Outputs("smoke")
    results = ex.run(cfg, out, progress=False)
    data = out.directory / "data"
    tables = {"05_adaptivity_constants": results.adaptivity, "05_overrun_monte_carlo": results.overrun_monte_carlo,
              "05_zhao_fig2a_kl_vs_K": results.kl_vs_rounds, "05_zhao_fig2b_kl_vs_TC": results.kl_vs_tc,
              "05_reed_solomon_end_to_end": results.reed_solomon}
    for name, table in tables.items():
        assert len(pd.read_csv(data / f"{name}.csv")) == len(table) > 0, name
    assert set(results.reed_solomon.schedule) == set(ex.SCHEDULE_LABELS) == set(results.kl_at_fig2b)
    assert set(results.mean_sizes) == set(ex.ADAPTIVE)
    exact, drawn = results.mean_sizes["tc"]
    assert len(exact) == len(drawn) == cfg.rounds_fig1 and exact.sum() == pytest.approx(cfg.length)
    assert results.brute_cases == 49 and results.brute_max_error < 1e-9
    assert results.breaking_scan == int(10 * ex.dtc_needs(cfg.length))
    claims = ex.claims(results)
    assert len(claims) == 6 and all(c.kind == "derived" and c.verdict in ("checked", "fails check") for c in claims)
    assert claims[0].verdict == "checked"   # the E[KL] identity holds at any size
    assert len(out.claims(ex.NOTEBOOK, claims)) == 6 and (out.directory / "claims" / f"{ex.NOTEBOOK}.json").is_file()
    drawn = ex.figures(results, out)
    assert set(drawn) == {figure_names.ADAPTIVITY_CONSTANTS, figure_names.UNMASKING_SIZES, figure_names.KL_VS_K,
                          figure_names.KL_VS_TC}
    assert all((out.directory / f"{name}.pdf").is_file() for name in drawn)
    assert not plt.get_fignums(), "figures() closes what it drew: the notebook shows each where it wants"


@pytest.fixture
def headless(monkeypatch):
    monkeypatch.setenv(interactive.HEADLESS_ENV, "1")
    yield
    plt.close("all")


def test_explorer_starts_at_the_configs_sizes(headless):
    ex.explorer(synthetic_results(config=ex.PROFILES["smoke"]))   # L = 200: K = 40, codimension 5, q = 2048
    sizes, kl = plt.gcf().axes
    assert sizes.get_title() == "L = 200, K = 40" and kl.get_title().startswith("codim 5: TC = 38.1")
    assert [t.get_text() for t in kl.get_xticklabels()] == list(ex.EXPLORER_SCHEDULES)


def test_explorer_rejects_impossible_defaults(headless):
    res = synthetic_results()
    with pytest.raises(ValueError, match="K <= L"):
        ex.explorer(res, length=10, rounds=40, codimension=5)
    with pytest.raises(ValueError, match="L - d < L"):
        ex.explorer(res, length=10, rounds=5, codimension=10)


def test_explorer_sliders_follow_length(monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv(interactive.HEADLESS_ENV, "0")
    monkeypatch.setattr(interactive, "explore", lambda draw, controls, defaults, link=None: (link(controls), controls)[1])
    controls = ex.explorer(synthetic_results(), length=200, rounds=40, codimension=150)
    controls["length"].value = 200
    controls["rounds"].value, controls["codimension"].value = 40, 150
    controls["length"].value = 30
    assert controls["rounds"].max == 30 and controls["rounds"].value == 30
    assert controls["codimension"].max == 29 and controls["codimension"].value == 29
    controls["length"].value = 500
    assert controls["rounds"].max == 500 and controls["codimension"].max == 499
