"""Every condition of the shipped study files selects the same rows as before (pandas' evaluator)."""

from __future__ import annotations

import pandas as pd

from blincompass.expr import compile_expression
from tests.test_expr import _shipped_queries


def _pandas_mask(df: pd.DataFrame, expr: str) -> pd.Series:
    return pd.Series(df.eval(expr, engine="python"), index=df.index).astype("boolean").fillna(False).astype(bool)


def test_shipped_conditions_select_what_pandas_selected(derived, adae) -> None:
    checked = 0
    for q in _shipped_queries():
        e = compile_expression(q)
        for table in (derived.adsl, adae):
            if e.names <= set(table.columns):
                assert e.mask(table).tolist() == _pandas_mask(table, q).tolist(), q
                checked += 1
    assert checked >= 100
