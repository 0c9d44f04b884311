"""Kalman dynamic hedge ratio (statarb.alpha.kalman) and its compiled twin statarb._kalman.kalman_filter.

Twin equality is exact (np.testing.assert_array_equal): both twins do the same scalar IEEE operations in the same
order (no FMA contraction on the default x86-64 target, libm `log` in both), so any difference is a bug, not rounding.
Against pykalman (KalmanFilter with identity transitions and a per-step observation row [x_t, 1], missing steps
masked) the filtered states, covariances and log-likelihood agree to 1e-9 relative: pykalman forms the gain with a
pseudo-inverse and matrix products, so only rounding differs. Real data: KO on PEP from the bundled sample.
These tests also pass with STATARB_NO_CYTHON=1: the compiled kernel is then taken directly with compiled_kernel.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pykalman import KalmanFilter

from statarb import core
from statarb.alpha.kalman import (
    KalmanHedge,
    KalmanHedgeResult,
    _run_filter,
    _run_smoother,
    kalman_filter_py,
    kalman_smoother_py,
)
from statarb.data.sources import load_sample

ROOT = Path(__file__).resolve().parents[1]
COMPILED = core.compiled_kernel("_kalman", "kalman_filter")
needs_compiled = pytest.mark.skipif(COMPILED is None, reason="statarb._kalman is not built")
twins = pytest.mark.twins

DELTA, R, P0 = 1e-5, 0.5, 10.0


@pytest.fixture(scope="module")
def ko_pep() -> pd.DataFrame:
    return load_sample("sp500_20stocks")[["KO", "PEP"]]


def _with_nans(px: pd.DataFrame) -> pd.DataFrame:
    px = px.copy()
    rng = np.random.default_rng(7)
    px.loc[px.index[rng.random(len(px)) < 0.05], "KO"] = np.nan
    px.loc[px.index[rng.random(len(px)) < 0.03], "PEP"] = np.nan
    px.iloc[100:120, 0] = np.nan                      # a run of missing y
    return px


def _args(delta=DELTA, r=R, p0=P0, m0=(0.0, 0.0)):
    return (delta / (1 - delta) * np.eye(2), r, np.asarray(m0, dtype=float), np.eye(2) * p0)


def _pykalman(y, x, delta=DELTA, r=R, p0=P0):
    mask = np.isnan(y) | np.isnan(x)
    obs = np.ma.masked_array(np.where(mask, 0.0, y)[:, None], mask=mask[:, None])
    h = np.stack([np.where(mask, 0.0, x), np.ones(len(y))], axis=1)[:, None, :]
    kf = KalmanFilter(transition_matrices=np.eye(2), observation_matrices=h,
                      transition_covariance=delta / (1 - delta) * np.eye(2), observation_covariance=[[r]],
                      initial_state_mean=np.zeros(2), initial_state_covariance=np.eye(2) * p0)
    means, covs = kf.filter(obs)
    return means, covs, kf.loglikelihood(obs)


# ------------------------------------------------------------------------------------------------------ twins
@twins
@needs_compiled
@pytest.mark.parametrize("nans", [False, True])
def test_twins_identical_on_ko_pep(ko_pep, nans):
    px = _with_nans(ko_pep) if nans else ko_pep
    y, x = px["KO"].to_numpy(), px["PEP"].to_numpy()
    a = _run_filter(y, x, *_args(), kernel=COMPILED)
    b = _run_filter(y, x, *_args(), kernel=kalman_filter_py)
    for k in a: np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert np.isnan(a["innovation"]).any() == nans


@twins
@needs_compiled
@pytest.mark.parametrize("seed", range(5))
def test_twins_identical_random(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 500))
    x = 20 + np.cumsum(rng.normal(0, 1, n))
    y = 1.5 * x + rng.normal(0, 1, n)
    y[rng.random(n) < 0.1] = np.nan
    x[rng.random(n) < 0.1] = np.nan
    a = rng.random((2, 2)) * 1e-3
    q = a @ a.T                                        # a full (correlated) symmetric PSD Q
    args = (q, float(rng.random() + 0.1), rng.normal(0, 1, 2), np.eye(2) * (rng.random() * 10 + 0.1))
    o1 = _run_filter(y, x, *args, kernel=COMPILED)
    o2 = _run_filter(y, x, *args, kernel=kalman_filter_py)
    for k in o1: np.testing.assert_array_equal(o1[k], o2[k], err_msg=k)


@twins
@needs_compiled
def test_twins_same_status_codes():
    o = lambda n: (np.empty((n, 2)), np.empty((n, 2, 2)), np.empty(n), np.empty(n), np.empty(n))
    for kernel in (COMPILED, kalman_filter_py):
        assert kernel(np.ones(3), np.ones(2), *_args(), *o(3)) == 1
        assert kernel(np.ones(3), np.ones(3), *_args(), *o(2)) == 1
        assert kernel(np.ones(3), np.ones(3), np.eye(2), -5.0, np.zeros(2), np.zeros((2, 2)), *o(3)) == 2
        assert kernel(np.empty(0), np.empty(0), *_args(), *o(0)) == 0


def test_selector_honours_no_cython(monkeypatch, ko_pep):
    monkeypatch.setenv("STATARB_NO_CYTHON", "1")
    assert core.select_kernel("_kalman", "kalman_filter", kalman_filter_py) is kalman_filter_py
    res = KalmanHedge(delta=DELTA, observation_covariance=R, initial_state_covariance=np.eye(2) * P0).filter(
        ko_pep["KO"].iloc[:300], ko_pep["PEP"].iloc[:300])
    ref = _run_filter(ko_pep["KO"].to_numpy()[:300], ko_pep["PEP"].to_numpy()[:300], *_args(), kernel=kalman_filter_py)
    np.testing.assert_array_equal(res.state_means.to_numpy(), ref["state_means"])


# ------------------------------------------------------------------------------------------------ pykalman oracle
@pytest.mark.parametrize("nans", [False, True])
def test_agrees_with_pykalman_on_ko_pep(ko_pep, nans):
    px = (_with_nans(ko_pep) if nans else ko_pep).loc["2012":"2016"]
    res = KalmanHedge(delta=DELTA, observation_covariance=R, initial_state_covariance=np.eye(2) * P0).filter(px["KO"], px["PEP"])
    means, covs, ll = _pykalman(px["KO"].to_numpy(), px["PEP"].to_numpy())
    np.testing.assert_allclose(res.state_means.to_numpy(), means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.state_covariances, covs, rtol=1e-9, atol=1e-14)
    assert res.loglikelihood == pytest.approx(ll, rel=1e-9)
    assert res.n_missing == int((px.isna().any(axis=1)).sum()) == (res.loglikelihoods == 0).sum()


def test_missing_steps_are_predicted_through(ko_pep):
    px = _with_nans(ko_pep.iloc[:300])
    res = KalmanHedge(delta=DELTA, observation_covariance=R).filter(px["KO"], px["PEP"])
    miss = px.isna().any(axis=1).to_numpy()
    i = np.flatnonzero(miss & (np.arange(300) > 0))
    np.testing.assert_array_equal(res.state_means.to_numpy()[i], res.state_means.to_numpy()[i - 1])
    # the covariance grows by Q on a missing step
    q = DELTA / (1 - DELTA) * np.eye(2)
    np.testing.assert_allclose(res.state_covariances[i], res.state_covariances[i - 1] + q, rtol=1e-15)
    assert res.spread[miss].isna().all() and res.zscore[miss].isna().all() and res.spread[~miss].notna().all()


# ------------------------------------------------------------------------------------------------ API and properties
def test_result_fields_keep_the_index(ko_pep):
    px = ko_pep.loc["2020"]
    res = KalmanHedge().filter(px["KO"], px["PEP"])
    assert isinstance(res, KalmanHedgeResult)
    for s in (res.beta, res.alpha, res.spread, res.innovation_variance, res.zscore, res.loglikelihoods, res.state_means):
        assert s.index.equals(px.index)
    assert res.hedge_ratio is res.beta
    np.testing.assert_array_equal(res.zscore, res.spread / np.sqrt(res.innovation_variance))
    # spread = y - (beta_{t|t-1} x + alpha_{t|t-1}); beta_{t|t-1} = beta_{t-1|t-1} in a random walk
    pred = res.beta.shift(1) * px["PEP"] + res.alpha.shift(1)
    np.testing.assert_allclose(res.spread.iloc[1:], (px["KO"] - pred).iloc[1:], rtol=1e-12, atol=1e-12)
    assert res.loglikelihood == KalmanHedge().loglikelihood(px["KO"], px["PEP"])
    assert "n_obs" in res.summary() and res.n_obs == len(px)
    # arrays in, RangeIndex out; a Series x alone gives its index
    assert isinstance(KalmanHedge().filter(px["KO"].to_numpy(), px["PEP"].to_numpy()).beta.index, pd.RangeIndex)
    assert KalmanHedge().filter(px["KO"].to_numpy(), px["PEP"]).beta.index.equals(px.index)


def test_delta_shortcut_equals_transition_covariance(ko_pep):
    px = ko_pep.iloc[:500]
    a = KalmanHedge(delta=1e-3).filter(px["KO"], px["PEP"])
    b = KalmanHedge(transition_covariance=1e-3 / (1 - 1e-3) * np.eye(2)).filter(px["KO"], px["PEP"])
    np.testing.assert_array_equal(a.state_means, b.state_means)
    assert KalmanHedge().delta == 1e-4


def test_static_beta_limit_is_least_squares(ko_pep):
    "Q = 0 and a diffuse prior: the last filtered state is the OLS fit of y on [x, 1] (recursive least squares)."
    px = ko_pep.loc["2015":"2016"]
    res = KalmanHedge(transition_covariance=np.zeros((2, 2)), observation_covariance=1.0,
                      initial_state_covariance=np.eye(2) * 1e8).filter(px["KO"], px["PEP"])
    ols = np.linalg.lstsq(np.column_stack([px["PEP"], np.ones(len(px))]), px["KO"].to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(res.state_means.iloc[-1].to_numpy(), ols, rtol=1e-5)


def test_filter_update_matches_batch_step_by_step(ko_pep):
    px = _with_nans(ko_pep.iloc[:400])
    kh = KalmanHedge(delta=DELTA, observation_covariance=R, initial_state_covariance=np.eye(2) * P0)
    res = kh.filter(px["KO"], px["PEP"])
    m, p = res.state_means.iloc[0].to_numpy(), res.state_covariances[0]
    for t in range(1, len(px)):
        step = kh.filter_update(m, p, px["KO"].iloc[t], px["PEP"].iloc[t])
        np.testing.assert_array_equal(step.state_mean, res.state_means.iloc[t].to_numpy())
        np.testing.assert_array_equal(step.state_covariance, res.state_covariances[t])
        np.testing.assert_array_equal([step.spread, step.innovation_variance, step.zscore, step.loglikelihood],
                                      [res.spread.iloc[t], res.innovation_variance.iloc[t], res.zscore.iloc[t],
                                       res.loglikelihoods.iloc[t]])
        m, p = step.state_mean, step.state_covariance


def test_no_look_ahead(ko_pep):
    "Changing data after t changes nothing at or before t."
    px = ko_pep.loc["2018":"2019"]
    kh = KalmanHedge(delta=DELTA, observation_covariance=R)
    base = kh.filter(px["KO"], px["PEP"])
    cut = 250
    y2, x2 = px["KO"].copy(), px["PEP"].copy()
    y2.iloc[cut + 1:] *= 3.0
    x2.iloc[cut + 1:] = np.nan
    alt = kh.filter(y2, x2)
    for f in ("beta", "alpha", "spread", "zscore", "innovation_variance"):
        pd.testing.assert_series_equal(getattr(base, f).iloc[:cut + 1], getattr(alt, f).iloc[:cut + 1])
        assert not getattr(base, f).iloc[cut + 1:].equals(getattr(alt, f).iloc[cut + 1:])
    # and a truncated history gives the same path
    short = kh.filter(px["KO"].iloc[:cut + 1], px["PEP"].iloc[:cut + 1])
    pd.testing.assert_frame_equal(short.state_means, base.state_means.iloc[:cut + 1])


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(delta=1.0), ValueError, r"delta must be in \(0, 1\); got 1.0"),
    (dict(delta=1.5), ValueError, r"delta must be in \(0, 1\); got 1.5"),
    (dict(delta=0.0), ValueError, "delta must be > 0 and finite; got 0.0"),
    (dict(delta=-0.1), ValueError, "delta must be > 0 and finite"),
    (dict(delta="a"), TypeError, "delta must be a real number"),
    (dict(delta=1e-4, transition_covariance=np.eye(2)), ValueError, "pass delta or transition_covariance, not both"),
    (dict(transition_covariance=[[1, 0], [0, np.inf]]), ValueError, "transition_covariance must be finite"),
    (dict(transition_covariance=[[1, 0], [0, np.nan]]), ValueError, "transition_covariance must be finite"),
    (dict(transition_covariance=[[1, 2], [2, 1]]), ValueError,
     r"transition_covariance must be positive semi-definite; got eigenvalues \[-1.0, 3.0\]"),
    (dict(transition_covariance=[[1, 0.5], [0.4, 1]]), ValueError, "transition_covariance must be symmetric"),
    (dict(transition_covariance=np.eye(3)), ValueError, r"transition_covariance must have shape \(2, 2\); got \(3, 3\)"),
    (dict(transition_covariance=np.ones(2)), ValueError, "transition_covariance must be 2-dimensional"),
    (dict(initial_state_covariance=np.zeros((2, 2))), ValueError, "initial_state_covariance must be positive definite"),
    (dict(initial_state_covariance=[[1, 0], [0, -1]]), ValueError, "initial_state_covariance must be positive definite"),
    (dict(initial_state_covariance=[[np.nan, 0], [0, 1]]), ValueError, "initial_state_covariance must be finite"),
    (dict(observation_covariance=0.0), ValueError, "observation_covariance must be > 0 and finite"),
    (dict(observation_covariance=np.inf), ValueError, "observation_covariance must be > 0 and finite"),
    (dict(initial_state_mean=[0.0]), ValueError, r"initial_state_mean must have 2 values \[beta, alpha\]"),
    (dict(initial_state_mean=[0.0, np.nan]), ValueError, "initial_state_mean must be finite"),
])
def test_bad_parameters(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        KalmanHedge(**kwargs)


def test_bad_data(ko_pep):
    kh = KalmanHedge()
    px = ko_pep.iloc[:50]
    with pytest.raises(ValueError, match="lengths must match; got y=3, x=4"):
        kh.filter(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="lengths must match; got y=50, x=49"):
        kh.filter(px["KO"], px["PEP"].iloc[1:])
    with pytest.raises(ValueError, match=r"y and x must have the same index; they differ first at position 0"):
        kh.filter(px["KO"], px["PEP"].set_axis(px.index.shift(1, freq="D")))
    with pytest.raises(ValueError, match="y and x must not be empty; got 0 observations"):
        kh.filter(px["KO"].iloc[:0], px["PEP"].iloc[:0])
    with pytest.raises(ValueError, match=r"x must be finite or NaN \(missing\); got 1 infinite values \(first at position 3\)"):
        kh.filter(np.ones(5), np.array([1, 1, 1, np.inf, 1.0]))
    with pytest.raises(ValueError, match=r"y must be 1-dimensional; got shape \(50, 2\)"):
        kh.filter(px, px["PEP"])
    with pytest.raises(TypeError, match="y must be numeric"):
        kh.filter(["a", "b"], [1.0, 2.0])
    with pytest.raises(ValueError, match="state_covariance must be a finite 2x2 matrix"):
        kh.filter_update([0, 0], np.eye(3), 1.0, 1.0)
    with pytest.raises(ValueError, match="state_mean must have 2 values"):
        kh.filter_update([0, 0, 0], np.eye(2), 1.0, 1.0)


def test_numerical_failure_is_a_runtime_error():
    "A negative innovation variance (possible only below the public API) becomes a RuntimeError naming the step."
    with pytest.raises(RuntimeError, match=r"innovation variance S_t must be positive and finite; got -4.0 at step 1"):
        _run_filter(np.array([np.nan, 1.0, 1.0]), np.ones(3), np.zeros((2, 2)), -4.0, np.zeros(2), np.zeros((2, 2)))


# ------------------------------------------------------------------------------------------------ smoother
SMOOTHER = core.compiled_kernel("_kalman", "kalman_smoother")


@twins
@needs_compiled
@pytest.mark.parametrize("nans", [False, True])
def test_smoother_twins_identical_on_ko_pep(ko_pep, nans):
    px = _with_nans(ko_pep) if nans else ko_pep
    f = _run_filter(px["KO"].to_numpy(), px["PEP"].to_numpy(), *_args())
    q = _args()[0]
    a = _run_smoother(f["state_means"], f["state_covs"], q, kernel=SMOOTHER)
    b = _run_smoother(f["state_means"], f["state_covs"], q, kernel=kalman_smoother_py)
    for k in a: np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@twins
@needs_compiled
def test_smoother_twins_same_status_codes():
    for kernel in (SMOOTHER, kalman_smoother_py):
        o = (np.empty((3, 2)), np.empty((3, 2, 2)), np.empty((3, 2, 2)))
        assert kernel(np.zeros((3, 2)), np.zeros((2, 2, 2)), np.eye(2), *o) == 1
        assert kernel(np.zeros((3, 2)), np.zeros((3, 2, 2)), np.zeros((2, 2)), *o) == 3   # P + Q singular
        assert kernel(np.zeros((0, 2)), np.zeros((0, 2, 2)), np.eye(2), *(a[:0] for a in o)) == 0
    with pytest.raises(RuntimeError, match="singular at step 1"):
        _run_smoother(np.zeros((3, 2)), np.zeros((3, 2, 2)), np.zeros((2, 2)))


@pytest.mark.parametrize("nans", [False, True])
def test_smoother_agrees_with_pykalman_on_ko_pep(ko_pep, nans):
    from pykalman.standard import _smooth_pair
    px = (_with_nans(ko_pep) if nans else ko_pep).loc["2012":"2016"]
    y, x = px["KO"].to_numpy(), px["PEP"].to_numpy()
    mask = np.isnan(y) | np.isnan(x)
    obs = np.ma.masked_array(np.where(mask, 0.0, y)[:, None], mask=mask[:, None])
    h = np.stack([np.where(mask, 0.0, x), np.ones(len(y))], axis=1)[:, None, :]
    q = _args()[0]
    kf = KalmanFilter(transition_matrices=np.eye(2), observation_matrices=h, transition_covariance=q,
                      observation_covariance=[[R]], initial_state_mean=np.zeros(2), initial_state_covariance=np.eye(2) * P0)
    pm, pc = kf.smooth(obs)
    sm = KalmanHedge(delta=DELTA, observation_covariance=R, initial_state_covariance=np.eye(2) * P0).smooth(px["KO"], px["PEP"])
    np.testing.assert_allclose(sm.state_covariances, pc, rtol=1e-7, atol=1e-13)
    np.testing.assert_allclose(np.column_stack([sm.beta, sm.alpha]), pm, rtol=1e-8, atol=1e-10)
    f = _run_filter(y, x, *_args())
    gains = np.einsum("tij,tjk->tik", f["state_covs"][:-1], np.linalg.inv(f["state_covs"][:-1] + q))
    np.testing.assert_allclose(sm.pairwise_covariances, _smooth_pair(pc, gains), rtol=1e-6, atol=1e-13)
    assert sm.beta.index.equals(px.index)


def test_smoother_uses_the_future_and_the_filter_does_not(ko_pep):
    "The smoothed beta at t moves when data after t change; the filtered one does not (the reason it is research-only)."
    px = ko_pep.loc["2012":"2013"]
    kh = KalmanHedge(delta=DELTA, observation_covariance=R, initial_state_covariance=np.eye(2) * P0)
    y2 = px["KO"].copy()
    y2.iloc[300:] *= 1.1
    cut = px.index[299]
    f1, f2 = kh.filter(px["KO"], px["PEP"]), kh.filter(y2, px["PEP"])
    pd.testing.assert_series_equal(f1.beta.loc[:cut], f2.beta.loc[:cut])
    assert not np.allclose(kh.smooth(px["KO"], px["PEP"]).beta.loc[:cut], kh.smooth(y2, px["PEP"]).beta.loc[:cut])


# ------------------------------------------------------------------------------------------------ calibration
def _simulated(n=1500, seed=3, delta=2e-5, r=0.3):
    "y = beta_t x + alpha_t + e with [beta, alpha] a random walk of covariance delta/(1-delta) I and Var e = r."
    rng = np.random.default_rng(seed)
    x = 40 + np.cumsum(rng.normal(0, 0.4, n))
    s = np.array([1.2, 3.0]) + np.cumsum(rng.normal(0, np.sqrt(delta / (1 - delta)), (n, 2)), axis=0)
    y = s[:, 0] * x + s[:, 1] + rng.normal(0, np.sqrt(r), n)
    return y, x


def test_mle_recovers_simulated_parameters():
    y, x = _simulated()
    cal = KalmanHedge(delta=1e-3, observation_covariance=5.0).fit(y, x)
    assert cal.converged and not cal.at_bound and cal.method == "mle"
    assert cal.model.observation_covariance == pytest.approx(0.3, rel=0.25)
    assert cal.model.delta == pytest.approx(2e-5, rel=0.6)
    assert cal.loglikelihood == max(cal.history)                      # nothing the optimizer tried scored higher
    assert cal.loglikelihood == pytest.approx(cal.model.loglikelihood(y, x), rel=1e-12)


def test_mle_optimum_beats_neighbours_by_pykalman_likelihood(ko_pep):
    px = ko_pep.loc["2014":"2017"]
    y, x = px["KO"].to_numpy(), px["PEP"].to_numpy()
    cal = KalmanHedge(delta=1e-5, observation_covariance=0.5, initial_state_covariance=np.eye(2) * P0).fit(y, x)
    assert cal.converged
    m = cal.model
    h = np.stack([x, np.ones(len(y))], axis=1)[:, None, :]
    def pk_ll(dq, dr):
        return KalmanFilter(transition_matrices=np.eye(2), observation_matrices=h,
                            transition_covariance=m.transition_covariance * dq,
                            observation_covariance=[[m.observation_covariance * dr]], initial_state_mean=np.zeros(2),
                            initial_state_covariance=np.eye(2) * P0).loglikelihood(y[:, None])
    assert pk_ll(1, 1) == pytest.approx(cal.loglikelihood, rel=1e-8)
    for dq, dr in [(0.8, 1), (1.25, 1), (1, 0.8), (1, 1.25), (0.8, 1.25), (1.25, 0.8)]:
        assert pk_ll(dq, dr) < cal.loglikelihood


@pytest.mark.parametrize("nans", [False, True])
def test_em_equals_pykalman_em_on_ko_pep(ko_pep, nans):
    px = (_with_nans(ko_pep) if nans else ko_pep).loc["2013":"2016"]
    y, x = px["KO"].to_numpy(), px["PEP"].to_numpy()
    mask = np.isnan(y) | np.isnan(x)
    obs = np.ma.masked_array(np.where(mask, 0.0, y)[:, None], mask=mask[:, None])
    h = np.stack([np.where(mask, 0.0, x), np.ones(len(y))], axis=1)[:, None, :]
    kf = KalmanFilter(transition_matrices=np.eye(2), observation_matrices=h, transition_covariance=_args()[0],
                      observation_covariance=[[R]], initial_state_mean=np.zeros(2), initial_state_covariance=np.eye(2) * P0)
    kf = kf.em(obs, n_iter=5, em_vars=["transition_covariance", "observation_covariance"])
    cal = KalmanHedge(delta=DELTA, observation_covariance=R, initial_state_covariance=np.eye(2) * P0).fit(
        px["KO"], px["PEP"], method="em", n_iter=5)
    np.testing.assert_allclose(cal.model.transition_covariance, kf.transition_covariance, rtol=1e-6, atol=1e-15)
    assert cal.model.observation_covariance == pytest.approx(float(kf.observation_covariance[0, 0]), rel=1e-8)
    assert cal.n_iter == 5 and len(cal.history) == 5 and not cal.converged
    assert np.all(np.diff(np.r_[cal.history.to_numpy(), cal.loglikelihood]) >= 0)     # EM is monotone


def test_em_tolerance_stops_early_and_em_vars_subset(ko_pep):
    px = ko_pep.loc["2013":"2016"]
    kh = KalmanHedge(delta=DELTA, observation_covariance=R, initial_state_covariance=np.eye(2) * P0)
    cal = kh.fit(px["KO"], px["PEP"], method="em", n_iter=500, tol=1e-5)
    assert cal.converged and cal.n_iter < 500
    gains = np.diff(cal.history.to_numpy())
    assert gains[-1] <= 1e-5 * abs(cal.history.iloc[-2]) and np.all(gains[:-1] > 1e-5 * np.abs(cal.history.to_numpy()[:-2]))
    only_r = kh.fit(px["KO"], px["PEP"], method="em", n_iter=3, em_vars=["observation_covariance"])
    np.testing.assert_array_equal(only_r.model.transition_covariance, kh.transition_covariance)
    assert only_r.model.observation_covariance != R


@pytest.mark.parametrize("kwargs, msg", [
    ({"method": "newton"}, "method must be one of"),
    ({"method": "em", "em_vars": ["initial_state_mean"]}, "em_vars must be a non-empty subset"),
    ({"method": "em", "em_vars": []}, "em_vars must be a non-empty subset"),
    ({"n_iter": 0}, "n_iter must be"),
    ({"tol": -1.0}, "tol must be > 0"),
])
def test_fit_bad_arguments(ko_pep, kwargs, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(")):
        KalmanHedge().fit(ko_pep["KO"].iloc[:50], ko_pep["PEP"].iloc[:50], **kwargs)


def test_fit_bad_data():
    with pytest.raises(ValueError, match="need at least 10 joint observations to calibrate; got 4"):
        KalmanHedge().fit(np.array([1.0, 2, 3, 4, np.nan]), np.ones(5))
    with pytest.raises(ValueError, match="y must vary to calibrate"):
        KalmanHedge().fit(np.ones(20), np.arange(20.0))


# ------------------------------------------------------------------------------------------------ band and plot
def test_beta_band_and_plot(ko_pep):
    import matplotlib
    matplotlib.use("Agg")
    px = ko_pep.loc["2015":"2016"]
    res = KalmanHedge(delta=DELTA, observation_covariance=R).filter(px["KO"], px["PEP"])
    b90, b99 = res.beta_band(0.90), res.beta_band(0.99)
    sd = np.sqrt(res.state_covariances[:, 0, 0])
    np.testing.assert_allclose((b99["upper"] - b99["beta"]).to_numpy(), 2.5758293035489 * sd, rtol=1e-10)
    assert ((b90["upper"] - b90["lower"]) < (b99["upper"] - b99["lower"])).all()
    fig = res.plot(title="KO/PEP")
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "KO/PEP"
    with pytest.raises(ValueError, match="level must be in"):
        res.beta_band(0)


# ------------------------------------------------------------------------------------------------ benchmark smoke run
def test_bench_kalman_quick_prints_ratios():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_kalman.py"), "--quick"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    if run.returncode == 1 and "not built" in run.stderr: pytest.skip("statarb._kalman is not built")
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("ratio cython / plain C:", "ratio python / cython:", "ratio pykalman / cython:",
                 "outputs: cython == python twin True; cython == plain C True; cython vs pykalman max rel diff",
                 "ratio pykalman EM / statarb EM:", "EM estimates vs pykalman: max rel diff Q"):
        assert line in run.stdout, run.stdout
