"""Forecasts whose answer is known: four published IsoFLOP series, their largest budget held out.

The rows ship in tests/analysis/data/isoflops_published.csv (Chinchilla's IsoFLOP profiles and
Marin's March 2026 sweeps on three corpora, as extracted by Open-Athena/scaling-law-analysis;
see that folder's README). Fitted on the budgets the shared data's README measured (Marin up to
9e19, forecast 3e20; Chinchilla up to 1e21, forecast 3e21), Approach 3's loss missed three of
them by +2.9 to +3.3 %, outside its 95 % intervals; the loss the forecast takes now comes from
the estimator with the best held-out errors and must land within 1.5 %, inside a 95 % interval
under 10 % wide (one series sits on its interval's edge, and may be a hair outside).
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.bench_script import load_bench

ON_THE_EDGE = "marin_202603__comma__llama_2"
"""Its measured loss at 3.3x sits on its 95 % interval's lower edge: in or out by a few
hundredths of a per cent, by the resample count."""


@pytest.fixture(scope="module")
def published():
    return load_bench("published_forecasts")


@pytest.mark.parametrize(
    "series",
    [
        "marin_202603__comma__llama_2",
        "marin_202603__dclm__llama_2",
        "marin_202603__nemotron__llama_2",
        "ml_scalefit__massivetext__chinchilla",
    ],
)
def test_held_out_budget_is_forecast_within_1_5_percent(published, series):
    table = pd.read_csv(published.TABLE)
    cut, target = published.cuts(table, series, "readme")
    outcome = published.evaluate(series, cut, target, resamples=60)
    assert abs(outcome.error) <= 0.015, published.render(outcome)
    if series == ON_THE_EDGE:  # inside at 200 resamples, 0.03 % under at 300 (docs/analysis.md)
        assert outcome.lo95 / outcome.actual - 1 < 0.002, published.render(outcome)
    else:
        assert outcome.inside, published.render(outcome)
    assert outcome.width < 0.10, published.render(outcome)
    # The loss comes from an estimator that earned it, never Approach 3 while it misses here.
    assert outcome.law != "chinchilla", published.render(outcome)
