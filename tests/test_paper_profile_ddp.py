"""The paper profile's multi-GPU path, proven on CPU: DistributedDataParallel over 2 gloo ranks with the real LM, SFT
and parity step functions (each reads the model's attributes through the wrapper), ranks on different batches,
rank 0 alone writing, and a killed run resuming to the same weights; the checkpoint holds every global RNG stream
(CPU and CUDA); the README's DDP snippet runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mdlm_core import training

ROOT = Path(__file__).resolve().parents[1]

WORKER = r'''
import sys
from types import SimpleNamespace
import torch
import torch.distributed as dist
from mdlm_core import DiffusionTransformer, MaskRatio, ModelConfig, TrainConfig, make_parity_data, train
from mdlm_core import parity
from mdlm_core.lm import make_lm_step
from mdlm_core.experiments.sft_windows import make_sft_step

rank, init, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=2)
cpu = torch.device("cpu")
CFG = TrainConfig(steps=8, lr=3e-3, warmup_steps=2, eval_every=2, seed=5)


def lm_case():
    torch.manual_seed(0)
    model = DiffusionTransformer(ModelConfig(vocab_size=12, block_size=10, n_layer=1, n_head=2, n_embd=16,
                                             dropout=0.1))
    rows = torch.randint(0, 12, (64, 10), generator=torch.Generator().manual_seed(1))
    return model, make_lm_step(rows, 4, MaskRatio.window(0.4, 0.5), cpu)


def sft_case():
    torch.manual_seed(0)
    model = DiffusionTransformer(ModelConfig(vocab_size=12, block_size=10, n_layer=1, n_head=2, n_embd=16,
                                             dropout=0.1))
    tokens = torch.randint(0, 12, (32, 10), generator=torch.Generator().manual_seed(2))
    data = SimpleNamespace(tasks={"arithmetic": SimpleNamespace(train_tokens=tokens, prompt_tokens=4)})
    cfg = SimpleNamespace(task_batch_size=lambda name: 4)
    return model, make_sft_step(data, cfg, MaskRatio.window(0.5, 1.0), cpu)


def parity_case():
    spec = parity.ParitySpec(data=parity.ParityDataSpec(n=6, k=2, n_train=32, n_test=16),
                             model=parity.ParityModelSpec(family=parity.TRANSFORMER, n_layer=1, n_head=2, n_embd=16),
                             train=parity.ParityTrainSpec(batch_size=8, log_train_regimes=True))
    members = [parity.ParityMember(parity.MD, 0, MaskRatio.fixed(1 / 3)), parity.ParityMember(parity.SUPERVISED, 1)]
    objective = parity.ParityObjective(members, [spec.data.for_seed(m.seed) for m in members], 8)
    return parity.build_model(spec, [m.seed for m in members]), objective.step_fn


def traced(step_fn, losses, fail_at=None):
    def step(model, step, generator):
        if step == fail_at:
            raise KeyboardInterrupt("simulated kill")
        loss, metrics = step_fn(model, step, generator)
        losses.append(loss.item())
        return loss, metrics
    return step


out = {}
for name, case in [("lm", lm_case), ("sft", sft_case), ("parity", parity_case)]:
    model, step_fn = case()
    losses = []
    train(model, traced(step_fn, losses), CFG, run_dir=f"{root}/{name}-whole", progress=False)
    killed, killed_fn = case()
    try:
        train(killed, traced(killed_fn, [], fail_at=5), CFG, run_dir=f"{root}/{name}-killed", progress=False)
    except KeyboardInterrupt:
        pass
    resumed, resumed_fn = case()
    train(resumed, traced(resumed_fn, []), CFG, run_dir=f"{root}/{name}-killed", progress=False)
    out[name] = {"params": [p.detach().clone() for p in model.parameters()],
                 "resumed": [p.detach().clone() for p in resumed.parameters()], "losses": losses}
torch.save(out, f"{root}/rank{rank}.pt")
dist.destroy_process_group()
'''


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Both ranks' parameters and per-step losses for each real step function (one 2-process run)."""
    root = tmp_path_factory.mktemp("ddp")
    script = root / "worker.py"
    script.write_text(WORKER)
    procs = [subprocess.Popen([sys.executable, str(script), str(r), str(root / "init"), str(root)],
                              stderr=subprocess.PIPE, text=True, cwd=ROOT) for r in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
    return root, [torch.load(root / f"rank{r}.pt") for r in range(2)]


@pytest.mark.parametrize("case", ["lm", "sft", "parity"])
def test_real_step_functions_train_under_ddp_ranks_in_sync_on_different_batches(ranks, case):
    root, (r0, r1) = ranks
    assert all(torch.equal(a, b) for a, b in zip(r0[case]["params"], r1[case]["params"])), \
        "the gradients were not all-reduced: the ranks' weights differ"
    assert r0[case]["losses"][0] != r1[case]["losses"][0], "both ranks drew the same first batch"
    assert (root / f"{case}-whole" / training.FINAL).exists() and (root / f"{case}-whole" / "metrics.csv").exists()


@pytest.mark.parametrize("case", ["lm", "sft", "parity"])
def test_a_killed_ddp_run_resumes_to_the_weights_of_an_uninterrupted_one(ranks, case):
    _, (r0, r1) = ranks
    for rank in (r0, r1):
        assert all(torch.equal(a, b) for a, b in zip(rank[case]["params"], rank[case]["resumed"]))


class FakeCuda:
    """A CUDA RNG for a CPU machine: one state tensor that a step's draws advance."""

    def __init__(self):
        self.state = torch.tensor([0])

    def draw(self):
        self.state = self.state + 1
        return int(self.state)


def test_the_checkpoint_holds_the_cuda_rng_and_resume_restores_it(tmp_path, monkeypatch):
    fake = FakeCuda()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [fake.state.clone()])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: setattr(fake, "state", states[0].clone()))
    model = torch.nn.Linear(2, 1)
    cfg = training.TrainConfig(steps=6, eval_every=2, seed=0)
    draws: list[int] = []

    def step_fn(m, step, generator, fail_at=None):
        if step == fail_at:
            raise KeyboardInterrupt
        draws.append(fake.draw())   # what dropout on a GPU does: advance the CUDA stream
        return m(torch.ones(1, 2)).sum(), {}

    training.train(model, step_fn, cfg, run_dir=tmp_path / "whole", progress=False)
    whole, draws[:] = list(draws), []
    fake.state = torch.tensor([0])
    with pytest.raises(KeyboardInterrupt):
        training.train(torch.nn.Linear(2, 1), lambda m, s, g: step_fn(m, s, g, fail_at=4), cfg,
                       run_dir=tmp_path / "killed", progress=False)
    fake.state = torch.tensor([100])   # a new process: CUDA's stream is wherever torch.manual_seed put it
    training.train(torch.nn.Linear(2, 1), step_fn, cfg, run_dir=tmp_path / "killed", progress=False)
    assert draws == whole, "the resumed run's CUDA draws repeat or skip: its RNG state was not restored"


def _readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"README.md has no python block after <!-- {marker} -->"
    return match.group(1)


def test_the_readme_ddp_snippet_runs_as_written_on_two_gloo_ranks(tmp_path):
    (tmp_path / "my_run.py").write_text(_readme_block("ddp-example"))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "my_run.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "runs" / "my-run" / training.FINAL).exists()
