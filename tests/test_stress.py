"""statarb.risk.stress: scenarios on the bundled closes of 20 stocks, and stress tests of the real pairs backtest.

Checks: every synthetic scenario leaves the rows before its shock date bit-identical; the shock has the intended
effect (realised volatility ratio k, correlation near 0, spread deviations times k with an OLS hedge ratio from
numpy, no bar and no fill of a halted leg); the historical windows slice without changing a value; the table's
numbers equal independent computations (risk.metrics, the engine's equity and fills); every error path.
"""
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from statarb.alpha.kalman import KalmanHedge
from statarb.data.sources import load_sample
from statarb.engine.backtest import BacktestResult, run_backtest
from statarb.engine.data_handler import DataHandler
from statarb.engine.execution import ExecutionHandler, Fees, FixedSpread, VolatilitySlippage
from statarb.engine.portfolio import FixedNotional, Portfolio
from statarb.engine.strategy import PairsStrategy
from statarb.risk.metrics import max_drawdown, sharpe_ratio
from statarb.risk.stress import (
    CorrelationBreakdown,
    HistoricalWindow,
    LegHalted,
    SpreadWidening,
    StressResult,
    StressTestError,
    VolatilityShock,
    stress_test,
)

SHOCK = "2020-02-20"


@pytest.fixture(scope="module")
def prices():
    return load_sample("sp500_20stocks")


@pytest.fixture(scope="module")
def px(prices):
    return prices.loc["2018":"2021"]


def _lr(p):
    return np.log(p).diff()


def _pre(p):
    return p.index < pd.Timestamp(SHOCK)


def pairs_backtest(p):
    dh = DataHandler.from_wide(p[["KO", "PEP", "XOM", "CVX"]])
    strat = PairsStrategy(dh, [("KO", "PEP"), ("XOM", "CVX")], hedge="kalman", window=30, entry=1.5, exit=0.3, stop=4.0,
                          kalman=KalmanHedge(delta=1e-6, observation_covariance=0.2, initial_state_covariance=np.eye(2) * 10.0))
    pf = Portfolio(dh, initial_cash=1_000_000.0, sizing=FixedNotional(100_000.0, lot=1.0), borrow=0.005)
    ex = ExecutionHandler(dh, spread=FixedSpread(2.0), slippage=VolatilitySlippage(k=0.05, window=20), fees=Fees.from_config())
    return run_backtest(dh, strat, pf, ex)


# ------------------------------------------------------------------ scenarios

@pytest.mark.parametrize("k", [0.5, 2.0, 3.0])
def test_volatility_shock_ratio_is_k_and_past_untouched(px, k):
    out = VolatilityShock(k, SHOCK).apply(px)
    pre = _pre(px)
    assert out[pre].equals(px[pre])
    ratio = _lr(out).loc[SHOCK:].std() / _lr(px).loc[SHOCK:].std()
    np.testing.assert_allclose(ratio.to_numpy(), k, rtol=1e-9)
    # simple returns: about k as well (log and simple returns differ a little on big days)
    simple = out.pct_change().loc[SHOCK:].std() / px.pct_change().loc[SHOCK:].std()
    assert np.all(np.abs(simple / k - 1) < 0.15)
    # the drift over the shock is kept
    np.testing.assert_allclose(_lr(out).loc[SHOCK:].mean(), _lr(px).loc[SHOCK:].mean(), rtol=1e-8, atol=1e-12)
    assert (out > 0).all().all()


def test_volatility_shock_with_end_and_symbols(px):
    out = VolatilityShock(2.0, SHOCK, end="2020-06-30", symbols=["KO", "PEP"]).apply(px)
    np.testing.assert_allclose((_lr(out) - _lr(px)).loc["2020-07-01":, ["KO", "PEP"]].to_numpy(), 0.0, atol=1e-12)
    others = [c for c in px.columns if c not in ("KO", "PEP")]
    assert out[others].equals(px[others])
    r = (_lr(out).loc[SHOCK:"2020-06-30", "KO"].std() / _lr(px).loc[SHOCK:"2020-06-30", "KO"].std())
    assert r == pytest.approx(2.0, rel=1e-9)


