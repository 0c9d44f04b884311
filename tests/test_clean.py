"""statarb.data.clean: index hygiene, calendars, missing data, corporate actions, outlier screens.

Oracles: pandas (ffill, time interpolation, dropna, rolling), hand-worked adjustment numbers, a yfinance-convention
frame built by an independent backward loop, and facts of the real data in ../shared/data (skip where absent).
The compiled-twin equality tests are in tests/test_hampel_twins.py.
"""
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from statarb.core import DataQualityWarning
from statarb.data.clean import (
    MAD_SCALE,
    IndexRepairResult,
    MissingDataResult,
    OutlierResult,
    adjust_for_actions,
    align,
    check_bars_index,
    drop_stale_rows,
    exchange_holidays,
    fill_missing,
    find_stale_rows,
    hampel,
    sort_and_dedupe,
    zscore_outliers,
)
from statarb.data.schema import bars_frame, validate_bars

ROOT = Path(__file__).resolve().parents[1]


def _wide(n=60, cols=("A", "B", "C"), seed=0, start="2020-01-01"):
    rng = np.random.default_rng(seed)
    p = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, len(cols))), axis=0))
    return pd.DataFrame(p, index=pd.bdate_range(start, periods=n), columns=list(cols))


@pytest.fixture(scope="module")
def sp20(shared_data):
    return pd.read_parquet(shared_data / "skfolio_sp500_20stocks_daily.parquet")


# ---------------------------------------------------------------- index hygiene

def test_check_bars_index_wide_errors():
    p = _wide(5)
    assert check_bars_index(p) is p
    dup = p.iloc[[0, 1, 1, 2]]
    with pytest.raises(ValueError, match=r"prices index must be unique; got 1 duplicate timestamps \(first at 2020-01-02\); "
                                         r"sort_and_dedupe\(prices, repair=True\) keeps the last row"):
        check_bars_index(dup, "prices")
    with pytest.raises(ValueError, match=r"frame index must be sorted ascending; got 2020-01-01 after 2020-01-03 \(position 2\)"):
        check_bars_index(p.iloc[[1, 2, 0, 3]])
    with pytest.raises(TypeError, match="frame must have a DatetimeIndex .* got RangeIndex"):
        check_bars_index(p.reset_index(drop=True))
    with pytest.raises(TypeError, match="frame must be Series or DataFrame; got list"):
        check_bars_index([1.0, 2.0])
    nat = p.set_axis(pd.DatetimeIndex([p.index[0], pd.NaT, *p.index[2:]]))
    with pytest.raises(ValueError, match="frame index must not contain NaT; got 1"):
        check_bars_index(nat)


def test_check_bars_index_long_errors():
    bars = bars_frame(pd.DataFrame({"timestamp": ["2020-01-02", "2020-01-02", "2020-01-03"], "symbol": ["KO", "PEP", "KO"],
                                    "close": [1.0, 2.0, 3.0]}))
    assert check_bars_index(bars, "bars") is bars
    with pytest.raises(ValueError, match=r"bars rows must be sorted by \(timestamp, symbol\); got 'KO' at 2020-01-02 after 'PEP' at 2020-01-02 \(row 1\)"):
        check_bars_index(bars.iloc[[1, 0, 2]], "bars")
    with pytest.raises(ValueError, match=r"one row per \(symbol, timestamp\); got 1 duplicates \(first 'KO' at 2020-01-03\)"):
        check_bars_index(bars.iloc[[0, 1, 2, 2]], "bars")
    with pytest.raises(TypeError, match="bars.timestamp must be datetime64; got"):
        check_bars_index(bars.assign(timestamp="2020-01-02"), "bars")


def test_sort_and_dedupe_matches_pandas_oracle():
    rng = np.random.default_rng(3)
    p = _wide(200)
    shuffled = pd.concat([p, p.iloc[rng.choice(200, 30, replace=False)] * 1.01]).sample(frac=1.0, random_state=1)
    with pytest.raises(ValueError, match="frame index must be unique"):
        sort_and_dedupe(shuffled)
    r = sort_and_dedupe(shuffled, repair=True)
    assert isinstance(r, IndexRepairResult) and r.repaired
    oracle = shuffled.groupby(level=0, sort=True).last()          # last row in input order wins
    pd.testing.assert_frame_equal(r.data, oracle, check_freq=False)
    assert r.n_duplicates == 30 == len(r.duplicates)
    assert r.n_out_of_order == int((np.diff(shuffled.index.asi8) < 0).sum()) > 0
    assert check_bars_index(r.data) is r.data
    clean = sort_and_dedupe(r.data, repair=True)
    assert (clean.n_out_of_order, clean.n_duplicates, clean.repaired) == (0, 0, False)
    assert "n_duplicates    30" in r.summary()


def test_sort_and_dedupe_long_bars_gives_valid_schema():
    bars = bars_frame(pd.DataFrame({"timestamp": np.repeat(pd.bdate_range("2021-03-01", periods=4), 2),
                                    "symbol": ["KO", "PEP"] * 4, "close": np.arange(1.0, 9.0)}))
    messy = pd.concat([bars.iloc[::-1], bars.iloc[[2]].assign(close=99.0)], ignore_index=True)
    r = sort_and_dedupe(messy, repair=True, name="bars")
    validate_bars(r.data)
    check_bars_index(r.data)
    assert r.n_duplicates == 1 and r.data.loc[2, "close"] == 99.0       # the later revision wins
    with pytest.raises(TypeError, match="repair must be True or False; got str"):
        sort_and_dedupe(messy, repair="yes")


