"""Command line: fit scaling laws to a sweep folder or a CSV/parquet table.

Runs as ``python analysis/fit_scaling.py``, ``python -m analysis.fit_scaling`` or the
``scalesweep-fit`` entry point; the work happens in ``analysis.fit_all``.

    python analysis/fit_scaling.py results/my-sweep --predict N=1e9,D=2e10 --out fit/
    python analysis/fit_scaling.py chinchilla.csv --columns "N=Model Size,C=Training FLOP"
    python analysis/fit_scaling.py results/my-sweep --law power --x C --json fit.json
    python analysis/fit_scaling.py results/my-sweep --forecast 10x      # -> fit/forecast.json
    python analysis/fit_scaling.py results/my-sweep results/my-sweep-next   # fitted together
    python analysis/fit_scaling.py results/my-forecast-run --score results/my-sweep/fit/forecast.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if not __package__:  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import ValidationError  # noqa: E402

from analysis.checks.backtest import holdout_count  # noqa: E402
from analysis.checks.precision import parse_require, unmet  # noqa: E402
from analysis.fit.bootstrap import BootstrapConfig  # noqa: E402
from analysis.fit.power_sums import FitConfig  # noqa: E402
from analysis.fit_all import LAWS, AnalysisConfig, run_analysis  # noqa: E402
from analysis.forecast.ledger import preregistered  # noqa: E402
from analysis.forecast.steps import (  # noqa: E402
    default_out,
    forecast_step,
    prepare_forecast,
    score_step,
    with_target,
)
from analysis.load.combined import load_sources  # noqa: E402
from analysis.load.sweep_tables import parse_columns, parse_point  # noqa: E402
from analysis.report.plots import write_plots  # noqa: E402
from analysis.report.render import format_table, to_json, to_markdown  # noqa: E402
from contract.errors import validation_line  # noqa: E402
from contract.fit_outputs import REPORT_MD  # noqa: E402
from contract.fit_settings import SweepFitSettings  # noqa: E402
from contract.forecast import FORECAST_FILE  # noqa: E402
from contract.version import command_name, version_line  # noqa: E402

EXIT_IMPRECISE = 3
"""Exit status when a --require limit is not met: the fit ran, but is not precise enough."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    """The command's flags, in three groups: what to fit, how, and what to write."""
    p = _Parser(
        prog=command_name("scalesweep-fit", "fit_scaling"),
        description="Fit scaling laws with intervals and backtests.",
    )
    p.add_argument("--version", action="version", version=version_line())
    p.add_argument(
        "source",
        nargs="+",
        help="sweep folder (trials.csv) or a CSV/parquet table; several are fitted together",
    )
    _data_flags(p)
    _fit_flags(p)
    _output_flags(p)
    return p


def _data_flags(p: argparse.ArgumentParser) -> None:
    """Which law, on which rows and columns, predicting where."""
    p.add_argument(
        "--law",
        choices=[*LAWS, "all"],
        default="all",
        help="law to fit (all: every law the data's design supports)",
    )
    p.add_argument("--x", choices=["N", "D", "C"], default="N", help="power-law variable")
    p.add_argument("--columns", help='column mapping, e.g. "N=Model Size,C=Training FLOP"')
    p.add_argument(
        "--where",
        help="rows to keep: column <op> literal with and/or/not, e.g. \"stage == 'main'\"",
    )
    p.add_argument(
        "--predict",
        nargs="+",
        action="extend",
        default=[],
        metavar="POINT",
        help="extrapolate to points like N=1e9,D=2e10 or C=1e24",
    )


def _fit_flags(p: argparse.ArgumentParser) -> None:
    """Backtests, bootstrap, robustness and the precision the fit must reach."""
    p.add_argument(
        "--holdout-largest",
        type=float,
        metavar="K",
        help="backtest on the K largest runs (or a fraction < 1; 0 disables)",
    )
    p.add_argument("--bootstrap", type=int, default=1000, metavar="R", help="resamples (0: none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--workers", type=int, help="bootstrap processes (default: all cores)")
    p.add_argument("--huber-delta", type=float, default=1e-3, help="Huber threshold (log loss)")
    p.add_argument(
        "--compute-floor", type=float, help="fix L_inf of the compute law (default: fitted)"
    )
    p.add_argument(
        "--approach3-min-tokens-per-param",
        type=float,
        metavar="X",
        help="fit Approach 3 only to points trained on X+ tokens per parameter (0: every "
        "point; default: the sweep's analysis section, else every point)",
    )
    p.add_argument(
        "--require",
        metavar="LIMITS",
        help='precision the fit must reach, e.g. "a<=0.1,loss<=5%%,N*<=2x" (95 %% widths at '
        f"the forecast target); exit {EXIT_IMPRECISE} and no forecast when one is not met",
    )


