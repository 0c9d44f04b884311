"""Shared fixtures: paths to the bundled data and to the test-only real data in ../shared/data; a headless Chromium."""
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    "The folder of test-only real market data (../shared/data); tests using it skip where it is absent."
    if not SHARED.is_dir(): pytest.skip("../shared/data is absent (test-only real data)")
    return SHARED


@pytest.fixture(scope="session")
def bundled_data() -> Path:
    return DATA


def chromium_driver(window_size: str = "1280,900", console_log: bool = False):
    """A headless Debian chromium under selenium and chromedriver. Skips when any of them is missing, unless
    STATARB_REQUIRE_BROWSER=1 (CI), which makes that a failure."""
    binary = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    missing = [n for n, ok in (("chromium", binary), ("chromedriver", shutil.which("chromedriver"))) if not ok]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        if os.environ.get("STATARB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"STATARB_REQUIRE_BROWSER=1 but {', '.join(missing)} not installed")
        pytest.skip(f"{', '.join(missing)} not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-dev-shm-usage", f"--window-size={window_size}"):
        opts.add_argument(a)
    if console_log: opts.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))
