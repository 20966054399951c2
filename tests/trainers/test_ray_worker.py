"""The Ray Train adapter's contract for single-worker (local mode) trials."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.metrics import DONE, EVAL_LOSS
from sweeps.plan.resources import WorkerResources
from trainers.ray_worker import fit_trial


def _never_called() -> list:
    raise AssertionError(
        "a local-mode trial built worker-group callbacks (TuneReportCallback starts a queue "
        "actor per trial and its session polls it on every result)"
    )


@pytest.mark.ray
def test_local_mode_reports_every_result_and_builds_no_callbacks(
    ray_session, make_cfg, tmp_path: Path
):
    cfg = make_cfg(8, eval_interval_steps=2)
    reports: list[dict] = []
    fit_trial(
        cfg,
        WorkerResources(workers=1, cpus_per_worker=1),
        tmp_path,
        "train-local",
        report=reports.append,
        make_callbacks=_never_called,
    )
    # Local mode keeps only the last ray.train.report, so every report must come through the
    # given callable: 8 steps, evaluated every 2.
    assert [r["step"] for r in reports] == [2, 4, 6, 8]
    assert reports[-1][DONE] == 1.0 and reports[-1][EVAL_LOSS] > 0
    assert (tmp_path / "checkpoints" / "final").is_dir()
