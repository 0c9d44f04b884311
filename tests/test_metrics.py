"""statarb.risk.metrics: performance and risk metrics of returns, positions and trades.

Oracles: quantstats.stats and empyrical on real return series (the bundled S&P 500 index and several of the 20 stocks),
with and without a risk-free rate, at 1e-10 relative where they define the same quantity; where they define it
differently (CAGR's year count with missing values, VaR/CVaR method, PSR's moment estimators, the rf convention,
zero-edge cases) the relation is tested exactly. Also: hand-worked cases, the S&P 500 drawdown facts, the numerical
example of Bailey & Lopez de Prado (2014), brute-force invariants (drawdown, durations, rolling windows), the
Fama-French daily risk-free rate as a time-varying rf (test-only data, skipped where absent), every error path, and
the benchmark's smoke run.
"""
import math
import subprocess
import sys
import warnings
from pathlib import Path

import empyrical as ep
import empyrical.stats as eps
import numpy as np
import pandas as pd
import pytest
import quantstats.stats as qs
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from statarb.data.sources import load_sample
from statarb.risk import metrics as m
from statarb.risk.metrics import AnnualisationWarning, UndefinedMetricWarning

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-10
RF_ANNUAL = 0.03
RF = (1 + RF_ANNUAL) ** (1 / 252) - 1          # the same rate per trading day (quantstats' de-annualisation)
REQ_ANNUAL = 0.05
THRESHOLD = (1 + REQ_ANNUAL) ** (1 / 252) - 1


def close(a, b, tol=TOL):
    a, b = float(a), float(b)
    assert math.isfinite(a) and math.isfinite(b), (a, b)
    assert abs(a - b) <= tol * max(abs(b), 1e-300), (a, b, abs(a - b) / abs(b))


@pytest.fixture(scope="module")
def spx() -> pd.Series:
    return load_sample("sp500_index")["SP500"].pct_change().dropna().rename("SP500")


@pytest.fixture(scope="module")
def stocks() -> pd.DataFrame:
    return load_sample("sp500_20stocks")[["KO", "PEP", "XOM", "AMD", "RRC", "AAPL"]].pct_change().iloc[1:]


@pytest.fixture(scope="module", params=["SP500", "KO", "XOM", "AMD", "RRC"])
def series(request, spx, stocks) -> pd.Series:
    return spx if request.param == "SP500" else stocks[request.param]


@pytest.fixture(autouse=True)
def _quiet_peers():
    "quantstats and empyrical emit their own deprecation chatter; statarb's warnings are asserted explicitly."
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


# ---------------------------------------------------------------- equal to both peers on real data

def test_sharpe_equals_quantstats_and_empyrical(series):
    close(m.sharpe_ratio(series), qs.sharpe(series))
    close(m.sharpe_ratio(series), ep.sharpe_ratio(series))
    # rf: quantstats takes the annual rate and de-annualises it; empyrical and statarb take the per-period rate
    close(m.sharpe_ratio(series, rf=RF), qs.sharpe(series, rf=RF_ANNUAL))
    close(m.sharpe_ratio(series, rf=RF), ep.sharpe_ratio(series, risk_free=RF))


def test_sortino_and_downside_deviation_equal_both_peers(series):
    close(m.sortino_ratio(series), qs.sortino(series))
    close(m.sortino_ratio(series), ep.sortino_ratio(series))
    close(m.sortino_ratio(series, rf=RF), qs.sortino(series, rf=RF_ANNUAL))
    close(m.sortino_ratio(series, rf=RF), ep.sortino_ratio(series, required_return=RF))
    close(m.downside_deviation(series, rf=RF), ep.downside_risk(series, required_return=RF))


def test_sortino_divides_by_all_periods_not_the_losing_ones(series):
    "The textbook variant over the n_neg losing periods is larger by sqrt(n / n_neg): the relation, exactly."
    x = series.to_numpy()
    neg = np.minimum(x, 0)
    alt = x.mean() / np.sqrt((neg ** 2).sum() / (x < 0).sum()) * np.sqrt(252)
    close(m.sortino_ratio(series), alt * np.sqrt(len(x) / (x < 0).sum()))


def test_cagr_volatility_equal_both_peers(series):
    close(m.cagr(series), qs.cagr(series))
    close(m.cagr(series), ep.annual_return(series))
    close(m.cagr(series), ep.cagr(series))
    close(m.annualised_volatility(series), qs.volatility(series))
    close(m.annualised_volatility(series), ep.annual_volatility(series))
    close(m.annualised_return(series), series.mean() * 252, 1e-12)
    close(m.total_return(series), qs.comp(series))


def test_drawdown_and_calmar_equal_both_peers(series):
    close(m.max_drawdown(series), qs.max_drawdown(series))
    close(m.max_drawdown(series), ep.max_drawdown(series))
    np.testing.assert_allclose(m.drawdown(series).to_numpy(), qs.to_drawdown_series(series).to_numpy(), rtol=TOL, atol=1e-15)
    np.testing.assert_allclose(m.drawdown(series).to_numpy(), eps.drawdown_series(series).to_numpy(), rtol=TOL, atol=1e-15)
    close(m.calmar_ratio(series), qs.calmar(series))
    close(m.calmar_ratio(series), ep.calmar_ratio(series))


