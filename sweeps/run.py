"""Entry point: `python -m sweeps.run SPEC.yaml [...]` (also installed as `scalesweep-run`).

Parsing, validation, planning and --dry-run never import Ray; the sweep itself runs in
`sweeps.tune.runner`, the one module that talks to Ray Tune.

    python -m sweeps.run sweeps/scaling.yaml --dry-run
    python -m sweeps.run sweeps/smoke.yaml --storage /tmp/results
    python -m sweeps.run sweeps/scaling.yaml --address auto --resume
"""

from __future__ import annotations

import sys

from sweeps.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
