"""Performance metrics of statarb.risk.metrics against quantstats on the same minute return series, in one run.

    python benchmarks/bench_metrics.py              # 10 years of minute returns (982,800 points), 5 repeats
    python benchmarks/bench_metrics.py --quick      # smoke run (used by tests/test_metrics.py)

Data: seeded synthetic minute returns (not resampled from real data): 2,520 business days from 2010-01-04 with 390
one-minute bars each (09:31..16:00, tz-naive), Student-t (4 degrees of freedom) shocks scaled to 20 % annual
volatility plus a small drift; periods_per_year = 252 * 390 for both libraries.

The set, with the quantity each side computes (the same quantity, checked equal to 1e-9 outside the timings):
  sharpe, sortino, cagr, volatility, max drawdown, calmar, omega (threshold 0), tail ratio, value at risk (Gaussian,
  quantstats' method), CVaR (Gaussian), hit rate (win_rate), profit factor, probabilistic Sharpe ratio
  (statarb.psr_from_stats with pandas' moments, quantstats' definition), and a rolling Sharpe ratio (trailing window).
statarb is timed two ways: the same functions called one by one (each validates its input), and one
performance_summary call (validates once and computes more: Sortino, drawdown duration, historical VaR/CVaR,
skew/kurtosis, PSR...). quantstats caches prepared returns keyed on a hash of the data; the cache is cleared before
every quantstats repeat, so each repeat is a cold first call, as in a fresh analysis. Every measurement is repeated
and the median is reported; the implementations are timed in turn within each repeat.
rolling_max_drawdown (no quantstats peer) is timed for context: it costs O(n * window).
"""
from __future__ import annotations

import argparse
import math
import warnings

import numpy as np
import pandas as pd
from _timing import interleaved_medians

import statarb.risk.metrics as m


def minute_returns(days: int, seed: int) -> pd.Series:
    "Seeded minute returns of `days` business days of 390 bars."
    rng = np.random.default_rng(seed)
    day0 = pd.bdate_range("2010-01-04", periods=days).to_numpy()
    mins = np.arange(1, 391, dtype="int64") * np.int64(60_000_000_000) + np.int64((9 * 60 + 30) * 60_000_000_000)
    idx = pd.DatetimeIndex((day0.astype("datetime64[ns]").astype("int64")[:, None] + mins[None, :]).ravel().astype("datetime64[ns]"))
    ppy = 252 * 390
    shocks = rng.standard_t(4, len(idx)) / math.sqrt(2.0)          # unit variance (t4 has variance 2)
    return pd.Series(0.08 / ppy + 0.20 / math.sqrt(ppy) * shocks, index=idx, name="strategy")


def statarb_set(r: pd.Series, ppy: float, window: int) -> dict:
    x = r.to_numpy()
    return {
        "sharpe": m.sharpe_ratio(r, periods_per_year=ppy), "sortino": m.sortino_ratio(r, periods_per_year=ppy),
        "cagr": m.cagr(r, periods_per_year=ppy), "volatility": m.annualised_volatility(r, periods_per_year=ppy),
        "max_drawdown": m.max_drawdown(r), "calmar": m.calmar_ratio(r, periods_per_year=ppy),
        "omega": m.omega_ratio(r, periods_per_year=ppy), "tail_ratio": m.tail_ratio(r),
        "var": m.value_at_risk(r, method="gaussian"), "cvar": m.conditional_value_at_risk(r, method="gaussian"),
        "hit_rate": m.hit_rate(r), "profit_factor": m.profit_factor(r),
        "psr": m.psr_from_stats(x.mean() / x.std(ddof=1), len(x), r.skew(), r.kurt() + 3),
        "rolling_sharpe": m.rolling_sharpe(r, window, periods_per_year=ppy),
    }


def quantstats_set(r: pd.Series, ppy: float, window: int) -> dict:
    import quantstats.stats as qs
    import quantstats.utils as qu
    qu._PREPARE_RETURNS_CACHE.clear()
    return {
        "sharpe": qs.sharpe(r, periods=ppy), "sortino": qs.sortino(r, periods=ppy),
        "cagr": qs.cagr(r, periods=ppy), "volatility": qs.volatility(r, periods=ppy),
        "max_drawdown": qs.max_drawdown(r), "calmar": qs.calmar(r, periods=ppy),
        "omega": qs.omega(r, periods=ppy), "tail_ratio": qs.tail_ratio(r),
        "var": qs.value_at_risk(r), "cvar": qs.cvar(r),
        "hit_rate": qs.win_rate(r), "profit_factor": qs.profit_factor(r),
        "psr": qs.probabilistic_sharpe_ratio(r, periods=ppy),
        "rolling_sharpe": qs.rolling_sharpe(r, rolling_period=window, periods_per_year=ppy),
    }


def max_rel_diff(a: dict, b: dict) -> float:
    worst = 0.0
    for k in a:
        x, y = np.asarray(a[k], dtype=float), np.asarray(b[k], dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        if not np.array_equal(np.isfinite(x), np.isfinite(y)): return math.inf
        if ok.any(): worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]) / np.maximum(np.abs(y[ok]), 1e-300))))
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=2520, help="business days of 390 minute bars (2520 = 10 years)")
    ap.add_argument("--window", type=int, default=390 * 5, help="rolling Sharpe window in bars (default one week)")
    ap.add_argument("--dd-window", type=int, default=390, help="rolling max drawdown window in bars (context timing)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 40 days (15,600 points), 2 repeats")
    a = ap.parse_args(argv)
    if a.quick: a.days, a.repeats = 40, 2
    try:
        import quantstats  # noqa: F401
    except ImportError:
        print("quantstats is not installed: pip install quantstats", flush=True)
        return 1
    ppy = 252 * 390
    r = minute_returns(a.days, a.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # quantstats' own deprecation/runtime chatter
        t, last = interleaved_medians({
            "statarb": lambda: statarb_set(r, ppy, a.window),
            "statarb_summary": lambda: m.performance_summary(r, periods_per_year=ppy),
            "quantstats": lambda: quantstats_set(r, ppy, a.window),
        }, a.repeats)
        t_dd, _ = interleaved_medians({"rolling_max_drawdown": lambda: m.rolling_max_drawdown(r, a.dd_window)}, a.repeats)
    diff = max_rel_diff(last["statarb"], last["quantstats"])
    print(f"{len(r):,} minute returns ({a.days} days x 390), periods_per_year={ppy}, {a.repeats} repeats (median), "
          f"numpy {np.__version__}, pandas {pd.__version__}, quantstats {quantstats.__version__}")
    print(f"{'implementation':<40}{'median s':>10}")
    print(f"{'statarb, 14 functions one by one':<40}{t['statarb']:>10.4f}")
    print(f"{'statarb, performance_summary (23 rows)':<40}{t['statarb_summary']:>10.4f}")
    print(f"{'quantstats, the same 14':<40}{t['quantstats']:>10.4f}")
    print(f"{'statarb rolling_max_drawdown w=' + str(a.dd_window):<40}{t_dd['rolling_max_drawdown']:>10.4f}   (context, no peer)")
    print(f"ratio quantstats / statarb (same metrics): {t['quantstats'] / t['statarb']:.2f}")
    print(f"ratio quantstats / statarb performance_summary: {t['quantstats'] / t['statarb_summary']:.2f}")
    print(f"outputs agree (max relative difference {diff:.1e} <= 1e-9): {diff <= 1e-9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
