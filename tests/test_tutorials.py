"""The reusable pieces the tutorials define, tested outside the notebooks.

nbs/92_tutorial.pairs_study.ipynb defines `classify_flags` (a split / market / idiosyncratic label for Hampel flags);
nbs/95_tutorial.extending.ipynb defines `vendor_api`, `VendorSource` (a custom data source), `DistanceStrategy`
(Gatev et al.'s distance method) and `Horizon` (a strategy wrapper that flattens at a date). Tutorials export
nothing, so the definitions are read from the notebooks themselves (the import statements and the named classes and
functions, nothing else) and tested against oracles: the bundled source, hand-worked numbers and a pandas
re-implementation of the rule.
"""
import ast
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from statarb.config import get_config
from statarb.core import DataQualityWarning
from statarb.data.clean import adjust_for_actions
from statarb.data.schema import to_wide, validate_bars
from statarb.data.sources import NoDataError, SampleSource, load_sample
from statarb.engine.backtest import run_backtest
from statarb.engine.data_handler import DataHandler
from statarb.engine.portfolio import FixedNotional, Portfolio
from statarb.validation.lookahead import check_lookahead

NBS = Path(__file__).resolve().parents[1] / "nbs"


def _load(notebook: str, *names: str) -> dict:
    "Execute every import statement of `notebook` and the top-level definitions of `names`; return the namespace."
    nb = json.loads((NBS / notebook).read_text())
    imports, defs = [], {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code": continue
        src = "".join(cell["source"])
        if src.lstrip().startswith(("%", "!")): continue
        for node in ast.parse(src).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)): imports.append(node)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names: defs[node.name] = node
    missing = [n for n in names if n not in defs]
    assert not missing, f"{notebook} no longer defines {missing}"
    ns: dict = {}
    exec(compile(ast.Module(body=imports + [defs[n] for n in names], type_ignores=[]), notebook, "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def ext():
    return _load("95_tutorial.extending.ipynb", "vendor_api", "VendorSource", "DistanceStrategy", "Horizon")


# ---------------------------------------------------------------- the custom data source

def test_vendor_source_equals_bundled_data(ext):
    cfg = get_config()
    syms = list(cfg.universe) + [cfg.benchmark]
    mine = ext["VendorSource"]().fetch(syms, "2005-01-01", "2022-12-31")
    validate_bars(mine, "VendorSource result")
    pd.testing.assert_frame_equal(mine, SampleSource().fetch(syms, "2005-01-01", "2022-12-31"))
    # and the values are the file's own, bit for bit
    wide = to_wide(mine[mine["symbol"] != "SP500"], "close")
    raw = load_sample("sp500_20stocks").loc["2005":"2022", wide.columns]
    np.testing.assert_array_equal(wide.to_numpy(), raw.to_numpy())
    # the date bounds are inclusive, as for every statarb source
    one = ext["VendorSource"]().fetch(["KO"], "2010-01-04", "2010-01-06")
    assert one["timestamp"].dt.strftime("%Y-%m-%d").tolist() == ["2010-01-04", "2010-01-05", "2010-01-06"]


def test_vendor_source_bad_data_errors(ext):
    VS, api = ext["VendorSource"], ext["vendor_api"]

    def client(fault):
        def f(ticker, start_ms=None, end_ms=None):
            r = api(ticker, start_ms, end_ms)
            if ticker != "KO" or r["status"] != "OK": return r
            res = [dict(x) for x in r["results"]]
            if fault == "negative": res[2]["c"] = -res[2]["c"]
            elif fault == "duplicate": res.insert(3, dict(res[3]))
            elif fault == "seconds": res = [{"t": x["t"] // 1000, "c": x["c"]} for x in res]
            return {**r, "results": res}
        return f

    with pytest.raises(ValueError, match=r"VendorSource reply\.close must be strictly positive and finite; got 1 bad values \(first -18\.559 for 'KO' at 2010-01-06"):
        VS(client("negative")).fetch(["KO", "PEP"], "2010-01-01", "2010-01-31")
    with pytest.raises(ValueError, match=r"one row per \(symbol, timestamp\); got 1 duplicates \(first 'KO' at 2010-01-07"):
        VS(client("duplicate")).fetch(["KO", "PEP"], "2010-01-01", "2010-01-31")
    with pytest.raises(ValueError, match="must be epoch milliseconds"):
        VS(client("seconds")).fetch(["KO"], "2010-01-01", "2010-01-31")
    with pytest.raises(NoDataError, match="unknown ticker KOF"):
        VS().fetch(["KOF"], "2010-01-01", "2010-01-31")
    with pytest.raises(ValueError, match="interval must be one of '1d'"):
        VS().fetch(["KO"], "2010-01-01", "2010-01-31", interval="1h")
    with pytest.warns(DataQualityWarning, match="vendor status 'NOT_FOUND'"):
        part = VS().fetch(["KO", "KOF"], "2010-01-01", "2010-01-31")
    assert part["symbol"].unique().tolist() == ["KO"]
    with pytest.raises(TypeError, match="client must be callable"):
        VS(client=42)


# ---------------------------------------------------------------- the custom strategy

TINY = pd.DataFrame({"A": [10.0, 11.0, 10.0, 11.0, 12.65, 11.55, 10.45, 11.0],
                     "B": [20.0, 22.0, 22.0, 22.0, 22.0, 22.0, 22.0, 22.0],
                     "C": [30.0, 27.0, 33.0, 30.0, 30.0, 31.0, 29.0, 30.0]},
                    index=pd.date_range("2024-01-01", periods=8, freq="B", tz="UTC"))


def test_distance_strategy_hand_computed(ext):
    dh = DataHandler.from_wide(TINY)
    st = ext["DistanceStrategy"](dh, formation_end=TINY.index[3], formation=4, top=1, entry=2.0)
    res = run_backtest(dh, st, Portfolio(dh, 100_000.0, sizing=FixedNotional(20_000.0)))
    # formation: A and B scaled to 1 differ by 0, 0, -0.1, 0 -> SSD 0.01, sample sd 0.05
    assert st.pairs[["y", "x"]].values.tolist() == [["A", "B"]]
    assert st.pairs["distance"].iloc[0] == pytest.approx(0.01, rel=1e-12)
    assert st.pairs["spread_std"].iloc[0] == pytest.approx(0.05, rel=1e-12)
    d = st.decisions()
    assert d["position"].tolist() == [-1, -1, 0, 0]
    np.testing.assert_allclose(d["z"].to_numpy(), [3.0, 1.0, -1.0, 0.0], atol=1e-12)
    assert [s.reason for s in res.events if type(s).__name__ == "SignalEvent"] == ["entry", "exit"]
    # $10,000 a leg at day 5's closes, filled on day 6, closed on day 8
    q = 10_000.0 / 12.65
    f = res.fills
    assert f["timestamp"].dt.strftime("%m-%d").tolist() == ["01-08", "01-08", "01-10", "01-10"]
    np.testing.assert_allclose(f["quantity"].to_numpy(), [-q, 10_000.0 / 22.0, q, -10_000.0 / 22.0], rtol=1e-12)
    np.testing.assert_allclose(f["price"].to_numpy(), [11.55, 22.0, 11.0, 22.0], rtol=1e-12)
    assert res.equity["equity"].iloc[-1] - 100_000.0 == pytest.approx(q * (11.55 - 11.0), rel=1e-12)


def test_distance_strategy_bad_arguments(ext):
    DS = ext["DistanceStrategy"]
    with pytest.raises(ValueError, match="top must be an int >= 1; got 0"):
        DS(DataHandler.from_wide(TINY), TINY.index[3], formation=4, top=0)
    with pytest.raises(ValueError, match="formation must be an int >= 3 bars; got 2"):
        DS(DataHandler.from_wide(TINY), TINY.index[3], formation=2)
    with pytest.raises(ValueError, match="symbol 'D' has no bars"):
        DS(DataHandler.from_wide(TINY), TINY.index[3], formation=4, symbols=["A", "D"])
    dh = DataHandler.from_wide(TINY)
    with pytest.raises(RuntimeError, match="needs 20 bars of every symbol at formation; 'A' has 2"):
        run_backtest(dh, DS(dh, TINY.index[1], formation=20))


@pytest.fixture(scope="module")
def period():
    "Formation 2015, trading the first half of 2016, 8 stocks (a small real universe keeps the test fast)."
    px = load_sample("sp500_20stocks").tz_localize("UTC")[["KO", "PEP", "PG", "WMT", "XOM", "CVX", "JPM", "BAC"]]
    one = px.loc["2015-01-01":"2016-07-15"]
    return one, px.loc[:"2015-12-31"].index[-1], px.loc[:"2016-06-30"].index[-1]


def test_distance_strategy_matches_pandas_oracle(ext, period):
    "Pairs, z-scores and positions on real prices against a pandas re-implementation of Gatev et al.'s rule."
    one, f_end, t_end = period
    dh = DataHandler.from_wide(one)
    st = ext["DistanceStrategy"](dh, f_end, formation=252, top=3, entry=2.0)
    run_backtest(dh, st)
    form = one.loc[:f_end].iloc[-252:].sort_index(axis=1)        # the handler's symbols are sorted: y is the first
    n = form / form.iloc[0]
    cand = [(a, b, float(((n[a] - n[b]) ** 2).sum())) for i, a in enumerate(n) for b in list(n)[i + 1:]]
    best = sorted(cand, key=lambda c: c[2])[:3]
    assert [(p.y, p.x) for p in st.pairs.itertuples()] == [(a, b) for a, b, _ in best]
    d = st.decisions()
    trade = one.loc[one.index > f_end]
    for a, b, _ in best:
        sd = float((n[a] - n[b]).std(ddof=1))
        z = ((trade[a] / form[a].iloc[-1] - trade[b] / form[b].iloc[-1]) / sd).to_numpy()
        pos, want = 0, []
        for zt in z:
            if (pos == -1 and zt <= 0) or (pos == 1 and zt >= 0): pos = 0
            if pos == 0: pos = -1 if zt >= 2.0 else (1 if zt <= -2.0 else 0)
            want.append(pos)
        got = d[d["group"] == f"{a}/{b}"]
        np.testing.assert_allclose(got["z"].to_numpy(), z, rtol=1e-9, atol=1e-12)
        assert got["position"].tolist() == want
    assert (d["position"] != 0).any()               # the period does trade


def test_distance_strategy_no_lookahead_and_the_guard_can_fail(ext, period):
    one, f_end, t_end = period
    DS, Horizon = ext["DistanceStrategy"], ext["Horizon"]
    cuts = list(one.loc["2016-01-15":"2016-07-15"].index[::42])
    ok = check_lookahead(lambda d: Horizon(DS(d, f_end, formation=252, top=3), t_end), one, cuts=cuts)
    assert ok.passed and ok.n_decisions > 0

    class Peeking(DS):
        "Forms its pairs on the whole file: the formation-end normalisation uses the last bar the handler holds."
        def _form(self, t):
            super()._form(t)
            last = {s: float(self.data.bars[s].cols["close"][-1]) for s in self.symbols}     # the future
            self.pairs = self.pairs.assign(y_ref=[last[s] for s in self.pairs["y"]], x_ref=[last[s] for s in self.pairs["x"]])

    bad = check_lookahead(lambda d: Peeking(d, f_end, formation=252, top=3), one, cuts=cuts)
    assert not bad.passed and "with the future cut" in bad.first_difference


def test_horizon_flattens_and_stops(ext, period):
    one, f_end, t_end = period
    dh = DataHandler.from_wide(one)
    st = ext["Horizon"](ext["DistanceStrategy"](dh, f_end, formation=252, top=3, entry=1.0), t_end)
    res = run_backtest(dh, st, Portfolio(dh, sizing=FixedNotional(100_000.0, lot=1.0)))
    sig = res.signals
    assert (sig["timestamp"] <= t_end).all()
    last = sig[sig["timestamp"] == t_end]
    assert len(last) > 0 and (last["direction"] == 0).all() and set(last["reason"]) == {"horizon"}
    assert res.equity["gross"].iloc[-1] == 0.0      # flat after the closing fills on the next bar
    for g, p in st.inner.pos.items():               # the inner strategy's open groups are exactly the ones closed
        assert (p != 0) == (g in set(last["group"]))


# ---------------------------------------------------------------- the pairs study's outlier classifier

def test_classify_flags_finds_unadjusted_splits():
    ns = _load("92_tutorial.pairs_study.ipynb", "classify_flags")
    cfg = get_config()
    raw = SampleSource().fetch(list(cfg.universe) + [cfg.benchmark], "2005-01-01", "2022-12-31")
    flags = ns["classify_flags"](to_wide(raw, "adj_close"), window=cfg.hampel_window, n_sigmas=cfg.hampel_n_sigmas)
    assert (flags["cause"] == "split-like").sum() == 0          # the bundled closes are adjusted
    assert set(flags["cause"]) == {"market", "idiosyncratic"} and "SP500" not in set(flags["symbol"])
    # AAPL as traded: undo its 2:1, 7:1 and 4:1 splits
    actions = pd.DataFrame({"symbol": "AAPL", "ex_date": ["2005-02-28", "2014-06-09", "2020-08-31"], "split_ratio": [2.0, 7.0, 4.0]})
    aapl = raw[raw["symbol"] == "AAPL"].reset_index(drop=True)
    factor = np.ones(len(aapl))
    for d, r in zip(pd.to_datetime(actions["ex_date"], utc=True), actions["split_ratio"]):
        factor[(aapl["timestamp"] < d).to_numpy()] *= r
    traded = aapl.assign(close=aapl["close"] * factor, adj_close=aapl["close"] * factor)
    both = pd.concat([traded, raw[raw["symbol"] == "SP500"]]).sort_values(["timestamp", "symbol"])
    got = ns["classify_flags"](to_wide(both, "close"))
    split = got[got["cause"] == "split-like"]
    assert split["timestamp"].dt.strftime("%Y-%m-%d").tolist() == ["2005-02-28", "2014-06-09", "2020-08-31"]
    np.testing.assert_allclose(split["ratio"].to_numpy(), [1 / 2, 1 / 7, 1 / 4], rtol=0.05)
    fixed = adjust_for_actions(traded, actions)
    np.testing.assert_allclose(fixed["adj_close"].to_numpy(), aapl["adj_close"].to_numpy(), rtol=1e-12)
    assert math.isclose(float(fixed["adjustment_factor"].iloc[0]), 1 / 56, rel_tol=1e-12)
