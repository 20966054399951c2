"""RLlib result -> standard metric names, FLOP convention and divergence detection."""

from __future__ import annotations

import math

import pytest

from contract.metrics import (
    EPISODE_RETURN,
    FLOPS,
    FLOPS_PER_S,
    LR,
    MFU,
    PARAMS,
    PARAMS_TOTAL,
    STEP,
    TOKENS,
    TOKENS_PER_S,
    TRAIN_LOSS,
    TRAIN_TIME_S,
)
from rl.metrics import check_finite, standard_metrics
from trainers.reporter import TrialDiverged

# The parts of a real RLlib 2.60 PPO result that the mapping reads (trimmed).
CANNED = {
    "env_runners": {
        "num_env_steps_sampled": 503,
        "num_env_steps_sampled_lifetime": 1006.0,
        "episode_return_mean": 26.06,
        "episode_len_mean": 26.06,
    },
    "learners": {
        "default_policy": {
            "total_loss": 9.43,
            "default_optimizer_learning_rate": 5e-05,
            "num_trainable_parameters": 9155.0,
        },
        "__all_modules__": {"num_env_steps_trained": 4716},
    },
    "num_env_steps_sampled_lifetime": 1006.0,
    "training_iteration": 2,
}


def test_canned_result_maps_to_standard_names():
    m = standard_metrics(
        CANNED, step=2, params=9155, flops_per_step=2 * 9155, train_time_s=4.0, tokens_per_s=251.5
    )
    assert m[STEP] == 2.0
    assert m[TOKENS] == 1006.0
    assert m[PARAMS] == m[PARAMS_TOTAL] == 9155.0
    assert m[FLOPS] == 6 * 9155 * 1006
    assert m[EPISODE_RETURN] == pytest.approx(26.06)
    assert m[TRAIN_LOSS] == pytest.approx(9.43)
    assert m[LR] == 5e-05
    assert m[TRAIN_TIME_S] == 4.0 and m[TOKENS_PER_S] == 251.5
    assert all(isinstance(v, float) for v in m.values())
    # Without the hardware's peak there is no MFU to report.
    assert FLOPS_PER_S not in m and MFU not in m


def test_speed_follows_the_one_definition_of_compute():
    m = standard_metrics(
        CANNED,
        step=2,
        params=9155,
        flops_per_step=2 * 9155,
        train_time_s=4.0,
        tokens_per_s=251.5,
        peak_flops_per_s=1e10,
    )
    assert m[FLOPS_PER_S] == 6 * 9155 * 251.5
    assert m[MFU] == pytest.approx(6 * 9155 * 251.5 / 1e10)


def test_missing_values_are_left_out_not_nan():
    # Before the first finished episode / the first SGD step (DQN warm-up) RLlib has no value.
    early = {"env_runners": {"num_env_steps_sampled_lifetime": 100.0}, "learners": {}}
    m = standard_metrics(
        early, step=1, params=10, flops_per_step=20, train_time_s=1.0, tokens_per_s=100.0
    )
    assert EPISODE_RETURN not in m and TRAIN_LOSS not in m and LR not in m
    assert m[TOKENS] == 100.0
    check_finite(m, lr=1e-3)


@pytest.mark.parametrize("key", [TRAIN_LOSS, EPISODE_RETURN])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_or_inf_raises_trial_diverged_with_reason(key, bad):
    m = standard_metrics(
        CANNED, step=7, params=1, flops_per_step=2, train_time_s=1.0, tokens_per_s=1.0
    )
    m[key] = bad
    with pytest.raises(TrialDiverged, match=r"iteration 7 after 1006 env steps \(lr=0.001\)"):
        check_finite(m, lr=1e-3)
    assert issubclass(TrialDiverged, RuntimeError)
