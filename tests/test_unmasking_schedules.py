"""Notebook 05's package functions: the fitting helpers on exact inputs, and the claims on synthetic results."""

import math

import numpy as np
import pandas as pd
import pytest

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


def test_tc_slopes_and_wins_count_exact_zeros_and_ties():
    codims = np.array([1, 2, 4, 100, 200])
    kl = {"tc": [0.0, 0.0, 1.0, 10.0, 20.0], "tc-product": [0.1, 0.2, 0.4, 10.0, 999.0],
          "equal": [1.0, 1.0, 1.0, 5.0, 5.0], "cosine": [2.0, 2.0, 1.0, 50.0, 50.0]}
    fig2b = pd.DataFrame([dict(codimension=int(c), TC=c * math.log(7), schedule=n, kl=v[i])
                          for n, v in kl.items() for i, c in enumerate(codims)])
    slopes = ex.tc_slopes(fig2b).set_index("schedule")
    assert slopes.codims_with_zero_kl["tc"] == 2 and slopes.largest_codim_with_zero_kl["tc"] == 2
    assert pd.isna(slopes.largest_codim_with_zero_kl["equal"]) and slopes.codims_with_zero_kl["equal"] == 0
    assert slopes.slope_vs_TC["tc-product"] == pytest.approx(ex.loglog_slope(codims, kl["tc-product"]))
    wins = ex.wins_against_baselines(fig2b, length=1000)   # low TC: codimension <= 100
    assert wins["n_low_tc"] == 4 and wins["n_all"] == 5
    assert wins["low_tc"] == {"tc": 3, "tc-product": 3}     # the tie at codimension 4 counts as a win
    assert wins["all"] == {"tc": 3, "tc-product": 3}
    assert wins["worst_kl_over_tc"]["tc-product"] == pytest.approx(999.0 / (200 * math.log(7)))


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
def synthetic_results(**change) -> ex.ScheduleResults:
    """A result set where every check passes; ``change`` breaks one."""
    slopes_a = pd.DataFrame([dict(target=f"{t} x", schedule=n, slope=-1.0, K_with_zero_kl=0, first_K_with_zero=None)
                             for t in ("codimension", "dimension") for n in ex.SCHEDULE_LABELS])
    slopes_b = pd.DataFrame([dict(schedule=n, slope_vs_TC=1.0, codims_with_zero_kl=0, largest_codim_with_zero_kl=None)
                             for n in ex.SCHEDULE_LABELS])
    bounds = {n: dict(bound_holds=True, max_cK_over_logL=0.5, slope=-1.0) for n in ex.ADAPTIVE}
    values = dict(length=2000, rounds_fig2b=500, codimension=5, fit_k=(10, 200), brute_max_error=1e-15,
                  brute_cases=49, rs_max_abs_z=1.0, rs_laws=7, rs_samples=20_000, bounds=bounds,
                  breaking_rounds={"tc-product": [], "dtc-product": list(range(2, 20))}, breaking_scan=86,
                  slopes_fig2a=slopes_a, slopes_fig2b=slopes_b, kl_at_fig2b={n: 0.1 for n in ex.SCHEDULE_LABELS},
                  wins=dict(low_tc={"tc": 20, "tc-product": 20}, n_low_tc=20, all={"tc": 25, "tc-product": 24},
                            n_all=40, worst_kl_over_tc={n: 0.01 for n in ex.SCHEDULE_LABELS}))
    values.update(change)
    return ex.ScheduleResults(**values)


def verdicts(results) -> list[str]:
    return [c.verdict for c in ex.unmasking_schedules_claims(results)]


def test_claims_all_checked_on_a_passing_result_and_all_derived():
    claims = ex.unmasking_schedules_claims(synthetic_results())
    assert [c.verdict for c in claims] == ["checked"] * 6
    assert all(c.kind == "derived" for c in claims)
    assert "derived here" in claims[0].claim
    dtc = claims[2]
    assert "breaks it for K <= 19" in dtc.notes and "[2, 86]" in dtc.notes


@pytest.mark.parametrize("index,change", [
    (0, dict(brute_max_error=1e-6)),
    (0, dict(rs_max_abs_z=5.0)),
    (1, "tc_bound"),
    (2, "dtc_slope"),
    (3, "fig2a_slope"),
    (4, "fig2b_slope"),
    (5, "wins"),
])
def test_each_claim_fails_when_its_check_fails(index, change):
    base = synthetic_results()
    if change == "tc_bound":
        base.bounds["tc"]["bound_holds"] = False
    elif change == "dtc_slope":
        base.bounds["dtc"]["slope"] = -0.5
    elif change == "fig2a_slope":
        base.slopes_fig2a.loc[(base.slopes_fig2a.schedule == "dtc-product")
                              & base.slopes_fig2a.target.str.startswith("dimension"), "slope"] = -2.0
    elif change == "fig2b_slope":
        base.slopes_fig2b.loc[base.slopes_fig2b.schedule == "tc-product", "slope_vs_TC"] = 0.5
    elif change == "wins":
        base.wins["low_tc"]["tc-product"] = 19
    else:
        base = synthetic_results(**change)
    got = verdicts(base)
    assert got[index] == "fails check"
    assert got[:index] + got[index + 1:] == ["checked"] * 5   # only the claim whose check failed


def test_breaking_note_reports_a_clean_schedule_and_a_gapped_break():
    clean = ex.unmasking_schedules_claims(synthetic_results(breaking_rounds={"tc-product": [], "dtc-product": []}))
    assert "keeps the bound at every K in [2, 86]" in clean[2].notes
    gapped = ex.unmasking_schedules_claims(synthetic_results(breaking_rounds={"tc-product": [3, 5],
                                                                              "dtc-product": []}))
    assert "breaks it at K = [3, 5]" in gapped[1].notes
