"""Row selection by conditions written in protocol and published-numbers files (the language of
:mod:`blincompass.expr`: column names, comparisons, ``in [...]``, and/or/not; never Python code)."""

from __future__ import annotations

from functools import cache

import pandas as pd

from blincompass.expr import Expression, ExpressionError, compile_expression

__all__ = ["query_mask"]


@cache
def _compiled(expr: str) -> Expression:
    return compile_expression(expr)


def query_mask(df: pd.DataFrame, expr: str) -> pd.Series:
    """Boolean mask of the rows of ``df`` for which the condition ``expr`` holds.

    ``""`` selects every row; a missing value makes the condition false. Raises ``ValueError`` naming the
    condition when it is not valid or names a column that ``df`` does not have.
    """
    if not expr:
        return pd.Series(True, index=df.index)
    try:
        return _compiled(expr).mask(df)
    except ExpressionError as exc:
        raise ValueError(f"query {expr!r} cannot be evaluated: {exc}") from None
