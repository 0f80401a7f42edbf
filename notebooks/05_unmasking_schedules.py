# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Randomized unmasking schedules that adapt to intrinsic dependence
#
# Zhao & Cai (2026) sample $L$ tokens in $K < L$ rounds. Round $k$ reveals $s_k$ positions chosen uniformly at
# random, each drawn independently from the model's conditional marginal. The sizes $(s_1, \dots, s_K)$ are drawn
# at random *before* sampling, and two choices of their law give a sampling error
# $\mathbb E[\mathrm{KL}] = \tilde O(\mathrm{TC}/K)$ or $\tilde O(\mathrm{DTC}/K)$, where
# $\mathrm{TC} = \sum_i H(X_i) - H(X)$ is the total correlation and $\mathrm{DTC} = H(X) - \sum_i H(X_i \mid X_{-i})$
# the dual total correlation. Neither schedule needs to know the data distribution.
#
# The paper's exact schedule definitions were not available to us, so this notebook **derives** an exact formula
# for the sampling error of any schedule, **constructs** TC- and DTC-adaptive randomized schedules from it (a
# random phase on a fixed curve, and a smooth product-weight alternative), proves their adaptivity constant, and
# checks everything three ways: brute-force enumeration, Monte Carlo over drawn
# schedules, and the real generic sampler `mdlm_core.unmask_by_schedule` on a Reed–Solomon code. Then it redraws
# the paper's Fig. 1 (mean unmasking sizes) and Fig. 2 (KL vs $K$, KL vs TC) with the equal-size and cosine
# baselines. Change `length`, `alphabet` or the profile below and re-run.

# %% tags=["parameters"]
profile = None          # smoke | quick | paper (None: $MDLM_PROFILE, else quick)
length = None           # L (paper: 2000)
alphabet = None         # q of the MDS code (paper: 2048)
rounds_fig1 = None      # K of Fig. 1 (paper: 1000)
rounds_fig2b = None     # K of Fig. 2b (paper: 500)
codimension_fig2a = None  # L - d in Fig. 2a (paper: 5)
seed = None

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from tqdm.auto import tqdm

import mdlm_core as mdlm
from mdlm_core.companion import Claim, Outputs, config_for_profile, figure_names, interactive
from mdlm_core.experiments import unmasking_schedules as experiment

out = Outputs(profile)   # where this run's figures, tables and claims go
cfg = config_for_profile(experiment.UNMASKING_SCHEDULE_PROFILES, profile, length=length, alphabet=alphabet,
                              rounds_fig1=rounds_fig1, rounds_fig2b=rounds_fig2b,
                              codimension_fig2a=codimension_fig2a, seed=seed)
sns.set_theme(style="whitegrid", context="notebook")
L, q = cfg.length, cfg.alphabet
NAMES = {"tc": "TC-adaptive", "dtc": "DTC-adaptive", "tc-product": "TC-adaptive, product weights",
         "dtc-product": "DTC-adaptive, product weights", "equal": "equal-size", "cosine": "cosine",
         "equal-random": "equal-size, random phase"}
ADAPTIVE = ("tc", "dtc", "tc-product", "dtc-product")
COLORS = dict(zip(NAMES, sns.color_palette("deep", len(NAMES))))
STYLE = {"tc": "-", "dtc": "-", "tc-product": "-.", "dtc-product": "-.", "equal": "--", "cosine": "--",
         "equal-random": ":"}
is_dtc = lambda name: name.startswith("dtc")
print(cfg)

