"""Notebook 01 (the Signal-regime curve): its config, profiles, computations, claims, figures and explorer.

Pure computation: P_S(t) and its window average come from ``theory.signal`` in closed form, and the one
Monte Carlo check draws masks with the training code's own sampler (``loss.sample_mask``).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from scipy import stats

from ..companion import figure_names, interactive
from ..companion.outputs import draw_and_save, figure_style as _style
from ..companion.verdicts import Claim, check_close, with_finding
from ..theory.signal import (argmax_signal_probability, monte_carlo_signal_probability, optimal_mask_ratio,
                             optimal_window_upper, signal_probability, window_average_signal)

NOTEBOOK = "01_signal_curve"

# the paper's numbers: the sample-complexity-optimal window U[0, 0.246] for k = 6, and the window that wins on text
PAPER_K = 6
PAPER_WINDOW_UPPER = 0.246
LANGUAGE_WINDOW = (0.45, 0.55)


@dataclass(frozen=True)
class Config:
    """Sizes for notebook 01 (pure computation: profiles differ only in Monte Carlo effort)."""

    k_values: tuple[int, ...] = (1, 2, 3, 4, 6, 8)   # parity orders plotted and checked by Monte Carlo
    k_heatmap: int = PAPER_K      # k of the window heat map and of the t* claim
    mc_samples: int = 20_000      # masks per probed t
    mc_points: int = 15           # probed t values per k
    grid: int = 301               # resolution of the (t0, t1) heat map
    seed: int = 0                 # the Monte Carlo draws for order k use seed + k

    def __post_init__(self):
        if not self.k_values or min(self.k_values) < 1 or self.k_heatmap < 1:
            raise ValueError(f"k_values={self.k_values} and k_heatmap={self.k_heatmap}: parity orders must be "
                             "integers >= 1 (give at least one in k_values)")
        if self.mc_samples < 1 or self.mc_points < 1 or self.grid < 2:
            raise ValueError(f"mc_samples={self.mc_samples}, mc_points={self.mc_points}, grid={self.grid}: use "
                             "mc_samples >= 1, mc_points >= 1 and grid >= 2")


PROFILES = {
    "smoke": Config(k_values=(2, 6), mc_samples=2_000, mc_points=5, grid=61),
    "quick": Config(),
    "paper": Config(mc_samples=200_000, mc_points=25, grid=501),
}

# The paper profile's CPU dry run (tests/test_paper_profile.py): ``apply_overrides(PROFILES['paper'], **DRY_RUN)``
# cuts steps, seeds, evaluation and data-item counts; every model and sequence size stays the paper's.
DRY_RUN = {"mc_samples": 2_000, "mc_points": 5}
SIGNAL_CURVE_PROFILES = PROFILES   # old name: tests/test_pipeline.py still imports it


@dataclass
class Results:
    """Everything notebook 01 computes: the Monte Carlo check, the window averages and the heat map."""

    config: Config
    monte_carlo: pd.DataFrame       # 01_signal_probability_monte_carlo: one row per probed (k, t), z vs the formula
    window_average: pd.DataFrame    # 01_window_average_by_k: t*, optimal t1 and named windows' averages, per k
    heatmap_grid: np.ndarray        # t values of both heat-map axes
    heatmap: np.ndarray             # window average over U[t0, t1] at [t0 index, t1 index] (nan where t0 > t1)


def monte_carlo_table(cfg: Config) -> pd.DataFrame:
    """P_S by sampled masks vs the formula at ``mc_points`` mask ratios per k, with the z-score of each estimate."""
    rows = []
    for k in cfg.k_values:
        t_probe = np.linspace(0.02, 0.95, cfg.mc_points)
        est = monte_carlo_signal_probability(t_probe, k, cfg.mc_samples, seq_len=k + 5, seed=cfg.seed + k)
        exact = signal_probability(t_probe, k)
        # z-score against the binomial s.e. of the exact value (floored at one count, 1/n, where P_S ~ 0)
        se_exact = np.maximum(np.sqrt(exact * (1 - exact) / cfg.mc_samples), 1 / cfg.mc_samples)
        rows += [dict(k=k, t=t, monte_carlo=e, stderr=s, exact=x, z=(e - x) / se)
                 for t, e, s, x, se in zip(t_probe, est.estimate, est.stderr, exact, se_exact)]
    return pd.DataFrame(rows)


def window_average_table(k_values, k_windows: int) -> pd.DataFrame:
    """Per k in ``k_values``: its t* and optimal t1, and the average signal of the windows the paper compares,
    the first two (fixed t*, optimal U[0, t1]) being those of the heat map's order ``k_windows``."""
    t_star, t1_opt = optimal_mask_ratio(k_windows), optimal_window_upper(k_windows)
    windows = {"fixed t*": (t_star, t_star), f"U[0, {t1_opt:.3f}] (optimal)": (0.0, t1_opt),
               f"U[0, {PAPER_WINDOW_UPPER}] (paper)": (0.0, PAPER_WINDOW_UPPER),
               "U[{}, {}]".format(*LANGUAGE_WINDOW): LANGUAGE_WINDOW, "U[0, 1]": (0.0, 1.0)}
    return pd.DataFrame([dict(k=k, t_star=optimal_mask_ratio(k), t1_opt=optimal_window_upper(k),
                              **{name: window_average_signal(a, b, k) for name, (a, b) in windows.items()})
                         for k in k_values])


