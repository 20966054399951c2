"""The fit's outputs as a contract: what analysis writes is what contract.fit_outputs names, and
what the live page looks up exists in a real fit."""

from __future__ import annotations

from analysis.report.plots import write_plots
from analysis.report.render import TITLES, to_json
from contract.fit_outputs import (
    COMPUTE_LAW_FIGURE,
    FIGURE_FORMATS,
    FORECAST_ESTIMATORS,
    FRONTIER_FIGURE,
    ISOFLOP_FIGURE,
    N_POINTS,
    OPTIMAL_LOSS_FIGURE,
    PAGE_HEADLINE,
    PRECISION,
    PREDICTIONS,
    QUANTITY,
    RESIDUALS_FIGURE,
    RUNS,
    SKIPPED,
    TRUSTED,
    WARNINGS,
    loss_figure_stem,
)


def test_fit_json_carries_every_named_key(small_analysis):
    out = to_json(small_analysis)
    for key in (N_POINTS, WARNINGS, TRUSTED, SKIPPED, PRECISION, FORECAST_ESTIMATORS):
        assert key in out, key
    assert out[TRUSTED] == (out[WARNINGS] == [])
    for law in small_analysis.results:
        section = out[law]
        assert {N_POINTS, RUNS, PREDICTIONS} <= set(section), law
        assert all(QUANTITY in p for p in section[PREDICTIONS]), law


def test_the_page_headline_names_laws_and_parameters_a_fit_writes(small_analysis):
    out = to_json(small_analysis)
    shown = 0
    for law, keys in PAGE_HEADLINE:
        assert law in TITLES, law  # a law's section in fit.json
        if law in out:
            assert set(keys) <= set(out[law]), law
            shown += 1
    assert shown >= 2  # the toy sweep fits Approaches 1 and 3 at least


def test_figures_are_written_under_the_named_stems(small_analysis, tmp_path):
    paths = write_plots(small_analysis, tmp_path)
    named = {
        *(loss_figure_stem(x) for x in ("N", "D", "C")),
        OPTIMAL_LOSS_FIGURE,
        COMPUTE_LAW_FIGURE,
        ISOFLOP_FIGURE,
        FRONTIER_FIGURE,
        RESIDUALS_FIGURE,
    }
    assert {p.stem for p in paths} <= named
    assert {p.suffix.lstrip(".") for p in paths} == set(FIGURE_FORMATS)
    assert {FRONTIER_FIGURE, ISOFLOP_FIGURE} <= {p.stem for p in paths}