def test_omega_equals_both_peers_with_the_annual_threshold_converted(series):
    close(m.omega_ratio(series), qs.omega(series))
    close(m.omega_ratio(series), ep.omega_ratio(series))
    close(m.omega_ratio(series, threshold=THRESHOLD), qs.omega(series, required_return=REQ_ANNUAL))
    close(m.omega_ratio(series, rf=RF, threshold=THRESHOLD), qs.omega(series, rf=RF_ANNUAL, required_return=REQ_ANNUAL))
    close(m.omega_ratio(series, rf=RF, threshold=THRESHOLD), ep.omega_ratio(series, risk_free=RF, required_return=REQ_ANNUAL))


def test_tail_ratio_var_cvar_equal_the_peer_that_defines_each(series):
    close(m.tail_ratio(series), qs.tail_ratio(series))
    close(m.tail_ratio(series), ep.tail_ratio(series))
    # historical VaR / CVaR: empyrical's definitions (and quantstats' historical CVaR, no ties at the quantile here)
    close(m.value_at_risk(series), ep.value_at_risk(series))
    close(m.value_at_risk(series, confidence=0.99), ep.value_at_risk(series, cutoff=0.01))
    close(m.conditional_value_at_risk(series), ep.conditional_value_at_risk(series))
    close(m.conditional_value_at_risk(series), qs.cvar(series, method="historical"))
    close(m.conditional_value_at_risk(series, confidence=0.99), ep.conditional_value_at_risk(series, cutoff=0.01))
    # Gaussian (variance-covariance): quantstats' default definitions
    close(m.value_at_risk(series, method="gaussian"), qs.value_at_risk(series))
    close(m.conditional_value_at_risk(series, method="gaussian"), qs.cvar(series))
    close(m.value_at_risk(series, 0.99, method="gaussian"), qs.value_at_risk(series, confidence=0.99))


def test_historical_cvar_tail_size_is_empyricals_and_differs_from_quantstats_only_on_ties():
    "With ties at the interpolated quantile quantstats averages all tied values; empyrical (and statarb) floor((n-1)a)+1."
    x = pd.Series([-0.05, -0.03, -0.03, -0.03, 0.01, 0.02, 0.01, 0.0, 0.01, 0.02, 0.03])
    k = int((len(x) - 1) * 0.25)                       # 2: the 3 smallest
    close(m.conditional_value_at_risk(x, confidence=0.75), np.sort(x)[: k + 1].mean())
    close(m.conditional_value_at_risk(x, confidence=0.75), ep.conditional_value_at_risk(x, cutoff=0.25))
    close(qs.cvar(x, confidence=0.75, method="historical"), np.sort(x)[:4].mean())   # all four values <= -0.03


def test_period_hit_rate_and_profit_factor_equal_quantstats(series):
    close(m.hit_rate(series), qs.win_rate(series))
    close(m.profit_factor(series), qs.profit_factor(series))


def test_rolling_metrics_equal_quantstats(series):
    for got, want in [(m.rolling_sharpe(series, 126), qs.rolling_sharpe(series)),
                      (m.rolling_sharpe(series, 126, rf=RF), qs.rolling_sharpe(series, rf=RF_ANNUAL)),
                      (m.rolling_sortino(series, 126), qs.rolling_sortino(series)),
                      (m.rolling_volatility(series, 126), qs.rolling_volatility(series))]:
        assert got.index.equals(want.index)
        np.testing.assert_array_equal(np.isnan(got.to_numpy()), np.isnan(want.to_numpy()))
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=TOL, equal_nan=True)


def test_dataframe_input_gives_one_value_per_column_equal_to_the_series_calls(stocks):
    for fn, peer in [(m.sharpe_ratio, ep.sharpe_ratio), (m.max_drawdown, ep.max_drawdown), (m.cagr, ep.annual_return)]:
        out = fn(stocks)
        assert isinstance(out, pd.Series) and out.index.tolist() == stocks.columns.tolist()
        for c in stocks.columns: close(out[c], peer(stocks[c]))
    roll = m.rolling_sharpe(stocks, 252)
    assert roll.shape == stocks.shape
    np.testing.assert_allclose(roll["KO"].to_numpy(), m.rolling_sharpe(stocks["KO"], 252).to_numpy(), rtol=0, equal_nan=True)


# ---------------------------------------------------------------- where the peers differ: the relations, exactly

def test_missing_values_drop_is_quantstats_and_zero_is_empyricals_cagr(spx):
    r = spx.copy()
    r.iloc[[5, 500, 4000, 8000]] = np.nan
    close(m.cagr(r, missing="drop"), qs.cagr(r))                 # years = count of returns / 252
    close(m.cagr(r, missing="zero"), ep.annual_return(r))        # years = rows / 252, NaN compounding as 0
    assert abs(qs.cagr(r) - ep.annual_return(r)) > 1e-7          # the peers disagree with each other
    n, k = len(r), int(r.isna().sum())
    growth = np.nanprod(1 + r.to_numpy())
    close((1 + m.cagr(r, missing="drop")) ** ((n - k) / 252), growth, 1e-12)
    close((1 + m.cagr(r, missing="zero")) ** (n / 252), growth, 1e-12)
    close(m.sharpe_ratio(r, missing="drop"), qs.sharpe(r))
    close(m.sharpe_ratio(r, missing="drop"), ep.sharpe_ratio(r))
    close(m.max_drawdown(r, missing="drop"), qs.max_drawdown(r))
    close(m.max_drawdown(r, missing="zero"), ep.max_drawdown(r))
    with pytest.raises(ValueError, match=r"returns has missing values; it has 4 \(first at 1990-01-10\)"):
        m.cagr(r)


