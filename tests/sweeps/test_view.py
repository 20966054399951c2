"""The live scaling page: its state from a sweep folder, its server's three addresses and Host
check, and a real headless Chromium drawing it (live and as the offline view.html) from folders
shaped like the main job's, an RL sweep's and a forecast pipeline's; then during and after a
real smoke sweep.

    .venv/bin/pytest -q tests/sweeps/test_view.py             # no Ray (needs chromium)
    .venv/bin/pytest -q tests/sweeps/test_view.py -m ray      # the real sweep
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from contract.results import TRIALS_DIR
from sweeps.folder.tables import load_trials
from sweeps.watch.page import render_page
from sweeps.watch.server import NO_VIEW_ENV, PAGE_FILE, LiveView, ViewConfig
from sweeps.watch.state import FIT_DIR, SweepState
from tests.sweeps.browser import offline_dom, page_dom, page_requests, screenshot
from tests.sweeps.fake_sweep import BUDGETS, append_curve, forecast, write_sweep

REPO = Path(__file__).resolve().parents[2]
HOSTILE = '</script><img src=x onerror="document.title=1">&amp;<b>'
NO_FIT = ViewConfig(min_finished=10_000, refresh_s=0.5)  # the fit process has its own test


def _get(url: str, host: str | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as res:
            return res.status, res.read(), dict(res.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def _attr(dom: str, element_id: str, name: str) -> str | None:
    tag = re.search(rf'<div[^>]*id="{element_id}"[^>]*>', dom)
    found = tag and re.search(rf'data-{name}="([^"]*)"', tag.group(0))
    return found.group(1) if found else None


@pytest.fixture
def served(tmp_path):
    """A main-job-shaped folder mid-run (30 finished, 2 running) served by a LiveView."""
    folder = write_sweep(tmp_path / "scaling", finished=30, running=2)
    view = LiveView(folder, NO_FIT)
    url = view.start()
    yield folder, view, url
    view.close(wait=False)


def test_state_sends_new_curve_rows_only_and_drops_unknown_statuses(tmp_path):
    folder = write_sweep(tmp_path / "scaling", finished=3, running=1)
    rows = (folder / "trials.csv").read_text().splitlines()
    rows[-1] = rows[-1].replace(",PENDING,", ",<b>OWNED</b>,")
    (folder / "trials.csv").write_text("\n".join(rows) + "\n")
    state = SweepState(folder)
    first = state.read(0)
    assert len(first["trials"]) == 35 and first["dropped"] == 1
    seen = len(first["curves"]["rows"])
    assert seen == 3 * 8 + 4 and state.read(seen)["curves"]["rows"] == []
    append_curve(folder, first["trials"][3]["id"], 9e5, 3.25)
    update = state.read(seen)["curves"]
    assert update["from"] == seen and update["rows"] == [[first["trials"][3]["id"], 9e5, 3.25]]


def test_rows_kept_in_trial_folders_need_a_known_status(tmp_path):
    for trial_id, status in (("a1", "TERMINATED"), ("b2", "<script>x</script>")):
        folder = tmp_path / TRIALS_DIR / f"gpt-{trial_id}"
        folder.mkdir(parents=True)
        row = {"trial_id": trial_id, "tag": "gpt", "stage": "main", "status": status}
        (folder / "row.json").write_text(json.dumps(row))
    (tmp_path / "trials.csv").write_text("garbage,\n\x00\n")  # damaged: rebuilt from row.json
    assert list(load_trials(tmp_path)) == ["a1"]


def test_server_answers_its_own_host_on_three_addresses_only(served):
    folder, view, url = served
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
    assert view._server.server_address[0] == "127.0.0.1"
    port = url.split(":")[2].rstrip("/")
    status, body, headers = _get(url)
    assert status == 200 and b"plotly.min.js" in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    for host in ("attacker.example", f"attacker.example:{port}", "127.0.0.1", "127.0.0.1:1"):
        assert _get(url, host)[0] == 403, host  # a DNS-rebinding page sends its own name
    assert _get(url, f"localhost:{port}")[0] == 200
    for path in ("trials.csv", "view.html", "../trials.csv", "%2e%2e/spec.yaml", "state.json/x"):
        assert _get(url + path)[0] == 404, path
    assert _get(url + "state.json?since=-1")[0] == 400
    status, body, _ = _get(url + "state.json?since=100000")
    assert status == 200 and json.loads(body)["curves"]["rows"] == []
    request = urllib.request.Request(url + "plotly.min.js", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as res:
        assert res.headers["Content-Encoding"] == "gzip"
        assert b"plotly.js v" in gzip.decompress(res.read())[:200]


def test_hostile_cell_text_stays_text(tmp_path):
    folder = write_sweep(tmp_path / "scaling", finished=6, tags={"t00abcd": HOSTILE})
    html = render_page(SweepState(folder).read(0), refresh_ms=5000)
    assert "<img" not in html and html.count("</script>") == 3  # the page's own three
    view = LiveView(folder, NO_FIT)
    try:
        dom = page_dom(view.start())
    finally:
        view.close(wait=False)
    assert "<img" not in dom  # an element made from the text would serialise as <img ...>
    assert '&lt;/script&gt;&lt;img src=x onerror="document.title=1"&gt;&amp;amp;&lt;b&gt;' in dom


def test_browser_draws_charts_table_and_updates_in_place(served, tmp_path):
    folder, view, url = served
    polls: list[int] = []
    read = view.state

    def state(since: int = 0) -> dict:
        polls.append(since)
        if len(polls) == 2:  # between the page's load and its first poll: a new report
            append_curve(folder, "t50abcd", 7e6, 2.5)
        return read(since)

    view.state = state
    dom = page_dom(url, budget_ms=6000)
    assert _attr(dom, "isoflop-main", "budget-traces") == str(len(BUDGETS))
    assert _attr(dom, "curves-main", "groups") == str(len(BUDGETS))
    assert _attr(dom, "curves-main", "trials") == "32"  # 30 finished + 2 running report
    for chart in ("isoflop-main", "compute-main", "curves-main"):
        assert _attr(dom, chart, "legend-inside") == "true", chart
    assert dom.count('<tr class="trial') == 36 and dom.count('<tr class="group"') == 6
    first_rows = re.findall(r'<tr class="trial status-(\w+)"', dom)[30:32]
    assert first_rows == ["RUNNING", "RUNNING"]  # the last budget's group lists running first
    assert "FLOPs*" in dom and "cooldown branches" in dom
    # Polled for the rows after the 248 it was served with, and drew the one appended.
    assert polls[1] == 248 and 249 in polls and 'data-curve-rows="249"' in dom
    assert page_requests(url, "http://127.0.0.1", tmp_path) <= {
        url,
        url + "plotly.min.js",
        *(f"{url}state.json?since={n}" for n in range(240, 260)),
    }


ZOOM_PROBE = """<script>
setTimeout(() => {  // zoom as a user would, then read the axis after two more redraws
  const chart = document.getElementById("curves-main");
  Plotly.relayout(chart, {"xaxis.range": [5, 5.5]}).then(() => {
    const from = Number(document.body.dataset.renders);
    const check = setInterval(() => {
      if (Number(document.body.dataset.renders) < from + 2) return;
      clearInterval(check);
      chart.dataset.rangeAfter = chart.layout.xaxis.range.join(",");
    }, 100);
  });
}, 500);
</script>"""


def test_a_redraw_keeps_the_users_zoom(served):
    _, view, url = served
    page = view.page
    view.page = lambda live: page(live).replace("</body>", ZOOM_PROBE + "</body>")
    dom = page_dom(url, budget_ms=8000)
    assert _attr(dom, "curves-main", "range-after") == "5,5.5"


SORT_PROBE = """<script>
setTimeout(() => {  // sort by params twice, as clicks on the header do; note the first group
  const order = () => [...document.querySelectorAll("table.trials tbody tr")].slice(1, 7)
    .map(tr => tr.children[2].textContent).join(" ");
  const click = () => document.querySelector('table.trials th[data-key="params"]').click();
  click();
  document.body.dataset.up = order();
  click();
  document.body.dataset.down = order();
  const trace = document.getElementById("curves-main").data[0];
  document.body.dataset.hover = trace.text + "|" + trace.hovertemplate.includes("%{text}");
}, 500);
</script>"""


def test_table_sorts_and_curves_name_their_trial_on_hover(served):
    _, view, url = served
    page = view.page
    view.page = lambda live: page(live).replace("</body>", SORT_PROBE + "</body>")
    dom = page_dom(url)
    body = re.search(r"<body[^>]*>", dom).group(0)
    up = re.search(r'data-up="([^"]*)"', body).group(1).split()
    down = re.search(r'data-down="([^"]*)"', body).group(1).split()
    assert len(up) == 6 and [float(x) for x in up] == sorted(float(x) for x in up)
    assert down == up[::-1]
    assert 'data-hover="C1.2e+11-N8.84e+03|true"' in body


def test_screenshot_has_drawn_charts(served, tmp_path):
    from PIL import Image

    _, _, url = served
    image = Image.open(screenshot(url, tmp_path / "page.png", size="1400,1300")).convert("RGB")
    top = image.crop((0, 150, 1400, 1000))  # the chart grid under the header
    colours = top.getcolors(maxcolors=1 << 20)
    assert len(colours) > 200, "the charts area is blank"
    viridis = [(68, 1, 84), (65, 68, 135), (42, 120, 142), (34, 168, 132), (122, 209, 81)]
    pixels = {c for _, c in colours}
    drawn = [
        c
        for c in viridis
        if any(sum(abs(a - b) for a, b in zip(c, p, strict=True)) < 30 for p in pixels)
    ]
    assert len(drawn) >= 4, f"budget colours drawn: {drawn}"


def test_offline_file_is_self_contained_and_draws_without_a_network(tmp_path):
    folder = write_sweep(tmp_path / "scaling", finished=36)
    view = LiveView(folder, NO_FIT)
    view.start()
    page = view.close()
    html = page.read_text()
    assert page == folder / PAGE_FILE and len(html) > 4_000_000  # plotly.js is inside
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)
    dom = offline_dom(page.as_uri())
    assert _attr(dom, "isoflop-main", "budget-traces") == "6" and 'class="main-svg"' in dom
    assert dom.count('<tr class="trial') == 36 and _attr(dom, "isoflop-main", "parabolas") == "0"


def test_cooldown_points_join_their_budget_or_name_their_own(tmp_path):
    folder = write_sweep(tmp_path / "scaling", finished=12)
    (folder / FIT_DIR).mkdir(parents=True)
    points = [  # a branch at half of a 1.25e11 run: a 6.25e10 budget no trial has
        ["t00abcd@0.5", 6.3e10, 8.8e3, 6.1, BUDGETS[0] / 2],
        ["t10abcd@0.5", 1.3e11, 1.25e4, 5.3, BUDGETS[1] / 2],  # joins the 1.25e11 budget
        ["t11abcd@1", 2.5e11, 2.5e4, 4.2, BUDGETS[1]],  # the run's own end: drawn from the table
    ]
    (folder / FIT_DIR / "charts.json").write_text(json.dumps({"parabolas": [], "points": points}))
    view = LiveView(folder, NO_FIT)
    try:
        dom = page_dom(view.start())
    finally:
        view.close(wait=False)
    assert _attr(dom, "isoflop-main", "budget-traces") == str(len(BUDGETS) + 1)
    assert "C = 6.25e10 FLOPs (cooldown points)" in dom


def test_rl_page_draws_return_against_env_steps(tmp_path):
    folder = write_sweep(tmp_path / "rl", finished=3, rl=True)
    view = LiveView(folder, NO_FIT)
    try:
        dom = page_dom(view.start())
    finally:
        view.close(wait=False)
    assert 'id="isoflop-main"' not in dom and _attr(dom, "curves-main", "trials") == "3"
    assert "env steps sampled" in dom and "env/episode_return_mean" in dom


def test_pipeline_page_has_a_section_per_stage_and_the_scored_forecast(tmp_path):
    folder = write_sweep(tmp_path / "forecast", finished=36)
    spec = {
        "name": "forecast",
        "search": {"metric": "eval/loss", "mode": "min"},
        "stages": [{"name": "main"}, {"name": "forecast", "from": {"forecast": "main"}}],
    }
    (folder / "spec.yaml").write_text(json.dumps(spec))
    forecast(folder, "forecast", 1.6e13, 2.3, realised=2.31)
    view = LiveView(folder, NO_FIT)
    try:
        dom = page_dom(view.start())
    finally:
        view.close(wait=False)
    assert 'id="stage-main"' in dom and 'id="stage-forecast"' in dom
    assert _attr(dom, "forecast-forecast", "scored") == "1" and "realised (+0.43 %)" in dom


def test_fit_preview_writes_parabolas_frontier_and_the_laws(tmp_path):
    folder = write_sweep(tmp_path / "scaling", finished=30, running=2)
    out = tmp_path / "fit"
    done = subprocess.run(
        [sys.executable, "-m", "sweeps.watch.fit_preview", str(folder), "--out", str(out)]
        + ["--bootstrap", "8"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    charts = json.loads((out / "charts.json").read_text())
    located = [p for p in charts["parabolas"] if "vertex" in p]
    assert len(charts["parabolas"]) == 5 and len(located) >= 4  # the 6th budget has no runs
    for p in located:
        assert min(p["N"]) <= p["vertex"]["N"] <= max(p["N"])
    band = charts["frontier"]
    assert all(
        lo <= y <= hi for lo, y, hi in zip(band["lo"], band["loss"], band["hi"], strict=True)
    )
    fit = json.loads((out / "fit.json").read_text())
    assert "isoflop" in fit and fit["n_points"] == 30
    (folder / FIT_DIR).parent.mkdir()
    out.rename(folder / FIT_DIR)  # where the server swaps a finished fit in
    view = LiveView(folder, NO_FIT)
    try:
        dom = page_dom(view.start())
    finally:
        view.close(wait=False)
    assert _attr(dom, "isoflop-main", "parabolas") == "5"
    assert _attr(dom, "compute-main", "frontier") == "1" and 'id="fit-headline"' in dom
    # The verdict and its precision grades, as the terminal prints them.
    verdict = re.search(r'<p id="verdict" data-trusted="(\w+)"><b>trust: (\w+)', dom)
    assert verdict and verdict.groups()[0] == str(fit["trusted"]).lower()
    assert verdict.groups()[1] == ("OK" if fit["trusted"] else "CAUTION")
    grades = re.findall(r'<tr class="grade" data-grade="([^"]+)"', dom)
    assert len(grades) == len(fit["precision"]) >= 3
    assert grades == [r["grade"] for r in fit["precision"]]
    assert all(f"<td>{r['width_text']}</td>" in dom for r in fit["precision"])


@pytest.mark.ray
def test_real_browser_sees_the_page_during_and_after_a_sweep(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != NO_VIEW_ENV}
    storage = tmp_path / "results"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "sweeps.run", "sweeps/smoke.yaml", "--storage", str(storage)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url, seen = None, []
        for line in sweep.stdout:
            seen.append(line)
            if found := re.search(r"Live page: (http://127\.0\.0\.1:\d+/)", line):
                url = found.group(1)
                break
        assert url, "no live page URL printed:\n" + "".join(seen)
        live = ""
        deadline = time.monotonic() + 120
        while _attr(live, "curves-main", "trials") in (None, "0") and time.monotonic() < deadline:
            live = page_dom(url)  # until the first curve is reported
        assert sweep.poll() is None, "the sweep ended before the page was read while running"
        assert live.count('<tr class="trial') == 4 and "gpt-20k" in live
        assert re.search(r"\d/4 done, \d running, 0 failed \| elapsed \S+, ETA", live)
        rest, _ = sweep.communicate(timeout=400)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, rest
    page = storage / "smoke" / PAGE_FILE
    assert f"Scaling page: {page}" in rest
    offline = offline_dom(page.as_uri())
    assert (
        offline.count("<td>TERMINATED</td>") == 4 and _attr(offline, "curves-main", "trials") == "4"
    )
    assert 'id="fit-headline"' in offline