def test_sort_and_dedupe_real_prices(sp20):
    p = sp20.iloc[:500, :5]
    messy = pd.concat([p.iloc[::-1], p.iloc[100:110]])
    r = sort_and_dedupe(messy, repair=True)
    pd.testing.assert_frame_equal(r.data, p)
    assert r.n_duplicates == 10


# ---------------------------------------------------------------- calendars

def test_align_inner_outer_against_index_set_operations():
    a = _wide(50, ("A",), seed=1)["A"]
    b = _wide(50, ("B",), seed=2, start="2020-01-15")["B"].iloc[::2]
    inner, outer = align({"A": a, "B": b}), align({"A": a, "B": b}, how="outer")
    assert inner.index.equals(a.index.intersection(b.index))
    assert outer.index.equals(a.index.union(b.index))
    pd.testing.assert_series_equal(outer["B"].dropna(), b, check_names=False, check_freq=False)
    assert list(outer.columns) == ["A", "B"]
    wide = outer.copy()
    assert align(wide).index.equals(inner.index)                  # a wide frame with NaN holes: same rule
    assert align([a.to_frame(), b.rename("B")]).equals(inner)


def test_align_timezones_and_errors():
    a = _wide(5, ("A",))["A"]
    aware = align({"A": a.tz_localize("America/New_York"), "B": a.rename("B").tz_localize("UTC")}, how="outer")
    assert str(aware.index.tz) == "UTC" and len(aware) == 10      # NY midnight is 05:00 UTC: different instants
    with pytest.raises(ValueError, match=r"got naive frames\['A'\] and aware frames\['B'\]"):
        align({"A": a, "B": a.tz_localize("UTC")})
    with pytest.raises(TypeError, match=r"frames\[0\] must have a DatetimeIndex .* got RangeIndex; use statarb.data.schema.to_wide"):
        align([a.reset_index(drop=True).rename("A")])
    with pytest.raises(ValueError, match="frames must not be empty"):
        align({})
    with pytest.raises(ValueError, match=r"frames\[1\] index must be unique"):
        align([a.rename("A"), pd.concat([a, a]).rename("B")])
    with pytest.raises(ValueError, match="how must be one of 'inner', 'outer'; got 'left'"):
        align([a.rename("A")], how="left")
    with pytest.raises(TypeError, match=r"frames\[0\] must be Series or DataFrame; got ndarray"):
        align([a.to_numpy()])


def test_align_real_calendars(shared_data):
    etf = pd.read_parquet(shared_data / "arbitragelab_country_etf45_close_daily.parquet")[["EWA", "EWC"]]
    eu = pd.read_parquet(shared_data / "arbitragelab_eu_indices_daily.parquet")
    us = pd.read_parquet(shared_data / "skfolio_sp500_20stocks_daily.parquet")[["KO"]].loc["1996":"2006"]
    both = align({"KO": us["KO"], "DAX": eu["DAX"]})
    assert eu["DAX"].isna().any()                                 # holidays of the DAX are NaN rows in this file
    assert both.index.equals(us.index.intersection(eu["DAX"].dropna().index)) and not both.isna().any().any()
    assert align([us, eu], how="outer").index.equals(us.index.union(eu.dropna(how="all").index))
    assert align(etf).shape == etf.shape


def test_find_stale_rows_country_etfs(shared_data):
    """The file has 49 rows where every return is 0 (first row's return taken as 0). Comparing rows finds 48 (the first
    row, 2016-01-01, has nothing before it); with the NYSE calendar the first row, New Year's Day, is found too: 49."""
    p = pd.read_parquet(shared_data / "arbitragelab_country_etf45_close_daily.parquet")
    all_zero = (p.pct_change(fill_method=None).fillna(0.0) == 0).all(axis=1)
    assert int(all_zero.sum()) == 49
    stale = find_stale_rows(p)
    assert stale.dtype == bool and stale.index.equals(p.index)
    assert int(stale.sum()) == 48 and all_zero.index[~stale & all_zero].tolist() == [pd.Timestamp("2016-01-01")]
    with_calendar = find_stale_rows(p, holidays="XNYS")
    assert int(with_calendar.sum()) == 49 and with_calendar.equals(all_zero.rename("stale"))
    hol = exchange_holidays(p.index[0], p.index[-1])
    on_holiday = p.index.isin(hol)
    assert int(on_holiday.sum()) == 48 and with_calendar[on_holiday].all()      # every holiday row, incl. the 1st
    # the one zero-return row that is not an NYSE closure is the file's last row
    assert p.index[with_calendar.to_numpy() & ~on_holiday].tolist() == [pd.Timestamp("2021-01-27")]
    dates = set(p.index[stale].strftime("%Y-%m-%d"))
    assert {"2016-07-04", "2018-12-05", "2019-11-28", "2020-12-25"} <= dates   # US holidays, incl. the 2018 day of mourning
    dropped = drop_stale_rows(p, holidays="XNYS")
    assert len(dropped) == len(p) - 49 and not find_stale_rows(dropped, holidays="XNYS").any()
    r = np.log(dropped).diff().iloc[1:]
    assert int((r == 0).all(axis=1).sum()) == 0


