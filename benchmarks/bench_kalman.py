"""Kalman dynamic hedge ratio: compiled kernel vs a plain C loop vs its pure-Python twin vs pykalman, in one run,
then calibration (EM and maximum likelihood) vs pykalman's EM.

    python benchmarks/bench_kalman.py                 # 1,000,000 observations, 5 repeats; calibration on 2,520 days
    python benchmarks/bench_kalman.py --quick         # smoke run (used by tests/test_kalman.py)

Filter (state [beta, alpha] a random walk, y_t = beta_t x_t + alpha_t + e_t), all on the same seeded data:
  cython    statarb._kalman.kalman_filter (scalar update in C, no GIL)
  plain C   the same recursion written in C in this file, compiled here with gcc (the flags Python's own extensions use,
            -O3 -fwrapv) and called once through ctypes: the floor a compiled kernel can reach
  python    statarb.alpha.kalman.kalman_filter_py (the same scalar update in a Python loop)
  pykalman  pykalman.KalmanFilter(transition_matrices=I, observation_matrices=[[x_t, 1]] per step).filter()
The Python twin and pykalman cost microseconds per step, so they are timed on --python-points / --pykalman-points
observations and their cost per step is extrapolated linearly to --points (the work per step does not depend on the
length). Calibration: --cal-days of KO on PEP (bundled data), --em-iter EM iterations of statarb
(KalmanHedge.fit(method="em")) and of pykalman's KalmanFilter.em(em_vars=[transition_covariance,
observation_covariance]) on the same model, whose fitted Q and R must agree; plus statarb's MLE of (delta, R) to
convergence. Every measurement is repeated and the median is reported.
"""
from __future__ import annotations

import argparse
import ctypes
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _timing import interleaved_medians, median_timed

from statarb.alpha.kalman import KalmanHedge, _run_filter, kalman_filter_py
from statarb.core import compiled_kernel

C_SOURCE = r"""
#include <math.h>
/* The hedge-ratio Kalman recursion of cython_ext/kalman.pyx, as plain C with the same outputs. */
int kalman_filter_c(long n, const double *y, const double *x, const double *q, double r, const double *m0,
                    const double *p0, double *means, double *covs, double *innov, double *ivar, double *ll) {
    const double LOG_2PI = 1.8378770664093453;
    double b = m0[0], a = m0[1], p00 = p0[0], p01 = p0[1], p10 = p0[2], p11 = p0[3];
    for (long t = 0; t < n; t++) {
        if (t > 0) { p00 += q[0]; p01 += q[1]; p10 += q[2]; p11 += q[3]; }
        double yt = y[t], xt = x[t];
        if (isnan(yt) || isnan(xt)) { innov[t] = NAN; ivar[t] = NAN; ll[t] = 0.0; }
        else {
            double e = yt - (b * xt + a);
            double hp0 = xt * p00 + p10, hp1 = xt * p01 + p11;
            double s = hp0 * xt + hp1 + r;
            innov[t] = e; ivar[t] = s;
            if (!(s > 0.0) || s == INFINITY) return 2;
            double k0 = (p00 * xt + p01) / s, k1 = (p10 * xt + p11) / s;
            b += k0 * e; a += k1 * e;
            p00 -= k0 * hp0; p01 -= k0 * hp1; p10 -= k1 * hp0; p11 -= k1 * hp1;
            ll[t] = -0.5 * (LOG_2PI + log(s) + e * e / s);
        }
        means[2 * t] = b; means[2 * t + 1] = a;
        covs[4 * t] = p00; covs[4 * t + 1] = p01; covs[4 * t + 2] = p10; covs[4 * t + 3] = p11;
    }
    return 0;
}
"""


def build_c_reference(workdir: Path):
    "Compile C_SOURCE into a shared library with gcc; return the ctypes function, or None without a compiler."
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None: return None, "no C compiler found"
    flags = ["-O3", "-fwrapv", "-fPIC", "-shared"]
    src, lib = workdir / "kalman_ref.c", workdir / "kalman_ref.so"
    src.write_text(C_SOURCE)
    subprocess.run([cc, *flags, str(src), "-o", str(lib), "-lm"], check=True)
    f = ctypes.CDLL(str(lib)).kalman_filter_c
    dp = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
    f.argtypes = [ctypes.c_long, dp, dp, dp, ctypes.c_double, dp, dp, dp, dp, dp, dp, dp]
    f.restype = ctypes.c_int
    return f, f"{Path(cc).name} {' '.join(flags)}"