def test_correlation_breakdown_bootstrap(px):
    base = px[["KO", "PEP"]].pct_change().loc[SHOCK:].corr().iloc[0, 1]
    assert base > 0.5
    for seed in (0, 1, 2):
        out = CorrelationBreakdown("KO", SHOCK, seed=seed).apply(px)
        pre = _pre(px)
        assert out[pre].equals(px[pre])
        assert out.drop(columns="KO").equals(px.drop(columns="KO"))
        c = out[["KO", "PEP"]].pct_change().loc[SHOCK:].corr().iloc[0, 1]
        assert abs(c) < 0.1
        # every new return is one of KO's own returns before the shock
        pool = _lr(px["KO"]).loc[:SHOCK].iloc[1:-1].to_numpy()
        new = _lr(out["KO"]).loc[SHOCK:].to_numpy()
        assert np.isin(np.round(new, 12), np.round(pool, 12)).all()
    a = CorrelationBreakdown("KO", SHOCK, seed=5).apply(px)
    b = CorrelationBreakdown("KO", SHOCK, seed=5).apply(px)
    assert a.equals(b)


def test_correlation_breakdown_real_source(prices, px):
    n = len(px.loc[SHOCK:])
    src = prices["MSFT"].pct_change().loc["1995":].iloc[1:n + 50].rename("MSFT 1995")
    out = CorrelationBreakdown("KO", SHOCK, source=src).apply(px)
    got = out["KO"].pct_change().loc[SHOCK:].to_numpy()
    np.testing.assert_allclose(got, src.to_numpy()[:n], rtol=1e-9, atol=1e-12)
    assert abs(out[["KO", "PEP"]].pct_change().loc[SHOCK:].corr().iloc[0, 1]) < 0.1
    assert "MSFT 1995" in CorrelationBreakdown("KO", SHOCK, source=src).name


@pytest.mark.parametrize("k", [2.0, 3.0])
def test_spread_widening_deviation_ratio(px, k):
    sw = SpreadWidening("KO", "PEP", k, SHOCK, window=60)
    beta, m, t0 = sw.spread_parameters(px)
    assert t0 == pd.Timestamp(SHOCK)
    # oracle: OLS slope of log KO on log PEP over the 60 bars before the shock
    pre = np.log(px.loc[:SHOCK].iloc[:-1].tail(60))
    slope, icpt = np.polyfit(pre["PEP"], pre["KO"], 1)
    assert beta == pytest.approx(slope, rel=1e-9)
    assert m == pytest.approx(float((pre["KO"] - beta * pre["PEP"]).mean()), rel=1e-12)
    out = sw.apply(px)
    assert out[_pre(px)].equals(px[_pre(px)])
    assert out.drop(columns="KO").equals(px.drop(columns="KO"))
    s0 = np.log(px["KO"]) - beta * np.log(px["PEP"])
    s1 = np.log(out["KO"]) - beta * np.log(out["PEP"])
    np.testing.assert_allclose(((s1 - m) / (s0 - m)).loc[SHOCK:], k, rtol=1e-8)
    assert (s1 - m).loc[SHOCK:].abs().mean() == pytest.approx(k * (s0 - m).loc[SHOCK:].abs().mean(), rel=1e-8)


def test_spread_widening_given_hedge_ratio_and_end(px):
    sw = SpreadWidening("XOM", "CVX", 2.0, SHOCK, end="2020-04-30", hedge_ratio=1.0)
    beta, m, _ = sw.spread_parameters(px)
    assert beta == 1.0
    out = sw.apply(px)
    s0 = np.log(px["XOM"]) - np.log(px["CVX"])
    s1 = np.log(out["XOM"]) - np.log(out["CVX"])
    np.testing.assert_allclose(((s1 - m) / (s0 - m)).loc[SHOCK:"2020-04-30"], 2.0, rtol=1e-8)
    # after the end, XOM's own returns resume
    np.testing.assert_allclose((_lr(out) - _lr(px)).loc["2020-05-01":, "XOM"], 0.0, atol=1e-12)


def test_leg_halted_prices_and_bars(px):
    out = LegHalted("KO", SHOCK, "2020-03-31").apply(px)
    pre = _pre(px)
    assert out[pre].equals(px[pre])
    assert out.loc["2020-04-01":].equals(px.loc["2020-04-01":])
    assert out.loc[SHOCK:"2020-03-31", "KO"].isna().all()
    assert out.drop(columns="KO").equals(px.drop(columns="KO"))
    dh = DataHandler.from_wide(out[["KO", "PEP"]])
    ts = pd.DatetimeIndex(dh.bars["KO"].ts.view("datetime64[ns]")).tz_localize("UTC")
    assert not ((ts >= pd.Timestamp(SHOCK, tz="UTC")) & (ts <= pd.Timestamp("2020-03-31", tz="UTC"))).any()
    assert len(dh.bars["PEP"].ts) == len(px)


