"""The --where filter selects rows and can run nothing: injection payloads are refused."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.fit_scaling import main
from analysis.load.where import FilterError, row_mask

FRAME = pd.DataFrame(
    {
        "stage": ["main", "main", "probe", "main"],
        "params": [1e6, 1e7, 1e7, 1e8],
        "eval/loss": [4.0, 3.5, 3.6, float("nan")],
        "model.size": ["a", "b", "b", "c"],
    }
)


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("stage == 'main'", [0, 1, 3]),
        ("params >= 1e7 and stage != 'probe'", [1, 3]),
        ("1e6 < params", [1, 2, 3]),
        ("1e6 < params < 1e8", [1, 2]),
        ("`model.size` in ['a', 'c']", [0, 3]),
        ("`model.size` not in ('a',)", [1, 2, 3]),
        ("not (stage == 'main') or `eval/loss` < 3.6", [1, 2]),
        ("`eval/loss` > -1", [0, 1, 2]),  # NaN compares false, as in pandas
    ],
)
def test_filter_selects_rows(text, rows):
    assert list(FRAME.index[row_mask(FRAME, text)]) == rows


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("@pd.io.common.os.system('touch pwned')", "not a filter expression"),
        ("__import__('os').system('touch pwned') == 0", "one column name and one literal"),
        ("params.__class__ == 1", "one column name and one literal"),
        ("stage == stage", "expected a literal"),
        ("params + 1 > 3", "one column name and one literal"),
        ("params", "is not a comparison"),
        ("params is None", "only == != < <= > >= in"),
        ("nope == 1", "no column 'nope'"),
        ("params in 3", "`in` needs a list"),
        ("params == [1, 2]", "a list can only follow"),
        ("`eval/loss < 3", "unbalanced backtick"),
        ("[x for x in ()] == 1", "one column name and one literal"),
    ],
)
def test_anything_else_is_refused(text, why):
    with pytest.raises(FilterError, match=why.replace("(", r"\(").replace("[", r"\[")):
        row_mask(FRAME, text)


@pytest.mark.parametrize(
    "payload",
    [
        "@pd.io.common.os.system('touch {pwned}')",
        "@path.write_text('x') > 0",
        "__import__('pathlib').Path('{pwned}').touch() == 1",
        "stage == open('{pwned}', 'w').name",
    ],
)
def test_cli_injection_runs_nothing(payload, sweep_dir, tmp_path, capsys):
    pwned = tmp_path / "pwned"
    before = (sweep_dir / "trials.csv").read_bytes()
    status = main(
        [
            str(sweep_dir),
            "--law",
            "power",
            "--bootstrap",
            "0",
            "--where",
            payload.format(pwned=pwned),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "--where" in err[0]
    assert not pwned.exists() and (sweep_dir / "trials.csv").read_bytes() == before
