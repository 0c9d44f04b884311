# cython: language_level=3
"""Compiled fast path of the event-driven engine: the shipped pairs strategy on bar data, one call per backtest.

It runs the bar loop, the online Kalman hedge and z-score bands of PairsStrategy, FixedNotional sizing, market orders
filled from the next bar's open with a fixed half-spread and slippage, per-share and bps fees with a per-order minimum,
a participation cap on bar volume carrying partial fills to later bars, and the portfolio's accounting (one cash
account, positions per pair, borrow on shorts held at a close, interest on cash). Its reference is the Python object
path (run_backtest with PairsStrategy, Portfolio and ExecutionHandler): every operation below is the object path's,
in the same order, including the order in which Python dicts iterate, so fills, positions and equity come out as the
same numbers (the tests compare them exactly). Directives are set once, in setup.py.
"""
from libc.math cimport fabs, floor, copysign, sqrt, isnan, INFINITY, NAN

cdef enum:
    OK = 0
    FILLS_FULL = 1          # fills_out is full: call again with more room
    ORDERS_FULL = 2         # orders_out is full
    WORKING_FULL = 3        # more orders working at once than wk has rows
    BAD_SHAPE = 4
    BAD_VARIANCE = 5        # a Kalman innovation variance was not positive and finite (pair in counts[3])
    BAD_SIZE = 6            # sizing met a zero gross notional (pair in counts[3])

cdef double NS_PER_DAY = 86400000000000.0

cdef inline double pymax(double a, double b) noexcept nogil:
    "Python's max(a, b): a unless b is larger."
    return b if b > a else a

cdef inline double pymin(double a, double b) noexcept nogil:
    "Python's min(a, b): a unless b is smaller."
    return b if b < a else a


