"""Real-data facts the tutorials 93 (baskets) and 94 (intraday) rely on, on the test-only files in ../shared/data
(skipped where that folder is absent): Johansen on the EU indices against statsmodels and ArbitrageLab's expected
vector; the basket scan against single Johansen runs; the BTC file's depeg peak and stale bars; the Kalman z-score
and the fast path without look-ahead; the fast path equal to the event engine on bars with gaps; the stale-price
mirage the intraday tutorial shows; minute annualisation."""
import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.vector_ar.vecm import coint_johansen

from statarb.alpha.coint import johansen
from statarb.alpha.kalman import KalmanHedge
from statarb.alpha.scan import scan_baskets
from statarb.engine.backtest import run_backtest
from statarb.engine.data_handler import DataHandler
from statarb.engine.execution import ExecutionHandler, FixedSpread
from statarb.engine.fast import run_pairs_backtest
from statarb.engine.portfolio import FixedNotional, Portfolio
from statarb.engine.strategy import BasketStrategy, PairsStrategy
from statarb.risk.metrics import sharpe_ratio

Y, X = "BTCUSDC", "BTCUSD"
PPY = 365 * 24 * 60
# the formation-week MLE calibration of tutorial 94 (BTCUSDC on BTCUSD prices, 1-7 March 2023)
KF = KalmanHedge(delta=1.03275e-08, observation_covariance=35.7682, initial_state_mean=(1.0, 0.0),
                 initial_state_covariance=np.diag([1e-6, 100.0]))


@pytest.fixture(scope="module")
def eu(shared_data):
    return pd.read_parquet(shared_data / "arbitragelab_eu_indices_daily.parquet").ffill()


@pytest.fixture(scope="module")
def sectors(shared_data):
    return pd.read_parquet(shared_data / "arbitragelab_sector_etf12_close_daily.parquet")


@pytest.fixture(scope="module")
def btc(shared_data):
    raw = pd.read_parquet(shared_data / "binanceus_btc_usdt_usdc_usd_1m_2023_03.parquet")
    return {f: raw.pivot(index="open_time", columns="symbol", values=f).rename_axis(index="timestamp", columns=None)
            for f in ("open", "high", "low", "close", "volume")}


# ---- tutorial 93: Johansen on the EU indices, basket scan, BasketStrategy

def test_johansen_equals_statsmodels_on_eu_indices(eu):
    form = eu.loc[:"2001-11-05"]
    assert len(form) == 1509
    jo = johansen(form, det_order=0, k_ar_diff=1, log=True)
    sm = coint_johansen(np.log(form).to_numpy(), 0, 1)
    np.testing.assert_allclose(jo.trace_stat.to_numpy(), sm.lr1, rtol=1e-10)
    np.testing.assert_allclose(jo.max_eig_stat.to_numpy(), sm.lr2, rtol=1e-10)
    np.testing.assert_allclose(jo.eigenvalues.to_numpy(), sm.eig, rtol=1e-10)
    np.testing.assert_allclose(jo.trace_crit.to_numpy(), sm.cvt, rtol=1e-12)
    np.testing.assert_allclose(np.abs(jo.eigenvectors.to_numpy()), np.abs(sm.evec), rtol=1e-8)
    assert (jo.rank_trace, jo.rank_max_eig) == (1, 1)


def test_johansen_vector_matches_arbitragelab_expectation(eu):
    # hudson-and-thames/arbitragelab tests/test_multi_coint.py::test_fit_no_rolling_window, same data and split
    jo = johansen(eu.loc[:"2001-11-05"], log=True)
    np.testing.assert_allclose(jo.eigenvectors["v1"].to_numpy(),
                               [30.582711178446427, -12.11624038306599, -27.220035836898937, -2.716097980580956],
                               rtol=1e-7)
    assert jo.half_life == pytest.approx(17.69, abs=0.01)


def test_basket_strategy_fits_the_johansen_weights_on_training_bars_only(eu):
    sub = eu.loc["2000":"2002"]
    dh = DataHandler.from_wide(sub)
    st = BasketStrategy(dh, [("AEX", "DAX", "FTSE", "CAC")], train_end="2001-11-05", method="johansen", log=True)
    res = run_backtest(dh, st, Portfolio(dh, sizing=FixedNotional(1_000_000.0)), ExecutionHandler(dh, spread=FixedSpread(2.0)))
    w = johansen(sub.loc[:"2001-11-05"], log=True).hedge_weights.to_numpy()
    np.testing.assert_allclose(st.baskets[0].weights, w, rtol=1e-10)
    assert len(res.fills) == 0 or (res.fills["timestamp"] > pd.Timestamp("2001-11-05", tz="UTC")).all()
    assert res.groups["net_pnl"].sum() == pytest.approx(res.equity["equity"].iloc[-1] - 1_000_000.0, rel=1e-9)


def test_scan_baskets_matches_single_johansen_runs(sectors):
    form = sectors.loc[:"2012"]
    scan = scan_baskets(form, size=3, log=True, progress=False, executor=None)
    assert len(scan) == 220
    assert scan["trace_ratio"].is_monotonic_decreasing
    for _, row in scan.iloc[[0, 1, 100, -1]].iterrows():
        j = johansen(form[list(row["assets"])], log=True)
        assert row["trace_stat"] == pytest.approx(float(j.trace_stat.iloc[0]), rel=1e-10)
        np.testing.assert_allclose(row["weights"], j.hedge_weights.to_numpy(), rtol=1e-10)
    assert scan.iloc[0]["assets"] == ("XHB", "XLK", "XRT")


