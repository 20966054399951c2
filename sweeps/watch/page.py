"""The scaling page of a sweep folder as one HTML string: trial table, learning curves, fit.

Everything the page shows is read from the folder (trials.csv, curves.csv and the fit's
outputs under view/fit), so the live server and the final offline file render the same
thing; images are inlined as data URIs and the curves are inline SVG drawn here, without
matplotlib, to keep the driver light.

    html = render_page(Path("results/smoke"), refresh_s=5)    # the live page
    html = render_page(Path("results/smoke"))                 # the offline file: no refresh
    Path("results/smoke/view.html").write_text(html)
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import time
from pathlib import Path
from typing import Any

from contract.metrics import EVAL_LOSS, FLOPS, PARAMS, TOKENS
from contract.results import CURVES_FILE, STATUS, TAG, TRIAL_ID, TRIALS_FILE, best_column

FIT_DIR = Path("view") / "fit"
"""Where the background fit writes its plots and JSON, relative to the sweep folder."""
FIT_JSON = "fit.json"
FIT_LOG = "fit.log"
FIT_PLOTS = (
    ("loss_vs_C", "Loss against compute: the compute-optimal frontier and its band"),
    ("compute_law", "Lowest loss per compute and the compute law"),
    ("isoflop", "IsoFLOP curves"),
    ("frontier", "Compute-optimal model size and tokens"),
)
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
_COLUMNS = (
    (TAG, "trial"),
    (STATUS, "status"),
    (PARAMS, "params"),
    (TOKENS, "tokens"),
    (FLOPS, "FLOPs"),
    (best_column(EVAL_LOSS), "best eval loss"),
    ("wall_s", "wall s"),
)
_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:.9em}
td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}
.plots img{max-width:48%;margin:.3em;border:1px solid #eee}
.note{color:#777}
"""


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV table, or none if it is missing (a sweep that has not written it yet)."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _cell(text: str | None) -> str:
    value = _number(text)
    if value is None:
        return html.escape(text or "")
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def trial_table(trials: list[dict[str, str]]) -> str:
    """The trial table, one row per trial in the order the tables list them."""
    head = "".join(f"<th>{label}</th>" for _, label in _COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(key))}</td>" for key, _ in _COLUMNS) + "</tr>"
        for row in trials
    )
    return f'<table id="trials"><tr>{head}</tr>{body}</table>'


