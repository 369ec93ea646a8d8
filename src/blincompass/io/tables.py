"""Writing analysis tables (ADSL, ADTTE, ...): CSV with stable bytes, and the column types that the SAS
transport (:mod:`blincompass.io.xpt`) and SPSS (:mod:`blincompass.io.spss`) writers can hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from blincompass.io.safe import escape_frame

__all__ = ["XPT_MAX_CHARS", "transport_frame", "write_table_csv"]

#: Longest character value in an XPORT version 5 file (longer text is cut).
XPT_MAX_CHARS = 200


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


def _flag(series: pd.Series) -> pd.Series:
    return series.map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                      else ("Y" if bool(v) else "N")).astype("object")


def transport_frame(df: pd.DataFrame, for_sav: bool) -> tuple[pd.DataFrame, dict[str, dict[float, str]]]:
    """Columns as SAS/SPSS can hold them: dates as ``datetime.date``, flags Y/N (XPT) or 1/0 with value
    labels (SPSS), nullable integers as floats, text as text ('' for missing)."""
    out = pd.DataFrame(index=df.index)
    labels: dict[str, dict[float, str]] = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[c] = [None if pd.isna(v) else pd.Timestamp(v).date() for v in s]
        elif pd.api.types.is_bool_dtype(s) or str(s.dtype) == "boolean":
            if for_sav:
                out[c] = [np.nan if pd.isna(v) else float(bool(v)) for v in s]
                labels[c] = {0.0: "No", 1.0: "Yes"}
            else:
                out[c] = _flag(s)
        elif pd.api.types.is_numeric_dtype(s):
            out[c] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            text = ["" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v) for v in s]
            # XPORT version 5 holds at most 200 characters per value
            out[c] = text if for_sav else [v[:XPT_MAX_CHARS] for v in text]
    return out, labels
