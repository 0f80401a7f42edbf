"""Run the numbered notebooks: jupytext source -> papermill execution under one profile.

``reproduce.sh`` is a thin wrapper around ``python -m mdlm_core.companion.pipeline``. For every
``notebooks/NN_name.py`` (in order) it

1. converts the source to ``build/notebooks/NN_name.ipynb`` with jupytext,
2. executes it with papermill, injecting ``profile`` after the cell tagged ``parameters``, into
   ``build/executed/<profile>/NN_name.ipynb`` (kept when a cell fails, so the traceback can be read),
3. records a stamp with the hash of its inputs (the notebook source, the ``mdlm_core`` sources and the
   profile); a later call skips a notebook whose stamp matches, unless ``--force``.

The notebooks themselves write figures and result tables atomically (``mdlm_core.companion.outputs``), and
training runs are cached by configuration hash, so a killed run redoes only the unfinished work.
"""

from __future__ import annotations

import argparse
import os
import hashlib
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .interactive import HEADLESS_ENV
from .outputs import figures_dir, remove_partials, write_text
from .profiles import DEFAULT_PROFILE, PROFILES, resolve_profile
from .report import build_report, load_claims, update_readme

NOTEBOOK_NAME = re.compile(r"^(\d\d)_[\w-]+\.py$")
PACKAGE_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Notebook:
    number: str
    source: Path

    @property
    def name(self) -> str:
        return self.source.stem


def discover(root: Path) -> list[Notebook]:
    found = [Notebook(m.group(1), p) for p in sorted((root / "notebooks").glob("*.py"))
             if (m := NOTEBOOK_NAME.match(p.name))]
    if not found:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.py) in {root / 'notebooks'}")
    return found


def input_hash(notebook: Notebook, profile: str) -> str:
    """What a notebook's results depend on: its source, the package's sources and the profile."""
    digest = hashlib.sha256(profile.encode())
    for path in [notebook.source, *sorted(PACKAGE_DIR.rglob("*.py"))]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _select(notebooks: list[Notebook], only: list[str] | None) -> list[Notebook]:
    if not only:
        return notebooks
    wanted = {n.zfill(2) for item in only for n in item.split(",") if n}
    known = {nb.number for nb in notebooks}
    if unknown := wanted - known:
        raise SystemExit(f"--only {','.join(sorted(unknown))}: no such notebook; "
                         f"available: {', '.join(sorted(known))}")
    return [nb for nb in notebooks if nb.number in wanted]


class _Indented:
    """A write-only stream that indents each line it forwards (for notebook output under the pipeline's)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        self.stream.write("".join(f"    {line}" for line in text.splitlines(keepends=True)))
        self.stream.flush()

    def flush(self) -> None:
        self.stream.flush()


def run_notebook(notebook: Notebook, root: Path, profile: str, force: bool) -> str:
    """Execute one notebook unless its stamp is current; returns 'ran' or 'skipped'."""
    import jupytext
    import nbformat
    import papermill as pm

    executed_dir = root / "build" / "executed" / profile
    output = executed_dir / f"{notebook.name}.ipynb"
    stamp = executed_dir / f"{notebook.name}.stamp"
    digest = input_hash(notebook, profile)
    if not force and output.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return "skipped"
    stamp.unlink(missing_ok=True)
    converted = root / "build" / "notebooks" / f"{notebook.name}.ipynb"
    converted.parent.mkdir(parents=True, exist_ok=True)
    executed_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(jupytext.read(notebook.source), converted)
    try:
        # the notebooks' own printouts (one line per training run) stream through, indented
        pm.execute_notebook(str(converted), str(output), parameters={"profile": profile}, kernel_name="python3",
                            cwd=str(notebook.source.parent), progress_bar=False,
                            stdout_file=_Indented(sys.stdout), stderr_file=None)
    except pm.PapermillExecutionError as err:
        raise SystemExit(f"\nFAILED {notebook.source.relative_to(root)} at cell {err.exec_count} "
                         f"({err.ename}: {err.evalue})\n  executed notebook with the traceback: {output}") from None
    write_text(stamp, digest + "\n")
    return "ran"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reproduce.sh", description="Execute the numbered notebooks.")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"one of {', '.join(PROFILES)} (default: quick)")
    parser.add_argument("--only", action="append", metavar="NN", help="run only these notebooks (repeat or comma-separate)")
    parser.add_argument("--force", action="store_true", help="re-execute even if the inputs are unchanged")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        profile = resolve_profile(args.profile)
    except ValueError as err:
        parser.error(str(err))
    root = args.root.resolve()
    os.environ.setdefault(HEADLESS_ENV, "1")  # interactive explorers draw their static frame
    notebooks = _select(discover(root), args.only)
    if removed := remove_partials(figures_dir(profile)):
        print(f"reproduce: removed {removed} partial file(s) left by an interrupted run", flush=True)
    print(f"reproduce: profile={profile}, {len(notebooks)} notebook(s)", flush=True)
    start = time.perf_counter()
    for i, nb in enumerate(notebooks, 1):
        t0 = time.perf_counter()
        print(f"[{i}/{len(notebooks)}] {nb.source.relative_to(root)} ...", end=" ", flush=True)
        status = run_notebook(nb, root, profile, args.force)
        print(f"{status} ({time.perf_counter() - t0:.1f} s)", flush=True)
    claims = load_claims(profile)
    report = build_report(profile, claims=claims)
    if profile == DEFAULT_PROFILE and not args.only:
        update_readme(root / "README.md", claims)  # the README shows the quick-profile claims
    print(f"reproduce: done in {time.perf_counter() - start:.1f} s; executed notebooks in "
          f"build/executed/{profile}/; claims report {report.relative_to(root) if report.is_relative_to(root) else report}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
