"""A sweep's `analysis:` section: how every fit of its folder reads its points. It is written to
spec.yaml, changes no trial and not the folder's identity, sits at the top of a pipeline, and
reaches the dry-run's simulated fits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from contract.fit_settings import SweepFitSettings
from sweeps.errors import SpecError
from sweeps.plan import precision
from sweeps.plan.trials import make_plan
from sweeps.spec.sweep_spec import spec_from_dict
from sweeps.stages.pipeline import load_pipeline, pipeline_from_dict

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "name": "t",
    "model": {"size": "gpt-20k"},
    "data": {"dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 20000}},
    "trainer": {"max_tokens": 4096, "batch_size": 4},
}
FLOOR = {"analysis": {"approach3_min_tokens_per_param": 10}}


def test_the_section_is_kept_and_changes_no_trial_nor_the_folders_identity():
    plain, floored = spec_from_dict(BASE), spec_from_dict({**BASE, **FLOOR})
    assert floored.analysis.approach3_min_tokens_per_param == 10
    assert floored.fingerprint() == plain.fingerprint()
    assert [t.trial_id for t in make_plan(floored).trials] == [
        t.trial_id for t in make_plan(plain).trials
    ]
    written = floored.to_dict()
    assert written["analysis"] == FLOOR["analysis"]
    assert SweepFitSettings.of_spec(written) == floored.analysis
    assert "analysis" not in plain.to_dict()  # a sweep without one writes none


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"approach3_min_tokens_per_param": -1}, "analysis.approach3_min_tokens_per_param"),
        ({"approach3_min_tokens": 10}, "analysis.approach3_min_tokens"),
    ],
)
def test_a_bad_section_is_one_line_naming_its_key(section, expected):
    with pytest.raises(SpecError, match=expected) as err:
        spec_from_dict({**BASE, "analysis": section}, source="t.yaml")
    assert "\n" not in str(err.value)


def test_a_pipeline_takes_it_at_the_top_only():
    stages = [{"name": "a"}, {"name": "b", "from": {"stage": "a"}}]
    pipeline = pipeline_from_dict({**BASE, **FLOOR, "stages": stages}, source="p.yaml")
    assert all(s.spec.analysis.approach3_min_tokens_per_param == 10 for s in pipeline.stages)
    with pytest.raises(SpecError, match=r"stages\[1\].analysis: set it at the top of the file"):
        pipeline_from_dict({**BASE, "stages": [stages[0], {**stages[1], **FLOOR}]}, "p.yaml")


def test_the_main_job_sets_it_and_its_dry_run_simulates_fits_that_use_it(monkeypatch):
    pipeline = load_pipeline(ROOT / "sweeps/scaling.yaml")
    grid = pipeline.stages[0].spec
    assert grid.analysis.approach3_min_tokens_per_param == 10
    assert yaml.safe_load((ROOT / "sweeps/scaling.yaml").read_text())["analysis"] == {
        "approach3_min_tokens_per_param": 10
    }
    seen: list[list[str]] = []

    class Done:
        returncode, stdout, stderr = 0, "{}", ""

    def run(cmd, **kwargs):
        seen.append(cmd)
        return Done()

    monkeypatch.setattr(precision.subprocess, "run", run)
    precision.expected_precision(make_plan(grid), "4x")
    (cmd,) = seen
    assert cmd[cmd.index("--approach3-min-tokens-per-param") + 1] == "10.0"


def test_the_live_pages_fit_reads_the_section(tmp_path):
    """The page's fit of a folder whose spec.yaml sets the floor leaves out of Approach 3 the
    same points the fit command would."""
    from sweeps.watch import fit_preview
    from tests.sweeps.fake_sweep import write_sweep

    folder = write_sweep(tmp_path / "scaling", finished=30)
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    (folder / "spec.yaml").write_text(yaml.safe_dump({**spec, **FLOOR}))
    out = tmp_path / "fit"
    assert fit_preview.main([str(folder), "--out", str(out), "--bootstrap", "0"]) == 0
    chinchilla = json.loads((out / "fit.json").read_text())["chinchilla"]
    assert any("10+ tokens per parameter" in n for n in chinchilla["notes"])