def c_reference_filter(f, y, x, q, r, m0, p0) -> dict:
    n = len(y)
    out = dict(state_means=np.empty((n, 2)), state_covs=np.empty((n, 2, 2)), innovation=np.empty(n),
               innovation_var=np.empty(n), loglik=np.empty(n))
    status = f(n, y, x, np.ascontiguousarray(q), r, m0, np.ascontiguousarray(p0), out["state_means"], out["state_covs"],
               out["innovation"], out["innovation_var"], out["loglik"])
    if status != 0: raise RuntimeError(f"C reference failed with status {status}")
    return out


def pykalman_filter(y: np.ndarray, x: np.ndarray, q: np.ndarray, r: float, m0: np.ndarray, p0: np.ndarray):
    from pykalman import KalmanFilter
    h = np.stack([x, np.ones(len(x))], axis=1)[:, None, :]
    kf = KalmanFilter(transition_matrices=np.eye(2), observation_matrices=h, transition_covariance=q,
                      observation_covariance=[[r]], initial_state_mean=m0, initial_state_covariance=p0)
    return kf.filter(y[:, None])


def calibration(days: int, em_iter: int, repeats: int) -> bool:
    "EM (statarb vs pykalman, same iterations) and statarb's MLE on the last `days` days of KO on PEP."
    from pykalman import KalmanFilter

    from statarb.data.sources import load_sample
    px = load_sample("sp500_20stocks")[["KO", "PEP"]].dropna().iloc[-days:]
    y, x = px["KO"].to_numpy(), px["PEP"].to_numpy()
    start = KalmanHedge(delta=1e-5, observation_covariance=0.5, initial_state_covariance=np.eye(2) * 10.0)
    h = np.stack([x, np.ones(len(x))], axis=1)[:, None, :]

    def pk_em():
        kf = KalmanFilter(transition_matrices=np.eye(2), observation_matrices=h,
                          transition_covariance=start.transition_covariance, observation_covariance=[[0.5]],
                          initial_state_mean=np.zeros(2), initial_state_covariance=np.eye(2) * 10.0)
        return kf.em(y[:, None], n_iter=em_iter, em_vars=["transition_covariance", "observation_covariance"])

    t_em, em = median_timed(lambda: start.fit(y, x, method="em", n_iter=em_iter), repeats)
    t_pk, pk = median_timed(pk_em, max(1, min(repeats, 3)))
    t_mle, mle = median_timed(lambda: start.fit(y, x, method="mle"), repeats)
    dq = float(np.max(np.abs(em.model.transition_covariance - pk.transition_covariance)
                      / np.abs(pk.transition_covariance).max()))
    dr = abs(em.model.observation_covariance - float(pk.observation_covariance[0, 0])) / float(pk.observation_covariance[0, 0])
    print(f"\nCalibration on {len(y):,} days of KO on PEP ({px.index[0]:%Y-%m-%d} .. {px.index[-1]:%Y-%m-%d})")
    print(f"{'method':<34}{'median s':>12}")
    print(f"{'statarb EM, ' + str(em_iter) + ' iterations':<34}{t_em:>12.5f}")
    print(f"{'pykalman EM, ' + str(em_iter) + ' iterations':<34}{t_pk:>12.5f}")
    print(f"{'statarb MLE (delta, R), to conv.':<34}{t_mle:>12.5f}   ({mle.n_evaluations} filter runs)")
    print(f"ratio pykalman EM / statarb EM: {t_pk / t_em:.0f}x (same iterations)")
    print(f"ratio pykalman EM / statarb MLE: {t_pk / t_mle:.0f}x")
    print(f"EM estimates vs pykalman: max rel diff Q {dq:.1e}, R {dr:.1e}")
    print(f"log-likelihood: EM {em.loglikelihood:.3f} after {em_iter} iterations, MLE {mle.loglikelihood:.3f}")
    return dq < 1e-6 and dr < 1e-6


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000, help="observations for the compiled kernel and plain C")
    ap.add_argument("--python-points", type=int, default=100_000, help="observations for the Python twin")
    ap.add_argument("--pykalman-points", type=int, default=20_000, help="observations for pykalman")
    ap.add_argument("--cal-days", type=int, default=2_520, help="days of KO on PEP for the calibration timings")
    ap.add_argument("--em-iter", type=int, default=10, help="EM iterations (both libraries)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 5,000 observations, 1,000 for the twin and "
                    "pykalman, 300 calibration days, 2 EM iterations, 2 repeats")
    a = ap.parse_args(argv)
    if a.quick:
        a.points, a.python_points, a.pykalman_points, a.cal_days, a.em_iter, a.repeats = 5_000, 1_000, 1_000, 300, 2, 2
    a.pykalman_points, a.python_points = min(a.pykalman_points, a.points), min(a.python_points, a.points)
    cython = compiled_kernel("_kalman", "kalman_filter")
    if cython is None:
        print("statarb._kalman is not built: run `pip install -e .` first", file=sys.stderr)
        return 1
    import pykalman

    rng = np.random.default_rng(a.seed)
    n = a.points
    x = 50 + np.cumsum(rng.normal(0, 0.5, n))
    beta = 1 + np.cumsum(rng.normal(0, 1e-3, n))
    y = beta * x + 2 + rng.normal(0, 0.5, n)
    q, r, m0, p0 = 1e-4 / (1 - 1e-4) * np.eye(2), 0.25, np.zeros(2), np.eye(2) * 10.0

    with tempfile.TemporaryDirectory() as tmp:
        cref, cflags = build_c_reference(Path(tmp))
        fns = {"cython": lambda: _run_filter(y, x, q, r, m0, p0, kernel=cython)}
        if cref is not None: fns["c"] = lambda: c_reference_filter(cref, y, x, q, r, m0, p0)
        # cython and plain C alternate within each repeat (2x the repeats): the ratio is what matters here
        med, last = interleaved_medians(fns, 2 * a.repeats + 1)
        t_cy, o_cy = med["cython"], last["cython"]
        t_c, o_c = med.get("c"), last.get("c")
    mp, m = a.python_points, a.pykalman_points
    t_py, o_py = median_timed(lambda: _run_filter(y[:mp], x[:mp], q, r, m0, p0, kernel=kalman_filter_py), a.repeats)
    t_pk, (pk_means, _) = median_timed(lambda: pykalman_filter(y[:m], x[:m], q, r, m0, p0), max(1, min(a.repeats, 3)))

    same_py = all(np.array_equal(o_cy[k][:mp], o_py[k], equal_nan=True) for k in o_cy)
    same_c = o_c is None or all(np.array_equal(o_cy[k], o_c[k], equal_nan=True) for k in o_cy)
    rel = float(np.max(np.abs(o_cy["state_means"][:m] - pk_means) / np.maximum(np.abs(pk_means), 1e-12)))
    per = {"cython": t_cy / n * 1e9, "python": t_py / mp * 1e9, "pykalman": t_pk / m * 1e9}

    print(f"Kalman hedge-ratio filter, median of {a.repeats} repeats ({2 * a.repeats + 1} interleaved for cython and "
          f"plain C), numpy {np.__version__}, pykalman {pykalman.__version__}")
    print(f"{'implementation':<16}{'points':>11}{'median s':>12}{'ns/point':>12}")
    print(f"{'cython':<16}{n:>11,}{t_cy:>12.4f}{per['cython']:>12.1f}")
    if t_c is not None:
        per["c"] = t_c / n * 1e9
        print(f"{'plain C':<16}{n:>11,}{t_c:>12.4f}{per['c']:>12.1f}   ({cflags})")
    else:
        print(f"plain C: skipped ({cflags})")
    print(f"{'python twin':<16}{mp:>11,}{t_py:>12.4f}{per['python']:>12.1f}")
    print(f"{'pykalman':<16}{m:>11,}{t_pk:>12.4f}{per['pykalman']:>12.1f}")
    print(f"extrapolated to {n:,} points (linear, constant work per step): python twin {per['python'] * n / 1e9:.1f} s, "
          f"pykalman {per['pykalman'] * n / 1e9:.1f} s")
    if t_c is not None: print(f"ratio cython / plain C: {t_cy / t_c:.2f}x (1.0 = as fast as C)")
    print(f"ratio python / cython: {per['python'] / per['cython']:.1f}x (per point)")
    print(f"ratio pykalman / cython: {per['pykalman'] / per['cython']:.0f}x (per point)")
    print(f"outputs: cython == python twin {same_py}; cython == plain C {same_c}; "
          f"cython vs pykalman max rel diff of state means {rel:.2e}")
    em_ok = calibration(a.cal_days, a.em_iter, a.repeats)
    return 0 if same_py and same_c and rel < 1e-6 and em_ok else 2


if __name__ == "__main__":
    sys.exit(main())
