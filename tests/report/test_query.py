"""Queries of protocol and publication files: same rows as ``DataFrame.eval`` (columns looked up lazily)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blincompass.report.query import query_mask


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({
        "age": rng.integers(0, 18, 50),
        "stratum": rng.choice(["low", "high", None], 50),
        "hsct": pd.array(rng.choice([True, False, None], 50), dtype="boolean"),
        "bm blasts": rng.random(50) * 100,
        "class": rng.integers(0, 3, 50),
    }, index=pd.RangeIndex(100, 150))
    return df


@pytest.mark.parametrize("expr", [
    "age >= 10",
    "stratum == 'low' and age < 12",
    "stratum.notna() and hsct == True",
    "`bm blasts` > 50 or stratum.isna()",
    "`class` == 2",
    "index < 110",
    "age.isin([1, 2, 3])",
])
def test_query_mask_matches_dataframe_eval(frame, expr):
    expected = pd.Series(frame.eval(expr, engine="python"), index=frame.index)
    expected = expected.astype("boolean").fillna(False).astype(bool)
    got = query_mask(frame, expr)
    pd.testing.assert_series_equal(got, expected, check_names=False)
    assert got.sum() > 0


def test_query_mask_empty_and_bad(frame):
    assert query_mask(frame, "").all()
    with pytest.raises(ValueError, match="cannot be evaluated"):
        query_mask(frame, "no_such_column > 1")
