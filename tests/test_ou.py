"""statarb.alpha.ou: exact OU maximum likelihood, Bertram (2010) bands, Leung-Li (2015) levels, the Monte Carlo judge.

Oracles: statsmodels OLS and AutoReg (coefficients equal, variance in the exact ratio (n-2)/n), scipy.stats.norm.logpdf
(log-likelihood), a numerical Hessian (standard errors), coverage of the intervals over fixed seeds, direct quadrature of
the first-passage moments (Bertram's V[T] series), parabolic cylinder functions (Leung-Li's F and G), arbitragelab's
published test values for both papers' examples, the theory's own conditions (smooth pasting, comparative statics), and
Monte Carlo on common random numbers (optimal levels beat levels moved 20%). Real data: KO/PEP from the bundled sample;
EWA/EWC from ../shared/data (skipped where absent).
"""
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import integrate, special, stats
from statsmodels.tools.numdiff import approx_hess
from statsmodels.tsa.ar_model import AutoReg

from statarb.alpha.coint import engle_granger, half_life
from statarb.alpha.ou import (
    MIN_OBS,
    BandSimulation,
    BertramBands,
    NotMeanRevertingError,
    OptimalLevels,
    OUFit,
    WeakMeanReversionWarning,
    _fg,
    bertram_bands,
    bertram_performance,
    fit_ou,
    leung_li_levels,
    simulate_band_strategy,
    simulate_ou,
)
from statarb.core import StatarbError, StatarbWarning
from statarb.data.sources import load_sample

BERTRAM = {"theta": 180.9670, "mu": 0.0, "sigma": 0.1538}           # Bertram's example process (arbitragelab's tests)
GLD_GDX = {"theta": 6.306, "mu": 0.71758, "sigma": np.sqrt(0.00698)}  # arbitragelab's Leung-Li test portfolio


@pytest.fixture(scope="module")
def daily():
    x = simulate_ou(20.0, 0.5, 0.3, dt=1 / 252, n=2016, seed=7)[0]
    return pd.Series(x, index=pd.bdate_range("2015-01-01", periods=len(x)), name="spread")


@pytest.fixture(scope="module")
def fit(daily):
    return fit_ou(daily, dt=1 / 252)


@pytest.fixture(scope="module")
def bertram():
    return bertram_bands(BERTRAM, cost=0.001)


@pytest.fixture(scope="module")
def levels():
    return leung_li_levels(GLD_GDX, cost=0.02, discount_rate=0.05)


# ---------------------------------------------------------------- simulation

def test_simulate_matches_explicit_recursion():
    theta, mu, sigma, dt = 3.0, -0.2, 0.5, 0.01
    p = simulate_ou(theta, mu, sigma, dt, 300, x0=0.7, n_paths=3, seed=4)
    rng = np.random.default_rng(4)
    eps = rng.standard_normal((3, 299))
    phi, sd = np.exp(-theta * dt), sigma * np.sqrt((1 - np.exp(-2 * theta * dt)) / (2 * theta))
    ref = np.empty((3, 300))
    ref[:, 0] = 0.7
    for t in range(1, 300): ref[:, t] = mu + (ref[:, t - 1] - mu) * phi + sd * eps[:, t - 1]
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-12)


def test_simulate_one_step_law_and_stationary_start():
    one = simulate_ou(5.0, 1.0, 0.3, dt=0.1, n=2, x0=2.0, n_paths=200_000, seed=1)[:, 1]
    assert abs(one.mean() - (1 + np.exp(-0.5))) < 3e-3
    assert abs(one.var() / (0.09 * (1 - np.exp(-1.0)) / 10) - 1) < 0.02
    start = simulate_ou(5.0, 1.0, 0.3, dt=0.1, n=1, n_paths=200_000, seed=2)[:, 0]
    assert abs(start.std() / (0.3 / np.sqrt(10)) - 1) < 0.01
    np.testing.assert_array_equal(simulate_ou(5.0, 1.0, 0.3, 0.1, 20, seed=3), simulate_ou(5.0, 1.0, 0.3, 0.1, 20, seed=3))


def test_fit_simulate_method_uses_fit(fit):
    p = fit.simulate(50, x0=0.5, n_paths=2, seed=9)
    np.testing.assert_array_equal(p, simulate_ou(fit.theta, fit.mu, fit.sigma, fit.dt, 50, x0=0.5, n_paths=2, seed=9))


