r"""Every rule that turns numbers into a verdict, declared before the runs it judges.

Two kinds of claim are kept apart, and the README and the report count them separately:

* **derived** -- an identity or an implementation check, computed rather than measured: P_S(t) and its
  maximiser t*, the E[KL] identity, "the mask sampler gives P_S". Verdicts: ``derived`` (a closed form,
  shown), ``checked`` (a numerical check within its stated tolerance) or ``fails check``. None of these is
  a reproduction of an experiment.
* **experiment** -- the outcome of training runs. Verdicts: ``reproduced``, ``partly``, ``not reproduced``,
  ``inconclusive``, reached by the one rule below from the numbers of one of the tests further down.

**One p convention.** Every test signs its effect so that > 0 is the paper's direction and reports
``p_value``, one-sided *in* the paper's direction, and ``p_opposite``, one-sided *against* it. Where a
minimum effect is declared (``min_effect``), ``p_below_min`` is the one-sided p of "the effect is smaller
than ``min_effect``"; the 95% upper bound on the effect excludes ``min_effect`` exactly when
``p_below_min <= 0.05``.

**The verdict rule** (``experiment_verdict``; alpha = 0.05, q the Benjamini-Hochberg q-value), in this order:

1. the claim's **gate** failed (``gate_passed`` False): **inconclusive**, rendered "inconclusive (gate: ...)";
2. fewer than 2 training seeds (``n_seeds < 2``): **inconclusive**, however small the evaluation s.e. (it
   measures the test set, not the training seed);
3. **reproduced**: q <= 0.05, and the effect >= ``min_effect`` where one is declared;
4. **partly**: p <= 0.05 but q > 0.05, or q <= 0.05 with the effect below ``min_effect`` (the direction is
   reproduced, the size is not -- even where the bound excludes ``min_effect``);
5. **not reproduced**: ``p_opposite`` <= 0.05, or ``p_below_min`` <= 0.05 (an equivalence-style "no": the
   paper's effect size is excluded); each at its own level, not FDR-adjusted;
6. **inconclusive**: everything else, or no p-value.

**False-discovery control over the whole report** (``apply_fdr``). The family is every experiment claim of a
profile, over all notebooks, judged by these rules, with a p-value, its gate passed and >= 2 seeds; q is the
Benjamini-Hochberg step-up q-value of ``p_value`` over that family (``benjamini_hochberg``). A test alone
returns the *provisional* verdict (q = p, a family of one); ``apply_fdr`` sets ``q_value`` and the final
verdict. It runs whenever claims are saved (``outputs.save_claims``, over every notebook's file in the
profile's claims folder) and whenever the report is built. Claims saved before these rules (no
``p_convention``) keep their verdict and stay out of the family until their notebook is re-run.

**Gates** (``Gate``, ``gated``, ``above_baseline_gate``): what must hold before a claim can be judged (the model
learned; the baseline shows the phenomenon; most runs finished). A gate is not a reproduction and is not in
the FDR family; a gate test passes at p <= 0.05, one-sided, by its own rule.

**Power** (``mde``): each test reports the smallest effect, in its own effect units, that it detects with 80%
power at one-sided alpha 0.05 for its n (None: nothing is detectable at this n, e.g. an exact test whose
smallest attainable p exceeds 0.05). For tests on ranks and censored times it is the *local-alternative* MDE
(z_0.95 + z_0.80) x the null s.d. of the effect estimate, conditional on the observed pooled data, and their
``p_below_min`` is the normal test of (effect - ``min_effect``) / that s.d.

The tests:

``paired_difference_test``
    Per-seed paired differences d (common evaluation masks, the same data order per seed), effect = mean d.
    s.e. = sqrt(s.e.\ :sub:`seeds`\ ² + s.e.\ :sub:`eval`\ ²) where an evaluation s.e. is pooled in; t = effect /
    s.e. on the Welch-Satterthwaite d.o.f. of that s.e. (the seed part has n - 1 d.o.f., or those of a pooled
    seed s.d. such as ``two_way_residual_sd``; the evaluation part counts as known). With the differences' own
    s.d. and 2 <= n <= 10 seeds, the exact sign-flip permutation test of sum d (all 2^n sign patterns) is
    computed beside the t and each p is the larger of the two (the test text says which decided); with n <= 4
    the sign-flip cannot reach 0.05, so no paired claim on <= 4 seeds is decided without a pooled s.d. With a
    declared pooled seed s.d. (a block-design model, more d.o.f. than the n seeds) the t decides and the
    sign-flip p is shown beside it (``exact=True`` makes it decide there too). ``p_below_min``: the same test
    of d - ``min_effect``, the other way. MDE: the larger of the t's (noncentral t on its s.e. and d.o.f.) and,
    where the sign-flip decides, that of the whole rule at the seed s.d. (Monte Carlo, normal differences,
    fixed seed).
``two_way_residual_sd``
    With seeds as blocks (each seed trains every window on the same data order), the residual s.d. of the
    additive model loss[window, seed] = window effect + seed effect + noise, on (W - 1)(S - 1) d.o.f.; the
    s.d. of one seed's paired difference between two windows is sqrt(2) times it.
``crossover_test``
    Two paired differences that must both hold (each signed so that > 0 is the paper's side). Intersection-
    union: ``p_value`` is the larger one-sided p; "the crossover fails" needs either part reversed, so
    ``p_opposite`` (and ``p_below_min``) is the Bonferroni min(1, 2 x the smaller part's). Effect: the smaller
    part's; MDE: the larger part's.
``above_baseline_gate``
    Per-seed accuracy minus the task's trivial accuracy, by ``paired_difference_test`` with the test-set s.e.
    pooled in; **passed** when its p <= 0.05 (verdict ``reproduced`` as a test alone). ``gated`` then makes the
    claims that need it "inconclusive (gate: ...)" when it failed.
``share_test``
    ``hits`` of ``n`` seeds show a property; exact binomial against ``p0``: ``p_value`` = P(X >= hits),
    ``p_opposite`` = P(X <= hits); effect = hits / n - p0; MDE: the smallest p1 - p0 whose exact test (reject at
    P0(X >= k) <= 0.05) has power 0.8. Gate: at most half of the seeds censored at the budget.
``gehan_test`` / ``logrank_test``
    Times to an event with censoring at the budget, two groups (the first is the paper's faster one). Both are
    sums of per-run scores over the first group, so their permutation distribution is that of the subset sums
    of the pooled scores: **exact over all C(N, n_first) splits when each group has <= 10 runs**, else the
    normal approximation with the permutation variance (``method="permutation"``: Monte Carlo, 20,000 splits,
    fixed seed). Gehan (censored Mann-Whitney): a pair scores +1 / -1 when one run *certainly* reached the
    event first (an event strictly before the other's time, or at the other's censoring time), 0 when
    censoring leaves the order open; effect = W / (n_a n_b), the net probability that a fast-group run is
    certainly first. Log-rank: scores delta_i - H(t_i) (H the pooled Nelson-Aalen), sum = O - E of the first
    group; effect = (O - E) / V, the Peto log hazard ratio; MDE by Schoenfeld's (z_0.95 + z_0.80) / sqrt(V).
``u_shape_test``
    Test loss per training bin, per seed. Reproduced needs all of: both end bins above the best interior bin
    (paired-difference rule, seed s.d. pooled over bins by ``two_way_residual_sd``) and the quadratic fit's
    curvature > 0 (t on the OLS s.e.); ``p_value`` is the largest of the three one-sided p's. Against it:
    curvature < 0, or both ends below the best bin; ``p_opposite`` = min(1, 2 x the smaller of the curvature's
    p and the larger end p). Effect: the smaller end-minus-best difference, MDE that test's.
``page_trend_test``
    A predicted ranking of k conditions, seeds as blocks (values[seed, condition], conditions in the paper's
    predicted increasing order): Page's L = sum_j j R_j with R_j the rank sum of condition j. Exact null for
    k <= 8 (the per-seed distribution over all k! orderings of that seed's ranks, ties as midranks, convolved
    over seeds); normal approximation with the same conditional moments above. Effect: the mean Spearman rho
    of a seed's ranks with the predicted order, 12 L / (m k (k² - 1)) - 3 (k + 1) / (k - 1) without ties.
``rank_agreement_test``
    Spearman's rho between our mean ranking and the paper's, exact permutation p over all n! orderings (one
    ranking, not seeds as blocks; ``page_trend_test`` uses the design).
``best_of``
    A claim about the best of m candidates chosen from the same runs (notebook 03's best bin): the chosen one's
    p is Bonferroni-adjusted, min(1, m p), before the FDR; under a flat null the best of m bins would otherwise
    pass its test far more often than alpha.
``check_close``
    A derived check: |ours - target| <= tol gives ``checked``, else ``fails check``.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import asdict, dataclass, replace
from typing import Sequence

import numpy as np
from scipy import optimize, stats

DERIVED, EXPERIMENT = "derived", "experiment"
KINDS = (DERIVED, EXPERIMENT)
DERIVED_VERDICTS = ("derived", "checked", "fails check")
EXPERIMENT_VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive")
VERDICTS = {DERIVED: DERIVED_VERDICTS, EXPERIMENT: EXPERIMENT_VERDICTS}
ALPHA, POWER = 0.05, 0.80
Z_MDE = float(stats.norm.isf(ALPHA) + stats.norm.isf(1 - POWER))   # z_0.95 + z_0.80 = 2.486
ONE_SIDED = "one-sided"        # p_convention of claims judged by these rules
MAX_EXACT_SEEDS = 10           # sign-flip over <= 10 seeds: 2^10 patterns
MAX_EXACT_ARM = 10             # censored tests: exact over all splits with <= 10 runs per group
MAX_EXACT_CONDITIONS = 8       # Page's L: exact per-seed distribution over k! orderings
PERMUTATIONS, PERMUTATION_SEED = 20_000, 0


@dataclass(frozen=True)
class TestResult:
    """What a pre-declared test found: the provisional verdict (q = p) and the numbers behind it."""

    __test__ = False             # not a pytest test class
    verdict: str
    test: str                    # the rule, in words (which test decided, which threshold)
    statistic: str               # the statistic as it reads, e.g. "t = 2.41 (4.0 d.o.f.)"
    n_seeds: int
    p_value: float | None = None     # one-sided, in the paper's direction
    z: float | None = None
    summary: str = ""                # our numbers, for the claims table's "ours" column
    p_opposite: float | None = None  # one-sided, against the paper's direction
    p_below_min: float | None = None  # one-sided, "the effect is below min_effect" (None: none declared)
    effect: float | None = None      # the effect estimate, > 0 the paper's direction, in the test's units
    min_effect: float | None = None  # the declared minimum effect
    mde: float | None = None         # minimum detectable effect, 80% power, one-sided 0.05 (None: none at this n)
    gate: str = ""                   # what must hold before the claim is judged
    gate_passed: bool | None = None  # None: no gate

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
    p_value: float | None = None  # ... its p-values and/or z (see TestResult),
    z: float | None = None
    n_seeds: int | None = None    # ... how many seeds it rests on,
    p_opposite: float | None = None
    q_value: float | None = None  # ... its BH q over the report (set by apply_fdr),
    p_below_min: float | None = None
    effect: float | None = None
    min_effect: float | None = None
    mde: float | None = None      # ... its minimum detectable effect,
    gate: str = ""                # ... and its gate
    gate_passed: bool | None = None
    p_convention: str | None = None  # ONE_SIDED for claims judged by these rules
    finding: str = ""             # the paper finding it answers ("U-curve"): the README's findings at a glance
    headline: str = ""            # its key number in a few words (default: the first clause of ``ours``)

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
                notes: str = "", finding: str = "", headline: str = "") -> "Claim":
        return cls(claim, paper, ours, verdict, DERIVED, figure, notes, finding=finding, headline=headline)

    @classmethod
    def experiment(cls, claim: str, paper: str, result: TestResult, figure: str = "", notes: str = "",
                   ours: str | None = None, finding: str = "", headline: str = "") -> "Claim":
        f = _finite_or_none
        return cls(claim, paper, ours if ours is not None else result.summary, result.verdict, EXPERIMENT, figure,
                   notes, result.test, result.statistic, f(result.p_value), f(result.z), result.n_seeds,
                   p_opposite=f(result.p_opposite), p_below_min=f(result.p_below_min), effect=f(result.effect),
                   min_effect=f(result.min_effect), mde=f(result.mde), gate=result.gate,
                   gate_passed=result.gate_passed, p_convention=ONE_SIDED, finding=finding, headline=headline)

    def to_dict(self) -> dict:
        return asdict(self)


def with_finding(finding: str, claims: Sequence[Claim], primary: int | None = None, headline: str = "") -> list[Claim]:
    """``claims`` tagged as answering one paper finding (``Claim.finding``, one line of the README's findings at a
    glance); ``primary``: the index of the claim that line quotes, with ``headline`` as its key number."""
    if primary is not None and not (0 <= primary < len(claims) and headline):
        raise ValueError(f"primary={primary} needs an index of the {len(claims)} claims and a headline (its key number)")
    return [replace(c, finding=finding, headline=headline if i == primary else c.headline) for i, c in enumerate(claims)]


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _fmt(x: float, digits: int = 3) -> str:
    return "nan" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"


# -- the verdict rule and the false-discovery rate ------------------------------------------------------------
def experiment_verdict(p_value: float | None, p_opposite: float | None, q_value: float | None = None, *,
                       n_seeds: int | None, gate_passed: bool | None = None, effect: float | None = None,
                       min_effect: float | None = None, p_below_min: float | None = None) -> str:
    """The verdict rule of the module docstring; ``q_value`` None means a family of one (q = p)."""
    if gate_passed is False or (n_seeds or 0) < 2 or p_value is None:
        return "inconclusive"
    q = p_value if q_value is None else q_value
    if q <= ALPHA:
        return "partly" if min_effect is not None and effect is not None and effect < min_effect else "reproduced"
    if p_value <= ALPHA:
        return "partly"
    if (p_opposite is not None and p_opposite <= ALPHA) or (p_below_min is not None and p_below_min <= ALPHA):
        return "not reproduced"
    return "inconclusive"


def best_of(result: TestResult, candidates: int) -> TestResult:
    """``result`` for the best of ``candidates`` comparisons picked from the same data: its in-direction p
    Bonferroni-adjusted, min(1, m p), and its verdict redone. The selection favours the paper's direction only, so
    ``p_opposite`` and ``p_below_min`` (conservative under it) stay as they are."""
    if candidates <= 1 or result.p_value is None:
        return result
    p = min(1.0, candidates * result.p_value)
    verdict = experiment_verdict(p, result.p_opposite, n_seeds=result.n_seeds, gate_passed=result.gate_passed,
                                 effect=result.effect, min_effect=result.min_effect, p_below_min=result.p_below_min)
    return replace(result, p_value=p, verdict=verdict,
                   test=result.test + f"; the best of {candidates} candidates: p Bonferroni-adjusted (x {candidates})")


def benjamini_hochberg(p_values, axis: int = -1) -> np.ndarray:
    """Benjamini-Hochberg step-up q-values along ``axis``: q_(i) = min over j >= i of m p_(j) / j, at most 1."""
    p = np.moveaxis(np.asarray(p_values, float), axis, -1)
    m = p.shape[-1]
    if m == 0:
        return np.moveaxis(p.copy(), -1, axis)
    order = np.argsort(p, axis=-1)
    ranked = np.take_along_axis(p, order, -1) * m / np.arange(1, m + 1)
    ranked = np.minimum(np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1], 1.0)
    q = np.empty_like(ranked)
    np.put_along_axis(q, order, ranked, -1)
    return np.moveaxis(q, -1, axis)


def in_fdr_family(row: dict) -> bool:
    """An experiment claim judged by these rules, with a p-value, its gate passed and >= 2 seeds."""
    return (row.get("kind") == EXPERIMENT and row.get("p_convention") == ONE_SIDED and row.get("p_value") is not None
            and row.get("gate_passed") is not False and (row.get("n_seeds") or 0) >= 2)


def apply_fdr(rows: Sequence[dict]) -> list[dict]:
    """Copies of the claim ``rows`` (dicts, e.g. every notebook's of one profile) with ``q_value`` over the family
    (``in_fdr_family``) and the final verdict of every claim judged by these rules; other rows are unchanged."""
    out = [dict(row) for row in rows]
    family = [row for row in out if in_fdr_family(row)]
    for row, q in zip(family, benjamini_hochberg([row["p_value"] for row in family])):
        row["q_value"] = float(q)
    for row in out:
        if row.get("kind") == EXPERIMENT and row.get("p_convention") == ONE_SIDED:
            if not in_fdr_family(row):
                row["q_value"] = None
            row["verdict"] = experiment_verdict(
                row.get("p_value"), row.get("p_opposite"), row["q_value"] if in_fdr_family(row) else None,
                n_seeds=row.get("n_seeds"), gate_passed=row.get("gate_passed"), effect=row.get("effect"),
                min_effect=row.get("min_effect"), p_below_min=row.get("p_below_min"))
    return out


def apply_fdr_by_notebook(claims: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """``apply_fdr`` over every notebook's claims as one family: {notebook: rows} -> {notebook: final rows}."""
    final = iter(apply_fdr([row for rows in claims.values() for row in rows]))
    return {name: [next(final) for _ in rows] for name, rows in claims.items()}


def _result(test: str, statistic: str, n: int, p: float | None, p_opposite: float | None, summary: str, *,
            z: float | None = None, effect: float | None = None, min_effect: float | None = None,
            p_below_min: float | None = None, mde: float | None = None, gate: str = "",
            gate_passed: bool | None = None) -> TestResult:
    """A TestResult with its provisional verdict (q = p) by ``experiment_verdict``."""
    verdict = experiment_verdict(p, p_opposite, n_seeds=n, gate_passed=gate_passed, effect=effect,
                                 min_effect=min_effect, p_below_min=p_below_min)
    return TestResult(verdict, test, statistic, n, p, z, summary, p_opposite, p_below_min, effect, min_effect,
                      mde, gate, gate_passed)


# -- gates ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gate:
    """What must hold before a claim is judged: its ``name`` in words, whether it ``passed``, and the numbers."""

    name: str
    passed: bool
    detail: str = ""

    @classmethod
    def of(cls, name: str, result: TestResult) -> "Gate":
        """A gate decided by a test: passed when the test alone says ``reproduced`` (p <= 0.05)."""
        return cls(name, result.verdict == "reproduced", f"{result.statistic}: {result.summary}")


def gated(result: TestResult, gates: Sequence["Gate | tuple[str, TestResult | bool]"]) -> TestResult:
    """``result`` with its gates recorded: each a ``Gate`` or a (name, gate test | bool) pair, beside any gate the
    test set itself. If any failed, the verdict is ``inconclusive``, ``gate`` names the failed ones and the test
    text gives their numbers; the numbers of ``result`` stay as they are."""
    gates = [g if isinstance(g, Gate) else Gate(g[0], g[1]) if isinstance(g[1], bool) else Gate.of(*g) for g in gates]
    if result.gate:
        gates.insert(0, Gate(result.gate, result.gate_passed is not False))
    if not gates:
        return result
    failed = [g for g in gates if not g.passed]
    names = "; ".join(g.name for g in (failed or gates))
    if not failed:
        return replace(result, gate=names, gate_passed=True)
    why = ", ".join(f"{g.name} ({g.detail})" if g.detail else g.name for g in failed)
    return replace(result, verdict="inconclusive", gate=names, gate_passed=False,
                   test=result.test + f"; gated: inconclusive because the gate failed: {why}")


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


def _sign_patterns(n: int) -> np.ndarray:
    """All 2^n sign vectors, [2^n, n]."""
    return (1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)).astype(float)


