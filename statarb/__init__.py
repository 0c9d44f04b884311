"""Notebook-first research library for statistical arbitrage: data, alpha, engine, risk

Modules:

- `statarb.alpha.coint`: Unit-root and cointegration tests for pairs and baskets: augmented Dickey-Fuller, Engle-Granger and Johansen, computed with NumPy least squares and checked against statsmodels to 1e-8.
- `statarb.alpha.hedge`: Static and rolling hedge ratios of a pair: ordinary least squares, total least squares (orthogonal regression) and a trailing-window OLS computed from rolling sums, checked against statsmodels.
- `statarb.alpha.ou`: The Ornstein-Uhlenbeck spread: exact maximum-likelihood fit with standard errors, exact simulation, and the optimal trading levels of Bertram (2010) and Leung and Li (2015), each checked by Monte Carlo.
- `statarb.alpha.scan`: Universe scans: Engle-Granger on every pair in batched NumPy (lag selection included, p-values equal to statsmodels' `coint` to 1e-8), Gatev distances, OPTICS clusters, Johansen baskets, rolling p-values.
- `statarb.alpha.signals`: Pair-trading signals without look-ahead: a trailing z-score, a band state machine with exits and stop-losses, and `pair_signals`, which turns two price series into target positions with a rolling, static or Kalman hedge.
- `statarb.dashboard`: An interactive Streamlit + Plotly view of a run folder `reports/<run-id>/`: the run's metrics and configuration, equity and drawdown, each pair's spread and z-score with its trades, the cointegration p-values of every training window, PnL per pair, the costs, and a filterable trade log.
- `statarb.data.sources`: Where bars come from: Yahoo Finance, local CSV and Parquet files, the bundled sample data, and a concurrent batch fetcher that reports every symbol it could not get.
- `statarb.engine.lob`: Order books rebuilt from market data (L2 by price, L3 by order), validated against the data itself, and an exchange simulator for resting orders with queue position, latency, partial fills and fees.
- `statarb.engine.market_making`: Avellaneda-Stoikov (2008) market making: reservation price and optimal spread (finite or infinite horizon, inventory limits), the Gueant-Lehalle-Fernandez-Tapia (2013) closed-form quotes, a seeded path-vectorised simulator that reproduces the paper's study, and a calibration of sigma, A and k from trades and quotes.
- `statarb.engine.quoting`: Avellaneda-Stoikov quoting backtested on the real order-book replay (queue position, latency, fees) against symmetric quoting, and the execution of pairs legs: passive limit entry with a hedge-aware skew against marketable orders, costed as implementation shortfall.
- `statarb.risk.attribution`: Where a strategy's returns come from: statistical factors (PCA of the universe), regressions on those factors or on Fama-French factors (alpha, betas, t-statistics, R², residuals, Newey-West errors), and a market-neutrality monitor of rolling betas with alerts.
- `statarb.risk.constraints`: Pre-trade portfolio constraints: caps per asset, per pair and per cluster or sector, gross and net leverage, a correlation-aware concentration cap and a drawdown circuit breaker; `validate_trade` answers (ok, reason) and the engine's `Portfolio` asks it before every order.
- `statarb.risk.report`: A tearsheet of a backtest: equity and drawdown, rolling Sharpe and beta, exposures, monthly returns, the trades' PnL, the costs and each pair's contribution, as DataFrames and matplotlib figures, exported as one self-contained HTML file.
- `statarb.risk.sizing`: How much to hold: Kelly (discrete and continuous, fractional), fixed-fractional, volatility targeting, equal risk contribution, hierarchical risk parity and mean-variance with a Ledoit-Wolf covariance, all under one set of exposure limits.
- `statarb.risk.stress`: Stress tests of a strategy: replays of historical windows (2008–2009, 2020) and synthetic shocks to the prices (a pair's spread widened k times, the correlation between legs broken, volatility times k, a leg halted), with a table of results per scenario."""

__version__ = "0.0.1"
