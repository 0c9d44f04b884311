"""Position sizing and allocation (statarb.risk.sizing).

Oracles: hand-worked Kelly cases (coin p=0.6 at even odds -> 0.2) and the growth rate maximised numerically
(Gauss-Hermite quadrature for normal returns, the sample mean of log(1 + f r) on real returns); scikit-learn's
LedoitWolf for the shrunk covariance; PyPortfolioOpt's HRPOpt and skfolio's HierarchicalRiskParity (single linkage
and others, no optimal leaf ordering: the same tree and the same order) for HRP; skfolio's RiskBudgeting (CLARABEL,
tolerances tightened) for equal risk contribution; PyPortfolioOpt's max_quadratic_utility and scipy's bounded
least squares for mean-variance. Exposure limits are checked as properties on random books (hypothesis).
"""
import math
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from statarb.core import StatarbWarning
from statarb.data.sources import load_sample
from statarb.risk.sizing import (
    CovarianceResult,
    ExposureLimits,
    SizingResult,
    SizingWarning,
    apply_limits,
    discrete_growth_rate,
    empirical_growth_rate,
    fixed_fractional,
    hrp_weights,
    kelly_continuous,
    kelly_discrete,
    ledoit_wolf,
    mean_variance_weights,
    risk_parity_weights,
    vol_target_leverage,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load_sample("sp500_20stocks")


@pytest.fixture(scope="module")
def rets(prices) -> pd.DataFrame:
    "Daily returns of the 20 bundled stocks, 2020-2022."
    return prices.loc["2020":"2022"].pct_change().dropna()


@pytest.fixture(scope="module")
def sp100(shared_data) -> pd.DataFrame:
    return pd.read_parquet(shared_data / "arbitragelab_sp100_close_daily.parquet").pct_change().dropna()


# ---------------------------------------------------------------- Kelly, discrete

@pytest.mark.parametrize("p, odds, loss, expected", [
    (0.6, 1.0, 1.0, 0.2),            # the biased coin at even odds
    (0.5, 2.0, 1.0, 0.25),           # 2:1 on a fair coin
    (0.55, 1.0, 1.0, 0.1),
    (0.5, 1.0, 0.5, 0.5),            # losing half the stake: p/a - q/b = 1 - 0.5
    (0.4, 1.0, 1.0, 0.0),            # no edge: no bet
    (1.0, 3.0, 1.0, 1.0),
])
def test_kelly_discrete_hand_worked(p, odds, loss, expected):
    assert kelly_discrete(p, odds, loss=loss) == pytest.approx(expected, abs=1e-15)
    assert kelly_discrete(p, odds, fraction=0.5, loss=loss) == pytest.approx(expected / 2, abs=1e-15)


@pytest.mark.parametrize("p, odds, loss", [(0.6, 1.0, 1.0), (0.3, 4.0, 1.0), (0.55, 1.5, 0.4), (0.7, 0.8, 0.9)])
def test_kelly_discrete_maximises_growth(p, odds, loss):
    "The closed form equals the numerical argmax of p log(1 + f b) + (1-p) log(1 - f a)."
    res = optimize.minimize_scalar(lambda f: -discrete_growth_rate(f, p, odds, loss), bounds=(0, 1 / loss - 1e-9),
                                   method="bounded", options={"xatol": 1e-12})
    assert kelly_discrete(p, odds, loss=loss) == pytest.approx(res.x, abs=1e-7)


def test_half_kelly_keeps_three_quarters_of_growth():
    g = discrete_growth_rate(np.array([0.1, 0.2]), 0.6, 1.0)
    assert g[0] / g[1] == pytest.approx(0.75, abs=0.01)
    assert discrete_growth_rate(1.0, 0.6, 1.0) == -np.inf


def test_kelly_discrete_by_simulation():
    "Simulated terminal log-wealth of the 0.6 coin is highest near f = 0.2 (seeded; common random numbers)."
    rng = np.random.default_rng(0)
    wins = rng.random((200, 2000)) < 0.6
    grid = np.linspace(0.02, 0.5, 49)
    logw = [np.where(wins, np.log1p(f), np.log1p(-f)).sum(axis=1).mean() for f in grid]
    assert grid[int(np.argmax(logw))] == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize("kwargs, match", [
    (dict(p=0.6, odds=-1.0), "odds must be > 0 (net units won per unit staked); got -1.0"),
    (dict(p=0.6, odds=0.0), "odds must be > 0"),
    (dict(p=-0.1, odds=1.0), "p must be a probability in [0, 1]; got -0.1"),
    (dict(p=1.5, odds=1.0), "p must be a probability in [0, 1]"),
    (dict(p=float("nan"), odds=1.0), "p must be finite; got nan"),
    (dict(p=0.6, odds=float("inf")), "odds must be finite"),
    (dict(p=0.6, odds=1.0, loss=0.0), "loss must be in (0, 1]"),
    (dict(p=0.6, odds=1.0, fraction=-0.5), "fraction must be > 0"),
])
def test_kelly_discrete_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        kelly_discrete(**kwargs)


def test_kelly_discrete_types():
    with pytest.raises(TypeError, match="p must be a real number; got str"):
        kelly_discrete("0.6", 1.0)
    with pytest.raises(TypeError, match="odds must be a real number; got bool"):
        kelly_discrete(0.6, True)
    with pytest.raises(ValueError, match="f must be finite and >= 0"):
        discrete_growth_rate(-0.1, 0.6, 1.0)


# ---------------------------------------------------------------- Kelly, continuous

def test_kelly_continuous_scalar():
    assert kelly_continuous(0.001, 0.0001) == pytest.approx(10.0, rel=1e-14)
    assert kelly_continuous(0.001, 0.0001, fraction=0.5, risk_free=0.0005) == pytest.approx(2.5, rel=1e-14)
    assert kelly_continuous(-0.001, 0.0001) == pytest.approx(-10.0, rel=1e-14)   # a negative mean: short


def test_kelly_continuous_gauss_hermite():
    """For normal returns, the exact argmax of E[log(1 + f r)] (quadrature) is mu/(sigma^2 + mu^2) to next order:
    mu/sigma^2 divided by 1 + (mu/sigma)^2, the squared per-period Sharpe ratio (a 0.16%-0.25% gap here)."""
    x, wq = np.polynomial.hermite_e.hermegauss(80)
    wq = wq / wq.sum()
    for mu, sd in [(0.0004, 0.01), (0.0002, 0.005), (0.001, 0.02)]:
        r = mu + sd * x
        res = optimize.minimize_scalar(lambda f, r=r: -(wq * np.log1p(f * r)).sum(),
                                       bounds=(0, 0.9 / (-r.min())), method="bounded", options={"xatol": 1e-10})
        fstar = kelly_continuous(mu, sd ** 2)
        assert res.x == pytest.approx(fstar / (1 + (mu / sd) ** 2), rel=1e-4)
        assert res.x != pytest.approx(fstar, rel=1e-3)


def test_kelly_continuous_multi_against_solve(rets):
    mu, cov = rets.mean(), rets.cov()
    f = kelly_continuous(mu, cov, fraction=0.5, risk_free=1e-5)
    np.testing.assert_allclose(f.to_numpy(), 0.5 * np.linalg.solve(cov.to_numpy(), mu.to_numpy() - 1e-5), rtol=1e-12)
    assert f.index.equals(cov.index) and f.name == "kelly"


def test_kelly_continuous_growth_optimal_on_real_returns(prices):
    "KO, 1990-2022: mu/sigma^2 is within 2% of the leverage maximising the sample mean of log(1 + f r)."
    ko = prices["KO"].pct_change().dropna()
    fstar = kelly_continuous(float(ko.mean()), float(ko.var()))
    res = optimize.minimize_scalar(lambda f: -empirical_growth_rate(f, ko), bounds=(0, 3 * fstar), method="bounded")
    assert res.x == pytest.approx(fstar, rel=0.02)
    # two assets: the multi-asset f* against the numerical optimum of mean log(1 + f'r)
    r2 = prices[["KO", "PEP"]].pct_change().dropna()
    f2 = kelly_continuous(r2.mean(), r2.cov()).to_numpy()
    a = r2.to_numpy()
    res2 = optimize.minimize(lambda f: -np.log1p(a @ f).mean(), f2, method="Nelder-Mead",
                             options={"xatol": 1e-8, "fatol": 1e-14, "maxiter": 4000})
    np.testing.assert_allclose(res2.x, f2, rtol=0.05)


def test_kelly_continuous_bad_input():
    cov = pd.DataFrame([[0.04, 0.0], [0.0, 0.01]], index=["A", "B"], columns=["A", "B"])
    with pytest.raises(ValueError, match="variance must be > 0; got 0.0"):
        kelly_continuous(0.001, 0.0)
    with pytest.raises(ValueError, match="mean must be finite; got nan"):
        kelly_continuous(float("nan"), 0.01)
    with pytest.raises(ValueError, match="labels of variance in the same order"):
        kelly_continuous(pd.Series([0.02, 0.01], index=["B", "A"]), cov)
    with pytest.raises(ValueError, match="mean must have one value per asset"):
        kelly_continuous(np.array([0.1, 0.2, 0.3]), cov)
    with pytest.raises(ValueError, match="variance must be positive definite; got smallest eigenvalue"):
        kelly_continuous(pd.Series([0.02, 0.01]), np.array([[1.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="variance must be finite"):
        kelly_continuous(pd.Series([0.02, 0.01]), np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.warns(SizingWarning, match="ill-conditioned"):
        kelly_continuous(np.array([0.01, 0.01]), np.array([[1.0, 1 - 1e-11], [1 - 1e-11, 1.0]]))
    with pytest.raises(ValueError, match="returns must be finite"):
        empirical_growth_rate(1.0, pd.Series([0.01, np.nan]))
    assert issubclass(SizingWarning, StatarbWarning)


# ---------------------------------------------------------------- fixed fractional

def test_fixed_fractional():
    assert fixed_fractional(100_000, 0.01, 2.5) == pytest.approx(400.0, rel=1e-15)
    out = fixed_fractional(50_000, 0.02, pd.Series([1.0, 4.0], index=["KO", "PEP"]))
    assert out.tolist() == [1000.0, 250.0] and out.index.tolist() == ["KO", "PEP"]
    for args, match in [((0.0, 0.01, 1.0), "equity must be > 0"), ((1e5, 0.0, 1.0), "risk_per_trade must be > 0"),
                        ((1e5, 1.5, 1.0), r"risk_per_trade must be in \(0, 1\]"), ((1e5, 0.01, -1.0), "stop_distance must be > 0"),
                        ((1e5, 0.01, pd.Series([1.0, 0.0], index=["a", "b"])), "got 0.0 for 'b'")]:
        with pytest.raises(ValueError, match=match):
            fixed_fractional(*args)


# ---------------------------------------------------------------- volatility targeting

def test_vol_target_formula_and_no_lookahead(prices):
    ko = prices["KO"].pct_change().dropna()
    res = vol_target_leverage(ko, 0.10, window=63, max_leverage=2.0, periods_per_year=252)
    expected = (0.10 / (ko.rolling(63).std().shift(1) * math.sqrt(252))).clip(upper=2.0)
    pd.testing.assert_series_equal(res.leverage, expected.rename("leverage"), rtol=1e-14)
    assert res.leverage.iloc[:63].isna().all() and res.leverage.iloc[63:].notna().all()
    # leverage at t uses returns up to t-1 only: replace r_t and everything after it
    for t in (63, 500, 5000):
        ko2 = ko.copy()
        ko2.iloc[t:] = np.random.default_rng(t).normal(0, 0.2, len(ko) - t)
        res2 = vol_target_leverage(ko2, 0.10, window=63, max_leverage=2.0)
        pd.testing.assert_series_equal(res2.leverage.iloc[:t + 1], res.leverage.iloc[:t + 1])
        assert not res2.leverage.iloc[t + 1:].equals(res.leverage.iloc[t + 1:])
    pd.testing.assert_series_equal(res.scaled_returns, (res.leverage * ko).rename("scaled_returns"))


def test_vol_target_ewm_and_realised_vol(prices):
    "On several real stocks the scaled stream runs within 15% of the target, whatever the raw volatility."
    for sym in ("KO", "AMD", "XOM"):
        r = prices[sym].pct_change().dropna()
        res = vol_target_leverage(r, 0.10, halflife=20)
        ref = 0.10 / (r.ewm(halflife=20, min_periods=20).std().shift(1) * math.sqrt(252))
        pd.testing.assert_series_equal(res.leverage, ref.rename("leverage"), rtol=1e-14)
        realised = res.scaled_returns.std() * math.sqrt(252)
        assert realised == pytest.approx(0.10, rel=0.15), sym
        assert "realised vol" in res.summary()


def test_vol_target_cap_and_errors():
    idx = pd.date_range("2024-01-01", periods=80, freq="B")
    r = pd.Series(np.r_[np.zeros(40), np.random.default_rng(1).normal(0, 0.01, 40)], index=idx)
    res = vol_target_leverage(r, 0.1, window=10, max_leverage=4.0)
    assert (res.leverage.dropna() <= 4.0).all() and res.leverage.iloc[11] == 4.0      # zero vol -> capped
    with pytest.raises(ValueError, match=r"zero trailing volatility at 2024-01-15 \(constant returns before it\)"):
        vol_target_leverage(r, 0.1, window=10)
    with pytest.raises(ValueError, match="give window or halflife, not both"):
        vol_target_leverage(r, 0.1, window=10, halflife=5)
    with pytest.raises(ValueError, match=r"returns must be finite \(no NaN or inf\); column .* has 1 \(first at 2024-01-03\)"):
        vol_target_leverage(r.where(r.index != idx[2]), 0.1)
    with pytest.raises(ValueError, match="target_vol must be > 0"):
        vol_target_leverage(r, -0.1)
    with pytest.raises(ValueError, match="min_periods must be <= window"):
        vol_target_leverage(r, 0.1, window=10, min_periods=20)
    with pytest.raises(TypeError, match="returns must be Series"):
        vol_target_leverage(r.to_frame(), 0.1)


# ---------------------------------------------------------------- exposure limits

books = st.lists(st.floats(-2, 2, allow_nan=False, allow_subnormal=False), min_size=1, max_size=30)
caps = st.one_of(st.none(), st.floats(0.01, 3))


@settings(max_examples=300, deadline=None)
@given(books, caps, caps, st.one_of(st.none(), st.floats(0, 2)))
def test_limits_hold_on_random_books(w, max_weight, max_gross, max_net):
    lim = ExposureLimits(max_weight=max_weight, max_gross=max_gross, max_net=max_net)
    w = pd.Series(w)
    out = lim.apply(w)
    assert lim.violations(out, tol=1e-12) == []
    assert ((np.sign(out) == np.sign(w)) | (out == 0)).all()        # never flips a side
    assert (out.abs() <= w.abs() + 1e-15).all()                       # clipping and scaling only shrink


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.001, 1), min_size=2, max_size=30), st.floats(0.02, 1))
def test_redistribute_keeps_the_total(w, cap):
    w = pd.Series(w) / sum(w)
    if cap * len(w) < 1:
        with pytest.raises(ValueError, match="cannot hold the long side"):
            apply_limits(w, max_weight=cap, redistribute=True)
        return
    out = apply_limits(w, max_weight=cap, redistribute=True)
    assert out.sum() == pytest.approx(1.0, abs=1e-12)
    assert out.max() <= cap + 1e-12
    uncapped = out < cap - 1e-12                                      # untouched ratios among the uncapped
    if uncapped.sum() >= 2:
        ratio = out[uncapped] / w[uncapped]
        assert ratio.max() == pytest.approx(ratio.min(), rel=1e-9)


def test_limits_hand_worked():
    w = pd.Series([0.5, 0.25, 0.15, -0.3, -0.15], index=list("ABCDE"))
    np.testing.assert_allclose(apply_limits(w, max_weight=0.3).to_numpy(), [0.3, 0.25, 0.15, -0.3, -0.15])
    np.testing.assert_allclose(apply_limits(w, max_gross=1.0).to_numpy(), w.to_numpy() / 1.35)
    np.testing.assert_allclose(apply_limits(w, max_net=0.0).to_numpy(), [0.25, 0.125, 0.075, -0.3, -0.15])
    np.testing.assert_allclose(apply_limits(-w, max_net=0.0).to_numpy(), [-0.25, -0.125, -0.075, 0.3, 0.15])
    np.testing.assert_allclose(apply_limits(pd.Series([0.6, 0.4]), max_net=0.0).to_numpy(), [0.0, 0.0])
    out = apply_limits(w, max_weight=0.3, max_gross=1.0, max_net=0.1)
    assert out.index.equals(w.index)
    assert ExposureLimits(max_weight=0.3, max_gross=1.0, max_net=0.1).violations(w) == [
        "max_weight 0.3 < 0.5", "max_gross 1 < 1.35", "max_net 0.1 < 0.45"]


def test_limits_bad_input():
    with pytest.raises(ValueError, match="max_weight must be > 0"):
        ExposureLimits(max_weight=0)
    with pytest.raises(ValueError, match="max_net must be >= 0"):
        ExposureLimits(max_net=-1)
    with pytest.raises(TypeError, match="redistribute must be True or False"):
        ExposureLimits(redistribute=1)
    with pytest.raises(ValueError, match="weights must be finite; got nan for 'b'"):
        apply_limits(pd.Series([0.1, np.nan], index=["a", "b"]), max_weight=0.5)
    with pytest.raises(TypeError, match="weights must be Series"):
        apply_limits([0.1, 0.2], max_weight=0.5)


# ---------------------------------------------------------------- Ledoit-Wolf

def test_ledoit_wolf_against_sklearn(rets):
    from sklearn.covariance import LedoitWolf
    for frame in (rets, rets.iloc[:15], rets.iloc[:, :1], rets * 100):
        ref = LedoitWolf().fit(frame.to_numpy())
        mine = ledoit_wolf(frame)
        assert isinstance(mine, CovarianceResult)
        np.testing.assert_allclose(mine.covariance.to_numpy(), ref.covariance_, rtol=1e-12, atol=1e-14 * np.abs(ref.covariance_).max())
        assert mine.shrinkage == pytest.approx(ref.shrinkage_, abs=1e-12)
        assert mine.covariance.index.equals(frame.columns)


@pytest.mark.slow
def test_ledoit_wolf_sp100(sp100):
    from sklearn.covariance import LedoitWolf
    for frame in (sp100, sp100.iloc[:60]):                     # 60 observations of 100 stocks: sample cov singular
        ref = LedoitWolf().fit(frame.to_numpy())
        mine = ledoit_wolf(frame)
        np.testing.assert_allclose(mine.covariance.to_numpy(), ref.covariance_, rtol=1e-11, atol=1e-16)
        assert mine.shrinkage == pytest.approx(ref.shrinkage_, abs=1e-12)


# ---------------------------------------------------------------- risk parity

def _rc(w, a):
    return w * (a @ w) / (w @ a @ w)


def test_risk_parity_equal_contributions(rets):
    res = risk_parity_weights(rets)
    a = rets.cov().to_numpy()
    w = res.weights.to_numpy()
    np.testing.assert_allclose(_rc(w, a), 1 / 20, atol=1e-8)
    assert np.ptp(_rc(w, a)) < 1e-12
    assert w.sum() == pytest.approx(1.0, abs=1e-14) and (w > 0).all()
    np.testing.assert_allclose(res.risk_contributions.to_numpy(), _rc(w, a), rtol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_risk_parity_random_covariances(seed):
    "Random ill-scaled covariances (vols 0.1%-50%, strong correlations) and random budgets."
    rng = np.random.default_rng(seed)
    n = 5 + 5 * seed
    f = rng.normal(size=(n, 3))
    corr = f @ f.T + np.diag(rng.uniform(0.05, 0.5, n))
    d = np.sqrt(np.diag(corr))
    vol = rng.uniform(0.001, 0.5, n)
    cov = corr / np.outer(d, d) * np.outer(vol, vol)
    b = rng.uniform(0.1, 1, n)
    w = risk_parity_weights(cov=cov, budget=b).weights.to_numpy()
    np.testing.assert_allclose(_rc(w, cov), b / b.sum(), atol=1e-8, rtol=0)


def test_risk_parity_hand_worked():
    np.testing.assert_allclose(risk_parity_weights(cov=np.diag([0.01, 0.04])).weights, [2 / 3, 1 / 3], rtol=1e-14)
    # two assets, any correlation: ERC is inverse volatility
    c = np.array([[0.04, 0.6 * 0.2 * 0.1], [0.6 * 0.2 * 0.1, 0.01]])
    np.testing.assert_allclose(risk_parity_weights(cov=c).weights, [1 / 3, 2 / 3], rtol=1e-13)


def test_risk_parity_against_skfolio(rets):
    from skfolio.optimization import RiskBudgeting
    tight = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
    ref = RiskBudgeting(solver_params=tight).fit(rets)
    np.testing.assert_allclose(risk_parity_weights(rets).weights.to_numpy(), ref.weights_, atol=1e-7)
    b = np.linspace(1, 3, rets.shape[1])
    refb = RiskBudgeting(risk_budget=b, solver_params=tight).fit(rets)
    np.testing.assert_allclose(risk_parity_weights(rets, budget=b).weights.to_numpy(), refb.weights_, atol=1e-7)


def test_risk_parity_bad_input(rets):
    with pytest.raises(ValueError, match="cov must be positive definite; got smallest eigenvalue"):
        risk_parity_weights(cov=np.ones((3, 3)))
    with pytest.raises(ValueError, match="covariance of returns must be positive definite.*shrinkage='ledoit-wolf'"):
        risk_parity_weights(rets.iloc[:10])
    assert risk_parity_weights(rets.iloc[:10], shrinkage="ledoit-wolf").weights.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="budget must be > 0 and finite"):
        risk_parity_weights(rets, budget=np.r_[-1.0, np.ones(19)])
    with pytest.raises(ValueError, match="budget must have one value per asset"):
        risk_parity_weights(rets, budget=[1.0, 2.0])
    with pytest.raises(ValueError, match="give returns or cov"):
        risk_parity_weights()
    with pytest.raises(ValueError, match="returns must have at least 2 columns"):
        risk_parity_weights(rets[["KO"]])
    with pytest.raises(ValueError, match="same labels, in the same order, on its index and columns"):
        risk_parity_weights(cov=rets.cov().iloc[::-1])
    near = rets[["KO", "PEP"]].assign(KO2=rets["KO"] * 2 + 1e-7 * np.random.default_rng(0).standard_normal(len(rets)))
    with pytest.warns(SizingWarning, match="ill-conditioned"):
        risk_parity_weights(near)


# ---------------------------------------------------------------- HRP

def _skfolio_hrp(linkage):
    from skfolio.cluster import HierarchicalClustering, LinkageMethod
    from skfolio.optimization import HierarchicalRiskParity
    from skfolio.seriation import HierarchicalSeriation
    hc = HierarchicalClustering(linkage_method=LinkageMethod(linkage))
    return HierarchicalRiskParity(seriation_estimator=HierarchicalSeriation(hierarchical_clustering_estimator=hc,
                                                                            optimal_ordering=False))


@pytest.mark.parametrize("linkage", ["single", "complete", "average", "ward"])
def test_hrp_against_pypfopt_and_skfolio(rets, linkage):
    from pypfopt import HRPOpt
    mine = hrp_weights(rets, linkage=linkage).weights
    pp = pd.Series(HRPOpt(returns=rets).optimize(linkage))[mine.index]
    np.testing.assert_allclose(mine.to_numpy(), pp.to_numpy(), rtol=0, atol=1e-12)
    sk = _skfolio_hrp(linkage).fit(rets).weights_
    np.testing.assert_allclose(mine.to_numpy(), sk, rtol=0, atol=1e-12)
    # from the covariance: the same weights (PyPortfolioOpt then rounds the correlations to 6 digits)
    np.testing.assert_allclose(hrp_weights(cov=rets.cov(), linkage=linkage).weights.to_numpy(), mine.to_numpy(), atol=1e-14)
    pp_cov = pd.Series(HRPOpt(cov_matrix=rets.cov()).optimize(linkage))[mine.index]
    np.testing.assert_allclose(pp_cov.to_numpy(), mine.to_numpy(), atol=1e-12)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The covariance matrix is not positive definite:UserWarning")
def test_hrp_sp100(sp100):
    from pypfopt import HRPOpt
    for frame in (sp100, sp100.iloc[:60]):                        # the second has a singular covariance
        mine = hrp_weights(frame).weights
        pp = pd.Series(HRPOpt(returns=frame).optimize("single"))[mine.index]
        np.testing.assert_allclose(mine.to_numpy(), pp.to_numpy(), atol=1e-12)
        np.testing.assert_allclose(mine.to_numpy(), _skfolio_hrp("single").fit(frame).weights_, atol=1e-12)


@pytest.mark.slow
def test_risk_parity_and_mean_variance_sp100(sp100):
    "100 stocks, 2017-2020: ERC against skfolio (and equal shares to 1e-12); long-only MV against PyPortfolioOpt."
    from pypfopt import EfficientFrontier
    from skfolio.optimization import RiskBudgeting
    rp = risk_parity_weights(sp100)
    assert np.ptp(rp.risk_contributions) < 1e-12
    tight = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
    np.testing.assert_allclose(rp.weights.to_numpy(), RiskBudgeting(solver_params=tight).fit(sp100).weights_, atol=1e-8)
    mv = mean_variance_weights(sp100, budget=1.0, long_only=True, risk_aversion=5.0)
    cov = ledoit_wolf(sp100).covariance
    ref = pd.Series(EfficientFrontier(sp100.mean(), cov, weight_bounds=(0, 1)).max_quadratic_utility(risk_aversion=5.0))
    np.testing.assert_allclose(mv.weights.to_numpy(), ref[mv.weights.index].to_numpy(), atol=1e-7)


def test_hrp_hand_worked_and_singular(rets):
    np.testing.assert_allclose(hrp_weights(cov=np.diag([0.01, 0.04])).weights, [0.8, 0.2], rtol=1e-14)
    # three uncorrelated assets with single linkage: ties -> order 0,1,2; split [0] | [1, 2]
    v = np.array([1.0, 2.0, 4.0])
    w = hrp_weights(cov=np.diag(v)).weights.to_numpy()
    v12 = 1 / (1 / 2 + 1 / 4)                                 # variance of the inverse-variance pair
    a = 1 - 1 / (1 + v12)
    np.testing.assert_allclose(w, [a, (1 - a) * (2 / 3), (1 - a) * (1 / 3)], rtol=1e-14)
    sing = rets[["KO", "PEP"]].assign(KO2=rets["KO"] * 2)
    res = hrp_weights(sing)
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-14) and (res.weights > 0).all()
    with pytest.raises(ValueError, match="linkage must be one of"):
        hrp_weights(rets, linkage="median")
    with pytest.raises(ValueError, match="must be positive semi-definite"):
        hrp_weights(cov=np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match=r"column 'BBY' has 2 \(first at 2020-01-06\)"):
        hrp_weights(rets.assign(BBY=rets["BBY"].where(~rets.index.isin(rets.index[[1, 4]]))))


# ---------------------------------------------------------------- mean-variance

def test_mean_variance_hand_worked():
    cov = pd.DataFrame([[0.04, 0.0], [0.0, 0.01]], index=["A", "B"], columns=["A", "B"])
    mu = pd.Series([0.02, 0.01], index=["A", "B"])
    np.testing.assert_allclose(mean_variance_weights(mean=mu, cov=cov).weights, [0.5, 1.0], rtol=1e-14)
    np.testing.assert_allclose(mean_variance_weights(mean=mu, cov=cov, budget=1.0).weights, [0.4, 0.6], rtol=1e-14)
    np.testing.assert_allclose(mean_variance_weights(mean=mu, cov=cov, risk_aversion=4.0).weights,
                               kelly_continuous(mu, cov, fraction=0.25), rtol=1e-14)
    res = mean_variance_weights(mean=mu, cov=cov, target_vol=0.3, periods_per_year=12)
    assert res.volatility == pytest.approx(0.3, rel=1e-14)
    # long-only with a negative mean: that asset is dropped, the other is mu/(lambda sigma^2)
    lo = mean_variance_weights(mean=pd.Series([-0.01, 0.01], index=["A", "B"]), cov=cov, long_only=True)
    np.testing.assert_allclose(lo.weights, [0.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("lam", [1.0, 10.0, 100.0])
def test_mean_variance_against_pypfopt(rets, lam):
    from pypfopt import EfficientFrontier
    from sklearn.covariance import LedoitWolf
    mu = rets.mean()
    cov = pd.DataFrame(LedoitWolf().fit(rets.to_numpy()).covariance_, index=rets.columns, columns=rets.columns)
    for bounds, long_only in (((0, 1), True), ((-50, 50), False)):
        ref = pd.Series(EfficientFrontier(mu, cov, weight_bounds=bounds).max_quadratic_utility(risk_aversion=lam))
        mine = mean_variance_weights(rets, risk_aversion=lam, budget=1.0, long_only=long_only).weights
        np.testing.assert_allclose(mine.to_numpy(), ref[mine.index].to_numpy(), atol=1e-7)
        obj = lambda w: mu.to_numpy() @ w - lam / 2 * w @ cov.to_numpy() @ w
        assert obj(mine.to_numpy()) >= obj(ref[mine.index].to_numpy()) - 1e-12


def test_mean_variance_long_only_no_budget_against_bvls(rets):
    "max mu'w - lam/2 w'Σw, w >= 0, is bounded least squares in the Cholesky factor."
    lam = 5.0
    c = ledoit_wolf(rets).covariance.to_numpy()
    mu = rets.mean().to_numpy()
    chol = np.linalg.cholesky(c)
    ref = optimize.lsq_linear(chol.T, np.linalg.solve(chol, mu) / lam, bounds=(0, np.inf), tol=1e-15, method="bvls").x
    mine = mean_variance_weights(rets, risk_aversion=lam, long_only=True).weights.to_numpy()
    np.testing.assert_allclose(mine, ref, atol=1e-10)
    scaled = mean_variance_weights(rets, long_only=True, target_vol=0.15)
    np.testing.assert_allclose(scaled.weights.to_numpy() / np.abs(scaled.weights).sum(), ref / ref.sum(), atol=1e-9)
    assert scaled.volatility == pytest.approx(0.15, rel=1e-12)


def test_mean_variance_sample_vs_shrunk(rets):
    s = mean_variance_weights(rets, shrinkage=None)
    np.testing.assert_allclose(s.weights.to_numpy(), kelly_continuous(rets.mean(), rets.cov()).to_numpy(), rtol=1e-10)
    lw = mean_variance_weights(rets)
    np.testing.assert_allclose(lw.covariance.to_numpy(), ledoit_wolf(rets).covariance.to_numpy(), rtol=1e-15)


def test_mean_variance_risk_free(rets):
    "Excess returns: (mu - rf)/lambda without a budget; with a budget the risk-free rate only shifts the multiplier."
    cov = pd.DataFrame([[0.04, 0.0], [0.0, 0.01]], index=["A", "B"], columns=["A", "B"])
    mu = pd.Series([0.02, 0.01], index=["A", "B"])
    np.testing.assert_allclose(mean_variance_weights(mean=mu, cov=cov, risk_free=0.005).weights, [0.375, 0.5], rtol=1e-14)
    rf = pd.Series(np.linspace(0, 2e-4, len(rets)), index=rets.index)
    excess = mean_variance_weights(rets.sub(rf, axis=0)).weights          # the Ledoit-Wolf Σ of excess returns differs
    mine = mean_variance_weights(mean=rets.mean() - rf.mean(), cov=ledoit_wolf(rets).covariance).weights
    np.testing.assert_allclose(mean_variance_weights(rets, risk_free=rf).weights, mine, rtol=1e-12)
    assert not np.allclose(excess, mine, rtol=1e-12)
    np.testing.assert_allclose(mean_variance_weights(rets, risk_free=rf, budget=1.0).weights,
                               mean_variance_weights(rets, budget=1.0).weights, rtol=1e-9)
    with pytest.raises(ValueError, match="risk_free must have the index of returns"):
        mean_variance_weights(rets, risk_free=rf.iloc[1:])
    with pytest.raises(ValueError, match="a risk_free Series needs returns"):
        mean_variance_weights(mean=mu, cov=cov, risk_free=rf)
    with pytest.raises(ValueError, match="risk_free must be finite"):
        mean_variance_weights(rets, risk_free=rf.where(rf.index != rf.index[0]))


def test_mean_variance_bad_input(rets):
    cov = rets.cov()
    with pytest.raises(ValueError, match="mean is required with cov"):
        mean_variance_weights(cov=cov)
    with pytest.raises(ValueError, match="give mean only with cov"):
        mean_variance_weights(rets, mean=rets.mean())
    with pytest.raises(ValueError, match="mean must have the labels of cov in the same order"):
        mean_variance_weights(mean=rets.mean().iloc[::-1], cov=cov)
    with pytest.raises(ValueError, match="give target_vol or budget, not both"):
        mean_variance_weights(rets, budget=1.0, target_vol=0.1)
    with pytest.raises(ValueError, match="covariance of returns must be positive definite"):
        mean_variance_weights(rets.iloc[:15], shrinkage=None)
    with pytest.raises(ValueError, match="shrinkage must be one of"):
        mean_variance_weights(rets, shrinkage="oas")
    with pytest.raises(ValueError, match="risk_aversion must be > 0"):
        mean_variance_weights(rets, risk_aversion=0.0)
    with pytest.raises(TypeError, match="long_only must be True or False"):
        mean_variance_weights(rets, long_only="yes")
    with pytest.raises(ValueError, match="budget must be > 0 when long_only=True"):
        mean_variance_weights(rets, long_only=True, budget=-1.0)
    with pytest.warns(SizingWarning, match="no asset has a positive expected return"):
        res = mean_variance_weights(-rets.abs(), long_only=True)
    assert (res.weights == 0).all() and res.risk_contributions.isna().all()
    with pytest.raises(ValueError, match=r"returns must be finite.*column 'AAPL' has 1"):
        mean_variance_weights(rets.assign(AAPL=rets["AAPL"].where(rets.index != rets.index[3])))


# ---------------------------------------------------------------- results and limits inside the allocators

@pytest.mark.parametrize("fn", [risk_parity_weights, hrp_weights,
                                lambda r, **k: mean_variance_weights(r, budget=1.0, long_only=True, **k)])
def test_allocations_respect_limits(rets, fn):
    lim = ExposureLimits(max_weight=0.08, max_gross=0.9, max_net=0.85)
    res = fn(rets, limits=lim)
    assert lim.violations(res.unconstrained) != []                # the limits bind
    assert isinstance(res, SizingResult)
    assert lim.violations(res.weights) == []
    assert res.weights.abs().max() <= 0.08 + 1e-12 and res.weights.sum() <= 0.85 + 1e-12
    assert res.risk_contributions.sum() == pytest.approx(1.0, abs=1e-12)
    a = res.covariance.to_numpy()
    w = res.weights.to_numpy()
    assert res.volatility == pytest.approx(math.sqrt(w @ a @ w * 252), rel=1e-12)
    assert "limits binding" in res.summary() and repr(res).startswith("SizingResult(method=")
    assert "| method |" in res._repr_markdown_()
    with pytest.raises(TypeError, match="limits must be ExposureLimits"):
        fn(rets, limits={"max_weight": 0.1})


def test_redistributed_limits_keep_fully_invested(rets):
    for fn in (risk_parity_weights, hrp_weights):
        res = fn(rets, limits=ExposureLimits(max_weight=0.06, redistribute=True))
        assert res.weights.sum() == pytest.approx(1.0, abs=1e-12) and res.weights.max() <= 0.06 + 1e-12
        assert res.unconstrained.max() > 0.06
    with pytest.raises(ValueError, match="cannot hold the long side"):
        mean_variance_weights(rets, budget=1.0, long_only=True, limits=ExposureLimits(max_weight=0.08, redistribute=True))


def test_plots(rets, prices):
    import matplotlib.pyplot as plt
    fig = hrp_weights(rets, limits=ExposureLimits(max_weight=0.08)).plot()
    assert len(fig.axes) == 2
    plt.close(fig)
    fig = vol_target_leverage(prices["KO"].pct_change().dropna(), 0.1).plot()
    assert len(fig.axes) == 2
    plt.close(fig)


def test_no_warnings_on_clean_input(rets):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        risk_parity_weights(rets)
        hrp_weights(rets)
        mean_variance_weights(rets, budget=1.0, long_only=True)