# %% [markdown]
# ## 1 · The sampling error of any schedule: $\mathbb E[\mathrm{KL}] = \sum_m \Delta Z_m\, \mathbb E[R_m]$
#
# Let the model's conditional marginals be exact. Number the positions $1..L$ in the (uniformly random) order in
# which they are revealed; round $k$ holds the numbers $t_{k-1}+1, \dots, t_k$ ($t_k = s_1 + \dots + s_k$). For one
# order and schedule the sampler outputs $q(x) = \prod_k \prod_{i \in B_k} p(x_i \mid x_{B_{<k}})$, so
# $$\mathrm{KL}(p \,\|\, q) = \sum_k \mathrm{TC}(X_{B_k} \mid X_{B_{<k}})
#   = \sum_k \sum_{n = t_{k-1}+1}^{t_k} \Big[ I\big(X_{(n)}; X_{(1..n-1)}\big) - I\big(X_{(n)}; X_{(1..t_{k-1})}\big) \Big]$$
# (chain rule inside the round). Define the **information profile** $Z_j = \mathbb E\, I(X_i; X_S)$ over a
# uniformly random $S$ of size $j-1$ and $i \notin S$; it is non-decreasing, $\Delta Z_m = Z_{m+1} - Z_m \ge 0$.
# Averaging over the order turns each bracket into $Z_n - Z_{t_{k-1}+1} = \sum_{m = t_{k-1}+1}^{n-1} \Delta Z_m$.
# Each $\Delta Z_m$ with $m$ in round $k$ is counted once for every $n \in (m, t_k]$, i.e.
# $$\mathbb E[\mathrm{KL}] = \sum_{m=1}^{L-1} \Delta Z_m\, \mathbb E[R_m], \qquad
#   R_m = t_{k(m)} - m = \#\{\text{tokens of } m\text{'s round revealed after } m\}.$$
# This is exact for any schedule law (averaged over the schedule, $\mathbb E[\mathrm{KL}(p\|q_{\text{order,schedule}})]$).
# One round gives $R_m = L - m$ and KL $= \mathrm{TC}$, so $\mathrm{TC} = \sum_m \Delta Z_m (L - m)$; similarly
# $\mathrm{DTC} = \sum_j (Z_L - Z_j) = \sum_m \Delta Z_m\, m$. Hence
#
# * $\mathbb E[R_m] \le c\,(L - m)$ for every $m$ $\Rightarrow$ $\mathbb E[\mathrm{KL}] \le c\,\mathrm{TC}$ (**TC-adaptive**: large rounds early, small late);
# * $\mathbb E[R_m] \le c\, m$ for every $m$ $\Rightarrow$ $\mathbb E[\mathrm{KL}] \le c\,\mathrm{DTC}$ (**DTC-adaptive**: small rounds early).
#
# **Brute-force check.** For random joint laws on a few tokens we enumerate every $x$, every one of the $L!$ orders
# and every schedule the distribution can draw, compute $\mathrm{KL}(p\|q)$ from its definition, and compare with
# the calculator `mdlm.expected_kl` fed the enumerated profile $Z$.

# %%
rng = np.random.default_rng(cfg.seed)
brute = []
for alphabet_bf, length_bf in [(2, 4), (3, 3)]:
    pmf = rng.dirichlet(np.full(alphabet_bf ** length_bf, 0.3)).reshape((alphabet_bf,) * length_bf)
    z_bf = mdlm.theory.information_profile(pmf)
    for name in NAMES:
        for k in range(1, length_bf + 1):
            dist = mdlm.schedule_distribution(name, length_bf, k)
            brute.append(dict(V=alphabet_bf, L=length_bf, schedule=name, K=k, calculator=mdlm.expected_kl(dist, z_bf),
                              enumeration=mdlm.theory.expected_sampling_kl_bruteforce(pmf, dist)))
brute = pd.DataFrame(brute)
brute_err = (brute.calculator - brute.enumeration).abs().max()
print(f"{len(brute)} (law, schedule, K) cases: max |calculator - enumeration| = {brute_err:.1e}")

