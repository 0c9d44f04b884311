"""Strategy, backtest loop and look-ahead guard (statarb.engine.strategy/backtest, statarb.validation.lookahead).

Oracles: the vectorised pair_signals (the online PairsStrategy must make the same decisions), an independent replay of
the accounting from the fill log (equity = initial cash + fill cash flows + positions at the closes), and the
look-ahead guard itself, which must pass the shipped strategy and catch a leaky one.
"""
import numpy as np
import pandas as pd
import pytest

from statarb.alpha.kalman import KalmanHedge
from statarb.alpha.signals import pair_signals
from statarb.data.sources import load_sample
from statarb.engine.backtest import BacktestError, run_backtest
from statarb.engine.data_handler import DataHandler
from statarb.engine.events import SignalEvent
from statarb.engine.execution import ExecutionHandler, Fees, FixedSlippage, FixedSpread
from statarb.engine.portfolio import FixedNotional, Portfolio, RiskLimits
from statarb.engine.strategy import PairsStrategy, Strategy
from statarb.validation.lookahead import check_lookahead

KF = KalmanHedge(delta=1e-6, observation_covariance=0.2, initial_state_covariance=np.eye(2) * 10.0)


@pytest.fixture(scope="module")
def px() -> pd.DataFrame:
    p = load_sample("sp500_20stocks").loc["2014":"2019", ["KO", "PEP", "XOM", "CVX"]]
    return p.tz_localize("UTC") if p.index.tz is None else p


def _online(px, pair, **kw):
    dh = DataHandler.from_wide(px[list(pair)])
    st = PairsStrategy(dh, [pair], **kw)
    while dh.continue_backtest:
        for e in dh.update_bars(): st.on_market_event(e)
    return st.decisions().set_index("timestamp")


@pytest.mark.parametrize("hedge, kw", [("kalman", dict(kalman=KF, window=30, entry=1.5, exit=0.3, stop=3.5)),
                                       ("rolling", dict(window=40, entry=2.0, exit=0.0)),
                                       ("kalman", dict(kalman=KalmanHedge(delta=1e-5, observation_covariance=1e-4),
                                                       window=10, entry=1.0, exit=-0.5, log=True))])
def test_online_strategy_equals_vectorised_signals(px, hedge, kw):
    on = _online(px, ("XOM", "CVX"), hedge=hedge, **kw)
    vec = pair_signals(px["XOM"], px["CVX"], hedge=hedge, **kw).frame
    np.testing.assert_array_equal(on["position"].to_numpy(), vec["position"].to_numpy())
    if hedge == "kalman": np.testing.assert_array_equal(on["z"].to_numpy(), vec["z"].to_numpy())
    else: np.testing.assert_allclose(on["z"].to_numpy(), vec["z"].to_numpy(), rtol=1e-8, atol=1e-10)
    assert (np.diff(on["position"].to_numpy()) != 0).sum() > 5


def _bt(px, pairs, limits=None, costs=True, **kw):
    dh = DataHandler.from_wide(px)
    st = PairsStrategy(dh, pairs, hedge="kalman", kalman=KF, window=30, entry=1.5, exit=0.3, **kw)
    pf = Portfolio(dh, initial_cash=1e6, sizing=FixedNotional(2e5), limits=limits)
    ex = ExecutionHandler(dh, spread=FixedSpread(2.0 if costs else 0.0), slippage=FixedSlippage(1.0 if costs else 0.0),
                          fees=Fees(bps=0.5, minimum=1.0) if costs else Fees())
    return run_backtest(dh, st, pf, ex), pf


def test_equity_replayed_from_fills(px):
    "Equity at every bar = initial cash - sum(q p + fee) of fills so far + positions x close (no borrow, no interest)."
    res, pf = _bt(px, [("KO", "PEP"), ("XOM", "CVX")])
    f = res.fills
    assert len(f) > 50
    closes = px.reindex(res.equity.index)
    flows = -(f["quantity"] * f["price"] + f["fee"]).groupby(f["timestamp"]).sum().reindex(res.equity.index).fillna(0.0)
    cash = 1e6 + flows.cumsum()
    pos = f.pivot_table(index="timestamp", columns="symbol", values="quantity", aggfunc="sum").reindex(res.equity.index).fillna(0.0).cumsum()
    equity = cash + (pos * closes[pos.columns]).sum(axis=1)
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), equity.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.equity["cash"].to_numpy(), cash.to_numpy(), rtol=1e-10)


