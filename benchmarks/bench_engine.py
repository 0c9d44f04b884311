"""The event-driven engine (object path) against backtrader, backtesting.py and vectorbt, in one run.

    python benchmarks/bench_engine.py               # full sample (5,031 index bars; 8,000+ pair bars), 5 repeats
    python benchmarks/bench_engine.py --quick       # smoke run (used by tests/test_crosscheck.py)
    python benchmarks/bench_engine.py --profile     # also print the top functions of statarb's runs (cProfile)

Runs, all on the bundled real data:
  single asset   a 20/100-day moving-average crossover on the S&P 500 index (load_sample("sp500_ohlcv"), 1999-2018),
                 long/short 10 units, decided at the close of bar t, a market order filled at the open of t+1,
                 commission 10 bps of notional and slippage 5 bps of the price on every fill:
                   statarb    run_backtest(DataHandler, CrossoverStrategy, Portfolio(sizing=FixedUnits), ExecutionHandler)
                   backtrader Cerebro with the same decision function, setcommission(commission=0.001),
                              set_slippage_perc(0.0005, slip_open=True, slip_match=True, slip_out=True)
                   backtesting.py  Backtest(commission=0.001, spread=0) - it charges its `spread` only when a trade
                              opens (closing trades fill at the raw open), so it is matched without slippage and timed
                              with the same strategy
                   vectorbt   Portfolio.from_signals on the crossover precomputed outside the timing (entries at the
                              next open, fees, slippage, 10 units, reversals); numba-compiled before the timings
  pair           KO/PEP closes (load_sample("sp500_20stocks"), 1990-2022), Kalman hedge, z-score band, $100k gross
                 per position, 10 bps fees, 5 bps slippage:
                   statarb    PairsStrategy through run_backtest
                   backtrader a bt.Strategy that runs PairsStrategy's decision step (Kalman update and band state
                              machine) on backtrader's closes, sizes as FixedNotional does, and lets backtrader execute
                   vectorized statarb.engine.vectorized.vectorized_backtest on the targets the decisions imply
                              (targets_from_signals, outside the timing).
Outputs of the peers are checked against statarb outside the timings (fills and final equity); the runs are timed in
turn within every repeat and the median is reported. "bars/s" is index timestamps per second of wall time.

The strategies and the engine runs are module-level functions: tests/test_crosscheck.py imports them, so what is
timed here is what the test checks.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import warnings

import numpy as np
import pandas as pd

from statarb.alpha.kalman import KalmanHedge
from statarb.data.sources import load_sample
from statarb.engine.backtest import run_backtest
from statarb.engine.data_handler import DataHandler
from statarb.engine.events import SignalEvent
from statarb.engine.execution import ExecutionHandler, Fees, FixedSlippage
from statarb.engine.portfolio import FixedNotional, Portfolio
from statarb.engine.strategy import PairsStrategy, Strategy

SYMBOL = "SPX"
FAST, SLOW, UNITS, CASH = 20, 100, 10, 100_000.0
COMMISSION, SLIPPAGE = 0.001, 0.0005          # fractions of notional / of the price


# ------------------------------------------------------------------------------------------------ data
def index_bars(n: int | None = None) -> pd.DataFrame:
    "The bundled S&P 500 OHLCV (tz-naive daily index, columns open, high, low, close, volume), first `n` rows."
    df = load_sample("sp500_ohlcv")[["open", "high", "low", "close", "volume"]].astype("float64")
    return df if n is None else df.iloc[:n]


def statarb_data(df: pd.DataFrame) -> DataHandler:
    w = {c: df[[c]].rename(columns={c: SYMBOL}).tz_localize("UTC") for c in df.columns}
    return DataHandler.from_wide(w["close"], open=w["open"], high=w["high"], low=w["low"], volume=w["volume"])


# ------------------------------------------------------------------------------------------------ the strategy
def crossover_target(closes, fast: int, long_only: bool) -> int:
    """+1 when the mean of the last `fast` closes is above the mean of all `closes` (the slow window), else -1
    (0 when `long_only`). Both engines call this one function on the closes they hand out up to bar t."""
    fm = math.fsum(closes[-fast:]) / fast
    sm = math.fsum(closes) / len(closes)
    return 1 if fm > sm else (0 if long_only else -1)


class CrossoverStrategy(Strategy):
    "Moving-average crossover on one symbol as a statarb Strategy: a SignalEvent whenever the target changes."
    strategy_id = "ma_cross"

    def __init__(self, data: DataHandler, symbol: str, fast: int = FAST, slow: int = SLOW, long_only: bool = False):
        super().__init__(data)
        self.symbol, self.fast, self.slow, self.long_only = symbol, fast, slow, long_only
        self.pos = 0

    def on_market_event(self, event):
        if event.kind != "bar" or event.symbol != self.symbol: return []
        if self.data.n_known(self.symbol) < self.slow: return []
        # history() is a read-only NumPy view; summing a list is the idiomatic (and faster) way to feed math.fsum,
        # and gives the same floats as backtrader's list
        target = crossover_target(self.data.history(self.symbol, "close", self.slow).tolist(), self.fast, self.long_only)
        if target == self.pos: return []
        self.pos = target
        return [SignalEvent(event.ts_event, event.ts_recv, strategy_id=self.strategy_id, group=self.symbol,
                            direction=float(target), weights=((self.symbol, 1.0),))]


class FixedUnits:
    "Portfolio sizing: `units` shares per unit of direction and weight (whole units, as the peers trade)."
    def __init__(self, units: float): self.units = units
    def __call__(self, signal, portfolio) -> dict:
        return {s: signal.direction * w * self.units for s, w in signal.weights}


# ------------------------------------------------------------------------------------------------ the engines
def run_statarb(df: pd.DataFrame, commission: float = COMMISSION, slippage: float = SLIPPAGE, long_only: bool = False,
                fast: int = FAST, slow: int = SLOW):
    "statarb's event-driven run; costs as fractions (converted to basis points)."
    dh = statarb_data(df)
    ex = ExecutionHandler(dh, slippage=FixedSlippage(slippage * 1e4), fees=Fees(bps=commission * 1e4))
    pf = Portfolio(dh, initial_cash=CASH, sizing=FixedUnits(UNITS))
    return run_backtest(dh, CrossoverStrategy(dh, SYMBOL, fast, slow, long_only), pf, ex)


def statarb_fills(res) -> list[tuple]:
    "(date, signed size, price, fee) of every fill of a BacktestResult."
    f = res.fills
    return [(t.date(), float(q), float(p), float(c)) for t, q, p, c in
            zip(f["timestamp"], f["quantity"], f["price"], f["fee"])]


def statarb_equity(res) -> pd.Series:
    e = res.equity["equity"]
    return pd.Series(e.to_numpy(), index=[t.date() for t in e.index], name="equity")


def run_backtrader(df: pd.DataFrame, commission: float = COMMISSION, slippage: float = SLIPPAGE,
                   long_only: bool = False, fast: int = FAST, slow: int = SLOW) -> dict:
    """backtrader with the same decisions: market orders (next open, no cheat-on-close), percentage commission,
    percentage slippage on the open without capping at the bar's high/low (slip_out=True; statarb does not cap)."""
    import backtrader as bt

    class Cross(bt.Strategy):
        def __init__(self):
            self.fills, self.values, self.pos = [], [], 0

        def notify_order(self, order):
            if order.status == order.Completed:
                x = order.executed
                self.fills.append((bt.num2date(x.dt).date(), float(x.size), float(x.price), float(x.comm)))

        def next(self):
            self.values.append((self.data.datetime.date(0), self.broker.getvalue()))
            if len(self.data) < slow: return
            target = crossover_target(self.data.close.get(size=slow), fast, long_only)
            if target != self.pos:
                self.pos = target
                self.order_target_size(target=target * UNITS)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=df, openinterest=None))
    cerebro.addstrategy(Cross)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=commission)
    if slippage: cerebro.broker.set_slippage_perc(slippage, slip_open=True, slip_match=True, slip_out=True)
    st = cerebro.run()[0]
    eq = pd.Series([v for _, v in st.values], index=[d for d, _ in st.values], name="equity")
    return {"fills": st.fills, "equity": eq, "final_equity": cerebro.broker.getvalue()}


