"""Notebook-first research library for statistical arbitrage: data, alpha, engine, risk

Modules:

- `statarb.alpha.coint`: Unit-root and cointegration tests for pairs and baskets: augmented Dickey-Fuller, Engle-Granger and Johansen, computed with NumPy least squares and checked against statsmodels to 1e-8.
- `statarb.data.sources`: Where bars come from: Yahoo Finance, local CSV and Parquet files, the bundled sample data, and a concurrent batch fetcher that reports every symbol it could not get."""

__version__ = "0.0.1"