def run_pairs(const double[:, :] open_, const double[:, :] close, const double[:, :] volume,
              const long long[::1] ts, const long long[:, ::1] pairs, const long long[::1] sym_order,
              const long long[::1] bs_ptr, const long long[::1] bs_idx, const double[:, ::1] kalman,
              long long window, double entry, double exit_, double stop, double notional, double lot,
              double half_spread_bps, double slippage_bps, double fee_per_share, double fee_bps, double fee_min,
              double participation, const double[::1] borrow, double cash_rate, double initial_cash,
              long long entry_latency,
              double[:, ::1] equity_out, double[:, ::1] z_out, double[:, ::1] beta_out, long long[:, ::1] pos_out,
              double[:, ::1] fills_out, long long[:, ::1] fills_ids, double[::1] orders_qty,
              long long[:, ::1] orders_ids, double[:, ::1] group_out, long long[::1] counts,
              double[:, ::1] kst, long long[:, ::1] ist, double[:, ::1] wk, long long[:, ::1] wki,
              double[::1] marks, double[::1] used, double[::1] agg, long long[::1] aord, long long[::1] seen,
              long long[:, ::1] held_i, double[:, ::1] held_d, long long[::1] gord):
    """Run the pairs backtest (see the module docstring); all arrays are allocated by the Python wrapper
    statarb.engine.fast.run_pairs_backtest, which documents each one. Returns a status (0 = success)."""
    cdef Py_ssize_t n = close.shape[0], m = close.shape[1], P = pairs.shape[0]
    cdef Py_ssize_t fcap = fills_out.shape[0], ocap = orders_qty.shape[0], wcap = wk.shape[0]
    if (open_.shape[0] != n or ts.shape[0] != n or open_.shape[1] != m
            or sym_order.shape[0] != m or bs_ptr.shape[0] != m + 1 or kalman.shape[0] != P or kalman.shape[1] != 11
            or equity_out.shape[0] != n or group_out.shape[0] != P or borrow.shape[0] != m or kst.shape[0] != P
            or ist.shape[0] != P or marks.shape[0] != m or used.shape[0] != m or agg.shape[0] != m
            or aord.shape[0] != m or seen.shape[0] != m or held_i.shape[0] != 2 * P or held_d.shape[0] != 2 * P
            or counts.shape[0] < 4 or gord.shape[0] != P
            or (volume.shape[0] != 0 and (volume.shape[0] != n or volume.shape[1] != m))
            or (z_out.shape[0] != 0 and (z_out.shape[0] != n or z_out.shape[1] != P or beta_out.shape[0] != n
                                         or pos_out.shape[0] != n))):
        return BAD_SHAPE
    # ist columns: 0 n (filter steps), 1 pos, 2 block_s, 3 block_l, 4 last bar processed, 5 group rank (-1 = none),
    #              6 seq of leg y (-1 = absent), 7 seq of leg x
    # kst columns: 0 b, 1 a, 2 p00, 3 p01, 4 p10, 5 p11, 6 beta (last defined), 7 pos y, 8 pos x, 9 avg y, 10 avg x,
    #              11 realised, 12 fees, 13 borrow
    # wk columns: 0 order quantity, 1 left; 2 raw fees so far.  wki: 0 order id, 1 symbol, 2 after (decision ts),
    #              3 arrival, 4 pair, 5 leg, 6 active
    cdef double cash = initial_cash, cash_held = initial_cash
    cdef long long last_ts = 0, tt, next_id = 0, seqc = 0
    cdef bint started = False
    cdef Py_ssize_t t, i, j, k, k2, p, g, leg, s, nf = 0, no = 0, nw = 0, ngroups = 0, nheld = 0, na, o1, o2
    cdef double q00, q01, q10, q11, r, p00, p01, p10, p11, b, a, yt, xt, e, hp0, hp1, sv, k0, k1, z, beta_pred
    cdef double ref, vol, cap, qty, rem, hs, sl, price, raw, after, before, fee, pos_, avg_, new, closed
    cdef double wy, wx, gross, kk, tgt, d, working, days, c, tot, val, grs, net, dirn, w
    cdef long long pos, prev, side, sym
    cdef double stp = stop
    cdef bint has_volume = volume.shape[0] != 0, record = z_out.shape[0] != 0
    for p in range(P):
        kst[p, 0] = kalman[p, 5]; kst[p, 1] = kalman[p, 6]
        kst[p, 2] = kalman[p, 7]; kst[p, 3] = kalman[p, 8]; kst[p, 4] = kalman[p, 9]; kst[p, 5] = kalman[p, 10]
        kst[p, 6] = NAN
        for j in range(7, 14): kst[p, j] = 0.0
        ist[p, 0] = 0; ist[p, 1] = 0; ist[p, 2] = 0; ist[p, 3] = 0; ist[p, 4] = -1; ist[p, 5] = -1
        ist[p, 6] = -1; ist[p, 7] = -1
    for s in range(m): marks[s] = NAN
    # the loop holds the GIL only to return a status early; it makes no Python calls
    for t in range(n):
        tt = ts[t]
        # ---------------------------------------- 1. execution: work the orders against the bars of t, by order id
        for s in range(m): used[s] = 0.0
        for i in range(nw):
            if wki[i, 6] == 0: continue
            sym = wki[i, 1]
            if isnan(close[t, sym]): continue
            if tt <= wki[i, 2] or tt < wki[i, 3]: continue
            ref = open_[t, sym]
            vol = volume[t, sym] if has_volume else NAN
            if isnan(participation) or isnan(vol): cap = INFINITY
            else: cap = participation * vol
            cap = cap - used[sym]
            rem = wk[i, 1]
            qty = copysign(pymin(fabs(rem), pymax(cap, 0.0)), rem)
            if qty == 0: continue
            side = 1 if wk[i, 0] > 0 else -1
            hs = ref * half_spread_bps * 1e-4
            sl = ref * slippage_bps * 1e-4
            price = ref + side * (hs + sl)
            raw = fee_per_share * fabs(qty) + fee_bps * 1e-4 * fabs(qty) * price
            after = wk[i, 2] + raw
            before = pymax(fee_min, wk[i, 2]) if wk[i, 2] > 0 else 0.0
            fee = pymax(fee_min, after) - before
            wk[i, 2] = after
            rem = rem - qty
            if fabs(rem) < 1e-9 * fabs(wk[i, 0]): rem = 0.0
            wk[i, 1] = rem
            used[sym] = used[sym] + fabs(qty)
            if nf >= fcap: return FILLS_FULL
            fills_out[nf, 0] = qty; fills_out[nf, 1] = price; fills_out[nf, 2] = fee
            fills_out[nf, 3] = fabs(qty) * hs; fills_out[nf, 4] = fabs(qty) * sl; fills_out[nf, 5] = rem
            fills_ids[nf, 0] = tt; fills_ids[nf, 1] = wki[i, 0]; fills_ids[nf, 2] = sym; fills_ids[nf, 3] = wki[i, 4]
            nf += 1
            if rem == 0: wki[i, 6] = 0
            # ------------------------------------ portfolio.on_fill (booking does not affect the fills after it)
            p = wki[i, 4]; leg = wki[i, 5]
            if ist[p, 6 + leg] >= 0: pos_ = kst[p, 7 + leg]; avg_ = kst[p, 9 + leg]
            else: pos_ = 0.0; avg_ = 0.0
            if pos_ == 0 or (pos_ > 0) == (qty > 0):
                new = pos_ + qty
                kst[p, 9 + leg] = (avg_ * pos_ + price * qty) / new
            else:
                closed = pymin(fabs(qty), fabs(pos_))
                kst[p, 11] = kst[p, 11] + closed * (price - avg_) * (1 if pos_ > 0 else -1)
                new = pos_ + qty
                if fabs(new) < 1e-12 * pymax(fabs(pos_), 1): new = 0.0
                if new != 0 and (new > 0) != (pos_ > 0): kst[p, 9 + leg] = price
            kst[p, 7 + leg] = new
            if ist[p, 6 + leg] < 0:
                ist[p, 6 + leg] = seqc
                seqc += 1
            if new == 0:
                ist[p, 6 + leg] = -1
                kst[p, 9 + leg] = 0.0
            kst[p, 12] = kst[p, 12] + fee
            cash -= qty * price + fee
        # compact the working list, keeping order-id order
        j = 0
        for i in range(nw):
            if wki[i, 6] != 0:
                if j != i:
                    for k in range(3): wk[j, k] = wk[i, k]
                    for k in range(7): wki[j, k] = wki[i, k]
                j += 1
        nw = j
        # ---------------------------------------- 2. portfolio.mark: marks, borrow and interest, equity record
        for s in range(m):
            if not isnan(close[t, s]): marks[s] = close[t, s]
        if started and tt > last_ts:
            days = <double>(tt - last_ts) / NS_PER_DAY
            for i in range(nheld):
                c = borrow[held_i[i, 1]] * fabs(held_d[i, 0]) * held_d[i, 1] * days / 365.0
                kst[held_i[i, 0], 13] = kst[held_i[i, 0], 13] + c
                cash -= c
            cash += cash_held * cash_rate * days / 365.0
        last_ts = tt
        started = True
        # positions in the portfolio's dict order: groups by creation, legs by insertion
        nheld = 0
        na = 0
        for s in range(m):
            seen[s] = 0
            agg[s] = 0.0
        for g in range(ngroups):
            p = -1
            for k in range(P):
                if ist[k, 5] == g:
                    p = k
                    break
            o1, o2 = 0, 1
            if ist[p, 6] >= 0 and ist[p, 7] >= 0 and ist[p, 7] < ist[p, 6]: o1, o2 = 1, 0
            for leg in (o1, o2):
                if ist[p, 6 + leg] < 0: continue
                s = pairs[p, leg]
                if kst[p, 7 + leg] < 0:
                    held_i[nheld, 0] = p; held_i[nheld, 1] = s
                    held_d[nheld, 0] = kst[p, 7 + leg]; held_d[nheld, 1] = marks[s]
                    nheld += 1
                if seen[s] == 0:
                    seen[s] = 1
                    aord[na] = s
                    na += 1
                agg[s] = agg[s] + kst[p, 7 + leg]
        cash_held = cash
        tot = 0.0
        grs = 0.0
        net = 0.0
        for k in range(na):
            s = aord[k]
            if agg[s] != 0:
                val = agg[s] * marks[s]
                tot = tot + val
                grs = grs + fabs(val)
                net = net + val
        equity_out[t, 0] = cash
        equity_out[t, 1] = cash + tot
        equity_out[t, 2] = grs
        equity_out[t, 3] = net
        # ---------------------------------------- 3. strategy: pairs in event order (symbols by name, pairs in order)
        for k in range(m):
            s = sym_order[k]
            if isnan(close[t, s]): continue
            for j in range(bs_ptr[s], bs_ptr[s + 1]):
                p = bs_idx[j]
                if ist[p, 4] == t: continue
                if isnan(close[t, pairs[p, 0]]) or isnan(close[t, pairs[p, 1]]): continue
                ist[p, 4] = t
                yt = close[t, pairs[p, 0]]
                xt = close[t, pairs[p, 1]]
                # Kalman step (PairsStrategy._z_kalman)
                b = kst[p, 0]; a = kst[p, 1]
                p00 = kst[p, 2]; p01 = kst[p, 3]; p10 = kst[p, 4]; p11 = kst[p, 5]
                if ist[p, 0] > 0:
                    p00 = p00 + kalman[p, 0]; p01 = p01 + kalman[p, 1]
                    p10 = p10 + kalman[p, 2]; p11 = p11 + kalman[p, 3]
                e = yt - (b * xt + a)
                hp0 = xt * p00 + p10
                hp1 = xt * p01 + p11
                sv = hp0 * xt + hp1 + kalman[p, 4]
                if not (sv > 0.0) or sv == INFINITY:
                    counts[3] = p
                    return BAD_VARIANCE
                k0 = (p00 * xt + p01) / sv
                k1 = (p10 * xt + p11) / sv
                beta_pred = b
                kst[p, 0] = b + k0 * e
                kst[p, 1] = a + k1 * e
                kst[p, 2] = p00 - k0 * hp0; kst[p, 3] = p01 - k0 * hp1
                kst[p, 4] = p10 - k1 * hp0; kst[p, 5] = p11 - k1 * hp1
                z = e / sqrt(sv) if ist[p, 0] >= window else NAN
                ist[p, 0] += 1
                # band state machine (PairsStrategy._step_state)
                prev = ist[p, 1]
                pos = prev
                if z != z:
                    pos = 0
                else:
                    if ist[p, 2] and z < entry: ist[p, 2] = 0
                    if ist[p, 3] and z > -entry: ist[p, 3] = 0
                    if pos == -1:
                        if z >= stp:
                            pos = 0; ist[p, 2] = 1
                        elif z <= exit_: pos = 0
                    elif pos == 1:
                        if z <= -stp:
                            pos = 0; ist[p, 3] = 1
                        elif z >= -exit_: pos = 0
                    if pos == 0:
                        if entry <= z < stp and not ist[p, 2]: pos = -1
                        elif -stp < z <= -entry and not ist[p, 3]: pos = 1
                ist[p, 1] = pos
                if beta_pred == beta_pred: kst[p, 6] = beta_pred
                if record:
                    z_out[t, p] = z
                    beta_out[t, p] = beta_pred
                    pos_out[t, p] = pos
                if pos == prev: continue
                # signal -> portfolio.on_signal -> sizing -> _orders_to -> execution.submit
                if ist[p, 5] < 0:
                    ist[p, 5] = ngroups
                    gord[ngroups] = p
                    ngroups += 1
                dirn = <double>pos
                wy = 1.0
                wx = -(kst[p, 6] if kst[p, 6] == kst[p, 6] else 1.0)
                for leg in range(2):
                    if pos == 0:
                        tgt = 0.0
                    else:
                        gross = fabs(wy * marks[pairs[p, 0]]) + fabs(wx * marks[pairs[p, 1]])
                        if not gross > 0:
                            counts[3] = p
                            return BAD_SIZE
                        kk = notional / gross
                        w = wy if leg == 0 else wx
                        tgt = dirn * w * kk
                        if lot > 0: tgt = copysign(floor(fabs(tgt) / lot + 1e-9) * lot, tgt)
                    pos_ = kst[p, 7 + leg] if ist[p, 6 + leg] >= 0 else 0.0
                    working = 0.0
                    for i in range(nw):
                        if wki[i, 6] and wki[i, 4] == p and wki[i, 5] == leg: working = working + wk[i, 1]
                    d = tgt - pos_ - working
                    if not fabs(d) > 1e-9 * pymax(1.0, fabs(tgt)): continue
                    if no >= ocap: return ORDERS_FULL
                    if nw >= wcap: return WORKING_FULL
                    orders_qty[no] = d
                    orders_ids[no, 0] = tt; orders_ids[no, 1] = next_id; orders_ids[no, 2] = pairs[p, leg]
                    orders_ids[no, 3] = p
                    no += 1
                    wk[nw, 0] = d; wk[nw, 1] = d; wk[nw, 2] = 0.0
                    wki[nw, 0] = next_id; wki[nw, 1] = pairs[p, leg]; wki[nw, 2] = tt
                    wki[nw, 3] = tt + entry_latency; wki[nw, 4] = p; wki[nw, 5] = leg; wki[nw, 6] = 1
                    nw += 1
                    next_id += 1
    for p in range(P):
        group_out[p, 0] = kst[p, 11]; group_out[p, 1] = kst[p, 12]; group_out[p, 2] = kst[p, 13]
        group_out[p, 3] = ist[p, 5]
        group_out[p, 4] = kst[p, 7] if ist[p, 6] >= 0 else 0.0
        group_out[p, 5] = kst[p, 8] if ist[p, 7] >= 0 else 0.0
        group_out[p, 6] = kst[p, 9] if ist[p, 6] >= 0 else NAN
        group_out[p, 7] = kst[p, 10] if ist[p, 7] >= 0 else NAN
    counts[0] = nf
    counts[1] = no
    counts[2] = nw
    return OK
