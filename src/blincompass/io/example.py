"""The bundled example data set: 8 fictitious patients from 3 centres, in the CSV template format."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def example_dir() -> Path:
    """Folder of the bundled example CSV files (patients.csv, courses.csv, ...)."""
    return Path(str(resources.files("blincompass").joinpath("data/example")))
