"""statarb.alpha.scan: batched Engle-Granger scans against statsmodels' coint/adfuller (p-values, used lags, icbest
to 1e-8) on real prices (bundled 20 stocks; the sp100 file in ../shared/data, skipped where absent), Gatev distances
against the direct sum, Johansen baskets against coint.johansen, executors (threads, processes, a real Dask
LocalCluster) against the serial run, and every error and warning path.
"""
import subprocess
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.multitest import multipletests
from statsmodels.tsa.adfvalues import mackinnonp
from statsmodels.tsa.stattools import adfuller, coint

from statarb.alpha.coint import AUTOLAGS, TRENDS, _trend_cols, half_life, johansen
from statarb.alpha.scan import (
    CollinearPairWarning,
    _adf_batch,
    _mackinnonp,
    _sums_direct,
    cluster_universe,
    distance_pairs,
    plot_pvalue_heatmap,
    rolling_coint,
    scan_baskets,
    scan_pairs,
)
from statarb.core import DataQualityWarning, StatarbWarning
from statarb.data.sources import load_sample

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
SMALL = ["KO", "PEP", "PG", "WMT", "XOM", "CVX", "JPM", "BAC"]


@pytest.fixture(scope="module", autouse=True)
def _single_threaded_blas():
    "statsmodels' oracle loops run thousands of small regressions: multi-threaded BLAS only slows them on a busy box."
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def sp20():
    return load_sample("sp500_20stocks")


@pytest.fixture(scope="module")
def small(sp20):
    return sp20[SMALL].iloc[-2000:]


@pytest.fixture(scope="module")
def sp100(shared_data):
    p = shared_data / "arbitragelab_sp100_close_daily.parquet"
    if not p.is_file(): pytest.skip("arbitragelab_sp100_close_daily.parquet absent")
    return pd.read_parquet(p)


def _resid(y, x, trend):
    X = np.column_stack([x.to_numpy(), _trend_cols(trend, len(x))])
    return OLS(y.to_numpy(), X).fit().resid


def _check_against_statsmodels(prices, table, trend, lags, autolag, tol=1e-8):
    assert len(table) == prices.shape[1] * (prices.shape[1] - 1) // 2
    for r in table.itertuples():
        st, pv, _ = coint(prices[r.y], prices[r.x], trend=trend, maxlag=lags, autolag=autolag)
        assert abs(r.pvalue - pv) <= tol, (r.y, r.x, r.pvalue, pv)
        assert abs(r.statistic - st) <= tol * max(1.0, abs(st)), (r.y, r.x, r.statistic, st)
        a = adfuller(_resid(prices[r.y], prices[r.x], trend), maxlag=lags, autolag=autolag, regression="n",
                     result_object=False)
        assert r.lags == a[2], (r.y, r.x, r.lags, a[2])
        if autolag is None: assert np.isnan(r.icbest)
        else: assert abs(r.icbest - a[5]) <= tol * max(1.0, abs(a[5])), (r.icbest, a[5])


# ------------------------------------------------------------------------------------------------ kernels
@pytest.mark.parametrize("trend", TRENDS)
def test_mackinnonp_vectorised_equals_statsmodels(trend):
    stats = np.r_[np.linspace(-30, 5, 701), -np.inf, np.inf]
    got = _mackinnonp(stats, trend, 2)
    ref = np.array([mackinnonp(s, regression=trend, N=2) for s in stats])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-15)
    assert np.isnan(_mackinnonp(np.array([np.nan]), trend, 2)[0])


@pytest.mark.parametrize("autolag", AUTOLAGS)
def test_adf_batch_on_real_spreads_equals_adfuller(sp20, autolag):
    p = sp20[["KO", "PEP", "XOM", "CVX"]].iloc[-1200:]
    u = np.stack([_resid(p[a], p[b], "c") for a, b in (("KO", "PEP"), ("XOM", "CVX"), ("PEP", "CVX"))])
    for L in (0, 3, 22):
        stat, used, ic = _adf_batch(**_sums_direct(u, L), N=u.shape[1] - 1, L=L, autolag=autolag)
        for i in range(len(u)):
            a = adfuller(u[i], maxlag=L, autolag=autolag, regression="n", result_object=False)
            assert abs(stat[i] - a[0]) < 1e-9 * max(1, abs(a[0])) and used[i] == a[2]
            if autolag is not None: assert abs(ic[i] - a[5]) < 1e-8 * max(1, abs(a[5]))