def test_find_stale_rows_rules():
    p = _wide(6)
    p.iloc[3] = p.iloc[2]
    assert find_stale_rows(p).tolist() == [False, False, False, True, False, False]
    q = p.copy(); q.iloc[3, 0] = np.nan                          # a symbol missing on the holiday: still stale
    assert find_stale_rows(q).iloc[3]
    q = p.copy(); q.iloc[2, 0] = np.nan                          # value appears after a NaN: new information
    assert not find_stale_rows(q).iloc[3]
    q = p.copy(); q.iloc[3, 0] *= 1.001
    assert not find_stale_rows(q).iloc[3]
    assert find_stale_rows(p, min_columns=3).iloc[3] and not find_stale_rows(p.assign(A=np.nan), min_columns=3).iloc[3]
    with pytest.raises(ValueError, match="prices has 3 column\\(s\\), fewer than min_columns=4"):
        find_stale_rows(p, min_columns=4)
    with pytest.raises(ValueError, match="prices has 1 column\\(s\\), fewer than min_columns=2"):
        find_stale_rows(p["A"])
    assert find_stale_rows(p["A"], min_columns=1).iloc[3]
    with pytest.raises(ValueError, match="column 'B' has 1 values <= 0"):
        find_stale_rows(p.assign(B=p["B"].where(p.index != p.index[1], -1.0)))
    with pytest.raises(ValueError, match="prices index must be sorted ascending"):
        drop_stale_rows(p.iloc[::-1])
    with pytest.raises(ValueError, match="min_columns must be >= 1; got 0"):
        find_stale_rows(p, min_columns=0)


# ---------------------------------------------------------------- missing data

def _holes(seed=0, n=300):
    rng = np.random.default_rng(seed)
    p = _wide(n, seed=seed)
    mask = rng.random(p.shape) < 0.15
    mask[:3, 0] = True                                           # leading NaNs
    mask[100:110, 1] = True                                      # a 10-day gap
    return p.mask(mask)


@pytest.mark.parametrize("limit", [1, 3, 5])
def test_ffill_matches_pandas(limit):
    p = _holes()
    r = fill_missing(p, policy="ffill", limit=limit)
    pd.testing.assert_frame_equal(r.data, p.ffill(limit=limit))
    c = r.counts
    assert (c["found"] == c["filled"] + c["dropped"] + c["still_missing"]).all()
    assert c["found"].tolist() == p.isna().sum().tolist() and c["still_missing"].tolist() == r.data.isna().sum().tolist()
    assert r.data["A"].iloc[:3].isna().all()                     # nothing to carry before the first price


@pytest.mark.parametrize("limit", [1, 2, 4, 20])
def test_interpolate_matches_pandas_time_interpolation_of_log_prices(limit):
    p = _holes(1)
    r = fill_missing(p, policy="interpolate", limit=limit)
    full = np.exp(np.log(p).interpolate(method="time", limit_area="inside"))
    for col in p.columns:
        na = p[col].isna()
        run = (~na).cumsum()
        length = na.groupby(run).transform("sum")
        expect = full[col].where(~na | (length <= limit))
        np.testing.assert_allclose(r.data[col].to_numpy(), expect.to_numpy(), rtol=1e-12)
    assert r.data["A"].iloc[:3].isna().all()
    if limit < 10: assert r.data["B"].iloc[100:110].isna().all()  # a gap is filled whole or not at all


def test_drop_and_raise():
    p = _holes(2)
    r = fill_missing(p, policy="drop")
    pd.testing.assert_frame_equal(r.data, p.dropna())
    assert r.rows_dropped == len(p) - len(p.dropna())
    assert (r.counts["dropped"] == p.isna().sum()).all() and r.counts["still_missing"].sum() == 0
    first = p.index[p["A"].isna()][0].date()
    with pytest.raises(ValueError, match=f"column 'A' has {int(p['A'].isna().sum())} NaN \\(first at {first}\\); 3 of 3 columns"):
        fill_missing(p, policy="raise")
    clean = fill_missing(p.dropna(), policy="raise")
    assert clean.data is not None and clean.counts["found"].sum() == 0
    assert isinstance(r, MissingDataResult) and "rows_dropped" in r.summary()


def test_fill_missing_series_and_config_default(monkeypatch):
    s = _holes(3)["B"]
    r = fill_missing(s, policy="ffill", limit=2)
    assert isinstance(r.data, pd.Series) and r.data.name == "B" and r.data.index.equals(s.index)
    monkeypatch.setenv("STATARB_MISSING", "raise")
    with pytest.raises(ValueError, match="under policy='raise'; column 'B'"):
        fill_missing(s)
    monkeypatch.setenv("STATARB_MISSING", "ffill")
    monkeypatch.setenv("STATARB_FFILL_LIMIT", "1")
    r = fill_missing(s)
    assert (r.policy, r.limit) == ("ffill", 1)
    pd.testing.assert_series_equal(r.data, s.ffill(limit=1))


