"""The product's version and the name a command was started under, for every console script.

A script installed by pip runs as `scalesweep-run`; the same code run from a checkout runs as
`python -m sweeps.run`. Usage lines name whichever the user typed.

    parser = argparse.ArgumentParser(prog=command_name("scalesweep-run", "python -m sweeps.run"))
    parser.add_argument("--version", action="version", version=version_line())
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DISTRIBUTION = "scalesweep"


def package_version() -> str:
    """The installed version (from the package metadata pip wrote)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def version_line() -> str:
    """What `--version` prints: `%(prog)s` is argparse's own name of the command."""
    return f"%(prog)s ({DISTRIBUTION}) {package_version()}"


def command_name(script: str, fallback: str) -> str:
    """`script` when started as that console script, else `fallback` (e.g. `python -m ...`)."""
    return script if Path(sys.argv[0]).name == script else fallback
