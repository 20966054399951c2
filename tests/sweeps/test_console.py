"""Console scripts as a new user meets them: --version, usage lines that name the command,
and packaging metadata that installs without deprecation screens."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from analysis import fit_scaling
from contract.version import package_version
from sweeps import cli, new

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = [
    ("scalesweep-run", cli.main),
    ("scalesweep-new", new.main),
    ("scalesweep-fit", fit_scaling.main),
]


@pytest.mark.parametrize("script, main", SCRIPTS)
def test_version_and_usage_name_the_console_script(script, main, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [f"/venv/bin/{script}"])
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"{script} (scalesweep) {package_version()}"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert capsys.readouterr().out.startswith(f"usage: {script} ")


def test_run_from_a_checkout_names_the_module_command(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/repo/sweeps/run.py"])
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert capsys.readouterr().out.startswith("usage: python -m sweeps.run ")


def test_packaging_metadata():
    text = (REPO / "pyproject.toml").read_text()  # tomllib is 3.11+, the project runs on 3.10
    assert '\nlicense = "Apache-2.0"\n' in text  # an SPDX string: no setuptools deprecation
    for script in ("scalesweep-run", "scalesweep-fit"):
        assert f"\n{script} = " in text
    assert '\nscalesweep-new = "sweeps.new:main"\n' in text
    assert '\nwandb = ["wandb' in text and '\nmlflow = ["mlflow' in text
