"""Run the numbered notebooks: jupytext source -> papermill execution under one profile.

``reproduce.sh`` is a thin wrapper around ``python -m mdlm_core.companion.pipeline``. For every
``notebooks/NN_name.py`` (in order) it

1. converts the source to ``build/notebooks/NN_name.ipynb`` with jupytext,
2. executes it with papermill, injecting ``profile`` after the cell tagged ``parameters``, into
   ``build/executed/<profile>/NN_name.ipynb`` (kept when a cell fails, so the traceback can be read),
3. records a stamp with the hash of its inputs (the notebook source, the ``mdlm_core`` sources and the
   profile); a later call skips a notebook whose stamp matches, unless ``--force``.

The notebooks write figures and result tables atomically (``mdlm_core.companion.outputs``), into a staging folder
per notebook (``<figures>/.staging/NN_name/``) that is promoted into the figures folder when the notebook
finishes: a killed run leaves the old set of a notebook's files or the new one, never a mix (a kill during the
promotion itself is rolled forward by the next run). The kernel dies with the runner (``kernel_guard``), and
training runs are cached by configuration hash, so a killed run redoes only the unfinished work.

Environment: ``$MDLM_PROFILE`` picks the profile when ``--profile`` is not given; missing data sets are
downloaded and verified (``python -m mdlm_core.data fetch``) unless ``--no-fetch-data``.
"""

from __future__ import annotations

import argparse
import os
import hashlib
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..data.registry import FETCH_ENV
from .interactive import HEADLESS_ENV
from .outputs import FIGURES_ENV, INPUTS_ENV, cache_dir, figures_base, remove_partials, write_text
from .profiles import DEFAULT_PROFILE, PROFILE_ENV, PROFILES, resolve_profile
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


def input_hash(notebook: Notebook, profile: str, parameters: dict | None = None) -> str:
    """What a notebook's results depend on: its source, the package's sources, the profile and any ``--set``."""
    digest = hashlib.sha256(profile.encode())
    if parameters:
        digest.update(repr(sorted(parameters.items())).encode())
    for path in [notebook.source, *sorted(PACKAGE_DIR.rglob("*.py"))]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def notebook_parameters(notebook: Notebook) -> list[str]:
    """The names assigned in a notebook's cell tagged ``parameters`` (what ``--set NN.name=value`` may set)."""
    import ast

    text = notebook.source.read_text()
    match = re.search(r'^# %% tags=\["parameters"\]\n(.*?)(?=^# %%)', text, re.S | re.M)
    if not match:
        return []
    return [t.id for node in ast.parse(match.group(1)).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]


def parse_settings(settings: list[str] | None, notebooks: list[Notebook]) -> dict[str, dict]:
    """``["03.steps=200", "03.seeds=[0]"]`` -> {"03": {"steps": 200, "seeds": [0]}}; values are Python literals
    (a bare word is a string). An unknown notebook or parameter is an error that lists the choices."""
    import ast

    by_number = {nb.number: nb for nb in notebooks}
    out: dict[str, dict] = {}
    for item in settings or []:
        key, sep, raw = item.partition("=")
        number, dot, name = key.partition(".")
        number = number.zfill(2)
        if not (sep and dot and name):
            raise SystemExit(f"--set {item!r}: write NN.name=value, e.g. --set 03.steps=200")
        if number not in by_number:
            raise SystemExit(f"--set {item!r}: no notebook {number} among {', '.join(sorted(by_number))}")
        known = notebook_parameters(by_number[number])
        if name not in known:
            raise SystemExit(f"--set {item!r}: notebook {by_number[number].name} has no parameter {name!r}; "
                             f"its parameters are {', '.join(known)}")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out.setdefault(number, {})[name] = value
    return out


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


STAGING = ".staging"
PROMOTING = "PROMOTING"  # written into a staging folder once its notebook finished: the set is complete