def test_psr_reproduces_quantstats_with_its_moment_estimators_and_uses_the_papers_own(series):
    x = series.to_numpy()
    sr = x.mean() / x.std(ddof=1)
    # quantstats: pandas' bias-corrected skew and excess kurtosis + 3
    close(m.psr_from_stats(sr, len(x), series.skew(), series.kurt() + 3), qs.probabilistic_sharpe_ratio(series))
    # statarb: the paper's sample moments m3/m2^1.5 and m4/m2^2 (scipy's biased estimators)
    close(m.probabilistic_sharpe_ratio(series), m.psr_from_stats(sr, len(x), sps.skew(x), sps.kurtosis(x, fisher=False)))
    # with a rate: the Sharpe ratio of excess returns; moments of a constant shift are unchanged
    e = x - RF
    close(m.probabilistic_sharpe_ratio(series, rf=RF), m.psr_from_stats(e.mean() / e.std(ddof=1), len(x), sps.skew(x), sps.kurtosis(x, fisher=False)), 1e-9)
    close(m.psr_from_stats(e.mean() / e.std(ddof=1), len(x), series.skew(), series.kurt() + 3), qs.probabilistic_sharpe_ratio(series, rf=RF_ANNUAL), 1e-9)


def test_psr_benchmark_is_annualised_and_psr_of_its_own_sharpe_is_one_half(spx):
    sr = m.sharpe_ratio(spx)
    close(m.probabilistic_sharpe_ratio(spx, benchmark_sharpe=sr), 0.5, 1e-12)
    assert m.probabilistic_sharpe_ratio(spx, 1.0) < 0.5 < m.probabilistic_sharpe_ratio(spx, 0.0)


def test_dsr_reproduces_the_papers_numerical_example():
    "Bailey & Lopez de Prado (2014): N=100, V=1/2 annualised, SR=2.5 annualised, T=1250, skew -3, kurtosis 10."
    sr0 = m.expected_max_sharpe(100, 0.5 / 250)
    close(sr0, 0.1132, 5e-4)
    dsr = m.dsr_from_stats(2.5 / math.sqrt(250), 1250, 100, 0.5 / 250, skew=-3, kurtosis=10)
    close(dsr, 0.9004, 2e-4)
    # the same by hand: PSR against SR0 with the paper's denominator
    sr = 2.5 / math.sqrt(250)
    z = (sr - sr0) * math.sqrt(1249) / math.sqrt(1 + 3 * sr + 9 / 4 * sr ** 2)
    close(dsr, sps.norm.cdf(z), 1e-12)
    zmax = (1 - np.euler_gamma) * sps.norm.ppf(1 - 1 / 100) + np.euler_gamma * sps.norm.ppf(1 - 1 / (100 * np.e))
    close(sr0, math.sqrt(0.5 / 250) * zmax, 1e-12)


def test_deflated_sharpe_converts_annualised_inputs(spx):
    sr0_ann = m.expected_max_sharpe(20, 0.25)
    close(m.deflated_sharpe_ratio(spx, 20, 0.25), m.probabilistic_sharpe_ratio(spx, sr0_ann), 1e-14)
    x = spx.to_numpy()
    close(m.deflated_sharpe_ratio(spx, 20, 0.25),
          m.dsr_from_stats(x.mean() / x.std(ddof=1), len(x), 20, 0.25 / 252, sps.skew(x), sps.kurtosis(x, fisher=False)), 1e-12)
    assert m.deflated_sharpe_ratio(spx, 1000, 0.25) < m.deflated_sharpe_ratio(spx, 20, 0.25) < m.probabilistic_sharpe_ratio(spx)


def test_hand_worked_psr():
    close(m.psr_from_stats(0.1, 101), sps.norm.cdf(1 / math.sqrt(1.005)), 1e-14)


def test_zero_edge_cases_are_nan_with_a_named_warning_where_quantstats_returns_zero():
    z = pd.Series(0.0, index=pd.bdate_range("2020-01-01", periods=50))
    with pytest.warns(UndefinedMetricWarning, match="hit_rate is undefined: every return is zero"):
        assert math.isnan(m.hit_rate(z))
    with pytest.warns(UndefinedMetricWarning, match="profit_factor is undefined: there is neither a gain nor a loss"):
        assert math.isnan(m.profit_factor(z))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert qs.win_rate(z) == 0.0 and qs.profit_factor(z) == 0.0
    assert m.profit_factor(pd.Series([0.01, 0.0, 0.02])) == math.inf == qs.profit_factor(pd.Series([0.01, 0.0, 0.02]))


@pytest.mark.parametrize("fn, match", [
    (m.sharpe_ratio, "sharpe_ratio is undefined: the excess returns have zero volatility"),
    (m.sortino_ratio, "sortino_ratio is undefined: no return falls below the target rf"),
    (m.calmar_ratio, "calmar_ratio is undefined: the series never falls below its running peak"),
    (m.omega_ratio, "omega_ratio is undefined: no return falls below the threshold"),
    (m.probabilistic_sharpe_ratio, "probabilistic_sharpe_ratio is undefined"),
])
def test_constant_series_metrics_are_nan_with_undefined_metric_warning(fn, match):
    flat = pd.Series(0.001, index=pd.bdate_range("2020-01-01", periods=300), name="flat")
    with pytest.warns(UndefinedMetricWarning, match=match):
        assert math.isnan(fn(flat))


