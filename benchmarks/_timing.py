"""Timing helpers shared by the benchmark scripts (run as `python benchmarks/bench_<x>.py`, so this folder is on sys.path).

Each measurement is repeated and the median is what the scripts report: the machines are noisy, so ratios of medians
measured in the same run are the only numbers worth quoting.
"""
import statistics
import time


def timed(fn, repeats: int, setup=None) -> list[float]:
    "Wall times of `repeats` calls of `fn`, each after an untimed `setup()` when given."
    out = []
    for _ in range(repeats):
        if setup is not None: setup()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median_timed(fn, repeats: int) -> tuple[float, object]:
    "Median wall time of `repeats` calls, and the last call's result (to check outputs outside the timings)."
    box = []
    times = timed(lambda: box.append(fn()), repeats)
    return statistics.median(times), box[-1]


def interleaved_medians(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Median wall time of each of `fns` (name -> callable), timing them in turn within every repeat, so that load
    from other processes falls on all of them alike; and each one's last result."""
    times = {k: [] for k in fns}
    last = {}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            last[k] = fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}, last
