"""The ``--forecast`` and ``--score`` steps of ``fit_scaling``, kept out of the entry point.

config = with_target(config, data, "10x")          # the target joins the predictions
prepared = prepare_forecast(analysis, Path("results/scaling/fit"))   # refused: ValueError
forecast_step(prepared, Path("results/scaling/fit"))   # forecast.json + report section
score_step("results/scaling-forecast", Path("results/scaling/fit/forecast.json"), None)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from analysis.config import AnalysisConfig
from analysis.forecast.ledger import append_row, read_ledger, score_run, verdict
from analysis.forecast.plots import ledger_figure, lr_rule_figure, save
from analysis.forecast.preregister import (
    forecast_markdown,
    forecast_slot,
    forecast_with_rules,
    parse_target,
    write_forecast,
)
from analysis.laws.lr_rule import lr_rule_markdown
from analysis.load.sweep_tables import ScalingData
from analysis.outcome import Analysis
from contract.fit_outputs import REPORT_MD
from contract.forecast import LEDGER_FILE, read_forecast

FIT_DIR = "fit"
"""Default output folder of a forecast, inside the sweep folder."""


def default_out(source: str | Path) -> Path:
    """``<sweep>/fit`` for a sweep folder; a table needs --out."""
    path = Path(source)
    if not path.is_dir():
        raise ValueError("--forecast: pass --out for a table (the forecast needs a folder)")
    return path / FIT_DIR


def with_target(config: AnalysisConfig, data: ScalingData, target: str) -> AnalysisConfig:
    """``config`` with the forecast's compute target added to its predictions (and plots)."""
    C = parse_target(target, data)
    return config.model_copy(update={"predict": (*config.predict, {"C": C})})


def _error(message: str) -> int:
    print(f"fit_scaling: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def prepare_forecast(analysis: Analysis, out: Path) -> tuple[Any, Any, str]:
    """The forecast of ``analysis`` and its lr rule, checked against ``out`` before anything
    is written there: a refused forecast leaves the preregistration's report untouched.
    Raises ValueError naming the file or the reason."""
    target = next(p["C"] for p in reversed(analysis.config.predict) if "C" in p)
    forecast, rule, why = forecast_with_rules(analysis, target)
    forecast_slot(forecast, out)
    return forecast, rule, why


def forecast_step(prepared: tuple[Any, Any, str], out: Path) -> int:
    """Write forecast.json (once) and the report's forecast and lr sections; exit status."""
    forecast, rule, why = prepared
    try:
        path, written = write_forecast(forecast, out)
    except (ValueError, FileExistsError) as err:
        return _error(str(err))
    section = forecast_markdown(forecast)
    if rule is not None:
        section += "\n" + lr_rule_markdown(rule, forecast.n_star.value)
        plot = save(lr_rule_figure(rule), out / "lr_rule")[0]
        section += f"\n![learning-rate rule]({plot.name})\n"
    else:
        section += f"\nLearning rate: {why}.\n"
    report = out / REPORT_MD
    if report.is_file():
        report.write_text(report.read_text(encoding="utf-8") + "\n" + section, encoding="utf-8")
    loss = forecast.loss
    state = "wrote" if written else "kept (already preregistered, same forecast)"
    print(
        f"{state} {path}: C={forecast.target_flops:.3g}, N*={forecast.n_star.value:.3g} "
        f"({forecast.chosen}), loss {loss.value:.4f} (95 %: {loss.lo95:.4f}-{loss.hi95:.4f})"
    )
    return 0


def score_step(source: str | Path, forecast_path: Path, where: str | None) -> int:
    """Score the run in ``source``, append the ledger at its storage root, redraw the plot."""
    try:
        forecast = read_forecast(forecast_path, "--score")
        row = score_run(Path(source), forecast, where=where)
    except (ValueError, FileNotFoundError) as err:
        return _error(str(err))
    ledger = Path(source).resolve().parent / LEDGER_FILE
    try:
        added = append_row(ledger, row)
        plots = save(ledger_figure(read_ledger(ledger)), ledger.with_name("forecasts"))
    except OSError as err:
        return _error(f"cannot write the ledger: {err}")
    print(verdict(row))
    print(f"{'appended to' if added else 'already in'} {ledger}; plot {plots[0]}")
    return 0
