"""The paper profile, proven on CPU (its DDP part is in test_paper_profile_ddp.py).

1. Cheap: every paper config builds; the LM has the paper's ~50M parameters (counted on the meta device, nothing
   allocated); sequences fit the block size; member counts are what the profile says; every notebook parameter
   names a field of its experiment's config.
2. The dry run: each experiment's ``run`` on its paper config truncated by its ``DRY_RUN`` overrides (steps, seeds,
   evaluation sizes; model sizes unchanged), plus one LM and one SFT step at paper size with bf16 autocast forced
   on the CPU.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import torch

from mdlm_core import DiffusionTransformer, MaskRatio
from mdlm_core.companion import Outputs
from mdlm_core.companion.profiles import _resolve_name, apply_overrides, field_paths
from mdlm_core.experiments import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
PAPER = {name: REGISTRY[name].PROFILES["paper"] for name in REGISTRY}


def _meta_params(model_config) -> int:
    with torch.device("meta"):
        return DiffusionTransformer(model_config).num_params(non_embedding=False)


def test_the_paper_lm_has_about_50m_parameters_and_its_sequences_fit():
    spec = PAPER["u_curve"].lm
    n = _meta_params(spec.model_config(spec.data.vocab_size))
    assert 45e6 <= n <= 55e6, f"the paper LM has {n / 1e6:.1f}M parameters, not ~50M"
    assert spec.model_config(spec.data.vocab_size).block_size == spec.data.seq_len
    sft = PAPER["sft_windows"]
    assert sft.base == spec, "notebook 04 fine-tunes notebook 03's paper model"
    for task in sft.tasks:
        task_spec = sft.spec(task)
        assert task_spec.prompt_tokens + task_spec.answer_tokens <= spec.data.seq_len, \
            f"{task}: prompt + answer exceed the base model's block size"


def test_the_paper_parity_ensembles_have_the_declared_members():
    cfg = PAPER["parity_grokking"]
    groups = cfg.groups()
    phase = [members for label, (_, members) in groups.items() if label.startswith("N=") and " " not in label]
    assert phase and all({m.seed for m in members} == set(cfg.mlp_seeds) for members in phase)
    assert len(groups["transformer"][1]) == 2 * len(cfg.transformer_seeds)   # supervised and MD per seed
    spec = groups["transformer"][0]
    assert 5e6 <= _meta_params(spec.model_config()) <= 20e6   # nanoGPT-sized (6 x 384)
    assert spec.model_config().block_size == spec.data.n + 1


def _config_call_keywords(notebook: Path) -> list[str]:
    tree = ast.parse(notebook.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "config_for_profile":
            names = [k.arg for k in node.keywords if k.arg]
            for k in node.keywords:   # **{"mlp.train.steps": steps}
                if k.arg is None and isinstance(k.value, ast.Dict):
                    names += [key.value for key in k.value.keys]
            return names
    raise AssertionError(f"{notebook.name} builds no config with config_for_profile")


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_notebook_parameter_names_a_config_field(name):
    experiment = REGISTRY[name]
    notebook = ROOT / "notebooks" / f"{experiment.NOTEBOOK}.py"
    paths = field_paths(PAPER[name])
    for keyword in _config_call_keywords(notebook):
        _resolve_name(keyword.replace("__", "."), paths)   # raises, naming the fields, if it names none


def test_dry_run_overrides_only_truncate():
    for name in REGISTRY:
        experiment = REGISTRY[name]
        paper = PAPER[name]
        dry = apply_overrides(paper, **experiment.DRY_RUN)
        changed = {p for p in field_paths(paper) if _get(paper, p) != _get(dry, p)}
        sizes = {p for p in changed if p.rsplit(".", 1)[-1] in ("n_embd", "n_layer", "n_head", "mlp_width", "vocab_size",
                                                               "seq_len", "n")}
        assert not sizes, f"{name}.DRY_RUN changes model sizes {sorted(sizes)}: a dry run keeps them"


def _get(cfg, path):
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


@pytest.mark.parametrize("name", list(REGISTRY))
def test_dry_run_of_the_paper_profile(name, tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("MDLM_HEADLESS", "1")
    out = Outputs("paper")
    if name == "adaptive_mask_ratio":   # its Beta is fitted to notebook 03's paper tables
        u_curve = REGISTRY["u_curve"]
        u_curve.run(apply_overrides(u_curve.PROFILES["paper"], **u_curve.DRY_RUN), out)
    experiment = REGISTRY[name]
    results = experiment.run(apply_overrides(PAPER[name], **experiment.DRY_RUN), out)
    assert experiment.claims(results)
    if name == "u_curve":   # the dry run's data slice still gives the paper's vocabulary, hence its model size
        assert results.vocab_size == PAPER[name].lm.data.vocab_size
    import matplotlib.pyplot as plt
    experiment.figures(results, out)
    plt.close("all")


def test_one_lm_and_one_sft_step_at_paper_size_under_forced_bf16_autocast():
    from mdlm_core.lm import make_lm_step
    from mdlm_core.sft import sft_loss
    from mdlm_core.model import bf16_autocast

    spec = PAPER["u_curve"].lm
    torch.manual_seed(0)
    model = DiffusionTransformer(spec.model_config(spec.data.vocab_size))
    rows = torch.randint(0, spec.data.vocab_size, (4, spec.data.seq_len))
    step = make_lm_step(rows, 2, MaskRatio.window(0.4, 0.5), torch.device("cpu"), bf16=True)
    loss, _ = step(model, 0, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    model.zero_grad()
    with bf16_autocast("cpu", True):
        out = sft_loss(model, rows[:2], torch.tensor([8, 8]), MaskRatio.window(0.5, 1.0), model.mask_id,
                       torch.Generator().manual_seed(1))
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.loss.dtype == torch.float32   # the loss is reduced in fp32
