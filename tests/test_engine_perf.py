"""The object path's fast paths give the same results as the plain ones (statarb.engine, issue 4: speed).

The data handler hands out events built without re-validation from rows it checked once; `from_wide` reshapes float
frames without pandas' stack/join; the portfolio caches its net positions, marks in one pass and skips exact-zero
accruals; the backtest loop skips the event queue when a timestamp's events share one ts_recv. Each is checked
against its plain twin: the public `MarketEvent` constructor, the stack/join long frame, positions recomputed from
the books, a rate given in a form that never skips, and the event queue itself.
"""
import math

import numpy as np
import pandas as pd
import pytest

from statarb.alpha.kalman import KalmanHedge
from statarb.data.sources import load_sample
from statarb.engine.backtest import run_backtest
from statarb.engine.data_handler import BAR_FIELDS, DataHandler
from statarb.engine.events import EventError, MarketEvent
from statarb.engine.execution import ExecutionHandler, Fees, FixedSlippage, FixedSpread
from statarb.engine.portfolio import FixedNotional, Portfolio
from statarb.engine.strategy import PairsStrategy, Strategy

KF = KalmanHedge(delta=1e-6, observation_covariance=0.2, initial_state_covariance=np.eye(2) * 10.0)


@pytest.fixture(scope="module")
def px() -> pd.DataFrame:
    p = load_sample("sp500_20stocks").loc["2012":"2016", ["KO", "PEP", "XOM", "CVX"]]
    return p.tz_localize("UTC") if p.index.tz is None else p


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    "Real S&P 500 OHLCV bars, 2008 (volume and a real high/low range), as a long bar frame."
    d = load_sample("sp500_ohlcv").loc["2008"]
    return d.rename_axis("timestamp").reset_index().assign(symbol="SPX")


def _public(e: MarketEvent) -> MarketEvent:
    "The same event through the public, validating constructor."
    f = ("open", "high", "low", "close", "volume") if e.kind == "bar" else ("bid", "ask", "bid_size", "ask_size")
    return MarketEvent(e.ts_event, e.ts_recv, symbol=e.symbol, kind=e.kind, **{k: getattr(e, k) for k in f})


def test_trusted_events_equal_public_construction(spx):
    dh = DataHandler(bars=spx, latency=250)
    n = 0
    while dh.continue_backtest:
        for e in dh.update_bars():
            assert e == _public(e) and repr(e) == repr(_public(e))
            assert type(e.ts_event) is int and type(e.ts_recv) is int and type(e.close) is float
            assert e.close == dh.get_latest_bar_value("SPX") and e.volume == dh.get_latest_bars("SPX")["volume"].iloc[-1]
            n += 1
    assert n == len(spx)
    with pytest.raises(AttributeError, match="cannot assign"):
        e.close = 1.0                                                      # still frozen


def test_rows_that_fail_the_event_checks_are_refused_at_construction(spx):
    "The schema allows a bar whose open is above its high (it checks high >= low only); the data handler does not."
    bad = spx.copy()
    bad.loc[3, "open"] = bad.loc[3, "high"] * 1.01
    with pytest.raises(ValueError, match="bars of 'SPX' must have positive prices with low <= open, close <= high and "
                                         r"volume >= 0; got 1 bad rows \(first at 2008-01-07"):
        DataHandler(bars=bad)
    dh2 = DataHandler(bars=spx)
    dh2.latency = -5                                                       # the public constructor catches it
    with pytest.raises(EventError, match="ts_recv must be >= ts_event"):
        dh2.update_bars()


