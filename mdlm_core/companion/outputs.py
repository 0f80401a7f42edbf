"""Where results go, written atomically: figures, result tables and the claims table every notebook ends with.

Figures of the default ``quick`` profile go to ``figures/`` (committed, shown in the README); other
profiles write to ``figures/<profile>/`` so a smoke run never overwrites them. ``$MDLM_FIGURES_DIR``
moves the whole tree (tests point it at a temporary directory). Every file is written to a temporary
name in the same directory and renamed into place, so an interrupted run never leaves half a figure.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .profiles import DEFAULT_PROFILE, resolve_profile
from .verdicts import Claim

_UMASK = os.umask(0)
os.umask(_UMASK)


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


def figures_dir(profile: str | None = None) -> Path:
    profile = resolve_profile(profile)
    base = figures_base()
    path = base if profile == DEFAULT_PROFILE else base / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(*parts: str) -> Path:
    """Run caches, checkpoints and tokenizers: ``$MDLM_CACHE_DIR`` or ``build/cache`` (gitignored)."""
    path = Path(os.environ.get("MDLM_CACHE_DIR", project_root() / "build" / "cache")).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


PARTIAL = ".partial-"  # marks temporaries; a hard kill (SIGKILL) can leave one behind, never a final name


def remove_partials(folder: str | os.PathLike) -> int:
    """Delete temporaries left by killed writers below ``folder``; returns how many were removed."""
    stale = [p for p in Path(folder).rglob(f".*{PARTIAL}*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{PARTIAL}", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


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


CLAIM_COLUMNS = ["claim", "kind", "verdict", "paper", "ours", "test", "statistic", "p_value", "z", "n_seeds",
                 "figure", "notes"]


def save_claims(notebook: str, claims: Sequence[Claim], profile: str | None = None):
    """Write the claims to ``<figures>/claims/<notebook>.json`` and return them as a DataFrame."""
    import pandas as pd

    profile = resolve_profile(profile)
    rows = [{**c.to_dict(), "profile": profile, "notebook": notebook} for c in claims]
    write_text(figures_dir(profile) / "claims" / f"{notebook}.json", json.dumps(rows, indent=2) + "\n")
    return pd.DataFrame(rows)[CLAIM_COLUMNS]


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

    def claims(self, notebook: str, claims: Sequence[Claim]):
        return save_claims(notebook, claims, self.profile)

    def __repr__(self) -> str:
        return f"Outputs(profile={self.profile!r}, directory={str(self.directory)!r})"
