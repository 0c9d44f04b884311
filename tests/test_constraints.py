"""Pre-trade portfolio constraints (statarb.risk.constraints) and their hook in the engine's Portfolio.

Oracles: hand-worked books (exact reason strings for every limit), pandas' corr on the same log returns for the
trailing correlation, real-data facts (KO/PEP move together far more than KO/XOM), a look-ahead perturbation (data
after t cannot change the correlation used at t), and a property (hypothesis): after a backtest with constraints,
every bar's exposures stay under an upper bound that starts at the cap and grows only with the prices and equity
moves since the trades (derived in `_bound` below).
"""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statarb.alpha.kalman import KalmanHedge
from statarb.data.sources import load_sample
from statarb.engine.backtest import run_backtest
from statarb.engine.data_handler import DataHandler
from statarb.engine.events import FillEvent, OrderRejected, SignalEvent
from statarb.engine.execution import ExecutionHandler, Fees, FixedSpread
from statarb.engine.portfolio import FixedNotional, Portfolio, RiskLimits, leverage_breach
from statarb.engine.strategy import PairsStrategy
from statarb.risk.constraints import PortfolioConstraints as PC
from statarb.risk.constraints import TradeCheck, trailing_correlation

KF = KalmanHedge(delta=1e-6, observation_covariance=0.2, initial_state_covariance=np.eye(2) * 10.0)
SECTORS = {"KO": "staples", "PEP": "staples", "XOM": "energy", "CVX": "energy"}


@pytest.fixture(scope="module")
def px() -> pd.DataFrame:
    p = load_sample("sp500_20stocks").loc["2014":"2019", ["KO", "PEP", "XOM", "CVX"]]
    return p.tz_localize("UTC") if p.index.tz is None else p


def _fill(pf, group, sym, q, price=None):
    t = pf.data.now
    o = pf._order(t, t, sym, q, group)
    pf.on_fill(FillEvent(t, t, order_id=o.order_id, symbol=sym, quantity=q,
                         price=pf.data.get_latest_bar_value(sym) if price is None else price, group=group))


@pytest.fixture()
def book() -> Portfolio:
    "Closes A=10, B=20, C=50; $10k equity; pair A/B holds +100 A, -50 B; +10 C working in group C."
    ix = pd.to_datetime(["2020-01-02"]).tz_localize("UTC")
    dh = DataHandler.from_wide(pd.DataFrame({"A": [10.0], "B": [20.0], "C": [50.0]}, index=ix))
    dh.update_bars()
    pf = Portfolio(dh, initial_cash=10_000.0)
    _fill(pf, "A/B", "A", 100.0)
    _fill(pf, "A/B", "B", -50.0)
    pf._order(dh.now, dh.now, "C", 10.0, "C")
    assert pf.equity == 10_000.0 and pf.exposure(pf.working()) == (2_500.0, 500.0)
    return pf


def _at(px, day):
    dh = DataHandler.from_wide(px)
    day = pd.Timestamp(day)
    day = day.tz_localize("UTC") if day.tzinfo is None else day
    while dh.now is None or pd.Timestamp(dh.now, tz="UTC") < day: dh.update_bars()
    return dh


