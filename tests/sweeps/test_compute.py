"""The compute axis: budgets -> tokens in whole steps, auto sizes around the optimum, left-out
combinations noted, data limits, composition with other axes, the dry-run and trials.csv."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pandas as pd
import pytest

from contract.compute import tokens_for_budget, training_flops
from contract.metrics import FLOPS
from contract.results import BUDGET, FINISHED
from sweeps.cli import main
from sweeps.errors import SpecError
from sweeps.plan import walltime
from sweeps.plan.trials import make_plan
from sweeps.spec.sweep_spec import load_spec, spec_from_dict

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "sweeps" / "compute_smoke.yaml"

BASE = {
    "name": "c",
    "compute": {"budgets": [2e10, 5e10], "sizes": [1e4, 3e4, "gpt-100k"]},
    "model": {"seq_len": 64},
    "data": {
        "dataset": {"type": "synthetic", "vocab_size": 32, "order": 2, "num_tokens": 1_000_000}
    },
    "trainer": {"batch_size": 8, "eval_tokens": 4096},
}


def _spec(**changes):
    raw = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *head, last = dotted.split(".")
        node = raw
        for key in head:
            node = node.setdefault(key, {})
        node[last] = value
    return spec_from_dict(raw, source="c.yaml")


def test_budget_becomes_whole_steps_of_tokens_within_tolerance():
    plan = make_plan(_spec())
    assert len(plan.trials) == 6 and not plan.notes
    for t in plan.trials:
        budget = t.assignment[BUDGET]
        fwd = t.config.model_config_resolved().flops_per_token
        per_step = t.config.tokens_per_step()
        assert t.tokens % per_step == 0
        # Rounded to the nearest whole step of the exact tokens the budget buys.
        assert abs(t.tokens - tokens_for_budget(budget, fwd)) <= per_step / 2
        assert t.flops == training_flops(fwd, t.tokens)
        assert abs(t.flops / budget - 1) <= 0.02
        assert t.config.trainer.max_tokens == t.tokens
    sizes = {t.config.model.label for t in plan.trials}
    assert sizes == {"gpt-n10.1k", "gpt-n30.2k", "gpt-100k"}
    assert any(t.tag.startswith("C2e10_gpt-n10.1k") for t in plan.trials)


def test_combinations_that_cannot_hit_their_budget_are_left_out_with_a_note():
    # 2e10 FLOPs buy gpt-100k only ~55 steps of 512 tokens: below min_steps 100 it is left out.
    plan = make_plan(_spec(**{"compute.min_steps": 100}))
    assert len(plan.trials) == 5
    assert any("left out C=2e+10 x gpt-100k" in n and "min_steps" in n for n in plan.notes)
    # Steps of 64k tokens cannot land within 0.1 % of a budget: left out, with the miss shown.
    coarse = make_plan(
        _spec(**{"compute.tolerance": 0.001, "compute.min_steps": 1, "trainer.batch_size": 1024})
    )
    assert len(coarse.trials) < 6
    assert any("compute.tolerance" in n for n in coarse.notes)


def test_more_tokens_than_the_data_holds_is_an_error_unless_repetition_is_allowed():
    with pytest.raises(SpecError, match=r"c.yaml: compute.budgets: .*data.fraction=0.1 holds"):
        make_plan(_spec(**{"data.fraction": 0.1}))
    plan = make_plan(_spec(**{"data.fraction": 0.1, "compute.repeat_data": True}))
    repeated = [t for t in plan.trials if "trainer.epochs" in t.assignment]
    assert repeated
    for t in repeated:
        held = t.config.train_size()
        assert t.assignment["trainer.epochs"] >= t.tokens / held > 1
        # The epochs never cap the budget: the trial trains exactly the planned tokens.
        assert t.config.num_tokens(held) == t.tokens


def test_compute_composes_with_lr_seeds_and_data_fraction():
    spec = _spec(
        **{
            "optim.lr": {"grid": [1e-3, 3e-3]},
            "data.fraction": {"grid": [0.6, 1.0]},
            "search.seeds": [0, 1],
        }
    )
    plan = make_plan(spec)
    assert len(plan.trials) == 2 * 2 * 2 * 6
    assert len({t.trial_id for t in plan.trials}) == len(plan.trials)
    keys = {(t.assignment[BUDGET], t.params, t.config.optim.lr, t.config.seed) for t in plan.trials}
    assert len(keys) == 2 * 6 * 2


def test_auto_sizes_are_log_spaced_and_bracket_each_budgets_optimum():
    spec = _spec(
        **{
            "compute.budgets": [1e12, 1e13],
            "compute.sizes": {"auto": {"per_budget": 5, "tokens_per_param": [2, 300]}},
            "compute.repeat_data": True,
            "model.seq_len": 128,
        }
    )
    plan = make_plan(spec)

    # A Chinchilla-shaped law L = E + A/N^a + B/D^b whose optimum sits near 20-40 tokens per
    # parameter at these budgets (a = b, so D_opt/N_opt = (B/A)^(1/a)).
    def loss(n: float, d: float) -> float:
        return 1.7 + 400 / n**0.3 + 1200 / d**0.3

    for budget in (1e12, 1e13):
        trials = sorted(
            (t for t in plan.trials if t.assignment[BUDGET] == budget), key=lambda t: t.params
        )
        assert len(trials) == 5
        ratios = [t.tokens / t.params for t in trials]
        assert ratios[0] == pytest.approx(300, rel=0.35)
        assert ratios[-1] == pytest.approx(2, rel=0.35)
        targets = [t.assignment["model.params"] for t in trials]
        steps = [math.log(b / a) for a, b in zip(targets, targets[1:], strict=False)]
        assert max(steps) == pytest.approx(min(steps), rel=0.02)
        # The true optimum along this budget's IsoFLOP line lies strictly inside the sizes.
        best = None
        for n in [10 ** (3.4 + i / 50) for i in range(200)]:
            cfg = spec.trial_config({"model.params": n, "trainer.epochs": 100.0})
            model = cfg.model_config_resolved()
            value = loss(model.num_params, tokens_for_budget(budget, model.flops_per_token))
            best = min(best or (value, n), (value, model.num_params))
        assert trials[0].params < best[1] < trials[-1].params


def test_conflicting_keys_are_one_line_errors(tmp_path: Path, capsys):
    with pytest.raises(SpecError, match="model.size: the compute section sets it"):
        _spec(**{"model.size": {"grid": ["gpt-20k", "gpt-50k"]}})
    with pytest.raises(SpecError, match="trainer.max_tokens: a compute sweep derives it"):
        _spec(**{"trainer.max_tokens": 4096})
    with pytest.raises(SpecError, match="model.size: compute.sizes sets the sizes"):
        _spec(**{"model.size": "gpt-20k"})
    with pytest.raises(SpecError, match="compute.sizes.*unknown model size 'gpt-3q'"):
        _spec(**{"compute.sizes": ["gpt-3q"]})
    with pytest.raises(SpecError, match="compute.budgets"):
        _spec(**{"compute.budgets": [-1.0]})
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMOKE.read_text().replace("tolerance: 0.02", "tolerance: 2"))
    assert main([str(bad), "--dry-run"]) == 2
    assert "compute.tolerance" in capsys.readouterr().err


def test_spec_round_trip_keeps_the_compute_section_and_budgets_grow_like_an_axis():
    spec = load_spec(SMOKE)
    again = spec_from_dict(spec.to_dict(), source="again")
    assert again.compute == spec.compute
    grown = load_spec(SMOKE, ["compute.budgets=[2.0e+10, 5.0e+10, 1.0e+11]"])
    assert grown.fingerprint() == spec.fingerprint()
    assert load_spec(SMOKE, ["compute.tolerance=0.05"]).fingerprint() != spec.fingerprint()
    # A spec without a compute section dumps none, so its fingerprint is what it was.
    assert "compute" not in load_spec(REPO / "sweeps" / "smoke.yaml").to_dict()


def test_wall_time_packs_trials_largest_first_on_the_free_slots():
    plan = make_plan(_spec())
    cost = walltime.StepCost(0.0, 1e9, 1, "fixed", side_by_side=1.3)
    est = walltime.estimate(plan, cost, slots=2)
    assert len(est.trial_s) == 6 and est.trial_s == sorted(est.trial_s, reverse=True)
    busy = sum(est.trial_s)
    # Two slots: at least half the trial time, at most half plus the longest trial.
    assert busy / 2 <= est.total_s - walltime.RAY_START_S <= busy / 2 + est.trial_s[0]
    one = walltime.estimate(plan, cost, slots=1)
    alone = sum(one.trial_s)
    assert one.total_s - walltime.RAY_START_S == pytest.approx(alone)
    # Side by side each trial takes the measured slowdown longer.
    assert busy == pytest.approx(1.3 * alone)
    assert "x1.30 measured side by side" in walltime.render(est)
    # Training time follows the FLOPs: 2e10 + 5e10 FLOPs x 3 sizes at 1 GFLOP/s, plus evals.
    train_s = sum(t.flops for t in plan.trials) / 1e9
    assert train_s < alone < train_s * 1.2 + 6 * walltime.TRIAL_START_S


def test_wall_time_counts_each_cooldown_branchs_own_decay_and_evaluation():
    cost = walltime.StepCost(overhead_s=0.01, flops_per_s=1e9, threads=1, source="fixed")
    plain = make_plan(_spec(**{"optim.schedule": "wsd"})).trials[0]
    wsd = make_plan(_spec(**{"optim.schedule": "wsd", "optim.cooldowns": [0.5, 1.0]})).trials[0]
    steps = plain.tokens // plain.config.tokens_per_step()
    # The branch at 0.5 decays over the last 20 % of its half of the run: 10 % more steps.
    branch_steps = round(0.5 * steps) - wsd.config.optim.decay_start(round(0.5 * steps))
    step_s = cost.step_s(plain.flops / steps)
    eval_s = (
        training_flops(
            plain.config.model_config_resolved().flops_per_token, plain.config.trainer.eval_tokens
        )
        / 3
        / cost.flops_per_s
    )
    extra = walltime.trial_seconds(wsd, cost) - walltime.trial_seconds(plain, cost)
    assert extra == pytest.approx(branch_steps * step_s + eval_s)
    assert branch_steps == pytest.approx(0.1 * steps, abs=1)


def test_dry_run_prints_budget_n_d_ratio_flops_totals_and_time(monkeypatch, capsys):
    monkeypatch.setattr(walltime, "PROBE_S_PER_MODEL", 0.05)
    assert main([str(SMOKE), "--dry-run"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("trial_id"))
    for column in ("budget", "params", "tokens", "D/N", "flops", "vs_budget"):
        assert column in header.split()
    assert "compute: 2 budgets over 2.5x, 3-3 sizes per budget" in out
    assert "estimated wall time:" in out and "measured: 2-model probe" in out


def test_wall_time_counts_the_compile_that_compile_auto_will_make(monkeypatch, tmp_path):
    from trainers import compile_auto

    record = tmp_path / "compile.json"
    record.write_text('{"cold_s": [20.0], "speedup": [1.25]}')
    monkeypatch.setattr(compile_auto, "record_path", lambda cache_dir=None: record)
    monkeypatch.setattr(compile_auto, "compiler_available", lambda: True)
    plan = make_plan(_spec())
    costs = walltime.probe(plan, slots=1).compile  # the host's record, read once by the probe
    assert (costs.cold_s, costs.speedup) == (20.0, 1.25)
    trial = plan.trials[0]
    timed = compile_auto.WARMUP_STEPS + compile_auto.PROBE_STEPS
    # Long enough to repay 20 s at 1.25x: timed eager steps, the compile, the rest 1.25x faster.
    assert walltime.training_seconds(trial, 40_000, 0.01, costs) == pytest.approx(
        timed * 0.01 + 20.0 + (40_000 - timed) * 0.01 / 1.25
    )
    # Too short to repay it (break-even: 20 s / 2 ms saved per step): eager throughout.
    assert walltime.training_seconds(trial, 9_000, 0.01, costs) == pytest.approx(90.0)
    off = make_plan(_spec(**{"trainer.compile": False})).trials[0]
    assert walltime.training_seconds(off, 10_000, 0.01, costs) == pytest.approx(100.0)


def test_probe_measures_a_positive_rate_for_the_plan():
    plan = make_plan(_spec())
    cost = walltime.probe(plan, slots=1)
    assert cost.flops_per_s > 1e6 and cost.overhead_s >= 0 and cost.threads == 1
    assert cost.side_by_side == 1.0  # one slot: nothing runs beside it


def test_probe_times_the_largest_model_beside_a_neighbour_training_in_its_own_process(
    monkeypatch,
):
    monkeypatch.setattr(walltime, "PROBE_S_PER_MODEL", 0.1)
    seen = []
    real_popen = walltime.subprocess.Popen

    def popen(*args, **kwargs):
        seen.append(real_popen(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(walltime.subprocess, "Popen", popen)
    cost = walltime.probe(make_plan(_spec()), slots=2)
    # The neighbour said it was training and left cleanly once told to stop.
    assert len(seen) == 1 and seen[0].returncode == 0
    assert 1.0 <= cost.side_by_side < 10.0


@pytest.mark.ray
def test_compute_smoke_sweep_records_each_trials_budget(ray_session, tmp_path: Path):
    assert main([str(SMOKE), "--storage", str(tmp_path)]) == 0
    trials = pd.read_csv(tmp_path / "compute_smoke" / "trials.csv")
    assert len(trials) == 6 and set(trials["status"]) == {FINISHED}
    assert sorted(set(trials[BUDGET])) == [2e10, 5e10]
    # The trainer's own FLOP count lands on the nominal budget.
    assert ((trials[FLOPS] / trials[BUDGET] - 1).abs() <= 0.02).all()
    assert trials.groupby(BUDGET)["model.params"].nunique().tolist() == [3, 3]
    assert set(trials["model.size"]) == {"gpt-n10.1k", "gpt-n30.2k", "gpt-n98.5k"}
