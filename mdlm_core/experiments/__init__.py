"""The experiments: one module per notebook, each the same five-part contract, all listed in ``REGISTRY``.

Every ``mdlm_core.experiments.<name>`` module exposes

``NOTEBOOK``
    the notebook it backs, e.g. ``"03_wikitext_u_curve"`` (its claims file and figure prefix);
``Config``
    a frozen dataclass, nested where it has parts (model, training, data, tasks), defaults owned by each part;
``PROFILES``
    ``{"smoke": Config(...), "quick": Config(...), "paper": Config(...)}``;
``run(cfg, out) -> Results``
    every training run, evaluation and table of the experiment (tables are written through ``out``, an
    ``companion.Outputs``); ``Results`` is plain data (frames, numbers) that a test can also build by hand;
``claims(results) -> list[Claim]``
    the claims table, by the pre-declared rules of ``companion.verdicts``;
``figures(results, out) -> dict[str, Figure]``
    every figure, saved through ``out`` under its paper-figure name and returned for display;

and, where it has one, ``explorer(results)`` (the notebook's interactive widget). The paper's numbers for an
experiment live in its module, once. Experiments import the library and the companion's verdicts and outputs,
never one another: an input one experiment takes from another (notebook 04's base model from 03, 06's Beta fit
from 03) is named in its ``Config`` and read through the run cache or ``Outputs.read_table``.

A notebook is then its parameters, ``cfg = config_for_profile(experiment.PROFILES, profile, ...)``,
``results = experiment.run(cfg, out)``, the figures with prose, the claims table and the explorer::

    from mdlm_core.experiments import REGISTRY
    experiment = REGISTRY["u_curve"]          # imported on first use
    cfg = experiment.PROFILES["smoke"]
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType

# notebook order; the values are module names below this package
_MODULES = {
    "signal_curve": "01_signal_curve",
    "parity_grokking": "02_parity_grokking",
    "u_curve": "03_wikitext_u_curve",
    "sft_windows": "04_sft_windows",
    "unmasking_schedules": "05_unmasking_schedules",
    "adaptive_mask_ratio": "06_adaptive_mask_ratio",
    "window_mechanism": "07_window_mechanism",
}
CONTRACT = ("NOTEBOOK", "Config", "PROFILES", "run", "claims", "figures")


class Registry(Mapping):
    """name -> experiment module, in notebook order; a module is imported when first looked up."""

    def __getitem__(self, name: str) -> ModuleType:
        if name not in _MODULES:
            raise KeyError(f"no experiment {name!r}: the experiments are {', '.join(_MODULES)}")
        return importlib.import_module(f".{name}", __name__)

    def __iter__(self):
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)

    def by_notebook(self, notebook: str) -> ModuleType:
        """The experiment of a notebook, by its name (``"03_wikitext_u_curve"``) or number (``"03"``)."""
        for name, nb in _MODULES.items():
            if notebook in (nb, nb[:2]):
                return self[name]
        raise KeyError(f"no experiment backs notebook {notebook!r}: the notebooks are {', '.join(_MODULES.values())}")

    def __repr__(self) -> str:
        return "REGISTRY(" + ", ".join(f"{nb}: {name}" for name, nb in _MODULES.items()) + ")"


REGISTRY = Registry()


def __getattr__(name: str) -> ModuleType:
    if name in _MODULES:   # ``experiments.u_curve`` keeps working as an attribute
        return REGISTRY[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["REGISTRY", "CONTRACT", *_MODULES]
