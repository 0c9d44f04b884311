"""Walk-forward validation (statarb.validation.walkforward): windows, no look-ahead, warm start, executors, invariants."""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from statarb.alpha.kalman import KalmanHedge
from statarb.alpha.scan import scan_pairs
from statarb.data.sources import load_sample
from statarb.engine.fast import run_pairs_backtest
from statarb.validation.walkforward import SelectConfig, WalkForwardResult, walk_forward, walk_forward_windows

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("windows", "selections", "trials", "trades", "holdout", "holdout_trades")


@pytest.fixture(scope="module")
def px():
    "Eight real stocks, 1995-2004 (short enough for tests)."
    return load_sample("sp500_20stocks").loc["1995":"2004", ["KO", "PEP", "XOM", "CVX", "JNJ", "PFE", "MRK", "WMT"]]


@pytest.fixture(scope="module")
def wf(px):
    return walk_forward(px, train="2Y", test="1Y", holdout="2003", select=SelectConfig(top=4),
                        bands=((1.5, 0.0), (2.0, 0.5)), half_spread_bps=1.0, executor=None)


def same(a: WalkForwardResult, b: WalkForwardResult) -> None:
    for t in TABLES: pdt.assert_frame_equal(getattr(a, t), getattr(b, t), check_exact=True)
    pdt.assert_series_equal(a.returns, b.returns, check_exact=True)
    pdt.assert_series_equal(a.holdout_returns, b.holdout_returns, check_exact=True)
    assert a.n_trials == b.n_trials


# ---------------------------------------------------------------- windows
def test_windows_tile_the_sample_and_train_before_test():
    ix = pd.bdate_range("1990-01-01", "2005-12-31")
    for mode in ("rolling", "expanding"):
        w = walk_forward_windows(ix, "3Y", "1Y", mode=mode, holdout="2003")
        body = w[~w["holdout"]]
        assert (body["test_start_pos"].iloc[1:].to_numpy() == body["test_stop_pos"].iloc[:-1].to_numpy()).all()
        assert (w["train_stop_pos"] == w["test_start_pos"]).all()
        assert body["test_stop_pos"].iloc[-1] == ix.searchsorted(pd.Timestamp("2003-01-01"))
        assert w["holdout"].iloc[-1] and w["test_stop_pos"].iloc[-1] == len(ix)
        assert [d.year for d in body["test_start"]] == list(range(1993, 2003))
        if mode == "expanding": assert (w["train_start_pos"] == 0).all()
        else:    # three calendar years of training
            assert ((w["test_start"] - w["train_start"]).dt.days.between(3 * 365 - 3, 3 * 366 + 3)).all()


def test_windows_in_bars():
    w = walk_forward_windows(pd.bdate_range("2000-01-03", periods=100), train=30, test=20)
    assert w["test_start_pos"].tolist() == [30, 50, 70, 90] and w["test_stop_pos"].tolist() == [50, 70, 90, 100]
    assert w["train_start_pos"].tolist() == [0, 20, 40, 60]


@pytest.mark.parametrize("kw, err, msg", [
    ({"train": 500}, ValueError, "train=500 is longer than the 100 bars"),
    ({"train": 90, "holdout": "2000-05-01"}, ValueError, "before the holdout"),
    ({"holdout": "2001-01-01"}, ValueError, "holdout period would be empty"),
    ({"holdout": "not a date"}, ValueError, "holdout must be a date"),
    ({"train": "3 yrs"}, ValueError, "span such as '3Y'"),
    ({"test": 0}, ValueError, "test must be >= 1"),
    ({"train": 2.5}, TypeError, "train must be an int"),
    ({"mode": "anchored"}, ValueError, "mode"),
])
def test_window_errors(kw, err, msg):
    with pytest.raises(err, match=msg):
        walk_forward_windows(pd.bdate_range("2000-01-03", periods=100), **{"train": 30, "test": 20, **kw})