# %% [markdown]
# ## 2 · Constructing the schedules: a random phase on a fixed curve
#
# Pick an increasing curve $F: [0, K-1] \to [0, L-1]$ with $F(0) = 0$, $F(K-1) = L-1$ and slope $F' \ge 1$, draw
# **one** phase $U \sim U[0,1)$ and put the round boundaries at
# $$t_k = \lceil F(k - U) \rceil, \quad k = 1, \dots, K-1 \qquad (t_0 = 0,\ t_K = L).$$
# Slope $\ge 1$ makes the $t_k$ strictly increasing inside $[1, L-1]$: exactly $K$ rounds, each of at least one
# token. Drawing a schedule costs $O(K)$; there is nothing to precompute but the curve's one parameter (better
# than the $O(KL)$ / $O(K+L)$ benchmark of a dynamic program).
#
# **Exact overrun.** $R_m = \#\{j \in [m, L-1] : \text{no boundary in } [m, j]\}$. A boundary lies in $[m, j]$
# iff $k - U \in (G(m-1), G(j)]$ with $G = F^{-1}$, and the boundaries are exactly the points of the shifted
# lattice $\mathbb Z - U$ inside $(0, K-1]$. A uniformly shifted unit lattice misses an interval of length
# $\ell$ with probability $(1-\ell)_+$, so
# $$\mathbb E[R_m] = \sum_{j=m}^{L-1} \big(1 - G(j) + G(m-1)\big)_+ ,$$
# all $m$ at once in $O(L \log L)$ with prefix sums.
#
# **The curves.** DTC-adaptive: $F(x) = x$ on $[0, 1/a]$ (rounds of one token while little is revealed), then
# $F(x) = \tfrac1a e^{a x - 1}$ (each round $e^a$ times larger), with $a$ fixed by $F(K-1) = L-1$:
# $a(K-1) = 1 + \log(a(L-1))$, so $a \le (1 + \log L)/(K-1)$ whenever $a \le 1$. TC-adaptive is its mirror image,
# $F_{\mathrm{TC}}(x) = L - 1 - F_{\mathrm{DTC}}(K-1-x)$: large rounds first, the last $\approx 1/a$ rounds of
# one token each.
#
# **The bound.** The terms of the sum are non-increasing in $j$, so the sum is at most the integral from $m-1$;
# substituting $y = F(x + \delta)$ and integrating by parts,
# $\mathbb E[R_m] \le \int_0^1 \big(F(x+\delta) - F(x)\big)\, d\delta$ with $x = G(m-1)$ ($F$ capped at $L-1$ past $K-1$). On the geometric part of
# the TC curve $F(x+\delta) - F(x) = (L-m)(1 - e^{-a\delta})$, giving
# $\mathbb E[R_m] \le (L - m)\big(1 - \tfrac{1 - e^{-a}}{a}\big) \le (L-m)\,\tfrac a2$; on its linear tail
# the rounds are single tokens and $R_m = 0$ exactly. The DTC curve gives $\mathbb E[R_m] \le (m-1)\tfrac{e^a - 1 - a}{a}
# \approx m\,\tfrac a2$ the same way. So both reach $c \approx a/2 \lesssim \frac{1 + \log L}{2(K-1)}$: the
# $\log L / K$ of the paper. The joints between the two parts of the curve are checked numerically below for
# **every** $m$ and every $K$ of the grid (DTC needs $K > 1 + \log L$: with fewer rounds the first round alone
# has more than $c \cdot 1$ tokens after token 1).
#
# A deterministic schedule on the same curve (a fixed phase) also adapts but has a saw-tooth overrun: its
# worst $m$ (just after a boundary) sees the whole round. The random phase averages the saw-tooth.
#
# **A smooth alternative: product weights.** Draw the $K-1$ boundaries as a set $T \subset \{1..L-1\}$ with
# $\Pr[T] \propto \prod_{t \in T} w_t$ (independent Bernoulli cuts conditioned on exactly $K-1$ of them), with
# $w_t = 1/(L-t)$ (TC) or $w_t = 1/t$ (DTC). Dynamic programming over elementary symmetric polynomials gives the
# normaliser and $\mathbb E[R_m]$ in $O(KL)$ and a draw in $O(K+L)$ (the benchmark the issue sets). Its cut
# probabilities stay below 1 everywhere, so its $\mathbb E[R_m]$ follows the bound's shape $c(L-m)$ (resp. $cm$)
# down to the last token instead of dropping to zero on single-token rounds.
#
# All overruns $\mathbb E[R_m]$ below are computed once per (schedule, $K$) and reused.

# %%
k_grid = np.unique(np.geomspace(2, L, cfg.n_rounds).round().astype(int))
dists, overruns = {}, {}
for name in tqdm(NAMES, desc="E[R_m] for every K"):
    for k in k_grid:
        dists[name, k] = mdlm.schedule_distribution(name, L, k)
        overruns[name, k] = dists[name, k].expected_overrun()
