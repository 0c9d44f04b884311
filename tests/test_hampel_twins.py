"""Compiled twin statarb._hampel.rolling_median_mad against its reference statarb.data.clean.rolling_median_mad_py.

Equality is exact (np.testing.assert_array_equal), on random data with NaNs and ties, even and odd windows, trailing
and centred windows, min_periods, short and all-NaN series and real prices. Both are also compared with pandas:
`rolling(...).median()` agrees to the bit, and so does a `rolling(...).apply` MAD built from np.nanmedian.
The selector tests check STATARB_NO_CYTHON=1 and the single PerformanceWarning when the extension is missing.
These tests also run (and pass) with STATARB_NO_CYTHON=1: the kernel is then taken directly with compiled_kernel.
"""
import sys
import warnings
import zlib

import numpy as np
import pandas as pd
import pytest

import statarb.data.clean as clean
from statarb import core
from statarb.core import PerformanceWarning
from statarb.data.clean import _rolling_median_mad, hampel, rolling_median_mad_py

pytestmark = pytest.mark.twins

COMPILED = core.compiled_kernel("_hampel", "rolling_median_mad")
needs_compiled = pytest.mark.skipif(COMPILED is None, reason="statarb._hampel is not built")


def _run(kernel, x, window, center, min_periods):
    med, mad = np.full(len(x), -1.0), np.full(len(x), -1.0)
    status = kernel(np.ascontiguousarray(x, dtype=np.float64), window, center, min_periods, med, mad)
    return status, med, mad


def _assert_twins(x, window, center, min_periods):
    s1, m1, d1 = _run(COMPILED, x, window, center, min_periods)
    s2, m2, d2 = _run(rolling_median_mad_py, x, window, center, min_periods)
    assert s1 == s2 == 0
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(d1, d2)
    return m1, d1


def _pandas(x, window, center, min_periods):
    r = pd.Series(x).rolling(window, center=center, min_periods=min_periods)
    med = r.median().to_numpy()
    mad = r.apply(lambda a: np.nanmedian(np.abs(a - np.nanmedian(a))), raw=True).to_numpy()
    return med, mad


def _sample(rng, n, kind, nan_share):
    if kind == "normal": x = rng.standard_normal(n)
    elif kind == "ties": x = np.round(rng.standard_normal(n), 1)            # few distinct values: many ties
    elif kind == "prices": x = np.round(100 + np.cumsum(rng.normal(0, 0.1, n)), 2)   # rounded to a cent
    else: x = rng.integers(0, 3, n).astype(float)                          # ties everywhere, MAD often 0
    x[rng.random(n) < nan_share] = np.nan
    return x