def test_fill_missing_bad_input():
    p = _holes(4)
    with pytest.raises(ValueError, match="prices must be strictly positive and finite; column 'C' has 1 values <= 0"):
        fill_missing(p.assign(C=p["C"].where(p.index != p.index[5], 0.0)), policy="ffill")
    with pytest.raises(ValueError, match="prices index must be unique"):
        fill_missing(pd.concat([p, p.iloc[:1]]), policy="ffill")
    with pytest.raises(ValueError, match="prices index must be sorted ascending"):
        fill_missing(p.iloc[::-1], policy="ffill")
    with pytest.raises(TypeError, match="prices must be Series or DataFrame; got ndarray"):
        fill_missing(p.to_numpy(), policy="ffill")
    with pytest.raises(TypeError, match="prices must be numeric; column 'A' has dtype"):
        fill_missing(p.assign(A="x"), policy="ffill")
    with pytest.raises(ValueError, match="policy must be one of 'raise', 'drop', 'ffill', 'interpolate'; got 'mean'"):
        fill_missing(p, policy="mean")
    with pytest.raises(TypeError, match="limit must be an integer; got float 2.5"):
        fill_missing(p, policy="ffill", limit=2.5)
    with pytest.raises(TypeError, match="prices must have a DatetimeIndex"):
        fill_missing(p.reset_index(drop=True), policy="ffill")


def test_ffill_restores_real_prices_after_knockout(sp20):
    p = sp20.iloc[-300:, :6]
    holes = p.copy()
    holes.iloc[50, 2] = np.nan
    r = fill_missing(holes, policy="ffill", limit=1)
    assert r.data.iloc[50, 2] == p.iloc[49, 2] and r.counts["filled"].sum() == 1
    i = fill_missing(holes, policy="interpolate", limit=1).data.iloc[50, 2]
    assert min(p.iloc[49, 2], p.iloc[51, 2]) <= i <= max(p.iloc[49, 2], p.iloc[51, 2])


# ---------------------------------------------------------------- corporate actions

def _abc_bars():
    days = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07", "2020-01-08"])
    return bars_frame(pd.concat([
        pd.DataFrame({"timestamp": days, "symbol": "ABC", "open": [99.0, 101.0, 50.5, 51.5, 51.0],
                      "high": [101.0, 103.0, 52.0, 52.5, 52.0], "low": [98.0, 100.0, 50.0, 51.0, 51.0],
                      "close": [100.0, 102.0, 51.0, 52.0, 51.5], "volume": [1000.0, 1200.0, 2600.0, 2400.0, 2500.0]}),
        pd.DataFrame({"timestamp": days, "symbol": "XYZ", "close": [10.0, 10.1, 10.2, 10.3, 10.4], "volume": 500.0})]))


ABC_ACTIONS = pd.DataFrame({"symbol": ["ABC", "ABC"], "ex_date": ["2020-01-06", "2020-01-08"],
                            "split_ratio": [2.0, np.nan], "dividend": [np.nan, 0.52]})


def test_adjust_hand_worked_split_and_dividend():
    out = adjust_for_actions(_abc_bars(), ABC_ACTIONS)
    abc = out[out.symbol == "ABC"]
    np.testing.assert_allclose(abc.close, [50.0, 51.0, 51.0, 52.0, 51.5], rtol=1e-14)
    np.testing.assert_allclose(abc.open, [49.5, 50.5, 50.5, 51.5, 51.0], rtol=1e-14)
    np.testing.assert_allclose(abc.adj_close, [49.5, 50.49, 50.49, 51.48, 51.5], rtol=1e-14)
    np.testing.assert_allclose(abc.adjustment_factor, [0.495, 0.495, 0.99, 0.99, 1.0], rtol=1e-14)
    assert abc.volume.tolist() == [2000.0, 2400.0, 2600.0, 2400.0, 2500.0]
    assert (out[out.symbol == "XYZ"].adjustment_factor == 1.0).all()
    assert list(out.columns) == [*_abc_bars().columns, "adjustment_factor"]
    validate_bars(out.drop(columns="adjustment_factor"))
    every = adjust_for_actions(_abc_bars(), ABC_ACTIONS, dividends="all")
    e = every[every.symbol == "ABC"]
    np.testing.assert_allclose(e.close, abc.adj_close, rtol=1e-14)
    np.testing.assert_allclose(e.high, [101 * 0.495, 103 * 0.495, 52 * 0.99, 52.5 * 0.99, 52.0], rtol=1e-14)
    # the multiplicative adjustment makes the ex-day return C_t / (C_{t-1} - D): the dividend counts as received
    raw = _abc_bars().query("symbol == 'ABC'").close.to_numpy()
    np.testing.assert_allclose(abc.adj_close.iloc[4] / abc.adj_close.iloc[3], raw[4] / (raw[3] - 0.52), rtol=1e-14)


def _yfinance_convention(raw_close, volume, splits, dividends):
    """A yfinance `history(auto_adjust=False, actions=True)` frame, built independently of adjust_for_actions: Close and
    Volume restated for later splits, Dividends restated for later splits, and Adj Close by Yahoo's backward loop with
    the multiplier 1 - Dividend / Close of the day before, all in the split-adjusted basis."""
    n = len(raw_close)
    later = np.ones(n)                                           # product of split ratios with ex-date after day i
    for i in range(n - 2, -1, -1): later[i] = later[i + 1] * splits[i + 1]
    close, vol, div = raw_close / later, volume * later, dividends / later
    adj, m = np.empty(n), 1.0
    for i in range(n - 1, -1, -1):
        adj[i] = close[i] * m
        if i > 0 and div[i] > 0: m *= 1.0 - div[i] / close[i - 1]
    return close, adj, vol


