"""Speed of the schedule distributions (notebook 05): E[KL] for every K and the cost of one draw.

    python bench/bench_schedules.py [--length 2000]

Prints (1) the time to compute the exact E[KL] of an MDS-code profile for L = 2000 and every K = 1..L with
both random-phase adaptive schedules (target: < 1 s in total), (2) the cost of drawing one schedule
(random phase: O(K); product weights: O(KL) precomputation, O(K + L) draw) and (3) the DP cost of the
product-weight schedules for one K, for comparison.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mdlm_core.theory.dependence import expected_kl, mds_information_profile
from mdlm_core.schedules import schedule_distribution


def seconds(fn, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--alphabet", type=int, default=2048)
    args = parser.parse_args()
    L = args.length
    profile = mds_information_profile(L, L - 5, args.alphabet)

    def all_k(name):
        return [expected_kl(schedule_distribution(name, L, k), profile) for k in range(1, L + 1)]

    t_tc, t_dtc = seconds(lambda: all_k("tc")), seconds(lambda: all_k("dtc"))
    print(f"E[KL] for L = {L}, every K = 1..{L}: tc {t_tc:.3f} s + dtc {t_dtc:.3f} s = {t_tc + t_dtc:.3f} s "
          f"(target < 1 s; {1e6 * (t_tc + t_dtc) / (2 * L):.0f} us per (schedule, K))")

    rng = np.random.default_rng(0)
    for k in (100, 1000):
        for name in ("tc", "dtc", "tc-product"):
            build = seconds(lambda: schedule_distribution(name, L, k), repeat=3)
            dist = schedule_distribution(name, L, k)
            draw = seconds(lambda: dist.draw(rng), repeat=50)
            overrun = seconds(dist.expected_overrun, repeat=3)
            print(f"L = {L}, K = {k:4d}, {name:10s}: build {1e3 * build:7.2f} ms, draw {1e3 * draw:6.3f} ms, "
                  f"exact E[R_m] {1e3 * overrun:7.2f} ms")


if __name__ == "__main__":
    main()