# ---------------------------------------------------------------- maximum likelihood

def test_fit_equals_ols_with_variance_ratio(daily, fit):
    v = daily.to_numpy()
    n = len(v) - 1
    ols = sm.OLS(v[1:], sm.add_constant(v[:-1])).fit()
    np.testing.assert_allclose([fit.ar_intercept, fit.ar_coef], ols.params, rtol=1e-12)
    assert fit.residual_variance == pytest.approx(ols.scale * (n - 2) / n, rel=1e-13)   # MLE divides by n, OLS by n - 2
    se_phi = np.sqrt(fit.covariance[0, 0]) * fit.ar_coef * fit.dt                         # undo the delta method on theta
    assert se_phi == pytest.approx(ols.bse[1] * np.sqrt((n - 2) / n), rel=1e-10)
    assert fit.theta == pytest.approx(-np.log(ols.params[1]) / fit.dt, rel=1e-12)
    assert fit.mu == pytest.approx(ols.params[0] / (1 - ols.params[1]), rel=1e-12)
    assert fit.sigma == pytest.approx(np.sqrt(2 * fit.theta * ols.scale * (n - 2) / n / (1 - ols.params[1] ** 2)), rel=1e-12)


def test_fit_equals_autoreg(daily, fit):
    r = AutoReg(daily.to_numpy(), lags=1, trend="c").fit()
    np.testing.assert_allclose([fit.ar_intercept, fit.ar_coef], r.params, rtol=1e-12)
    assert fit.residual_variance == pytest.approx(r.sigma2, rel=1e-12)
    assert fit.loglik == pytest.approx(r.llf, rel=1e-12)


def test_loglik_and_stderr_against_scipy_and_numerical_hessian(daily, fit):
    x = daily.to_numpy()

    def ll(p):
        th, m, sg = p
        ph = np.exp(-th * fit.dt)
        return stats.norm.logpdf(x[1:], m + (x[:-1] - m) * ph, sg * np.sqrt((1 - ph**2) / (2 * th))).sum()

    p = np.array([fit.theta, fit.mu, fit.sigma])
    assert fit.loglik == pytest.approx(ll(p), rel=1e-10)
    for k in range(3):                                    # the MLE is a maximum of the exact likelihood
        for h in (-1e-4, 1e-4):
            q = p.copy(); q[k] *= 1 + h
            assert ll(q) < fit.loglik
    se = np.sqrt(np.diag(np.linalg.inv(-approx_hess(p, ll))))
    np.testing.assert_allclose(se, fit.stderr.to_numpy(), rtol=1e-3)
    assert list(fit.stderr.index) == ["theta", "mu", "sigma"]


def test_half_life_agrees_with_coint(daily, fit):
    assert fit.half_life_samples == pytest.approx(half_life(daily), rel=1e-9)
    assert fit.half_life == pytest.approx(np.log(2) / fit.theta)
    assert fit.half_life_samples == pytest.approx(fit.half_life / fit.dt)
    assert fit.stationary_std == pytest.approx(fit.sigma / np.sqrt(2 * fit.theta))


def test_estimates_cover_true_parameters_over_seeds():
    # 40 fixed seeds: the 95% intervals must cover the truth 80-100% of the time, and nothing is 4 stderr off
    z = []
    for seed in range(40):
        f = fit_ou(simulate_ou(20.0, 0.5, 0.3, 1 / 252, 2016, seed=100 + seed)[0])
        z.append([(f.theta - 20) / f.theta_stderr, (f.mu - 0.5) / f.mu_stderr, (f.sigma - 0.3) / f.sigma_stderr])
    z = np.abs(np.array(z))
    assert (z < 4).all()
    cover = (z < 1.96).mean(axis=0)
    assert ((cover >= 0.8) & (cover <= 1.0)).all(), cover


def test_fit_result_object(fit):
    assert isinstance(fit, OUFit)
    assert fit.n_obs == 2016 and fit.dt == pytest.approx(1 / 252)
    s = fit.summary()
    for key in ("theta_stderr", "half_life_samples", "loglik", "ar_coef"): assert key in s
    assert repr(fit).startswith("OUFit(theta=")
    assert "| theta |" in fit._repr_markdown_()


