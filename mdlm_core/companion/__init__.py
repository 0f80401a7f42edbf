"""The companion machinery: profiles, outputs, verdicts, figure names, the report, the pipeline behind
``reproduce.sh`` and the JupyterLab explorers (which load matplotlib and ipywidgets only when used)."""

from . import figure_names
from .outputs import Outputs, cache_dir, figures_dir, save_claims, save_figure, save_table
from .profiles import PROFILES, config_for_profile, resolve_profile
from .verdicts import Claim, TestResult

__all__ = [name for name in dir() if not name.startswith("_")]
