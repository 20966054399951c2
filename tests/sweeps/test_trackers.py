"""Trackers through Ray Tune's own logger callbacks, checked on their real artefacts offline:
TensorBoard event files, W&B offline run folders, the MLflow file store."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from sweeps.cli import main
from sweeps.spec import tracker_spec as logging_config
from sweeps.spec.tracker_spec import MlflowConfig
from sweeps.tune.trackers import mlflow_uri

SPEC = """\
name: tracked
model: {size: {grid: [gpt-10k, gpt-20k]}, seq_len: 32}
data: {dataset: {type: synthetic, vocab_size: 16, num_tokens: 60000}}
optim: {lr: 3.0e-3}
trainer: {batch_size: 8, max_tokens: 4096, eval_interval_steps: 8, eval_tokens: 1024}
logging:
  tensorboard: true
  wandb: {project: scaling, mode: offline}
  mlflow: {tracking_uri: "file:./mlruns"}
"""


def _tensorboard_tags(path: Path) -> set[str]:
    """Scalar tags of a TensorBoard event file (TFRecord framing: length, crc, data, crc)."""
    from tensorboardX.proto import event_pb2

    tags, data = set(), path.read_bytes()
    while data:
        (length,) = struct.unpack("<Q", data[:8])
        event = event_pb2.Event.FromString(data[12 : 12 + length])
        tags |= {value.tag for value in event.summary.value}
        data = data[12 + length + 4 :]
    return tags


@pytest.mark.ray
def test_tensorboard_wandb_and_mlflow_see_every_trial(ray_session, tmp_path: Path, capsys):
    spec = tmp_path / "tracked.yaml"
    spec.write_text(SPEC)
    assert main([str(spec), "--storage", str(tmp_path)]) == 0
    sweep = tmp_path / "tracked"
    trial_dirs = sorted((sweep / "tune" / "main-attempt-1").glob("gpt-*"))
    assert len(trial_dirs) == 2

    for trial_dir in trial_dirs:
        (events,) = trial_dir.glob("events.out.tfevents.*")
        assert "ray/tune/eval/loss" in _tensorboard_tags(events)
        (run,) = trial_dir.glob("wandb/offline-run-*/run-*.wandb")
        blob = run.read_bytes()  # W&B's record file: history rows and the run's config
        assert b"eval/loss" in blob and b"model.size" in blob

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=(sweep / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("tracked")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    assert {run.data.params["model.size"] for run in runs} == {"gpt-10k", "gpt-20k"}
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "eval/loss")
        assert len(history) >= 2 and all(point.value > 0 for point in history)

    out = capsys.readouterr().out
    assert "Configuration for experiment" not in out  # Tune's own console box stays off


def test_missing_tracker_package_is_one_line_exit_2(tmp_path: Path, capsys, monkeypatch):
    real = logging_config.importlib.util.find_spec
    monkeypatch.setattr(
        logging_config.importlib.util,
        "find_spec",
        lambda name: None if name == "wandb" else real(name),
    )
    spec = tmp_path / "tracked.yaml"
    spec.write_text(SPEC)
    assert main([str(spec), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "logging.wandb: wandb is not installed" in err and "scalesweep[wandb]" in err


def test_unknown_tracker_key_is_refused(tmp_path: Path, capsys):
    spec = tmp_path / "tracked.yaml"
    spec.write_text(SPEC.replace("tensorboard: true", "tensorbord: true"))
    assert main([str(spec), "--dry-run"]) == 2
    assert "logging.tensorbord" in capsys.readouterr().err


def test_relative_mlflow_store_lives_in_the_sweep_folder(tmp_path: Path):
    assert mlflow_uri(MlflowConfig(), tmp_path) == (tmp_path / "mlruns").as_uri()
    assert mlflow_uri(MlflowConfig(tracking_uri="store"), tmp_path).endswith("/store")
    remote = "http://mlflow.example:5000"
    assert mlflow_uri(MlflowConfig(tracking_uri=remote), tmp_path) == remote


def test_schema_offers_logging_and_objective_lists():
    import jsonschema
    import yaml

    from sweeps.spec.schema import spec_json_schema

    raw = yaml.safe_load(SPEC)
    raw["search"] = {"algorithm": "optuna", "metric": ["eval/loss", "flops"], "mode": ["min"] * 2}
    jsonschema.validate(raw, spec_json_schema())
    raw["logging"]["tensorbord"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, spec_json_schema())
