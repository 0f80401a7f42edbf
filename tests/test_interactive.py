"""The explorers' first frames, slider constraints and the claims display (no browser: tests/test_browser.py)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from mdlm_core.companion import interactive
from mdlm_core.theory.signal import optimal_window_upper


@pytest.fixture(autouse=True)
def headless(monkeypatch):
    monkeypatch.setenv(interactive.HEADLESS_ENV, "1")
    yield
    plt.close("all")


def test_snap_puts_values_on_the_slider_grid():
    assert interactive.snap(0.2459, 0.001) == 0.246
    assert interactive.snap(0.2459, 0.005) == 0.245
    assert interactive.snap(204, 10, 10) == 200
    assert interactive.snap(37, 10, 10) == 40


def test_signal_first_frame_agrees_with_its_title():
    """The optimum t1 ~ 0.2459 snapped to the slider grid gives the same 3-decimal average as the title's."""
    interactive.signal_window_explorer(k=6, window=(0.0, optimal_window_upper(6)))
    ax = plt.gcf().axes[0]
    title = ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    average = next(t for t in legend if t.startswith("window average")).split("= ")[1]
    assert title.endswith(f"with {average}"), (title, legend)
    assert "window U[0.000, 0.246]" in legend


def test_schedule_explorer_rejects_impossible_defaults():
    with pytest.raises(ValueError, match="K <= L"):
        interactive.schedule_explorer(length=10, rounds=40, codimension=5, alphabet=2)
    with pytest.raises(ValueError, match="L - d < L"):
        interactive.schedule_explorer(length=10, rounds=5, codimension=10, alphabet=2)


def test_schedule_sliders_follow_length(monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv(interactive.HEADLESS_ENV, "0")
    monkeypatch.setattr(interactive, "explore", lambda draw, controls, defaults, link=None: (link(controls), controls)[1])
    controls = interactive.schedule_explorer(length=200, rounds=40, codimension=150, alphabet=2)
    controls["length"].value = 200
    controls["rounds"].value, controls["codimension"].value = 40, 150
    controls["length"].value = 30
    assert controls["rounds"].max == 30 and controls["rounds"].value == 30
    assert controls["codimension"].max == 29 and controls["codimension"].value == 29
    controls["length"].value = 500
    assert controls["rounds"].max == 500 and controls["codimension"].max == 499


def test_sft_explorer_draws_the_chosen_curves():
    metrics = pd.DataFrame(dict(window=["[0,1]"] * 4 + ["[0.5,1]"] * 4, seed=[0, 0, 1, 1] * 2, step=[0, 10] * 4,
                                sst2_acc=[0.5, 0.6, 0.5, 0.8, 0.5, 0.55, 0.5, 0.65], train_loss=[2, 1, 2, 0.5] * 2))
    interactive.sft_curves_explorer(metrics)
    acc_ax = plt.gcf().axes[0]
    assert [line.get_label() for line in acc_ax.get_lines()] == ["[0,1]", "[0.5,1]"]
    assert list(acc_ax.get_lines()[0].get_ydata()) == pytest.approx([0.5, 0.7])   # mean over the two seeds
    with pytest.raises(ValueError, match="training-curves table"):
        interactive.sft_curves_explorer(metrics.drop(columns="sst2_acc"))


def test_show_claims_shows_every_cell_in_full():
    long_note = "a note " * 80
    claims = pd.DataFrame(dict(claim=["c1", "c2"], verdict=["checked", "reproduced"], p_value=[0.01234, None],
                               notes=[long_note, "short"]))
    with pd.option_context("display.max_colwidth", 10, "display.max_columns", 2):
        html = interactive.show_claims(claims).to_html()
    assert long_note.strip() in html and "..." not in html and "…" not in html
    assert "white-space: pre-wrap" in html and "0.012" in html


class FakeDisplay:
    """IPython's display(obj, display_id=True) and the handle's update(), recorded (no kernel in unit tests)."""

    def __init__(self):
        self.shown, self.updates = [], []

    def __call__(self, obj, display_id=False):
        assert display_id is True, "the explorer must be displayed with a display_id to be replaceable"
        self.shown.append(obj)
        return self

    def update(self, bundle, raw=False):
        self.updates.append(bundle)


@pytest.fixture
def live(monkeypatch):
    """Explorers as in JupyterLab: widgets on (outside a kernel ipywidgets uses comm's dummy comms)."""
    pytest.importorskip("ipywidgets")
    import IPython.display

    monkeypatch.setenv(interactive.HEADLESS_ENV, "0")
    fake = FakeDisplay()
    monkeypatch.setattr(IPython.display, "display", fake)
    return fake


def _png_of(explorer):
    import ipywidgets as widgets
    return bytes(next(w for w in explorer.children if isinstance(w, widgets.Image)).value)


def test_live_explorer_draws_its_plot_into_an_image_and_redraws(live):
    assert interactive.signal_window_explorer(k=6) is None   # it displays itself
    (explorer,) = live.shown
    first = _png_of(explorer)
    assert first.startswith(b"\x89PNG")
    explorer.children[0].value = 3   # the k slider
    assert _png_of(explorer).startswith(b"\x89PNG") and _png_of(explorer) != first
    assert not plt.get_fignums(), "the explorer leaves figures open for the inline backend to show again"
    assert not live.updates


def test_explorer_falls_back_when_the_frontend_closes_its_widgets(live):
    import base64

    interactive.signal_window_explorer(k=6)
    (explorer,) = live.shown
    png = _png_of(explorer)
    slider = explorer.children[1]
    comms = [slider.comm, explorer.comm]
    for comm in comms:   # what a frontend that refuses the widgets sends, comm by comm
        comm.handle_close({"content": {"comm_id": comm.comm_id, "data": {}}})
    (bundle,) = live.updates   # replaced once, whichever comm closes first
    assert bundle["text/plain"] == interactive.WIDGETS_REJECTED
    assert "reload the page" in bundle["text/html"] and "Restarting the kernel" in bundle["text/html"]
    assert base64.b64encode(png).decode() in bundle["text/html"]   # the figure as it was drawn
    assert explorer.comm is None and slider.comm is None   # closed kernel-side too


def test_explorer_closed_by_the_kernel_shows_no_warning(live):
    interactive.schedule_explorer(length=40, rounds=10, codimension=3, alphabet=2)
    (explorer,) = live.shown
    explorer.close()
    for widget in explorer.children:
        widget.close()
    assert not live.updates
