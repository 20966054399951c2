"""Start a new sweep YAML: a copy of a template, or the continuation of a finished sweep.

`--from` copies a template, keeping its comments and layout, with `name: NAME`. `--continue`
writes a one-stage pipeline whose trials train each finished trial of a sweep folder on from
its final checkpoint (continued pretraining: same model and swept values, fresh optimizer and
schedule, a larger token budget). The result is validated and never written over a file.

    python -m sweeps.new lr-scan --from sweeps/scaling.yaml            # -> sweeps/lr-scan.yaml
    python -m sweeps.new lr-scan --from sweeps/scaling.yaml --out my/lr-scan.yaml
    python -m sweeps.new scaling-2x --continue results/scaling --more-tokens-factor 2
    python -m sweeps.new big-run --forecast results/scaling/fit/forecast.json --neighbours
    python -m sweeps.new scaling-next --propose results/scaling --target 4x --minutes 20
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from contract.metrics import TOKENS
from contract.results import (
    CONFIG_FILE,
    STAGE,
    STATUS,
    TRIAL_ID,
    TRIALS_FILE,
    find_trial_dir,
    read_trial_record,
)
from contract.version import command_name, version_line
from sweeps.errors import SpecError, report_user_error
from sweeps.folder.tables import read_csv_rows
from sweeps.spec.space import is_axis_node
from sweeps.spec.sweep_spec import (
    SWEEP_NAME_PATTERN,
    TRIAL_KEYS,
    load_spec,
    read_yaml,
    spec_from_dict,
)
from sweeps.stages.pipeline import (
    FINISHED,
    is_pipeline,
    load_pipeline,
    pipeline_from_dict,
    pipeline_from_raw,
    read_sweep_origin,
)
from trainers.tasks import CONTINUABLE_TASKS

NAME_LINE = re.compile(r"^name:.*$", flags=re.MULTILINE)
DEFAULT_TOKENS_FACTOR = 2.0
"""A continuation's default budget, as a multiple of the largest upstream trial's tokens."""


def _check_name(name: str) -> None:
    if not re.fullmatch(SWEEP_NAME_PATTERN, name):
        raise SpecError(f"{name!r}: a sweep name uses letters, digits, '_', '.' and '-'")


def new_spec(name: str, template: Path, out: Path | None = None) -> Path:
    """Write a copy of `template` named `name`; returns its path. Raises SpecError."""
    _check_name(name)
    _validate(template)  # a broken template is reported as such, not as the copy's fault
    out = out or template.parent / f"{name}.yaml"
    if out.exists():
        raise SpecError(f"{out}: already exists; pick another name or --out")
    text = template.read_text(encoding="utf-8")
    named = NAME_LINE.sub(f"name: {name}", text, count=1)
    if named == text:
        named = f"name: {name}\n{text}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(named, encoding="utf-8")
    _validate(out)
    return out


def _validate(path: Path) -> None:
    """Check a sweep file as `sweeps.run` reads it: a plain sweep or a pipeline (stages:)."""
    raw = read_yaml(path)
    if is_pipeline(raw):
        pipeline_from_raw(raw, source=str(path))
    else:
        load_spec(path)


def _without_axes(node: Any) -> Any:
    """`node` with every axis removed: the continued trials take those values from upstream."""
    if isinstance(node, dict):
        return {k: _without_axes(v) for k, v in node.items() if not is_axis_node(v)}
    return node


def _epochs(trial_dir: Path) -> float:
    """The epochs an upstream trial trained for, from its record; SpecError naming the file."""
    path = trial_dir / CONFIG_FILE
    try:
        return read_trial_record(trial_dir).config["trainer"]["epochs"]
    except ValueError as err:
        raise SpecError(f"--continue: {err}") from None
    except OSError as err:
        raise SpecError(f"--continue: {path}: cannot read ({err.strerror})") from None
    except (KeyError, TypeError):
        raise SpecError(f"--continue: {path}: no trainer.epochs") from None


def _epochs_for(folder: Path, rows: list[dict[str, Any]], budget: int) -> int:
    """Epochs that let `budget` tokens bind for every upstream trial: a trial that saw `tokens`
    in `epochs` passes has a training split of at least tokens / epochs."""
    need = 1.0
    for row in rows:
        trial_dir = find_trial_dir(folder, row[TRIAL_ID])
        if trial_dir is not None:
            need = max(need, budget * _epochs(trial_dir) / row[TOKENS])
    return math.ceil(need)


def continuation(
    name: str, folder: Path, tokens: int | None = None, factor: float | None = None
) -> tuple[dict[str, Any], int, int]:
    """The continuation pipeline of the sweep folder `folder` as a YAML-ready mapping, with the
    token budget of each trial and how many trials it continues. Raises SpecError."""
    _check_name(name)
    folder = folder.expanduser().resolve()
    origin = read_sweep_origin(folder, "--continue")
    if origin.task not in CONTINUABLE_TASKS:
        raise SpecError(
            f"--continue: {folder} trains {origin.task}; only "
            f"{' and '.join(CONTINUABLE_TASKS)} sweeps continue from their checkpoints"
        )
    if name == folder.name:
        raise SpecError(f"{name}: the continuation needs a name of its own, not {folder.name}")
    rows = [
        row
        for row in read_csv_rows(folder / TRIALS_FILE)
        if row.get(STAGE) == origin.stage
        and row.get(STATUS) == FINISHED
        and isinstance(row.get(TOKENS), int)
    ]
    if not rows:
        raise SpecError(f"--continue: {folder} has no finished trials to continue")
    if tokens is not None and tokens <= 0:
        raise SpecError(f"--tokens: must be positive, got {tokens}")
    if factor is not None and factor <= 0:
        raise SpecError(f"--more-tokens-factor: must be positive, got {factor:g}")
    most = max(row[TOKENS] for row in rows)
    budget = tokens if tokens is not None else int(most * (factor or DEFAULT_TOKENS_FACTOR))

    sections = {k: _without_axes(origin.raw[k]) for k in TRIAL_KEYS if k in origin.raw}
    task = {k: v for k, v in sections.get("task", {}).items() if k != "init_from"}
    trainer = sections.get("trainer", {})
    epochs = max(float(trainer.get("epochs", 1.0)), _epochs_for(folder, rows, budget))
    sections["trainer"] = {**trainer, "max_tokens": budget, "epochs": epochs}
    if task:
        sections["task"] = task
    stage: dict[str, Any] = {
        "name": "continue",
        "from": {"sweep": str(folder), "select": "all", "checkpoint": "final", "inherit": True},
        **sections,
        "search": {"metric": origin.search.metric, "mode": origin.search.mode},
    }
    if "resources" in origin.raw:
        stage["resources"] = origin.raw["resources"]
    run = {**origin.raw.get("run", {}), "storage": str(folder.parent)}
    description = f"Continued pretraining of {folder.name}: {budget} more tokens per trial."
    raw = {"name": name, "description": description, "run": run, "stages": [stage]}
    return raw, budget, len(rows)


def continue_spec(
    name: str,
    folder: Path,
    out: Path | None = None,
    tokens: int | None = None,
    factor: float | None = None,
) -> Path:
    """Write the continuation of the sweep folder `folder` (see `continuation`); returns its
    path (default sweeps/NAME.yaml). Raises SpecError."""
    raw, budget, count = continuation(name, folder, tokens, factor)
    out = out or Path("sweeps") / f"{name}.yaml"
    if out.exists():
        raise SpecError(f"{out}: already exists; pick another name or --out")
    pipeline_from_dict(raw, source=str(out))
    header = (
        f"# Continued pretraining: each of the {count} finished trials of\n"
        f"# {raw['stages'][0]['from']['sweep']}\n"
        f"# trains on from its final checkpoint (same model and swept values, fresh optimizer\n"
        f"# and schedule) for {budget} tokens; trials.csv names each one's upstream trial.\n"
        f"#   python -m sweeps.run {out} --dry-run\n"
        f"#   python -m sweeps.run {out}         # -> {raw['run']['storage']}/{name}\n"
    )
    return _write_sweep(out, header, raw, load_pipeline)


def forecast_run_spec(
    name: str, forecast_path: Path, out: Path | None = None, neighbours: bool = False
) -> Path:
    """Write the sweep of a preregistered forecast's run (sweeps.stages.forecast_stage): the source
    sweep's sections with the forecast's hyperparameters, one budget, N* (and neighbours).
    Raises SpecError."""
    from sweeps.stages import forecast_stage

    _check_name(name)
    forecast = forecast_stage.read_forecast(forecast_path)
    source = Path(forecast.source).expanduser()
    if not source.is_absolute() and not source.is_dir():
        source = Path(forecast_path).resolve().parent.parent  # <sweep>/fit/forecast.json
    origin = read_sweep_origin(source.resolve(), "--forecast")
    sections = {k: _without_axes(origin.raw[k]) for k in TRIAL_KEYS if k in origin.raw}
    raw = {
        "name": name,
        "description": (
            f"Forecast {forecast.forecast_id}: N*={forecast.n_star.value:.4g} at "
            f"C={forecast.target_flops:.4g}, predicted loss {forecast.loss.value:.4f}"
        ),
        **forecast_stage.forecast_sections(forecast, sections, neighbours),
        "search": {"metric": origin.search.metric, "mode": origin.search.mode},
    }
    if "resources" in origin.raw:
        raw["resources"] = origin.raw["resources"]
    out = out or Path("sweeps") / f"{name}.yaml"
    if out.exists():
        raise SpecError(f"{out}: already exists; pick another name or --out")
    spec = spec_from_dict(raw, source=str(out))
    shapes = "\n".join(f"#   {line}" for line in forecast_stage.describe_shapes(spec))
    header = (
        f"# The run of forecast {forecast.forecast_id} ({forecast_path}): shapes by the size rule\n"
        f"{shapes}\n"
        f"#   python -m sweeps.run {out}\n"
        f"#   python analysis/fit_scaling.py <storage>/{name} --score {forecast_path}\n"
    )
    return _write_sweep(out, header, raw, load_spec)


def build_parser() -> argparse.ArgumentParser:
    """The command line: a name and one way to start the sweep (template, continuation,
    forecast run or proposal)."""
    parser = argparse.ArgumentParser(
        prog=command_name("scalesweep-new", "python -m sweeps.new"),
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument("name", help="name of the new sweep (its results folder)")
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument(
        "--from", dest="template", type=Path, help="template YAML, e.g. sweeps/scaling.yaml"
    )
    start.add_argument(
        "--continue",
        dest="upstream",
        type=Path,
        help="a finished sweep folder (<storage>/<name>) whose trials train on",
    )
    start.add_argument(
        "--forecast",
        type=Path,
        help="a forecast.json (analysis/fit_scaling.py --forecast): the run it predicts",
    )
    start.add_argument(
        "--propose",
        type=Path,
        metavar="SWEEP_FOLDER",
        help="a finished compute sweep: the runs that most narrow its forecast (sweeps.plan."
        "next_runs)",
    )
    parser.add_argument(
        "--target", help="--propose: C=<FLOPs> or <k>x the largest budget (default 4x)"
    )
    spend = parser.add_mutually_exclusive_group()
    spend.add_argument(
        "--minutes", type=float, help="--propose: wall minutes to spend, at the sweep's own rate"
    )
    spend.add_argument(
        "--flops", type=float, help="--propose: training FLOPs to spend (default: the sweep's)"
    )
    parser.add_argument(
        "--neighbours",
        action="store_true",
        help="--forecast: also N*/2 and 2 N* on the same budget, to test the optimum",
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--tokens", type=int, help="--continue: training tokens of every trial")
    budget.add_argument(
        "--more-tokens-factor",
        type=float,
        help="--continue: budget as a multiple of the largest upstream trial's tokens "
        f"(default {DEFAULT_TOKENS_FACTOR:g})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write (default: next to the template; sweeps/NAME.yaml for --continue)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.neighbours and args.forecast is None:
            raise SpecError("--neighbours: only with --forecast")
        proposing = (args.target, args.minutes, args.flops)
        if args.propose is None and any(v is not None for v in proposing):
            raise SpecError("--target / --minutes / --flops: only with --propose")
        if args.propose is not None:
            from sweeps.plan.next_runs import proposal_spec

            _check_name(args.name)
            target = args.target or "4x"
            path = proposal_spec(
                args.name, args.propose, args.out, target, args.minutes, args.flops
            )
        elif args.forecast is not None:
            path = forecast_run_spec(args.name, args.forecast, args.out, args.neighbours)
        elif args.template is not None:
            if args.tokens is not None or args.more_tokens_factor is not None:
                raise SpecError("--tokens / --more-tokens-factor: only with --continue")
            path = new_spec(args.name, args.template, args.out)
        else:
            path = continue_spec(
                args.name, args.upstream, args.out, args.tokens, args.more_tokens_factor
            )
            print(f"wrote {path}; check it with --dry-run, then run: python -m sweeps.run {path}")
            return 0
    except SpecError as err:
        return report_user_error(err)
    print(f"wrote {path}; run it with: python -m sweeps.run {path} --dry-run")
    return 0


def _write_sweep(out: Path, header: str, raw: dict, check: Any) -> Path:
    """Write a generated sweep YAML under its comment header, then load it back with `check`
    (load_spec or load_pipeline) so a file the product cannot run is never left unreported."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    check(out)
    return out


if __name__ == "__main__":
    sys.exit(main())