def sign_flip_p(differences) -> tuple[np.ndarray, np.ndarray]:
    """Exact sign-flip permutation p-values of sum d over the last axis (<= 10 values, no NaN): (P(S* >= S),
    P(S* <= S)) over all 2^n sign patterns, the observed one included."""
    d = np.asarray(differences, float)
    sums = d @ _sign_patterns(d.shape[-1]).T
    observed = d.sum(-1, keepdims=True)
    tol = 1e-9 * (np.abs(d).sum(-1, keepdims=True) + 1e-300)
    return (sums >= observed - tol).mean(-1), (sums <= observed + tol).mean(-1)


def paired_t_p(differences, eval_se: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Student-t p-values (paper's direction, against) of the mean over the last axis, the seed s.e.
    on n - 1 d.o.f. with ``eval_se`` pooled in (Welch-Satterthwaite d.o.f.)."""
    d = np.asarray(differences, float)
    n = d.shape[-1]
    seed_se = d.std(-1, ddof=1) / math.sqrt(n)
    se = np.sqrt(seed_se ** 2 + eval_se ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dof = np.where(seed_se > 0, se ** 4 / (seed_se ** 4 / (n - 1)), np.inf)
        t = np.where(se > 0, d.mean(-1) / se, np.sign(d.mean(-1)) * np.inf)
    return stats.t.sf(t, dof), stats.t.cdf(t, dof)


def paired_rule_p(differences, eval_se: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The paired rule's p-values with the differences' own s.d., vectorised over leading axes: the larger of the
    Student t's and the exact sign-flip's (2 <= n <= 10), the t's alone above 10 seeds."""
    d = np.asarray(differences, float)
    p, p_opposite = paired_t_p(d, eval_se)
    if d.shape[-1] <= MAX_EXACT_SEEDS:
        flip, flip_opposite = sign_flip_p(d)
        p, p_opposite = np.maximum(p, flip), np.maximum(p_opposite, flip_opposite)
    return p, p_opposite


def t_mde(se: float, dof: float) -> float:
    """The effect a one-sided t test at 0.05 on ``se`` and ``dof`` finds with 80% power (noncentral t)."""
    if not se > 0:
        return 0.0
    if math.isinf(dof):
        return Z_MDE * se
    t_crit = stats.t.isf(ALPHA, dof)
    ncp = optimize.brentq(lambda nc: stats.nct.sf(t_crit, dof, nc) - POWER, 0.0, 1e4)
    return float(ncp * se)


@functools.cache
def sign_flip_rule_mde(n_seeds: int) -> float | None:
    """MDE in seed s.d. of the paired rule where the sign-flip decides (larger p of t and sign-flip), normal
    differences, no evaluation s.e.: Monte Carlo over 4,000 designs, fixed seed, bisection. None where 2^-n > 0.05."""
    if 2.0 ** -n_seeds > ALPHA:
        return None
    noise = np.random.default_rng(PERMUTATION_SEED).standard_normal((4000, n_seeds))
    power = lambda c: float((paired_rule_p(c + noise)[0] <= ALPHA).mean())   # noqa: E731
    low, high = 0.0, 20.0
    for _ in range(24):
        mid = (low + high) / 2
        low, high = (low, mid) if power(mid) >= POWER else (mid, high)
    return high


def paired_difference_test(differences: Sequence[float], *, eval_se: float = 0.0, min_effect: float | None = None,
                           unit: str = "", seed_sd: float | None = None, seed_dof: int | None = None,
                           exact: bool | None = None) -> TestResult:
    """The paired-difference rule (module docstring): ``differences`` are per-seed values of the effect, signed so
    that > 0 is the paper's direction; ``eval_se`` the s.e. of the seed-mean difference from the finite evaluation
    set (pooled in); ``min_effect`` the smallest effect the claim means; ``seed_sd`` / ``seed_dof`` a pooled s.d.
    of one seed's difference and its d.o.f. (e.g. sqrt(2) x ``two_way_residual_sd``), used instead of the
    differences' own s.d.; ``exact`` whether the sign-flip test decides beside the t (default: with the
    differences' own s.d. and 2 <= n <= 10 seeds)."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return _result("paired difference over seeds", "no paired runs", 0, None, None, "no paired runs")
    pooled = seed_sd is not None and bool(seed_dof)
    if pooled:
        seed_se, dof_seed = float(seed_sd) / math.sqrt(n), int(seed_dof)
    else:
        seed_se, dof_seed = (float(d.std(ddof=1) / math.sqrt(n)), n - 1) if n > 1 else (0.0, 0)
    se = math.sqrt(seed_se ** 2 + float(eval_se) ** 2)
    dof = se ** 4 / (seed_se ** 4 / dof_seed) if seed_se > 0 and dof_seed else math.inf
    mean = float(d.mean())

    def t_p(shift: float) -> tuple[float, float, float]:
        t = (mean - shift) / se if se > 0 else (math.copysign(math.inf, mean - shift) if mean != shift else 0.0)
        return float(stats.t.sf(t, dof)), float(stats.t.cdf(t, dof)), t

    p, p_opposite, t = t_p(0.0)
    p_below_min = t_p(min_effect)[1] if min_effect is not None else None
    can_flip = 2 <= n <= MAX_EXACT_SEEDS
    flip_decides = can_flip and (exact if exact is not None else not pooled)
    dof_text = "inf" if math.isinf(dof) else f"{dof:.1f}"
    statistic, decided_by = f"t = {t:.2f} ({dof_text} d.o.f.)", "Student t"
    if can_flip:
        flip, flip_opposite = (float(x) for x in sign_flip_p(d))
        statistic += f"; sign-flip p = {flip:.3g} over {2 ** n} patterns"
        if flip_decides:
            decided_by = "sign-flip" if flip > p else "Student t"
            p, p_opposite = max(p, flip), max(p_opposite, flip_opposite)
            if min_effect is not None:
                p_below_min = max(p_below_min, float(sign_flip_p(d - min_effect)[1]))
    mde = t_mde(se, dof) if n >= 2 else None
    if flip_decides and mde is not None:
        factor = sign_flip_rule_mde(n)
        mde = None if factor is None else max(mde, factor * float(d.std(ddof=1)))
    rule = ("paired difference over seeds: Student t (Welch-Satterthwaite d.o.f.)"
            + (" and the exact sign-flip test, the larger p decides" if flip_decides else "")
            + f"; one-sided p in the paper's direction and against it (decided by: {decided_by})")
    if min_effect is not None:
        rule += f"; declared minimum effect {min_effect:g}{unit}"
    if eval_se:
        rule += "; s.e. pools the seed and evaluation-set s.e."
    if pooled:
        rule += f"; seed s.d. pooled over windows ({seed_dof} d.o.f.)"
    return _result(rule, statistic, n, p, p_opposite, f"{_fmt(mean)} ± {se:.3f}{unit} (paired over {n} seed"
                   f"{'s' * (n != 1)})", z=t, effect=mean, min_effect=min_effect, p_below_min=p_below_min, mde=mde)


def crossover_test(first: TestResult, second: TestResult, what: tuple[str, str] = ("first", "second")) -> TestResult:
    """The crossover rule (module docstring) on two ``paired_difference_test`` results, each signed so that > 0 is
    the paper's side of the flip; their ``min_effect`` must agree."""
    if first.min_effect != second.min_effect:
        raise ValueError("the two parts of a crossover need the same min_effect")
    n = min(first.n_seeds, second.n_seeds)

    def either(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else min(1.0, 2 * min(a, b))

    p = None if first.p_value is None or second.p_value is None else max(first.p_value, second.p_value)
    z1 = first.z if first.z is not None else 0.0
    z2 = second.z if second.z is not None else 0.0
    effect = None if first.effect is None or second.effect is None else min(first.effect, second.effect)
    mde = None if first.mde is None or second.mde is None else max(first.mde, second.mde)
    rule = ("crossover (intersection-union of two paired differences over seeds): p the larger part's, p against "
            "the Bonferroni 2 x the smaller part's")
    return _result(rule, f"min t = {min(z1, z2):.2f} ({what[0]}: {first.statistic}; {what[1]}: {second.statistic})",
                   n, p, either(first.p_opposite, second.p_opposite), f"{what[0]}: {first.summary}; {what[1]}: "
                   f"{second.summary}", z=min(z1, z2), effect=effect, min_effect=first.min_effect,
                   p_below_min=either(first.p_below_min, second.p_below_min), mde=mde)


def above_baseline_gate(accuracy_per_seed: Sequence[float], baseline: float, eval_se: float,
                        what: str = "accuracy") -> TestResult:
    """The gate (module docstring): ``accuracy_per_seed`` minus the trivial ``baseline``, paired-difference rule;
    passed when its verdict is ``reproduced`` (p <= 0.05). Use it with ``gated`` or ``Gate.of``."""
    result = paired_difference_test(np.asarray(accuracy_per_seed, float) - baseline, eval_se=eval_se)
    return replace(result, test=f"gate: {what} above the trivial baseline {baseline:.3f}, passed at one-sided "
                   f"p <= 0.05 ({result.test})", summary=f"{what} - baseline = {result.summary}")


# -- shares of seeds ---------------------------------------------------------------------------------------
def binomial_mde(n: int, p0: float) -> float | None:
    """The smallest p1 - p0 whose exact one-sided binomial test (reject at P0(X >= k) <= 0.05) has power 0.8 over
    ``n`` seeds; None where even X = n is not significant."""
    k = int(stats.binom.isf(ALPHA, n, p0)) + 1          # smallest k with P0(X >= k) <= alpha
    if k > n:
        return None
    power = lambda p1: float(stats.binom.sf(k - 1, n, p1)) - POWER   # noqa: E731
    return float(optimize.brentq(power, p0, 1.0)) - p0 if power(1.0) > 0 else None


def share_test(hits: int, n: int, *, censored: int = 0, p0: float = 0.5, what: str = "seeds",
               min_effect: float | None = None) -> TestResult:
    """The share rule: ``hits`` of ``n`` seeds show the property; ``censored`` of them hit the budget first (the
    gate: at most half censored); ``min_effect`` a minimum share above ``p0``."""
    if n <= 0:
        return _result("exact binomial test", "no seeds", 0, None, None, "no seeds")
    p_more = float(stats.binom.sf(hits - 1, n, p0))
    p_fewer = float(stats.binom.cdf(hits, n, p0))
    p_below_min = float(stats.binom.cdf(hits, n, min(p0 + min_effect, 1.0))) if min_effect is not None else None
    gate = ("at most half of the seeds censored at the budget", censored * 2 <= n) if censored else ("", None)
    rule = (f"exact binomial test of the share of {what} against {p0:g}: one-sided p for more (the paper's direction) "
            "and for fewer")
    result = _result(rule, f"{hits}/{n} {what}", n, p_more, p_fewer, f"{hits}/{n} {what}" +
                     (f" ({censored} censored at the budget)" if censored else ""), effect=hits / n - p0,
                     min_effect=min_effect, p_below_min=p_below_min, mde=binomial_mde(n, p0))
    return gated(result, [gate]) if censored else result


# -- censored times ------------------------------------------------------------------------------------------
def logrank_statistic(times_a, events_a, times_b, events_b) -> tuple[float, float]:
    """Log-rank test of two right-censored samples: (chi-square with 1 d.o.f., observed - expected events of a).

    ``times_*`` are event or censoring times, ``events_*`` True where the event happened (False: censored).
    observed - expected < 0 means group a has fewer events than equal hazards predict, i.e. a is slower.
    """
    o_minus_e, variance = _logrank_sums(*_pooled(times_a, events_a, times_b, events_b))
    return float(o_minus_e ** 2 / variance if variance > 0 else 0.0), o_minus_e


def _logrank_sums(t: np.ndarray, e: np.ndarray, n_a: int) -> tuple[float, float]:
    """Observed - expected events of the first ``n_a`` runs and the log-rank variance V."""
    in_a = np.arange(len(t)) < n_a
    o_minus_e, variance = 0.0, 0.0
    for time in np.unique(t[e]):
        at_risk = t >= time
        n, k = at_risk.sum(), (at_risk & in_a).sum()
        d = (e & (t == time)).sum()
        o_minus_e += (e & (t == time) & in_a).sum() - d * k / n
        if n > 1:
            variance += d * (k / n) * (1 - k / n) * (n - d) / (n - 1)
    return float(o_minus_e), float(variance)


def logrank_scores(times, events) -> np.ndarray:
    """Per-run log-rank scores delta_i - H(t_i), H the pooled Nelson-Aalen cumulative hazard; their sum over a
    group is that group's observed - expected events."""
    t, e = np.asarray(times, float), np.asarray(events, bool)
    event_times = np.unique(t[e])
    hazard = np.array([(e & (t == u)).sum() / (t >= u).sum() for u in event_times])
    cumulative = np.concatenate([[0.0], np.cumsum(hazard)])[np.searchsorted(event_times, t, side="right")]
    return e - cumulative


def gehan_scores(times, events) -> np.ndarray:
    """Per-run Gehan scores: how many runs it certainly beat minus how many certainly beat it (pooled sample)."""
    t, e = np.asarray(times, float), np.asarray(events, bool)
    before = _certainly_before(t, e, t, e)
    return before.sum(1).astype(float) - before.sum(0)


def permutation_p(scores, n_first: int, *, method: str = "auto") -> tuple[float, float, float, str]:
    """Permutation p-values of the sum of ``scores`` over the first ``n_first`` runs, over all ways to split the
    pooled runs: (P(S* >= S), P(S* <= S), the smallest attainable P(S* >= .), the method). ``method``: "exact"
    (all C(N, n_first) splits), "permutation" (Monte Carlo, 20,000 splits, fixed seed), "asymptotic" (normal
    with the permutation variance), "auto" (exact when both groups have <= 10 runs, else asymptotic)."""
    s = np.asarray(scores, float)
    n = len(s)
    observed = float(s[:n_first].sum())
    tol = 1e-9 * (np.abs(s).sum() + 1e-300)
    if method == "auto":
        method = "exact" if max(n_first, n - n_first) <= MAX_EXACT_ARM else "asymptotic"
    if method == "asymptotic":
        variance = n_first * (n - n_first) / (n * (n - 1)) * float(((s - s.mean()) ** 2).sum()) if n > 1 else 0.0
        if variance <= 0:
            return 1.0, 1.0, 1.0, method
        z = (observed - n_first * s.mean()) / math.sqrt(variance)
        return float(stats.norm.sf(z)), float(stats.norm.cdf(z)), 0.0, method
    if method == "exact":
        splits = math.comb(n, n_first)
        index = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(n), n_first)), int,
                            count=splits * n_first).reshape(splits, n_first)
        sums = s[index].sum(1)
        return (float((sums >= observed - tol).mean()), float((sums <= observed + tol).mean()),
                float((sums >= sums.max() - tol).mean()), method)
    if method == "permutation":
        rng = np.random.default_rng(PERMUTATION_SEED)
        sums = s[rng.random((PERMUTATIONS, n)).argsort(1)[:, :n_first]].sum(1)
        p = lambda hits: float((1 + hits) / (1 + PERMUTATIONS))   # noqa: E731
        return p((sums >= observed - tol).sum()), p((sums <= observed + tol).sum()), p(0), method
    raise ValueError(f"method {method!r}: use auto, exact, permutation or asymptotic")