def test_adjust_reproduces_yfinance_convention():
    rng = np.random.default_rng(5)
    days = pd.bdate_range("2015-01-01", periods=400)
    frames, acts, expect = [], [], {}
    for k, sym in enumerate(["AAA", "BBB", "CCC"]):
        splits, divs = np.ones(400), np.zeros(400)
        for i in rng.choice(np.arange(1, 400), 3, replace=False): splits[i] = [2.0, 3.0, 0.1][k]
        for i in range(20, 400, 63): divs[i] = 0.0 if splits[i] != 1 else 0.4
        level = 1 / np.cumprod(splits)                           # as traded: the price drops by the split ratio
        raw = np.round(40 * np.exp(np.cumsum(rng.normal(0, 0.01, 400))) * level / level[0], 4)
        vol = rng.integers(1_000, 9_000, 400).astype(float)
        frames.append(pd.DataFrame({"timestamp": days, "symbol": sym, "close": raw, "volume": vol}))
        acts += [(sym, days[i], splits[i], np.nan) for i in np.flatnonzero(splits != 1)]
        acts += [(sym, days[i], np.nan, divs[i]) for i in np.flatnonzero(divs)]
        expect[sym] = _yfinance_convention(raw, vol, splits, divs)
    bars = bars_frame(pd.concat(frames))
    out = adjust_for_actions(bars, pd.DataFrame(acts, columns=["symbol", "ex_date", "split_ratio", "dividend"]))
    for sym, (close, adj, vol) in expect.items():
        o = out[out.symbol == sym]
        np.testing.assert_allclose(o.close, close, rtol=1e-12)
        np.testing.assert_allclose(o.adj_close, adj, rtol=1e-12)
        np.testing.assert_allclose(o.volume, vol, rtol=1e-12)
        np.testing.assert_allclose(o.adjustment_factor, adj / bars[bars.symbol == sym].close.to_numpy(), rtol=1e-12)


def test_adjust_same_day_split_and_dividend_uses_post_split_basis():
    acts = pd.DataFrame({"symbol": ["ABC", "ABC"], "ex_date": ["2020-01-06", "2020-01-06"],
                         "split_ratio": [2.0, np.nan], "dividend": [np.nan, 0.51]})
    abc = adjust_for_actions(_abc_bars(), acts).query("symbol == 'ABC'")
    np.testing.assert_allclose(abc.adjustment_factor, [0.5 * (1 - 0.51 / 51.0)] * 2 + [1.0] * 3, rtol=1e-14)
    with pytest.raises(ValueError, match="divided by the same-day split_ratio 2.0 \\(the dividend is per post-split share\\)"):
        adjust_for_actions(_abc_bars(), acts.assign(dividend=[np.nan, 51.0]))


def test_adjust_non_session_and_range_rules():
    bars = _abc_bars()
    weekend = ABC_ACTIONS.assign(ex_date=["2020-01-04", "2020-01-08"])
    with pytest.raises(ValueError, match=r"actions ex_date 2020-01-04 for 'ABC' is not a session in bars \(previous 2020-01-03, next 2020-01-06\)"):
        adjust_for_actions(bars, weekend)
    pd.testing.assert_frame_equal(adjust_for_actions(bars, weekend, non_session="next"), adjust_for_actions(bars, ABC_ACTIONS))
    tz = ABC_ACTIONS.assign(ex_date=pd.to_datetime(ABC_ACTIONS.ex_date).dt.tz_localize("America/New_York"))
    pd.testing.assert_frame_equal(adjust_for_actions(bars, tz), adjust_for_actions(bars, ABC_ACTIONS))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        late = adjust_for_actions(bars, ABC_ACTIONS.assign(ex_date=["2020-01-06", "2020-03-02"]))
    assert [x.category for x in w] == [DataQualityWarning] and "1 action(s) fall after the last bar" in str(w[0].message)
    assert late.query("symbol == 'ABC'").adjustment_factor.tolist() == [0.5, 0.5, 1.0, 1.0, 1.0]
    early = adjust_for_actions(bars, ABC_ACTIONS.assign(ex_date=["2019-12-02", "2020-01-02"]))
    assert (early.adjustment_factor == 1.0).all()
    none = adjust_for_actions(bars, ABC_ACTIONS.iloc[:0])
    assert (none.adjustment_factor == 1.0).all() and none.adj_close.equals(bars.close)


