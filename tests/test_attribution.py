"""statarb.risk.attribution: factor regressions, Fama-French attribution, PCA factors, rolling betas, neutrality monitor.

Oracles: statsmodels OLS (plain and HAC) and RollingOLS, sklearn PCA, empyrical's beta, pandas resampling; real-data
facts (the S&P 500's beta on the Fama-French market factor, monthly bundled and daily in ../shared/data, skipped where
absent); a constructed strategy with known betas for the alerts; every error path.
"""
import warnings

import empyrical
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from statsmodels.regression.rolling import RollingOLS

from statarb.core import DataQualityWarning
from statarb.data.sources import load_sample
from statarb.risk.attribution import (
    FactorRegressionResult,
    NeutralityResult,
    PCAResult,
    compound_returns,
    factor_regression,
    fama_french_attribution,
    infer_frequency,
    neutrality_monitor,
    pca_factors,
    rolling_beta,
)


@pytest.fixture(scope="module")
def rets():
    return load_sample("sp500_20stocks").pct_change().iloc[1:]


@pytest.fixture(scope="module")
def mkt():
    return load_sample("sp500_index")["SP500"].pct_change().iloc[1:]


@pytest.fixture(scope="module")
def spread(rets):
    return (rets["KO"] - rets["PEP"]).rename("KO-PEP")


@pytest.fixture(scope="module")
def ff3m():
    return load_sample("ff3_monthly")


def _daily(shared_data, name):
    p = shared_data / f"{name}.parquet"
    if not p.is_file(): pytest.skip(f"{name}.parquet absent")
    return pd.read_parquet(p)


def _check_vs_statsmodels(r, o):
    np.testing.assert_allclose(r.params["coef"], o.params, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(r.params["std_err"], o.bse, rtol=1e-10)
    np.testing.assert_allclose(r.params["tstat"], o.tvalues, rtol=1e-10)
    np.testing.assert_allclose(r.params["pvalue"], o.pvalues, rtol=1e-8, atol=1e-15)
    assert abs(r.r_squared - o.rsquared) < 1e-10 and abs(r.adj_r_squared - o.rsquared_adj) < 1e-10
    np.testing.assert_allclose(r.residuals.to_numpy(), np.asarray(o.resid), atol=1e-13)


# ---------------------------------------------------------------- frequencies and compounding

def test_infer_frequency(rets, ff3m):
    assert infer_frequency(rets) == "daily" and infer_frequency(ff3m.index) == "monthly"
    assert infer_frequency(rets.iloc[::5]) == "weekly"
    assert infer_frequency(pd.date_range("2000", periods=8, freq="QE")) == "quarterly"
    assert infer_frequency(pd.date_range("2000", periods=8, freq="YE")) == "annual"
    assert infer_frequency(pd.date_range("2000", periods=8, freq="5min")) == "intraday"
    assert infer_frequency(pd.DatetimeIndex(["2000-01-01", "2000-03-01", "2000-08-01", "2001-03-01"])) == "irregular"
    assert infer_frequency(rets.index[:2]) == "unknown"
    with pytest.raises(TypeError, match="index must be DatetimeIndex; got RangeIndex"):
        infer_frequency(pd.RangeIndex(5))


@pytest.mark.parametrize("freq,rule", [("monthly", "ME"), ("quarterly", "QE"), ("annual", "YE"), ("weekly", "W-FRI")])
def test_compound_returns_matches_pandas_resample(spread, freq, rule):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)        # the week of 2001-09-11 has one trading day
        got = compound_returns(spread, freq, partial="keep")
    want = (1 + spread).resample(rule).prod() - 1
    want = want[spread.resample(rule).size() > 0]
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-12)
    assert (got.index == want.index).all() and got.name == "KO-PEP"


