"""statarb.risk.report: the tearsheet of a real backtest (KO/PEP + XOM/CVX on the bundled closes, S&P 500 benchmark).

Oracles: pandas resampling for the monthly table, the engine's own books (fills, per-group report, equity) for the
trades, costs and contributions, a hand-worked round trip, quantstats-free independent recomputations; the HTML file
is parsed with html.parser and checked to be self-contained; every figure has data on its axes; every error path.
"""
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from statarb.alpha.kalman import KalmanHedge
from statarb.data.sources import load_sample
from statarb.engine.backtest import run_backtest
from statarb.engine.data_handler import DataHandler
from statarb.engine.execution import ExecutionHandler, Fees, FixedSpread, VolatilitySlippage
from statarb.engine.portfolio import FixedNotional, Portfolio
from statarb.engine.strategy import PairsStrategy
from statarb.risk.attribution import rolling_beta
from statarb.risk.metrics import UndefinedMetricWarning, performance_summary, rolling_sharpe
from statarb.risk.report import Tearsheet, monthly_returns, round_trips, tearsheet


def _backtest(px, cash_rate=0.0):
    dh = DataHandler.from_wide(px)
    strat = PairsStrategy(dh, [("KO", "PEP"), ("XOM", "CVX")], hedge="kalman", window=30, entry=1.5, exit=0.3, stop=4.0,
                          kalman=KalmanHedge(delta=1e-6, observation_covariance=0.2, initial_state_covariance=np.eye(2) * 10.0))
    pf = Portfolio(dh, initial_cash=1_000_000.0, sizing=FixedNotional(100_000.0, lot=1.0), borrow=0.005, cash_rate=cash_rate)
    ex = ExecutionHandler(dh, spread=FixedSpread(2.0), slippage=VolatilitySlippage(k=0.05, window=20), fees=Fees.from_config())
    return run_backtest(dh, strat, pf, ex), pf


@pytest.fixture(scope="module")
def px():
    return load_sample("sp500_20stocks").loc["2015":, ["KO", "PEP", "XOM", "CVX"]]


@pytest.fixture(scope="module")
def spx():
    return load_sample("sp500_index")["SP500"].pct_change().fillna(0.0)


@pytest.fixture(scope="module")
def run(px):
    # 2% a year on cash, so the contribution identity has an interest term to leave out
    return _backtest(px, cash_rate=0.02)


@pytest.fixture(scope="module")
def ts(run, spx):
    return tearsheet(run[0], benchmark=spx, title="KO/PEP + XOM/CVX <test & check>")


def test_monthly_table_equals_pandas_resample(ts, run):
    r = run[0].returns
    rs = (1 + r).resample("ME").prod() - 1
    m = ts.tables["monthly"]
    got = pd.Series({(y, mo): m.loc[y, m.columns[mo - 1]] for y in m.index for mo in range(1, 13)}).dropna()
    want = pd.Series(rs.to_numpy(), index=pd.MultiIndex.from_arrays([rs.index.year, rs.index.month]))
    np.testing.assert_allclose(got.to_numpy(), want.reindex(got.index).to_numpy(), rtol=1e-12, atol=1e-15)
    assert len(got) == len(want)
    ry = (1 + r).resample("YE").prod() - 1
    np.testing.assert_allclose(m["Year"].to_numpy(), ry.to_numpy(), rtol=1e-12, atol=1e-15)
    assert list(m.columns) == ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Year"]


def test_monthly_partial_months_and_gaps():
    r = pd.Series([0.1, -0.05, 0.02], index=pd.to_datetime(["2019-12-31", "2020-03-02", "2020-03-03"]))
    m = monthly_returns(r)
    assert m.loc[2019, "Dec"] == pytest.approx(0.1)
    assert m.loc[2020, "Mar"] == pytest.approx(0.95 * 1.02 - 1)
    assert np.isnan(m.loc[2020, "Jan"]) and np.isnan(m.loc[2019, "Jan"])