def run_backtesting(df: pd.DataFrame, commission: float = COMMISSION, long_only: bool = False,
                    fast: int = FAST, slow: int = SLOW) -> dict:
    """backtesting.py with the same decisions (market orders fill at the next open; commission a fraction of
    notional at every fill). Fills are netted per date so a reversal is one fill, as in statarb."""
    import backtesting.backtesting as btm
    from backtesting import Backtest
    from backtesting import Strategy as BtpStrategy
    btm._tqdm = lambda seq, **_: seq             # no progress bar (it writes to stderr and costs time)

    class Cross(BtpStrategy):
        def init(self): self.pos = 0
        def next(self):
            c = self.data.Close
            if len(c) < slow: return
            target = crossover_target(list(c[-slow:]), fast, long_only)
            if target != self.pos:
                self.pos = target
                d = target * UNITS - self.position.size
                if d > 0: self.buy(size=d)
                elif d < 0: self.sell(size=-d)

    data = df.rename(columns=str.capitalize)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # its own notes (e.g. about open trades at the end)
        bt_ = Backtest(data, Cross, cash=CASH, commission=commission, spread=0.0, trade_on_close=False,
                       exclusive_orders=False, finalize_trades=False)
        stats = bt_.run()
    trades = stats["_trades"]
    legs = [(t.EntryTime.date(), float(t.Size), float(t.EntryPrice)) for t in trades.itertuples()]
    legs += [(t.ExitTime.date(), -float(t.Size), float(t.ExitPrice)) for t in trades.itertuples()]
    legs += [(data.index[t.entry_bar].date(), float(t.size), float(t.entry_price)) for t in stats["_strategy"].trades]
    net: dict = {}
    for d, q, p in legs:
        q0, p0 = net.get(d, (0.0, p))
        if p0 != p: raise AssertionError(f"backtesting.py filled at two prices on {d}: {p0} and {p}")
        net[d] = (q0 + q, p)
    fills = [(d, q, p) for d, (q, p) in sorted(net.items()) if q != 0]
    eq = stats["_equity_curve"]["Equity"]
    return {"fills": fills, "equity": pd.Series(eq.to_numpy(), index=[t.date() for t in eq.index], name="equity"),
            "final_equity": float(stats["Equity Final [$]"])}


