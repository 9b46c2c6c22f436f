"""The calibration study: every figure with 1,000 bootstrap resamples, and cross-fitted recalibration.

Figures: ``calibration_study_100k_s`` (all figures of 4 agents x 25,000 verdicts = 100,000 verdicts, each
with 1,000 vectorised bootstrap resamples; goal <= 30 s on a 2-core machine),
``recalibrate_100k_s`` (5-fold cross-fitted Platt recalibration of the same table, goal <= 5 s).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_table

from saboteur.eval.calibration import CalibrationData, recalibrate_table, study


def run() -> dict[str, float]:
    table = synthetic_table(25_000, 4, 7, seed=0)
    data = CalibrationData.from_table(table)
    started = time.perf_counter()
    study(data, ("agent",), resamples=1000)
    study_s = time.perf_counter() - started
    started = time.perf_counter()
    recalibrate_table(table, "platt")
    recal_s = time.perf_counter() - started
    return {"calibration_study_100k_s": round(study_s, 3), "recalibrate_100k_s": round(recal_s, 3)}


if __name__ == "__main__":
    print(run())