# ------------------------------------------------------------------------------------------------ scan_pairs vs coint
@pytest.mark.parametrize("trend", TRENDS)
@pytest.mark.parametrize("lags, autolag", [(1, None), (6, "aic"), (6, "bic"), (8, "t-stat")])
def test_scan_pairs_equals_coint_on_bundled_stocks(small, trend, lags, autolag):
    p = small.iloc[-1000:]
    table = scan_pairs(p, trend=trend, lags=lags, autolag=autolag, progress=False)
    _check_against_statsmodels(p, table, trend, lags, autolag)


@pytest.mark.parametrize("lags, autolag", [(None, None), (None, "aic"), (None, "bic")])
def test_scan_pairs_equals_coint_with_default_maxlag(small, lags, autolag):
    table = scan_pairs(small, lags=lags, autolag=autolag, progress=False)  # 2,000 days: maxlag 26
    _check_against_statsmodels(small, table, "c", lags, autolag)


@pytest.mark.parametrize("lags, autolag", [(2, None), (None, "aic"), (None, "bic")])
def test_scan_pairs_equals_coint_on_sp100_subset(sp100, lags, autolag):
    prices = sp100.iloc[:, ::8]  # 13 stocks, 78 pairs, 945 days
    table = scan_pairs(prices, lags=lags, autolag=autolag, progress=False)
    _check_against_statsmodels(prices, table, "c", lags, autolag)


def test_scan_pairs_log_prices_equal_coint_on_logs(small):
    table = scan_pairs(small.iloc[-1000:], log=True, lags=5, progress=False)
    _check_against_statsmodels(np.log(small.iloc[-1000:]), table, "c", 5, "aic")


def test_pair_columns_against_direct_computations(small):
    table = scan_pairs(small, trend="c", progress=False)
    lr = np.log(small).diff().dropna()
    norm = small / small.iloc[0]
    for r in table.itertuples():
        y, x = small[r.y], small[r.x]
        fit = OLS(y.to_numpy(), np.column_stack([x.to_numpy(), np.ones(len(x))])).fit()
        u = pd.Series(fit.resid, index=small.index)
        assert np.isclose(r.hedge_ratio, fit.params[0], rtol=1e-10)
        assert np.isclose(r.intercept, fit.params[1], rtol=1e-9, atol=1e-9)
        hl = half_life(u)
        assert np.isclose(r.half_life, hl, rtol=1e-8) or (np.isinf(hl) and np.isinf(r.half_life))
        assert np.isclose(r.spread_vol, u.std(), rtol=1e-9)
        assert np.isclose(r.corr, lr[r.y].corr(lr[r.x]), rtol=1e-10)
        assert np.isclose(r.distance, ((norm[r.y] - norm[r.x]) ** 2).sum(), rtol=1e-9)
        assert r.n_obs == len(small)
    assert table.pvalue.is_monotonic_increasing
    # y is the earlier column of each unordered pair
    pos = {c: i for i, c in enumerate(small.columns)}
    assert all(pos[a] < pos[b] for a, b in zip(table.y, table.x))


def test_ct_intercept_and_trend_hedge_ratio(small):
    table = scan_pairs(small[["XOM", "CVX"]], trend="ct", progress=False)
    y, x = small.XOM, small.CVX
    fit = OLS(y.to_numpy(), np.column_stack([x.to_numpy(), _trend_cols("ct", len(x))])).fit()
    assert np.isclose(table.hedge_ratio[0], fit.params[0], rtol=1e-10)
    assert np.isclose(table.intercept[0], fit.params[1], rtol=1e-8)