# ------------------------------------------------------------------------------------------------ hand-worked limits
@pytest.mark.parametrize("cons, trade, group, reason", [
    (PC(max_asset_weight=0.15), {"A": 60}, "A/B", "exposure to 'A' would be 0.16x equity, above max_asset_weight=0.15"),
    (PC(max_pair_weight=0.25), {"A": 60, "B": -30}, "A/B",
     "exposure of pair 'A/B' would be 0.32x equity (gross of its legs), above max_pair_weight=0.25"),
    (PC(max_pair_weight=0.05), {"C": 20}, None,
     "exposure of the trade's group would be 0.1x equity (gross of its legs), above max_pair_weight=0.05"),
    (PC(max_cluster_weight=0.25, clusters={"A": "staples", "B": "staples", "C": "energy"}), {"A": 60}, "A/B",
     "exposure to cluster 'staples' would be 0.26x equity (gross of 'A', 'B'), above max_cluster_weight=0.25"),
    (PC(max_cluster_weight=0.1, clusters={"A": "staples"}), {"C": 20}, "C",          # unmapped: a cluster of its own
     "exposure to cluster 'C' would be 0.15x equity (gross of 'C'), above max_cluster_weight=0.1"),
    (PC(max_gross=0.3), {"C": 20}, "C", "gross exposure would be 0.35x equity, above max_gross=0.3"),
    (PC(max_net=0.1), {"C": 20}, "C", "net exposure would be 0.15x equity, above max_net=0.1"),
    (PC(max_net=0.1), {"A": -200}, "X", "net exposure would be -0.15x equity, above max_net=0.1"),
    (PC(max_correlated_exposure=0.12), {"C": 20}, "C",        # one bar of data: no correlation, C alone counts
     "correlated exposure of 'C' would be 0.15x equity (no peer; rho > 0.8 over 60 returns), "
     "above max_correlated_exposure=0.12"),
])
def test_each_limit_refuses_with_its_reason(book, cons, trade, group, reason):
    assert cons.validate_trade(trade, book, group=group) == (False, reason)
    ok, why = cons.validate_trade(trade, book, group=group)          # a named tuple: unpacks as (ok, reason)
    assert not ok and why == reason


@pytest.mark.parametrize("cons, trade, group", [
    (PC(max_asset_weight=0.16), {"A": 60}, "A/B"),            # exactly at the cap passes
    (PC(max_pair_weight=0.32), {"A": 60, "B": -30}, "A/B"),
    (PC(max_gross=0.3), {"C": 10}, "C"),
    (PC(max_net=0.15), {"C": 20}, "C"),
    (PC(max_asset_weight=0.08), {"A": -60, "C": 5}, "A/B"),   # A above the cap (0.1x) but lowered to 0.04x
])
def test_trades_within_the_caps_pass(book, cons, trade, group):
    assert cons.validate_trade(trade, book, group=group) == TradeCheck(True, "within limits")


def test_working_orders_count_against_the_limits(book):
    assert PC(max_gross=0.3).validate_trade({"C": 20}, book, group="C").ok is False    # 0.25 + 0.1 (working incl.)
    book.on_order_done(2)                                                                # cancel the working C order
    assert PC(max_gross=0.3).validate_trade({"C": 20}, book, group="C").ok is True     # 0.2 + 0.1
    assert PC(max_gross=0.29).validate_trade({"C": 20}, book, group="C").reason == \
        "gross exposure would be 0.3x equity, above max_gross=0.29"


def test_order_events_are_counted_once(book):
    working = book.pending[2]                                             # +10 C, already working
    assert PC(max_gross=0.25).validate_trade([working], book) == (True, "within limits")
    assert PC(max_gross=0.2).validate_trade([working], book) == \
        (False, "gross exposure would be 0.25x equity, above max_gross=0.2")
    assert PC(max_gross=0.2).validate_trade(working, book).ok is False   # one OrderEvent alone too


