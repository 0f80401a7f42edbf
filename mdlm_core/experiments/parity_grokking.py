r"""Notebook 02: does supervised training grok on k-sparse parity while masked diffusion (MD) does not?

Three groups of runs, each one ensemble in the run cache (``mdlm_core.parity``):

* **mlp**: the theory's MLP; supervised and MD at ``md_mask_ratio`` (t* = 1/(k+1) by default) on every
  ``mlp_seeds``; on the ``sweep_seeds``, every window U[0, b] of ``window_uppers``, fixed t*, the band
  [t* - delta, t* + delta], and the 1/t-weight ablation (the U[0, b] nearest t1, U[0, 1] and ``ablation_uppers``
  without the weight);
* **levers**: the same supervised and MD runs with weight decay ``lever_weight_decay`` (the paper: the Noise
  regime regularises without weight decay);
* **transformer**: the nanoGPT-style transformer, supervised and MD on every ``transformer_seeds``
  (``run_transformer``).

``run(cfg, out)`` trains them and writes the tables; ``claims(results)`` judges them by the rules of
``companion.verdicts``; ``figures(results, out)`` draws the accuracy curves with the grokking gap per seed, the
held-out Signal/Noise decomposition and the window sweep; ``explorer(results)`` browses the saved curves.

**Gates** (declared here, before any run is judged; ``verdicts.Gate`` / ``gated``): a claim whose gate fails is
"inconclusive (gate: ...)" and stays out of the report's FDR family.

* *the supervised baseline groks*: ``has_plateau`` (memorised, train >= 0.98, with test <= 0.6 there, then >= 3
  evaluations more to the target test accuracy, or the budget) on >= ``GROKKING_GATE_SHARE`` (70%) of the family's
  supervised seeds at its own weight decay. Every MD-versus-supervised claim needs it ("MD does not grok", "MD
  generalises sooner", the weight-decay lever): without grokking in the baseline there is no plateau for MD to
  avoid or to beat. "Supervised training groks" is itself the experiment claim (the share test), not gated by it.
* *the comparison's runs mostly reach the target*: at most ``MAX_CENSORED_SHARE`` (50%) of the pooled runs of the
  two windows compared censored at the budget (the share test's own censoring gate, pooled over both arms so that
  it does not select on the direction of the effect). The window claims need it: with most runs censored the
  times to the target carry almost no information, and an all-censored comparison is not a "no".

Every censored comparison is ``gehan_test`` with the paper's faster group first (MD before supervised, U[0, t1]
before U[0, 1]): its ``p_value`` is one-sided in the paper's direction, ``p_opposite`` one-sided against it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import parity
from ..companion import figure_names
from ..companion.outputs import figure_style as _style
from ..companion.verdicts import Claim, Gate, TestResult, gated, gehan_test, share_test
from ..mask_ratio import MaskRatio
from ..parity import (MD, MEMORISED_ACC, MLP, SUPERVISED, TRANSFORMER, ParityDataSpec, ParityMember, ParityModelSpec,
                      ParitySpec, ParityTrainSpec, censored_times, parity_summary, train_parity)
from ..theory.signal import optimal_mask_ratio, optimal_window_upper, signal_probability

NOTEBOOK = "02_parity_grokking"
PAPER_SETTING = "n=20, k=6"   # the paper's parity problem (Huang & Mirzasoleiman, Figs. 1-2)
GROKKING_GATE_SHARE = 0.7     # gate of the MD-vs-supervised claims: >= 70% of supervised seeds with a plateau
MAX_CENSORED_SHARE = 0.5      # gate of the window claims: <= 50% of the compared runs censored at the budget


@dataclass(frozen=True)
class Config:
    """Every group of notebook 02's runs: the two families' specs, their seeds, the window sweep and the lever."""

    mlp: ParitySpec = field(default_factory=lambda: ParitySpec(model=ParityModelSpec(family=MLP)))
    transformer: ParitySpec = field(default_factory=ParitySpec)
    mlp_seeds: tuple[int, ...] = (0, 1, 2)          # supervised and MD at md_mask_ratio, on the MLP
    transformer_seeds: tuple[int, ...] = (0, 1, 2)  # supervised and MD at md_mask_ratio, on the transformer
    sweep_seeds: tuple[int, ...] = (0, 1, 2)        # every window of the sweep and of the 1/t ablation (MLP)
    window_uppers: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.6, 1.0)   # the sweep's U[0, b]
    window_delta: float | None = 0.05     # the sweep's band [t* - delta, t* + delta]; None leaves it out
    ablation_uppers: tuple[float, ...] = ()   # U[0, b] also run without the 1/t weight (t1's nearest and 1.0 always)
    md_mask_ratio: str | None = None      # MD's mask ratio in the main comparison: None is t* = 1/(k+1), else a
                                          # MaskRatio.parse spec
    target_acc: float = 0.95              # "generalised": test accuracy >= target_acc
    lever_weight_decay: float = 0.0       # the levers group: both objectives with this weight decay (MLP)
    run_transformer: bool = True

    def __post_init__(self) -> None:
        if not self.mlp_seeds or (self.run_transformer and not self.transformer_seeds):
            raise ValueError("mlp_seeds and transformer_seeds must name at least one seed each, e.g. (0, 1, 2)")
        if self.mlp.family != MLP or self.transformer.family != TRANSFORMER:
            raise ValueError(f"Config.mlp is the 'mlp' family and Config.transformer the 'transformer' family, got "
                             f"{self.mlp.family!r} and {self.transformer.family!r}")
        t_star = optimal_mask_ratio(self.mlp.data.k)
        if self.window_delta is not None and not 0 < self.window_delta < t_star:
            raise ValueError(f"window_delta={self.window_delta} must lie in (0, t*={t_star:.3f}), or be None to leave "
                             "the band out of the sweep")

    def md_ratio(self, spec: ParitySpec) -> MaskRatio:
        """MD's mask ratio in the main comparison of a family."""
        return MaskRatio.fixed(optimal_mask_ratio(spec.data.k)) if self.md_mask_ratio is None \
            else MaskRatio.parse(self.md_mask_ratio, stratified=False)

    def sweep_windows(self) -> list[MaskRatio]:
        """U[0, b] for every b, then fixed t* and (unless window_delta is None) U[t* - delta, t* + delta]."""
        t_star = optimal_mask_ratio(self.mlp.data.k)
        band = [] if self.window_delta is None else [MaskRatio.window(t_star - self.window_delta, t_star + self.window_delta)]
        return [MaskRatio.window(0.0, b) for b in self.window_uppers] + [MaskRatio.fixed(t_star)] + band

    def lever_spec(self) -> ParitySpec:
        return dataclasses.replace(self.mlp, train=dataclasses.replace(self.mlp.train, weight_decay=self.lever_weight_decay))

    def groups(self) -> dict[str, tuple[ParitySpec, list[ParityMember]]]:
        """Group name -> (spec, members): one ensemble and one run-cache entry each, in the order ``run`` trains them."""
        groups = {"mlp": (self.mlp, self.mlp_members()),
                  "levers": (self.lever_spec(), comparison_members(self.mlp_seeds, self.md_ratio(self.mlp)))}
        if self.run_transformer:
            groups["transformer"] = (self.transformer, comparison_members(self.transformer_seeds,
                                                                          self.md_ratio(self.transformer)))
        return groups

    def mlp_members(self) -> list[ParityMember]:
        """Supervised and MD at ``md_ratio`` on every MLP seed; then every ``sweep_windows`` window and the unweighted
        ablation (the U[0, b] nearest t1 plus U[0, 1], and ``ablation_uppers``) on the ``sweep_seeds``. One list, so
        one ensemble and one cache entry."""
        main = self.md_ratio(self.mlp)
        windows = [w for w in self.sweep_windows() if w != main]
        t1 = optimal_window_upper(self.mlp.data.k)
        near_t1 = min(self.window_uppers, key=lambda b: abs(b - t1))
        ablated = [MaskRatio.window(0.0, b) for b in dict.fromkeys((near_t1, 1.0, *self.ablation_uppers))]
        return (comparison_members(self.mlp_seeds, main)
                + [ParityMember(MD, s, w) for w in windows for s in self.sweep_seeds]
                + [ParityMember(MD, s, w, weighted=False) for w in ablated for s in self.sweep_seeds])