rows = []
for name in ADAPTIVE:
    for k in k_grid:
        c = mdlm.schedules.adaptivity_constants(dists[name, k], overruns[name, k])[is_dtc(name)]
        c_fixed = (mdlm.schedules.adaptivity_constants(mdlm.FixedSchedule(dists[name, k].sizes_at(0.0)))[is_dtc(name)]
                   if name in ("tc", "dtc") else np.nan)
        rows.append(dict(schedule=name, K=k, c=c, c_fixed_phase=c_fixed, bound=(1 + math.log(L)) / (k - 1),
                         valid=not is_dtc(name) or k > 1 + math.log(L)))
adapt = pd.DataFrame(rows)
adapt["cK_over_logL"] = adapt.c * adapt.K / math.log(L)
out.table(adapt, "05_adaptivity_constants")
valid = adapt[adapt.valid]
bound_holds = valid.groupby("schedule").apply(lambda g: bool((g.c <= g.bound).all()), include_groups=False)
max_cK = valid.groupby("schedule").cK_over_logL.max()
print("E[R_m] <= c (L-m) [TC] and c m [DTC] for every m with c <= (1 + log L)/(K - 1) at every K of the grid:",
      bound_holds.to_dict())
print("max over K of c K / log L:", max_cK.round(3).to_dict())

fig, ax = plt.subplots(figsize=(7.5, 4.4))
for name in ADAPTIVE:
    sub = adapt[(adapt.schedule == name) & adapt.valid]
    ax.loglog(sub.K, sub.c, STYLE[name], color=COLORS[name], label=NAMES[name])
    if name in ("tc", "dtc"):
        ax.loglog(sub.K, sub.c_fixed_phase, ":", color=COLORS[name], label=f"{NAMES[name]}, one fixed phase")
ax.loglog(k_grid, (1 + math.log(L)) / (k_grid - 1), "k--", lw=1, label=r"$(1 + \log L)/(K-1)$")
ax.loglog(k_grid, math.log(L) / k_grid, color="grey", lw=1, label=r"$\log L / K$")
ax.set(xlabel="rounds K", ylabel=r"adaptivity constant $c$",
       title=f"Smallest c with E[R_m] ≤ c(L−m) (TC) or c·m (DTC) for all m, L = {L}")
ax.legend(fontsize=8)
out.figure(fig, figure_names.ADAPTIVITY_CONSTANTS)
plt.show()

# %% [markdown]
# **Monte Carlo check of $\mathbb E[R_m]$.** Draw schedules with `dist.draw`, compute $R_m$ of each, and compare
# the mean with the exact formula at every $m$.

# %%
mc_rows = []
for name in ("tc", "dtc", "tc-product", "dtc-product", "equal-random"):
    dist = mdlm.schedule_distribution(name, L, cfg.rounds_fig2b)
    mean, stderr = mdlm.schedules.monte_carlo_overrun(dist, cfg.mc_draws, np.random.default_rng(cfg.seed + 1))
    exact = dist.expected_overrun()
    informative = stderr > 0
    z = np.abs(mean - exact)[informative] / stderr[informative]
    exact_where_constant = bool(np.allclose(mean[~informative], exact[~informative], atol=1e-9))
    mc_rows.append(dict(schedule=name, K=cfg.rounds_fig2b, draws=cfg.mc_draws, max_abs_z=z.max(),
                        mean_abs_z=z.mean(), exact_where_no_spread=exact_where_constant))
mc_check = pd.DataFrame(mc_rows)
out.table(mc_check, "05_overrun_monte_carlo")
mc_check.round(3)

# %% [markdown]
# ## 3 · Fig. 1: mean unmasking size per iteration
#
# The exact mean $\mathbb E[s_k]$ follows from $\mathbb E[t_k] = \sum_{j=0}^{L-1} \Pr[F(k-U) > j] = \sum_j
# \mathrm{clip}(k - G(j), 0, 1)$; dots are means over drawn schedules. The first TC round (and the last DTC
# round) covers only the partial lattice cell $[0, 1-U]$: half a round on average.

