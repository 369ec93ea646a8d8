"""Validation: check a raw data set against the data dictionary; findings and the typed Dataset."""

from blincompass.io.dataset import Dataset
from blincompass.validate.findings import Finding, ValidationResult
from blincompass.validate.rules import BASELINE_WINDOW_DAYS, load_dataset, validate

__all__ = ["BASELINE_WINDOW_DAYS", "Dataset", "Finding", "ValidationResult", "load_dataset", "validate"]