def test_ohlcv_dict_form(px):
    close = px[["KO", "PEP"]]
    rng = np.random.default_rng(0)
    panel = {"close": close, "open": close * (1 + 0.001 * rng.standard_normal(close.shape)),
             "high": close * 1.01, "low": close * 0.99, "volume": close * 0 + 1e6}
    out = VolatilityShock(2.0, SHOCK).apply(panel)
    assert set(out) == set(panel)
    f = out["close"] / close
    for k in ("open", "high", "low"):
        np.testing.assert_allclose(out[k], panel[k] * f, rtol=1e-12)
        assert out[k][_pre(close)].equals(panel[k][_pre(close)])
    assert out["volume"].equals(panel["volume"])
    assert (out["high"] >= out["low"]).all().all()
    h = LegHalted("KO", SHOCK, "2020-03-31").apply(panel)
    for k in panel:
        assert h[k].loc[SHOCK:"2020-03-31", "KO"].isna().all()
        assert h[k]["PEP"].equals(panel[k]["PEP"])


def test_historical_window_slices_without_change(prices):
    w = HistoricalWindow("2008-09-01", "2009-06-30", warmup=20)
    out = w.apply(prices)
    i0 = prices.index.searchsorted(pd.Timestamp("2008-09-01"))
    assert out.index[0] == prices.index[i0 - 20]
    assert out.index[-1] == pd.Timestamp("2009-06-30")
    assert out.equals(prices.loc[out.index[0]:out.index[-1]])
    a, b = w.evaluation_window(prices.index)
    assert (a, b) == (pd.Timestamp("2008-09-02"), pd.Timestamp("2009-06-30"))
    assert w.name == "2008-09..2009-06"


# ------------------------------------------------------------------ stress_test

@pytest.fixture(scope="module")
def st(prices):
    scen = [HistoricalWindow("2020-02-01", "2020-06-30", warmup=120, name="COVID"),
            SpreadWidening("KO", "PEP", 3.0, SHOCK), VolatilityShock(2.0, SHOCK),
            CorrelationBreakdown("XOM", SHOCK), LegHalted("KO", SHOCK, "2020-03-31")]
    return stress_test(pairs_backtest, prices.loc["2018":"2021"], scen)


def test_stress_table_equals_independent_computations(st):
    t = st.table
    assert list(t.index) == ["baseline", "COVID", "KO/PEP spread x3 from 2020-02-20", "volatility x2 from 2020-02-20",
                             "XOM decorrelated (bootstrap) from 2020-02-20", "KO halted 2020-02-20..2020-03-31"]
    for name in t.index:
        res = st.results[name]
        assert isinstance(res, BacktestResult)
        a, b = st.windows[name]
        eq = res.equity["equity"]
        before = eq.loc[:a].iloc[:-1]
        start_eq = before.iloc[-1] if len(before) else eq.iloc[0]
        assert t.loc[name, "total_return"] == pytest.approx(eq.loc[b] / start_eq - 1, rel=1e-9, abs=1e-12)
        r = res.returns.loc[a:b]
        if len(before) == 0: r = r.iloc[1:]
        assert t.loc[name, "max_drawdown"] == pytest.approx(float(max_drawdown(r)), rel=1e-9, abs=1e-12)
        assert t.loc[name, "sharpe_ratio"] == pytest.approx(float(sharpe_ratio(r)), rel=1e-9)
        assert t.loc[name, "worst_day"] == pytest.approx(float(r.min()), rel=1e-12)
        f = res.fills
        assert t.loc[name, "fills"] == int(((f["timestamp"] >= a) & (f["timestamp"] <= b)).sum())
    assert t.loc["baseline", "baseline_return"] == t.loc["baseline", "total_return"]
    assert t.loc["COVID", "end"] == pd.Timestamp("2020-06-30")