@pytest.mark.parametrize("change, error, match", [
    (dict(split_ratio=[0.0, np.nan]), ValueError, "actions.split_ratio must be > 0 and finite; got 0.0 for 'ABC' on 2020-01-06"),
    (dict(split_ratio=[-2.0, np.nan]), ValueError, "actions.split_ratio must be > 0 and finite; got -2.0"),
    (dict(split_ratio=[np.inf, np.nan]), ValueError, "actions.split_ratio must be > 0 and finite; got inf"),
    (dict(dividend=[np.nan, -0.5]), ValueError, "actions.dividend must be >= 0 and finite; got -0.5 for 'ABC' on 2020-01-08"),
    (dict(dividend=[np.nan, 52.0]), ValueError, "actions.dividend must be below the previous close; got 52.0 for 'ABC' on 2020-01-08 against a close of 52.0 on 2020-01-07"),
    (dict(symbol=["ABC", "QQQ"]), ValueError, "actions has symbols not in bars: 'QQQ'"),
    (dict(ex_date=["2020-01-06", None]), ValueError, "actions.ex_date must not contain NaT; got 1"),
    (dict(ex_date=["2020-01-06", "soon"]), ValueError, "actions.ex_date must hold dates"),
    (dict(split_ratio=["2", None]), TypeError, "actions.split_ratio must be numeric; got dtype"),
    (dict(dividend=[True, False]), TypeError, "actions.dividend must be numeric; got dtype bool"),
])
def test_adjust_bad_actions(change, error, match):
    with pytest.raises(error, match=match.replace("(", r"\(").replace(")", r"\)")):
        adjust_for_actions(_abc_bars(), ABC_ACTIONS.assign(**change))


def test_adjust_bad_arguments():
    bars = _abc_bars()
    with pytest.raises(ValueError, match="actions must have columns symbol, ex_date and split_ratio and/or dividend; got symbol, ex_date"):
        adjust_for_actions(bars, ABC_ACTIONS[["symbol", "ex_date"]])
    with pytest.raises(TypeError, match="actions must be DataFrame; got dict"):
        adjust_for_actions(bars, {"symbol": "ABC"})
    with pytest.raises(ValueError, match="bars must have columns"):
        adjust_for_actions(bars.drop(columns="volume"), ABC_ACTIONS)
    with pytest.raises(ValueError, match=r"bars rows must be sorted by \(timestamp, symbol\)"):
        adjust_for_actions(bars.sort_values(["symbol", "timestamp"]).reset_index(drop=True), ABC_ACTIONS)
    with pytest.raises(ValueError, match="dividends must be one of 'adj_close', 'all'; got 'none'"):
        adjust_for_actions(bars, ABC_ACTIONS, dividends="none")
    with pytest.raises(ValueError, match="non_session must be one of 'raise', 'next'; got 'skip'"):
        adjust_for_actions(bars, ABC_ACTIONS, non_session="skip")
    nan_prev = bars.copy(); nan_prev.loc[(nan_prev.symbol == "ABC") & (nan_prev.timestamp == "2020-01-07"), "close"] = np.nan
    with pytest.raises(ValueError, match="actions.dividend for 'ABC' on 2020-01-08 needs the previous close; got NaN on 2020-01-07"):
        adjust_for_actions(nan_prev, ABC_ACTIONS)


def test_adjust_real_ohlcv_split_keeps_returns_continuous(shared_data):
    """Treat the real S&P 500 OHLCV as a stock that split 3-for-1 in the middle: after adjustment the log returns equal
    the real ones everywhere, including across the ex-date, and volume scales by the ratio before it."""
    ohlcv = pd.read_parquet(shared_data / "arch_sp500_index_ohlcv_daily.parquet").iloc[:1000]
    ex = ohlcv.index[500]
    traded = ohlcv.copy()
    traded.loc[traded.index >= ex, ["open", "high", "low", "close", "adj_close"]] /= 3.0
    traded.loc[traded.index >= ex, "volume"] *= 3.0
    bars = bars_frame(traded.rename_axis("timestamp").reset_index().assign(symbol="SPX"))
    out = adjust_for_actions(bars, pd.DataFrame({"symbol": ["SPX"], "ex_date": [ex], "split_ratio": [3.0]}))
    real = np.log(ohlcv["close"].to_numpy())
    np.testing.assert_allclose(np.diff(np.log(out.close.to_numpy())), np.diff(real), atol=1e-12)
    np.testing.assert_allclose(out.close.to_numpy(), ohlcv["close"].to_numpy() / 3.0, rtol=1e-14)
    np.testing.assert_allclose(out.volume.to_numpy(), 3.0 * ohlcv["volume"].to_numpy(), rtol=1e-14)
    assert out.adjustment_factor.iloc[:500].eq(1 / 3).all() and out.adjustment_factor.iloc[500:].eq(1.0).all()


# ---------------------------------------------------------------- outliers

def _pandas_hampel_flags(x: pd.Series, window, n_sigmas, center, min_periods):
    r = x.rolling(window, center=center, min_periods=min_periods)
    med = r.median()
    mad = r.apply(lambda a: np.nanmedian(np.abs(a - np.nanmedian(a))), raw=True)
    return ((x - med).abs() > n_sigmas * MAD_SCALE * mad), med, mad


@pytest.mark.parametrize("center", [False, True])
def test_hampel_matches_pandas_oracle(center):
    rng = np.random.default_rng(11)
    x = pd.Series(rng.standard_t(3, 600), index=pd.bdate_range("2010-01-01", periods=600), name="r")
    x[rng.random(600) < 0.05] = np.nan
    r = hampel(x, window=15, n_sigmas=3.0, center=center, min_periods=8, repair=True)
    flags, med, mad = _pandas_hampel_flags(x, 15, 3.0, center, 8)
    pd.testing.assert_series_equal(r.flags, flags.rename("r"))
    pd.testing.assert_series_equal(r.median, med.rename("r"))
    pd.testing.assert_series_equal(r.scale, (MAD_SCALE * mad).rename("r"))
    pd.testing.assert_series_equal(r.repaired, x.where(~flags, med).rename("r"))
    assert not r.flags[x.isna()].any() and r.repaired[x.isna()].isna().all()
    assert r.n_flagged.tolist() == [int(flags.sum())] and r.n_flagged.sum() > 0
    assert r.n_screened == int((x.notna() & med.notna()).sum())


