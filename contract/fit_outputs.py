"""What a fit writes and what its readers look up: the file names, fit.json's headline keys and
the figures' file stems.

``analysis`` writes these (``analysis.report.render``, ``analysis.report.plots``,
``analysis/fit_scaling.py``); the live page (``sweeps.watch``), the planner's recentring and the
tests read them. Both sides import the names from here, so a renamed key or figure breaks at
import, not silently in a page that shows "undefined".

    json.loads((out / FIT_JSON).read_text())[TRUSTED]
    [out / f"{stem}.{ext}" for stem in (FRONTIER_FIGURE, ISOFLOP_FIGURE) for ext in FIGURE_FORMATS]
    loss_figure_stem("N")          # "loss_vs_N": the power law against its variable
"""

from __future__ import annotations

# Files a fit writes.
FIT_JSON = "fit.json"
"""Every parameter, interval, prediction and warning (``--json``; the live page's fit section)."""
CHARTS_JSON = "charts.json"
"""The live page's background fit: per-budget parabolas and the frontier's band."""
REPORT_MD = "report.md"
"""The Markdown report written beside the figures (``--out``)."""

# fit.json: keys at the top level.
N_POINTS = "n_points"
"""Points fitted (also in each law's section: the points that law used)."""
WARNINGS = "warnings"
"""Every warning, one line each; none means the fit is trusted."""
SET_ASIDE = "set_aside"
"""Warnings of a loss-only law no reported number comes from: shown, not counted."""
TRUSTED = "trusted"
"""True when no warning was raised."""
SKIPPED = "skipped"
"""Law name -> why it was not fitted."""
PRECISION = "precision"
"""One record per graded headline quantity (a, b, N*, D*, loss at the target)."""
FORECAST_ESTIMATORS = "forecast_estimators"
"""Which laws the forecast takes its loss and allocation from, and why."""

# fit.json: keys inside a law's section (the section is keyed by the law's name).
PREDICTIONS = "predictions"
"""A list of {inputs..., quantity, value, lo, hi, se}."""
QUANTITY = "quantity"
"""What a prediction predicts: loss, loss_opt, N_opt, D_opt or tokens_per_param."""
RUNS = "runs"
"""The run ids the law was fitted to."""

PAGE_HEADLINE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("compute", ("E", "alpha")),
    ("isoflop", ("a", "b")),
    ("envelope", ("a", "b")),
    ("chinchilla", ("alpha", "beta", "a")),
)
"""(law, its parameters) the live page's fit headline shows, in order, where fitted."""

# Figures: file stems; each is written once per format.
FIGURE_FORMATS = ("png", "svg", "pdf")
OPTIMAL_LOSS_FIGURE = "loss_vs_C"
"""Approach 3's compute-optimal loss against C."""
COMPUTE_LAW_FIGURE = "compute_law"
ISOFLOP_FIGURE = "isoflop"
FRONTIER_FIGURE = "frontier"
RESIDUALS_FIGURE = "residuals"


def loss_figure_stem(x: str) -> str:
    """The power law's figure against its variable ``x`` (N, D or C)."""
    return f"loss_vs_{x}"