def _kernel_manager_class():
    from jupyter_client.manager import AsyncKernelManager

    class RunnerBoundKernelManager(AsyncKernelManager):
        """A kernel that dies with this process (see kernel_guard) and talks over local sockets: IPC transport
        keeps the traffic off TCP and ipykernel's 'running over TCP without encryption' warning out of the log."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            # IPC sockets are files named <ip>-<port>: a private folder per kernel keeps two runners started in
            # the same directory (e.g. two notebooks at once) from connecting to each other's kernel
            self.ip = str(Path(tempfile.mkdtemp(prefix="mdlm-kernel-")) / "ipc")

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart)
            if not restart:   # the private socket folder goes with the kernel
                shutil.rmtree(Path(self.ip).parent, ignore_errors=True)

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            return [sys.executable, "-m", "mdlm_core.companion.kernel_guard", str(os.getpid()), *cmd]

    return RunnerBoundKernelManager


def promote(staging: Path, base: Path) -> int:
    """Move every file under ``staging`` to the same place under ``base`` and remove ``staging``.

    Marked with PROMOTING first, so that a kill half-way is finished by :func:`recover_staging` (rolled forward);
    a staging folder without the mark is an unfinished notebook's and is discarded."""
    write_text(staging / PROMOTING, "")
    moved = _move_tree(staging, base)
    try:
        staging.parent.rmdir()  # the .staging folder, once no other notebook's is in it
    except OSError:
        pass
    return moved


def _move_tree(staging: Path, base: Path) -> int:
    moved = 0
    for path in sorted(p for p in staging.rglob("*") if p.is_file() and p.name != PROMOTING):
        target = base / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        moved += 1
    shutil.rmtree(staging)
    return moved


def recover_staging(base: Path) -> list[str]:
    """Finish promotions cut short by a kill, drop unfinished notebooks' staging folders; returns what was done."""
    done = []
    for staging in sorted((base / STAGING).glob("*")) if (base / STAGING).is_dir() else []:
        if (staging / PROMOTING).exists():
            _move_tree(staging, base)
            done.append(f"finished promoting {staging.name}")
        else:
            shutil.rmtree(staging)
            done.append(f"discarded the unfinished outputs of {staging.name}")
    if (base / STAGING).is_dir():
        shutil.rmtree(base / STAGING, ignore_errors=True)
    return done


def run_notebook(notebook: Notebook, root: Path, profile: str, force: bool, parameters: dict | None = None) -> str:
    """Execute one notebook unless its stamp is current; returns 'ran' or 'skipped'. ``parameters`` (from
    ``--set``) go to papermill beside the profile."""
    import jupytext
    import nbformat
    import papermill as pm

    executed_dir = root / "build" / "executed" / profile
    output = executed_dir / f"{notebook.name}.ipynb"
    stamp = executed_dir / f"{notebook.name}.stamp"
    digest = input_hash(notebook, profile, parameters)
    if not force and output.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return "skipped"
    stamp.unlink(missing_ok=True)
    converted = root / "build" / "notebooks" / f"{notebook.name}.ipynb"
    converted.parent.mkdir(parents=True, exist_ok=True)
    executed_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(jupytext.read(notebook.source), converted)
    base = figures_base()
    staging = base / STAGING / notebook.name
    staging.mkdir(parents=True, exist_ok=True)
    os.environ[FIGURES_ENV] = str(staging)  # the kernel inherits it: this notebook writes into its staging folder
    os.environ[INPUTS_ENV] = str(base)      # ... and reads other notebooks' tables from the promoted figures
    try:
        # the notebooks' own printouts (one line per training run) stream through, indented
        pm.execute_notebook(str(converted), str(output), parameters={"profile": profile, **(parameters or {})}, kernel_name="python3",
                            cwd=str(notebook.source.parent), progress_bar=False,
                            stdout_file=_Indented(sys.stdout), stderr_file=None,
                            kernel_manager_class=_kernel_manager_class())
    except pm.PapermillExecutionError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise SystemExit(f"\nFAILED {notebook.source.relative_to(root)} at cell {err.exec_count} "
                         f"({err.ename}: {err.evalue})\n  executed notebook with the traceback: {output}\n"
                         "  (its figures were not updated)") from None
    except BaseException:  # Ctrl-C: this notebook's outputs are incomplete, keep the old set
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        os.environ[FIGURES_ENV] = str(base)
    promote(staging, base)
    write_text(stamp, digest + "\n")
    return "ran"