def test_hampel_trailing_is_causal_centred_is_not():
    rng = np.random.default_rng(2)
    x = pd.Series(rng.normal(0, 1, 300), index=pd.bdate_range("2020-01-01", periods=300))
    x.iloc[150] = 6.0
    future = x.copy(); future.iloc[152:160] = 6.0                # what happens after t = 150 ...
    for center, should_match in ((False, True), (True, False)):
        a = hampel(x, window=11, n_sigmas=3.0, center=center).flags.iloc[:151]
        b = hampel(future, window=11, n_sigmas=3.0, center=center).flags.iloc[:151]
        assert a.equals(b) is should_match                       # ... changes the verdict on t only with look-ahead
    assert hampel(x, window=11, n_sigmas=3.0).flags.iloc[150]


def test_hampel_on_log_returns_finds_injected_bad_prints(sp20):
    ko = sp20["KO"].iloc[-1500:].copy()
    bad = [300, 700, 1200]
    for i in bad: ko.iloc[i] *= 1.25
    r = hampel(ko, on="log_returns", window=21, n_sigmas=5.0)
    flagged = set(np.flatnonzero(r.flags.to_numpy()))
    assert {i for b in bad for i in (b, b + 1)} <= flagged       # both legs of every bad print
    assert len(flagged) - 2 * len(bad) <= 0.02 * len(ko)         # and few others on real (fat-tailed) returns
    assert r.flags.index.equals(ko.index) and not r.flags.iloc[0] and np.isnan(r.location.iloc[0])
    np.testing.assert_allclose(r.median.to_numpy()[21:], pd.Series(np.log(ko).diff()).rolling(21).median().to_numpy()[21:], rtol=0, atol=0)


def test_hampel_frames_defaults_and_result(monkeypatch, sp20):
    p = sp20[["KO", "PEP", "XOM", "CVX"]].iloc[-400:]
    r = hampel(p, on="log_returns")
    assert isinstance(r, OutlierResult) and (r.window, r.threshold) == (21, 5.0)
    assert r.flags.columns.equals(p.columns) and r.flags.index.equals(p.index) and r.repaired is None
    for col in p.columns:
        assert r.flags[col].equals(hampel(p[col], on="log_returns").flags)
    assert r.n_flagged.index.equals(p.columns)
    assert repr(r).startswith("OutlierResult(method=hampel, n_flagged=") and "on          log_returns" in r.summary()
    monkeypatch.setenv("STATARB_HAMPEL_WINDOW", "11")
    monkeypatch.setenv("STATARB_HAMPEL_N_SIGMAS", "3.5")
    r2 = hampel(p["KO"])
    assert (r2.window, r2.threshold) == (11, 3.5)
    assert r2.flags.equals(hampel(p["KO"], window=11, n_sigmas=3.5).flags)


def test_hampel_min_periods_and_short_series():
    x = pd.Series([1.0, 2.0, 3.0, 100.0], index=pd.bdate_range("2020-01-01", periods=4))
    assert not hampel(x, window=5).flags.any() and hampel(x, window=5).median.isna().all()   # length < window
    r = hampel(x, window=5, min_periods=3, n_sigmas=3.0)
    assert r.flags.tolist() == [False, False, False, True]
    allnan = hampel(pd.Series(np.nan, index=x.index), window=3)
    assert allnan.n_flagged.sum() == 0 and allnan.n_screened == 0


def test_hampel_ties_give_zero_mad():
    x = pd.Series([10.0] * 15 + [10.01] + [10.0] * 5)
    r = hampel(x, window=11, n_sigmas=5.0)
    assert r.scale.iloc[15] == 0.0 and r.flags.iloc[15]          # MAD implosion: any change is flagged (documented)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(window=20, center=True), ValueError, r"window must be >= 1, and odd when center=True \(the window is \[t-h, t\+h\]\); got window=20, center=True"),
    (dict(window=0), ValueError, "window must be >= 1; got 0"),
    (dict(window=2.5), TypeError, "window must be an integer; got float 2.5"),
    (dict(min_periods=30), ValueError, "min_periods must be between 1 and window=21; got 30"),
    (dict(min_periods=0), ValueError, "min_periods must be >= 1; got 0"),
    (dict(n_sigmas=0), ValueError, "n_sigmas must be > 0 and finite; got 0"),
    (dict(n_sigmas=np.nan), ValueError, "n_sigmas must be > 0 and finite; got nan"),
    (dict(on="prices"), ValueError, "on must be one of 'values', 'log_returns'; got 'prices'"),
    (dict(center=1), TypeError, "center must be True or False; got int 1"),
    (dict(repair="no"), TypeError, "repair must be True or False; got str 'no'"),
])
def test_hampel_bad_arguments(kwargs, error, match):
    x = pd.Series(np.arange(1.0, 51.0), index=pd.bdate_range("2020-01-01", periods=50), name="X")
    with pytest.raises(error, match=match):
        hampel(x, **kwargs)


