"""Whether to trust a fit: the trust gate, backtests, interval coverage."""
