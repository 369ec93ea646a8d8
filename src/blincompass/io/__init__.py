"""Input/output: raw readers for workbooks and CSV folders, cell parsing, the typed Dataset, templates."""

from blincompass.io.dataset import Dataset, build_frame, form_columns, variable_columns
from blincompass.io.example import example_dir
from blincompass.io.raw import InputReadError, RawDataset, RawTable, ReadNote, read_raw

__all__ = [
    "Dataset",
    "InputReadError",
    "RawDataset",
    "RawTable",
    "ReadNote",
    "build_frame",
    "example_dir",
    "form_columns",
    "read_raw",
    "variable_columns",
]