def _check_device(profile: str, allow_cpu: bool) -> None:
    """The paper profile trains ~50M-parameter models: refuse to start it on a CPU unless told to."""
    if profile != "paper" or allow_cpu:
        return
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("reproduce: --profile paper trains the papers' ~50M-parameter models and needs a GPU; "
                         "no CUDA device is visible. Pass --allow-cpu to run it on this CPU anyway (months: notebook 03 alone trains "
                         "36 runs of a 50M-parameter model, about a year on 2 cores; shrink it with --set, e.g. "
                         "--set 03.steps=2 --set 03.seeds=[0]), "
                         "or use --profile quick (the CPU default).")


def _interrupted(notebook: Notebook, root: Path, *_) -> None:
    """Ctrl-C: a short message instead of the kernel client's traceback; the kernel dies with us (kernel_guard),
    this notebook's staging folder is dropped, finished notebooks stay."""
    shutil.rmtree(figures_base() / STAGING / notebook.name, ignore_errors=True)
    print(f"\nreproduce: interrupted during {notebook.source.relative_to(root)}; finished notebooks are kept, this "
          "one's new outputs were dropped (its old figures stay). Run the same command again to resume.",
          file=sys.stderr, flush=True)
    os._exit(130)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reproduce.sh", description="Execute the numbered notebooks.")
    parser.add_argument("--profile", default=None,
                        help=f"one of {', '.join(PROFILES)} (default: ${PROFILE_ENV}, else {DEFAULT_PROFILE})")
    parser.add_argument("--only", action="append", metavar="NN", help="run only these notebooks (repeat or comma-separate)")
    parser.add_argument("--force", action="store_true", help="re-execute even if the inputs are unchanged")
    parser.add_argument("--no-fetch-data", dest="fetch_data", action="store_false",
                        help="never download a missing data set (default: download and verify it; see README 'Data')")
    parser.add_argument("--fetch-data", dest="fetch_data", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--set", action="append", metavar="NN.name=value", dest="settings",
                        help="set a notebook parameter, e.g. --set 03.steps=200 --set 03.seeds=[0] (repeatable)")
    parser.add_argument("--allow-cpu", action="store_true", help="let --profile paper run without a GPU")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        profile = resolve_profile(args.profile)  # --profile wins over $MDLM_PROFILE
    except ValueError as err:
        parser.error(str(err))
    root = args.root.resolve()
    os.environ.setdefault(HEADLESS_ENV, "1")  # interactive explorers draw their static frame
    os.environ[PROFILE_ENV] = profile
    os.environ.setdefault(FIGURES_ENV, str(root / "figures"))  # this checkout's figures, whatever the cwd
    if args.fetch_data:
        os.environ.setdefault(FETCH_ENV, "1")  # the loaders (in the kernel) download a missing data set
    try:
        notebooks = _select(discover(root), args.only)
    except FileNotFoundError as err:
        raise SystemExit(f"reproduce: {err}. Run ./reproduce.sh from the checkout (or pass --root CHECKOUT).") from None
    settings = parse_settings(args.settings, discover(root))
    _check_device(profile, args.allow_cpu)
    for note in recover_staging(figures_base()):
        print(f"reproduce: {note} (left by an interrupted run)", flush=True)
    removed = remove_partials(figures_base()) + remove_partials(cache_dir())
    if removed:
        print(f"reproduce: removed {removed} partial file(s) left by an interrupted run", flush=True)
    print(f"reproduce: profile={profile}, {len(notebooks)} notebook(s)", flush=True)
    if settings:
        print(f"reproduce: --set {settings}: these notebooks' figures and claims are of an edited profile "
              "(the README's findings block is left alone)", flush=True)
    start = time.perf_counter()
    for i, nb in enumerate(notebooks, 1):
        t0 = time.perf_counter()
        print(f"[{i}/{len(notebooks)}] {nb.source.relative_to(root)} ...", end=" ", flush=True)
        signal.signal(signal.SIGINT, partial(_interrupted, nb, root))
        status = run_notebook(nb, root, profile, args.force, settings.get(nb.number))
        print(f"{status} ({time.perf_counter() - t0:.1f} s)", flush=True)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    claims = load_claims(profile)
    report = build_report(profile, claims=claims)
    if profile == DEFAULT_PROFILE and not args.only and not settings:
        update_readme(root / "README.md", claims)  # the README shows the quick-profile claims
    print(f"reproduce: done in {time.perf_counter() - start:.1f} s; executed notebooks in "
          f"build/executed/{profile}/; claims report {report.relative_to(root) if report.is_relative_to(root) else report}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
