"""Loading sweep folders and foreign tables into canonical N, D, C, loss rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.load.sweep_tables import load_scaling_data, parse_columns, parse_point


def test_parse_columns_allows_spaces_and_splits_on_first_equals():
    assert parse_columns("N=Model Size, C=Training FLOP,loss=a=b") == {
        "N": "Model Size",
        "C": "Training FLOP",
        "loss": "a=b",
    }
    with pytest.raises(ValueError, match="unknown key 'X'"):
        parse_columns("X=foo")
    with pytest.raises(ValueError, match="KEY=COLUMN"):
        parse_columns("N")


def test_parse_point():
    assert parse_point("N=1e9,D=2e10") == {"N": 1e9, "D": 2e10}
    with pytest.raises(ValueError, match="--predict: N='abc' is not a number"):
        parse_point("N=abc")
    with pytest.raises(ValueError, match="positive"):
        parse_point("C=-1")
    with pytest.raises(ValueError, match="--predict"):
        parse_point("loss=2")


def test_sweep_folder_keeps_finished_runs_and_lists_the_rest(sweep_dir):
    data = load_scaling_data(sweep_dir)
    assert len(data.points) == 16 and data.metric == "eval/loss" and data.mode == "min"
    assert data.columns == {"N": "params", "D": "tokens", "C": "flops", "loss": "eval/loss"}
    reasons = dict(zip(data.excluded["id"], data.excluded["reason"], strict=True))
    assert reasons["oom"] == "status ERROR: RuntimeError: CUDA out of memory"
    assert reasons["asha"] == "status STOPPED"
    assert "nan" in reasons["nan"].lower()  # the id "nan" stays a string, its loss is NaN
    assert reasons["blowup"].startswith("diverged")
    np.testing.assert_allclose(data.points["C"], 6 * data.points["N"] * data.points["D"])
    # Curves of the kept runs only, with N joined from trials.csv.
    assert set(data.curves["id"]) == set(data.points["id"])
    assert len(data.curves) == 16 * 6 and (data.curves["N"] > 0).all()


def test_foreign_csv_with_mapping_derives_tokens(tmp_path):
    path = tmp_path / "published.csv"
    pd.DataFrame(
        {"Model Size": [1e8, 1e9], "Training FLOP": [6e18, 1.2e20], "loss": [3.0, 2.5]}
    ).to_csv(path, index=False)
    data = load_scaling_data(path, columns=parse_columns("N=Model Size,C=Training FLOP"))
    np.testing.assert_allclose(data.points["D"], [1e10, 2e10])
    assert data.columns["D"] == "approx 6ND" and data.curves is None
    assert data.compute.is_6nd and "approximation" in data.c_source


def test_plain_csv_recognises_standard_names_and_where(tmp_path):
    path = tmp_path / "runs.csv"
    pd.DataFrame(
        {"params": [1e8, 1e9, 1e9], "tokens": [1e9, 1e10, 2e10], "loss": [3.0, 2.5, -1.0]}
    ).to_csv(path, index=False)
    data = load_scaling_data(path)
    assert len(data.points) == 2
    assert data.excluded.iloc[0].to_dict() == {
        "id": "row 4",
        "reason": "loss -1 <= 0 cannot be fitted in log space",
    }
    assert len(load_scaling_data(path, where="params > 5e8").points) == 1


def test_parquet_is_read(tmp_path):
    path = tmp_path / "runs.parquet"
    pd.DataFrame({"N": [1e8, 1e9], "D": [1e9, 1e10], "loss": [3.0, 2.5]}).to_parquet(path)
    assert len(load_scaling_data(path).points) == 2


def test_max_mode_metric_comes_from_spec(tmp_path):
    folder = tmp_path / "rl"
    folder.mkdir()
    (folder / "spec.yaml").write_text("search:\n  metric: env/episode_return_mean\n  mode: max\n")
    pd.DataFrame(
        {
            "trial_id": ["a", "b"],
            "status": ["TERMINATED"] * 2,
            "params": [1e4, 1e5],
            "tokens": [1e6, 1e6],
            "env/episode_return_mean": [120.0, 300.0],
        }
    ).to_csv(folder / "trials.csv", index=False)
    data = load_scaling_data(folder)
    assert (data.mode, data.columns["loss"]) == ("max", "env/episode_return_mean")
    assert list(data.points["loss"]) == [120.0, 300.0]


def test_user_mistakes_name_the_path_or_flag(tmp_path, sweep_dir):
    with pytest.raises(FileNotFoundError, match="nope: no such file or folder"):
        load_scaling_data(tmp_path / "nope")
    with pytest.raises(ValueError, match="not a sweep folder \\(no trials.csv\\) and not a CSV"):
        load_scaling_data(tmp_path)
    with pytest.raises(ValueError, match="--columns: no column 'Size' in .*trials.csv"):
        load_scaling_data(sweep_dir, columns={"N": "Size"})
    with pytest.raises(ValueError, match="--where 'loss <'"):
        load_scaling_data(sweep_dir, where="loss <")
    bad = tmp_path / "x.txt"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="x.txt: not a sweep folder"):
        load_scaling_data(bad)


def test_checkpoints_without_run_id_are_named(tmp_path):
    path = tmp_path / "ckpts.csv"
    table = pd.DataFrame(
        {
            "params": [1e8, 1e8, 1e9],
            "tokens": [1e9, 2e9, 2e10],
            "total_steps": [1000, 1000, 1000],
            "loss": [3.0, 2.8, 2.5],
        }
    )
    table.to_csv(path, index=False)
    (warning,) = load_scaling_data(path).warnings
    assert "2 rows share ('params', 'total_steps')" in warning and "'run_id' column" in warning
    table.assign(run_id=["a", "a", "b"]).to_csv(path, index=False)
    assert load_scaling_data(path).warnings == ()
    table.assign(total_steps=[500, 1000, 1000]).to_csv(path, index=False)
    assert load_scaling_data(path).warnings == ()
