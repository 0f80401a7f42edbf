"""Live controls for exploring the notebooks in JupyterLab (ipywidgets), with a static fallback, and the
claims-table display the notebooks share.

Each explorer has one drawing function that both paths call, with its defaults snapped to the sliders' grid, so
the static figure a headless run (papermill, nbval, ``reproduce.sh``, which set ``MDLM_HEADLESS=1``) produces
is exactly the first frame a reader sees in JupyterLab before touching a slider. The live plot is an Image
widget the kernel fills, and if the browser refuses the widgets (a reused kernel whose .py is also open as text),
the explorer replaces itself with its figure and ``WIDGETS_REJECTED``, which says what to do.
"""

from __future__ import annotations

import base64
import html
import io
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


def snap(value: float, step: float, start: float = 0.0) -> float:
    """``value`` on a slider's grid (start + n step), as the slider itself would hold it."""
    return round(start + round((value - start) / step) * step, 10)


def show_claims(claims):
    """A claims table (``Outputs.claims``' DataFrame) shown whole: every row and column, long text wrapped,
    no pandas truncation ("..."). Returns a pandas Styler, which notebooks display as the cell's value."""
    table = claims.reset_index(drop=True)
    wrap = [{"selector": "th, td", "props": "white-space: pre-wrap; word-break: break-word; text-align: left; "
                                            "vertical-align: top; max-width: 32em; min-width: 4em"}]
    return (table.style.hide(axis="index").format(precision=3, na_rep="")
            .set_table_styles(wrap).set_table_attributes('class="mdlm-claims"'))


def explore(draw: Callable[..., plt.Figure], controls: dict, defaults: dict, link: Callable[[dict], None] | None = None):
    """Draw once with ``defaults`` when headless; otherwise display an ipywidgets ``interactive`` that redraws
    ``draw(**values)`` whenever a control (name -> widget) changes. ``link(controls)`` ties slider ranges to each
    other (for example K <= L) before the first frame. Returns None: the explorer displays itself, so that it can
    replace itself with a static figure and a note if the browser rejects its widgets (``WIDGETS_REJECTED``)."""
    if is_headless():
        draw(**defaults)
        plt.show()
        return None
    import ipywidgets as widgets
    from IPython.display import display

    if link is not None:
        link(controls)
    for name, widget in controls.items():
        if isinstance(widget, widgets.ValueWidget):
            widget.value = defaults[name]

    # The plot is an Image widget whose bytes the kernel sets, not inline output captured by an Output widget: if the
    # browser rejects the widgets, nothing leaks into the cell, and the fallback below shows the current frame.
    plot = widgets.Image(format="png")

    def redraw(**values):
        fig = draw(**values)
        plot.value = figure_png(fig)
        plt.close(fig)   # not shown again by the inline backend

    explorer = widgets.interactive(redraw, **controls)
    explorer.children += (plot,)
    shown = display(explorer, display_id=True)
    _fall_back_when_rejected(explorer, shown, plot)
    return None


def figure_png(fig: plt.Figure) -> bytes:
    """The PNG JupyterLab's inline backend would show for ``fig``."""
    image = io.BytesIO()
    fig.savefig(image, format="png", bbox_inches="tight")
    return image.getvalue()


WIDGETS_REJECTED = (
    "Widgets could not connect to this kernel, so this explorer has no sliders. A JupyterLab page gives a kernel's "
    "widget channel to its first tab that connects to it; here that tab cannot show widgets: usually this .py opened "
    "as text (Open With > Editor) while its kernel ran. Restarting the kernel or re-running does not help. Close that "
    "tab, reload the page, and re-run this cell. Below: the explorer's figure as drawn.")


