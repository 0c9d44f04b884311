"""Pair signals (statarb.alpha.signals): trailing z-score, band state machine, pair_signals for every hedge variant.

Oracles: a direct per-window z-score; Chan's vectorised long/short band rule (entry/exit events, forward-filled and
summed), which equals the state machine when there is no stop; hand-worked paths for stops and re-entry blocks;
composition identities with statarb.alpha.hedge and statarb.alpha.kalman (the Kalman variant must report the
predicted state, i.e. the filtered state of t-1). No look-ahead: future prices multiplied by random factors must leave
every column up to the cut-off bit-identical for every variant, and changing y_t must change the signal at t.
Real data: KO/PEP from the bundled sample; EWA/EWC from ../shared/data when present.
"""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from statarb.alpha.hedge import ols_hedge, rolling_ols_hedge
from statarb.alpha.kalman import KalmanHedge
from statarb.alpha.signals import COLUMNS, Bands, SignalFrame, band_positions, pair_signals, rolling_zscore
from statarb.data.sources import load_sample

KF = dict(delta=1e-7, observation_covariance=0.5, initial_state_covariance=np.eye(2) * 10.0)


@pytest.fixture(scope="module")
def kp() -> pd.DataFrame:
    return load_sample("sp500_20stocks").loc["2014":"2019", ["KO", "PEP"]]


def _chan(z: np.ndarray, entry: float, exit: float) -> np.ndarray:
    "Chan (2013): long/short units set by entry and exit events, forward-filled (NaN: no event), summed."
    zs = pd.Series(z)
    lo = pd.Series(np.nan, index=zs.index)
    lo[zs <= -entry] = 1.0
    lo[zs >= -exit] = 0.0
    sh = pd.Series(np.nan, index=zs.index)
    sh[zs >= entry] = -1.0
    sh[zs <= exit] = 0.0
    return (lo.ffill().fillna(0) + sh.ffill().fillna(0)).astype(int).to_numpy()


# ------------------------------------------------------------------------------------------------------ zscore
def test_rolling_zscore_matches_direct_windows(kp):
    s = kp["KO"] - 0.3 * kp["PEP"]
    z = rolling_zscore(s, 30)
    v = s.to_numpy()
    direct = [(v[t] - v[t - 29:t + 1].mean()) / v[t - 29:t + 1].std(ddof=1) for t in range(29, len(v))]
    np.testing.assert_allclose(z.to_numpy()[29:], direct, rtol=1e-10)
    assert z.iloc[:29].isna().all() and z.index.equals(s.index) and z.name == "zscore"
    assert int(rolling_zscore(s, 30, min_periods=5).isna().sum()) == 4


def test_rolling_zscore_nan_and_constant():
    s = pd.Series([1.0, 2.0, np.nan, 4.0, 3.0, 5.0, 5.0, 5.0, 5.0])
    z = rolling_zscore(s, 3, min_periods=2)
    assert np.isnan(z.iloc[2])                                  # NaN spread -> NaN z
    w = np.array([2.0, 4.0])                                    # window at 3 holds 2, NaN, 4
    assert z.iloc[3] == pytest.approx((4.0 - w.mean()) / w.std(ddof=1), rel=1e-12)
    assert np.isnan(z.iloc[8])                                  # zero variance -> NaN, no RuntimeWarning


def test_rolling_zscore_bad_input():
    s = pd.Series(np.arange(10.0))
    with pytest.raises(ValueError, match="window must not exceed the number of observations; got window=11, 10"):
        rolling_zscore(s, 11)
    with pytest.raises(ValueError, match="min_periods must be <= window"):
        rolling_zscore(s, 5, min_periods=6)
    with pytest.raises(ValueError, match="min_periods must be >= 2"):
        rolling_zscore(s, 5, min_periods=1)
    with pytest.raises(ValueError, match="spread index must be sorted ascending"):
        rolling_zscore(s.iloc[::-1], 3)
    with pytest.raises(TypeError, match="spread must be numeric"):
        rolling_zscore(s.astype(str), 3)
    with pytest.raises(ValueError, match="spread must be finite or NaN"):
        rolling_zscore(pd.Series([1.0, -np.inf, 2.0]), 2)


