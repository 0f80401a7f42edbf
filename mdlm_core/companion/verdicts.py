r"""Every rule that turns numbers into a verdict, declared before the runs it judges.

Two kinds of claim are kept apart, and the README and the report count them separately:

* **derived** -- an identity or an implementation check, computed rather than measured: P_S(t) and its
  maximiser t*, the E[KL] identity, "the mask sampler gives P_S". Verdicts: ``derived`` (a closed form,
  shown), ``checked`` (a numerical check within its stated tolerance) or ``fails check``. None of these is
  a reproduction of an experiment.
* **experiment** -- the outcome of training runs. Verdicts: ``reproduced``, ``partly``, ``not reproduced``,
  ``inconclusive``, each reached by one of the tests below and carrying its statistic, p-value or z, and
  seed count.

The tests (``effect`` is signed so that > 0 is the paper's direction):

``paired_difference_test``
    Paired differences over seeds (common evaluation masks, the same data order per seed); s.e. =
    sqrt(s.e.\ :sub:`seeds`\ ² + s.e.\ :sub:`eval`\ ²) where an evaluation s.e. is pooled in; the statistic
    t = effect / s.e. is referred to Student's t with the Welch-Satterthwaite degrees of freedom of that s.e.
    (the seed part has n - 1 d.o.f., or the d.o.f. of a pooled seed s.d. such as ``two_way_residual_sd``; the
    evaluation part, over hundreds of sequences, counts as known). The thresholds are the normal rule's
    one-sided p-values, so with many seeds the rule is "z >= 2 / z >= 1" exactly, and with 2-3 seeds it asks
    for the larger t that a 1-2 d.o.f. s.e. needs.
    **reproduced**: one-sided p <= 0.0228 (z >= 2 in the normal limit). **partly**: p <= 0.159 (z >= 1).
    **not reproduced**: the same p <= 0.0228 the other way, or the upper end of the one-sided 97.7% interval
    (effect + t_crit s.e.) lies below ``min_effect`` (the paper's effect size is excluded).
    **inconclusive**: anything else (no detectable effect, and the test cannot exclude the paper's).
``two_way_residual_sd``
    With seeds as blocks (each seed trains every window on the same data order), the residual s.d. of the
    additive model loss[window, seed] = window effect + seed effect + noise, on (W - 1)(S - 1) d.o.f.; the
    s.d. of one seed's paired difference between two windows is sqrt(2) times it. Pooling over windows
    assumes the noise is alike across windows, and buys d.o.f. that two seeds alone cannot give.
``crossover_test``
    Two paired differences that must both clear the bar in the paper's direction, e.g. window A above B on a
    discriminative task *and* B above A on a generative one (each signed so that > 0 is the paper's side; each
    judged by ``paired_difference_test``). An intersection-union test: the statistic is the smaller t, the
    p-value the larger one-sided p. **reproduced**: both parts reproduced (each p <= 0.0228). **not
    reproduced**: either part not reproduced (one of the two orders is significantly the other way, so the
    crossover cannot hold). **partly**: both parts at least partly (each p <= 0.159). **inconclusive**:
    anything else, and always with fewer than 2 seeds (no seed spread to test the flip against).
``above_baseline_gate``
    Before any window verdict: did fine-tuning learn the task at all? Per-seed accuracy (averaged over the
    runs of that seed) minus the task's trivial accuracy (chance / majority class, or the commonest answer),
    by ``paired_difference_test`` with the test-set s.e. pooled in. The gate is **passed** when that test
    says reproduced (one-sided p <= 0.0228); else
    the task's window verdicts become **inconclusive** and say why (``gated``).
``share_test``
    The share of seeds showing a per-seed property, with an exact binomial test against ``p0``.
    **reproduced**: one-sided p < 0.05 for "more than p0". **not reproduced**: one-sided p < 0.05 for
    "fewer than p0". **partly**: a majority of the uncensored seeds, short of significance. Otherwise,
    or when more than half of the seeds are censored, **inconclusive**.
``logrank_test``
    Times to an event with censoring at the budget (steps to memorise or to generalise), two groups:
    the log-rank chi-square (1 d.o.f.), signed by which group is faster. **reproduced**: p < 0.05 in the
    paper's direction; **not reproduced**: p < 0.05 the other way; **partly**: the paper's direction with
    p < 0.2; else **inconclusive**.
``gehan_test``
    The censored Mann-Whitney (Gehan's generalised Wilcoxon) for the same question as ``logrank_test``:
    every cross-group pair scores +1 / -1 when one run *certainly* reached the event first (an event
    strictly before the other's time, or at the same time as the other's censoring), 0 when censoring
    leaves the order open; z from Mantel's permutation variance. It weighs early differences more than
    the log-rank and so suits "which reaches 95% first" when many runs hit the budget. Verdicts as
    ``logrank_test``: **reproduced** p < 0.05 (two-sided) in the paper's direction, **not reproduced**
    p < 0.05 against it, **partly** its direction with p < 0.2, else **inconclusive**.
``u_shape_test``
    Test loss per training bin, per seed. (1) Both end bins lie above the best interior bin by a paired
    difference significant by the paired-difference rule (p <= 0.0228, the seed s.d. pooled over bins by
    ``two_way_residual_sd``); (2) a quadratic fit over bin centres has curvature whose 95% interval
    lies above 0. **reproduced**: both; **partly**: exactly one; **not reproduced**: the curvature's
    interval lies below 0 or both end differences are below zero by 2 s.e.; else **inconclusive**.
``rank_agreement_test``
    Spearman's rho between our ranking and the paper's, with the exact one-sided permutation p-value over
    all n! orderings. **reproduced**: p < 0.05; **partly**: rho > 0; **not reproduced**: rho <= 0.
``check_close``
    A derived check: |ours - target| <= tol gives ``checked``, else ``fails check``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import stats

DERIVED, EXPERIMENT = "derived", "experiment"
KINDS = (DERIVED, EXPERIMENT)
DERIVED_VERDICTS = ("derived", "checked", "fails check")
EXPERIMENT_VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive")
VERDICTS = {DERIVED: DERIVED_VERDICTS, EXPERIMENT: EXPERIMENT_VERDICTS}
Z_REPRODUCED, Z_PARTLY, ALPHA = 2.0, 1.0, 0.05
P_REPRODUCED, P_PARTLY = float(stats.norm.sf(Z_REPRODUCED)), float(stats.norm.sf(Z_PARTLY))  # 0.0228, 0.159


@dataclass(frozen=True)
class TestResult:
    """What a pre-declared test found: the verdict and the numbers behind it."""

    __test__ = False             # not a pytest test class
    verdict: str
    test: str                    # the rule, in words (which test, which threshold)
    statistic: str               # the statistic as it reads, e.g. "z = 2.41" or "rho = 0.90"
    n_seeds: int
    p_value: float | None = None
    z: float | None = None
    summary: str = ""            # our numbers, for the claims table's "ours" column

    def __post_init__(self) -> None:
        if self.verdict not in EXPERIMENT_VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} must be one of {EXPERIMENT_VERDICTS}")


@dataclass(frozen=True)
class Claim:
    """One row of a notebook's claims table. Build it with ``Claim.derived`` or ``Claim.experiment``."""

    claim: str        # what the paper says, in a few words
    paper: str        # the paper's number
    ours: str         # our number, with seeds and spread where it is a measurement
    verdict: str
    kind: str = EXPERIMENT
    figure: str = ""  # the figure that shows it
    notes: str = ""
    test: str = ""                # experiment claims: the pre-declared test ...
    statistic: str = ""           # ... its statistic,
    p_value: float | None = None  # ... its p-value and/or z,
    z: float | None = None
    n_seeds: int | None = None    # ... and how many seeds it rests on

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim kind {self.kind!r} must be one of {KINDS}")
        if self.verdict not in VERDICTS[self.kind]:
            raise ValueError(f"a {self.kind} claim's verdict must be one of {VERDICTS[self.kind]}, got {self.verdict!r}")
        has_number = self.p_value is not None or self.z is not None or self.verdict == "inconclusive"
        if self.kind == EXPERIMENT and not (self.test and self.statistic and self.n_seeds is not None and has_number):
            raise ValueError(f"experiment claim {self.claim!r} needs its test, statistic, p-value or z and seed count: "
                             "build it with Claim.experiment(..., result=<a verdicts test>)")

    @classmethod
    def derived(cls, claim: str, paper: str, ours: str, verdict: str = "derived", figure: str = "",
                notes: str = "") -> "Claim":
        return cls(claim, paper, ours, verdict, DERIVED, figure, notes)

    @classmethod
    def experiment(cls, claim: str, paper: str, result: TestResult, figure: str = "", notes: str = "",
                   ours: str | None = None) -> "Claim":
        return cls(claim, paper, ours if ours is not None else result.summary, result.verdict, EXPERIMENT, figure,
                   notes, result.test, result.statistic, _finite_or_none(result.p_value), _finite_or_none(result.z),
                   result.n_seeds)

    def to_dict(self) -> dict:
        return asdict(self)


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _fmt(x: float, digits: int = 3) -> str:
    return "nan" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"


