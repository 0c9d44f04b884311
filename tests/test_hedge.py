"""Static and rolling hedge ratios (statarb.alpha.hedge).

Oracles: statsmodels OLS (coefficients, R^2, residual scale to 1e-10), statsmodels RollingOLS (to 1e-8) and a
least-squares solve of every window (to 1e-10), scipy.odr orthogonal distance regression and the closed-form
orthogonal (Deming, lambda = 1) slope for TLS, a hand-worked 3-point case, and the exact reciprocal symmetry of TLS.
Real pairs: KO/PEP and XOM/CVX from the bundled sample; EWA/EWC from ../shared/data when present.
"""
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.regression.rolling import RollingOLS

from statarb.alpha.hedge import HedgeRatio, RollingHedgeResult, ols_hedge, rolling_ols_hedge, tls_hedge
from statarb.data.sources import load_sample

PAIRS = [("KO", "PEP"), ("XOM", "CVX")]


@pytest.fixture(scope="module")
def px() -> pd.DataFrame:
    return load_sample("sp500_20stocks").loc["2014":"2022", ["KO", "PEP", "XOM", "CVX"]]


def _deming(y: np.ndarray, x: np.ndarray) -> float:
    "Closed-form orthogonal-regression slope (equal error variances)."
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy, sxy = dx @ dx, dy @ dy, dx @ dy
    return (syy - sxx + np.sqrt((syy - sxx) ** 2 + 4 * sxy**2)) / (2 * sxy)


# ------------------------------------------------------------------------------------------------------ static
def test_hand_worked_case():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])
    o, t = ols_hedge(y, x), tls_hedge(y, x)
    assert isinstance(o, HedgeRatio) and o.method == "ols" and t.method == "tls"
    assert o.hedge_ratio == pytest.approx(0.5, abs=1e-15) and o.intercept == pytest.approx(1.0, abs=1e-15)
    assert ols_hedge(x, y).hedge_ratio == pytest.approx(0.5, abs=1e-15)      # OLS is not symmetric: 1/0.5 != 0.5
    assert t.hedge_ratio == pytest.approx(1.0, abs=1e-15) and t.intercept == pytest.approx(0.0, abs=1e-15)
    assert o.r_squared == pytest.approx(0.25, abs=1e-15)
    np.testing.assert_allclose(o.spread.to_numpy(), [-0.5, 1.0, -0.5], atol=1e-15)
    assert o.spread.index.equals(pd.RangeIndex(3))


@pytest.mark.parametrize("yn,xn", PAIRS)
@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("log", [False, True])
def test_ols_matches_statsmodels(px, yn, xn, intercept, log):
    y, x = px[yn], px[xn]
    h = ols_hedge(y, x, intercept=intercept, log=log)
    yv, xv = (np.log(y.to_numpy()), np.log(x.to_numpy())) if log else (y.to_numpy(), x.to_numpy())
    X = sm.add_constant(xv) if intercept else xv[:, None]
    f = sm.OLS(yv, X).fit()
    beta = f.params[1] if intercept else f.params[0]
    assert h.hedge_ratio == pytest.approx(beta, rel=1e-10)
    if intercept: assert h.intercept == pytest.approx(f.params[0], rel=1e-10, abs=1e-10)
    else: assert h.intercept == 0.0
    assert h.r_squared == pytest.approx(f.rsquared, rel=1e-10)
    assert h.resid_std == pytest.approx(np.sqrt(f.scale), rel=1e-10)
    np.testing.assert_allclose(h.spread.to_numpy(), f.resid, rtol=1e-9, atol=1e-9 * np.abs(yv).mean())
    assert h.spread.index.equals(y.index) and h.nobs == len(y) and h.log is log
    assert (h.y_name, h.x_name) == (yn, xn)


@pytest.mark.parametrize("yn,xn", PAIRS)
def test_tls_matches_scipy_odr_and_closed_form(px, yn, xn):
    y, x = px[yn].to_numpy(), px[xn].to_numpy()
    t = tls_hedge(px[yn], px[xn])
    assert t.hedge_ratio == pytest.approx(_deming(y, x), rel=1e-12)
    assert t.intercept == pytest.approx(y.mean() - t.hedge_ratio * x.mean(), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)      # scipy.odr is deprecated from SciPy 1.17
        from scipy import odr
        out = odr.ODR(odr.RealData(x, y), odr.unilinear, beta0=[1.0, 0.0],
                      sstol=1e-15, partol=1e-15, maxit=1000).run()
    assert t.hedge_ratio == pytest.approx(out.beta[0], rel=1e-8)
    assert t.intercept == pytest.approx(out.beta[1], rel=1e-8, abs=1e-8)