# ------------------------------------------------------------------------------------------------------ bands
def test_band_positions_hand_path():
    z = [0.0, 2.1, 1.0, 0.4, 2.5, 3.2, 2.4, 1.9, 2.2, -2.5, np.nan, -2.2, -1.0, -0.4]
    want = [0, -1, -1, 0, -1, 0, 0, 0, -1, 1, 0, 1, 1, 0]
    idx = pd.bdate_range("2022-01-03", periods=len(z))
    p = band_positions(pd.Series(z, index=idx), 2.0, 0.5, stop=3.0)
    assert p.tolist() == want and p.index.equals(idx) and p.dtype == np.int64 and p.name == "position"
    assert band_positions(np.array(z), 2.0, 0.5, stop=3.0, on_nan="hold").tolist()[10] == 1


def test_stop_blocks_same_side_until_back_inside_entry():
    # long stopped at -3.5; -2.5 and -2.0 (still <= -entry) must not re-enter; -1.9 unblocks; -2.1 re-enters
    z = np.array([-2.1, -3.5, -2.5, -2.0, -1.9, -2.1, 0.0])
    assert band_positions(z, 2.0, 0.5, stop=3.0).tolist() == [1, 0, 0, 0, 0, 1, 0]
    # the other side is not blocked: after a long stop, a short entry is allowed at once
    z2 = np.array([-2.1, -3.5, 2.5])
    assert band_positions(z2, 2.0, 0.5, stop=3.0).tolist() == [1, 0, -1]
    # NaN does not clear a block
    z3 = np.array([2.1, 3.5, np.nan, 2.5, 1.0, 2.5])
    assert band_positions(z3, 2.0, 0.5, stop=3.0).tolist() == [-1, 0, 0, 0, 0, -1]
    # no entry beyond the stop
    assert band_positions(np.array([0.0, -3.1, -2.9]), 2.0, 0.5, stop=3.0).tolist() == [0, 0, 1]


@pytest.mark.parametrize("entry,exit", [(2.0, 0.5), (1.0, 0.0), (1.5, -0.5), (2.0, -2.0), (0.5, 0.25)])
def test_band_positions_equal_chan_vectorised_rule(entry, exit):
    rng = np.random.default_rng(11)
    z = np.zeros(3000)
    for t in range(1, len(z)): z[t] = 0.95 * z[t - 1] + rng.normal(0, 0.6)
    z[rng.random(len(z)) < 0.02] = np.nan
    p = band_positions(z, entry, exit, on_nan="hold").to_numpy()
    np.testing.assert_array_equal(p, _chan(z, entry, exit))
    assert len(np.unique(p)) == 3


def test_band_positions_invariants_with_stop():
    rng = np.random.default_rng(5)
    z = np.cumsum(rng.normal(0, 0.4, 5000))
    z = z - pd.Series(z).rolling(50, min_periods=1).mean().to_numpy()
    z = z / np.nanstd(z) * 2
    p = band_positions(z, 1.5, 0.2, stop=3.0).to_numpy()
    assert not (p[z >= 3.0] == -1).any() and not (p[z <= -3.0] == 1).any()
    assert not ((p == -1) & (z <= 0.2)).any() and not ((p == 1) & (z >= -0.2)).any()
    new_short = (p == -1) & (np.r_[0, p[:-1]] != -1)
    assert (z[new_short] >= 1.5).all()