# ---------------------------------------------------------------- what a window does
def test_selection_is_the_scan_of_the_training_window(wf, px):
    for w in wf.windows.itertuples():
        tr = px.loc[w.train_start:w.train_end]
        s = scan_pairs(tr, log=True, half_life_range=(1, 126), executor=None, progress=False)
        s = s[s["pvalue"] <= 0.05].head(4)
        assert w.pairs == tuple(f"{a}/{b}" for a, b in zip(s["y"], s["x"]))
        np.testing.assert_array_equal(np.array(w.pvalues), s["pvalue"].to_numpy())
        assert w.n_candidates == 28


def test_bands_chosen_by_training_sharpe(wf):
    for w in wf.windows.itertuples():
        t = wf.trials[wf.trials["window"] == w.window]
        if w.n_selected == 0: assert t.empty; continue
        assert len(t) == 2
        best = t.loc[t["train_sharpe"].idxmax()]
        assert (w.entry, w.exit, w.train_sharpe) == (best["entry"], best["exit"], best["train_sharpe"])


def test_warm_start_continues_the_training_filter(px):
    "Oracle: the warm model's z-scores on the test window = one filter run over train + test (no restart)."
    y, x = px["KO"], px["PEP"]
    tr, te = slice("1995", "1996"), slice("1997", "1997")
    b, a = np.polyfit(x[tr].to_numpy(), y[tr].to_numpy(), 1)
    m = KalmanHedge(initial_state_mean=(b, a)).fit(y[tr], x[tr]).model
    f = m.filter(y[tr], x[tr])
    warm = KalmanHedge(delta=m.delta, observation_covariance=m.observation_covariance,
                       initial_state_mean=f.state_means.iloc[-1].to_numpy(),
                       initial_state_covariance=f.state_covariances[-1] + m.transition_covariance)
    both = m.filter(y["1995":"1997"], x["1995":"1997"]).zscore["1997"]
    np.testing.assert_allclose(warm.filter(y[te], x[te]).zscore.to_numpy(), both.to_numpy(), rtol=1e-9, atol=1e-12)


def test_test_window_trades_equal_a_hand_run(wf, px):
    "Rebuild window 1 from its selection table and run_pairs_backtest: the same trades and returns."
    w = wf.windows.iloc[1]
    tr, te = px.loc[w.train_start:w.train_end], px.loc[w.test_start:w.test_end]
    pnl = np.zeros(len(te))
    for s in wf.selections[wf.selections["window"] == 1].itertuples():
        b, a = np.polyfit(tr[s.x].to_numpy(), tr[s.y].to_numpy(), 1)
        m = KalmanHedge(delta=s.delta, observation_covariance=s.observation_covariance, initial_state_mean=(b, a))
        f = m.filter(tr[s.y], tr[s.x])
        warm = KalmanHedge(delta=s.delta, observation_covariance=s.observation_covariance,
                           initial_state_mean=f.state_means.iloc[-1].to_numpy(),
                           initial_state_covariance=f.state_covariances[-1] + m.transition_covariance)
        r = run_pairs_backtest(te[[s.y, s.x]], [(s.y, s.x)], kalman=warm, window=0, entry=w.entry, exit=w.exit,
                               notional=1e6 / 4, half_spread_bps=1.0)
        pnl += r.equity["equity"].to_numpy() - 1e6
    np.testing.assert_allclose(1e6 * (1 + wf.returns.loc[w.test_start:w.test_end]).cumprod().to_numpy() - 1e6, pnl,
                               rtol=1e-9, atol=1e-6)


def test_trade_pnls_add_up_and_equity_chains(wf):
    assert len(wf.trades) > 20
    for w in wf.windows.itertuples():
        r = wf.returns.loc[w.test_start:w.test_end]
        pnl = 1e6 * (np.prod(1 + r) - 1)
        assert wf.trades.loc[wf.trades["window"] == w.window, "pnl"].sum() == pytest.approx(pnl, abs=1e-5)
        assert w.test_return == pytest.approx(np.prod(1 + r) - 1, rel=1e-12)
        assert w.n_trades == int((wf.trades["window"] == w.window).sum())
    assert wf.equity.iloc[-1] == pytest.approx(1e6 * np.prod(1 + wf.windows["test_return"]), rel=1e-12)
    assert wf.returns.index.is_unique and wf.returns.index.is_monotonic_increasing
    assert (wf.trades["direction"].abs() == 1).all() and (wf.trades["open"] <= wf.trades["close"]).all()