# -- derived checks ---------------------------------------------------------------------------------------
def check_close(ours: float, target: float, tol: float) -> str:
    """``checked`` if |ours - target| <= tol, else ``fails check``."""
    return "checked" if abs(ours - target) <= tol else "fails check"


# -- paired differences ---------------------------------------------------------------------------------------
def two_way_residual_sd(values: np.ndarray) -> tuple[float, int]:
    """Residual s.d. and its d.o.f. of the additive model ``values[window, seed]`` = window + seed + noise
    (rows: windows, columns: seeds as blocks; no NaN). NaN with fewer than 2 windows or 2 seeds."""
    y = np.asarray(values, dtype=float)
    n_windows, n_seeds = y.shape
    dof = (n_windows - 1) * (n_seeds - 1)
    if dof < 1:
        return float("nan"), 0
    resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()
    return float(math.sqrt((resid ** 2).sum() / dof)), dof


def paired_difference_test(differences: Sequence[float], *, eval_se: float = 0.0, min_effect: float | None = None,
                           unit: str = "", seed_sd: float | None = None, seed_dof: int | None = None) -> TestResult:
    """The paired-difference rule (module docstring): ``differences`` are per-seed values of the effect,
    signed so that > 0 is the paper's direction; ``eval_se`` is the s.e. of the seed-mean difference that
    comes from the finite evaluation set (pooled in); ``min_effect`` the smallest effect the claim means;
    ``seed_sd`` / ``seed_dof``: a pooled s.d. of one seed's difference and its d.o.f. (e.g. sqrt(2) x
    ``two_way_residual_sd``), used instead of the differences' own s.d. (n - 1 d.o.f.)."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return TestResult("inconclusive", "paired difference over seeds", "no paired runs", 0, summary="no paired runs")
    if seed_sd is not None and seed_dof:
        seed_se, dof_seed = float(seed_sd) / math.sqrt(n), int(seed_dof)
    else:
        seed_se, dof_seed = (float(d.std(ddof=1) / math.sqrt(n)), n - 1) if n > 1 else (0.0, 0)
    se = math.sqrt(seed_se ** 2 + float(eval_se) ** 2)
    # Welch-Satterthwaite: the evaluation part is known (hundreds of sequences), the seed part has dof_seed d.o.f.
    dof = se ** 4 / (seed_se ** 4 / dof_seed) if seed_se > 0 and dof_seed else math.inf
    mean = float(d.mean())
    t = mean / se if se > 0 else (math.copysign(math.inf, mean) if mean else 0.0)
    p = float(stats.t.sf(t, dof))        # one-sided, the paper's direction
    p_against = float(stats.t.cdf(t, dof))
    t_crit = float(stats.t.isf(P_REPRODUCED, dof))
    if n < 2 and eval_se <= 0:
        verdict = "inconclusive"  # one seed and no evaluation s.e.: no spread to test against
    elif p <= P_REPRODUCED:
        verdict = "reproduced"
    elif p_against <= P_REPRODUCED or (min_effect is not None and mean + t_crit * se < min_effect):
        verdict = "not reproduced"
    elif p <= P_PARTLY:
        verdict = "partly"
    else:
        verdict = "inconclusive"
    rule = ("paired difference over seeds, Student t (Welch-Satterthwaite d.o.f.): reproduced one-sided p <= 0.0228 "
            "(z >= 2 in the normal limit), partly p <= 0.159, not reproduced p <= 0.0228 the other way")
    if min_effect is not None:
        rule += f" or effect + t_crit s.e. < {min_effect:g}"
    if eval_se:
        rule += "; s.e. pools the seed and evaluation-set s.e."
    if seed_sd is not None and seed_dof:
        rule += f"; seed s.d. pooled over windows ({seed_dof} d.o.f.)"
    dof_text = "inf" if math.isinf(dof) else f"{dof:.1f}"
    return TestResult(verdict, rule, f"t = {t:.2f} ({dof_text} d.o.f.)", n, p, t,
                      f"{_fmt(mean)} ± {se:.3f}{unit} (paired over {n} seed{'s' * (n != 1)})")


def crossover_test(first: TestResult, second: TestResult, what: tuple[str, str] = ("first", "second")) -> TestResult:
    """The crossover rule (module docstring) on two ``paired_difference_test`` results, each signed so that
    > 0 is the paper's side of the flip."""
    n = min(first.n_seeds, second.n_seeds)
    z1 = first.z if first.z is not None else 0.0
    z2 = second.z if second.z is not None else 0.0
    p = max(first.p_value if first.p_value is not None else 1.0, second.p_value if second.p_value is not None else 1.0)
    verdicts = {first.verdict, second.verdict}
    if n < 2:
        verdict = "inconclusive"
    elif verdicts == {"reproduced"}:
        verdict = "reproduced"
    elif "not reproduced" in verdicts:
        verdict = "not reproduced"
    elif verdicts <= {"reproduced", "partly"}:
        verdict = "partly"
    else:
        verdict = "inconclusive"
    rule = ("crossover (intersection-union of two paired differences over seeds, test-set s.e. pooled in): reproduced "
            "both parts reproduced, not reproduced either part significantly the other way, partly both at least "
            "partly, inconclusive otherwise or with < 2 seeds")
    return TestResult(verdict, rule, f"min t = {min(z1, z2):.2f} ({what[0]}: {first.statistic}; {what[1]}: "
                      f"{second.statistic})", n, p, min(z1, z2), f"{what[0]}: {first.summary}; {what[1]}: {second.summary}")


