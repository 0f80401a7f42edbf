"""The generic helpers behind every explorer (ipywidgets in JupyterLab, a static fallback elsewhere) and the
claims-table display the notebooks share. Each experiment owns its explorer (``experiment.explorer(results)``).

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