def test_holdout_reported_apart(wf, px):
    assert wf.returns.index[-1] < pd.Timestamp("2003-01-01") <= wf.holdout_returns.index[0]
    assert wf.holdout_returns.index[-1] == px.index[-1]
    h = wf.holdout.iloc[0]
    assert h["train_end"] < pd.Timestamp("2003-01-01") and h["test_start"] >= pd.Timestamp("2003-01-01")
    assert set(wf.holdout_trades["window"]) <= {h["window"]}
    assert "holdout_return" in wf.summary()


def test_costs_cost_money(px):
    kw = dict(train="2Y", test="1Y", select=SelectConfig(top=3), executor=None)
    free, paid = walk_forward(px, **kw), walk_forward(px, half_spread_bps=5.0, slippage_bps=5.0, **kw)
    assert paid.equity.iloc[-1] < free.equity.iloc[-1]


# ---------------------------------------------------------------- no look-ahead
def test_future_data_does_not_change_past_windows(px, wf):
    "Perturb every price after window 2's test end: windows 0-2 keep their selection, parameters, trades and returns."
    cut = wf.windows["test_end"].iloc[2]
    rng = np.random.default_rng(0)
    bent = px.copy()
    after = bent.index > cut
    bent.loc[after] = bent.loc[after].to_numpy() * np.exp(np.cumsum(rng.normal(0, 0.02, (after.sum(), px.shape[1])), axis=0))
    other = walk_forward(bent, train="2Y", test="1Y", holdout="2003", select=SelectConfig(top=4),
                         bands=((1.5, 0.0), (2.0, 0.5)), half_spread_bps=1.0, executor=None)
    keep = lambda t: t[t["window"] <= 2].reset_index(drop=True)  # noqa: E731
    for t in ("windows", "selections", "trials", "trades"):
        pdt.assert_frame_equal(keep(getattr(wf, t)), keep(getattr(other, t)), check_exact=True)
    pdt.assert_series_equal(wf.returns[:cut], other.returns[:cut], check_exact=True)
    assert not wf.windows.iloc[3:].equals(other.windows.iloc[3:])        # the perturbation did reach later windows


def test_holdout_data_touches_no_tuning(px, wf):
    "Perturb the holdout: every walk-forward table, and the holdout's own selection and parameters, stay the same."
    bent = px.copy()
    h = bent.index >= pd.Timestamp("2003-01-01")
    bent.loc[h] = bent.loc[h].to_numpy() * np.random.default_rng(1).uniform(0.8, 1.2, (h.sum(), px.shape[1]))
    other = walk_forward(bent, train="2Y", test="1Y", holdout="2003", select=SelectConfig(top=4),
                         bands=((1.5, 0.0), (2.0, 0.5)), half_spread_bps=1.0, executor=None)
    for t in ("windows", "selections", "trials", "trades"):
        pdt.assert_frame_equal(getattr(wf, t), getattr(other, t), check_exact=True)
    pdt.assert_series_equal(wf.returns, other.returns, check_exact=True)
    cols = ["train_start", "train_end", "n_selected", "pairs", "pvalues", "entry", "exit", "train_sharpe"]
    pdt.assert_frame_equal(wf.holdout[cols], other.holdout[cols], check_exact=True)
    assert not wf.holdout_returns.equals(other.holdout_returns)


# ---------------------------------------------------------------- executors and reproducibility
def test_same_result_serial_processes_and_dask(px, wf):
    kw = dict(train="2Y", test="1Y", holdout="2003", select=SelectConfig(top=4), bands=((1.5, 0.0), (2.0, 0.5)),
              half_spread_bps=1.0)
    same(wf, walk_forward(px, executor=None, **kw))                # same data, same result
    with ProcessPoolExecutor(max_workers=2) as pool:
        same(wf, walk_forward(px, executor=pool, **kw))
    same(wf, walk_forward(px, executor="auto", **kw))
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        same(wf, walk_forward(px, executor=client, **kw))
        same(wf, walk_forward(px, executor=client.get_executor(), **kw))