def test_contribution_sums_to_total_pnl_less_interest(ts, run):
    res, pf = run
    c = ts.tables["contribution"]
    assert pf.interest > 1000                                   # the identity below is not trivially interest-free
    total = res.equity["equity"].iloc[-1] - res.initial_cash
    assert c["net_pnl"].sum() == pytest.approx(total - pf.interest, rel=1e-9)
    assert c["contribution"].sum() == pytest.approx((total - pf.interest) / res.initial_cash, rel=1e-9)
    g = res.groups.sort_index()
    np.testing.assert_allclose(c["net_pnl"], g["realised"] + g["unrealised"] - g["fees"] - g["borrow"], rtol=1e-12)
    assert c["n_trades"].sum() == len(ts.tables["trades"])


def test_cost_breakdown_equals_sums_over_fills(ts, run):
    res = run[0]
    f = res.fills
    t = ts.tables["costs"]
    for col, src in (("fees", "fee"), ("spread", "spread_cost"), ("slippage", "slippage_cost")):
        by = f.groupby("group")[src].sum()
        np.testing.assert_allclose(t.loc[by.index, col], by, rtol=1e-12)
        assert t.loc["total", col] == pytest.approx(f[src].sum(), rel=1e-12)
    assert t.loc["total", "borrow"] == pytest.approx(res.groups["borrow"].sum(), rel=1e-12)
    assert t.loc["total", "borrow"] > 0
    notional = (f["quantity"] * f["price"]).abs().sum()
    assert t.loc["total", "traded_notional"] == pytest.approx(notional, rel=1e-12)
    assert t.loc["total", "cost_bps"] == pytest.approx(1e4 * t.loc["total", "total"] / notional, rel=1e-12)
    # the summary of the backtest reports the same fees and spread + slippage
    rows = res._summary_rows()
    assert rows["fees"] == pytest.approx(t.loc["total", "fees"], rel=1e-12)
    assert rows["spread_and_slippage"] == pytest.approx(t.loc["total", "spread"] + t.loc["total", "slippage"], rel=1e-12)


def test_round_trips_match_realised_pnl_less_fees(ts, run):
    res = run[0]
    tr = ts.tables["trades"]
    assert len(tr) > 100 and ts.open_trades in (0, 1, 2)
    g = res.groups.sort_index()
    if ts.open_trades == 0:
        assert (g["open_legs"] == 0).all()
        np.testing.assert_allclose(tr.groupby("group")["pnl"].sum(), g["realised"] - g["fees"], rtol=1e-9)
    # every fill belongs to exactly one closed trade when all groups end flat
    assert tr["n_fills"].sum() == len(res.fills)
    assert tr["fees"].sum() == pytest.approx(res.fills["fee"].sum(), rel=1e-12)
    assert (tr["exit_time"] >= tr["entry_time"]).all()
    # trade stats recomputed independently
    st = ts.tables["trade_stats"]["all"]
    p = tr["pnl"]
    assert st["n_trades"] == len(tr)
    assert st["hit_rate"] == pytest.approx((p > 0).sum() / (p != 0).sum())
    assert st["profit_factor"] == pytest.approx(p[p > 0].sum() / -p[p < 0].sum())
    assert st["worst"] == p.min() and st["best"] == p.max()


def test_round_trips_hand_worked_with_reversal_and_open_trade():
    ts_ = pd.to_datetime(["2020-01-02", "2020-01-02", "2020-01-03", "2020-01-03", "2020-01-06", "2020-01-06",
                          "2020-01-07"], utc=True)
    f = pd.DataFrame({"timestamp": ts_, "group": ["A/B"] * 6 + ["C/D"], "symbol": ["A", "B", "A", "B", "A", "B", "C"],
                      "quantity": [100.0, -50.0, -200.0, 100.0, 100.0, -50.0, 5.0],
                      "price": [10.0, 20.0, 11.0, 19.0, 9.0, 21.0, 50.0], "fee": [1.0] * 7})
    t, still_open = round_trips(f)
    # the reversal on 01-03 never passes through flat: one trade from 01-02 to 01-06
    assert len(t) == 1 and still_open == 1
    cash = -(100 * 10 - 50 * 20 - 200 * 11 + 100 * 19 + 100 * 9 - 50 * 21) - 6
    assert t.loc[0, "pnl"] == pytest.approx(cash)
    assert t.loc[0, "n_fills"] == 6 and t.loc[0, "holding_days"] == 4.0