def test_orders_fill_after_their_decision_and_never_vanish(px):
    res, pf = _bt(px, [("KO", "PEP")])
    o = res.orders.set_index("order_id")
    f = res.fills
    assert (f["timestamp"].to_numpy() > o.loc[f["order_id"], "timestamp"].to_numpy()).all()
    filled = f.groupby("order_id")["quantity"].sum()
    done = set(filled.index)
    assert set(o.index) == done | {e.order_id for e in res.events if type(e).__name__ in ("OrderCancelled", "OrderRejected")}
    np.testing.assert_allclose(filled.to_numpy(), o.loc[filled.index, "quantity"].to_numpy())


def test_costs_lower_pnl_by_exactly_their_amount_when_trades_are_the_same(px):
    with_costs, _ = _bt(px, [("KO", "PEP")])
    free, _ = _bt(px, [("KO", "PEP")], costs=False)
    a, b = with_costs.fills, free.fills
    np.testing.assert_array_equal(a["quantity"].to_numpy(), b["quantity"].to_numpy())      # sizing at closes: same trades
    paid = a["fee"].sum() + a["spread_cost"].sum() + a["slippage_cost"].sum()
    diff = free.equity["equity"].iloc[-1] - with_costs.equity["equity"].iloc[-1]
    assert diff == pytest.approx(paid, rel=1e-9)


def test_risk_limit_rejections_are_events(px):
    res, _ = _bt(px, [("KO", "PEP"), ("XOM", "CVX")], limits=RiskLimits(max_gross=0.3))
    assert len(res.rejections) > 0
    assert res.rejections["reason"].str.contains("above max_gross=0.3").all()
    assert (res.equity["gross"] <= 0.3 * res.equity["equity"] * 1.05).all()    # 5%: prices move after entry


def test_drawdown_breaker_flattens_and_stays_out(px):
    res, pf = _bt(px, [("KO", "PEP"), ("XOM", "CVX")], limits=RiskLimits(max_drawdown=0.01))
    assert pf.halted
    dd = res.equity["equity"] / res.equity["equity"].cummax() - 1
    hit = dd.index[dd < -0.01][0]
    later = res.equity.loc[hit:].iloc[3:]
    assert (later["gross"] == 0).all()


def test_strategy_errors_stop_the_run(px):
    class Bad(Strategy):
        def on_market_event(self, e): return [e]
    dh = DataHandler.from_wide(px)
    with pytest.raises(BacktestError, match="strategy returned MarketEvent, not a SignalEvent"):
        run_backtest(dh, Bad(dh))


# ------------------------------------------------------------------------------------------------ look-ahead guard
@pytest.mark.parametrize("hedge", ["kalman", "rolling"])
def test_guard_passes_the_shipped_strategy(px, hedge):
    kw = dict(kalman=KF, window=30, entry=1.5, exit=0.3) if hedge == "kalman" else dict(window=60)
    res = check_lookahead(lambda d: PairsStrategy(d, [("KO", "PEP"), ("XOM", "CVX")], hedge=hedge, **kw), px, cuts=5)
    assert res.passed and res.n_decisions > 1000 and res.cuts["decisions_compared"].iloc[-1] > 1000


