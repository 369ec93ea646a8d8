"""Queries of protocol and publication files: the same rows as ``DataFrame.eval`` selected, for the constructs
of the expression language; anything else refused with the condition named."""

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
        "bm_blasts": rng.random(50) * 100,
        "n_class": rng.integers(0, 3, 50),
    }, index=pd.RangeIndex(100, 150))
    return df


@pytest.mark.parametrize("expr", [
    "age >= 10",
    "stratum == 'low' and age < 12",
    "stratum.notna() and hsct == True",
    "bm_blasts > 50 or stratum.isna()",
    "n_class == 2",
    "age in [1, 2, 3]",
])
def test_query_mask_matches_dataframe_eval(frame, expr):
    expected = pd.Series(frame.eval(expr, engine="python"), index=frame.index)
    expected = expected.astype("boolean").fillna(False).astype(bool)
    got = query_mask(frame, expr)
    pd.testing.assert_series_equal(got, expected, check_names=False)
    assert got.sum() > 0


def test_query_mask_empty_and_bad(frame):
    assert query_mask(frame, "").all()
    with pytest.raises(ValueError, match="cannot be evaluated: .*'no_such_column', which is not a column"):
        query_mask(frame, "no_such_column > 1")
    for bad in ("index < 110", "age.isin([1, 2, 3])", "`bm_blasts` > 50"):
        with pytest.raises(ValueError, match="cannot be evaluated"):
            query_mask(frame, bad)


def test_missing_value_makes_a_negated_condition_false(frame):
    # unlike pandas, where `None == 'low'` is False and its negation True (docs/expressions.md)
    got = query_mask(frame, "not (stratum == 'low')")
    assert got.tolist() == (frame["stratum"].notna() & (frame["stratum"] != "low")).tolist()
    assert not got[frame["stratum"].isna()].any()