def test_both_orderings_reports_the_weaker(small):
    table = scan_pairs(small, lags=2, autolag=None, both_orderings=True, progress=False)
    assert len(table) == 28
    for r in table.itertuples():
        p1 = coint(small[r.y], small[r.x], maxlag=2, autolag=None)[1]
        p2 = coint(small[r.x], small[r.y], maxlag=2, autolag=None)[1]
        assert abs(r.pvalue - p1) < 1e-8 and abs(r.pvalue_other - p2) < 1e-8 and p1 >= p2


def test_adjustments_equal_statsmodels_multipletests(small):
    table = scan_pairs(small, progress=False)
    p = table.pvalue.to_numpy()
    np.testing.assert_allclose(table.pvalue_bh, multipletests(p, method="fdr_bh")[1], rtol=1e-12)
    np.testing.assert_allclose(table.pvalue_bonferroni, multipletests(p, method="bonferroni")[1], rtol=1e-12)


def test_filters_and_attrs(small):
    full = scan_pairs(small, progress=False)
    t = scan_pairs(small, min_corr=0.5, half_life_range=(10, 80), progress=False)
    assert (t["corr"] >= 0.5).all() and t.half_life.between(10, 80).all()
    screened = full[full["corr"] >= 0.5]
    assert t.attrs["n_tested"] == len(screened) and t.attrs["n_candidates"] == 28
    # BH family = the screened pairs (before the half-life filter)
    ref = screened.set_index(["y", "x"]).pvalue
    bh = pd.Series(multipletests(ref.to_numpy(), method="fdr_bh")[1], index=ref.index)
    np.testing.assert_allclose(t.pvalue_bh, bh.loc[list(zip(t.y, t.x))].to_numpy(), rtol=1e-12)
    kept = screened[screened.half_life.between(10, 80)]
    assert sorted(zip(t.y, t.x)) == sorted(zip(kept.y, kept.x))
    a = t.attrs
    assert (a["trend"], a["autolag"], a["maxlag"], a["n_obs"], a["min_corr"], a["half_life_range"]) == \
        ("c", "aic", 26, 2000, 0.5, (10.0, 80.0))
    assert a["start"] == small.index[0] and a["assets"] == SMALL


def test_clusters_restrict_pairs(small):
    labels = {"KO": 1, "PEP": 1, "PG": 1, "WMT": -1, "XOM": "energy", "CVX": "energy", "JPM": 2, "BAC": np.nan}
    t = scan_pairs(small, clusters=labels, progress=False)
    assert sorted(zip(t.y, t.x)) == [("KO", "PEP"), ("KO", "PG"), ("PEP", "PG"), ("XOM", "CVX")]
    full = scan_pairs(small, progress=False).set_index(["y", "x"])
    np.testing.assert_allclose(t.pvalue, full.loc[list(zip(t.y, t.x)), "pvalue"].to_numpy(), rtol=1e-12)
    assert t.attrs["n_tested"] == 4


def test_chunk_size_does_not_change_results(sp20):
    p = sp20.iloc[-800:]
    a = scan_pairs(p, progress=False)
    b = scan_pairs(p, chunk_size=9, progress=False)  # blocks of 3 assets, 28 tasks
    pd.testing.assert_frame_equal(a.drop(columns=["pvalue_bh"]), b.drop(columns=["pvalue_bh"]), rtol=1e-11)


def test_progress_bar_goes_to_stderr(small, capsys):
    scan_pairs(small, chunk_size=9, progress=True)
    assert "scan_pairs" in capsys.readouterr().err
    scan_pairs(small, chunk_size=9, progress=False)
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------------------------------ executors
def test_thread_and_process_executors_give_the_serial_table(sp20):
    p = sp20.iloc[-600:, :12]
    ref = scan_pairs(p, chunk_size=16, progress=False)
    with ThreadPoolExecutor(2) as ex:
        pd.testing.assert_frame_equal(scan_pairs(p, chunk_size=16, executor=ex, progress=False), ref)
    with ProcessPoolExecutor(2) as ex:
        pd.testing.assert_frame_equal(scan_pairs(p, chunk_size=16, executor=ex, progress=False), ref)


