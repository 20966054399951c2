"""Scaling-law analysis of finished sweeps: load, fit, bootstrap, backtest, plot, report.

Pure pandas/numpy/scipy/matplotlib; never imports Ray, so it runs wherever the result tables are.

    from analysis import load_scaling_data, run_analysis, fit_chinchilla
    fit = fit_chinchilla(N, D, loss)                      # ChinchillaFit(E, A, B, alpha, beta)
    result = run_analysis(load_scaling_data("results/my-sweep"))
"""

from analysis.checks.backtest import BacktestResult, backtest
from analysis.fit.bootstrap import BootstrapConfig, bootstrap_theta, summarize
from analysis.fit.power_sums import FitConfig, fit_chinchilla, fit_power_law, huber_objective
from analysis.fit_all import Analysis, AnalysisConfig, LawResult, Prediction, run_analysis
from analysis.laws.forms import ChinchillaFit, Estimate, PowerLawFit
from analysis.laws.frontier import FrontierConfig, FrontierFit, envelope_frontier, isoflop_frontier
from analysis.load.sweep_tables import ScalingData, load_scaling_data, parse_columns, parse_point

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
