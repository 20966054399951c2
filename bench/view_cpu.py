"""What an open live page costs the driver: CPU time of the process serving it while headless
Chromium keeps the page open (polling state.json every 5 s), against the same process with no
page open, on a folder shaped like the main job's with a report appended every 2 s and
trials.csv rewritten every 10 s as a running sweep does.

    python bench/view_cpu.py                  # 2 x 120 s
    python bench/view_cpu.py --seconds 600    # a longer, steadier measurement
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sweeps.watch.server import LiveView, ViewConfig  # noqa: E402
from tests.sweeps.browser import FLAGS, chromium  # noqa: E402
from tests.sweeps.fake_sweep import append_curve, write_sweep  # noqa: E402


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sweep_activity(folder: Path, stop: threading.Event) -> None:
    """A report every 2 s; trials.csv rewritten (touched) every 10 s."""
    tick = 0
    while not stop.wait(2.0):
        tick += 1
        append_curve(folder, "t50abcd", 1e6 + tick, 3.0 - tick * 1e-4)
        if tick % 5 == 0:
            path = folder / "trials.csv"
            path.write_bytes(path.read_bytes())


def measure(folder: Path, seconds: float, with_page: bool) -> tuple[float, int]:
    """(driver CPU seconds over `seconds`, state.json requests served)."""
    view = LiveView(folder, ViewConfig(min_finished=10_000))
    served = [0]
    state = view.state

    def counted(since: int = 0) -> dict:
        served[0] += 1
        return state(since)

    view.state = counted
    url = view.start()
    stop = threading.Event()
    activity = threading.Thread(target=_sweep_activity, args=(folder, stop), daemon=True)
    browser = None
    with tempfile.TemporaryDirectory() as profile:
        start = _cpu()
        activity.start()
        if with_page:
            browser = subprocess.Popen(
                [
                    chromium(),
                    *FLAGS,
                    f"--user-data-dir={profile}",
                    "--remote-debugging-port=0",
                    url,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        time.sleep(seconds)
        used = _cpu() - start
        stop.set()
        if browser is not None:
            browser.terminate()
            browser.wait()
    view.close(wait=False)
    return used, served[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_sweep(Path(tmp) / "scaling", finished=30, running=2)
        idle, _ = measure(folder, args.seconds, with_page=False)
        folder = write_sweep(Path(tmp) / "scaling2", finished=30, running=2)
        busy, polls = measure(folder, args.seconds, with_page=True)
    page = max(0.0, busy - idle)
    print(f"driver CPU over {args.seconds:.0f} s, no page open:   {idle:.3f} s")
    print(f"driver CPU over {args.seconds:.0f} s, page open:      {busy:.3f} s ({polls} requests)")
    print(f"the open page's share: {page:.3f} s = {100 * page / args.seconds:.3f} % of a core")
    print(f"per state.json poll: {1000 * page / max(polls, 1):.2f} ms of CPU")
    print(f"ratio page open / no page: {busy / idle:.2f}x" if idle > 0 else "no idle CPU measured")


if __name__ == "__main__":
    main()