def test_band_positions_bad_input():
    z = np.zeros(3)
    with pytest.raises(ValueError, match="entry must be > exit; got entry=1, exit=1"):
        band_positions(z, 1.0, 1.0)
    with pytest.raises(ValueError, match="entry must be > exit; got entry=1, exit=2"):
        band_positions(z, 1.0, 2.0)
    with pytest.raises(ValueError, match="stop must be > entry; got entry=2, stop=1"):
        band_positions(z, 2.0, 0.0, stop=1.0)
    with pytest.raises(ValueError, match="entry must be > 0; got -1"):
        band_positions(z, -1.0, -2.0)
    with pytest.raises(ValueError, match="exit must be >= -entry"):
        band_positions(z, 1.0, -1.5)
    with pytest.raises(TypeError, match="stop must be a real number; got str"):
        band_positions(z, 1.0, 0.0, stop="3")
    with pytest.raises(ValueError, match="on_nan must be one of 'flat', 'hold'"):
        band_positions(z, 1.0, 0.0, on_nan="ffill")
    with pytest.raises(ValueError, match="z index must be unique"):
        band_positions(pd.Series([0.0, 1.0], index=[1, 1]), 1.0, 0.0)


def test_bands_duck_typing_and_mirroring(kp):
    y, x = kp["KO"], kp["PEP"]
    a = pair_signals(y, x, window=60, bands=Bands(entry=1.0, exit=-1.0))
    b = pair_signals(y, x, window=60, bands=SimpleNamespace(entry=-1.0, exit=1.0))     # long-side levels, mirrored
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert a.units == "spread" and (a.entry, a.exit, a.stop) == (1.0, -1.0, None)
    with pytest.raises(TypeError, match="bands must have numeric attributes entry and exit"):
        pair_signals(y, x, bands=(1.0, 0.0))
    with pytest.raises(ValueError, match="bands.entry must be > bands.exit"):
        pair_signals(y, x, bands=Bands(1.0, 1.0))
    with pytest.raises(ValueError, match="bands.stop must be > bands.entry"):
        pair_signals(y, x, bands=Bands(1.0, 0.0, 0.9))
    with pytest.raises(ValueError, match="pass stop inside bands"):
        pair_signals(y, x, bands=Bands(1.0, 0.0), stop=3.0)


# ------------------------------------------------------------------------------------------------------ pair_signals
def test_rolling_variant_is_the_composition(kp):
    y, x = kp["KO"], kp["PEP"]
    s = pair_signals(y, x, hedge="rolling", window=60, zscore_window=40, entry=2.0, exit=0.5, stop=4.0)
    f = s.frame
    assert isinstance(s, SignalFrame) and tuple(f.columns) == COLUMNS and f.index.equals(y.index)
    h = rolling_ols_hedge(y, x, 60)
    np.testing.assert_array_equal(f["hedge_ratio"].to_numpy(), h.hedge_ratio.to_numpy())
    np.testing.assert_array_equal(f["spread"].to_numpy(), h.spread.to_numpy())
    np.testing.assert_array_equal(f["z"].to_numpy(), rolling_zscore(h.spread, 40).to_numpy())
    np.testing.assert_array_equal(f["signal"].to_numpy(), f["z"].to_numpy())
    np.testing.assert_array_equal(f["position"].to_numpy(), band_positions(f["z"], 2.0, 0.5, 4.0).to_numpy())
    assert f["z"].isna().sum() == 59 + 39
    assert f["position"].dtype == np.int64


def test_targets_in_shares(kp):
    y, x = kp["KO"], kp["PEP"]
    f = pair_signals(y, x, window=60).frame
    pos = f["position"].to_numpy()
    np.testing.assert_array_equal(f["target_y"].to_numpy(), pos.astype(float))
    np.testing.assert_array_equal(f["target_x"].to_numpy(), np.where(pos == 0, 0.0, -pos * f["hedge_ratio"].to_numpy()))
    assert not np.signbit(f["target_x"].to_numpy()[pos == 0]).any()          # 0.0, not -0.0
    fl = pair_signals(y, x, window=60, log=True).frame
    pl = fl["position"].to_numpy()
    np.testing.assert_allclose(fl["target_y"].to_numpy(), pl / y.to_numpy(), rtol=1e-15)
    np.testing.assert_allclose(fl["target_x"].to_numpy(),
                               np.where(pl == 0, 0.0, -pl * fl["hedge_ratio"].to_numpy() / x.to_numpy()), rtol=1e-15)
    # the dollar exposure of a log-spread unit: $1 of y against $beta of x
    held = pl != 0
    np.testing.assert_allclose((fl["target_x"] * x).to_numpy()[held] / (fl["target_y"] * y).to_numpy()[held],
                               -fl["hedge_ratio"].to_numpy()[held], rtol=1e-12)
    np.testing.assert_array_equal(fl["hedge_ratio"].to_numpy(), rolling_ols_hedge(np.log(y), np.log(x), 60).hedge_ratio.to_numpy())


