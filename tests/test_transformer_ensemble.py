"""TransformerEnsemble: member i computes and trains exactly as a solo DiffusionTransformer of seed i."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from mdlm_core.ensemble import Ensemble
from mdlm_core.experiments.parity_grokking import PROFILES
from mdlm_core.parity import MD, SUPERVISED, ParityMember, ParityObjective, seeded_model
from mdlm_core.mask_ratio import MaskRatio
from mdlm_core.model import DiffusionTransformer, ModelConfig
from mdlm_core.training import TrainConfig, train
from mdlm_core.transformer_ensemble import TransformerEnsemble

SEEDS = (0, 1, 2)
CFG = ModelConfig(vocab_size=2, block_size=7, n_layer=2, n_head=2, n_embd=16)


def solo(cfg: ModelConfig, seed: int) -> DiffusionTransformer:
    torch.manual_seed(seed)
    return DiffusionTransformer(cfg)


def member_tokens(members: int, step: int, batch: int = 5, length: int = 7) -> torch.Tensor:
    """Different tokens for every member, {0, 1, MASK}, a function of the step only."""
    gen = torch.Generator().manual_seed(step)
    return torch.randint(0, 3, (members, batch, length), generator=gen)


@pytest.mark.parametrize("position_encoding, bias", [("learned", True), ("rotary", True), ("both", False)])
def test_member_forward_equals_the_solo_model(position_encoding, bias):
    cfg = dataclasses.replace(CFG, position_encoding=position_encoding, bias=bias)
    ensemble = TransformerEnsemble.from_seeds(cfg, SEEDS).double()
    tokens = member_tokens(len(SEEDS), step=0)
    logits = ensemble(tokens)
    assert logits.shape == (len(SEEDS), 5, 7, cfg.vocab_size)
    for i, seed in enumerate(SEEDS):
        torch.testing.assert_close(logits[i], solo(cfg, seed).double()(tokens[i]), rtol=0, atol=1e-12)
    # members differ (each has its own init), so the comparison above is not trivially true
    assert not torch.allclose(logits[0], logits[1])


def _step_fn(members: slice):
    """Sum over members of each member's mean CE on its own tokens and targets."""
    def step_fn(model, step, _generator):
        tokens = member_tokens(len(SEEDS), step)[members]
        targets = member_tokens(len(SEEDS), step + 10_000)[members] % 2
        logits = model(tokens) if isinstance(model, TransformerEnsemble) else model(tokens[0]).unsqueeze(0)
        losses = F.cross_entropy(logits.flatten(1, 2).transpose(1, 2), targets.flatten(1), reduction="none").mean(1)
        return losses.sum(), {}
    return step_fn


def test_member_training_equals_a_solo_run_in_float64():
    """AdamW with weight decay on matrices only and per-member clipping: 6 steps, float64, tight tolerance."""
    train_cfg = TrainConfig(steps=6, lr=1e-2, weight_decay=0.3, grad_clip=0.05, warmup_steps=2, eval_at_start=False)
    ensemble = TransformerEnsemble.from_seeds(CFG, SEEDS).double()
    # the clip threshold binds, with a different coefficient per member (a global clip would fail the test)
    _step_fn(slice(None))(ensemble, 0, None)[0].backward()
    norms = ensemble.clip_grad_norm_(float("inf"))
    assert (norms > train_cfg.grad_clip).all() and norms.std() > 0.01 * norms.mean()
    ensemble.zero_grad(set_to_none=True)
    train(ensemble, _step_fn(slice(None)), train_cfg, progress=False)
    for i, seed in enumerate(SEEDS):
        alone = solo(CFG, seed).double()
        train(alone, _step_fn(slice(i, i + 1)), train_cfg, progress=False)
        trained = ensemble.member(i)
        moved = 0.0
        for (name, p), (_, q) in zip(alone.named_parameters(), trained.named_parameters()):
            torch.testing.assert_close(q, p, rtol=0, atol=1e-12, msg=f"member {i}, {name}")
            moved = max(moved, (p - solo(CFG, seed).double().state_dict()[name]).abs().max().item())
        assert moved > 1e-3   # training moved the weights, so equality is not the init's


def test_parity_objective_sees_the_same_losses_as_the_vmap_ensemble():
    """notebook 02's objective (float64 loss, MD and supervised members) through either ensemble."""
    cfg = PROFILES["smoke"].transformer
    members = [ParityMember(SUPERVISED, 0), ParityMember(MD, 1, MaskRatio.fixed(0.3))]
    objective = ParityObjective(members, [cfg.data.for_seed(m.seed) for m in members], batch_size=8)
    batch = objective.draw_batch(step=3)
    batched, _ = objective.member_losses(TransformerEnsemble.from_seeds(cfg.model_config(), [0, 1]), batch)
    vmapped, _ = objective.member_losses(Ensemble([seeded_model(cfg.model_config(), s) for s in (0, 1)]), batch)
    torch.testing.assert_close(batched, vmapped, rtol=1e-5, atol=1e-6)


def test_flops_per_member_step_counts_the_matmuls():
    cfg = ModelConfig(vocab_size=2, block_size=3, n_layer=1, n_head=2, n_embd=8)
    # qkv 8x24, proj 8x8, fc 8x32, proj 32x8, head 8x2 = 784 weights; attention q k^T and a v: 2 * 2 L^2 d
    forward = 2 * 784 * 3 + 2 * 2 * 3 * 3 * 8
    assert TransformerEnsemble.from_seeds(cfg, [0, 1]).flops_per_member_step(batch=5) == 3 * 5 * forward


def test_bad_input_names_the_fix():
    ensemble = TransformerEnsemble.from_seeds(CFG, SEEDS)
    with pytest.raises(ValueError, match="one slice per member"):
        ensemble(member_tokens(2, step=0))
    with pytest.raises(ValueError, match="dropout=0"):
        TransformerEnsemble([solo(dataclasses.replace(CFG, dropout=0.1), 0)])
    with pytest.raises(ValueError, match="one ModelConfig"):
        TransformerEnsemble([solo(CFG, 0), solo(dataclasses.replace(CFG, n_layer=1), 1)])
    with pytest.raises(TypeError, match="ensemble.Ensemble"):
        TransformerEnsemble([torch.nn.Linear(2, 2)])


def test_member_copy_leaves_the_global_rng_alone():
    ensemble = TransformerEnsemble.from_seeds(CFG, SEEDS)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ensemble.member(1)
    torch.testing.assert_close(torch.rand(3), expected)