def test_undefined_warning_names_the_column_and_points_at_the_caller():
    df = pd.DataFrame({"a": [0.01, -0.01, 0.02], "b": [0.01, 0.01, 0.01]})
    with pytest.warns(UndefinedMetricWarning, match="for column 'b'") as rec:
        out = m.sharpe_ratio(df)
    assert math.isnan(out["b"]) and math.isfinite(out["a"])
    assert rec[0].filename == __file__
    with pytest.warns(UndefinedMetricWarning) as rec:
        m.tail_ratio(pd.Series([0.0] * 10 + [0.01]))
    assert rec[0].filename == __file__


def test_tail_ratio_undefined_when_lower_quantile_is_zero():
    with pytest.warns(UndefinedMetricWarning, match="tail_ratio is undefined: the 5.00% quantile is 0"):
        assert math.isnan(m.tail_ratio(pd.Series([0.0] * 30 + [0.01, -0.01])))


# ---------------------------------------------------------------- time-varying risk-free rate (test-only data)

def test_time_varying_rf_from_fama_french_equals_both_peers(shared_data, spx):
    ff = pd.read_parquet(shared_data / "ff3_daily_pct.parquet")
    rf_daily = (ff["RF"] / 100).reindex(spx.index)
    assert rf_daily.notna().all()
    close(m.sharpe_ratio(spx, rf=rf_daily), ep.sharpe_ratio(spx, risk_free=rf_daily))
    x = spx.to_numpy() - rf_daily.to_numpy()
    close(m.sharpe_ratio(spx, rf=rf_daily), x.mean() / x.std(ddof=1) * math.sqrt(252), 1e-12)
    close(m.sharpe_ratio(spx, rf=rf_daily), qs.sharpe(spx, rf=(1 + rf_daily) ** 252 - 1), 1e-9)   # quantstats: annual
    close(m.sortino_ratio(spx, rf=rf_daily), qs.sortino(spx, rf=(1 + rf_daily) ** 252 - 1), 1e-9)
    with pytest.raises(ValueError, match=r"rf must hold a finite per-period rate for every returns timestamp; \d+ of 8312 are missing"):
        m.sharpe_ratio(spx, rf=(ff["RF"] / 100).resample("ME").last())     # a monthly rate: mismatched frequency


# ---------------------------------------------------------------- drawdown facts and invariants

def test_sp500_drawdown_facts(spx):
    d = m.drawdown_details(spx)
    close(d.max_drawdown, -0.567754, 1e-5)                                    # 1565.15 -> 676.53
    assert (d.peak, d.trough, d.recovery) == (pd.Timestamp("2007-10-09"), pd.Timestamp("2009-03-09"), pd.Timestamp("2013-03-28"))
    px = load_sample("sp500_index")["SP500"]
    close(d.max_drawdown, px["2009-03-09"] / px["2007-10-09"] - 1, 1e-12)
    # the shared README's "about -47% (2008-09)": a series starting in September 2008
    close(m.max_drawdown(spx["2008-09-03":"2009-12-31"]), px["2009-03-09"] / px["2008-09-02"] - 1, 1e-12)
    close(m.max_drawdown(spx["2008-09-03":"2009-12-31"]), -0.4705, 1e-3)
    # "-34% to 2020-03-23"
    c = m.drawdown_details(spx["2020"])
    assert (c.peak, c.trough) == (pd.Timestamp("2020-02-19"), pd.Timestamp("2020-03-23"))
    close(c.max_drawdown, px["2020-03-23"] / px["2020-02-19"] - 1, 1e-12)
    close(c.max_drawdown, -0.3392, 1e-3)


def _brute_mdd(x):
    w = np.concatenate(([1.0], np.cumprod(1 + x)))
    return min(0.0, min(w[j] / w[: j + 1].max() - 1 for j in range(len(w))))


def _brute_longest(x):
    w = np.cumprod(1 + x)
    best = run = 0
    peak = 1.0
    for v in w:
        peak = max(peak, v)
        run = run + 1 if v < peak else 0
        best = max(best, run)
    return best


@pytest.mark.parametrize("seed", range(5))
def test_drawdown_duration_and_rolling_drawdown_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0005, 0.02, 300)
    x[rng.random(300) < 0.05] = 0.0
    s = pd.Series(x, index=pd.bdate_range("2015-01-01", periods=300))
    close(m.max_drawdown(s), _brute_mdd(x), 1e-12)
    assert m.max_drawdown_duration(s) == _brute_longest(x)
    for w in (2, 7, 20, 63):
        got = m.rolling_max_drawdown(s, w).to_numpy()
        want = np.array([np.nan] * (w - 1) + [_brute_mdd(x[t - w + 1: t + 1]) for t in range(w - 1, 300)])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-14, equal_nan=True)
        rs = m.rolling_sharpe(s, w).to_numpy()
        win = [x[t - w + 1: t + 1] for t in range(w - 1, 300)]
        want = [v.mean() / v.std(ddof=1) * np.sqrt(252) if v.max() > v.min() else np.nan for v in win]
        np.testing.assert_allclose(rs[w - 1:], want, rtol=1e-9, equal_nan=True)


def test_rolling_max_drawdown_with_a_total_loss_uses_each_windows_own_start():
    s = pd.Series([0.1, -0.2, -1.0, 0.5, 0.1, 0.2, -0.1])
    got = m.rolling_max_drawdown(s, 3).to_numpy()
    want = [np.nan, np.nan] + [_brute_mdd(s.to_numpy()[t - 2: t + 1]) for t in range(2, 7)]
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


