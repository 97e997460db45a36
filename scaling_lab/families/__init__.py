"""Scaling laws on published model families (Cerebras-GPT, Pythia), verified carefully.

``fit_loss_law`` fits a power law (with or without a floor) with bootstrap and
profile-likelihood intervals; ``run_analysis`` runs the whole study; ``write_report`` and
``validate`` write and check a results folder (``scaling-lab families``).
"""

from .analysis import SECTIONS, FamiliesAnalysis, run_analysis
from .correlation import correlate, critical_r, detectable_r
from .data import BENCHMARKS, cerebras, param_counts, pythia
from .extrapolation import rolling_origin_loss, rolling_origin_tasks
from .identifiability import chinchilla_identifiability, chinchilla_profile
from .intervals import Interval
from .loss_laws import LossLawFit, fit_loss_law, information_criteria
from .report import write_report
from .tasks import TaskFit, breakpoint_test, fit_task_law
from .transfer import loss_equivalent_size, transfer
from .validate import validate

__all__ = [
    "BENCHMARKS",
    "SECTIONS",
    "FamiliesAnalysis",
    "Interval",
    "LossLawFit",
    "TaskFit",
    "breakpoint_test",
    "cerebras",
    "chinchilla_identifiability",
    "chinchilla_profile",
    "correlate",
    "critical_r",
    "detectable_r",
    "fit_loss_law",
    "fit_task_law",
    "information_criteria",
    "loss_equivalent_size",
    "param_counts",
    "pythia",
    "rolling_origin_loss",
    "rolling_origin_tasks",
    "run_analysis",
    "transfer",
    "validate",
    "write_report",
]
