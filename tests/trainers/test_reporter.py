"""Context validation and the in-memory ListReporter."""

from __future__ import annotations

import dataclasses

import pytest
from torch import nn

from trainers.reporter import Context, ListReporter, Reporter


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rank": 2, "world_size": 2}, "Context.rank"),
        ({"world_size": 0}, "Context.world_size"),
        ({"num_threads": 0}, "Context.num_threads"),
    ],
)
def test_context_rejects_impossible_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Context(**kwargs)


def test_context_defaults_and_frozen():
    ctx = Context()
    layer = nn.Linear(2, 2)
    assert ctx.is_main and ctx.wrap_model(layer) is layer
    assert not Context(rank=1, world_size=2).is_main
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.rank = 1  # type: ignore[misc]


def test_list_reporter_records_copies():
    reporter = ListReporter(resume_from="ckpt/latest")
    assert isinstance(reporter, Reporter)
    metrics = {"step": 1.0}
    reporter.report(metrics, checkpoint_dir="ckpt/latest")
    reporter.report({"step": 2.0})
    metrics["step"] = 99.0
    assert reporter.reports == [{"step": 1.0}, {"step": 2.0}]
    assert reporter.checkpoint_dirs == ["ckpt/latest", None]
    assert reporter.latest_checkpoint() == "ckpt/latest"
    assert ListReporter().latest_checkpoint() is None