def test_compound_returns_partial_edges_and_gaps(spread):
    s = spread.loc["1995-01-18":"1995-12-05"]
    assert str(compound_returns(s).index[0].date()) == "1995-02-28"             # 10 days of January dropped
    assert str(compound_returns(s).index[-1].date()) == "1995-11-30"            # 3 days of December dropped
    assert len(compound_returns(s, partial="keep")) == 12
    with pytest.warns(DataQualityWarning, match=r"1 interior monthly periods have fewer than half"):
        compound_returns(spread.drop(spread.loc["2001-03-05":"2001-03-28"].index))
    with pytest.raises(ValueError, match="they cannot be compounded to weekly"):
        compound_returns(compound_returns(spread), "weekly")
    with pytest.raises(ValueError, match=r"returns contain 1 NaN values in 1 rows \(first at 1990-01-08"):
        compound_returns(spread.where(spread.index != spread.index[3]))
    with pytest.raises(ValueError, match="freq must be one of"):
        compound_returns(spread, "daily")


def test_compound_returns_keeps_timezone(spread):
    out = compound_returns(spread.tz_localize("UTC"))
    assert str(out.index.tz) == "UTC" and str(out.index[0]) == "1990-01-31 00:00:00+00:00"


# ---------------------------------------------------------------- factor regression

@pytest.mark.parametrize("lags", [None, 0, 1, 5, 20])
def test_factor_regression_matches_statsmodels(rets, spread, lags):
    X = rets[["XOM", "CVX", "AAPL", "JPM"]]
    r = factor_regression(spread, X, rf=0.0001, hac_lags=lags)
    model = sm.OLS(spread - 0.0001, sm.add_constant(X))
    o = model.fit() if lags is None else model.fit(cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True)
    _check_vs_statsmodels(r, o)
    assert r.cov_type == ("nonrobust" if lags is None else "HAC") and r.nobs == len(spread)
    assert r.alpha == r.params.loc["alpha", "coef"] and r.alpha_annualised == pytest.approx(252 * r.alpha, rel=1e-15)
    assert list(r.betas.index) == ["XOM", "CVX", "AAPL", "JPM"]
    assert r.residual_volatility == pytest.approx(np.sqrt(o.mse_resid * 252), rel=1e-10)


def test_factor_regression_rf_series_and_auto_lags(spread, mkt):
    rf = pd.Series(np.linspace(0.0, 0.0002, len(spread)), index=spread.index)
    r = factor_regression(spread, mkt, rf=rf, hac_lags="auto")
    o = sm.OLS(spread - rf, sm.add_constant(mkt)).fit(cov_type="HAC", cov_kwds={"maxlags": 10}, use_t=True)
    assert r.hac_lags == 10
    _check_vs_statsmodels(r, o)


def test_factor_regression_beta_matches_empyrical(spread, mkt):
    assert factor_regression(spread, mkt).betas["SP500"] == pytest.approx(empyrical.beta(spread, mkt), rel=1e-10)


def test_factor_regression_known_coefficients():
    rng = np.random.default_rng(0)
    idx = pd.bdate_range("2010-01-01", periods=3000)
    f = pd.DataFrame(rng.normal(0, 0.01, (3000, 2)), index=idx, columns=["A", "B"])
    y = 0.0004 + 0.8 * f["A"] - 0.3 * f["B"] + rng.normal(0, 0.001, 3000)
    r = factor_regression(pd.Series(y, index=idx, name="y"), f)
    assert r.betas["A"] == pytest.approx(0.8, abs=0.005) and r.betas["B"] == pytest.approx(-0.3, abs=0.005)
    assert r.alpha == pytest.approx(0.0004, abs=0.00005) and r.alpha_tstat > 15 and r.r_squared > 0.98
    assert isinstance(r, FactorRegressionResult) and "beta A" in r.summary() and "| alpha t-stat |" in r._repr_markdown_()


def test_factor_regression_monthly_matches_by_period(ff3m):
    # returns dated on the last business day meet factors dated on the calendar month-end
    f = ff3m.loc["2000":"2010"] / 100
    bday = f.index.map(pd.offsets.BMonthEnd().rollback)
    assert (bday != f.index).sum() > 30
    y_b = pd.Series(f["Mkt-RF"].to_numpy() * 1.2 + 0.001, index=bday)
    r = factor_regression(y_b.rename("y"), f[["Mkt-RF"]])
    assert r.nobs == len(f) and r.betas["Mkt-RF"] == pytest.approx(1.2, rel=1e-12) and r.frequency == "monthly"
    assert r.periods_per_year == 12 and r.alpha_annualised == pytest.approx(0.012, rel=1e-9)


