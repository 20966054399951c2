"""The forecast loop: preregistering a forecast, scoring it, the ledger, its figures."""
