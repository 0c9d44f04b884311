"""Statistics of out-of-sample results (statarb.validation.stats): stationary bootstrap, Sharpe p-value, deflated
Sharpe ratio, Monte Carlo of trade order. Oracles: arch (test-only), hand-worked cases, known statistical properties."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from statarb.data.sources import load_sample
from statarb.risk.metrics import _moments, dsr_from_stats, expected_max_sharpe
from statarb.validation.stats import (
    BootstrapResult,
    deflated_sharpe,
    optimal_block_length,
    reshuffle_trades,
    sharpe_pvalue_bootstrap,
    stationary_bootstrap,
    stationary_bootstrap_indices,
)


def ar1(n: int, phi: float, seed: int) -> np.ndarray:
    e = np.random.default_rng(seed).normal(size=n)
    x = np.zeros(n)
    for i in range(1, n): x[i] = phi * x[i - 1] + e[i]
    return x


# ---------------------------------------------------------------- stationary bootstrap
def test_indices_equal_arch_with_the_same_generator():
    ab = pytest.importorskip("arch.bootstrap")
    x = np.random.default_rng(0).normal(size=257)
    for block, seed in ((1.0, 0), (4.0, 7), (25.5, 3)):
        bs = ab.StationaryBootstrap(block, x, seed=np.random.default_rng(seed))
        theirs = []
        for _ in bs.bootstrap(20): theirs.append(np.asarray(bs.index).ravel().copy())
        np.testing.assert_array_equal(stationary_bootstrap_indices(257, 20, block, np.random.default_rng(seed)), theirs)
        np.testing.assert_array_equal(stationary_bootstrap_indices(257, 20, block, seed), theirs)   # int seed too


def test_optimal_block_length_equals_arch():
    ab = pytest.importorskip("arch.bootstrap")
    r = load_sample("sp500_20stocks")["KO"].pct_change().dropna().to_numpy()
    for x in (r, np.abs(r), ar1(2000, 0.6, 0), ar1(500, 0.0, 1), np.cumsum(ar1(800, 0.0, 2))):
        assert optimal_block_length(x) == pytest.approx(ab.optimal_block_length(x).iloc[0, 0], rel=1e-10)


def test_blocks_are_geometric_and_wrap_around():
    n, b = 1000, 8.0
    idx = stationary_bootstrap_indices(n, 200, b, seed=0)
    assert idx.min() >= 0 and idx.max() < n
    step = np.diff(idx, axis=1)
    cont = (step == 1) | ((idx[:, :-1] == n - 1) & (idx[:, 1:] == 0))      # continuing a block wraps n-1 -> 0
    assert ((idx[:, :-1] == n - 1) & (idx[:, 1:] == 0)).any()
    # a new block starts with probability 1/b (a continuing step can also be a new block landing on i+1: +1/n)
    assert (~cont).mean() == pytest.approx((1 / b) * (1 - 1 / n), abs=0.005)
    # every observation is drawn about equally often (uniform marginal)
    counts = np.bincount(idx.ravel(), minlength=n) / idx.size
    assert counts.max() < 3 / n and counts.min() > 0.2 / n


def test_stationary_bootstrap_values_and_seed():
    x = np.arange(1.0, 51.0)
    a = stationary_bootstrap(x, n_boot=30, mean_block=5, seed=3)
    np.testing.assert_array_equal(a, x[stationary_bootstrap_indices(50, 30, 5, 3)])
    np.testing.assert_array_equal(a, stationary_bootstrap(pd.Series(x), n_boot=30, mean_block=5, seed=3))
    assert not np.array_equal(a, stationary_bootstrap(x, n_boot=30, mean_block=5, seed=4))
    assert stationary_bootstrap(x, 4, seed=0).shape == (4, 50)              # automatic block length


# ---------------------------------------------------------------- Sharpe p-value
def test_bootstrap_standard_error_of_iid_sharpe():
    "Lo (2002): for iid returns the Sharpe ratio's standard error is sqrt((1 + SR^2/2) / n) per period."
    r = np.random.default_rng(11).normal(0.0008, 0.01, 3000)
    res = sharpe_pvalue_bootstrap(r, n_boot=2000, mean_block=1, seed=0)
    sr = r.mean() / r.std(ddof=1)
    assert res.standard_error / math.sqrt(252) == pytest.approx(math.sqrt((1 + sr * sr / 2) / 3000), rel=0.06)
    assert res.sharpe == pytest.approx(sr * math.sqrt(252), rel=1e-12)
    lo, hi = res.confidence_interval
    assert lo < res.sharpe < hi
    assert isinstance(res, BootstrapResult) and len(res.distribution) == 2000 and res.n_degenerate == 0


def test_pvalue_against_normal_approximation():
    "With a large sample the centred bootstrap p-value is close to 1 - Phi(SR / se)."
    from scipy.stats import norm
    r = np.random.default_rng(5).normal(0.0003, 0.01, 2000)
    res = sharpe_pvalue_bootstrap(r, n_boot=4000, mean_block=1, seed=1)
    z = res.sharpe / res.standard_error
    assert res.pvalue == pytest.approx(1 - norm.cdf(z), abs=0.02)
    res2 = sharpe_pvalue_bootstrap(r, benchmark_sharpe=res.sharpe, n_boot=4000, mean_block=1, seed=1)
    assert res2.pvalue == pytest.approx(0.5, abs=0.03)                     # benchmark at the estimate


def test_pvalue_is_roughly_uniform_under_the_null():
    "A modest check: zero-mean iid returns over 150 seeds give p-values with mean ~ 1/2 and ~10% below 0.1."
    ps = np.array([sharpe_pvalue_bootstrap(np.random.default_rng(s).normal(0, 0.01, 250), n_boot=200,
                                           mean_block=1, seed=s).pvalue for s in range(150)])
    assert 0.4 < ps.mean() < 0.6
    assert 0.03 < (ps < 0.1).mean() < 0.2
    assert 0.35 < (ps < 0.5).mean() < 0.65


def test_bootstrap_distribution_matches_arch():
    "Same indices as arch, so the same bootstrap Sharpe ratios to the bit."
    ab = pytest.importorskip("arch.bootstrap")
    r = load_sample("sp500_20stocks")["XOM"].pct_change().dropna().to_numpy()[-1500:]
    ours = sharpe_pvalue_bootstrap(r, n_boot=300, mean_block=10, seed=np.random.default_rng(2))
    bs = ab.StationaryBootstrap(10, r, seed=np.random.default_rng(2))
    theirs = bs.apply(lambda x: np.array([x.mean() / x.std(ddof=1)]), 300).ravel() * math.sqrt(252)
    np.testing.assert_allclose(ours.distribution, theirs, rtol=1e-12)


def test_dependence_widens_the_standard_error():
    x = 0.001 + 0.01 * ar1(3000, 0.5, 3) / 1.15
    iid = sharpe_pvalue_bootstrap(x, n_boot=500, mean_block=1, seed=0)
    auto = sharpe_pvalue_bootstrap(x, n_boot=500, seed=0)
    assert auto.mean_block > 3 and auto.standard_error > 1.3 * iid.standard_error


def test_same_seed_same_result():
    r = np.random.default_rng(0).normal(0.0005, 0.01, 500)
    a, b = sharpe_pvalue_bootstrap(r, seed=42), sharpe_pvalue_bootstrap(r, seed=42)
    np.testing.assert_array_equal(a.distribution, b.distribution)
    assert a.pvalue == b.pvalue and a.summary() == b.summary()
    assert not np.array_equal(a.distribution, sharpe_pvalue_bootstrap(r, seed=43).distribution)


@pytest.mark.parametrize("kw, err, msg", [
    ({"returns": np.full(50, 0.01)}, ValueError, "returns must vary"),
    ({"returns": [0.01] * 5}, ValueError, "at least 10 observations"),
    ({"returns": np.r_[np.zeros(20), np.nan]}, ValueError, "returns must be finite"),
    ({"returns": np.zeros((20, 2))}, ValueError, "one-dimensional"),
    ({"returns": pd.DataFrame({"a": np.ones(20)})}, TypeError, "one series"),
    ({"returns": ["a"] * 20}, TypeError, "returns must be numeric"),
    ({"level": 1.5}, ValueError, "level must be in"),
    ({"n_boot": 3}, ValueError, "n_boot"),
    ({"mean_block": 0.5}, ValueError, "mean_block must be >= 1"),
    ({"benchmark_sharpe": math.inf}, ValueError, "benchmark_sharpe must be finite"),
    ({"seed": -1}, ValueError, "seed"),
])
def test_pvalue_bad_input(kw, err, msg):
    args = {"returns": np.random.default_rng(0).normal(0, 0.01, 100), **kw}
    with pytest.raises(err, match=msg):
        sharpe_pvalue_bootstrap(**args)


# ---------------------------------------------------------------- deflated Sharpe ratio
def test_deflated_sharpe_equals_hand_formula():
    r = np.random.default_rng(9).normal(0.0006, 0.01, 1000) + 0.002 * np.random.default_rng(10).standard_t(4, 1000)
    res = deflated_sharpe(r, n_trials=50, trials_sharpe_variance=0.4)
    sr = r.mean() / r.std(ddof=1)
    sk, ku = _moments(r)
    sr0 = expected_max_sharpe(50, 0.4) / math.sqrt(252)
    assert res.deflated_sharpe == pytest.approx(dsr_from_stats(sr, 1000, 50, 0.4 / 252, sk, ku), rel=1e-12)
    # and with the formula of Bailey and Lopez de Prado written out
    from scipy.stats import norm
    hand = norm.cdf((sr - sr0) * math.sqrt(999) / math.sqrt(1 - sk * sr + (ku - 1) / 4 * sr * sr))
    assert res.deflated_sharpe == pytest.approx(hand, rel=1e-10)
    assert res.expected_max_sharpe == pytest.approx(sr0 * math.sqrt(252), rel=1e-12)
    assert (res.skew, res.kurtosis, res.n_obs) == (sk, ku, 1000)


def test_deflated_sharpe_from_trial_sharpes_and_monotone():
    r = np.random.default_rng(1).normal(0.0005, 0.01, 2000)
    t = [0.3, -0.2, 0.8, 0.1, 0.45, -0.6]
    assert deflated_sharpe(r, 20, trial_sharpes=t).deflated_sharpe == \
        deflated_sharpe(r, 20, trials_sharpe_variance=float(np.var(t, ddof=1))).deflated_sharpe
    d = [deflated_sharpe(r, n, 0.5).deflated_sharpe for n in (2, 10, 100, 1000)]
    assert all(a > b for a, b in zip(d, d[1:]))


@pytest.mark.parametrize("args, kw, msg", [
    ((10,), {}, "exactly one of"),
    ((10, 0.5), {"trial_sharpes": [0.1, 0.2]}, "exactly one of"),
    ((1, 0.5), {}, "n_trials"),
    ((10, -0.5), {}, "trials_sharpe_variance"),
    ((10,), {"trial_sharpes": [0.1]}, "trial_sharpes needs at least 2"),
])
def test_deflated_sharpe_bad_input(args, kw, msg):
    with pytest.raises(ValueError, match=msg):
        deflated_sharpe(np.random.default_rng(0).normal(0, 0.01, 100), *args, **kw)


# ---------------------------------------------------------------- Monte Carlo of trade order
def test_reshuffle_hand_worked():
    res = reshuffle_trades([100.0, -50.0, -70.0, 30.0], n_sims=10, seed=0)
    o = res.observed
    assert o["final_pnl"] == 10.0 and o["max_drawdown"] == -120.0 and o["longest_losing_streak"] == 2
    assert o["trade_sharpe"] == pytest.approx(2.5 / np.std([100, -50, -70, 30], ddof=1), rel=1e-12)
    # brute force over the 24 orders: each simulated drawdown is one of theirs
    def mdd(seq):
        c = np.cumsum(seq)
        return float((c - np.maximum.accumulate(np.maximum(c, 0))).min())
    every = {mdd(p) for p in itertools.permutations([100.0, -50.0, -70.0, 30.0])}
    assert set(res.simulations["max_drawdown"]) <= every and len(set(res.simulations["max_drawdown"])) > 1
    assert reshuffle_trades([-10.0, -20.0], 10, capital=100.0).observed["max_drawdown"] == pytest.approx(-0.3)


def test_reshuffle_invariants_and_bounds():
    pn = np.random.default_rng(2).normal(50, 800, 400)
    res = reshuffle_trades(pn, n_sims=400, seed=1)
    np.testing.assert_allclose(res.simulations["final_pnl"], pn.sum(), rtol=1e-10)        # a permutation keeps the sum
    np.testing.assert_allclose(res.simulations["trade_sharpe"], res.observed["trade_sharpe"], rtol=1e-10)
    assert (res.simulations["max_drawdown"] >= pn[pn < 0].sum() - 1e-6).all()             # never below all losses
    worst = reshuffle_trades(np.sort(pn), n_sims=200, seed=1)
    assert worst.observed["max_drawdown"] == pytest.approx(pn[pn < 0].sum()) and worst.drawdown_rank == 0.0
    q = res.percentiles["max_drawdown"]
    assert list(res.percentiles.index) == [1, 5, 25, 50, 75, 95, 99] and q.is_monotonic_increasing
    assert res.summary() == reshuffle_trades(pn, n_sims=400, seed=1).summary()             # same seed, same result


def test_resampling_with_replacement():
    pn = np.random.default_rng(3).normal(20, 500, 250)
    res = reshuffle_trades(pd.DataFrame({"pnl": pn}), n_sims=2000, seed=0, replace=True)
    f = res.simulations["final_pnl"]
    assert f.mean() == pytest.approx(pn.sum(), abs=3 * pn.std() * math.sqrt(250) / math.sqrt(2000))
    assert f.std() == pytest.approx(pn.std() * math.sqrt(250), rel=0.06)
    assert res.replace and res.n_trades == 250


@pytest.mark.parametrize("args, kw, err, msg", [
    ((pd.DataFrame({"x": [1.0, 2.0]}),), {}, ValueError, "'pnl' column"),
    (([1.0],), {}, ValueError, "at least 2 observations"),
    (([1.0, 2.0],), {"n_sims": 2}, ValueError, "n_sims"),
    (([1.0, 2.0],), {"replace": "yes"}, TypeError, "replace"),
    (([-100.0, -100.0],), {"capital": 150.0}, ValueError, "must stay > 0"),
    (([1.0, 2.0],), {"capital": -1.0}, ValueError, "capital"),
])
def test_reshuffle_bad_input(args, kw, err, msg):
    with pytest.raises(err, match=msg):
        reshuffle_trades(*args, **kw)