def test_fit_accepts_numpy_and_drops_nan(daily):
    a = fit_ou(daily.to_numpy())
    b = fit_ou(daily)
    assert a.theta == b.theta
    gap = daily.copy(); gap.iloc[10] = np.nan
    assert fit_ou(gap, missing="drop").n_obs == len(daily) - 1


# ---------------------------------------------------------------- fit errors

def test_fit_errors(daily):
    e = np.random.default_rng(0).normal(size=500)
    with pytest.raises(NotMeanRevertingError, match=r"spread is not mean-reverting: AR\(1\) coefficient .* it does not revert"):
        fit_ou(pd.Series(np.cumsum(np.abs(e))))
    with pytest.raises(ValueError, match="it overshoots its mean every sample"):
        fit_ou(pd.Series(np.tile([1.0, -1.0], 50) + 0.01 * e[:100]))
    assert issubclass(NotMeanRevertingError, ValueError) and issubclass(NotMeanRevertingError, StatarbError)
    with pytest.raises(ValueError, match=f"spread is too short for an OU fit: got 5 observations, need at least {MIN_OBS}"):
        fit_ou(daily[:5])
    with pytest.raises(ValueError, match="spread must not be constant; column 'spread' equals 2 on all 20 rows"):
        fit_ou(pd.Series([2.0] * 20))
    with pytest.raises(ValueError, match="spread must vary before its last value"):
        fit_ou(pd.Series([2.0] * 19 + [3.0]))
    gap = daily.copy(); gap.iloc[3] = np.nan
    with pytest.raises(ValueError, match=r"spread must not contain NaN; got 1 NaN values in 1 rows \(first at 2015-01-06"):
        fit_ou(gap)
    with pytest.raises(ValueError, match="spread must be finite"):
        fit_ou(daily.replace(daily.iloc[4], np.inf))
    for dt in (0, -1 / 252, np.nan):
        with pytest.raises(ValueError, match="dt must be > 0 and finite"): fit_ou(daily, dt=dt)
    with pytest.raises(TypeError, match="dt must be a real number; got str"): fit_ou(daily, dt="daily")
    with pytest.raises(TypeError, match="spread must be Series or DataFrame; got str"): fit_ou("abc")
    with pytest.raises(ValueError, match="spread must be one series; got 2 columns"):
        fit_ou(pd.DataFrame({"a": daily.to_numpy(), "b": daily.to_numpy()}))
    with pytest.raises(RuntimeError, match="zero residual variance"): fit_ou(pd.Series(0.5 ** np.arange(30.0)))
    with pytest.raises(ValueError, match="missing must be one of 'raise', 'drop'; got 'ffill'"): fit_ou(daily, missing="ffill")


