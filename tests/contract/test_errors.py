"""The one-line form of a validation error, shared by specs, size presets and the fit's options."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.errors import validation_line


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["a"] = "a"
    width: int = Field(1, gt=0)


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inner: _Inner = _Inner()
    depth: int = 1


def _line(raw: dict, **kwargs) -> str:
    with pytest.raises(ValidationError) as err:
        _Outer.model_validate(raw)
    return validation_line(err.value, raw, **kwargs)


@pytest.mark.parametrize(
    ("raw", "kwargs", "expected"),
    [
        ({"inner": {"widht": 2}}, {"model_cls": _Outer}, "inner.widht: unknown key (did you mean "),
        ({"inner": {"widht": 2}}, {}, "inner.widht: unknown key"),
        ({"inner": {"width": 0}}, {}, "inner.width: Input should be greater than 0 (got 0)"),
        ({"depth": "deep"}, {"prefix": "model."}, "model.depth: Input should be a valid integer"),
        (
            {"depth": "deep", "inner": {"width": 0}},
            {},
            "inner.width: Input should be greater than 0 (got 0) (+1 more problem)",
        ),
    ],
)
def test_one_line_names_the_dotted_key(raw: dict, kwargs: dict, expected: str) -> None:
    line = _line(raw, **kwargs)
    assert line.startswith(expected) and "\n" not in line
