"""The compiled pairs backtest (statarb._matching via run_pairs_backtest) against the object path, vectorbt and
backtrader, in one run.

    python benchmarks/bench_matching.py                # 1,000,000 bars; peers on subsets; 10M-bar memory check
    python benchmarks/bench_matching.py --quick        # smoke run (used by tests/test_fast.py)

Data: a seeded synthetic cointegrated pair of minute bars (x a random walk, y = 1.5 x + a mean-reverting spread,
volume 5,000 a bar): the length is the point, and no bundled series has a million bars.
  statarb compiled  the full strategy: online Kalman hedge, z bands, next-open market fills, 2 bps half-spread, 1 bp
                    slippage, fees with a minimum, a 10% participation cap, borrow; record_decisions=False
  statarb object    the same configuration on the event-driven object path (timed on --object-bars, per bar)
  vectorbt          Portfolio.from_signals on the two legs with the compiled run's positions as precomputed signals,
                    fees and slippage, cash shared: a signal-driven backtest that does no modelling (JIT warmed up
                    first; compile time reported apart)
  backtrader        a Strategy that trades the same precomputed positions on both legs at the next open with the
                    same commission (timed on --backtrader-bars, per bar)
Peers timed on fewer bars are extrapolated linearly (constant work per bar). Medians of --repeats runs; the memory
check runs the compiled path on --memory-bars bars in a fresh process and reports its peak resident set.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
from _timing import median_timed

from statarb.alpha.kalman import KalmanHedge
from statarb.core import compiled_kernel
from statarb.engine.execution import Fees
from statarb.engine.fast import run_pairs_backtest

KF = dict(delta=1e-10, observation_covariance=0.04, initial_state_covariance=[[10.0, 0], [0, 10.0]])


def make_pair(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2000-01-03 14:30", periods=n, freq="min", tz="UTC")
    x = 50 * np.exp(np.cumsum(rng.normal(0, 2e-4, n)))
    from scipy.signal import lfilter
    s = lfilter([1.0], [1.0, -0.995], rng.normal(0, 0.02, n))       # AR(1) spread, s_t = 0.995 s_{t-1} + e_t
    y = 1.5 * x + 5 + s
    close = pd.DataFrame({"X": x, "Y": y}, index=idx)
    opn = close.shift(1).fillna(close) * (1 + rng.normal(0, 5e-5, (n, 2)))
    vol = pd.DataFrame(5_000.0, index=idx, columns=close.columns)
    return close, opn, vol


def config(opn, vol=None):
    return dict(pairs=[("Y", "X")], open=opn, volume=vol, kalman=KalmanHedge(**KF), window=100, entry=2.0, exit=0.5,
                stop=5.0, notional=50_000.0, lot=1.0, half_spread_bps=2.0, slippage_bps=1.0,
                fees=Fees(per_share=0.001, bps=0.2, minimum=1.0), participation=0.1, borrow=0.01)


def vectorbt_run(close, opn, pos_y, pos_x, shares_y, shares_x):
    import vectorbt as vbt
    size = pd.DataFrame({"Y": pos_y * shares_y, "X": pos_x * shares_x}, index=close.index)
    return vbt.Portfolio.from_orders(close[["Y", "X"]], size=size.shift(1).fillna(0.0), size_type="targetamount",
                                     price=opn[["Y", "X"]], fees=0.2e-4, fixed_fees=0.0, slippage=3e-4,
                                     init_cash=1_000_000.0, cash_sharing=True, group_by=True, freq="1min")


def backtrader_run(close, opn, target):
    import backtrader as bt

    class Targets(bt.Strategy):
        def __init__(self):
            self.i = 0
        def next(self):
            for k, d in enumerate(self.datas):
                tgt = target[self.i, k]
                cur = self.getposition(d).size
                if tgt != cur: self.order_target_size(data=d, target=tgt)
            self.i += 1

    cerebro = bt.Cerebro(stdstats=False)
    for col in ("Y", "X"):
        df = pd.DataFrame({"open": opn[col], "high": np.maximum(opn[col], close[col]), "low": np.minimum(opn[col], close[col]),
                           "close": close[col], "volume": 5_000.0}, index=close.index.tz_localize(None))
        cerebro.adddata(bt.feeds.PandasData(dataname=df), name=col)
    cerebro.broker.setcash(1_000_000.0)
    cerebro.broker.setcommission(commission=0.2e-4)
    cerebro.addstrategy(Targets)
    return cerebro.run()


def peak_rss_run(n: int, workdir: str) -> tuple[float, float, int]:
    """Peak RSS (MiB) of a fresh process that loads an n-bar pair (close and open, generated and saved by another
    process so that generating it does not count) and runs the compiled path on it, without participation cap (no
    volume column) and without decision tables. Returns (RSS after loading, peak RSS, fills)."""
    here = __file__.rsplit("/", 1)[0]
    gen = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {here!r})
        from bench_matching import make_pair
        close, opn, _ = make_pair({n})
        np.save({workdir!r} + "/c.npy", close.to_numpy()); np.save({workdir!r} + "/o.npy", opn.to_numpy())
    """)
    subprocess.run([sys.executable, "-c", gen], check=True)
    run = textwrap.dedent(f"""
        import sys, numpy as np, pandas as pd
        sys.path.insert(0, {here!r})
        from bench_matching import config
        from statarb.engine.fast import run_pairs_backtest
        idx = pd.date_range("2000-01-03 14:30", periods={n}, freq="min", tz="UTC")
        close = pd.DataFrame(np.load({workdir!r} + "/c.npy"), index=idx, columns=["X", "Y"], copy=False)
        opn = pd.DataFrame(np.load({workdir!r} + "/o.npy"), index=idx, columns=["X", "Y"], copy=False)
        def hwm():   # this process's peak RSS in MiB (VmHWM: unlike ru_maxrss, not inherited from the forking parent)
            return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
        base = hwm()
        cfg = config(opn, None)
        cfg["participation"] = None
        r = run_pairs_backtest(close, engine="compiled", record_decisions=False, **cfg)
        print(base, hwm(), len(r.fills))
    """)
    out = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--object-bars", type=int, default=20_000)
    ap.add_argument("--backtrader-bars", type=int, default=20_000)
    ap.add_argument("--memory-bars", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-peers", action="store_true", help="skip vectorbt and backtrader")
    ap.add_argument("--quick", action="store_true", help="smoke run: 20,000 bars, 2,000 for the peers, 2 repeats, no memory run")
    a = ap.parse_args(argv)
    if a.quick: a.bars, a.object_bars, a.backtrader_bars, a.memory_bars, a.repeats = 20_000, 2_000, 2_000, 0, 2
    if compiled_kernel("_matching", "run_pairs") is None:
        print("statarb._matching is not built: run `pip install -e .` first", file=sys.stderr)
        return 1
    close, opn, vol = make_pair(a.bars)
    cfg = config(opn, vol)
    t_c, res = median_timed(lambda: run_pairs_backtest(close, engine="compiled", **cfg), a.repeats)
    t_cnr, _ = median_timed(lambda: run_pairs_backtest(close, engine="compiled", record_decisions=False, **cfg), a.repeats)
    m = min(a.object_bars, a.bars)
    sub = {k: (v.iloc[:m] if isinstance(v, pd.DataFrame) else v) for k, v in cfg.items()}
    t_o, res_o = median_timed(lambda: run_pairs_backtest(close.iloc[:m], engine="object", **sub), max(1, min(a.repeats, 3)))
    res_cm = run_pairs_backtest(close.iloc[:m], engine="compiled", **sub)
    same = res_cm.equity.equals(res_o.equity) and np.array_equal(res_cm.fills["price"].to_numpy(), res_o.fills["price"].to_numpy())
    rows = [("statarb compiled", a.bars, t_c), ("  (no decision tables)", a.bars, t_cnr), ("statarb object path", m, t_o)]
    notes = []
    if not a.no_peers:
        pos = res.decisions["position"]["Y/X"].fillna(0.0).to_numpy()
        beta = res.decisions["hedge_ratio"]["Y/X"].ffill().fillna(1.0).to_numpy()
        sy = np.round(50_000.0 / (close["Y"].to_numpy() + beta * close["X"].to_numpy()))
        try:
            import vectorbt
            t0 = time.perf_counter()
            vectorbt_run(close.iloc[:1000], opn.iloc[:1000], pos[:1000], -pos[:1000], sy[:1000], (sy * beta)[:1000])
            jit = time.perf_counter() - t0
            t_v, _ = median_timed(lambda: vectorbt_run(close, opn, pos, -pos, sy, sy * beta), a.repeats)
            rows.append((f"vectorbt {vectorbt.__version__}", a.bars, t_v))
            notes.append(f"vectorbt JIT warm-up (excluded): {jit:.1f} s")
        except ImportError as e:
            notes.append(f"vectorbt not available: {e}")
        try:
            import backtrader
            mb = min(a.backtrader_bars, a.bars)
            target = np.column_stack([np.r_[0, pos[:mb - 1]] * np.r_[0, sy[:mb - 1]], np.r_[0, -pos[:mb - 1]] * np.r_[0, (sy * beta)[:mb - 1]]])
            target = np.round(target)
            t_b, _ = median_timed(lambda: backtrader_run(close.iloc[:mb], opn.iloc[:mb], target), max(1, min(a.repeats, 3)))
            rows.append((f"backtrader {backtrader.__version__}", mb, t_b))
        except ImportError as e:
            notes.append(f"backtrader not available: {e}")
    print(f"Pairs backtest, median of {a.repeats} repeats (peers on subsets extrapolated per bar), numpy {np.__version__}")
    print(f"{'engine':<26}{'bars':>11}{'median s':>11}{'bars/s':>14}")
    rate = {}
    for name, bars, t in rows:
        rate[name] = bars / t
        print(f"{name:<26}{bars:>11,}{t:>11.3f}{bars / t:>14,.0f}")
    c = rate["statarb compiled"]
    print(f"statarb compiled at {a.bars:,} bars: {c:,.0f} bars/s ({len(res.fills):,} fills, {len(res.orders):,} orders)")
    for name in rate:
        if name != "statarb compiled": print(f"ratio compiled / {name.strip()}: {c / rate[name]:,.1f}x")
    print(f"outputs: compiled == object path on {m:,} bars: {same}")
    for note in notes: print(note)
    if a.memory_bars:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            base, peak, nf = peak_rss_run(a.memory_bars, tmp)
        print(f"memory: {a.memory_bars:,}-bar single-pair compiled run (no cap, no decision tables): peak RSS "
              f"{peak:,.0f} MiB, of which {base:,.0f} MiB is Python, the libraries and the loaded prices ({nf:,} fills)")
    return 0 if same else 2


if __name__ == "__main__":
    sys.exit(main())
