"""Plots are written as PNG files without a display."""

from __future__ import annotations

import matplotlib

from analysis.report.plots import loss_figure, write_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_write_plots_writes_every_figure(small_analysis, tmp_path):
    backend = matplotlib.get_backend()
    paths = write_plots(small_analysis, tmp_path / "plots")
    stems = {"loss_vs_N", "loss_vs_C", "compute_law", "isoflop", "frontier", "residuals"}
    assert {p.name for p in paths} == {f"{s}.{e}" for s in stems for e in ("png", "svg", "pdf")}
    for p in paths:
        head = p.read_bytes()[:8]
        assert {".png": head == PNG_MAGIC, ".svg": b"<?xml" in head, ".pdf": head[:4] == b"%PDF"}[
            p.suffix
        ]
        assert p.stat().st_size > 10_000
    assert matplotlib.get_backend() == backend  # the global backend is left alone


def test_loss_figure_extends_to_the_prediction(small_analysis):
    ax = loss_figure(small_analysis, "chinchilla").axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xlim()[1] >= 1e21  # the extrapolation reaches the predicted budget
