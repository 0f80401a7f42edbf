"""Live controls for exploring the notebooks in JupyterLab (ipywidgets), with a static fallback.

Each explorer has one drawing function that both paths call, so the static figure a headless run
(papermill, nbval, ``reproduce.sh``, which set ``MDLM_HEADLESS=1``) produces is exactly the first frame
a reader sees in JupyterLab before touching a slider.
"""

from __future__ import annotations

import os
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np

from ..theory.signal import optimal_mask_ratio, optimal_window_upper, signal_probability, window_average_signal

HEADLESS_ENV = "MDLM_HEADLESS"


def is_headless() -> bool:
    """True under reproduce.sh / nbval, or when ipywidgets is not installed."""
    if os.environ.get(HEADLESS_ENV, "") not in ("", "0"):
        return True
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return True
    return False


def explore(draw: Callable[..., plt.Figure], controls: dict, defaults: dict):
    """Draw once with ``defaults`` when headless; otherwise return an ipywidgets ``interactive`` that
    redraws ``draw(**values)`` whenever a control (name -> widget) changes."""
    if is_headless():
        draw(**defaults)
        plt.show()
        return None
    import ipywidgets as widgets

    for name, widget in controls.items():
        if isinstance(widget, widgets.ValueWidget):
            widget.value = defaults[name]

    def redraw(**values):
        draw(**values)
        plt.show()

    return widgets.interactive(redraw, **controls)


def draw_signal_window(k: int = 6, window: tuple[float, float] = (0.0, 0.246)) -> plt.Figure:
    """P_S(t) for one k with a training window shaded and its average signal annotated."""
    t0, t1 = sorted(window)
    t = np.linspace(0, 1, 401)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(t, signal_probability(t, k), color="C0", label=rf"$P_S(t)$, k = {k}")
    ax.axvspan(t0, t1, color="C1", alpha=0.25, label=f"window U[{t0:.2f}, {t1:.2f}]")
    avg = window_average_signal(t0, t1, k)
    ax.hlines(avg, t0, t1, color="C1", lw=2.5, label=f"window average = {avg:.3f}")
    ax.axvline(optimal_mask_ratio(k), color="k", ls=":", lw=1, label=f"t* = {optimal_mask_ratio(k):.3f}")
    best = optimal_window_upper(k)
    ax.set(xlabel="mask ratio t", ylabel="probability", ylim=(0, 0.55),
           title=f"U[0, 1] gives {window_average_signal(0, 1, k):.3f}; best U[0, t1] is U[0, {best:.3f}] "
                 f"with {window_average_signal(0, best, k):.3f}")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def signal_window_explorer(k: int = 6, window: tuple[float, float] = (0.0, 0.246)):
    """Sliders for k and the mask-ratio window over the signal curve (notebook 01)."""
    controls = {}
    if not is_headless():
        import ipywidgets as widgets

        controls = {"k": widgets.IntSlider(min=1, max=16, description="k"),
                    "window": widgets.FloatRangeSlider(min=0.0, max=1.0, step=0.005, description="window",
                                                       readout_format=".3f")}
    return explore(draw_signal_window, controls, {"k": k, "window": tuple(window)})


EXPLORER_SCHEDULES = ("tc", "dtc", "equal", "cosine")


def draw_schedule_comparison(length: int = 200, rounds: int = 40, codimension: int = 5,
                             alphabet: int = 2048) -> plt.Figure:
    """Mean unmasking size per round and exact E[KL] on an [L, L - codim] MDS code, per schedule."""
    from ..theory.dependence import dual_total_correlation, expected_kl, mds_information_profile, total_correlation
    from ..schedules import schedule_distribution

    rounds = min(rounds, length)
    codimension = min(codimension, length - 1)
    profile = mds_information_profile(length, length - codimension, alphabet)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    kls = {}
    for name in EXPLORER_SCHEDULES:
        schedule = schedule_distribution(name, length, rounds)
        ax.plot(np.arange(1, rounds + 1), schedule.expected_sizes(), label=name)
        kls[name] = expected_kl(schedule, profile)
    ax.set(xlabel="round k", ylabel=r"mean size $E[s_k]$", yscale="log", title=f"L = {length}, K = {rounds}")
    ax.legend()
    ax2.bar(list(kls), list(kls.values()), color=[f"C{i}" for i in range(len(kls))])
    ax2.set(ylabel="exact E[KL] (nats)", title=f"codim {codimension}: TC = {total_correlation(profile):.1f}, "
                                                 f"DTC = {dual_total_correlation(profile):.1f}, TC/K = "
                                                 f"{total_correlation(profile) / rounds:.2f}")
    return fig


def schedule_explorer(length: int = 200, rounds: int = 40, codimension: int = 5, alphabet: int = 2048):
    """Sliders for L, K and the code's codimension L - d over the schedules of notebook 05."""
    controls = {}
    if not is_headless():
        import ipywidgets as widgets

        controls = {"length": widgets.IntSlider(min=10, max=2000, step=10, description="L"),
                    "rounds": widgets.IntSlider(min=1, max=2000, description="K"),
                    "codimension": widgets.IntSlider(min=1, max=1999, description="L - d"),
                    "alphabet": widgets.fixed(alphabet)}
    return explore(draw_schedule_comparison, controls,
                   {"length": length, "rounds": rounds, "codimension": codimension, "alphabet": alphabet})