def test_factor_regression_timezone_mix(spread, mkt):
    a = factor_regression(spread.tz_localize("UTC"), mkt)
    b = factor_regression(spread, mkt)
    assert a.betas.equals(b.betas) and str(a.residuals.index.tz) == "UTC"


def test_factor_regression_errors(spread, mkt, ff3m):
    with pytest.raises(ValueError, match=r"strategy_returns are daily \(median spacing 1 day\) but factors are monthly "
                                         r"\(median spacing 31 days\); put both on one frequency first"):
        factor_regression(spread, ff3m)
    with pytest.raises(ValueError, match="strategy_returns must not be constant"):
        factor_regression(spread * 0.0, mkt)
    with pytest.raises(ValueError, match=r"factors column 'SP500' is constant \(0 on all 8312 rows\)"):
        factor_regression(spread, mkt * 0.0)
    with pytest.raises(RuntimeError, match=r"collinear \(singular covariance matrix\): 'b' is a linear combination"):
        factor_regression(spread, pd.DataFrame({"a": mkt, "b": mkt - 0.5 * mkt}))
    with pytest.raises(ValueError, match="1 NaN values in 1 rows"):
        factor_regression(spread, mkt.where(mkt.index != mkt.index[9]))
    assert factor_regression(spread, mkt.where(mkt.index != mkt.index[9]), missing="drop").nobs == 8311
    with pytest.raises(ValueError, match="strategy_returns must not be empty"):
        factor_regression(spread.iloc[:0], mkt)
    with pytest.raises(ValueError, match="too few observations: 2 aligned rows for 2 parameters"):
        factor_regression(spread.iloc[:2], mkt)
    with pytest.raises(ValueError, match="have no dates in common"):
        factor_regression(spread.loc["2000"], mkt.loc["2001"])
    with pytest.raises(ValueError, match="hac_lags must be below the number of observations 10"):
        factor_regression(spread.iloc[:10], mkt, hac_lags=10)
    with pytest.raises(ValueError, match="periods_per_year cannot be inferred from irregular data"):
        idx = pd.DatetimeIndex(["2000-01-01", "2000-03-01", "2000-08-01", "2001-03-01", "2001-04-01"])
        factor_regression(pd.Series([0.1, 0.2, -0.1, 0.0, 0.05], idx), pd.Series([0.1, 0.3, 0.0, -0.1, 0.2], idx))
    with pytest.raises(TypeError, match="rf must be None, a per-period float or a Series; got str"):
        factor_regression(spread, mkt, rf="0.01")
    with pytest.raises(ValueError, match="rf must be finite"):
        factor_regression(spread, mkt, rf=float("nan"))
    with pytest.raises(TypeError, match="strategy_returns must be Series or DataFrame; got ndarray"):
        factor_regression(spread.to_numpy(), mkt)
    with pytest.raises(TypeError, match="factors must be numeric; column 'x' has dtype"):
        factor_regression(spread, pd.DataFrame({"x": ["a"] * len(spread)}, index=spread.index))
    with pytest.raises(ValueError, match="factors must be finite; got 1 infinite"):
        factor_regression(spread, mkt.replace(mkt.iloc[3], np.inf))
    with pytest.raises(ValueError, match="factors index must be unique"):
        factor_regression(spread, pd.concat([mkt.iloc[:5], mkt.iloc[4:10]]))
    with pytest.warns(DataQualityWarning, match="look like price levels"):
        factor_regression(load_sample("sp500_20stocks")["KO"], mkt)
    with pytest.warns(DataQualityWarning, match="have no factors row and are left out"):
        factor_regression(spread, mkt.iloc[::2])


# ---------------------------------------------------------------- Fama-French

def test_ff3_monthly_sp500_beta_one(mkt, ff3m):
    r = fama_french_attribution(mkt)
    assert r.frequency == "monthly" and r.nobs == 347 and r.y_name == "SP500 - RF"
    assert r.betas["Mkt-RF"] == pytest.approx(1.0, abs=0.02) and r.r_squared > 0.99
    assert -0.03 < r.alpha_annualised < -0.01          # the price index misses the dividend yield
    f = ff3m.loc["1990":] / 100
    y = compound_returns(mkt).loc[:"2018-11"]
    o = sm.OLS(y.to_numpy() - f["RF"].to_numpy(), sm.add_constant(f[["Mkt-RF", "SMB", "HML"]].to_numpy())).fit()
    np.testing.assert_allclose(r.params["coef"], o.params, rtol=1e-10)
    assert r.resampled.startswith("daily returns compounded within calendar months")