def above_baseline_gate(accuracy_per_seed: Sequence[float], baseline: float, eval_se: float,
                        what: str = "accuracy") -> TestResult:
    """The gate (module docstring): ``accuracy_per_seed`` minus the trivial ``baseline``, paired-difference rule;
    passed when its verdict is ``reproduced``."""
    result = paired_difference_test(np.asarray(accuracy_per_seed, float) - baseline, eval_se=eval_se)
    return TestResult(result.verdict, f"gate: {what} above the trivial baseline {baseline:.3f}, passed at "
                      "one-sided p <= 0.0228 (paired difference over seeds, Student t, test-set s.e. pooled in)", result.statistic, result.n_seeds,
                      result.p_value, result.z, f"{what} - baseline = {result.summary}")


def gated(result: TestResult, gates: Sequence[tuple[str, TestResult]]) -> TestResult:
    """``result`` unchanged when every (name, gate) passed (verdict ``reproduced``); else ``inconclusive``,
    naming the failed gates and their numbers."""
    failed = [f"{name} ({gate.statistic}: {gate.summary})" for name, gate in gates if gate.verdict != "reproduced"]
    if not failed:
        return result
    from dataclasses import replace
    return replace(result, verdict="inconclusive",
                   test=result.test + "; gated: inconclusive because SFT did not beat the trivial baseline on "
                   + ", ".join(failed))