def test_quotes_trusted_and_crossed():
    t = pd.to_datetime(["2020-01-02 14:30:00", "2020-01-02 14:30:01", "2020-01-02 14:30:02"], utc=True)
    q = pd.DataFrame({"timestamp": t, "symbol": "A", "bid": [9.99, 10.0, 10.01], "ask": [10.01, 10.02, 10.03],
                      "bid_size": [100.0, np.nan, 5.0], "ask_size": [300.0, 100.0, 0.0]})
    dh = DataHandler(quotes=q, latency=3)
    evs = [e for _ in range(3) for e in dh.update_bars()]
    assert [(e.bid, e.ask, e.latency) for e in evs] == [(9.99, 10.01, 3), (10.0, 10.02, 3), (10.01, 10.03, 3)]
    assert all(e == _public(e) for e in evs) and math.isnan(evs[1].bid_size)
    assert dh.get_latest_quote("A") == evs[-1]


def _stacked(close: pd.DataFrame, **parts) -> pd.DataFrame:
    "The long frame by pandas' stack and join (from_wide's general path)."
    long = None
    for name, w in {"close": close, **parts}.items():
        s = w.rename_axis(index="timestamp", columns="symbol").stack(future_stack=True).rename(name)
        long = s.to_frame() if long is None else long.join(s)
    return long[long["close"].notna()].reset_index()


def _same_handler(a: DataHandler, b: DataHandler) -> None:
    assert list(a.bars) == list(b.bars)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    for s in a.bars:
        np.testing.assert_array_equal(a.bars[s].ts, b.bars[s].ts)
        for f in BAR_FIELDS: np.testing.assert_array_equal(a.bars[s].cols[f], b.bars[s].cols[f])


def test_from_wide_reshape_equals_stack_and_join(px):
    close = px.copy()
    close.iloc[5:40, 1] = np.nan                                           # a gap in PEP
    close.iloc[:10, 3] = np.nan                                            # CVX starts late
    rng = np.random.default_rng(0)
    vol = pd.DataFrame(rng.uniform(1e5, 1e6, close.shape), index=close.index, columns=close.columns)
    hi, lo = close * 1.01, close * 0.99
    _same_handler(DataHandler.from_wide(close, high=hi, low=lo, volume=vol),
                  DataHandler(bars=_stacked(close, high=hi, low=lo, volume=vol)))
    naive = close.tz_localize(None)                                        # naive index: taken as UTC on both paths
    _same_handler(DataHandler.from_wide(naive), DataHandler(bars=_stacked(naive)))
    ints = (close.fillna(0) * 100).round().astype("int64").replace(0, 1)   # not float: the stack/join path
    _same_handler(DataHandler.from_wide(ints), DataHandler(bars=_stacked(ints)))


def test_history_is_a_read_only_view(px):
    dh = DataHandler.from_wide(px)
    for _ in range(50): dh.update_bars()
    h = dh.history("KO", "close", 20)
    np.testing.assert_array_equal(h, dh.bars["KO"].cols["close"][30:50])
    assert not h.flags.writeable and dh.bars["KO"].cols["close"].flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        h[0] = 1.0


def _pairs_run(px, **pf_kw):
    dh = DataHandler.from_wide(px)
    st = PairsStrategy(dh, [("KO", "PEP"), ("XOM", "CVX"), ("KO", "XOM")], window=20, entry=1.0, exit=0.2, kalman=KF)
    pf = Portfolio(dh, initial_cash=1e6, sizing=FixedNotional(1e5, lot=1.0), **pf_kw)
    ex = ExecutionHandler(dh, spread=FixedSpread(2.0), slippage=FixedSlippage(1.0), fees=Fees(bps=1.0, minimum=1.0))
    return run_backtest(dh, st, pf, ex), pf


def test_cached_positions_and_one_pass_mark(px):
    res, pf = _pairs_run(px, borrow=0.01, cash_rate=0.02)
    net: dict = {}
    for g in pf.groups.values():
        for s, q in g.pos.items(): net[s] = net.get(s, 0.0) + q
    assert pf.positions == {s: q for s, q in net.items() if q != 0} and list(pf.positions) == [s for s in net if net[s] != 0]
    p = pf.positions
    p["ZZZ"] = 1.0                                                         # a copy: the books do not change
    assert "ZZZ" not in pf.positions
    last = res.equity.iloc[-1]
    gross, net_exp = pf.exposure()
    assert (last["cash"], last["equity"], last["gross"], last["net"]) == (pf.cash, pf.equity, gross, net_exp)
    fills = res.fills
    assert len(fills) > 50
    replay = fills.assign(v=fills["quantity"]).groupby("symbol")["v"].sum()
    for s, q in pf.positions.items(): assert q == pytest.approx(replay[s], abs=1e-9)


