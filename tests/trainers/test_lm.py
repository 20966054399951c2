"""The language-model loop end to end on a tiny synthetic language, without Ray."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from contract.metrics import (
    DONE,
    EVAL_LOSS,
    FLOPS,
    LR,
    PARAMS,
    PARAMS_TOTAL,
    STANDARD_METRICS,
    STEP,
    TOKENS,
    TRAIN_LOSS,
)
from trainers.checkpoint import STATE_FILE, load_state
from trainers.config import OptimConfig
from trainers.lm import train
from trainers.reporter import Context, ListReporter, TrialDiverged

FULL_STEPS, EVAL_EVERY = 40, 10
TOKENS_PER_STEP = 8 * 32  # batch_size x seq_len of the tiny config in conftest.py


class CrashAfter(ListReporter):
    """Records reports like ListReporter, then fails the way a lost worker would."""

    def __init__(self, reports: int) -> None:
        super().__init__()
        self.limit = reports

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        super().report(metrics, checkpoint_dir)
        if len(self.reports) == self.limit:
            raise KeyboardInterrupt("simulated crash")


class NaNAfter(nn.Module):
    """Wraps a model so that its training forward returns NaN logits from call `calls` on."""

    def __init__(self, model: nn.Module, calls: int) -> None:
        super().__init__()
        self.model, self.calls, self.seen = model, calls, 0

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        self.seen += 1
        logits = self.model(idx)
        return logits * float("nan") if self.seen > self.calls else logits


@pytest.fixture(scope="module")
def full_run(make_cfg, tmp_path_factory):
    """One uninterrupted 40-step run, evaluated every 10 steps, shared by several tests."""
    cfg = make_cfg(FULL_STEPS, eval_interval_steps=EVAL_EVERY)
    trial_dir = tmp_path_factory.mktemp("full")
    reporter = ListReporter()
    final = train(cfg, reporter, Context(trial_dir=str(trial_dir), num_threads=1))
    return cfg, reporter, final, trial_dir


def test_two_step_run_reports_every_standard_metric(make_cfg, tmp_path):
    reporter = ListReporter()
    final = train(make_cfg(2), reporter, Context(trial_dir=str(tmp_path), num_threads=1))
    # Default cadence: total_steps // 10, at least 1, so both steps are evaluated.
    assert [r[STEP] for r in reporter.reports] == [1, 2]
    for report in reporter.reports:
        assert set(STANDARD_METRICS) <= set(report)
        assert all(math.isfinite(report[k]) for k in STANDARD_METRICS)
    assert DONE not in reporter.reports[0] and reporter.reports[-1][DONE] == 1.0
    assert final == reporter.reports[-1]
    assert all(Path(d, STATE_FILE).is_file() for d in reporter.checkpoint_dirs)


def test_tokens_flops_and_params_are_exact(full_run):
    cfg, reporter, _, _ = full_run
    assert cfg.tokens_per_step() == TOKENS_PER_STEP
    model_cfg = cfg.model_config_resolved()
    steps = [r[STEP] for r in reporter.reports]
    assert steps == [10, 20, 30, 40]
    for r in reporter.reports:
        assert r[TOKENS] == r[STEP] * TOKENS_PER_STEP
        assert r[FLOPS] == pytest.approx(3 * model_cfg.flops_per_token * r[TOKENS], rel=1e-12)
        assert (r[PARAMS], r[PARAMS_TOTAL]) == (model_cfg.num_params, model_cfg.num_params_total)
    flops = [r[FLOPS] for r in reporter.reports]
    assert flops == sorted(flops) and len(set(flops)) == len(flops)


def test_short_run_learns(full_run):
    cfg, reporter, final, _ = full_run
    evals = [r[EVAL_LOSS] for r in reporter.reports]
    # Uniform guessing scores log(vocab); the language's entropy rate is the floor.
    assert cfg.data.dataset.entropy_rate_nats < final[EVAL_LOSS] < evals[0]
    assert evals[0] < math.log(cfg.data.vocab_size)
    assert final[TRAIN_LOSS] < reporter.reports[0][TRAIN_LOSS]


def test_reported_lr_follows_the_schedule(full_run):
    cfg, reporter, _, _ = full_run
    for r in reporter.reports:
        assert r[LR] == pytest.approx(cfg.optim.lr_at(r[STEP] - 1, FULL_STEPS))


def test_checkpoints_load_with_weights_only(full_run):
    _, reporter, final, trial_dir = full_run
    root = trial_dir / "checkpoints"
    assert reporter.checkpoint_dirs == [str(root / "latest")] * 4
    states = {name: load_state(root / name) for name in ("latest", "best", "final")}
    assert states["final"]["step"] == FULL_STEPS and states["final"]["tokens"] == final[TOKENS]
    best_eval = min(r[EVAL_LOSS] for r in reporter.reports)
    assert states["best"]["metrics"][EVAL_LOSS] == best_eval
    assert torch.equal(
        states["final"]["model"]["tok_emb.weight"], states["latest"]["model"]["tok_emb.weight"]
    )


def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(full_run, tmp_path):
    cfg, full_reporter, full_final, full_dir = full_run
    ctx = Context(trial_dir=str(tmp_path), num_threads=1)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, CrashAfter(reports=2), ctx)

    resumed = ListReporter(resume_from=str(tmp_path / "checkpoints" / "latest"))
    final = train(cfg, resumed, ctx)
    assert [r[STEP] for r in resumed.reports] == [30, 40]
    assert final[TOKENS] == full_final[TOKENS] and final[DONE] == 1.0
    # Same batches, same lr schedule, same optimizer state: bit-identical on CPU.
    assert final[EVAL_LOSS] == full_final[EVAL_LOSS]
    ours = load_state(tmp_path / "checkpoints" / "final")["model"]
    theirs = load_state(full_dir / "checkpoints" / "final")["model"]
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_resuming_a_finished_run_repeats_its_final_report(full_run):
    cfg, _, full_final, full_dir = full_run
    reporter = ListReporter(resume_from=str(full_dir / "checkpoints" / "final"))
    assert train(cfg, reporter, Context(trial_dir=str(full_dir), num_threads=1)) == full_final
    assert reporter.reports == [full_final]


def test_resume_rejects_a_checkpoint_of_another_run(full_run, make_cfg, tmp_path):
    _, _, _, full_dir = full_run
    reporter = ListReporter(resume_from=str(full_dir / "checkpoints" / "latest"))
    with pytest.raises(ValueError, match="checkpoint .* is from a run of 40 steps"):
        train(make_cfg(2), reporter, Context(trial_dir=str(tmp_path), num_threads=1))


def test_nan_loss_raises_trial_diverged_naming_the_step(make_cfg, tmp_path):
    ctx = Context(trial_dir=str(tmp_path), num_threads=1, wrap_model=lambda m: NaNAfter(m, 5))
    reporter = ListReporter()
    with pytest.raises(TrialDiverged, match=r"loss became nan at step 5 \(lr="):
        train(make_cfg(20, eval_interval_steps=10), reporter, ctx)
    assert reporter.reports == []


def test_huge_learning_rate_diverges(make_cfg, tmp_path):
    cfg = make_cfg(40, optim=OptimConfig(lr=1e6, warmup_fraction=0.0, grad_clip=None))
    with pytest.raises(TrialDiverged, match="loss became (nan|inf) at step"):
        train(cfg, ListReporter(), Context(trial_dir=str(tmp_path), num_threads=1))


def test_other_ranks_report_but_write_no_checkpoint(make_cfg, tmp_path):
    reporter = ListReporter()
    ctx = Context(rank=1, world_size=2, trial_dir=str(tmp_path), num_threads=1)
    # max_tokens covers 8 single-worker steps, so 4 steps of both workers.
    final = train(make_cfg(8, eval_interval_steps=2), reporter, ctx)
    assert [r[STEP] for r in reporter.reports] == [2, 4]
    assert reporter.checkpoint_dirs == [None, None]
    assert not (tmp_path / "checkpoints").exists()
    # Tokens count every worker's batches.
    assert final[TOKENS] == final[STEP] * 2 * TOKENS_PER_STEP


def test_grad_accumulation_and_bf16(make_cfg, tmp_path):
    cfg = make_cfg(2, grad_accum_steps=2, precision="bf16")
    final = train(cfg, ListReporter(), Context(trial_dir=str(tmp_path), num_threads=1))
    assert final[STEP] == 2 and final[TOKENS] == 2 * 2 * TOKENS_PER_STEP
    assert math.isfinite(final[TRAIN_LOSS]) and math.isfinite(final[EVAL_LOSS])


def test_keep_checkpoints_false_keeps_only_latest(make_cfg, tmp_path):
    train(make_cfg(2, keep_checkpoints=False), ListReporter(), Context(trial_dir=str(tmp_path)))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest"]


def test_eval_tokens_shorter_than_one_window_is_rejected(make_cfg, tmp_path):
    with pytest.raises(ValueError, match="trainer.eval_tokens"):
        train(make_cfg(2, eval_tokens=8), ListReporter(), Context(trial_dir=str(tmp_path)))


def test_evaluation_scores_windows_spread_over_the_held_out_split(make_cfg):
    from data import build
    from trainers.lm import LMMethod

    cfg = make_cfg(2, eval_tokens=4 * 32)  # four windows of 32 tokens
    method = LMMethod(cfg, Context(), torch.device("cpu"))
    held_out = build(cfg.data).eval
    windows = [row for x, _ in method.eval_batches for row in x]
    assert len(windows) == 4
    available = (len(held_out) - 1) // 32
    starts = [i * available // 4 * 32 for i in range(4)]
    assert starts[-1] > len(held_out) // 2  # the split's last half is scored, not only its start
    for start, row in zip(starts, windows, strict=True):
        assert torch.equal(row, held_out[start : start + 32].long())
