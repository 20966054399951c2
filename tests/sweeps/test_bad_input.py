"""Every user mistake exits 2 with one line that names the key or file, and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweeps.cli import main

GOOD = """\
name: t
model: {size: gpt-20k}
data: {dataset: {type: synthetic, vocab_size: 16, num_tokens: 20000}}
trainer: {max_tokens: 4096, batch_size: 4}
"""

TEXT_FILES = GOOD.replace(
    "{type: synthetic, vocab_size: 16, num_tokens: 20000}",
    "{type: text_files, paths: [/no/such/file.txt]}",
)

# (spec text or None for GOOD, extra CLI args, text the one-line error must contain)
CASES = [
    ("name: t\nmodle: {size: gpt-20k}\n", [], "modle"),
    (GOOD + "optim: {lrr: 0.1}\n", [], "optim.lrr"),
    (GOOD.replace("{size: gpt-20k}", "{size: gpt-20k, d_modle: 64}"), [], "model.d_modle"),
    (GOOD + "optim: {lr: fast}\n", [], "optim.lr"),
    (GOOD + "optim: {lr: -1}\n", [], "optim.lr"),
    (GOOD.replace("{size: gpt-20k}", "{size: gpt-3q}"), [], "gpt-3q"),
    (GOOD.replace("{size: gpt-20k}", "{size: gpt-20k, d_model: 64, n_heads: 6}"), [], "n_heads"),
    (GOOD.replace("20000}}", "20000}, fraction: 0}"), [], "fraction"),
    (GOOD.replace("20000}}", "20000}, fraction: 1.5}"), [], "fraction"),
    (GOOD + "search: {mode: maximize}\n", [], "search.mode"),
    (GOOD + "search: {algorithm: bayes}\n", [], "search.algorithm"),
    (GOOD + "search: {scheduler: hyperband}\n", [], "search.scheduler"),
    (GOOD + "resources: {cpus_per_worker: 0}\n", [], "resources.cpus_per_worker"),
    (GOOD + "resources: {by_size: {gpt-9z: {workers: 2}}}\n", [], "gpt-9z"),
    (GOOD + "optim: {lr: {loguniform: [0, 1]}}\nsearch: {algorithm: random}\n", [], "optim.lr"),
    (GOOD + "optim: {lr: {uniform: [1, 0.1]}}\nsearch: {algorithm: random}\n", [], "optim.lr"),
    (GOOD + "optim: {lr: {loguniform: [1e-4, 1e-2]}}\n", [], "optim.lr"),  # grid cannot sample
    (GOOD + "optim: {lr: {grid: []}}\n", [], "optim.lr"),
    (GOOD.replace("{size: gpt-20k}", "{size: {grid: [gpt-20k, gpt-0k]}}"), [], "gpt-0k"),
    (GOOD + "trainer2: {}\n", [], "trainer2"),
    ("- just\n- a list\n", [], "mapping"),
    ("name: t\nmodel: {size: gpt-20k\n", [], "YAML"),
    ("", [], "empty"),
    (GOOD + "name: 'bad name/with slash'\n", [], "name"),
    (GOOD, ["--set", "optim.lr"], "optim.lr"),
    (GOOD, ["--set", "optim.lr=abc"], "optim.lr"),
    (GOOD, ["--set", "optim.lrx=0.1"], "optim.lrx"),
    (GOOD, ["--set", "model.size.x=1"], "model.size"),
    (GOOD, ["--set", "data.fraction=2"], "data.fraction"),
    (GOOD + "search: {scheduler: {type: asha, stratify_by: [model.size]}}\n", [], "stratify_by"),
    (GOOD.replace("{size: gpt-20k}", "{size: mlp-1k}"), [], "model"),
    (TEXT_FILES, [], "/no/such"),
    # Accepted silently before: non-finite, boolean and absurd numbers, duplicate keys.
    (GOOD + "optim: {lr: .inf}\n", [], "optim.lr: inf is not a finite number"),
    (GOOD + "optim: {lr: .nan}\n", [], "optim.lr"),
    (GOOD + "optim: {lr: {grid: [1e-3, -.inf]}}\n", [], "optim.lr"),
    (GOOD.replace("batch_size: 4", "batch_size: 1.0e+30"), [], "trainer.batch_size"),
    (GOOD.replace("batch_size: 4", "batch_size: 1.0e+17"), [], "trainer.batch_size"),
    (GOOD.replace("batch_size: 4", "batch_size: true"), [], "trainer.batch_size: expected a"),
    (GOOD.replace("batch_size: 4", "batch_size: {grid: [4, true]}"), [], "boolean"),
    (GOOD + "search: {num_samples: true}\n", [], "search.num_samples"),
    (GOOD + "trainer: {max_tokens: 8192}\n", [], "line 5: duplicate key 'trainer'"),
    (GOOD.replace("{size: gpt-20k}", "{size: gpt-20k, size: gpt-50k}"), [], "duplicate key"),
    (GOOD, ["--set", "optim={lr: 1, lr: 2}"], "--set optim: line 1: duplicate key 'lr'"),
    (GOOD, ["--set", "optim.lr=.inf"], "--set optim.lr=.inf: optim.lr"),
    (GOOD, ["--storage", ""], "--storage: empty value"),
    (GOOD, ["--name", ""], "--name: empty value"),
    (GOOD, ["--name", " "], "--name: empty value"),
    # Errors that named the wrong source or the wrong problem.
    (GOOD, ["--set", "optim.lr=abc"], "--set optim.lr=abc: optim.lr"),
    (GOOD, ["--set", "trainer.batch_size=true"], "--set trainer.batch_size=true"),
    (GOOD + "optim: {lr: {gird: [0.1, 0.2]}}\n", [], "optim.lr: unknown axis kind 'gird'"),
    (GOOD + "optim: {lr: {gird: [0.1, 0.2]}}\n", [], "did you mean 'grid'"),
    (
        TEXT_FILES,
        [],
        "spec.yaml: data.dataset.paths",
    ),
    (
        "name: r\nmodel: {size: mlp-1k}\ntask: {type: rl, algo: ppo, env: CartPole-v1, "
        "env_config: {bogus: 1}}\n",
        [],
        "spec.yaml: task.env_config",
    ),
    (
        "name: r\nmodel: {size: mlp-1k}\ntask: {type: rl, algo: ppo, env: CartPole-v1, "
        "env_config: {max_episode_steps: abc}}\n",
        [],
        "spec.yaml: task.env_config",
    ),
]


@pytest.mark.parametrize(("text", "args", "needle"), CASES)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys, text, args, needle):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    status = main([str(spec), "--dry-run", *args])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    assert needle in err
    assert "Traceback" not in err


def test_missing_spec_file_names_the_file(capsys):
    assert main(["/no/such/spec.yaml", "--dry-run"]) == 2
    assert "/no/such/spec.yaml" in capsys.readouterr().err


def test_cli_process_prints_no_traceback(tmp_path: Path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(GOOD + "optim: {lrr: 0.1}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sweeps.run", str(spec), "--dry-run"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "optim.lrr" in proc.stderr and "Traceback" not in proc.stderr


SMOKE = Path(__file__).resolve().parents[2] / "sweeps" / "smoke.yaml"


@pytest.mark.parametrize(
    ("address", "needle"),
    [
        ("127.0.0.1:1", "nothing answers"),
        ("no-port-here", "expected auto"),
        ("ray://127.0.0.1:1", "nothing answers"),
    ],
)
def test_bad_cluster_address_fails_fast_with_one_line(tmp_path: Path, capsys, address, needle):
    status = main([str(SMOKE), "--storage", str(tmp_path), "--address", address])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert needle in err and address in err


def test_resume_without_a_sweep_and_a_folder_that_is_not_a_sweep(tmp_path: Path, capsys):
    assert main([str(SMOKE), "--storage", str(tmp_path), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    stranger = tmp_path / "smoke"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("my own files")
    assert main([str(SMOKE), "--storage", str(tmp_path)]) == 2
    assert "not a sweep" in capsys.readouterr().err
    assert (stranger / "notes.txt").read_text() == "my own files"
    assert sorted(p.name for p in stranger.iterdir()) == ["notes.txt"]


def test_bad_address_writes_nothing(tmp_path: Path):
    assert main([str(SMOKE), "--storage", str(tmp_path), "--address", "127.0.0.1:1"]) == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("storage", "needle"),
    [
        ("/sys/kernel/scalesweep-results", "--storage /sys/kernel/scalesweep-results"),
        ("{file}/sub", "--storage"),
        ("{file}", "is not a folder"),
    ],
)
def test_unusable_storage_is_one_line_naming_the_flag(tmp_path: Path, capsys, storage, needle):
    spec = tmp_path / "spec.yaml"
    spec.write_text(GOOD)
    (tmp_path / "afile").write_text("x")
    storage = storage.format(file=tmp_path / "afile")
    status = main([str(spec), "--storage", storage])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, err
    assert needle in err and "Traceback" not in err


def test_storage_from_the_spec_is_named_as_run_storage(tmp_path: Path, capsys):
    spec = tmp_path / "spec.yaml"
    (tmp_path / "afile").write_text("x")
    spec.write_text(GOOD + f"run: {{storage: {tmp_path / 'afile'}}}\n")
    assert main([str(spec)]) == 2
    assert "run.storage" in capsys.readouterr().err