# ---------------------------------------------------------------- edge cases and bad input
def test_empty_selection_is_a_flat_window_with_a_note():
    rng = np.random.default_rng(0)
    ix = pd.bdate_range("2001-01-01", periods=800)
    walks = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (800, 2)), axis=0)), index=ix, columns=["A", "B"])
    r = walk_forward(walks, train=250, test=250, executor=None)
    assert (r.windows["n_selected"] == 0).all() and (r.windows["note"] == "no pair passed the selection").all()
    assert (r.returns == 0).all() and r.trades.empty and r.summary()


def test_columns_missing_in_training_are_left_out(px):
    p = px.copy()
    p.loc[:"1996-06-30", "KO"] = np.nan                       # KO lists mid-1996
    r = walk_forward(p, train="2Y", test="1Y", select=SelectConfig(top=4), executor=None)
    first = r.selections[r.selections["window"] == 0]
    assert not ((first["y"] == "KO") | (first["x"] == "KO")).any()
    assert r.windows["n_candidates"].iloc[0] == 21           # 7 complete columns
    assert r.windows["n_candidates"].iloc[2] == 28           # KO is complete from the third training window


def test_rows_without_prices_are_not_bars(px):
    p = px.copy()
    p.loc["1996-03-01":"1996-03-10"] = np.nan               # a market-wide gap
    kw = dict(train="2Y", test="1Y", select=SelectConfig(top=4), executor=None)
    r = walk_forward(p, **kw)
    assert (r.windows["n_candidates"] == 28).all()
    same(r, walk_forward(p.dropna(how="all"), **kw))          # the same study as without those rows


@pytest.mark.parametrize("kw, err, msg", [
    ({"prices": "x"}, TypeError, "prices must be"),
    ({"train": "30Y"}, ValueError, "is longer than"),
    ({"holdout": "1990"}, ValueError, "before the holdout"),
    ({"bands": ()}, ValueError, "at least one"),
    ({"bands": ((1.0, 2.0),)}, ValueError, "bands: entry must be > bands: exit"),
    ({"bands": ((2.0, 0.5), (2.0, 0.5))}, ValueError, "bands must be distinct"),
    ({"bands": ((2.0,),)}, ValueError, r"\(entry, exit\) pairs"),
    ({"select": {"top": 3}}, TypeError, "select must be"),
    ({"warmup": -1}, ValueError, "warmup"),
    ({"initial_cash": 0}, ValueError, "initial_cash"),
    ({"executor": "dask"}, ValueError, "executor"),
    ({"executor": 3}, TypeError, "executor must be"),
])
def test_bad_input(px, kw, err, msg):
    args = {"prices": px, "train": "2Y", "test": "1Y", "executor": None, **kw}
    with pytest.raises(err, match=msg):
        walk_forward(**args)


def test_bad_prices_and_select():
    ix = pd.bdate_range("2001-01-01", periods=50)
    with pytest.raises(ValueError, match="at least 2 columns"):
        walk_forward(pd.DataFrame({"A": 1.0 + np.arange(50)}, index=ix))
    with pytest.raises(ValueError, match="strictly positive"):
        walk_forward(pd.DataFrame({"A": -1.0, "B": 1.0}, index=ix))
    with pytest.raises(ValueError, match="top must be >= 1"):
        SelectConfig(top=0)
    with pytest.raises(ValueError, match="max_pvalue must be in"):
        SelectConfig(max_pvalue=1.5)


def test_bench_walkforward_quick():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_walkforward.py"), "--quick"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "serial" in run.stdout and "ratio" in run.stdout


