"""statarb.core: validation messages and the compiled-kernel selector."""
import warnings

import numpy as np
import pandas as pd
import pytest

from statarb import core
from statarb.core import PerformanceWarning, check_prices, check_time_index, select_kernel


def test_check_prices_names_column_count_and_first_date():
    p = pd.DataFrame({"KO": [40.0, 0.0, -2.0, 1.0, 0.0]}, index=pd.bdate_range("2008-10-09", periods=5))
    with pytest.raises(ValueError, match=r"prices must be strictly positive and finite; column 'KO' has 3 values <= 0 or infinite \(first at 2008-10-10\)"):
        check_prices("prices", p)
    with pytest.raises(ValueError, match="column 'KO' has 1 values"):
        check_prices("prices", pd.DataFrame({"KO": [1.0, np.inf]}, index=pd.bdate_range("2020-01-01", periods=2)))
    with pytest.raises(TypeError, match="prices must be DataFrame or Series; got ndarray|prices must be Series or DataFrame; got ndarray"):
        check_prices("prices", np.ones(3))


def test_check_time_index_unsorted_and_duplicates():
    s = pd.Series([1.0, 2.0, 3.0], index=pd.to_datetime(["2020-01-01", "2020-01-03", "2020-01-02"]))
    with pytest.raises(ValueError, match="x index must be sorted ascending; got 2020-01-02 after 2020-01-03 \\(position 2\\)$"):
        check_time_index("x", s)
    assert check_time_index("x", s.sort_index()) is not None


@pytest.mark.twins
def test_selector_prefers_compiled_and_honours_env(monkeypatch):
    def ref(*a): return "ref"
    monkeypatch.delenv("STATARB_NO_CYTHON", raising=False)
    compiled = core.compiled_kernel("_hampel", "rolling_median_mad")
    if compiled is None: pytest.skip("extension not built")
    assert select_kernel("_hampel", "rolling_median_mad", ref) is compiled
    monkeypatch.setenv("STATARB_NO_CYTHON", "1")
    assert select_kernel("_hampel", "rolling_median_mad", ref) is ref


@pytest.mark.twins
def test_selector_falls_back_with_one_performance_warning(monkeypatch):
    def ref(*a): return "ref"
    monkeypatch.setattr(core, "_warned_missing", set())
    monkeypatch.delenv("STATARB_NO_CYTHON", raising=False)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for _ in range(3): assert select_kernel("_not_built", "kernel", ref)() == "ref"
    assert [x.category for x in w] == [PerformanceWarning]
    assert "STATARB_NO_CYTHON=1" in str(w[0].message)