def test_guard_catches_a_centred_rolling_mean(px):
    class Leaky(Strategy):
        def __init__(self, d):
            super().__init__(d)
            s = pd.Series(d.bars["KO"].cols["close"] - d.bars["PEP"].cols["close"],
                          index=pd.to_datetime(d.bars["KO"].ts, utc=True))
            self.z = (s - s.rolling(21, center=True).mean()) / s.rolling(21, center=True).std()
            self.pos = 0
        def on_market_event(self, e):
            if e.symbol != "KO": return []
            z = self.z.get(e.time, np.nan)
            new = -1 if z > 1.5 else (1 if z < -1.5 else (0 if abs(z) < 0.3 else self.pos))
            if new == self.pos or z != z: return []
            self.pos = new
            return [SignalEvent(e.ts_event, e.ts_recv, group="KO/PEP", direction=float(new), weights=(("KO", 1.0), ("PEP", -1.0)))]
    res = check_lookahead(Leaky, px[["KO", "PEP"]], cuts=5)
    assert not res.passed and "KO/PEP" in res.first_difference


def test_guard_catches_a_one_bar_peek(px):
    "A subtler leak: the decision at t uses the close of t+1 read straight from the handler's arrays."
    class Peek(Strategy):
        def on_market_event(self, e):
            s = self.data.bars["KO"]
            if e.symbol != "KO" or s.known >= len(s.ts): return []
            up = s.cols["close"][s.known] > s.cols["close"][s.known - 1]          # tomorrow's close: a leak
            return [SignalEvent(e.ts_event, e.ts_recv, group="KO", direction=1.0 if up else -1.0, weights=(("KO", 1.0),))]
    res = check_lookahead(Peek, px[["KO", "PEP"]], cuts=4)
    assert not res.passed


def test_time_varying_borrow_and_cash_rate():
    "Short 10 B held over marks; the borrow rate steps from 10% to 20% a year; cash earns 3.65% a year."
    ix = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]).tz_localize("UTC")
    close = pd.DataFrame({"A": [10.0] * 4, "B": [20.0, 20.0, 22.0, 22.0]}, index=ix)
    dh = DataHandler.from_wide(close)
    rates = pd.DataFrame({"B": [0.10, 0.20]}, index=pd.to_datetime(["2019-12-31", "2020-01-04"]).tz_localize("UTC"))
    pf = Portfolio(dh, initial_cash=1000.0, sizing=lambda s, p: {"B": -10.0}, borrow=rates, cash_rate=0.0365)
    ex = ExecutionHandler(dh)
    for day in range(4):
        ev = dh.update_bars()
        for f in ex.on_bars(ev): pf.on_fill(f)
        pf.mark(dh.now, dh.now)
        if day == 0:
            for o in pf.on_signal(SignalEvent(dh.now, dh.now, group="B", direction=-1.0, weights=(("B", 1.0),))): ex.submit(o)
    # filled on day 2 at 20; marks: day2 (holds from here), day3 (+3 days at 10%: rate as of day 2), day4 (+1 day at 20%)
    borrow = 0.10 * 10 * 20.0 * 3 / 365 + 0.20 * 10 * 22.0 * 1 / 365
    assert pf.borrow_paid == pytest.approx(borrow, rel=1e-12)
    c1 = 1200.0                                                       # cash after the short sale
    i1 = 1000.0 * 0.0365 * 1 / 365                                    # day1 -> day2 on 1000
    c2 = c1 + i1
    i2 = c2 * 0.0365 * 3 / 365
    c3 = c2 + i2 - 0.10 * 10 * 20.0 * 3 / 365
    i3 = c3 * 0.0365 / 365
    assert pf.interest == pytest.approx(i1 + i2 + i3, rel=1e-12)
    assert pf.equity == pytest.approx(c3 + i3 - 0.20 * 10 * 22.0 / 365 - 10 * 22.0, rel=1e-12)


def test_stop_loss_closes_the_group_and_waits_for_flat(px):
    res, pf = _bt(px, [("XOM", "CVX")], limits=RiskLimits(stop_loss=0.01))
    assert len(pf.stops) > 0
    for ts, group, pnl, notional in pf.stops:
        assert pnl < -0.01 * notional
        t = pd.Timestamp(ts, unit="ns", tz="UTC")
        nxt = res.equity.index[res.equity.index.get_loc(t) + 1]
        assert res.equity.loc[nxt, "gross"] == 0                         # closed at the next bar
        # no new entry for the group until the strategy has signalled flat after the stop
        sig = res.signals[(res.signals["timestamp"] >= t) & (res.signals["group"] == group)]
        first_flat = sig.loc[sig["direction"] == 0, "timestamp"].min()
        fills_after = res.fills[(res.fills["timestamp"] > nxt) & (res.fills["group"] == group)]
        if len(fills_after): assert fills_after["timestamp"].min() > first_flat      # the flat may come on the stop bar itself


