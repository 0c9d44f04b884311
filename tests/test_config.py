"""statarb.config: settings.ini is the library's research defaults; env vars and arguments override it."""
import configparser
from pathlib import Path

import pytest

from statarb.config import default, get_config, settings_path

ROOT = Path(__file__).resolve().parents[1]


def test_reads_the_repository_settings_ini(monkeypatch):
    monkeypatch.delenv("STATARB_SETTINGS", raising=False)
    assert settings_path() == ROOT / "settings.ini"
    cp = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
    cp.read(ROOT / "settings.ini")
    cfg = get_config()
    assert cfg.seed == cp.getint("research", "seed")
    assert cfg.trading_days == cp.getint("research", "trading_days")
    assert cfg.costs.half_spread_bps == cp.getfloat("costs", "half_spread_bps")
    assert cfg.universe == tuple(s.strip() for s in cp.get("universe", "universe").split(","))
    assert cfg.data_dir == ROOT / "data"


def test_precedence_argument_over_env_over_file(monkeypatch):
    monkeypatch.setenv("STATARB_TRADING_DAYS", "365")
    monkeypatch.setenv("STATARB_UNIVERSE", "KO, PEP")
    assert get_config().trading_days == 365
    assert get_config().universe == ("KO", "PEP")
    assert get_config(trading_days=260).trading_days == 260
    assert default("trading_days") == 365 and default("trading_days", 12) == 12


def test_other_settings_file_and_bad_values(tmp_path, monkeypatch):
    text = (ROOT / "settings.ini").read_text().replace("seed = 42", "seed = 7")
    (tmp_path / "settings.ini").write_text(text)
    monkeypatch.setenv("STATARB_SETTINGS", str(tmp_path / "settings.ini"))
    cfg = get_config()
    assert cfg.seed == 7 and cfg.data_dir == tmp_path / "data"
    (tmp_path / "settings.ini").write_text(text.replace("seed = 7", "seed = seven"))
    with pytest.raises(ValueError, match=r"seed from settings.ini \[research\] must be int; got 'seven'"):
        get_config()
    (tmp_path / "settings.ini").write_text(text + "\n[extra]\ncolour = blue\n")
    with pytest.raises(ValueError, match="unknown key 'colour' in \\[extra\\]"):
        get_config()
    monkeypatch.setenv("STATARB_SETTINGS", str(tmp_path / "nope.ini"))
    with pytest.raises(FileNotFoundError, match="STATARB_SETTINGS must name an existing settings.ini"):
        get_config()


def test_calendar_setting_drives_stale_rows_in_run_data(tmp_path, monkeypatch):
    "settings.ini's calendar marks closure rows; STATARB_CALENDAR=none turns it off (rows are only compared)."
    import pandas as pd

    from statarb.cli import run_data
    from statarb.data.sources import SampleSource

    class WithHoliday(SampleSource):
        "The sample with a fake row on New Year's Day 2019, carried in from outside the requested range."
        def fetch(self, symbols, start=None, end=None, interval=None):
            bars = super().fetch(symbols, start, end, interval)
            first = bars[bars["timestamp"] == bars["timestamp"].min()]
            first = first.assign(timestamp=pd.Timestamp("2019-01-01", tz="UTC"), close=first["close"] * 0.99,
                                 adj_close=first["adj_close"] * 0.99)        # last year's close, not the next row
            return pd.concat([first, bars], ignore_index=True)

    assert get_config().calendar == "XNYS"
    r = run_data(["KO", "PEP"], "2019-01-01", "2019-01-31", store_dir=tmp_path / "a", source=WithHoliday(), progress=False)
    assert r.stale_rows == 1 and r.start == pd.Timestamp("2019-01-02", tz="UTC")
    monkeypatch.setenv("STATARB_CALENDAR", "none")
    r = run_data(["KO", "PEP"], "2019-01-01", "2019-01-31", store_dir=tmp_path / "b", source=WithHoliday(), progress=False)
    assert r.stale_rows == 0 and r.start == pd.Timestamp("2019-01-01", tz="UTC")


def test_strategy_section_is_optional_and_validated(tmp_path):
    from statarb.config import StrategyDefaults, get_config
    full = get_config()
    assert full.strategy.engine == "event" and full.strategy.band_pairs == ((1.5, 0.0), (2.0, 0.5), (2.5, 0.5))
    assert full.strategy.holdout_start == "2020-01-01"
    src = Path(full.source).read_text()
    short = tmp_path / "settings.ini"                       # a settings.ini without [strategy]: built-in defaults
    short.write_text(src.split("[strategy]")[0].replace("data_dir = data", f"data_dir = {Path(full.data_dir)}"))
    assert get_config(short).strategy == StrategyDefaults()
    assert get_config(short, holdout="none", top=3).strategy.holdout_start is None
    with pytest.raises(ValueError, match="top from argument must be int"):
        get_config(top="three")
    with pytest.raises(ValueError, match="top must be >= 1"):
        get_config(top=0)
    assert get_config().to_dict()["strategy"]["bands"] == "1.5/0.0, 2.0/0.5, 2.5/0.5"