def test_ff_percent_and_rf_conventions(spread, ff3m):
    a = fama_french_attribution(spread, "ff3_monthly", subtract_rf=False)
    b = fama_french_attribution(spread, ff3m / 100, subtract_rf=False)
    c = fama_french_attribution(spread, ff3m, percent=True, subtract_rf=False)
    pd.testing.assert_series_equal(a.betas, b.betas, rtol=1e-13)
    pd.testing.assert_series_equal(a.betas, c.betas, rtol=1e-13)
    d = fama_french_attribution(spread)                                      # subtract_rf=True
    assert d.y_name == "KO-PEP - RF" and a.y_name == "KO-PEP"
    m = compound_returns(spread).loc[:"2018-11"]
    o = sm.OLS(m.to_numpy() - ff3m.loc["1990":, "RF"].to_numpy() / 100,
               sm.add_constant(ff3m.loc["1990":, ["Mkt-RF", "SMB", "HML"]].to_numpy() / 100)).fit()
    np.testing.assert_allclose(d.params["coef"], o.params, rtol=1e-9)
    with pytest.warns(DataQualityWarning, match="factors look like percent"):
        fama_french_attribution(spread, ff3m, subtract_rf=False)


def test_ff_errors(spread, ff3m):
    with pytest.raises(ValueError, match=r"returns are quarterly .* but factors are monthly .*coarser frequency"):
        fama_french_attribution(compound_returns(spread, "quarterly"))
    with pytest.raises(ValueError, match="factors must be one of 'ff3_monthly'; got 'ff5'"):
        fama_french_attribution(spread, "ff5")
    with pytest.raises(ValueError, match=r"rf_column 'rf' is not a column of factors; got columns \['Mkt-RF'"):
        fama_french_attribution(spread, rf_column="rf")
    with pytest.raises(TypeError, match="percent must be True, False or None"):
        fama_french_attribution(spread, percent=1)
    with pytest.raises(TypeError, match="factors must be DataFrame or str; got Series"):
        fama_french_attribution(spread, ff3m["SMB"])


def test_ff3_daily_sp500(shared_data, mkt):
    ff = _daily(shared_data, "ff3_daily_pct")
    r = fama_french_attribution(mkt, ff, percent=True, hac_lags=5)
    assert r.frequency == "daily" and r.resampled is None and r.nobs > 8000
    assert r.betas["Mkt-RF"] == pytest.approx(1.0, abs=0.03) and r.r_squared > 0.97
    f = ff.loc[mkt.index[0]:mkt.index[-1]] / 100
    y = mkt.loc[f.index]
    o = sm.OLS(y - f["RF"], sm.add_constant(f[["Mkt-RF", "SMB", "HML"]])).fit(
        cov_type="HAC", cov_kwds={"maxlags": 5}, use_t=True)
    np.testing.assert_allclose(r.params["coef"], o.params, rtol=1e-9)
    np.testing.assert_allclose(r.params["tstat"], o.tvalues, rtol=1e-9)
    # the CAPM alone: market beta ~1 with high R^2
    capm = fama_french_attribution(mkt, ff[["Mkt-RF", "RF"]], percent=True)
    assert capm.betas["Mkt-RF"] == pytest.approx(1.0, abs=0.03) and capm.r_squared > 0.95


def test_ff5_mom_daily_spread(shared_data, spread):
    ff = _daily(shared_data, "ff5_mom_daily_pct")
    r = fama_french_attribution(spread, ff, percent=True, subtract_rf=False, hac_lags="auto")
    assert list(r.betas.index) == ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "Mom"]
    assert abs(r.alpha_tstat) < 2 and r.r_squared < 0.1 and r.nobs > 8000 and r.hac_lags == 10


# ---------------------------------------------------------------- PCA

