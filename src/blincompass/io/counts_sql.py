"""Count tables computed where the data are: one SQL text for DuckDB (embedded) and Spark SQL.

The survival and competing-risks analyses need only a *count table* (``docs/counts.md``;
:mod:`blincompass.stats.counts`): per (stratum, group, time) the events by cause, the censorings and the
entries.  For data larger than memory — Parquet or CSV files of a registry — the table is computed by the
engine that reads the files, with :func:`count_sql`, and only the table (a few rows per distinct time)
comes back into Python.

One SQL text, two engines
-------------------------
The engine reads the files and exposes the needed columns under fixed, safe names (``c_time``,
``c_event`` or ``c_code``, ``c_grp``, ``c_stratum``, ``c_entry``) as the view ``bc_source``, selecting the
user's columns through its DataFrame API (DuckDB ``ColumnExpression``, Spark ``DataFrame.select``) rather
than through SQL text.  The SQL itself therefore never quotes an identifier: a source column named
``group`` (a reserved word) works, and the trap of Spark reading ``"group"`` as the *string* ``'group'``
(and silently grouping by a constant) cannot occur.  The output column is ``grp``, never ``group``.

The query aggregates exits and entries per (stratum, grp, time) with ``COUNT(*) FILTER (WHERE ...)``,
casts every ``SUM`` and every window sum to ``BIGINT`` (DuckDB's ``SUM`` of integers is a 128-bit
``HUGEINT``, which arrives in pandas as float; Spark's is ``BIGINT``), and adds the number at risk
``n_risk`` by window sums whose frame is written out (``ROWS BETWEEN UNBOUNDED PRECEDING AND ...``: the
default frame is ``RANGE``, which treats ties differently).  ``n_risk`` is redundant —
:mod:`blincompass.stats.counts` checks it against the counts — and documents the risk sets for whoever
reads the table.

The input is checked in the same scan: each cell carries ``n_bad``, the records whose event is missing
or not 0/1 (or whose code is neither the censoring code nor a declared cause) and, with entry times,
entries not before their exit time; missing, negative or non-finite times and missing labels show as
keys of the (small) result.  Only when that check fails is a second query (:func:`check_sql`) run, to
report each problem with the column, the number of rows and an example value; nothing is returned then.

This module reads data and writes no files; it imports neither the validation nor the statistics layers.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "CountSpec",
    "CountQueryError",
    "count_sql",
    "check_sql",
    "contingency_sql",
    "count_table_duckdb",
    "count_table_spark",
    "contingency_duckdb",
    "contingency_spark",
    "duckdb_connection",
]

_SAFE = re.compile(r"^[A-Za-z0-9_]+$")
#: The largest finite double: ``x <= MAX`` is false for NaN and +inf in both engines.
_MAX = "1.7976931348623157E308"
SOURCE_VIEW = "bc_source"
#: DuckDB type names of numbers (an event column of another type is cast to DOUBLE on reading).
_DUCKDB_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                   "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


class CountQueryError(ValueError):
    """The data cannot be reduced to a count table (bad values, missing columns, unreadable files)."""


@dataclass(frozen=True)
class CountSpec:
    """Which source columns hold what.

    Give ``event`` (0/1 or boolean: one cause, output ``n_event``) or ``event_code`` with the ``causes``
    (output ``n_event_<cause>``; cause codes of letters, digits and ``_``; integer codes are compared as
    numbers, others as text) and the ``censor_code``.  ``group``, ``strata`` and ``entry`` are optional.
    Column names are the source's own (any name, ``group`` included; no dots).
    """

    time: str
    event: str | None = None
    event_code: str | None = None
    causes: tuple[Hashable, ...] = field(default_factory=tuple)
    censor_code: Hashable = 0
    group: str | None = None
    strata: str | None = None
    entry: str | None = None

    def __post_init__(self) -> None:
        if (self.event is None) == (self.event_code is None):
            raise CountQueryError("count spec: give exactly one of event and event_code")
        if self.event_code is not None and not self.causes:
            raise CountQueryError("count spec: event_code needs the list of causes")
        codes = [*self.causes, self.censor_code]
        for c in codes:
            if not _SAFE.match(_code_text(c)):
                raise CountQueryError(f"count spec: cause code {c!r} must be letters, digits and _ only")
        if len({_code_text(c) for c in codes}) != len(codes):
            raise CountQueryError(f"count spec: duplicated code among causes {list(self.causes)!r} and censor_code")

    @property
    def numeric_codes(self) -> bool:
        return all(_is_int(c) for c in (*self.causes, self.censor_code))

    def columns(self) -> dict[str, str]:
        """Safe name in ``bc_source`` -> source column."""
        out = {"c_time": self.time}
        if self.event is not None:
            out["c_event"] = self.event
        if self.event_code is not None:
            out["c_code"] = self.event_code
        for safe, col in (("c_grp", self.group), ("c_stratum", self.strata), ("c_entry", self.entry)):
            if col is not None:
                out[safe] = col
        return out


def _is_int(c: Any) -> bool:
    if isinstance(c, bool):
        return True
    if isinstance(c, int):
        return True
    return hasattr(c, "is_integer") and not isinstance(c, str) and float(c).is_integer()


def _code_text(c: Any) -> str:
    return str(int(c)) if _is_int(c) else str(c)


def _code_literal(spec: CountSpec, c: Any) -> str:
    return _code_text(c) if spec.numeric_codes else f"'{_code_text(c)}'"


def _code_expr(spec: CountSpec) -> str:
    return "CAST(c_code AS DOUBLE)" if spec.numeric_codes else "CAST(c_code AS STRING)"


def _exit_aggregates(spec: CountSpec) -> tuple[list[str], list[str], str]:
    """Aggregates of the exit scan: (SELECT items, output event columns, the ``n_bad`` expression).

    Every count is a ``COUNT(*) FILTER (WHERE ...)`` (a BIGINT in both engines, and cheaper than a
    ``SUM`` of 0/1, which DuckDB accumulates as a 128-bit integer).  ``n_exit`` counts all records, so
    ``n_bad = n_exit - events - censorings`` is the number of records whose event value is missing or not
    0/1 (or whose code is neither a cause nor the censoring code): the input is checked in the same scan.
    """
    if spec.event is not None:
        v = "c_event"  # numeric: the loaders convert booleans and text on reading
        items = [
            f"COUNT(*) FILTER (WHERE {v} = 1) AS n_event",
            f"COUNT(*) FILTER (WHERE {v} = 0) AS n_censor",
            "COUNT(*) AS n_exit",
        ]
        return items, ["n_event"], "n_exit - n_censor - n_event"
    code = _code_expr(spec)
    names = []
    items = []
    for c in spec.causes:
        name = f"n_event_{_code_text(c)}"
        names.append(name)
        items.append(f"COUNT(*) FILTER (WHERE {code} = {_code_literal(spec, c)}) AS {name}")
    items.append(f"COUNT(*) FILTER (WHERE {code} = {_code_literal(spec, spec.censor_code)}) AS n_censor")
    items.append("COUNT(*) AS n_exit")
    return items, names, f"n_exit - n_censor - {' - '.join(names)}"


def count_sql(spec: CountSpec) -> str:
    """The SQL text (DuckDB and Spark SQL alike) of the count table over the view ``bc_source``.

    Output columns: ``stratum`` and ``grp`` (when given), ``time``, the event columns, ``n_censor``,
    ``n_entry`` (with entry times), ``n_risk`` and ``n_bad``; one row per (stratum, grp, time), in no
    particular order.  At a time ``t`` of a (stratum, grp) the number at risk is the number of records with
    exit ``>= t`` (no entry times), or entries ``< t`` minus exits ``< t``.

    The source is read once.  ``n_bad`` is 0 when the records of the row are valid (events 0/1 or
    declared codes; entry times, when given, before the exit time); missing, negative or non-finite times
    and missing labels show as rows with such keys.  The engines check both in the (small) result and
    only then run :func:`check_sql` to describe the problems.
    """
    keys = [k for k, on in (("stratum", spec.strata), ("grp", spec.group)) if on is not None]
    items, names, bad = _exit_aggregates(spec)
    sel_keys = "".join(f"c_{k} AS {k}, " for k in keys)
    part = f"PARTITION BY {', '.join(keys)} " if keys else ""
    group_by = ", ".join([*keys, "time"])
    key_list = "".join(f"{k}, " for k in keys)
    exits = (
        f"SELECT {sel_keys}CAST(c_time AS DOUBLE) AS time, {', '.join(items)} "
        f"FROM {SOURCE_VIEW} GROUP BY {group_by}"
    )
    if spec.entry is None:
        risk = (
            f"CAST(SUM(n_exit) OVER ({part}ORDER BY time DESC "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS n_risk"
        )
        return (
            f"WITH exits AS ({exits})\n"
            f"SELECT {key_list}time, {', '.join(names)}, n_censor, {risk}, "
            f"CAST({bad} AS BIGINT) AS n_bad\nFROM exits"
        )
    a = "CAST(c_entry AS DOUBLE)"
    entries = (
        f"SELECT {sel_keys}{a} AS time, CAST(COUNT(*) AS BIGINT) AS n_entry, "
        # an entry must lie before its exit time: the smallest gap must be positive (a missing one is -1)
        f"MIN(COALESCE(CAST(c_time AS DOUBLE) - {a}, -1.0)) AS min_gap "
        f"FROM {SOURCE_VIEW} GROUP BY {group_by}"
    )
    zero = ", ".join(f"CAST(0 AS BIGINT) AS {n}" for n in names)
    exit_part = (
        f"SELECT {key_list}time, {', '.join(names)}, n_censor, "
        f"CAST(0 AS BIGINT) AS n_entry, CAST({bad} AS BIGINT) AS n_bad FROM exits"
    )
    entry_part = (
        f"SELECT {key_list}time, {zero}, CAST(0 AS BIGINT) AS n_censor, n_entry, "
        "CAST(CASE WHEN min_gap > 0 THEN 0 ELSE 1 END AS BIGINT) AS n_bad FROM entries"
    )
    sums = ", ".join(f"CAST(SUM({n}) AS BIGINT) AS {n}" for n in [*names, "n_censor", "n_entry"])
    merged = f"SELECT {key_list}time, {sums}, CAST(SUM(n_bad) AS BIGINT) AS n_bad FROM both_ GROUP BY {group_by}"
    before = f"OVER ({part}ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    risk = f"CAST(COALESCE(SUM(n_entry - n_censor - {' - '.join(names)}) {before}, 0) AS BIGINT) AS n_risk"
    return (
        f"WITH exits AS ({exits}),\nentries AS ({entries}),\n"
        f"both_ AS ({exit_part}\nUNION ALL\n{entry_part}),\nmerged AS ({merged})\n"
        f"SELECT {key_list}time, {', '.join(names)}, n_censor, n_entry, {risk}, n_bad\nFROM merged"
    )


def check_sql(spec: CountSpec) -> str:
    """One SQL query returning, per input rule, the number of offending rows and an example value.

    Columns ``<rule>_n`` and ``<rule>_example`` for every rule of :func:`rules`.
    """
    parts = []
    for name, cond, value in _rules(spec):
        parts.append(f"CAST(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS BIGINT) AS {name}_n")
        parts.append(f"MIN(CASE WHEN {cond} THEN CAST({value} AS STRING) END) AS {name}_example")
    return f"SELECT CAST(COUNT(*) AS BIGINT) AS n_rows, {', '.join(parts)} FROM {SOURCE_VIEW}"


def _rules(spec: CountSpec) -> list[tuple[str, str, str]]:
    """(rule name, SQL condition of a bad row, value to show)."""
    t = "CAST(c_time AS DOUBLE)"
    rules = [("time", f"c_time IS NULL OR NOT ({t} >= 0 AND {t} <= {_MAX})", "c_time")]
    if spec.event is not None:
        rules.append(("event", "c_event IS NULL OR CAST(c_event AS DOUBLE) NOT IN (0, 1)", "c_event"))
    else:
        code = _code_expr(spec)
        allowed = ", ".join(_code_literal(spec, c) for c in (*spec.causes, spec.censor_code))
        rules.append(("event_code", f"c_code IS NULL OR {code} NOT IN ({allowed})", "c_code"))
    if spec.group is not None:
        rules.append(("grp", "c_grp IS NULL", "c_grp"))
    if spec.strata is not None:
        rules.append(("stratum", "c_stratum IS NULL", "c_stratum"))
    if spec.entry is not None:
        a = "CAST(c_entry AS DOUBLE)"
        rules.append(("entry", f"c_entry IS NULL OR NOT ({a} >= 0 AND {a} < {t})", "c_entry"))
    return rules


def contingency_sql() -> str:
    """SQL of a long contingency table (columns ``r``, ``c``, ``n``) over ``bc_source`` (``c_row``, ``c_col``)."""
    return (
        f"SELECT c_row AS r, c_col AS c, CAST(COUNT(*) AS BIGINT) AS n FROM {SOURCE_VIEW} "
        "WHERE c_row IS NOT NULL AND c_col IS NOT NULL GROUP BY c_row, c_col ORDER BY c_row, c_col"
    )


def _describe(spec: CountSpec, name: str) -> str:
    return {
        "time": f"time column {spec.time!r}: missing, negative, non-finite or non-numeric time",
        "event": f"event column {spec.event!r}: value is not 0/1 or boolean",
        "event_code": (
            f"event code column {spec.event_code!r}: value is neither the censoring code "
            f"{spec.censor_code!r} nor one of the causes {list(spec.causes)!r}"
        ),
        "grp": f"group column {spec.group!r}: missing label",
        "stratum": f"strata column {spec.strata!r}: missing label",
        "entry": f"entry column {spec.entry!r}: missing or negative entry, or entry not before the exit time",
    }[name]


def _raise_on_problems(spec: CountSpec, row: dict[str, Any], where: str) -> None:
    problems = []
    for name, _, _ in _rules(spec):
        n = int(row[f"{name}_n"] or 0)
        if n:
            problems.append(f"{where}: {_describe(spec, name)} in {n} row(s), e.g. {row[f'{name}_example']}")
    if problems:
        raise CountQueryError("\n".join(problems))
    if int(row["n_rows"]) == 0:
        raise CountQueryError(f"{where}: no rows")
    raise CountQueryError(f"{where}: the count table is inconsistent with the input checks")  # pragma: no cover


def _valid(table: pd.DataFrame, spec: CountSpec) -> bool:
    """Whether the result of :func:`count_sql` shows valid input: rows exist, ``n_bad`` is 0 everywhere,
    times are finite and non-negative, and no key is missing."""
    if table.shape[0] == 0:
        return False
    if not (pd.to_numeric(table["n_bad"]).fillna(1) == 0).all():
        return False
    t = pd.to_numeric(table["time"]).astype("float64")
    if not ((t >= 0) & (t <= float(_MAX))).all():  # also false for NaN and missing
        return False
    return not any(table[k].isna().any() for k in ("stratum", "grp") if k in table.columns)


def _finish(table: pd.DataFrame) -> pd.DataFrame:
    return _normalise(table.drop(columns="n_bad"))


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Same dtypes from both engines: integer counts and labels int64, times float64, text as object."""
    out = df.copy()
    for c in out.columns:
        dt = out[c].dtype
        if c == "time":
            out[c] = out[c].astype("float64")
        elif pd.api.types.is_bool_dtype(dt):
            continue
        elif pd.api.types.is_integer_dtype(dt):
            out[c] = out[c].astype("int64")
        elif pd.api.types.is_string_dtype(dt) or pd.api.types.is_object_dtype(dt):
            out[c] = out[c].astype(object)
    keys = [c for c in ("stratum", "grp", "r", "c") if c in out.columns]
    sort = [*keys, *(["time"] if "time" in out.columns else [])]
    return out.sort_values(sort, kind="stable").reset_index(drop=True)


