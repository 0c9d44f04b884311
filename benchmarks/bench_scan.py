"""Universe scans: statarb.alpha.scan.scan_pairs (batched NumPy Engle-Granger) vs a Python loop over
statsmodels.tsa.stattools.coint, in one run, at identical p-values.

    python benchmarks/bench_scan.py                  # 100 assets x 2,520 days, fixed lag and AIC
    python benchmarks/bench_scan.py --universe 500   # also: 500 synthetic assets (124,750 pairs), time + peak memory
    python benchmarks/bench_scan.py --quick          # smoke run (used by tests/test_scan.py)

Data (real prices): the bundled 20 stocks (statarb.data.sources.load_sample("sp500_20stocks"), 8,313 days) cut into
5 windows of 2,520 consecutive days (offsets 0, 1448, 2896, 4344, 5792 rows), placed side by side on a common
business-day index: 100 real daily price paths of 2,520 days (a stock's windows overlap by 1,072 days). The real
S&P 100 file in ../shared/data has only 945 rows, too short for 2,520 days. `--universe 500` uses seeded synthetic
prices (10 random-walk factors + idiosyncratic random walks + noise, positive via exp): no real panel that wide.

Timed, each repeated --repeats times (median reported):
  scan_pairs   all N(N-1)/2 pairs, lags=1 autolag=None ("fixed lag") and lags=None autolag="aic" (statsmodels' default)
  statsmodels  coint(prices[y], prices[x], maxlag=..., autolag=...) in a Python loop over a seeded random subset of
               --loop-pairs pairs; the median time per pair is extrapolated linearly to all pairs (every pair costs
               the same: same length, same lag search)
The p-values of the subset are compared with the scan's (max absolute difference printed). scan_pairs runs with
executor=None (one process, like the statsmodels loop); its default executor="auto" would add local processes for
the 500-asset scan. OpenBLAS runs single-
threaded (OPENBLAS_NUM_THREADS=1 unless set) for both sides: the benchmark machine is shared and multi-threaded BLAS
on small products under load is slower, not faster.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _timing import median_timed  # noqa: E402
from statsmodels.tsa.stattools import coint  # noqa: E402

from statarb.alpha.scan import scan_pairs  # noqa: E402
from statarb.data.sources import load_sample  # noqa: E402


def real_universe(days: int, copies: int) -> pd.DataFrame:
    "The bundled 20 stocks in `copies` windows of `days` rows, side by side on a common business-day index."
    s = load_sample("sp500_20stocks")
    if days > len(s): raise SystemExit(f"--days must be at most {len(s)}")
    offs = np.linspace(0, len(s) - days, copies).astype(int) if copies > 1 else [len(s) - days]
    idx = pd.bdate_range("2000-01-03", periods=days)
    cols = {f"{c}@{o}": s[c].to_numpy()[o:o + days] for o in offs for c in s.columns}
    return pd.DataFrame(cols, index=idx)


def synthetic_universe(assets: int, days: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = np.cumsum(rng.normal(size=(days, 10)), axis=0)
    lp = (f @ rng.normal(size=(10, assets)) * 0.01 + np.cumsum(rng.normal(size=(days, assets)) * 0.01, axis=0)
          + rng.normal(size=(days, assets)) * 0.005)
    return pd.DataFrame(100 * np.exp(lp), index=pd.bdate_range("2000-01-03", periods=days),
                        columns=[f"S{i:03d}" for i in range(assets)])


def loop_statsmodels(prices, pairs, lags, autolag) -> list[float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [coint(prices[y], prices[x], maxlag=lags, autolag=autolag)[1] for y, x in pairs]


def compare(prices, label, lags, autolag, loop_pairs, repeats, rng) -> float:
    n_assets = prices.shape[1]
    n_pairs = n_assets * (n_assets - 1) // 2
    t_scan, table = median_timed(lambda: scan_pairs(prices, lags=lags, autolag=autolag, progress=False, executor=None), repeats)
    cols = list(prices.columns)
    iu = np.triu_indices(n_assets, 1)
    pick = rng.choice(n_pairs, size=min(loop_pairs, n_pairs), replace=False)
    pairs = [(cols[iu[0][k]], cols[iu[1][k]]) for k in pick]
    t_loop, p_loop = median_timed(lambda: loop_statsmodels(prices, pairs, lags, autolag), repeats)
    per_pair = t_loop / len(pairs)
    est = per_pair * n_pairs
    p_scan = table.set_index(["y", "x"]).pvalue.loc[pairs].to_numpy()
    diff = float(np.max(np.abs(p_scan - np.asarray(p_loop))))
    print(f"[{label}] scan_pairs, {n_pairs} pairs: median {t_scan:.3f} s ({t_scan / n_pairs * 1e6:.1f} us/pair)")
    print(f"[{label}] statsmodels coint loop: median {t_loop:.3f} s for {len(pairs)} random pairs = "
          f"{per_pair * 1e3:.3f} ms/pair -> {est:.1f} s extrapolated to {n_pairs} pairs")
    print(f"ratio statsmodels loop / scan_pairs ({label}): {est / t_scan:.1f}x")
    print(f"[{label}] max |p-value difference| scan vs statsmodels over {len(pairs)} pairs: {diff:.2e}")
    return diff


def big_universe(assets: int, days: int, loop_pairs: int) -> None:
    prices = synthetic_universe(assets, days)
    n_pairs = assets * (assets - 1) // 2
    for label, lags, autolag in (("fixed lag", 1, None), ("aic", None, "aic")):
        tracemalloc.start()
        t0 = time.perf_counter()
        table = scan_pairs(prices, lags=lags, autolag=autolag, progress=False, executor=None)
        dt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        sub = table.sample(min(loop_pairs, len(table)), random_state=0)
        p = loop_statsmodels(prices, list(zip(sub.y, sub.x)), lags, autolag)
        diff = float(np.max(np.abs(sub.pvalue.to_numpy() - np.asarray(p))))
        print(f"[{assets} assets, {label}] scan_pairs {len(table)} of {n_pairs} pairs x {days} days: {dt:.2f} s, "
              f"peak traced memory {peak / 2**20:.0f} MiB, process max RSS {rss:.0f} MiB; "
              f"max |p-value difference| vs statsmodels on {len(sub)} pairs: {diff:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=2520)
    ap.add_argument("--copies", type=int, default=5, help="windows per bundled stock (20 stocks each)")
    ap.add_argument("--loop-pairs", type=int, default=60, help="pairs timed in the statsmodels loop")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--universe", type=int, default=0, help="also scan this many synthetic assets (e.g. 500)")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run")
    a = ap.parse_args()
    if a.quick: a.days, a.copies, a.loop_pairs, a.repeats = 600, 1, 6, 2
    prices = real_universe(a.days, a.copies)
    print(f"universe: {prices.shape[1]} real price paths x {len(prices)} days "
          f"(bundled 20 stocks x {a.copies} windows); OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    rng = np.random.default_rng(0)
    d1 = compare(prices, "fixed lag", 1, None, a.loop_pairs * 4, a.repeats, rng)
    d2 = compare(prices, "aic", None, "aic", a.loop_pairs, max(1, a.repeats - 2), rng)
    assert max(d1, d2) < 1e-8, (d1, d2)
    if a.universe: big_universe(a.universe, a.days, 10)


if __name__ == "__main__":
    main()
