"""Plots are written as PNG files without a display."""

from __future__ import annotations

import matplotlib

from analysis.plots import loss_figure, write_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_write_plots_writes_every_figure(small_analysis, tmp_path):
    backend = matplotlib.get_backend()
    paths = write_plots(small_analysis, tmp_path / "plots")
    names = {p.name for p in paths}
    assert names == {
        "loss_vs_N.png",
        "loss_vs_C.png",
        "isoflop.png",
        "frontier.png",
        "residuals.png",
    }
    for p in paths:
        assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 10_000
    assert matplotlib.get_backend() == backend  # the global backend is left alone


def test_loss_figure_extends_to_the_prediction(small_analysis):
    ax = loss_figure(small_analysis, "chinchilla").axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xlim()[1] >= 1e21  # the extrapolation reaches the predicted budget