def curves_svg(curves: list[dict[str, str]], trials: list[dict[str, str]]) -> str:
    """Eval loss against tokens (log x), one line per trial, coloured by model size.

    Why hand-drawn SVG: matplotlib would add seconds of import and memory to the driver."""
    size_of = {row[TRIAL_ID]: _number(row.get(PARAMS)) for row in trials}
    lines: dict[str, list[tuple[float, float]]] = {}
    for row in curves:
        x, y = _number(row.get(TOKENS)), _number(row.get(EVAL_LOSS))
        if x and x > 0 and y is not None:
            lines.setdefault(row[TRIAL_ID], []).append((math.log10(x), y))
    if not lines:
        return '<p class="note" id="no-curves">No learning curves reported yet.</p>'
    xs = [x for pts in lines.values() for x, _ in pts]
    ys = [y for pts in lines.values() for _, y in pts]
    x0, x1 = min(xs), max(xs) + 1e-9
    y0, y1 = min(ys), max(ys) + 1e-9
    w, h, pad = 640, 360, 50
    sizes = sorted({s for s in size_of.values() if s is not None})
    colour = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(sizes)}

    def at(x: float, y: float) -> str:
        px = pad + (x - x0) / (x1 - x0) * (w - 2 * pad)
        py = h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad)
        return f"{px:.1f},{py:.1f}"

    parts = [
        f'<svg id="curves" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">',
        f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" '
        'fill="none" stroke="#999"/>',
        f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">tokens (log scale): '
        f"{10**x0:.3g} to {10**x1:.3g}</text>",
        f'<text x="12" y="{pad - 12}">{EVAL_LOSS}: {y0:.4g} to {y1:.4g}</text>',
    ]
    for trial_id, pts in lines.items():
        stroke = colour.get(size_of.get(trial_id), "#555")
        path = " ".join(at(x, y) for x, y in sorted(pts))
        parts.append(
            f'<polyline class="curve" fill="none" stroke="{stroke}" stroke-width="1.5" '
            f'points="{path}"><title>{html.escape(trial_id)}</title></polyline>'
        )
    for i, size in enumerate(sizes):
        y = pad + 16 + 16 * i
        parts.append(
            f'<text x="{w - pad - 8}" y="{y}" text-anchor="end" fill="{colour[size]}">'
            f"{size:.3g} params</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _interval(entry: Any) -> str:
    if not isinstance(entry, dict) or "value" not in entry:
        return ""
    lo, hi = entry.get("lo"), entry.get("hi")
    band = f" [{lo:.3g}, {hi:.3g}]" if isinstance(lo, float) and isinstance(hi, float) else ""
    return f"{entry['value']:.4g}{band}"


def fit_headline(fit: dict[str, Any]) -> str:
    """The fit's headline numbers: each law's exponents with intervals, its loss forecasts, and
    the trust verdict, from the JSON that analysis/fit_scaling.py writes."""
    items = [f"<li>runs fitted: {fit.get('n_points', '?')}; trusted: {fit.get('trusted')}</li>"]
    for law, keys in (
        ("compute", ("E", "alpha")),
        ("envelope", ("a", "b")),
        ("chinchilla", ("alpha", "beta", "a")),
    ):
        section = fit.get(law)
        if not isinstance(section, dict):
            continue
        numbers = ", ".join(f"{k} = {_interval(section.get(k))}" for k in keys if k in section)
        for pred in section.get("predictions", []):
            if pred.get("quantity") in ("loss", "loss_opt"):
                numbers += f"; loss at C={pred['C']:.3g}: {_interval(pred)}"
        items.append(f"<li><b>{law}</b>: {html.escape(numbers)}</li>")
    for law, why in (fit.get("skipped") or {}).items():
        items.append(f'<li class="note">{html.escape(law)} skipped: {html.escape(why)}</li>')
    return f'<ul id="fit-headline">{"".join(items)}</ul>'


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def fit_section(sweep_dir: Path, fitting: bool) -> str:
    """The latest finished fit (plots inlined), or a line saying why there is none yet."""
    folder = sweep_dir / FIT_DIR
    state = " A newer fit is running." if fitting else ""
    try:
        fit = json.loads((folder / FIT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log = folder / FIT_LOG
        tail = (
            log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
            if log.exists()
            else []
        )
        why = f" The last fit said: {html.escape(tail[0])}" if tail else ""
        return f'<p class="note" id="no-fit">No fit yet.{state}{why}</p>'
    images = "".join(
        f'<figure><img alt="{html.escape(title)}" src="{_data_uri(folder / f"{name}.png")}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
        for name, title in FIT_PLOTS
        if (folder / f"{name}.png").exists()
    )
    return f'{fit_headline(fit)}<p class="note">{state}</p><div class="plots">{images}</div>'


def render_page(sweep_dir: Path, refresh_s: int | None = None, fitting: bool = False) -> str:
    """The whole page; `refresh_s` makes the browser reload it (the live page only)."""
    trials = read_rows(sweep_dir / TRIALS_FILE)
    curves = read_rows(sweep_dir / CURVES_FILE)
    counts: dict[str, int] = {}
    for row in trials:
        counts[row.get(STATUS, "")] = counts.get(row.get(STATUS, ""), 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no trials"
    meta = f'<meta http-equiv="refresh" content="{refresh_s}">' if refresh_s else ""
    name = html.escape(sweep_dir.name)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>{meta}<title>{name}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{name}</h1><p>{summary}; as of {stamp}</p>"
        f"<h2>Trials</h2>{trial_table(trials)}"
        f"<h2>Learning curves</h2>{curves_svg(curves, trials)}"
        f"<h2>Fit</h2>{fit_section(sweep_dir, fitting)}"
        "</body></html>"
    )
