"""Order books (statarb.engine.lob): L2 replay against the recorded Binance best bid/ask, L3 (CME MBO) invariants and
FIFO, LOBSTER files, the compiled replay kernel against its pure-Python twin, queue models, latency, partial fills
and fees, and the bad-input paths."""
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from statarb.core import DataQualityWarning, compiled_kernel
from statarb.engine.lob import (
    L2Exchange,
    L3Book,
    LOBFees,
    LogProbQueue,
    OrderLatency,
    PowerProbQueue,
    RiskAverseQueue,
    compare_bookticker,
    load_binance_bookticker,
    load_binance_depth,
    load_binance_trades,
    load_databento_mbo,
    load_lobster,
    replay_l2,
    replay_l2_py,
    replay_l3,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DEPTH = SHARED / "hftbacktest_binance_usdm_btc_eth_depth_diffs.parquet"
TICKER = SHARED / "hftbacktest_binance_usdm_btc_eth_bookticker.parquet"
TRADES = SHARED / "hftbacktest_binance_btc_eth_trades.parquet"
MBO = SHARED / "nautilus_databento_cme_esh4_mbo.parquet"
needs_data = pytest.mark.skipif(not DEPTH.exists(), reason="../shared/data is absent (test-only real data)")
KERNEL = compiled_kernel("_lob", "replay_l2")
needs_compiled = pytest.mark.skipif(KERNEL is None, reason="statarb._lob is not built")


def l2(rows):
    return pd.DataFrame(rows, columns=["ts_event", "ts_recv", "first_update_id", "last_update_id", "prev_update_id",
                                       "side", "price", "qty", "kind"]).astype({"side": np.int8})


def random_stream(seed, n_msg=300, n_px=40, snapshots=(0, 150)):
    "A seeded L2 stream: snapshots at the given messages, continuous diffs in between, quantities often 0."
    rng = np.random.default_rng(seed); rows = []; uid = 100
    for m in range(n_msg):
        kind = "snapshot" if m in snapshots else "diff"
        k = rng.integers(1, 8) if kind == "diff" else 20
        first, prev = uid + 1, uid; uid += int(rng.integers(1, 5))
        for _ in range(k):
            side = int(rng.choice([1, -1])); lvl = rng.integers(0, n_px)
            px = 100.0 + (lvl - n_px if side == 1 else lvl + 1) * 0.5          # bids below 100, asks above
            q = 0.0 if (kind == "diff" and rng.random() < 0.35) else float(rng.integers(1, 9))
            rows.append((m, m, first if kind == "diff" else uid, uid, prev if kind == "diff" else -1, side, px, q, kind))
    return l2(rows)


def dict_oracle(events):
    "Independent oracle: a dict book per side, max/min after every message."
    bids, asks, out = {}, {}, []
    key = list(zip(events["kind"], events["last_update_id"]))
    for i, r in enumerate(events.itertuples(index=False)):
        if r.kind == "snapshot" and (i == 0 or key[i - 1] != key[i]): bids.clear(); asks.clear()
        book = bids if r.side == 1 else asks
        if r.qty > 0: book[r.price] = r.qty
        else: book.pop(r.price, None)
        if i == len(events) - 1 or key[i + 1] != key[i]:
            out.append((max(bids) if bids else np.nan, min(asks) if asks else np.nan))
    return out


# ---------------------------------------------------------------- L2 replay: oracle, twins, real data

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_replay_l2_matches_dict_oracle(seed):
    ev = random_stream(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        r = replay_l2(ev)
    got = list(zip(r.book["bid_price"], r.book["ask_price"]))
    np.testing.assert_array_equal(np.array(got), np.array(dict_oracle(ev)))


@pytest.mark.twins
@needs_compiled
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_replay_kernel_twins_random(seed):
    rng = np.random.default_rng(seed); n_lvl, n_msg = 30, 200
    lens = rng.integers(1, 6, n_msg); msg_start = np.zeros(n_msg + 1, np.int64); np.cumsum(lens, out=msg_start[1:])
    n = int(msg_start[-1]); mode = rng.choice(np.array([0, 0, 0, 0, 1, 2], np.int8), n_msg)
    side = rng.choice(np.array([1, -1], np.int8), n); level = rng.integers(0, n_lvl, n).astype(np.int64)
    qty = np.where(rng.random(n) < 0.4, 0.0, rng.integers(1, 9, n).astype(float))
    outs = []
    for fn in (KERNEL, replay_l2_py):
        o = [np.zeros(n_lvl), np.zeros(n_lvl), np.zeros(n_msg, np.int64), np.zeros(n_msg, np.int64), np.zeros(n_msg),
             np.zeros(n_msg), np.zeros(n_msg, np.int8), np.zeros(1, np.int64)]
        assert fn(msg_start, mode, side, level, qty, *o) == 0
        outs.append(o)
    for a, b in zip(*outs): np.testing.assert_array_equal(a, b)
    # the error codes agree too
    bad_qty = qty.copy(); bad_qty[n // 2] = -1.0
    codes = []
    for fn in (KERNEL, replay_l2_py):
        o = [np.zeros(n_lvl), np.zeros(n_lvl), np.zeros(n_msg, np.int64), np.zeros(n_msg, np.int64), np.zeros(n_msg),
             np.zeros(n_msg), np.zeros(n_msg, np.int8), np.zeros(1, np.int64)]
        codes.append((fn(msg_start, np.zeros(n_msg, np.int8), side, level, bad_qty, *o), int(o[-1][0])))
    assert codes[0] == codes[1] == (1, n // 2)


@pytest.fixture(scope="module")
def btc():
    if not DEPTH.exists(): pytest.skip("../shared/data is absent")
    return load_binance_depth(DEPTH, symbol="BTCUSDT")


@pytest.mark.twins
@needs_data
@needs_compiled
def test_replay_twins_real_data(btc):
    ev = btc.iloc[:60_000]
    a, b = replay_l2(ev, engine="compiled"), replay_l2(ev, engine="python")
    assert a.engine == "compiled" and b.engine == "python"
    pd.testing.assert_frame_equal(a.book, b.book)


@needs_data
@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_binance_book_equals_bookticker_at_equal_update_ids(symbol):
    r = replay_l2(load_binance_depth(DEPTH, symbol=symbol))
    assert r.n_gaps == 0 and r.n_crossed == 0 and r.n_dropped_before_snapshot == {"BTCUSDT": 4, "ETHUSDT": 5}[symbol]
    chk = compare_bookticker(r, load_binance_bookticker(TICKER, symbol=symbol))
    assert chk.n_exact > 500                       # 629 (BTC) and 551 (ETH) ticker ids are diff end ids
    assert chk.match_rate == 1.0 and chk.price_match_rate == 1.0 and len(chk.mismatches) == 0
    assert chk.n_asof >= r.n_messages - 1 and chk.asof_match_rate == 1.0      # ETH: the first diff precedes every ticker


@needs_data
def test_bookticker_check_can_fail(btc):
    r = replay_l2(btc.iloc[:50_000])
    t = load_binance_bookticker(TICKER, symbol="BTCUSDT")
    t = t.assign(bid_qty=t["bid_qty"] + 0.001)
    chk = compare_bookticker(r, t)
    assert chk.n_exact > 0 and chk.match_rate == 0.0 and chk.price_match_rate == 1.0


@needs_data
def test_real_gap_raises_and_resyncs(btc):
    lids = btc["last_update_id"].unique()
    holed = btc[btc["last_update_id"] != lids[100]]            # drop one diff message after the snapshot
    with pytest.raises(ValueError, match="sequence gap in the L2 events: 1 messages"):
        replay_l2(holed)
    r = replay_l2(holed, on_gap="resync")
    assert r.n_gaps == 1 and r.n_resyncs == 1
    assert r.n_skipped == int((~r.book["valid"]).sum()) == r.resyncs["n_skipped"].iloc[0] > 6000
    assert r.book.loc[~r.book["valid"], "bid_price"].isna().all()


def test_resync_resumes_at_next_snapshot():
    ev = l2([(1, 1, 10, 10, -1, 1, 99.0, 5.0, "snapshot"), (1, 1, 10, 10, -1, -1, 101.0, 4.0, "snapshot"),
             (2, 2, 11, 11, 10, 1, 99.5, 1.0, "diff"),
             (3, 3, 15, 16, 14, 1, 100.0, 1.0, "diff"),                      # gap
             (4, 4, 17, 17, 16, 1, 100.0, 0.0, "diff"),                      # skipped
             (5, 5, 20, 20, -1, 1, 98.0, 2.0, "snapshot"), (5, 5, 20, 20, -1, -1, 102.0, 2.0, "snapshot"),
             (6, 6, 21, 21, 20, -1, 101.5, 3.0, "diff")])
    r = replay_l2(ev, on_gap="resync")
    assert (r.n_gaps, r.n_skipped) == (1, 2)
    assert r.book["valid"].tolist() == [True, True, False, False, True, True]
    assert r.book["ask_price"].tolist()[-1] == 101.5 and r.book["bid_price"].tolist()[-1] == 98.0


def test_l2_bad_input():
    ok = l2([(1, 1, 10, 10, -1, 1, 99.0, 5.0, "snapshot"), (1, 1, 10, 10, -1, -1, 101.0, 4.0, "snapshot"),
             (2, 2, 11, 11, 10, 1, 100.0, 1.0, "diff")])
    with pytest.raises(ValueError, match="qty must be >= 0"): replay_l2(ok.assign(qty=[5.0, -4.0, 1.0]))
    with pytest.raises(ValueError, match="qty must be >= 0"): replay_l2(ok.assign(qty=[5.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="ts_recv must not go backwards; 1 steps back"): replay_l2(ok.assign(ts_recv=[2, 2, 1]))
    with pytest.raises(ValueError, match="kind must be 'snapshot' or 'diff'"): replay_l2(ok.assign(kind=["snapshot", "snapshot", "delta"]))
    with pytest.raises(ValueError, match="missing qty"): replay_l2(ok.drop(columns="qty"))
    with pytest.raises(ValueError, match="side must be"): replay_l2(ok.assign(side=np.array([1, -1, 0], np.int8)))
    with pytest.raises(TypeError, match="events"): replay_l2(ok.to_numpy())
    with pytest.raises(ValueError, match="on_gap"): replay_l2(ok, on_gap="ignore")
    with pytest.raises(ValueError, match="engine"): replay_l2(ok, engine="numba")
    crossed = ok.assign(price=[99.0, 101.0, 101.0])
    with pytest.raises(ValueError, match="1 of 2 messages leave a crossed book"): replay_l2(crossed, on_cross="raise")
    with pytest.warns(DataQualityWarning, match="crossed book"):
        assert replay_l2(crossed).n_crossed == 1


def test_loaders_bad_input(tmp_path):
    with pytest.raises(ValueError, match="does not exist"): load_binance_depth(tmp_path / "nope.parquet")
    df = pd.DataFrame({"symbol": ["A", "B"], "market": "usdm"})
    with pytest.raises(ValueError, match="holds symbols"): load_binance_depth(df)
    with pytest.raises(ValueError, match="symbol must be one of"): load_binance_depth(df, symbol="C")


@needs_data
def test_binance_trades_loader():
    t = load_binance_trades(TRADES, symbol="BTCUSDT")
    raw = pd.read_parquet(TRADES); raw = raw[(raw.market == "usdm") & (raw.symbol == "BTCUSDT")]
    assert len(t) == len(raw) and set(t["side"]) == {1, -1}
    assert ((t["side"] == -1).to_numpy() == raw["buyer_is_maker"].to_numpy()).all()


# ---------------------------------------------------------------- L3

@pytest.fixture(scope="module")
def es():
    if not MBO.exists(): pytest.skip("../shared/data is absent")
    ev = load_databento_mbo(MBO)
    return ev, replay_l3(ev)


def test_cme_trades_in_book_and_no_cross_after_open(es):
    ev, r = es
    assert r.n_events == len(ev) == 77_517 and r.n_unknown == 0
    assert r.n_trades == 2973 and r.n_trades_in_book == r.n_trades
    first_trade = int(np.argmax(r.book["action"].to_numpy() == "T"))
    assert pd.Timestamp(int(r.book["ts_recv"].iloc[first_trade]), tz="UTC") >= pd.Timestamp("2023-12-25 23:00", tz="UTC")
    assert r.book["crossed"].iloc[first_trade:].sum() == 0            # continuous trading: never crossed
    assert r.n_crossed == r.book["crossed"].iloc[:first_trade].sum() > 0   # pre-open: crossed orders await the auction


def test_cme_fills_follow_fifo(es):
    "CME E-mini matching is FIFO: a filled resting order has only orders filled or removed in the same packet ahead of it."
    ev, _ = es
    last = ev["last_in_packet"].to_numpy(); packet = np.concatenate([[0], np.cumsum(last[:-1])])
    act = ev["action"].to_numpy(); gone = {}
    for p, a, o in zip(packet, act, ev["order_id"].to_numpy()):
        if a in ("C", "M"): gone.setdefault(p, set()).add(o)
    bk = L3Book(); first_trade = int(np.argmax(act == "T")); n = ok = 0; filled = set(); aggr = None
    for i, r in enumerate(ev.itertuples(index=False)):
        if r.action == "T": aggr = r.side
        if i > first_trade and r.action == "F" and r.order_id in bk.orders and r.side != aggr:
            side, px, _, _ = bk.orders[r.order_id]
            q = [o for o, _ in bk.queue(side, px)]; k = q.index(r.order_id); g = gone.get(packet[i], set())
            n += 1; ok += all(o in filled or o in g for o in q[:k]); filled.add(r.order_id)
        bk.apply(r.action, r.side, r.price, int(r.size), int(r.order_id), int(r.ts_recv))
        if r.last_in_packet: filled = set()
    assert n > 6000 and ok / n > 0.99                                  # 99.4% on this file


def test_l3_fifo_queue_position():
    bk = L3Book()
    for oid, sz in [(1, 2), (2, 3), (3, 2)]: bk.apply("A", "A", 101.0, sz, oid)
    bk.add_own(-1, "A", 101.0, 3)
    assert bk.queue_ahead(-1) == 7
    bk.apply("C", "A", 101.0, 1, 2); assert bk.queue_ahead(-1) == 6          # partial cancel ahead
    bk.apply("C", "A", 101.0, 2, 1); assert bk.queue_ahead(-1) == 4          # full cancel ahead
    bk.apply("M", "A", 101.0, 1, 3); assert bk.queue_ahead(-1) == 3          # size down keeps priority
    bk.apply("M", "A", 101.0, 4, 3); assert bk.queue_ahead(-1) == 2          # size up loses it
    bk.apply("A", "A", 101.0, 9, 4); assert bk.queue_ahead(-1) == 2          # joins behind us
    bk.apply("T", "A", 101.0, 5, 0); assert bk.own_fills == []               # same-side aggressor: not us
    bk.apply("T", "B", 101.0, 3, 0)                                          # takes 2 ahead, 1 of ours
    assert bk.own_fills == [(0, -1, "A", 101.0, 1)] and bk.own[-1][2] == 2
    bk.apply("T", "B", 101.5, 1, 0)                                          # through our price: the rest
    assert bk.own[-1][2] == 0 and sum(f[4] for f in bk.own_fills) == 3
    assert bk.cancel_own(-1) is False


def test_l3_bad_input():
    bk = L3Book()
    with pytest.raises(ValueError, match="order_id 7 of a 'C' event is not in the book"): bk.apply("C", "B", 1.0, 1, 7)
    with pytest.raises(ValueError, match="order_id 7 of a 'M' event"): bk.apply("M", "B", 1.0, 1, 7)
    with pytest.raises(ValueError, match="size must be >= 0"): bk.apply("A", "B", 1.0, -2, 7)
    with pytest.raises(ValueError, match="side of an add"): bk.apply("A", "N", 1.0, 2, 7)
    counted = L3Book(on_unknown="count"); counted.apply("C", "B", 1.0, 1, 7); counted.apply("M", "B", 1.0, 1, 8)
    assert counted.n_unknown == 2
    ev = pd.DataFrame({"ts_event": [1, 2], "ts_recv": [2, 1], "action": ["A", "C"], "side": ["B", "B"], "price": [1.0, 1.0],
                       "size": [1, 1], "order_id": [1, 1], "sequence": [1, 2], "last_in_packet": [True, True]})
    with pytest.raises(ValueError, match="ts_recv must not go backwards"): replay_l3(ev)
    with pytest.raises(ValueError, match="size must be >= 0"): replay_l3(ev.assign(ts_recv=[1, 2], size=[1, -1]))
    with pytest.raises(ValueError, match="not in the book"): replay_l3(ev.assign(ts_recv=[1, 2], order_id=[1, 2]))
    assert replay_l3(ev.assign(ts_recv=[1, 2], order_id=[1, 2]), on_unknown="count").n_unknown == 1


def test_lobster_roundtrip(tmp_path):
    "A LOBSTER message file and its 2-level orderbook file, written by hand; the rebuilt book equals the file."
    msgs = [  # time, type, id, size, price*1e4, direction
        (34200.001, 1, 11, 100, 1000000, 1), (34200.002, 1, 12, 50, 1000100, -1), (34200.003, 1, 13, 30, 999900, 1),
        (34200.004, 1, 14, 70, 1000000, 1), (34200.005, 2, 11, 40, 1000000, 1), (34200.006, 4, 11, 60, 1000000, 1),
        (34200.007, 3, 12, 50, 1000100, -1), (34200.008, 1, 15, 20, 1000200, -1), (34200.009, 5, 0, 10, 1000100, 1),
        (34200.010, 7, -1, 1, -1, -1)]
    E = 9_999_999_999
    book = [  # ask_px1, ask_sz1, bid_px1, bid_sz1, ask_px2, ask_sz2, bid_px2, bid_sz2
        (E, 0, 1000000, 100, E, 0, -E, 0), (1000100, 50, 1000000, 100, E, 0, -E, 0),
        (1000100, 50, 1000000, 100, E, 0, 999900, 30), (1000100, 50, 1000000, 170, E, 0, 999900, 30),
        (1000100, 50, 1000000, 130, E, 0, 999900, 30), (1000100, 50, 1000000, 70, E, 0, 999900, 30),
        (E, 0, 1000000, 70, E, 0, 999900, 30), (1000200, 20, 1000000, 70, E, 0, 999900, 30),
        (1000200, 20, 1000000, 70, E, 0, 999900, 30), (1000200, 20, 1000000, 70, E, 0, 999900, 30)]
    pd.DataFrame(msgs).to_csv(tmp_path / "AAA_message_2.csv", header=False, index=False)
    pd.DataFrame(book).to_csv(tmp_path / "AAA_orderbook_2.csv", header=False, index=False)
    ev, ob = load_lobster(tmp_path / "AAA_message_2.csv", tmp_path / "AAA_orderbook_2.csv", date="2012-06-21")
    assert list(ob.columns[:4]) == ["ask_price_1", "ask_size_1", "bid_price_1", "bid_size_1"]
    assert ev["ts_event"].iloc[0] == pd.Timestamp("2012-06-21 09:30:00.001", tz="UTC").value
    assert (ev["action"] == "T").sum() == 2 and ev["message"].max() == 8        # the halt is dropped
    bk = L3Book(); got = []
    for k in range(len(msgs)):
        for r in ev[ev["message"] == k].itertuples(index=False): bk.apply(r.action, r.side, r.price, int(r.size), int(r.order_id))
        bids = sorted(bk.levels["B"], reverse=True)[:2]; asks = sorted(bk.levels["A"])[:2]
        row = []
        for i in range(2):
            row += [asks[i] if i < len(asks) else np.nan, bk.depth("A", asks[i]) if i < len(asks) else 0,
                    bids[i] if i < len(bids) else np.nan, bk.depth("B", bids[i]) if i < len(bids) else 0]
        got.append(row)
    np.testing.assert_allclose(np.array(got, float), ob.to_numpy(float), rtol=0, atol=1e-9)
    assert bk.queue("B", 100.0) == [(14, 70)]


def test_lobster_bad_input(tmp_path):
    p = tmp_path / "m.csv"
    pd.DataFrame([(1.0, 9, 1, 1, 10000, 1)]).to_csv(p, header=False, index=False)
    with pytest.raises(ValueError, match="event type must be in 1..7"): load_lobster(p)
    pd.DataFrame([(1.0, 1, 1, -1, 10000, 1)]).to_csv(p, header=False, index=False)
    with pytest.raises(ValueError, match="size must be >= 0"): load_lobster(p)
    pd.DataFrame([(1.0, 1, 1, 1, 10000)]).to_csv(p, header=False, index=False)
    with pytest.raises(ValueError, match="must have 6 columns"): load_lobster(p)


# ---------------------------------------------------------------- queue models

def test_queue_models_hand_computed():
    # front 6, level 10 -> 5 (back 4): p = f(4) / (f(4) + f(6))
    assert PowerProbQueue(1).depth(6.0, 10.0, 5.0, 0.0) == pytest.approx(6 - 0.6 * 5)
    assert PowerProbQueue(3).depth(6.0, 10.0, 5.0, 0.0) == pytest.approx(6 - (216 / 280) * 5)
    p = math.log(5) / (math.log(5) + math.log(7))
    assert LogProbQueue().depth(6.0, 10.0, 5.0, 0.0) == pytest.approx(6 - (1 - p) * 5)
    assert RiskAverseQueue().depth(6.0, 10.0, 5.0, 0.0) == 5.0
    assert RiskAverseQueue().depth(3.0, 10.0, 5.0, 0.0) == 3.0
    assert PowerProbQueue(1).depth(9.0, 10.0, 2.0, 0.0) == pytest.approx(9 - 0.9 * 8)
    # overflow: more attributed behind than exists behind (p chg > back): the surplus is ahead, front = new
    assert PowerProbQueue(2).depth(2.0, 10.0, 1.0, 0.0) == pytest.approx(1.0)
    # a decrease already explained by trades does not move us again; an increase joins behind
    assert PowerProbQueue(2).depth(4.0, 10.0, 7.0, 3.0) == 4.0
    assert LogProbQueue().depth(4.0, 10.0, 12.0, 0.0) == 4.0


@pytest.mark.parametrize("front,prev,new", [(2.0, 10.0, 6.0), (7.0, 10.0, 9.0), (5.0, 5.0, 1.0), (1.0, 20.0, 2.0)])
def test_queue_models_order_and_bounds(front, prev, new):
    outs = [m.depth(front, prev, new, 0.0) for m in (PowerProbQueue(0.5), PowerProbQueue(1), PowerProbQueue(3))]
    assert all(o <= new + 1e-12 and o <= front + 1e-12 for o in outs)
    if prev - front > front: assert outs[0] <= outs[1] + 1e-12 <= outs[2] + 2e-12    # larger n favours the longer side
    elif prev - front < front: assert outs[0] >= outs[1] - 1e-12 >= outs[2] - 2e-12
    assert RiskAverseQueue().depth(front, prev, new, 0.0) >= outs[2] - 1e-12


# ---------------------------------------------------------------- the L2 exchange: latency, partial fills, fees

def book_events():
    return l2([(0, 0, 1, 1, -1, 1, 100.0, 5.0, "snapshot"), (0, 0, 1, 1, -1, -1, 101.0, 5.0, "snapshot"),
               (20, 20, 2, 2, 1, 1, 100.0, 2.0, "diff"), (40, 40, 3, 3, 2, 1, 100.0, 1.0, "diff"),
               (60, 60, 4, 4, 3, -1, 101.0, 3.0, "diff")])


def trades(ts, qty, price=100.0, side=-1):
    return pd.DataFrame({"ts_event": ts, "price": price, "qty": qty, "side": np.full(len(ts), side, np.int8)})


def test_partial_fills_update_position_and_cash():
    "hftbacktest issue 316: each partial fill moves position and cash by the filled quantity."
    fees = LOBFees(maker=-0.0002, taker=0.0005)
    sim = L2Exchange(book_events(), trades([30, 50, 55], [4.0, 1.0, 3.0]), queue=RiskAverseQueue(), fees=fees, lot_size=1.0)
    sim.run_until(0); oid = sim.submit(1, 100.0, 4.0); sim.run_until(1)
    assert sim.orders[oid].front == 5.0
    sim.run_until(20); assert sim.orders[oid].front == 2.0                     # level shrank below us: risk-averse min
    sim.run_until(30); assert sim.position == 2.0                              # trade 4: 2 ahead, 2 of ours
    sim.run_until(50); assert sim.position == 3.0
    sim.run_until(100); assert sim.position == 4.0 and sim.orders[oid].status == "filled"
    f = sim.fills_frame()
    assert f["qty"].tolist() == [2.0, 1.0, 1.0] and (f["liquidity"] == "maker").all()
    assert f["leaves"].tolist() == [2.0, 1.0, 0.0]
    assert f["position"].tolist() == [2.0, 3.0, 4.0]
    cash = np.cumsum(-f["qty"] * f["price"] - fees.maker * f["qty"] * f["price"])
    np.testing.assert_allclose(f["cash"], cash)
    assert sim.cash == pytest.approx(-400.0 + 0.0002 * 400.0) and sim.fees_paid == pytest.approx(-0.08)
    assert sim.equity(100.0) == pytest.approx(0.08)


def test_taker_fee_and_marketable_order():
    sim = L2Exchange(book_events(), fees=LOBFees(maker=-0.0002, taker=0.0005), lot_size=1.0)
    sim.run_until(0); sim.submit(1, 101.0, 7.0); sim.run_until(10)
    f = sim.fills_frame()
    assert f[["price", "qty", "liquidity"]].values.tolist() == [[101.0, 5.0, "taker"]]    # the touch holds 5
    assert sim.cash == pytest.approx(-505.0 - 0.0005 * 505.0)
    assert sim.open_orders()[0].leaves == 2.0 and sim.open_orders()[0].front == 0.0       # the rest rests at 101
    sim.run_until(100); assert sim.position == 5.0                                         # 101 ask stays >= our bid


def test_entry_latency_and_late_cancel():
    tr = trades([5, 30], [6.0, 6.0])
    fast = L2Exchange(book_events(), tr, queue=RiskAverseQueue(), latency=OrderLatency(entry=1), lot_size=1.0)
    slow = L2Exchange(book_events(), tr, queue=RiskAverseQueue(), latency=OrderLatency(entry=10), lot_size=1.0)
    for s in (fast, slow): s.run_until(0); s.submit(1, 100.0, 1.0); s.run_until(6)
    assert fast.position == 1.0 and slow.position == 0.0                      # the trade at 5 came before arrival at 10
    # a cancel that arrives before the fill removes the order; one that arrives after it is too late
    for lat, pos, late in [(10, 0.0, 0), (40, 1.0, 1)]:
        s = L2Exchange(book_events(), tr, queue=RiskAverseQueue(), latency=OrderLatency(entry=10, cancel=lat), lot_size=1.0)
        s.run_until(0); oid = s.submit(1, 100.0, 1.0); s.run_until(12); s.cancel(oid); s.run_until(100)
        assert (s.position, s.n_cancel_too_late) == (pos, late)
        assert s.orders[oid].status == ("cancelled" if late == 0 else "filled")


def test_feed_latency_lags_our_view():
    s = L2Exchange(book_events(), latency=OrderLatency(feed=25), lot_size=1.0)
    s.run_until(30); assert s.depth(1, 100.0) == 5.0            # the diff at 20 is seen at 45
    s.run_until(45); assert s.depth(1, 100.0) == 2.0
    assert s.best_bid == 100.0 and s.best_ask == 101.0 and s.mid == 100.5


def test_random_latency_is_seeded():
    def arrivals(seed):
        s = L2Exchange(book_events(), latency=OrderLatency(entry=1000, jitter=500.0, seed=seed), lot_size=1.0)
        s.run_until(0); ids = [s.submit(1, 99.0, 1.0) for _ in range(5)]
        return [s.orders[i].ts_arrive for i in ids]
    a, b, c = arrivals(1), arrivals(1), arrivals(2)
    assert a == b and a != c and min(a) >= 1000


def test_exchange_bad_input():
    s = L2Exchange(book_events(), lot_size=1.0); s.run_until(10)
    with pytest.raises(ValueError, match="order_id 3 is not an order"): s.cancel(3)
    with pytest.raises(ValueError, match="ts must not go backwards"): s.run_until(5)
    with pytest.raises(ValueError, match="side"): s.submit(2, 100.0, 1.0)
    with pytest.raises(ValueError, match="qty"): s.submit(1, 100.0, -1.0)
    with pytest.raises(ValueError, match="entry"): OrderLatency(entry=-1)
    with pytest.raises(ValueError, match="missing qty"): L2Exchange(book_events(), trades=pd.DataFrame({"ts_event": [1], "price": [1.0], "side": [1]}))


@needs_data
def test_exchange_on_real_binance(btc):
    "Quote 0.01 BTC at the best bid/ask for a minute of real data: the accounting invariants hold for every fill."
    ev = btc.iloc[:120_000]; tr = load_binance_trades(TRADES, symbol="BTCUSDT")
    fees = LOBFees(maker=-0.0001, taker=0.0004)
    sim = L2Exchange(ev, tr, queue=PowerProbQueue(2), latency=OrderLatency(entry=5_000_000, cancel=5_000_000, feed=2_000_000),
                     fees=fees, lot_size=0.001)
    t = sim.now + 10_000_000; sim.run_until(t)
    for _ in range(60):
        for o in sim.open_orders(): sim.cancel(o.order_id)
        sim.submit(1, sim.best_bid, 0.01); sim.submit(-1, sim.best_ask, 0.01)
        t += 1_000_000_000; sim.run_until(t)
        for o in sim.open_orders():
            if o.status == "open": ahead, level = sim.queue_position(o.order_id); assert ahead <= level + 1e-9
    f = sim.fills_frame()
    assert len(f) > 0
    assert sim.position == pytest.approx((f["side"] * f["qty"]).sum())
    assert sim.cash == pytest.approx(-(f["side"] * f["qty"] * f["price"]).sum() - f["fee"].sum())
    assert ((f["fee"] < 0) == (f["liquidity"] == "maker")).all()
    filled = f.groupby("order_id")["qty"].sum()
    assert (filled <= 0.01 + 1e-12).all()


def test_bench_quick():
    if not DEPTH.exists(): pytest.skip("../shared/data is absent")
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_lob.py"), "--quick"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "statarb replay" in out.stdout and "final best bid/ask equal across replayers: True" in out.stdout
