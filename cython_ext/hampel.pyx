# cython: language_level=3
"""Rolling median and median absolute deviation (MAD) for the Hampel filter.

Compiled twin of `statarb.data.clean.rolling_median_mad_py` (same signature, same results to the bit).
The window is kept as a sorted buffer of its valid (non-NaN) values: each step inserts the entering value and
removes the leaving one by binary search and memmove, O(window) per point with a tiny constant, and the MAD is
read off the sorted buffer by merging the deviations outward from the median, with no second sort.
Directives (boundscheck, wraparound, cdivision) are set once, in setup.py.
"""
import numpy as np
from libc.math cimport fabs, isnan, NAN
from libc.string cimport memmove

# status codes; the Python wrapper turns them into exceptions
cdef enum:
    OK = 0
    BAD_WINDOW = 1
    BAD_LENGTH = 2
    BAD_MIN_PERIODS = 3


cdef inline Py_ssize_t _lower_bound(double* buf, Py_ssize_t m, double v) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = m, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if buf[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline Py_ssize_t _insert(double* buf, Py_ssize_t m, double v) noexcept nogil:
    cdef Py_ssize_t pos = _lower_bound(buf, m, v)
    memmove(&buf[pos + 1], &buf[pos], (m - pos) * sizeof(double))
    buf[pos] = v
    return m + 1


cdef inline Py_ssize_t _remove(double* buf, Py_ssize_t m, double v) noexcept nogil:
    cdef Py_ssize_t pos = _lower_bound(buf, m, v)
    memmove(&buf[pos], &buf[pos + 1], (m - pos - 1) * sizeof(double))
    return m - 1


cdef inline double _median_sorted(double* buf, Py_ssize_t m) noexcept nogil:
    if m % 2 == 1:
        return buf[m // 2]
    return (buf[m // 2 - 1] + buf[m // 2]) / 2.0


cdef inline double _mad_sorted(double* buf, Py_ssize_t m, double med) noexcept nogil:
    """Median of |buf - med| for a sorted buf: merge the two monotone runs of deviations outward from med."""
    cdef Py_ssize_t need = m // 2          # 0-based rank of the (upper) middle deviation
    cdef Py_ssize_t r = _lower_bound(buf, m, med)   # first index with buf[r] >= med
    cdef Py_ssize_t l = r - 1
    cdef Py_ssize_t k = 0
    cdef double d = 0.0, prev = 0.0, dl, dr
    while k <= need:
        prev = d
        if l >= 0 and r < m:
            dl = fabs(buf[l] - med)
            dr = fabs(buf[r] - med)
            if dl <= dr:
                d = dl
                l -= 1
            else:
                d = dr
                r += 1
        elif l >= 0:
            d = fabs(buf[l] - med)
            l -= 1
        else:
            d = fabs(buf[r] - med)
            r += 1
        k += 1
    if m % 2 == 1:
        return d
    return (prev + d) / 2.0


def rolling_median_mad(const double[::1] x, Py_ssize_t window, bint center, Py_ssize_t min_periods,
                       double[::1] median_out, double[::1] mad_out):
    """Fill `median_out` and `mad_out` with the rolling median and MAD of `x` (NaNs are skipped).

    Trailing window [i-window+1, i], or centred [i-h, i+h] with window = 2h+1 when `center`. A window with fewer
    than `min_periods` valid values gives NaN. Returns a status code (0 = success).
    """
    cdef Py_ssize_t n = x.shape[0]
    if window < 1 or (center and window % 2 == 0):
        return BAD_WINDOW
    if median_out.shape[0] != n or mad_out.shape[0] != n:
        return BAD_LENGTH
    if min_periods < 1 or min_periods > window:
        return BAD_MIN_PERIODS
    cdef double[::1] store = np.empty(window + 1, dtype=np.float64)
    cdef double* buf = &store[0]
    cdef Py_ssize_t off = window // 2 if center else 0   # how far the window reaches ahead of i
    cdef Py_ssize_t back = window - 1 - off              # how far it reaches behind i
    cdef Py_ssize_t m = 0, i, j, hi = -1
    cdef double v, med
    with nogil:
        for i in range(n):
            # bring the window's leading edge up to i + off
            while hi < i + off and hi < n - 1:
                hi += 1
                v = x[hi]
                if not isnan(v):
                    m = _insert(buf, m, v)
            # drop the value that fell off the trailing edge
            j = i - back - 1
            if j >= 0:
                v = x[j]
                if not isnan(v):
                    m = _remove(buf, m, v)
            if m < min_periods:
                median_out[i] = NAN
                mad_out[i] = NAN
            else:
                med = _median_sorted(buf, m)
                median_out[i] = med
                mad_out[i] = _mad_sorted(buf, m, med)
    return OK
