"""`statarb run`, the main job: the data pipeline on the bundled sample, through the installed console command."""
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from statarb.config import get_config
from statarb.data.store import ParquetStore

STATARB = shutil.which("statarb", path=str(Path(sys.executable).parent)) or shutil.which("statarb")


def _run(*args):
    if STATARB is None: pytest.skip("the statarb console command is not installed")
    return subprocess.run([STATARB, *args], capture_output=True, text=True, timeout=300)


def test_statarb_run_stores_the_bundled_universe_and_prints_quality(tmp_path):
    r = _run("run", "--store", str(tmp_path / "store"), "--no-progress")
    assert r.returncode == 0, r.stderr
    cfg = get_config()
    symbols = [*cfg.universe, cfg.benchmark]
    lines = r.stdout.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.split()[:3] == ["first", "last", "rows"])
    table = {ln.split()[0]: ln.split() for ln in lines[header + 2: header + 2 + len(symbols)]}
    assert sorted(table) == sorted(symbols)
    store = ParquetStore(tmp_path / "store")
    assert sorted(store.symbols()) == sorted(symbols)
    # the table's row counts are what the store holds; the sample has 8313 sessions 1990-01-02 .. 2022-12-28
    info = store.info()
    for s in symbols:
        assert int(table[s][3]) == 8313 == int(info.loc[s, "rows"])
    # a real fact about the data: the S&P 500's largest daily move 1990-2022 was the 2020-03-16 crash (-12.8%)
    assert table["SP500"][9] == "2020-03-16"
    sp = store.read(["SP500"], start="2020-03-13", end="2020-03-16")
    assert sp["close"].iloc[-1] / sp["close"].iloc[0] == pytest.approx(2386.13 / 2711.02, rel=1e-4)


def test_statarb_run_subset_and_bad_input(tmp_path):
    r = _run("run", "--symbols", "KO,PEP", "--start", "2008-01-01", "--end", "2008-12-31", "--store", str(tmp_path), "--no-progress")
    assert r.returncode == 0, r.stderr
    bars = ParquetStore(tmp_path).read()
    assert set(bars["symbol"]) == {"KO", "PEP"}
    assert bars["timestamp"].min() >= pd.Timestamp("2008-01-01", tz="UTC")
    assert bars["timestamp"].max() <= pd.Timestamp("2008-12-31", tz="UTC")
    r = _run("run", "--symbols", "KO", "--start", "2019-01-01", "--end", "2019-12-31", "--store", str(tmp_path / "one"), "--no-progress")
    assert r.returncode == 0, r.stderr                      # one symbol: only the calendar can mark rows stale
    assert len(ParquetStore(tmp_path / "one").read()) == 252  # NYSE sessions of 2019
    r = _run("run", "--symbols", "KO,NOPE", "--store", str(tmp_path), "--no-progress")
    assert r.returncode == 1 and "NOPE" in r.stderr and "Traceback" not in r.stderr
    r = _run("run", "--start", "2020-01-01", "--end", "2019-01-01", "--store", str(tmp_path), "--no-progress")
    assert r.returncode == 1 and "end must not be before start" in r.stderr


def test_statarb_config_prints_resolved_defaults():
    r = _run("config")
    assert r.returncode == 0
    assert f"trading_days     {get_config().trading_days}" in r.stdout
    assert Path(r.stdout.split("source")[-1].strip()).name == "settings.ini"


def test_statarb_research_writes_a_reproducible_report(tmp_path, capsys):
    "The research stage: a walk-forward report folder, rerun from its saved config.json to the same metrics."
    import json

    from statarb.cli import main
    args = ["research", "--symbols", "KO,PEP,PG,XOM,CVX", "--start", "2006-01-01", "--end", "2014-12-31", "--train", "2Y",
            "--test", "1Y", "--holdout", "2014-01-01", "--top", "2", "--reports", str(tmp_path), "--no-progress"]
    assert main(args + ["--run-id", "a"]) == 0
    out = capsys.readouterr().out
    assert "ResearchRunResult" in out and "oos_sharpe" in out
    a = tmp_path / "a"
    assert {p.name for p in a.iterdir()} == {"config.json", "equity.parquet", "fingerprint.txt", "metrics.json",
                                             "tearsheet.html", "trades.parquet", "windows.parquet"}
    html = (a / "tearsheet.html").read_text()
    assert html.count('src="data:image/png;base64,') >= 3 and "http" not in html.split("<body", 1)[1][:200]
    assert main(["research", "--config", str(a / "config.json"), "--reports", str(tmp_path), "--run-id", "b", "--no-progress"]) == 0
    assert json.loads((tmp_path / "b" / "metrics.json").read_text()) == json.loads((a / "metrics.json").read_text())
    assert (tmp_path / "b" / "fingerprint.txt").read_text() == (a / "fingerprint.txt").read_text()
    assert main(args + ["--run-id", "a"]) == 1
    assert "exists: pass another run_id" in capsys.readouterr().err
