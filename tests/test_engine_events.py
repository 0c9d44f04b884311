"""Events, the event queue and the data handler (statarb.engine.events, statarb.engine.data_handler).

The queue is checked against a sort (property-based, hypothesis); the data handler against the input frame itself:
at every clock tick, what it hands out is exactly the rows with timestamp <= clock, on real prices.
"""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statarb.data.sources import load_sample
from statarb.engine.data_handler import DataHandler
from statarb.engine.events import (
    NS_PER_DAY,
    EventError,
    EventQueue,
    FillEvent,
    MarketEvent,
    OrderCancelled,
    OrderEvent,
    SignalEvent,
    from_ns,
    to_ns,
)

T0 = to_ns("2020-01-02")


def _bar(ts, recv, sym="KO", px=10.0):
    return MarketEvent(ts, recv, symbol=sym, open=px, high=px, low=px, close=px)


def _make(kind, ts, recv):
    if kind == 0: return _bar(ts, recv)
    if kind == 1: return SignalEvent(ts, recv, group="g", direction=1.0, weights=(("KO", 1.0),))
    if kind == 2: return OrderEvent(ts, recv, order_id=1, symbol="KO", quantity=1.0)
    return FillEvent(ts, recv, order_id=1, symbol="KO", quantity=1.0, price=10.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 50), st.integers(0, 5)), min_size=1, max_size=60))
def test_queue_orders_by_recv_then_priority_then_insertion(items):
    q = EventQueue()
    evs = [_make(k, T0 + t, T0 + t + lat) for k, t, lat in items]
    for e in evs: q.put(e)
    out = [q.get() for _ in range(len(evs))]
    expected = sorted(range(len(evs)), key=lambda i: (evs[i].ts_recv, evs[i].priority, i))
    assert [id(e) for e in out] == [id(evs[i]) for i in expected]
    assert all(a.ts_recv <= b.ts_recv for a, b in zip(out, out[1:]))


def test_queue_refuses_the_past_and_accepts_the_present():
    q = EventQueue()
    q.put(_bar(T0 + 10, T0 + 10))
    q.get()
    q.put(_bar(T0 + 10, T0 + 10))          # same time: fine
    with pytest.raises(EventError, match="is earlier than the queue's clock"):
        q.put(_bar(T0 + 5, T0 + 9))


@pytest.mark.parametrize("make, msg", [
    (lambda: MarketEvent(T0, T0 - 1, symbol="KO", open=1, high=1, low=1, close=1), "ts_recv must be >= ts_event"),
    (lambda: MarketEvent(T0, T0, symbol="KO", open=1, high=2, low=1, close=-1), "close must be > 0 and finite"),
    (lambda: MarketEvent(T0, T0, symbol="KO", kind="quote", bid=1.0, ask=np.inf), "ask must be > 0 and finite"),
    (lambda: OrderEvent(T0, T0, order_id=-1, symbol="KO", quantity=1), "order_id must be an int >= 0"),
    (lambda: OrderEvent(T0, T0, order_id=1, symbol="KO", quantity=1, order_type="stop"), "stop_price must not be NaN"),
    (lambda: OrderEvent(T0, T0, order_id=1, symbol="KO", quantity=np.nan), "quantity must not be NaN"),
    (lambda: FillEvent(T0, T0, order_id=1, symbol="KO", quantity=1, price=0.0), "price must be > 0 and finite"),
    (lambda: FillEvent(T0, T0, order_id=1, symbol="KO", quantity=1, price=1.0, liquidity="x"), "liquidity must be"),
    (lambda: OrderCancelled(T0, T0, order_id=1, symbol="KO", remaining=5.0), "reason must say why"),
    (lambda: SignalEvent(T0, T0, group="g", weights=(("KO", "1"),)), "must be a number; got str"),
])
def test_bad_events_are_refused(make, msg):
    with pytest.raises(EventError, match=msg.replace("(", r"\(")):
        make()


def test_events_are_immutable():
    e = _bar(T0, T0)
    with pytest.raises(AttributeError):
        e.close = 11.0


