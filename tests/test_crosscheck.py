"""Cross-check of the event-driven engine against established backtesters (statarb.engine.backtest).

Oracles: backtrader 1.9 and backtesting.py 0.6 (and vectorbt when it imports) running the same single-asset strategy
on the bundled S&P 500 index OHLCV (1999-2018): a 20/100-day moving-average crossover decided at the close of bar t,
a market order filled at the open of t+1, 10 whole units, commission 10 bps of notional, slippage 5 bps of the price.
The strategies and the engine runs live in benchmarks/bench_engine.py, so the benchmark times what is checked here.

Semantics aligned (read from the peers' sources):
  backtrader  setcommission(commission=0.001) is a fraction of notional (percabs=True, stock-like), charged on the
              executed price; set_slippage_perc(0.0005, slip_open=True, slip_out=True) moves the open by
              open * (1 +/- perc) - slip_open makes it apply to market orders at the open, slip_out stops it being
              capped at the bar's high/low (statarb's FixedSlippage is never capped).
  backtesting.py  commission is a fraction of notional at every fill (entry and exit); its `spread` is charged only
              when a trade opens (a closing trade fills at the raw open), which no statarb model reproduces, so it is
              matched without slippage. A reversal is two legs at one price there; they are netted per date.
The peers are test-only oracles: skipped when not installed.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_engine as be  # noqa: E402

pytest.importorskip("backtrader")


@pytest.fixture(scope="module")
def bars():
    return be.index_bars()


def _assert_same_fills(ours: list, theirs: list, rtol: float = 1e-9):
    "Same dates and sizes exactly, prices (and fees when given) to `rtol`."
    assert len(ours) == len(theirs) > 20
    for a, b in zip(ours, theirs):
        assert a[0] == b[0] and a[1] == b[1], (a, b)
        for x, y in zip(a[2:], b[2:]):
            assert abs(x - y) <= rtol * abs(y), (a, b)


@pytest.mark.parametrize("long_only", [False, True], ids=["long_short", "long_flat"])
def test_backtrader_same_fills_and_equity(bars, long_only):
    ours = be.run_statarb(bars, long_only=long_only)
    theirs = be.run_backtrader(bars, long_only=long_only)
    fills = be.statarb_fills(ours)
    _assert_same_fills(fills, theirs["fills"])              # (date, size, price, commission)
    sizes = {f[1] for f in fills}
    assert sizes == ({10.0, -10.0} if long_only else {10.0, 20.0, -20.0})   # reversals are one order of 20 units
    eq, beq = be.statarb_equity(ours), theirs["equity"]
    assert list(eq.index) == list(beq.index) and len(eq) == len(bars)
    np.testing.assert_allclose(eq.to_numpy(), beq.to_numpy(), rtol=1e-9, atol=0)   # every bar's close, not just the end
    assert abs(eq.iloc[-1] / theirs["final_equity"] - 1) < 1e-6


def test_fills_are_at_next_open_with_costs(bars):
    "Independent of the peers: each fill is at the open of the bar after the decision, slipped 5 bps, fee 10 bps."
    res = be.run_statarb(bars)
    sig, f = res.signals, res.fills
    assert len(sig) == len(f)                                # one order per signal; the last signal is not at the end
    idx = bars.index
    for ts_sig, ts_fill, q, p, fee in zip(sig["timestamp"], f["timestamp"], f["quantity"], f["price"], f["fee"]):
        i = idx.get_loc(ts_sig.tz_localize(None))
        assert ts_fill.tz_localize(None) == idx[i + 1]
        o = bars["open"].iloc[i + 1]
        assert p == pytest.approx(o * (1 + np.sign(q) * be.SLIPPAGE), rel=1e-12)
        assert fee == pytest.approx(abs(q) * p * be.COMMISSION, rel=1e-12)


def test_changing_statarb_costs_alone_breaks_equality(bars):
    "The comparison can fail: 6 bps of slippage (or 11 bps of fees) in statarb only moves every price or fee."
    theirs = be.run_backtrader(bars)
    moved = be.statarb_fills(be.run_statarb(bars, slippage=0.0006))
    assert [f[:2] for f in moved] == [f[:2] for f in theirs["fills"]]      # same decisions and sizes
    assert all(abs(a[2] / b[2] - 1) > 5e-5 for a, b in zip(moved, theirs["fills"]))
    with pytest.raises(AssertionError):
        _assert_same_fills(moved, theirs["fills"])
    res = be.run_statarb(bars, commission=0.0011)
    assert abs(res.equity["equity"].iloc[-1] / theirs["final_equity"] - 1) > 1e-6
    with pytest.raises(AssertionError):
        _assert_same_fills(be.statarb_fills(res), theirs["fills"])


@pytest.mark.parametrize("long_only", [False, True], ids=["long_short", "long_flat"])
def test_backtesting_py_same_fills_and_equity(bars, long_only):
    pytest.importorskip("backtesting")
    ours = be.run_statarb(bars, slippage=0.0, long_only=long_only)
    theirs = be.run_backtesting(bars, long_only=long_only)
    _assert_same_fills([f[:3] for f in be.statarb_fills(ours)], theirs["fills"])
    eq, beq = be.statarb_equity(ours), theirs["equity"]
    assert list(eq.index) == list(beq.index)
    np.testing.assert_allclose(eq.to_numpy(), beq.to_numpy(), rtol=1e-9, atol=0)
    assert abs(eq.iloc[-1] / theirs["final_equity"] - 1) < 1e-6
    worse = be.run_statarb(bars, slippage=0.0, commission=0.0009, long_only=long_only)
    assert abs(worse.equity["equity"].iloc[-1] / theirs["final_equity"] - 1) > 1e-6


def test_vectorbt_same_final_equity(bars):
    vbt = pytest.importorskip("vectorbt")
    assert vbt is not None
    ours = be.run_statarb(bars)
    pf = be.run_vectorbt(bars, be.crossover_targets(bars))
    np.testing.assert_allclose(pf.value().to_numpy(), ours.equity["equity"].to_numpy(), rtol=1e-9, atol=0)
    assert pf.orders.count() == len(ours.fills)


def test_pair_backtrader_same_fills_and_equity():
    "Two assets, fractional sizes: PairsStrategy's decisions executed by backtrader and by statarb agree."
    px = be.pair_prices(3000)
    ours, _ = be.run_pairs(px)
    theirs = be.run_pairs_backtrader(px)
    f = ours.fills
    a = sorted((t.date(), s, float(q), float(p)) for t, s, q, p in zip(f["timestamp"], f["symbol"], f["quantity"], f["price"]))
    b = sorted(theirs["fills"])
    assert len(a) == len(b) > 20
    for x, y in zip(a, b):
        assert x[:2] == y[:2] and x[2] == pytest.approx(y[2], rel=1e-12) and x[3] == pytest.approx(y[3], rel=1e-9), (x, y)
    np.testing.assert_allclose(be.statarb_equity(ours).to_numpy(), theirs["equity"].to_numpy(), rtol=1e-9, atol=0)


def test_bench_engine_quick_prints_ratios():
    pytest.importorskip("backtesting")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_engine.py"), "--quick"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("ratio backtrader / statarb:", "ratio backtesting.py / statarb:", "ratio backtrader pairs / statarb pairs:",
                 "ratio statarb pairs / vectorized:", "outputs: statarb vs backtrader fills max rel price diff"):
        assert line in run.stdout, run.stdout