def test_drawdown_details_hand_worked():
    h = pd.Series([0.10, -0.10, 0.05, 0.10, -0.20], index=pd.date_range("2024-01-01", periods=5))
    d = m.drawdown_details(h.iloc[:4])
    assert (d.peak, d.trough, d.recovery, d.duration, d.longest_underwater) == (h.index[0], h.index[1], h.index[3], 3, 2)
    close(d.max_drawdown, -0.1, 1e-12)
    d = m.drawdown_details(h)
    assert (d.peak, d.trough, d.recovery, d.duration) == (h.index[3], h.index[4], None, 1)
    assert m.drawdown_details(pd.Series([-0.1, 0.2])).peak is None
    up = m.drawdown_details(pd.Series([0.01, 0.02]))
    assert (up.max_drawdown, up.peak, up.duration) == (0.0, None, 0)
    assert "DrawdownResult" in d.summary() and "max_drawdown" in d._repr_markdown_()
    with pytest.raises(TypeError, match="returns must be Series; got DataFrame"):
        m.drawdown_details(h.to_frame())


# ---------------------------------------------------------------- positions and trades

def test_exposure_turnover_and_implied_holding_period():
    idx = pd.bdate_range("2024-01-01", periods=16)
    w = pd.DataFrame({"A": np.tile([0.5] * 4 + [-0.5] * 4, 2), "B": np.tile([-0.5] * 4 + [0.5] * 4, 2)}, index=idx)
    ex = m.exposure(w)
    assert (ex["gross"] == 1.0).all() and (ex["net"] == 0.0).all() and (ex["long"] == 0.5).all() and (ex["short"] == -0.5).all()
    t = m.turnover(w)
    np.testing.assert_array_equal(t.to_numpy(), [1.0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0])
    np.testing.assert_array_equal(m.turnover(w, include_initial=False).to_numpy(), t.to_numpy()[1:])
    close(m.annualised_turnover(w, 252), 7 / 16 * 252, 1e-14)
    close(m.holding_period_from_turnover(w.iloc[3:], include_initial=False), 4.0, 1e-14)
    # the pandas way
    pd.testing.assert_series_equal(t, w.diff().fillna(w).abs().sum(axis=1).rename("turnover"))
    with pytest.warns(UndefinedMetricWarning, match="holding_period_from_turnover is undefined"):
        assert math.isnan(m.holding_period_from_turnover(w.iloc[:4], include_initial=False))


def test_trade_metrics_hand_worked():
    trades = pd.DataFrame({
        "entry_time": pd.to_datetime(["2024-01-02", "2024-01-05", "2024-01-10", "2024-01-15"]),
        "exit_time": pd.to_datetime(["2024-01-04", "2024-01-09", "2024-01-12", "2024-01-22"]),
        "pnl": [120.0, -80.0, 0.0, 40.0], "notional": [1e4, 2e4, 1e4, 1e4], "slippage_bps": [1.0, 2.0, 0.5, 1.5]})
    assert m.trade_hit_rate(trades) == 2 / 3
    close(m.trade_profit_factor(trades), 2.0, 1e-14)
    assert m.average_holding_period(trades) == pd.Timedelta(hours=90)
    close(m.average_slippage_bps(trades), 7 / 5, 1e-14)
    close(m.average_slippage_bps(trades.drop(columns="notional")), 1.25, 1e-14)
    numeric = trades.assign(entry_time=[0, 3, 6, 9], exit_time=[2, 7, 8, 16])
    assert m.average_holding_period(numeric) == 3.75
    assert m.trade_profit_factor(trades.assign(pnl=[1.0, 2.0, 0.0, 3.0])) == math.inf
    with pytest.warns(UndefinedMetricWarning, match="trade_hit_rate is undefined: every trade has zero pnl"):
        assert math.isnan(m.trade_hit_rate(trades.assign(pnl=0.0)))


# ---------------------------------------------------------------- the report

def test_performance_summary_rows_equal_the_single_functions(stocks, spx):
    bench = spx.reindex(stocks.index)
    rep = m.performance_summary(stocks[["KO", "XOM"]], rf=RF, benchmark=bench)
    t = rep.to_frame()
    assert t.columns.tolist() == ["KO", "XOM", "SP500"]
    for c, r in [("KO", stocks["KO"]), ("XOM", stocks["XOM"]), ("SP500", bench)]:
        close(t.loc["sharpe_ratio", c], ep.sharpe_ratio(r, risk_free=RF))
        close(t.loc["sortino_ratio", c], qs.sortino(r, rf=RF_ANNUAL))
        close(t.loc["cagr", c], qs.cagr(r))
        close(t.loc["max_drawdown", c], ep.max_drawdown(r))
        close(t.loc["calmar_ratio", c], ep.calmar_ratio(r))
        close(t.loc["omega_ratio", c], ep.omega_ratio(r, risk_free=RF))
        close(t.loc["tail_ratio", c], ep.tail_ratio(r))
        close(t.loc["value_at_risk", c], ep.value_at_risk(r))
        close(t.loc["conditional_value_at_risk", c], ep.conditional_value_at_risk(r))
        close(t.loc["hit_rate", c], qs.win_rate(r))
        close(t.loc["profit_factor", c], qs.profit_factor(r))
        close(t.loc["annualised_volatility", c], qs.volatility(r))
        close(t.loc["probabilistic_sharpe_ratio", c], m.probabilistic_sharpe_ratio(r, rf=RF), 1e-12)
        assert t.loc["max_drawdown_duration", c] == m.max_drawdown_duration(r)
        close(t.loc["skew", c], sps.skew(r), 1e-9)
        close(t.loc["kurtosis", c], sps.kurtosis(r, fisher=False), 1e-9)
    close(t.loc["beta", "KO"], ep.beta(stocks["KO"], bench))
    close(t.loc["information_ratio", "KO"], qs.information_ratio(stocks["KO"], bench) * math.sqrt(252))
    close(t.loc["correlation", "KO"], np.corrcoef(stocks["KO"], bench)[0, 1], 1e-12)
    assert rep.drawdown.shape == (len(stocks), 3) and rep.wealth.shape == (len(stocks), 3)
    close(rep.wealth["KO"].iloc[-1], 1 + m.total_return(stocks["KO"]), 1e-12)
    s = rep.summary()
    assert s.startswith("PerformanceReport  1990-01-03 .. 2022-12-28, 8312 periods, periods_per_year=252")
    assert "sharpe_ratio" in s and "| sharpe_ratio |" in rep._repr_markdown_()
    assert repr(rep).startswith("PerformanceReport(periods_per_year=252")


