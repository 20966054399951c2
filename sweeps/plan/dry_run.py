"""The dry-run of a compute sweep or pipeline: plan, wall time, expected precision, and the
forecast run sized from the prior law, without Ray and without training.

    lines = compute_lines(plan, target="4x", prior=None, noise=None)   # a plain compute sweep
    print_pipeline(pipeline, prior=None, noise=None)                    # stage by stage
"""

from __future__ import annotations

from typing import Any

from models.shapes import MIN_PARAMS
from sweeps.plan import precision, walltime
from sweeps.plan.trials import make_plan, render_plan

DEFAULT_TARGET = "4x"
"""The forecast target of a compute sweep without a forecast stage (the main job's headline)."""
FORECAST_FIT_S = 45.0
"""The forecast stage's fit of its grid (fit_scaling with 200 resamples, the report and its
figures) before the run starts."""


def compute_lines(
    plan: Any, target: str, prior: str | None, noise: float | None
) -> tuple[list[str], dict[str, Any], float]:
    """Wall-time and expected-precision lines of a compute plan; the design's JSON; seconds."""
    est = walltime.estimate(plan, walltime.probe(plan))
    report = precision.expected_precision(plan, target, prior, noise)
    return [walltime.render(est), *report["lines"]], report, est.total_s


def forecast_run_lines(
    stage: Any, grid_spec: Any, report: dict[str, Any], neighbours: bool
) -> tuple[list[str], float]:
    """The forecast run as the prior law sizes it: N* at the target, tokens needed against what
    the data holds, and its wall time (the real N* is known once the grid is fitted)."""
    from sweeps.stages.forecast_stage import NEIGHBOUR_FACTOR, stage_run_spec

    prior_n = float(f"{report['truth']['n_star']:.4g}")
    n = max(prior_n, float(MIN_PARAMS))
    run_sizes = [n / NEIGHBOUR_FACTOR, n, n * NEIGHBOUR_FACTOR] if neighbours else [n]
    run_sizes = list(dict.fromkeys(max(size, float(MIN_PARAMS)) for size in run_sizes))
    repeat = bool(grid_spec.compute is not None and grid_spec.compute.repeat_data)
    # Planned with repetition allowed so the dry-run can say how far short the data falls.
    plan = make_plan(stage_run_spec(stage.spec, report["target"], run_sizes, {}, True))
    lines = [render_plan(plan)]
    if n > prior_n:
        lines.append(
            f"forecast run sized at {MIN_PARAMS:,} parameters, the smallest model the shape rule "
            f"builds: the prior law's N* at the target is {prior_n:.3g} (the grid's own fit "
            "will place it)"
        )
    seen: set[str] = set()
    for trial in plan.trials:
        if trial.config.model.label in seen:  # another seed of a size already listed
            continue
        seen.add(trial.config.model.label)
        held = trial.config.train_size()
        need = trial.tokens
        verdict = "fits" if need <= held else f"needs {need / held:.2f} passes over the data"
        if need > held and not repeat:
            verdict += " (an error when the stage plans: never repeated silently)"
        lines.append(
            f"forecast run {trial.config.model.label}: needs {need:,} training tokens, the data "
            f"holds {held:,}: {verdict}"
        )
        if need > held and not repeat:
            from sweeps.stages.forecast_stage import MORE_TOKENS

            lines.append(f"  to run it, {MORE_TOKENS}")
    est = walltime.estimate(plan, walltime.probe(plan))
    lines.append(walltime.render(est).replace("estimated wall time", "forecast run, estimated"))
    return lines, est.total_s


def print_pipeline(pipeline: Any, prior: str | None, noise: float | None) -> None:
    """Each stage's plan; compute stages with their wall time and expected precision; a
    forecast stage sized from the prior law; the pipeline's total wall time."""
    from sweeps.stages.pipeline import estimate_plan

    plans: dict[str, Any] = {}
    reports: dict[str, dict[str, Any]] = {}
    total = 0.0
    for stage in pipeline.stages:
        src = stage.source
        print(f"== stage {stage.name} ==")
        if src is not None and src.forecast is not None and src.forecast in reports:
            grid = next(s for s in pipeline.stages if s.name == src.forecast).spec
            lines, seconds = forecast_run_lines(stage, grid, reports[src.forecast], src.neighbours)
            print("\n".join(lines))
            total += seconds - walltime.RAY_START_S + FORECAST_FIT_S  # Ray is up already
            continue
        upstream = plans.get(src.stage) if src else None
        plans[stage.name] = estimate_plan(stage, upstream)
        print(render_plan(plans[stage.name]))
        if stage.spec.compute is not None and plans[stage.name].trials and src is None:
            target = _forecast_target(pipeline, stage.name)
            lines, report, seconds = compute_lines(plans[stage.name], target, prior, noise)
            print("\n".join(lines))
            reports[stage.name] = report
            total += seconds
    if total:
        minutes, secs = divmod(round(total), 60)
        print(f"pipeline: estimated wall time {minutes} min {secs:02d} s in all")


def _forecast_target(pipeline: Any, name: str) -> str:
    """The target of the forecast stage that forecasts from stage ``name`` (else 4x)."""
    for stage in pipeline.stages:
        if stage.source is not None and stage.source.forecast == name:
            return stage.source.target
    return DEFAULT_TARGET
