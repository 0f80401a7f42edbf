import pandas as pd
import pytest
import torch

from mdlm_core import (DiffusionTransformer, MaskRatio, ModelConfig, TrainConfig, config_hash, derive_config, learning_rate,
                       make_parity_data, md_loss, train)
from mdlm_core.training import run_dir_for
from mdlm_core.data.parity import PARITY_MASK_ID, PARITY_VOCAB
from mdlm_core.training import CHECKPOINT, FINAL, load_checkpoint

DATA = make_parity_data(n=6, k=2, n_train=48, n_test=16, seed=0)
CFG = TrainConfig(steps=12, lr=3e-3, warmup_steps=3, eval_every=4, seed=7)


def new_model():
    torch.manual_seed(0)
    return DiffusionTransformer(ModelConfig(vocab_size=PARITY_VOCAB, block_size=7, n_layer=1, n_head=2,
                                            n_embd=16, dropout=0.1))


def step_fn(model, step, gen, fail_at=None):
    if step == fail_at:
        raise KeyboardInterrupt("simulated kill")
    idx = torch.randint(0, 48, (8,), generator=gen)
    out = md_loss(model, DATA.train_sequences()[idx], MaskRatio.uniform(), PARITY_MASK_ID, gen)
    return out.loss, {"masked": out.mask.float().mean().item()}


def eval_fn(model, step):
    seq = DATA.test_sequences()
    out = md_loss(model, seq, MaskRatio.fixed(0.5), PARITY_MASK_ID, torch.Generator().manual_seed(0))
    return {"test_loss": out.loss.item()}


def test_resume_after_kill_is_bit_exact(tmp_path):
    reference = train(new_model(), step_fn, CFG, eval_fn=eval_fn, run_dir=tmp_path / "a", progress=False)
    killed = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):
        train(new_model(), lambda m, s, g: step_fn(m, s, g, fail_at=10), CFG, eval_fn=eval_fn,
              run_dir=killed, progress=False)
    assert (killed / CHECKPOINT).exists() and not (killed / FINAL).exists()
    assert len(pd.read_csv(killed / "metrics.csv")) == 3  # steps 0, 4, 8 were written before the kill
    resumed = train(new_model(), step_fn, CFG, eval_fn=eval_fn, run_dir=killed, progress=False)
    assert not resumed.cached
    pd.testing.assert_frame_equal(reference.metrics, resumed.metrics, check_exact=True)
    assert pd.read_csv(killed / "metrics.csv").equals(pd.read_csv(tmp_path / "a" / "metrics.csv"))
    assert list(reference.metrics["step"]) == [0, 4, 8, 12]


def test_finished_run_is_cached_and_restores_weights(tmp_path):
    model = new_model()
    first = train(model, step_fn, CFG, eval_fn=eval_fn, run_dir=tmp_path, progress=False)
    fresh = new_model()
    second = train(fresh, lambda *a: pytest.fail("a cached run must not train"), CFG, run_dir=tmp_path,
                   progress=False)
    assert second.cached
    pd.testing.assert_frame_equal(first.metrics, second.metrics)
    for p, q in zip(model.parameters(), fresh.parameters()):
        assert torch.equal(p, q)


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path):
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="corrupt.*Delete it"):
        train(new_model(), step_fn, CFG, run_dir=tmp_path, progress=False)
    with pytest.raises(RuntimeError, match="corrupt"):
        load_checkpoint(tmp_path / CHECKPOINT)


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert learning_rate(0, cfg) == pytest.approx(0.1)
    assert learning_rate(9, cfg) == pytest.approx(1.0)
    assert learning_rate(10, cfg) == pytest.approx(1.0)
    assert learning_rate(55, cfg) == pytest.approx(0.55)
    assert learning_rate(100, cfg) == pytest.approx(0.1)
    lrs = [learning_rate(s, cfg) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_derive_config_reads_same_named_fields_and_applies_overrides():
    from mdlm_core.lm import LM_SMOKE
    from mdlm_core.parity import MLP_QUICK
    train = LM_SMOKE.train
    cfg = derive_config(TrainConfig, train, seed=3)
    assert (cfg.steps, cfg.lr, cfg.warmup_steps, cfg.weight_decay, cfg.eval_every, cfg.seed) == \
        (train.steps, train.lr, train.warmup_steps, train.weight_decay, train.eval_every, 3)
    assert cfg.schedule == "cosine" and cfg.min_lr_ratio == TrainConfig.min_lr_ratio   # absent in the spec: default
    assert LM_SMOKE.train_config(seed=3) == cfg
    model = LM_SMOKE.model_config(vocab_size=77)
    assert (model.vocab_size, model.block_size, model.n_layer, model.n_embd, model.dropout) == \
        (77, LM_SMOKE.data.seq_len, LM_SMOKE.model.n_layer, LM_SMOKE.model.n_embd, LM_SMOKE.model.dropout)
    parity = MLP_QUICK.train_config(steps=7)
    assert (parity.steps, parity.schedule, parity.grad_clip) == (7, "constant", MLP_QUICK.train.grad_clip)
    with pytest.raises(TypeError, match="two dataclasses"):
        derive_config(TrainConfig, {"steps": 3})


def test_config_hash_and_run_dir(tmp_path):
    assert config_hash({"a": 1, "cfg": CFG}) == config_hash({"cfg": CFG, "a": 1})
    assert config_hash(CFG) != config_hash(TrainConfig(steps=12, lr=3e-3, warmup_steps=3, eval_every=4, seed=8))
    path = run_dir_for(tmp_path, "parity", {"train": CFG})
    assert path.name.startswith("parity-") and (path / "config.json").exists()


def test_weight_decay_only_on_matrices():
    from mdlm_core.training import make_optimizer

    opt = make_optimizer(new_model(), CFG)
    decayed, plain = opt.param_groups
    assert all(p.dim() >= 2 for p in decayed["params"]) and decayed["weight_decay"] == CFG.weight_decay
    assert all(p.dim() < 2 for p in plain["params"]) and plain["weight_decay"] == 0.0


DDP_WORKER = """
import sys
import torch
import torch.distributed as dist
sys.path.insert(0, {tests!r})
from test_training import CFG, eval_fn, new_model, step_fn
from mdlm_core import train

rank = int(sys.argv[1])
dist.init_process_group("gloo", init_method="file://{init}", rank=rank, world_size=2)
model = new_model()
result = train(model, step_fn, CFG, eval_fn=eval_fn, run_dir={run!r}, progress=False)
torch.save({{"params": [p.detach() for p in model.parameters()], "rows": len(result.metrics)}}, {out!r} + str(rank))
dist.destroy_process_group()
"""


def test_distributed_data_parallel_keeps_ranks_in_sync(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "worker.py"
    script.write_text(DDP_WORKER.format(tests=str(Path(__file__).parent), init=tmp_path / "init",
                                        run=str(tmp_path / "run"), out=str(tmp_path / "rank")))
    procs = [subprocess.Popen([sys.executable, str(script), str(r)], stderr=subprocess.PIPE, text=True)
             for r in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    r0, r1 = (torch.load(tmp_path / f"rank{r}") for r in range(2))
    assert all(torch.equal(a, b) for a, b in zip(r0["params"], r1["params"]))  # gradients all-reduced each step
    solo = new_model()
    train(solo, step_fn, CFG, progress=False)
    assert not all(torch.equal(a, b) for a, b in zip(r0["params"], solo.parameters()))  # ranks saw different data
    assert r0["rows"] == 4 and (tmp_path / "run" / FINAL).exists()
