"""`python -m sweeps.new`: a new sweep YAML from a template."""

from __future__ import annotations

from pathlib import Path

from sweeps.new import main
from sweeps.spec.sweep_spec import load_spec

SMOKE = Path(__file__).resolve().parents[2] / "sweeps" / "smoke.yaml"


def test_new_sweep_from_template_keeps_comments_and_validates(tmp_path: Path, capsys):
    out = tmp_path / "mine.yaml"
    assert main(["mine", "--from", str(SMOKE), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("#") and "name: mine" in text
    assert load_spec(out).name == "mine"
    assert main(["mine", "--from", str(SMOKE), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_new_sweep_rejects_bad_names_and_missing_templates(tmp_path: Path, capsys):
    assert main(["bad/name", "--from", str(SMOKE), "--out", str(tmp_path / "x.yaml")]) == 2
    assert main(["ok", "--from", str(tmp_path / "none.yaml")]) == 2
    err = capsys.readouterr().err
    assert "bad/name" in err and "none.yaml" in err
