"""The live scaling page: served by the driver on 127.0.0.1 while a sweep runs, written as one
self-contained HTML file in the sweep folder at the end.

Three addresses and nothing else: `/` (the page), `/plotly.min.js` (from the installed plotly
package) and `/state.json?since=<rows>` (the sweep's state, sweeps.watch.state, with only the
curve rows the page lacks). No request names a file, so nothing outside the sweep folder can
be read; a request whose Host header is not this server's own address is refused, so a web page
that rebinds its DNS name to 127.0.0.1 cannot read the sweep through the user's browser.

The fits run in a niced background process (sweeps.watch.fit_preview, analysis's Python API), at
most one at a time, started when trials finish; the page draws their latest finished outputs.

    view = LiveView(sweep_dir, ViewConfig())
    print(f"Live page: {view.start()}")            # http://127.0.0.1:<free port>/
    view.follow(progress, tables); view.trial_ended(); ...; view.close()   # -> view.html
"""

from __future__ import annotations

import gzip
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
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel

from contract.config import FROZEN
from contract.results import FINISHED, STATUS, STOPPED
from sweeps.watch.page import PLOTLY_JS, plotly_path, plotly_source, render_page, state_json
from sweeps.watch.progress import summary_text
from sweeps.watch.state import FIT_DIR, FIT_LOG, SweepState

NO_VIEW_ENV = "SCALESWEEP_NO_VIEW"
"""Set to 1 to turn the page off like `--no-view` (test suites, batch jobs)."""
PAGE_FILE = "view.html"
"""The offline copy of the page, in the sweep folder."""
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ViewConfig(BaseModel):
    """Where the live page is served, how often it polls and how much fitting it does."""

    model_config = FROZEN

    host: str = "127.0.0.1"
    """Interface to serve on: the loopback only, unless a user asks for another."""
    refresh_s: float = 5.0
    """Seconds between the page's polls of state.json."""
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


