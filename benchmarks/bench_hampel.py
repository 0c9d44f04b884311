"""Rolling median + MAD of the Hampel filter: compiled kernel vs its pure-Python twin vs pandas, in one run.

    python benchmarks/bench_hampel.py                 # 1,000,000 points, window 21, 5 repeats
    python benchmarks/bench_hampel.py --quick         # smoke run (used by tests/test_clean.py)

The three implementations compute the same thing (trailing or centred window, NaN-free float64 data):
  cython  statarb._hampel.rolling_median_mad (sorted buffer, one insertion and one removal per step)
  python  statarb.data.clean.rolling_median_mad_py (np.median of each window, then of |w - median|)
  pandas  Series.rolling(window).median() + Series.rolling(window).apply(MAD, raw=True)
The Python twin costs tens of microseconds per point, so by default it is timed on --python-points points and its
cost per point is extrapolated linearly to --points (the work per point does not depend on the series length);
pass --python-points equal to --points to time it in full. Every measurement is repeated and the median is reported.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from _timing import median_timed

from statarb.core import compiled_kernel
from statarb.data.clean import rolling_median_mad_py


def pandas_median_mad(x: np.ndarray, window: int, center: bool, min_periods: int) -> tuple[np.ndarray, np.ndarray]:
    "The pandas way: a rolling median, and a rolling apply for the MAD (raw=True: ndarray windows, no NaN in x)."
    r = pd.Series(x).rolling(window, center=center, min_periods=min_periods)
    med = r.median().to_numpy()
    mad = r.apply(lambda w: np.median(np.abs(w - np.median(w))), raw=True).to_numpy()
    return med, mad


def twin_median_mad(kernel, x: np.ndarray, window: int, center: bool, min_periods: int) -> tuple[np.ndarray, np.ndarray]:
    med, mad = np.empty_like(x), np.empty_like(x)
    status = kernel(x, window, center, min_periods, med, mad)
    if status != 0: raise RuntimeError(f"{kernel.__name__} returned status {status}")
    return med, mad



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000, help="series length for the compiled kernel and pandas")
    ap.add_argument("--python-points", type=int, default=100_000, help="series length for the pure-Python twin")
    ap.add_argument("--window", type=int, default=21)
    ap.add_argument("--center", action="store_true", help="centred window (odd --window)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 20,000 points, 2,000 for Python, 2 repeats")
    a = ap.parse_args(argv)
    if a.quick: a.points, a.python_points, a.repeats = 20_000, 2_000, 2
    a.python_points = min(a.python_points, a.points)
    cython = compiled_kernel("_hampel", "rolling_median_mad")
    if cython is None:
        print("statarb._hampel is not built: run `pip install -e .` first", file=sys.stderr)
        return 1

    rng = np.random.default_rng(a.seed)
    x = np.round(rng.standard_normal(a.points) * 0.01, 5)          # daily-return-like values, with ties from rounding
    w, c, mp = a.window, a.center, a.window
    t_cy, (m_cy, d_cy) = median_timed(lambda: twin_median_mad(cython, x, w, c, mp), a.repeats)
    t_pd, (m_pd, d_pd) = median_timed(lambda: pandas_median_mad(x, w, c, mp), a.repeats)
    t_pdm, _ = median_timed(lambda: pd.Series(x).rolling(w, center=c, min_periods=mp).median(), a.repeats)
    xs = x[: a.python_points].copy()
    t_py, (m_py, d_py) = median_timed(lambda: twin_median_mad(rolling_median_mad_py, xs, w, c, mp), a.repeats)

    same_py = np.array_equal(m_py, m_cy[: len(xs)], equal_nan=True) and np.array_equal(d_py, d_cy[: len(xs)], equal_nan=True) \
        if not c else None   # centred windows near the subset's end see different neighbours
    same_pd = np.array_equal(m_pd, m_cy, equal_nan=True) and np.array_equal(d_pd, d_cy, equal_nan=True)
    per = {k: t / n * 1e6 for k, t, n in (("cython", t_cy, a.points), ("pandas", t_pd, a.points), ("python", t_py, len(xs)))}
    py_full = per["python"] * a.points / 1e6

    print(f"rolling median + MAD, window={w}, {'centred' if c else 'trailing'}, min_periods={mp}, "
          f"{a.repeats} repeats (median), numpy {np.__version__}, pandas {pd.__version__}")
    print(f"{'implementation':<16}{'points':>11}{'median s':>12}{'us/point':>11}")
    print(f"{'cython':<16}{a.points:>11,}{t_cy:>12.4f}{per['cython']:>11.4f}")
    print(f"{'pandas':<16}{a.points:>11,}{t_pd:>12.4f}{per['pandas']:>11.4f}")
    print(f"{'pandas median':<16}{a.points:>11,}{t_pdm:>12.4f}{t_pdm / a.points * 1e6:>11.4f}   (median only, no MAD: context)")
    print(f"{'python twin':<16}{len(xs):>11,}{t_py:>12.4f}{per['python']:>11.4f}")
    if len(xs) < a.points:
        print(f"python twin extrapolated to {a.points:,} points: {py_full:.1f} s "
              f"(measured on {len(xs):,} points x {a.points / len(xs):g}, linear: constant work per point)")
    print(f"ratio pandas / cython: {t_pd / t_cy:.1f}x")
    print(f"ratio pandas median only / cython median + MAD: {t_pdm / t_cy:.1f}x")
    print(f"ratio python / cython (per point): {per['python'] / per['cython']:.1f}x")
    print(f"cython beats pandas by >= 10x: {'yes' if t_pd / t_cy >= 10 else 'NO'}")
    print(f"outputs identical: cython == pandas {same_pd}; cython == python twin "
          f"{same_py if same_py is not None else 'not compared (centred subset)'}")
    return 0 if same_pd and same_py is not False else 2


if __name__ == "__main__":
    sys.exit(main())
