"""Terminal table, JSON and Markdown renderings of an analysis."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.report.render import format_table, to_json, to_markdown


def test_json_has_plain_keys_with_intervals(small_analysis):
    out = to_json(small_analysis)
    text = json.dumps(out, allow_nan=False)  # valid JSON: no NaN anywhere
    assert json.loads(text)["n_points"] == 16
    chin = out["chinchilla"]
    for key in ("E", "A", "B", "alpha", "beta", "a", "b"):
        assert set(chin[key]) == {"value", "lo", "hi", "se", "identified"}
    assert chin["tokens_per_param"]["C"] == small_analysis.data.points["C"].max()
    pred = chin["predictions"][0]
    assert (pred["N"], pred["D"], pred["quantity"]) == (1e9, 2e10, "loss")
    assert pred["lo"] <= pred["hi"]
    assert out["envelope"]["a"]["value"] > 0 and "log_kn" in out["envelope"]
    assert {e["id"] for e in out["excluded"]} == {"oom", "nan", "asha", "blowup"}
    assert out["trusted"] == (out["warnings"] == [])


def test_table_lists_fits_predictions_exclusions_and_verdict(small_analysis):
    table = format_table(small_analysis)
    assert "chinchilla: Chinchilla Approach 3" in table
    assert "predict N=1e+09 D=2e+10 loss:" in table
    assert "oom: status ERROR: RuntimeError: CUDA out of memory" in table
    assert table.splitlines()[-1].startswith("trust: ")


def test_markdown_embeds_plots(small_analysis):
    md = to_markdown(small_analysis, [Path("out/loss_vs_C.png"), Path("out/frontier.png")])
    assert md.startswith("# Scaling-law fit")
    assert "![loss_vs_C](loss_vs_C.png)" in md and "![frontier](frontier.png)" in md
    assert "| alpha |" in md and "## Excluded runs" in md