def _permutation_label(method: str, n: int, n_first: int) -> str:
    return {"exact": f"exact permutation over all {math.comb(n, n_first)} splits",
            "permutation": f"Monte Carlo permutation over {PERMUTATIONS} splits (seed {PERMUTATION_SEED})",
            "asymptotic": "normal approximation with the permutation variance"}[method]


def _censored_test(name: str, scores: np.ndarray, n_first: int, events, z: float, effect: float, effect_var: float,
                   detail: str, method: str, what: str, min_effect: float | None) -> TestResult:
    """The shared rule of the censored two-group tests: permutation p of the first group's score sum; ``z`` the
    standardised statistic, ``effect`` / ``effect_var`` the effect and its null variance (for the MDE)."""
    n = len(scores)
    p, p_opposite, p_min, method = permutation_p(scores, n_first, method=method)
    null_sd = math.sqrt(effect_var) if effect_var > 0 else 0.0
    mde = Z_MDE * null_sd if null_sd > 0 and p_min <= ALPHA else None
    p_below_min = None
    if min_effect is not None:    # the local-alternative shift test: (effect - min_effect) / null s.d.
        p_below_min = float(stats.norm.cdf((effect - min_effect) / null_sd)) if null_sd > 0 else 1.0
    censored = int((~np.asarray(events, bool)).sum())
    rule = (f"{name} with censoring at the budget, {_permutation_label(method, n, n_first)}: one-sided p in the "
            "paper's direction (the first group faster) and against it")
    return _result(rule, f"z = {z:.2f}, one-sided p = {p:.3g}, against {p_opposite:.3g} ({method})", n, p,
                   p_opposite, f"{detail}, one-sided p = {p:.3g} ({censored}/{n} runs censored, {what})", z=z,
                   effect=effect, min_effect=min_effect, p_below_min=p_below_min, mde=mde)


