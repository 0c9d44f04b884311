"""Shared fixtures: paths to the bundled data and to the test-only real data in ../shared/data."""
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