def _where(source: str | Path | Sequence[str | Path]) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    items = [str(s) for s in source]
    return items[0] if len(items) == 1 else f"{items[0]} (+{len(items) - 1} more files)"


def _fmt(source: str | Path | Sequence[str | Path], fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("parquet", "csv"):
            raise CountQueryError(f"format: {fmt!r} is not parquet or csv")
        return fmt
    first = str(source if isinstance(source, (str, Path)) else next(iter(source)))
    low = first.lower()
    if low.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    return "parquet"


# ----------------------------------------------------------------------------------------------- DuckDB


def duckdb_connection(memory_limit: str | None = "1GB", threads: int | None = None) -> Any:
    """An in-memory DuckDB connection with a memory limit (larger intermediate results spill to disk)."""
    import duckdb

    con = duckdb.connect(":memory:")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = '{_safe_setting(memory_limit)}'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")
    return con


def _safe_setting(value: str) -> str:
    if not re.fullmatch(r"[0-9.]+ ?[A-Za-z]*", value):
        raise CountQueryError(f"memory_limit: {value!r} is not a size such as '1GB'")
    return value


def _duckdb_source(con: Any, source: str | Path | Sequence[str | Path], fmt: str | None,
                   columns: dict[str, str]) -> None:
    import duckdb

    paths = [str(source)] if isinstance(source, (str, Path)) else [str(s) for s in source]
    where = _where(source)
    try:
        rel = con.read_csv(paths) if _fmt(source, fmt) == "csv" else con.read_parquet(paths)
    except duckdb.Error as exc:
        raise CountQueryError(f"{where}: cannot be read ({str(exc).splitlines()[0]})") from exc
    missing = [c for c in columns.values() if c not in rel.columns]
    if missing:
        raise CountQueryError(f"{where}: column {missing[0]!r} not found (columns: {', '.join(rel.columns)})")
    types = dict(zip(rel.columns, (str(t).upper() for t in rel.types), strict=True))
    exprs = []
    for safe, col in columns.items():
        expr = duckdb.ColumnExpression(col)
        if safe == "c_event" and types[col] == "BOOLEAN":
            # as 1/0 (NULL stays NULL) before the query sees it: DuckDB pushes a CAST(... AS DOUBLE) into
            # its CSV reader, which then fails on the text "True"
            expr = duckdb.CaseExpression(expr, duckdb.ConstantExpression(1)).when(
                ~expr, duckdb.ConstantExpression(0)
            )
        elif safe == "c_event" and not types[col].startswith(_DUCKDB_NUMERIC):
            expr = expr.cast("DOUBLE")  # text such as "1" (a value that is no number fails here)
        exprs.append(expr.alias(safe))
    rel.select(*exprs).create_view(SOURCE_VIEW, replace=True)


def _duckdb_run(con: Any, sql: str, where: str) -> pd.DataFrame:
    import duckdb

    try:
        return con.sql(sql).df()
    except duckdb.Error as exc:
        raise CountQueryError(f"{where}: the query failed ({str(exc).splitlines()[0]})") from exc


def count_table_duckdb(
    source: str | Path | Sequence[str | Path],
    spec: CountSpec,
    *,
    format: str | None = None,
    con: Any = None,
    memory_limit: str | None = "1GB",
    threads: int | None = None,
) -> pd.DataFrame:
    """Count table of Parquet or CSV files computed by DuckDB (embedded, out of core).

    ``source`` is a path, a glob (``data/*.parquet``) or a list of paths; ``format`` defaults from the
    suffix.  ``con`` reuses a connection; otherwise one is opened with ``memory_limit`` and ``threads``.
    Raises :class:`CountQueryError` naming the file, column, rule, number of rows and an example value.
    """
    con = duckdb_connection(memory_limit, threads) if con is None else con
    where = _where(source)
    _duckdb_source(con, source, format, spec.columns())
    table = _duckdb_run(con, count_sql(spec), where)
    if not _valid(table, spec):
        _raise_on_problems(spec, _duckdb_run(con, check_sql(spec), where).iloc[0].to_dict(), where)
    return _finish(table)


def contingency_duckdb(
    source: str | Path | Sequence[str | Path], row: str, col: str, *, format: str | None = None, con: Any = None,
    memory_limit: str | None = "1GB",
) -> pd.DataFrame:
    """Long contingency table (columns ``r``, ``c``, ``n``) of two columns of Parquet or CSV files by DuckDB;
    rows with a missing value in either column are left out."""
    con = duckdb_connection(memory_limit) if con is None else con
    _duckdb_source(con, source, format, {"c_row": row, "c_col": col})
    return _normalise(_duckdb_run(con, contingency_sql(), _where(source)))


# ----------------------------------------------------------------------------------------------- Spark


def _spark_source(spark: Any, source: str | Path | Sequence[str | Path], fmt: str | None,
                  columns: dict[str, str]) -> None:
    paths = [str(source)] if isinstance(source, (str, Path)) else [str(s) for s in source]
    where = _where(source)
    try:
        if _fmt(source, fmt) == "csv":
            df = spark.read.option("header", True).option("inferSchema", True).csv(paths)
        else:
            df = spark.read.parquet(*paths)
    except Exception as exc:  # pyspark raises its own AnalysisException hierarchy
        raise CountQueryError(f"{where}: cannot be read ({str(exc).splitlines()[0]})") from exc
    missing = [c for c in columns.values() if c not in df.columns]
    if missing:
        raise CountQueryError(f"{where}: column {missing[0]!r} not found (columns: {', '.join(df.columns)})")
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, NumericType

    types = {f.name: f.dataType for f in df.schema.fields}
    exprs = []
    for safe, col in columns.items():
        expr = df[col]
        if safe == "c_event" and isinstance(types[col], BooleanType):
            expr = F.when(expr, 1).when(~expr, 0)  # as for DuckDB: 1/0, NULL stays NULL
        elif safe == "c_event" and not isinstance(types[col], NumericType):
            expr = expr.cast("double")
        exprs.append(expr.alias(safe))
    df.select(*exprs).createOrReplaceTempView(SOURCE_VIEW)


def _spark_run(spark: Any, sql: str, where: str) -> pd.DataFrame:
    try:
        rows = spark.sql(sql).collect()
    except Exception as exc:
        raise CountQueryError(f"{where}: the query failed ({str(exc).splitlines()[0]})") from exc
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame([r.asDict() for r in rows], columns=list(rows[0].asDict()))


def count_table_spark(
    spark: Any, source: str | Path | Sequence[str | Path], spec: CountSpec, *, format: str | None = None
) -> pd.DataFrame:
    """The same count table as :func:`count_table_duckdb`, computed by Spark SQL with the same SQL text.

    ``spark`` is a ``pyspark.sql.SparkSession`` (local or on a cluster); ``source`` paths are read by
    Spark (``hdfs://``, ``s3a://`` ... on a cluster).
    """
    where = _where(source)
    _spark_source(spark, source, format, spec.columns())
    table = _spark_run(spark, count_sql(spec), where)
    if not _valid(table, spec):
        _raise_on_problems(spec, _spark_run(spark, check_sql(spec), where).iloc[0].to_dict(), where)
    return _finish(table)


def contingency_spark(
    spark: Any, source: str | Path | Sequence[str | Path], row: str, col: str, *, format: str | None = None
) -> pd.DataFrame:
    """:func:`contingency_duckdb` computed by Spark SQL."""
    _spark_source(spark, source, format, {"c_row": row, "c_col": col})
    return _normalise(_spark_run(spark, contingency_sql(), _where(source)))
