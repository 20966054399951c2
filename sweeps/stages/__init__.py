"""Multi-stage sweeps: stages in order in one folder, and the forecast stage."""