def test_zero_rates_skipped_exactly(px):
    "A zero rate as a number (skipped) and as a table or a series (computed) give the same books, to the bit."
    a, pa = _pairs_run(px, borrow=0.0, cash_rate=0.0)
    b, pb = _pairs_run(px, borrow={"KO": 0.0}, cash_rate=pd.Series(0.0, index=px.index[:1]))
    pd.testing.assert_frame_equal(a.equity, b.equity, check_exact=True)
    pd.testing.assert_frame_equal(a.groups, b.groups, check_exact=True)
    assert (pa.cash, pa.borrow_paid, pa.interest) == (pb.cash, pb.borrow_paid, pb.interest)
    assert (a.equity["gross"] > 0).any()                                  # it traded, shorts included


class _Skewed(DataHandler):
    "A data handler whose symbols arrive with different delays (the base class has one latency for all)."
    delay = {"KO": 9, "PEP": 2}
    def update_bars(self):
        out = super().update_bars()
        return [MarketEvent(e.ts_event, e.ts_event + self.delay[e.symbol], symbol=e.symbol, open=e.open, high=e.high,
                            low=e.low, close=e.close, volume=e.volume) for e in out]


class _Seen(Strategy):
    def __init__(self, data):
        super().__init__(data)
        self.seen = []
    def on_market_event(self, e):
        self.seen.append((e.symbol, e.ts_recv))
        return []


def test_events_received_apart_go_through_the_queue(px):
    dh = _Skewed.from_wide(px[["KO", "PEP"]].iloc[:5])
    st = _Seen(dh)
    run_backtest(dh, st)
    assert [s for s, _ in st.seen[:4]] == ["PEP", "KO", "PEP", "KO"]      # by ts_recv, not by symbol
    dh2 = DataHandler.from_wide(px[["KO", "PEP"]].iloc[:5])
    st2 = _Seen(dh2)
    run_backtest(dh2, st2)
    assert [s for s, _ in st2.seen[:4]] == ["KO", "PEP", "KO", "PEP"]     # one ts_recv: the data handler's order


def test_wide_bars_equal_bars_frame_of_the_stacked_frames(px):
    "The from_wide shortcut builds exactly the frame bars_frame makes of the stacked wide frames, or declines."
    from statarb.data.schema import bars_frame
    from statarb.engine.data_handler import _wide_bars
    close = px[sorted(px.columns)].copy()
    close.iloc[3:9, 0] = np.nan
    vol = close.notna() * 1e6 + 5.0
    for c, parts in [(close, {}), (close.tz_localize(None), {}), (close.tz_convert("America/New_York"), {}),
                     (close, {"high": close * 1.02, "low": close * 0.98, "volume": vol}), (close.iloc[:1], {})]:
        parts = {"close": c, **{k: v.set_axis(c.index) for k, v in parts.items()}}
        fast = _wide_bars(c, parts)
        assert fast is not None
        pd.testing.assert_frame_equal(fast, bars_frame(_stacked(c, **{k: v for k, v in parts.items() if k != "close"})),
                                      check_exact=True)
    assert _wide_bars(close[["PEP", "KO"]], {"close": close[["PEP", "KO"]]}) is None          # columns not sorted
    assert _wide_bars(close.iloc[::-1], {"close": close.iloc[::-1]}) is None                  # time not sorted
    rev = DataHandler.from_wide(close[["XOM", "CVX", "PEP", "KO"]])                           # the general path
    _same_handler(rev, DataHandler.from_wide(close[["CVX", "KO", "PEP", "XOM"]]))
