# cython: language_level=3
"""Market-by-price (L2) book replay: the compiled twin of `statarb.engine.lob.replay_l2_py`.

Prices are rank-encoded by the caller (index into the sorted array of every distinct price of the replay), so the
book is two dense float64 arrays indexed by level and the best bid/ask are found by a short scan from the previous
best. Messages are row ranges `msg_start[m] .. msg_start[m+1]`; `mode[m]` is 0 apply, 1 clear then apply
(snapshot), 2 skip (book invalid until the next snapshot: outputs -1). After each message the kernel writes the best
levels, their quantities and a crossed flag. Directives (boundscheck, wraparound, cdivision) are set once, in setup.py.
"""
import numpy as np

# status codes; the Python wrapper turns them into exceptions
cdef enum:
    OK = 0
    NEGATIVE_QTY = 1
    BAD_LEVEL = 2
    BAD_SIDE = 3


def replay_l2(const long long[::1] msg_start, const signed char[::1] mode, const signed char[::1] side,
              const long long[::1] level, const double[::1] qty, double[::1] bid_book, double[::1] ask_book,
              long long[::1] bid_level, long long[::1] ask_level, double[::1] bid_qty, double[::1] ask_qty,
              signed char[::1] crossed, long long[::1] bad_row):
    cdef Py_ssize_t n_msg = mode.shape[0], n_lvl = bid_book.shape[0]
    cdef Py_ssize_t m, r, k
    cdef long long bb = -1, ba = -1, lv
    cdef double q
    cdef int status = OK
    with nogil:
        for m in range(n_msg):
            if mode[m] == 2:
                bid_level[m] = -1; ask_level[m] = -1; bid_qty[m] = 0.0; ask_qty[m] = 0.0; crossed[m] = 0
                continue
            if mode[m] == 1:
                for k in range(n_lvl):
                    bid_book[k] = 0.0
                    ask_book[k] = 0.0
                bb = -1
                ba = -1
            for r in range(msg_start[m], msg_start[m + 1]):
                lv = level[r]
                q = qty[r]
                if q < 0.0 or q != q:
                    status = NEGATIVE_QTY
                    bad_row[0] = r
                    break
                if lv < 0 or lv >= n_lvl:
                    status = BAD_LEVEL
                    bad_row[0] = r
                    break
                if side[r] == 1:
                    bid_book[lv] = q
                    if q > 0.0:
                        if lv > bb:
                            bb = lv
                    elif lv == bb:
                        bb = lv - 1
                        while bb >= 0 and bid_book[bb] <= 0.0:
                            bb -= 1
                elif side[r] == -1:
                    ask_book[lv] = q
                    if q > 0.0:
                        if ba < 0 or lv < ba:
                            ba = lv
                    elif lv == ba:
                        ba = lv + 1
                        while ba < n_lvl and ask_book[ba] <= 0.0:
                            ba += 1
                        if ba >= n_lvl:
                            ba = -1
                else:
                    status = BAD_SIDE
                    bad_row[0] = r
                    break
            if status != OK:
                break
            bid_level[m] = bb
            ask_level[m] = ba
            bid_qty[m] = bid_book[bb] if bb >= 0 else 0.0
            ask_qty[m] = ask_book[ba] if ba >= 0 else 0.0
            crossed[m] = 1 if (bb >= 0 and ba >= 0 and bb >= ba) else 0
    return status
