"""statarb.engine.quoting: AS / symmetric quoting on the L2 replay, and pairs-leg execution costs.

Oracles: invariants (position and cash are the sums over the fills; P&L = cash + position x mid; slice P&Ls add up),
a twin (strategies sharing one replay == each run alone), a hand-worked implementation shortfall on a synthetic book
(half-spread + taker fee), determinism under seeded latency jitter, no look-ahead (perturbing data after t* leaves the
quotes before t* unchanged), the AS mechanism (lower inventory dispersion than symmetric quoting with the same spread)
on a synthetic replay and, where ../shared/data exists, on the real Binance USD-M books.
"""
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from statarb.engine.lob import LOBFees, OrderLatency, PowerProbQueue, RiskAverseQueue
from statarb.engine.quoting import (
    PairExecutionResult,
    QuotingBacktestResult,
    QuotingParams,
    backtest_quoting,
    compare_quoting,
    execute_pair,
    quoting_table,
    synthetic_l2,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEPTH = SHARED / "hftbacktest_binance_usdm_btc_eth_depth_diffs.parquet"
TRADES = SHARED / "hftbacktest_binance_btc_eth_trades.parquet"
TICKER = SHARED / "hftbacktest_binance_usdm_btc_eth_bookticker.parquet"
needs_shared = pytest.mark.skipif(not DEPTH.exists(), reason="../shared/data is absent")

LAT = OrderLatency(entry=1_000_000, cancel=1_000_000, feed=1_000_000)
P = QuotingParams(gamma=16.0, sigma=0.025, k=100.0, T=1.0, q_max=5, order_size=1.0, requote=0.1, tick_size=0.01)


@pytest.fixture(scope="module")
def syn():
    return synthetic_l2(3000, seed=0)


@pytest.fixture(scope="module")
def syn_runs(syn):
    ev, tr = syn
    return compare_quoting(ev, tr, {"as": ("as", P), "symmetric": ("symmetric", P)}, latency=LAT, lot_size=1.0)


# ---------------------------------------------------------------- parameters
def test_params_quotes_hand():
    p = QuotingParams(gamma=1.0, sigma=0.5, k=2.0, T=4.0, q_max=3)
    assert p.spread() == pytest.approx(1 + 2 * math.log(1.5), abs=1e-12)
    b, a = p.quotes("as", 100.0, 2)
    assert (a + b) / 2 == pytest.approx(98.0, abs=1e-12) and a - b == pytest.approx(p.spread(), abs=1e-12)
    assert p.quotes("symmetric", 100.0, 2) == pytest.approx((100 - p.spread() / 2, 100 + p.spread() / 2))
    assert math.isnan(p.quotes("as", 100.0, 3)[0]) and math.isnan(p.quotes("symmetric", 100.0, -3)[1])
    fin = QuotingParams(gamma=1.0, sigma=0.5, k=2.0, T=4.0, horizon="finite")
    b0, a0 = fin.quotes("as", 100.0, 1, elapsed=0.0); b1, a1 = fin.quotes("as", 100.0, 1, elapsed=3.0)
    assert (a0 + b0) / 2 == pytest.approx(99.0) and (a1 + b1) / 2 == pytest.approx(99.75)   # T - t = 4, then 1
    b4, a4 = fin.quotes("as", 100.0, 1, elapsed=4.0)                                        # a new session
    assert (b4, a4) == pytest.approx((b0, a0))
    inf = QuotingParams(gamma=1.0, sigma=0.5, k=2.0, horizon="infinite", q_max=3)
    bi, ai = inf.quotes("as", 100.0, 0)
    assert ai - bi == pytest.approx(inf.spread())


@pytest.mark.parametrize("kw, msg", [
    (dict(gamma=0.0), "gamma must be > 0 and finite; got 0.0"),
    (dict(k=-1.0), "k must be > 0 and finite; got -1.0"),
    (dict(horizon="session"), "horizon must be one of 'rolling', 'finite', 'infinite'; got 'session'"),
    (dict(q_max=0), "q_max must be >= 1; got 0"),
    (dict(requote=0.0), "requote must be > 0 and finite; got 0.0"),
    (dict(order_size=-1.0), "order_size must be > 0 and finite; got -1.0"),
    (dict(symmetric_spread=-0.1), "symmetric_spread must be > 0 and finite; got -0.1"),
])
def test_params_errors(kw, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        QuotingParams(**kw)


# ---------------------------------------------------------------- backtest invariants
def test_position_and_cash_are_sums_over_fills(syn_runs):
    for r in syn_runs.values():
        assert isinstance(r, QuotingBacktestResult)
        f = r.fills
        assert len(f) > 20
        assert r.position == pytest.approx(float((f.side * f.qty).sum()), abs=1e-12)
        assert r.cash == pytest.approx(-float((f.side * f.qty * f.price + f.fee).sum()), abs=1e-9)
        assert r.path["pnl"].iloc[-1] == pytest.approx(r.cash + r.position * r.path["mid"].iloc[-1], abs=1e-9)
        assert r.slices["pnl"].sum() == pytest.approx(r.path["pnl"].iloc[-1], abs=1e-9)
        assert r.path["position"].iloc[-1] == pytest.approx(r.position, abs=1e-12)


def test_single_strategy_matches_exchange_accounting(syn):
    """One strategy alone on the exchange: its position/cash equal L2Exchange's own books (a second accountant)."""
    from statarb.engine import quoting as Qm
    ev, tr = syn
    seen = {}
    orig = Qm.L2Exchange
    class Spy(orig):
        def __init__(self, *a, **k):
            super().__init__(*a, **k); seen["ex"] = self
    Qm.L2Exchange = Spy
    try: r = backtest_quoting(ev, tr, P, "symmetric", latency=LAT, lot_size=1.0, fees=LOBFees(maker=-0.0001, taker=0.0004))
    finally: Qm.L2Exchange = orig
    ex = seen["ex"]
    assert r.position == pytest.approx(ex.position, abs=1e-12)
    assert r.cash == pytest.approx(ex.cash, abs=1e-9)
    assert float(r.fills["fee"].sum()) == pytest.approx(ex.fees_paid, abs=1e-12)
    assert float(r.fills["fee"].sum()) < 0                        # maker rebates


def test_inventory_limit_and_quotes_rounded(syn_runs):
    for r in syn_runs.values():
        q = r.quotes
        assert np.allclose(np.round(q.price / 0.01), q.price / 0.01)
        assert r.path["inventory_seen"].abs().max() <= 5 + 1 + 1e-9      # at most one order in flight past the limit


def test_as_lowers_inventory_dispersion_synthetic(syn_runs):
    a, s = syn_runs["as"].stats(), syn_runs["symmetric"].stats()
    assert a["inventory_std"] < 0.5 * s["inventory_std"]
    assert abs(a["spread"] - s["spread"]) < 0.01                      # same average spread (up to tick rounding)


def test_shared_replay_equals_alone(syn, syn_runs):
    ev, tr = syn
    for nm in ("as", "symmetric"):
        alone = backtest_quoting(ev, tr, P, nm, latency=LAT, lot_size=1.0)
        cols = ["ts_event", "order_id", "side", "price", "qty", "liquidity"]
        shared = syn_runs[nm].fills
        assert alone.fills[cols[:1] + cols[2:]].values.tolist() == shared[cols[:1] + cols[2:]].values.tolist()
        pd.testing.assert_series_equal(alone.path["pnl"], syn_runs[nm].path["pnl"])


def test_deterministic_with_seeded_jitter(syn):
    ev, tr = syn
    lat = OrderLatency(entry=1_000_000, cancel=1_000_000, feed=1_000_000, jitter=20e6, seed=7)
    r1 = backtest_quoting(ev, tr, P, "as", latency=lat, lot_size=1.0)
    r2 = backtest_quoting(ev, tr, P, "as", latency=lat, lot_size=1.0)
    pd.testing.assert_frame_equal(r1.fills, r2.fills); pd.testing.assert_frame_equal(r1.path, r2.path)
    r3 = backtest_quoting(ev, tr, P, "as", latency=OrderLatency(entry=1_000_000, cancel=1_000_000, feed=1_000_000,
                                                                 jitter=20e6, seed=8), lot_size=1.0)
    assert not r1.fills[["ts_event", "price"]].equals(r3.fills[["ts_event", "price"]])    # the seed matters


def test_no_lookahead(syn):
    ev, tr = syn
    base = backtest_quoting(ev, tr, P, "as", latency=LAT, lot_size=1.0)
    cut = int(ev["ts_event"].iloc[len(ev) // 2])
    ev2 = ev.assign(qty=np.where(ev["ts_event"] > cut, ev["qty"] * 3, ev["qty"]),
                    price=ev["price"])
    # also move every later trade to the other side of the book
    tr2 = tr.copy(); late = tr2["ts_event"] > cut
    tr2.loc[late, "side"] = -tr2.loc[late, "side"]
    pert = backtest_quoting(ev2, tr2, P, "as", latency=LAT, lot_size=1.0)
    before = lambda r: r.quotes[r.quotes["ts"].astype("int64") < cut][["ts", "side", "price", "qty"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(before(pert), before(base))
    assert len(before(base)) > 50
    p0 = base.path[base.path.index.asi8 < cut]; p1 = pert.path[pert.path.index.asi8 < cut]
    pd.testing.assert_frame_equal(p0[["bid", "ask", "mid_seen", "inventory_seen"]], p1[["bid", "ask", "mid_seen", "inventory_seen"]])
    assert not pert.quotes.equals(base.quotes)                          # the perturbation did bite later on


def test_feed_latency_delays_what_is_seen(syn):
    """With a feed latency the quotes react later: the mid seen at t is the exchange mid of t - feed."""
    ev, tr = syn
    lat = OrderLatency(entry=0, cancel=0, feed=30_000_000)               # 30 ms, less than a 50 ms book step
    r = backtest_quoting(ev, tr, P, "symmetric", latency=lat, lot_size=1.0)
    from statarb.engine.quoting import _mid_at, _true_mid
    ts, mid = _true_mid(ev)
    t = r.path.index.asi8
    np.testing.assert_allclose(r.path["mid_seen"].to_numpy(), _mid_at(ts, mid, t - 30_000_000))


def test_backtest_errors(syn):
    ev, tr = syn
    with pytest.raises(ValueError, match="strategy must be one of 'as', 'symmetric', 'glft'; got 'naive'"):
        backtest_quoting(ev, tr, P, "naive")
    with pytest.raises(ValueError, match="strategy 'glft' needs params.A"):
        backtest_quoting(ev, tr, P, "glft")
    with pytest.raises(TypeError, match="params must be QuotingParams"):
        backtest_quoting(ev, tr, {"gamma": 1.0})
    with pytest.raises(ValueError, match="configs must name at least one"):
        compare_quoting(ev, tr, {})
    with pytest.raises(TypeError, match=r"configs\['x'\] must be a \(strategy, QuotingParams\) tuple"):
        compare_quoting(ev, tr, {"x": "as"})
    with pytest.raises(ValueError, match="one requote clock"):
        compare_quoting(ev, tr, {"a": ("as", P), "b": ("as", QuotingParams(gamma=1.0, requote=0.5))})
    with pytest.raises(ValueError, match="end must be after start"):
        backtest_quoting(ev, tr, P, start="2024-01-01 00:01", end="2024-01-01 00:00:30")
    with pytest.raises(ValueError, match="n_slices must be >= 1"):
        backtest_quoting(ev, tr, P, n_slices=0)


def test_glft_runs(syn):
    ev, tr = syn
    p = QuotingParams(gamma=16.0, sigma=0.025, k=100.0, A=20.0, q_max=5, order_size=1.0, requote=0.1, tick_size=0.01)
    r = backtest_quoting(ev, tr, p, "glft", latency=LAT, lot_size=1.0)
    assert len(r.fills) > 0 and r.path["inventory"].abs().max() <= 7
    assert quoting_table([r]).shape[0] == 1


# ---------------------------------------------------------------- pairs-leg execution
def _flat(bid, ask, n=400, step=50_000_000):
    rows = [(0, 0, 1, 1, 0, 1, bid, 10.0, "snapshot"), (0, 0, 1, 1, 0, -1, ask, 10.0, "snapshot")]
    rows += [(i * step, i * step, i + 1, i + 1, i, 1, bid, 10.0, "diff") for i in range(1, n)]
    ev = pd.DataFrame(rows, columns=["ts_event", "ts_recv", "first_update_id", "last_update_id", "prev_update_id", "side",
                                     "price", "qty", "kind"])
    return ev.astype({"side": np.int8}), None


def test_marketable_shortfall_is_half_spread_plus_fee():
    r = execute_pair(_flat(99.0, 101.0), _flat(49.0, 51.0), [1_000_000_000], 100.0, strategy="market",
                     tick_size=(1.0, 1.0), fees=LOBFees(maker=0.0, taker=0.0005))
    assert isinstance(r, PairExecutionResult)
    o = r.orders.iloc[0]
    # leg 1 buys 1 at 101 vs mid 100, leg 2 sells 2 at 49 vs mid 50: 3 USD of half-spread + 5 bps of 199 USD traded
    assert o["is_usd"] == pytest.approx(3 + 0.0005 * 199, abs=1e-12)
    # in bps: the notional-weighted half-spreads (100 bps on leg 1, 200 bps on leg 2: 150) plus the fee
    assert o["is_bps"] == pytest.approx((100 * 100 + 200 * 100) / 200 + 0.0005 * 199 / 200 * 1e4, abs=1e-9)
    assert o["fees_bps"] == pytest.approx(4.975, abs=1e-9)
    assert (o["qty1"], o["qty2"], o["fill_ratio"], o["maker_share"]) == (1.0, 2.0, 1.0, 0.0)
    # reversed direction: sell leg 1 at 99, buy leg 2 at 51: the same cost
    r2 = execute_pair(_flat(99.0, 101.0), _flat(49.0, 51.0), [1_000_000_000], 100.0, direction=-1, strategy="market",
                      tick_size=(1.0, 1.0), fees=LOBFees(maker=0.0, taker=0.0005))
    assert r2.orders["is_usd"].iloc[0] == pytest.approx(3 + 0.0005 * (99 + 102), abs=1e-12)


def test_marketable_walks_the_book():
    """A parent larger than the touch pays the deeper level too."""
    ev, _ = _flat(99.0, 101.0)
    extra = pd.DataFrame([(0, 0, 1, 1, 0, -1, 102.0, 10.0, "snapshot")], columns=ev.columns).astype({"side": np.int8})
    ev = pd.concat([ev.iloc[:2], extra, ev.iloc[2:]], ignore_index=True)
    r = execute_pair((ev, None), _flat(49.0, 51.0), [1_000_000_000], 1500.0, strategy="market", tick_size=(1.0, 1.0))
    f = r.fills[r.fills.leg == 1]
    assert sorted(zip(f.price, f.qty)) == [(101.0, 10.0), (102.0, 5.0)]


def test_pair_strategies_synthetic():
    l1, l2 = synthetic_l2(3000, seed=1), synthetic_l2(3000, seed=2)
    starts = [int(l1[0]["ts_event"].iloc[0]) + int(1e9) + i * int(16e9) for i in range(8)]
    kw = dict(direction=[1, -1] * 4, timeout=10.0, tick_size=(0.01, 0.01), lot_size=(1.0, 1.0), latency=LAT,
              fees=LOBFees(maker=0.0002, taker=0.0005))
    st = {s: execute_pair(l1, l2, starts, 500.0, strategy=s, **kw).stats() for s in ("market", "passive", "passive_hedged")}
    assert st["market"]["maker_share"] == 0.0 and st["market"]["fees_bps"] == pytest.approx(5.0, abs=1e-3)
    assert st["passive"]["maker_share"] > 0.3
    assert st["passive_hedged"]["unhedged_s"] < st["passive"]["unhedged_s"]
    assert st["passive"]["fill_ratio"] == pytest.approx(1.0, abs=1e-12) and st["market"]["fill_ratio"] == pytest.approx(1.0, abs=1e-12)
    # every parent completes, and IS is the fills' own arithmetic
    r = execute_pair(l1, l2, starts, 500.0, strategy="passive", **kw)
    for n, o in r.orders.iterrows():
        f = r.fills[r.fills.parent == n]
        side = np.where(f.leg == 1, o["direction"], -o["direction"]); mid = np.where(f.leg == 1, o["arrival_mid1"], o["arrival_mid2"])
        assert o["is_usd"] == pytest.approx(float((side * (f.price - mid) * f.qty + f.fee).sum()), abs=1e-9)


def test_pair_errors():
    a, b = _flat(99.0, 101.0), _flat(49.0, 51.0)
    with pytest.raises(ValueError, match="starts must be increasing and at least"):
        execute_pair(a, b, [1_000_000_000, 2_000_000_000], 100.0)
    with pytest.raises(ValueError, match="strategy must be one of"):
        execute_pair(a, b, [1_000_000_000], 100.0, strategy="twap")
    with pytest.raises(ValueError, match=r"direction must be \+1 or -1"):
        execute_pair(a, b, [1_000_000_000], 100.0, direction=0)
    with pytest.raises(ValueError, match="notional must be > 0"):
        execute_pair(a, b, [1_000_000_000], -5.0)
    with pytest.raises(TypeError, match="tick_size must be a tuple"):
        execute_pair(a, b, [1_000_000_000], 100.0, tick_size=0.01)
    with pytest.raises(ValueError, match="starts must hold at least one"):
        execute_pair(a, b, [], 100.0)


# ---------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def eth():
    from statarb.engine.lob import load_binance_depth, load_binance_trades
    ev = load_binance_depth(DEPTH, symbol="ETHUSDT"); tr = load_binance_trades(TRADES, symbol="ETHUSDT")
    end = pd.Timestamp("2024-08-08 23:56:20", tz="UTC").value
    return ev[ev.ts_event <= end], tr[tr.ts_event <= end]


@needs_shared
def test_real_as_lower_inventory_std(eth):
    """On the real ETHUSDT book (2 minutes, calibrated-scale parameters), AS holds inventory tighter than symmetric
    quoting with the same spread, under both queue models. (P&L is not tested: it goes either way.)"""
    ev, tr = eth
    lat = OrderLatency(entry=5_000_000, cancel=5_000_000, feed=2_000_000)
    k, sigma = 5.6, 0.32                                                   # calibrate_as on this data (windows of 0.1 s)
    cfg = {}
    for c in (0.1, 1.0):
        p = QuotingParams(gamma=c * k, sigma=sigma, k=k, T=1.0, q_max=5, order_size=0.1, requote=0.2, tick_size=0.01)
        cfg[f"as {c}"] = ("as", p); cfg[f"sym {c}"] = ("symmetric", p)
    for qm in (PowerProbQueue(2), RiskAverseQueue()):
        out = compare_quoting(ev, tr, cfg, queue=qm, latency=lat, fees=LOBFees(0.0, 0.0004))
        for c in (0.1, 1.0):
            a, s = out[f"as {c}"].stats(), out[f"sym {c}"].stats()
            assert a["fills"] > 10 and s["fills"] > 5
            assert a["inventory_std"] < s["inventory_std"]
            r = out[f"as {c}"]
            assert r.position == pytest.approx(float((r.fills.side * r.fills.qty).sum()), abs=1e-9)


@needs_shared
def test_real_pair_market_costs_taker_fee():
    """BTCUSDT/ETHUSDT legs of 10,000 USD: a one-tick book deep enough that a marketable pair costs the taker fee plus
    under half a bp of spread and latency drift; every parent completes."""
    from statarb.engine.lob import load_binance_depth, load_binance_trades
    end = pd.Timestamp("2024-08-08 23:55:30", tz="UTC").value
    legs = []
    for sym in ("BTCUSDT", "ETHUSDT"):
        ev = load_binance_depth(DEPTH, symbol=sym); tr = load_binance_trades(TRADES, symbol=sym)
        legs.append((ev[ev.ts_event <= end], tr[tr.ts_event <= end]))
    t0 = pd.Timestamp("2024-08-08 23:54:20", tz="UTC")
    starts = [t0 + pd.Timedelta(seconds=20 * i) for i in range(3)]
    r = execute_pair(legs[0], legs[1], starts, 10_000.0, direction=[1, -1, 1], strategy="market",
                     latency=OrderLatency(entry=5_000_000, cancel=5_000_000, feed=2_000_000), fees=LOBFees(0.0002, 0.0005))
    o = r.orders
    np.testing.assert_allclose(o["fill_ratio"], 1.0, atol=1e-12)
    assert np.allclose(o["fees_bps"], 5.0, atol=0.01)
    assert ((o["is_bps"] > 4.0) & (o["is_bps"] < 6.0)).all()