def test_performance_summary_with_positions_and_trades(stocks):
    r = stocks["KO"].iloc[:500]
    w = pd.DataFrame({"KO": 1.0, "PEP": -0.5}, index=r.index)
    w.iloc[::50] = 0.0
    trades = pd.DataFrame({"entry_time": r.index[[0, 100]], "exit_time": r.index[[50, 200]], "pnl": [10.0, -5.0],
                           "slippage_bps": [2.0, 4.0], "notional": [1.0, 3.0]})
    t = m.performance_summary(r, positions=w, trades=trades).table["KO"]
    close(t["average_gross"], m.exposure(w)["gross"].mean(), 1e-14)
    close(t["average_short"], m.exposure(w)["short"].mean(), 1e-14)
    close(t["annualised_turnover"], m.annualised_turnover(w), 1e-14)
    close(t["holding_period_periods"], m.holding_period_from_turnover(w), 1e-14)
    assert t["n_trades"] == 2 and t["trade_hit_rate"] == 0.5 and t["trade_profit_factor"] == 2.0
    close(t["average_slippage_bps"], 3.5, 1e-14)
    close(t["average_holding_days"], ((r.index[50] - r.index[0]) + (r.index[200] - r.index[100])) / 2 / pd.Timedelta(days=1), 1e-14)


def test_performance_summary_plot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    r = pd.Series(np.random.default_rng(0).normal(0, 0.01, 100), index=pd.bdate_range("2020-01-01", periods=100))
    fig = m.performance_summary(r).plot(title="t")
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 1 and fig.axes[0].get_title() == "t"
    plt.close("all")


# ---------------------------------------------------------------- warnings for suspicious input

