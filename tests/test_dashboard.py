"""statarb.dashboard: the run folder loader, the figure builders checked against the run's own files, the trade
filters, the Streamlit page under `streamlit.testing.v1.AppTest`, and the served page in a headless Chromium."""
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import chromium_driver

import statarb.cli
from statarb import dashboard as db

UNIVERSE = ["KO", "PEP", "XOM", "CVX", "JPM", "BAC", "PG", "WMT"]
START, END, HOLDOUT = "2005-01-01", "2012-12-31", "2012-01-01"
OPTIONAL_PARQUET = [f for f in db.OPTIONAL_FILES if f.endswith(".parquet")]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    "A real run folder: `statarb run` on eight bundled stocks, 2005-2012, 2Y train / 1Y test windows, 2012 held out."
    tmp = tmp_path_factory.mktemp("reports")
    res = statarb.cli.run_pipeline(UNIVERSE, START, END, train="2Y", test="1Y", holdout=HOLDOUT, reports_dir=tmp,
                                   run_id="t", store_dir=tmp / "store", executor=None, progress=False)
    return Path(res.folder)


@pytest.fixture(scope="session")
def run(run_dir) -> db.RunData:
    return db.load_run(run_dir)


@pytest.fixture(scope="session")
def partial_dir(run_dir, tmp_path_factory) -> Path:
    "The run folder with only the four required files."
    out = tmp_path_factory.mktemp("partial") / "partial"
    out.mkdir()
    for f in db.REQUIRED_FILES:
        shutil.copy(run_dir / f, out / f)
    return out


# ---------------------------------------------------------------- load_run

def test_load_run_reads_every_file(run_dir, run):
    assert run.run_id == run_dir.name
    assert run.missing == ()
    assert run.metrics == json.loads((run_dir / "metrics.json").read_text())
    assert run.config == json.loads((run_dir / "config.json").read_text())
    for f in OPTIONAL_PARQUET:
        frame = getattr(run, f.split(".")[0])
        assert len(frame) == len(pd.read_parquet(run_dir / f)), f
    raw = pd.read_parquet(run_dir / "trades.parquet")
    pd.testing.assert_series_equal(run.trades["pnl"], raw["pnl"])
    assert str(run.trades["open"].dt.tz) == "UTC" and str(run.equity.index.tz) == "UTC"
    assert run.equity.index.is_monotonic_increasing
    assert set(run.equity["segment"]) == {"walk-forward", "holdout"} == set(run.trades["segment"])
    assert run.fingerprint == (run_dir / "fingerprint.txt").read_text().strip()
    assert "RunData" in run.summary() and f"trades         {len(raw)}" in run.summary()
    assert run.pairs == sorted(set(raw["pair"]) | set(run.decisions["pair"]) | set(run.costs["pair"]))


def test_load_run_partial_folder(partial_dir):
    r = db.load_run(partial_dir)
    assert set(r.missing) == set(db.OPTIONAL_FILES)
    assert r.decisions is None and r.scan is None and r.costs is None and r.fingerprint is None
    for f, call in [("decisions.parquet", lambda: db.spread_figure(r, r.trades["pair"].iloc[0])),
                    ("scan.parquet", lambda: db.pvalue_heatmap(r)), ("costs.parquet", lambda: db.cost_figure(r))]:
        with pytest.raises(ValueError, match=f"needs {f}, which run 'partial' does not have"):
            call()
    assert len(db.pair_pnl_figure(r).data) == 2 and len(db.equity_figure(r).data) == 3