@needs_compiled
@pytest.mark.parametrize("kind", ["normal", "ties", "prices", "three_values"])
@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("nan_share", [0.0, 0.2, 0.7])
def test_twins_identical_random(kind, center, nan_share):
    rng = np.random.default_rng(zlib.crc32(repr((kind, center, nan_share)).encode()))
    for window in (1, 2, 3, 4, 5, 10, 21, 22, 40):
        if center and window % 2 == 0: continue
        for min_periods in sorted({1, max(1, window // 2), window}):
            x = _sample(rng, int(rng.integers(window, 300)), kind, nan_share)
            m, d = _assert_twins(x, window, center, min_periods)
            pm, pmad = _pandas(x, window, center, min_periods)
            np.testing.assert_array_equal(m, pm)                          # pandas rolling median: equal to the bit
            np.testing.assert_array_equal(d, pmad)                        # rolling-apply MAD: equal to the bit


@needs_compiled
@pytest.mark.parametrize("center", [False, True])
def test_twins_edge_cases(center):
    w = 5
    for x in (np.empty(0), np.array([1.0]), np.array([3.0, 1.0, 2.0]),       # length < window
              np.full(12, np.nan), np.full(12, 7.0),                        # all NaN, all equal
              np.array([1.0, np.nan, np.nan, np.nan, 2.0, 9.0, np.nan, 4.0]),
              np.array([0.0, -0.0, 0.0, 1e300, -1e300, 5e-324, 2.0])):      # signed zeros, extremes
        for mp in (1, 3, 5):
            m, d = _assert_twins(x, w, center, mp)
            if len(x):
                pm, pmad = _pandas(x, w, center, mp)
                np.testing.assert_array_equal(m, pm)
                np.testing.assert_array_equal(d, pmad)
    s, m, d = _run(COMPILED, np.full(12, np.nan), w, center, 1)
    assert np.isnan(m).all() and np.isnan(d).all()
    s, m, d = _run(COMPILED, np.array([3.0, 1.0, 2.0]), 5, center, 5)
    assert np.isnan(m).all()                                              # fewer than min_periods values


@needs_compiled
def test_twins_hand_example():
    x = np.array([1.0, 3.0, np.nan, 2.0, 10.0, 4.0])
    for kernel in (COMPILED, rolling_median_mad_py):
        s, m, d = _run(kernel, x, 4, False, 2)
        # windows: [1] [1,3] [1,3] [1,3,2] [3,2,10] [2,10,4]
        np.testing.assert_array_equal(m, [np.nan, 2.0, 2.0, 2.0, 3.0, 4.0])
        np.testing.assert_array_equal(d, [np.nan, 1.0, 1.0, 1.0, 1.0, 2.0])
        s, m, d = _run(kernel, x, 3, True, 1)
        # centred windows: [1,3] [1,3] [3,2] [2,10] [2,10,4] [10,4]
        np.testing.assert_array_equal(m, [2.0, 2.0, 2.5, 6.0, 4.0, 7.0])
        np.testing.assert_array_equal(d, [1.0, 1.0, 0.5, 4.0, 2.0, 3.0])


@needs_compiled
@pytest.mark.slow
@pytest.mark.parametrize("center", [False, True])
def test_twins_identical_on_real_prices(shared_data, center):
    p = pd.read_parquet(shared_data / "skfolio_sp500_20stocks_daily.parquet")[["KO", "AMD", "GE"]]
    for col in p.columns:
        level = p[col].to_numpy()
        ret = np.diff(np.log(level), prepend=np.nan)
        for x in (level, ret):
            m, d = _assert_twins(x, 21, center, 21)
            np.testing.assert_array_equal(m, pd.Series(x).rolling(21, center=center).median().to_numpy())


def test_status_codes_agree_and_become_value_errors(monkeypatch):
    cases = [((np.ones(5), 0, False, 1), 1), ((np.ones(5), 4, True, 1), 1), ((np.ones(5), -3, False, 1), 1),
             ((np.ones(5), 3, False, 0), 3), ((np.ones(5), 3, False, 4), 3)]
    kernels = [rolling_median_mad_py] + ([COMPILED] if COMPILED is not None else [])
    for kernel in kernels:
        for args, code in cases:
            assert _run(kernel, *args)[0] == code
        assert kernel(np.ones(5), 3, False, 1, np.empty(4), np.empty(5)) == 2
        assert kernel(np.ones(5), 3, False, 1, np.empty(5), np.empty(6)) == 2
    for env in ("0", "1"):
        monkeypatch.setenv("STATARB_NO_CYTHON", env)
        with pytest.raises(ValueError, match=r"window must be >= 1, and odd when center=True \(the window is \[t-h, t\+h\]\); got window=0"):
            _rolling_median_mad(np.ones(5), 0)
        with pytest.raises(ValueError, match="window must be >= 1, and odd when center=True .* got window=4, center=True"):
            _rolling_median_mad(np.ones(5), 4, center=True)
        with pytest.raises(ValueError, match="min_periods must be between 1 and window=3; got 4"):
            _rolling_median_mad(np.ones(5), 3, min_periods=4)
    assert "median_out and mad_out must have the length of x (5)" in str(clean._kernel_error(2, 5, 3, False, 1))
    assert "unknown status 9" in str(clean._kernel_error(9, 5, 3, False, 1))


def _spy(monkeypatch):
    calls = []
    def spy(*args):
        calls.append(1)
        return rolling_median_mad_py(*args)
    spy.__name__ = "rolling_median_mad_py"
    monkeypatch.setattr(clean, "rolling_median_mad_py", spy)
    return calls


def _series():
    rng = np.random.default_rng(4)
    x = pd.Series(np.round(rng.standard_t(3, 400), 2), index=pd.bdate_range("2018-01-01", periods=400), name="x")
    x[rng.random(400) < 0.1] = np.nan
    return x


def test_env_switch_selects_reference(monkeypatch):
    x = _series()
    monkeypatch.delenv("STATARB_NO_CYTHON", raising=False)
    compiled_result = hampel(x, window=21, n_sigmas=3.0)
    calls = _spy(monkeypatch)
    monkeypatch.setenv("STATARB_NO_CYTHON", "1")
    ref = hampel(x, window=21, n_sigmas=3.0)
    assert len(calls) == 1                                        # the reference ran (one column)
    for f in ("flags", "location", "scale"):
        pd.testing.assert_series_equal(getattr(ref, f), getattr(compiled_result, f))
    monkeypatch.delenv("STATARB_NO_CYTHON")
    hampel(x, window=21, n_sigmas=3.0)
    assert len(calls) == (1 if COMPILED is not None else 2)        # compiled again when built


@pytest.mark.parametrize("how", ["sys_modules", "compiled_kernel"])
def test_missing_extension_warns_once_and_falls_back(monkeypatch, how):
    x = _series()
    monkeypatch.delenv("STATARB_NO_CYTHON", raising=False)
    expected = hampel(x, window=21, n_sigmas=3.0, center=True, min_periods=5)
    monkeypatch.setattr(core, "_warned_missing", set())
    if how == "sys_modules": monkeypatch.setitem(sys.modules, "statarb._hampel", None)   # import now fails
    else: monkeypatch.setattr(core, "compiled_kernel", lambda module, name: None)
    assert core.compiled_kernel("_hampel", "rolling_median_mad") is None
    calls = _spy(monkeypatch)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        results = [hampel(x.to_frame().assign(y=x * 2), window=21, n_sigmas=3.0, center=True, min_periods=5) for _ in range(3)]
    assert [type(m.message) for m in w] == [PerformanceWarning]   # one warning for six kernel calls
    assert "statarb._hampel.rolling_median_mad is not built" in str(w[0].message) and "STATARB_NO_CYTHON=1" in str(w[0].message)
    assert len(calls) == 6
    for r in results:
        pd.testing.assert_series_equal(r.flags["x"], expected.flags)
        pd.testing.assert_series_equal(r.median["x"], expected.median)