@pytest.mark.parametrize("yn,xn", PAIRS)
def test_tls_is_symmetric_ols_is_not(px, yn, xn):
    y, x = px[yn], px[xn]
    assert tls_hedge(y, x).hedge_ratio * tls_hedge(x, y).hedge_ratio == pytest.approx(1.0, rel=1e-12)
    assert tls_hedge(y, x, log=True).hedge_ratio * tls_hedge(x, y, log=True).hedge_ratio == pytest.approx(1.0, rel=1e-12)
    b, b_rev = ols_hedge(y, x).hedge_ratio, ols_hedge(x, y).hedge_ratio
    assert abs(b * b_rev - 1) > 1e-3                            # = R^2 < 1
    assert b * b_rev == pytest.approx(ols_hedge(y, x).r_squared, rel=1e-10)
    lo, hi = sorted([b, 1 / b_rev])
    assert lo < tls_hedge(y, x).hedge_ratio < hi


def test_tls_without_intercept_is_svd_of_raw_data(px):
    y, x = px["KO"].to_numpy(), px["PEP"].to_numpy()
    v = np.linalg.svd(np.column_stack([x, y]))[2][-1]
    t = tls_hedge(px["KO"], px["PEP"], intercept=False)
    assert t.hedge_ratio == pytest.approx(-v[0] / v[1], rel=1e-12) and t.intercept == 0.0
    assert t.hedge_ratio * tls_hedge(px["PEP"], px["KO"], intercept=False).hedge_ratio == pytest.approx(1.0, rel=1e-12)


def test_tls_depends_on_units_ols_does_not(px):
    ko, pep = px["KO"], px["PEP"]
    assert ols_hedge(ko, pep * 100).hedge_ratio * 100 == pytest.approx(ols_hedge(ko, pep).hedge_ratio, rel=1e-10)
    t1, t100 = tls_hedge(ko, pep).hedge_ratio, tls_hedge(ko, pep * 100).hedge_ratio * 100
    assert abs(t100 / t1 - 1) > 1e-3
    assert tls_hedge(ko, pep * 100, log=True).hedge_ratio == pytest.approx(tls_hedge(ko, pep, log=True).hedge_ratio, rel=1e-10)


def test_missing_drop_equals_manual_dropna(px):
    y = px["KO"].copy()
    y.iloc[[5, 50, 51]] = np.nan
    h = ols_hedge(y, px["PEP"], missing="drop")
    both = pd.concat([y, px["PEP"]], axis=1).dropna()
    ref = ols_hedge(both["KO"], both["PEP"])
    assert h.hedge_ratio == ref.hedge_ratio and h.nobs == len(px) - 3
    assert h.spread.index.equals(both.index)


def test_summary_and_repr(px):
    h = ols_hedge(px["KO"], px["PEP"])
    s = h.summary()
    assert s.startswith("HedgeRatio") and "hedge_ratio" in s and "KO" in s
    assert repr(h).startswith("HedgeRatio(method=ols")
    assert "| r_squared |" in h._repr_markdown_()


@pytest.mark.parametrize("fn", [ols_hedge, tls_hedge])
def test_static_bad_input(px, fn):
    ko, pep = px["KO"], px["PEP"]
    with pytest.raises(ValueError, match="y and x must have the same index; they first differ at position 0"):
        fn(ko.iloc[1:], pep.iloc[:-1])
    with pytest.raises(ValueError, match="y and x must have the same length; got y=3, x=2"):
        fn(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match=r"x must not contain NaN; got 1 NaN values in 1 rows \(first at 2014-01-03"):
        fn(ko, pep.where(pep.index != pep.index[1]))
    with pytest.raises(ValueError, match="x must not be constant"):
        fn(ko, pep * 0 + 5)
    with pytest.raises(ValueError, match="too short for a hedge ratio: got 2 observations, need at least 3"):
        fn(ko.iloc[:2], pep.iloc[:2])
    with pytest.raises(ValueError, match="must be strictly positive"):
        fn(-ko, pep, log=True)
    with pytest.raises(ValueError, match="y must be finite"):
        fn(ko.where(ko.index != ko.index[3], np.inf), pep)
    with pytest.raises(TypeError, match="x must be Series or ndarray; got list"):
        fn(ko, pep.tolist())
    with pytest.raises(TypeError, match="y must be numeric"):
        fn(ko.astype(str), pep)
    with pytest.raises(ValueError, match=r"y must be 1-dimensional; got shape \(3, 2\)"):
        fn(np.ones((3, 2)), np.ones(3))
    with pytest.raises(TypeError, match="intercept must be True or False"):
        fn(ko, pep, intercept="yes")
    with pytest.raises(ValueError, match="missing must be one of 'raise', 'drop'"):
        fn(ko, pep, missing="ffill")
    with pytest.raises(RuntimeError, match="exactly collinear"):
        fn(2 * pep + 1, pep)


