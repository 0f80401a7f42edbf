"""Files the library writes: atomic writes and the cache directory.

Every file is written to a temporary name in its final directory and renamed into place, so an interrupted
run never leaves half a file under a final name. The cache (training runs, checkpoints, tokenizers) lives
in one explicit root, never found by searching the working tree:

1. ``$MDLM_CACHE_DIR`` when set (``reproduce.sh`` sets it to ``build/cache`` of its checkout);
2. else the user cache directory: ``$XDG_CACHE_HOME/mdlm_core``, or ``~/.cache/mdlm_core``.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CACHE_ENV = "MDLM_CACHE_DIR"
PARTIAL = ".partial-"  # marks temporaries; a hard kill (SIGKILL) can leave one behind, never a final name

_UMASK = os.umask(0)
os.umask(_UMASK)


def cache_root() -> Path:
    """The cache root: ``$MDLM_CACHE_DIR``, else the user cache directory (module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mdlm_core"


def cache_dir(*parts: str) -> Path:
    """A folder below the cache root (created): ``cache_dir("runs")``, ``cache_dir("tokenizers")``."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


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
