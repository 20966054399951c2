"""Launch a preregistered forecast: the sweep of the predicted-optimal run, and its score.

A forecast (``forecast.json``, written by ``analysis/fit_scaling.py --forecast``) names the
target compute C, N* and the run's hyperparameters. The run is a one-budget compute sweep:
``compute: {budgets: [C], sizes: [N*]}`` (with neighbours, N*/2 and 2 N* on the same budget),
so the shape comes from the one shape rule (``models.shapes``) and the tokens from the real
forward FLOPs, exactly as the grid's trials were charged. A pipeline's forecast stage
(``from: {forecast: grid, target: 10x}``) fits its upstream and scores its run by running
``fit_scaling`` in a child process (the fit's memory and plotting stay out of the driver), and
reads what it found from the files it wrote (``forecast.json``, the ledger), never from its
printed lines.

    raw = forecast_sections(forecast, origin.raw, neighbours=True)   # a YAML-ready sweep body
    spec = forecast_spec(stage.spec, forecast, neighbours=False)     # a stage's run at plan time
    ensure_forecast(sweep_dir, "grid", "10x", out)                    # fit once, preregister
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from contract import forecast as contract_forecast
from contract.forecast import FORECAST_FILE, LEDGER_FILE, Forecast
from sweeps.errors import SpecError
from sweeps.spec.compute_spec import PARAMS_KEY, SIZE_KEYS, TOKEN_KEYS
from sweeps.spec.space import set_dotted
from sweeps.spec.sweep_spec import TRIAL_KEYS, SweepSpec, spec_from_dict

REPO = Path(__file__).resolve().parents[2]
FIT_SCRIPT = REPO / "analysis" / "fit_scaling.py"
MORE_TOKENS = (
    "give the forecast stage more training tokens (for the stdlib corpus "
    "data: {dataset: {tests_bytes: ...}}, which leaves the evaluation split as it is) or let "
    "its upstream stage repeat data (compute.repeat_data: true)"
)
NEIGHBOUR_FACTOR = 2.0
"""Neighbours sit this factor below and above N* on the same budget."""


def _fields_by_section(paths: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Dotted config paths grouped by their section: {"trainer": ("max_tokens", ...), ...}."""
    fields: dict[str, tuple[str, ...]] = {}
    for path in paths:
        section, name = path.split(".", 1)
        fields[section] = (*fields.get(section, ()), name)
    return fields


DERIVED = _fields_by_section((*SIZE_KEYS, *TOKEN_KEYS))
"""Fields the compute section sets per size and budget, by section (its config paths, from
sweeps.spec.compute_spec): dropped from the copied sections."""


def read_forecast(path: Path, where: str = "--forecast") -> Forecast:
    """A forecast.json, or a SpecError (contract.forecast.read_forecast's one line)."""
    try:
        return contract_forecast.read_forecast(path, where)
    except ValueError as err:
        raise SpecError(str(err)) from None


def sizes(forecast: Forecast, neighbours: bool) -> list[float]:
    n = float(f"{forecast.n_star.value:.4g}")
    if not neighbours:
        return [n]
    return [float(f"{n / NEIGHBOUR_FACTOR:.4g}"), n, float(f"{n * NEIGHBOUR_FACTOR:.4g}")]


def run_sections(
    sections: dict[str, Any],
    target_flops: float,
    run_sizes: list[float],
    hyperparameters: dict[str, Any],
    repeat_data: bool,
) -> dict[str, Any]:
    """The trial sections and compute section of a run at ``target_flops`` with ``run_sizes``,
    from the source sweep's sections (axes already removed): same data, optimiser and trainer,
    ``hyperparameters`` on top, tokens from the compute section. A run that needs more tokens
    than its data holds is an error unless ``repeat_data`` (the source sweep's own setting)."""
    out: dict[str, Any] = {}
    for key in TRIAL_KEYS:
        if key in sections:
            value = sections[key]
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in DERIVED.get(key, ())}
            out[key] = value
    for path, value in hyperparameters.items():
        set_dotted(out, path, value)
    out["compute"] = {
        "budgets": [float(f"{target_flops:.6g}")],
        "sizes": run_sizes,
        "repeat_data": repeat_data,
    }
    return out


def forecast_sections(
    forecast: Forecast, sections: dict[str, Any], neighbours: bool, repeat_data: bool = True
) -> dict[str, Any]:
    """The forecast run's sections: N* (and its neighbours) at the forecast's target."""
    return run_sections(
        sections,
        forecast.target_flops,
        sizes(forecast, neighbours),
        forecast.hyperparameters,
        repeat_data,
    )


def stage_run_spec(
    spec: SweepSpec,
    target_flops: float,
    run_sizes: list[float],
    hyperparameters: dict[str, Any],
    repeat_data: bool,
) -> SweepSpec:
    """A stage's spec with its trials replaced by a run at ``target_flops``: the forecast run
    at plan time, or the dry-run's estimate of it from the prior law's N*."""
    base = spec.base.model_dump(mode="json", exclude_unset=True)
    raw = run_sections(base, target_flops, run_sizes, hyperparameters, repeat_data)
    raw["search"] = spec.search.model_dump(mode="json", exclude_unset=True)
    raw["resources"] = spec.resources.model_dump(mode="json", exclude_unset=True)
    return spec_from_dict(raw, source=spec.source, name=spec.name)


