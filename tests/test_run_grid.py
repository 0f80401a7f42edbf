"""Process-parallel grids: the same runs as in-process, through the run cache, and errors that name the job."""

from functools import partial

import pytest
import torch

from mdlm_core.training import TrainConfig, grid_workers, run_grid, train_cached


def _toy_run(root, seed: int) -> torch.Tensor:
    """A cached 20-step regression run; returns its final weights."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(8, 1)
    target = torch.randn(8, 1)

    def step(m, step, generator):
        x = torch.randn(32, 8, generator=generator)
        return ((m(x) - x @ target) ** 2).mean(), {}

    train_cached(model, step, TrainConfig(steps=20, lr=1e-2, eval_every=10, seed=seed), name=f"toy-s{seed}",
                 key={"seed": seed}, root=root, progress=False)
    return model.weight.detach().clone()


def _failing_run(seed: int) -> int:
    if seed == 2:
        raise ValueError("planted failure")
    return seed


def test_parallel_grid_returns_the_in_process_results(tmp_path):
    serial = run_grid([0, 1, 2], partial(_toy_run, tmp_path / "serial"), progress=False)
    parallel = run_grid([0, 1, 2], partial(_toy_run, tmp_path / "parallel"), progress=False, workers=2)
    for a, b in zip(serial, parallel):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert not torch.equal(serial[0], serial[1])  # the seeds really differ
    # the workers wrote the runs: all three are in the parallel cache, finished
    assert sorted(p.name.split("-")[1] for p in (tmp_path / "parallel").iterdir()) == ["s0", "s1", "s2"]


def test_a_failing_job_stops_the_grid_and_is_named():
    with pytest.raises(RuntimeError, match="job 2 failed") as err:
        run_grid([0, 1, 2, 3], _failing_run, progress=False, workers=2)
    assert "planted failure" in str(err.value.__cause__)


def test_grid_workers():
    assert grid_workers(None, 24, "cuda") == 1
    assert grid_workers(3, 2) == 2                     # never more workers than jobs
    assert 1 <= grid_workers(None, 24) <= 24
    with pytest.raises(ValueError, match="workers=0"):
        grid_workers(0, 5)
