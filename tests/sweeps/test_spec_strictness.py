"""Spec values plain YAML and pydantic's lax mode would take wrongly, or refuse wrongly:
merge keys, switches given as 'yes' or 1, and MLflow stores outside or at an absolute path."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeps.cli import main
from sweeps.spec.sweep_spec import load_spec
from sweeps.spec.tracker_spec import LoggingConfig
from sweeps.tune.trackers import tracker_callbacks

TINY = """\
name: strict
model: {size: gpt-10k, seq_len: 32}
data:
  dataset: {type: synthetic, vocab_size: 16, num_tokens: 60000}
trainer: {batch_size: 8, max_tokens: 8192, eval_tokens: 1024}
"""


def test_merge_keys_are_accepted_and_explicit_keys_win(tmp_path: Path):
    path = tmp_path / "merge.yaml"
    path.write_text(
        TINY
        + "optim:\n  <<: {lr: 1.0e-3, weight_decay: 0.2}\n  weight_decay: 0.05\n"
        + "search:\n  <<: &common {metric: eval/loss, mode: min}\n"
    )
    spec = load_spec(path)
    assert spec.base.optim.lr == 1e-3 and spec.base.optim.weight_decay == 0.05
    path.write_text(TINY + "optim: {lr: 1.0e-3, lr: 2.0e-3}\n")  # still one key, once
    with pytest.raises(Exception, match="duplicate key 'lr'"):
        load_spec(path)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("logging.tensorboard='yes'", "logging.tensorboard: expected true or false, got 'yes'"),
        ("logging.tensorboard=1", "logging.tensorboard: expected true or false, got 1"),
        ("logging.tensorboard=false", None),
    ],
)
def test_switches_take_only_true_or_false(tmp_path: Path, capsys, override, key):
    path = tmp_path / "s.yaml"
    path.write_text(TINY)
    code = main([str(path), "--set", override, "--dry-run"])
    err = capsys.readouterr().err
    if key is None:
        assert code == 0, err
    else:
        assert code == 2 and key in err and len(err.strip().splitlines()) == 1


def test_compute_repeat_data_takes_only_true_or_false(tmp_path: Path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: c\ncompute: {budgets: [2.0e+10], sizes: [1.0e+4], repeat_data: 1}\n"
        "model: {seq_len: 64}\n"
        "data: {dataset: {type: synthetic, vocab_size: 32, num_tokens: 1000000}}\n"
        "trainer: {batch_size: 8, eval_tokens: 4096}\n"
    )
    assert main([str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "compute.repeat_data: expected true or false, got 1" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("uri", ["file:../../x", "../x", "file:mlruns/../../x"])
def test_a_relative_mlflow_store_may_not_leave_the_sweep_folder(tmp_path: Path, capsys, uri):
    pytest.importorskip("mlflow")
    path = tmp_path / "m.yaml"
    path.write_text(TINY + f"logging: {{mlflow: {{tracking_uri: '{uri}'}}}}\n")
    assert main([str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "logging.mlflow.tracking_uri" in err and "leaves the sweep folder" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("form", ["file:{}", "file://{}", "{}"])
def test_an_absolute_mlflow_store_is_where_the_runs_go(tmp_path: Path, monkeypatch, form):
    """Through Ray Tune's own MLflow callback: its experiment lands at the path given, and
    nothing named `file:` appears in the sweep folder."""
    mlflow = pytest.importorskip("mlflow")
    store, sweep = tmp_path / "abs" / "mlruns", tmp_path / "sweep"
    sweep.mkdir()
    monkeypatch.chdir(sweep)
    uri = form.format(store)
    logging = LoggingConfig.model_validate({"mlflow": {"tracking_uri": uri}})
    (callback,) = [c for c in tracker_callbacks(logging, sweep, "absol") if "MLflow" in repr(c)]
    callback.setup()
    client = mlflow.MlflowClient(tracking_uri=store.as_uri())
    assert client.get_experiment_by_name("absol") is not None
    assert not list(sweep.rglob("file:*")) and not (sweep / "file:").exists()
