"""Row selection by pandas queries written in protocol and publication files."""

from __future__ import annotations

import pandas as pd

__all__ = ["query_mask"]


def query_mask(df: pd.DataFrame, expr: str) -> pd.Series:
    """Boolean mask of the rows of ``df`` for which the pandas expression ``expr`` holds.

    ``""`` selects every row. Evaluated with the Python engine, so methods such as ``col.notna()`` work;
    a missing value (NA) makes the condition false.
    """
    if not expr:
        return pd.Series(True, index=df.index)
    try:
        mask = df.eval(expr, engine="python")
    except Exception as exc:  # noqa: BLE001 - report which expression failed, whatever pandas raised
        raise ValueError(f"query {expr!r} cannot be evaluated: {exc}") from exc
    return pd.Series(mask, index=df.index).astype("boolean").fillna(False).astype(bool)
