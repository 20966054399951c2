"""cluster.yaml passes the checks `ray up` makes before it contacts a cloud, and says what it must.

`ray up` (ray/autoscaler/_private/commands.py: create_or_update_cluster -> _bootstrap_config)
loads the YAML, merges the provider's defaults (prepare_config), validates the result against
ray-schema.json (validate_config) and only then asks the provider to fill in and bootstrap.
These tests stop before that last step, so they need no credentials and no network.

    pytest tests/sweeps/test_cluster_yaml.py
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml

# Private autoscaler helpers: the project pins ray==2.60.0 (pyproject.toml), and
# test_ray_matches_the_pin below fails first if the installed Ray drifts from that pin.
from ray.autoscaler._private.util import prepare_config, validate_config

from sweeps.cli import build_parser

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_YAML = REPO_ROOT / "cluster.yaml"
CLUSTER_DOC = REPO_ROOT / "README.md"
SHARED_STORAGE = "/mnt/shared/results"


@pytest.fixture(scope="module")
def text() -> str:
    return CLUSTER_YAML.read_text()


@pytest.fixture(scope="module")
def config(text: str) -> dict:
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict), "cluster.yaml must be a mapping"
    return loaded


@pytest.fixture(scope="module")
def prepared(config: dict) -> dict:
    """The config as `ray up` sees it after merging the provider's defaults."""
    return prepare_config(copy.deepcopy(config))


def _node_types(config: dict) -> dict[str, dict]:
    return config["available_node_types"]


def _commands(config: dict, key: str) -> list[str]:
    return [str(c) for c in config.get(key) or []]


def _project_mount(config: dict) -> str:
    """The remote path that `file_mounts` syncs the repository root to."""
    found = [r for r, local in config["file_mounts"].items() if REPO_ROOT / local == REPO_ROOT]
    assert len(found) == 1, "file_mounts must sync the repository root exactly once"
    return found[0]


def _python_sweeps_commands(text: str) -> list[list[str]]:
    """Argument lists of every `python -m sweeps.run ...` in the text, up to a quote or &&."""
    found = []
    for match in re.finditer(r"python -m sweeps\.run ([^'`\n]*)", text):
        found.append(shlex.split(match.group(1).split("&&")[0]))
    return found


def test_ray_matches_the_pin() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    pin = re.search(r'"ray\[[^\]]*\]==([\w.]+)"', pyproject)
    assert pin, "pyproject.toml no longer pins ray with =="
    assert ray.__version__ == pin.group(1)


def test_written_config_matches_ray_schema(config: dict) -> None:
    schema_path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    jsonschema.validate(config, json.loads(schema_path.read_text()))


def test_prepared_config_validates_like_ray_up(config: dict, prepared: dict) -> None:
    validate_config(prepared)
    assert prepared["head_node_type"] == "head"
    head = _node_types(prepared)["head"]
    assert (head["min_workers"], head["max_workers"]) == (0, 0)
    # The common setup runs before each role's own commands, as the merge promises.
    setup = _commands(config, "setup_commands")
    assert prepared["head_setup_commands"][: len(setup)] == setup
    assert prepared["worker_setup_commands"][: len(setup)] == setup


def test_validation_rejects_a_broken_copy(prepared: dict) -> None:
    """The validator is not a no-op: a misspelt key and a dangling head type both fail."""
    misspelt = {**copy.deepcopy(prepared), "max_worker": 3}
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        validate_config(misspelt)
    dangling = {**copy.deepcopy(prepared), "head_node_type": "no_such_type"}
    with pytest.raises(ValueError, match="head_node_type"):
        validate_config(dangling)


def test_head_runs_no_trials(config: dict) -> None:
    head = _node_types(config)[config["head_node_type"]]
    assert head["resources"].get("CPU") == 0
    assert not head["resources"].get("GPU")


def test_cpu_and_gpu_worker_types(config: dict) -> None:
    workers = {k: v for k, v in _node_types(config).items() if k != config["head_node_type"]}
    gpu = [v for v in workers.values() if v["resources"].get("GPU", 0) >= 1]
    cpu = [v for v in workers.values() if v["resources"].get("CPU", 0) > 0 and v not in gpu]
    assert gpu and cpu
    # Idle GPUs cost money: GPU nodes exist only while GPU trials wait for them.
    assert all(v.get("min_workers", 0) == 0 and v["max_workers"] > 0 for v in gpu)
    assert sum(v["max_workers"] for v in workers.values()) <= config["max_workers"]


def test_availability_zones_are_in_the_region(config: dict) -> None:
    provider = config["provider"]
    zones = provider["availability_zone"].split(",")
    assert zones and all(z.startswith(provider["region"]) for z in zones)