def test_random_walk_warns():
    e = np.random.default_rng(0).normal(size=500)
    with pytest.warns(WeakMeanReversionWarning, match="exceeds a tenth of its 500 observations"):
        fit_ou(pd.Series(np.cumsum(e)))
    assert issubclass(WeakMeanReversionWarning, StatarbWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_ou(simulate_ou(20.0, 0.5, 0.3, 1 / 252, 500, seed=1)[0])     # a real OU spread: silent


def test_simulate_errors():
    with pytest.raises(ValueError, match="theta must be > 0 and finite; got -1.0"): simulate_ou(-1.0, 0.0, 0.3, 0.1, 10)
    with pytest.raises(ValueError, match="sigma must be > 0 and finite; got 0"): simulate_ou(1.0, 0.0, 0, 0.1, 10)
    with pytest.raises(ValueError, match="dt must be > 0 and finite; got 0.0"): simulate_ou(1.0, 0.0, 0.3, 0.0, 10)
    with pytest.raises(ValueError, match="mu must be finite; got nan"): simulate_ou(1.0, np.nan, 0.3, 0.1, 10)
    with pytest.raises(ValueError, match="n must be >= 1; got 0"): simulate_ou(1.0, 0.0, 0.3, 0.1, 0)
    with pytest.raises(ValueError, match="n_paths must be >= 1; got 0"): simulate_ou(1.0, 0.0, 0.3, 0.1, 5, n_paths=0)
    with pytest.raises(TypeError, match="x0 must be a real number; got str 'a'"): simulate_ou(1.0, 0.0, 0.3, 0.1, 10, x0="a")
    with pytest.raises(ValueError, match="seed must be >= 0; got -1"): simulate_ou(1.0, 0.0, 0.3, 0.1, 10, seed=-1)
    with pytest.raises(TypeError, match="seed must be an integer; got float 1.5"): simulate_ou(1.0, 0.0, 0.3, 0.1, 10, seed=1.5)


# ---------------------------------------------------------------- Bertram

def test_bertram_matches_published_values(bertram):
    # arbitragelab's tests/docs for Bertram's example: E[T], V[T], E[return], V[return]; entry -0.004...
    assert bertram.expected_trade_length == pytest.approx(0.017122, abs=5e-7)
    assert bertram.trade_length_variance == pytest.approx(0.00015438, abs=5e-8)
    assert bertram.expected_return == pytest.approx(0.492358, abs=5e-7)
    assert bertram.return_variance == pytest.approx(0.0021857, abs=1e-6)
    assert -0.005 < bertram.entry < -0.004 and bertram.exit == pytest.approx(-bertram.entry)
    assert isinstance(bertram, BertramBands) and bertram.objective == "return"
    s = bertram_bands(BERTRAM, cost=0.001, objective="sharpe", risk_free=0.01)
    assert s.exit == pytest.approx(0.01125, abs=5e-5) and s.sharpe == pytest.approx(3.862, rel=1e-3)


def test_bertram_return_optimum_solves_eq13(bertram):
    th, sg, c = BERTRAM["theta"], BERTRAM["sigma"], 0.001
    a = bertram.entry
    lhs = np.exp(th * a * a / sg**2) * (2 * a + c)
    rhs = sg * np.sqrt(np.pi / th) * special.erfi(a * np.sqrt(th) / sg)
    assert lhs == pytest.approx(rhs, rel=1e-9)
    for f in (0.95, 1.05):
        assert bertram_performance(BERTRAM, a * f, -a * f, c).expected_return < bertram.expected_return
    for da in (-1e-4, 1e-4):                                             # asymmetric moves lose too
        assert bertram_performance(BERTRAM, a + da, -a, c).expected_return < bertram.expected_return


def _passage(x, m):
    "E[tau], E[tau^2] for dU = -U dt + dW from x up to m (quadrature of the scale/speed formulas)."
    t1 = lambda z: np.sqrt(np.pi) * integrate.quad(lambda y: special.erfcx(-y), z, m, epsrel=1e-12)[0]
    inner = lambda y: integrate.quad(lambda z: 2 * np.exp(-z * z) * t1(z), -np.inf, y, epsrel=1e-11)[0]
    return t1(x), 2 * integrate.quad(lambda y: np.exp(y * y) * inner(y), x, m, epsrel=1e-10)[0]


@pytest.mark.parametrize("a,m", [(-0.0047, 0.0047), (-0.012, 0.004), (-0.002, 0.015)])
def test_bertram_moments_equal_quadrature(a, m):
    th, sg = BERTRAM["theta"], BERTRAM["sigma"]
    k = np.sqrt(th) / sg
    up, dn = _passage(a * k, m * k), _passage(-m * k, -a * k)
    et = (up[0] + dn[0]) / th
    vt = (up[1] - up[0] ** 2 + dn[1] - dn[0] ** 2) / th**2
    b = bertram_performance(BERTRAM, a, m, 0.001)
    assert b.expected_trade_length == pytest.approx(et, rel=1e-10)
    assert b.trade_length_variance == pytest.approx(vt, rel=1e-8)
    assert b.return_variance == pytest.approx((m - a - 0.001) ** 2 * vt / et**3, rel=1e-8)


def test_bertram_in_spread_units_is_translation_invariant(bertram):
    shifted = bertram_bands({**BERTRAM, "mu": 5.0}, cost=0.001)
    assert shifted.entry == pytest.approx(5.0 + bertram.entry, abs=1e-12)
    assert shifted.expected_return == pytest.approx(bertram.expected_return, rel=1e-12)


def test_bertram_monte_carlo_optimum_beats_neighbours(bertram):
    d, th = bertram.exit, BERTRAM["theta"]
    hz, n = 20 * bertram.expected_trade_length, 3000
    sims = {f: simulate_band_strategy(BERTRAM, -d * f, d * f, cost=0.0005, horizon=hz, dt=0.04 / th, n_paths=n, seed=11)
            for f in (0.8, 1.0, 1.2)}
    for f in (0.8, 1.2):
        diff = sims[f].path_returns - sims[1.0].path_returns
        assert diff.mean() < -3 * diff.std() / np.sqrt(n), (f, diff.mean(), diff.std() / np.sqrt(n))
    for f, s in sims.items():
        closed = bertram_performance(BERTRAM, -d * f, d * f, 0.001).expected_return
        assert abs(s.return_per_time / closed - 1) < 0.03


def test_bertram_errors():
    with pytest.raises(ValueError, match="cost must be >= 0 and finite; got -0.1"): bertram_bands(BERTRAM, cost=-0.1)
    with pytest.raises(ValueError, match="cost must be > 0 for objective='return'"): bertram_bands(BERTRAM, cost=0.0)
    with pytest.raises(ValueError, match="objective must be one of 'return', 'sharpe'; got 'sortino'"):
        bertram_bands(BERTRAM, cost=0.01, objective="sortino")
    with pytest.raises(ValueError, match="risk_free must be > 0 for objective='sharpe'"):
        bertram_bands(BERTRAM, cost=0.01, objective="sharpe")
    with pytest.raises(ValueError, match="risk_free must be >= 0 and finite; got -1"): bertram_bands(BERTRAM, 0.01, risk_free=-1)
    with pytest.raises(ValueError, match="fit_or_params must have keys theta, mu, sigma; missing sigma"):
        bertram_bands({"theta": 5.0, "mu": 0.0}, cost=0.01)
    with pytest.raises(ValueError, match="sigma must be > 0 and finite; got -0.2"): bertram_bands((5.0, 0.0, -0.2), cost=0.01)
    with pytest.raises(TypeError, match="fit_or_params must be an OUFit, a mapping"): bertram_bands("fit", cost=0.01)
    with pytest.raises(ValueError, match="entry must be below exit; got entry=0.6, exit=0.4"):
        bertram_performance(BERTRAM, 0.6, 0.4, 0.01)
    with pytest.raises(ValueError, match="stationary standard deviations from the mean"):
        bertram_performance(BERTRAM, -1.0, 0.0, 0.01)
    std = BERTRAM["sigma"] / np.sqrt(2 * BERTRAM["theta"])
    with pytest.raises(ValueError, match="entry is 18.0 stationary standard deviations from the mean; levels beyond 17"):
        bertram_performance(BERTRAM, -18 * std, 0.0, 0.01)
    far = bertram_performance(BERTRAM, -16.9 * std, 16.9 * std, 0.01)   # the largest allowed band: finite, no overflow
    assert np.isfinite([far.expected_trade_length, far.trade_length_variance, far.sharpe]).all()


# ---------------------------------------------------------------- Leung-Li

@pytest.mark.parametrize("z", [-4.0, -1.0, 0.0, 0.7, 3.0, 8.0])
@pytest.mark.parametrize("nu", [0.003, 0.1, 1.5])
def test_fg_equals_parabolic_cylinder(z, nu):
    for p in (0, 1):
        ref = special.gamma(nu + p) * np.exp(z * z / 4) * special.pbdv(-(nu + p), -z)[0]
        assert _fg(z, nu, p) == pytest.approx(ref, rel=1e-9)


def test_leung_li_matches_published_values(levels):
    # arbitragelab tests/test_ou_model.py (GLD-GDX, r=0.05, c=0.02, stop-loss 0.2), checked there to 4 decimals
    assert levels.exit == pytest.approx(0.7443, abs=1.5e-4)
    assert levels.entry == pytest.approx(0.651, abs=1.5e-4)
    s = leung_li_levels(GLD_GDX, cost=0.02, discount_rate=0.05, stop_loss=0.2)
    assert (s.entry_lower, s.entry, s.exit) == pytest.approx((0.2066, 0.651, 0.7443), abs=1.5e-4)
    assert isinstance(levels, OptimalLevels) and levels.entry_lower is None and levels.stop_loss is None


def test_leung_li_optimality_conditions(levels):
    c, b, d = 0.02, levels.exit, levels.entry
    h = 1e-6
    assert levels.exit_value(b - h) == pytest.approx(b - c, abs=2e-6)                          # value matching
    assert (levels.exit_value(b - h) - levels.exit_value(b - 2 * h)) / h == pytest.approx(1.0, abs=1e-3)   # smooth pasting
    for y in np.linspace(0.55, b, 12): assert levels.exit_value(y) >= y - c - 1e-12       # never better to sell now
    assert levels.entry_value(d + 1e-9) == pytest.approx(levels.entry_value(d - 1e-9), abs=1e-8)
    for y in np.linspace(0.6, 0.8, 9):                                                    # waiting is worth at least buying now
        assert levels.entry_value(y) >= levels.exit_value(y) - y - c - 1e-12
    assert d < GLD_GDX["mu"] < b


def test_leung_li_stop_loss_lowers_take_profit(levels):
    prev = levels.exit
    for L in (0.6, 0.62, 0.63, 0.64):
        s = leung_li_levels(GLD_GDX, cost=0.02, discount_rate=0.05, stop_loss=L)
        assert L < s.entry_lower < s.entry < GLD_GDX["mu"] < s.exit < prev
        prev = s.exit
        assert s.entry_value(s.entry_lower + 1e-9) == pytest.approx(s.entry_value(s.entry_lower - 1e-9), abs=1e-8)
        assert s.exit_value(L) == pytest.approx(L - 0.02)


def test_leung_li_monte_carlo(levels):
    m, th = GLD_GDX["mu"], GLD_GDX["theta"]
    kw = dict(cost=0.02, discount_rate=0.05, dt=0.1 / th, max_trades=1, seed=5)
    # entry rule, judged from the mean
    base = simulate_band_strategy(GLD_GDX, levels.entry, levels.exit, horizon=300 / th, n_paths=1500, x0=m, **kw)
    assert base.discounted_value == pytest.approx(levels.entry_value_at_mean, rel=0.06)
    for f in (0.8, 1.2):
        s = simulate_band_strategy(GLD_GDX, m - (m - levels.entry) * f, levels.exit, horizon=300 / th, n_paths=1500, x0=m, **kw)
        diff = s.path_values - base.path_values
        assert diff.mean() < -3 * diff.std() / np.sqrt(len(diff)), f
    # exit rule, judged from the optimal entry level
    base = simulate_band_strategy(GLD_GDX, levels.entry, levels.exit, horizon=40 / th, n_paths=8000, x0=levels.entry, **kw)
    assert base.discounted_value == pytest.approx(levels.exit_value_at_entry - levels.entry - 0.02, rel=0.05)
    for f in (0.8, 1.2):
        s = simulate_band_strategy(GLD_GDX, levels.entry, m + (levels.exit - m) * f, horizon=40 / th, n_paths=8000,
                                   x0=levels.entry, **kw)
        diff = s.path_values - base.path_values
        assert diff.mean() < -3 * diff.std() / np.sqrt(len(diff)), f


def test_leung_li_errors(fit):
    with pytest.raises(ValueError, match="cost must be >= 0 and finite; got -0.01"): leung_li_levels(fit, -0.01, 0.05)
    with pytest.raises(ValueError, match="discount_rate must be > 0 and finite; got 0.0"): leung_li_levels(fit, 0.01, 0.0)
    with pytest.raises(ValueError, match="stop_loss must be below the long-run mean mu="):
        leung_li_levels(fit, 0.01, 0.05, stop_loss=fit.mu + 0.01)
    with pytest.raises(ValueError, match="stop_loss=0.69 is too close to the mean: no entry level above it"):
        leung_li_levels(GLD_GDX, 0.02, 0.05, stop_loss=0.69)
    with pytest.raises(ValueError, match="such a stop never binds: pass stop_loss=None"):
        leung_li_levels(GLD_GDX, 0.02, 0.05, stop_loss=-5.0)
    with pytest.raises(TypeError, match="stop_loss must be a real number; got str 'low'"):
        leung_li_levels(GLD_GDX, 0.02, 0.05, stop_loss="low")
    with pytest.raises(ValueError, match="no entry level has a positive expected value with cost=0.5"):
        leung_li_levels(GLD_GDX, 0.5, 0.05)


# ---------------------------------------------------------------- Monte Carlo judge

def test_band_simulation_accounting():
    # no discounting and one trade: discounted value = total pnl = return_per_time * horizon, path by path
    s = simulate_band_strategy(GLD_GDX, 0.70, 0.73, cost=0.001, horizon=5.0, n_paths=200, max_trades=1, seed=1)
    np.testing.assert_allclose(s.path_values, s.path_returns * s.horizon, rtol=1e-12, atol=1e-15)
    assert isinstance(s, BandSimulation) and s.trades_per_path <= 1
    # a completed round trip earns exactly exit - entry - 2 cost (fills at the levels)
    done = simulate_band_strategy(GLD_GDX, 0.70, 0.73, cost=0.001, horizon=20.0, n_paths=200, x0=0.70, max_trades=1, seed=2)
    np.testing.assert_allclose(done.path_values, 0.73 - 0.70 - 0.002, rtol=1e-12)
    assert done.trades_per_path == 1
    # a start inside the entry region buys at once at the start price
    inside = simulate_band_strategy(GLD_GDX, 0.70, 0.73, cost=0.0, horizon=20.0, n_paths=50, x0=0.65, max_trades=1, seed=3)
    np.testing.assert_allclose(inside.path_values, 0.73 - 0.65, rtol=1e-12)
    # stop-losses: fills at the stop level
    st = simulate_band_strategy(GLD_GDX, 0.70, 0.90, stop_loss=0.69, cost=0.0, horizon=20.0, n_paths=100, x0=0.70,
                                max_trades=1, seed=4)
    np.testing.assert_allclose(st.path_values, -0.01, rtol=1e-12)
    assert st.stop_fraction == 1.0
    # repeated trading: more trades with narrower bands
    wide = simulate_band_strategy(GLD_GDX, 0.69, 0.745, horizon=5.0, n_paths=100, seed=5)
    narrow = simulate_band_strategy(GLD_GDX, 0.71, 0.725, horizon=5.0, n_paths=100, seed=5)
    assert narrow.trades_per_path > wide.trades_per_path > 1


def test_bridge_correction_removes_grid_bias():
    # the number of round trips per unit time must not depend on the monitoring grid (continuous-time levels)
    th = GLD_GDX["theta"]
    fine = simulate_band_strategy(GLD_GDX, 0.70, 0.735, horizon=10.0, dt=0.01 / th, n_paths=300, seed=6)
    coarse = simulate_band_strategy(GLD_GDX, 0.70, 0.735, horizon=10.0, dt=0.2 / th, n_paths=300, seed=6)
    b = bertram_performance(GLD_GDX, 0.70, 0.735, 0.0)
    for s in (fine, coarse):
        assert s.trades_per_path / 10.0 == pytest.approx(b.trades_per_unit_time, rel=0.06)


def test_band_simulation_errors(fit):
    with pytest.raises(ValueError, match="stop_loss must be below entry_lower; got stop_loss=0.43, entry_lower=0.42"):
        simulate_band_strategy(fit, 0.45, 0.6, stop_loss=0.43, entry_lower=0.42)
    with pytest.raises(ValueError, match="stop_loss must be below entry; got stop_loss=0.5, entry=0.4"):
        simulate_band_strategy(fit, 0.4, 0.6, stop_loss=0.5)
    with pytest.raises(ValueError, match="entry_lower must be below entry; got entry_lower=0.45, entry=0.4"):
        simulate_band_strategy(fit, 0.4, 0.6, entry_lower=0.45)
    with pytest.raises(ValueError, match="entry must be below exit; got entry=0.6, exit=0.4"): simulate_band_strategy(fit, 0.6, 0.4)
    with pytest.raises(ValueError, match="cost must be >= 0 and finite; got -1"): simulate_band_strategy(fit, 0.4, 0.6, cost=-1)
    with pytest.raises(ValueError, match="discount_rate must be >= 0 and finite; got -0.1"):
        simulate_band_strategy(fit, 0.4, 0.6, discount_rate=-0.1)
    with pytest.raises(ValueError, match="horizon must be > 0 and finite; got 0"): simulate_band_strategy(fit, 0.4, 0.6, horizon=0)
    with pytest.raises(ValueError, match="n_paths must be >= 1; got 0"): simulate_band_strategy(fit, 0.4, 0.6, n_paths=0)
    with pytest.raises(ValueError, match="max_trades must be >= 1; got 0"): simulate_band_strategy(fit, 0.4, 0.6, max_trades=0)
    with pytest.raises(ValueError, match="at most 10,000,000"): simulate_band_strategy(fit, 0.4, 0.6, horizon=1e9)
    with pytest.raises(TypeError, match="entry must be a real number; got str"): simulate_band_strategy(fit, "low", 0.6)


# ---------------------------------------------------------------- real data

def _portfolio(px: pd.DataFrame, y: str, x: str) -> pd.Series:
    px = px / px.iloc[0]
    eg = engle_granger(px[y], px[x])
    return (px[y] - eg.hedge_ratio * px[x]).rename(f"{y}-{x}"), eg


def test_ko_pep_real_spread():
    port, eg = _portfolio(load_sample("sp500_20stocks").loc["2012":"2015", ["KO", "PEP"]], "KO", "PEP")
    assert eg.pvalue < 0.01
    f = fit_ou(port)
    r = AutoReg(port.to_numpy(), lags=1, trend="c").fit()
    assert f.ar_coef == pytest.approx(r.params[1], rel=1e-12) and f.loglik == pytest.approx(r.llf, rel=1e-12)
    assert f.half_life_samples == pytest.approx(half_life(port), rel=1e-9)
    assert 5 < f.half_life_samples < 60 and f.mu == pytest.approx(port.mean(), abs=3 * f.mu_stderr)
    b = bertram_bands(f, cost=0.002)
    ll = leung_li_levels(f, cost=0.001, discount_rate=0.05)
    lls = leung_li_levels(f, cost=0.001, discount_rate=0.05, stop_loss=f.mu - 3 * f.stationary_std)
    assert ll.entry < b.entry < f.mu < b.exit < ll.exit
    assert lls.stop_loss < lls.entry_lower < lls.entry < f.mu < lls.exit <= ll.exit


def test_ewa_ewc_shared_data(shared_data):
    p = shared_data / "arbitragelab_country_etf45_close_daily.parquet"
    if not p.is_file(): pytest.skip("arbitragelab_country_etf45_close_daily.parquet absent")
    px = pd.read_parquet(p)[["EWA", "EWC"]].dropna()
    px = px.loc[px.index[-750:]]
    port, eg = _portfolio(px, "EWA", "EWC")
    try:
        f = fit_ou(port)
    except NotMeanRevertingError:
        pytest.skip("EWA/EWC not mean-reverting over the last 750 days of the file")
    r = AutoReg(port.to_numpy(), lags=1, trend="c").fit()
    assert f.ar_coef == pytest.approx(r.params[1], rel=1e-12)
    assert f.residual_variance == pytest.approx(r.sigma2, rel=1e-12)
    b = bertram_bands(f, cost=0.001)
    assert b.entry < f.mu < b.exit and b.expected_trade_length > 0


def test_result_simulate_methods_and_plot(bertram, levels, daily, fit):
    a = bertram.simulate(n_paths=50, seed=1)
    b = simulate_band_strategy(BERTRAM, bertram.entry, bertram.exit, cost=0.0005, horizon=20 * bertram.expected_trade_length,
                               n_paths=50, x0=0.0, seed=1)
    np.testing.assert_array_equal(a.path_returns, b.path_returns)
    th = GLD_GDX["theta"]
    c = levels.simulate(n_paths=50, horizon=10.0, seed=2)
    d = simulate_band_strategy(GLD_GDX, levels.entry, levels.exit, cost=0.02, discount_rate=0.05, horizon=10.0,
                               dt=0.1 / th, n_paths=50, x0=GLD_GDX["mu"], max_trades=1, seed=2)
    np.testing.assert_array_equal(c.path_values, d.path_values)
    assert "discounted_value" in c.summary() and "path_values" not in c.summary()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ax = fit.plot(daily, levels={"entry": 0.45, "exit": 0.55, "stop": None})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["spread", "mu", "entry", "exit"]
    assert ax.get_ylim()[0] < daily.min()
    plt.close("all")