def test_metrics_table_is_performance_summary(ts, run, spx):
    res = run[0]
    m = ts.tables["metrics"]
    want = performance_summary(res.returns.rename("strategy"), benchmark=spx.reindex(res.returns.index.tz_localize(None)).set_axis(res.returns.index).rename("benchmark")).table
    for k in ("total_return", "sharpe_ratio", "max_drawdown", "beta", "correlation"):
        assert m.loc[k, "strategy"] == pytest.approx(want.loc[k, "strategy"], rel=1e-12)
        assert m.loc[k, "benchmark"] == pytest.approx(want.loc[k, "benchmark"], rel=1e-12)
    eq = res.equity
    assert m.loc["average_gross_leverage", "strategy"] == pytest.approx((eq["gross"] / eq["equity"]).mean())
    assert m.loc["n_trades", "strategy"] == len(ts.tables["trades"])


def _parse(text):
    class P(HTMLParser):
        def __init__(self):
            super().__init__()
            self.imgs, self.links, self.tables, self.tags = [], [], 0, []
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            self.tags.append(tag)
            if tag == "img": self.imgs.append(a.get("src", ""))
            if tag == "table": self.tables += 1
            for k in ("href", "src"):
                if k in a and tag != "img": self.links.append(a[k])
    p = P()
    p.feed(text)
    p.close()
    return p