def test_reductions_always_pass_and_flips_are_checked(book):
    tight = PC(max_asset_weight=0.01, max_pair_weight=0.01, max_cluster_weight=0.01, clusters={"A": "x"},
               max_gross=0.01, max_net=0.01, max_correlated_exposure=0.01, max_drawdown=0.01)
    book.peak = 20_000.0                                                  # 50% drawdown
    for trade in ({"A": -100, "B": 50}, {"A": -40}, {"B": 10}, {"A": -100}):
        assert tight.validate_trade(trade, book, group="A/B") == (True, "within limits")
    book.peak = 10_000.0
    assert tight.validate_trade({"B": 60}, book, group="A/B").reason == "net exposure would be 0.17x equity, above max_net=0.01"
    assert tight.breaches({"A": 60, "B": -30}, book, group="A/B") == [
        "exposure to 'A' would be 0.16x equity, above max_asset_weight=0.01",
        "exposure to 'B' would be 0.16x equity, above max_asset_weight=0.01",
        "exposure of pair 'A/B' would be 0.32x equity (gross of its legs), above max_pair_weight=0.01",
        "exposure to cluster 'B' would be 0.16x equity (gross of 'B'), above max_cluster_weight=0.01",
        "exposure to cluster 'x' would be 0.16x equity (gross of 'A'), above max_cluster_weight=0.01",
        "correlated exposure of 'A' would be 0.16x equity (no peer; rho > 0.8 over 60 returns), above max_correlated_exposure=0.01",
        "correlated exposure of 'B' would be 0.16x equity (no peer; rho > 0.8 over 60 returns), above max_correlated_exposure=0.01",
        "gross exposure would be 0.37x equity, above max_gross=0.01"]
    assert tight.breaches({}, book) == [] and tight.validate_trade({"A": 0}, book).ok


def test_drawdown_breaker_refuses_new_exposure(book):
    book.peak = 12_000.0
    dd = PC(max_drawdown=0.15)
    reason = "drawdown is 0.167 below the equity peak, beyond max_drawdown=0.15: circuit breaker on, no new exposure"
    assert dd.validate_trade({"C": 1}, book, group="C") == (False, reason)
    assert dd.circuit_breaker(book) == reason + " (tripped 2020-01-02)"
    assert PC(max_drawdown=0.2).circuit_breaker(book) is None and PC().circuit_breaker(book) is None
    assert PC(max_drawdown=0.2).validate_trade({"C": 1}, book, group="C").ok
    book.halted, book.halt_reason = True, "tripped earlier"             # a halted portfolio: no new exposure at all
    assert PC().validate_trade({"C": 1}, book, group="C") == (False, "tripped earlier")


def test_no_price_or_no_equity_refuses(book):
    ix = pd.to_datetime(["2020-01-02", "2020-01-03"]).tz_localize("UTC")
    dh = DataHandler.from_wide(pd.DataFrame({"A": [10.0, 11.0], "D": [np.nan, 5.0]}, index=ix))
    dh.update_bars()
    assert PC().validate_trade({"D": 1}, Portfolio(dh)) == \
        (False, "no close is known for 'D' yet: the trade cannot be valued, no new exposure")
    book.cash -= 20_000.0                                                 # equity -10,000
    assert PC().validate_trade({"C": 1}, book, group="C") == \
        (False, "equity is -10000, not > 0: limits are multiples of equity, no new exposure")