# %%
k1 = cfg.rounds_fig1
fig, ax = plt.subplots(figsize=(7.5, 4.2))
draw_rng = np.random.default_rng(cfg.seed + 2)
for name in ADAPTIVE:
    dist = mdlm.schedule_distribution(name, L, k1)
    mean_draws = np.mean([dist.draw(draw_rng) for _ in range(cfg.mc_draws)], axis=0)
    it = np.arange(1, k1 + 1)
    ax.plot(it, dist.expected_sizes(), STYLE[name], color=COLORS[name], label=f"{NAMES[name]} (exact mean)")
    ax.plot(it[::max(1, k1 // 60)], mean_draws[::max(1, k1 // 60)], "o", ms=3, color=COLORS[name], alpha=0.7)
for name in ("equal", "cosine"):
    ax.plot(np.arange(1, k1 + 1), mdlm.size_schedule(name, L, k1), color=COLORS[name], lw=1, alpha=0.8,
            label=f"{NAMES[name]} (deterministic)")
ax.set(xlabel="iteration k", ylabel=r"mean unmasking size $E[s_k]$",
       title=f"Unmasking sizes, K = {k1}, L = {L} (dots: mean of {cfg.mc_draws} drawn schedules)")
ax.set_yscale("log")
ax.legend(fontsize=8)
out.figure(fig, figure_names.UNMASKING_SIZES)
plt.show()

# %% [markdown]
# ## 4 · Fig. 2: sampling error on MDS codes
#
# The uniform law on an $[L, d]$ MDS (Reed–Solomon) code over $q$ symbols has $Z_j = \log q \cdot \mathbf 1\{j \ge d+1\}$:
# any $d$ coordinates are independent and uniform and fix the rest. So $\mathrm{TC} = (L-d)\log q$,
# $\mathrm{DTC} = d \log q$ and $\mathbb E[\mathrm{KL}] = \log q \cdot \mathbb E[R_d]$: the probability-weighted number
# of tokens that share the round of the $d$-th reveal and come after it. **Fig. 2a** sweeps $K$ for a code of
# codimension $L - d = 5$ (small TC, huge DTC) and, mirrored, one of dimension $d = 5$ (small DTC). The dashed
# line is each adaptive schedule's guarantee $c(K) \cdot \mathrm{TC}$ (resp. $c(K)\cdot\mathrm{DTC}$): the exact
# worst case over all targets with that TC (resp. DTC), reached by the worst codimension.
#
# Log-log slopes in $K$ are fitted over $10 \le K \le L/10$, the parallel regime the paper's rates are about
# (at $K = L$ every schedule reveals one token per round and samples exactly, so slopes near $K = L$ mean nothing),
# and only over the $K$ where $\mathbb E[\mathrm{KL}] > 0$.

# %%
targets = {f"codimension L - d = {cfg.codimension_fig2a} (TC = {cfg.codimension_fig2a} log q)":
           mdlm.theory.mds_information_profile(L, L - cfg.codimension_fig2a, q),
           f"dimension d = {cfg.codimension_fig2a} (DTC = {cfg.codimension_fig2a} log q)":
           mdlm.theory.mds_information_profile(L, cfg.codimension_fig2a, q)}
fig2a = pd.DataFrame([dict(target=t, schedule=name, K=k, kl=mdlm.expected_kl(dists[name, k], z, overruns[name, k]))
                      for t, z in targets.items() for name in NAMES for k in k_grid])
out.table(fig2a, "05_zhao_fig2a_kl_vs_K")


FIT_K = (10, L // 10)


def loglog_slope(x, y):
    """Least-squares slope of log y on log x over the points with y > 0 (nan with fewer than 3)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = y > 1e-12
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0]) if keep.sum() >= 3 else float("nan")


fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
slopes_a = []
for ax, (t, z), adaptive in zip(axes, targets.items(), ("tc", "dtc")):
    sub = fig2a[fig2a.target == t]
    for name in NAMES:
        s = sub[sub.schedule == name]
        positive = s.kl > 1e-12
        ax.loglog(s.K[positive], s.kl[positive], STYLE[name], color=COLORS[name],
                  lw=2.2 if name.startswith(adaptive) else 1.2, label=NAMES[name])
        fit = s[(s.K >= FIT_K[0]) & (s.K <= FIT_K[1])]
        slopes_a.append(dict(target=t, schedule=name, slope=loglog_slope(fit.K, fit.kl),
                             K_with_zero_kl=int((~positive).sum()), first_K_with_zero=int(s.K[~positive].min()) if (~positive).any() else None))
    info = (mdlm.total_correlation if adaptive == "tc" else mdlm.dual_total_correlation)(z)
    c = adapt[adapt.schedule == adaptive].set_index("K").c
    ax.loglog(c.index, c.values * info, ":", color=COLORS[adaptive], lw=1.5, label=f"guarantee c(K)·{adaptive.upper()} (random phase)")
    ax.set(xlabel="rounds K", ylabel="E[KL] (nats)", title=t, ylim=(1e-3, None))
    ax.legend(fontsize=8)
fig.suptitle(f"Fig. 2a: E[KL] vs K, MDS code, L = {L}, q = {q} (K where E[KL] = 0 are not drawn)")
out.figure(fig, figure_names.KL_VS_K)
plt.show()
slopes_a = pd.DataFrame(slopes_a)
fit_range = adapt.valid & (adapt.K >= FIT_K[0]) & (adapt.K <= FIT_K[1])
c_slopes = {name: loglog_slope(adapt[fit_range & (adapt.schedule == name)].K, adapt[fit_range & (adapt.schedule == name)].c)
            for name in ADAPTIVE}
print(f"log-log slope of the guarantee c(K) vs K ({FIT_K[0]} <= K <= {FIT_K[1]}):", {k: round(v, 3) for k, v in c_slopes.items()})
slopes_a.round(3)

# %% [markdown]
# **Fig. 2b** fixes $K$ and sweeps the codimension, i.e. TC $= (L-d)\log q$.

# %%
k2 = cfg.rounds_fig2b
codims = np.unique(np.geomspace(1, L - 1, cfg.n_codimensions).round().astype(int))
dists2 = {name: mdlm.schedule_distribution(name, L, k2) for name in NAMES}
overruns2 = {name: d.expected_overrun() for name, d in dists2.items()}
fig2b = pd.DataFrame([dict(codimension=r, TC=r * math.log(q), schedule=name,
                           kl=mdlm.expected_kl(dists2[name], mdlm.theory.mds_information_profile(L, L - r, q), overruns2[name]))
                      for name in NAMES for r in codims])
out.table(fig2b, "05_zhao_fig2b_kl_vs_TC")
c_tc_k2 = mdlm.schedules.adaptivity_constants(dists2["tc"], overruns2["tc"])[0]

fig, ax = plt.subplots(figsize=(7.5, 4.6))
slopes_b = []
for name in NAMES:
    s = fig2b[fig2b.schedule == name]
    positive = s.kl > 1e-12
    ax.loglog(s.TC[positive], s.kl[positive], STYLE[name], marker="o", ms=3, color=COLORS[name],
              lw=2.2 if name.startswith("tc") else 1.2, label=NAMES[name])
    slopes_b.append(dict(schedule=name, slope_vs_TC=loglog_slope(s.TC, s.kl), codims_with_zero_kl=int((~positive).sum()),
                         largest_codim_with_zero_kl=int(s.codimension[~positive].max()) if (~positive).any() else None))
tc_line = codims * math.log(q)
ax.loglog(tc_line, c_tc_k2 * tc_line, ":", color=COLORS["tc"], label=f"TC-adaptive guarantee c·TC (random phase), c = {c_tc_k2:.4f}")
ax.set(xlabel="TC = (L − d) log q (nats)", ylabel="E[KL] (nats)", ylim=(1e-3, None),
       title=f"Fig. 2b: E[KL] vs TC, K = {k2}, L = {L}, q = {q} (zeros not drawn)")
ax.legend(fontsize=8)
out.figure(fig, figure_names.KL_VS_TC)
plt.show()
slopes_b = pd.DataFrame(slopes_b)
slopes_b.round(3)

# %%
pivot = fig2b.pivot(index="codimension", columns="schedule", values="kl")
baseline = pivot[["equal", "cosine"]].min(axis=1)
low_tc = pivot.index <= L // 10
wins = {name: int((pivot[name] <= baseline + 1e-12)[low_tc].sum()) for name in ("tc", "tc-product")}
wins_all = {name: int((pivot[name] <= baseline + 1e-12).sum()) for name in ("tc", "tc-product")}
print(f"K = {k2}: codimensions L - d <= L/10 where the schedule is <= both fixed-size baselines: "
      f"{wins} of {int(low_tc.sum())}; over all {len(pivot)} codimensions: {wins_all}")
worst_ratio = pivot.div(pivot.index.to_series() * math.log(q), axis=0).max()
print("worst case over codimensions of E[KL]/TC:", worst_ratio.round(4).to_dict())

# %% [markdown]
# ## 5 · End to end: the generic sampler on a real Reed–Solomon code
#
# A Reed–Solomon code over GF($p$) (codewords $x_i = \sum_r c_r \alpha_i^r$ for all messages $c \in \mathrm{GF}(p)^d$).
# The oracle denoiser returns, as logits, the exact conditional marginals of the uniform law on the code given the
# revealed tokens (counting the agreeing codewords). `mdlm.unmask_by_schedule(order="random")` samples with every
# schedule in the support of each distribution. For one schedule every codeword is equally likely under the
# sampler, so $\mathrm{KL}(p\|q) = -\log q(\text{code})$: minus the log of the fraction of samples that are
# codewords. Weighted by the schedule probabilities this estimates $\mathbb E[\mathrm{KL}]$, to be compared with the
# calculator.

# %%
code = mdlm.theory.ReedSolomonCode(cfg.rs_prime, cfg.rs_length, cfg.rs_dimension)
rs_rows = []
for name in NAMES:
    dist = mdlm.schedule_distribution(name, cfg.rs_length, cfg.rs_rounds)
    est = mdlm.theory.estimate_sampling_kl(code, dist, cfg.rs_samples, seed=cfg.seed + 3)
    rs_rows.append(dict(schedule=name, support=len(dist.support()), samples_per_schedule=est.n_samples,
                        calculator=est.exact, sampler=est.kl, stderr=est.stderr, z=est.z))
rs_check = pd.DataFrame(rs_rows)
out.table(rs_check, "05_reed_solomon_end_to_end")
rs_max_z = rs_check.z.abs().max()
print(f"RS code over GF({cfg.rs_prime}), L = {cfg.rs_length}, d = {cfg.rs_dimension}, K = {cfg.rs_rounds}: "
      f"max |sampler - calculator| / s.e. = {rs_max_z:.2f}")
rs_check.round(4)

# %% [markdown]
# ## Explore
# In JupyterLab the sliders redraw the mean round sizes and the exact E[KL] of each schedule for any L, K and
# codimension L - d (q fixed). Run headless (reproduce.sh, nbval) it draws the default once.

# %%
interactive.schedule_explorer(length=min(L, 200), rounds=min(L, 40), codimension=5, alphabet=q)

# %% [markdown]
# ## Claims
#
# The paper's claims are upper bounds, $\tilde O(\mathrm{TC}/K)$ and $\tilde O(\mathrm{DTC}/K)$. The exact test of a
# bound over *all* targets is the adaptivity constant $c(K)$ (the worst case of $\mathbb E[\mathrm{KL}]/\mathrm{TC}$ over
# every information profile). On the single code of Fig. 2a our schedules do better than the bound: their final
# rounds reveal one token each, so a code whose only dependence sits in the last few reveals is sampled exactly,
# and $\mathbb E[\mathrm{KL}]$ falls faster than $1/K$ and then to zero.

# %%
def fig2a_row(target_prefix, name):
    return slopes_a[slopes_a.target.str.startswith(target_prefix) & (slopes_a.schedule == name)].iloc[0]


codim = cfg.codimension_fig2a
tc_a, dtc_a = fig2a_row("codimension", "tc"), fig2a_row("dimension", "dtc")
tcp_a, dtcp_a = fig2a_row("codimension", "tc-product"), fig2a_row("dimension", "dtc-product")
slope_b = slopes_b.set_index("schedule")
low_tc_target = next(z for t, z in targets.items() if t.startswith("codimension"))
at_k2 = {name: mdlm.expected_kl(dists2[name], low_tc_target, overruns2[name]) for name in NAMES}
near_minus_one = lambda s: -1.35 <= s <= -0.85   # ~ -1 up to the log factor in c ~ log(L/K) / K
claims = [
    Claim.derived("Sampling error of any schedule is sum_m dZ_m E[R_m] (derived identity)",
               "(derived here; the paper's text was not available)",
               f"max |calculator - enumeration| = {brute_err:.1e} over {len(brute)} cases; RS sampler vs calculator "
               f"max |z| = {rs_max_z:.2f} ({len(rs_check)} schedule laws, {cfg.rs_samples} samples per schedule)",
               "checked" if brute_err < 1e-9 and rs_max_z < 4 else "fails check", "05_adaptivity_constants"),
    Claim.derived("TC-adaptive schedule: E[KL] <= c TC, c ~ log L / K", "O~(TC/K)",
               f"worst case over all targets c(K) <= (1 + log L)/(K - 1) at every K: {bool(bound_holds['tc'])}; "
               f"c K / log L <= {max_cK['tc']:.2f} (product weights {max_cK['tc-product']:.2f}); slope of c(K) "
               f"{c_slopes['tc']:.2f} (product {c_slopes['tc-product']:.2f}) for {FIT_K[0]} <= K <= {FIT_K[1]}, L = {L}",
               "checked" if bound_holds["tc"] and near_minus_one(c_slopes["tc"]) else "fails check",
               "05_adaptivity_constants"),
    Claim.derived("DTC-adaptive schedule: E[KL] <= c DTC, c ~ log L / K", "O~(DTC/K)",
               f"for K > 1 + log L: c(K) <= (1 + log L)/(K - 1) at every K: {bool(bound_holds['dtc'])}; "
               f"c K / log L <= {max_cK['dtc']:.2f} (product {max_cK['dtc-product']:.2f}); slope "
               f"{c_slopes['dtc']:.2f} (product {c_slopes['dtc-product']:.2f}) for {FIT_K[0]} <= K <= {FIT_K[1]}",
               "checked" if bound_holds["dtc"] and near_minus_one(c_slopes["dtc"]) else "fails check",
               "05_adaptivity_constants", "needs K > 1 + log L: with fewer rounds the first round alone exceeds c m at m = 1"),
    Claim.derived(f"Fig. 2a: E[KL] vs K at codimension {codim} (resp. dimension {codim}) decays like TC/K (DTC/K)",
               "slope ~ -1",
               f"slopes for {FIT_K[0]} <= K <= {FIT_K[1]}: product weights {tcp_a.slope:.2f} (TC), {dtcp_a.slope:.2f} "
               f"(DTC); random phase {tc_a.slope:.2f} / {dtc_a.slope:.2f} where E[KL] > 0, exactly 0 from "
               f"K = {tc_a.first_K_with_zero} / {dtc_a.first_K_with_zero}",
               "checked" if near_minus_one(tcp_a.slope) and near_minus_one(dtcp_a.slope) else "fails check",
               "05_zhao_fig2a_kl_vs_K",
               "the random-phase schedules end (start) with single-token rounds, so a code whose dependence sits in the "
               "last few reveals is sampled exactly once K is large: faster than 1/K, still within the bound"),
    Claim.derived(f"Fig. 2b: E[KL] grows linearly in TC (K = {k2})", "linear in TC",
               f"log-log slope vs TC: product weights {slope_b.slope_vs_TC['tc-product']:.2f}, random phase "
               f"{slope_b.slope_vs_TC['tc']:.2f} where E[KL] > 0 (0 up to L - d = {slope_b.largest_codim_with_zero_kl['tc']}); "
               f"worst-case E[KL]/TC = {worst_ratio['tc']:.4f} (random phase), {worst_ratio['tc-product']:.4f} (product)",
               "checked" if 0.8 <= slope_b.slope_vs_TC["tc-product"] <= 1.25 else "fails check", "05_zhao_fig2b_kl_vs_TC"),
    Claim.derived("Adaptive schedules beat fixed-size ones on low-TC targets", "(Fig. 2)",
               f"K = {k2}, codim {codim}: TC-adaptive {at_k2['tc']:.3f}, "
               f"product {at_k2['tc-product']:.3f} vs equal {at_k2['equal']:.3f}, cosine {at_k2['cosine']:.3f} nats; "
               f"at K = {k2} <= both baselines at {wins['tc']} (product {wins['tc-product']}) of {int(low_tc.sum())} "
               f"codimensions <= L/10, {wins_all['tc']} ({wins_all['tc-product']}) of {len(pivot)} overall",
               "checked" if wins["tc"] == low_tc.sum() and wins["tc-product"] == low_tc.sum() else "fails check",
               "05_zhao_fig2b_kl_vs_TC",
               "at large TC the equal-size schedule wins: its rounds of L/K tokens cap E[KL] at (L/K - 1) log q whatever TC"),
]
out.claims("05_unmasking_schedules", claims)
