"""`sweeps.new --from` copies a pipeline template (the main job is one) as it copies a sweep."""

from __future__ import annotations

from pathlib import Path

from sweeps.new import main
from sweeps.stages.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[2]


def test_the_main_job_is_a_template(tmp_path: Path, capsys):
    out = tmp_path / "mine.yaml"
    assert main(["mine", "--from", str(ROOT / "sweeps/scaling.yaml"), "--out", str(out)]) == 0
    pipeline = load_pipeline(out)
    assert pipeline.name == "mine" and [s.name for s in pipeline.stages] == ["grid", "forecast"]
    assert "# The main job" in out.read_text()  # comments and layout kept