def test_usage_reports_measures_and_headroom(book):
    u = PC(max_asset_weight=0.15, max_pair_weight=0.25, max_cluster_weight=0.25,
           clusters={"A": "staples", "B": "staples", "C": "energy"}, max_gross=0.3, max_net=0.1,
           max_correlated_exposure=0.3, max_drawdown=0.15).usage(book)
    got = {(r.limit, r.key): r.exposure for r in u.itertuples()}
    assert got == pytest.approx({("max_asset_weight", "A"): 0.1, ("max_asset_weight", "B"): 0.1,
                                 ("max_asset_weight", "C"): 0.05, ("max_pair_weight", "A/B"): 0.2,
                                 ("max_pair_weight", "C"): 0.05, ("max_cluster_weight", "energy"): 0.05,
                                 ("max_cluster_weight", "staples"): 0.2, ("max_correlated_exposure", "A"): 0.1,
                                 ("max_correlated_exposure", "B"): 0.1, ("max_correlated_exposure", "C"): 0.05,
                                 ("max_gross", "book"): 0.25, ("max_net", "book"): 0.05, ("max_drawdown", "book"): 0.0})
    np.testing.assert_allclose(u["headroom"], u["cap"] - u["exposure"])


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("kw, exc, msg", [
    (dict(max_asset_weight=-0.1), ValueError, "max_asset_weight must be > 0 and finite; got -0.1"),
    (dict(max_pair_weight=0), ValueError, "max_pair_weight must be > 0 and finite; got 0"),
    (dict(max_gross="1"), TypeError, "max_gross must be a real number; got str '1'"),
    (dict(max_net=math.inf), ValueError, "max_net must be > 0 and finite; got inf"),
    (dict(max_correlated_exposure=-1.0), ValueError, "max_correlated_exposure must be > 0"),
    (dict(max_drawdown=1.2), ValueError, "max_drawdown must be a fraction in (0, 1); got 1.2"),
    (dict(max_cluster_weight=0.2), ValueError, "max_cluster_weight needs clusters, a {symbol: cluster or sector} dict; got clusters=None"),
    (dict(clusters=["A"]), TypeError, "clusters must be Mapping; got list"),
    (dict(clusters={1: "x"}), TypeError, "clusters must map symbol (str) -> cluster name; got key 1"),
    (dict(correlation_threshold=1.0), ValueError, "correlation_threshold must be in [0, 1); got 1.0"),
    (dict(correlation_threshold=-0.5), ValueError, "correlation_threshold must be >= 0 and finite; got -0.5"),
    (dict(correlation_window=1), ValueError, "correlation_window must be >= 2; got 1"),
    (dict(correlation_window=60.0), TypeError, "correlation_window must be an integer; got float 60.0"),
])
def test_bad_arguments(kw, exc, msg):
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("{", r"\{").replace("}", r"\}")):
        PC(**kw)


def test_bad_trades(book):
    c = PC(max_gross=1.0)
    with pytest.raises(ValueError, match=r"trade\['A'\] must be a finite number of shares; got nan"): c.validate_trade({"A": math.nan}, book)
    with pytest.raises(ValueError, match=r"trade\['A'\] must be a finite number of shares; got '1'"): c.validate_trade({"A": "1"}, book)
    with pytest.raises(TypeError, match="trade keys must be symbols"): c.validate_trade({1: 1.0}, book)
    with pytest.raises(TypeError, match="trade must be a .symbol: shares. dict or a list of OrderEvent; got a tuple holding str"): c.validate_trade(("A", 1), book)
    with pytest.raises(TypeError, match="got a list holding int"): c.validate_trade([1], book)
    with pytest.raises(TypeError, match="portfolio must be Portfolio; got str"): c.validate_trade({"A": 1}, "book")
    with pytest.raises(TypeError, match="group must be str; got int"): c.validate_trade({"A": 1}, book, group=3)


def test_trailing_correlation_errors(px):
    dh = _at(px, "2014-06-30")
    with pytest.raises(ValueError, match="symbols: 'ZZZ' has no bars in the data handler; known: CVX, KO, PEP, XOM"):
        trailing_correlation(dh, ["KO", "ZZZ"])
    with pytest.raises(ValueError, match="window must be >= 2; got 1"): trailing_correlation(dh, ["KO"], window=1)
    with pytest.raises(TypeError, match="data must be DataHandler; got DataFrame"): trailing_correlation(px, ["KO"])


# ------------------------------------------------------------------------------------------------ correlation, real data
@pytest.mark.parametrize("day, window", [("2016-12-30", 60), ("2015-07-15", 20), ("2019-12-31", 250)])
def test_trailing_correlation_equals_pandas(px, day, window):
    dh = _at(px, day)
    got = trailing_correlation(dh, ["KO", "PEP", "XOM", "CVX"], window=window)
    want = np.log(px.loc[:day]).diff().iloc[-window:].corr()
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=0, atol=1e-12)