# ------------------------------------------------------------------------------------------------ vectorised twin
@pytest.mark.parametrize("hedge", ["kalman", "rolling"])
def test_vectorised_twin_agrees_with_event_engine(px, hedge):
    from statarb.engine.vectorized import targets_from_signals, vectorized_backtest
    kw = dict(kalman=KF, window=30, entry=1.5, exit=0.3, stop=3.0) if hedge == "kalman" else dict(window=50, entry=1.8, exit=0.2)
    fees = Fees(per_share=0.002, bps=0.3, minimum=2.0)
    dh = DataHandler.from_wide(px)
    st = PairsStrategy(dh, [("KO", "PEP"), ("XOM", "CVX")], hedge=hedge, **kw)
    ev = run_backtest(dh, st, Portfolio(dh, 5e5, sizing=FixedNotional(1.5e5, lot=1.0), borrow={"PEP": 0.01, "CVX": 0.03}, cash_rate=0.01),
                      ExecutionHandler(dh, spread=FixedSpread(3.0), slippage=FixedSlippage(2.0), fees=fees))
    tg = targets_from_signals(st.decisions(), px, notional=1.5e5, lot=1.0)
    vr = vectorized_backtest(tg, px, half_spread_bps=3.0, slippage_bps=2.0, fees=fees, borrow={"PEP": 0.01, "CVX": 0.03},
                             cash_rate=0.01, initial_cash=5e5)
    assert len(ev.fills) > 40 and len(vr.trades) == len(ev.fills)
    np.testing.assert_allclose(vr.equity.to_numpy(), ev.equity.to_numpy(), rtol=1e-10, atol=1e-6)
    a = ev.fills.sort_values(["timestamp", "group", "symbol"])[["quantity", "price", "fee"]].to_numpy()
    b = vr.trades.sort_values(["timestamp", "group", "symbol"])[["quantity", "price", "fee"]].to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-12)


# ------------------------------------------------------------------------------------------------ baskets
def _run_strategy(st):
    dh = st.data
    while dh.continue_backtest:
        for e in dh.update_bars(): st.on_market_event(e)
    return st.decisions().set_index("timestamp")


@pytest.mark.parametrize("bands", [None, (1.0, 0.0)])
def test_static_basket_equals_pair_signals(px, bands):
    from statarb.alpha.signals import Bands
    from statarb.engine.strategy import BasketStrategy
    b = None if bands is None else Bands(*bands)
    kw = dict(zscore_window=50) | (dict(entry=1.5, exit=0.3) if b is None else dict(bands=b))
    st = BasketStrategy(DataHandler.from_wide(px), [("XOM", "CVX")], train_end="2015-12-31", **kw)
    on = _run_strategy(st)
    vec = pair_signals(px["XOM"], px["CVX"], hedge="static", train=("2014-01-01", "2015-12-31"), window=50,
                       **({"entry": 1.5, "exit": 0.3} if b is None else {"bands": b})).frame
    assert on.index[0] > pd.Timestamp("2015-12-31", tz="UTC")
    np.testing.assert_array_equal(on["position"].to_numpy(), vec.loc[on.index, "position"].to_numpy())
    assert (np.diff(on["position"].to_numpy()) != 0).sum() > 5