def crossover_targets(df: pd.DataFrame, fast: int = FAST, slow: int = SLOW, long_only: bool = False) -> np.ndarray:
    "Target direction decided at each close (0 before `slow` bars): the precomputed signal for the vectorised peers."
    c = df["close"].to_numpy()
    out = np.zeros(len(c))
    for t in range(slow - 1, len(c)):
        out[t] = crossover_target(c[t - slow + 1:t + 1], fast, long_only)
    return out


def run_vectorbt(df: pd.DataFrame, targets: np.ndarray, commission: float = COMMISSION, slippage: float = SLIPPAGE):
    """vectorbt Portfolio.from_signals: long entries where the target turns +1, short entries where it turns -1,
    shifted one bar (decided at the close of t, traded at the open of t+1), 10 units, opposite entries reverse."""
    import vectorbt as vbt
    prev = np.r_[0.0, targets[:-1]]
    long_e = np.r_[False, ((targets == 1) & (prev != 1))[:-1]]
    short_e = np.r_[False, ((targets == -1) & (prev != -1))[:-1]]
    exit_e = np.r_[False, ((targets == 0) & (prev != 0))[:-1]]
    return vbt.Portfolio.from_signals(
        df["close"], entries=pd.Series(long_e, index=df.index), exits=pd.Series(exit_e, index=df.index),
        short_entries=pd.Series(short_e, index=df.index), short_exits=pd.Series(exit_e, index=df.index),
        price=df["open"], size=float(UNITS), size_type="amount", fees=commission, slippage=slippage,
        init_cash=CASH, upon_opposite_entry="reverse", freq="1D")


# ------------------------------------------------------------------------------------------------ the pair
PAIR = ("KO", "PEP")


def pair_prices(n: int | None = None) -> pd.DataFrame:
    p = load_sample("sp500_20stocks")[list(PAIR)].dropna()
    p = p if n is None else p.iloc[:n]
    return p.tz_localize("UTC") if p.index.tz is None else p


KF = KalmanHedge(delta=1e-6, observation_covariance=0.2, initial_state_covariance=np.eye(2) * 10.0)
PAIR_KW = dict(hedge="kalman", window=30, entry=1.5, exit=0.3, kalman=KF)
PAIR_NOTIONAL, PAIR_CASH, PAIR_FEE_BPS, PAIR_SLIP_BPS = 100_000.0, 1_000_000.0, 10.0, 5.0


def run_pairs(px: pd.DataFrame):
    "PairsStrategy (Kalman hedge) on KO/PEP, $100k gross per position, 10 bps fees and 5 bps slippage."
    dh = DataHandler.from_wide(px)
    st = PairsStrategy(dh, [PAIR], **PAIR_KW)
    pf = Portfolio(dh, initial_cash=PAIR_CASH, sizing=FixedNotional(PAIR_NOTIONAL))
    ex = ExecutionHandler(dh, slippage=FixedSlippage(PAIR_SLIP_BPS), fees=Fees(bps=PAIR_FEE_BPS))
    return run_backtest(dh, st, pf, ex), st


