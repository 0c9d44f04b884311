"""statarb.alpha.coint: ADF, Engle-Granger and Johansen against statsmodels (adfuller, coint, coint_johansen) to 1e-8.

Oracles: statsmodels on the bundled sample (KO, PEP, PG adjusted closes) and on the classic Johansen example
(AEX DAX FTSE CAC in ../shared/data, skipped where absent); a hand-worked AR(1) half-life; every error path.
"""
import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.stattools import adfuller, coint
from statsmodels.tsa.vector_ar.vecm import coint_johansen

from statarb.alpha.coint import (
    AUTOLAGS,
    TRENDS,
    AdfResult,
    EngleGrangerResult,
    JohansenResult,
    adf,
    engle_granger,
    half_life,
    johansen,
)
from statarb.data.sources import load_sample


def _close(a, b, rel=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.allclose(a, b, rtol=rel, atol=rel * max(1.0, float(np.abs(b).max()))), (a, b)


@pytest.fixture(scope="module")
def sp20():
    return load_sample("sp500_20stocks")


@pytest.fixture(scope="module")
def logs(sp20):
    return np.log(sp20[["KO", "PEP", "PG"]])


@pytest.fixture(scope="module")
def eu(shared_data):
    p = shared_data / "arbitragelab_eu_indices_daily.parquet"
    if not p.is_file(): pytest.skip("arbitragelab_eu_indices_daily.parquet absent")
    return pd.read_parquet(p)


def _walks(n=300, seed=0):
    rng = np.random.default_rng(seed)
    f = np.cumsum(rng.normal(size=n))
    idx = pd.bdate_range("2020-01-01", periods=n)
    return (pd.Series(20 + 1.5 * f + rng.normal(size=n), index=idx, name="Y"),
            pd.Series(30 + f, index=idx, name="X"), pd.Series(np.cumsum(rng.normal(size=n)) + 40, index=idx, name="Z"))


# ---------------------------------------------------------------- ADF

@pytest.mark.parametrize("trend", TRENDS)
@pytest.mark.parametrize("autolag", AUTOLAGS)
def test_adf_matches_adfuller_on_ko(logs, trend, autolag):
    x = logs["KO"].iloc[-2000:]
    r = adf(x, trend=trend, autolag=autolag, lags=None if autolag else 5)
    sm = adfuller(x.to_numpy(), regression=trend, autolag=autolag, maxlag=None if autolag else 5, result_object=False)
    _close(r.statistic, sm[0])
    _close(r.pvalue, sm[1])
    assert (r.lags, r.nobs) == (sm[2], sm[3])
    _close(list(r.critical_values.values()), list(sm[4].values()))
    if autolag: _close(r.icbest, sm[5])
    else: assert r.icbest is None


def test_adf_full_sample_and_returns(sp20):
    r = adf(sp20["KO"], log=True)
    sm = adfuller(np.log(sp20["KO"].to_numpy()), result_object=False)
    _close([r.statistic, r.pvalue], [sm[0], sm[1]])
    assert r.lags == sm[2] and r.pvalue > 0.05
    assert adf(np.log(sp20["KO"]).diff().dropna()).pvalue < 1e-10
    assert isinstance(r, AdfResult) and "statistic" in r.summary() and "| pvalue |" in r._repr_markdown_()


def test_half_life_hand_worked():
    # a noise-free AR(1) decay x_t = 0.5**t * 8 + c: phi = 0.5 exactly -> half-life 1 bar
    x = 3 + 8 * 0.5 ** np.arange(12)
    assert half_life(pd.Series(x)) == pytest.approx(1.0, rel=1e-10)
    x = 3 + 8 * 0.9 ** np.arange(40)
    assert half_life(pd.Series(x)) == pytest.approx(np.log(0.5) / np.log(0.9), rel=1e-10)
    assert half_life(pd.Series(np.arange(20.0) ** 1.5)) == np.inf        # explosive: no reversion
    assert np.isnan(half_life(pd.Series(3 + 8 * (-0.5) ** np.arange(20))))  # phi < 0: overshoots
    w = pd.Series(x + np.random.default_rng(0).normal(scale=0.1, size=40))
    assert adf(w).half_life == half_life(w)


def test_adf_errors():
    s = _walks(40)[0]
    with pytest.raises(ValueError, match="trend must be one of 'n', 'c', 'ct', 'ctt'; got 'x'"): adf(s, trend="x")
    with pytest.raises(ValueError, match="autolag must be one of 'aic', 'bic', 't-stat', None; got 'AIC'"): adf(s, autolag="AIC")
    with pytest.raises(ValueError, match="lags must be >= 0; got -1"): adf(s, lags=-1)
    with pytest.raises(TypeError, match="lags must be an integer"): adf(s, lags=2.0)
    with pytest.raises(ValueError, match=r"too short for lags=19 with trend='c': 40 observations allow at most 18 lags"): adf(s, lags=19)
    with pytest.raises(ValueError, match=r"too short for an ADF test with trend='ctt': got 3 observations, need at least 8"):
        adf(s.iloc[:3], trend="ctt")
    bad = s.copy(); bad.iloc[[4, 9]] = np.nan
    with pytest.raises(ValueError, match=r"must not contain NaN; got 2 NaN values in 2 rows \(first at 2020-01-07, column 'Y'\)"): adf(bad)
    assert adf(bad, missing="drop").nobs == adf(s.drop(s.index[[4, 9]])).nobs
    with pytest.raises(ValueError, match="missing must be one of 'raise', 'drop'; got 'ffill'"): adf(s, missing="ffill")
    with pytest.raises(ValueError, match="must not be constant; column 'Y' equals 2 on all 40 rows"): adf(s * 0 + 2)
    with pytest.raises(ValueError, match="strictly positive and finite; column 'Y' has 1 values"): adf(s.where(s.index != s.index[3], -1.0), log=True)
    with pytest.raises(ValueError, match="must be finite; got 1 infinite"): adf(s.where(s.index != s.index[3], np.inf))
    with pytest.raises(TypeError, match="series must be Series or DataFrame; got list"): adf([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="must be numeric; column 'Y' has dtype"): adf(s.astype(str))
    with pytest.raises(ValueError, match="one series; got a DataFrame with 2 columns"): adf(pd.concat([s, s.rename("B")], axis=1))
    with pytest.raises(TypeError, match="log must be True or False"): adf(s, log="yes")


# ---------------------------------------------------------------- Engle-Granger

@pytest.mark.parametrize("trend", TRENDS)
def test_engle_granger_matches_coint_ko_pep(logs, trend):
    r = engle_granger(logs["KO"], logs["PEP"], trend=trend)
    sm = coint(logs["KO"].to_numpy(), logs["PEP"].to_numpy(), trend=trend, return_results=False)
    _close([r.statistic, r.pvalue], [sm[0], sm[1]])
    if trend != "n": _close(list(r.critical_values.values()), sm[2])
    else: assert all(np.isnan(v) for v in r.critical_values.values())
    # the lag is adfuller's on the first-step residual
    assert r.lags == adfuller(r.spread.to_numpy(), regression="n", result_object=False)[2]


def test_engle_granger_fields_and_orderings(sp20, logs):
    r = engle_granger(sp20["KO"], sp20["PEP"], log=True, both_orderings=True)
    beta, alpha = np.polyfit(logs["PEP"], logs["KO"], 1)
    _close([r.hedge_ratio, r.intercept], [beta, alpha], rel=1e-9)
    assert r.spread.index.equals(sp20.index) and r.spread.name == "spread"
    _close(r.spread.to_numpy(), (logs["KO"] - alpha - beta * logs["PEP"]).to_numpy(), rel=1e-9)
    sm_rev = coint(logs["PEP"], logs["KO"], return_results=False)
    _close(r.reverse.pvalue, sm_rev[1])
    assert r.weaker.pvalue == max(r.pvalue, r.reverse.pvalue)
    assert r.pvalue > 0.05 and r.reverse.pvalue > 0.05
    assert r.half_life == pytest.approx(half_life(r.spread))
    assert isinstance(r, EngleGrangerResult) and "weaker pvalue" in r.summary()


def test_engle_granger_several_regressors(logs):
    r = engle_granger(logs["KO"], logs[["PEP", "PG"]])
    sm = coint(logs["KO"], logs[["PEP", "PG"]], return_results=False)
    _close([r.statistic, r.pvalue], [sm[0], sm[1]])
    _close(list(r.critical_values.values()), sm[2])
    X = np.column_stack([logs[["PEP", "PG"]].to_numpy(), np.ones(len(logs))])
    b = np.linalg.lstsq(X, logs["KO"].to_numpy(), rcond=None)[0]
    assert list(r.hedge_ratio.index) == ["PEP", "PG"]
    _close(r.hedge_ratio.to_numpy(), b[:2], rel=1e-9)


def test_engle_granger_simulated_pair():
    y, x, z = _walks(500, seed=3)
    r = engle_granger(y, x)
    assert r.pvalue < 0.01 and r.hedge_ratio == pytest.approx(1.5, rel=0.02)
    assert engle_granger(y, z).pvalue > 0.05


def test_engle_granger_errors():
    y, x, z = _walks(60)
    with pytest.raises(ValueError, match="same length; got y=60, x=59"): engle_granger(y, x.iloc[1:])
    with pytest.raises(ValueError, match=r"same index; they first differ at position 0 \(y: 2020-01-01, x: 2020-01-02\)"):
        engle_granger(y, x.set_axis(x.index + pd.Timedelta(days=1)))
    with pytest.raises(ValueError, match=r"y, x must not contain NaN; got 1 NaN values in 1 rows \(first at 2020-01-03, column 'X'\)"):
        engle_granger(y, x.where(x.index != "2020-01-03"))
    assert engle_granger(y, x.where(x.index != "2020-01-03"), missing="drop").nobs < engle_granger(y, x).nobs
    with pytest.raises(ValueError, match="perfectly collinear"): engle_granger(y, (y - 1) / 3)
    with pytest.raises(ValueError, match="column 'X' equals 5 on all 60 rows"): engle_granger(y, x * 0 + 5)
    with pytest.raises(ValueError, match="strictly positive and finite; column 'X'"): engle_granger(y, x - 100, log=True)
    with pytest.raises(ValueError, match="trend must be one of"): engle_granger(y, x, trend="t")
    with pytest.raises(TypeError, match="both_orderings must be True or False"): engle_granger(y, x, both_orderings=1)
    with pytest.raises(ValueError, match="both_orderings needs one regressor; x has 2 columns"):
        engle_granger(y, pd.concat([x, z], axis=1), both_orderings=True)
    with pytest.raises(ValueError, match="weaker needs both orderings"): _ = engle_granger(y, x).weaker
    with pytest.raises(ValueError, match="spread is too short for lags=4 with trend='n': 8 observations allow at most 3"):
        engle_granger(y.iloc[:8], x.iloc[:8], lags=4)
    with pytest.raises(TypeError, match="x must be Series or DataFrame or ndarray; got list"): engle_granger(y, [1.0] * 60)


# ---------------------------------------------------------------- Johansen

def _check_johansen(ours, sm):
    _close(ours.trace_stat.to_numpy(), sm.trace_stat)
    _close(ours.max_eig_stat.to_numpy(), sm.max_eig_stat)
    _close(ours.trace_crit.to_numpy(), sm.trace_stat_crit_vals)
    _close(ours.max_eig_crit.to_numpy(), sm.max_eig_stat_crit_vals)
    _close(ours.eigenvalues.to_numpy(), sm.eig)
    ev = sm.evec * np.sign(sm.evec[0])      # columns up to sign
    _close(ours.eigenvectors.to_numpy(), ev, rel=1e-7)


@pytest.mark.parametrize("det_order", [-1, 0, 1])
def test_johansen_matches_statsmodels_eu_indices(eu, det_order):
    r = johansen(eu, det_order=det_order, missing="drop")
    _check_johansen(r, coint_johansen(eu.dropna().to_numpy(), det_order, 1))
    assert list(r.eigenvectors.index) == ["AEX", "DAX", "FTSE", "CAC"]


def test_johansen_eu_facts(eu):
    with pytest.raises(ValueError, match=r"prices must not contain NaN; got \d+ NaN values in \d+ rows"): johansen(eu)
    r = johansen(eu, missing="drop")
    assert (r.rank_trace, r.rank_max_eig) == (0, 0)     # 1996-2006 daily levels: no rank at 95 %
    assert r.nobs == len(eu.dropna()) - 2


def test_johansen_bundled(logs, sp20):
    r = johansen(sp20[["KO", "PEP", "PG"]], log=True)
    _check_johansen(r, coint_johansen(logs.to_numpy(), 0, 1))
    assert (r.rank_trace, r.rank_max_eig) == (1, 0)
    assert r.hedge_weights["KO"] == 1.0
    v = r.eigenvectors["v1"]
    _close(r.hedge_weights.to_numpy(), (v / v["KO"]).to_numpy(), rel=1e-12)
    _close(r.spread.to_numpy(), logs.to_numpy() @ r.hedge_weights.to_numpy(), rel=1e-12)
    assert r.spread.index.equals(sp20.index)
    assert r.half_life == pytest.approx(half_life(r.spread))
    assert isinstance(r, JohansenResult) and "rank (trace, 95%)" in r.summary()


def test_johansen_simulated_rank():
    rng = np.random.default_rng(0)
    f = np.cumsum(rng.normal(size=600))
    px = pd.DataFrame({"A": 100 + f + rng.normal(size=600), "B": 50 + 2 * f + rng.normal(size=600),
                       "C": 80 + np.cumsum(rng.normal(size=600))}, index=pd.bdate_range("2015-01-01", periods=600))
    r = johansen(px)
    assert (r.rank_trace, r.rank_max_eig) == (1, 1)
    assert r.hedge_weights["B"] == pytest.approx(-0.5, abs=0.01)
    assert abs(r.hedge_weights["C"]) < 0.01   # A - 0.5 B is stationary


def test_johansen_lagged_level_alignment():
    # with k_ar_diff=p the lagged level must be X_{t-1}: equal to the concentrated VECM regression done by hand
    rng = np.random.default_rng(2)
    x = np.cumsum(rng.normal(size=(200, 2)), axis=0)
    p = 2
    r = johansen(pd.DataFrame(x, columns=["a", "b"]), det_order=-1, k_ar_diff=p)
    dx = np.diff(x, axis=0)
    Z = np.column_stack([dx[p - j:len(dx) - j] for j in range(1, p + 1)])
    r0 = dx[p:] - Z @ np.linalg.lstsq(Z, dx[p:], rcond=None)[0]
    lev = x[p:-1]
    r1 = lev - Z @ np.linalg.lstsq(Z, lev, rcond=None)[0]
    T = len(r0)
    S = lambda a, b: a.T @ b / T  # noqa: E731
    lam = np.sort(np.linalg.eigvals(np.linalg.solve(S(r1, r1), S(r1, r0) @ np.linalg.solve(S(r0, r0), S(r0, r1)))).real)[::-1]
    _close(r.eigenvalues.to_numpy(), lam, rel=1e-9)
    _close(r.trace_stat.iloc[0], -T * np.log(1 - lam).sum(), rel=1e-9)


def test_johansen_errors():
    rng = np.random.default_rng(0)
    px = pd.DataFrame(100 + np.cumsum(rng.normal(size=(50, 3)), axis=0), columns=list("ABC"),
                      index=pd.bdate_range("2020-01-01", periods=50))
    with pytest.raises(TypeError, match="prices must be DataFrame; got Series"): johansen(px["A"])
    with pytest.raises(ValueError, match=r"prices must have 2 to 12 columns \(critical values exist up to 12\); got 1"): johansen(px[["A"]])
    with pytest.raises(ValueError, match="det_order must be one of -1, 0, 1; got 2"): johansen(px, det_order=2)
    with pytest.raises(ValueError, match="k_ar_diff must be >= 0; got -1"): johansen(px, k_ar_diff=-1)
    with pytest.raises(ValueError, match="too short for k_ar_diff=2 with 3 series: got 10 rows, need at least 11"):
        johansen(px.iloc[:10], k_ar_diff=2)
    bad = px.copy(); bad.iloc[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"got 1 NaN values in 1 rows \(first at 2020-01-03, column 'B'\)"): johansen(bad)
    assert johansen(bad, missing="drop").nobs == johansen(px.drop(px.index[2])).nobs
    with pytest.raises(ValueError, match="column 'C' equals 7 on all 50 rows"): johansen(px.assign(C=7.0))
    with pytest.raises(ValueError, match="strictly positive and finite; column 'A'"): johansen(px - 100, log=True)