def window_heatmap(k: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(grid, average over U[t0, t1] at [i, j] = (grid[i], grid[j])), nan where t0 > t1."""
    grid = np.linspace(0, 1, resolution)
    t0, t1 = np.meshgrid(grid, grid, indexing="ij")
    valid = t0 <= t1
    avg = np.full_like(t0, np.nan)
    avg[valid] = window_average_signal(t0[valid], t1[valid], k)
    return grid, avg


def run(cfg: Config, out) -> Results:
    """The Monte Carlo check and the window averages (tables written through ``out``), and the heat map."""
    mc = monte_carlo_table(cfg)
    out.table(mc, "01_signal_probability_monte_carlo")
    # every plotted k and the heat map's (one row each, in order)
    windows = window_average_table(sorted(set(cfg.k_values) | {cfg.k_heatmap}), cfg.k_heatmap)
    out.table(windows, "01_window_average_by_k")
    grid, avg = window_heatmap(cfg.k_heatmap, cfg.grid)
    return Results(config=cfg, monte_carlo=mc, window_average=windows, heatmap_grid=grid, heatmap=avg)


FINDING = "The Signal regime: P_S(t) = (k+1) t (1-t)^k, best at t* = 1/(k+1)"


def claims(results: Results) -> list[Claim]:
    """Notebook 01's claims. All are derived: closed forms, and one check that the training code's mask
    sampler hits the Signal regime at the rate P_S predicts (the z-scores of the Monte Carlo table)."""
    cfg, k = results.config, results.config.k_heatmap
    max_z = float(results.monte_carlo["z"].abs().max())
    n = len(results.monte_carlo)
    # Bonferroni over the probes: with a correct sampler, P(max |z| > z_crit) <= 0.001
    z_crit = float(stats.norm.isf(0.0005 / n))
    t_star_numeric = argmax_signal_probability(k)
    t1 = optimal_window_upper(PAPER_K)
    narrow, wide = window_average_signal(0, PAPER_WINDOW_UPPER, PAPER_K), window_average_signal(0, 1, PAPER_K)
    return with_finding(FINDING, [
        Claim.derived("Signal-regime probability is P_S(t) = (k+1) t (1-t)^k", "derived in the paper",
                      "derived in this notebook by counting masks that hide exactly one of k+1 relevant tokens",
                      "derived", figure_names.SIGNAL_PROBABILITY),
        Claim.derived("The training code's mask sampler hits the Signal regime at rate P_S(t)", "(implied)",
                      f"max |MC - formula| = {max_z:.2f} s.e. over {n} probes x {cfg.mc_samples} masks "
                      f"(k in {list(cfg.k_values)})",
                      "checked" if max_z <= z_crit else "fails check", figure_names.SIGNAL_PROBABILITY,
                      f"threshold {z_crit:.2f} s.e.: Bonferroni over the probes at family-wise level 0.001"),
        Claim.derived(f"Best fixed mask ratio t* = 1/(k+1) (k = {k})", f"{1 / (k + 1):.4f}",
                      f"numerical argmax {t_star_numeric:.4f}", check_close(t_star_numeric, 1 / (k + 1), 1e-4),
                      figure_names.SIGNAL_PROBABILITY),
        Claim.derived(f"Sample-complexity-optimal window for k = {PAPER_K} is U[0, {PAPER_WINDOW_UPPER}]",
                      f"t1 = {PAPER_WINDOW_UPPER}", f"t1 = {t1:.4f}", check_close(t1, PAPER_WINDOW_UPPER, 5e-4),
                      figure_names.WINDOW_AVERAGE_HEATMAP),
        Claim.derived(f"U[0, {PAPER_WINDOW_UPPER}] carries more signal than U[0, 1] (k = {PAPER_K})", "(implied)",
                      f"{narrow:.4f} vs {wide:.4f} (x{narrow / wide:.2f})",
                      "derived" if narrow > wide else "fails check", figure_names.WINDOW_AVERAGE_HEATMAP,
                      "closed-form window averages"),
    ], primary=2, headline=f"t* = {t_star_numeric:.4f} by numerical argmax; the optimal window for k = {PAPER_K} is "
                           f"U[0, {t1:.3f}] (paper {PAPER_WINDOW_UPPER})")


# -- figures -------------------------------------------------------------------------------------------------------
def draw_signal_probability(results: Results):
    """P_S(t) per k with its Monte Carlo estimates (± 2 s.e.) and t* starred."""
    cfg, mc = results.config, results.monte_carlo
    fig, ax = plt.subplots(figsize=(7, 4.2))
    t = np.linspace(0, 1, 501)
    palette = sns.color_palette("viridis", len(cfg.k_values))
    for color, k in zip(palette, cfg.k_values):
        ax.plot(t, signal_probability(t, k), color=color, label=f"k = {k}")
        sub = mc[mc.k == k]
        ax.errorbar(sub.t, sub.monte_carlo, yerr=2 * sub.stderr, fmt="o", ms=3, color=color, alpha=0.8)
        t_star = optimal_mask_ratio(k)
        ax.plot([t_star], [signal_probability(t_star, k)], marker="*", ms=12, color=color, mec="black", mew=0.6)
    ax.set(xlabel="mask ratio t", ylabel=r"$P_S(t)$  (exactly one relevant token masked)",
           title=r"Signal probability $(k+1)\,t\,(1-t)^k$; ★ $t^*=1/(k+1)$, dots: Monte Carlo ± 2 s.e.")
    ax.legend(ncol=2, fontsize=9)
    return fig


HEATMAP_MARKS = ("global-max", "best-from-zero")   # the gids of the two optima the heat map marks


def heatmap_optima(results: Results) -> dict[str, tuple[float, float, float]]:
    """The heat map's two optima, located on its own grid: {"global-max": (t0, t1, average) of the grid's largest
    window average (within a grid step of the diagonal point (t*, t*), t* = 1/(k+1): the degenerate window
    U[t*, t*], which lies between grid points), "best-from-zero": the same over the windows U[0, t1] (within a grid
    step of the optimal t1)}."""
    grid, avg = results.heatmap_grid, results.heatmap
    i, j = np.unravel_index(np.nanargmax(avg), avg.shape)
    j0 = int(np.nanargmax(avg[0]))
    return {"global-max": (float(grid[i]), float(grid[j]), float(avg[i, j])),
            "best-from-zero": (0.0, float(grid[j0]), float(avg[0, j0]))}


def draw_window_heatmap(results: Results):
    """The window-average heat map over (t0, t1) with the named windows and its two optima: the global maximum
    (on the diagonal, the fixed ratio t* = 1/(k+1)) and the best window starting at 0, U[0, t1*]. Both markers
    sit at the closed forms the claims check; the grid's own optima (``heatmap_optima``) lie within a grid step."""
    k, grid, avg = results.config.k_heatmap, results.heatmap_grid, results.heatmap
    t1_opt, t_star = optimal_window_upper(k), optimal_mask_ratio(k)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained",
                                  gridspec_kw=dict(width_ratios=[1.15, 1]))
    im = ax.pcolormesh(grid, grid, avg.T, shading="auto", cmap="magma", rasterized=True)
    fig.colorbar(im, ax=ax, label=r"$\bar P_S$ over $U[t_0, t_1]$")
    ax.contour(grid, grid, avg.T, levels=8, colors="white", linewidths=0.5, alpha=0.6)
    ax.plot([t_star], [t_star], marker="o", ms=9, color="white", mec="black", gid="global-max",
            label=f"global max: U[t*, t*], t* = 1/(k+1) = {t_star:.3f}, average {signal_probability(t_star, k):.3f}")
    ax.plot([0], [t1_opt], marker="*", ms=16, color="cyan", mec="black", gid="best-from-zero",
            label=f"best window from 0: U[0, {t1_opt:.3f}], average {window_average_signal(0, t1_opt, k):.3f}")
    ax.plot([LANGUAGE_WINDOW[0]], [LANGUAGE_WINDOW[1]], marker="s", ms=7, color="lime", mec="black",
            label="U[{}, {}] (language)".format(*LANGUAGE_WINDOW))
    ax.plot([0], [1], marker="^", ms=9, color="grey", mec="black", label="U[0, 1] (standard)")
    for line in ax.lines:
        line.set_clip_on(False)  # windows on the border (t0 = 0, t1 = 1) stay visible
    ax.set(xlabel=r"window start $t_0$", ylabel=r"window end $t_1$",
           title=f"Window-averaged signal, k = {k}: both optima marked")
    ax.legend(loc="lower right", fontsize=8)

    ax2.plot(grid, signal_probability(grid, k), label=r"$P_S(t)$")
    upper = grid[1:]
    ax2.plot(upper, window_average_signal(np.zeros_like(upper), upper, k), label=r"$\bar P_S(0, t_1)$ vs $t_1$")
    ax2.plot([t_star], [signal_probability(t_star, k)], marker="o", ms=8, color="white", mec="black", ls="none",
             label=f"max at t* = {t_star:.3f} (= U[t*, t*])")
    ax2.axvline(t1_opt, ls="--", color="k", lw=1)
    ax2.annotate(f"t1* = {t1_opt:.3f}\n(curves cross)", (t1_opt, signal_probability(t1_opt, k)),
                 xytext=(t1_opt + 0.2, 0.5 * signal_probability(t1_opt, k)), arrowprops=dict(arrowstyle="->"))
    ax2.set(xlabel="t", ylabel="probability", title=f"The U[0, t1] optimum, k = {k}")
    ax2.legend(loc="upper right")
    return fig


