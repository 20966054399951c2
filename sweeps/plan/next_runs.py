"""`python -m sweeps.new NAME --propose results/<sweep>`: the next runs of a compute sweep.

The choice is the analysis's (`analysis/design/proposal.py`, run in a child process kept apart
from the Ray driver, its answer read from the JSON it writes): from the sweep's own fit it picks the runs that most narrow the 95 %
interval of the predicted loss at the target per FLOP, within an allowance of FLOPs or minutes.
This module writes them as a sweep YAML: the source sweep's trial sections unchanged, its
budgets and sizes as `compute.sizes_by_budget`, and a seed the source never used, so a repeat
of one of its runs is a new run; the header gives the expected widths before and after.

    path = proposal_spec("scaling-next", Path("results/scaling"), target="4x", minutes=20)
    # python -m sweeps.run sweeps/scaling-next.yaml
    # python analysis/fit_scaling.py results/scaling results/scaling-next   # fitted together
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from contract.metrics import PARAMS
from contract.results import BUDGET, MODEL_SIZE, SPEC_FILE, TRIAL_ID, TRIALS_FILE
from models.shapes import MIN_PARAMS
from sweeps.errors import SpecError
from sweeps.folder.tables import read_csv_rows
from sweeps.spec.sweep_spec import read_yaml, spec_from_dict
from sweeps.stages.forecast_stage import DERIVED
from sweeps.stages.pipeline import STAGE_KEYS, _merge, is_pipeline, read_sweep_origin

PROPOSER = Path(__file__).resolve().parents[2] / "analysis" / "design" / "proposal.py"
SIMULATION_S = 20.0
"""Seconds the design check may spend on each design (before and after) for the header's
expected widths; it fits at least 2 replicates."""
KINDS = {
    "budget above": "at budgets above the largest",
    "size": "at other sizes of the sweep's budgets",
    "repeat": "repeats (a new seed) of the runs the fit misses most",
}


def compute_stage(folder: Path) -> tuple[str, dict[str, Any]]:
    """The stage whose runs the proposal extends, and its sections: a plain sweep's "main", or
    a pipeline's last stage with a compute section (the main job's grid, not its forecast)."""
    raw = read_yaml(folder / SPEC_FILE)
    if not is_pipeline(raw):
        return "main", raw
    defaults = {k: v for k, v in raw.items() if k not in ("stages", "name")}
    for body in reversed(raw["stages"]):
        merged = _merge(defaults, {k: v for k, v in body.items() if k not in STAGE_KEYS})
        if "compute" in merged:
            return body["name"], merged
    raise SpecError(f"--propose: {folder} has no stage with a compute: section")


def choose_runs(
    folder: Path,
    stage: str,
    target: str,
    spend: tuple[float | None, float | None],
    slots: int,
) -> dict[str, Any]:
    """The analysis's proposal for `folder`'s `stage` as JSON (`spend`: minutes, FLOPs); its
    one-line error as a SpecError."""
    minutes, flops = spend
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "proposal.json"
        argv = [str(folder), "--where", f"stage == '{stage}'", "--target", target]
        argv += ["--slots", str(slots), "--seconds", str(SIMULATION_S)]
        argv += ["--min-params", str(MIN_PARAMS), "--json", str(out)]
        if minutes is not None:
            argv += ["--minutes", str(minutes)]
        if flops is not None:
            argv += ["--flops", str(flops)]
        proc = subprocess.run(
            [sys.executable, str(PROPOSER), *argv], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0 or not out.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise SpecError(f"--propose: {last.removeprefix('proposal: error: ')}")
        return json.loads(out.read_text(encoding="utf-8"))


def _sections(raw: dict[str, Any]) -> dict[str, Any]:
    """The source's trial sections without what the compute section sets per run."""
    from sweeps.new import _without_axes
    from sweeps.spec.sweep_spec import TRIAL_KEYS

    out = {}
    for key in TRIAL_KEYS:
        if key in raw:
            value = _without_axes(raw[key])
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in DERIVED.get(key, ())}
            out[key] = value
    return out


def _sizes(runs: list[dict[str, Any]], folder: Path) -> dict[float, list[float | str]]:
    """Sizes by budget; a repeat takes its run's planned size from trials.csv, so the shape
    rule builds the same model again."""
    planned = {str(r.get(TRIAL_ID)): r for r in read_csv_rows(folder / TRIALS_FILE)}
    by_budget: dict[float, list[float | str]] = {}
    for run in runs:
        size: float | str = float(f"{run[PARAMS]:.3g}")
        row = planned.get(run.get("repeats") or "")
        if row is not None:
            size = row.get("model.params") or row.get(MODEL_SIZE) or size
        by_budget.setdefault(float(f"{run[BUDGET]:.6g}"), []).append(size)

    def order(size: float | str) -> tuple[bool, float | str]:
        return (isinstance(size, str), size)

    return {b: sorted(set(s), key=order) for b, s in sorted(by_budget.items())}