# -- shares of seeds ---------------------------------------------------------------------------------------
def share_test(hits: int, n: int, *, censored: int = 0, p0: float = 0.5, what: str = "seeds") -> TestResult:
    """The share rule: ``hits`` of ``n`` seeds show the property; ``censored`` of them hit the budget first."""
    if n <= 0:
        return TestResult("inconclusive", "exact binomial test", "no seeds", 0, summary="no seeds")
    p_more = float(stats.binomtest(hits, n, p0, alternative="greater").pvalue)
    p_fewer = float(stats.binomtest(hits, n, p0, alternative="less").pvalue)
    decided = n - censored
    if censored * 2 > n:
        verdict = "inconclusive"
    elif p_more < ALPHA:
        verdict = "reproduced"
    elif p_fewer < ALPHA:
        verdict = "not reproduced"
    elif decided and hits * 2 > decided:
        verdict = "partly"
    else:
        verdict = "inconclusive"
    rule = (f"exact binomial test of the share of {what} against {p0:g}: reproduced p < 0.05 (more), "
            "not reproduced p < 0.05 (fewer), partly a majority short of significance; inconclusive if most are censored")
    return TestResult(verdict, rule, f"{hits}/{n} {what}", n, min(p_more, 1.0),
                      summary=f"{hits}/{n} {what}" + (f" ({censored} censored at the budget)" if censored else ""))


