"""Command line of `python -m sweeps.run` / `scalesweep-run`: parse, validate, plan, run.

Everything up to the plan (and all of --dry-run and --schema) runs without starting Ray.
User mistakes print one line and exit 2; Ctrl-C exits 130 with the tables intact.

    python -m sweeps.run sweeps/smoke.yaml --dry-run
    python -m sweeps.run sweeps/scaling.yaml --set optim.lr=1e-3 --storage /tmp/results
    python -m sweeps.run --schema > sweep.schema.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from contract.version import command_name, version_line
from sweeps.errors import SpecError, report_user_error
from sweeps.watch.server import NO_VIEW_ENV

if TYPE_CHECKING:  # the command line imports Ray (and the spec's modules) only when it runs
    from sweeps.spec.sweep_spec import RunOptions
    from sweeps.stages.pipeline import PipelineSpec
    from sweeps.tune.runner import LaunchOptions

DEBUG_ENV = "SCALESWEEP_DEBUG"
"""Set to 1 to see the traceback behind a one-line error."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=command_name("scalesweep-run", "python -m sweeps.run"),
        description="Run a hyperparameter / scaling sweep described by a YAML spec on Ray Tune.",
    )
    p.add_argument("--version", action="version", version=version_line())
    p.add_argument("spec", nargs="?", help="sweep YAML, e.g. sweeps/scaling.yaml")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field by dotted key (value is YAML, axes allowed); repeatable",
    )
    p.add_argument("--dry-run", action="store_true", help="print the expanded trials and exit")
    p.add_argument(
        "--prior",
        metavar="SWEEP_FOLDER",
        help="with --dry-run of a compute sweep: a finished sweep whose fit is the law the "
        "expected precision is simulated from (default: the law shipped with the project)",
    )
    p.add_argument(
        "--noise",
        type=float,
        metavar="FRACTION",
        help="with --dry-run: run-to-run noise of the simulated losses (default: measured)",
    )
    p.add_argument("--storage", help="results root (default: run.storage of the spec, results/)")
    p.add_argument("--name", help="sweep name (default: name of the spec, else the file name)")
    p.add_argument(
        "--address",
        help="Ray cluster: auto, host:6379 or ray://host:10001 "
        "(default: $RAY_ADDRESS, else an embedded local Ray)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the sweep in <storage>/<name> (error if there is none)",
    )
    p.add_argument(
        "--force", action="store_true", help="continue a sweep folder even though its spec changed"
    )
    p.add_argument("--retry-failed", action="store_true", help="run failed trials again")
    p.add_argument(
        "--no-view",
        action="store_true",
        help=f"do not serve the live scaling page (also: {NO_VIEW_ENV}=1)",
    )
    p.add_argument("--schema", action="store_true", help="print the spec's JSON schema and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = _run(args)
    except KeyboardInterrupt:
        status = 130
    except (SpecError, FileNotFoundError, NotADirectoryError) as err:
        # Only user mistakes: an internal ValueError is a bug and keeps its traceback.
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        return report_user_error(err)
    except Exception as err:  # a full disk, an unreadable checkpoint: the machine, not the spec
        cause = _os_error_in(err)
        if cause is None or os.environ.get(DEBUG_ENV) == "1":
            raise
        report_user_error(cause)
        return 1
    if status in (130, 143):
        print(f"continue with: {continue_command(args)}", file=sys.stderr, flush=True)
    return status


def _os_error_in(err: BaseException) -> OSError | None:
    """The OSError behind `err` (Tune may wrap what a callback raised), if any."""
    seen: set[int] = set()
    node: BaseException | None = err
    while node is not None and id(node) not in seen:
        if isinstance(node, OSError):
            return node
        seen.add(id(node))
        node = node.__cause__ or node.__context__
    return None


def continue_command(args: argparse.Namespace) -> str:
    """The exact command that continues this sweep where it stopped."""
    words = ["python", "-m", "sweeps.run", args.spec]
    for text in args.overrides:
        words += ["--set", text]
    for flag, value in (("--storage", args.storage), ("--name", args.name)):
        if value:
            words += [flag, value]
    if args.address:
        words += ["--address", args.address]
    if args.force:
        words.append("--force")
    if args.retry_failed:
        words.append("--retry-failed")
    return shlex.join([*words, "--resume"])


def _run(args: argparse.Namespace) -> int:
    if args.schema:
        from sweeps.spec.schema import spec_json_schema

        print(json.dumps(spec_json_schema(), indent=2))
        return 0
    if not args.spec:
        raise SpecError("no spec given: python -m sweeps.run SPEC.yaml [--dry-run]")
    from sweeps.plan.start_checks import check_startable
    from sweeps.plan.trials import make_plan, render_plan
    from sweeps.spec.sweep_spec import read_with_overrides, spec_from_dict
    from sweeps.stages.pipeline import is_pipeline, pipeline_from_raw

    _check_flags(args)
    raw = read_with_overrides(args.spec, args.overrides)
    if is_pipeline(raw):
        return _run_pipeline(args, pipeline_from_raw(raw, source=args.spec, name=args.name))
    try:
        spec = spec_from_dict(raw, source=args.spec, name=args.name)
    except SpecError as err:
        raise _blame_override(args, err) from None
    try:
        plan = make_plan(spec)
    except SpecError:
        raise
    except (ValueError, TypeError, AssertionError, OSError) as err:
        # Raised while building a trial (a data file, an RL environment): name the spec.
        text = " ".join(str(err).split()) or err.__class__.__name__
        key = "task.env_config: " if spec.is_rl and not text.startswith("task.") else ""
        raise SpecError(f"{args.spec}: {key}{text}") from None
    check_startable(plan, _node_memory(args))
    if args.dry_run:
        print(render_plan(plan))
        if spec.compute is not None and plan.trials:
            from sweeps.plan.dry_run import DEFAULT_TARGET, compute_lines

            print("\n".join(compute_lines(plan, DEFAULT_TARGET, args.prior, args.noise)[0]))
        return 0
    from sweeps.tune.runner import run_sweep

    return run_sweep(plan, _run_options(args, spec.run))


def _node_memory(args: argparse.Namespace) -> int | None:
    """This machine's memory when the trials run here; a cluster's nodes are not visible."""
    from sweeps.plan.start_checks import machine_memory

    return None if args.address or os.environ.get("RAY_ADDRESS") else machine_memory()


def _check_flags(args: argparse.Namespace) -> None:
    """Flags whose empty value would silently mean a default (./results, the file name), and
    the dry-run's own flags given without --dry-run."""
    for flag, value in (("--storage", args.storage), ("--name", args.name)):
        if value is not None and not value.strip():
            raise SpecError(f"{flag}: empty value; give a path or drop the flag")
    for flag, value in (("--prior", args.prior), ("--noise", args.noise)):
        if value is not None and not args.dry_run:
            raise SpecError(f"{flag}: only with --dry-run (it sets the expected precision)")
    if args.noise is not None and not 0 <= args.noise < 1:
        raise SpecError(f"--noise: expected a fraction in [0, 1), e.g. 0.015, got {args.noise:g}")


def _blame_override(args: argparse.Namespace, err: SpecError) -> SpecError:
    """Name the `--set` that made a valid spec file invalid, rather than the file."""
    from sweeps.spec.sweep_spec import read_with_overrides, spec_from_dict

    if not args.overrides:
        return err
    try:
        spec_from_dict(read_with_overrides(args.spec, []), name=args.name)
    except SpecError:
        return err  # the file is wrong by itself (or needs the overrides to be complete)
    for n, text in enumerate(args.overrides):
        try:
            spec_from_dict(read_with_overrides(args.spec, args.overrides[: n + 1]), name=args.name)
        except SpecError as sub:
            message = str(sub).removeprefix("<spec>: ")
            return SpecError(f"--set {text}: {message}")
    return err


def _check_storage(path: str, label: str) -> None:
    """A results root that cannot hold the sweep fails now, naming where it came from."""
    from contract.storage import RemoteFolder, is_remote

    if is_remote(path):  # bad credentials, no such bucket, no endpoint: before any write
        RemoteFolder.open(path)
        return
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise SpecError(f"{label} {path}: exists and is not a folder")
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:  # the one way to know: permissions, read-only mounts and /sys all answer here
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = (err.strerror or err.__class__.__name__).lower()
        raise SpecError(f"{label} {path}: cannot create the results folder ({reason})") from None
    for made in missing:  # the sweep's lock makes them when it runs; a refused run leaves none
        try:
            made.rmdir()
        except OSError:
            break


def _run_options(args: argparse.Namespace, run: RunOptions) -> LaunchOptions:
    """Where and how to run, from the command line over the spec's `run:` section."""
    from sweeps.tune.runner import LaunchOptions

    _check_storage(args.storage or run.storage, "--storage" if args.storage else "run.storage")
    return LaunchOptions(
        storage=args.storage or run.storage,
        address=args.address,
        resume=args.resume,
        force=args.force,
        retry_failed=args.retry_failed or run.retry_failed,
        view=not args.no_view and os.environ.get(NO_VIEW_ENV) != "1",
    )


def _run_pipeline(args: argparse.Namespace, pipeline: PipelineSpec) -> int:
    if args.dry_run:
        from sweeps.plan.dry_run import print_pipeline

        print_pipeline(pipeline, args.prior, args.noise)
        return 0
    from sweeps.tune.runner import run_pipeline

    return run_pipeline(pipeline, _run_options(args, pipeline.run))