# ---------------------------------------------------------------- run records (scans, OU, decisions, fills, costs)
def test_scans_hold_every_pair_and_mark_the_selection(wf, px):
    for w in wf.windows.itertuples():
        sc = wf.scans[wf.scans["window"] == w.window]
        assert len(sc) == 28 and set(sc["segment"]) == {"walk-forward"}
        tr = px.loc[w.train_start:w.train_end]
        full = scan_pairs(tr, log=True, executor=None, progress=False)      # unfiltered: every p-value
        np.testing.assert_array_equal(sc["pvalue"].to_numpy(), full["pvalue"].to_numpy())
        assert tuple(f"{a}/{b}" for a, b in zip(sc.loc[sc["selected"], "y"], sc.loc[sc["selected"], "x"])) == w.pairs
    assert set(wf.scans.loc[wf.scans["window"] == wf.holdout["window"].iloc[0], "segment"]) == {"holdout"}


def test_ou_fit_of_the_selected_spreads(wf, px):
    from statarb.alpha.ou import fit_ou
    s = wf.selections.iloc[0]
    w = wf.windows.set_index("window").loc[s["window"]]
    tr = np.log(px.loc[w.train_start:w.train_end])
    row = scan_pairs(tr, log=False, executor=None, progress=False).set_index(["y", "x"]).loc[(s["y"], s["x"])]
    f = fit_ou(tr[s["y"]] - row["hedge_ratio"] * tr[s["x"]] - row["intercept"], dt=1.0)
    np.testing.assert_allclose([s["ou_theta"], s["ou_mu"], s["ou_sigma"], s["ou_half_life"]],
                               [f.theta, f.mu, f.sigma, f.half_life], rtol=1e-9)
    assert (wf.selections["ou_half_life"].between(1, 126)).all()


def test_ou_filter_refuses_and_says_why(px):
    kw = dict(train="2Y", test="1Y", bands=((2.0, 0.5),), executor=None)
    loose = walk_forward(px, select=SelectConfig(top=4, half_life_range=None), **kw)
    # a half-life cap is enforced on the OU fit too: no traded pair beyond it, and the refusals are named
    tight = walk_forward(px, select=SelectConfig(top=4, half_life_range=(1, 10)), **kw)
    assert (tight.selections["ou_half_life"] <= 10).all()
    assert (loose.selections["ou_half_life"] > 10).any()
    off = walk_forward(px, select=SelectConfig(top=4, half_life_range=None, ou_filter=False), **kw)
    pdt.assert_frame_equal(off.selections, loose.selections)


def test_decisions_fills_and_costs_agree_with_the_trades(wf, px):
    d = wf.decisions[wf.decisions["segment"] == "walk-forward"]
    assert set(d["pair"]) == set(wf.selections["pair"])
    for (w, pair), g in d.groupby(["window", "pair"]):
        y, x = pair.split("/")
        p = px.loc[g["timestamp"].dt.tz_localize(None)]
        np.testing.assert_allclose(g["spread"].to_numpy(), p[y].to_numpy() - g["beta"].to_numpy() * p[x].to_numpy())
        opens = wf.trades[(wf.trades["window"] == w) & (wf.trades["pair"] == pair)]
        pos = g.set_index("timestamp")["position"]
        for t in opens.itertuples():                # a trade opens at the bar after the decision that changed the position
            assert pos.loc[:t.open].iloc[-2] == t.direction
    c = wf.costs.groupby(["window", "pair"])[["fee", "spread_cost", "slippage_cost"]].sum()
    f = wf.fills.groupby(["window", "pair"])[["fee", "spread_cost", "slippage_cost"]].sum()
    pdt.assert_frame_equal(c.loc[f.index], f, rtol=1e-12)
    assert wf.costs["spread_cost"].sum() > 0


def test_event_engine_and_fast_twin_give_the_same_study(px, wf):
    kw = dict(train="2Y", test="1Y", holdout="2003", select=SelectConfig(top=4), bands=((1.5, 0.0), (2.0, 0.5)),
              half_spread_bps=1.0, executor=None)
    fast = walk_forward(px, engine="fast", **kw)
    same(fast, wf)
    for t in ("decisions", "fills", "costs", "scans"):
        pdt.assert_frame_equal(getattr(fast, t), getattr(wf, t), check_exact=True)
    with pytest.raises(ValueError, match="engine must be one of"):
        walk_forward(px, engine="vector", **kw)
