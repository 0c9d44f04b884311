"""L2 book replay throughput on the real Binance USD-M depth data: statarb's compiled kernel (statarb._lob via
statarb.engine.lob.replay_l2) against its pure-Python twin and hftbacktest's HashMapMarketDepthBacktest, in one run.

    python benchmarks/bench_lob.py            # BTCUSDT, all ~445k level updates after the snapshot
    python benchmarks/bench_lob.py --quick    # smoke run on the first 20,000 updates (used by tests/test_lob.py)

Data: ../shared/data/hftbacktest_binance_usdm_btc_eth_depth_diffs.parquet (test-only; the script exits with a
message when it is absent). Every replayer gets the same events: the REST snapshot, then the diffs that follow it
in update-id order (the ones statarb's Binance sequencing applies).
  statarb kernel    statarb._lob.replay_l2 on prepared arrays (the replay loop alone; best bid/ask after each message)
  statarb replay    replay_l2(events): sequencing and gap checks, price encoding, the kernel, the result frame
  python twin       replay_l2_py on the same arrays (timed on --python-rows rows, extrapolated per row)
  hftbacktest       HashMapMarketDepthBacktest fed the same snapshot (DEPTH_SNAPSHOT_EVENT) and diffs (DEPTH_EVENT) as a
                    NumPy event array, replayed to the end with elapse(); building the backtester (which copies the
                    data) is timed apart. Not a dependency of statarb: `pip install hftbacktest`; skipped if missing.
Throughput is level updates (rows) per second; medians of --repeats runs; final best bid/ask are checked equal.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from statarb.core import compiled_kernel
from statarb.engine.lob import _plan_l2, load_binance_depth, replay_l2, replay_l2_py

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hftbacktest_binance_usdm_btc_eth_depth_diffs.parquet"


def prepare(events):
    "The kernel's arrays, built once (as replay_l2 builds them)."
    starts, ends, mode, _, _ = _plan_l2(events, "raise")
    rows = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)])
    msg_start = np.zeros(len(mode) + 1, np.int64); np.cumsum(ends - starts, out=msg_start[1:])
    prices, level = np.unique(events["price"].to_numpy(float)[rows], return_inverse=True)
    return dict(msg_start=msg_start, mode=mode, side=events["side"].to_numpy(np.int8)[rows], level=level.astype(np.int64),
                qty=events["qty"].to_numpy(float)[rows], prices=prices, rows=rows)


def run_kernel(fn, a):
    n, m = len(a["prices"]), len(a["mode"])
    out = [np.zeros(n), np.zeros(n), np.zeros(m, np.int64), np.zeros(m, np.int64), np.zeros(m), np.zeros(m), np.zeros(m, np.int8), np.zeros(1, np.int64)]
    assert fn(a["msg_start"], a["mode"], a["side"], a["level"], a["qty"], *out) == 0
    return a["prices"][out[2][-1]], a["prices"][out[3][-1]]


def hbt_arrays(events, a):
    from hftbacktest.types import (
        BUY_EVENT,
        DEPTH_EVENT,
        DEPTH_SNAPSHOT_EVENT,
        EXCH_EVENT,
        LOCAL_EVENT,
        SELL_EVENT,
        event_dtype,
    )
    rows = a["rows"]; snap = a["mode"][np.searchsorted(a["msg_start"], np.arange(len(rows)), side="right") - 1] == 1
    ts = events["ts_event"].to_numpy(np.int64)[rows]
    ev = np.zeros(len(rows), event_dtype)
    kind = np.where(snap, DEPTH_SNAPSHOT_EVENT, DEPTH_EVENT).astype(np.uint64)
    ev["ev"] = kind | np.uint64(EXCH_EVENT | LOCAL_EVENT) | np.where(a["side"] == 1, BUY_EVENT, SELL_EVENT).astype(np.uint64)
    t = np.maximum.accumulate(ts)                 # snapshot moved before the diffs it precedes: keep time monotone
    ev["exch_ts"] = t; ev["local_ts"] = t
    ev["px"] = events["price"].to_numpy(float)[rows]; ev["qty"] = a["qty"]
    return ev[snap], ev[~snap]


def hbt_build(snapshot, diffs):
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
    asset = (BacktestAsset().data(diffs).initial_snapshot(snapshot).linear_asset(1.0).constant_order_latency(0, 0)
             .risk_adverse_queue_model().no_partial_fill_exchange().trading_value_fee_model(0.0, 0.0)
             .tick_size(0.1).lot_size(0.001).last_trades_capacity(0))
    return HashMapMarketDepthBacktest([asset])


def hbt_replay(hbt):
    hbt.elapse(10**18)
    d = hbt.depth(0)
    out = (d.best_bid, d.best_ask)
    hbt.close()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run on the first 20,000 rows")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--python-rows", type=int, default=100_000, help="rows for the pure-Python twin (extrapolated)")
    p.add_argument("--symbol", default="BTCUSDT")
    args = p.parse_args(argv)
    if not DATA.exists():
        print(f"data not found: {DATA} (test-only shared data); nothing to time"); return 0
    events = load_binance_depth(DATA, symbol=args.symbol)
    if args.quick:
        events = events.iloc[:20_000 + int((events["kind"] == "snapshot").sum())]
        args.repeats, args.python_rows = 1, 5_000
    a = prepare(events)
    n = len(a["rows"])
    kernel = compiled_kernel("_lob", "replay_l2")
    res, best = {}, {}

    def med(name, fn, reps, rows=n):
        times = []
        for _ in range(reps):
            t0 = time.perf_counter(); best[name] = fn(); times.append(time.perf_counter() - t0)
        res[name] = statistics.median(times) * n / rows
    if kernel is not None: med("statarb kernel", lambda: run_kernel(kernel, a), args.repeats)
    else: print("statarb._lob is not built: compiled timings skipped")
    med("statarb replay", lambda: (lambda r: (r.book["bid_price"].iloc[-1], r.book["ask_price"].iloc[-1]))(replay_l2(events)), args.repeats)
    k = int(np.searchsorted(a["msg_start"], min(args.python_rows, n)))
    sub = dict(a, msg_start=a["msg_start"][:k + 1], mode=a["mode"][:k])
    med("python twin", lambda: run_kernel(replay_l2_py, sub), 1, rows=int(sub["msg_start"][-1]))
    best.pop("python twin")
    try:
        import hftbacktest
        snapshot, diffs = hbt_arrays(events, a)
        hbt_replay(hbt_build(snapshot[:50], diffs[:1000]))          # warm-up: compiles the numba jitclass methods
        t0 = time.perf_counter(); hbt_build(snapshot, diffs).close(); build = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            hbt = hbt_build(snapshot, diffs)
            t0 = time.perf_counter(); best["hftbacktest"] = hbt_replay(hbt); times.append(time.perf_counter() - t0)
        res["hftbacktest"] = statistics.median(times)
        print(f"hftbacktest {hftbacktest.__version__}: building the backtester (copies the events) {build * 1e3:.1f} ms, timed apart")
    except ImportError as e:
        print(f"hftbacktest not importable ({e}); `pip install hftbacktest` to compare")
    print(f"{args.symbol}: {n:,} level updates in {len(a['mode']):,} messages; medians of {args.repeats}")
    ref = res.get("hftbacktest")
    for name, t in res.items():
        ratio = f"  {ref / t:6.2f}x hftbacktest's speed" if ref else ""
        print(f"  {name:<15} {t * 1e3:10.2f} ms  {n / t / 1e6:8.2f} M updates/s{ratio}")
    vals = {tuple(np.round(v, 8)) for v in best.values()}
    print("final best bid/ask equal across replayers:", len(vals) == 1, sorted(vals)[0] if vals else "")
    return 0 if len(vals) <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
