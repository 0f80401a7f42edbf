"""The explorers' first frames, slider constraints and the claims display (no browser: tests/test_browser.py)."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from mdlm_core.companion import interactive
from mdlm_core.experiments import sft_windows, signal_curve, unmasking_schedules


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


def test_sft_explorer_draws_the_chosen_curves():
    metrics = pd.DataFrame(dict(window=["[0,1]"] * 4 + ["[0.5,1]"] * 4, seed=[0, 0, 1, 1] * 2, step=[0, 10] * 4,
                                sst2_acc=[0.5, 0.6, 0.5, 0.8, 0.5, 0.55, 0.5, 0.65], train_loss=[2, 1, 2, 0.5] * 2))
    sft_windows.sft_curves_explorer(metrics)
    acc_ax = plt.gcf().axes[0]
    assert [line.get_label() for line in acc_ax.get_lines()] == ["[0,1]", "[0.5,1]"]
    assert list(acc_ax.get_lines()[0].get_ydata()) == pytest.approx([0.5, 0.7])   # mean over the two seeds
    with pytest.raises(ValueError, match="training-curves table"):
        sft_windows.sft_curves_explorer(metrics.drop(columns="sst2_acc"))


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


# the explorers read only their results' config
SIGNAL_RESULTS = SimpleNamespace(config=signal_curve.PROFILES["quick"])
SCHEDULE_RESULTS = SimpleNamespace(config=unmasking_schedules.PROFILES["smoke"])


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
    assert signal_curve.explorer(SIGNAL_RESULTS) is None   # it displays itself
    (explorer,) = live.shown
    first = _png_of(explorer)
    assert first.startswith(b"\x89PNG")
    explorer.children[0].value = 3   # the k slider
    assert _png_of(explorer).startswith(b"\x89PNG") and _png_of(explorer) != first
    assert not plt.get_fignums(), "the explorer leaves figures open for the inline backend to show again"
    assert not live.updates


def test_explorer_falls_back_when_the_frontend_closes_its_widgets(live):
    import base64

    signal_curve.explorer(SIGNAL_RESULTS)
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
    unmasking_schedules.explorer(SCHEDULE_RESULTS, length=40, rounds=10, codimension=3)
    (explorer,) = live.shown
    explorer.close()
    for widget in explorer.children:
        widget.close()
    assert not live.updates
