"""Write and read throughput of statarb.data.store.ParquetStore against pandas.to_csv / pandas.read_csv.

Same frame, same process, same disk. Each measurement is repeated and the median is reported, with ratios
CSV time / store time (> 1 means the store is faster).

Two layouts of the same number of rows (the store's cost depends on the number of partitions, one per symbol-year):

* ``minute``: 20 symbols of 1-minute bars (390 a day): few large partitions (about 6 years per symbol at 10M rows).
* ``daily``:  daily bars of many symbols over 20 years: many small partitions (about 250 rows each).

    python benchmarks/bench_store.py                 # 10,000,000 rows, both layouts
    python benchmarks/bench_store.py --quick         # 100,000 rows, smoke run
    python benchmarks/bench_store.py --rows 2_000_000 --layout minute --repeats 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from _timing import timed

from statarb.data.schema import BAR_COLUMNS
from statarb.data.store import ParquetStore


def make_bars(rows: int, layout: str, seed: int = 0) -> pd.DataFrame:
    "A valid bar frame of about `rows` rows, sorted by (timestamp, symbol)."
    rng = np.random.default_rng(seed)
    if layout == "minute":
        n_sym = 20
        per_sym = max(rows // n_sym, 1)
        days = pd.bdate_range("2015-01-02", periods=-(-per_sym // 390), tz="UTC")
        minutes = pd.to_timedelta(np.arange(390), unit="min") + pd.Timedelta(hours=14, minutes=30)
        times = (days.values.astype("datetime64[ns]")[:, None] + minutes.values[None, :]).ravel()[:per_sym]
    else:
        n_days = 5000                                         # 20 years of business days
        n_sym = max(rows // n_days, 1)
        times = pd.bdate_range("2000-01-03", periods=min(rows, n_days)).values.astype("datetime64[ns]")
    symbols = np.array([f"S{i:04d}" for i in range(n_sym)])
    n_t = len(times)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.001, (n_t, n_sym)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.0005, (n_t, n_sym)))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, (n_t, n_sym)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, (n_t, n_sym)))
    volume = rng.integers(1, 10_000, (n_t, n_sym)).astype(np.float64) * 100
    frame = pd.DataFrame({
        "timestamp": pd.DatetimeIndex(np.repeat(times, n_sym)).tz_localize("UTC").astype("datetime64[ns, UTC]"),
        "symbol": pd.array(np.tile(symbols, n_t), dtype="str"),
        "open": open_.ravel(), "high": high.ravel(), "low": low.ravel(), "close": close.ravel(),
        "adj_close": close.ravel(), "volume": volume.ravel()})
    return frame[list(BAR_COLUMNS)]



def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(rows: int, layout: str, repeats: int, workdir: Path) -> dict[str, float]:
    frame = make_bars(rows, layout)
    n = len(frame)
    root, csv = workdir / f"store_{layout}", workdir / f"bars_{layout}.csv"
    store = ParquetStore(root)
    sym = frame["symbol"].iloc[0]
    year = int(frame["timestamp"].dt.year.iloc[-1])

    def fresh():
        shutil.rmtree(root, ignore_errors=True)

    res = {}
    res["store.write (empty store)"] = timed(lambda: store.write(frame), repeats, setup=fresh)
    res["store.write (same frame again: no-op upsert)"] = timed(lambda: store.write(frame), repeats)
    res["DataFrame.to_csv"] = timed(lambda: frame.to_csv(csv, index=False), repeats)
    res["store.read (all)"] = timed(lambda: store.read(), repeats)
    res["store.read (1 symbol, 1 year)"] = timed(lambda: store.read(sym, f"{year}-01-01", f"{year}-12-31"), repeats)
    res["read_csv (C engine)"] = timed(lambda: pd.read_csv(csv, parse_dates=["timestamp"]), repeats)
    res["read_csv (pyarrow engine)"] = timed(lambda: pd.read_csv(csv, parse_dates=["timestamp"], engine="pyarrow"),
                                             repeats)

    # correctness, outside the timings: both formats give the frame back
    back = store.read()
    pd.testing.assert_frame_equal(back, frame)
    from_csv = pd.read_csv(csv, parse_dates=["timestamp"])
    assert len(from_csv) == n and np.allclose(from_csv["close"].to_numpy(), frame["close"].to_numpy(), rtol=1e-12)

    med = {k: statistics.median(v) for k, v in res.items()}
    parts = sum(1 for _ in root.glob("symbol=*/year=*/data.parquet"))
    print(f"\nlayout={layout}: {n:,} rows, {frame['symbol'].nunique():,} symbols, {parts:,} partitions; "
          f"store {dir_bytes(root) / 1e6:,.1f} MB, CSV {csv.stat().st_size / 1e6:,.1f} MB; median of {repeats}")
    w = max(map(len, med))
    for k, v in med.items():
        print(f"  {k:<{w}}  {v:9.3f} s  {n / v / 1e6:8.2f} M rows/s")
    ratios = {
        "write: to_csv / store.write": med["DataFrame.to_csv"] / med["store.write (empty store)"],
        "read:  read_csv (C) / store.read": med["read_csv (C engine)"] / med["store.read (all)"],
        "read:  read_csv (pyarrow) / store.read": med["read_csv (pyarrow engine)"] / med["store.read (all)"],
        "read:  read_csv (C) / store.read 1 symbol-year": med["read_csv (C engine)"] / med["store.read (1 symbol, 1 year)"],
    }
    print("  ratios (> 1: store faster)")
    for k, v in ratios.items():
        print(f"    {k:<48} {v:8.2f}x")
    shutil.rmtree(root, ignore_errors=True)
    csv.unlink(missing_ok=True)
    return ratios


def codecs(rows: int, repeats: int, workdir: Path) -> dict[str, float]:
    "Decode time of one partition-sized file (the store's file schema) per compression codec: why the store uses LZ4."
    store = ParquetStore(workdir / "codec_store")
    frame = make_bars(rows, "minute")
    store.write(frame[frame["symbol"] == frame["symbol"].iloc[0]])
    part = max((workdir / "codec_store").glob("symbol=*/year=*/data.parquet"), key=lambda f: f.stat().st_size)
    table = pq.read_table(part)
    med = {}
    for codec, dictionary in (("lz4", False), ("snappy", False), ("zstd", False), ("snappy", True)):
        f = workdir / f"codec_{codec}_{dictionary}.parquet"
        pq.write_table(table, f, compression=codec, use_dictionary=dictionary)
        med[f"{codec}{' + dictionary' if dictionary else ''}"] = statistics.median(timed(lambda f=f: pq.read_table(f), repeats))
    print(f"\ncodecs: one partition file of {table.num_rows:,} rows, decode time, median of {repeats}")
    for k, v in med.items():
        print(f"  {k:<20} {v * 1e3:8.2f} ms  ({v / med['lz4']:.2f}x lz4)")
    return med


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows per layout (default 10,000,000)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 100,000 rows, 2 repeats")
    ap.add_argument("--repeats", type=int, default=3, help="repeats per measurement (median reported)")
    ap.add_argument("--layout", choices=["minute", "daily", "both", "codecs"], default="both",
                    help="'codecs' only compares compression codecs on one partition file")
    ap.add_argument("--dir", type=Path, default=None, help="working directory (default: a temporary one)")
    args = ap.parse_args(argv)
    rows, repeats = (100_000, 2) if args.quick else (args.rows, args.repeats)
    layouts = ["minute", "daily"] if args.layout == "both" else [] if args.layout == "codecs" else [args.layout]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for layout in layouts:
            run(rows, layout, repeats, Path(tmp))
        codecs(min(rows, 2_000_000), max(repeats, 5), Path(tmp))


if __name__ == "__main__":
    main()
