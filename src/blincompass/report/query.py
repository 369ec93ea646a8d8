"""Row selection by pandas queries written in protocol and publication files."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, MutableMapping
from keyword import iskeyword
from typing import Any

import pandas as pd

__all__ = ["query_mask"]


class _Columns(MutableMapping[Hashable, Any]):
    """The columns of a frame by the names a query uses, each looked up only when the query names it.

    ``DataFrame.eval`` builds a Series for every column before evaluating; report queries name a few of
    the analysis tables' many columns and run by the hundred, so the lookup is done lazily instead.
    pandas may store values under new names while it evaluates; those are kept beside the columns.
    """

    def __init__(self, df: pd.DataFrame) -> None:
        try:
            from pandas.core.computation.parsing import clean_column_name
        except ImportError:  # pragma: no cover - pandas layout changed
            def clean_column_name(name: Hashable) -> Hashable:
                return name
        self._df = df
        # a plain identifier is its own clean name; only other names need pandas' (slow) cleaning
        self._names = {k if isinstance(k, str) and k.isidentifier() and not iskeyword(k) else clean_column_name(k): k
                       for k in df.columns}
        self._stored: dict[Hashable, Any] = {}

    def __getitem__(self, key: Hashable) -> Any:
        if key in self._stored:
            return self._stored[key]
        return self._df[self._names[key]]

    def __setitem__(self, key: Hashable, value: Any) -> None:
        self._stored[key] = value

    def __delitem__(self, key: Hashable) -> None:
        if key in self._stored:
            del self._stored[key]
        else:
            self._names.pop(key)

    def __iter__(self) -> Iterator[Hashable]:
        return iter({**dict.fromkeys(self._names), **dict.fromkeys(self._stored)})

    def __len__(self) -> int:
        return len({*self._names, *self._stored})


def query_mask(df: pd.DataFrame, expr: str) -> pd.Series:
    """Boolean mask of the rows of ``df`` for which the pandas expression ``expr`` holds.

    ``""`` selects every row. Evaluated with the Python engine, so methods such as ``col.notna()`` work;
    a missing value (NA) makes the condition false. The evaluation is ``DataFrame.eval``'s (same parser,
    engine, target and name lookup: columns, then the index), with columns looked up lazily.
    """
    if not expr:
        return pd.Series(True, index=df.index)
    index_resolvers: dict[str, Any] = getattr(df, "_get_index_resolvers", dict)()
    try:
        mask = pd.eval(expr, engine="python", resolvers=(_Columns(df), index_resolvers), target=df)
    except Exception as exc:  # noqa: BLE001 - report which expression failed, whatever pandas raised
        raise ValueError(f"query {expr!r} cannot be evaluated: {exc}") from exc
    return pd.Series(mask, index=df.index).astype("boolean").fillna(False).astype(bool)