def _output_flags(p: argparse.ArgumentParser) -> None:
    """Progress, the report and figures, the JSON, and the forecast and its score."""
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--out", type=Path, help=f"folder for plots (PNG, SVG, PDF) and {REPORT_MD}")
    p.add_argument("--json", type=Path, help="write every parameter and interval to this file")
    p.add_argument(
        "--forecast",
        metavar="TARGET",
        help=f"preregister {FORECAST_FILE} for C=<FLOPs> or <k>x the largest budget (in --out, "
        "default <sweep>/fit)",
    )
    p.add_argument(
        "--score",
        type=Path,
        metavar="FORECAST_JSON",
        help="score the finished run in SOURCE against this forecast; append to the ledger",
    )


def _config(args: argparse.Namespace) -> AnalysisConfig:
    if args.bootstrap < 0:
        raise ValueError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.huber_delta <= 0:
        raise ValueError(f"--huber-delta must be > 0, got {args.huber_delta}")
    if args.holdout_largest is not None:
        holdout_count(100, args.holdout_largest)  # validates the value, names the flag
    if args.compute_floor is not None and not args.compute_floor > 0:
        raise ValueError(f"--compute-floor must be > 0, got {args.compute_floor}")
    floor = args.approach3_min_tokens_per_param
    if floor is not None and not floor >= 0:
        raise ValueError(f"--approach3-min-tokens-per-param must be >= 0, got {floor}")
    return AnalysisConfig(
        laws=None if args.law == "all" else (args.law,),
        compute_floor=args.compute_floor,
        approach3_min_tokens_per_param=floor,
        x=args.x,
        predict=tuple(parse_point(p) for p in args.predict),
        holdout=args.holdout_largest,
        fit=FitConfig(huber_delta=args.huber_delta),
        bootstrap=BootstrapConfig(n_resamples=args.bootstrap, seed=args.seed, workers=args.workers),
    )


def _one_line(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return validation_line(err)
    return " ".join(str(err).split())


class Progress:
    """Progress lines on stderr, only once a fit has run for ``after_s`` seconds (short fits
    stay quiet) and at most one bootstrap line per second."""

    def __init__(self, after_s: float = 2.0) -> None:
        self.start, self.after_s, self.last = time.monotonic(), after_s, 0.0

    def __call__(self, line: str) -> None:
        now = time.monotonic()
        if now - self.start < self.after_s:
            return
        if line.startswith("bootstrap") and now - self.last < 1.0:
            return
        self.last = now
        print(f"fit_scaling: [{now - self.start:5.1f} s] {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status: 0 fitted (whatever the verdict), 2 a mistake in
    the inputs or data from which nothing could be fitted, 3 a ``--require`` limit not met."""
    args = build_parser().parse_args(argv)
    if args.score is not None:
        if len(args.source) > 1:
            print("fit_scaling: error: --score: give the one folder of the run", file=sys.stderr)
            return 2
        return score_step(args.source[0], args.score, args.where)
    try:
        config = _config(args)
        required = parse_require(args.require) if args.require is not None else []
        columns = parse_columns(args.columns) if args.columns else None
        data = load_sources(args.source, columns=columns, where=args.where)
        config = config.with_sweep_settings(SweepFitSettings.of_spec(data.spec))
        if args.forecast:
            config = with_target(config, data, args.forecast)
            args.out = args.out or default_out(args.source[0])
        analysis = run_analysis(data, config, None if args.quiet else Progress())
    except (ValueError, FileNotFoundError) as err:
        print(f"fit_scaling: error: {_one_line(err)}", file=sys.stderr)
        return 2
    if not analysis.results:
        why = "; ".join(f"{k}: {v}" for k, v in analysis.skipped.items())
        print(f"fit_scaling: error: nothing could be fitted ({why})", file=sys.stderr)
        return 2
    print(format_table(analysis))
    for source in args.source:  # a sweep's own forecast, and its score once its run is done
        for line in preregistered(Path(source)):
            print(line)
    try:
        # Checked before the report and plots are written: a refused forecast must not
        # replace the report that holds the preregistered one.
        prepared = prepare_forecast(analysis, args.out) if args.forecast else None
    except ValueError as err:
        print(f"fit_scaling: error: {_one_line(err)}", file=sys.stderr)
        return 2
    try:
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(to_json(analysis), indent=2) + "\n", encoding="utf-8")
        if args.out:
            plots = write_plots(analysis, args.out)
            (args.out / REPORT_MD).write_text(to_markdown(analysis, plots), encoding="utf-8")
            n = len({p.stem for p in plots})
            print(f"wrote {n} plots (PNG, SVG, PDF) and {args.out / REPORT_MD}")
        if required and (missed := unmet(list(analysis.precision), required)):
            for line in missed:
                print(f"fit_scaling: required precision not met: {line}", file=sys.stderr)
            return EXIT_IMPRECISE
        if prepared is not None:
            return forecast_step(prepared, args.out)
    except OSError as err:
        print(f"fit_scaling: error: cannot write output: {_one_line(err)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