def test_outlier_screens_bad_data():
    idx = pd.bdate_range("2020-01-01", periods=30)
    x = pd.Series(np.linspace(1, 2, 30), index=idx, name="X")
    for screen in (lambda v, **k: hampel(v, window=5, **k), lambda v, **k: zscore_outliers(v, 5, 3.0, **k)):
        with pytest.raises(ValueError, match="x must be strictly positive and finite; column 'X' has 1 values <= 0"):
            screen(x.where(idx != idx[3], -1.0), on="log_returns")
        with pytest.raises(ValueError, match="x must be finite or NaN; column 'X' has 1 infinite values \\(first at 2020-01-06\\)"):
            screen(x.where(idx != idx[3], np.inf))
        with pytest.raises(ValueError, match="x index must be sorted ascending; got 2020-01-01 after 2020-01-02"):
            screen(x.iloc[[1, 0, *range(2, 30)]])
        with pytest.raises(TypeError, match="x must be numeric; column 'X' has dtype"):
            screen(x.astype(str))
        with pytest.raises(TypeError, match="x must be numeric; column 'X' has dtype bool"):
            screen(x > 1.5)
        with pytest.raises(TypeError, match="x must be Series or DataFrame; got list"):
            screen(list(x))
        with pytest.raises(ValueError, match="x must not be empty"):
            screen(x.iloc[:0])


def test_zscore_matches_loop_oracle():
    rng = np.random.default_rng(8)
    x = pd.Series(rng.standard_t(4, 400), index=pd.bdate_range("2015-01-01", periods=400), name="r")
    x.iloc[200] = 25.0
    r = zscore_outliers(x, window=30, threshold=4.0, repair=True)
    v = x.to_numpy()
    mean, std = np.full(400, np.nan), np.full(400, np.nan)
    for t in range(30, 400):
        w = v[t - 30:t]
        mean[t], std[t] = w.mean(), w.std(ddof=1)
    np.testing.assert_allclose(r.location.to_numpy(), mean, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(r.scale.to_numpy(), std, rtol=1e-10)
    expect = np.abs(v - mean) > 4.0 * std
    assert r.flags.to_numpy().tolist() == expect.tolist() and r.flags.iloc[200]
    assert r.repaired.iloc[200] == r.location.iloc[200] and r.repaired[~r.flags].equals(x[~r.flags])
    # with the point inside its own window a 21-value z-score cannot exceed (n-1)/sqrt(n) = 4.36: it would miss 25.0
    inside = (x - x.rolling(21).mean()).abs() / x.rolling(21).std()
    assert inside.max() <= 20 / np.sqrt(21) + 1e-12
    assert zscore_outliers(x, window=21, threshold=5.0).flags.iloc[200]
    with pytest.raises(AttributeError, match="a zscore result has no rolling median; see .location"):
        _ = r.median


def test_zscore_bad_arguments():
    x = pd.Series(np.arange(1.0, 31.0), index=pd.bdate_range("2020-01-01", periods=30))
    with pytest.raises(ValueError, match="window must be >= 2; got 1"):
        zscore_outliers(x, 1, 3.0)
    with pytest.raises(ValueError, match="threshold must be > 0 and finite; got -1"):
        zscore_outliers(x, 5, -1)
    with pytest.raises(ValueError, match="min_periods must be between 2 and window=5; got 6"):
        zscore_outliers(x, 5, 3.0, min_periods=6)
    with pytest.raises(TypeError, match="repair must be True or False"):
        zscore_outliers(x, 5, 3.0, repair=None)


# ---------------------------------------------------------------- benchmark smoke run

def test_bench_hampel_quick_prints_ratios():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_hampel.py"), "--quick"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    if run.returncode == 1 and "not built" in run.stderr: pytest.skip("statarb._hampel is not built")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ratio pandas / cython:" in run.stdout and "ratio python / cython (per point):" in run.stdout
    assert "outputs identical: cython == pandas True; cython == python twin True" in run.stdout


def test_plot_outliers_draws_the_flagged_points_of_real_prices(shared_data):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from statarb.data.clean import plot_outliers
    ko = pd.read_parquet(shared_data / "skfolio_sp500_20stocks_daily.parquet")["KO"].loc["2008"]
    res = hampel(ko, window=21, n_sigmas=4.0, on="log_returns")
    fig = plot_outliers(res)
    pts = fig.axes[0].collections[-1].get_offsets()
    assert len(pts) == int(res.n_flagged.sum()) > 0
    np.testing.assert_array_equal(np.asarray(pts)[:, 1], res.values[res.flags].to_numpy())
    plt.close(fig)
    with pytest.raises(ValueError, match="column must be one of"):
        plot_outliers(hampel(ko.to_frame().assign(PEP=ko), window=21), column="XOM")


def test_nyse_calendar_matches_the_sessions_of_the_sp500_1990_2022(bundled_data):
    "Oracle: the S&P 500's own trading days. Every weekday without a close is a closure, and no closure has one."
    idx = pd.read_parquet(bundled_data / "sp500_index_daily.parquet").index
    missing = pd.bdate_range(idx[0], idx[-1]).difference(idx)
    hol = exchange_holidays(idx[0], idx[-1])
    assert len(missing) == 294
    assert hol.equals(missing.rename("holiday"))
