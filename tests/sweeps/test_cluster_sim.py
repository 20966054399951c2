"""Placement on a simulated two-node cluster: GPU trials on the GPU node, a 2-worker DDP trial,
and early-stopped worker-group trials that release everything."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sweeps.cli import main

pytestmark = pytest.mark.ray


def write_spec(path: Path, name: str, resources: dict, **extra) -> Path:
    spec = {
        "name": name,
        "model": {"size": "gpt-20k", "seq_len": 32},
        "data": {"dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 60_000}},
        "trainer": {
            "batch_size": 8,
            "max_tokens": 8192,
            "eval_interval_steps": 8,
            "eval_tokens": 1024,
        },
        "resources": resources,
        **extra,
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def test_gpu_trials_land_only_on_the_gpu_node(ray_cluster, tmp_path: Path):
    spec = write_spec(tmp_path / "s.yaml", "gpu", {"gpus_per_worker": 1}, search={"seeds": [0, 1]})
    assert main([str(spec), "--storage", str(tmp_path)]) == 0
    trials = pd.read_csv(tmp_path / "gpu" / "trials.csv")
    assert set(trials["status"]) == {"TERMINATED"}
    for log in (tmp_path / "gpu" / "trials").glob("*/attempts.log"):
        assert f"node={ray_cluster.gpu_node_id}" in log.read_text()


def test_two_worker_trial_trains_and_reports_once_per_eval(ray_cluster, tmp_path: Path):
    spec = write_spec(
        tmp_path / "s.yaml",
        "ddp",
        {"workers": 2, "cpus_per_worker": 0.5, "custom_per_worker": {"special": 1}},
    )
    assert main([str(spec), "--storage", str(tmp_path)]) == 0
    trials = pd.read_csv(tmp_path / "ddp" / "trials.csv")
    curves = pd.read_csv(tmp_path / "ddp" / "curves.csv")
    assert trials["status"].tolist() == ["TERMINATED"]
    assert trials["tokens"].item() == 8192  # 2 workers x 8 sequences x 32 tokens per step
    assert not curves["step"].duplicated().any() and len(curves) >= 2
    (trial_dir,) = (tmp_path / "ddp" / "trials").iterdir()
    nodes = {p.read_text() for p in trial_dir.glob("worker-*.node")}
    assert nodes == {ray_cluster.gpu_node_id}  # `special` exists only there


def test_early_stopped_worker_group_trials_release_everything(ray_session, tmp_path: Path):
    ray = ray_session
    spec = write_spec(
        tmp_path / "s.yaml",
        "asha",
        {"workers": 2, "cpus_per_worker": 0.5, "max_concurrent_trials": 1},
        optim={"lr": {"grid": [3e-3, 1e-7]}},
        search={"scheduler": {"type": "asha", "grace_tokens": 2048, "reduction_factor": 2}},
        trainer={
            "batch_size": 8,
            "max_tokens": 16384,
            "eval_interval_steps": 4,
            "eval_tokens": 1024,
        },
    )
    assert main([str(spec), "--storage", str(tmp_path)]) == 0
    trials = pd.read_csv(tmp_path / "asha" / "trials.csv").set_index("optim.lr")
    assert trials.loc[3e-3, "status"] == "TERMINATED"
    assert trials.loc[1e-7, "status"] == "STOPPED"
    assert trials.loc[1e-7, "tokens"] < 16384
    deadline = time.time() + 30
    while time.time() < deadline:
        live = [pg for pg in ray.util.placement_group_table().values() if pg["state"] != "REMOVED"]
        if not live and ray.available_resources().get("CPU") == ray.cluster_resources()["CPU"]:
            break
        time.sleep(0.5)
    assert not live, live
    assert ray.available_resources().get("CPU") == ray.cluster_resources()["CPU"]
