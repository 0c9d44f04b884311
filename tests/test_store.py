"""statarb.data.store: round trips of real data, idempotent upserts against a pandas oracle, partition pruning,
corrupt files, SQL through DuckDB, and writers killed with SIGKILL in the middle of a write."""
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

import statarb.data.store as store_mod
from statarb.core import StoreError
from statarb.data.schema import BAR_COLUMNS, bars_frame, empty_bars, to_long
from statarb.data.store import ParquetStore, WriteResult, decode_symbol, encode_symbol

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def sp500(shared_data) -> pd.DataFrame:
    "S&P 500 index OHLCV 1999-2018 (arch), as bars of symbol ^GSPC."
    raw = pd.read_parquet(shared_data / "arch_sp500_index_ohlcv_daily.parquet")
    return bars_frame(raw.rename_axis("timestamp").reset_index().assign(symbol="^GSPC"))


@pytest.fixture(scope="module")
def stocks(shared_data) -> pd.DataFrame:
    "20 S&P 500 stocks, adjusted closes 1990-2022 (skfolio), long bars (open/high/low/volume NaN)."
    return to_long(pd.read_parquet(shared_data / "skfolio_sp500_20stocks_daily.parquet"))


@pytest.fixture(scope="module")
def real(sp500, stocks) -> pd.DataFrame:
    return bars_frame(pd.concat([sp500, stocks]))