def test_trailing_correlation_with_gaps_uses_common_bars_and_nan_when_short(px):
    p = px.loc["2016"].copy()
    p.loc[p.index[::7], "PEP"] = np.nan                    # PEP misses every 7th day
    dh = DataHandler.from_wide(p)
    while dh.continue_backtest: dh.update_bars()
    both = p[["KO", "PEP"]].dropna()
    want = np.log(both).diff().iloc[-40:].corr().iloc[0, 1]
    assert trailing_correlation(dh, ["KO", "PEP"], window=40).iloc[0, 1] == pytest.approx(want, abs=1e-12)
    assert np.isnan(trailing_correlation(dh, ["KO", "PEP"], window=len(both)).iloc[0, 1])       # one return short
    assert not np.isnan(trailing_correlation(dh, ["KO", "PEP"], window=len(both) - 1).iloc[0, 1])


def test_correlated_exposure_on_real_data(px):
    "2016-12-30: 60-day rho(KO, PEP) = 0.79, rho(KO, XOM) = 0.09. Holding $100k PEP of $1m, KO is refused, XOM is not."
    dh = _at(px, "2016-12-30")
    rho = trailing_correlation(dh, ["KO", "PEP", "XOM"])
    assert rho.loc["KO", "PEP"] > 0.75 and rho.loc["KO", "XOM"] < 0.2
    pf = Portfolio(dh, initial_cash=1e6)
    _fill(pf, "PEP", "PEP", 1e5 / dh.get_latest_bar_value("PEP"))
    c = PC(max_correlated_exposure=0.15, correlation_threshold=0.7)
    buy = {s: 1e5 / dh.get_latest_bar_value(s) for s in ("KO", "XOM")}
    assert c.validate_trade({"KO": buy["KO"]}, pf, group="KO") == (False, (
        "correlated exposure of 'KO' would be 0.2x equity ('PEP' rho=0.79; rho > 0.7 over 60 returns), "
        "above max_correlated_exposure=0.15"))
    assert c.validate_trade({"XOM": buy["XOM"]}, pf, group="XOM") == (True, "within limits")
    assert c.validate_trade({"KO": buy["KO"] * 0.4}, pf, group="KO").ok          # 0.14x: under the cap
    assert PC(max_correlated_exposure=0.15).validate_trade({"KO": buy["KO"]}, pf, group="KO").ok    # 0.79 < 0.8
    # a short KO against long PEP is a hedge for net risk but still a concentration on the block: refused too
    assert not c.validate_trade({"KO": -buy["KO"]}, pf, group="KO").ok


def test_correlation_uses_the_past_only(px):
    "Perturbing every close after t leaves the correlation (and the decision) at t unchanged; perturbing t changes it."
    t = pd.Timestamp("2016-12-30", tz="UTC")
    rng = np.random.default_rng(0)
    later = px.copy()
    after = later.index > t
    later.loc[after] = later.loc[after] * np.exp(rng.normal(0, 0.05, size=(after.sum(), 4)))
    a, b = _at(px, t), _at(later, t)
    ra, rb = trailing_correlation(a, list(px.columns)), trailing_correlation(b, list(px.columns))
    pd.testing.assert_frame_equal(ra, rb, check_exact=True)
    c = PC(max_correlated_exposure=0.15, correlation_threshold=0.7)
    checks = []
    for dh in (a, b):
        pf = Portfolio(dh, initial_cash=1e6)
        _fill(pf, "PEP", "PEP", 1000.0)
        checks.append(c.validate_trade({"KO": 2000.0}, pf, group="KO"))
    assert checks[0] == checks[1] and not checks[0].ok
    now = px.copy()
    now.loc[t] = now.loc[t] * np.array([1.05, 0.95, 1.0, 1.0])             # the close at t itself is known at t
    assert not np.isclose(trailing_correlation(_at(now, t), ["KO", "PEP"]).iloc[0, 1], ra.loc["KO", "PEP"])


