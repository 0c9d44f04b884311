"""Execution handler on real S&P 500 OHLCV bars (bundled): hand-checked fills and property-based invariants.

Invariants (hypothesis, random order streams): a fill never trades more than its order, the sum of fills of a symbol
in one bar never exceeds the participation cap, no fill happens in the bar an order was decided on or before
ts_recv + entry latency, fees are never negative and total at least the per-order minimum, buy fills are never below
the bar's low minus costs nor sell fills above its high plus costs.
"""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statarb.data.sources import load_sample
from statarb.engine.data_handler import DataHandler
from statarb.engine.events import NS_PER_DAY, FillEvent, OrderCancelled, OrderEvent, OrderRejected
from statarb.engine.execution import (
    CorwinSchultzSpread,
    ExecutionHandler,
    Fees,
    FixedSlippage,
    FixedSpread,
    Latency,
    RandomLatency,
    SquareRootImpact,
    VolatilitySlippage,
    corwin_schultz,
)


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    b = load_sample("sp500_ohlcv").loc["2008-09-01":"2008-12-31"]
    b = b.rename_axis("timestamp").reset_index().assign(symbol="SPX")
    if b["timestamp"].dt.tz is None: b["timestamp"] = b["timestamp"].dt.tz_localize("UTC")
    return b


def _run(bars, orders_at, **kw):
    "orders_at: {bar index: [order kwargs]}; returns (all events, {order_id: order})."
    dh = DataHandler(bars=bars)
    ex = ExecutionHandler(dh, **kw)
    out, orders, i, oid = [], {}, 0, 0
    while dh.continue_backtest:
        ev = dh.update_bars()
        out += ex.on_bars(ev)
        for okw in orders_at.get(i, []):
            o = OrderEvent(dh.now, dh.now + okw.pop("send_delay", 0), order_id=oid, symbol="SPX", **okw)
            orders[oid] = (o, dh.now)
            out += ex.submit(o)
            oid += 1
        i += 1
    out += ex.close(dh.now)
    return out, orders, dh


order_st = st.fixed_dictionaries({
    "quantity": st.sampled_from([-1, 1]).flatmap(lambda s: st.floats(1, 5e9).map(lambda q: s * q)),
    "order_type": st.sampled_from(["market", "limit", "stop", "take_profit"]),
    "rel": st.floats(-0.05, 0.05),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.integers(0, 80), st.lists(order_st, min_size=1, max_size=3), max_size=15),
       st.sampled_from([None, 0.01, 0.2]), st.sampled_from(["bar", "adv"]), st.integers(0, 3 * NS_PER_DAY),
       st.sampled_from(["touch", "through"]))
def test_execution_invariants(spx, plan, cap, cap_of, latency, limit_fill):
    closes = spx["close"].to_numpy()
    orders_at = {}
    for i, lst in plan.items():
        ref = closes[min(i, len(closes) - 1)]
        ks = []
        for o in lst:
            kw = {"quantity": o["quantity"], "order_type": o["order_type"]}
            if o["order_type"] in ("limit", "take_profit"): kw["limit_price"] = ref * (1 + o["rel"])
            if o["order_type"] == "stop": kw["stop_price"] = ref * (1 + o["rel"])
            ks.append(kw)
        orders_at[i] = ks
    fees = Fees(per_share=0.001, bps=0.5, minimum=1.0)
    out, orders, dh = _run(spx, orders_at, spread=FixedSpread(2.0), slippage=SquareRootImpact(eta=0.5),
                           fees=fees, participation=cap, participation_of=cap_of, latency=Latency(entry=latency),
                           limit_fill=limit_fill)
    bars = spx.set_index("timestamp")
    filled, fee_tot, per_bar = {}, {}, {}
    for e in out:
        if isinstance(e, FillEvent):
            o, decided = orders[e.order_id]
            assert e.ts_event > decided and e.ts_event >= o.ts_recv + latency
            assert math.copysign(1, e.quantity) == o.side and e.fee >= 0
            filled[e.order_id] = filled.get(e.order_id, 0.0) + e.quantity
            fee_tot[e.order_id] = fee_tot.get(e.order_id, 0.0) + e.fee
            per_bar[e.ts_event] = per_bar.get(e.ts_event, 0.0) + abs(e.quantity)
            b = bars.loc[e.time]
            costs = abs(e.spread_cost + e.slippage_cost) / abs(e.quantity)
            assert b["low"] - costs - 1e-9 <= e.price <= b["high"] + costs + 1e-9
            if o.order_type in ("limit", "take_profit"):
                assert (e.price <= o.limit_price + 1e-9) if o.side > 0 else (e.price >= o.limit_price - 1e-9)
    for oid, q in filled.items():
        o = orders[oid][0]
        assert abs(q) <= abs(o.quantity) * (1 + 1e-12)
        assert fee_tot[oid] >= fees.minimum - 1e-12
    if cap is not None:
        vol = bars["volume"]
        adv = vol.shift(1).rolling(20).mean()
        for ts, q in per_bar.items():
            t = pd.Timestamp(ts, unit="ns", tz="UTC")
            limit = cap * (vol.loc[t] if cap_of == "bar" else adv.loc[t])
            if limit == limit: assert q <= limit * (1 + 1e-12)
    # every order ends filled or cancelled, never silently dropped
    done = {e.order_id for e in out if isinstance(e, (OrderCancelled, OrderRejected))}
    for oid, (o, _) in orders.items():
        assert oid in done or abs(filled.get(oid, 0.0) - o.quantity) <= 1e-9 * abs(o.quantity)


