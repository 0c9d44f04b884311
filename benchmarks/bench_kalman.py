"""Kalman dynamic hedge ratio: compiled kernel vs its pure-Python twin vs pykalman's filter, in one run.

    python benchmarks/bench_kalman.py                 # 100,000 observations, 5 repeats
    python benchmarks/bench_kalman.py --quick         # smoke run (used by tests/test_kalman.py)

The three implementations filter the same model (state [beta, alpha] a random walk, y_t = beta_t x_t + alpha_t + e_t):
  cython    statarb._kalman.kalman_filter (scalar update in C, no GIL)
  python    statarb.alpha.kalman.kalman_filter_py (the same scalar update in a Python loop)
  pykalman  pykalman.KalmanFilter(transition_matrices=I, observation_matrices=[[x_t, 1]] per step).filter()
pykalman costs tens of microseconds per step, so by default it is timed on --pykalman-points observations and its cost
per step is extrapolated linearly to --points (the work per step does not depend on the length); pass
--pykalman-points equal to --points to time it in full. Every measurement is repeated and the median is reported.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from _timing import median_timed

from statarb.alpha.kalman import _run_filter, kalman_filter_py
from statarb.core import compiled_kernel


def pykalman_filter(y: np.ndarray, x: np.ndarray, q: np.ndarray, r: float, m0: np.ndarray, p0: np.ndarray):
    from pykalman import KalmanFilter
    h = np.stack([x, np.ones(len(x))], axis=1)[:, None, :]
    kf = KalmanFilter(transition_matrices=np.eye(2), observation_matrices=h, transition_covariance=q,
                      observation_covariance=[[r]], initial_state_mean=m0, initial_state_covariance=p0)
    return kf.filter(y[:, None])



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=100_000, help="observations for the compiled kernel and the Python twin")
    ap.add_argument("--pykalman-points", type=int, default=20_000, help="observations for pykalman")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 5,000 observations, 1,000 for pykalman, 2 repeats")
    a = ap.parse_args(argv)
    if a.quick: a.points, a.pykalman_points, a.repeats = 5_000, 1_000, 2
    a.pykalman_points = min(a.pykalman_points, a.points)
    cython = compiled_kernel("_kalman", "kalman_filter")
    if cython is None:
        print("statarb._kalman is not built: run `pip install -e .` first", file=sys.stderr)
        return 1
    import pykalman

    rng = np.random.default_rng(a.seed)
    n = a.points
    x = 50 + np.cumsum(rng.normal(0, 0.5, n))
    beta = 1 + np.cumsum(rng.normal(0, 1e-3, n))
    y = beta * x + 2 + rng.normal(0, 0.5, n)
    q, r, m0, p0 = 1e-4 / (1 - 1e-4) * np.eye(2), 0.25, np.zeros(2), np.eye(2) * 10.0

    t_cy, o_cy = median_timed(lambda: _run_filter(y, x, q, r, m0, p0, kernel=cython), a.repeats)
    t_py, o_py = median_timed(lambda: _run_filter(y, x, q, r, m0, p0, kernel=kalman_filter_py), a.repeats)
    m = a.pykalman_points
    t_pk, (pk_means, _) = median_timed(lambda: pykalman_filter(y[:m], x[:m], q, r, m0, p0), a.repeats)

    same_py = all(np.array_equal(o_cy[k], o_py[k], equal_nan=True) for k in o_cy)
    rel = float(np.max(np.abs(o_cy["state_means"][:m] - pk_means) / np.maximum(np.abs(pk_means), 1e-12)))
    per = {"cython": t_cy / n * 1e6, "python": t_py / n * 1e6, "pykalman": t_pk / m * 1e6}

    print(f"Kalman hedge-ratio filter, {a.repeats} repeats (median), numpy {np.__version__}, pykalman {pykalman.__version__}")
    print(f"{'implementation':<16}{'points':>11}{'median s':>12}{'us/point':>11}")
    print(f"{'cython':<16}{n:>11,}{t_cy:>12.4f}{per['cython']:>11.4f}")
    print(f"{'python twin':<16}{n:>11,}{t_py:>12.4f}{per['python']:>11.4f}")
    print(f"{'pykalman':<16}{m:>11,}{t_pk:>12.4f}{per['pykalman']:>11.4f}")
    if m < n:
        print(f"pykalman extrapolated to {n:,} points: {per['pykalman'] * n / 1e6:.1f} s "
              f"(measured on {m:,} points x {n / m:g}, linear: constant work per step)")
    print(f"ratio python / cython: {t_py / t_cy:.1f}x")
    print(f"ratio pykalman / cython: {per['pykalman'] / per['cython']:.1f}x (per point)")
    print(f"outputs: cython == python twin {same_py}; cython vs pykalman max rel diff of state means {rel:.2e}")
    return 0 if same_py and rel < 1e-6 else 2


if __name__ == "__main__":
    sys.exit(main())
