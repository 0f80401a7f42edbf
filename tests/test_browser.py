"""JupyterLab as a researcher meets it, in a real browser (Playwright driving Debian's Chromium).

One JupyterLab server on 127.0.0.1 serves the checkout. For every numbered notebook the test opens
``/lab/tree/notebooks/NN_x.py`` (what a double-click does), asserts it opened as a notebook, not as text,
adds ``profile = "smoke"`` to its parameters cell, runs every cell, asserts no cell output is an error, moves
one slider in every explorer (ipywidgets ``interactive``) and asserts that the explorer's plot image changes;
finally undoes the profile edit, saves, checks the ``.py`` is byte-identical and that closing asks nothing.
(Opening already marks a notebook modified: JupyterLab adds the kernel's language_info, which jupytext.toml
keeps out of the .py.)

Needs ``playwright`` (pip, dev extras) and ``/usr/bin/chromium`` (Debian's ``chromium``; ``.ci/run`` installs it,
never ``playwright install``). Without them the test is skipped with the command that fixes it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.py") if re.match(r"^\d\d_[\w-]+\.py$", p.name))
CHROMIUM = os.environ.get("MDLM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_S = 90
RUN_ALL_S = 600          # per notebook at the smoke profile (nbval runs each in seconds to a few minutes)
REDRAW_S = 60            # a slider move must redraw within this
SMOKE = '\nprofile = "smoke"  # set by tests/test_browser.py'

IN_CI = os.environ.get("CI") == "true"   # .ci/run installs Chromium and sets the default viewer: never skip there


def default_viewer_is_set() -> bool:
    """Has this user run `jupytext-config set-default-viewer python` (the README's JupyterLab step)?"""
    from jupyter_core.paths import jupyter_config_dir
    overrides = Path(jupyter_config_dir()) / "labconfig" / "default_setting_overrides.json"
    return overrides.is_file() and "Jupytext Notebook" in overrides.read_text()


def _skip_unless_ci(reason: str) -> None:
    if IN_CI:
        raise RuntimeError(f"CI needs the browser test: {reason}")
    pytest.skip(reason, allow_module_level=True)


playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' (playwright)")
if not Path(CHROMIUM).exists():
    _skip_unless_ci(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (as root), or set MDLM_CHROMIUM")
if not default_viewer_is_set():
    _skip_unless_ci("JupyterLab opens .py files as text for this user: run `jupytext-config set-default-viewer python` "
                    "(README, 'Explore in JupyterLab')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving the checkout; always stopped at the end."""
    port, token = free_port(), os.urandom(16).hex()
    scratch = tmp_path_factory.mktemp("browser")
    settings = scratch / "user-settings"
    (settings / "@jupyterlab" / "docmanager-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    env = dict(os.environ, MDLM_FIGURES_DIR=str(scratch / "figures"), MDLM_CACHE_DIR=str(scratch / "cache"),
               MDLM_PROFILE="smoke", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for interactive_off in ("MDLM_HEADLESS", "MPLBACKEND"):   # the kernel must draw inline, with live widgets
        env.pop(interactive_off, None)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
           f"--LabApp.workspaces_dir={scratch / 'workspaces'}",  # no tabs restored from other sessions
           f"--LabApp.user_settings_dir={settings}",  # autosave off: the smoke edit never reaches the disk
           "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: read the model, run commands
           "--ServerApp.open_browser=False", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
           "jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(scratch / "jupyterlab.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start: see {scratch / 'jupyterlab.log'}")
                time.sleep(0.5)
        yield base, token
    finally:
        os.killpg(server.pid, signal.SIGTERM)   # the server and the kernels it started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    profile_dir = tempfile.mkdtemp(prefix="mdlm-chromium-")
    with playwright_api.sync_playwright() as pw:
        # a new, empty --user-data-dir (Playwright passes it for a persistent context)
        context = pw.chromium.launch_persistent_context(profile_dir, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                        headless=True, viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile_dir, ignore_errors=True)


CURRENT = "window.jupyterapp.shell.currentWidget"


def open_notebook(page, base: str, token: str, name: str):
    """Open notebooks/<name> by its /lab/tree link and wait until JupyterLab shows it (as whatever it opens)."""
    page.goto(f"{base}/lab/tree/notebooks/{name}?token={token}")
    page.wait_for_function(f"window.jupyterapp && {CURRENT} && {CURRENT}.context && {CURRENT}.context.path.endsWith({name!r})"
                           f" && {CURRENT}.context.isReady", timeout=150_000)
    return page.evaluate(f"{CURRENT}.hasClass('jp-NotebookPanel')")


def close_current(page) -> bool:
    """Close the current document; True when JupyterLab asked about saving (the dialog is then discarded)."""
    page.evaluate("window.jupyterapp.commands.execute('application:close')")
    try:
        page.wait_for_selector(".jp-Dialog", timeout=2_000)
    except playwright_api.TimeoutError:
        return False
    page.click(".jp-Dialog button:has-text('Discard')")
    page.wait_for_selector(".jp-Dialog", state="detached")
    return True


def explorer_images(page) -> list[str]:
    """The current plot image (src) of each explorer (ipywidgets interactive) in the notebook."""
    return page.eval_on_selector_all(".widget-interact", "els => els.map(e => { const i = e.querySelector('img');"
                                                         " return i ? i.src : ''; })")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_in_jupyterlab(lab, browser, notebook):
    base, token = lab
    source = notebook.read_bytes()
    page = browser.new_page()
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    try:
        # 1. the link (and a double-click: same default viewer) opens a notebook
        assert open_notebook(page, base, token, notebook.name), (
            f"{notebook.name} opened as text, not as a notebook: set the default viewer "
            "(jupytext-config set-default-viewer python; README, 'Explore in JupyterLab')")
        page.wait_for_function(f"{CURRENT}.sessionContext.session && {CURRENT}.sessionContext.session.kernel", timeout=60_000)

        # 2. set the smoke profile in the parameters cell, run everything
        tagged = page.evaluate(f"""() => {{
            const cells = {CURRENT}.content.model.cells;
            for (let i = 0; i < cells.length; i++) {{
                const c = cells.get(i);
                if ((c.getMetadata('tags') || []).includes('parameters')) {{
                    c.sharedModel.setSource(c.sharedModel.getSource() + {SMOKE!r});
                    return i;
                }}
            }}
            return -1; }}""")
        assert tagged >= 0, f"{notebook.name} has no cell tagged 'parameters'"
        page.evaluate(f"{CURRENT}.sessionContext.ready")
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(f"""() => {{
            const n = {CURRENT}; const cells = n.content.model.cells;
            if (n.sessionContext.session.kernel.status !== 'idle') return false;
            for (let i = 0; i < cells.length; i++) {{
                const c = cells.get(i);
                if (c.type === 'code' && c.outputs.toJSON().some(o => o.output_type === 'error')) return true;
                if (c.type === 'code' && c.sharedModel.getSource().trim() && !c.executionCount) return false;
            }}
            return true; }}""", timeout=RUN_ALL_S * 1000, polling=1000)
        errors = page.evaluate(f"""() => {{
            const cells = {CURRENT}.content.model.cells; const out = [];
            for (let i = 0; i < cells.length; i++) {{
                const c = cells.get(i);
                if (c.type !== 'code') continue;
                for (const o of c.outputs.toJSON()) if (o.output_type === 'error') out.push(`cell ${{i}}: ${{o.ename}}: ${{o.evalue}}`);
            }}
            return out; }}""")
        assert not errors, f"{notebook.name}: " + "; ".join(errors)
        assert not page.locator("text=Error displaying widget").count(), f"{notebook.name}: a widget failed to render"

        # 3. every explorer redraws when one of its sliders moves
        page.wait_for_timeout(1_000)
        before = explorer_images(page)
        expected = len(re.findall(r"^[^#\n]*_explorer\(", notebook.read_text(), flags=re.M))
        assert len(before) == expected, f"{notebook.name}: {len(before)} explorers rendered, {expected} in the source"
        for i, image in enumerate(before):
            assert image, f"{notebook.name}: explorer {i} shows no plot"
            explorer = page.locator(".widget-interact").nth(i)
            explorer.scroll_into_view_if_needed()
            handle = explorer.locator(".noUi-handle").first
            handle.focus()
            at_max = float(handle.get_attribute("aria-valuenow")) >= float(handle.get_attribute("aria-valuemax"))
            for _ in range(3):
                handle.press("ArrowLeft" if at_max else "ArrowRight")
            try:
                page.wait_for_function(f"""() => {{ const e = document.querySelectorAll('.widget-interact')[{i}];
                    const img = e && e.querySelector('img'); return img && img.src && img.src !== {image!r}; }}""",
                                       timeout=REDRAW_S * 1000)
            except playwright_api.TimeoutError:
                pytest.fail(f"{notebook.name}: explorer {i} did not redraw within {REDRAW_S} s of a slider move")

        # 4. undo the profile edit and save: the .py is byte-identical (header included); closing asks nothing
        page.evaluate(f"""() => {{ const c = {CURRENT}.content.model.cells.get({tagged});
            c.sharedModel.setSource(c.sharedModel.getSource().slice(0, -{len(SMOKE)})); }}""")
        page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function(f"!{CURRENT}.context.model.dirty", timeout=30_000)
        assert notebook.read_bytes() == source, f"saving the unedited {notebook.name} changed it on disk"
        assert not close_current(page), f"closing the saved {notebook.name} asked to save"
    finally:
        page.close()
        if notebook.read_bytes() != source:   # never leave a test's edit in the checkout
            notebook.write_bytes(source)
    comm_errors = [m for m in console_errors if "Exception opening new comm" in m]
    assert not comm_errors, f"{notebook.name}: {len(comm_errors)} comm errors in the browser console"