def test_annualisation_warning_for_monthly_data_with_daily_default(spx):
    monthly = (1 + spx).resample("ME").prod() - 1
    with pytest.warns(AnnualisationWarning, match="periods_per_year=252 but the index holds about 12 observations per year"):
        m.sharpe_ratio(monthly)
    with pytest.warns(AnnualisationWarning, match="about 12 observations per year") as rec:
        m.rolling_sharpe(monthly, 12)
    assert rec[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.sharpe_ratio(monthly, periods_per_year=12)
        m.sharpe_ratio(spx)                                  # daily data, 252: silent
    with pytest.warns(AnnualisationWarning, match=r"about 1.023e\+05 observations per year .*252\*390 minute bars"):
        idx = pd.DatetimeIndex(np.concatenate([pd.date_range(d + pd.Timedelta("9h31min"), periods=390, freq="min")
                                               for d in pd.bdate_range("2024-01-02", periods=100)]))
        m.annualised_volatility(pd.Series(np.random.default_rng(0).normal(0, 1e-4, len(idx)), index=idx))


def test_annual_rate_passed_as_per_period_rf_warns(spx):
    with pytest.warns(AnnualisationWarning, match="rf averages 0.03 per period, 7.56 a year at periods_per_year=252"):
        m.sharpe_ratio(spx, rf=0.03)


# ---------------------------------------------------------------- every error path

@pytest.mark.parametrize("bad, exc, match", [
    ([0.1, 0.2], TypeError, "returns must be Series or DataFrame; got list"),
    (pd.Series([], dtype=float), ValueError, r"returns must not be empty; got shape \(0,\)"),
    (pd.DataFrame(index=range(3)), ValueError, r"returns must not be empty; got shape \(3, 0\)"),
    (pd.Series(["a", "b"]), TypeError, "returns must be numeric; it has dtype"),
    (pd.DataFrame({"x": [True, False]}), TypeError, "returns must be numeric; column 'x' has dtype bool"),
    (pd.Series([0.1, np.inf]), ValueError, "returns must be finite; it has 1 infinite values"),
    (pd.Series([np.nan, np.nan]), ValueError, "returns must hold some values; it has only missing values"),
    (pd.Series([0.1, -1.2]), ValueError, r"returns must be simple returns >= -1 .* 1 values below -1 \(first -1.2 at 1\)"),
    (pd.Series([100.0, 101.0]), ValueError, "returns look like prices, not returns; it has no negative value and a maximum of 101"),
    (pd.Series([0.1, 0.2], index=pd.to_datetime(["2024-01-02", "2024-01-01"])), ValueError, "returns index must be sorted ascending"),
    (pd.Series([0.1, 0.2], index=pd.to_datetime(["2024-01-02", "2024-01-02"])), ValueError, "returns index must be unique"),
])
def test_bad_returns_raise_with_a_message_naming_the_problem(bad, exc, match):
    with pytest.raises(exc, match=match):
        m.sharpe_ratio(bad)


def test_bad_arguments_raise(spx):
    with pytest.raises(ValueError, match="missing must be one of 'raise', 'drop', 'zero'; got 'ffill'"):
        m.sharpe_ratio(spx, missing="ffill")
    with pytest.raises(ValueError, match="periods_per_year must be > 0 and finite; got -1"):
        m.cagr(spx, periods_per_year=-1)
    with pytest.raises(ValueError, match="sharpe_ratio needs at least 2 returns; got 1"):
        m.sharpe_ratio(spx.iloc[:1])
    with pytest.raises(ValueError, match="annualised_volatility needs at least 2 returns"):
        m.annualised_volatility(spx.iloc[:1])
    with pytest.raises(ValueError, match="sortino_ratio needs at least 2 returns"):
        m.sortino_ratio(spx.iloc[:1])
    with pytest.raises(ValueError, match="probabilistic_sharpe_ratio needs at least 3 returns"):
        m.probabilistic_sharpe_ratio(spx.iloc[:2])
    with pytest.raises(ValueError, match="performance_summary needs at least 3 returns"):
        m.performance_summary(spx.iloc[:2])
    with pytest.raises(TypeError, match="rf must be a per-period rate"):
        m.sharpe_ratio(spx, rf="3%")
    with pytest.raises(TypeError, match="rf must be a per-period rate"):
        m.sharpe_ratio(spx, rf=True)
    with pytest.raises(ValueError, match="rf must be a finite per-period rate > -1; got nan"):
        m.sharpe_ratio(spx, rf=float("nan"))
    with pytest.raises(TypeError, match="rf must be numeric"):
        m.sharpe_ratio(spx, rf=pd.Series("x", index=spx.index))
    with pytest.raises(ValueError, match="rf must hold a finite per-period rate for every returns timestamp; 1 of 8312"):
        m.sharpe_ratio(spx, rf=pd.Series(0.0, index=spx.index).mask(spx.index == spx.index[9]))
    with pytest.raises(ValueError, match="threshold must be a finite per-period return; got inf"):
        m.omega_ratio(spx, threshold=math.inf)
    with pytest.raises(ValueError, match=r"confidence must be in \[0.5, 1\) \(e.g. 0.95, not 95\); got 95"):
        m.value_at_risk(spx, confidence=95)
    with pytest.raises(ValueError, match=r"confidence must be in \[0.5, 1\)"):
        m.tail_ratio(spx, cutoff=0.05)
    with pytest.raises(ValueError, match="method must be one of 'historical', 'gaussian'; got 'cornish-fisher'"):
        m.conditional_value_at_risk(spx, method="cornish-fisher")
    with pytest.raises(ValueError, match="window must be >= 2; got 1"):
        m.rolling_sortino(spx, 1)
    with pytest.raises(TypeError, match="window must be an integer"):
        m.rolling_max_drawdown(spx, 2.5)
    with pytest.raises(ValueError, match="n_obs must be >= 2; got 1"):
        m.psr_from_stats(0.1, 1)
    with pytest.raises(ValueError, match="must be finite"):
        m.psr_from_stats(float("nan"), 10)
    with pytest.raises(ValueError, match="is kurtosis the raw kurtosis"):
        m.psr_from_stats(0.5, 10, skew=2.0, kurtosis=0.2)
    with pytest.raises(ValueError, match="n_trials must be >= 2; got 1"):
        m.deflated_sharpe_ratio(spx, 1, 0.5)
    with pytest.raises(ValueError, match="trials_sharpe_variance must be >= 0 and finite; got -0.1"):
        m.expected_max_sharpe(10, -0.1)


def test_bad_weights_raise():
    idx = pd.bdate_range("2024-01-01", periods=3)
    with pytest.raises(TypeError, match="weights must be Series or DataFrame; got ndarray"):
        m.exposure(np.ones((3, 2)))
    with pytest.raises(ValueError, match="weights must not be empty"):
        m.turnover(pd.DataFrame(index=idx))
    with pytest.raises(TypeError, match="weights must be numeric; column 'A' has dtype"):
        m.exposure(pd.DataFrame({"A": ["x"] * 3}, index=idx))
    with pytest.raises(ValueError, match=r"weights must be finite; 1 values are missing or infinite \(first in column 'B' at 2024-01-02\).*fillna\(0.0\)"):
        m.exposure(pd.DataFrame({"A": [1.0, 1, 1], "B": [0.0, np.nan, 0]}, index=idx))
    with pytest.raises(ValueError, match="weights index must be sorted ascending"):
        m.turnover(pd.DataFrame({"A": [1.0, 1, 1]}, index=idx[::-1]))
    with pytest.raises(ValueError, match="weights must have at least 2 rows when include_initial=False"):
        m.annualised_turnover(pd.DataFrame({"A": [1.0]}, index=idx[:1]), include_initial=False)


def test_bad_trades_raise():
    t = pd.DataFrame({"entry_time": pd.to_datetime(["2024-01-02", "2024-01-05"]),
                      "exit_time": pd.to_datetime(["2024-01-04", "2024-01-09"]), "pnl": [1.0, -1.0]})
    with pytest.raises(TypeError, match="trades must be DataFrame; got dict"):
        m.trade_hit_rate(t.to_dict())
    with pytest.raises(ValueError, match="trades must have columns entry_time, exit_time, pnl; missing exit_time"):
        m.trade_hit_rate(t.drop(columns="exit_time"))
    with pytest.raises(ValueError, match="trades must have columns entry_time, exit_time, pnl, slippage_bps; missing slippage_bps"):
        m.average_slippage_bps(t)
    with pytest.raises(ValueError, match="trades must not be empty; got 0 rows"):
        m.trade_profit_factor(t.iloc[:0])
    with pytest.raises(TypeError, match="trades column 'pnl' must be numeric"):
        m.trade_hit_rate(t.assign(pnl=["a", "b"]))
    with pytest.raises(ValueError, match=r"trades column 'pnl' must be finite; 1 rows are not \(first at row 1\)"):
        m.trade_hit_rate(t.assign(pnl=[1.0, np.nan]))
    with pytest.raises(ValueError, match="trades column 'notional' must be > 0"):
        m.trade_hit_rate(t.assign(notional=[1.0, -1.0]))
    with pytest.raises(TypeError, match="trades entry_time and exit_time must be timestamps or numbers of one kind"):
        m.average_holding_period(t.assign(exit_time=[1, 2]))
    with pytest.raises(ValueError, match="trades entry_time and exit_time must not be missing; 1 rows are"):
        m.average_holding_period(t.assign(exit_time=[pd.NaT, pd.Timestamp("2024-01-09")]))
    with pytest.raises(ValueError, match=r"trades exit_time must not be before entry_time; 1 rows are \(first at row 1\)"):
        m.average_holding_period(t.assign(exit_time=pd.to_datetime(["2024-01-04", "2024-01-01"])))


def test_bad_report_inputs_raise(stocks, spx):
    with pytest.raises(TypeError, match="benchmark must be Series; got DataFrame"):
        m.performance_summary(stocks["KO"], benchmark=spx.to_frame())
    monthly = (1 + spx).resample("ME").prod() - 1
    with pytest.raises(ValueError, match=r"benchmark must have the returns' index \(8312 timestamps\); .*mismatched frequencies"):
        m.performance_summary(stocks["KO"], benchmark=monthly)
    w = pd.DataFrame({"KO": 1.0}, index=stocks.index[::5])
    with pytest.raises(ValueError, match="positions must have the returns' index"):
        m.performance_summary(stocks["KO"], positions=w)
    with pytest.raises(ValueError, match="positions and trades describe one strategy; returns has 2 columns"):
        m.performance_summary(stocks[["KO", "PEP"]], positions=w)


# ---------------------------------------------------------------- benchmark smoke run

def test_bench_metrics_quick_prints_ratios_and_agreement():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_metrics.py"), "--quick"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ratio quantstats / statarb (same metrics):" in run.stdout
    assert "<= 1e-9): True" in run.stdout


# ---------------------------------------------------------------- properties

_returns = st.lists(st.floats(-0.5, 0.5, allow_nan=False, allow_infinity=False).map(lambda v: 0.0 if abs(v) < 1e-12 else v),
                    min_size=5, max_size=60)     # no subnormals: scaling them by 0.01 would round them to 0


@settings(max_examples=60, deadline=None)
@given(_returns, st.integers(2, 5))
def test_properties_of_drawdown_and_rolling_drawdown(xs, w):
    s = pd.Series(xs)
    mdd = m.max_drawdown(s)
    assert -1 <= mdd <= 0
    assert abs(mdd - _brute_mdd(np.asarray(xs))) <= 1e-12
    roll = m.rolling_max_drawdown(s, w).to_numpy()[w - 1:]
    assert (roll >= mdd - 1e-12).all() and (roll <= 0).all()      # a window never falls deeper than the whole series
    assert m.max_drawdown_duration(s) == _brute_longest(np.asarray(xs))


@settings(max_examples=60, deadline=None)
@given(_returns, st.floats(0.1, 10))
def test_properties_of_ratios_under_scaling(xs, c):
    s = pd.Series(xs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        a, b = m.sharpe_ratio(s), m.sharpe_ratio(s * c / 10)
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(a))    # scale-free
        o1, o2 = m.omega_ratio(s), m.omega_ratio(s * c / 10)
        assert (math.isnan(o1) and math.isnan(o2)) or abs(o1 - o2) <= 1e-9 * max(1.0, abs(o1))
    assert m.conditional_value_at_risk(s) <= m.value_at_risk(s) + 1e-15


def test_dataframe_with_missing_values_in_different_rows_drops_per_column(stocks):
    df = stocks[["KO", "PEP"]].copy()
    df.iloc[10:20, 0] = np.nan
    df.iloc[500:505, 1] = np.nan
    out = m.sharpe_ratio(df, missing="drop")
    close(out["KO"], m.sharpe_ratio(df["KO"].dropna()), 1e-14)
    close(out["PEP"], m.sharpe_ratio(df["PEP"].dropna()), 1e-14)
    roll = m.rolling_sharpe(df, 20, missing="drop")
    assert roll.index.equals(df.index) and roll["KO"].iloc[10:20].isna().all()
    pd.testing.assert_series_equal(roll["PEP"].dropna(), m.rolling_sharpe(df["PEP"].dropna(), 20).dropna(), check_names=False)