FIGURES = {figure_names.SIGNAL_PROBABILITY: draw_signal_probability,
           figure_names.WINDOW_AVERAGE_HEATMAP: draw_window_heatmap}


def figures(results: Results, out) -> dict:
    """Draw and save every figure of notebook 01; returned closed, for the notebook to display one by one."""
    return draw_and_save(results, out, FIGURES)


# -- explorer -----------------------------------------------------------------------------------------------------
def draw_signal_window(k: int = PAPER_K, window: tuple[float, float] = (0.0, PAPER_WINDOW_UPPER)):
    """P_S(t) for one k with a training window shaded and its average signal annotated."""
    t0, t1 = sorted(window)
    t = np.linspace(0, 1, 401)
    fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    ax.plot(t, signal_probability(t, k), color="C0", label=rf"$P_S(t)$, k = {k}")
    ax.axvspan(t0, t1, color="C1", alpha=0.25, label=f"window U[{t0:.3f}, {t1:.3f}]")
    avg = window_average_signal(t0, t1, k)
    ax.hlines(avg, t0, t1, color="C1", lw=2.5, label=f"window average = {avg:.3f}")
    ax.axvline(optimal_mask_ratio(k), color="k", ls=":", lw=1, label=f"t* = {optimal_mask_ratio(k):.3f}")
    best = optimal_window_upper(k)
    ax.set(xlabel="mask ratio t", ylabel=r"Signal-regime probability $P_S(t)$", ylim=(0, 0.55))
    ax.set_title(f"k = {k}: U[0, 1] gives {window_average_signal(0, 1, k):.3f}\n"
                 f"best U[0, t1] is U[0, {best:.3f}] with {window_average_signal(0, best, k):.3f}", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    return fig


WINDOW_STEP = 0.001  # fine enough that the snapped optimum t1 ~ 0.246 gives the title's average to 3 decimals


def _draw_styled_window(k: int, t0: float, t1: float):
    with _style():
        return draw_signal_window(k, (t0, t1))


def explorer(results: Results, window: tuple[float, float] | None = None):
    """Sliders for k and the two ends of the mask-ratio window over the signal curve, starting at the heat map's
    k and its optimal window U[0, t1] (or ``window``)."""
    k = results.config.k_heatmap
    t0, t1 = (interactive.snap(x, WINDOW_STEP) for x in sorted(window or (0.0, optimal_window_upper(k))))
    controls = {}
    if not interactive.is_headless():
        import ipywidgets as widgets

        slider = dict(min=0.0, max=1.0, step=WINDOW_STEP, readout_format=".3f", continuous_update=False,
                      style={"description_width": "6em"}, layout=widgets.Layout(width="30em"))
        controls = {"k": widgets.IntSlider(min=1, max=16, description="k", style={"description_width": "6em"},
                                           layout=widgets.Layout(width="30em")),
                    "t0": widgets.FloatSlider(description="window from", **slider),
                    "t1": widgets.FloatSlider(description="window to", **slider)}
    return interactive.explore(_draw_styled_window, controls, {"k": k, "t0": t0, "t1": t1})