def test_stress_halted_leg_has_no_fill_and_past_trades_identical(st):
    h, base = st.results["KO halted 2020-02-20..2020-03-31"], st.results["baseline"]
    f = h.fills
    t0, t1 = pd.Timestamp(SHOCK, tz="UTC"), pd.Timestamp("2020-03-31 23:59", tz="UTC")
    assert not ((f["symbol"] == "KO") & (f["timestamp"] >= t0) & (f["timestamp"] <= t1)).any()
    for name, res in st.results.items():
        if name in ("baseline", "COVID"): continue
        early = lambda x: x[x["timestamp"] < t0].reset_index(drop=True)
        assert early(res.fills).equals(early(base.fills)), name
        pd.testing.assert_frame_equal(res.equity.loc[:t0].iloc[:-1], base.equity.loc[:t0].iloc[:-1])


def test_stress_result_views(st):
    assert isinstance(st, StressResult)
    s = st.summary()
    assert "worst_scenario" in s and "scenarios" in s
    fig = st.plot()
    assert isinstance(fig, Figure) and fig.axes[0].has_data()
    assert len(fig.axes[0].lines) >= len(st.table) - 1


def test_stress_with_returns_run(px):
    def spread_returns(p):
        r = p[["KO", "PEP"]].pct_change().fillna(0.0)
        return (r["KO"] - r["PEP"]).rename("KO-PEP")
    res = stress_test(spread_returns, px, [VolatilityShock(2.0, SHOCK)], periods_per_year=252)
    t = res.table
    r = spread_returns(VolatilityShock(2.0, SHOCK).apply(px)).loc[SHOCK:]
    assert t.iloc[1]["total_return"] == pytest.approx(float((1 + r).prod() - 1), rel=1e-12)
    assert t.iloc[1]["sharpe_ratio"] == pytest.approx(float(sharpe_ratio(r, periods_per_year=252)), rel=1e-12)
    assert "fills" not in t.columns
    res2 = stress_test(spread_returns, px, [VolatilityShock(2.0, SHOCK)], baseline=False)
    assert list(res2.table.index) == ["volatility x2 from 2020-02-20"] and "baseline_return" not in res2.table


# ------------------------------------------------------------------ bad input

def test_scenario_errors(px):
    with pytest.raises(ValueError, match="k must be > 0 and finite; got 0"): VolatilityShock(0, SHOCK)
    with pytest.raises(TypeError, match="k must be a real number"): VolatilityShock("2", SHOCK)
    with pytest.raises(TypeError, match="symbols must be a list or tuple of column names"): VolatilityShock(2.0, SHOCK, symbols="KO")
    with pytest.raises(ValueError, match="symbols must be a column of prices; got 'XX'"):
        VolatilityShock(2.0, SHOCK, symbols=["XX"]).apply(px)
    with pytest.raises(ValueError, match=r"start must be before the last bar of prices\['AAPL'\] \(2021-12-31\); got 2030-01-01"):
        VolatilityShock(2.0, "2030-01-01").apply(px)
    with pytest.raises(ValueError, match="end must not be before start"): VolatilityShock(2.0, SHOCK, end="2019-01-01")
    with pytest.raises(ValueError, match="start must be a date or timestamp; got 'not a date'"): VolatilityShock(2.0, "not a date")
    with pytest.raises(ValueError, match="y and x must be two different symbols"): SpreadWidening("KO", "KO", 2.0, SHOCK)
    with pytest.raises(ValueError, match="needs at least 60 bars before the shock on 2018-01-10; got 6"):
        SpreadWidening("KO", "PEP", 2.0, "2018-01-10").apply(px)
    with pytest.raises(TypeError, match="hedge_ratio must be a finite number or None"): SpreadWidening("KO", "PEP", 2.0, SHOCK, hedge_ratio=np.nan)
    with pytest.raises(ValueError, match="x must be a column of prices; got 'ZZ'"): SpreadWidening("KO", "ZZ", 2.0, SHOCK).apply(px)
    with pytest.raises(TypeError, match="window must be an integer"): SpreadWidening("KO", "PEP", 2.0, SHOCK, window=6.5)
    with pytest.raises(ValueError, match="source must hold at least the"):
        CorrelationBreakdown("KO", SHOCK, source=pd.Series([0.01] * 5)).apply(px)
    with pytest.raises(ValueError, match="source must be simple returns, finite and > -1"):
        CorrelationBreakdown("KO", SHOCK, source=pd.Series([0.01, np.nan]))
    with pytest.raises(TypeError, match="source must be Series; got list"): CorrelationBreakdown("KO", SHOCK, source=[0.01])
    with pytest.raises(ValueError, match="needs at least 21 bars before the shock"): CorrelationBreakdown("KO", "2018-01-05").apply(px)
    with pytest.raises(ValueError, match="symbol must be a column of prices; got 'ZZ'"): CorrelationBreakdown("ZZ", SHOCK).apply(px)
    with pytest.raises(TypeError, match="symbol must be str; got int"): LegHalted(3, SHOCK, "2020-03-01")
    with pytest.raises(ValueError, match="end must be a date: a halt ends"): LegHalted("KO", SHOCK, None)
    with pytest.raises(ValueError, match="has no bar between"): LegHalted("KO", "2020-02-22", "2020-02-23").apply(px)
    with pytest.raises(ValueError, match="the window 2030-01-01..2030-06-30 holds 0 bars of prices"):
        HistoricalWindow("2030-01-01", "2030-06-30").apply(px)
    with pytest.raises(ValueError, match="warmup must be >= 0; got -1"): HistoricalWindow("2020-01-01", "2020-06-30", warmup=-1)
    with pytest.raises(ValueError, match="end must not be before start"): HistoricalWindow("2020-06-01", "2020-01-01")
    with pytest.raises(TypeError, match="name must be str; got int"): HistoricalWindow("2020-01-01", "2020-06-30", name=1)