def forecast_spec(
    spec: SweepSpec, forecast: Forecast, neighbours: bool, repeat_data: bool = True
) -> SweepSpec:
    """A stage's spec with its trials replaced by the forecast run (at plan time)."""
    return stage_run_spec(
        spec,
        forecast.target_flops,
        sizes(forecast, neighbours),
        forecast.hyperparameters,
        repeat_data,
    )


def forecast_plan(
    stage: Any, forecast: Forecast, neighbours: bool, repeat_data: bool
) -> tuple[SweepSpec, Any]:
    """The forecast stage's spec and plan; a run that needs more tokens than the data holds
    (and may not repeat them) is a SpecError naming the stage and both ways out."""
    from sweeps.plan.trials import make_plan

    spec = forecast_spec(stage.spec, forecast, neighbours, repeat_data)
    try:
        return spec, make_plan(spec)
    except SpecError as err:
        raise SpecError(f"stage {stage.name}: {err}; {MORE_TOKENS}") from None


def describe_shapes(spec: SweepSpec) -> list[str]:
    """One line per planned size: N target, exact params and the shape the rule gave."""
    from sweeps.plan.trials import make_plan

    lines = []
    for point in make_plan(spec).trials:
        m = point.config.model_config_resolved()
        shape = " ".join(f"{k}={getattr(m, k)}" for k in ("d_model", "n_layers", "n_heads", "d_ff"))
        lines.append(
            f"N={point.swept.get(PARAMS_KEY, 0):.4g}: {shape} ({m.num_params:,} "
            f"params, {point.config.trainer.max_tokens:,} tokens)"
        )
    return lines


def _fit(argv: list[str], what: str) -> None:
    """Run fit_scaling in a child process (the fit's bootstrap and plotting stay out of the
    driver). What it found is read back from the files it wrote, never from its printed
    lines; its one-line error (its stderr's last line) becomes a SpecError."""
    proc = subprocess.run(
        [sys.executable, str(FIT_SCRIPT), *argv], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SpecError(f"{what}: {last}")


def ensure_forecast(
    sweep_dir: Path, upstream: str, target: str, out: Path, bootstrap: int = 200
) -> Forecast:
    """Fit the upstream stage's finished rows and preregister the forecast, once: a resumed
    sweep reads the forecast it already wrote rather than fitting again."""
    path = out / FORECAST_FILE
    if path.is_file():
        return read_forecast(path)
    argv = [str(sweep_dir), "--where", f"stage == '{upstream}'", "--forecast", target]
    _fit(
        [*argv, "--out", str(out), "--bootstrap", str(bootstrap), "--quiet"],
        f"forecast from stage {upstream}",
    )
    forecast = read_forecast(path)
    loss = forecast.loss
    print(
        f"forecast {forecast.forecast_id} preregistered in {path}: "
        f"C={forecast.target_flops:.3g}, N*={forecast.n_star.value:.3g} ({forecast.chosen}), "
        f"loss {loss.value:.4f} (95 %: {loss.lo95:.4f}-{loss.hi95:.4f}); "
        f"fit report {out / 'report.md'}",
        flush=True,
    )
    return forecast


def score(sweep_dir: Path, stage: str, out: Path) -> list[str]:
    """Score the stage's finished run against its forecast; the row goes to the ledger at the
    storage root (the sweep folder's parent). Returns the ledger row's line (read back from
    the ledger), which the runner repeats as the sweep's last words."""
    path = out / FORECAST_FILE
    _fit(
        [str(sweep_dir), "--where", f"stage == '{stage}'", "--score", str(path)],
        f"score of stage {stage}",
    )
    forecast = read_forecast(path)
    ledger = sweep_dir.parent / LEDGER_FILE
    row = scored_row(ledger, forecast.forecast_id, sweep_dir.name)
    if row is None:
        raise SpecError(f"score of stage {stage}: {ledger} has no row of {forecast.forecast_id}")
    from analysis.forecast.ledger import verdict

    line = verdict(row)
    print(f"{line}\nscored into {ledger}", flush=True)
    return [line]


def scored_row(ledger: Path, forecast_id: str, sweep: str) -> dict[str, Any] | None:
    """The ledger's last row scoring `forecast_id` on a run of the sweep folder `sweep`."""
    from analysis.forecast.ledger import read_ledger

    table = read_ledger(ledger)
    rows = table[
        (table["forecast_id"].astype(str) == forecast_id)
        & table["run"].astype(str).str.startswith(f"{sweep}/")
    ]
    # A CSV's empty cell reads back as NaN, which verdict would take for a best_of_budget.
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    return records[-1] if records else None