# -- censored times ------------------------------------------------------------------------------------------
def logrank_statistic(times_a, events_a, times_b, events_b) -> tuple[float, float]:
    """Log-rank test of two right-censored samples: (chi-square with 1 d.o.f., observed - expected events of a).

    ``times_*`` are event or censoring times, ``events_*`` True where the event happened (False: censored).
    observed - expected < 0 means group a has fewer events than equal hazards predict, i.e. a is slower.
    """
    t = np.concatenate([np.asarray(times_a, float), np.asarray(times_b, float)])
    e = np.concatenate([np.asarray(events_a, bool), np.asarray(events_b, bool)])
    in_a = np.concatenate([np.ones(len(times_a), bool), np.zeros(len(times_b), bool)])
    o_minus_e, variance = 0.0, 0.0
    for time in np.unique(t[e]):
        at_risk = t >= time
        n, n_a = at_risk.sum(), (at_risk & in_a).sum()
        d = (e & (t == time)).sum()
        d_a = (e & (t == time) & in_a).sum()
        o_minus_e += d_a - d * n_a / n
        if n > 1:
            variance += d * (n_a / n) * (1 - n_a / n) * (n - d) / (n - 1)
    chi2 = o_minus_e ** 2 / variance if variance > 0 else 0.0
    return float(chi2), float(o_minus_e)


def _censored_comparison(test: str, statistic: str, detail: str, z: float, p_two: float, events_fast, events_slow,
                         what: str) -> TestResult:
    """The verdict shared by the censored two-group tests (z > 0: the first group is faster, the paper's direction)."""
    if p_two < ALPHA:
        verdict = "reproduced" if z > 0 else "not reproduced"
    elif z > 0 and p_two < 0.2:
        verdict = "partly"
    else:
        verdict = "inconclusive"
    rule = (f"{test} with censoring at the budget: reproduced p < 0.05 in the paper's direction, "
            "not reproduced p < 0.05 against it, partly p < 0.2 in its direction")
    events = np.concatenate([np.asarray(events_fast, bool), np.asarray(events_slow, bool)])
    n, censored = len(events), int((~events).sum())
    return TestResult(verdict, rule, statistic, n, p_two, z, f"{detail}, p = {p_two:.3g} ({censored}/{n} runs censored, {what})")


