"""`--storage s3://bucket/prefix` against a real S3-compatible server (moto's server mode, its
own process on 127.0.0.1): the sweep folder reaches the bucket, a run on a machine with no
local copy resumes from it, the analysis reads it, and a storage that cannot be used is one
line naming it, a non-zero exit and nothing written locally."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs
import pytest
import yaml

from analysis.load.sweep_tables import load_scaling_data
from sweeps.cli import main
from sweeps.folder.bucket import STAGING_ENV
from tests.cluster.s3_server import REPO, S3Server, free_port, moto_server_path

pytestmark = [pytest.mark.cluster, pytest.mark.ray]

if moto_server_path() is None:
    pytest.skip(
        "skipped: no moto_server for the S3-compatible server (make moto installs it)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server.start(tmp_path_factory.mktemp("moto"))
    server.make_bucket("sweeps")
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3, monkeypatch, tmp_path: Path) -> Path:
    """The server's AWS_* variables and a staging root of this test's own; returns it."""
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    staging = tmp_path / "staging"
    monkeypatch.setenv(STAGING_ENV, str(staging))
    return staging


def write_spec(path: Path) -> Path:
    spec = {
        "name": "bucketed",
        "model": {"size": {"grid": ["gpt-20k"]}, "seq_len": 32},
        "data": {
            "dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 60_000},
            "fraction": {"grid": [0.5, 1.0]},
        },
        "trainer": {
            "batch_size": 8,
            "max_tokens": 4096,
            "eval_interval_steps": 8,
            "eval_tokens": 1024,
        },
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def bucket_files(prefix: str) -> dict[str, int]:
    fs, path = pafs.FileSystem.from_uri(f"s3://{prefix}")
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    return {i.path[len(path) + 1 :]: i.size for i in infos if i.type == pafs.FileType.File}


def bucket_csv(uri: str):
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs.open_input_stream(path)


def test_sweep_in_a_bucket_resumes_from_it_and_is_fitted_from_it(
    ray_session, s3_env: Path, tmp_path: Path, capsys
):
    spec = write_spec(tmp_path / "s.yaml")
    uri = "s3://sweeps/team/results"
    assert main([str(spec), "--storage", uri]) == 0
    files = bucket_files("sweeps/team/results/bucketed")
    assert {"trials.csv", "curves.csv", "spec.yaml"} <= set(files)
    assert ".lock" not in files  # the lock means something only where the driver runs
    finals = [f for f in files if f.startswith("trials/") and "/checkpoints/final/" in f]
    assert len(finals) == 2, finals

    # A machine with no local copy: the bucket is the sweep, nothing runs twice.
    staged = s3_env / "s3/sweeps/team/results/bucketed"
    local = pd.read_csv(staged / "trials.csv")
    assert list(pd.read_csv(bucket_csv(f"{uri}/bucketed/trials.csv"))["trial_id"]) == list(
        local["trial_id"]
    )
    assert (local["status"] == "TERMINATED").all() and len(local) == 2
    shutil.rmtree(s3_env)
    capsys.readouterr()
    assert main([str(spec), "--storage", uri, "--resume"]) == 0
    out = capsys.readouterr().out
    assert "0 trials to run, 2 already done" in out, out
    pd.testing.assert_frame_equal(pd.read_csv(staged / "trials.csv"), local)

    # The analysis reads the bucket as it reads a folder: the same points.
    remote = load_scaling_data(f"{uri}/bucketed")
    here = load_scaling_data(staged)
    assert remote.source == f"{uri}/bucketed"
    pd.testing.assert_frame_equal(remote.points, here.points)
    fit = subprocess.run(
        [sys.executable, "analysis/fit_scaling.py", f"{uri}/bucketed", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in fit.stderr, fit.stderr
    assert fit.returncode in (0, 2), fit.stderr
    assert "no such file" not in fit.stderr and "not a sweep folder" not in fit.stderr


def test_bad_credentials_name_the_storage_and_write_nothing(
    s3_env: Path, tmp_path: Path, monkeypatch, capsys
):
    strict = S3Server.start(tmp_path, require_auth=True)  # every key is unknown to its IAM
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", strict.url)
        status = main([str(write_spec(tmp_path / "s.yaml")), "--storage", "s3://sweeps/r"])
    finally:
        strict.stop()
    err = capsys.readouterr().err.strip()
    assert status != 0
    assert len(err.splitlines()) == 1 and "s3://sweeps/r" in err, err
    assert not s3_env.exists()


def test_unreachable_endpoint_names_the_storage_and_writes_nothing(
    s3_env: Path, tmp_path: Path, monkeypatch, capsys
):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
    status = main([str(write_spec(tmp_path / "s.yaml")), "--storage", "s3://sweeps/r"])
    err = capsys.readouterr().err.strip()
    assert status != 0
    assert len(err.splitlines()) == 1 and "s3://sweeps/r" in err, err
    assert "cannot use the storage" in err
    assert not s3_env.exists()
    fit = subprocess.run(
        [sys.executable, "analysis/fit_scaling.py", "s3://sweeps/r/bucketed"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fit.returncode == 2 and "Traceback" not in fit.stderr, fit.stderr
    assert len(fit.stderr.strip().splitlines()) == 1 and "s3://sweeps/r" in fit.stderr


def test_no_such_bucket_is_one_line(s3_env: Path, tmp_path: Path, capsys):
    status = main([str(write_spec(tmp_path / "s.yaml")), "--storage", "s3://nobucket/r"])
    err = capsys.readouterr().err.strip()
    assert status != 0 and "no bucket named 'nobucket'" in err, err
    assert not s3_env.exists()