def _pooled(times_fast, events_fast, times_slow, events_slow) -> tuple[np.ndarray, np.ndarray, int]:
    t = np.concatenate([np.asarray(times_fast, float), np.asarray(times_slow, float)])
    e = np.concatenate([np.asarray(events_fast, bool), np.asarray(events_slow, bool)])
    return t, e, len(times_fast)


def logrank_test(times_fast, events_fast, times_slow, events_slow, *, what: str = "steps", method: str = "auto",
                 min_effect: float | None = None) -> TestResult:
    """The log-rank rule: does the first group (the paper's faster one) reach the event sooner? Effect: the Peto
    log hazard ratio (O - E) / V, fast over slow; ``min_effect`` in the same units."""
    t, e, n_fast = _pooled(times_fast, events_fast, times_slow, events_slow)
    o_minus_e, variance = _logrank_sums(t, e, n_fast)
    chi2 = o_minus_e ** 2 / variance if variance > 0 else 0.0
    z = o_minus_e / math.sqrt(variance) if variance > 0 else 0.0
    effect = o_minus_e / variance if variance > 0 else 0.0
    return _censored_test("log-rank test", logrank_scores(t, e), n_fast, e, z, effect, 1 / variance if variance > 0
                          else 0.0, f"log-rank chi2 = {chi2:.2f}, z = {z:.2f}, Peto log HR = {effect:+.2f}", method,
                          what, min_effect)