def _fall_back_when_rejected(explorer, shown, plot) -> None:
    """Replace the displayed explorer by ``WIDGETS_REJECTED`` and its current figure the moment a frontend closes
    one of its widget comms.

    In a JupyterLab page only the first connection to a kernel handles comms (KernelManager.connectTo). Opening the
    notebook's own .py as text while its kernel runs connects the page to that session first, with no widget
    manager: it refuses every widget comm the kernel opens ("Exception opening new comm") and closes it, while the
    notebook's connection ignores comms and shows "Error displaying widget: model not found". A kernel restart
    keeps these connections; a page reload without the text tab does not. JupyterLab's widget manager (3.0) never
    closes a kernel-created widget's comm itself, so a close from a frontend means the widgets are lost. A
    kernel-side close (``widget.close()``) does not call this: comm.on_close runs only for the frontend's.
    The update reaches the finished cell: JupyterLab applies display_id updates to the outputs showing that id."""
    fallen = []

    def on_close(msg):
        if fallen:
            return
        fallen.append(msg)
        png = base64.b64encode(plot.value).decode("ascii")
        shown.update({"text/plain": WIDGETS_REJECTED,
                      "text/html": f'<div class="mdlm-widgets-rejected"><p><b>{html.escape(WIDGETS_REJECTED)}</b></p>'
                                   f'<img src="data:image/png;base64,{png}"></div>'}, raw=True)
        for widget in explorer.children + (explorer,):
            widget.close()   # their comms are gone: forget them kernel-side too

    for widget in explorer.children + (explorer,):
        widget.comm.on_close(on_close)


def draw_signal_window(k: int = 6, window: tuple[float, float] = (0.0, 0.246)) -> plt.Figure:
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


def signal_window_explorer(k: int = 6, window: tuple[float, float] = (0.0, 0.246)):
    """Sliders for k and the two ends of the mask-ratio window over the signal curve (notebook 01)."""
    t0, t1 = (snap(x, WINDOW_STEP) for x in sorted(window))
    controls = {}
    if not is_headless():
        import ipywidgets as widgets

        slider = dict(min=0.0, max=1.0, step=WINDOW_STEP, readout_format=".3f", continuous_update=False,
                      style={"description_width": "6em"}, layout=widgets.Layout(width="30em"))
        controls = {"k": widgets.IntSlider(min=1, max=16, description="k", style={"description_width": "6em"},
                                           layout=widgets.Layout(width="30em")),
                    "t0": widgets.FloatSlider(description="window from", **slider),
                    "t1": widgets.FloatSlider(description="window to", **slider)}
    return explore(lambda k, t0, t1: draw_signal_window(k, (t0, t1)), controls, {"k": k, "t0": t0, "t1": t1})


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
    """Sliders for L, K and the code's codimension L - d over the schedules of notebook 05. K's range follows
    L (K <= L) and so does the codimension's (L - d < L): moving L clamps them, and the titles say what is drawn."""
    if not 10 <= length <= 2000 or not 1 <= rounds <= length or not 1 <= codimension < length:
        raise ValueError(f"schedule_explorer needs 1 <= K <= L and 1 <= L - d < L; got L = {length}, K = {rounds}, "
                         f"L - d = {codimension}")
    length = int(snap(length, 10, 10))  # the L slider's grid
    controls = {}
    if not is_headless():
        import ipywidgets as widgets

        style, layout = {"description_width": "4em"}, widgets.Layout(width="34em")
        controls = {"length": widgets.IntSlider(min=10, max=2000, step=10, description="L", continuous_update=False,
                                                style=style, layout=layout),
                    "rounds": widgets.IntSlider(min=1, max=length, description="K", continuous_update=False,
                                                style=style, layout=layout),
                    "codimension": widgets.IntSlider(min=1, max=length - 1, description="L - d",
                                                     continuous_update=False, style=style, layout=layout),
                    "alphabet": widgets.fixed(alphabet)}

    def follow_length(controls):
        def on_length(change):
            controls["rounds"].max = change["new"]            # ipywidgets clamps the value with the range
            controls["codimension"].max = change["new"] - 1

        controls["length"].observe(on_length, names="value")

    return explore(draw_schedule_comparison, controls,
                   {"length": length, "rounds": rounds, "codimension": codimension, "alphabet": alphabet},
                   link=follow_length)