def test_prices_errors(px):
    v = VolatilityShock(2.0, SHOCK)
    with pytest.raises(TypeError, match="prices must be DataFrame; got ndarray"): v.apply(px.to_numpy())
    with pytest.raises(ValueError, match="prices as a dict must have a 'close' frame"): v.apply({"open": px})
    with pytest.raises(ValueError, match="prices keys must be among close, open, high, low, volume; got adj"):
        v.apply({"close": px, "adj": px})
    with pytest.raises(ValueError, match=r"prices\['open'\] must have the index and columns of prices\['close'\]"):
        v.apply({"close": px, "open": px.iloc[1:]})
    with pytest.raises(ValueError, match="prices must be strictly positive and finite"): v.apply(-px)
    with pytest.raises(ValueError, match="prices index must be sorted ascending"): v.apply(px.iloc[::-1])
    with pytest.raises(TypeError, match="prices must have a DatetimeIndex"): v.apply(px.reset_index(drop=True))


def test_stress_test_errors(px):
    s = SpreadWidening("KO", "PEP", 2.0, SHOCK)
    with pytest.raises(TypeError, match=r"run must be callable \(prices\) -> BacktestResult or returns Series; got int"):
        stress_test(3, px, [s])
    with pytest.raises(TypeError, match=r"scenarios\[1\] must be a Scenario; got str"): stress_test(pairs_backtest, px, [s, "vol"])
    with pytest.raises(TypeError, match="scenarios must be a list of Scenario; got dict"): stress_test(pairs_backtest, px, {"a": s})
    with pytest.raises(ValueError, match="scenario names must be unique"): stress_test(pairs_backtest, px, [s, s])
    with pytest.raises(ValueError, match="scenario names must be unique; 'baseline'"):
        stress_test(pairs_backtest, px, [VolatilityShock(2.0, SHOCK, name="baseline")])
    with pytest.raises(ValueError, match="scenarios must not be empty"): stress_test(pairs_backtest, px, [], baseline=False)
    with pytest.raises(TypeError, match="run must return a BacktestResult or a Series of returns; got DataFrame on scenario 'baseline'"):
        stress_test(lambda p: p, px, [])
    with pytest.raises(StressTestError, match="run failed on scenario 'baseline': ZeroDivisionError"):
        stress_test(lambda p: 1 / 0, px, [])
    with pytest.raises(ValueError, match="the window 2008-09-01..2009-06-30 holds 0 bars"):
        stress_test(pairs_backtest, px, [HistoricalWindow("2008-09-01", "2009-06-30")])
    with pytest.raises(ValueError, match=r"start must be before the last bar of prices \(2021-12-31\); got 2025-01-01"):
        stress_test(pairs_backtest, px, [LegHalted("KO", "2025-01-01", "2025-02-01")])
    with pytest.raises(ValueError, match="periods_per_year must be > 0"):
        stress_test(pairs_backtest, px, [s], periods_per_year=-1)
