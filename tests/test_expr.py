"""The safe expression language of study files (blincompass.expr)."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from blincompass.expr import ExpressionError, compile_expression


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame({
        "stratum": ["low", "high", None, "low"],
        "cr": [True, False, None, True],
        "n": [1, 2, np.nan, 4],
        "birth": [dt.date(2010, 3, 1), dt.date(2012, 2, 29), None, dt.date(2000, 12, 31)],
        "first": [dt.date(2020, 2, 29), dt.date(2013, 2, 28), dt.date(2020, 1, 1), dt.date(2020, 12, 31)],
    })


def mask(df: pd.DataFrame, text: str) -> list[bool]:
    return compile_expression(text).mask(df).tolist()


def test_comparisons_and_missing_values(df: pd.DataFrame) -> None:
    assert mask(df, "stratum == 'low'") == [True, False, False, True]
    assert mask(df, "stratum != 'low'") == [False, True, False, False]  # missing is not "not low"
    assert mask(df, "cr == True") == [True, False, False, True]
    assert mask(df, "cr == False") == [False, True, False, False]
    assert mask(df, "n >= 2") == [False, True, False, True]
    assert mask(df, "1 < n <= 2") == [False, True, False, False]
    assert mask(df, "stratum in ['high', 'x']") == [False, True, False, False]
    assert mask(df, "stratum not in ['high']") == [True, False, False, True]
    assert mask(df, "cr.notna()") == [True, True, False, True]
    assert mask(df, "isna(cr)") == [False, False, True, False]
    assert mask(df, "stratum == stratum") == [True, True, False, True]
    assert mask(df, "") == [True] * 4


def test_three_valued_logic(df: pd.DataFrame) -> None:
    e = compile_expression("cr == True or n > 3")
    assert e.evaluate(df).tolist() == [True, False, pd.NA, True]
    assert mask(df, "cr == False and n > 0") == [False, True, False, False]
    assert compile_expression("cr == False and n > 0").evaluate(df).tolist() == [False, True, pd.NA, False]
    assert compile_expression("not cr").evaluate(df).tolist() == [False, True, pd.NA, False]
    assert mask(df, "cr and stratum == 'low'") == [True, False, False, True]


def test_arithmetic_and_dates(df: pd.DataFrame) -> None:
    assert compile_expression("n * 2 + 1").evaluate(df).tolist()[:2] == [3.0, 5.0]
    assert np.isnan(compile_expression("n / 0 - n / 0").evaluate(df).iloc[0])
    assert compile_expression("days_between(birth, first)").evaluate(df).tolist()[:2] == [3652.0, 365.0]
    years = compile_expression("years_between(birth, first)").evaluate(df).tolist()
    assert years[0] == 9 and years[1] == 0 and np.isnan(years[2]) and years[3] == 20  # completed years
    months = compile_expression("months_between(birth, first)").evaluate(df)
    assert months.iloc[1] == pytest.approx(365 / (365.25 / 12), abs=1e-12)
    assert compile_expression("months_between(birth, first, 30)").evaluate(df).iloc[1] == pytest.approx(365 / 30)
    assert compile_expression("coalesce(stratum, 'none')").evaluate(df).tolist() == ["low", "high", "none", "low"]
    assert mask(df, "years_between(birth, first) >= 9") == [True, False, False, True]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('true')", "is not an allowed function"),
        ("stratum.__class__", "is not allowed in an expression"),
        ("stratum[0]", "is not allowed in an expression"),
        ("(lambda: 1)()", "is not an allowed function"),
        ("[x for x in stratum]", "is not allowed in an expression"),
        ("open('/etc/passwd')", "is not an allowed function"),
        ("stratum.upper()", "is not an allowed function"),
        ("isna(x=stratum)", "is not allowed in an expression"),
        ("stratum in stratum", "'in' needs a list of values"),
        ("stratum is None", "comparison Is is not allowed"),
        ("(y := 1)", "is not allowed in an expression"),
        ("f'{stratum}'", "is not allowed in an expression"),
        ("stratum ==", "is not valid"),
        ("days_between(birth)", "days_between() takes 2 argument(s), got 1"),
        ("x" * 2001, "longer than 2000"),
        ("(" * 60 + "n" + ")" * 60 + " + " + " + ".join(["n"] * 50), "nested too deeply"),
    ],
)
def test_refused_at_compile_time(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        compile_expression(text)


def test_evaluation_errors_name_the_problem(df: pd.DataFrame) -> None:
    with pytest.raises(ExpressionError, match=r"names 'no_such', which is not a column; columns are: stratum, cr"):
        compile_expression("no_such == 1").mask(df)
    with pytest.raises(ExpressionError, match=r"'stratum' is not yes/no \(value 'low'\)"):
        compile_expression("stratum and cr").mask(df)
    with pytest.raises(ExpressionError, match=r"'stratum' is not a number \(value 'low'\)"):
        compile_expression("stratum + 1").evaluate(df)
    with pytest.raises(ExpressionError, match=r"needs dates \(value 'low'\)"):
        compile_expression("days_between(stratum, first)").evaluate(df)
    assert compile_expression("no_such == 1").names == frozenset({"no_such"})


def _shipped_queries() -> list[str]:
    texts = [
        resources.files("blincompass.protocol").joinpath("data/blincompass.toml").read_text("utf-8"),
        resources.files("blincompass.synth").joinpath("data/published.toml").read_text("utf-8"),
    ]
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("adsl", "adae", "adae_patients", "where_rows", "of", "of_adae", "yes", "evaluable") \
                        and isinstance(v, str) and v not in ("", "subset", "eligible", "<query>"):
                    found.add(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for t in texts:
        walk(tomllib.loads(t))
    return sorted(found)


def test_every_shipped_condition_compiles() -> None:
    queries = _shipped_queries()
    assert len(queries) > 100
    for q in queries:
        assert compile_expression(q).names  # each names at least one column


def test_protocol_refuses_a_bad_condition_at_load(tmp_path) -> None:
    from blincompass.protocol import ProtocolError, load_protocol

    text = resources.files("blincompass.protocol").joinpath("data/blincompass.toml").read_text("utf-8")
    bad = text.replace('yes = "cr_c1 == True"', 'yes = "cr_c1.__class__"', 1)
    assert bad != text
    path = tmp_path / "protocol.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"report\.response\.0\.yes: .*'cr_c1.__class__' is not allowed"):
        load_protocol(path)
