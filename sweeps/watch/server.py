"""The live scaling page: served by the driver on 127.0.0.1 while a sweep runs, written as one
self-contained HTML file in the sweep folder at the end.

The fit cannot run in the driver (`sweeps` never imports `analysis`, and a fit takes seconds
of CPU), so a finished trial may start `analysis/fit_scaling.py` as a niced background
process, at most one at a time; the page shows its latest finished outputs.

    view = LiveView(sweep_dir, ViewConfig())
    print(f"Live page: {view.start()}")            # http://127.0.0.1:<free port>/
    view.trial_ended(); ...; view.close()          # close() writes <sweep>/view.html
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pydantic import BaseModel

from contract.config import FROZEN
from contract.results import FINISHED, STATUS, TRIALS_FILE
from sweeps.watch.page import FIT_DIR, FIT_JSON, FIT_LOG, read_rows, render_page

NO_VIEW_ENV = "SCALESWEEP_NO_VIEW"
"""Set to 1 to turn the page off like `--no-view` (test suites, batch jobs)."""
PAGE_FILE = "view.html"
"""The offline copy of the page, in the sweep folder."""
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_FIT_SCRIPT = _PROJECT_ROOT / "analysis" / "fit_scaling.py"


class ViewConfig(BaseModel):
    """How the live page refreshes and how much fitting it does in the background."""

    model_config = FROZEN

    refresh_s: int = 5
    """Seconds between the browser's reloads of the live page."""
    bootstrap: int = 20
    """Bootstrap resamples of the background fit: a preview, not the final analysis."""
    min_finished: int = 3
    """Finished trials before the first fit: fewer cannot constrain any law."""
    min_interval_s: float = 60.0
    """Least time between the starts of two background fits while trials run: on a small
    machine every fit takes CPU from the trials, so the page's fit lags rather than the sweep."""
    final_fit_timeout_s: float = 180.0
    """At the end, how long to wait for a last fit over every finished trial before the
    offline page is written without it."""


class LiveView:
    """The page's HTTP server (a daemon thread) and its background fit process."""

    def __init__(self, sweep_dir: Path, config: ViewConfig | None = None) -> None:
        self.sweep_dir = Path(sweep_dir)
        self.config = config or ViewConfig()
        self._server: ThreadingHTTPServer | None = None
        self._fit: subprocess.Popen | None = None
        self._fitted = 0  # finished trials the running or latest fit started from
        self._started = -math.inf  # monotonic time the latest fit started
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        """Tune pickles its callbacks into the experiment state: keep the folder and config,
        not the server, the fit process or the lock (a restored copy serves nothing)."""
        return {"sweep_dir": self.sweep_dir, "config": self.config, "_fitted": self._fitted}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(
            state, _server=None, _fit=None, _started=-math.inf, _lock=threading.Lock()
        )

    def start(self) -> str:
        """Serve the page on a free port of 127.0.0.1; returns its URL."""
        view = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path not in ("/", "/index.html"):
                    self.send_error(404)
                    return
                body = view.page(live=True).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # the terminal belongs to the sweep
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def page(self, live: bool) -> str:
        """The page as it stands; a table caught mid-write shows on the next reload."""
        try:
            return render_page(
                self.sweep_dir, self.config.refresh_s if live else None, self.fitting
            )
        except (OSError, ValueError, KeyError) as err:
            return f"<html><body><p>Reading the tables: {err}; reloading.</p></body></html>"

    @property
    def fitting(self) -> bool:
        return self._fit is not None and self._fit.poll() is None

    def _finished(self) -> int:
        rows = read_rows(self.sweep_dir / TRIALS_FILE)
        return sum(row.get(STATUS) == FINISHED for row in rows)

    def trial_ended(self, final: bool = False) -> None:
        """Start a fit over the finished trials unless one runs, nothing new finished or (while
        trials run, not `final`) the last one started under `min_interval_s` ago.
        Never blocks: the driver's callback returns at once."""
        with self._lock:
            if self.fitting:
                return
            if not final and time.monotonic() - self._started < self.config.min_interval_s:
                return
            finished = self._finished()
            if finished < self.config.min_finished or finished == self._fitted:
                return
            self._fitted, self._started = finished, time.monotonic()
            self._fit = self._start_fit()

    def _start_fit(self) -> subprocess.Popen:
        """The fit in a niced process, into a scratch folder swapped in when it succeeds, so
        the page never shows half-written plots."""
        out = self.sweep_dir / FIT_DIR
        scratch = out.with_name("fit.next")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        q = {k: shlex.quote(str(v)) for k, v in {"out": out, "new": scratch}.items()}
        fit = shlex.join(
            [sys.executable, str(_FIT_SCRIPT), str(self.sweep_dir), "--out", str(scratch)]
            + ["--json", str(scratch / FIT_JSON), "--bootstrap", str(self.config.bootstrap)]
            + ["--workers", "1", "--quiet"]
        )
        log = f"{q['new']}/{FIT_LOG}"
        # Swap in only a complete result; a failed fit leaves its log for the page to show.
        script = (
            f"if {fit} > {log} 2>&1; then rm -rf {q['out']} && mv {q['new']} {q['out']}; "
            f"else mkdir -p {q['out']} && cp {log} {q['out']}/{FIT_LOG}; fi"
        )
        env = {**os.environ, "PYTHONPATH": str(_PROJECT_ROOT)}
        return subprocess.Popen(
            # Below the trials' own priority (Ray runs its workers at nice 15): the preview
            # fit only ever uses CPU the trials leave idle.
            ["nice", "-n", "19", "sh", "-c", script],
            cwd=_PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: close() can end the whole fit
        )

    def close(self, wait: bool = True) -> Path:
        """Finish the fits (bounded by `final_fit_timeout_s`; not at all on an interrupt,
        `wait=False`), write the offline page, stop serving. Returns the page's path."""
        if wait:
            deadline = time.monotonic() + self.config.final_fit_timeout_s
            self._wait(deadline)
            self.trial_ended(final=True)  # a last fit if trials finished after the previous one
            if self.fitting:
                limit = self.config.final_fit_timeout_s
                print(
                    f"Scaling page: fitting the finished trials (at most {limit:.0f} s)", flush=True
                )
            self._wait(deadline)
        if self.fitting:  # out of time: the offline page shows the last complete fit
            os.killpg(self._fit.pid, signal.SIGKILL)
            self._fit.wait()
        path = self.sweep_dir / PAGE_FILE
        path.write_text(self.page(live=False), encoding="utf-8")
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        return path

    def _wait(self, deadline: float) -> None:
        if self._fit is None:
            return
        try:
            self._fit.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
