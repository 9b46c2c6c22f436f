"""Calibration of verbalised confidence and self-assessment, with cross-fitted recalibration.

Do agents know when they are right? Over stored verdicts (no model calls): ECE/MCE with equal-width,
equal-mass and adaptive bins, Brier and NLL, AUROC/AUPRC of confidence and self-assessment, selective
accuracy and risk-coverage, each with a vectorised bootstrap 95% interval, grouped by agent, strategy,
model or any verdict field (``study``); recalibration by temperature, Platt or isotonic scaling, always
cross-fitted (``cross_fit``, ``recalibrate_table``); the ``calibrated`` fusion rules; sabotage before and
after recalibration (``calibrate``); plots (``write_plots``).

Importing this package registers the fusion rules ``calibrated``, ``calibrated_temperature`` and
``calibrated_isotonic``.
"""

from saboteur.eval.calibration.binning import (
    Binning,
    BinStats,
    adaptive,
    bin_stats,
    equal_mass,
    equal_width,
    expected_calibration_error,
    maximum_calibration_error,
)
from saboteur.eval.calibration.calibrate import (
    CalibrationReport,
    RecalibrationEffect,
    SabotageComparison,
    calibrate,
    calibrate_run,
    held_out_effect,
)
from saboteur.eval.calibration.data import CalibrationData
from saboteur.eval.calibration.plots import (
    reliability_diagrams,
    risk_coverage_curves,
    self_assessment_diagrams,
    write_plots,
)
from saboteur.eval.calibration.recalibrate import (
    CALIBRATORS,
    CrossFit,
    IsotonicCalibrator,
    PlattScaling,
    TemperatureScaling,
    assign_folds,
    cross_fit,
    make_calibrator,
)
from saboteur.eval.calibration.rule import Recalibrated, calibrated_rule, recalibrate_table
from saboteur.eval.calibration.scores import (
    auprc,
    aurc,
    auroc,
    brier,
    multiclass_brier,
    nll,
    pearson,
    ranking_distribution,
    risk_coverage,
    selective_accuracy,
    spearman,
)
from saboteur.eval.calibration.study import FIGURES, GroupFigures, Study, group_figures, study, write_rows

__all__ = [
    "CALIBRATORS",
    "FIGURES",
    "BinStats",
    "Binning",
    "CalibrationData",
    "CalibrationReport",
    "CrossFit",
    "GroupFigures",
    "IsotonicCalibrator",
    "PlattScaling",
    "Recalibrated",
    "RecalibrationEffect",
    "SabotageComparison",
    "Study",
    "TemperatureScaling",
    "adaptive",
    "assign_folds",
    "auprc",
    "aurc",
    "auroc",
    "bin_stats",
    "brier",
    "calibrate",
    "calibrate_run",
    "calibrated_rule",
    "cross_fit",
    "equal_mass",
    "equal_width",
    "expected_calibration_error",
    "group_figures",
    "held_out_effect",
    "make_calibrator",
    "maximum_calibration_error",
    "multiclass_brier",
    "nll",
    "pearson",
    "ranking_distribution",
    "recalibrate_table",
    "reliability_diagrams",
    "risk_coverage",
    "risk_coverage_curves",
    "selective_accuracy",
    "self_assessment_diagrams",
    "spearman",
    "study",
    "write_plots",
    "write_rows",
]