# ------------------------------------------------------------------------------------------------------ rolling
@pytest.mark.parametrize("yn,xn", PAIRS)
@pytest.mark.parametrize("window", [20, 120])
def test_rolling_matches_statsmodels_rolling_ols(px, yn, xn, window):
    y, x = px[yn], px[xn]
    r = rolling_ols_hedge(y, x, window)
    assert isinstance(r, RollingHedgeResult)
    f = RollingOLS(y.to_numpy(), sm.add_constant(x.to_numpy()), window=window).fit()
    # rtol 1e-8 with an absolute floor for slopes that cross zero (RollingOLS itself loses ~1e-9, see the lstsq test)
    np.testing.assert_allclose(r.hedge_ratio.to_numpy(), f.params[:, 1], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(r.intercept.to_numpy(), f.params[:, 0], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(r.r_squared.to_numpy(), f.rsquared, rtol=1e-8, atol=1e-10)
    for s in (r.hedge_ratio, r.intercept, r.spread, r.r_squared):
        assert s.index.equals(y.index)
        assert int(s.isna().sum()) == window - 1


def test_rolling_matches_lstsq_of_every_window(px):
    y, x, w = px["XOM"].to_numpy(), px["CVX"].to_numpy(), 60
    r = rolling_ols_hedge(px["XOM"], px["CVX"], w)
    ex = np.array([np.linalg.lstsq(np.column_stack([np.ones(w), x[t - w + 1:t + 1]]), y[t - w + 1:t + 1], rcond=None)[0]
                   for t in range(w - 1, len(y))])
    np.testing.assert_allclose(r.hedge_ratio.to_numpy()[w - 1:], ex[:, 1], rtol=1e-10)
    np.testing.assert_allclose(r.intercept.to_numpy()[w - 1:], ex[:, 0], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(r.spread.to_numpy()[w - 1:], y[w - 1:] - ex[:, 1] * x[w - 1:] - ex[:, 0], atol=1e-9)


def test_rolling_min_periods_is_expanding_start(px):
    y, x = px["KO"], px["PEP"]
    r = rolling_ols_hedge(y, x, window=60, min_periods=10)
    f = RollingOLS(y.to_numpy(), sm.add_constant(x.to_numpy()), window=60, min_nobs=10, expanding=True).fit()
    np.testing.assert_allclose(r.hedge_ratio.to_numpy(), f.params[:, 1], rtol=1e-8)
    assert int(r.hedge_ratio.isna().sum()) == 9


def test_rolling_without_intercept_and_log(px):
    y, x = px["KO"], px["PEP"]
    r = rolling_ols_hedge(y, x, window=40, intercept=False)
    f = RollingOLS(y.to_numpy(), x.to_numpy()[:, None], window=40).fit()
    np.testing.assert_allclose(r.hedge_ratio.to_numpy(), f.params[:, 0], rtol=1e-8)
    assert (r.intercept.dropna() == 0).all()
    np.testing.assert_allclose(r.r_squared.to_numpy(), f.rsquared, rtol=1e-8)     # uncentred without intercept
    rl = rolling_ols_hedge(y, x, window=40, log=True)
    np.testing.assert_array_equal(rl.hedge_ratio.to_numpy(), rolling_ols_hedge(np.log(y), np.log(x), 40).hedge_ratio.to_numpy())


def test_rolling_full_window_equals_static(px):
    r = rolling_ols_hedge(px["KO"], px["PEP"], window=len(px))
    h = ols_hedge(px["KO"], px["PEP"])
    assert r.hedge_ratio.iloc[-1] == pytest.approx(h.hedge_ratio, rel=1e-10)
    assert r.intercept.iloc[-1] == pytest.approx(h.intercept, rel=1e-10)


def test_rolling_constant_window_gives_nan_without_warning():
    x = np.r_[np.linspace(1, 2, 20), np.full(10, 3.0), np.linspace(3, 4, 20)]
    y = 2 * x + np.sin(np.arange(50))
    r = rolling_ols_hedge(y, x, window=5)          # RuntimeWarnings are errors under pytest
    assert r.hedge_ratio.iloc[24:30].isna().all()
    assert r.hedge_ratio.iloc[:4].isna().all() and r.hedge_ratio.iloc[4:20].notna().all()
    assert r.hedge_ratio.iloc[35:].notna().all()


def test_rolling_no_look_ahead(px):
    y, x = px["KO"], px["PEP"]
    base = rolling_ols_hedge(y, x, window=60)
    rng = np.random.default_rng(3)
    for cut in (100, 777, len(y) - 2):
        y2, x2 = y.copy(), x.copy()
        y2.iloc[cut + 1:] *= rng.uniform(0.5, 1.5, len(y) - cut - 1)
        x2.iloc[cut + 1:] *= rng.uniform(0.5, 1.5, len(y) - cut - 1)
        r = rolling_ols_hedge(y2, x2, window=60)
        for f in ("hedge_ratio", "intercept", "spread", "r_squared"):
            np.testing.assert_array_equal(getattr(r, f).to_numpy()[:cut + 1], getattr(base, f).to_numpy()[:cut + 1])
            assert not np.array_equal(getattr(r, f).to_numpy()[cut + 1:], getattr(base, f).to_numpy()[cut + 1:])
    y3 = y.copy()
    y3.iloc[500] *= 1.01                           # the value at t uses y_t
    r3 = rolling_ols_hedge(y3, x, window=60)
    assert r3.hedge_ratio.iloc[500] != base.hedge_ratio.iloc[500]
    np.testing.assert_array_equal(r3.hedge_ratio.to_numpy()[:500], base.hedge_ratio.to_numpy()[:500])


def test_rolling_summary(px):
    r = rolling_ols_hedge(px["KO"], px["PEP"], window=60)
    s = r.summary()
    assert s.startswith("RollingHedgeResult") and "window" in s and "n_valid" in s
    assert r._summary_rows()["n_valid"] == len(px) - 59


def test_rolling_bad_input(px):
    ko, pep = px["KO"], px["PEP"]
    with pytest.raises(ValueError, match=f"window must not exceed the number of observations; got window={len(ko) + 1}"):
        rolling_ols_hedge(ko, pep, window=len(ko) + 1)
    with pytest.raises(ValueError, match="window must be >= 2; got 1"):
        rolling_ols_hedge(ko, pep, window=1)
    rolling_ols_hedge(ko, pep, window=1, intercept=False)          # one point fixes a slope through the origin
    with pytest.raises(TypeError, match="window must be an integer; got float"):
        rolling_ols_hedge(ko, pep, window=20.0)
    with pytest.raises(ValueError, match="min_periods must be <= window; got min_periods=30, window=20"):
        rolling_ols_hedge(ko, pep, window=20, min_periods=30)
    with pytest.raises(ValueError, match="min_periods must be >= 2; got 1"):
        rolling_ols_hedge(ko, pep, window=20, min_periods=1)
    with pytest.raises(ValueError, match="y index must be sorted ascending"):
        rolling_ols_hedge(ko.iloc[::-1], pep.iloc[::-1], window=20)
    idx = ko.index[[0, 1, 1, 2, 3, 4]]
    with pytest.raises(ValueError, match="y index must be unique; got 1 duplicate timestamps"):
        rolling_ols_hedge(ko.iloc[:6].set_axis(idx), pep.iloc[:6].set_axis(idx), window=3)
    with pytest.raises(ValueError, match="y index must be unique; got 1 duplicates"):
        rolling_ols_hedge(pd.Series([1.0, 3, 2, 5], index=[0, 1, 1, 2]), pd.Series([1.0, 2, 4, 3], index=[0, 1, 1, 2]), 2)
    with pytest.raises(ValueError, match="y and x must have the same index"):
        rolling_ols_hedge(ko, pep.set_axis(pep.index + pd.Timedelta(days=1)), window=20)
    with pytest.raises(ValueError, match="y must not contain NaN"):
        rolling_ols_hedge(ko.where(ko.index != ko.index[10]), pep, window=20)


def test_shared_ewa_ewc(shared_data):
    px = pd.read_parquet(shared_data / "arbitragelab_country_etf45_close_daily.parquet")
    if not {"EWA", "EWC"} <= set(px.columns): pytest.skip("EWA/EWC not in the shared file")
    both = px[["EWA", "EWC"]].dropna()
    h = ols_hedge(both["EWC"], both["EWA"])
    f = sm.OLS(both["EWC"].to_numpy(), sm.add_constant(both["EWA"].to_numpy())).fit()
    assert h.hedge_ratio == pytest.approx(f.params[1], rel=1e-10)
    t = tls_hedge(both["EWC"], both["EWA"])
    assert t.hedge_ratio == pytest.approx(_deming(both["EWC"].to_numpy(), both["EWA"].to_numpy()), rel=1e-12)
    r = rolling_ols_hedge(both["EWC"], both["EWA"], window=60)
    fr = RollingOLS(both["EWC"].to_numpy(), sm.add_constant(both["EWA"].to_numpy()), window=60).fit()
    np.testing.assert_allclose(r.hedge_ratio.to_numpy(), fr.params[:, 1], rtol=1e-8)
