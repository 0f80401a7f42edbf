"""The experiment contract (mdlm_core/experiments/__init__.py): one registry, five parts per experiment, imports that
only go downward, thin notebooks, and every experiment's smoke run in-process, without a kernel."""

from __future__ import annotations

import ast
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mdlm_core.companion import Outputs
from mdlm_core.companion.profiles import PROFILES as PROFILE_NAMES
from mdlm_core.companion.profiles import apply_overrides, config_for_profile
from mdlm_core.companion.verdicts import Claim
from mdlm_core.experiments import CONTRACT, REGISTRY

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mdlm_core"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_registry_lists_the_seven_experiments_in_notebook_order_each_with_the_contract():
    assert list(REGISTRY) == ["signal_curve", "parity_grokking", "u_curve", "sft_windows", "unmasking_schedules",
                              "adaptive_mask_ratio", "window_mechanism"]
    notebooks = {p.stem for p in NOTEBOOKS}
    for name in REGISTRY:
        module = REGISTRY[name]
        missing = [part for part in CONTRACT if not hasattr(module, part)]
        assert not missing, f"{name} lacks {missing}"
        assert module.NOTEBOOK in notebooks, f"{name}.NOTEBOOK = {module.NOTEBOOK!r} names no notebook"
        assert REGISTRY.by_notebook(module.NOTEBOOK[:2]) is module
        assert set(module.PROFILES) == set(PROFILE_NAMES)
        for profile, cfg in module.PROFILES.items():
            assert isinstance(cfg, module.Config), f"{name}.PROFILES[{profile!r}] is not a {name}.Config"
            assert dataclasses.is_dataclass(cfg) and type(cfg).__dataclass_params__.frozen
    assert len(notebooks) == len(REGISTRY), "every numbered notebook is backed by one registered experiment"
    with pytest.raises(KeyError, match="the experiments are"):
        REGISTRY["u_curv"]


def _imports(path: Path) -> list[str]:
    """Absolute names of the mdlm_core modules a source file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names += [module] + [f"{module}.{a.name}" for a in node.names]
    return [n for n in names if n.startswith("mdlm_core")]


def test_experiments_import_only_downward_and_the_library_imports_no_companion():
    experiments = {f"mdlm_core.experiments.{name}" for name in REGISTRY}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        imported = _imports(path)
        if module in experiments:
            others = sorted({n for n in imported for e in experiments - {module} if n == e or n.startswith(e + ".")})
            assert not others, f"{module} imports the experiment(s) {others}: move what they share into the library"
        elif not module.startswith(("mdlm_core.experiments", "mdlm_core.companion")):
            upward = sorted({n for n in imported if n.startswith(("mdlm_core.experiments", "mdlm_core.companion"))})
            assert not upward, f"library module {module} imports {upward}"


def test_the_import_check_sees_an_upward_import(tmp_path):
    # the check above must be able to fail: a library file that imports the companion is caught
    fake = PACKAGE / "_contract_probe.py"
    assert not fake.exists()
    try:
        fake.write_text("from .companion.outputs import Outputs\n")
        assert "mdlm_core.companion.outputs" in _imports(fake)
    finally:
        fake.unlink()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_thin_no_functions_and_no_loops(notebook):
    tree = ast.parse(notebook.read_text())
    offending = [f"line {n.lineno}: {type(n).__name__}" for n in ast.walk(tree)
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While,
                                   ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp))]
    assert not offending, f"{notebook.name} builds results itself ({', '.join(offending)}): move it into its experiment"


def test_import_mdlm_core_loads_no_companion_no_experiments_no_plotting():
    code = ("import sys, mdlm_core; bad = sorted(m for m in sys.modules if m.startswith(('mdlm_core.companion', "
            "'mdlm_core.experiments', 'matplotlib', 'ipywidgets', 'transformers'))); print(bad); sys.exit(bool(bad))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cache_root_is_explicit_not_found_by_walking_up(tmp_path, monkeypatch):
    from mdlm_core.io import cache_dir, cache_root

    monkeypatch.setenv("MDLM_CACHE_DIR", str(tmp_path / "named"))
    assert cache_dir("runs") == tmp_path / "named" / "runs" and (tmp_path / "named" / "runs").is_dir()
    monkeypatch.delenv("MDLM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    nested = tmp_path / "checkout" / "deep"
    nested.mkdir(parents=True)
    (tmp_path / "checkout" / "reproduce.sh").write_text("")
    monkeypatch.chdir(nested)
    assert cache_root() == tmp_path / "xdg" / "mdlm_core"   # the user cache, whatever the working directory


def test_overrides_reach_nested_fields_by_dotted_or_bare_name_and_fail_loudly():
    cfg = REGISTRY["u_curve"].PROFILES["smoke"]
    paths = [p for p in _leaf_paths(cfg) if p.endswith("n_embd")]
    assert paths, "the U-curve config names its model width"
    dotted = paths[0]
    changed = apply_overrides(cfg, **{dotted: 48})
    assert _get(changed, dotted) == 48 and _get(cfg, dotted) != 48
    with pytest.raises(ValueError, match="no such field"):
        config_for_profile(REGISTRY["u_curve"].PROFILES, "smoke", n_embdd=48)
    seeds = [p for p in _leaf_paths(cfg) if p.rsplit(".", 1)[-1] == "seeds"]
    assert seeds, "every experiment names its seeds"
    assert _get(apply_overrides(cfg, **{seeds[0]: [3, 4]}), seeds[0]) == (3, 4)


def test_seeds_are_tuples_of_seeds_everywhere():
    for name in REGISTRY:
        for profile, cfg in REGISTRY[name].PROFILES.items():
            for path in _leaf_paths(cfg):
                if path.rsplit(".", 1)[-1].endswith("seeds"):
                    value = _get(cfg, path)
                    assert isinstance(value, tuple) and all(isinstance(s, int) for s in value), \
                        f"{name}.PROFILES[{profile!r}].{path} = {value!r} is not a tuple of seeds"


def _leaf_paths(cfg, prefix=""):
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from _leaf_paths(value, prefix + f.name + ".")
        else:
            yield prefix + f.name


def _get(cfg, path):
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_experiment_runs_its_smoke_profile_in_process(name, tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("MDLM_HEADLESS", "1")
    if name == "adaptive_mask_ratio":   # its Beta is fitted to notebook 03's table of the same profile
        REGISTRY["u_curve"].run(REGISTRY["u_curve"].PROFILES["smoke"], Outputs("smoke"))
    experiment = REGISTRY[name]
    out = Outputs("smoke")
    results = experiment.run(experiment.PROFILES["smoke"], out)
    claims = experiment.claims(results)
    assert claims and all(isinstance(c, Claim) for c in claims)
    figures = experiment.figures(results, out)
    assert figures, f"{name} draws no figure"
    for figure_name in figures:
        assert (out.directory / f"{figure_name}.png").is_file() and (out.directory / f"{figure_name}.pdf").is_file()
    assert list((out.directory / "data").glob(f"{experiment.NOTEBOOK[:2]}_*.csv")), f"{name} wrote no table"
    import matplotlib.pyplot as plt
    plt.close("all")


def test_the_readme_one_call_example_runs(tmp_path, monkeypatch):
    import re

    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path / "figures"))
    text = (ROOT / "README.md").read_text()
    code = re.search(r"<!-- contract-example -->\s*```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["cfg"].lm.model.n_embd == 48 and namespace["claims"] and namespace["figures"]
    import matplotlib.pyplot as plt
    plt.close("all")