def run_pairs_backtrader(px: pd.DataFrame) -> dict:
    """The same pair in backtrader: each bar, backtrader's closes go through the decision step of statarb's
    PairsStrategy (its Kalman update `_z_kalman` and band state machine `_step_state`, the code its on_market_event
    runs, without statarb's data handler or events); backtrader sizes the decisions as FixedNotional does (shares =
    direction x weight x notional / gross at the closes) and executes them: market orders at the next open (= the
    close, as the data are closes only), 10 bps commission, 5 bps slippage."""
    import backtrader as bt
    ps = PairsStrategy(DataHandler.from_wide(px.iloc[:1]), [PAIR], **PAIR_KW)     # holds the filter state only
    state = ps.pairs[0]

    class Pair(bt.Strategy):
        def __init__(self):
            self.fills, self.values = [], []
            self.y, self.x = self.getdatabyname(PAIR[0]), self.getdatabyname(PAIR[1])

        def notify_order(self, order):
            if order.status == order.Completed:
                x = order.executed
                self.fills.append((bt.num2date(x.dt).date(), order.data._name, float(x.size), float(x.price)))

        def next(self):
            self.values.append((self.data.datetime.date(0), self.broker.getvalue()))
            yt, xt = self.y.close[0], self.x.close[0]
            z, beta = ps._z_kalman(state, yt, xt)
            state.n += 1
            prev = state.pos
            pos = ps._step_state(state, z)
            if beta == beta: state.beta = beta
            if pos == prev: return
            if pos == 0:
                self.order_target_size(data=self.y, target=0.0)
                self.order_target_size(data=self.x, target=0.0)
                return
            wy, wx = 1.0, -(state.beta if state.beta == state.beta else 1.0)
            k = PAIR_NOTIONAL / (abs(wy * yt) + abs(wx * xt))
            self.order_target_size(data=self.y, target=float(pos) * wy * k)
            self.order_target_size(data=self.x, target=float(pos) * wx * k)

    cerebro = bt.Cerebro(stdstats=False)
    for sym in PAIR:
        c = px[sym].tz_localize(None)
        f = pd.DataFrame({"open": c, "high": c, "low": c, "close": c, "volume": 0.0})
        cerebro.adddata(bt.feeds.PandasData(dataname=f, openinterest=None), name=sym)
    cerebro.addstrategy(Pair)
    cerebro.broker.setcash(PAIR_CASH)
    cerebro.broker.setcommission(commission=PAIR_FEE_BPS * 1e-4)
    cerebro.broker.set_slippage_perc(PAIR_SLIP_BPS * 1e-4, slip_open=True, slip_match=True, slip_out=True)
    st = cerebro.run()[0]
    eq = pd.Series([v for _, v in st.values], index=[d for d, _ in st.values], name="equity")
    return {"fills": st.fills, "equity": eq, "final_equity": cerebro.broker.getvalue()}


def pairs_vectorized_inputs(px: pd.DataFrame):
    "Targets for vectorized_backtest from the strategy's own decisions (computed once, outside the timing)."
    from statarb.engine.vectorized import targets_from_signals
    _, st = run_pairs(px)
    return targets_from_signals(st.decisions(), px, notional=PAIR_NOTIONAL)


def run_pairs_vectorized(targets: pd.DataFrame, px: pd.DataFrame):
    from statarb.engine.vectorized import vectorized_backtest
    return vectorized_backtest(targets, px, open=None, slippage_bps=PAIR_SLIP_BPS, fees=Fees(bps=PAIR_FEE_BPS),
                               initial_cash=PAIR_CASH)


# ------------------------------------------------------------------------------------------------ the benchmark
def _max_fill_diff(a: list, b: list) -> float:
    if len(a) != len(b) or any(x[0] != y[0] or x[1] != y[1] for x, y in zip(a, b)): return math.inf
    return max((abs(x[2] - y[2]) / abs(y[2]) for x, y in zip(a, b)), default=0.0)


