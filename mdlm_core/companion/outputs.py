"""Where results go, written atomically: figures, result tables and the claims table every notebook ends with.

Figures of the default ``quick`` profile go to ``figures/`` (committed, shown in the README); other
profiles write to ``figures/<profile>/`` so a smoke run never overwrites them. ``$MDLM_FIGURES_DIR``
moves the whole tree (tests point it at a temporary directory). Every file is written to a temporary
name in the same directory and renamed into place, so an interrupted run never leaves half a figure.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

from ..io import PARTIAL, atomic_path, cache_dir, cache_root, remove_partials, write_text  # noqa: F401 (re-exported)
from .profiles import DEFAULT_PROFILE, resolve_profile
from .verdicts import Claim, apply_fdr_by_notebook


def project_root() -> Path:
    """The checkout holding ``reproduce.sh`` (searched upwards from the working directory), else cwd."""
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "reproduce.sh").is_file() and (candidate / "mdlm_core").is_dir():
            return candidate
    return here


FIGURES_ENV = "MDLM_FIGURES_DIR"


def figures_base() -> Path:
    """The folder holding every profile's figures: ``$MDLM_FIGURES_DIR`` or ``figures/`` in the checkout."""
    return Path(os.environ.get(FIGURES_ENV, project_root() / "figures"))


def figures_dir(profile: str | None = None, base: Path | None = None) -> Path:
    profile = resolve_profile(profile)
    base = figures_base() if base is None else base
    path = base if profile == DEFAULT_PROFILE else base / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


# The pipeline writes each notebook into a staging folder (``$MDLM_FIGURES_DIR``) and promotes it when the notebook
# finishes; what other notebooks wrote is read from the promoted figures, named here.
INPUTS_ENV = "MDLM_INPUT_FIGURES_DIR"


def inputs_dir(profile: str | None = None) -> Path:
    """Where another notebook's tables are read from: ``$MDLM_INPUT_FIGURES_DIR`` (set by the pipeline), else the
    figures folder itself."""
    base = os.environ.get(INPUTS_ENV)
    return figures_dir(profile, Path(base) if base else None)


@contextmanager
def figure_style():
    """The notebooks' seaborn look for the figures drawn inside; matplotlib's settings are restored after."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    with plt.rc_context():
        sns.set_theme(style="whitegrid", context="notebook")
        yield


def draw_and_save(results, out: "Outputs", drawers) -> dict:
    """Each ``drawers[name](results)`` drawn in ``figure_style``, saved through ``out`` under its name, and closed
    (the notebook displays each where its prose is); returns {name: figure}."""
    import matplotlib.pyplot as plt

    drawn = {}
    with figure_style():
        for name, draw in drawers.items():
            drawn[name] = draw(results)
            out.figure(drawn[name], name)
            plt.close(drawn[name])
    return drawn


def save_figure(fig, name: str, profile: str | None = None) -> list[Path]:
    """Save ``fig`` as ``<figures>/<name>.png`` and ``.pdf``, atomically; returns both paths."""
    out = []
    for ext in ("png", "pdf"):
        path = figures_dir(profile) / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            # no CreationDate in PDFs: a rerun must not change a tracked byte
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight",
                        metadata={"CreationDate": None} if ext == "pdf" else None)
        out.append(path)
    return out


def save_table(df, name: str, profile: str | None = None) -> Path:
    """Save a pandas DataFrame as ``<figures>/data/<name>.csv``, atomically."""
    path = figures_dir(profile) / "data" / f"{name}.csv"
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path


CLAIM_COLUMNS = ["claim", "kind", "verdict", "paper", "ours", "test", "statistic", "p_value", "p_opposite", "q_value",
                 "z", "n_seeds", "mde", "gate", "figure", "notes"]


def save_claims(notebook: str, claims: Sequence[Claim], profile: str | None = None):
    """Write the claims to ``<figures>/claims/<notebook>.json``, then apply the report-wide false-discovery rate
    (``verdicts.apply_fdr``) over every notebook's claims file of the profile, rewriting atomically each file whose
    q-values or verdicts it changed, so all files agree after any notebook run. Returns this notebook's final
    claims as a DataFrame."""
    import pandas as pd

    profile = resolve_profile(profile)
    folder = figures_dir(profile) / "claims"
    # under the pipeline this notebook writes into its staging folder: the others' claims are the promoted ones,
    # and their files rewritten here are promoted with this notebook's
    sources = {path.stem: path for path in sorted((inputs_dir(profile) / "claims").glob("*.json"))}
    sources |= {path.stem: path for path in sorted(folder.glob("*.json"))}
    saved = {name: path.read_text() for name, path in sources.items()}
    by_notebook = {name: json.loads(text) for name, text in saved.items() if name != notebook}
    by_notebook[notebook] = [{**c.to_dict(), "profile": profile, "notebook": notebook} for c in claims]
    final = apply_fdr_by_notebook(by_notebook)
    for name, rows in final.items():
        text = json.dumps(rows, indent=2) + "\n"
        if saved.get(name) != text or name == notebook:
            write_text(folder / f"{name}.json", text)
    return pd.DataFrame(final[notebook]).reindex(columns=CLAIM_COLUMNS)


class Outputs:
    """Where one notebook run writes, bound to its profile once: ``out = Outputs(profile)``, then
    ``out.figure(fig, FIG_...)``, ``out.table(df, "name")``, ``out.claims(notebook, claims)``."""

    def __init__(self, profile: str | None = None):
        self.profile = resolve_profile(profile)

    @property
    def directory(self) -> Path:
        return figures_dir(self.profile)

    def figure(self, fig, name: str) -> list[Path]:
        return save_figure(fig, name, self.profile)

    def table(self, df, name: str) -> Path:
        return save_table(df, name, self.profile)

    def read_table(self, name: str, written_by: str = "its notebook"):
        """A table another experiment wrote under the same profile (an input named in a ``Config``), or a clear
        error saying which notebook to run first; never a table of another profile."""
        import pandas as pd

        path = inputs_dir(self.profile) / "data" / f"{name}.csv"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run {written_by} under profile {self.profile!r} first "
                                    f"(./reproduce.sh --profile {self.profile} --only {written_by[:2]})")
        return pd.read_csv(path)

    def claims(self, notebook: str, claims: Sequence[Claim]):
        return save_claims(notebook, claims, self.profile)

    def __repr__(self) -> str:
        return f"Outputs(profile={self.profile!r}, directory={str(self.directory)!r})"