def logrank_test(times_fast, events_fast, times_slow, events_slow, *, what: str = "steps") -> TestResult:
    """The censored-times rule: does the first group (the paper's faster one) reach the event sooner?"""
    chi2, o_minus_e = logrank_statistic(times_fast, events_fast, times_slow, events_slow)
    z = math.copysign(math.sqrt(chi2), o_minus_e) if chi2 > 0 else 0.0   # > 0: the paper's direction
    p_two = float(stats.chi2.sf(chi2, 1)) if chi2 > 0 else 1.0
    return _censored_comparison("log-rank test", f"chi2 = {chi2:.2f}", f"log-rank chi2 = {chi2:.2f}", z, p_two,
                                events_fast, events_slow, what)


# -- the U-curve ------------------------------------------------------------------------------------------------
def u_shape_test(centres: Sequence[float], losses: np.ndarray) -> TestResult:
    """The U-shape rule on ``losses[bin, seed]`` (bins ordered by ``centres``; seeds paired, no NaN)."""
    x = np.asarray(centres, float)
    y = np.asarray(losses, float)
    n_bins, n_seeds = y.shape
    if n_seeds < 2:
        return TestResult("inconclusive", "U-shape test (needs >= 2 seeds per bin)", "one seed per bin", n_seeds,
                          summary="one seed per bin: no paired s.e., no test")
    mean = y.mean(axis=1)
    best = 1 + int(np.argmin(mean[1:-1]))
    resid_sd, resid_dof = two_way_residual_sd(y)
    ends = [paired_difference_test(y[end] - y[best], seed_sd=math.sqrt(2) * resid_sd, seed_dof=resid_dof)
            for end in (0, n_bins - 1)]
    ends_above = all(r.p_value <= P_REPRODUCED for r in ends)
    ends_below = all(1 - r.p_value <= P_REPRODUCED for r in ends)
    # quadratic fit over every (bin, seed) point; the curvature's 95% interval from the OLS covariance
    design = np.stack([np.ones(n_bins * n_seeds), np.repeat(x, n_seeds), np.repeat(x, n_seeds) ** 2], axis=1)
    coef, *_ = np.linalg.lstsq(design, y.reshape(-1), rcond=None)
    dof = max(len(design) - 3, 1)
    sigma2 = float(((y.reshape(-1) - design @ coef) ** 2).sum() / dof)
    c_se = math.sqrt(sigma2 * np.linalg.inv(design.T @ design)[2, 2])
    half = float(stats.t.ppf(0.975, dof)) * c_se
    c_low, c_high = coef[2] - half, coef[2] + half
    curved = c_low > 0
    if ends_above and curved:
        verdict = "reproduced"
    elif c_high < 0 or ends_below:
        verdict = "not reproduced"
    elif ends_above or curved:
        verdict = "partly"
    else:
        verdict = "inconclusive"
    z = min(r.z for r in ends)
    rule = ("U-shape: both end bins above the best interior bin by the paired-difference rule (seed s.d. pooled over "
            f"bins, {resid_dof} d.o.f.), and the quadratic "
            "fit's curvature 95% CI > 0; reproduced both, partly one, not reproduced curvature CI < 0 or both ends below")
    summary = (f"best interior bin #{best + 1} (centre {x[best]:.2f}); ends minus best: "
               f"{ends[0].summary.split(' (')[0]} and {ends[1].summary.split(' (')[0]}; "
               f"curvature {coef[2]:.3f}, 95% CI [{c_low:.3f}, {c_high:.3f}]")
    return TestResult(verdict, rule, f"min end t = {z:.2f}, p = {max(r.p_value for r in ends):.2g}; curvature CI "
                      f"[{c_low:.3f}, {c_high:.3f}]", n_seeds, max(r.p_value for r in ends), z=z, summary=summary)