def test_static_variants(kp):
    y, x = kp["KO"], kp["PEP"]
    s = pair_signals(y, x, hedge="static", train=("2014-01-01", "2015-12-31"), window=60)
    fit = ols_hedge(y.loc[:"2015-12-31"], x.loc[:"2015-12-31"])
    f = s.frame
    assert f.index[0] == y.loc["2016"].index[0] and s.train == (pd.Timestamp("2014-01-01"), pd.Timestamp("2015-12-31"))
    assert (f["hedge_ratio"] == fit.hedge_ratio).all() and (f["intercept"] == fit.intercept).all()
    np.testing.assert_array_equal(f["spread"].to_numpy(), (y - fit.hedge_ratio * x - fit.intercept).loc["2016":].to_numpy())
    assert f["z"].notna().all()                       # the trailing z window reaches back into (past) training bars
    s2 = pair_signals(y, x, hedge="static", train=("2014-01-01", "2015-12-31"), start="2017-01-01")
    assert s2.frame.index[0] == y.loc["2017"].index[0]
    e = pair_signals(y, x, hedge="static", window=100).frame
    assert int(e["hedge_ratio"].isna().sum()) == 99
    t = 700
    assert e["hedge_ratio"].iloc[t] == pytest.approx(ols_hedge(y.iloc[:t + 1], x.iloc[:t + 1]).hedge_ratio, rel=1e-10)


def test_kalman_variant_uses_predicted_state(kp):
    y, x = kp["KO"], kp["PEP"]
    kf = KalmanHedge(**KF)
    s = pair_signals(y, x, hedge="kalman", kalman=kf, window=50)
    r = kf.filter(y, x)
    f = s.frame
    np.testing.assert_array_equal(f["hedge_ratio"].to_numpy()[1:], r.beta.to_numpy()[:-1])
    np.testing.assert_array_equal(f["intercept"].to_numpy()[1:], r.alpha.to_numpy()[:-1])
    assert (f["hedge_ratio"].iloc[0], f["intercept"].iloc[0]) == (0.0, 0.0)
    np.testing.assert_array_equal(f["spread"].to_numpy(), (y - (f["hedge_ratio"] * x + f["intercept"])).to_numpy())
    np.testing.assert_array_equal(f["z"].to_numpy()[50:], r.zscore.to_numpy()[50:])
    assert f["z"].iloc[:50].isna().all() and (f["position"].iloc[:50] == 0).all()
    np.testing.assert_array_equal(f["position"].to_numpy(), band_positions(f["z"], 2.0, 0.5).to_numpy())
    # step by step with filter_update: the state before bar t is the hedge reported at t
    m, p = r.state_means.iloc[99].to_numpy(), r.state_covariances[99]
    step = kf.filter_update(m, p, y.iloc[100], x.iloc[100])
    assert f["hedge_ratio"].iloc[100] == m[0] and step.spread == f["spread"].iloc[100]
    d = pair_signals(y, x, hedge="kalman", window=50).frame                     # default KalmanHedge()
    np.testing.assert_array_equal(d["z"].to_numpy()[50:], KalmanHedge().filter(y, x).zscore.to_numpy()[50:])


