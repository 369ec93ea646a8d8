"""The same SQL on Spark (local mode) gives the same count tables as DuckDB (blincompass.io.counts_sql).

One Spark session for the module (starting the JVM takes tens of seconds); skipped only when Java or
pyspark is absent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blincompass.io.counts_sql import (
    SOURCE_VIEW,
    CountSpec,
    contingency_duckdb,
    contingency_spark,
    count_table_duckdb,
    count_table_spark,
)
from blincompass.stats import cumulative_incidence_from_counts, logrank_from_counts, logrank_test

pytestmark = [
    pytest.mark.skipif(shutil.which("java") is None, reason="Java is not installed (Spark needs it)"),
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

R = Path(__file__).resolve().parents[1] / "fixtures" / "r"


@pytest.fixture(scope="module")
def spark():
    pyspark_sql = pytest.importorskip("pyspark.sql")
    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("blincompass-counts-test")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "512m")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Left-truncated, stratified survival data and competing-risks data, as Parquet and CSV."""
    d = tmp_path_factory.mktemp("counts")
    lr = next(c for c in json.loads((R / "km_logrank.json").read_text())["logrank"]
              if c["name"] == "synth/left-trunc/strata")
    surv = pd.DataFrame({"t": lr["time"], "status": np.array(lr["event"], bool), "group": lr["group"],
                         "site": lr["strata"], "enter": lr["entry"]})
    cr = next(c for c in json.loads((R / "competing.json").read_text())["cases"] if c["name"] == "mgus2_sex")
    comp = pd.DataFrame({"t": cr["time"], "code": cr["code"], "group": cr["group"], "site": cr["strata"]})
    out = {"surv": surv, "comp": comp}
    for name, df in (("surv", surv), ("comp", comp)):
        df.to_parquet(d / f"{name}.parquet", index=False)
        df.to_csv(d / f"{name}.csv", index=False)
        out[f"{name}.parquet"] = d / f"{name}.parquet"
        out[f"{name}.csv"] = d / f"{name}.csv"
    return out


SURV = CountSpec(time="t", event="status", group="group", strata="site", entry="enter")
COMP = CountSpec(time="t", event_code="code", causes=(1, 2), censor_code=0, group="group", strata="site")


def test_same_tables_as_duckdb(spark, files):
    for spec, name in ((SURV, "surv"), (COMP, "comp")):
        for suffix in (".parquet", ".csv"):
            path = files[f"{name}{suffix}"]
            on_spark = count_table_spark(spark, path, spec)
            on_duckdb = count_table_duckdb(path, spec)
            pd.testing.assert_frame_equal(on_spark, on_duckdb)
    # and the analyses from the Spark table equal the row-level ones
    s = files["surv"]
    rows = logrank_test(s["t"].to_numpy(), s["status"].to_numpy(), s["group"].to_numpy(),
                        entry=s["enter"].to_numpy(), strata=s["site"].to_numpy())
    got = logrank_from_counts(count_table_spark(spark, files["surv.parquet"], SURV))
    np.testing.assert_allclose([got.statistic, got.pvalue], [rows.statistic, rows.pvalue], rtol=1e-10)
    ci = cumulative_incidence_from_counts(count_table_spark(spark, files["comp.parquet"], COMP))
    assert [t.cause for t in ci.tests] == [1, 2]


def test_quoted_group_is_a_string_on_spark(spark, files):
    """The trap the SQL avoids: on Spark (default settings) "group" is the string 'group', not the column."""
    spark.read.parquet(str(files["surv.parquet"])).createOrReplaceTempView("raw_")
    quoted = spark.sql('SELECT "group" AS g, COUNT(*) AS n FROM raw_ GROUP BY "group"').collect()
    assert [(r.g, r.n) for r in quoted] == [("group", len(files["surv"]))]  # one row: grouped by a constant
    # our query reads the column through the DataFrame API, so the groups are the real ones
    on_spark = count_table_spark(spark, files["surv.parquet"], SURV)
    assert sorted(on_spark["grp"].unique()) == sorted(files["surv"]["group"].unique())
    assert spark.catalog.tableExists(SOURCE_VIEW)


def test_contingency_same_as_duckdb(spark, files):
    for suffix in (".parquet", ".csv"):
        path = files[f"comp{suffix}"]
        pd.testing.assert_frame_equal(contingency_spark(spark, path, "group", "code"),
                                      contingency_duckdb(path, "group", "code"))