def proposal_raw(
    name: str, folder: Path, section: dict[str, Any], proposal: dict[str, Any]
) -> dict[str, Any]:
    """The proposed sweep as a YAML-ready mapping (results next to the source sweep), from the
    source stage's `section`."""
    spec = spec_from_dict(section, source=str(folder / SPEC_FILE), name=folder.name)
    if spec.compute is None:
        raise SpecError(f"--propose: {folder} is not a compute sweep (no compute: section)")
    other = [path for path in spec.axes if path != "seed"]
    if other:
        raise SpecError(
            f"--propose: {folder} sweeps {other[0]} too; the proposer plans compute sweeps "
            "whose only other axis is the seed"
        )
    compute = spec.compute.model_dump(
        mode="json", include={"tolerance", "min_steps", "repeat_data"}
    )
    sizes = _sizes(proposal["runs"], folder)
    compute |= {"budgets": list(sizes), "sizes_by_budget": sizes}
    seed = max(spec.search.seeds) + 1  # a repeat of a run is then a run of its own
    before, after = _widths(proposal)
    return {
        "name": name,
        "description": (
            f"Runs proposed for {folder.name}: the 95 % width of the predicted loss at "
            f"C={proposal['target']:.3g} from {before} to {after} (expected)"
        ),
        "run": {**section.get("run", {}), "storage": str(folder.parent)},
        "compute": compute,
        **_sections(section),
        "search": {"metric": spec.search.metric, "mode": spec.search.mode, "seeds": [seed]},
        **{k: section[k] for k in ("resources", "analysis") if k in section},
    }


def _widths(proposal: dict[str, Any]) -> tuple[str, str]:
    sim = proposal.get("simulated") or proposal["linear"]
    return f"{sim['before']:.1%}", f"{sim['after']:.1%}"


def header(
    name: str, out: Path, folder: Path, stage: str, target: str, proposal: dict[str, Any]
) -> str:
    """The comment block: what was chosen, why, the widths to expect, and the commands."""
    where = "" if stage == "main" else f" --where \"stage == '{stage}' or stage == 'main'\""
    before, after = _widths(proposal)
    lin = proposal["linear"]
    counts: dict[str, int] = {}
    for run in proposal["runs"]:
        counts[run["kind"]] = counts.get(run["kind"], 0) + 1
    kinds = "; ".join(f"{n} {KINDS[k]}" for k, n in counts.items())
    sim = proposal.get("simulated")
    how = (
        "the design check's, over {} and {} noisy replicates of each design".format(
            *sim["replicates"]
        )
        if sim
        else "linearised about the fit"
    )
    a_width = proposal.get("a_width")
    a_line = (
        f"#   expected 95 % width of a: {a_width['before']:.3f} now, {a_width['after']:.3f}\n"
        if a_width
        else ""
    )
    return (
        f"# Runs proposed for {folder}\n"
        f"# at target {target} (C={proposal['target']:.3g}): the {len(proposal['runs'])} runs "
        f"({proposal['cost']:.3g} training FLOPs with their cooldown\n"
        f"# branches, of {proposal['allowance']:.3g} allowed) that most narrow the 95 % interval "
        "of the predicted loss\n"
        "# at the target per FLOP, simulated from the sweep's own fit (Approach 3, scatter of log "
        f"loss {proposal['sigma']:.4f}).\n# Widths: {how}.\n"
        f"#   expected 95 % width of the predicted loss {proposal['loss']:.4f}: {before} now, "
        f"{after} with these runs\n"
        f"#   (linearised: {lin['before']:.1%} -> {lin['after']:.1%})\n"
        f"{a_line}"
        f"#   runs: {kinds}\n"
        f"#   python -m sweeps.run {out} --dry-run\n"
        f"#   python -m sweeps.run {out}\n"
        f"# fitted together:\n"
        f"#   python analysis/fit_scaling.py {folder} {folder.parent / name}{where}\n"
    )


def proposal_spec(
    name: str,
    folder: Path,
    out: Path | None = None,
    target: str = "4x",
    minutes: float | None = None,
    flops: float | None = None,
) -> Path:
    """Write the proposed sweep (default sweeps/NAME.yaml); returns its path. Raises SpecError."""
    from sweeps.new import _write_sweep
    from sweeps.spec.sweep_spec import load_spec

    folder = folder.expanduser().resolve()
    read_sweep_origin(folder, "--propose")  # a missing or foreign folder, named, before the fit
    stage, section = compute_stage(folder)
    if name == folder.name:
        raise SpecError(f"{name}: the proposal needs a name of its own, not {folder.name}")
    for flag, value in (("--minutes", minutes), ("--flops", flops)):
        if value is not None and not value > 0:
            raise SpecError(f"{flag}: must be positive, got {value:g}")
    out = out or Path("sweeps") / f"{name}.yaml"
    if out.exists():
        raise SpecError(f"{out}: already exists; pick another name or --out")
    proposal = choose_runs(folder, stage, target, (minutes, flops), max(1, os.cpu_count() or 1))
    if not proposal["runs"]:
        raise SpecError(
            "--propose: no run narrows the predicted loss within the allowance; "
            "raise --minutes or --flops"
        )
    raw = proposal_raw(name, folder, section, proposal)
    text = header(name, out, folder, stage, target, proposal)
    return _write_sweep(out, text, raw, load_spec)