@pytest.mark.parametrize("standardize", [False, True])
def test_pca_matches_sklearn(rets, standardize):
    fit = rets.loc[:"2005-12-31"]
    r = pca_factors(rets, 4, standardize=standardize, fit_end="2005-12-31")
    z_fit, z_all, ddof = fit.to_numpy(), rets.to_numpy(), 1.0
    if standardize:
        sc = StandardScaler().fit(fit)
        z_fit, z_all, ddof = sc.transform(fit), sc.transform(rets), np.sqrt(len(fit) / (len(fit) - 1))
    sk = PCA(4, svd_solver="full").fit(z_fit)
    np.testing.assert_allclose(r.loadings.to_numpy(), sk.components_.T, atol=1e-12)     # signs included
    np.testing.assert_allclose(r.explained_variance_ratio, sk.explained_variance_ratio_, rtol=1e-12)
    np.testing.assert_allclose(r.factor_returns.to_numpy(), sk.transform(z_all) / ddof, atol=1e-10)
    if not standardize: np.testing.assert_allclose(r.explained_variance, sk.explained_variance_, rtol=1e-12)
    assert isinstance(r, PCAResult) and r.nobs_fit == len(fit) and str(r.fit_end.date()) == "2005-12-30"


def test_pca_invariants(rets):
    full = pca_factors(rets, 20, standardize=True)
    assert full.explained_variance.sum() == pytest.approx(20.0, rel=1e-10)      # trace of a correlation matrix
    np.testing.assert_allclose(full.loadings.T @ full.loadings, np.eye(20), atol=1e-12)
    f = full.factor_returns
    c = np.corrcoef(f.to_numpy().T)
    np.testing.assert_allclose(c - np.diag(np.diag(c)), 0, atol=1e-10)           # scores uncorrelated in-sample
    assert (full.loadings["PC1"] > 0).all()                                       # the market component is long
    lead = full.loadings.abs().idxmax()
    assert all(full.loadings.loc[lead[pc], pc] > 0 for pc in full.loadings.columns)  # sign convention


def test_pca_no_look_ahead(rets):
    a = pca_factors(rets, 3, fit_end="2005-12-31")
    later = rets.copy()
    later.loc["2006":] = later.loc["2006":].to_numpy()[::-1]
    b = pca_factors(later, 3, fit_end="2005-12-31")
    assert a.loadings.equals(b.loadings) and a.factor_returns.loc[:"2005"].equals(b.factor_returns.loc[:"2005"])
    np.testing.assert_allclose(a.transform(rets.loc["2015"]), a.factor_returns.loc["2015"], atol=1e-13)
    w = pca_factors(rets, 2, fit_start="2000-01-01", fit_end="2001-12-31")
    assert w.nobs_fit == len(rets.loc["2000":"2001"]) and len(w.factor_returns) == len(rets)


def test_pca_errors(rets):
    with pytest.raises(ValueError, match=r"n_components=5 exceeds the rank 4 .* the covariance matrix is singular"):
        pca_factors(rets.iloc[:5], 5)
    with pytest.raises(ValueError, match=r"n_components=3 exceeds the rank 2"):
        pca_factors(rets[["KO", "PEP"]].assign(MIX=rets["KO"] - rets["PEP"]), 3)
    with pytest.raises(ValueError, match=r"n_components must be <= min\(rows in the fit window, assets\)"):
        pca_factors(rets, 21)
    with pytest.raises(ValueError, match=r"returns column\(s\) \['Z'\] are constant over the fit window"):
        pca_factors(rets.assign(Z=0.001), standardize=True)
    assert pca_factors(rets.assign(Z=0.001), 2).loadings.loc["Z"].abs().max() < 1e-12  # no variance, no loading
    with pytest.raises(ValueError, match="returns are constant over the fit window"):
        pca_factors(rets * 0.0)
    with pytest.raises(ValueError, match="at least 2 columns"):
        pca_factors(rets[["KO"]])
    nan = rets.copy()
    nan.iloc[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"returns contain 1 NaN values in 1 rows \(first at 1990-01-12, column 'BBY'\)"):
        pca_factors(nan)
    assert pca_factors(nan, missing="drop").nobs_fit == len(rets) - 1
    with pytest.raises(ValueError, match="fit_end must not be before fit_start"):
        pca_factors(rets, fit_start="2005", fit_end="2004")
    with pytest.raises(ValueError, match="fit window must hold at least 2 rows"):
        pca_factors(rets, fit_start="2030")
    with pytest.raises(ValueError, match="fit_end is timezone-aware"):
        pca_factors(rets, fit_end=pd.Timestamp("2005", tz="UTC"))
    with pytest.raises(TypeError, match="standardize must be True or False"):
        pca_factors(rets, standardize="yes")
    with pytest.raises(ValueError, match="missing must be one of"):
        pca_factors(rets, missing="ffill")


