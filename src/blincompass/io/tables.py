"""Writing analysis tables (ADSL, ADTTE, ...) as CSV with stable bytes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from blincompass.io.safe import escape_frame

__all__ = ["write_table_csv"]


def write_table_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as CSV: dates as ISO ``yyyy-mm-dd``, floats with 10 significant digits, ``\\n`` line ends,
    no index — the same frame always gives the same bytes. Text that a spreadsheet could take for a
    formula is escaped (:func:`blincompass.io.safe.escape_text`)."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    out = escape_frame(out)
    out.to_csv(path, index=False, lineterminator="\n", float_format="%.10g")