class _Handler(BaseHTTPRequestHandler):
    view: LiveView  # set on the subclass each server makes

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if not self.view.host_allowed(self.headers.get("Host")):
            self._send(403, b"unknown Host header\n", "text/plain; charset=utf-8")
            return
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._send(200, self.view.page(live=True).encode("utf-8"), "text/html; charset=utf-8")
        elif url.path == "/state.json":
            since = parse_qs(url.query).get("since", ["0"])[0]
            if not since.isdigit():
                self._send(400, b"since: expected a row count\n", "text/plain; charset=utf-8")
                return
            body = state_json(self.view.state(int(since))).encode("utf-8")
            self._send(200, body, "application/json")
        elif url.path == "/" + PLOTLY_JS:
            self._send_library()
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _send_library(self) -> None:
        zipped = "gzip" in self.headers.get("Accept-Encoding", "")
        body = self.view.library(zipped)
        extra = {"Cache-Control": "max-age=86400"}
        if zipped:
            extra["Content-Encoding"] = "gzip"
        self._send(200, body, "text/javascript; charset=utf-8", extra)

    def _send(self, code: int, body: bytes, kind: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
            "img-src data:; connect-src 'self'; frame-ancestors 'none'",
        )
        for key, value in (extra or {"Cache-Control": "no-store"}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # the terminal belongs to the sweep
        pass


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
        self._state = SweepState(self.sweep_dir)
        self._progress: tuple[Any, Any] | None = None
        self._library: dict[bool, bytes] = {}
        self._hosts: set[str] = set()

    def __getstate__(self) -> dict:
        """Tune pickles its callbacks into the experiment state: keep the folder and config,
        not the server, the fit process or the lock (a restored copy serves nothing)."""
        return {"sweep_dir": self.sweep_dir, "config": self.config, "_fitted": self._fitted}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["sweep_dir"], state["config"])
        self._fitted = state["_fitted"]

    def start(self) -> str:
        """Serve the page on a free port of `config.host`; returns its URL."""
        handler = type("Handler", (_Handler,), {"view": self})
        self._server = ThreadingHTTPServer((self.config.host, 0), handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        names = {self.config.host} | ({"localhost"} if self.config.host == "127.0.0.1" else set())
        self._hosts = {f"{name}:{port}" for name in names}
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://{self.config.host}:{port}/"

    def host_allowed(self, host: str | None) -> bool:
        """Only this server's own address:port (what a browser sends for the URL printed)."""
        return host is not None and host.strip().lower() in self._hosts

    def follow(self, progress: Any, tables: Any) -> None:
        """Show this stage's progress (sweeps.watch.progress) as the terminal does."""
        self._progress = (progress, tables)

    def _progress_state(self) -> dict[str, Any] | None:
        if self._progress is None:
            return None
        progress, tables = self._progress
        for _ in range(3):  # the driver's thread may change the tables under this read
            try:
                snap = progress.snapshot(tables)
            except RuntimeError:
                continue
            return {
                "done": snap.done,
                "total": snap.total,
                "failed": snap.failed,
                "running": len(snap.running),
                "eta_s": snap.eta_s,
                "line": summary_text(snap),
            }
        return None

    def state(self, since: int = 0) -> dict[str, Any]:
        """The page's data, leaving out the first `since` curve rows."""
        with self._lock:
            return self._state.read(since, self._progress_state())

    def library(self, zipped: bool) -> bytes:
        """plotly.js from the installed package, read (and compressed) once."""
        if zipped not in self._library:
            raw = plotly_path().read_bytes()
            self._library[zipped] = gzip.compress(raw, 6) if zipped else raw
        return self._library[zipped]

    def page(self, live: bool) -> str:
        """The live shell (state as of now; polls for the rest) or the offline file."""
        if live:
            return render_page(self.state(), refresh_ms=int(self.config.refresh_s * 1000))
        return render_page(self.state(), plotly_js=plotly_source())

    @property
    def fitting(self) -> bool:
        return self._fit is not None and self._fit.poll() is None

    def _finished(self) -> int:
        return sum(r[STATUS] in (FINISHED, STOPPED) for r in self.state(sys.maxsize)["trials"])

    def trial_ended(self, final: bool = False) -> None:
        """Start a fit over the finished trials unless one runs, nothing new finished or (while
        trials run, not `final`) the last one started under `min_interval_s` ago.
        Never blocks: the driver's callback returns at once."""
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
        """The fit in a niced process, into a scratch folder swapped in when it wrote its
        charts, so the page never shows half-written outputs."""
        out = self.sweep_dir / FIT_DIR
        scratch = out.with_name("fit.next")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        stages = self.state(sys.maxsize)["stages"]
        where = ["--where", f"stage == '{stages[0]['name']}'"] if len(stages) > 1 else []
        fit = shlex.join(
            [sys.executable, "-m", "sweeps.watch.fit_preview", str(self.sweep_dir)]
            + ["--out", str(scratch), "--bootstrap", str(self.config.bootstrap), *where]
        )
        q = {k: shlex.quote(str(v)) for k, v in {"out": out, "new": scratch}.items()}
        log = f"{q['new']}/{FIT_LOG}"
        # Swap in whatever the fit wrote (the parabolas come before the laws); a fit that wrote
        # nothing leaves its log for the page to show.
        script = (
            f"{fit} > {log} 2>&1; if [ -f {q['new']}/charts.json ]; then rm -rf {q['out']} && "
            f"mv {q['new']} {q['out']}; else mkdir -p {q['out']} && cp {log} {q['out']}/{FIT_LOG}; fi"
        )
        return subprocess.Popen(
            # Below the trials' own priority (Ray runs its workers at nice 15): the preview
            # fit only ever uses CPU the trials leave idle.
            ["nice", "-n", "19", "sh", "-c", script],
            cwd=_PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": str(_PROJECT_ROOT)},
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
        self._progress = None  # the file shows the final counts, not a last ETA
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
