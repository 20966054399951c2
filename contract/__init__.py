"""The contract every package shares: metric names, result files, statuses, the trial-folder
layout and the one definition of training compute.

It sits below all six packages and imports nothing of ours, neither torch nor Ray, so the
trainers, RL, the runner and the analysis (which must run anywhere) can all import it without
pulling in each other. A string the contract owns is spelled here once and imported elsewhere.

    from contract.metrics import EVAL_LOSS, FLOPS
    from contract.results import TRIALS_FILE, FINISHED, trial_checkpoints
    from contract.compute import training_flops
"""