def test_johansen_basket_weights_use_training_bars_only(px):
    from statarb.alpha.coint import johansen
    from statarb.engine.strategy import BasketStrategy
    st = BasketStrategy(DataHandler.from_wide(px), [("KO", "PEP", "XOM")], train_end="2016-06-30", method="johansen", log=True)
    _run_strategy(st)
    ref = johansen(np.log(px.loc[:"2016-06-30", ["KO", "PEP", "XOM"]])).eigenvectors.iloc[:, 0].to_numpy()
    np.testing.assert_allclose(st.baskets[0].weights, ref / ref[0], rtol=1e-10)
    res = check_lookahead(lambda d: BasketStrategy(d, [("KO", "PEP", "XOM")], train_end="2016-06-30", method="johansen",
                                                   log=True, zscore_window=40, entry=1.5, exit=0.2), px, cuts=4)
    assert res.passed and res.n_decisions > 500


def test_combined_strategy_trades_pairs_and_baskets_in_one_run(px):
    from statarb.engine.strategy import BasketStrategy, CombinedStrategy
    dh = DataHandler.from_wide(px)
    both = CombinedStrategy(PairsStrategy(dh, [("KO", "PEP")], hedge="kalman", kalman=KF, window=30, entry=1.5, exit=0.3),
                            BasketStrategy(dh, [{"XOM": 1.0, "CVX": -0.8}], zscore_window=40))
    res = run_backtest(dh, both, Portfolio(dh, 1e6, sizing=FixedNotional(1e5)))
    assert set(res.groups.index) == {"KO/PEP", "XOM/CVX"}
    assert set(res.fills["group"]) == {"KO/PEP", "XOM/CVX"}


# ------------------------------------------------------------------------------------------------ accounting property
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as hst  # noqa: E402


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hst.sampled_from([("KO", "PEP"), ("XOM", "CVX"), ("PEP", "XOM")]), hst.floats(0.0, 5.0), hst.floats(0.0, 5.0),
       hst.floats(0.0, 2.0), hst.sampled_from([0.0, 0.02, 0.1]), hst.sampled_from([0.0, 0.03]),
       hst.floats(1.0, 2.5), hst.integers(5, 60))
def test_equity_is_cash_plus_positions_at_every_bar(px, pair, spread_bps, slip_bps, fee_bps, borrow, cash_rate, entry, window):
    "Equity = cash + sum of positions at the closes after every bar; fees and borrow are never negative."
    data = px.loc["2016":"2017", list(pair)]
    dh = DataHandler.from_wide(data)
    st = PairsStrategy(dh, [pair], hedge="kalman", kalman=KF, window=window, entry=entry, exit=0.2)
    pf = Portfolio(dh, 1e6, sizing=FixedNotional(2e5, lot=1.0), borrow=borrow, cash_rate=cash_rate)
    ex = ExecutionHandler(dh, spread=FixedSpread(spread_bps), slippage=FixedSlippage(slip_bps), fees=Fees(bps=fee_bps, minimum=1.0))
    res = run_backtest(dh, st, pf, ex)
    f = res.fills
    pos = (f.pivot_table(index="timestamp", columns="symbol", values="quantity", aggfunc="sum")
           .reindex(res.equity.index).fillna(0.0).cumsum())
    closes = data.tz_localize("UTC") if data.index.tz is None else data
    marked = (pos * closes.reindex(res.equity.index)[pos.columns]).sum(axis=1) if len(f) else 0.0
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), (res.equity["cash"] + marked).to_numpy(), rtol=1e-12, atol=1e-6)
    assert (f["fee"] >= 0).all() and (res.groups["borrow"] >= 0).all() if len(f) else True


def test_equity_curve_keeps_nanosecond_timestamps():
    "Nanosecond-stamped bars (not representable as float64) keep their exact timestamps in the equity curve."
    idx = pd.date_range("2024-08-08 23:54:00.000000001", periods=5, freq="1000000007ns", tz="UTC").as_unit("ns")
    close = pd.DataFrame({"A": [10.0, 10.1, 10.2, 10.1, 10.0], "B": [20.0, 20.1, 20.0, 20.2, 20.1]}, index=idx)
    dh = DataHandler.from_wide(close)
    res = run_backtest(dh, PairsStrategy(dh, [("A", "B")], window=0), Portfolio(dh, 1e6))
    assert res.equity.index.equals(idx.rename("timestamp"))
