"""The README's pictures of the live page, taken by the tests' own headless Chromium
(tests/sweeps/browser.py) during and after real sweeps: the forecast loop (its IsoFLOP grid
mid-run, then the offline page once the forecast is scored) and an RL sweep; or, with
``--attach``, the main job started elsewhere (``make run``), read from its live page's URL.

    python docs/screenshots.py --storage /tmp/shots               # both, ~20-30 min on 2 cores
    python docs/screenshots.py --storage /tmp/shots --only rl     # ~2 min
    python docs/screenshots.py --storage /tmp/shots --only forecast --resume   # after a stop
    python docs/screenshots.py --attach http://127.0.0.1:41545/ --storage results   # make run's
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sweeps.watch.server import NO_VIEW_ENV, PAGE_FILE  # noqa: E402
from tests.sweeps.browser import screenshot  # noqa: E402

DOCS = REPO / "docs"


def _start(spec: str, storage: Path, resume: bool = False) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if k != NO_VIEW_ENV}
    sweep = subprocess.Popen(
        [sys.executable, "-m", "sweeps.run", spec, "--storage", str(storage)]
        + (["--resume"] if resume else []),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in sweep.stdout:
        print(line, end="", flush=True)
        if found := re.search(r"Live page: (http://127\.0\.0\.1:\d+/)", line):
            return sweep, found.group(1)
    raise SystemExit(f"{spec}: the sweep printed no live page URL (exit {sweep.wait()})")


def _finished(url: str, stage: str) -> int:
    with urllib.request.urlopen(f"{url}state.json?since=999999999", timeout=10) as res:
        trials = json.loads(res.read())["trials"]
    return sum(r["status"] == "TERMINATED" and r["stage"] == stage for r in trials)


def _finish(sweep: subprocess.Popen) -> None:
    for line in sweep.stdout:
        print(line, end="", flush=True)
    if sweep.wait() != 0:
        raise SystemExit(f"the sweep failed (exit {sweep.returncode})")


def forecast_loop(storage: Path, resume: bool = False) -> None:
    """Mid-run once 8 of the grid's 13 trials have finished and a fit has landed; then the
    offline page after the forecast run is scored. `resume` goes on with a stopped run and
    keeps the mid-run picture it took."""
    sweep, url = _start("sweeps/forecast.yaml", storage, resume)
    folder = storage / "forecast"
    while sweep.poll() is None and not resume:
        if _finished(url, "grid") >= 8 and (folder / "view" / "fit" / "charts.json").exists():
            screenshot(url, DOCS / "live_midrun.png", size="1400,1700", budget_ms=6000)
            print(f"wrote {DOCS / 'live_midrun.png'}", flush=True)
            break
        time.sleep(5)
    _finish(sweep)
    out = DOCS / "view_forecast_scored.png"
    screenshot((folder / PAGE_FILE).as_uri(), out, size="1400,2900", budget_ms=6000)
    print(f"wrote {out}", flush=True)


def attach(url: str, storage: Path, name: str = "scaling", mid_grid: int = 17) -> None:
    """The main job's page mid-grid (``mid_grid`` trials done and a fit landed), then its offline
    page once the forecast run is scored; the sweep runs elsewhere and is only read."""
    folder = storage / name
    mid = DOCS / "main_midrun.png"
    while _finished(url, "grid") < mid_grid:
        time.sleep(10)
    while not (folder / "view" / "fit" / "charts.json").exists():
        time.sleep(10)
    screenshot(url, mid, size="1400,1700", budget_ms=6000)
    print(f"wrote {mid}", flush=True)
    while True:
        try:
            with urllib.request.urlopen(f"{url}state.json?since=999999999", timeout=10) as res:
                scored = any(
                    f and f.get("score") for f in json.loads(res.read())["forecasts"].values()
                )
        except OSError:
            scored = True  # the sweep ended and its server with it: the offline page is final
        if scored:
            break
        time.sleep(10)
    time.sleep(5)
    out = DOCS / "main_scored.png"
    screenshot((folder / PAGE_FILE).resolve().as_uri(), out, size="1400,2900", budget_ms=6000)
    print(f"wrote {out}", flush=True)


def rl(storage: Path) -> None:
    """The offline page of the RL smoke sweep: return against env steps."""
    sweep, _ = _start("sweeps/rl_smoke.yaml", storage)
    _finish(sweep)
    out = DOCS / "view_rl.png"
    screenshot((storage / "rl_smoke" / PAGE_FILE).as_uri(), out, size="1400,900", budget_ms=6000)
    print(f"wrote {out}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--storage", type=Path, required=True, help="where the sweeps write")
    p.add_argument("--only", choices=("forecast", "rl"))
    p.add_argument("--resume", action="store_true", help="go on with a stopped forecast loop")
    p.add_argument("--attach", metavar="URL", help="a running main job's live page")
    args = p.parse_args()
    if args.attach:
        attach(args.attach.rstrip("/") + "/", args.storage)
        return
    if args.only in (None, "rl"):
        rl(args.storage)
    if args.only in (None, "forecast"):
        forecast_loop(args.storage, args.resume)


if __name__ == "__main__":
    main()
