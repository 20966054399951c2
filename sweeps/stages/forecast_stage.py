"""Launch a preregistered forecast: the sweep of the predicted-optimal run, and its score.

A forecast (``forecast.json``, written by ``analysis/fit_scaling.py --forecast``) names the
target compute C, N* and the run's hyperparameters. The run is a one-budget compute sweep:
``compute: {budgets: [C], sizes: [N*]}`` (with neighbours, N*/2 and 2 N* on the same budget),
so the shape comes from the one shape rule (``models.shapes``) and the tokens from the real
forward FLOPs, exactly as the grid's trials were charged. A pipeline's forecast stage
(``from: {forecast: grid, target: 10x}``) fits its upstream and scores its run by running
``fit_scaling`` as a subprocess: ``sweeps`` never imports ``analysis`` (the layering rule).

    raw = forecast_sections(forecast, origin.raw, neighbours=True)   # a YAML-ready sweep body
    spec = forecast_spec(stage.spec, forecast, neighbours=False)     # a stage's run at plan time
    ensure_forecast(sweep_dir, "grid", "10x", out)                    # fit once, preregister
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from contract.forecast import FORECAST_FILE, Forecast
from sweeps.errors import SpecError
from sweeps.spec.sweep_spec import SweepSpec, spec_from_dict

REPO = Path(__file__).resolve().parents[2]
FIT_SCRIPT = REPO / "analysis" / "fit_scaling.py"
NEIGHBOUR_FACTOR = 2.0
"""Neighbours sit this factor below and above N* on the same budget."""
SECTIONS = ("model", "data", "optim", "trainer", "task", "seed")
DERIVED = {"model": ("size", "params"), "trainer": ("max_tokens", "epochs")}
"""Fields the compute section sets per size and budget: dropped from the copied sections."""


def read_forecast(path: Path, where: str = "--forecast") -> Forecast:
    """A forecast.json, or a SpecError naming it."""
    if not Path(path).is_file():
        raise SpecError(f"{where}: {path}: no such forecast file")
    try:
        return Forecast.from_json(Path(path).read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError) as err:
        raise SpecError(f"{where}: {path}: not a forecast ({err})") from None


def sizes(forecast: Forecast, neighbours: bool) -> list[float]:
    n = float(f"{forecast.n_star.value:.4g}")
    if not neighbours:
        return [n]
    return [float(f"{n / NEIGHBOUR_FACTOR:.4g}"), n, float(f"{n * NEIGHBOUR_FACTOR:.4g}")]


def _set_dotted(tree: dict[str, Any], path: str, value: Any) -> None:
    *head, last = path.split(".")
    for key in head:
        tree = tree.setdefault(key, {})
    tree[last] = value


def forecast_sections(
    forecast: Forecast, sections: dict[str, Any], neighbours: bool
) -> dict[str, Any]:
    """The trial sections and compute section of the forecast run, from the source sweep's
    sections (axes already removed): same data, optimiser and trainer, the forecast's
    hyperparameters on top, sizes and tokens from the compute section."""
    out: dict[str, Any] = {}
    for key in SECTIONS:
        if key in sections:
            value = sections[key]
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in DERIVED.get(key, ())}
            out[key] = value
    for path, value in forecast.hyperparameters.items():
        _set_dotted(out, path, value)
    out["compute"] = {
        "budgets": [float(f"{forecast.target_flops:.6g}")],
        "sizes": sizes(forecast, neighbours),
        "repeat_data": True,
    }
    return out


def forecast_spec(spec: SweepSpec, forecast: Forecast, neighbours: bool) -> SweepSpec:
    """A stage's spec with its trials replaced by the forecast run (at plan time)."""
    base = spec.base.model_dump(mode="json", exclude_unset=True)
    raw = forecast_sections(forecast, base, neighbours)
    raw["search"] = spec.search.model_dump(mode="json", exclude_unset=True)
    raw["resources"] = spec.resources.model_dump(mode="json", exclude_unset=True)
    return spec_from_dict(raw, source=spec.source, name=spec.name)


def describe_shapes(spec: SweepSpec) -> list[str]:
    """One line per planned size: N target, exact params and the shape the rule gave."""
    from sweeps.plan.trials import make_plan

    lines = []
    for point in make_plan(spec).trials:
        m = point.config.model_config_resolved()
        shape = " ".join(f"{k}={getattr(m, k)}" for k in ("d_model", "n_layers", "n_heads", "d_ff"))
        lines.append(
            f"N={point.assignment.get('model.params', 0):.4g}: {shape} ({m.num_params:,} "
            f"params, {point.config.trainer.max_tokens:,} tokens)"
        )
    return lines


def _fit(argv: list[str], what: str) -> None:
    """Run fit_scaling as a subprocess; its one-line error becomes a SpecError."""
    proc = subprocess.run(
        [sys.executable, str(FIT_SCRIPT), *argv], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SpecError(f"{what}: {last}")
    lines = proc.stdout.strip().splitlines()
    keep = [line for line in lines if line.startswith(("wrote", "kept", "forecast", "appended"))]
    print("\n".join(keep), flush=True)


def ensure_forecast(
    sweep_dir: Path, upstream: str, target: str, out: Path, bootstrap: int = 200
) -> Forecast:
    """Fit the upstream stage's finished rows and preregister the forecast, once: a resumed
    sweep reads the forecast it already wrote rather than fitting again."""
    if not (out / FORECAST_FILE).is_file():
        _fit(
            [
                str(sweep_dir),
                "--where",
                f"stage == '{upstream}'",
                "--forecast",
                target,
                "--out",
                str(out),
                "--bootstrap",
                str(bootstrap),
                "--quiet",
            ],
            f"forecast from stage {upstream}",
        )
    return read_forecast(out / FORECAST_FILE)


def score(sweep_dir: Path, stage: str, out: Path) -> None:
    """Score the stage's finished run against its forecast; the row goes to the ledger at the
    storage root (the sweep folder's parent)."""
    _fit(
        [str(sweep_dir), "--where", f"stage == '{stage}'", "--score", str(out / FORECAST_FILE)],
        f"score of stage {stage}",
    )
