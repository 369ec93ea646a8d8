"""Input/output: raw readers for workbooks and CSV folders, cell parsing, the typed Dataset, templates."""

from typing import TYPE_CHECKING

from blincompass.lazy import lazy_names

if TYPE_CHECKING:
    from blincompass.io.dataset import Dataset, build_frame, form_columns, variable_columns
    from blincompass.io.example import example_dir
    from blincompass.io.raw import InputReadError, RawDataset, RawTable, ReadNote, read_raw

# The names are imported on first use (PEP 562): a command that needs one light module of the package (e.g.
# blincompass.io.outpath, to check an output folder before it starts its figure worker) does not wait for
# pandas and pyarrow.
_HOME: dict[str, str] = {
    "Dataset": "dataset",
    "build_frame": "dataset",
    "form_columns": "dataset",
    "variable_columns": "dataset",
    "example_dir": "example",
    "InputReadError": "raw",
    "RawDataset": "raw",
    "RawTable": "raw",
    "ReadNote": "raw",
    "read_raw": "raw",
}


__getattr__, __dir__ = lazy_names(__name__, _HOME, globals())

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