def test_kalman_bands_run_on_the_innovation(kp):
    y, x = kp["KO"], kp["PEP"]
    s = pair_signals(y, x, hedge="kalman", kalman=KalmanHedge(**KF), window=50, bands=Bands(1.0, 0.0))
    f = s.frame
    np.testing.assert_array_equal(f["signal"].to_numpy()[50:], f["spread"].to_numpy()[50:])
    assert f["signal"].iloc[:50].isna().all()
    np.testing.assert_array_equal(f["position"].to_numpy(), band_positions(f["signal"], 1.0, 0.0).to_numpy())


def test_rolling_bands_run_on_centred_spread(kp):
    y, x = kp["KO"], kp["PEP"]
    f = pair_signals(y, x, window=60, zscore_window=30, bands=Bands(1.0, 0.0, 3.0)).frame
    c = f["spread"] - f["spread"].rolling(30).mean()
    np.testing.assert_array_equal(f["signal"].to_numpy(), c.to_numpy())
    np.testing.assert_array_equal(f["position"].to_numpy(), band_positions(c, 1.0, 0.0, 3.0).to_numpy())


def test_start_trims_and_starts_flat(kp):
    y, x = kp["KO"], kp["PEP"]
    full = pair_signals(y, x, window=60).frame
    part = pair_signals(y, x, window=60, start="2016-06-01").frame
    assert part.index[0] == y.loc["2016-06-01":].index[0]
    cols = ["spread", "z", "signal", "hedge_ratio", "intercept"]
    pd.testing.assert_frame_equal(part[cols], full.loc["2016-06-01":, cols], check_exact=True)
    np.testing.assert_array_equal(part["position"].to_numpy(), band_positions(part["z"], 2.0, 0.5).to_numpy())


def test_summary_trades_plot(kp):
    s = pair_signals(kp["KO"], kp["PEP"], window=60, stop=4.0)
    t, pos = s.trades(), s.frame["position"]
    assert list(t.columns) == ["side", "entry", "exit", "bars", "open"]
    assert int(t["bars"].sum()) == int((pos != 0).sum())
    for row in t.itertuples():
        run = pos.loc[row.entry:].iloc[:row.bars]
        assert (run == (1 if row.side == "long" else -1)).all()
        if not row.open: assert pos.loc[row.exit] != run.iloc[0]
    rows = s._summary_rows()
    assert rows["trades"] == len(t) == rows["long trades"] + rows["short trades"]
    assert rows["time in market"] == pytest.approx((pos != 0).mean())
    assert rows["avg holding bars"] == pytest.approx(t["bars"].mean())
    assert s.summary().startswith("SignalFrame") and repr(s).startswith("SignalFrame(y=KO, x=PEP, hedge=rolling")
    assert s.position is not None and s.position.equals(pos)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = s.plot()
    assert len(fig.axes) == 3 and fig.axes[0].get_ylabel() == "z-score"
    plt.close(fig)