# -- the U-curve ------------------------------------------------------------------------------------------------
def u_shape_test(centres: Sequence[float], losses: np.ndarray) -> TestResult:
    """The U-shape rule on ``losses[bin, seed]`` (bins ordered by ``centres``; seeds paired, no NaN)."""
    x = np.asarray(centres, float)
    y = np.asarray(losses, float)
    n_bins, n_seeds = y.shape
    if n_seeds < 2:
        return _result("U-shape test (needs >= 2 seeds per bin)", "one seed per bin", n_seeds, None, None,
                       "one seed per bin: no paired s.e., no test")
    mean = y.mean(axis=1)
    best = 1 + int(np.argmin(mean[1:-1]))
    resid_sd, resid_dof = two_way_residual_sd(y)
    ends = [paired_difference_test(y[end] - y[best], seed_sd=math.sqrt(2) * resid_sd, seed_dof=resid_dof)
            for end in (0, n_bins - 1)]
    # quadratic fit over every (bin, seed) point; the curvature's t from the OLS covariance
    design = np.stack([np.ones(n_bins * n_seeds), np.repeat(x, n_seeds), np.repeat(x, n_seeds) ** 2], axis=1)
    coef, *_ = np.linalg.lstsq(design, y.reshape(-1), rcond=None)
    dof = max(len(design) - 3, 1)
    sigma2 = float(((y.reshape(-1) - design @ coef) ** 2).sum() / dof)
    c_se = math.sqrt(sigma2 * np.linalg.inv(design.T @ design)[2, 2])
    half = float(stats.t.ppf(0.975, dof)) * c_se
    c_low, c_high = coef[2] - half, coef[2] + half
    p_curved = float(stats.t.sf(coef[2] / c_se, dof)) if c_se > 0 else float(coef[2] <= 0)
    p_flat_or_cap = float(stats.t.cdf(coef[2] / c_se, dof)) if c_se > 0 else float(coef[2] >= 0)
    p = max(ends[0].p_value, ends[1].p_value, p_curved)
    p_opposite = min(1.0, 2 * min(p_flat_or_cap, max(ends[0].p_opposite, ends[1].p_opposite)))
    z = min(r.z for r in ends)
    effect = min(r.effect for r in ends)
    mde = None if ends[0].mde is None or ends[1].mde is None else max(ends[0].mde, ends[1].mde)
    rule = ("U-shape (intersection-union): both end bins above the best interior bin by the paired-difference rule "
            f"(seed s.d. pooled over bins, {resid_dof} d.o.f.) and the quadratic fit's curvature > 0; p the largest of "
            "the three, p against the Bonferroni 2 x min(curvature < 0, both ends below)")
    summary = (f"best interior bin #{best + 1} (centre {x[best]:.2f}); ends minus best: "
               f"{ends[0].summary.split(' (')[0]} and {ends[1].summary.split(' (')[0]}; "
               f"curvature {coef[2]:.3f}, 95% CI [{c_low:.3f}, {c_high:.3f}]")
    return _result(rule, f"min end t = {z:.2f}, p = {p:.2g}; curvature CI [{c_low:.3f}, {c_high:.3f}]", n_seeds, p,
                   p_opposite, summary, z=z, effect=effect, mde=mde)