def test_auto_executor_uses_local_processes_for_big_scans(sp20, monkeypatch):
    "executor='auto' (the default) starts a local process pool above the threshold and gives the serial table."
    import os

    from statarb.alpha import scan as scan_mod
    if (os.cpu_count() or 1) < 2: pytest.skip("one core: 'auto' never starts processes")
    started = []

    class Counting(ProcessPoolExecutor):
        def __init__(self, *a, **k):
            started.append(k.get("max_workers"))
            super().__init__(*a, **k)

    monkeypatch.setattr(scan_mod, "ProcessPoolExecutor", Counting)
    p = sp20.iloc[-600:, :12]
    ref = scan_pairs(p, chunk_size=16, executor=None, progress=False)
    assert scan_pairs(p, chunk_size=16, progress=False).equals(ref) and started == []      # 66 pairs: serial
    monkeypatch.setattr(scan_mod, "AUTO_PARALLEL_PAIRS", 50)
    pd.testing.assert_frame_equal(scan_pairs(p, chunk_size=16, progress=False), ref)
    assert started == [min(os.cpu_count(), 5)]


def test_dask_local_cluster_gives_the_serial_table(sp20):
    distributed = pytest.importorskip("distributed")
    p = sp20.iloc[-600:, :12]
    ref = scan_pairs(p, both_orderings=True, chunk_size=16, progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        got = scan_pairs(p, both_orderings=True, chunk_size=16, executor=client.get_executor(), progress=False)
        bask = scan_baskets(p.iloc[:, :5], chunk_size=3, executor=client.get_executor(), progress=False)
    pd.testing.assert_frame_equal(got, ref)
    pd.testing.assert_frame_equal(bask, scan_baskets(p.iloc[:, :5], progress=False))


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("make, exc, msg", [
    (lambda p: p[["KO"]], ValueError, "at least 2 columns"),
    (lambda p: p.reset_index(drop=True), TypeError, "must have a DatetimeIndex"),
    (lambda p: p.iloc[::-1], ValueError, "sorted ascending"),
    (lambda p: p.iloc[:60], ValueError, "need at least min_obs=100"),
    (lambda p: p.assign(KO=5.0), ValueError, "constant"),
    (lambda p: p.assign(KO=-p.KO), ValueError, "strictly positive"),
    (lambda p: p.assign(KO="a"), TypeError, "numeric"),
    (lambda p: p.set_axis(["KO"] * 8, axis=1), ValueError, "unique"),
    (lambda p: p.to_numpy(), TypeError, "prices must be DataFrame"),
])
def test_scan_pairs_bad_prices(small, make, exc, msg):
    with pytest.raises(exc, match=msg):
        scan_pairs(make(small), progress=False)


def test_nan_raise_names_columns_and_drop_warns(small):
    p = small.copy()
    p.iloc[5:8, 1] = np.nan
    p.iloc[9, 4] = np.nan
    with pytest.raises(ValueError, match=r"2 columns have NaN: 'PEP' \(3, first at .*\), 'XOM' \(1"):
        scan_pairs(p, progress=False)
    with pytest.warns(DataQualityWarning, match="dropped 4 of 2000 rows"):
        t = scan_pairs(p, missing="drop", progress=False)
    assert t.attrs["n_obs"] == 1996
    ref = scan_pairs(p.dropna(), progress=False)
    pd.testing.assert_frame_equal(t.drop(columns=[]), ref)


@pytest.mark.parametrize("kw, exc, msg", [
    ({"trend": "x"}, ValueError, "trend must be one of"),
    ({"autolag": "hqic"}, ValueError, "autolag must be one of"),
    ({"lags": -1}, ValueError, "lags must be >= 0"),
    ({"lags": 1.5}, TypeError, "lags must be an integer"),
    ({"lags": 1000}, ValueError, "at most 999 lags"),
    ({"both_orderings": 1}, TypeError, "both_orderings must be True or False"),
    ({"missing": "ffill"}, ValueError, "missing must be one of"),
    ({"min_corr": 2}, ValueError, r"min_corr must be in \[-1, 1\]"),
    ({"half_life_range": (5,)}, ValueError, r"half_life_range must be \(min, max\)"),
    ({"half_life_range": (20, 5)}, ValueError, "min <= max"),
    ({"clusters": {"KO": 1}}, ValueError, "clusters must give a label for every column"),
    ({"clusters": [1, 2]}, TypeError, "clusters must be Series or Mapping"),
    ({"executor": "processes"}, TypeError, "executor must be 'auto', None or a concurrent.futures.Executor"),
    ({"chunk_size": 0}, ValueError, "chunk_size must be >= 4"),
])
def test_scan_pairs_bad_arguments(small, kw, exc, msg):
    with pytest.raises(exc, match=msg):
        scan_pairs(small, **({"progress": False} | kw))


def test_duplicate_and_rescaled_columns_warn_and_are_left_out(small):
    p = small[["KO", "PEP", "XOM"]].assign(KO2=small.KO * 3.0, XOM2=small.XOM)
    with pytest.warns(CollinearPairWarning, match=r"2 pairs fit \(almost\) perfectly .*\('KO', 'KO2'\)"):
        t = scan_pairs(p, progress=False)
    assert len(t) == 8 and ("KO", "KO2") not in set(zip(t.y, t.x)) and ("XOM", "XOM2") not in set(zip(t.y, t.x))
    assert issubclass(CollinearPairWarning, StatarbWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert coint(p.KO, p.KO2)[1] == 0.0  # statsmodels reports p=0 for the perfect fit; the scan refuses it


def test_empty_candidate_set_gives_empty_table(small):
    t = scan_pairs(small, min_corr=0.999, progress=False)
    assert len(t) == 0 and list(t.columns)[:4] == ["y", "x", "statistic", "pvalue"]


# ------------------------------------------------------------------------------------------------ distance, clusters
def test_distance_pairs_equal_direct_ssd(sp20):
    p = sp20.iloc[-1500:]
    d = distance_pairs(p)
    n = p / p.iloc[0]
    assert len(d) == 190 and d.distance.is_monotonic_increasing
    for r in d.sample(25, random_state=1).itertuples():
        assert np.isclose(r.distance, ((n[r.y] - n[r.x]) ** 2).sum(), rtol=1e-9)
        assert np.isclose(r.spread_std, (n[r.y] - n[r.x]).std(), rtol=1e-9)
    top = distance_pairs(p, top=5)
    pd.testing.assert_frame_equal(top, d.head(5))
    with pytest.raises(ValueError, match="top must be >= 1"):
        distance_pairs(p, top=0)


def test_cluster_universe_labels_and_errors(sp20):
    p = sp20.iloc[-1500:]
    lab = cluster_universe(p, n_components=5, min_samples=2)
    assert lab.index.equals(p.columns) and lab.name == "cluster" and lab.dtype.kind == "i"
    pd.testing.assert_series_equal(lab, cluster_universe(p, n_components=5, min_samples=2))
    assert lab["XOM"] == lab["CVX"] != -1  # the two oil majors load on the same components
    t = scan_pairs(p, clusters=lab, progress=False)
    assert (lab[t.y].to_numpy() == lab[t.x].to_numpy()).all() and (lab[t.y] != -1).all()
    with pytest.raises(ValueError, match="n_components must be at most"):
        cluster_universe(p, n_components=21)
    with pytest.raises(ValueError, match="min_samples must be at most"):
        cluster_universe(p, min_samples=21)


# ------------------------------------------------------------------------------------------------ rolling
@pytest.mark.parametrize("trend, lags, autolag", [("c", None, "aic"), ("ct", 2, None), ("c", 6, "bic")])
def test_rolling_coint_equals_coint_per_window(sp20, trend, lags, autolag):
    y, x = sp20.XOM.iloc[-1500:], sp20.CVX.iloc[-1500:]
    r = rolling_coint(y, x, window=300, step=97, trend=trend, lags=lags, autolag=autolag)
    assert len(r) == len(range(0, 1500 - 300 + 1, 97)) and r.index[0] == y.index[299]
    for t, p in r.items():
        w = slice(y.index.get_loc(t) - 299, y.index.get_loc(t) + 1)
        assert abs(p - coint(y.iloc[w], x.iloc[w], trend=trend, maxlag=lags, autolag=autolag)[1]) < 1e-8


def test_rolling_coint_errors_and_collinear_windows(sp20):
    y, x = sp20.KO.iloc[-600:], sp20.PEP.iloc[-600:]
    with pytest.raises(ValueError, match="window must be at most"):
        rolling_coint(y, x, window=601)
    with pytest.raises(ValueError, match="window must be >= 20"):
        rolling_coint(y, x, window=10)
    with pytest.raises(TypeError, match="x must be Series"):
        rolling_coint(y, x.to_numpy(), window=100)
    with pytest.raises(ValueError, match="same index"):
        rolling_coint(y, x.shift(1, freq="D"), window=100)
    with pytest.raises(ValueError, match="at most 49 lags"):
        rolling_coint(y, x, window=100, lags=60)
    with pytest.warns(CollinearPairWarning, match="windows"):
        r = rolling_coint(y, y.rename("KO2") * 2, window=100, step=100)
    assert r.isna().all()


# ------------------------------------------------------------------------------------------------ baskets
def test_scan_baskets_equal_johansen(small):
    lp = np.log(small)
    t = scan_baskets(small, size=3, log=True, progress=False)
    assert len(t) == 56 and t.trace_ratio.is_monotonic_decreasing
    for r in t.head(5).itertuples():
        ref = johansen(lp[list(r.assets)])
        assert np.isclose(r.trace_stat, ref.trace_stat.iloc[0], rtol=1e-12)
        assert np.isclose(r.trace_crit_95, ref.trace_crit["95%"].iloc[0])
        assert r.rank == ref.rank_trace and np.isclose(r.half_life, ref.half_life, rtol=1e-10)
        np.testing.assert_allclose(r.weights, ref.hedge_weights.to_numpy(), rtol=1e-12)
    t4 = scan_baskets(small, size=4, clusters={c: (0 if c in SMALL[:5] else 1) for c in SMALL}, progress=False)
    assert len(t4) == 5 + 0  # C(5, 4) in cluster 0, none in a cluster of 3


def test_scan_baskets_errors_and_collinear_baskets(small):
    with pytest.raises(ValueError, match="size must be one of 3, 4"):
        scan_baskets(small, size=2)
    with pytest.raises(ValueError, match="exceed max_baskets=10"):
        scan_baskets(small, max_baskets=10)
    with pytest.raises(ValueError, match="at least size=4 columns"):
        scan_baskets(small.iloc[:, :3], size=4)
    p = small[["KO", "PEP", "XOM"]].assign(KO2=small.KO * 2)
    with pytest.warns(CollinearPairWarning, match="baskets"):
        t = scan_baskets(p, progress=False)
    assert all("KO2" not in b or "KO" not in b for b in t.assets)


# ------------------------------------------------------------------------------------------------ heatmap
def test_heatmap_matrix_is_the_table(small):
    import matplotlib.pyplot as plt
    t = scan_pairs(small, progress=False)
    ax = plot_pvalue_heatmap(t)
    M = np.ma.filled(ax.images[0].get_array(), np.nan)
    i, j = SMALL.index(t.y[0]), SMALL.index(t.x[0])
    assert M[i, j] == M[j, i] == t.pvalue[0] and np.isnan(M[0, 0])
    assert [x.get_text() for x in ax.get_xticklabels()] == SMALL
    ax2 = plot_pvalue_heatmap(small[["KO", "PEP", "XOM"]], lags=1, autolag=None)
    assert len(ax2.get_yticklabels()) == 3
    with pytest.raises(ValueError, match="column must be a column"):
        plot_pvalue_heatmap(t, column="nope")
    with pytest.raises(ValueError, match="order must contain every asset"):
        plot_pvalue_heatmap(t, order=["KO"])
    plt.close("all")


# ------------------------------------------------------------------------------------------------ benchmark smoke run
def test_bench_scan_quick_prints_ratios():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_scan.py"), "--quick"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("ratio statsmodels loop / scan_pairs (fixed lag):", "ratio statsmodels loop / scan_pairs (aic):",
                 "max |p-value difference|"):
        assert line in run.stdout, run.stdout