VARIANTS = {
    "rolling": dict(hedge="rolling", window=60),
    "rolling-z40-stop": dict(hedge="rolling", window=60, zscore_window=40, stop=3.5),
    "static-train": dict(hedge="static", train=("2014-01-01", "2015-06-30"), window=60),
    "static-expanding": dict(hedge="static", window=60),
    "kalman": dict(hedge="kalman", window=50),
    "rolling-bands": dict(hedge="rolling", window=60, bands=Bands(1.0, 0.0, 3.0)),
    "kalman-bands": dict(hedge="kalman", window=50, bands=Bands(0.5, 0.0)),
    "rolling-log": dict(hedge="rolling", window=60, log=True),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_no_look_ahead(kp, name):
    kw = dict(VARIANTS[name])
    if kw["hedge"] == "kalman": kw["kalman"] = KalmanHedge(**KF)
    y, x = kp["KO"], kp["PEP"]
    base = pair_signals(y, x, **kw).frame
    rng = np.random.default_rng(sum(map(ord, name)))
    for cut in (y.index[450], y.index[900], y.index[-2]):
        fut = y.index > cut
        y2, x2 = y.copy(), x.copy()
        y2[fut] *= rng.uniform(0.6, 1.4, fut.sum())
        x2[fut] *= rng.uniform(0.6, 1.4, fut.sum())
        other = pair_signals(y2, x2, **kw).frame
        pd.testing.assert_frame_equal(base.loc[:cut], other.loc[:cut], check_exact=True)
        assert not base.loc[base.index > cut, "spread"].equals(other.loc[other.index > cut, "spread"])
    # the test can fail: y_t moves the spread and the signal at t, and nothing before t
    t = y.index[900]
    y3 = y.copy()
    y3[t] *= 1.05
    moved = pair_signals(y3, x, **kw).frame
    assert moved.loc[t, "spread"] != base.loc[t, "spread"] and moved.loc[t, "signal"] != base.loc[t, "signal"]
    pd.testing.assert_frame_equal(base.loc[base.index < t], moved.loc[moved.index < t], check_exact=True)


def test_signal_at_t_can_flip_position(kp):
    y, x = kp["KO"], kp["PEP"]
    base = pair_signals(y, x, window=60).frame
    t = base.index[(base["position"] == 0) & base["z"].between(-1, 1)][200]
    y2 = y.copy()
    y2[t] *= 1.10                                   # a 10% jump in KO makes the spread rich: short the spread at t
    f = pair_signals(y2, x, window=60).frame
    assert base.loc[t, "position"] == 0 and f.loc[t, "position"] == -1 and f.loc[t, "target_x"] > 0


def test_pair_signals_bad_input(kp):
    y, x = kp["KO"], kp["PEP"]
    n = len(y)
    with pytest.raises(ValueError, match="y and x must have the same index; they first differ at position 0"):
        pair_signals(y, x.set_axis(x.index + pd.Timedelta(days=1)))
    with pytest.raises(ValueError, match="y and x must have the same length"):
        pair_signals(y, x.iloc[1:])
    with pytest.raises(ValueError, match="x index must be sorted ascending"):
        pair_signals(y, x.sort_index(ascending=False))
    d = y.index[[0, 1, 2, 2, 3]]
    with pytest.raises(ValueError, match="y index must be unique; got 1 duplicate timestamps"):
        pair_signals(y.iloc[:5].set_axis(d), x.iloc[:5].set_axis(d), window=2)
    with pytest.raises(TypeError, match="y must have a DatetimeIndex; got RangeIndex"):
        pair_signals(y.reset_index(drop=True), x.reset_index(drop=True))
    with pytest.raises(TypeError, match="x must be Series; got ndarray"):
        pair_signals(y, x.to_numpy())
    with pytest.raises(ValueError, match="y must not contain NaN; got 1 NaN values"):
        pair_signals(y.where(y.index != y.index[7]), x)
    ok = pair_signals(y.where(y.index != y.index[7]), x, missing="drop")
    assert len(ok.frame) == n - 1
    with pytest.raises(ValueError, match="entry must be > exit; got entry=1, exit=1"):
        pair_signals(y, x, entry=1.0, exit=1.0)
    with pytest.raises(ValueError, match="stop must be > entry; got entry=2, stop=2"):
        pair_signals(y, x, stop=2.0)
    with pytest.raises(ValueError, match=f"window must not exceed the number of observations; got window={n + 1}"):
        pair_signals(y, x, window=n + 1)
    with pytest.raises(ValueError, match="window must not exceed the number of observations"):
        pair_signals(y, x, hedge="static", window=n + 1)
    with pytest.raises(ValueError, match=r"window \(the Kalman burn-in\) must be less than the number of observations"):
        pair_signals(y, x, hedge="kalman", window=n)
    with pytest.raises(ValueError, match="window must be >= 2; got 1"):
        pair_signals(y, x, window=1)
    with pytest.raises(ValueError, match="zscore_window must not exceed the number of observations"):
        pair_signals(y, x, zscore_window=n + 5)
    with pytest.raises(ValueError, match="the signal period overlaps the training data: start=2015-06-01 is not after"):
        pair_signals(y, x, hedge="static", train=("2014-01-01", "2015-12-31"), start="2015-06-01")
    with pytest.raises(ValueError, match="overlaps the training data"):
        pair_signals(y, x, hedge="static", train=("2014-01-01", "2015-12-31"), start="2015-12-31")
    with pytest.raises(ValueError, match="train end must not be before train start"):
        pair_signals(y, x, hedge="static", train=("2015-12-31", "2014-01-01"))
    with pytest.raises(TypeError, match="train must be a"):
        pair_signals(y, x, hedge="static", train=("2014-01-01",))
    with pytest.raises(ValueError, match="train must hold at least 3 bars; got 0"):
        pair_signals(y, x, hedge="static", train=("2010-01-01", "2010-12-31"))
    with pytest.raises(ValueError, match="no bars after the training period"):
        pair_signals(y, x, hedge="static", train=("2014-01-01", "2030-01-01"))
    with pytest.raises(ValueError, match="train start must be a date"):
        pair_signals(y, x, hedge="static", train=("soon", "2015-01-01"))
    with pytest.raises(ValueError, match="train start is timezone-aware"):
        pair_signals(y, x, hedge="static", train=(pd.Timestamp("2014-01-01", tz="UTC"), "2015-01-01"))
    with pytest.raises(ValueError, match="train is only used with hedge='static'"):
        pair_signals(y, x, hedge="kalman", train=("2014-01-01", "2015-12-31"))
    with pytest.raises(ValueError, match="kalman is only used with hedge='kalman'"):
        pair_signals(y, x, kalman=KalmanHedge())
    with pytest.raises(TypeError, match="kalman must be KalmanHedge; got dict"):
        pair_signals(y, x, hedge="kalman", kalman={"delta": 1e-5})
    with pytest.raises(ValueError, match="zscore_window is not used with hedge='kalman'"):
        pair_signals(y, x, hedge="kalman", zscore_window=20)
    with pytest.raises(ValueError, match="hedge must be one of 'rolling', 'static', 'kalman'; got 'ewm'"):
        pair_signals(y, x, hedge="ewm")
    with pytest.raises(ValueError, match="start=2030-01-01 is after the last bar"):
        pair_signals(y, x, start="2030-01-01")
    with pytest.raises(TypeError, match="log must be True or False"):
        pair_signals(y, x, log=1)
    with pytest.raises(ValueError, match="must be strictly positive"):
        pair_signals(y, -x, log=True)


def test_utc_index(kp):
    y, x = kp["KO"].tz_localize("UTC"), kp["PEP"].tz_localize("UTC")
    s = pair_signals(y, x, hedge="static", train=("2014-01-01", "2015-12-31"))
    assert s.frame.index.tz is not None and s.frame.index[0] == pd.Timestamp("2016-01-04", tz="UTC")
    assert s.trades()["entry"].dt.tz is not None


def test_shared_ewa_ewc(shared_data):
    px = pd.read_parquet(shared_data / "arbitragelab_country_etf45_close_daily.parquet")
    if not {"EWA", "EWC"} <= set(px.columns): pytest.skip("EWA/EWC not in the shared file")
    both = px[["EWA", "EWC"]].dropna()
    if not isinstance(both.index, pd.DatetimeIndex): both.index = pd.to_datetime(both.index)
    kf = KalmanHedge(delta=1e-4, observation_covariance=1e-3)
    s = pair_signals(both["EWC"], both["EWA"], hedge="kalman", kalman=kf, window=30, entry=1.0, exit=0.0)
    r = kf.filter(both["EWC"], both["EWA"])
    np.testing.assert_array_equal(s.frame["hedge_ratio"].to_numpy()[1:], r.beta.to_numpy()[:-1])
    assert s._summary_rows()["trades"] > 10
    cut = both.index[len(both) // 2]
    y2 = both["EWC"].copy()
    y2[y2.index > cut] *= 1.3
    s2 = pair_signals(y2, both["EWA"], hedge="kalman", kalman=kf, window=30, entry=1.0, exit=0.0)
    pd.testing.assert_frame_equal(s.frame.loc[:cut], s2.frame.loc[:cut], check_exact=True)
