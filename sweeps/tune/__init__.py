"""The Ray edge: Tune runner, its callbacks, the trainable, Optuna, trackers, the cluster."""
