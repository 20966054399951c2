"""One definition of training compute: the planner, the trainers and the analysis agree."""

from __future__ import annotations

import pytest

from contract.compute import approx_training_flops, tokens_for_budget, training_flops
from models import from_name
from models.counting import training_flops as model_training_flops


def test_training_flops_is_three_forward_passes() -> None:
    assert training_flops(1000, 50) == 150_000
    assert tokens_for_budget(150_000, 1000) == pytest.approx(50)


@pytest.mark.parametrize("size", ["gpt-10k", "gpt-1m", "mlp-1k"])
def test_models_use_the_contract(size: str) -> None:
    cfg = from_name(size)
    assert model_training_flops(cfg, 4096) == training_flops(cfg.flops_per_token, 4096)


def test_six_nd_is_only_an_approximation_below_the_true_count_for_small_gpts() -> None:
    cfg = from_name("gpt-10k")
    exact = training_flops(cfg.flops_per_token, 1e6)
    assert exact > 2 * approx_training_flops(cfg.num_params, 1e6)


def test_rejects_impossible_inputs() -> None:
    with pytest.raises(ValueError, match="tokens"):
        training_flops(1000, -1)
    with pytest.raises(ValueError, match="forward_flops_per_token"):
        tokens_for_budget(1e12, 0)


def test_forecast_round_trips_and_scores() -> None:
    from contract.forecast import LEDGER_COLUMNS, Forecast, Interval, score_row

    forecast = Forecast(
        forecast_id="abc123",
        source="results/scaling",
        metric="eval/loss",
        target_flops=1e14,
        chosen="frontier",
        reason="Approach 3's N* interval is 3x wider",
        n_star=Interval(1e6, 8e5, 1.2e6, 7e5, 1.4e6),
        d_star=Interval(2e7, 1.6e7, 2.4e7, 1.4e7, 2.8e7),
        loss=Interval(2.0, 1.96, 2.04, 1.94, 2.06),
        shape={"d_model": 128, "n_layers": 5, "n_heads": 4, "d_ff": 352, "params": 1_000_000},
        hyperparameters={"optim.lr": 3e-3},
        provenance={"rows_hash": "f00", "commit": "1234567", "created": "2026-11-29T16:00:00"},
    )
    assert Forecast.from_json(forecast.to_json()) == forecast
    row = score_row(forecast, realised_loss=2.05, scored_at="2026-11-29T17:00:00")
    assert tuple(row) == LEDGER_COLUMNS
    assert row["error_pct"] == pytest.approx(2.5)
    assert (row["inside80"], row["inside95"]) == (False, True)