def comparison_members(seeds, md_ratio: MaskRatio) -> list[ParityMember]:
    """Supervised on every seed, then MD at ``md_ratio`` on every seed."""
    return [ParityMember(SUPERVISED, s) for s in seeds] + [ParityMember(MD, s, md_ratio) for s in seeds]


PROFILES = {
    "smoke": Config(
        mlp=parity.MLP_SMOKE,
        transformer=ParitySpec(ParityDataSpec(n=8, k=2, n_train=128, n_test=128), ParityModelSpec(n_layer=1, n_embd=32),
                               ParityTrainSpec(batch_size=32, warmup_steps=10, steps=60, eval_every=20)),
        mlp_seeds=(0, 1, 2), transformer_seeds=(0, 1, 2), sweep_seeds=(0, 1), window_uppers=(0.3, 1.0),
        window_delta=None),
    # quick, the MLP: parity.MLP_QUICK (n = 20, k = 3, 300 examples, width 128; its probes are noted there).
    # quick, the transformer: the regime where the earlier CPU calibration saw supervised grokking: k = 4, 500
    # examples, batch 32 (12 ms per member-step against 33 at batch 128), 10k steps, 4 seeds.
    "quick": Config(
        mlp=parity.MLP_QUICK,
        transformer=ParitySpec(ParityDataSpec(n=20, k=4, n_train=500, n_test=512), ParityModelSpec(),
                               ParityTrainSpec(batch_size=32, lr=1e-3, weight_decay=0.3, warmup_steps=100,
                                               steps=10_000, eval_every=100)),
        mlp_seeds=tuple(range(10)), transformer_seeds=(0, 1, 2, 3), sweep_seeds=(0, 1, 2, 3, 4),
        window_uppers=(0.1, 0.2, 0.3, 0.42, 0.6, 0.8, 1.0), window_delta=None),
    # the paper's (n, k) = (20, 6) with weight decay 0.1, and a nanoGPT-sized transformer, for a GPU
    "paper": Config(
        mlp=parity.MLP_PAPER,
        transformer=ParitySpec(ParityDataSpec(n=20, k=6, n_train=2000, n_test=2000),
                               ParityModelSpec(n_layer=6, n_head=6, n_embd=384),
                               ParityTrainSpec(weight_decay=0.1, steps=50_000, eval_every=250,
                                               log_train_regimes=False)),   # per-step host syncs: see MLP_PAPER
        mlp_seeds=tuple(range(16)), transformer_seeds=(0, 1, 2, 3, 4), sweep_seeds=tuple(range(8)),
        window_uppers=(0.05, 0.1, 0.15, 0.2, 0.246, 0.3, 0.4, 0.6, 1.0), window_delta=0.05),
}

