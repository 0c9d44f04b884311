"""statarb.data.sources: argument checks, yfinance conversion and errors, file sources, sample data, fetch_many."""
import asyncio
import gzip
import logging
import threading
import time
import warnings
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yfinance
import yfinance.multi
from yfinance.exceptions import YFPricesMissingError

from statarb.core import DataQualityWarning, DataSourceError
from statarb.data import sources
from statarb.data.schema import BAR_COLUMNS, QUOTE_COLUMNS, validate_bars
from statarb.data.sources import (
    BaseSource,
    BatchFetchResult,
    CSVSource,
    DataSource,
    NoDataError,
    ParquetSource,
    SampleSource,
    YahooSource,
    afetch_many,
    check_interval,
    check_symbols,
    fetch_many,
    fetch_wide,
    from_yfinance,
    load_sample,
)

# ---------------------------------------------------------------- arguments


def test_check_symbols_accepts_string_and_sequences():
    assert check_symbols("KO") == ["KO"]
    assert check_symbols(("KO", "PEP")) == ["KO", "PEP"]
    assert check_symbols(pd.Index(["KO", "PEP"])) == ["KO", "PEP"]
    assert check_symbols(np.array(["KO", "PEP"])) == ["KO", "PEP"]
    assert all(type(s) is str for s in check_symbols(np.array(["KO"])))


@pytest.mark.parametrize("bad, exc, msg", [
    ([], ValueError, "symbols must not be empty"),
    ({"KO"}, TypeError, "got set (it has no order"),
    ({"KO": 1}, TypeError, "got dict"),
    (None, TypeError, "symbols must be a string or a list of strings; got NoneType"),
    (["KO", None], TypeError, "symbols[1] must be a string; got NoneType None"),
    (["", "KO"], ValueError, "symbols[0] must be a non-empty string; got ''"),
    (["KO", " PEP"], ValueError, "must not have leading or trailing spaces; got ' PEP'"),
    (["KO", "PEP", "KO", "PEP"], ValueError, "symbols must be unique; got 'KO', 'PEP' more than once"),
])
def test_check_symbols_rejects(bad, exc, msg):
    with pytest.raises(exc) as e: check_symbols(bad)
    assert msg in str(e.value)


def test_check_interval():
    assert check_interval("1wk") == "1wk"
    with pytest.raises(ValueError, match="interval must be one of '1m'"): check_interval("1w")
    with pytest.raises(TypeError, match="interval must be str; got int"): check_interval(60)


def test_clip_end_is_inclusive_and_a_date_keeps_its_whole_day():
    ts = pd.to_datetime(["2020-01-02 14:30", "2020-01-02 20:00", "2020-01-03 14:30"]).tz_localize("UTC")
    f = pd.DataFrame({"timestamp": ts, "symbol": "KO"})
    day = pd.Timestamp("2020-01-02", tz="UTC")
    assert len(sources._clip(f, None, day)) == 2                     # a date: the whole day
    assert len(sources._clip(f, None, pd.Timestamp("2020-01-02 14:30", tz="UTC"))) == 1   # a time: inclusive
    assert len(sources._clip(f, pd.Timestamp("2020-01-02 15:00", tz="UTC"), None)) == 2


# ---------------------------------------------------------------- yfinance, with its real download() code path


def _history_frame(ticker, interval, tz="America/New_York", n=None, offset=0.0):
    "A frame as yfinance's Ticker.history builds it (exchange-time index, Volume int64)."
    if interval == "1d":
        idx = pd.DatetimeIndex(pd.bdate_range("2020-01-02", periods=n or 4).date).tz_localize(tz)
        name = "Date"
    else:
        idx = pd.date_range("2020-01-02 09:30", periods=n or 4, freq="30min", tz=tz)
        name = "Datetime"
    base = 50.0 + offset + np.arange(len(idx))
    df = pd.DataFrame({"Open": base, "High": base + 1, "Low": base - 1, "Close": base + 0.5,
                       "Adj Close": base + 0.25, "Volume": np.arange(len(idx), dtype=np.int64) * 10 + 100}, index=idx)
    return df.rename_axis(name)


@pytest.fixture
def stub_yf(monkeypatch):
    "Replace yfinance's per-ticker fetcher; `download` itself (threads, reindex, concat, logging) runs for real."
    spec = {}            # ticker -> frame, or an exception to raise

    class StubTicker:
        def __init__(self, ticker):
            self.ticker = ticker
            self._price_history = SimpleNamespace(_last_error=None)

        def history(self, **kw):
            got = spec[self.ticker]
            if isinstance(got, BaseException): raise got
            return got.copy()

    monkeypatch.setattr(yfinance.multi, "Ticker", StubTicker)
    return spec


