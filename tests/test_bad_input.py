"""Bad input gets a clear error that names the fix, never a silent wrong answer (issue 16's list, one test each)."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from mdlm_core import DiffusionTransformer, MaskRatio, ModelConfig, TrainConfig
from mdlm_core.loss import md_loss
from mdlm_core.schedules import FixedSchedule
from mdlm_core.theory.dependence import expected_kl
from mdlm_core.training import train

VOCAB = 5


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DiffusionTransformer(ModelConfig(vocab_size=VOCAB, block_size=6, n_layer=1, n_head=1, n_embd=8))


def tokens(batch=2, length=6):
    return torch.arange(batch * length).reshape(batch, length) % VOCAB


def loss(model, toks, **kw):
    return md_loss(model, toks, MaskRatio.uniform(), kw.pop("mask_id", VOCAB), torch.Generator().manual_seed(0), **kw)


# --- train() with an explicit run_dir whose saved config differs --------------------------------------------------

def _step(model, step, generator):
    out = (model.weight ** 2).sum()
    return out, {"loss": out.item()}


def test_run_dir_with_a_different_config_is_refused_with_the_difference(tmp_path):
    tiny = torch.nn.Linear(1, 1, bias=False)
    first = train(tiny, _step, TrainConfig(steps=2, eval_every=1), run_dir=tmp_path / "run", progress=False)
    assert not first.cached
    again = train(tiny, _step, TrainConfig(steps=2, eval_every=1), run_dir=tmp_path / "run", progress=False)
    assert again.cached  # the same config is still reused
    with pytest.raises(ValueError, match=r"different TrainConfig \(lr: saved 0.001 vs now 0.01.*fresh run_dir"):
        train(tiny, _step, TrainConfig(steps=2, eval_every=1, lr=1e-2), run_dir=tmp_path / "run", progress=False)


# --- md_loss --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [float("nan"), 0.0, -0.2, 1e-4, 1.5])
def test_md_loss_refuses_bad_mask_ratios(model, t):
    with pytest.raises(ValueError, match=r"mask ratios t must lie in \[0.001, 1\].*draw t from a MaskRatio or clamp"):
        loss(model, tokens(), t=torch.tensor([0.5, t]))


def test_md_loss_refuses_an_empty_batch(model):
    with pytest.raises(ValueError, match="empty batch.*pass at least one sequence"):
        loss(model, torch.zeros(0, 6, dtype=torch.long))


def test_md_loss_refuses_mask_id_inside_the_vocabulary(model):
    with pytest.raises(ValueError, match=f"inside the vocabulary.*use mask_id = model.cfg.mask_id = {VOCAB}"):
        loss(model, tokens(), mask_id=VOCAB - 1)


def test_md_loss_refuses_mask_among_visible_or_prompt_tokens(model):
    toks = tokens()
    toks[0, 1] = VOCAB  # a MASK in the clean sequence
    with pytest.raises(ValueError, match="hold the MASK id.*md_loss inserts MASK itself"):
        loss(model, toks)
    prompt = torch.zeros_like(toks, dtype=torch.bool)
    prompt[:, 3:] = True  # answer maskable, prompt (with the MASK) visible
    with pytest.raises(ValueError, match="including prompt and visible tokens"):
        loss(model, toks, maskable=prompt)


@pytest.mark.parametrize("bad_id", [VOCAB + 3, -1])
def test_md_loss_refuses_out_of_range_ids(model, bad_id):
    toks = tokens()
    toks[1, 2] = bad_id
    with pytest.raises(ValueError, match=f"id {bad_id}, outside the real vocabulary 0..{VOCAB - 1}.*same tokenizer"):
        loss(model, toks)


@pytest.mark.parametrize("toks", [torch.arange(6) % VOCAB, (torch.arange(12) % VOCAB).reshape(2, 6).float()])
def test_md_loss_refuses_1d_or_float_tokens(model, toks):
    with pytest.raises(ValueError, match=r"\[batch, length\] integer tensor.*tokens.long\(\).*unsqueeze\(0\)"):
        loss(model, toks)


def test_md_loss_still_accepts_good_input(model):
    out = loss(model, tokens(), t=torch.tensor([0.001, 1.0]))
    assert math.isfinite(out.loss.item()) and out.loss.item() > 0


# --- ModelConfig --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [("n_head", 0), ("n_head", -2), ("n_embd", 0), ("mlp_ratio", 0)])
def test_model_config_refuses_non_positive_sizes(field, value):
    kwargs = dict(vocab_size=VOCAB, block_size=4, n_head=2, n_embd=8) | {field: value}
    with pytest.raises(ValueError, match=f"{field}={value} must be >= 1.*pass a positive value"):
        ModelConfig(**kwargs)


# --- MaskRatio.fixed with numpy and 0-d tensor scalars: accepted ---------------------------------------------------

@pytest.mark.parametrize("value", [np.float32(0.3), np.float64(0.3), torch.tensor(0.3), torch.tensor(0.3).double()])
def test_mask_ratio_accepts_numpy_and_0d_tensor_scalars(value):
    ratio = MaskRatio.fixed(value)
    assert type(ratio.low) is float and ratio.low == pytest.approx(0.3, abs=1e-7) and ratio.is_fixed
    with pytest.raises(ValueError, match="must be a finite number in"):
        MaskRatio.fixed(torch.tensor([0.3, 0.4]))


# --- TrainConfig ----------------------------------------------------------------------------------------------------

def test_train_config_refuses_negative_warmup():
    with pytest.raises(ValueError, match="warmup_steps=-5 must be >= 0 \\(0 means no warm-up\\)"):
        TrainConfig(steps=10, warmup_steps=-5)


def test_train_config_refuses_nan_lr():
    with pytest.raises(ValueError, match="lr=nan must be a finite number > 0"):
        TrainConfig(steps=10, lr=float("nan"))


# --- expected_kl with a NaN in the profile ------------------------------------------------------------------------

def test_expected_kl_refuses_nan_profile():
    schedule = FixedSchedule([2, 2])
    assert math.isfinite(expected_kl(schedule, [0.0, 0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="NaN/inf entries.*finite mutual information"):
        expected_kl(schedule, [0.0, float("nan"), 0.2, 0.3])


# --- the runner outside the repository ------------------------------------------------------------------------------

def test_pipeline_outside_the_repository_gives_a_clear_error(tmp_path):
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-m", "mdlm_core.companion.pipeline", "--profile", "smoke"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": root})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "no numbered notebooks" in done.stderr and "Run ./reproduce.sh from the checkout" in done.stderr
