"""The `statarb` command: `run` (the main job), `backtest`, `report`, `scan`, `data`, `config`, through the console command."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from statarb.config import get_config
from statarb.data.store import ParquetStore

STATARB = shutil.which("statarb", path=str(Path(sys.executable).parent)) or shutil.which("statarb")


def _run(*args):
    if STATARB is None: pytest.skip("the statarb console command is not installed")
    return subprocess.run([STATARB, *args], capture_output=True, text=True, timeout=300)


def test_statarb_data_stores_the_bundled_universe_and_prints_quality(tmp_path):
    r = _run("data", "--store", str(tmp_path / "store"), "--no-progress")
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


def test_statarb_data_subset_and_bad_input(tmp_path):
    r = _run("data", "--symbols", "KO,PEP", "--start", "2008-01-01", "--end", "2008-12-31", "--store", str(tmp_path), "--no-progress")
    assert r.returncode == 0, r.stderr
    bars = ParquetStore(tmp_path).read()
    assert set(bars["symbol"]) == {"KO", "PEP"}
    assert bars["timestamp"].min() >= pd.Timestamp("2008-01-01", tz="UTC")
    assert bars["timestamp"].max() <= pd.Timestamp("2008-12-31", tz="UTC")
    r = _run("data", "--symbols", "KO", "--start", "2019-01-01", "--end", "2019-12-31", "--store", str(tmp_path / "one"), "--no-progress")
    assert r.returncode == 0, r.stderr                      # one symbol: only the calendar can mark rows stale
    assert len(ParquetStore(tmp_path / "one").read()) == 252  # NYSE sessions of 2019
    r = _run("data", "--symbols", "KO,NOPE", "--store", str(tmp_path), "--no-progress")
    assert r.returncode == 1 and "NOPE" in r.stderr and "Traceback" not in r.stderr
    r = _run("data", "--start", "2020-01-01", "--end", "2019-01-01", "--store", str(tmp_path), "--no-progress")
    assert r.returncode == 1 and "end must not be before start" in r.stderr


def test_statarb_config_prints_resolved_defaults():
    r = _run("config")
    assert r.returncode == 0
    assert f"trading_days     {get_config().trading_days}" in r.stdout
    assert Path(r.stdout.split("source")[-1].strip()).name == "settings.ini"


SMALL = ["--symbols", "KO,PEP,PG,XOM,CVX", "--start", "2006-01-01", "--end", "2014-12-31", "--train", "2Y", "--test", "1Y",
         "--holdout", "2014-01-01", "--top", "2", "--no-progress"]


def test_statarb_run_writes_a_complete_reproducible_run_folder(tmp_path, capsys):
    "The main job end to end: every file of the run folder, consistent with each other; a rerun from config.json."
    import json

    from statarb.cli import _RUN_FILES, main
    args = [*SMALL, "--reports", str(tmp_path), "--store", str(tmp_path / "store")]
    assert main(["run", *args, "--run-id", "a"]) == 0
    out = capsys.readouterr().out
    assert "RunResult" in out and "deflated Sharpe" in out and "wrote " in out
    a = tmp_path / "a"
    assert sorted(p.name for p in a.iterdir()) == sorted(_RUN_FILES)
    html = (a / "tearsheet.html").read_text()
    assert html.count('src="data:image/png;base64,') >= 3 and "http" not in html.split("<body", 1)[1][:200]
    m = json.loads((a / "metrics.json").read_text())
    eq = pd.read_parquet(a / "equity.parquet")
    oos = eq[eq["segment"] == "walk-forward"]
    assert m["total_return"] == pytest.approx(oos["equity"].iloc[-1] / 1e6 - 1, rel=1e-9)
    assert m["oos_start"] == "2008-01-03" and (eq["segment"] == "holdout").any()
    trades = pd.read_parquet(a / "trades.parquet")
    assert m["trades"] == int((trades["segment"] == "walk-forward").sum())
    fills, costs = pd.read_parquet(a / "fills.parquet"), pd.read_parquet(a / "costs.parquet")
    assert fills["fee"].sum() == pytest.approx(costs["fee"].sum()) and fills["fee"].min() >= 1.0   # minimum commission
    assert m["costs_total"] == pytest.approx(costs.loc[costs["segment"] == "walk-forward",
                                                       ["fee", "spread_cost", "slippage_cost", "borrow"]].to_numpy().sum())
    scan = pd.read_parquet(a / "scan.parquet")
    assert scan.groupby("window").size().eq(10).all()                   # 5 symbols: 10 pairs per training window
    dec = pd.read_parquet(a / "decisions.parquet")
    assert set(dec["pair"]) <= set(scan.loc[scan["selected"], "y"] + "/" + scan.loc[scan["selected"], "x"])
    cfg = json.loads((a / "config.json").read_text())["run"]
    assert cfg["symbols"] == ["KO", "PEP", "PG", "XOM", "CVX"] and cfg["engine"] == "event" and cfg["top"] == 2
    assert main(["run", "--config", str(a / "config.json"), "--reports", str(tmp_path), "--store", str(tmp_path / "store"),
                 "--run-id", "b", "--no-progress"]) == 0
    assert json.loads((tmp_path / "b" / "metrics.json").read_text()) == m
    assert (tmp_path / "b" / "fingerprint.txt").read_text() == (a / "fingerprint.txt").read_text()
    for f in ("trades.parquet", "decisions.parquet", "fills.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "b" / f), pd.read_parquet(a / f))
    capsys.readouterr()
    assert main(["run", *args, "--run-id", "a"]) == 1
    assert "exists: pass another run_id" in capsys.readouterr().err


def test_options_change_the_run(tmp_path, capsys):
    "Cost and strategy options reach the engine: higher costs cost more; other bands are the ones tried."
    import json

    from statarb.cli import main
    args = [*SMALL, "--reports", str(tmp_path), "--store", str(tmp_path / "store")]
    assert main(["backtest", *args, "--run-id", "cheap", "--half-spread-bps", "0", "--slippage-bps", "0",
                 "--commission-bps", "0", "--min-commission", "0", "--borrow-bps", "0", "--bands", "2.0/0.5"]) == 0
    assert main(["backtest", *args, "--run-id", "dear", "--half-spread-bps", "10", "--bands", "2.0/0.5"]) == 0
    cheap, dear = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("cheap", "dear"))
    assert cheap["costs_total"] == 0 and dear["costs_spread"] > 0
    assert dear["total_return"] < cheap["total_return"]
    assert not (tmp_path / "cheap" / "tearsheet.html").exists()          # backtest: no tearsheet
    w = pd.read_parquet(tmp_path / "dear" / "windows.parquet")
    assert set(w["entry"].dropna()) == {2.0} and set(w["exit"].dropna()) == {0.5}
    assert main(["report", str(tmp_path / "cheap")]) == 0                # the report stage adds it
    assert (tmp_path / "cheap" / "tearsheet.html").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["report", str(tmp_path / "nowhere")]) == 1
    assert "must be a run folder" in capsys.readouterr().err
    assert main(["run", *args, "--run-id", "x", "--bands", "2.0-0.5"]) == 1
    assert "--bands must be entry/exit items" in capsys.readouterr().err
    assert main(["run", *args, "--run-id", "y", "--symbols", "KO,NOPE"]) == 1
    assert "NOPE" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_statarb_scan_ranks_pairs_like_scan_pairs(tmp_path):
    from statarb.alpha.scan import scan_pairs
    from statarb.data.sources import load_sample
    out = tmp_path / "scan.csv"
    r = _run("scan", "--symbols", "KO,PEP,XOM,CVX", "--start", "2010-01-01", "--end", "2014-12-31", "--top", "3",
             "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(out)
    ref = scan_pairs(load_sample("sp500_20stocks").loc["2010":"2014", ["CVX", "KO", "PEP", "XOM"]], log=True, progress=False)
    assert len(table) == 6
    np.testing.assert_allclose(table["pvalue"].to_numpy(), ref["pvalue"].to_numpy(), rtol=1e-9)
    assert r.stdout.splitlines()[1].split()[:2] == [ref["y"][0], ref["x"][0]]
    r = _run("scan", "--symbols", "KO,PEP", "--out", str(tmp_path / "x.txt"), "--no-progress")
    assert r.returncode == 1 and "--out must end in .csv or .parquet" in r.stderr


def test_help_lists_every_stage():
    r = _run("--help")
    for c in ("run", "backtest", "report", "scan", "data", "dashboard", "config"): assert c in r.stdout
    r = _run("run", "--help")
    for o in ("--symbols", "--start", "--bands", "--engine", "--half-spread-bps", "--borrow-bps", "--config", "--top"):
        assert o in r.stdout


def test_statarb_dashboard_serves_a_run_folder(tmp_path):
    "`statarb dashboard reports/<run-id>` starts the Streamlit server on the folder; a bad folder is refused at once."
    import os
    import signal
    import socket
    import time
    import urllib.request

    from statarb.cli import run_pipeline
    if STATARB is None: pytest.skip("the statarb console command is not installed")
    res = run_pipeline(["KO", "PEP", "XOM", "CVX"], start="2006-01-01", end="2011-12-31", train="2Y", test="1Y",
                       holdout=None, top=2, reports_dir=tmp_path, run_id="r", store_dir=tmp_path / "store",
                       executor=None, progress=False)
    r = _run("dashboard", str(tmp_path / "nope"))
    assert r.returncode == 1 and "nope" in r.stderr and "Traceback" not in r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([STATARB, "dashboard", str(res.folder), "--port", str(port)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)     # its own group: streamlit is a child
    try:
        deadline, body = time.time() + 60, ""
        while time.time() < deadline and p.poll() is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read().decode()
                break
            except OSError: time.sleep(0.5)
        assert body == "ok", f"dashboard did not come up (exit {p.poll()})"
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
        assert "<title>" in page.lower() or "streamlit" in page.lower()
    finally:
        os.killpg(p.pid, signal.SIGTERM)              # statarb and the streamlit server it started
        p.wait(timeout=20)


def test_dashboard_script_needs_a_run_first(tmp_path):
    "scripts/dashboard.sh on a clone without runs says what to do instead of starting an empty dashboard."
    import os
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run(["bash", str(root / "scripts" / "dashboard.sh")], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PATH": str(root / ".venv" / "bin") + os.pathsep + os.environ["PATH"]})
    if (root / "reports").is_dir() and any((root / "reports").iterdir()): pytest.skip("this checkout has runs in reports/")
    assert r.returncode == 1 and "run the main job first" in r.stderr