def test_ns_round_trip():
    for s in ("1990-01-02", "2008-10-10 20:00:00.123456789", "2022-12-28"):
        assert from_ns(to_ns(s)) == pd.Timestamp(s, tz="UTC")
    assert to_ns("2020-01-03") - to_ns("2020-01-02") == NS_PER_DAY


# ------------------------------------------------------------------------------------------------ data handler
@pytest.fixture(scope="module")
def two_calendars() -> pd.DataFrame:
    "KO and PEP closes 2019-2020 with PEP's rows thinned out at random: two different calendars."
    px = load_sample("sp500_20stocks").loc["2019":"2020", ["KO", "PEP"]].copy()
    rng = np.random.default_rng(11)
    px.loc[px.index[rng.random(len(px)) < 0.2], "PEP"] = np.nan
    return px


def test_handler_hands_out_exactly_the_past(two_calendars):
    px = two_calendars
    dh = DataHandler.from_wide(px)
    px = px.tz_localize("UTC") if px.index.tz is None else px
    idx = px.index
    seen = 0
    while dh.continue_backtest:
        events = dh.update_bars()
        now = from_ns(dh.now)
        assert {e.symbol for e in events} == set(px.columns[px.loc[now].notna()])
        for sym in px.columns:
            past = px[sym][idx <= now].dropna()
            assert dh.n_known(sym) == len(past)
            if len(past):
                got = dh.get_latest_bars(sym, len(past))["close"].to_numpy()
                np.testing.assert_array_equal(got, past.to_numpy())
                with pytest.raises(ValueError, match="only .* are known at"):
                    dh.get_latest_bars(sym, len(past) + 1)
        seen += 1
    assert seen == len(px)


def test_handler_adj_close_scales_the_bar():
    b = pd.DataFrame({"timestamp": pd.to_datetime(["2020-01-02", "2020-01-03"], utc=True), "symbol": "X",
                      "open": [10.0, 11.0], "high": [12.0, 12.0], "low": [9.0, 10.0], "close": [11.0, 11.5],
                      "adj_close": [5.5, 11.5], "volume": [1.0, 1.0]})
    dh = DataHandler(bars=b, price="adj_close")
    dh.update_bars()
    bar = dh.get_latest_bars("X")
    np.testing.assert_allclose(bar[["open", "high", "low", "close"]].to_numpy()[0], [5.0, 6.0, 4.5, 5.5])
    with pytest.raises(ValueError, match="price must be 'close' or 'adj_close'"):
        DataHandler(bars=b, price="mid")


def test_handler_bad_requests(two_calendars):
    dh = DataHandler.from_wide(two_calendars)
    with pytest.raises(ValueError, match="no bar of 'KO' is known yet"):
        dh.get_latest_bar_value("KO")
    dh.update_bars()
    with pytest.raises(KeyError, match="no bars for symbol 'XOM'; known: KO, PEP"):
        dh.get_latest_bars("XOM")
    with pytest.raises(ValueError, match="field must be one of"):
        dh.get_latest_bar_value("KO", "vwap")
    with pytest.raises(ValueError, match="n must be"):
        dh.get_latest_bars("KO", 0)


def test_handler_refuses_inconsistent_bars_and_crossed_quotes_at_construction(two_calendars):
    px = two_calendars.dropna()
    with pytest.raises(ValueError, match=r"bars of 'KO' must have positive prices with low <= open, close <= high and "
                                         r"volume >= 0; got \d+ bad rows \(first at 2019-01-0\d: open="):
        DataHandler.from_wide(px, high=px * 0.99, low=px * 0.98)
    q = pd.DataFrame({"timestamp": pd.to_datetime(["2020-01-02 14:30", "2020-01-02 14:31"], utc=True), "symbol": "A",
                      "bid": [10.0, 10.3], "ask": [10.1, 10.2], "bid_size": [1.0, 1.0], "ask_size": [1.0, 1.0]})
    with pytest.raises(ValueError, match="crossed|bid <= ask"):
        DataHandler(quotes=q)
