"""Headless Chromium (Debian's package, `make browser`) as the live page's tests use it: the
DOM after the page's scripts ran, a screenshot, and every URL the page asked for.

    dom = page_dom(url)                                 # serialised DOM after 4 s of page time
    urls = page_requests(url, "http://127.0.0.1", tmp_path)  # what the page fetched
    png = screenshot(url, tmp_path / "page.png")
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--disable-gpu",
    "--no-sandbox",
    "--hide-scrollbars",
    # No traffic of the browser's own (updates, sync, safe browsing): every request the net
    # log shows is the page's.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
]


def chromium() -> str:
    """The browser's path; a missing browser is a failed check, never a silent skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed: run `make browser` (apt-get install -y chromium)")
    return found


def _run(args: list[str], budget_ms: int, timeout: float = 90) -> str:
    cmd = [chromium(), *FLAGS, f"--virtual-time-budget={budget_ms}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    return done.stdout


def page_dom(url: str, budget_ms: int = 4000) -> str:
    """The DOM after `budget_ms` of the page's (virtual) time: its scripts have drawn."""
    return _run(["--dump-dom", url], budget_ms)


def screenshot(url: str, path: Path, size: str = "1400,2400", budget_ms: int = 4000) -> Path:
    """A PNG of the page at `size` (width,height in CSS pixels)."""
    _run([f"--window-size={size}", f"--screenshot={path}", url], budget_ms)
    if not path.is_file():
        pytest.fail(f"chromium wrote no screenshot of {url}")
    return path


def page_requests(url: str, site: str, scratch: Path, budget_ms: int = 4000) -> set[str]:
    """Every URL requested on behalf of a page whose top frame is on `site` (e.g.
    "http://127.0.0.1"), from the browser's network log: its network isolation key names the
    page's site, so the browser's own traffic (updates, time, sign-in checks) is told apart
    from a script, style or fetch the page asks for anywhere."""
    log = scratch / "netlog.json"
    _run([f"--log-net-log={log}", "--dump-dom", url], budget_ms)
    text = log.read_text(encoding="utf-8", errors="replace").rstrip()
    if not text.endswith("}"):  # a log closed early lacks its last brackets
        text = text.rstrip(",") + "]}"
    log_json = json.loads(text)
    start = log_json["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = set()
    for event in log_json["events"]:
        params = event.get("params") or {}
        if event["type"] == start and params.get("network_isolation_key", "").split()[:1] == [site]:
            urls.add(params["url"])
    return urls


def offline_dom(url: str, budget_ms: int = 4000) -> str:
    """The DOM with every request off this machine refused (a proxy address nothing listens
    on; loopback and files are still reached): what a page shows without a network."""
    return _run(["--proxy-server=http://127.0.0.1:9", "--dump-dom", url], budget_ms)
