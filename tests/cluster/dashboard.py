"""Ray's dashboard as a user meets it on a token-authenticated cluster: sign in with the token,
list the actors through the dashboard's own API, and look at its Actors page in a real headless
Chromium signed in the way the page itself signs in (POST /api/authenticate, which sets the
session cookie).

Run inside the network namespace of the loopback cluster (the dashboard listens on its
loopback only), so a command line prints JSON for the test to read:

    python tests/cluster/dashboard.py actors http://127.0.0.1:8265 ~/.ray/auth_token
    python tests/cluster/dashboard.py screenshot http://127.0.0.1:8265 ~/.ray/auth_token out.png
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def _get(url: str, cookie: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=20) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, None
    except OSError:  # nothing answers (yet): status 0
        return 0, None


def sign_in(base: str, token: str) -> tuple[int, str | None]:
    """POST the token as the dashboard's sign-in dialog does; (status, the session cookie)."""
    request = urllib.request.Request(
        f"{base}/api/authenticate", method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as res:
            cookie = res.headers.get("Set-Cookie", "").split(";", 1)[0]
            return res.status, cookie or None
    except urllib.error.HTTPError as err:
        return err.code, None


def actors(base: str, token: str) -> dict[str, Any]:
    """What a signed-in user reads from the state API: every actor with its class, repr name
    (Ray's "Repr" column), state and the IP of its node; and the status without signing in."""
    anonymous, _ = _get(f"{base}/api/v0/actors")
    if anonymous == 0:
        return {"anonymous": 0}
    status, cookie = sign_in(base, token)
    wrong, _ = sign_in(base, "not-the-token")
    out: dict[str, Any] = {"anonymous": anonymous, "sign_in": status, "wrong_token": wrong}
    if cookie is None:
        return out
    _, nodes = _get(f"{base}/api/v0/nodes?limit=100", cookie)
    ips = {n["node_id"]: n["node_ip"] for n in nodes["data"]["result"]["result"]}
    _, found = _get(f"{base}/api/v0/actors?detail=1&limit=1000", cookie)
    out["actors"] = [
        {
            "class_name": a.get("class_name"),
            "repr_name": a.get("repr_name"),
            "state": a.get("state"),
            "node_ip": ips.get(a.get("node_id")),
        }
        for a in found["data"]["result"]["result"]
    ]
    return out


async def _page(ws_url: str, base: str, token: str, out: Path, size: tuple[int, int]) -> str:
    """Drive one browser tab over the DevTools protocol: sign in, open the Actors page, wait
    for its table, capture it; returns the page's visible text."""
    import aiohttp  # Ray's dashboard dependency (ray[default])

    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url, max_msg_size=0) as ws:
            ids = iter(range(1, 1_000_000))

            async def call(method: str, **params: Any) -> dict[str, Any]:
                number = next(ids)
                await ws.send_json({"id": number, "method": method, "params": params})
                async for msg in ws:
                    data = json.loads(msg.data)
                    if data.get("id") == number:
                        return data.get("result", {})
                raise RuntimeError(f"the browser closed during {method}")

            async def text() -> str:
                got = await call("Runtime.evaluate", expression="document.body.innerText")
                return got.get("result", {}).get("value", "")

            width, height = size
            await call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                       deviceScaleFactor=1, mobile=False)  # fmt: skip
            # Sign in from a page of the dashboard's origin (the cookie is SameSite=Strict),
            # then load the app itself, which finds the session and skips its token dialog.
            await call("Page.navigate", url=f"{base}/api/authentication_mode")
            await asyncio.sleep(1)
            post = (
                f"fetch('/api/authenticate', {{method: 'POST', headers: "
                f"{{Authorization: 'Bearer {token}'}}}}).then(r => r.status)"
            )
            signed = await call("Runtime.evaluate", expression=post, awaitPromise=True)
            if signed.get("result", {}).get("value") != 200:
                raise RuntimeError(f"sign-in from the page failed: {signed}")
            await call("Page.navigate", url=f"{base}/#/actors")
            deadline = time.monotonic() + 40
            while "SweepTrial" not in (seen := await text()) and time.monotonic() < deadline:
                await asyncio.sleep(1)
            await asyncio.sleep(2)  # the table's last rows and the charts settle
            shot = await call("Page.captureScreenshot", format="png")
            out.write_bytes(base64.b64decode(shot["data"]))
            return seen


def screenshot(base: str, token: str, out: Path, size: tuple[int, int] = (1600, 520)) -> str:
    """A PNG of the dashboard's Actors page after signing in; returns the page's text."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise RuntimeError("chromium is not installed: run `make browser`")
    # Chromium's helper processes can still be writing the profile when the browser itself
    # has been killed: the whole group is killed, and a file left behind is not an error.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--disable-background-networking", "--disable-sync",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not port_file.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            port = port_file.read_text().split()[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                tabs = json.loads(r.read())
            ws_url = next(t["webSocketDebuggerUrl"] for t in tabs if t["type"] == "page")
            return asyncio.run(_page(ws_url, base, token, out, size))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main(argv: list[str]) -> int:
    what, base, token_file, *rest = argv
    token = Path(token_file).read_text().strip()
    if what == "actors":
        print(json.dumps(actors(base, token)))
    else:
        print(json.dumps({"text": screenshot(base, token, Path(rest[0]))}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