# ------------------------------------------------------------------------------------------------ the engine hook
def _run(px, constraints=None, limits=None, notional=2e5, pairs=(("KO", "PEP"), ("XOM", "CVX"))):
    dh = DataHandler.from_wide(px)
    stg = PairsStrategy(dh, list(pairs), hedge="kalman", kalman=KF, window=30, entry=1.5, exit=0.3)
    pf = Portfolio(dh, initial_cash=1e6, sizing=FixedNotional(notional), limits=limits, constraints=constraints)
    ex = ExecutionHandler(dh, spread=FixedSpread(2.0), fees=Fees(bps=0.5, minimum=1.0))
    return run_backtest(dh, stg, pf, ex), pf



def test_backtest_rejections_are_events_with_reasons(px):
    c = PC(max_asset_weight=0.12, max_correlated_exposure=0.15, correlation_threshold=0.75, max_gross=0.3)
    res, pf = _run(px, c)
    rej = res.rejections
    assert len(rej) > 50
    limits = rej["reason"].str.extract(r"(max_\w+)=")[0]
    assert limits.notna().all()
    assert set(limits) == {"max_asset_weight", "max_correlated_exposure", "max_gross"}
    logged = [e for e in res.events if isinstance(e, OrderRejected)]
    assert len(logged) == len(rej) and all(e.reason for e in logged)
    free, _ = _run(px)
    assert len(free.rejections) == 0 and len(free.fills) > len(res.fills)
    assert free.equity["gross"].max() > 0.35 * 1e6 and (res.equity["gross"] / res.equity["equity"]).max() < 0.3 * 1.1


def test_risk_limits_are_checked_first(px):
    res, _ = _run(px.loc["2014":"2015"], PC(max_gross=0.3), limits=RiskLimits(max_gross=0.25))
    assert len(res.rejections) > 0 and res.rejections["reason"].str.endswith("above max_gross=0.25").all()


def test_backtest_drawdown_breaker_flattens_and_halts(px):
    res, pf = _run(px, PC(max_drawdown=0.01))
    assert pf.halted and pf.halt_reason.startswith("drawdown is 0.01") and "beyond max_drawdown=0.01" in pf.halt_reason
    dd = res.equity["equity"] / res.equity["equity"].cummax() - 1
    hit = dd.index[dd < -0.01][0]
    assert (res.equity.loc[hit:].iloc[2:]["gross"] == 0).all()
    later = res.rejections[res.rejections["timestamp"] > hit]
    assert len(later) > 0 and (later["reason"] == pf.halt_reason).all()


def test_closing_orders_pass_tight_constraints(book):
    book.constraints = PC(max_asset_weight=1e-6, max_pair_weight=1e-6, max_gross=1e-6, max_net=1e-6)
    t = book.data.now
    out = book._orders_to(t, t, "A/B", {"A": 0.0, "B": 0.0})
    assert [(type(o).__name__, o.symbol, o.quantity) for o in out] == [("OrderEvent", "A", -100.0), ("OrderEvent", "B", 50.0)]
    sig = SignalEvent(t, t, group="C2", direction=1.0, weights=(("C", 1.0),))
    assert {type(o).__name__ for o in book.on_signal(sig)} == {"OrderRejected"}


def test_portfolio_rejects_a_bad_constraints_object(book):
    with pytest.raises(TypeError, match=r"constraints must have a validate_trade\(trade, portfolio, group=...\) method"):
        Portfolio(book.data, constraints=object())


def test_leverage_rule_is_shared():
    assert leverage_breach(0, 0, 3e3, 1e3, 1e3, max_gross=2.0) == "gross exposure would be 3x equity, above max_gross=2"
    assert leverage_breach(4e3, 0, 3e3, 0, 1e3, max_gross=2.0) is None
    assert leverage_breach(0, 0, 3e3, -1.5e3, 1e3, max_net=1.0) == "net exposure would be -1.5x equity, above max_net=1"


