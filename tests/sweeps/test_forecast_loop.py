"""The forecast loop through real Ray: grid -> fit -> forecast -> run -> score, one command."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from contract.forecast import FORECAST_FILE, LEDGER_COLUMNS, LEDGER_FILE, Forecast
from contract.results import find_trial_dir
from sweeps.cli import main
from sweeps.errors import SpecError
from sweeps.new import main as new_main
from sweeps.stages.forecast_stage import MORE_TOKENS, forecast_plan, forecast_sections
from sweeps.stages.pipeline import load_pipeline
from tests.sweeps.forecast_record import FORECAST_RECORD

LOOP = {
    "name": "loop",
    "data": {"dataset": {"type": "synthetic", "vocab_size": 16, "order": 1, "num_tokens": 200_000}},
    "model": {"seq_len": 32},
    "optim": {"lr": 3e-3},
    # Three budgets of three sizes, the fewest a fit of the optima needs, each a few hundred
    # steps at most: the loop's plumbing is under test here, not the law it finds.
    "trainer": {"batch_size": 4, "eval_tokens": 1024},
    "stages": [
        {
            "name": "grid",
            "compute": {
                "budgets": [4e8, 8e8, 1.6e9],
                "sizes": [6e3, 1.2e4, 2.4e4],
                "tolerance": 0.05,
                "min_steps": 5,
                "repeat_data": True,
            },
        },
        {
            "name": "forecast",
            "from": {"forecast": "grid", "target": "4x", "bootstrap": 10},
        },
    ],
}


def test_forecast_source_is_validated(tmp_path: Path):
    bad = dict(LOOP, stages=[{**LOOP["stages"][1], "from": {"forecast": "nope"}}])
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(SpecError, match="from.forecast: 'nope' is not an earlier stage"):
        load_pipeline(path)
    both = dict(
        LOOP,
        stages=[LOOP["stages"][0], {"name": "f", "from": {"forecast": "grid", "stage": "grid"}}],
    )
    path.write_text(yaml.safe_dump(both))
    with pytest.raises(SpecError, match="exactly one of"):
        load_pipeline(path)


def test_forecast_sections_take_hyperparameters_and_one_budget():
    forecast = Forecast.from_json(json.dumps(FORECAST_RECORD))
    raw = forecast_sections(
        forecast,
        {
            "model": {"size": "gpt-1m", "seq_len": 32},
            "optim": {"lr": 1e-3},
            "trainer": {"max_tokens": 5},
        },
        neighbours=True,
    )
    assert raw["optim"]["lr"] == 2e-3 and raw["model"] == {"seq_len": 32}
    assert "max_tokens" not in raw["trainer"]
    assert raw["compute"]["budgets"] == [4e10] and raw["compute"]["sizes"] == [1e4, 2e4, 4e4]


def test_a_forecast_run_never_repeats_data_unless_its_grid_may(tmp_path: Path):
    """The run at the target needs more tokens than the corpus holds: with the grid's
    repeat_data off the stage says so, naming both ways out; with it on, it records epochs."""
    small = dict(LOOP, data={"dataset": {**LOOP["data"]["dataset"], "num_tokens": 40_000}})
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(small))
    stage = load_pipeline(path).stages[1]
    forecast = Forecast.from_json(json.dumps({**FORECAST_RECORD, "target_flops": 1e11}))
    with pytest.raises(SpecError, match="stage forecast: .* needs .* tokens") as err:
        forecast_plan(stage, forecast, neighbours=False, repeat_data=False)
    assert MORE_TOKENS in str(err.value) and "tests_bytes" in str(err.value)
    _, plan = forecast_plan(stage, forecast, neighbours=False, repeat_data=True)
    assert plan.trials[0].assignment["trainer.epochs"] > 1


@pytest.mark.ray
def test_grid_fit_forecast_run_score(ray_session, tmp_path: Path, capsys):
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump(LOOP))
    assert main([str(path), "--storage", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    sweep = tmp_path / "loop"
    forecast = Forecast.from_json((sweep / "forecast-forecast" / FORECAST_FILE).read_text())
    assert forecast.target_flops == pytest.approx(4 * 1.6e9)
    trials = pd.read_csv(sweep / "trials.csv")
    run = trials[trials["stage"] == "forecast"]
    assert len(run) == 1 and set(run["status"]) == {"TERMINATED"}
    assert (run["budget"] == forecast.target_flops).all()
    record = json.loads(
        (find_trial_dir(sweep, run["trial_id"].iloc[0]) / "config.json").read_text()
    )
    assert record["config"]["optim"]["lr"] == forecast.hyperparameters["optim.lr"]
    ledger = pd.read_csv(tmp_path / LEDGER_FILE)
    assert tuple(ledger.columns) == LEDGER_COLUMNS and len(ledger) == 1
    row = ledger.iloc[0]
    assert row["forecast_id"] == forecast.forecast_id
    assert row["realised_loss"] == pytest.approx(run["eval/loss"].iloc[0])
    expected = 100 * (row["realised_loss"] - row["predicted_loss"]) / row["predicted_loss"]
    assert row["error_pct"] == pytest.approx(expected)
    assert bool(row["inside95"]) == (row["lo95"] <= row["realised_loss"] <= row["hi95"])
    assert pd.isna(row["best_of_budget"]) and "params=" in row["shape"]  # no neighbours
    assert f"forecast {forecast.forecast_id}: predicted" in out
    # the sweep's last words are the ledger row: predicted, interval, realised, error, inside
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"ledger: forecast {forecast.forecast_id}: predicted")
    assert "realised" in last and "error" in last and "inside 95 %" in last
    # resumed: nothing re-runs, the forecast is not refitted, the ledger keeps one row
    assert main([str(path), "--storage", str(tmp_path), "--resume"]) == 0
    assert len(pd.read_csv(tmp_path / LEDGER_FILE)) == 1
    # the same forecast launched by hand as its own sweep YAML
    yaml_out = tmp_path / "again.yaml"
    code = new_main(
        [
            "again",
            "--forecast",
            str(sweep / "forecast-forecast" / FORECAST_FILE),
            "--out",
            str(yaml_out),
        ]
    )
    text = yaml_out.read_text()
    assert code == 0 and "d_model=" in text and "budgets:" in text


def _source_sweep(folder: Path) -> Path:
    """A finished compute sweep's folder as the launcher reads it (spec.yaml, trials.csv)."""
    folder.mkdir(parents=True)
    spec = {k: v for k, v in LOOP.items() if k != "stages"} | LOOP["stages"][0]
    spec = {k: v for k, v in spec.items() if k != "name"} | {"name": folder.name}
    spec["optim"] = {"lr": {"grid": [1e-3, 3e-3, 1e-2]}, "weight_decay": 0.05}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    (folder / "trials.csv").write_text("trial_id,stage,status\n")
    return folder


def test_new_forecast_writes_the_run_with_neighbours(tmp_path: Path, capsys):
    source = _source_sweep(tmp_path / "results" / "grid")
    (source / "fit").mkdir()
    raw = dict(FORECAST_RECORD, source="grid")  # relative: found next to the forecast file
    (source / "fit" / FORECAST_FILE).write_text(json.dumps(raw))
    out = tmp_path / "run.yaml"
    argv = ["run", "--forecast", str(source / "fit" / FORECAST_FILE), "--out", str(out)]
    assert new_main([*argv, "--neighbours"]) == 0
    text = out.read_text()
    spec = yaml.safe_load(text)
    assert spec["compute"]["budgets"] == [4e10] and spec["compute"]["sizes"] == [1e4, 2e4, 4e4]
    assert spec["optim"] == {"lr": 2e-3, "weight_decay": 0.05}  # the forecast's lr, no axis
    assert spec["data"] == LOOP["data"] and text.count("d_model=") == 3
    assert new_main(argv) == 2  # never written over
    assert "already exists" in capsys.readouterr().err
    assert new_main(["x", "--from", str(out), "--neighbours"]) == 2