def _download(tickers, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return yfinance.download(tickers, **kw)


def test_from_yfinance_daily_matches_the_per_ticker_frames(stub_yf):
    stub_yf["KO"] = _history_frame("KO", "1d", n=4)
    stub_yf["PEP"] = _history_frame("PEP", "1d", n=3, offset=80)
    raw = _download(["KO", "PEP"], start="2020-01-01", end="2020-01-10", auto_adjust=False, actions=False,
                    progress=False, group_by="column", multi_level_index=True, threads=True)
    # the shape yfinance 1.7 returns
    assert list(raw.columns.names) == ["Price", "Ticker"]
    assert list(raw.columns.get_level_values(0).unique()) == ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    assert raw.index.name == "Date" and raw.index.tz is None
    bars = from_yfinance(raw, "1d")
    validate_bars(bars)
    assert bars.groupby("symbol").size().to_dict() == {"KO": 4, "PEP": 3}
    for sym in ("KO", "PEP"):
        h = stub_yf[sym]
        b = bars[bars.symbol == sym]
        np.testing.assert_array_equal(b.close, h.Close)
        np.testing.assert_array_equal(b.adj_close, h["Adj Close"])
        np.testing.assert_array_equal(b.volume, h.Volume.astype(float))
        expected = pd.DatetimeIndex(h.index.tz_localize(None)).tz_localize("UTC")
        np.testing.assert_array_equal(b.timestamp.to_numpy(), expected.to_numpy())


def test_from_yfinance_intraday_to_utc_across_exchanges(stub_yf):
    stub_yf["KO"] = _history_frame("KO", "30m", tz="America/New_York")
    stub_yf["VOD.L"] = _history_frame("VOD.L", "30m", tz="Europe/London")
    stub_yf["BP.L"] = _history_frame("BP.L", "30m", tz="Europe/London")
    raw = _download(["KO", "VOD.L", "BP.L"], start="2020-01-02", end="2020-01-03", interval="30m",
                    auto_adjust=False, actions=False, progress=False, group_by="column", multi_level_index=True,
                    threads=False)
    assert raw.index.name == "Datetime" and str(raw.index.tz) == "Europe/London"     # the most common zone
    bars = from_yfinance(raw, "30m")
    first = bars.groupby("symbol").timestamp.min()
    assert first["KO"] == pd.Timestamp("2020-01-02 14:30", tz="UTC")
    assert first["VOD.L"] == pd.Timestamp("2020-01-02 09:30", tz="UTC")


def test_from_yfinance_group_by_ticker_and_bad_frames(stub_yf):
    stub_yf["KO"] = _history_frame("KO", "1d")
    by_col = _download(["KO"], start="2020-01-01", end="2020-01-10", auto_adjust=False, progress=False,
                       group_by="column", threads=False)
    by_tkr = _download(["KO"], start="2020-01-01", end="2020-01-10", auto_adjust=False, progress=False,
                       group_by="ticker", threads=False)
    pd.testing.assert_frame_equal(from_yfinance(by_col), from_yfinance(by_tkr))
    with pytest.raises(ValueError, match=r"two column levels \(Price, Ticker\).*got 1 level"):
        from_yfinance(by_col.droplevel("Ticker", axis=1))
    with pytest.raises(TypeError, match="must have a DatetimeIndex"): from_yfinance(by_col.reset_index(drop=True))
    with pytest.raises(ValueError, match="must have a 'Close' field"): from_yfinance(by_col.drop(columns="Close", level="Price"))
    with pytest.raises(TypeError, match="data must be DataFrame"): from_yfinance(by_col["Close"]["KO"])
    assert len(from_yfinance(by_col.iloc[:0])) == 0


def test_yahoo_source_passes_the_documented_arguments():
    seen = {}

    def downloader(tickers, **kw):
        seen.update(kw, tickers=tickers)
        return pd.DataFrame(columns=pd.MultiIndex.from_tuples([], names=["Price", "Ticker"]))

    src = YahooSource(downloader, threads=3, timeout=2.5)
    with pytest.raises(DataSourceError):
        src.fetch(["ko", "BRK-B"], start="2020-01-02", end="2020-01-31")
    assert seen == dict(tickers=["KO", "BRK-B"], start="2020-01-02", end="2020-02-01", interval="1d",
                        auto_adjust=False, actions=False, progress=False, group_by="column",
                        multi_level_index=True, threads=3, timeout=2.5)
    seen.clear()
    with pytest.raises(DataSourceError):
        src.fetch("KO", start="2020-01-02 14:30", end="2020-01-02 15:00", interval="5m")
    assert seen["start"] == pd.Timestamp("2020-01-02 14:30", tz="UTC")
    assert seen["end"] == pd.Timestamp("2020-01-02 15:00:01", tz="UTC")
    seen.clear()
    with pytest.raises(DataSourceError):
        src.fetch("KO")
    assert seen["period"] == "max" and "start" not in seen and "end" not in seen


def test_yahoo_source_clips_to_inclusive_end(stub_yf):
    stub_yf["KO"] = _history_frame("KO", "1d", n=5)           # 2020-01-02 .. 2020-01-08
    bars = YahooSource(threads=False).fetch("KO", start="2020-01-03", end="2020-01-07")
    assert bars.timestamp.dt.strftime("%Y-%m-%d").tolist() == ["2020-01-03", "2020-01-06", "2020-01-07"]
    assert isinstance(YahooSource(), DataSource)


def test_yahoo_partial_failure_warns_by_name_and_can_raise(stub_yf):
    stub_yf["KO"] = _history_frame("KO", "1d")
    stub_yf["GONE"] = YFPricesMissingError("GONE", "(1d 2020-01-01 -> 2020-01-10)")
    with pytest.warns(DataQualityWarning, match=r"no bars for 'GONE'.*1 of 2 symbols came back") as rec:
        bars = YahooSource(threads=True).fetch(["KO", "GONE"], "2020-01-01", "2020-01-09")
    assert "possibly delisted; no price data found" in str(rec[0].message)
    assert bars.symbol.unique().tolist() == ["KO"]
    with pytest.raises(DataSourceError, match=r"no bars for 'GONE'[\s\S]*possibly delisted"):
        YahooSource(threads=False, partial="raise").fetch(["KO", "GONE"], "2020-01-01", "2020-01-09")


def test_yahoo_total_failure_names_symbols_and_logged_cause(stub_yf):
    for s in ("AAPL", "MSFT"):
        stub_yf[s] = ConnectionError(f"Failed to get ticker '{s}': could not resolve host")
    logger = logging.getLogger("yfinance")
    before = list(logger.handlers)
    with pytest.raises(DataSourceError) as e:
        YahooSource(threads=True).fetch(["AAPL", "MSFT"], "2020-01-01", "2020-01-31")
    msg = str(e.value)
    assert "YahooSource got no bars for 'AAPL', 'MSFT' (2020-01-01 .. 2020-01-31, interval '1d')" in msg
    assert "AAPL: " in msg and "could not resolve host" in msg and "\n  MSFT: " in msg
    assert logger.handlers == before                          # the capture handler is removed again


def test_yahoo_downloader_errors_and_bad_frames():
    def boom(tickers, **kw): raise TimeoutError("read timed out")
    with pytest.raises(DataSourceError, match="YahooSource could not download 'KO': TimeoutError: read timed out"):
        YahooSource(boom).fetch("KO")
    with pytest.raises(DataSourceError, match="downloader must return a DataFrame"):
        YahooSource(lambda t, **kw: [1, 2]).fetch("KO")
    flat = pd.DataFrame({"Close": [1.0]}, index=pd.DatetimeIndex(["2020-01-02"], name="Date"))
    with pytest.raises(DataSourceError, match="does not fit the bar schema: data must have two column levels"):
        YahooSource(lambda t, **kw: flat).fetch("KO")
    with pytest.raises(DataSourceError, match="yfinance returned no rows and logged no error"):
        YahooSource(lambda t, **kw: None).fetch("KO")


@pytest.mark.parametrize("kw, exc, msg", [
    (dict(downloader="yf"), TypeError, "downloader must be callable"),
    (dict(threads="4"), TypeError, "threads must be bool or int"),
    (dict(threads=0), ValueError, "threads must be >= 1"),
    (dict(timeout=-1), ValueError, "timeout must be > 0"),
    (dict(partial="drop"), ValueError, "partial must be one of 'warn', 'raise'; got 'drop'"),
])
def test_yahoo_source_constructor_errors(kw, exc, msg):
    with pytest.raises(exc, match=msg): YahooSource(**kw)


def test_yahoo_fetch_argument_errors():
    src = YahooSource(lambda t, **kw: None)
    with pytest.raises(ValueError, match="must be unique ignoring case"): src.fetch(["KO", "ko"])
    with pytest.raises(ValueError, match="end must not be before start; got start=2020-02-01, end=2020-01-01"):
        src.fetch("KO", "2020-02-01", "2020-01-01")
    with pytest.raises(ValueError, match="start must be a date or timestamp"): src.fetch("KO", start="yesterday-ish")
    with pytest.raises(ValueError, match="interval must be one of"): src.fetch("KO", interval="2h")


def test_real_yfinance_download_offline_raises_clear_error():
    "The real yf.download without a network: an empty frame and logged errors become our DataSourceError."
    src = YahooSource(threads=True, timeout=5)
    t0 = time.monotonic()
    try:
        bars = src.fetch(["AAPL", "MSFT"], start="2020-01-02", end="2020-01-31")
    except DataSourceError as e:
        msg = str(e)
        assert "YahooSource got no bars for 'AAPL', 'MSFT'" in msg
        assert "\n  AAPL: " in msg and "\n  MSFT: " in msg
        assert "Error" in msg or "error" in msg                 # the logged cause, e.g. a DNS error
    else:
        pytest.skip(f"network reachable: got {len(bars)} bars")
    assert time.monotonic() - t0 < 60


# ---------------------------------------------------------------- file sources


@pytest.fixture
def long_csv(tmp_path):
    df = pd.DataFrame({"Date": ["2020-01-02", "2020-01-02", "2020-01-03", "2020-01-03", "2020-01-06"],
                       "Ticker": ["KO", "007", "KO", "007", "KO"],
                       "Open": [54.3, 9.9, 54.1, 9.8, 53.9], "High": [54.8, 10.2, 54.4, 9.9, 54.2],
                       "Low": [54.0, 9.7, 53.7, 9.6, 53.6], "Close": [54.7, 10.0, 54.3, 9.7, 54.0],
                       "Adj Close": [50.1, 9.0, 49.7, 8.8, 49.5], "Volume": [1.1e7, 4.0e6, 1.2e7, 3.9e6, 1.0e7],
                       "Note": ["x", "y", "z", "w", "v"]})
    p = tmp_path / "prices.csv"
    df.to_csv(p, index=False)
    return p, df


def test_csv_long_values_and_aliases(long_csv):
    p, df = long_csv
    src = CSVSource(p)
    assert src.symbols() == ("007", "KO")                     # a ticker column is read as text: '007' stays '007'
    bars = src.fetch(["KO", "007"])
    assert tuple(bars.columns) == BAR_COLUMNS
    ko = bars[bars.symbol == "KO"]
    np.testing.assert_array_equal(ko.close, df.loc[df.Ticker == "KO", "Close"])
    np.testing.assert_array_equal(ko.adj_close, df.loc[df.Ticker == "KO", "Adj Close"])
    assert bars.timestamp.iloc[0] == pd.Timestamp("2020-01-02", tz="UTC")
    assert list(zip(bars.timestamp.dt.day, bars.symbol)) == [(2, "007"), (2, "KO"), (3, "007"), (3, "KO"), (6, "KO")]
    wide = src.fetch_wide(["KO", "007"], "2020-01-03", "2020-01-03", field="open")
    assert wide.to_dict("records") == [{"KO": 54.1, "007": 9.8}]


def test_csv_explicit_column_map_and_date_column(tmp_path):
    df = pd.DataFrame({"when": ["2020-01-02", "2020-01-03"], "name": ["KO", "KO"], "last": [54.7, 54.3]})
    df.to_csv(tmp_path / "x.csv", index=False)
    bars = CSVSource(tmp_path / "x.csv", columns={"name": "symbol", "last": "close"}, date_column="when").fetch("KO")
    assert bars.close.tolist() == [54.7, 54.3] and bars.adj_close.tolist() == [54.7, 54.3]
    with pytest.raises(ValueError, match="both map to 'timestamp'"):
        CSVSource(tmp_path / "x.csv", columns={"name": "timestamp"}, date_column="when").fetch("KO")


def test_csv_single_symbol_file_named_after_file(tmp_path):
    pd.DataFrame({"date": ["2020-01-02"], "close": [1.5]}).to_csv(tmp_path / "BRK.B.csv", index=False)
    assert CSVSource(tmp_path / "BRK.B.csv").symbols() == ("BRK.B",)


def test_directory_of_per_symbol_files(tmp_path, long_csv):
    p, df = long_csv
    d = tmp_path / "dir"
    d.mkdir()
    for sym, g in df.groupby("Ticker"):
        g.drop(columns="Ticker").to_parquet(d / f"{sym}.parquet", index=False)
    (d / "README.txt").write_text("not data")
    src = ParquetSource(d)
    assert src.symbols() == ("007", "KO")
    pd.testing.assert_frame_equal(src.fetch(["KO", "007"]), CSVSource(p).fetch(["KO", "007"]))
    # only the files asked for are read
    (d / "BAD.parquet").write_bytes(b"garbage")
    src = ParquetSource(d)
    assert len(src.fetch("KO")) == 3
    with pytest.raises(DataSourceError, match=r"cannot read Parquet file '.*BAD\.parquet'"):
        src.fetch("BAD")


def test_directory_errors(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    with pytest.raises(ValueError, match=r"holds no CSV files \(.csv, .csv.gz"):
        CSVSource(d)
    pd.DataFrame({"date": ["2020-01-02"], "close": [1.0]}).to_csv(d / "KO.csv", index=False)
    pd.DataFrame({"date": ["2020-01-02"], "close": [1.0]}).to_csv(d / "KO.csv.gz", index=False)
    with pytest.raises(ValueError, match="holds several files for 'KO'; keep one per symbol"):
        CSVSource(d)
    (d / "KO.csv.gz").unlink()
    pd.DataFrame({"date": ["2020-01-02"], "symbol": ["PEP"], "close": [1.0]}).to_csv(d / "XX.csv", index=False)
    with pytest.raises(ValueError, match="XX.csv: a per-symbol file must hold only 'XX'; got 'PEP'"):
        CSVSource(d).fetch("XX")
    with pytest.raises(ValueError, match="layout='wide' needs a single file"):
        CSVSource(d, layout="wide")


def test_file_cache_rereads_a_changed_file(tmp_path):
    p = tmp_path / "KO.csv"
    pd.DataFrame({"date": ["2020-01-02"], "close": [1.0]}).to_csv(p, index=False)
    src = CSVSource(p)
    assert src.fetch("KO").close.tolist() == [1.0]
    assert src._load(p) is src._load(p)                        # cached
    pd.DataFrame({"date": ["2020-01-02", "2020-01-03"], "close": [1.0, 2.0]}).to_csv(p, index=False)
    assert src.fetch("KO").close.tolist() == [1.0, 2.0]


def test_wide_files(tmp_path):
    idx = pd.DatetimeIndex(["2020-01-02", "2020-01-03", "2020-01-06"], name="Date")
    w = pd.DataFrame({"KO": [54.7, np.nan, 54.0], "PEP": [135.8, 135.4, 136.1]}, index=idx)
    w.to_parquet(tmp_path / "w.parquet")
    w.to_csv(tmp_path / "w.csv")
    for src in (ParquetSource(tmp_path / "w.parquet", layout="wide"), CSVSource(tmp_path / "w.csv", layout="wide")):
        got = src.fetch_wide(["KO", "PEP"], field="close")
        np.testing.assert_array_equal(got.to_numpy(), w.to_numpy())
        assert got.index.tz is not None and (got.index.tz_localize(None) == idx).all()
        assert src.symbols() == ("KO", "PEP")
    with pytest.raises(ValueError, match="columns applies to layout='long'"):
        CSVSource(tmp_path / "w.csv", layout="wide", columns={"KO": "close"})


def test_time_handling(tmp_path):
    # naive intraday times are read in tz
    pd.DataFrame({"datetime": ["2020-07-01 09:30", "2020-07-01 10:00"], "close": [1.0, 1.1]}).to_csv(tmp_path / "A.csv", index=False)
    b = CSVSource(tmp_path / "A.csv", interval="30m", tz="America/New_York").fetch("A")
    assert b.timestamp.iloc[0] == pd.Timestamp("2020-07-01 13:30", tz="UTC")
    # aware daily times keep their session date
    pd.DataFrame({"date": ["2020-07-01 00:00-04:00"], "close": [1.0]}).to_csv(tmp_path / "B.csv", index=False)
    assert CSVSource(tmp_path / "B.csv").fetch("B").timestamp.iloc[0] == pd.Timestamp("2020-07-01", tz="UTC")
    with pytest.raises(ValueError, match=r"A.csv: '1d' bars must be dated at midnight; got 2020-07-01 09:30:00 \(2 rows\)"):
        CSVSource(tmp_path / "A.csv").fetch("A")
    # epoch numbers need a unit
    pd.DataFrame({"ts": [1_600_000_000_000], "close": [1.0]}).to_csv(tmp_path / "C.csv", index=False)
    with pytest.raises(ValueError, match=r"C.csv: the time column is numeric \(int64\); pass time_unit="):
        CSVSource(tmp_path / "C.csv", date_column="ts", interval="1m").fetch("C")
    c = CSVSource(tmp_path / "C.csv", date_column="ts", interval="1m", time_unit="ms").fetch("C")
    assert c.timestamp.iloc[0] == pd.Timestamp(1_600_000_000_000, unit="ms", tz="UTC")
    pd.DataFrame({"date": ["2020-01-02", "someday"], "close": [1.0, 2.0]}).to_csv(tmp_path / "D.csv", index=False)
    with pytest.raises(ValueError, match="D.csv: cannot read the time column as dates"):
        CSVSource(tmp_path / "D.csv").fetch("D")
    pd.DataFrame({"date": ["2020-01-02", None], "close": [1.0, 2.0]}).to_csv(tmp_path / "E.csv", index=False)
    with pytest.raises(ValueError, match=r"E.csv: the time column has 1 missing values \(first at row 1\)"):
        CSVSource(tmp_path / "E.csv").fetch("E")


def test_file_source_content_errors(tmp_path, long_csv):
    p, df = long_csv
    src = CSVSource(p)
    with pytest.raises(ValueError, match=r"symbols not in prices.csv: 'XOM', 'CVX'; available \(2\): '007', 'KO'"):
        src.fetch(["KO", "XOM", "CVX"])
    with pytest.raises(NoDataError, match=r"CSVSource got no bars for 'KO', '007' \(2021-01-01 .. 2021-12-31, interval '1d'\)"):
        src.fetch(["KO", "007"], "2021-01-01", "2021-12-31")
    with pytest.warns(DataQualityWarning, match=r"no bars for '007' .*\(1 of 2 symbols came back\)") as rec:
        src.fetch(["KO", "007"], start="2020-01-06")
    assert rec[0].filename == __file__                         # the warning points at the caller
    with pytest.raises(NoDataError, match="no bars for '007'"):
        CSVSource(p, partial="raise").fetch(["KO", "007"], start="2020-01-06")
    with pytest.raises(ValueError, match="interval must be one of '1d' for this CSVSource"):
        src.fetch("KO", interval="1h")
    df.assign(Close=df.Close.where(df.Ticker != "KO", 0.0)).to_csv(tmp_path / "zero.csv", index=False)
    with pytest.raises(ValueError, match=r"zero.csv.close must be strictly positive and finite; got 3 bad values \(first 0.0 for 'KO'"):
        CSVSource(tmp_path / "zero.csv").fetch("KO")
    pd.concat([df, df.iloc[:1]]).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(ValueError, match="dup.csv must have one row per"):
        CSVSource(tmp_path / "dup.csv").fetch("KO")
    df.drop(columns="Close").to_csv(tmp_path / "noclose.csv", index=False)
    with pytest.raises(ValueError, match="noclose.csv must have columns timestamp, symbol, close; missing close"):
        CSVSource(tmp_path / "noclose.csv").fetch("KO")
    df.assign(Close="abc").to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(TypeError, match="text.csv column 'close' must be numeric"):
        CSVSource(tmp_path / "text.csv").fetch("KO")


def test_unreadable_files_name_the_file(tmp_path):
    (tmp_path / "a.csv.gz").write_bytes(b"plain text, not gzip")
    with pytest.raises(DataSourceError, match=r"cannot read CSV file '.*a\.csv\.gz': BadGzipFile"):
        CSVSource(tmp_path / "a.csv.gz").fetch("a")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataSourceError, match=r"cannot read CSV file '.*empty\.csv': EmptyDataError"):
        CSVSource(tmp_path / "empty.csv").fetch("empty")
    (tmp_path / "x.parquet").write_bytes(b"PAR1" + b"\0" * 20)
    with pytest.raises(DataSourceError, match=r"cannot read Parquet file '.*x\.parquet'"):
        ParquetSource(tmp_path / "x.parquet").symbols()
    with gzip.open(tmp_path / "ok.csv.gz", "wt") as f: f.write("date,close\n2020-01-02,1.5\n")
    assert CSVSource(tmp_path / "ok.csv.gz").fetch("ok").close.tolist() == [1.5]


@pytest.mark.parametrize("kw, exc, msg", [
    (dict(path=123), TypeError, "path must be str or PathLike; got int"),
    (dict(path="/no/such/file.csv"), FileNotFoundError, "path must be an existing CSV file or a directory of them; got '/no/such/file.csv'"),
    (dict(layout="tall"), ValueError, "layout must be one of 'long', 'wide'; got 'tall'"),
    (dict(kind="trades"), ValueError, "kind must be one of 'bars', 'quotes'"),
    (dict(kind="quotes", layout="wide"), ValueError, "kind='quotes' needs layout='long'"),
    (dict(kind="quotes", interval="1d"), ValueError, "interval of a quote source must be 'tick' or None; got '1d'"),
    (dict(interval="1day"), ValueError, "interval must be one of"),
    (dict(columns=[("a", "close")]), TypeError, "columns must be dict"),
    (dict(columns={"a": "last"}), ValueError, "columns must map file columns to bars columns"),
    (dict(columns={"a": "close", "b": "close"}), ValueError, "got 'close' more than once"),
    (dict(kind="quotes", columns={"a": "close"}), ValueError, "to quotes columns"),
    (dict(date_column=0), TypeError, "date_column must be str; got int"),
    (dict(tz="Nowhere/City"), ValueError, "tz must be a time zone name"),
    (dict(time_unit="min"), ValueError, "time_unit must be one of 's', 'ms', 'us', 'ns'"),
    (dict(partial="skip"), ValueError, "partial must be one of 'warn', 'raise'"),
])
def test_file_source_constructor_errors(long_csv, kw, exc, msg):
    p, _ = long_csv
    kw = {"path": p, **kw}
    with pytest.raises(exc) as e: CSVSource(**kw)
    assert msg in str(e.value)


def test_missing_column_in_maps(long_csv):
    p, _ = long_csv
    with pytest.raises(ValueError, match="prices.csv: columns maps 'Last', which is not a column"):
        CSVSource(p, columns={"Last": "close"}).fetch("KO")
    with pytest.raises(ValueError, match="prices.csv: date_column 'When' is not a column"):
        CSVSource(p, date_column="When").fetch("KO")


def test_quotes_from_the_real_binance_bookticker(shared_data):
    path = shared_data / "hftbacktest_binance_usdm_btc_eth_bookticker.parquet"
    if not path.is_file(): pytest.skip("bookticker file absent")
    raw = pd.read_parquet(path)
    src = ParquetSource(path, kind="quotes", date_column="event_ms", time_unit="ms")
    assert src.symbols() == ("BTCUSDT", "ETHUSDT")
    q = src.fetch(["BTCUSDT", "ETHUSDT"])
    assert tuple(q.columns) == QUOTE_COLUMNS and len(q) == len(raw) == 120_081
    assert q.timestamp.is_monotonic_increasing and (q.bid <= q.ask).all()
    for sym in ("BTCUSDT", "ETHUSDT"):
        r = raw[raw.symbol == sym]
        g = q[q.symbol == sym]
        # the stable sort keeps each symbol's own order: values match the file row for row
        np.testing.assert_array_equal(g.bid.to_numpy(), r.bid_px.to_numpy())
        np.testing.assert_array_equal(g.ask_size.to_numpy(), r.ask_qty.to_numpy())
        np.testing.assert_array_equal(g.timestamp.astype("int64").to_numpy(), r.event_ms.to_numpy() * 1_000_000)
    assert q.price.isna().all() and q["size"].isna().all()
    # a one-minute window, inclusive on both ends
    lo = q.timestamp.iloc[1000]
    hi = lo + pd.Timedelta(minutes=1)
    win = src.fetch("ETHUSDT", lo, hi)
    expected = q[(q.symbol == "ETHUSDT") & (q.timestamp >= lo) & (q.timestamp <= hi)]
    assert len(win) == len(expected) > 0
    with pytest.raises(TypeError, match="fetch_wide needs a bar source"):
        fetch_wide(src, "BTCUSDT")
    with pytest.raises(ValueError, match="interval must be one of 'tick' for this ParquetSource"):
        src.fetch("BTCUSDT", interval="1m")


def test_quotes_crossed_book_is_an_error(tmp_path):
    pd.DataFrame({"time": ["2024-01-01 00:00:00.001", "2024-01-01 00:00:00.002"], "symbol": "X",
                  "bid": [10.0, 10.2], "ask": [10.1, 10.1]}).to_csv(tmp_path / "q.csv", index=False)
    with pytest.raises(ValueError, match="q.csv must have bid <= ask; got 1 crossed quotes"):
        CSVSource(tmp_path / "q.csv", kind="quotes").fetch("X")


# ---------------------------------------------------------------- sample data


def test_sample_source_matches_the_raw_files():
    src = SampleSource()
    stocks = load_sample("sp500_20stocks")
    assert src.symbols() == tuple(stocks.columns) + ("SP500", "^GSPC")
    wide = src.fetch_wide(["KO", "PEP", "AAPL"])
    pd.testing.assert_frame_equal(wide.set_axis(wide.index.tz_localize(None).astype("datetime64[us]").rename("Date")),
                                  stocks[["KO", "PEP", "AAPL"]].sort_index(axis=1).pipe(lambda f: f[list(wide.columns)]),
                                  check_freq=False)
    ko = src.fetch("KO", "2020-01-01", "2020-12-31")
    assert ko[["open", "high", "low", "volume"]].isna().all(axis=None)
    assert (ko.close == ko.adj_close).all()


def test_sample_source_index_and_ohlcv_facts():
    src = SampleSource()
    b = src.fetch(["SP500", "^GSPC"], "2008-10-10", "2008-10-10")
    assert b.set_index("symbol").close.to_dict() == {"SP500": 899.22, "^GSPC": 899.219971}
    g = b[b.symbol == "^GSPC"].iloc[0]
    assert (g.open, g.high, g.low, g.volume) == (902.309998, 936.359985, 839.799988, 11456230000.0)
    spx = src.fetch_wide("SP500", "2020-02-19", "2020-03-23")["SP500"]
    assert round(spx.iloc[-1] / spx.iloc[0] - 1, 4) == -0.3392           # the 2020 drawdown
    gspc = src.fetch("^GSPC")
    assert (gspc.timestamp.iloc[0], gspc.timestamp.iloc[-1], len(gspc)) == (
        pd.Timestamp("1999-01-04", tz="UTC"), pd.Timestamp("2018-12-31", tz="UTC"), 5031)


def test_sample_source_errors_and_data_dir(tmp_path, monkeypatch):
    src = SampleSource()
    with pytest.raises(ValueError, match=r"symbols not in the bundled sample: 'TSLA'; available: 'AAPL', 'AMD'.*'SP500', '\^GSPC'"):
        src.fetch(["KO", "TSLA"])
    with pytest.raises(NoDataError, match=r"SampleSource got no bars for '\^GSPC' \(2019-01-01 .. last"):
        src.fetch("^GSPC", start="2019-01-01")
    with pytest.warns(DataQualityWarning, match=r"no bars for '\^GSPC'"):
        assert src.fetch(["KO", "^GSPC"], start="2019-01-01").symbol.unique().tolist() == ["KO"]
    with pytest.raises(ValueError, match="interval must be one of '1d' for this SampleSource"):
        src.fetch("KO", interval="1mo")
    with pytest.raises(FileNotFoundError, match="data_dir must be a directory holding the bundled samples"):
        SampleSource(tmp_path / "none")
    with pytest.raises(TypeError, match="data_dir must be str or PathLike; got int"):
        SampleSource(3)
    # the configured data_dir is used (STATARB_DATA_DIR)
    monkeypatch.setenv("STATARB_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"bundled sample 'sp500_20stocks' is missing: no file .*python data/extract.py"):
        SampleSource().fetch("SP500")
    (tmp_path / "sp500_index_daily.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataSourceError, match="cannot read bundled sample 'sp500_index' from"):
        load_sample("sp500_index")


def test_load_sample_names():
    for name in sources.SAMPLES: assert len(load_sample(name)) > 1000
    with pytest.raises(ValueError, match="name must be one of 'sp500_20stocks', 'sp500_index', 'sp500_ohlcv', 'ff3_monthly'; got 'ff5'"):
        load_sample("ff5")
    with pytest.raises(TypeError, match="name must be str; got int"):
        load_sample(1)


# ---------------------------------------------------------------- fetch_many


class FakeSource:
    "A protocol-only source (no BaseSource): counts concurrent calls, fails on demand, sleeps a seeded while."
    def __init__(self, fail=None, errors=None, delay=0.02, seed=0):
        self.fail = dict(fail or {})            # symbol -> number of leading failures
        self.errors = dict(errors or {})        # symbol -> exception class to raise
        self.calls = Counter()
        self.active = self.peak = 0
        self.lock = threading.Lock()
        self.rng = np.random.default_rng(seed)
        self.delay = delay
        self.intervals = []

    def fetch(self, symbols, start=None, end=None, interval="1d"):
        (sym,) = symbols
        with self.lock:
            self.calls[sym] += 1
            n = self.calls[sym]
            self.active += 1
            self.peak = max(self.peak, self.active)
            pause = float(self.rng.uniform(self.delay / 2, self.delay))
            self.intervals.append(interval)
        try:
            time.sleep(pause)
            if n <= self.fail.get(sym, 0): raise self.errors.get(sym, DataSourceError)(f"try {n} for {sym} failed")
            day = pd.Timestamp("2020-01-02", tz="UTC")
            return pd.DataFrame({"timestamp": [day, day + pd.Timedelta(days=1)], "symbol": sym,
                                 "open": np.nan, "high": np.nan, "low": np.nan, "close": [10.0, 11.0],
                                 "adj_close": [10.0, 11.0], "volume": np.nan})
        finally:
            with self.lock: self.active -= 1


def _recorder():
    waits = []
    async def sleep(s): waits.append(s)
    return waits, sleep


SYMS = [f"S{i:02d}" for i in range(12)]


def test_fetch_many_bounds_concurrency():
    for limit in (1, 3, 5):
        src = FakeSource(delay=0.05)
        res = fetch_many(src, SYMS, max_concurrency=limit, progress=False)
        assert src.peak == limit                       # reached, never exceeded
        assert res.fetched == tuple(SYMS) and not res.failed


def test_fetch_many_retries_then_succeeds_with_exponential_backoff():
    waits, sleep = _recorder()
    src = FakeSource(fail={"S01": 2, "S03": 3})
    res = fetch_many(src, SYMS[:4], retries=3, backoff=0.25, progress=False, sleep=sleep)
    assert not res.failed and res.attempts == {"S00": 1, "S01": 3, "S02": 1, "S03": 4}
    assert sorted(waits) == sorted([0.25, 0.5] + [0.25, 0.5, 1.0])
    assert res.bars.groupby("symbol").size().to_dict() == {s: 2 for s in SYMS[:4]}
    res.raise_for_errors()


def test_fetch_many_permanent_failure_is_reported():
    waits, sleep = _recorder()
    src = FakeSource(fail={"S02": 99})
    res = fetch_many(src, SYMS[:4], retries=2, backoff=1.0, progress=False, sleep=sleep)
    assert list(res.failed) == ["S02"] and isinstance(res.failed["S02"], DataSourceError)
    assert res.attempts["S02"] == 3 and src.calls["S02"] == 3
    assert waits == [1.0, 2.0]
    assert res.fetched == ("S00", "S01", "S03")
    assert set(res.bars.symbol) == {"S00", "S01", "S03"}
    s = res.summary()
    assert "failed_symbols  S02" in s and "requested       4" in s and "attempts        6" in s
    with pytest.raises(DataSourceError, match=r"fetch_many failed for 1 of 4 symbols:\n  S02: DataSourceError: try 3 for S02 failed \(after 3 attempts\)"):
        res.raise_for_errors()


def test_fetch_many_real_backoff_waits():
    "Without an injected sleep the waits are real: backoff 0.05 s, two retries -> at least 0.05 + 0.1 s."
    src = FakeSource(fail={"S00": 2}, delay=0.0)
    t0 = time.monotonic()
    res = fetch_many(src, ["S00"], retries=2, backoff=0.05, progress=False)
    assert time.monotonic() - t0 >= 0.15 and res.attempts == {"S00": 3}


def test_fetch_many_does_not_retry_bad_input_or_no_data():
    waits, sleep = _recorder()
    src = FakeSource(fail={"S00": 9, "S01": 9, "S02": 9}, errors={"S00": ValueError, "S01": NoDataError, "S02": OSError})
    res = fetch_many(src, SYMS[:3], retries=2, progress=False, sleep=sleep)
    assert res.attempts == {"S00": 1, "S01": 1, "S02": 3}
    assert [type(e) for e in res.failed.values()] == [ValueError, NoDataError, OSError]
    res = fetch_many(src, ["S00"], retries=2, progress=False, sleep=sleep, retry_on=(ValueError,))
    assert res.attempts == {"S00": 3}


def test_fetch_many_result_is_deterministic():
    runs = []
    for seed in (0, 1, 2):
        src = FakeSource(fail={"S05": 1, "S07": 99}, seed=seed, delay=0.03)
        waits, sleep = _recorder()
        runs.append(fetch_many(src, SYMS[::-1], max_concurrency=4, progress=False, sleep=sleep))
    for r in runs[1:]:
        pd.testing.assert_frame_equal(r.bars, runs[0].bars)
        assert list(r.failed) == list(runs[0].failed) == ["S07"]
        assert list(r.attempts.items()) == list(runs[0].attempts.items())
    assert list(runs[0].attempts) == SYMS[::-1]                 # request order
    assert runs[0].bars.timestamp.is_monotonic_increasing


def test_fetch_many_bad_source_output():
    class Weird:
        def fetch(self, symbols, start=None, end=None, interval="1d"):
            return {"S00": "not a frame", "S01": pd.DataFrame(columns=list(BAR_COLUMNS))}.get(symbols[0], "x")
    res = fetch_many(Weird(), ["S00", "S01"], progress=False)
    assert isinstance(res.failed["S00"], TypeError) and "Weird.fetch must return a DataFrame; got str" in str(res.failed["S00"])
    assert isinstance(res.failed["S01"], NoDataError) and res.attempts == {"S00": 1, "S01": 1}
    assert len(res.bars) == 0 and tuple(res.bars.columns) == BAR_COLUMNS


def test_fetch_many_validates_each_symbol_on_its_own(tmp_path):
    class Partly(FakeSource):
        def fetch(self, symbols, start=None, end=None, interval="1d"):
            out = super().fetch(symbols, start, end, interval)
            return out.drop(columns="close") if symbols == ["S01"] else out
    res = fetch_many(Partly(), SYMS[:3], progress=False)
    assert list(res.failed) == ["S01"] and res.attempts["S01"] == 1
    assert "Partly result for 'S01' must have columns timestamp, symbol, close; missing close" in str(res.failed["S01"])
    assert res.fetched == ("S00", "S02")
    # a quote source gives a quote frame
    q = pd.DataFrame({"time": pd.to_datetime(["2024-01-01 00:00:00.001", "2024-01-01 00:00:00.002"]),
                      "symbol": ["A", "B"], "bid": [1.0, 2.0], "ask": [1.1, 2.1]})
    q.to_parquet(tmp_path / "q.parquet")
    res = fetch_many(ParquetSource(tmp_path / "q.parquet", kind="quotes"), ["B", "A"], progress=False)
    assert tuple(res.bars.columns) == QUOTE_COLUMNS and res.bars.symbol.tolist() == ["A", "B"]


def test_fetch_many_inside_a_running_event_loop():
    "Jupyter runs an event loop: the sync wrapper must still work there, and the coroutine is awaitable."
    async def main():
        asyncio.get_running_loop()
        sync = fetch_many(FakeSource(), SYMS[:3], progress=False)
        coro = await afetch_many(FakeSource(), SYMS[:3], progress=False)
        return sync, coro
    sync, coro = asyncio.run(main())
    pd.testing.assert_frame_equal(sync.bars, coro.bars)
    assert isinstance(sync, BatchFetchResult) and sync.fetched == tuple(SYMS[:3])


def test_fetch_many_with_sample_source_and_interval_passthrough(capsys):
    src = FakeSource()
    fetch_many(src, ["S00"], interval="1h", progress=False)
    fetch_many(src, ["S01"], progress=False)
    assert src.intervals == ["1h", "1d"]   # interval=None is not passed: the source's own default ("1d") applies
    assert src.calls == Counter({"S00": 1}) + Counter({"S01": 1})
    res = fetch_many(SampleSource(), ["KO", "PEP", "SP500"], "2020-01-02", "2020-01-10", progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err                       # the tqdm bar ran to the end
    wide = SampleSource().fetch_wide(["KO", "PEP", "SP500"], "2020-01-02", "2020-01-10")
    pd.testing.assert_frame_equal(fetch_wide(SampleSource(), ["KO", "PEP", "SP500"], "2020-01-02", "2020-01-10"), wide)
    from statarb.data.schema import to_wide
    pd.testing.assert_frame_equal(to_wide(res.bars), wide)


@pytest.mark.parametrize("kw, exc, msg", [
    (dict(source=object()), TypeError, "source must have a fetch(symbols, start, end, interval) method; got object"),
    (dict(symbols=[]), ValueError, "symbols must not be empty"),
    (dict(symbols="KO", start="2020-02-01", end="2020-01-01"), ValueError, "end must not be before start"),
    (dict(interval="daily"), ValueError, "interval must be one of"),
    (dict(max_concurrency=0), ValueError, "max_concurrency must be >= 1; got 0"),
    (dict(max_concurrency=2.5), TypeError, "max_concurrency must be an integer"),
    (dict(retries=-1), ValueError, "retries must be >= 0; got -1"),
    (dict(backoff=float("nan")), ValueError, "backoff must be >= 0 and finite"),
    (dict(progress="yes"), TypeError, "progress must be bool; got str"),
    (dict(sleep=1.0), TypeError, "sleep must be an async callable"),
    (dict(retry_on=DataSourceError), TypeError, "retry_on must be tuple"),
])
def test_fetch_many_argument_errors(kw, exc, msg):
    args = {"source": FakeSource(), "symbols": ["S00"], "progress": False, **kw}
    with pytest.raises(exc) as e: fetch_many(**args)
    assert msg in str(e.value)


def test_protocol_and_base_class():
    assert isinstance(FakeSource(), DataSource) and isinstance(SampleSource(), DataSource)
    assert not isinstance(object(), DataSource)
    class Half(BaseSource): pass
    with pytest.raises(NotImplementedError): Half().fetch("KO")
    with pytest.raises(TypeError, match="source must have a fetch"): fetch_wide(object(), "KO")