def draw_sft_curves(metrics, task: str, windows: tuple[str, ...], last_step: int) -> plt.Figure:
    """Mean (over seeds) eval accuracy of ``task`` and SFT loss against step for the chosen windows."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    shown = metrics[metrics.window.isin(windows) & (metrics.step <= last_step)]
    curves = shown.groupby(["window", "step"], as_index=False).mean(numeric_only=True)
    for i, window in enumerate(windows):
        sub = curves[curves.window == window]
        ax.plot(sub.step, sub[f"{task}_acc"], marker="o", ms=3, color=f"C{i}", label=window)
        sub = sub[sub.step > 0]
        ax2.plot(sub.step, sub.train_loss, color=f"C{i}", label=window)
    n_seeds = metrics.seed.nunique() if "seed" in metrics else 1
    ax.set(xlabel="SFT step", ylabel=f"{task} accuracy", title=f"{task}: eval accuracy (mean of {n_seeds} seeds)")
    ax2.set(xlabel="SFT step", ylabel="SFT loss on its own window", yscale="log", title="training loss")
    ax.legend(fontsize=8, title="window")
    return fig


_STYLE = {"description_width": "6em"}   # the explorers over saved curves share their look


def _up_to_step_slider(widgets, steps):
    """The slider of an explorer over saved training curves: the last logged step shown."""
    return widgets.SelectionSlider(options=steps, value=steps[-1], description="up to step", continuous_update=False,
                                   style=_STYLE, layout=widgets.Layout(width="34em"))


def sft_curves_explorer(metrics):
    """Pick a task, the windows to compare and the last step shown, over notebook 04's saved training curves
    (the ``04_sft_training_curves`` table: window, seed, step, <task>_acc, train_loss)."""
    tasks = [c[:-len("_acc")] for c in metrics.columns if c.endswith("_acc")]
    windows = tuple(dict.fromkeys(metrics.window))
    steps = sorted(metrics.step.unique())
    if not tasks or not windows or len(steps) < 2:
        raise ValueError("sft_curves_explorer needs the training-curves table with <task>_acc columns, windows and "
                         "at least two logged steps (run notebook 04's training cells first)")
    controls = {}
    if not is_headless():
        import ipywidgets as widgets

        controls = {"metrics": widgets.fixed(metrics),
                    "task": widgets.Dropdown(options=tasks, description="task", style=_STYLE),
                    "windows": widgets.SelectMultiple(options=windows, rows=min(6, len(windows)),
                                                      description="windows", style=_STYLE),
                    "last_step": _up_to_step_slider(widgets, steps)}
    return explore(draw_sft_curves, controls,
                   {"metrics": metrics, "task": tasks[0], "windows": windows, "last_step": steps[-1]})


def draw_parity_curves(metrics, family: str, window: str, seeds: tuple, last_step: int) -> plt.Figure:
    """Train (dashed) and test (solid) accuracy of the chosen parity runs, up to ``last_step``."""
    runs = metrics[(metrics.family == family) & (metrics.window == window) & metrics.seed.isin(list(seeds))
                   & (metrics.step <= last_step)]
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    for seed, curve in runs.groupby("seed"):
        ax.plot(curve.step, curve.train_acc, ls="--", color=f"C{seed % 10}")
        ax.plot(curve.step, curve.test_acc, color=f"C{seed % 10}", label=f"seed {seed}")
    what = "supervised" if window == "supervised" or window == "-" else f"MD {window}"
    ax.set(title=f"{family}: {what} (dashed: train, solid: test)", xlabel="step", ylabel="accuracy",
           ylim=(0.4, 1.02), xlim=(0, last_step))
    if len(runs):
        ax.legend(fontsize=8, ncol=2)
    return fig


def parity_curves_explorer(metrics):
    """Pick a model family, an objective / window, seeds and the last step shown, over notebook 02's saved
    curves (the ``02_parity_metrics`` table: family, window, seed, step, train_acc, test_acc)."""
    families = sorted(metrics.family.unique())
    windows = tuple(dict.fromkeys(metrics.window))
    seeds = tuple(sorted(metrics.seed.unique()))
    steps = sorted(metrics.step.unique())
    if not families or not windows or len(steps) < 2:
        raise ValueError("parity_curves_explorer needs notebook 02's metrics table with family, window, seed and at "
                         "least two logged steps (run notebook 02's training cells first)")
    controls = {}
    if not is_headless():
        import ipywidgets as widgets

        controls = {"metrics": widgets.fixed(metrics),
                    "family": widgets.Dropdown(options=families, description="family", style=_STYLE),
                    "window": widgets.Dropdown(options=windows, description="objective", style=_STYLE),
                    "seeds": widgets.SelectMultiple(options=seeds, value=seeds[:4], rows=min(6, len(seeds)),
                                                    description="seeds", style=_STYLE),
                    "last_step": _up_to_step_slider(widgets, steps)}
    return explore(draw_parity_curves, controls, {"metrics": metrics, "family": families[0], "window": windows[0],
                                                  "seeds": seeds[:4], "last_step": steps[-1]})