# -- rankings ---------------------------------------------------------------------------------------------------
def spearman_rho(a: Sequence[float], b: Sequence[float]) -> float:
    ra, rb = stats.rankdata(a), stats.rankdata(b)
    if np.std(ra) == 0 or np.std(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def rank_agreement_test(ours: Sequence[float], paper: Sequence[float], n_seeds: int) -> TestResult:
    """Spearman rho between our ranking and the paper's with its exact permutation p-values (all n! orderings of
    ours). MDE in rho: (z_0.95 + z_0.80) / sqrt(n - 1), the local alternative (None where 1 / n! > 0.05)."""
    ours, paper = list(ours), list(paper)
    if len(ours) != len(paper) or len(ours) < 3:
        raise ValueError("rank agreement needs two equal-length lists of >= 3 values")
    if len(ours) > 9:
        raise ValueError("the exact permutation test enumerates n! orderings: use at most 9 values")
    rule = "Spearman rho with the exact one-sided permutation p-values (in the paper's order and against it)"
    rho = spearman_rho(ours, paper)
    if not math.isfinite(rho):
        return _result(rule, "rho undefined (ties)", n_seeds, 1.0, 1.0, "all values tied")
    perms = np.array([spearman_rho(p, paper) for p in itertools.permutations(ours)])
    p, p_opposite = float(np.mean(perms >= rho - 1e-12)), float(np.mean(perms <= rho + 1e-12))
    n = len(ours)
    mde = Z_MDE / math.sqrt(n - 1) if 1 / math.factorial(n) <= ALPHA else None
    return _result(rule, f"rho = {rho:+.2f}", n_seeds, p, p_opposite, f"Spearman rho = {rho:+.2f} over {n} windows, "
                   f"permutation p = {p:.3f}", effect=rho, mde=mde)


def page_l(values) -> float:
    """Page's L of ``values[block, condition]`` (conditions in the predicted increasing order): sum_j j R_j."""
    ranks = stats.rankdata(np.asarray(values, float), axis=1)
    return float((ranks.sum(0) * np.arange(1, ranks.shape[1] + 1)).sum())


def page_trend_test(values, *, what: str = "windows", min_effect: float | None = None) -> TestResult:
    """Page's L test of a predicted ranking, seeds as blocks (module docstring): ``values[seed, condition]`` with
    the conditions in the paper's predicted *increasing* order (sign the values so that holds). Effect and
    ``min_effect``: the mean Spearman rho of a seed's ranks with the predicted order."""
    ranks = stats.rankdata(np.asarray(values, float), axis=1)
    m, k = ranks.shape
    if k < 3 or m < 1:
        raise ValueError("Page's test needs values[seed, condition] with >= 3 conditions")
    j = np.arange(1, k + 1)
    observed = float((ranks * j).sum())
    # per seed, L_b is a linear permutation statistic: conditional mean and variance given the seed's ranks
    mean_b = j.mean() * ranks.sum(1)
    var_b = ((j - j.mean()) ** 2).sum() * ((ranks - ranks.mean(1, keepdims=True)) ** 2).sum(1) / (k - 1)
    null_mean, null_var = float(mean_b.sum()), float(var_b.sum())
    if k <= MAX_EXACT_CONDITIONS:    # exact: convolve the per-seed distributions of 2 L_b (midranks: integer)
        orders = np.array(list(itertools.permutations(range(k))))
        dist, low = np.ones(1), 0
        for block in ranks:
            twice = np.rint(2 * (block[orders] * j).sum(1)).astype(int)
            dist, low = np.convolve(dist, np.bincount(twice - twice.min()) / len(twice)), low + int(twice.min())
        support = (low + np.arange(len(dist))) / 2
        tol = 1e-9 * observed
        p, p_opposite = float(dist[support >= observed - tol].sum()), float(dist[support <= observed + tol].sum())
        p_min = float(dist[support >= support[dist > 0].max() - tol].sum())
        method = f"exact over all {k}!^{m} orderings within seeds"
    else:
        z = (observed - null_mean) / math.sqrt(null_var) if null_var > 0 else 0.0
        p, p_opposite, p_min = float(stats.norm.sf(z)), float(stats.norm.cdf(z)), 0.0
        method = "normal approximation with the conditional permutation moments"
    rho_scale = 12 / (m * k * (k ** 2 - 1))          # L -> mean Spearman rho: rho = rho_scale L - 3 (k + 1) / (k - 1)
    effect = rho_scale * observed - 3 * (k + 1) / (k - 1)
    null_sd = rho_scale * math.sqrt(null_var)
    mde = Z_MDE * null_sd if null_sd > 0 and p_min <= ALPHA else None
    p_below_min = None
    if min_effect is not None:
        p_below_min = float(stats.norm.cdf((effect - min_effect) / null_sd)) if null_sd > 0 else 1.0
    z_stat = (observed - null_mean) / math.sqrt(null_var) if null_var > 0 else 0.0
    return _result(f"Page's L trend test, seeds as blocks, {method}: one-sided p for the predicted order and against "
                   "it", f"L = {observed:g} (z = {z_stat:.2f})", m, p, p_opposite,
                   f"Page's L = {observed:g} over {m} seeds x {k} {what}, mean Spearman rho = {effect:+.2f}, "
                   f"p = {p:.3g}", z=z_stat, effect=effect, min_effect=min_effect, p_below_min=p_below_min, mde=mde)


# -- censored Mann-Whitney --------------------------------------------------------------------------------------
def _certainly_before(t_a: np.ndarray, e_a: np.ndarray, t_b: np.ndarray, e_b: np.ndarray) -> np.ndarray:
    """[len(a), len(b)] True where run a certainly reached the event before run b did (or b never did)."""
    ta, tb = t_a[:, None], t_b[None, :]
    return e_a[:, None] & ((ta < tb) | ((ta == tb) & ~e_b[None, :]))


def gehan_statistic(times_a, events_a, times_b, events_b) -> tuple[float, float]:
    """Gehan's censored two-sample statistic: (W, its permutation variance).

    W = sum over pairs (i in a, j in b) of [i certainly first] - [j certainly first]; W > 0: a is faster.
    """
    t, e, n_a = _pooled(times_a, events_a, times_b, events_b)
    n = len(t)
    score = gehan_scores(t, e)                    # per run: how many it beats minus how many beat it
    w = float(score[:n_a].sum())                  # pairs inside a cancel, so this is the cross-group W
    variance = n_a * (n - n_a) / (n * (n - 1)) * float((score ** 2).sum()) if n > 1 else 0.0
    return w, variance


def gehan_test(times_fast, events_fast, times_slow, events_slow, *, what: str = "steps", method: str = "auto",
               min_effect: float | None = None) -> TestResult:
    """The censored Mann-Whitney rule: does the first group (the paper's faster one) reach the event sooner?
    Effect: W / (n_fast n_slow), the net probability that a fast-group run is certainly first."""
    t, e, n_fast = _pooled(times_fast, events_fast, times_slow, events_slow)
    w, variance = gehan_statistic(times_fast, events_fast, times_slow, events_slow)
    pairs = n_fast * (len(t) - n_fast)
    z = w / math.sqrt(variance) if variance > 0 else 0.0
    effect = w / pairs if pairs else 0.0
    return _censored_test("Gehan's censored Mann-Whitney test", gehan_scores(t, e), n_fast, e, z, effect,
                          variance / pairs ** 2 if pairs else 0.0, f"Gehan W = {w:.0f}, z = {z:.2f}, net benefit "
                          f"W/(n_a n_b) = {effect:+.2f}", method, what, min_effect)
