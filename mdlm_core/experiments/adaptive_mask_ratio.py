"""Beyond the paper: mask-ratio distributions other than windows (notebook 06).

Huang & Mirzasoleiman (2026) search only 0.1-wide uniform windows and leave "complex non-linear or
curriculum-based schedules for the mask probability t" open. This experiment trains notebook 03's LM (the same
``lm.LM_*`` spec its profile trains) on three more distributions (``mask_ratio.py``) with the same budget, data
order per seed and test ELBO:

* **Beta(a, b) fitted to notebook 03's U-curve** (``fit_beta_to_u_curve``): mean at the minimum of a
  quadratic fitted to the ten bins' test losses, and the widest s.d. whose expected excess loss under that
  quadratic equals the seed s.d. (it spreads over every t the U-curve cannot tell from its minimum). The fit
  reads notebook 03's tables of the same profile (``Config.u_curve_tables``, through ``Outputs.read_table``);
  the runs train on the Beta declared in the profile (the run cache keys on it), and ``06_beta_fit`` records both;
* **a curriculum from high t to the best window**: the window's centre slides from ``curriculum.start`` down to
  the best window's centre over the first ``curriculum.ramp`` of training, then stays;
* **an online adaptive sampler** (``AdaptiveBins``): a bandit over the ten bins that follows each bin's
  learning progress.

Every one of them changes the training distribution of t (as the paper's windows do); none reweights by
1/p(t). Uniform [0, 1] and the best window [0.4, 0.5] come from notebook 03's run cache (same spec: same
runs) with one more seed. On parity (notebook 02's MLP, ``parity.MLP_*``) the adaptive sampler runs alone, for
each k of ``parity.ks``, to see whether its density finds t* = 1/(k + 1) by itself.

``run(cfg, out)`` trains all of it and writes the tables; ``claims(results)`` judges them by the rules of
``companion.verdicts``; ``figures(results, out)`` draws the densities, the paired test ELBOs and the parity
densities; ``explorer(results)`` slides over the Beta, the curriculum's speed and k.

**Gates** (declared here, before any run is judged; ``verdicts.Gate`` / ``gated``): a claim whose gate fails is
"inconclusive (gate: ...)" and stays out of the report's FDR family.

* *the LM learned* (every LM claim): notebook 03's learning gate on this experiment's own uniform runs: their
  mean test ELBO <= ``LM_GATE_RATIO`` (0.8) x the scored test tokens' unigram entropy, and they use context
  (loss in the t-bin nearest 0.1 <= 0.8 x the loss in the bin nearest 0.9);
* *the parity members learned the rule* (every parity claim): the seeds' mean final test accuracy >=
  ``PARITY_GATE_ACC`` (0.9). Where the members stay near chance on test, the losses that fall are those of
  memorised sequences, so where the density peaks says nothing about the rule's t*.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import parity
from ..companion import figure_names
from ..companion.outputs import figure_style as _style
from ..companion.verdicts import Claim, Gate, gated, paired_difference_test, share_test, with_finding
from ..data.text import unigram_entropy
from ..lm import (BINS, LM_PAPER, LM_QUICK, LM_SMOKE, UNIFORM, LMSpec, evaluation_se, pooled_seed_sd,
                  prepare_lm_data, scored_test_rows, seed_differences, train_lm_job)
from ..mask_ratio import AdaptiveBins, AdaptiveBinsSampler, BetaRatio, CurriculumRatio, MaskRatio, parse_mask_ratio
from ..parity import MD, MLP, ParityMember, ParitySpec
from ..theory.signal import optimal_mask_ratio, signal_probability
from ..training import grid_workers, resolve_device, run_grid, train_cached

NOTEBOOK = "06_adaptive_mask_ratio"
BEYOND = "beyond the paper: its limitations section leaves non-window distributions of t open"
DISTRIBUTIONS = ("uniform", "best window", "beta", "curriculum", "adaptive")
LM_GATE_RATIO = 0.8     # the LM gate: uniform's test ELBO <= 0.8 x unigram entropy, loss(t~0.1) <= 0.8 x loss(t~0.9)
PARITY_GATE_ACC = 0.9   # the parity gate: the seeds' mean final test accuracy >= 0.9


# -- the config ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BetaSpec:
    """The Beta the runs train on: ``fit_beta_to_u_curve`` on notebook 03's quick runs, rounded to 0.1, declared
    here so that the run cache keys on it (``run`` refits it on the profile's notebook 03 tables and records both)."""
    a: float = 5.1
    b: float = 4.6

    def ratio(self) -> BetaRatio:
        return BetaRatio(self.a, self.b)


@dataclass(frozen=True)
class CurriculumSpec:
    start: float = 0.8     # window centre at step 0 ...
    width: float = 0.1
    ramp: float = 0.5      # ... reaches the best window's centre after this share of training, then stays

    def ratio(self, best: MaskRatio, steps: int) -> CurriculumRatio:
        return CurriculumRatio(self.start, (best.low + best.high) / 2, self.width, int(round(self.ramp * steps)),
                               steps)


@dataclass(frozen=True)
class AdaptiveSpec:
    """The online sampler over ten t-bins; its time scales are shares of training (``bins(steps)``)."""
    explore: float = 0.3   # share of the batch drawn uniformly over the bins
    z: float = 0.0         # noise threshold in s.e. (0: none; a threshold starves rarely drawn bins)
    fast: float = 0.05     # half-lives of the progress averages, as shares of training
    slow: float = 0.2
    warmup: float = 0.1    # uniform for this share of training (the unigram phase)

    def bins(self, steps: int) -> AdaptiveBins:
        return AdaptiveBins(explore=self.explore, z=self.z, fast=max(1.0, self.fast * steps),
                            slow=max(2.0, self.slow * steps), warmup=int(self.warmup * steps),
                            record_every=max(1, steps // 40))


@dataclass(frozen=True)
class ParityRuns:
    """The adaptive sampler alone on k-parity: notebook 02's MLP spec with k replaced, one ensemble of seeds per k."""
    mlp: ParitySpec = parity.MLP_QUICK
    ks: tuple[int, ...] = (3, 4)
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    peak_tolerance: float = 0.05   # "finds t*": the final density peaks within this distance of t*

    def __post_init__(self) -> None:
        if self.mlp.family != MLP:
            raise ValueError(f"parity.mlp is notebook 02's MLP (family 'mlp', e.g. parity.MLP_QUICK), got "
                             f"{self.mlp.family!r}")
        if not self.ks or not self.seeds:
            raise ValueError("parity.ks and parity.seeds must name at least one value each, e.g. (3, 4) and (0, 1)")

    def spec(self, k: int) -> ParitySpec:
        """The MLP spec on k-parity (k capped at the number of input bits)."""
        data = self.mlp.data
        return dataclasses.replace(self.mlp, data=dataclasses.replace(data, k=min(k, data.n)))


@dataclass(frozen=True)
class Config:
    lm: LMSpec = LM_QUICK                  # notebook 03's LM of the same profile (same spec: its runs are reused)
    seeds: tuple[int, ...] = (0, 1, 2)     # every distribution, paired (seed = data order and init)
    best_window: str = "[0.4,0.5]"         # declared from notebook 03 (picked on seeds 0, 1: a winner's curse)
    beta: BetaSpec = BetaSpec()
    curriculum: CurriculumSpec = CurriculumSpec()
    adaptive: AdaptiveSpec = AdaptiveSpec()
    parity: ParityRuns = ParityRuns()
    u_curve_tables: str = "03_wikitext_u_curve"   # the Beta fit's input: this notebook's tables of the same profile
    workers: int | None = None             # run_grid processes (None: one per CPU core; 1 on a GPU)

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("seeds must name at least one seed, e.g. (0, 1, 2)")
        if not isinstance(parse_mask_ratio(self.best_window), MaskRatio):
            raise ValueError(f"best_window={self.best_window!r} must be a window label such as '[0.4,0.5]'")

    def labels(self) -> dict[str, str]:
        """Distribution name -> the label the run cache and every table use."""
        steps = self.lm.train.steps
        best = MaskRatio.parse(self.best_window)
        return {"uniform": UNIFORM, "best window": best.label, "beta": self.beta.ratio().label,
                "curriculum": self.curriculum.ratio(best, steps).label, "adaptive": self.adaptive.bins(steps).label}

    @property
    def jobs(self) -> list[tuple[str, int]]:
        """(label, seed) of every LM run, seeds outermost."""
        labels = self.labels()
        return [(labels[name], seed) for seed in self.seeds for name in DISTRIBUTIONS]


PROFILES = {
    "smoke": Config(lm=LM_SMOKE, workers=1, parity=ParityRuns(parity.MLP_SMOKE, ks=(2,), seeds=(0, 1))),
    # notebook 03's quick LM (uniform and [0.4,0.5] seeds 0-1 from its cache); 11 new LM runs, 2 parity ensembles
    "quick": Config(),
    "paper": Config(lm=LM_PAPER, parity=ParityRuns(parity.MLP_PAPER, ks=(3, 4, 6), seeds=tuple(range(8)))),
}

# The paper profile's CPU dry run (tests/test_paper_profile.py): ``apply_overrides(PROFILES['paper'], **DRY_RUN)``
# cuts steps, seeds, evaluation and data-item counts; every model and sequence size stays the paper's.
DRY_RUN = {
    "lm.train.steps": 2, "lm.train.warmup_steps": 1, "lm.train.eval_every": 1, "lm.train.batch_size": 2,
    "lm.train.valid_seqs": 2, "lm.train.valid_draws": 1, "lm.eval.test_seqs": 4, "lm.eval.test_draws": 10,
    "lm.eval.eval_batch_size": 4, "lm.data.eval_chars": 100_000,
    "lm.data.train_chars": 2_000_000,   # still enough text for the 8192-token BPE (the test checks the vocabulary)
    "seeds": (0,), "parity.ks": (6,), "parity.seeds": (0, 1), "parity.mlp.train.steps": 2,
    "parity.mlp.train.eval_every": 2, "parity.mlp.data.n_train": 64, "parity.mlp.data.n_test": 64}


# -- the Beta fit --------------------------------------------------------------------------------------------
def fit_beta_to_u_curve(summary: pd.DataFrame, seed_sd: float) -> dict:
    """Beta(a, b) from notebook 03's bins: a quadratic L(c) = A (c - c0)^2 + L0 through the ten bins' mean test
    losses; mean c0 and the s.d. s with A s^2 = seed_sd (the expected excess loss of a draw equals the seed
    noise). Returns the fit and the Beta (method of moments)."""
    bins = summary[summary.window.isin(BINS)]
    if len(bins) < 3 or not np.isfinite(seed_sd):
        raise ValueError(f"the Beta fit needs >= 3 of the ten bins and a seed s.d.; got {len(bins)} bins, "
                         f"seed s.d. {seed_sd}")
    centres = (bins.low + bins.high) / 2
    curvature, slope, _ = np.polyfit(centres, bins.test_loss, 2)
    if curvature <= 0:
        raise ValueError("the U-curve's quadratic fit opens downwards: no minimum to centre a Beta on")
    mean = float(-slope / (2 * curvature))
    sd = float(np.sqrt(seed_sd / curvature))
    beta = BetaRatio.from_mean_sd(mean, sd)
    return {"curvature": float(curvature), "minimum": mean, "seed_sd": float(seed_sd), "sd": sd,
            "a": beta.a, "b": beta.b}


def beta_fit_table(cfg: Config, out) -> pd.DataFrame:
    """The Beta fitted to notebook 03's tables of ``out``'s profile (missing tables: a clear error), beside the
    declared Beta the runs train on."""
    summary = out.read_table("03_u_curve_summary", written_by=cfg.u_curve_tables)
    seed_sd = pooled_seed_sd(out.read_table("03_runs", written_by=cfg.u_curve_tables))
    try:
        fit = fit_beta_to_u_curve(summary, seed_sd)
    except ValueError:   # fewer than 3 bins, one seed, or no minimum: nothing to fit; the runs use the declared Beta
        fit = dict.fromkeys(("curvature", "minimum", "seed_sd", "sd", "a", "b"), float("nan"))
    return pd.DataFrame([fit | {"declared_a": cfg.beta.a, "declared_b": cfg.beta.b}])


# -- the adaptive sampler's record ---------------------------------------------------------------------------
def sampler_history(state: dict) -> pd.DataFrame:
    """An AdaptiveBinsSampler state -> one row per (recorded step, bin): the bin's probability."""
    probs = state["history_probs"].numpy()
    steps = state["history_steps"].numpy()
    n_bins = probs.shape[1]
    rows = [{"step": int(s), "bin": j, "t_mid": (j + 0.5) / n_bins, "prob": float(p[j])}
            for s, p in zip(steps, probs) for j in range(n_bins)]
    return pd.DataFrame(rows, columns=["step", "bin", "t_mid", "prob"])


def final_density(history: pd.DataFrame, share: float = 0.1) -> pd.DataFrame:
    """The sampler's final density: its bin probabilities averaged over the records of the last ``share`` of
    training (one record alone is a noisy snapshot of a sampler that follows a noisy signal)."""
    last = history.step.max()
    recent = history[history.step >= last - share * last]
    return recent.groupby(["seed", "bin", "t_mid"], as_index=False).prob.mean()


def sampler_seconds_per_step(spec: AdaptiveBins, batch_size: int, repeats: int = 500) -> float:
    """Wall time of one sample + update of the sampler at ``batch_size`` (what it adds to a training step)."""
    sampler, generator = spec.new_sampler(), torch.Generator().manual_seed(0)
    loss = torch.rand(batch_size, generator=generator)
    start = time.perf_counter()
    for step in range(repeats):
        t = sampler.sample(batch_size, generator, step=step)
        sampler.update(t, loss, step)
    return (time.perf_counter() - start) / repeats


# -- parity: does the adaptive sampler find t* on its own? --------------------------------------------------
class SamplerGroup:
    """Several samplers checkpointed as one state (one per ensemble member)."""

    def __init__(self, samplers: list[AdaptiveBinsSampler]):
        self.samplers = samplers

    def state_dict(self) -> dict:
        return {f"m{i}": s.state_dict() for i, s in enumerate(self.samplers)}

    def load_state_dict(self, state: dict) -> None:
        for i, s in enumerate(self.samplers):
            s.load_state_dict(state[f"m{i}"])


class AdaptiveParityObjective(parity.ParityObjective):
    """Notebook 02's objective with each member's t drawn from its own adaptive sampler (the members' mask_ratio
    is the live sampler), fed with the member's per-sequence 1/t-weighted loss after every step."""

    def step_fn(self, model, step, _generator):
        batch = self.draw_batch(step)
        losses, logits = self.member_losses(model, batch)
        with torch.no_grad():
            nll = F.cross_entropy(logits.detach().float().flatten(0, -2), batch.tokens.flatten(),
                                  reduction="none").view(batch.mask.shape)
            per_sequence = (nll * batch.mask).sum(-1) / self.seq_len / batch.t      # [E, B]
            for i, member in enumerate(self.members):
                member.mask_ratio.update(batch.t[i], per_sequence[i], step)
        return losses.sum(), {f"loss.m{i}": v for i, v in enumerate(losses.detach().tolist())}


def parity_run_key(cfg: Config, k: int) -> tuple[str, dict]:
    """(name, key) of the run cache entry of the k-parity ensemble: the members carry the sampler's spec."""
    spec = cfg.parity.spec(k)
    members = [ParityMember(MD, s, cfg.adaptive.bins(spec.train.steps)) for s in cfg.parity.seeds]
    return "parity-adaptive", parity.run_key(members, spec, spec.train.steps) | {"ensemble": True}


def run_parity(cfg: Config, k: int, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (or load) the k-parity ensemble: (tidy metrics, the samplers' history with a seed column)."""
    spec = cfg.parity.spec(k)
    bins = cfg.adaptive.bins(spec.train.steps)
    seeds = list(cfg.parity.seeds)
    members = [ParityMember(MD, s, bins) for s in seeds]
    samplers = [bins.new_sampler() for _ in seeds]
    live = [ParityMember(MD, s, sampler) for s, sampler in zip(seeds, samplers)]
    device = resolve_device(spec.train.device)
    objective = AdaptiveParityObjective(live, [spec.data.for_seed(s) for s in seeds], spec.train.batch_size, device,
                                        float64_loss=spec.train.float64_loss, log_train_regimes=False)
    model = parity.build_model(spec, seeds).to(device)
    name, key = parity_run_key(cfg, k)
    result = train_cached(model, objective.step_fn, spec.train_config(), name=name, key=key, eval_fn=objective.eval_fn,
                          progress=progress, desc=f"adaptive parity k={k}", state=SamplerGroup(samplers))
    metrics = parity.tidy_metrics(result.metrics, members, spec.data.k, spec.train.batch_size)
    history = pd.concat([sampler_history(s.state_dict()).assign(seed=seed) for seed, s in zip(seeds, samplers)],
                        ignore_index=True)
    return metrics, history


def peak_summary(final: pd.DataFrame, k: int, tolerance: float) -> pd.DataFrame:
    """Per seed (and the seed mean) of a final density: its peak bin centre and whether it is within tolerance of t*."""
    t_star = optimal_mask_ratio(k)

    def peak(probs: pd.Series) -> tuple[float, float]:   # a flat density has no peak (NaN)
        return (float(probs.idxmax()) if probs.max() - probs.min() > 1e-9 else np.nan), float(probs.max())

    rows = [(seed, *peak(g.set_index("t_mid").prob)) for seed, g in final.groupby("seed")]
    rows.append(("mean", *peak(final.groupby("t_mid").prob.mean())))
    out = pd.DataFrame(rows, columns=["seed", "peak_t", "peak_prob"]).assign(k=k, t_star=t_star)
    out["within"] = (out.peak_t - t_star).abs() <= tolerance + 1e-9
    return out


# -- running -------------------------------------------------------------------------------------------------
@dataclass
class Results:
    """Plain data: every table of notebook 06, the config its claims and figures read, and two measured numbers."""

    config: Config
    beta_fit: pd.DataFrame          # the fit to notebook 03's tables and the declared Beta: 06_beta_fit
    runs: pd.DataFrame              # distribution, label, seed, test_loss, test_stderr: 06_adaptive_runs
    loss_vs_t: pd.DataFrame         # t_mid, loss, ..., distribution, seed: 06_loss_vs_t
    history: pd.DataFrame           # LM adaptive runs: step, bin, t_mid, prob, seed: 06_adaptive_history
    timing: pd.DataFrame            # distribution, seed, train_seconds: 06_timing (wall clock, not a result)
    paired: pd.DataFrame            # paired_table: 06_paired_differences
    parity_peaks: pd.DataFrame      # peak_summary per k: 06_parity_peaks
    parity_history: pd.DataFrame    # k, seed, step, bin, t_mid, prob: 06_parity_history
    parity_accuracy: pd.DataFrame   # k, seed, step, train_acc, test_acc: 06_parity_accuracy
    per_sequence: dict = field(default_factory=dict)   # (label, seed) -> per-sequence test ELBO (common masks)
    unigram_entropy: float = float("nan")   # nats per token of the scored test tokens (the LM gate)
    sampler_seconds: float = float("nan")   # the adaptive sampler's own work per LM step

    @property
    def labels(self) -> dict[str, str]:
        return self.config.labels()

    @property
    def summary(self) -> pd.DataFrame:
        """Per distribution: label, seeds, mean test ELBO and the seed s.d."""
        return self.runs.groupby("distribution", sort=False).agg(
            label=("label", "first"), n_seeds=("seed", "nunique"), test_loss=("test_loss", "mean"),
            seed_sd=("test_loss", "std")).reset_index()

    @property
    def adaptive_step_seconds(self) -> float:
        """Wall time per training step of the LM adaptive runs (mean over seeds)."""
        adaptive = self.timing[self.timing.distribution == "adaptive"]
        return float((adaptive.train_seconds / self.config.lm.train.steps).mean())

    @property
    def parity_final_accuracy(self) -> pd.DataFrame:
        """Per k: the seeds' mean final train and test accuracy (the parity gate reads the test one)."""
        acc = self.parity_accuracy
        last = acc[acc.step == acc.groupby("k").step.transform("max")]
        return last.groupby("k").agg(train_acc=("train_acc", "mean"), test_acc=("test_acc", "mean"),
                                     n_seeds=("seed", "nunique")).reset_index()

    def parity_final_density(self, k: int) -> pd.DataFrame:
        return final_density(self.parity_history[self.parity_history.k == k].drop(columns="k"))


def paired_table(runs: pd.DataFrame, per_sequence: dict, labels: dict[str, str]) -> pd.DataFrame:
    """Each distribution against uniform and the best window: per-seed paired differences (reference minus it,
    > 0: it is better), their mean, the seed s.e. and the evaluation s.e. from common masks."""
    runs = runs.rename(columns={"label": "window"})
    rows = []
    for name in ("beta", "curriculum", "adaptive", "best window"):
        for reference in ("uniform", "best window"):
            if name == reference:
                continue
            a, b = labels[name], labels[reference]
            diff = seed_differences(runs, b, a)
            if diff.empty:
                continue
            rows.append({"distribution": name, "reference": reference, "n_seeds": len(diff),
                         "gain": float(diff.mean()),
                         "seed_se": float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else np.nan,
                         "eval_se": evaluation_se(per_sequence, b, a, diff.index),
                         **{f"gain_seed{s}": float(v) for s, v in diff.items()}})
    return pd.DataFrame(rows)


def run(cfg: Config, out, *, data_dir=None, progress: bool = True) -> Results:
    """The Beta fit to notebook 03's tables, every (distribution, seed) LM run with its test ELBO, the adaptive
    parity ensembles, and notebook 06's tables (written through ``out``)."""
    beta_fit = beta_fit_table(cfg, out)
    out.table(beta_fit, "06_beta_fit")

    spec, labels = cfg.lm, cfg.labels()
    names = {label: name for name, label in labels.items()}
    data = prepare_lm_data(spec, data_dir)
    jobs = cfg.jobs
    lm_runs = run_grid(jobs, partial(train_lm_job, spec, data, None, False), desc="LM runs", progress=progress,
                       workers=grid_workers(cfg.workers, len(jobs), resolve_device(spec.device)))
    runs = pd.DataFrame([{"distribution": names[r.label], "label": r.label, "seed": r.seed,
                          "test_loss": r.test.loss, "test_stderr": r.test.stderr} for r in lm_runs])
    loss_vs_t = pd.concat([r.test.per_bin.assign(distribution=names[r.label], seed=r.seed) for r in lm_runs],
                          ignore_index=True)
    history = pd.concat([sampler_history(r.train_state).assign(seed=r.seed) for r in lm_runs
                         if r.train_state is not None], ignore_index=True)
    timing = pd.DataFrame([{"distribution": names[r.label], "seed": r.seed, "train_seconds": r.seconds}
                           for r in lm_runs])
    per_sequence = {(r.label, r.seed): r.test.per_sequence for r in lm_runs}
    paired = paired_table(runs, per_sequence, labels)
    out.table(runs, "06_adaptive_runs")
    out.table(loss_vs_t, "06_loss_vs_t")
    out.table(history, "06_adaptive_history")
    out.table(timing, "06_timing")
    out.table(paired, "06_paired_differences")
    test = scored_test_rows(spec, data)
    entropy = unigram_entropy(test.tokens[test.valid].numpy())
    sampler_seconds = sampler_seconds_per_step(cfg.adaptive.bins(spec.train.steps), spec.train.batch_size)

    trained = {k: run_parity(cfg, k, progress) for k in cfg.parity.ks}
    peaks = pd.concat([peak_summary(final_density(h), cfg.parity.spec(k).data.k, cfg.parity.peak_tolerance)
                       for k, (_, h) in trained.items()], ignore_index=True)
    parity_history = pd.concat([h.assign(k=cfg.parity.spec(k).data.k) for k, (_, h) in trained.items()],
                               ignore_index=True)
    accuracy = pd.concat([m.assign(k=cfg.parity.spec(k).data.k)[["k", "seed", "step", "train_acc", "test_acc"]]
                          for k, (m, _) in trained.items()], ignore_index=True)
    out.table(peaks, "06_parity_peaks")
    out.table(parity_history, "06_parity_history")
    out.table(accuracy, "06_parity_accuracy")
    return Results(cfg, beta_fit, runs, loss_vs_t, history, timing, paired, peaks, parity_history, accuracy,
                   per_sequence, float(entropy), sampler_seconds)


# -- gates ----------------------------------------------------------------------------------------------------
def lm_gate(results: Results) -> Gate:
    """The LM claims' gate (module docstring): the uniform runs' test ELBO against the unigram entropy, and their
    loss near t = 0.1 against near t = 0.9 (notebook 03's learning gate, on this experiment's uniform runs)."""
    uniform = results.runs[results.runs.distribution == "uniform"]
    curve = results.loss_vs_t[results.loss_vs_t.distribution == "uniform"].groupby("t_mid").loss.mean()
    name = (f"the LM learned (uniform test ELBO <= {LM_GATE_RATIO} x unigram entropy, loss at t~0.1 <= "
            f"{LM_GATE_RATIO} x at t~0.9)")
    if uniform.empty or curve.empty:
        return Gate(name, False, "no uniform run")
    at = lambda t: float(curve.iloc[int(np.abs(curve.index.to_numpy() - t).argmin())])  # noqa: E731
    loss, low, high = float(uniform.test_loss.mean()), at(0.1), at(0.9)
    ratio = loss / results.unigram_entropy
    return Gate(name, bool(ratio <= LM_GATE_RATIO and low <= LM_GATE_RATIO * high),
                f"uniform test ELBO {loss:.3f} = {ratio:.3f} x unigram entropy {results.unigram_entropy:.3f}; loss at "
                f"t~0.1 {low:.3f} vs t~0.9 {high:.3f}")


def parity_gate(results: Results, k: int) -> Gate:
    """The parity claims' gate (module docstring): the k-parity seeds' mean final test accuracy >= PARITY_GATE_ACC."""
    final = results.parity_final_accuracy.set_index("k")
    acc = float(final.test_acc.get(k, np.nan))
    return Gate(f"the parity members learned the rule (mean final test accuracy >= {PARITY_GATE_ACC})",
                bool(acc >= PARITY_GATE_ACC), f"mean final test accuracy {acc:.2f} over "
                f"{int(final.n_seeds.get(k, 0))} seeds")


# -- claims ---------------------------------------------------------------------------------------------------
def lm_claims(results: Results) -> list[Claim]:
    """Each new distribution against the best window and against uniform, by the paired-difference rule, gated on
    ``lm_gate``."""
    runs = results.runs.rename(columns={"label": "window"})
    labels, found, gate = results.labels, [], lm_gate(results)
    means = runs.groupby("window").test_loss.mean()
    for name in ("beta", "curriculum", "adaptive"):
        for reference in ("best window", "uniform"):
            a, b = labels[name], labels[reference]
            diff = seed_differences(runs, b, a)       # > 0: the new distribution has the lower loss
            if diff.empty:
                continue
            ese = evaluation_se(results.per_sequence, b, a, diff.index)
            result = gated(paired_difference_test(diff.to_numpy(), eval_se=ese, unit=" nats"), [gate])
            ours = f"{name} {a} {means[a]:.3f} vs {b} {means[b]:.3f}; {reference} minus {name}: {result.summary}"
            notes = BEYOND
            if reference == "best window":
                seed2 = [s for s in diff.index if s not in (0, 1)]
                notes += ("; the best window was picked on seeds 0 and 1 (winner's curse: biased in its favour there)"
                          + (f"; on the unpicked seeds {seed2} alone: {diff[seed2].mean():+.3f} nats" if seed2 else ""))
            found.append(Claim.experiment(f"Beyond the paper: {name} ({a}) beats {reference} ({b})",
                                          "(not in the paper: its open question)", result,
                                          figure_names.ADAPTIVE_TEST_ELBO, notes, ours=ours))
    return found


def parity_claims(results: Results) -> list[Claim]:
    """Per k: the share of seeds whose final density peaks within the tolerance of t*, against the chance that a bin
    chosen at random would (the share of bin centres within the tolerance), gated on ``parity_gate``."""
    tolerance, found = results.config.parity.peak_tolerance, []
    for k, peaks in results.parity_peaks.groupby("k", sort=False):
        k = int(k)
        seeds = peaks[peaks.seed.astype(str) != "mean"]
        n_bins = results.parity_final_density(k).bin.nunique()
        centres = (np.arange(n_bins) + 0.5) / n_bins
        chance = float(np.mean(np.abs(centres - optimal_mask_ratio(k)) <= tolerance + 1e-9))
        test = gated(share_test(int(seeds.within.sum()), len(seeds), p0=chance, what="seeds peaking near t*"),
                     [parity_gate(results, k)])
        acc = results.parity_accuracy[results.parity_accuracy.k == k]
        accuracy = acc.groupby("seed").test_acc.last()
        found.append(Claim.experiment(
            f"Beyond the paper: on {k}-parity the adaptive sampler's density peaks within "
            f"±{tolerance} of t* = 1/(k+1) = {optimal_mask_ratio(k):.3f}",
            "(not in the paper: t* is its theory's optimum)", test, figure_names.ADAPTIVE_PARITY,
            BEYOND + f"; chance p0 = {chance:.2f} (share of bins within the tolerance)",
            ours=(f"peaks at t = {', '.join(f'{p:.2f}' for p in seeds.peak_t)} (seed mean density: "
                  f"{float(peaks[peaks.seed.astype(str) == 'mean'].peak_t.iloc[0]):.2f}); final test accuracy "
                  f"{', '.join(f'{a:.2f}' for a in accuracy)}; {test.summary}")))
    return found


def claims(results: Results) -> list[Claim]:
    """Notebook 06's claims table (all beyond the paper): the LM distributions, then the parity peaks."""
    return (with_finding("Beyond the paper: a fitted, scheduled or adaptive mask-ratio distribution", lm_claims(results))
            + with_finding("Beyond the paper: an adaptive sampler finds t* on parity", parity_claims(results)))


# -- figures -----------------------------------------------------------------------------------------------
T_GRID = np.linspace(0.0005, 0.9995, 1000)


def density_of(label: str, t: np.ndarray, probs=None, step: int | None = None) -> np.ndarray:
    dist = parse_mask_ratio(label)
    if isinstance(dist, AdaptiveBins):
        return dist.density(t, probs)
    if isinstance(dist, CurriculumRatio):
        return dist.density(t, step)
    return dist.density(t)


def draw_densities(results: Results):
    """Left: every distribution's training density (the curriculum averaged over its run, dotted at steps 0 and
    ramp/2; the adaptive sampler's final density, mean over seeds); right: the LM adaptive sampler during training."""
    import matplotlib.pyplot as plt

    labels, history = results.labels, results.history
    final_probs = final_density(history).groupby("bin").prob.mean().to_numpy() if len(history) else None
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.4), layout="constrained")
    for i, name in enumerate(DISTRIBUTIONS):
        density = density_of(labels[name], T_GRID, probs=final_probs if name == "adaptive" else None)
        ax.plot(T_GRID, density, color=f"C{i}", label=name + (f": {labels[name]}" if len(labels[name]) < 24 else ""))
    curriculum = parse_mask_ratio(labels["curriculum"])
    for step in (0, curriculum.ramp // 2):
        ax.plot(T_GRID, curriculum.density(T_GRID, step), color="C3", lw=0.7, ls=":")
    ax.set(xlabel="mask ratio t", ylabel="training density p(t)", ylim=(0, 11),
           title="Training distributions (dotted: the curriculum at steps 0 and ramp/2)")
    ax.legend(fontsize=7)
    if len(history):
        evolution = history.groupby(["step", "t_mid"]).prob.mean().unstack()
        ax2.grid(False)
        image = ax2.imshow(evolution.T.to_numpy(), aspect="auto", origin="lower", cmap="viridis",
                           extent=(0, evolution.index.max(), 0, 1))
        fig.colorbar(image, ax=ax2, label="bin probability (mean over seeds)")
    best = MaskRatio.parse(results.config.best_window)
    ax2.axhspan(best.low, best.high, fill=False, ls="--", color="w")
    ax2.set(xlabel="training step", ylabel="mask ratio t (bin)", title="Adaptive sampler during training (LM)")
    return fig


def draw_test_elbo(results: Results):
    """Left: each seed's test ELBO (lines join a seed across distributions); right: the paired gain (reference minus
    distribution, > 0: better) with ± 2 s.e. pooling the seed spread and the common-mask test s.e."""
    import matplotlib.pyplot as plt

    order, paired = list(DISTRIBUTIONS), results.paired
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.4), layout="constrained")
    for seed, runs_of_seed in results.runs.groupby("seed"):
        values = runs_of_seed.set_index("distribution").test_loss.reindex(order)
        ax.plot(range(len(order)), values, "o-", alpha=0.7, label=f"seed {seed}")
    ax.set(xticks=range(len(order)), xticklabels=order, ylabel="test ELBO (nats/char)", title="Test ELBO per seed")
    ax.legend(fontsize=8)
    compared = ["beta", "curriculum", "adaptive", "best window"]
    for j, reference in enumerate(("best window", "uniform")):
        rows = paired[paired.reference == reference]
        se = np.sqrt(rows.seed_se.fillna(0) ** 2 + rows.eval_se ** 2)
        ax2.errorbar([compared.index(d) + 0.15 * (2 * j - 1) for d in rows.distribution], rows.gain, yerr=2 * se,
                     fmt="o", capsize=4, color=f"C{j}", label=f"vs {reference}")
    ax2.set_xticks(range(len(compared)), compared)
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set(ylabel="paired gain (nats/char), ± 2 s.e.", title="Reference minus distribution (> 0: better)")
    ax2.legend(fontsize=8)
    return fig


def draw_parity(results: Results):
    """Per k: the sampler's final density per seed (thin) and their mean (black) beside P_S(t) normalised, with t*
    and the tolerance band; below, the mean density during training with the mean test accuracy (white)."""
    import matplotlib.pyplot as plt

    tolerance = results.config.parity.peak_tolerance
    ks = list(dict.fromkeys(results.parity_history.k))
    fig, axes = plt.subplots(2, len(ks), figsize=(6 * len(ks), 7.5), squeeze=False, layout="constrained")
    for col, k in enumerate(ks):
        ax, ax2 = axes[0, col], axes[1, col]
        t_star = optimal_mask_ratio(k)
        final = results.parity_final_density(k)
        n_bins = final.bin.nunique()
        for seed, rows in final.groupby("seed"):
            ax.step(np.r_[0, (rows.bin + 1) / n_bins], np.r_[rows.prob.iloc[0], rows.prob] * n_bins, where="pre",
                    lw=0.8, alpha=0.6)
        mean = final.groupby("bin").prob.mean().to_numpy() * n_bins
        ax.step(np.r_[0, (np.arange(n_bins) + 1) / n_bins], np.r_[mean[0], mean], where="pre", color="k", lw=2,
                label="adaptive, mean over seeds")
        ps = signal_probability(T_GRID, k)
        ax.plot(T_GRID, ps / np.trapezoid(ps, T_GRID), "r--", label="P_S(t), normalised")
        ax.axvspan(t_star - tolerance, t_star + tolerance, color="r", alpha=0.1)
        ax.axvline(t_star, color="r", lw=0.8)
        ax.set(xlabel="mask ratio t", ylabel="density", title=f"{k}-parity: final density (t* = {t_star:.2f})")
        ax.legend(fontsize=8)
        history = results.parity_history[results.parity_history.k == k]
        evolution = history.groupby(["step", "t_mid"]).prob.mean().unstack()
        ax2.grid(False)
        ax2.imshow(evolution.T.to_numpy(), aspect="auto", origin="lower", cmap="viridis",
                   extent=(0, evolution.index.max(), 0, 1))
        ax2.axhline(t_star, color="r", lw=0.8)
        accuracy = results.parity_accuracy[results.parity_accuracy.k == k].groupby("step").test_acc.mean()
        twin = ax2.twinx()
        twin.plot(accuracy.index, accuracy.to_numpy(), color="w", lw=1.5)
        twin.set(ylim=(0.4, 1.02), ylabel="test accuracy (mean, white)")
        twin.grid(False)
        ax2.set(xlabel="training step", ylabel="mask ratio t (bin)", title="density during training")
    return fig


def figures(results: Results, out) -> dict:
    """Every figure of notebook 06, saved through ``out`` and returned by name: the training densities, the paired
    test ELBOs and the adaptive sampler's density on parity."""
    import matplotlib.pyplot as plt

    with _style():
        drawn = {figure_names.MASK_RATIO_DENSITIES: draw_densities(results),
                 figure_names.ADAPTIVE_TEST_ELBO: draw_test_elbo(results),
                 figure_names.ADAPTIVE_PARITY: draw_parity(results)}
    for name, fig in drawn.items():
        out.figure(fig, name)
        plt.close(fig)   # shown where the notebook displays it, not all at once
    return drawn


# -- the explorer ---------------------------------------------------------------------------------------------
def draw_distributions(beta_a: float = 5.1, beta_b: float = 4.6, curriculum_ramp: float = 0.5, k: int = 3,
                       curriculum_start: float = 0.8, best_window: str = "[0.4,0.5]", steps: int = 1000):
    """Left: the training densities (uniform, best window, Beta, the curriculum averaged over training); right:
    P_S(t) for k-parity and each distribution's expected Signal probability E_p[P_S(t)]."""
    with _style():
        return _draw_distributions(beta_a, beta_b, curriculum_ramp, k, curriculum_start, best_window, steps)


def _draw_distributions(beta_a, beta_b, curriculum_ramp, k, curriculum_start, best_window, steps):
    import matplotlib.pyplot as plt

    best = MaskRatio.parse(best_window)
    ramp = int(round(curriculum_ramp * steps))
    dists = {"uniform [0,1]": MaskRatio.uniform(), f"best window {best.label}": best,
             f"Beta({beta_a:g}, {beta_b:g})": BetaRatio(beta_a, beta_b),
             f"curriculum {curriculum_start:g} -> {(best.low + best.high) / 2:g}, ramp {curriculum_ramp:.0%}":
                 CurriculumRatio(curriculum_start, (best.low + best.high) / 2, 0.1, ramp, steps)}
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    ps = signal_probability(T_GRID, k)
    for i, (name, dist) in enumerate(dists.items()):
        ax.plot(T_GRID, dist.density(T_GRID), color=f"C{i}", label=name)
        signal = dist.expectation(lambda x: signal_probability(np.clip(x, 0, 1), k))
        ax2.bar(i, signal, color=f"C{i}")
    ax.set(xlabel="mask ratio t", ylabel="training density p(t)", title="Training distributions of t")
    ax.legend(fontsize=8)
    ax2.axhline(ps.max(), color="k", ls=":", label=f"max P_S = P_S(t* = {optimal_mask_ratio(k):.2f})")
    ax2.set(xticks=range(len(dists)), xticklabels=[n.split(" ")[0] for n in dists], ylim=(0, 1),
            ylabel=f"E_p[P_S(t)], k = {k}", title=f"Expected Signal-regime probability, {k}-parity")
    ax2.legend(fontsize=8)
    return fig


def distribution_explorer(beta_a: float = 5.1, beta_b: float = 4.6, curriculum_ramp: float = 0.5, k: int = 3,
                          curriculum_start: float = 0.8, best_window: str = "[0.4,0.5]"):
    """Sliders over the Beta parameters, the curriculum's speed (share of training its window takes to reach the
    best window) and k: redraws the densities and the implied expected Signal probability."""
    from ..companion.interactive import explore, is_headless, snap

    draw = partial(draw_distributions, curriculum_start=curriculum_start, best_window=best_window)
    controls = {}
    if not is_headless():
        import ipywidgets as widgets
        slider = partial(widgets.FloatSlider, continuous_update=False, style={"description_width": "8em"})
        controls = {"beta_a": slider(min=0.5, max=20, step=0.1, description="Beta a"),
                    "beta_b": slider(min=0.5, max=20, step=0.1, description="Beta b"),
                    "curriculum_ramp": slider(min=0.0, max=1.0, step=0.05, description="curriculum ramp"),
                    "k": widgets.IntSlider(min=1, max=10, description="parity k", continuous_update=False)}
    defaults = {"beta_a": snap(beta_a, 0.1), "beta_b": snap(beta_b, 0.1), "curriculum_ramp": snap(curriculum_ramp, 0.05),
                "k": k}
    return explore(draw, controls, defaults)


def explorer(results: Results):
    """The notebook's explorer, starting from the config's Beta, curriculum and first parity k."""
    cfg = results.config
    return distribution_explorer(cfg.beta.a, cfg.beta.b, cfg.curriculum.ramp, k=cfg.parity.ks[0],
                                 curriculum_start=cfg.curriculum.start, best_window=cfg.best_window)