def profile(fn, top: int = 10) -> str:
    "The top `top` functions of one call of `fn` by cumulative time, then by own time (cProfile; slower than a plain run)."
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    s = io.StringIO()
    st = pstats.Stats(pr, stream=s)
    st.sort_stats("cumulative").print_stats(top)
    st.sort_stats("tottime").print_stats(top)
    return s.getvalue()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 400 index bars, 1,500 pair bars, 2 repeats")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="also print the top functions of the statarb runs (cProfile)")
    args = ap.parse_args(argv)
    n_idx, n_pair, reps = (400, 1500, 2) if args.quick else (None, None, args.repeats)
    from _timing import interleaved_medians

    df = index_bars(n_idx)
    px = pair_prices(n_pair)
    try:
        import vectorbt  # noqa: F401
        has_vbt = True
    except Exception as e:                       # noqa: BLE001 - report why the peer is missing, go on
        print(f"vectorbt unavailable: {type(e).__name__}: {e}")
        has_vbt = False

    # outputs, outside the timings
    ref = run_statarb(df)
    btr = run_backtrader(df)
    nocost = run_statarb(df, slippage=0.0)
    btp = run_backtesting(df)
    ref_fills = statarb_fills(ref)
    print(f"single asset: {len(df):,} bars of the S&P 500 index ({df.index[0].date()}..{df.index[-1].date()}), "
          f"{len(ref_fills)} fills")
    print(f"outputs: statarb vs backtrader fills max rel price diff {_max_fill_diff([f[:3] for f in ref_fills], [f[:3] for f in btr['fills']]):.2e}, "
          f"final equity rel diff {abs(ref.equity['equity'].iloc[-1] / btr['final_equity'] - 1):.2e}")
    nf = [f[:3] for f in statarb_fills(nocost)]
    print(f"outputs: statarb (no slippage) vs backtesting.py fills max rel price diff {_max_fill_diff(nf, btp['fills']):.2e}, "
          f"final equity rel diff {abs(nocost.equity['equity'].iloc[-1] / btp['final_equity'] - 1):.2e}")
    tg = crossover_targets(df)
    if has_vbt:
        pv = run_vectorbt(df, tg)
        print(f"outputs: statarb vs vectorbt final equity rel diff {abs(ref.equity['equity'].iloc[-1] / float(pv.final_value()) - 1):.2e}")

    fns = {"statarb": lambda: run_statarb(df), "backtrader": lambda: run_backtrader(df),
           "backtesting.py": lambda: run_backtesting(df, commission=COMMISSION)}
    if has_vbt: fns["vectorbt"] = lambda: run_vectorbt(df, tg)
    med, _ = interleaved_medians(fns, reps)
    for k, v in med.items(): print(f"  {k:<17} {v * 1e3:10.1f} ms  {len(df) / v:12,.0f} bars/s")
    print(f"ratio backtrader / statarb: {med['backtrader'] / med['statarb']:.2f}")
    print(f"ratio backtesting.py / statarb: {med['backtesting.py'] / med['statarb']:.2f}")
    if has_vbt: print(f"ratio statarb / vectorbt: {med['statarb'] / med['vectorbt']:.2f}  (vectorbt on the precomputed signal)")

    targets = pairs_vectorized_inputs(px)
    pr, _ = run_pairs(px)
    pb = run_pairs_backtrader(px)
    vr = run_pairs_vectorized(targets, px)
    f = pr.fills
    ours = sorted((t.date(), s, float(q), float(p)) for t, s, q, p in zip(f["timestamp"], f["symbol"], f["quantity"], f["price"]))
    theirs = sorted(pb["fills"])
    same = len(ours) == len(theirs) and all(x[:2] == y[:2] for x, y in zip(ours, theirs))
    dp = max((abs(x[3] / y[3] - 1) for x, y in zip(ours, theirs)), default=0.0) if same else math.inf
    print(f"pair {PAIR[0]}/{PAIR[1]}: {len(px):,} bars ({px.index[0].date()}..{px.index[-1].date()}), {len(pr.fills)} fills")
    print(f"outputs: statarb vs backtrader pair fills max rel price diff {dp:.2e}, final equity rel diff "
          f"{abs(pr.equity['equity'].iloc[-1] / pb['final_equity'] - 1):.2e}; event engine vs vectorized final equity "
          f"rel diff {abs(pr.equity['equity'].iloc[-1] / vr.equity['equity'].iloc[-1] - 1):.2e}")
    med, _ = interleaved_medians({"statarb pairs": lambda: run_pairs(px), "backtrader pairs": lambda: run_pairs_backtrader(px),
                                  "vectorized": lambda: run_pairs_vectorized(targets, px)}, reps)
    for k, v in med.items(): print(f"  {k:<17} {v * 1e3:10.1f} ms  {len(px) / v:12,.0f} bars/s")
    print(f"ratio backtrader pairs / statarb pairs: {med['backtrader pairs'] / med['statarb pairs']:.2f}")
    print(f"ratio statarb pairs / vectorized: {med['statarb pairs'] / med['vectorized']:.2f}")
    if args.profile:
        print("profile of the pairs run (statarb):")
        print(profile(lambda: run_pairs(px)))
        print("profile of the single-asset run (statarb):")
        print(profile(lambda: run_statarb(df)))


if __name__ == "__main__":
    main()