def synthetic(symbols, start="2018-01-01", end="2021-12-31", seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(start, end, tz="UTC")
    out = []
    for k, s in enumerate(symbols):
        close = 20.0 * (k + 1) * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
        out.append(pd.DataFrame({"timestamp": days, "symbol": s, "open": close, "high": close * 1.01,
                                 "low": close * 0.99, "close": close, "adj_close": close,
                                 "volume": rng.integers(1, 100, len(days)) * 100.0}))
    return bars_frame(pd.concat(out))


def oracle_upsert(*frames) -> pd.DataFrame:
    "What the store must hold after writing `frames` in order: last row per (symbol, timestamp) wins."
    allf = pd.concat(frames, ignore_index=True)
    return bars_frame(allf.drop_duplicates(["symbol", "timestamp"], keep="last"))


def partitions_of(frame: pd.DataFrame) -> dict:
    "{(symbol, year): rows of that partition}, each sorted by timestamp with a fresh index."
    y = frame["timestamp"].dt.year
    return {(s, int(yy)): g.sort_values("timestamp").reset_index(drop=True) for (s, yy), g in frame.groupby(["symbol", y])}


def tmp_files(root: Path) -> list[Path]:
    return sorted(root.glob("symbol=*/year=*/.data.parquet.*.tmp"))


# ----------------------------------------------------------------------------------------------- encoding
ODD = ["^GSPC", "BRK.B", "CL=F", "BRK/B", "ES 1!", "100%", "a+b", "Nestlé", "..", "x%2Fy", "6E.M", "年"]


def test_encode_decode_roundtrip_and_charset():
    encs = [encode_symbol(s) for s in ODD]
    assert [decode_symbol(e) for e in encs] == ODD
    assert len(set(encs)) == len(ODD)                                     # injective
    assert all(set(e) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-%") for e in encs)
    assert encode_symbol("^GSPC") == "%5EGSPC" and encode_symbol("CL=F") == "CL%3DF" and encode_symbol("BRK.B") == "BRK.B"
    with pytest.raises(ValueError, match="non-empty string"): encode_symbol("")
    with pytest.raises(TypeError, match="symbol must be str; got int"): encode_symbol(3)


def test_odd_symbols_are_read_back_by_store_pyarrow_and_duckdb(tmp_path):
    bars = synthetic(ODD, "2020-06-01", "2020-06-30")
    st = ParquetStore(tmp_path / "s")
    st.write(bars)
    assert st.symbols() == sorted(ODD)
    pd.testing.assert_frame_equal(st.read(), bars)
    # third-party readers decode the directory names the same way
    t = ds.dataset(st.root, format="parquet", partitioning="hive").to_table()
    assert sorted(set(t.column("symbol").to_pylist())) == sorted(ODD)
    q = st.sql("SELECT symbol, count(*) AS n FROM bars GROUP BY symbol ORDER BY symbol")
    assert q.symbol.tolist() == sorted(ODD) and set(q.n) == {len(bars) // len(ODD)}
    assert st.sql("SELECT count(*) AS n FROM bars WHERE symbol = 'CL=F'").n[0] == len(bars) // len(ODD)


# ----------------------------------------------------------------------------------------------- round trip
def test_real_data_round_trip_exact(tmp_path, real):
    st = ParquetStore(tmp_path / "s")
    res = st.write(real)
    assert isinstance(res, WriteResult)
    n_parts = real.groupby(["symbol", real.timestamp.dt.year]).ngroups
    assert (res.rows, res.inserted, res.updated, res.unchanged) == (len(real), len(real), 0, 0)
    assert (res.symbols, res.partitions, res.partitions_written) == (21, n_parts, n_parts)
    assert len(list(st.root.glob("symbol=*/year=*/data.parquet"))) == n_parts
    back = st.read()
    pd.testing.assert_frame_equal(back, real)                           # values, NaNs, dtypes, (timestamp, symbol) order
    assert (st.root / "symbol=%5EGSPC" / "year=2008" / "data.parquet").is_file()
    day = st.read("^GSPC", start="2008-10-10", end="2008-10-10")
    assert len(day) == 1 and day.close.iloc[0] == pytest.approx(899.22, abs=0.005)   # known close


def test_write_summary_and_views(tmp_path):
    res = ParquetStore(tmp_path / "s").write(synthetic(["KO", "PEP"], "2020-01-01", "2020-01-31"))
    text = res.summary()
    assert text.splitlines()[0] == "WriteResult" and "inserted            46" in text and "partitions_written  2" in text
    assert repr(res) == "WriteResult(rows=46, inserted=46, updated=0, unchanged=0)"
    assert "| partitions | 2 |" in res._repr_markdown_()


def test_empty_frame_writes_nothing(tmp_path):
    st = ParquetStore(tmp_path / "s")
    res = st.write(empty_bars())
    assert (res.rows, res.inserted, res.partitions, res.partitions_written) == (0, 0, 0, 0)
    assert st.symbols() == [] and list(st.root.rglob("*")) == []


def test_timezones_go_to_utc_year_partitions(tmp_path):
    ts = pd.to_datetime(["2020-12-31 20:00", "2020-12-31 18:00"]).tz_localize("America/New_York")
    f = pd.DataFrame({"timestamp": ts, "symbol": "X", "open": 1.0, "high": 1.0, "low": 1.0, "close": [1.0, 2.0],
                      "adj_close": 1.0, "volume": 0.0})
    st = ParquetStore(tmp_path / "s")
    st.write(f)                                                          # 01:00 UTC 2021-01-01 and 23:00 UTC 2020-12-31
    assert sorted(p.parent.name for p in st.root.rglob("data.parquet")) == ["year=2020", "year=2021"]
    back = st.read()
    assert str(back.timestamp.dtype) == "datetime64[ns, UTC]"
    assert back.close.tolist() == [2.0, 1.0]
    assert back.timestamp.tolist() == sorted(ts.tz_convert("UTC"))


def test_intraday_nanoseconds_round_trip(tmp_path):
    ts = pd.Timestamp("2023-03-10 14:30", tz="UTC") + pd.to_timedelta(np.arange(1000) * 60_000_000_007, unit="ns")
    f = bars_frame(pd.DataFrame({"timestamp": ts, "symbol": "BTCUSD", "close": np.linspace(20000, 21000, 1000)}))
    st = ParquetStore(tmp_path / "s")
    st.write(f)
    pd.testing.assert_frame_equal(st.read(), f)


# ----------------------------------------------------------------------------------------------- upsert
def test_same_frame_twice_changes_nothing(tmp_path, real):
    st = ParquetStore(tmp_path / "s")
    st.write(real)
    files = sorted(st.root.rglob("data.parquet"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    res = st.write(real)
    assert (res.inserted, res.updated, res.unchanged, res.partitions_written) == (0, 0, len(real), 0)
    assert sorted(st.root.rglob("data.parquet")) == files
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before
    pd.testing.assert_frame_equal(st.read(), real)


def test_new_rows_win_and_counts_match_pandas(tmp_path, stocks):
    st = ParquetStore(tmp_path / "s")
    old = stocks[stocks.timestamp < "2015-01-01"]
    st.write(old)
    # corrections for 2010-2014 of 3 symbols (half of them identical), plus 2015-2016 for all
    fix = stocks[stocks.symbol.isin(["KO", "PEP", "XOM"]) & (stocks.timestamp >= "2010-01-01")
                 & (stocks.timestamp < "2015-01-01")].copy()
    change = np.arange(len(fix)) % 2 == 0
    fix.loc[change, ["close", "adj_close"]] *= 1.001
    ext = stocks[(stocks.timestamp >= "2015-01-01") & (stocks.timestamp < "2017-01-01")]
    new = bars_frame(pd.concat([fix, ext]))
    res = st.write(new)
    assert (res.inserted, res.updated, res.unchanged) == (len(ext), int(change.sum()), int((~change).sum()))
    assert res.partitions == 3 * 5 + 20 * 2
    assert res.partitions_written == 3 * 5 + 20 * 2
    pd.testing.assert_frame_equal(st.read(), oracle_upsert(old, new))
    ko = st.read("KO", "2010-01-01", "2014-12-31")
    np.testing.assert_array_equal(ko.close.to_numpy(), fix[fix.symbol == "KO"].close.to_numpy())


def test_chunked_overlapping_writes_equal_oracle(tmp_path, stocks):
    "Property: any sequence of overlapping upserts leaves what drop_duplicates(keep='last') says."
    rng = np.random.default_rng(7)
    base = stocks[stocks.symbol.isin(["AAPL", "JPM", "WMT"]) & (stocks.timestamp >= "2005-01-01")
                  & (stocks.timestamp < "2012-01-01")].reset_index(drop=True)
    st = ParquetStore(tmp_path / "s")
    frames = []
    for k in range(6):
        take = base.sample(frac=0.4, random_state=int(rng.integers(1 << 30))).copy()
        take[["close", "adj_close"]] *= 1 + 0.01 * k                     # each round writes different values
        f = bars_frame(take)
        frames.append(f)
        res = st.write(f)
        assert res.inserted + res.updated + res.unchanged == res.rows == len(f)
    pd.testing.assert_frame_equal(st.read(), oracle_upsert(*frames))


# ----------------------------------------------------------------------------------------------- bad input
@pytest.fixture()
def small(tmp_path):
    st = ParquetStore(tmp_path / "s")
    bars = synthetic(["KO", "PEP", "^GSPC"], "2019-12-02", "2021-01-29")
    st.write(bars)
    return st, bars


def test_write_rejects_wrong_schema(small):
    st, bars = small
    with pytest.raises(ValueError, match=r"missing \['adj_close'\], unexpected \['Adj Close'\]"):
        st.write(bars.rename(columns={"adj_close": "Adj Close"}))
    with pytest.raises(ValueError, match=r"missing \['volume'\], unexpected \[\].*bars_frame"):
        st.write(bars.drop(columns="volume"))
    with pytest.raises(ValueError, match=r"unexpected \['vwap'\]"):
        st.write(bars.assign(vwap=1.0))
    with pytest.raises(TypeError, match=r"frame.timestamp must be timezone-aware datetime64 \(UTC\); got datetime64\[ns\]"):
        st.write(bars.assign(timestamp=bars.timestamp.dt.tz_localize(None)))
    with pytest.raises(TypeError, match="frame.close must be numeric .*; got dtype"):
        st.write(bars.assign(close=bars.close.astype(str)))
    with pytest.raises(TypeError, match="frame.volume must be numeric"):
        st.write(bars.assign(volume=True))
    with pytest.raises(TypeError, match="frame.symbol must hold strings; got dtype int64"):
        st.write(bars.assign(symbol=7))
    with pytest.raises(ValueError, match="frame.symbol must not be missing; got 1"):
        st.write(bars.assign(symbol=bars.symbol.where(bars.index != 3, None)))
    with pytest.raises(ValueError, match="frame.symbol must not be empty strings; got 1"):
        st.write(bars.assign(symbol=bars.symbol.where(bars.index != 3, "")))
    with pytest.raises(TypeError, match="frame must be DataFrame; got dict"):
        st.write({"a": 1})


def test_write_rejects_bad_values(small):
    st, bars = small
    with pytest.raises(ValueError, match=r"frame.close must be strictly positive and finite; got 1 bad values \(first 0.0"):
        st.write(bars.assign(close=bars.close.where(bars.index != 4, 0.0)))
    with pytest.raises(ValueError, match="frame.low must be strictly positive"):
        st.write(bars.assign(low=-bars.low))
    with pytest.raises(ValueError, match="frame.open must be strictly positive and finite"):
        st.write(bars.assign(open=np.inf))
    with pytest.raises(ValueError, match=r"one row per \(symbol, timestamp\); got 2 duplicates \(first 'KO'"):
        st.write(pd.concat([bars, bars.iloc[[0, 3]]]))
    with pytest.raises(ValueError, match="must have high >= low"):
        st.write(bars.assign(high=bars.low * 0.5))
    with pytest.raises(ValueError, match="symbol 'ko' differs from 'KO' only in letter case"):
        st.write(bars[bars.symbol == "KO"].assign(symbol="ko"))
    with pytest.raises(ValueError, match="differs from .* only in letter case"):     # within one frame too
        ParquetStore(st.root.parent / "t").write(pd.concat([bars[bars.symbol == "KO"], bars[bars.symbol == "KO"].assign(symbol="Ko")]))
    pd.testing.assert_frame_equal(st.read(), bars)                      # none of it reached the store


def test_read_rejects_bad_arguments(small):
    st, _ = small
    with pytest.raises(ValueError, match="end must not be before start; got start=2021-01-01, end=2020-01-01"):
        st.read(start="2021-01-01", end="2020-01-01")
    with pytest.raises(ValueError, match=r"symbols not in the store: 'XOM', 'ZZZ'; the store at .* holds 3 symbols: KO, PEP, \^GSPC"):
        st.read(["KO", "ZZZ", "XOM"])
    with pytest.raises(ValueError, match="columns must be among .*; got unknown \\['vwap'\\]"):
        st.read(columns=["close", "vwap"])
    with pytest.raises(ValueError, match="symbols must name at least one symbol"):
        st.read([])
    with pytest.raises(TypeError, match="each symbol must be str; got int"):
        st.read([1])
    with pytest.raises(ValueError, match="start must be a date or timestamp"):
        st.read(start="not a date")


def test_unknown_symbol_in_a_big_store_lists_a_few(tmp_path):
    st = ParquetStore(tmp_path / "s")
    st.write(synthetic([f"S{i:02d}" for i in range(25)], "2020-01-01", "2020-01-10"))
    with pytest.raises(ValueError, match=r"holds 25 symbols: S00, S01, .*, S19, \.\.\. \(5 more\)"):
        st.read("NOPE")


def test_root_is_a_file_and_missing_root(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="root must be a directory; .*file is a file"):
        ParquetStore(f)
    with pytest.raises(TypeError, match="root must be str or PathLike; got int"):
        ParquetStore(3)
    st = ParquetStore(tmp_path / "later" / "store")                    # created on the first write
    assert st.symbols() == [] and not st.root.exists()
    empty = st.read()
    assert list(empty.columns) == list(BAR_COLUMNS) and len(empty) == 0
    assert str(empty.timestamp.dtype) == "datetime64[ns, UTC]"
    with pytest.raises(ValueError, match="the store at .* holds no symbols yet"):
        st.read("KO")
    with pytest.raises(StoreError, match="holds no partitions yet"):
        st.sql("SELECT 1")
    st.write(synthetic(["KO"], "2020-01-01", "2020-01-10"))
    assert st.root.is_dir() and st.symbols() == ["KO"]
    f2 = tmp_path / "f2"
    st2 = ParquetStore(f2)
    f2.write_text("now a file")                                          # root replaced by a file after construction
    with pytest.raises(StoreError, match="root must be a directory"):
        st2.write(synthetic(["KO"], "2020-01-01", "2020-01-10"))


# ----------------------------------------------------------------------------------------------- read
def test_read_filters_columns_and_order(tmp_path, real):
    st = ParquetStore(tmp_path / "s")
    st.write(real)
    got = st.read(["XOM", "^GSPC", "KO"], start="2007-12-28", end="2008-01-03", columns=["close", "open"])
    want = real[real.symbol.isin(["XOM", "^GSPC", "KO"]) & (real.timestamp >= "2007-12-28")
                & (real.timestamp <= "2008-01-03")][["timestamp", "symbol", "open", "close"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)                           # inclusive ends, schema column order
    assert got.timestamp.min() == pd.Timestamp("2007-12-28", tz="UTC")
    assert got.timestamp.max() == pd.Timestamp("2008-01-03", tz="UTC")
    one = st.read("KO", columns="close")
    assert list(one.columns) == ["timestamp", "symbol", "close"] and one.timestamp.is_monotonic_increasing
    none = st.read("KO", start="1980-01-01", end="1980-12-31")
    assert len(none) == 0 and list(none.columns) == list(BAR_COLUMNS)
    tz = st.read("KO", start=pd.Timestamp("2008-01-02 18:00", tz="America/New_York"), end="2008-01-04")
    assert tz.timestamp.min() == pd.Timestamp("2008-01-03", tz="UTC")   # 18:00 New York is 23:00 UTC


def test_read_opens_only_needed_partitions(tmp_path, real, monkeypatch):
    st = ParquetStore(tmp_path / "s")
    st.write(real)
    opened = []
    real_read = store_mod._read_partition
    monkeypatch.setattr(store_mod, "_read_partition", lambda p, c=None: opened.append(p) or real_read(p, c))
    st.read(["KO", "PEP"], start="2010-06-01", end="2011-03-31")
    assert sorted(str(p.relative_to(st.root)) for p in opened) == [
        f"symbol={s}/year={y}/data.parquet" for s in ("KO", "PEP") for y in (2010, 2011)]
    opened.clear()
    st.read("^GSPC")
    assert len(opened) == 20 and {p.parent.parent.name for p in opened} == {"symbol=%5EGSPC"}


def test_corrupt_partition_only_hurts_reads_that_need_it(tmp_path, real):
    st = ParquetStore(tmp_path / "s")
    st.write(real)
    bad = st.root / "symbol=AAPL" / "year=2005" / "data.parquet"
    bad.write_bytes(b"\x00" * 1000)
    # other symbols, and AAPL outside 2005, still read (the damaged file is never opened)
    pd.testing.assert_frame_equal(st.read("KO"), real[real.symbol == "KO"].reset_index(drop=True))
    aapl = st.read("AAPL", start="2006-01-01")
    assert aapl.timestamp.min().year == 2006
    assert len(st.read("AAPL", end="2004-12-31")) > 0
    assert st.sql("SELECT count(*) AS n FROM bars WHERE symbol = 'KO'").n[0] == (real.symbol == "KO").sum()
    assert st.sql("SELECT count(*) AS n FROM bars WHERE symbol = 'AAPL' AND year <> 2005").n[0] == \
        ((real.symbol == "AAPL") & (real.timestamp.dt.year != 2005)).sum()
    # what needs it fails with a StoreError that names the file and says what to do
    for call in (lambda: st.read("AAPL"), lambda: st.read(), lambda: st.info(),
                 lambda: st.write(real[real.symbol == "AAPL"])):
        with pytest.raises(StoreError, match=r"cannot read partition file .*symbol=AAPL/year=2005/data.parquet: .*move it out of the store"):
            call()
    with pytest.raises(StoreError, match="DuckDB could not read a file of the store"):
        st.sql("SELECT count(*) FROM bars")
    assert bad.read_bytes() == b"\x00" * 1000                             # the failed write did not touch it


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage", "foreign schema", "text"])
def test_corrupt_file_kinds_give_store_error(tmp_path, damage):
    st = ParquetStore(tmp_path / "s")
    st.write(synthetic(["KO", "PEP"], "2020-01-01", "2020-12-31"))
    f = st.root / "symbol=PEP" / "year=2020" / "data.parquet"
    blob = f.read_bytes()
    if damage == "truncate": f.write_bytes(blob[: len(blob) // 2])
    elif damage == "empty": f.write_bytes(b"")
    elif damage == "garbage": f.write_bytes(np.random.default_rng(0).bytes(len(blob)))
    elif damage == "text": f.write_text("timestamp,close\n2020-01-02,1.0\n")
    else: pd.DataFrame({"date": ["2020-01-02"], "px": [1.0]}).to_parquet(f)
    with pytest.raises(StoreError) as e:
        st.read("PEP")
    msg = str(e.value)
    assert str(f) in msg and "move it out of the store" in msg and "restore the file from a backup" in msg
    assert isinstance(e.value, OSError)
    if damage == "foreign schema": assert "schema is (date: " in msg
    else: assert e.value.__cause__ is not None                          # the pyarrow error is chained, not lost
    assert len(st.read("KO")) == 262


# ----------------------------------------------------------------------------------------------- info, sql
def test_info_matches_pandas(tmp_path, real):
    st = ParquetStore(tmp_path / "s")
    st.write(real)
    info = st.info()
    g = real.groupby("symbol")
    assert list(info.index) == sorted(real.symbol.unique())
    assert info.rows.to_dict() == g.size().to_dict()
    assert (info["first"] == g.timestamp.min()).all() and (info["last"] == g.timestamp.max()).all()
    assert info.partitions.to_dict() == real.groupby("symbol").timestamp.apply(lambda t: t.dt.year.nunique()).to_dict()
    assert str(info["first"].dtype) == "datetime64[ns, UTC]"
    assert info.loc["^GSPC", "rows"] == 5031 and info.loc["^GSPC", "first"] == pd.Timestamp("1999-01-04", tz="UTC")


def test_sql_matches_pandas(tmp_path, real):
    st = ParquetStore(tmp_path / "s")
    st.write(real)
    q = st.sql("SELECT symbol, count(*) AS n, max(close) AS hi, min(timestamp) AS first FROM bars "
               "GROUP BY symbol ORDER BY symbol")
    g = real.groupby("symbol")
    assert q.n.tolist() == g.size().tolist()
    np.testing.assert_allclose(q.hi.to_numpy(), g.close.max().to_numpy(), rtol=0)
    assert (q["first"].dt.tz is not None) and (q["first"].to_numpy() == g.timestamp.min().to_numpy()).all()
    c = st.sql("SELECT close FROM bars WHERE symbol = '^GSPC' AND timestamp = TIMESTAMPTZ '2008-10-10 00:00:00+00'")
    assert c.close[0] == pytest.approx(899.22, abs=0.005)
    by_year = st.sql("SELECT year, count(*) AS n FROM bars WHERE symbol = 'KO' GROUP BY year ORDER BY year")
    ko = real[real.symbol == "KO"]
    assert by_year.n.tolist() == ko.groupby(ko.timestamp.dt.year).size().tolist()
    con = st.duckdb_view("px")
    try: assert con.execute("SELECT count(*) FROM px").fetchone()[0] == len(real)
    finally: con.close()
    with pytest.raises(ValueError, match="name must be a SQL identifier"):
        st.duckdb_view("px; DROP TABLE x")
    with pytest.raises(TypeError, match="query must be str"):
        st.sql(3)


def test_sql_ignores_temporary_files(tmp_path):
    st = ParquetStore(tmp_path / "s")
    bars = synthetic(["KO"], "2020-01-01", "2020-03-31")
    st.write(bars)
    (st.root / "symbol=KO" / "year=2020" / ".data.parquet.abc123.tmp").write_bytes(b"PAR1 half")
    assert st.sql("SELECT count(*) AS n FROM bars").n[0] == len(bars)
    pd.testing.assert_frame_equal(st.read(), bars)
    assert len(ds.dataset(st.root, format="parquet", partitioning="hive").to_table()) == len(bars)
    assert [p.name for p in st.remove_temp_files()] == [".data.parquet.abc123.tmp"]
    assert tmp_files(st.root) == []


# ----------------------------------------------------------------------------------------------- failures inside write
def test_failed_write_commits_earlier_groups_only_and_cleans_up(tmp_path, monkeypatch):
    st = ParquetStore(tmp_path / "s")
    old = synthetic(["A", "B", "C"], "2018-01-01", "2021-12-31")          # 12 partitions
    st.write(old)
    new = old.assign(close=old.close * 1.5, adj_close=old.adj_close * 1.5, high=old.high * 1.5)
    monkeypatch.setattr(store_mod, "_BATCH", 5)
    calls = []
    real_write = store_mod._write_temp
    def failing(path, table):
        calls.append(path)
        if path.parent.name == "year=2020" and path.parent.parent.name == "symbol=B":   # 7th partition: group 2
            raise StoreError("disk full (simulated)")
        return real_write(path, table)
    monkeypatch.setattr(store_mod, "_write_temp", failing)
    with pytest.raises(StoreError, match="disk full"):
        st.write(new)
    monkeypatch.undo()
    got = partitions_of(st.read())
    order = sorted(partitions_of(old))                                   # commit order: (symbol, year)
    for i, key in enumerate(order):
        want = partitions_of(new if i < 5 else old)[key]
        pd.testing.assert_frame_equal(got[key], want)
    assert tmp_files(st.root) == []
    res = st.write(new)                                                  # running it again completes the write
    assert res.partitions_written == 7 and res.unchanged == sum(len(partitions_of(new)[k]) for k in order[:5])
    pd.testing.assert_frame_equal(st.read(), new)


def test_keyboard_interrupt_in_writer_leaves_no_temp_file(tmp_path, monkeypatch):
    st = ParquetStore(tmp_path / "s")
    old = synthetic(["A"], "2020-01-01", "2020-12-31")
    st.write(old)
    import pyarrow.parquet as pq
    real_wt = pq.write_table
    def interrupted(table, where, **kw):
        where.write(b"PAR1 partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(pq, "write_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        st.write(old.assign(close=old.close * 2, adj_close=old.adj_close * 2, high=old.high * 2))
    monkeypatch.setattr(pq, "write_table", real_wt)
    assert tmp_files(st.root) == []
    pd.testing.assert_frame_equal(st.read(), old)


# ----------------------------------------------------------------------------------------------- SIGKILL
WRITER = textwrap.dedent('''
    import os, sys, threading, time
    import pandas as pd
    import statarb.data.store as sm
    root, frame_path, marker, mode, k = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    frame = pd.read_parquet(frame_path)
    lock, n = threading.Lock(), [0]
    def signal_and_hang():
        with open(marker + ".part", "w") as f: f.write("x")
        os.replace(marker + ".part", marker)
        time.sleep(600)
    if mode == "after_commits":            # hang right after the k-th os.replace (commit) of a partition
        real_replace = os.replace
        def replace(src, dst):
            real_replace(src, dst)
            if str(dst).endswith("data.parquet"):
                n[0] += 1
                if n[0] == k: signal_and_hang()
        sm.os.replace = replace
    elif mode == "mid_file":               # from the (k+1)-th Parquet write on: write half a file, then hang
        import io
        real_wt = sm.pq.write_table
        def write_table(table, where, **kw):
            with lock:
                n[0] += 1
                mine = n[0]
            if mine <= k: return real_wt(table, where, **kw)
            buf = io.BytesIO()
            real_wt(table, buf, **kw)
            where.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            where.flush()
            with lock:
                if not os.path.exists(marker):
                    signal_and_hang()
            time.sleep(600)
        sm.pq.write_table = write_table
    elif mode == "first_commit":           # no hook inside the store: announce the first commit, keep writing
        real_replace = os.replace
        def replace(src, dst):
            real_replace(src, dst)
            if n[0] == 0:
                n[0] = 1
                with open(marker, "w") as f: f.write("x")
        sm.os.replace = replace
    sm.ParquetStore(root).write(frame)
    with open(marker + ".done", "w") as f: f.write("done")
''')


def run_and_kill(tmp_path, root, frame, mode, k, wait_marker=True):
    "Start a writer process, SIGKILL it once it signals; returns True if it was killed before finishing."
    script, fpath, marker = tmp_path / "writer.py", tmp_path / "frame.parquet", tmp_path / "marker"
    script.write_text(WRITER)
    frame.to_parquet(fpath)
    p = subprocess.Popen([sys.executable, str(script), str(root), str(fpath), str(marker), mode, str(k)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    done = tmp_path / "marker.done"
    try:
        while not marker.exists():
            if p.poll() is not None:
                out, err = p.communicate()
                pytest.fail(f"writer ended before signalling (rc={p.returncode}):\n{err.decode()[-3000:]}")
            if time.monotonic() > deadline: pytest.fail("writer did not signal within 120 s")
            time.sleep(0.002)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(30)
    finally:
        if p.poll() is None: p.kill(); p.wait()
    killed = not done.exists()
    if killed: assert p.returncode == -signal.SIGKILL
    return killed


def check_each_partition_old_or_new(st, old, new):
    "Every partition equals its committed old version or the upserted new one; returns the keys that are new."
    after = partitions_of(st.read())
    want_old, want_new = partitions_of(old), partitions_of(oracle_upsert(old, new))
    assert set(after) <= set(want_new) and set(want_old) <= set(after)   # no committed partition lost
    fresh = []
    for key, got in after.items():
        if key in want_old and got.equals(want_old[key]): continue
        pd.testing.assert_frame_equal(got, want_new[key])                # else it must be the whole new version
        fresh.append(key)
    return sorted(fresh)


@pytest.fixture()
def committed(tmp_path, real):
    "A store with the real data of 1999-2014 committed; the new frame updates every row and adds 2015-2018."
    st = ParquetStore(tmp_path / "store")
    old = real[(real.timestamp.dt.year >= 1999) & (real.timestamp.dt.year <= 2014)].reset_index(drop=True)
    st.write(old)
    new = real[(real.timestamp.dt.year >= 1999) & (real.timestamp.dt.year <= 2018)].copy()
    for c in ("open", "high", "low", "close", "adj_close"): new[c] = new[c] * 1.25
    new = bars_frame(new)
    return st, old, new


def test_sigkill_right_after_a_commit(tmp_path, committed):
    st, old, new = committed
    batch = store_mod._BATCH
    k = batch + 5                                                        # 5 partitions into the second group
    assert run_and_kill(tmp_path, st.root, new, "after_commits", k)
    order = sorted(partitions_of(new))                                   # commit order: (symbol, year)
    assert check_each_partition_old_or_new(st, old, new) == sorted(order[:k])
    # the rest of the second group was written to hidden temporary files that no reader sees
    left = tmp_files(st.root)
    assert len(left) == batch - 5
    assert st.sql("SELECT count(*) AS n FROM bars").n[0] == len(st.read())
    assert len(ds.dataset(st.root, format="parquet", partitioning="hive").to_table()) == len(st.read())
    assert sorted(st.remove_temp_files()) == left and tmp_files(st.root) == []
    res = st.write(new)                                                  # re-running completes the interrupted write
    assert res.partitions_written == len(order) - k
    pd.testing.assert_frame_equal(st.read(), oracle_upsert(old, new))


def test_sigkill_while_a_partition_file_is_half_written(tmp_path, committed):
    st, old, new = committed
    batch = store_mod._BATCH
    assert run_and_kill(tmp_path, st.root, new, "mid_file", batch)
    order = sorted(partitions_of(new))
    assert check_each_partition_old_or_new(st, old, new) == order[:batch]    # exactly the first group committed
    left = tmp_files(st.root)
    assert left, "the writer was killed while temporary files were open"
    assert any(p.stat().st_size > 0 for p in left)
    pd.testing.assert_frame_equal(st.read(symbols=["^GSPC"], end="2014-12-31"),
                                  old[old.symbol == "^GSPC"].reset_index(drop=True))
    st.remove_temp_files()
    st.write(new)
    pd.testing.assert_frame_equal(st.read(), oracle_upsert(old, new))


def test_sigkill_at_an_uncontrolled_moment(tmp_path):
    "No hook in the store: kill a large write as soon as its first partition is committed; invariants only."
    st = ParquetStore(tmp_path / "store")
    old = synthetic([f"S{i:03d}" for i in range(100)], "2005-01-01", "2014-12-31", seed=1)    # 1,000 partitions
    st.write(old)
    new = bars_frame(old.assign(close=old.close * 2, adj_close=old.adj_close * 2, high=old.high * 2, open=old.open * 2))
    run_and_kill(tmp_path, st.root, new, "first_commit", 0)
    fresh = check_each_partition_old_or_new(st, old, new)
    order = sorted(partitions_of(new))
    assert fresh == order[:len(fresh)]                                   # committed partitions are a prefix of the order
    st.remove_temp_files()
    st.write(new)
    pd.testing.assert_frame_equal(st.read(), new)


# ----------------------------------------------------------------------------------------------- benchmark smoke
def test_benchmark_quick_runs_and_prints_ratios():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_store.py"), "--quick"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert "layout=minute: 100,000 rows" in out and "layout=daily: 100,000 rows" in out
    assert out.count("ratios (> 1: store faster)") == 2
    assert len(re.findall(r"read:  read_csv \(C\) / store\.read\s+[\d.]+x", out)) == 2
    assert len(re.findall(r"write: to_csv / store\.write\s+[\d.]+x", out)) == 2
    assert re.search(r"codecs: one partition file of [\d,]+ rows", out) and re.search(r"snappy\s+[\d.]+ ms", out)
