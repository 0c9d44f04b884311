"""Compiled fast path (statarb._matching.run_pairs via statarb.engine.fast) against its reference, the object path.

Equality is exact: the kernel performs the object path's floating-point operations in the same order (including the
order Python dicts iterate), so fills, positions, equity and per-pair books must be identical, on real pairs, with every
cost model of the fast path switched on. The tests also pass with STATARB_NO_CYTHON=1 (the kernel is then taken
directly with compiled_kernel, and the fallback itself is tested).
"""
import numpy as np
import pandas as pd
import pytest

from statarb import core
from statarb.alpha.kalman import KalmanHedge
from statarb.data.sources import load_sample
from statarb.engine.execution import Fees
from statarb.engine.fast import run_pairs_backtest

KERNEL = core.compiled_kernel("_matching", "run_pairs")
needs_compiled = pytest.mark.skipif(KERNEL is None, reason="statarb._matching is not built")
COLS = ["timestamp", "order_id", "symbol", "group", "quantity", "price", "fee", "spread_cost", "slippage_cost", "remaining"]
KF = KalmanHedge(delta=1e-6, observation_covariance=0.2, initial_state_covariance=np.eye(2) * 10.0)


@pytest.fixture(scope="module")
def px() -> pd.DataFrame:
    return load_sample("sp500_20stocks").loc["2008":"2016"]


def _both(monkeypatch, px, **kw):
    monkeypatch.delenv("STATARB_NO_CYTHON", raising=False)
    fast = run_pairs_backtest(px, engine="compiled", **kw)
    slow = run_pairs_backtest(px, engine="object", **kw)
    return fast, slow


def _assert_same(fast, slow):
    pd.testing.assert_frame_equal(fast.fills[COLS], slow.fills[COLS], check_exact=True, check_dtype=False)
    np.testing.assert_array_equal(fast.equity.to_numpy(), slow.equity.to_numpy())
    pd.testing.assert_frame_equal(fast.groups, slow.groups, check_exact=True)
    o = ["timestamp", "order_id", "symbol", "group", "quantity"]
    pd.testing.assert_frame_equal(fast.orders[o], slow.orders[o], check_exact=True, check_dtype=False)
    s = ["timestamp", "group", "direction", "zscore"]
    pd.testing.assert_frame_equal(fast.signals[s].reset_index(drop=True),
                                  slow.signals[s].reset_index(drop=True),
                                  check_exact=True, check_dtype=False)


CONFIGS = {
    "no costs": dict(pairs=[("KO", "PEP")]),
    "all costs": dict(pairs=[("KO", "PEP"), ("XOM", "CVX"), ("JPM", "BAC")], half_spread_bps=2.0, slippage_bps=1.5,
                      fees=Fees(per_share=0.002, bps=0.4, minimum=1.5), lot=1.0, borrow={"PEP": 0.01, "CVX": 0.03, "BAC": 0.05},
                      cash_rate=0.015, stop=3.5),
    "cap and latency": dict(pairs=[("KO", "PEP"), ("PEP", "PG"), ("KO", "PG")], half_spread_bps=1.0, participation=0.05,
                            volume_const=3_000.0, entry_latency=2 * 86_400 * 10**9, fees=Fees(bps=1.0, minimum=1.0), lot=10.0),
    "shared legs, taker fee": dict(pairs=[("KO", "PEP"), ("KO", "PG"), ("XOM", "CVX"), ("CVX", "XOM")], borrow=0.02,
                                   fees=Fees(bps=5.0, taker_bps=0.7, minimum=0.5), slippage_bps=3.0, window=10, entry=1.2, exit=0.0),
}


@pytest.mark.twins
@needs_compiled
@pytest.mark.parametrize("name", list(CONFIGS))
def test_compiled_equals_object_path(monkeypatch, px, name):
    kw = dict(CONFIGS[name])
    vc = kw.pop("volume_const", None)
    cols = sorted({s for p in kw["pairs"] for s in p})
    data = px[cols]
    if vc is not None: kw["volume"] = pd.DataFrame(vc, index=data.index, columns=data.columns)
    kw.setdefault("kalman", KF)
    kw.setdefault("window", 30)
    kw.setdefault("entry", 1.5)
    kw.setdefault("exit", 0.3)
    fast, slow = _both(monkeypatch, data, **kw)
    assert len(fast.fills) > 20
    _assert_same(fast, slow)
    if vc is not None: assert (fast.fills["remaining"] != 0).sum() > 10        # partial fills were exercised


@pytest.mark.twins
@needs_compiled
def test_compiled_equals_object_path_with_gaps_and_open(monkeypatch, px):
    "Different calendars (holes in one leg) and real next-open fills (open = previous close x a seeded factor)."
    data = px[["KO", "PEP", "XOM"]].copy()
    rng = np.random.default_rng(3)
    data.loc[data.index[rng.random(len(data)) < 0.03], "PEP"] = np.nan
    opn = data.shift(1) * (1 + rng.normal(0, 0.003, data.shape))
    opn = opn.where(data.notna()).fillna(data)
    kw = dict(pairs=[("KO", "PEP"), ("XOM", "KO")], open=opn, kalman=KF, window=20, entry=1.5, exit=0.3,
              half_spread_bps=2.0, fees=Fees(bps=0.5, minimum=1.0), lot=1.0, borrow=0.01)
    fast, slow = _both(monkeypatch, data, **kw)
    _assert_same(fast, slow)


