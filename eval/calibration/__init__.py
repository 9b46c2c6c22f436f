"""Calibration of verbalised confidence and self-assessment, with cross-fitted recalibration."""