# ------------------------------------------------------------------------------------------------ property
def _bound(cap, measure, drift_abs, equity, extra=None):
    """Upper bound U_u of a measure M_u (currency / equity) after a backtest whose every accepted trade left
    M <= max(cap, M before) at the decision's closes and equity. Positions change only at the next open, so
        M_u <= drift_u * M_after(u-1) <= drift_u * max(cap, U_{u-1}),
    drift_u = max_i p_i(u)/p_i(u-1) over the measure's symbols * E(u-1)/E(u)  (sum |q_i| p_i scales at most so).
    For net, drift is additive: |net_u| <= |net after(u-1)| + sum |q_i(u)| |p_i(u) - p_i(u-1)|."""
    u = np.empty(len(measure))
    u[0] = cap
    for k in range(1, len(measure)):
        prev = max(cap, u[k - 1])
        if extra is None: u[k] = drift_abs[k] * prev
        else: u[k] = (prev * equity[k - 1] + extra[k]) / equity[k]
    return u


@pytest.fixture(scope="module")
def px2(px) -> pd.DataFrame:
    return px.loc["2015":"2016"]


cap = st.one_of(st.none(), st.floats(0.05, 0.4))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(asset=cap, pair=cap, cluster=cap, gross=st.one_of(st.none(), st.floats(0.15, 0.6)),
       net=st.one_of(st.none(), st.floats(0.02, 0.3)), notional=st.floats(1e5, 4e5))
def test_exposures_respect_caps_up_to_price_moves(px2, asset, pair, cluster, gross, net, notional):
    clusters = {"KO": "a", "XOM": "a", "PEP": "b", "CVX": "b"}    # clusters that straddle the pairs, so they bind
    c = PC(max_asset_weight=asset, max_pair_weight=pair, max_cluster_weight=cluster,
           clusters=clusters if cluster is not None else None, max_gross=gross, max_net=net)
    res, pf = _run(px2, c, notional=notional)
    idx = res.equity.index
    eq = res.equity["equity"].to_numpy()
    closes = px2.reindex(idx)
    f = res.fills
    if len(f):
        q = f.pivot_table(index="timestamp", columns=["group", "symbol"], values="quantity", aggfunc="sum")
        q = q.reindex(idx).fillna(0.0).cumsum()
        net_q = q.T.groupby(level="symbol").sum().T.reindex(columns=px2.columns, fill_value=0.0)
    else:                                                          # every entry refused: nothing held
        q = pd.DataFrame(index=idx, columns=pd.MultiIndex.from_tuples([], names=["group", "symbol"]), dtype=float)
        net_q = pd.DataFrame(0.0, index=idx, columns=px2.columns)
    val = net_q * closes
    ratio = (closes / closes.shift(1)).fillna(1.0)
    eqr = np.r_[1.0, eq[:-1] / eq[1:]]
    tol = 1 + 1e-9

    def check(capv, m, syms):
        if capv is None: return
        drift = ratio[syms].max(axis=1).to_numpy() * eqr
        u = _bound(capv, m, drift, eq)
        assert (m <= u * tol).all(), (capv, syms, float((m / u).max()))

    for s in px2.columns: check(asset, np.abs(val[s].to_numpy()) / eq, [s])
    for g in ("KO/PEP", "XOM/CVX"):
        legs = g.split("/")
        gq = q[g] if g in q.columns.get_level_values(0) else pd.DataFrame(0.0, index=idx, columns=legs)
        gv = (gq.reindex(columns=legs, fill_value=0.0) * closes[legs]).abs().sum(axis=1).to_numpy()
        check(pair, gv / eq, legs)
    for cl in ("a", "b"):
        syms = [s for s, k in clusters.items() if k == cl]
        check(cluster, val[syms].abs().sum(axis=1).to_numpy() / eq, syms)
    check(gross, val.abs().sum(axis=1).to_numpy() / eq, list(px2.columns))
    if net is not None:
        m = np.abs(val.sum(axis=1).to_numpy()) / eq
        extra = (net_q.abs() * closes.diff().abs().fillna(0.0)).sum(axis=1).to_numpy()
        u = _bound(net, m, None, eq, extra=extra)
        assert (m <= u * tol + 1e-12).all()