# The paper profile's CPU dry run (tests/test_paper_profile.py): ``apply_overrides(PROFILES['paper'], **DRY_RUN)``
# cuts steps, seeds, evaluation and data-item counts; every model and sequence size stays the paper's.
DRY_RUN = {"mlp.train.steps": 2, "mlp.train.eval_every": 2, "transformer.train.steps": 2,
           "transformer.train.eval_every": 2, "transformer.train.warmup_steps": 1, "mlp_seeds": (0, 1),
           "transformer_seeds": (0,), "sweep_seeds": (0,), "window_uppers": (0.246, 1.0),
           "mlp.data.n_train": 64, "mlp.data.n_test": 64, "transformer.data.n_train": 64, "transformer.data.n_test": 64}


# -- running ------------------------------------------------------------------------------------------------

@dataclass
class Results:
    """Plain data: every table of notebook 02, and the config its claims and figures read."""

    config: Config
    metrics: pd.DataFrame        # every family's curves (tidy_metrics rows, with family and seconds): 02_parity_metrics
    summary: pd.DataFrame        # censored times per run, both families: 02_parity_summary
    levers: pd.DataFrame         # the MLP's main supervised and MD runs and the same with lever_weight_decay
    window_sweep: pd.DataFrame   # per MLP MD window: seeds, reached, mean steps, median final test accuracy

    def family(self, family: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(metrics, summary) of one family, each indexed from 0."""
        return (self.metrics[self.metrics.family == family].reset_index(drop=True),
                self.summary[self.summary.family == family].reset_index(drop=True))

    @property
    def overview(self) -> pd.DataFrame:
        """Per family, objective and window: seeds, how many memorised and generalised, median steps to generalise."""
        return self.summary.groupby(["family", "objective", "window"], sort=False).agg(
            seeds=("seed", "size"), memorised=("memorise_censored", _reached),
            generalised=("censored", _reached), median_steps=("steps_to_generalise", "median"))

    @property
    def lever_overview(self) -> pd.DataFrame:
        return self.levers.groupby(["objective", "window", "weight_decay"], sort=False).agg(
            seeds=("seed", "size"), memorised=("memorise_censored", _reached),
            generalised=("censored", _reached), median_steps=("steps_to_generalise", "median"),
            median_final_test=("final_test_acc", "median"))

    @property
    def best_window(self) -> dict:
        """The MLP sweep's empirical best U[0, b] with its bootstrap interval (``best_window_bootstrap``)."""
        return best_window_bootstrap(self.family(MLP)[1])


def _reached(censored: pd.Series) -> int:
    return int((~censored).sum())


def run(cfg: Config, out, progress: bool = True) -> Results:
    """Train every group (``Config.groups``), summarise them and write notebook 02's tables through ``out``."""
    groups = cfg.groups()
    descs = {"mlp": f"MLP parity n={cfg.mlp.data.n} k={cfg.mlp.data.k}", "levers": "MLP parity, wd 0",
             "transformer": f"transformer parity k={cfg.transformer.data.k}"}
    trained = {name: train_parity(members, spec, desc=descs[name], progress=progress)
               for name, (spec, members) in groups.items()}
    summaries = {name: parity_summary(metrics, cfg.target_acc) for name, metrics in trained.items()}
    mlp_summary, main = summaries["mlp"], cfg.md_ratio(cfg.mlp).label
    levers = pd.concat([mlp_summary[mlp_summary.window.isin(["-", main])].assign(weight_decay=cfg.mlp.train.weight_decay),
                        summaries["levers"].assign(weight_decay=cfg.lever_weight_decay)])
    families = [name for name in ("mlp", "transformer") if name in trained]
    metrics = pd.concat([trained[name] for name in families], ignore_index=True)
    summary = pd.concat([summaries[name] for name in families], ignore_index=True)
    sweep = mlp_summary[mlp_summary.objective == MD]
    window_sweep = sweep.groupby("window", sort=False).agg(
        seeds=("seed", "size"), reached=("censored", _reached), mean_steps=("steps_to_generalise", "mean"),
        median_final_test=("final_test_acc", "median")).reset_index()
    out.table(metrics.drop(columns="seconds"), "02_parity_metrics")
    out.table(metrics[["family", "seconds"]].drop_duplicates(), "02_timing")   # wall clock: not a result
    out.table(summary, "02_parity_summary")
    out.table(levers, "02_parity_levers")
    out.table(window_sweep, "02_parity_window_sweep")
    return Results(cfg, metrics, summary, levers, window_sweep)


# -- analysis -------------------------------------------------------------------------------------------------

def best_window_bootstrap(sweep: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> dict:
    """The U[0, b] with the smallest mean censored time to generalise (censored runs count as the budget, a
    conservative choice), and a bootstrap interval of that argmin b, resampling seeds within each window."""
    anchored = sweep[(sweep.mask_low == 0) & (sweep.mask_high > 0) & sweep.weighted]
    groups = {b: g.steps_to_generalise.to_numpy(float) for b, g in anchored.groupby("mask_high")}
    if len(groups) < 2 or anchored.censored.all():   # all at the budget: no window is faster, no best b
        return {"best_b": np.nan, "low": np.nan, "high": np.nan, "n_windows": len(groups)}
    uppers = np.array(sorted(groups))
    means = np.array([groups[b].mean() for b in uppers])
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        resampled = [rng.choice(groups[b], len(groups[b])).mean() for b in uppers]
        boot.append(uppers[int(np.argmin(resampled))])
    low, high = np.quantile(boot, [0.025, 0.975])
    return {"best_b": float(uppers[int(np.argmin(means))]), "low": float(low), "high": float(high),
            "n_windows": len(uppers), "means": dict(zip(uppers.tolist(), means.tolist()))}


def _steps(values) -> str:
    return "/".join("never" if not np.isfinite(v) else f"{v:.0f}" for v in values)


def has_plateau(rows: pd.DataFrame, eval_every: int, plateau_evals: int = 3) -> pd.Series:
    """A grokking plateau: memorised (train >= 0.98) with test accuracy <= 0.6 at that step, and >= ``plateau_evals``
    evaluations more (or never, within the budget) to reach the target test accuracy."""
    return (~rows.memorise_censored & (rows.test_acc_at_memorise <= 0.6)
            & (rows.gap >= plateau_evals * eval_every))


def grokking_gate(summary: pd.DataFrame, eval_every: int) -> Gate:
    """The gate of every MD-versus-supervised claim (module docstring): ``has_plateau`` on >= GROKKING_GATE_SHARE of
    the supervised seeds of ``summary`` (``parity_summary`` rows; the supervised ones are read)."""
    sup = summary[summary.objective == SUPERVISED]
    hits, n = int(has_plateau(sup, eval_every).sum()), len(sup)
    return Gate(f"the supervised baseline groks (a plateau on >= {GROKKING_GATE_SHARE:.0%} of its seeds)",
                n > 0 and hits >= GROKKING_GATE_SHARE * n, f"{hits}/{n} supervised seeds with a plateau")


def censoring_gate(*groups: pd.DataFrame, target: str = "the target") -> Gate:
    """The gate of the window claims (module docstring): at most MAX_CENSORED_SHARE of the pooled runs of the
    compared ``groups`` censored at the budget."""
    censored = int(sum(g.censored.sum() for g in groups))
    n = int(sum(len(g) for g in groups))
    return Gate(f"most runs reach {target} within the budget (<= {MAX_CENSORED_SHARE:.0%} of the compared runs "
                "censored)", n > 0 and censored <= MAX_CENSORED_SHARE * n, f"{censored}/{n} runs censored at the budget")


def _against(result: TestResult) -> str:
    """The one-sided p against the paper's direction, for the "ours" column of a censored comparison."""
    return "" if result.p_opposite is None else f"; one-sided p against the paper's direction {result.p_opposite:.3g}"


# -- claims ---------------------------------------------------------------------------------------------------

def _setting(spec: ParitySpec) -> str:
    data, train = spec.data, spec.train
    return (f"{spec.family}: n={data.n}, k={data.k}, {data.n_train} train examples, wd {train.weight_decay}, batch "
            f"{train.batch_size}, budget {train.steps} steps; memorised = train acc >= {MEMORISED_ACC}")


def comparison_claims(summary: pd.DataFrame, cfg: Config, spec: ParitySpec) -> list[Claim]:
    """One family's supervised vs MD claims (its ``parity_summary`` rows):

    * grokking: the share of supervised seeds with a plateau (``has_plateau``), exact binomial against 1/2;
    * MD does not grok: the share of MD seeds that generalise without a plateau;
    * MD vs supervised: Gehan's censored test on steps to the target test accuracy (MD faster is the paper's
      direction).

    The two MD claims are gated on ``grokking_gate`` (the supervised baseline groks); the first is not.
    """
    family = summary.family.iloc[0]
    grokked = has_plateau(summary, spec.train.eval_every)
    sup = summary[summary.objective == SUPERVISED]
    main = cfg.md_ratio(spec).label
    md = summary[(summary.objective == MD) & (summary.window == main)]
    setting = _setting(spec)
    target = f"{cfg.target_acc:.0%} test"
    sup_result = share_test(int(grokked[sup.index].sum()), len(sup), censored=int(sup.memorise_censored.sum()),
                            what="supervised seeds with a plateau")
    md_clean = ~md.censored & ~grokked[md.index]
    groks = grokking_gate(summary, spec.train.eval_every)
    md_result = gated(share_test(int(md_clean.sum()), len(md), censored=int(md.censored.sum()),
                                 what=f"MD {main} seeds generalising without a plateau"), [groks])
    versus = gated(gehan_test(*censored_times(md), *censored_times(sup),
                              what=f"steps to {target}, MD {main} vs supervised"), [groks])
    return [
        Claim.experiment(
            f"Supervised training groks ({family})",
            f"test accuracy ~50% for a long plateau after train reaches 100% ({PAPER_SETTING})", sup_result,
            figure_names.PARITY_GROKKING_ACCURACY, setting,
            ours=f"{sup_result.summary}; memorised at {_steps(sup.steps_to_memorise.where(~sup.memorise_censored, np.inf))}, "
                 f"{target} at {_steps(sup.steps_to_generalise.where(~sup.censored, np.inf))} steps"),
        Claim.experiment(
            f"MD training does not grok ({family}, MD {main})", "train and test accuracy rise together", md_result,
            figure_names.PARITY_GROKKING_ACCURACY, setting,
            ours=f"{md_result.summary}; {target} at {_steps(md.steps_to_generalise.where(~md.censored, np.inf))}"),
        Claim.experiment(
            f"MD generalises sooner than supervised training ({family}, MD {main})",
            "MD reaches high test accuracy while supervised training is still on its plateau", versus,
            figure_names.PARITY_GROKKING_ACCURACY, setting,
            ours=f"{versus.summary}{_against(versus)}; median steps to {target}: MD "
                 f"{md.steps_to_generalise.median():.0f}, supervised {sup.steps_to_generalise.median():.0f} (censored "
                 "runs at the budget)"),
    ]


def window_claims(summary: pd.DataFrame, cfg: Config, spec: ParitySpec) -> list[Claim]:
    """Gehan's test of U[0, b ~ t1] against U[0, 1] (U[0, t1] faster is the paper's direction), once with the 1/t
    weight and once without (where both were run), each gated on ``censoring_gate`` of its two windows; the
    empirical best b with its bootstrap interval goes in the notes."""
    family, k = summary.family.iloc[0], spec.data.k
    setting, target = _setting(spec), f"{cfg.target_acc:.0%} test"
    t1 = optimal_window_upper(k)
    anchored = summary[(summary.objective == MD) & (summary.mask_low == 0) & (summary.mask_high > 0)]
    uppers = sorted(b for b in anchored.mask_high.unique() if b < 1.0)
    if not uppers or not (anchored.mask_high == 1.0).any():
        return []
    best = best_window_bootstrap(summary)
    nearest = min(uppers, key=lambda b: abs(b - t1))
    claims = []
    for weighted in (True, False):
        rows = anchored[anchored.weighted == weighted]
        near, uniform = rows[rows.mask_high == nearest], rows[rows.mask_high == 1.0]
        if not len(near) or not len(uniform):
            continue
        result = gated(gehan_test(*censored_times(near), *censored_times(uniform), what=f"steps to {target}"),
                       [censoring_gate(near, uniform, target=target)])
        weight = "with the ELBO's 1/t weight" if weighted else "without the 1/t weight (ablation)"
        claims.append(Claim.experiment(
            f"A window U[0, t1] beats standard t ~ U[0, 1], {weight} ({family})",
            f"U[0, t1] converges fastest (t1 = {t1:.3f} for k={k})", result, figure_names.PARITY_WINDOW_SWEEP,
            setting + (f"; empirical best b = {best['best_b']:g} (95% bootstrap interval over seeds "
                       f"[{best['low']:g}, {best['high']:g}]) against t1 = {t1:.3f}" if weighted else ""),
            ours=f"U[0, {nearest:g}] reached {target} at {_steps(near.steps_to_generalise.where(~near.censored, np.inf))}, "
                 f"U[0, 1] at {_steps(uniform.steps_to_generalise.where(~uniform.censored, np.inf))}; {result.summary}"
                 f"{_against(result)}"))
    return claims


def signal_claims(metrics: pd.DataFrame, k: int) -> list[Claim]:
    """The training masks hit the Signal regime at the rate P_S predicts (a derived check, when it was logged)."""
    if "signal_fraction" not in metrics or not metrics.signal_fraction.notna().any():
        return []
    t_star = optimal_mask_ratio(k)
    fractions = metrics[(metrics.objective == MD) & (metrics.step > 0) & metrics.signal_fraction.notna()].groupby(
        "run").agg(measured=("signal_fraction", "mean"), theory=("p_signal", "first"))
    fixed_label = f"MD {MaskRatio.fixed(t_star).label}"
    if fixed_label not in fractions.index:
        return []
    measured = fractions.loc[fixed_label, "measured"]
    theory = signal_probability(t_star, k)
    worst = float((fractions.measured - fractions.theory).abs().max())
    return [Claim.derived(
        f"The training masks hit the Signal regime at the rate P_S predicts, highest at t* = 1/(k+1) (k={k})",
        f"t* = {t_star:.3f}, P_S(t*) = {theory:.3f}",
        f"measured Signal fraction at t*: {measured:.3f} (theory {theory:.3f}); largest |measured - theory| "
        f"over {len(fractions)} mask-ratio distributions {worst:.3f}",
        "checked" if worst < 0.03 and measured >= fractions.measured.max() - 1e-12 else "fails check",
        figure_names.PARITY_LOSS_DECOMPOSITION, "a property of our mask sampler, not a training result")]


def lever_claim(levers: pd.DataFrame, cfg: Config) -> Claim:
    """The paper's "the Noise regime regularises without weight decay": MD at t* against supervised, both with
    ``lever_weight_decay`` (0), by Gehan's censored test on steps to the target test accuracy (MD faster is the
    paper's direction). ``levers``: ``parity_summary`` rows with a ``weight_decay`` column. Gated on
    ``grokking_gate`` of the supervised runs at the family's own weight decay: the paper's lever contrasts MD without
    weight decay with a supervised baseline that groks with it."""
    main, wd = cfg.md_ratio(cfg.mlp).label, cfg.lever_weight_decay
    lever = levers[levers.weight_decay == wd]
    md, sup = lever[lever.window == main], lever[lever.objective == SUPERVISED]
    with_wd = levers[(levers.weight_decay == cfg.mlp.train.weight_decay) & (levers.objective == SUPERVISED)]
    result = gated(gehan_test(*censored_times(md), *censored_times(sup),
                              what=f"steps to {cfg.target_acc:.0%} test, wd {wd:g}"),
                   [grokking_gate(with_wd, cfg.mlp.train.eval_every)])
    return Claim.experiment(
        f"Without weight decay MD still generalises, sooner than supervised training ({levers.family.iloc[0]})",
        "the Noise regime acts as an implicit regulariser, so MD needs no weight decay", result,
        figure_names.PARITY_GROKKING_ACCURACY,
        f"the same runs as the main comparison with weight decay {wd:g} for both objectives; supervised with wd "
        f"{cfg.mlp.train.weight_decay} reached the target on {_share_reached(with_wd)} seeds",
        ours=f"reached {cfg.target_acc:.0%} test with wd {wd:g}: MD {main} {_share_reached(md)}, supervised "
             f"{_share_reached(sup)}; {result.summary}{_against(result)}")


def _share_reached(rows: pd.DataFrame) -> str:
    return f"{_reached(rows.censored)}/{len(rows)}"


def family_claims(summary: pd.DataFrame, metrics: pd.DataFrame, cfg: Config, spec: ParitySpec) -> list[Claim]:
    """Every claim of one family's runs: supervised vs MD, the window (where swept) and the Signal-rate check."""
    return (comparison_claims(summary, cfg, spec) + window_claims(summary, cfg, spec)
            + signal_claims(metrics, spec.data.k))


def claims(results: Results) -> list[Claim]:
    """Notebook 02's claims table: the MLP's claims and its lever, then the transformer's supervised vs MD claims
    (it runs no sweep, and the MLP carries the Signal-rate check)."""
    cfg = results.config
    metrics, summary = results.family(MLP)
    out = family_claims(summary, metrics, cfg, cfg.mlp) + [lever_claim(results.levers, cfg)]
    if (results.summary.family == TRANSFORMER).any():
        out += comparison_claims(results.family(TRANSFORMER)[1], cfg, cfg.transformer)
    return out


# -- figures --------------------------------------------------------------------------------------------------

TRANSFORMER_ACCURACY = f"{figure_names.PARITY_GROKKING_ACCURACY}_transformer"   # beside the MLP's: no paper figure


def draw_accuracy(metrics: pd.DataFrame, summary: pd.DataFrame, main_window: str, title: str):
    """Supervised and MD at ``main_window`` (dashed train, solid test; thin lines are seeds), and per seed the span
    from memorising to generalising (the grokking gap); an open end means censored at the budget."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1, 0.9]})
    for ax, window in zip(axes, ("-", main_window)):
        runs = metrics[metrics.window == window]
        for seed, curve in runs.groupby("seed"):
            color = f"C{seed % 10}"
            ax.plot(curve.step, curve.train_acc, color=color, ls="--", lw=0.9, alpha=0.6)
            ax.plot(curve.step, curve.test_acc, color=color, lw=1.4)
        ax.axhline(0.95, color="grey", lw=0.8, ls=":")
        ax.set(title="supervised" if window == "-" else f"MD {window}", xlabel="step", ylim=(0.4, 1.02))
    axes[0].set_ylabel("accuracy (dashed: train, solid: test)")
    rows = summary[summary.window.isin(["-", main_window])].reset_index(drop=True)
    for i, row in rows.iterrows():
        color = "tab:orange" if row.objective == "supervised" else "tab:blue"
        axes[2].plot([row.steps_to_memorise, row.steps_to_generalise], [i, i], color=color, lw=2)
        axes[2].plot(row.steps_to_memorise, i, "|", color="k", ms=8)
        axes[2].plot(row.steps_to_generalise, i, "o", color=color, mfc="white" if row.censored else color)
    axes[2].set_yticks(range(len(rows)), [f"{'sup' if r.objective == 'supervised' else 'MD'} s{r.seed}" for r in rows.itertuples()],
                       fontsize=7)
    axes[2].set(xlabel="step: | memorised (train >= 0.98), o test >= 0.95 (open: censored)", title="grokking gap per seed")
    fig.suptitle(title)
    return fig


def draw_loss_decomposition(metrics: pd.DataFrame, main_window: str):
    """Held-out Signal-regime CE and Noise-regime squared margin of supervised, MD at ``main_window`` and U[0, 1]."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    shown = ["-", main_window, "[0,1]"]
    runs = metrics[metrics.window.isin(shown) & (metrics.step > 0)].replace({"window": {"-": "supervised"}})
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained")
    sns.lineplot(runs, x="step", y="heldout_signal_loss", hue="window", units="seed", estimator=None, lw=0.8, ax=axes[0])
    axes[0].axhline(np.log(2), color="grey", ls=":", lw=1)
    axes[0].set(ylabel="held-out CE, Signal regime", title="Signal regime (dotted: log 2)", yscale="log")
    sns.lineplot(runs, x="step", y="heldout_noise_sq_margin", hue="window", units="seed", estimator=None, lw=0.8,
                 ax=axes[1], legend=False)
    axes[1].set(yscale="log", ylabel=r"held-out mean $(\ell_1 - \ell_0)^2$", title="Noise regime: squared logit margin")
    return fig


def test_accuracy_auc(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per run (family, run, seed): the area under the test-accuracy curve over the budget, divided by the budget
    (the mean test accuracy over training, trapezoidal over the evaluated steps). Uncensored: it is what the
    window-sweep figure shows where every run is censored at the budget."""
    rows = []
    for (family, run, seed), curve in metrics.groupby(["family", "run", "seed"], sort=False):
        curve = curve.sort_values("step")
        step, acc = curve.step.to_numpy(float), curve.test_acc.to_numpy(float)
        span = step[-1] - step[0]
        auc = float(np.sum((acc[1:] + acc[:-1]) / 2 * np.diff(step)) / span) if span > 0 else float(acc[-1])
        first = curve.iloc[0]
        rows.append({"family": family, "run": run, "seed": seed, "objective": first.objective, "window": first.window,
                     "weighted": bool(first.weighted), "mask_low": first.mask_low, "mask_high": first.mask_high,
                     "test_acc_auc": auc})
    return pd.DataFrame(rows)


def draw_window_sweep(summary: pd.DataFrame, spec: ParitySpec, best: dict, auc: pd.DataFrame | None = None):
    """Steps to the target test accuracy per seed for U[0, b] (open markers: censored), with and without the 1/t
    weight, the fixed t* as a horizontal line and the empirical best b's bootstrap interval; right: test accuracy
    at the budget. Where every run of the left panel is censored at the budget (a flat line there, and the window
    claims gated inconclusive), the left panel shows instead the uncensored area under each run's test-accuracy
    curve (``auc``: ``test_accuracy_auc`` rows) and says so; without ``auc`` it says so on the empty panel."""
    import matplotlib.pyplot as plt

    k, steps = spec.data.k, spec.train.steps
    t_star, t1_theory = optimal_mask_ratio(k), optimal_window_upper(k)
    sweep = summary[summary.objective == MD]
    anchored = sweep[(sweep.mask_low == 0) & (sweep.mask_high > 0)]
    fixed = sweep[sweep.window == MaskRatio.fixed(t_star).label]
    all_censored = bool(len(anchored)) and bool(anchored.censored.all())
    fig, (ax, ax_final) = plt.subplots(1, 2, figsize=(14, 4.6), layout="constrained")
    if all_censored and auc is not None:
        left = auc[auc.objective == MD].rename(columns={"test_acc_auc": "value"})
        left_fixed = left[left.window == MaskRatio.fixed(t_star).label].value.mean()
        ylabel, left_label = f"mean test accuracy over training (AUC / {steps} steps)", "mean"
        title = (f"Window sweep, MLP, k = {k}: every U[0, b] run censored at {steps} steps (none reached 95% "
                 "test),\nso the area under the test-accuracy curve instead")
    else:
        left = sweep.rename(columns={"steps_to_generalise": "value"})
        left_fixed = fixed.steps_to_generalise.mean()
        ylabel, left_label = "steps to 95% test (censored at the budget)", "mean"
        title = f"Window sweep, MLP, k = {k}"
    for weighted, color, dx in ((True, "tab:blue", 0.0), (False, "tab:red", 0.01)):
        rows = anchored[anchored.weighted == weighted]
        if not len(rows):
            continue
        label = "1/t weight" if weighted else "no 1/t weight"
        ax_final.scatter(rows.mask_high + dx, rows.final_test_acc, s=20, color=color, alpha=0.7)
        finals = rows.groupby("mask_high").final_test_acc.median()
        ax_final.plot(finals.index + dx, finals.values, "-", color=color, label=label)
        if all_censored and auc is None:
            continue
        points = left[(left.mask_low == 0) & (left.mask_high > 0) & (left.weighted == weighted)]
        censored = points.censored if "censored" in points else pd.Series(False, index=points.index)
        ax.scatter(points.mask_high + dx, points.value, s=26, edgecolors=color,
                   facecolors=np.where(censored, "white", color), zorder=3)
        means = points.groupby("mask_high").value.mean()
        ax.plot(means.index + dx, means.values, "-", color=color, label=label)
    if all_censored and auc is None:
        ax.text(0.5, 0.5, f"every U[0, b] run censored at the budget ({steps} steps):\nno run reached 95% test, so "
                "there is no time to compare\n(the window claims are gated inconclusive)", ha="center", va="center",
                transform=ax.transAxes, fontsize=10)
        ax.set(xlabel="window upper end b  (t ~ U[0, b])", title=f"Window sweep, MLP, k = {k}: all censored")
    else:
        if np.isfinite(left_fixed):
            ax.axhline(left_fixed, color="tab:green", label=f"fixed t*: {left_label} {left_fixed:.3g}")
        if not all_censored:
            ax.axhline(steps, color="grey", lw=0.8, ls=":")
        ax.axvline(t1_theory, color="k", ls="--", lw=1, label=f"theory t1 = {t1_theory:.3f}")
        if np.isfinite(best["best_b"]):
            ax.axvspan(best["low"], best["high"], color="tab:blue", alpha=0.1,
                       label=f"best b = {best['best_b']:g}, 95% bootstrap [{best['low']:g}, {best['high']:g}]")
        ax.set(xlabel="window upper end b  (t ~ U[0, b])", ylabel=ylabel, title=title)
        ax.title.set_fontsize(10 if all_censored else 12)
        ax.legend(fontsize=8)
    ax_final.axhline(fixed.final_test_acc.median(), color="tab:green",
                     label=f"fixed t*: median {fixed.final_test_acc.median():.2f}")
    ax_final.axvline(t1_theory, color="k", ls="--", lw=1)
    ax_final.set(xlabel="window upper end b", ylabel=f"test accuracy at the budget ({steps} steps)",
                 title="test accuracy at the budget" + (" (every run censored)" if all_censored else ""))
    ax_final.legend(fontsize=8)
    return fig


def figures(results: Results, out) -> dict:
    """Every figure of notebook 02, saved through ``out`` and returned by name: the MLP's accuracy and grokking gap
    (and the transformer's beside it, when it ran), the held-out loss decomposition and the window sweep."""
    import matplotlib.pyplot as plt

    cfg = results.config
    metrics, summary = results.family(MLP)
    data, train = cfg.mlp.data, cfg.mlp.train
    main = cfg.md_ratio(cfg.mlp).label
    with _style():
        drawn = {figure_names.PARITY_GROKKING_ACCURACY: draw_accuracy(
            metrics, summary, main, f"MLP, {data.k}-sparse parity, n = {data.n}, {data.n_train} train examples, "
                                    f"wd {train.weight_decay}")}
        if (results.summary.family == TRANSFORMER).any():
            tf_metrics, tf_summary = results.family(TRANSFORMER)
            tf = cfg.transformer.data
            drawn[TRANSFORMER_ACCURACY] = draw_accuracy(
                tf_metrics, tf_summary, cfg.md_ratio(cfg.transformer).label,
                f"transformer, {tf.k}-sparse parity, n = {tf.n}, {tf.n_train} examples")
        drawn[figure_names.PARITY_LOSS_DECOMPOSITION] = draw_loss_decomposition(metrics, main)
        drawn[figure_names.PARITY_WINDOW_SWEEP] = draw_window_sweep(summary, cfg.mlp, results.best_window,
                                                                    test_accuracy_auc(metrics))
    for name, fig in drawn.items():
        out.figure(fig, name)
        plt.close(fig)   # shown where the notebook displays it, not all at once
    return drawn


# -- the explorer ---------------------------------------------------------------------------------------------

def draw_parity_curves(metrics: pd.DataFrame, family: str, window: str, seeds: tuple, last_step: int):
    """Train (dashed) and test (solid) accuracy of the chosen parity runs, up to ``last_step``."""
    with _style():
        return _draw_parity_curves(metrics, family, window, seeds, last_step)


def _draw_parity_curves(metrics, family, window, seeds, last_step):
    import matplotlib.pyplot as plt

    runs = metrics[(metrics.family == family) & (metrics.window == window) & metrics.seed.isin(list(seeds))
                   & (metrics.step <= last_step)]
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    for seed, curve in runs.groupby("seed"):
        ax.plot(curve.step, curve.train_acc, ls="--", color=f"C{seed % 10}")
        ax.plot(curve.step, curve.test_acc, color=f"C{seed % 10}", label=f"seed {seed}")
    what = "supervised" if window == "supervised" or window == "-" else f"MD {window}"
    ax.set(title=f"{family}: {what} (dashed: train, solid: test)", xlabel="step", ylabel="accuracy",
           ylim=(0.4, 1.02), xlim=(0, last_step))
    if len(runs):
        ax.legend(fontsize=8, ncol=2)
    return fig


_STYLE = {"description_width": "6em"}


def explorer(results: Results):
    """Pick a model family, an objective / window, seeds and the last step shown, over the saved curves
    (``results.metrics``: family, window, seed, step, train_acc, test_acc)."""
    from ..companion.interactive import explore, is_headless

    metrics = results.metrics
    families = sorted(metrics.family.unique())
    windows = tuple(dict.fromkeys(metrics.window))
    seeds = tuple(sorted(metrics.seed.unique()))
    steps = sorted(metrics.step.unique())
    if not families or not windows or len(steps) < 2:
        raise ValueError("the parity explorer needs notebook 02's metrics with family, window, seed and at least two "
                         "logged steps: pass the Results of run(cfg, out)")
    controls = {}
    if not is_headless():
        import ipywidgets as widgets

        controls = {"metrics": widgets.fixed(metrics),
                    "family": widgets.Dropdown(options=families, description="family", style=_STYLE),
                    "window": widgets.Dropdown(options=windows, description="objective", style=_STYLE),
                    "seeds": widgets.SelectMultiple(options=seeds, value=seeds[:4], rows=min(6, len(seeds)),
                                                    description="seeds", style=_STYLE),
                    "last_step": widgets.SelectionSlider(options=steps, value=steps[-1], description="up to step",
                                                         continuous_update=False, style=_STYLE,
                                                         layout=widgets.Layout(width="34em"))}
    return explore(draw_parity_curves, controls, {"metrics": metrics, "family": families[0], "window": windows[0],
                                                  "seeds": seeds[:4], "last_step": steps[-1]})