def test_html_file_is_self_contained(ts, tmp_path):
    out = ts.to_html(tmp_path / "sheet.html")
    assert out == tmp_path / "sheet.html"
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.html"]        # no temp file left behind
    text = out.read_text(encoding="utf-8")
    p = _parse(text)
    assert len(p.imgs) == len(ts.figures) == 7
    assert all(re.fullmatch(r"data:image/png;base64,[A-Za-z0-9+/=]+", s) for s in p.imgs)
    assert p.links == []
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|file:|/|\.)""", text)
    assert "<script" not in text and "<link" not in text
    assert p.tables == sum(1 for t in ts.tables.values() if len(t))
    assert "KO/PEP + XOM/CVX &lt;test &amp; check&gt;" in text                  # title escaped
    import base64
    png = base64.b64decode(p.imgs[0].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_overwrites_atomically(ts, tmp_path):
    target = tmp_path / "sheet.htm"
    target.write_text("old")
    ts.to_html(str(target), max_trades=5)
    text = target.read_text()
    assert text.startswith("<!DOCTYPE html>") and "last 5 of" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.htm"]


def test_figures_have_data(ts, run, spx):
    assert set(ts.figures) == {"equity", "rolling", "exposure", "monthly", "trade_pnl", "costs", "contribution"}
    for k, fig in ts.figures.items():
        assert isinstance(fig, Figure)
        axes = fig.axes
        assert axes, k
        assert any(ax.has_data() for ax in axes), k
    eq_ax = ts.figures["equity"].axes[0]
    np.testing.assert_allclose(eq_ax.lines[0].get_ydata(), run[0].equity["equity"].to_numpy())
    # the rolling panels plot risk.metrics.rolling_sharpe and risk.attribution.rolling_beta
    r = run[0].returns
    b = spx.reindex(r.index.tz_localize(None)).set_axis(r.index)
    a1, a2 = ts.figures["rolling"].axes
    np.testing.assert_allclose(a1.lines[0].get_ydata(), rolling_sharpe(r, 126).to_numpy(), equal_nan=True)
    np.testing.assert_allclose(a2.lines[0].get_ydata(), rolling_beta(r, b, window=126).to_numpy(), equal_nan=True)
    im = ts.figures["monthly"].axes[0].images[0]
    assert im.get_array().shape == (len(ts.tables["monthly"]), 12)
    bars = ts.figures["contribution"].axes[0].patches
    np.testing.assert_allclose(sorted(b.get_width() for b in bars), sorted(ts.tables["contribution"]["net_pnl"]))


def test_returns_series_subset(px, spx):
    r = px.pct_change().fillna(0.0)
    s = (r["KO"] - r["PEP"]).rename("KO-PEP")
    t = tearsheet(s, benchmark=spx, window=63)
    assert isinstance(t, Tearsheet) and t.source == "returns"
    assert sorted(t.tables) == ["metrics", "monthly"] and sorted(t.figures) == ["equity", "monthly", "rolling"]
    assert t.tables["metrics"].loc["total_return", "strategy"] == pytest.approx(float((1 + s).prod() - 1), rel=1e-12)
    assert "<img" in t._repr_html_() and "Tearsheet" in t.summary()
    # without a benchmark there is no beta panel
    t2 = tearsheet(s)
    assert len(t2.figures["rolling"].axes) == 1 and "benchmark" not in t2.tables["metrics"].columns


def test_no_trades_backtest(px):
    dh = DataHandler.from_wide(px.iloc[:80])
    res = run_backtest(dh, PairsStrategy(dh, [("KO", "PEP")], hedge="rolling", window=60, entry=50.0))
    assert len(res.fills) == 0
    with pytest.warns(UndefinedMetricWarning) as rec:                  # a flat equity curve: no Sharpe, no drawdown
        t = tearsheet(res, window=20)
    assert any("sharpe_ratio is undefined" in str(w.message) for w in rec)
    assert len(t.tables["trades"]) == 0 and t.tables["trade_stats"].empty
    assert "trade_pnl" not in t.figures
    assert "<!DOCTYPE html>" in t.html()


def test_bad_input(ts, run, px, spx, tmp_path):
    res = run[0]
    with pytest.raises(TypeError, match="result must be BacktestResult or Series; got DataFrame"): tearsheet(px)
    with pytest.raises(ValueError, match="benchmark must cover every timestamp of the strategy's returns; 252 of"):
        tearsheet(res, benchmark=spx.loc["2016":])
    with pytest.raises(TypeError, match="benchmark must be Series; got DataFrame"): tearsheet(res, benchmark=spx.to_frame())
    with pytest.raises(TypeError, match="benchmark must have a DatetimeIndex; got RangeIndex"):
        tearsheet(res, benchmark=spx.reset_index(drop=True))
    with pytest.raises(ValueError, match="benchmark has missing values"):
        tearsheet(res, benchmark=spx.where(spx.index.year != 2016))
    with pytest.raises(ValueError, match="window must be >= 3; got 1"): tearsheet(res, window=1)
    with pytest.raises(TypeError, match="window must be an integer"): tearsheet(res, window=2.5)
    with pytest.raises(ValueError, match="window must be at most the"): tearsheet(res, window=10_000)
    with pytest.raises(ValueError, match="periods_per_year must be > 0"): tearsheet(res, periods_per_year=0)
    with pytest.raises(TypeError, match="title must be str; got int"): tearsheet(res, title=3)
    with pytest.raises(ValueError, match="result look like prices, not returns"): tearsheet(px["KO"])
    with pytest.raises(TypeError, match=r"result must be indexed by time \(DatetimeIndex\); got RangeIndex"):
        tearsheet(pd.Series([0.01, 0.02, 0.0, 0.01]))
    with pytest.raises(ValueError, match="path must end in .html or .htm; got 'report.pdf'"): ts.to_html("report.pdf")
    with pytest.raises(ValueError, match="path's folder must exist"): ts.to_html(tmp_path / "no" / "r.html")
    with pytest.raises(TypeError, match="path must be str or PathLike; got int"): ts.to_html(3)
    with pytest.raises(TypeError, match="max_trades must be an integer"): ts.html(max_trades="all")
    with pytest.raises(ValueError, match="fills must have columns"): round_trips(res.fills.drop(columns="group"))
    with pytest.raises(TypeError, match="fills must be DataFrame; got dict"): round_trips({})