def test_fallback_without_kernel_warns_and_runs_object_path(monkeypatch, px):
    monkeypatch.setenv("STATARB_NO_CYTHON", "1")
    with pytest.warns(core.PerformanceWarning, match="running the pairs backtest on the object path"):
        r = run_pairs_backtest(px[["KO", "PEP"]], [("KO", "PEP")], kalman=KF, window=30, entry=1.5, exit=0.3)
    assert len(r.fills) > 0 and len(r.events) > 0          # the object path keeps its event log
    with pytest.raises(RuntimeError, match="engine='compiled' needs statarb._matching"):
        run_pairs_backtest(px[["KO", "PEP"]], [("KO", "PEP")], engine="compiled")


@needs_compiled
def test_decisions_match_the_online_strategy(monkeypatch, px):
    from statarb.alpha.signals import pair_signals
    monkeypatch.delenv("STATARB_NO_CYTHON", raising=False)
    r = run_pairs_backtest(px[["XOM", "CVX"]], [("XOM", "CVX")], kalman=KF, window=30, entry=1.5, exit=0.3, engine="compiled")
    vec = pair_signals(px["XOM"], px["CVX"], hedge="kalman", kalman=KF, window=30, entry=1.5, exit=0.3).frame
    np.testing.assert_array_equal(r.decisions["z"]["XOM/CVX"].to_numpy(), vec["z"].to_numpy())
    np.testing.assert_array_equal(r.decisions["position"]["XOM/CVX"].to_numpy(), vec["position"].to_numpy())


@needs_compiled
def test_both_paths_record_the_same_decisions(monkeypatch, px):
    "The event-driven path exposes per-bar z, hedge ratio and position exactly as the kernel records them."
    monkeypatch.delenv("STATARB_NO_CYTHON", raising=False)
    kw = dict(kalman=KF, window=30, entry=1.5, exit=0.3, half_spread_bps=2.0)
    pairs = [("XOM", "CVX"), ("KO", "PEP")]
    fast = run_pairs_backtest(px[["XOM", "CVX", "KO", "PEP"]], pairs, engine="compiled", **kw)
    slow = run_pairs_backtest(px[["XOM", "CVX", "KO", "PEP"]], pairs, engine="object", **kw)
    for k in ("z", "hedge_ratio", "position"):
        assert list(slow.decisions[k].columns) == ["XOM/CVX", "KO/PEP"]
        pd.testing.assert_frame_equal(fast.decisions[k], slow.decisions[k], check_exact=True, check_dtype=False)
    assert slow.decisions["position"].abs().sum().sum() > 0          # the run traded


@needs_compiled
def test_no_look_ahead_in_the_kernel(monkeypatch, px):
    "Replacing prices after a cut leaves every fill and equity value up to the cut unchanged."
    monkeypatch.delenv("STATARB_NO_CYTHON", raising=False)
    data = px[["KO", "PEP"]]
    data = data.tz_localize("UTC") if data.index.tz is None else data
    kw = dict(pairs=[("KO", "PEP")], kalman=KF, window=30, entry=1.5, exit=0.3, half_spread_bps=2.0, engine="compiled")
    a = run_pairs_backtest(data, **kw)
    cut = data.index[len(data) // 2]
    b_data = data.copy()
    b_data.loc[b_data.index > cut] *= np.random.default_rng(0).uniform(0.8, 1.2, (int((data.index > cut).sum()), 2))
    b = run_pairs_backtest(b_data, **kw)
    pd.testing.assert_frame_equal(a.equity.loc[:cut], b.equity.loc[:cut], check_exact=True)
    pd.testing.assert_frame_equal(a.fills[a.fills["timestamp"] <= cut][COLS], b.fills[b.fills["timestamp"] <= cut][COLS], check_exact=True)
    assert not a.equity.loc[cut:].equals(b.equity.loc[cut:])


def test_bad_arguments(px):
    with pytest.raises(ValueError, match="each pair must be two different columns of close"):
        run_pairs_backtest(px, [("KO", "ZZZ")])
    with pytest.raises(TypeError, match="close must have a DatetimeIndex"):
        run_pairs_backtest(px.reset_index(drop=True), [("KO", "PEP")])
    with pytest.raises(ValueError, match="entry must be > exit"):
        run_pairs_backtest(px, [("KO", "PEP")], entry=0.5, exit=0.5)
    with pytest.raises(TypeError, match="borrow must be a number or a"):
        run_pairs_backtest(px, [("KO", "PEP")], borrow=pd.DataFrame())


@needs_compiled
def test_bench_matching_quick_prints_ratios():
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_matching.py"), "--quick", "--no-peers"],
                         capture_output=True, text=True, timeout=600, cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ratio compiled / statarb object path:" in run.stdout
    assert "outputs: compiled == object path on 2,000 bars: True" in run.stdout