# ---- tutorial 94: the 1-minute BTC file

def test_btc_depeg_peak_and_stale_bars(btc):
    close, vol = btc["close"], btc["volume"]
    assert close.shape == (30_240, 3)
    ratio = close[Y] / close[X]
    assert ratio.max() == pytest.approx(1.143, abs=5e-4)
    assert ratio.idxmax() == pd.Timestamp("2023-03-11 07:50", tz="UTC")
    assert (vol[Y] == 0).mean() == pytest.approx(0.43, abs=0.005)
    stale = vol[Y] == 0
    assert (close[Y].diff()[stale].dropna() == 0).all()           # a minute without trades repeats the last close
    assert (btc["high"][Y][stale] == btc["low"][Y][stale]).all()


def test_kalman_zscore_has_no_lookahead(btc):
    c = btc["close"].loc["2023-03-10 12:00":"2023-03-11 12:00"]
    full = KF.filter(c[Y], c[X])
    cut = 900
    part = KF.filter(c[Y].iloc[:cut], c[X].iloc[:cut])
    np.testing.assert_array_equal(part.zscore.to_numpy(), full.zscore.to_numpy()[:cut])
    np.testing.assert_array_equal(part.beta.to_numpy(), full.beta.to_numpy()[:cut])
    # a shock after the cut leaves every earlier z unchanged
    shocked = c[Y].copy()
    shocked.iloc[cut:] *= 1.2
    np.testing.assert_array_equal(KF.filter(shocked, c[X]).zscore.to_numpy()[:cut], full.zscore.to_numpy()[:cut])


def test_fast_path_decisions_have_no_lookahead(btc):
    c = btc["close"].loc["2023-03-08":"2023-03-08 23:59", [Y, X]]
    o = btc["open"].loc[c.index, [Y, X]]
    kw = dict(kalman=KF, window=60, entry=2.0, exit=0.0, notional=100_000.0)
    full = run_pairs_backtest(c, [(Y, X)], open=o, **kw)
    cut = 700
    part = run_pairs_backtest(c.iloc[:cut], [(Y, X)], open=o.iloc[:cut], **kw)
    for k in ("z", "hedge_ratio", "position"):
        pd.testing.assert_frame_equal(part.decisions[k], full.decisions[k].iloc[:cut])


def _traded(btc, start, end):
    asis = {f: v.loc[start:end, [Y, X]] for f, v in btc.items()}
    return asis, {f: v.where(asis["volume"] > 0) for f, v in asis.items()}


def test_fast_path_equals_event_engine_on_bars_with_gaps(btc):
    _, traded = _traded(btc, "2023-03-11", "2023-03-11 23:59")        # the depeg day, 43% gaps in BTCUSDC
    fast = run_pairs_backtest(traded["close"], [(Y, X)], open=traded["open"], volume=traded["volume"], kalman=KF,
                              window=60, entry=2.0, exit=0.0, stop=4.0, notional=100_000.0, half_spread_bps=0.5)
    dh = DataHandler.from_wide(traded["close"], open=traded["open"], high=traded["high"], low=traded["low"],
                               volume=traded["volume"])
    st = PairsStrategy(dh, [(Y, X)], hedge="kalman", kalman=KF, window=60, entry=2.0, exit=0.0, stop=4.0)
    ev = run_backtest(dh, st, Portfolio(dh, sizing=FixedNotional(100_000.0)), ExecutionHandler(dh, spread=FixedSpread(0.5)))
    assert len(fast.fills) == len(ev.fills) > 0
    e_fast = fast.equity["equity"].reindex(ev.equity.index)
    np.testing.assert_allclose(e_fast.to_numpy(), ev.equity["equity"].to_numpy(), rtol=1e-12)
    # no fill in a minute without trades
    assert set(ev.fills["timestamp"]) <= set(traded["volume"][Y].dropna().index) | set(traded["volume"][X].dropna().index)


def test_stale_closes_make_a_phantom_edge(btc):
    asis, traded = _traded(btc, "2023-03-08", "2023-03-10 23:59")
    kw = dict(kalman=KF, window=60, entry=2.0, exit=0.0, notional=100_000.0)
    at_close = run_pairs_backtest(asis["close"], [(Y, X)], open=asis["close"].shift(1).fillna(asis["open"]), **kw)
    real = run_pairs_backtest(traded["close"], [(Y, X)], open=traded["open"], **kw)
    pnl_close = at_close.equity["equity"].iloc[-1] - at_close.initial_cash
    pnl_real = real.equity["equity"].iloc[-1] - real.initial_cash
    assert pnl_close > 20_000
    assert abs(pnl_real) < 0.1 * pnl_close


def test_minute_annualisation(btc):
    r = btc["close"][X].pct_change().dropna().loc["2023-03-08":]
    s_min, s_day = sharpe_ratio(r, periods_per_year=PPY), sharpe_ratio(r, periods_per_year=252)
    assert s_min / s_day == pytest.approx(math.sqrt(PPY / 252), rel=1e-12)
    assert s_min == pytest.approx(r.mean() / r.std() * math.sqrt(PPY), rel=1e-12)
