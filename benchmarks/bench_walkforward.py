"""Walk-forward over the bundled 20-stock universe: statarb.validation.walkforward.walk_forward, serial vs local processes.

    python benchmarks/bench_walkforward.py            # 1990-2022, 3Y train / 1Y test, holdout 2020, 3 bands, 190 pairs/window
    python benchmarks/bench_walkforward.py --quick    # smoke run: 8 stocks, 1995-2004 (used by tests/test_walkforward.py)

Each window scans all pairs of the training window (scan_pairs), fits a KalmanHedge per selected pair (MLE), scores
every band on the training window and trades the test window (run_pairs_backtest, compiled), with 1 bp half-spread
and 1 bp slippage. Timed, in turn within each repeat (median of --repeats): executor=None (one process) and
executor="auto" (local processes). Both results are checked to be identical; the target is < 60 s on 2 cores.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402

import pandas.testing as pdt  # noqa: E402
from _timing import interleaved_medians  # noqa: E402

from statarb.data.sources import load_sample  # noqa: E402
from statarb.validation.walkforward import SelectConfig, walk_forward  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    px = load_sample("sp500_20stocks")
    if a.quick:
        px, kw, reps = px.loc["1995":"2004", ["KO", "PEP", "XOM", "CVX", "JNJ", "PFE", "MRK", "WMT"]], \
            dict(train="2Y", test="1Y", holdout="2003", select=SelectConfig(top=4)), 1
    else:
        kw, reps = dict(train="3Y", test="1Y", holdout="2020", select=SelectConfig(top=10)), a.repeats
    kw.update(bands=((1.5, 0.0), (2.0, 0.5), (2.5, 0.5)), half_spread_bps=1.0, slippage_bps=1.0)
    med, last = interleaved_medians({"serial": lambda: walk_forward(px, executor=None, **kw),
                                     "auto": lambda: walk_forward(px, executor="auto", **kw)}, reps)
    s, p = last["serial"], last["auto"]
    for t in ("windows", "selections", "trials", "trades", "holdout"):
        pdt.assert_frame_equal(getattr(s, t), getattr(p, t), check_exact=True)
    pdt.assert_series_equal(s.returns, p.returns, check_exact=True)
    n_pairs = len(px.columns) * (len(px.columns) - 1) // 2
    print(f"universe: {px.shape[1]} stocks ({n_pairs} pairs scanned per window), {px.index[0]:%Y-%m-%d} to "
          f"{px.index[-1]:%Y-%m-%d}, {len(px)} days; cores: {os.cpu_count()}; repeats: {reps}")
    print(f"windows: {len(s.windows)} + holdout; pairs traded: {int(s.windows['n_selected'].sum())} "
          f"(+{int(s.holdout['n_selected'].sum())} in the holdout); band trials: {len(s.trials)}; "
          f"out-of-sample trades: {len(s.trades)}")
    print(f"{'executor':<10}{'median s':>10}")
    for k, v in med.items(): print(f"{k:<10}{v:>10.2f}")
    print(f"ratio serial/auto: {med['serial'] / med['auto']:.2f}  (results identical: yes)")
    if not a.quick: print(f"target < 60 s: {'met' if min(med.values()) < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
