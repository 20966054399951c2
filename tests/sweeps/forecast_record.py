"""A preregistered forecast's record as forecast.json holds it, for tests that need one on disk
without running a fit (the forecast loop's and the forecast stage's)."""

INTERVAL = {"value": 2.0, "lo80": 1.9, "hi80": 2.1, "lo95": 1.8, "hi95": 2.2}
FORECAST_RECORD = {
    "forecast_id": "abc",
    "source": "",
    "metric": "eval/loss",
    "target_flops": 4e10,
    "chosen": "isoflop",
    "reason": "",
    "n_star": {**INTERVAL, "value": 2e4},
    "d_star": INTERVAL,
    "loss": INTERVAL,
    "shape": {},
    "hyperparameters": {"optim.lr": 2e-3},
    "provenance": {},
}