def test_load_run_errors(run_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        db.load_run(tmp_path / "nope")
    with pytest.raises(NotADirectoryError, match="is a file"):
        db.load_run(run_dir / "metrics.json")
    with pytest.raises(TypeError, match="run_dir must be str or PathLike; got"):
        db.load_run(None)
    with pytest.raises(FileNotFoundError, match="holds the run folders \\['t'\\]: pass one of them"):
        db.load_run(run_dir.parent)
    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    (bad / "trades.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="not a statarb run folder: trades.parquet missing"):
        db.load_run(bad)
    pd.read_parquet(run_dir / "trades.parquet").drop(columns=["pnl"]).to_parquet(bad / "trades.parquet")
    with pytest.raises(ValueError, match=r"trades.parquet in .* lacks column\(s\) \['pnl'\]"):
        db.load_run(bad)
    shutil.copy(run_dir / "trades.parquet", bad / "trades.parquet")
    pd.read_parquet(run_dir / "scan.parquet").drop(columns=["pvalue"]).to_parquet(bad / "scan.parquet")
    with pytest.raises(ValueError, match=r"scan.parquet in .* lacks column\(s\) \['pvalue'\]"):
        db.load_run(bad)
    shutil.copy(run_dir / "scan.parquet", bad / "scan.parquet")
    (bad / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="metrics.json in .* is not valid JSON"):
        db.load_run(bad)
    (bad / "metrics.json").write_text('{"sharpe_ratio": [1]}')
    with pytest.raises(ValueError, match="must map names to numbers, strings or null"):
        db.load_run(bad)
    (bad / "metrics.json").write_text("{}")
    (bad / "equity.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="equity.parquet in .* is not a readable Parquet file"):
        db.load_run(bad)
    pd.DataFrame({"equity": [1.0, 2.0]}).to_parquet(bad / "equity.parquet")
    with pytest.raises(ValueError, match="equity.parquet in .* must be indexed by timestamp; got a RangeIndex"):
        db.load_run(bad)


def test_load_run_interim_layout(run_dir, tmp_path):
    "A folder of the interim pipeline: equity without returns/segment, trades without segment."
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    eq = pd.read_parquet(old / "equity.parquet")[["equity"]]
    eq.to_parquet(old / "equity.parquet")
    pd.read_parquet(old / "trades.parquet").drop(columns=["segment"], errors="ignore").to_parquet(old / "trades.parquet")
    r = db.load_run(old)
    np.testing.assert_allclose(r.equity["returns"].to_numpy()[1:], eq["equity"].pct_change().to_numpy()[1:], rtol=1e-12)
    assert set(r.trades["segment"]) == {"walk-forward"} and set(r.equity["segment"]) == {"walk-forward"}


# ---------------------------------------------------------------- figures against the run's files

def test_equity_figure(run):
    fig = db.equity_figure(run)
    eq = run.equity
    lines = [t for t in fig.data if t.name.startswith("equity")]
    assert [t.name for t in lines] == ["equity (walk-forward)", "equity (holdout)"]
    np.testing.assert_array_equal(np.concatenate([np.asarray(t.y) for t in lines]), eq["equity"].to_numpy())
    hold = eq.index[eq["segment"] == "holdout"]
    np.testing.assert_array_equal(pd.to_datetime(pd.Series(lines[1].x), utc=True), hold)
    assert {pd.Timestamp(s.x0) for s in fig.layout.shapes} == {hold[0]}        # the holdout marker
    dd = np.asarray(fig.data[-1].y, dtype=float)
    # oracle: the drawdown recomputed by hand from the equity, and the run's own max_drawdown metric (walk-forward)
    peak = np.maximum.accumulate(eq["equity"].to_numpy())
    np.testing.assert_allclose(dd, eq["equity"].to_numpy() / peak - 1.0, rtol=0, atol=1e-15)
    wf = (eq["segment"] == "walk-forward").to_numpy()
    assert dd[wf].min() == pytest.approx(run.metrics["max_drawdown"], rel=1e-9)
    assert dd.max() == 0.0 and dd.min() <= dd[wf].min()


def test_pvalue_heatmap_equals_scan(run):
    for w in sorted(run.scan["window"].unique()):
        fig = db.pvalue_heatmap(run, int(w))
        hm = fig.data[0]
        z = pd.DataFrame(hm.z, index=hm.y, columns=hm.x).astype(float)
        s = run.scan[run.scan["window"] == w]
        assert [z.at[min(r.y, r.x), max(r.y, r.x)] for r in s.itertuples()] == s["pvalue"].tolist()
        assert int(np.isfinite(z.to_numpy()).sum()) == len(s)
        labels = pd.DataFrame(hm.customdata, index=hm.y, columns=hm.x)
        assert sorted(labels.to_numpy()[np.isfinite(z.to_numpy())]) == sorted(f"{r.y} on {r.x}" for r in s.itertuples())
        sel = s[s["selected"]]
        assert sorted(zip(fig.data[1].y, fig.data[1].x)) == sorted((min(a, b), max(a, b)) for a, b in zip(sel["y"], sel["x"]))
        assert fig.layout.title.text.endswith(", holdout") == (set(s["segment"]) == {"holdout"})
    assert db.pvalue_heatmap(run).layout.title.text.startswith(f"Engle-Granger p-values, training window {run.scan['window'].max()}")
    with pytest.raises(ValueError, match="window 99 is not in the scan"):
        db.pvalue_heatmap(run, 99)


def test_pvalues_match_the_selections(run):
    "Cross-file check: each selected pair's p-value in the heatmap is the one selections.parquet recorded."
    if run.selections is None or "pvalue" not in run.selections:
        pytest.skip("run has no selections.parquet with pvalue")
    for r in run.selections.itertuples():
        m = db.pvalue_matrix(run, int(r.window))
        assert m.at[min(r.y, r.x), max(r.y, r.x)] == pytest.approx(r.pvalue, rel=1e-9)


def test_pair_pnl_sums_trades(run):
    fig = db.pair_pnl_figure(run)
    assert [t.name for t in fig.data] == ["walk-forward", "holdout"]
    for t in fig.data:
        want = run.trades[run.trades["segment"] == t.name].groupby("pair")["pnl"].sum()
        got = dict(zip(t.y, t.x))
        assert got.keys() == set(want.index)
        for p, v in want.items():
            assert got[p] == pytest.approx(v, rel=1e-12)
    total = sum(float(np.sum(t.x)) for t in fig.data)
    assert total == pytest.approx(run.trades["pnl"].sum(), rel=1e-9)
    one = db.pair_pnl_figure(run, "holdout")
    assert [t.name for t in one.data] == ["holdout"] and one.layout.title.text == "PnL per pair (holdout)"
    tab = db.pair_pnl(run)
    assert tab["trades"].sum() == len(run.trades) and tab["closed"].sum() == run.trades["closed"].sum()
    assert tab["pnl"].is_monotonic_decreasing


def test_cost_figure_sums_costs(run):
    fig = db.cost_figure(run)
    assert [t.name for t in fig.data] == ["fee", "spread", "slippage", "borrow"]
    by_pair = run.costs.groupby("pair")[list(db.COST_COLUMNS)].sum()
    for t, k in zip(fig.data, db.COST_COLUMNS):
        np.testing.assert_allclose(np.asarray(t.y, dtype=float), by_pair.loc[list(t.x), k].to_numpy(), rtol=1e-12)
    tab = db.cost_table(run)
    assert tab["total"].sum() == pytest.approx(run.costs[list(db.COST_COLUMNS)].to_numpy().sum(), rel=1e-9)
    # the walk-forward costs are the run's costs_* metrics
    wf = db.cost_table(run, "walk-forward").sum()
    for k, m in (("fee", "costs_fees"), ("spread_cost", "costs_spread"), ("slippage_cost", "costs_slippage"),
                 ("borrow", "costs_borrow"), ("total", "costs_total")):
        assert wf[k] == pytest.approx(run.metrics[m], rel=1e-9), k
    # the fills and the per-pair costs agree where both exist: fee, spread and slippage are sums of the fills
    if run.fills is not None:
        f = run.fills.groupby("pair")[["fee", "spread_cost", "slippage_cost"]].sum()
        np.testing.assert_allclose(f.to_numpy(), by_pair.loc[f.index, ["fee", "spread_cost", "slippage_cost"]].to_numpy(),
                                   rtol=1e-9)


def _markers(fig, row_axis="y2"):
    return {t.name: pd.to_datetime(pd.Series(t.x, dtype=object), utc=True) for t in fig.data
            if t.mode == "markers" and t.yaxis == row_axis}


def test_spread_figure_marks_trades(run):
    dec = run.decisions
    zs = dec.set_index(["window", "pair", "timestamp"])
    for pair in sorted(set(run.trades["pair"]) & set(dec["pair"])):
        fig = db.spread_figure(run, pair)
        t = run.trades[(run.trades["pair"] == pair) & run.trades["window"].isin(dec.loc[dec["pair"] == pair, "window"])]
        for axis in ("y", "y2"):
            m = _markers(fig, axis)
            assert sorted(pd.concat([m["open long"], m["open short"]])) == sorted(t["open"])
            assert sorted(m["close"]) == sorted(t.loc[t["closed"], "close"])
        # marker heights are the decisions' z-score (bottom) and spread (top) at that bar of that window
        for name, rows in (("open long", t[t["direction"] > 0]), ("open short", t[t["direction"] < 0])):
            for axis, col in (("y", "spread"), ("y2", "zscore")):
                tr = next(x for x in fig.data if x.name == name and x.yaxis == axis)
                want = [zs.at[(w, pair, ts), col] for w, ts in zip(rows["window"], rows["open"])]
                np.testing.assert_allclose(np.asarray(tr.y, dtype=float), want, rtol=1e-12)
        lines = [x for x in fig.data if x.mode == "lines" and x.yaxis == "y2"]
        assert sum(len(x.x) for x in lines) == int((dec["pair"] == pair).sum())


def test_spread_figure_window_and_bands(run):
    dec = run.decisions
    pair = dec["pair"].iloc[0]
    w = int(dec.loc[dec["pair"] == pair, "window"].iloc[0])
    fig = db.spread_figure(run, pair, w)
    d = dec[(dec["pair"] == pair) & (dec["window"] == w)]
    np.testing.assert_array_equal(np.asarray(fig.data[1].y, dtype=float), d.sort_values("timestamp")["zscore"].to_numpy())
    levels = sorted({round(s.y0, 12) for s in fig.layout.shapes})
    e, x = float(d["entry"].iloc[0]), float(d["exit"].iloc[0])
    assert levels == sorted({-e, -x, x, e})
    with pytest.raises(ValueError, match="pair 'AAA/BBB' is not in the decisions of run 't'"):
        db.spread_figure(run, "AAA/BBB")
    with pytest.raises(ValueError, match="window 99 is not in the decisions of"):
        db.spread_figure(run, pair, 99)
    with pytest.raises(TypeError, match="pair must be str"):
        db.spread_figure(run, 3)


# ---------------------------------------------------------------- filters

def test_filter_trades(run):
    t = run.trades
    pair = t["pair"].value_counts().index[0]
    got = db.filter_trades(run, pair=pair, direction="long", status="closed")
    pd.testing.assert_frame_equal(got, t[(t["pair"] == pair) & (t["direction"] == 1) & t["closed"]])
    assert len(db.filter_trades(t, direction=-1)) == int((t["direction"] == -1).sum())
    assert len(db.filter_trades(t, status="open")) == int((~t["closed"]).sum())
    w = sorted(t["window"].unique())[:2]
    pd.testing.assert_frame_equal(db.filter_trades(t, window=w), t[t["window"].isin(w)])
    # date range on the opening time, end date inclusive; the same with tz-aware timestamps
    y = db.filter_trades(t, start="2009-01-01", end="2009-12-31")
    pd.testing.assert_frame_equal(y, t[t["open"].dt.year == 2009])
    pd.testing.assert_frame_equal(db.filter_trades(t, start=pd.Timestamp("2009-01-01", tz="UTC"),
                                                   end=pd.Timestamp("2009-12-31", tz="UTC")), y)
    assert len(db.filter_trades(t, pair=list(t["pair"].unique()))) == len(t)
    assert len(db.filter_trades(t, segment="holdout")) == int((t["segment"] == "holdout").sum())
    pd.testing.assert_frame_equal(db.filter_trades(t), t)


def test_filter_trades_errors(run):
    with pytest.raises(ValueError, match=r"pair \['ZZ/YY'\] not among the trades' pairs"):
        db.filter_trades(run, pair="ZZ/YY")
    with pytest.raises(ValueError, match="direction must be 'long', 'short', 1 or -1; got 0"):
        db.filter_trades(run, direction=0)
    with pytest.raises(ValueError, match="status must be 'closed', 'open' or None; got 'all'"):
        db.filter_trades(run, status="all")
    with pytest.raises(ValueError, match="start 2011-01-01 is after end 2010-01-01"):
        db.filter_trades(run, start="2011-01-01", end="2010-01-01")
    with pytest.raises(TypeError, match="window must be int or integer"):
        db.filter_trades(run, window="1")
    with pytest.raises(ValueError, match="end must be a date or timestamp; got 'soon'"):
        db.filter_trades(run, end="soon")
    with pytest.raises(TypeError, match="trades must be DataFrame"):
        db.filter_trades({"pair": []})


def test_key_metrics_and_config(run):
    km = db.key_metrics(run)
    assert km["total return"] == f"{run.metrics['total_return']:.2%}"
    assert km["Sharpe"] == f"{run.metrics['sharpe_ratio']:.2f}"
    assert km["holdout return"] == f"{run.metrics['holdout_return']:.2%}"
    n_hold = int((run.trades["segment"] == "holdout").sum())
    assert km["trades"] == f"{run.metrics['trades']:,d}" and km["holdout trades"] == f"{n_hold:,d}"
    assert km["open at the end"] == f"{int((~run.trades['closed']).sum()):,d}"
    cf = db.config_frame(run).set_index("key")
    assert json.loads(cf.at["symbols", "value"]) == UNIVERSE
    assert float(cf.at["costs.borrow_bps", "value"]) == run.config["run"]["costs"]["borrow_bps"]
    hl = db.config_highlights(run)
    assert hl["symbols"] == f"{len(UNIVERSE)}: " + ", ".join(UNIVERSE)
    assert (hl["train"], hl["test"], hl["holdout"]) == ("2Y", "1Y", HOLDOUT)
    # a run without a holdout
    wf = run.trades[run.trades["segment"] == "walk-forward"]
    r1 = db.RunData(**{**run.__dict__, "trades": wf, "metrics": {**run.metrics, "holdout_return": None, "holdout_sharpe": None}})
    km1 = db.key_metrics(r1)
    assert km1["holdout return"] == km1["holdout Sharpe"] == km1["holdout trades"] == "n/a"
    # a config.json of another layout still flattens
    r2 = db.RunData(**{**run.__dict__, "config": {"arguments": {"train": "3Y"}, "settings": {"costs": {"fee": 1}}, "v": 2}})
    assert db.config_frame(r2).values.tolist() == [["arguments", "train", "3Y"], ["settings", "costs.fee", "1"], ["", "v", "2"]]


# ---------------------------------------------------------------- launch

def test_launch_validates_and_runs(run_dir, monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        db.launch(tmp_path / "none")
    seen = {}

    def fake_run(cmd, check):
        seen["cmd"] = cmd
        return subprocess.CompletedProcess(cmd, 3)

    monkeypatch.setattr(db.subprocess, "run", fake_run)
    assert db.launch(run_dir, port=8765) == 3
    cmd = seen["cmd"]
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"] and Path(cmd[4]) == Path(db.__file__)
    assert cmd[cmd.index("--server.port") + 1] == "8765" and cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[-2:] == ["--", str(run_dir.resolve())]
    with pytest.raises(ValueError, match="port must be <= 65535"):
        db.launch(run_dir, port=65536)
    with pytest.raises(TypeError, match="headless must be True or False"):
        db.launch(run_dir, headless="yes")


# ---------------------------------------------------------------- the Streamlit page (AppTest)

def _page(run_dir):
    from statarb.dashboard import app
    app(run_dir)


def _app(run_dir):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_function(_page, args=(str(run_dir),), default_timeout=60)
    return at.run()


def _charts(at) -> list:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def test_app_full_run(run_dir, run):
    at = _app(run_dir)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert at.title[0].value == f"statarb run {run.run_id}"
    assert len(at.metric) == len(db.key_metrics(run))
    assert len(at.get("plotly_chart")) == 5          # equity, spread, p-values, pnl, costs
    titles = [c["layout"]["title"]["text"] for c in _charts(at)]
    assert titles[0].startswith("Equity and drawdown") and titles[2].startswith("Engle-Granger p-values")
    assert {s.key for s in at.selectbox} >= {"spread_pair", "spread_window", "scan_window", "trades_direction", "trades_status"}
    assert not at.info                                # every panel has its file
    trades = at.dataframe[-1].value
    assert len(trades) == len(run.trades)

    # a filter changes the trade table
    pair = run.trades["pair"].value_counts().index[0]
    at.multiselect(key="trades_pair").select(pair).run()
    shown = at.dataframe[-1].value
    assert len(shown) == int((run.trades["pair"] == pair).sum()) < len(run.trades)
    assert set(shown["pair"]) == {pair}
    at.selectbox(key="trades_direction").select("short").run()
    shown = at.dataframe[-1].value
    assert len(shown) == int(((run.trades["pair"] == pair) & (run.trades["direction"] == -1)).sum())
    assert f"{len(shown):,} of {len(run.trades):,} trades" in at.caption[-1].value
    at.selectbox(key="trades_segment").select("holdout").run()
    t = run.trades
    want = t[(t["pair"] == pair) & (t["direction"] == -1) & (t["segment"] == "holdout")]
    assert len(at.dataframe[-1].value) == len(want)
    at.multiselect(key="trades_pair").unselect(pair).run()
    at.selectbox(key="trades_direction").select("all").run()
    assert len(at.dataframe[-1].value) == int((t["segment"] == "holdout").sum())

    # the segment switch drives the PnL and cost charts
    at.radio(key="pair_segment").set_value("holdout").run()
    charts = _charts(at)
    assert charts[3]["layout"]["title"]["text"] == "PnL per pair (holdout)"
    assert charts[4]["layout"]["title"]["text"].startswith("Costs per pair (holdout)")

    # the spread selectors drive the spread chart
    sp = at.selectbox(key="spread_pair")
    other = [p for p in sp.options if p != sp.value][0]
    sp.select(other).run()
    assert _charts(at)[1]["layout"]["title"]["text"] == f"{other}: spread and z-score"
    w = at.selectbox(key="spread_window").options[1]
    at.selectbox(key="spread_window").select(w).run()
    assert _charts(at)[1]["layout"]["title"]["text"] == f"{other}: spread and z-score, window {w}"
    first = str(sorted(run.scan["window"].unique())[0])
    at.selectbox(key="scan_window").select(first).run()
    assert f"training window {first}" in _charts(at)[2]["layout"]["title"]["text"]
    assert not at.exception


def test_app_partial_run_shows_notices(partial_dir):
    at = _app(partial_dir)
    assert not at.exception and not at.error
    notices = [i.value for i in at.info]
    assert len(notices) == 3
    for f in ("decisions.parquet", "scan.parquet", "costs.parquet"):
        assert any(f in n for n in notices), f
    assert len(at.get("plotly_chart")) == 2          # equity, pnl


def test_app_bad_folder_shows_error(tmp_path):
    at = _app(tmp_path)
    assert not at.exception
    assert "is not a statarb run folder" in at.error[0].value


def test_script_entry(run_dir, monkeypatch):
    "The file itself, run by Streamlit as `streamlit run statarb/dashboard.py -- <run_dir>`."
    from streamlit.testing.v1 import AppTest
    monkeypatch.setattr(sys, "argv", [db.__file__])
    at = AppTest.from_file(db.__file__, default_timeout=60).run()
    assert not at.exception and at.error[0].value.startswith("usage: streamlit run statarb/dashboard.py -- ")
    monkeypatch.setattr(sys, "argv", [db.__file__, str(run_dir)])
    at = AppTest.from_file(db.__file__, default_timeout=60).run()
    assert not at.exception and not at.error
    assert at.title[0].value == "statarb run t" and len(at.get("plotly_chart")) == 5


# ---------------------------------------------------------------- the served page in a headless browser

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser():
    driver = chromium_driver(window_size="1400,2400")
    yield driver
    driver.quit()


def test_dashboard_renders_in_browser(browser, request, tmp_path):
    from PIL import Image
    from selenium.webdriver.support.ui import WebDriverWait

    run_dir = request.getfixturevalue("run_dir")     # after the browser check: a skip does not build the run

    port = _free_port()
    log = open(tmp_path / "streamlit.log", "w")
    proc = subprocess.Popen(db.launch_command(run_dir, port=port), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}: {(tmp_path / 'streamlit.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        browser.get(f"http://127.0.0.1:{port}/")
        n_plots = """return Array.from(document.querySelectorAll('.js-plotly-plot'))
                      .filter(e => e.querySelector('svg.main-svg .cartesianlayer .trace') !== null).length"""
        WebDriverWait(browser, 90, poll_frequency=0.5).until(lambda d: d.execute_script(n_plots) >= 5)
        assert browser.execute_script(n_plots) >= 5
        text = browser.find_element("tag name", "body").text
        assert "statarb run t" in text and "Trade log" in text and "Traceback" not in text
        n_points = browser.execute_script("return document.querySelectorAll('.js-plotly-plot .scatterlayer path').length")
        assert n_points > 0
        time.sleep(1.0)                               # let the last chart finish its transition
        png = tmp_path / "dashboard.png"
        assert browser.save_screenshot(str(png))
        img = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert img.shape[0] > 500 and img.shape[1] > 500
        assert img.std() > 10, f"screenshot {png} looks blank (pixel std {img.std():.2f})"
        assert len(np.unique(img)) > 50
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
