"""Every command the README and docs/*.md print runs, exactly as printed.

The commands are read from the documents themselves (shell blocks, indented blocks and inline
code that starts with a command), and `test_every_documented_command_is_listed` fails when a
document prints one this file does not know: each is run below or skipped with its reason.
They run in a scratch checkout whose `sweeps/*.yaml` are tiny versions of the shipped specs
(same names and shape, seconds instead of minutes), through a shell, with `python` the
environment's interpreter; `/tmp/` paths are moved inside the scratch folder. A module run
as `python -m ...` and its imported twin differ (issue: `sweeps.new` ran its entry point
before defining what it calls), so nothing here imports the code it runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND_WORDS = (
    "python", ".venv/bin/", "scalesweep-", "make", ". .venv/bin/activate", "ray", "pip", "tensorboard",
    "mlflow", "optuna-dashboard", "wandb", "cat", "aws", "mkdir", "export",
)  # fmt: skip

CLUSTER = "needs a Ray cluster made by `ray up` (cloud credentials)"
OBJECT_STORE = "needs a bucket and its credentials (tests/cluster/test_object_storage.py: moto)"
ONPREM = "needs machines over SSH (tests/cluster/test_ray_up.py runs it on loopback)"
SERVER = "starts a viewer server that runs until stopped"
NETWORK = "installs packages from the network"
BENCH = "a benchmark, run by hand: minutes of measurement (DESIGN.md: bench/)"
SKIP = {
    "make test": "what runs this test",
    "make": "names the tool (`make` creates .venv ...), not a command line",
    "make latest": NETWORK + " (the newest releases, in .venv-latest)",
    "make constraints": "rewrites constraints.txt from the venv after `make latest` passed",
    '.venv/bin/pytest -m "not ray"': "the test suite itself",
    "optuna-dashboard results/<name>/optuna.journal": SERVER,
    "tensorboard --logdir results/<name>/tune": SERVER,
    "mlflow ui --backend-store-uri results/<name>/mlruns": SERVER,
    "wandb sync": "uploads W&B runs (needs an account)",
    "pip install datasets": NETWORK,
    'pip install "scalesweep[wandb]"': NETWORK,
    'pip install "scalesweep[mlflow]"': NETWORK,
    'pip install "ray[default]==2.60.0" boto3': NETWORK,
    "aws configure": CLUSTER,
    "cat ~/.ray/auth_token": "prints the local Ray's secret token",
    "export RAY_AUTH_MODE=token": CLUSTER,
    "python -m sweeps.run sweeps/scaling.yaml --address 10.0.1.23:6379 --storage "
    "/mnt/shared/results": CLUSTER,
    # Runs the candidates the proposer bought: up to the 20 minutes asked for, by design.
    "python -m sweeps.run sweeps/scaling-next.yaml": "runs 20 minutes of proposed trials",
    "python analysis/fit_scaling.py results/scaling results/scaling-next --where "
    "\"stage == 'grid' or stage == 'main'\"": "fits the folder the skipped command above makes",
    "make run && make fit": "the two commands run below, one after the other",
    "export AWS_ENDPOINT_URL=http://minio.internal:9000": OBJECT_STORE,
    "python -m sweeps.run sweeps/scaling.yaml --storage s3://my-bucket/results": OBJECT_STORE,
    "python -m sweeps.run sweeps/scaling.yaml --storage s3://my-bucket/results --resume": (
        OBJECT_STORE
    ),
    "python analysis/fit_scaling.py s3://my-bucket/results/scaling": OBJECT_STORE,
}
SKIP_PREFIXES = {
    "RAY_UP_enable_autoscaler_v2=0 ray ": ONPREM,
    "ray ": CLUSTER,
    "mkdir -p ~/.ray": CLUSTER,
    "python bench/": BENCH,
}
SAME_AS = {
    # docs/forecast.md and docs/architecture.md name the arguments; the README gives values.
    "python analysis/fit_scaling.py SWEEP --forecast 10x": (
        "python analysis/fit_scaling.py results/scaling --forecast 10x"
    ),
    "python -m sweeps.new NAME --forecast FORECAST_JSON [--neighbours]": (
        "python -m sweeps.new big --forecast results/scaling/fit/forecast.json --neighbours"
    ),
    "python analysis/fit_scaling.py RUN_FOLDER --score FORECAST_JSON": (
        "python analysis/fit_scaling.py results/big --score results/scaling/fit/forecast.json"
    ),
    "python -m sweeps.run SWEEP.yaml --dry-run": "python -m sweeps.run sweeps/scaling.yaml --dry-run",
    "python -m sweeps.run": ".venv/bin/scalesweep-run",
    "python -m sweeps.new": ".venv/bin/scalesweep-new",
    "python analysis/fit_scaling.py results/my-sweep --out fit/ --json fit/fit.json": (
        "python analysis/fit_scaling.py results/scaling --out fit/ --json fit/fit.json"
    ),
}
MAIN_JOB: list[tuple[str, int]] = [
    # (command, expected exit status), in the order the main job's workflow needs: they all
    # read or write results/scaling, so one after another
    ("python -m sweeps.run sweeps/scaling.yaml --dry-run", 0),
    ("make run", 0),
    ("make fit", 0),
    (
        ".venv/bin/python analysis/fit_scaling.py results/scaling --where \"stage == 'grid'\" "
        "--out results/scaling/fit",
        0,
    ),
    ("python -m sweeps.run sweeps/scaling.yaml --resume", 0),
    ("python analysis/fit_scaling.py results/scaling --where \"stage == 'grid'\"", 0),
    (
        "python analysis/fit_scaling.py results/scaling --law all --predict N=1e8,D=2e9 --out fit/",
        0,
    ),
    ("python analysis/fit_scaling.py results/scaling --out fit/ --json fit/fit.json", 0),
    (
        "python analysis/fit_scaling.py results/scaling --where \"stage == 'grid'\" "
        "--out results/scaling/fit",
        0,
    ),
    ("python analysis/fit_scaling.py results/scaling --forecast 10x", 0),
    ("python -m sweeps.new big --forecast results/scaling/fit/forecast.json --neighbours", 0),
    ("python -m sweeps.run sweeps/big.yaml", 0),
    ("python analysis/fit_scaling.py results/big --score results/scaling/fit/forecast.json", 0),
    ("python -m sweeps.new scaling-next --propose results/scaling --target 4x --minutes 20", 0),
]
EVERYTHING_ELSE: list[tuple[str, int]] = [
    # Commands that share no folder with the main job's (their own storage or sweep name):
    # they run beside it.
    (". .venv/bin/activate", 0),
    (".venv/bin/scalesweep-run", 2),  # no spec: one line saying how to call it
    (".venv/bin/scalesweep-new", 2),
    (".venv/bin/scalesweep-fit", 2),
    ("scalesweep-run", 2),
    ("scalesweep-new", 2),
    ("scalesweep-fit", 2),
    ("python -m sweeps.run --schema", 0),
    ("python -m sweeps.run --schema > sweep.schema.json", 0),
    ("python -m sweeps.run bad.yaml", 2),
    ("python -m sweeps.new my-sweep --from sweeps/scaling.yaml", 0),
    # A folder of its own; its score joins the main job's in results/forecasts.csv (the
    # ledger takes simultaneous writers).
    ("python -m sweeps.run sweeps/scaling.yaml --set optim.lr=1e-3 --name scaling-lr1e-3", 0),
    ("python -m sweeps.run sweeps/smoke.yaml --storage /tmp/r", 0),
    ("python -m sweeps.run sweeps/smoke.yaml --storage /tmp/results", 0),
    ("python -m sweeps.new smoke-2x --continue /tmp/results/smoke --more-tokens-factor 2", 0),
    ("python -m sweeps.run sweeps/smoke-2x.yaml --dry-run", 0),
    ("python -m sweeps.run sweeps/pipeline.yaml --storage /tmp/results", 0),
    (
        "python analysis/fit_scaling.py /tmp/results/pipeline --where \"stage == 'finetune'\" "
        "--columns N=upstream.params,loss=eval/loss --law power",
        # Seconds of pretraining leave no trend in N to fit: the one-line refusal, exit 2,
        # shows the command, its filter and its column mapping work.
        2,
    ),
    (
        'python analysis/fit_scaling.py chinchilla.csv --columns "N=Model Size,C=Training FLOP" '
        '--where "loss < 3.44" --predict C=1e24 --workers 2',
        0,
    ),
]
CHAINS = (MAIN_JOB, EVERYTHING_ELSE)
"""Run side by side (the suite's longest test: 5 minutes one after the other); each chain in
its own order, stopping at its first failure."""
RUN = [step for chain in CHAINS for step in chain]

# The shipped specs' shapes at a size that trains in seconds.
TINY = {
    "smoke.yaml": """\
name: smoke
model: {size: {grid: [gpt-10k, gpt-20k]}, seq_len: 32}
data: {dataset: {type: synthetic, vocab_size: 16, order: 1, num_tokens: 60000}}
trainer: {batch_size: 4, max_tokens: 2048, eval_tokens: 512}
""",
    "scaling.yaml": """\
name: scaling
model: {seq_len: 32}
data: {dataset: {type: synthetic, vocab_size: 16, order: 1, num_tokens: 200000}}
optim: {lr: 3.0e-3}
trainer: {batch_size: 4, eval_tokens: 512}
search: {metric: eval/loss, mode: min}
stages:
  - name: grid
    compute:
      budgets: [4.0e+8, 8.0e+8, 1.6e+9]
      sizes: [6.0e+3, 1.2e+4, 2.4e+4]
      tolerance: 0.05
      min_steps: 5
      repeat_data: true
  - name: forecast
    from: {forecast: grid, target: 2x, neighbours: false, bootstrap: 10}
""",
    "pipeline.yaml": """\
name: pipeline
data: {dataset: {type: synthetic, vocab_size: 16, order: 1, num_tokens: 60000}}
model: {seq_len: 32}
trainer: {batch_size: 4, eval_tokens: 512}
stages:
  - name: pretrain
    model: {size: {grid: [gpt-10k, gpt-20k, gpt-50k, gpt-100k]}}
    task: {type: mlm, mask_rate: 0.15}
    trainer: {max_tokens: 4096}
    search: {metric: eval/loss, mode: min}
  - name: finetune
    from: {stage: pretrain, select: all}
    task: {type: classify, num_classes: 4, num_sequences: 2048, separation: 0.5}
    search: {metric: eval/accuracy, mode: max}
""",
}
BAD = "name: bad\nmodel: {size: gpt-10k}\noptim: {lrr: 1.0e-3}\n"
"""The README's mistake: `optim.lrr`, for which it prints the one-line error."""
BAD_LINE = "scalesweep: error: bad.yaml: optim.lrr: unknown key (did you mean 'lr'?)"


def _is_command(text: str) -> bool:
    text = text.removeprefix("$ ")
    return any(
        text == w or text.startswith(w + " ") or (w.endswith(("/", "-")) and text.startswith(w))
        for w in COMMAND_WORDS
    )


def _clean(line: str) -> str:
    line = re.sub(r"\s+#.*$", "", line).strip()
    return " ".join(line.removeprefix("$ ").split())


def _block_lines(text: str) -> list[str]:
    """Lines of shell fences and of indented blocks, with `\\` continuations joined."""
    out: list[str] = []
    fence, indented, previous = None, False, ""
    for line in text.splitlines():
        mark = re.match(r"^```(\w*)", line)
        if mark:
            fence = mark.group(1) if fence is None else None
        elif fence is not None:
            if fence in ("bash", "sh", "console"):
                out.append(line)
        else:
            # An indented block starts after a blank line (else it continues a list item).
            indented = line.startswith("    ") and (indented or not previous.strip())
            if indented:
                out.append(line[4:])
        previous = line
    joined, pending = [], ""
    for line in out:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
        else:
            joined.append(pending + line)
            pending = ""
    return joined


def documented_commands() -> set[str]:
    """Every command line the README and docs/*.md print."""
    found: set[str] = set()
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        found |= {_clean(line) for line in _block_lines(text) if _is_command(line.strip())}
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        for span in re.findall(r"`([^`]+)`", prose):
            span = " ".join(span.split())
            if _is_command(span):
                found.add(_clean(span))
    return found


def _skipped(command: str) -> str | None:
    return SKIP.get(command) or next(
        (why for prefix, why in SKIP_PREFIXES.items() if command.startswith(prefix)), None
    )


def test_every_documented_command_is_listed():
    """A command a document prints is run below, or skipped with a reason: never neither."""
    run = {command for command, _ in RUN}
    unknown = {
        c for c in documented_commands() if c not in run and c not in SAME_AS and not _skipped(c)
    }
    assert not unknown, f"documented but neither run nor skipped here: {sorted(unknown)}"
    assert set(SAME_AS.values()) <= run
    stale = (run | set(SAME_AS) | set(SKIP)) - documented_commands() - set(SAME_AS.values())
    assert not stale, f"listed here but no longer documented: {sorted(stale)}"


def _checkout(root: Path) -> Path:
    """A scratch checkout: the code by link, tiny specs, the venv as .venv, a Makefile whose
    install step is already done (its stamp is newer than what it depends on)."""
    work = root / "work"
    (work / "sweeps").mkdir(parents=True)
    for name, text in TINY.items():
        (work / "sweeps" / name).write_text(text)
    for name in ("analysis", "bench", "contract", "data", "models", "rl", "trainers"):
        (work / name).symlink_to(REPO / name)
    (work / ".venv").symlink_to(Path(sys.prefix))
    shutil.copy(REPO / "Makefile", work / "Makefile")
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copy(REPO / name, work / name)
        os.utime(work / name, (0, 0))
    shutil.copy(REPO / "tests" / "analysis" / "data" / "epoch_chinchilla.csv", work)
    (work / "bad.yaml").write_text(BAD)
    (work / "tmp").mkdir()
    return work


def _own_lines(stderr: str) -> str:
    """What the command itself printed: Ray relays its workers' teardown noise (a SIGTERMed
    actor's "Exception ignored" trace) with a "(name pid=N)" prefix; that is Ray's, not ours."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", stderr)
    return "\n".join(line for line in plain.splitlines() if not re.match(r"\(.+ pid=\d+\)", line))


def _shell(command: str, work: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    line = command.replace(" /tmp/", f" {work}/tmp/")
    line = line.replace("chinchilla.csv", "epoch_chinchilla.csv")
    return subprocess.run(
        ["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )


def _run_chain(chain: list[tuple[str, int]], work: Path, env: dict[str, str]) -> str | None:
    """Run `chain` in order; what went wrong at its first failure, or None."""
    for command, expected in chain:
        done = _shell(command, work, env)
        said = f"$ {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        if done.returncode != expected:
            return f"exit {done.returncode}, expected {expected}: {said}"
        if "Traceback" in _own_lines(done.stderr):
            return f"a traceback: {said}"
        if command == "python -m sweeps.run bad.yaml" and done.stderr.strip() != BAD_LINE:
            return f"not the one-line error: {said}"
    return None


@pytest.mark.ray
@pytest.mark.slow
def test_documented_commands_run_as_printed(ray_session, tmp_path: Path):
    if not (Path(sys.prefix) / ".installed").exists():
        pytest.skip("the environment was not made by `make` (no .installed stamp)")
    work = _checkout(tmp_path)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        # One Ray for all of them (starting one per command costs 10-20 s each here).
        "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address,
        "SCALESWEEP_NO_VIEW": "1",
    }
    env.pop("PYTHONPATH", None)
    with ThreadPoolExecutor(len(CHAINS)) as pool:
        failures = [f for f in pool.map(lambda chain: _run_chain(chain, work, env), CHAINS) if f]
    assert not failures, "\n\n".join(failures)
    assert (work / "sweep.schema.json").stat().st_size > 1000
    assert (work / "sweeps" / "my-sweep.yaml").is_file()
    assert (work / "results" / "scaling" / "fit" / "forecast.json").is_file()