# -- rankings ---------------------------------------------------------------------------------------------------
def spearman_rho(a: Sequence[float], b: Sequence[float]) -> float:
    ra, rb = stats.rankdata(a), stats.rankdata(b)
    if np.std(ra) == 0 or np.std(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def rank_agreement_test(ours: Sequence[float], paper: Sequence[float], n_seeds: int) -> TestResult:
    """The ranking rule: Spearman rho with its exact permutation p-value (all n! orderings of ours)."""
    ours, paper = list(ours), list(paper)
    if len(ours) != len(paper) or len(ours) < 3:
        raise ValueError("rank agreement needs two equal-length lists of >= 3 values")
    if len(ours) > 9:
        raise ValueError("the exact permutation test enumerates n! orderings: use at most 9 values")
    rho = spearman_rho(ours, paper)
    if not math.isfinite(rho):
        return TestResult("inconclusive", "Spearman rho, exact permutation p-value", "rho undefined (ties)", n_seeds,
                          1.0, summary="all values tied")
    perms = [spearman_rho(p, paper) for p in itertools.permutations(ours)]
    p = float(np.mean([r >= rho - 1e-12 for r in perms]))
    verdict = "reproduced" if p < ALPHA else "partly" if rho > 0 else "not reproduced"
    return TestResult(verdict, "Spearman rho with the exact one-sided permutation p-value: reproduced p < 0.05, "
                      "partly rho > 0, not reproduced rho <= 0", f"rho = {rho:+.2f}", n_seeds, p,
                      summary=f"Spearman rho = {rho:+.2f} over {len(ours)} windows, permutation p = {p:.3f}")


# -- censored Mann-Whitney --------------------------------------------------------------------------------------
def _certainly_before(t_a: np.ndarray, e_a: np.ndarray, t_b: np.ndarray, e_b: np.ndarray) -> np.ndarray:
    """[len(a), len(b)] True where run a certainly reached the event before run b did (or b never did)."""
    ta, tb = t_a[:, None], t_b[None, :]
    return e_a[:, None] & ((ta < tb) | ((ta == tb) & ~e_b[None, :]))


def gehan_statistic(times_a, events_a, times_b, events_b) -> tuple[float, float]:
    """Gehan's censored two-sample statistic: (W, its permutation variance).

    W = sum over pairs (i in a, j in b) of [i certainly first] - [j certainly first]; W > 0: a is faster.
    """
    t = np.concatenate([np.asarray(times_a, float), np.asarray(times_b, float)])
    e = np.concatenate([np.asarray(events_a, bool), np.asarray(events_b, bool)])
    n_a, n = len(times_a), len(t)
    before = _certainly_before(t, e, t, e)
    score = before.sum(1).astype(float) - before.sum(0)     # per run: how many it beats minus how many beat it
    w = float(score[:n_a].sum())                             # pairs inside a cancel, so this is the cross-group W
    variance = n_a * (n - n_a) / (n * (n - 1)) * float((score ** 2).sum()) if n > 1 else 0.0
    return w, variance


def gehan_test(times_fast, events_fast, times_slow, events_slow, *, what: str = "steps") -> TestResult:
    """The censored Mann-Whitney rule: does the first group (the paper's faster one) reach the event sooner?"""
    w, variance = gehan_statistic(times_fast, events_fast, times_slow, events_slow)
    z = w / math.sqrt(variance) if variance > 0 else 0.0     # > 0: the paper's direction
    p_two = float(2 * stats.norm.sf(abs(z))) if variance > 0 else 1.0
    return _censored_comparison("Gehan's censored Mann-Whitney test", f"z = {z:.2f}", f"Gehan W = {w:.0f}, z = {z:.2f}",
                                z, p_two, events_fast, events_slow, what)
