"""Scaling-law analysis of finished sweeps: load, fit, bootstrap, backtest, plot, report.

Pure pandas/numpy/scipy/matplotlib; never imports Ray, so it runs wherever the result tables are.

    from analysis import load_scaling_data, run_analysis, fit_chinchilla
    fit = fit_chinchilla(N, D, loss)                      # ChinchillaFit(E, A, B, alpha, beta)
    result = run_analysis(load_scaling_data("results/my-sweep"))
"""

from analysis.backtest import BacktestResult, backtest
from analysis.bootstrap import BootstrapConfig, bootstrap_theta, summarize
from analysis.fit_all import Analysis, AnalysisConfig, LawResult, Prediction, run_analysis
from analysis.fitting import FitConfig, fit_chinchilla, fit_power_law, huber_objective
from analysis.frontier import FrontierConfig, FrontierFit, envelope_frontier, isoflop_frontier
from analysis.io import ScalingData, load_scaling_data, parse_columns, parse_point
from analysis.laws import ChinchillaFit, Estimate, PowerLawFit

__all__ = [
    "Analysis",
    "AnalysisConfig",
    "BacktestResult",
    "BootstrapConfig",
    "ChinchillaFit",
    "Estimate",
    "FitConfig",
    "FrontierConfig",
    "FrontierFit",
    "LawResult",
    "PowerLawFit",
    "Prediction",
    "ScalingData",
    "backtest",
    "bootstrap_theta",
    "envelope_frontier",
    "fit_chinchilla",
    "fit_power_law",
    "huber_objective",
    "isoflop_frontier",
    "load_scaling_data",
    "parse_columns",
    "parse_point",
    "run_analysis",
    "summarize",
]
