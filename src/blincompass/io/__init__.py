"""Input/output: raw readers for workbooks and CSV folders, cell parsing, the typed Dataset, templates."""

from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    import importlib

    home = _HOME.get(name)
    if home is None:
        if not name.startswith("_"):  # a submodule (e.g. ``blincompass.io.tables``)
            try:
                return importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


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
