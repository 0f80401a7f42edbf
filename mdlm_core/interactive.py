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

from .signal import optimal_mask_ratio, optimal_window_upper, signal_probability, window_average_signal

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
