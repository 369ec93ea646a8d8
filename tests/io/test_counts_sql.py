"""Count tables computed by DuckDB over Parquet / CSV (blincompass.io.counts_sql).

The tables equal the in-memory reduction (blincompass.stats.count_table), and the analyses from them equal
the row-level functions on the R fixture data.  The Spark engine is tested in test_counts_spark.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blincompass.io.counts_sql import (
    CountQueryError,
    CountSpec,
    check_sql,
    contingency_duckdb,
    count_sql,
    count_table_duckdb,
)
from blincompass.stats import (
    chi2_test,
    contingency_table,
    count_table,
    cumulative_incidence,
    cumulative_incidence_from_counts,
    gray_test,
    gray_test_from_counts,
    kaplan_meier,
    kaplan_meier_from_counts,
    logrank_from_counts,
    logrank_test,
)

R = Path(__file__).resolve().parents[1] / "fixtures" / "r"
LR = {c["name"]: c for c in json.loads((R / "km_logrank.json").read_text())["logrank"]}
CMP = {c["name"]: c for c in json.loads((R / "competing.json").read_text())["cases"]}
SAME = {"rtol": 1e-10, "atol": 1e-10}


def _same(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), **SAME)


def lr_frame(name: str) -> pd.DataFrame:
    c = LR[name]
    df = pd.DataFrame({"t": np.array(c["time"], float), "status": np.array(c["event"], np.int8), "group": c["group"]})
    if c["strata"] is not None:
        df["site"] = c["strata"]
    if c["entry"] is not None:
        df["enter"] = np.array(c["entry"], float)
    return df


def lr_spec(df: pd.DataFrame) -> CountSpec:
    return CountSpec(
        time="t", event="status", group="group",
        strata="site" if "site" in df else None, entry="enter" if "enter" in df else None,
    )


def write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("name", ["lung/sex-strata-ecog", "synth/left-trunc/strata", "synth/k4/logrank"])
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_duckdb_table_equals_in_memory_and_analyses_equal_rows(tmp_path, name, suffix):
    df = lr_frame(name)
    got = count_table_duckdb(write(df, tmp_path / f"data{suffix}"), lr_spec(df), memory_limit="256MB", threads=1)
    ref = count_table(
        df["t"], df["status"], group=df["group"],
        strata=df["site"] if "site" in df else None, entry=df["enter"] if "enter" in df else None,
    )
    assert got.dtypes.loc[[c for c in got.columns if c.startswith("n_")]].eq("int64").all()
    pd.testing.assert_frame_equal(got.drop(columns="n_risk"), ref, check_dtype=False)
    case = LR[name]
    strata = None if case["strata"] is None else np.array(case["strata"])
    entry = None if case["entry"] is None else df["enter"].to_numpy()
    for w in ["logrank", "peto-peto", ("fleming-harrington", 1.0, 1.0)]:
        rows = logrank_test(df["t"].to_numpy(), df["status"].to_numpy(), df["group"].to_numpy(),
                            entry=entry, strata=strata, weights=w)
        lr = logrank_from_counts(got, weights=w)
        assert lr.groups == rows.groups and lr.df == rows.df
        _same([lr.statistic, lr.pvalue], [rows.statistic, rows.pvalue])
        _same(lr.variance, rows.variance)
    first = sorted(set(case["group"]))[0]
    m = df["group"].to_numpy() == first
    km_rows = kaplan_meier(df["t"].to_numpy()[m], df["status"].to_numpy()[m], entry=None if entry is None else entry[m])
    km = kaplan_meier_from_counts(got, grp=first)
    pd.testing.assert_frame_equal(km.table, km_rows.table, **SAME)
    _same([km.mean, km.mean_se], [km_rows.mean, km_rows.mean_se])
    assert (km.median, km.median_ci) == (km_rows.median, km_rows.median_ci)


@pytest.mark.parametrize("name", ["mgus2_sex", "all39", "tied_synthetic"])
def test_duckdb_competing_risks(tmp_path, name):
    c = CMP[name]
    codes = sorted(set(c["code"]) - {c["cencode"]})
    df = pd.DataFrame({"t": c["time"], "code": c["code"], "group": c["group"]})
    if c.get("strata") is not None:
        df["site"] = c["strata"]
    spec = CountSpec(time="t", event_code="code", causes=tuple(codes), censor_code=c["cencode"], group="group",
                     strata="site" if "site" in df else None)
    got = count_table_duckdb(write(df, tmp_path / "cr.parquet"), spec)
    assert [x for x in got.columns if x.startswith("n_event_")] == [f"n_event_{k}" for k in codes]
    t, code = np.array(c["time"]), np.array(c["code"])
    rows = cumulative_incidence(t, code, group=c["group"], censor_code=c["cencode"])
    ci = cumulative_incidence_from_counts(got)
    pd.testing.assert_frame_equal(ci.table, rows.table, **SAME)
    for k in codes:
        g_rows = gray_test(t, code, c["group"], cause=k, strata=c.get("strata"), rho=1.0, censor_code=c["cencode"])
        g = gray_test_from_counts(got, cause=k, rho=1.0)
        _same([g.statistic, g.pvalue], [g_rows.statistic, g_rows.pvalue])


def test_sql_text_traps():
    for spec in (
        CountSpec(time="t", event="e", group="group", strata="s"),
        CountSpec(time="t", event="e", group="group", entry="a"),
        CountSpec(time="t", event_code="c", causes=("relapse", "death"), censor_code="none", group="g"),
    ):
        sql = count_sql(spec)
        # no quoted identifiers anywhere (the source columns are renamed by the engine's API)
        assert '"' not in sql and "`" not in sql
        assert not re.search(r"\bgroup\b(?! BY)", sql, flags=re.IGNORECASE)
        # every aggregate and window sum is cast to BIGINT, every window has an explicit ROWS frame
        assert sql.count("SUM(") == sql.count("CAST(SUM(") + sql.count("COALESCE(SUM(")
        assert "COALESCE(SUM(" not in sql or "CAST(COALESCE(SUM(" in sql
        assert sql.count(" OVER (") == sql.count("ROWS BETWEEN UNBOUNDED PRECEDING AND ")
        assert '"' not in check_sql(spec)


def test_group_column_named_group_and_bigint_counts(tmp_path):
    # many rows at one time: DuckDB's SUM of integers is a HUGEINT, which pandas would turn into floats
    n = 50_000
    df = pd.DataFrame({"time": np.repeat([1.0, 2.0], n // 2), "event": np.tile([1, 0], n // 2),
                       "group": np.tile(["x", "y", "y", "x"], n // 4)})
    got = count_table_duckdb(write(df, tmp_path / "g.parquet"), CountSpec(time="time", event="event", group="group"))
    assert list(got.columns) == ["grp", "time", "n_event", "n_censor", "n_risk"]
    assert got["grp"].tolist() == ["x", "x", "y", "y"]
    assert all(got[c].dtype == np.int64 for c in ("n_event", "n_censor", "n_risk"))
    assert got["n_risk"].tolist() == [n // 2, n // 4, n // 2, n // 4]


@pytest.mark.parametrize(
    "change,pattern",
    [
        (lambda d: d.assign(t=d["t"].where(d.index != 3, -1.0)), r"time column 't'.* in 1 row\(s\), e\.g\. -1\.0"),
        (lambda d: d.assign(t=d["t"].where(d.index != 3, np.nan)), r"time column 't'.* in 1 row\(s\)"),
        (lambda d: d.assign(status=d["status"].where(d.index > 1, 2)), r"event column 'status'.*in 2 row\(s\)"),
        (lambda d: d.assign(status=d["status"].astype(float).where(d.index != 4, 0.5)), r"'status'.*in 1 row\(s\)"),
        (lambda d: d.assign(status=d["status"].astype(float).where(d.index != 4, np.nan)), r"'status'.*in 1 row"),
        (lambda d: d.assign(group=d["group"].where(d.index != 0, None)), r"group column 'group': missing label in 1"),
        (lambda d: d.assign(enter=d["t"]), r"entry column 'enter'.*not before the exit time in \d+ row"),
        (lambda d: d.drop(columns="site"), r"column 'site' not found"),
    ],
)
def test_bad_data_named(tmp_path, change, pattern):
    df = lr_frame("synth/left-trunc/strata")
    path = write(change(df), tmp_path / "bad.parquet")
    with pytest.raises(CountQueryError, match=pattern) as err:
        count_table_duckdb(path, CountSpec(time="t", event="status", group="group", strata="site", entry="enter"))
    assert "bad.parquet" in str(err.value)


def test_unreadable_and_refused(tmp_path):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"not a parquet file")
    with pytest.raises(CountQueryError, match=r"broken\.parquet: cannot be read"):
        count_table_duckdb(bad, CountSpec(time="t", event="e"))
    df = pd.DataFrame({"t": [1.0, 2.0], "code": ["relapse", "other"]})
    with pytest.raises(CountQueryError, match=r"neither the censoring code 'none' nor one of the causes"):
        count_table_duckdb(write(df, tmp_path / "c.parquet"),
                           CountSpec(time="t", event_code="code", causes=("relapse",), censor_code="none"))
    with pytest.raises(CountQueryError, match="letters, digits and _"):
        CountSpec(time="t", event_code="code", causes=("a'b",))
    with pytest.raises(CountQueryError, match="exactly one of event and event_code"):
        CountSpec(time="t")


def test_inconsistent_n_risk_is_refused(tmp_path):
    df = lr_frame("synth/left-trunc/strata")
    got = count_table_duckdb(write(df, tmp_path / "d.parquet"), lr_spec(df))
    logrank_from_counts(got)  # consistent
    with pytest.raises(ValueError, match="n_risk: value .* does not match the counts"):
        logrank_from_counts(got.drop(index=5))


def test_contingency_duckdb(tmp_path):
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"arm": rng.choice(["blina", "chemo"], 300), "response": rng.choice(["CR", "PR", "NR"], 300)})
    long = contingency_duckdb(write(df, tmp_path / "ct.parquet"), "arm", "response")
    ct = contingency_table(long, "r", "c")
    np.testing.assert_array_equal(ct.to_numpy(), pd.crosstab(df["arm"], df["response"]).to_numpy())
    assert chi2_test(ct).statistic == chi2_test(pd.crosstab(df["arm"], df["response"])).statistic


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_boolean_events(tmp_path, suffix):
    df = lr_frame("synth/left-trunc/strata").assign(status=lambda d: d["status"] == 1)
    got = count_table_duckdb(write(df, tmp_path / f"b{suffix}"), lr_spec(df))
    ref = count_table(df["t"], df["status"], group=df["group"], strata=df["site"], entry=df["enter"])
    pd.testing.assert_frame_equal(got.drop(columns="n_risk"), ref, check_dtype=False)
    bad = df.astype({"status": "object"}).assign(status=lambda d: d["status"].where(d.index != 7, None))
    with pytest.raises(CountQueryError, match=r"event column 'status'.* in 1 row"):
        count_table_duckdb(write(bad, tmp_path / f"n{suffix}"), lr_spec(df))


def test_several_files_by_glob_and_list(tmp_path):
    df = lr_frame("lung/sex-strata-ecog")
    whole = count_table_duckdb(write(df, tmp_path / "all.parquet"), lr_spec(df))
    parts = tmp_path / "parts"
    parts.mkdir()
    half = len(df) // 2
    paths = [write(df.iloc[:half], parts / "a.parquet"), write(df.iloc[half:], parts / "b.parquet")]
    pd.testing.assert_frame_equal(count_table_duckdb(str(parts / "*.parquet"), lr_spec(df)), whole)
    pd.testing.assert_frame_equal(count_table_duckdb(paths, lr_spec(df)), whole)


def test_text_events(tmp_path):
    df = lr_frame("synth/left-trunc/strata")
    got = count_table_duckdb(write(df.astype({"status": str}), tmp_path / "s.parquet"), lr_spec(df))
    ref = count_table(df["t"], df["status"], group=df["group"], strata=df["site"], entry=df["enter"])
    pd.testing.assert_frame_equal(got.drop(columns="n_risk"), ref, check_dtype=False)
    with pytest.raises(CountQueryError, match=r"s2\.parquet: the query failed \(Conversion Error"):
        count_table_duckdb(write(df.astype({"status": str}).replace({"status": {"1": "yes"}}), tmp_path / "s2.parquet"),
                           lr_spec(df))