def test_market_fill_on_real_bar(spx):
    "A buy decided on 2008-10-09 fills at the 2008-10-10 open plus 3 bps, the fee at 1 bp."
    i = int(np.flatnonzero(spx["timestamp"] == pd.Timestamp("2008-10-09", tz="UTC"))[0])
    out, _, _ = _run(spx, {i: [{"quantity": 10.0}]}, spread=FixedSpread(2.0), slippage=FixedSlippage(1.0),
                     fees=Fees(bps=1.0))
    f = [e for e in out if isinstance(e, FillEvent)]
    assert len(f) == 1 and f[0].time == pd.Timestamp("2008-10-10", tz="UTC")
    o = spx.loc[spx["timestamp"] == pd.Timestamp("2008-10-10", tz="UTC"), "open"].item()
    assert f[0].price == pytest.approx(o * 1.0003, rel=1e-14)
    assert f[0].fee == pytest.approx(10 * o * 1.0003 * 1e-4, rel=1e-14)


def test_cost_models_use_only_past_bars(spx):
    "Changing the fill bar's high, low, close and volume leaves spread and slippage estimates unchanged."
    i = 40
    kw = dict(spread=CorwinSchultzSpread(window=10), slippage=VolatilitySlippage(k=0.5, window=10))
    a, _, _ = _run(spx, {i: [{"quantity": 5.0}]}, **kw)
    spx2 = spx.copy()
    spx2.loc[i + 1, ["high", "close"]] *= 1.05
    spx2.loc[i + 1, "low"] *= 0.95
    spx2.loc[i + 1, "volume"] *= 3
    b, _, _ = _run(spx2, {i: [{"quantity": 5.0}]}, **kw)
    fa, fb = [e for e in a if isinstance(e, FillEvent)], [e for e in b if isinstance(e, FillEvent)]
    assert fa == fb and fa[0].spread_cost > 0 and fa[0].slippage_cost > 0


def test_corwin_schultz_matches_the_paper_formula(spx):
    h, lo = spx["high"].to_numpy(), spx["low"].to_numpy()
    s = corwin_schultz(h, lo)
    i = 7
    beta = np.log(h[i + 1] / lo[i + 1]) ** 2 + np.log(h[i] / lo[i]) ** 2
    gamma = np.log(max(h[i], h[i + 1]) / min(lo[i], lo[i + 1])) ** 2
    k = 3 - 2 * np.sqrt(2)
    alpha = (np.sqrt(2 * beta) - np.sqrt(beta)) / k - np.sqrt(gamma / k)
    assert s[i] == pytest.approx(max(2 * (np.exp(alpha) - 1) / (1 + np.exp(alpha)), 0.0), rel=1e-14)
    assert (s >= 0).all() and s.mean() < 0.05        # a spread of a few percent at most, even in late 2008


def test_cancel_takes_effect_after_cancel_latency(spx):
    dh = DataHandler(bars=spx)
    ex = ExecutionHandler(dh, participation=1e-9, latency=Latency(cancel=int(1.5 * NS_PER_DAY)))   # tiny cap: fills trickle
    dh.update_bars()
    ex.submit(OrderEvent(dh.now, dh.now, order_id=0, symbol="SPX", quantity=1e9))
    t0 = dh.now
    ex.cancel(0, t0)
    evs = []
    while dh.continue_backtest and 0 in ex.working: evs += ex.on_bars(dh.update_bars())
    cancels = [e for e in evs if isinstance(e, OrderCancelled)]
    assert len(cancels) == 1 and cancels[0].ts_event >= t0 + int(1.5 * NS_PER_DAY)
    assert any(isinstance(e, FillEvent) for e in evs)          # the bar before the cancel landed still filled


def test_random_latency_is_reproducible():
    a = [RandomLatency(scale=1e6, dist="lognormal", seed=5).draw_entry() for _ in range(3)]
    b = [RandomLatency(scale=1e6, dist="lognormal", seed=5).draw_entry() for _ in range(3)]
    assert a == b
    with pytest.raises(ValueError, match="dist must be one of"):
        RandomLatency(dist="pareto")


def test_fees_from_config_and_per_order_minimum():
    f = Fees.from_config()
    assert f.bps == 0.5 and f.minimum == 1.0
    fees, raw = [], 0.0
    for q in (10, 10, 5000):
        fee, raw = f.charge(q, 100.0, "taker", raw)
        fees.append(fee)
    assert sum(fees) == pytest.approx(max(1.0, 5020 * 100 * 0.5e-4), rel=1e-14) and min(fees) >= 0
