"""The live page's HTML: a shell around the state (sweeps.watch.state), drawn in the browser by
page.js with plotly.js, the charting library shipped inside the `plotly` package.

Live, the driver serves the shell, plotly.min.js from the installed package and state.json
(what changed since the page's last poll); the shell carries the state as of its request so
the first paint needs no second round trip. Offline (`view.html`) the same shell inlines
plotly.js and the whole state: one file that opens without a network or a server.

    html = render_page(state, refresh_ms=5000)            # live: loads plotly.min.js, polls
    html = render_page(state, plotly_js=plotly_source())  # view.html: self-contained
"""

from __future__ import annotations

import html
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

from contract.fit_outputs import (
    N_POINTS,
    PAGE_HEADLINE,
    PRECISION,
    SET_ASIDE,
    SKIPPED,
    TRUSTED,
    WARNINGS,
)

PLOTLY_JS = "plotly.min.js"
"""The served name of plotly.js (and its file name inside the plotly package)."""
_APP_JS = Path(__file__).with_name("page.js")
FIT_KEYS = {
    "n_points": N_POINTS,
    "trusted": TRUSTED,
    "warnings": WARNINGS,
    "set_aside": SET_ASIDE,
    "precision": PRECISION,
    "skipped": SKIPPED,
    "headline": [[law, list(keys)] for law, keys in PAGE_HEADLINE],
}
"""The fit.json keys page.js reads, by the names the fit writes them under (JSON in the fit
section's data-keys attribute)."""
_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.2em 1.5em;color:#222}
h1{margin:.2em 0}
#progress{margin:.5em 0 1em}
#bar{width:22em;height:1.1em;vertical-align:middle}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:.8em}
.chart{border:1px solid #ddd;min-height:420px}
table.trials{border-collapse:collapse;font-size:.85em}
table.trials td,table.trials th{border:1px solid #ccc;padding:.15em .55em;text-align:right}
table.trials td:first-child,table.trials th:first-child{text-align:left}
table.trials thead th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}
tr.group th{text-align:left;background:#eef3f8}
tr.status-RUNNING td{background:#fff8e0}
tr.status-ERROR td{color:#b00}
.note{color:#777}
#offline{background:#fde;padding:.3em .6em}
"""


@cache
def plotly_path() -> Path:
    """plotly.min.js inside the installed plotly package, found without importing plotly
    (the driver has no use for its Python side)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the plotly package is not installed (pip install plotly)")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / PLOTLY_JS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: plotly.js is missing from the plotly package")
    return path


def plotly_source() -> str:
    """plotly.js as text, safe to inline in a <script> element."""
    return _script_safe(plotly_path().read_text(encoding="utf-8"))


def _script_safe(text: str) -> str:
    return text.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def state_json(state: dict[str, Any]) -> str:
    """The state as JSON that cannot end its <script> element: <, > and & are escaped as
    \\u003c etc., which JSON.parse reads back unchanged."""
    text = json.dumps(state, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(
    state: dict[str, Any], refresh_ms: int | None = None, plotly_js: str | None = None
) -> str:
    """The page: live when `refresh_ms` is given (plotly.min.js loaded from the driver, state
    polled), else the offline file (`plotly_js` inlined, the state drawn once)."""
    name = html.escape(str(state.get("name", "")))
    library = (
        f"<script>{plotly_js}</script>"
        if plotly_js is not None
        else f'<script src="{PLOTLY_JS}"></script>'
    )
    refresh = f' data-refresh-ms="{int(refresh_ms)}"' if refresh_ms else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{name}</title><style>{_STYLE}</style>{library}</head>"
        f"<body{refresh}><h1>{name}</h1>"
        '<p id="offline" hidden>The driver no longer answers (the sweep ended or stopped): '
        "this is its last state; <code>view.html</code> in the sweep folder has the final one.</p>"
        '<div id="progress"></div><div id="main"></div>'
        f'<h2>Fit</h2><div id="fit" data-keys="{html.escape(json.dumps(FIT_KEYS))}"></div>'
        f'<script type="application/json" id="state">{state_json(state)}</script>'
        f"<script>{_script_safe(_APP_JS.read_text(encoding='utf-8'))}</script>"
        "</body></html>"
    )
