"""From a spec to planned trials: sizes and budgets, resources per trial, wall time."""