def test_file_mount_sources_exist(config: dict) -> None:
    mounts = config["file_mounts"]
    assert mounts, "file_mounts must sync the project to every node"
    for remote, local in mounts.items():
        source = REPO_ROOT / local
        assert source.exists(), f"file_mounts.{remote}: {local} does not exist in the repo"
    assert _project_mount(config) and (REPO_ROOT / "pyproject.toml").is_file()


def test_project_sync_leaves_out_local_state(config: dict) -> None:
    excluded = {p.strip("/") for p in config.get("rsync_exclude") or []}
    if ".gitignore" in (config.get("rsync_filter") or []):
        for line in (REPO_ROOT / ".gitignore").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                excluded.add(line.strip().strip("/"))
    assert {".venv", ".git", "results"} <= excluded


def test_setup_installs_project_and_torch(config: dict) -> None:
    project = _project_mount(config)
    setup = _commands(config, "setup_commands")
    assert any("pip install" in c and f"-e {project}" in c for c in setup)
    torch_install = next(c for c in setup if "torch" in c and "pip install" in c)
    assert "nvidia-smi" in torch_install
    assert "download.pytorch.org/whl/cpu" in torch_install
    # torch must be in place before the project resolves `torch>=2.3`.
    assert setup.index(torch_install) < next(i for i, c in enumerate(setup) if "-e " in c)
    # The AWS autoscaler on the head launches workers through boto3.
    assert any("boto3" in c for c in _commands(config, "head_setup_commands"))


def test_ray_start_commands(config: dict) -> None:
    head = " ".join(_commands(config, "head_start_ray_commands"))
    worker = " ".join(_commands(config, "worker_start_ray_commands"))
    assert "ray start --head --port=6379" in head
    assert "--dashboard-host=127.0.0.1" in head
    assert "--autoscaling-config=~/ray_bootstrap_config.yaml" in head
    assert "--address=$RAY_HEAD_IP:6379" in worker
    assert "0.0.0.0" not in head + worker


def test_token_auth_reaches_every_node(config: dict) -> None:
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        assert any("RAY_AUTH_MODE=token ray start" in c for c in _commands(config, key)), key
    assert any("get-auth-token --generate" in c for c in _commands(config, "head_setup_commands"))
    assert "~/.ray/auth_token" in config["cluster_synced_files"]


def test_shared_storage_is_mounted_and_documented(config: dict, text: str) -> None:
    mount = next(c for c in _commands(config, "setup_commands") if "/mnt/shared" in c)
    assert "mount" in mount and SHARED_STORAGE in mount
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "shared file system" in header
    for command in (
        "ray up cluster.yaml",
        "ray dashboard cluster.yaml",
        f"ray exec cluster.yaml 'cd ~/scalesweep && python -m sweeps.run sweeps/scaling.yaml "
        f"--address auto --storage {SHARED_STORAGE}'",
        f"ray rsync-down cluster.yaml {SHARED_STORAGE}/scaling results/",
        "ray down cluster.yaml",
    ):
        assert command in header


@pytest.mark.parametrize("source", [CLUSTER_YAML, CLUSTER_DOC], ids=lambda p: p.name)
def test_documented_sweep_commands_parse(source: Path) -> None:
    """Every `python -m sweeps.run` shown to users is accepted by the real CLI parser."""
    # Cluster commands are the ones that name an address (the README also shows local runs).
    commands = [a for a in _python_sweeps_commands(source.read_text()) if "--address" in a]
    assert commands, f"{source.name} shows no sweep command"
    for argv in commands:
        args = build_parser().parse_args(argv)
        assert (REPO_ROOT / args.spec).is_file(), f"{source.name}: no spec {args.spec}"
        if args.storage is not None:
            assert args.storage == SHARED_STORAGE


def test_onprem_setup_installs_the_build_requirement_before_building_without_isolation() -> None:
    """`pip install --no-build-isolation` builds with the nodes' venv's own setuptools, and a
    new venv's bundled one is older than pyproject.toml's [build-system] asks (it failed on the
    SPDX license): an earlier step of the on-prem file installs exactly that requirement."""
    onprem = yaml.safe_load((REPO_ROOT / "docs" / "cluster-onprem.yaml").read_text())
    # tomllib is 3.11+ and the project runs on 3.10: the requirement list is read as text
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    requires = re.search(r"\[build-system\]\s*requires = \[([^]]*)\]", pyproject).group(1)
    steps = onprem["setup_commands"]
    build = next(i for i, step in enumerate(steps) if "--no-build-isolation" in step)
    before = " ".join(steps[:build])
    for requirement in re.findall(r'"[^"]+"', requires):
        assert requirement in before, requirement
