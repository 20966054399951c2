"""Sweep specs, planning and the Ray Tune runner.

Importing this package is cheap and never imports Ray; only ``sweeps.run`` talks to Ray Tune.
"""
