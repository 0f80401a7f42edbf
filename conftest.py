"""Collect every numbered jupytext notebook (notebooks/NN_*.py) as an nbval test under the smoke profile.

Each source is converted with jupytext, parameterised with papermill (profile = "smoke", injected after
the cell tagged "parameters", exactly as reproduce.sh does) and handed to nbval in lax mode: a cell that
raises fails the test, outputs are not compared. Figures go to a throw-away directory, never to figures/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from _pytest.compat import legacy_path
from nbval.plugin import IPyNbFile
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

ROOT = Path(__file__).parent
NOTEBOOK = re.compile(r"^\d\d_[\w-]+\.py$")
BUILD = ROOT / "build" / "nbval"


def pytest_configure(config):
    os.environ.setdefault("MDLM_FIGURES_DIR", str(BUILD / "figures"))
    os.environ.setdefault("MDLM_CACHE_DIR", str(BUILD / "cache"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("MDLM_HEADLESS", "1")
    # the loaders fall back to the user cache (~/.cache/mdlm_core/data): keep tests from reading or writing it
    os.environ["XDG_CACHE_HOME"] = str(BUILD / "xdg-cache")
    shared = ROOT.parent / "shared" / "data"  # the data beside the checkout, as reproduce.sh and .ci/run use
    if "MDLM_DATA_DIR" not in os.environ and shared.is_dir():
        os.environ["MDLM_DATA_DIR"] = str(shared)


class JupytextNotebook(IPyNbFile):
    """An nbval notebook whose node path is the jupytext .py source (so `pytest notebooks/01_x.py` selects
    it) while nbval reads and runs the converted, parameterised copy in build/nbval/."""

    converted: Path

    @property
    def fspath(self):
        return legacy_path(self.converted)


def pytest_collect_file(parent, file_path):
    if file_path.parent.name != "notebooks" or not NOTEBOOK.match(file_path.name):
        return None
    BUILD.mkdir(parents=True, exist_ok=True)
    target = BUILD / f"{file_path.stem}.ipynb"
    nbformat.write(jupytext.read(file_path), target)
    # load_notebook_node adds the metadata papermill expects (tags lists, a papermill section)
    nbformat.write(parameterize_notebook(load_notebook_node(str(target)), {"profile": "smoke"}), target)
    node = JupytextNotebook.from_parent(parent, path=file_path)
    node.converted = target
    return node


class _NotAModule(pytest.File):
    """Stops pytest from importing a notebook source as a Python test module when it is named on the
    command line (importing it would execute the whole notebook at its default profile)."""

    def collect(self):
        return []


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.parent.name == "notebooks" and NOTEBOOK.match(module_path.name):
        return _NotAModule.from_parent(parent, path=module_path)
    return None
