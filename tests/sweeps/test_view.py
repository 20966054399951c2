"""The live scaling page: rendering from a sweep folder, the background fit's lifecycle, and a
real headless Chromium reading the served page during a smoke sweep and the offline file after.

    .venv/bin/pytest -q tests/sweeps/test_view.py             # rendering and server, no Ray
    .venv/bin/pytest -q tests/sweeps/test_view.py -m ray      # the browser test (needs chromium)
"""

from __future__ import annotations

import base64
import csv
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from contract.metrics import EVAL_LOSS, PARAMS, TOKENS
from contract.results import CURVES_FILE, FINISHED, STATUS, TAG, TRIAL_ID, TRIALS_FILE
from sweeps.watch.page import FIT_DIR, FIT_JSON, render_page
from sweeps.watch.server import NO_VIEW_ENV, PAGE_FILE, LiveView, ViewConfig

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A folder with two finished trials of two sizes and three reports each."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    sizes = {"a1": 1000, "b2": 4000}
    _write(
        folder / TRIALS_FILE,
        [{TRIAL_ID: t, TAG: f"N{n}", STATUS: FINISHED, PARAMS: n} for t, n in sizes.items()],
    )
    curves = [
        {TRIAL_ID: t, TOKENS: 1000 * k, EVAL_LOSS: 4.0 - k * (n / 4000)}
        for t, n in sizes.items()
        for k in (1, 2, 3)
    ]
    _write(folder / CURVES_FILE, curves)
    return folder


def test_page_shows_trials_curves_and_refreshes_only_live(sweep):
    live = render_page(sweep, refresh_s=5)
    assert "N1000" in live and "N4000" in live and "2 TERMINATED" in live
    assert live.count('class="curve"') == 2  # one line per trial
    assert 'http-equiv="refresh" content="5"' in live
    offline = render_page(sweep)
    assert "http-equiv" not in offline and 'id="no-fit"' in offline


def test_fit_outputs_are_inlined_with_headline_numbers(sweep):
    fit = sweep / FIT_DIR
    fit.mkdir(parents=True)
    (fit / "isoflop.png").write_bytes(b"\x89PNG fake")
    (fit / FIT_JSON).write_text(
        '{"n_points": 6, "trusted": false, "compute": {"alpha": '
        '{"value": 0.31, "lo": 0.2, "hi": 0.4}, "predictions": []}}'
    )
    page = render_page(sweep)
    inlined = base64.b64encode(b"\x89PNG fake").decode()
    assert f"data:image/png;base64,{inlined}" in page  # the PNG's bytes, not a link
    assert "alpha = 0.31 [0.2, 0.4]" in page and "runs fitted: 6" in page


def test_server_serves_the_page_and_close_writes_the_offline_file(sweep):
    view = LiveView(sweep, ViewConfig(min_finished=10))  # no fit: too few trials
    url = view.start()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
    with urllib.request.urlopen(url, timeout=10) as page:
        assert "N4000" in page.read().decode()
    view.trial_ended()
    assert not view.fitting
    path = view.close()
    assert path == sweep / PAGE_FILE and "N1000" in path.read_text()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:  # a missing browser is a failed check, never a silent skip
        pytest.fail("chromium is not installed: run `make browser` (apt-get install -y chromium)")
    return found


def _dom(browser: str, url: str) -> str:
    cmd = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=2000"]
    done = subprocess.run(
        [*cmd, "--dump-dom", url], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout


@pytest.mark.ray
def test_real_browser_sees_trials_and_a_plot_during_and_after_a_sweep(tmp_path):
    browser = _chromium()
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
        while 'class="curve"' not in live and time.monotonic() < deadline:
            live = _dom(browser, url)  # refreshed until the first curve is reported
        assert sweep.poll() is None, "the sweep ended before the page was read while running"
        assert '<table id="trials">' in live and "gpt-20k" in live
        assert "<svg" in live and 'class="curve"' in live
        rest, _ = sweep.communicate(timeout=400)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, rest
    page = storage / "smoke" / PAGE_FILE
    assert f"Scaling page: {page}" in rest
    offline = _dom(browser, page.as_uri())
    assert offline.count("TERMINATED</td>") == 4 and offline.count('class="curve"') == 4