# ---------------------------------------------------------------- rolling betas

@pytest.mark.parametrize("window", [20, 63, 252])
def test_rolling_beta_matches_rolling_ols(rets, spread, window):
    X, spread = rets[["XOM", "AAPL", "JPM"]].iloc[-2500:], spread.iloc[-2500:]
    got = rolling_beta(spread, X, window)
    want = RollingOLS(spread, sm.add_constant(X), window=window).fit().params[X.columns]
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-10)
    assert got.iloc[: window - 1].isna().all().all() and got.iloc[window - 1:].notna().all().all()
    uni = rolling_beta(spread, X, window, joint=False)
    for c in X.columns:
        one = RollingOLS(spread, sm.add_constant(X[c]), window=window).fit().params[c]
        np.testing.assert_allclose(uni[c].to_numpy(), one.to_numpy(), atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 40), st.integers(1, 3))
def test_rolling_beta_property_equals_window_ols(seed, window, k):
    rng = np.random.default_rng(seed)
    n = window + 30
    idx = pd.bdate_range("2020-01-01", periods=n)
    X = pd.DataFrame(rng.normal(size=(n, k)), index=idx, columns=[f"f{i}" for i in range(k)])
    y = pd.Series(X.to_numpy() @ rng.normal(size=k) + rng.normal(size=n), index=idx, name="y")
    if window < k + 2: window = k + 2
    got = rolling_beta(y, X, window)
    for t in (window - 1, (window + n) // 2, n - 1):
        sl = slice(t - window + 1, t + 1)
        ref = np.linalg.lstsq(np.column_stack([np.ones(window), X.iloc[sl].to_numpy()]), y.iloc[sl].to_numpy(), rcond=None)[0]
        np.testing.assert_allclose(got.iloc[t].to_numpy(), ref[1:], rtol=1e-8, atol=1e-10)


def test_rolling_beta_is_trailing(spread, mkt):
    a = rolling_beta(spread, mkt, 126)
    b = rolling_beta(spread.where(spread.index < "2012", 0.3), mkt, 126)
    assert a.loc[:"2011"].equals(b.loc[:"2011"]) and not a.loc["2012"].equals(b.loc["2012"])
    assert isinstance(a, pd.Series) and a.name == "SP500"


def test_rolling_beta_singular_windows(spread, mkt):
    stale = mkt.copy()
    stale.iloc[300:400] = 0.0
    with pytest.warns(DataQualityWarning, match=r"38 of 8250 windows \(first ending .*\) have a constant regressor"):
        b = rolling_beta(spread, stale, 63)
    assert int(b.iloc[62:].isna().sum()) == 38 and b.iloc[362:400].isna().all() and b.iloc[361:363].isna().tolist() == [False, True]
    with pytest.warns(DataQualityWarning, match="constant or collinear regressor"):
        j = rolling_beta(spread, pd.DataFrame({"a": mkt, "b": 3 * mkt}), 63)
    assert j.isna().all().all()


def test_rolling_beta_errors(spread, mkt, ff3m):
    with pytest.raises(ValueError, match="window must be >= 3; got 2"):
        rolling_beta(spread, mkt, 2)
    with pytest.raises(ValueError, match="window=9000 exceeds the 8312 aligned observations"):
        rolling_beta(spread, mkt, 9000)
    with pytest.raises(ValueError, match="returns are daily .* but benchmark are monthly"):
        rolling_beta(spread, ff3m["Mkt-RF"])
    with pytest.raises(TypeError, match="window must be an integer"):
        rolling_beta(spread, mkt, 63.0)


# ---------------------------------------------------------------- neutrality monitor

def test_neutrality_alerts_on_constructed_strategy(mkt):
    m = mkt.iloc[:1000]
    rng = np.random.default_rng(1)
    y = pd.Series(np.where(np.arange(1000) < 500, 0.5 * m.to_numpy(), rng.normal(0, 0.01, 1000)), index=m.index, name="s")
    r = neutrality_monitor(y, m, window=50, limit=0.25)
    assert isinstance(r, NeutralityResult)
    first = r.alerts.iloc[0]
    assert first["exposure"] == "SP500" and first["start"] == m.index[49] and first["max_abs_beta"] >= 0.5 - 1e-9
    assert m.index[499] <= first["end"] < m.index[549] and not first["ongoing"]
    assert int(r.alerts["periods"].sum()) == int(r.in_breach().to_numpy().sum())
    np.testing.assert_allclose(r.betas["SP500"].iloc[49:500], 0.5, rtol=1e-9)


def test_neutrality_with_components(rets, spread, mkt):
    pca = pca_factors(rets, 3, standardize=True, fit_end="2005-12-31")
    r = neutrality_monitor(spread.loc["2006":], mkt, pca.factor_returns, window=126,
                           limit={"SP500": 0.3, "PC1": 0.0013, "PC2": 0.0023, "PC3": 0.0025})
    assert list(r.betas.columns) == ["SP500", "PC1", "PC2", "PC3"]
    for _, a in r.alerts.iterrows():
        seg = r.betas.loc[a["start"]:a["end"], a["exposure"]]
        assert (seg.abs() > r.limits[a["exposure"]]).all() and len(seg) == a["periods"]
        i = r.betas.index.get_loc(a["start"])
        assert i == 0 or not abs(r.betas[a["exposure"]].iloc[i - 1]) > r.limits[a["exposure"]]
    assert set(r.alerts["exposure"]) <= {"SP500", "PC1", "PC2", "PC3"} and len(r.alerts) > 0
    assert "in breach at end" in r.summary()
    import matplotlib
    matplotlib.use("Agg")
    fig = r.plot()
    assert len(fig.axes) == 4
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_neutrality_ongoing_and_empty(mkt):
    m = mkt.iloc[:400]
    y = (0.8 * m).rename("levered")
    r = neutrality_monitor(y, m, window=60, limit=0.5)
    assert len(r.alerts) == 1 and bool(r.alerts["ongoing"].iloc[0]) and r.alerts["end"].iloc[0] == m.index[-1]
    e = neutrality_monitor(y, m, window=60, limit=1.0)
    assert e.alerts.empty and list(e.alerts.columns) == ["exposure", "start", "end", "periods", "max_abs_beta",
                                                          "peak", "ongoing"]


def test_neutrality_errors(spread, mkt, rets):
    with pytest.raises(ValueError, match=r"limit names exposures \['X'\] that are not among \['SP500'\]"):
        neutrality_monitor(spread, mkt, limit={"X": 0.1})
    with pytest.raises(ValueError, match=r"limit must give a limit for every exposure; missing \['PEP'\]"):
        neutrality_monitor(spread, mkt, rets[["PEP"]], limit={"SP500": 0.1})
    with pytest.raises(ValueError, match="limit must be > 0"):
        neutrality_monitor(spread, mkt, limit=0)
    with pytest.raises(ValueError, match="components must not repeat the market's name"):
        neutrality_monitor(spread, mkt, mkt.to_frame())
    with pytest.raises(ValueError, match="market are daily .* but components are monthly"):
        neutrality_monitor(spread, mkt, compound_returns(rets[["KO"]]))
    with pytest.raises(ValueError, match="market must be one return series"):
        neutrality_monitor(spread, rets[["KO", "PEP"]])


def test_no_runtime_warnings_on_degenerate_windows(spread, mkt):
    # pytest turns RuntimeWarning into errors: a zero-variance window must not divide by zero
    z = mkt.copy()
    z.iloc[:200] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        b = rolling_beta(spread, pd.DataFrame({"m": z, "k": rets_like(z)}), 63)
    assert b.iloc[:200].isna().all().all()


def rets_like(z):
    return pd.Series(np.random.default_rng(3).normal(0, 0.01, len(z)), index=z.index)
