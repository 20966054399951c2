"""Several sweep folders (or tables) fitted as one: a sweep and the runs proposed after it.

Each source is loaded on its own (its spec names its metric; its cooldown points join their
runs), then the points are pooled. The sources must measure the same metric in the same mode; a
run keeps its own id, so a bootstrap still resamples runs, and C(N, D) is estimated again over
the pooled points.

    data = load_sources(["results/scaling", "results/scaling-next"])
    data.source            # "results/scaling + results/scaling-next"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from analysis.laws.forms import ComputeModel
from analysis.load.sweep_tables import APPROX, ScalingData, load_scaling_data
from contract.results import RUN_ID


def load_sources(
    sources: Sequence[str | Path], columns: dict[str, str] | None = None, where: str | None = None
) -> ScalingData:
    """Load one source, or several pooled (see ``combine``)."""
    named = [str(s) for s in sources]
    twice = next((s for s in named if named.count(s) > 1), None)
    if twice is not None:
        raise ValueError(f"{twice}: given twice; each source is fitted once")
    datas = [load_scaling_data(s, columns=columns, where=where) for s in sources]
    return datas[0] if len(datas) == 1 else combine(datas)


def combine(datas: Sequence[ScalingData]) -> ScalingData:
    """The points, exclusions and curves of ``datas`` as one ScalingData; raises ValueError
    when the sources measure different metrics or modes, or share a run id."""
    first = datas[0]
    for other in datas[1:]:
        if (other.metric, other.mode) != (first.metric, first.mode):
            raise ValueError(
                f"{other.source}: measures {other.metric} ({other.mode}) but {first.source} "
                f"measures {first.metric} ({first.mode}); fit them separately"
            )
    points = pd.concat([d.points for d in datas], ignore_index=True)
    run = RUN_ID if RUN_ID in points.columns else "id"
    owners = pd.concat([pd.Series(d.source, index=d.points.index) for d in datas])
    shared = points.assign(owner=owners.to_numpy()).groupby(run)["owner"].nunique()
    if (shared > 1).any():
        raise ValueError(
            f"run {shared[shared > 1].index[0]} is in more than one source; each run once"
        )
    curves = [d.curves for d in datas if d.curves is not None]
    columns = first.columns or {}
    compute = first.compute
    if APPROX not in columns.values() and len(points):
        compute = ComputeModel.estimate(points["N"], points["D"], points["C"])
    return replace(
        first,
        points=points,
        excluded=pd.concat([d.excluded for d in datas], ignore_index=True),
        curves=pd.concat(curves, ignore_index=True) if curves else None,
        source=" + ".join(d.source for d in datas),
        compute=compute,
        warnings=tuple(dict.fromkeys(w for d in datas for w in d.warnings)),
    )
