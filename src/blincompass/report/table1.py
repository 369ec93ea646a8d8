"""Table 1: characteristics of the eligible patients, from the protocol's ``[[report.table1]]`` rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from blincompass.dictionary import DataDictionary, load_dictionary
from blincompass.io.dataset import norm_value
from blincompass.protocol import Protocol
from blincompass.protocol.layout import Layout
from blincompass.protocol.model import Table1Row
from blincompass.report.fmt import DASH, fmt_n_pct, fmt_num, slug
from blincompass.report.model import HeaderCell, Row, Table, put
from blincompass.report.wording import resolve

__all__ = ["build_table1", "code_key", "eligible", "match_where", "norm_value"]


def eligible(adsl: pd.DataFrame) -> pd.DataFrame:
    """The eligible patients of the patient-level table."""
    return adsl[adsl["eligible"].fillna(False).astype(bool)]


_NA_TYPES = (type(None), type(pd.NA), type(pd.NaT))


def apply_distinct(values: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """``fn`` of every cell (as ``values.map(fn)`` would pass it), called once per distinct value; values
    of different types are distinct (``True`` is not ``1``). An object Series on ``values``' index."""
    arr = values.to_numpy(dtype=object)
    out = np.empty(arr.size, dtype=object)
    kinds = set(map(type, arr))
    if len(kinds.difference(_NA_TYPES)) <= 1:
        # one kind of value (besides missing ones): pandas finds the distinct values and their positions
        codes, uniques = pd.factorize(arr, use_na_sentinel=True)
        results = np.empty(len(uniques), dtype=object)
        results[:] = [fn(u) for u in uniques]
        ok = codes >= 0
        out[ok] = results[codes[ok]]
        rest = np.flatnonzero(~ok)  # missing cells: one call per kind of missing value
    else:
        rest = np.arange(arr.size)
    cache: dict[tuple[Any, ...], Any] = {}
    for i in rest:
        v = arr[i]
        key = (type(v), repr(v))
        if key not in cache:
            cache[key] = fn(v)
        out[i] = cache[key]
    return pd.Series(out, index=values.index, dtype="object")


def norm_series(values: pd.Series) -> pd.Series:
    """:func:`norm_value` of every cell, kept as an object Series (``None`` stays ``None`` on pandas 3,
    whose ``map`` would infer a string or nullable dtype)."""
    return apply_distinct(values, norm_value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _matches(value: Any, wanted: Any) -> bool:
    v = norm_value(value)
    if isinstance(wanted, list | tuple):
        return any(_same(v, w) for w in wanted)
    return _same(v, wanted)


def match_where(df: pd.DataFrame, where: dict[str, Any]) -> pd.Series:
    """Boolean mask of the rows of ``df`` for which every ``column = value(s)`` condition holds."""
    mask = pd.Series(True, index=df.index)
    for col, wanted in where.items():
        if col not in df.columns:
            raise ValueError(f"protocol report: condition on unknown patient-level column {col!r}")
        mask &= apply_distinct(df[col], lambda v, w=wanted: _matches(v, w)).astype(bool)
    return mask


def code_key(code: Any) -> str:
    """The results-key component of a code: the code itself when it is made of letters, digits and ``_``
    (e.g. ``M``), booleans as "true"/"false", otherwise :func:`slug`."""
    if isinstance(code, bool):
        return str(code).lower()
    text = str(code)
    return text if re.fullmatch(r"[A-Za-z0-9_]+", text) else slug(text)


def _codes(spec: Table1Row, protocol: Protocol, observed: pd.Series, dictionary: DataDictionary | None = None,
           ) -> list[tuple[Any, str]]:
    """(code, label) pairs of a categorical row, in dictionary / protocol order."""
    if spec.codes:
        return [(c.code, c.label) for c in spec.codes]
    src = spec.codes_from or ""
    if src.startswith("derived."):
        return protocol.levels(src.split(".", 1)[1])
    form, _, var = src.partition(".")
    try:
        variable = (dictionary or load_dictionary()).form(form).variable(var)
    except KeyError as exc:
        raise ValueError(f"protocol report.table1 {spec.id}: codes_from {src!r} is not a dictionary variable") from exc
    pairs = [(c.code, c.label) for c in variable.codes]
    codes = {c for c, _ in pairs}
    if variable.allow_unknown and "unknown" not in codes and (observed == "unknown").any():
        pairs.append(("unknown", variable.code_label("unknown")))
    return pairs


def _quantiles(x: np.ndarray, method: str) -> tuple[float, float, float]:
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75], method=method)  # type: ignore[call-overload]
    return float(q1), float(med), float(q3)


def _block(spec: Table1Row, elig: pd.DataFrame, n_all: int, protocol: Protocol, results: dict[str, Any],
           rows: list[Row], dictionary: DataDictionary | None = None) -> None:
    """Append the rows of one categorical or continuous Table 1 block."""
    method = protocol.report.quantile_method
    base = f"table1.{spec.id}"
    if spec.variable not in elig.columns:
        raise ValueError(
            f"protocol report.table1 {spec.id}: variable {spec.variable!r} is not a patient-level column"
        )
    pop = elig[match_where(elig, spec.where)] if spec.where else elig
    denom = len(pop) if spec.percent_of == "subset" else n_all
    put(results, f"{base}.denominator", denom)
    values = pop[spec.variable]
    missing = norm_series(values).isna()
    head = spec.label
    if spec.where and spec.percent_of == "subset":
        head = f"{spec.label} (n = {denom})"
    rows.append(Row((head, ""), (None, None), 0, "heading"))
    used: set[str] = set()

    def count_row(key: str, label: str, n: int, level: int = 1) -> None:
        if key in used:
            raise ValueError(f"protocol report.table1 {spec.id}: two rows share the results key {key!r}")
        used.add(key)
        k_n = put(results, f"{base}.{key}.n", n)
        put(results, f"{base}.{key}.pct", None if denom == 0 else 100.0 * n / denom)
        rows.append(Row((label, fmt_n_pct(n, denom)), (None, k_n), level))

    if spec.kind == "continuous":
        x = pd.to_numeric(values[~missing], errors="coerce").to_numpy(dtype=float)
        put(results, f"{base}.n", int(x.size))
        unit = f", {spec.unit}" if spec.unit else ""
        if spec.summary:
            if x.size:
                q1, med, q3 = _quantiles(x, method)
                lo, hi = float(x.min()), float(x.max())
            else:
                q1 = med = q3 = lo = hi = float("nan")
            d = spec.decimals
            k_med = put(results, f"{base}.median", med)
            put(results, f"{base}.q1", q1)
            put(results, f"{base}.q3", q3)
            k_min = put(results, f"{base}.min", lo)
            put(results, f"{base}.max", hi)
            iqr = f"{fmt_num(med, d)} ({fmt_num(q1, d)}{DASH}{fmt_num(q3, d)})"
            rows.append(Row((f"Median (IQR){unit}", iqr), (None, k_med), 1))
            rows.append(Row((f"Range{unit}", f"{fmt_num(lo, d)}{DASH}{fmt_num(hi, d)}"), (None, k_min), 1))
        for cat in spec.categories:
            n = int(apply_distinct(pd.Series(x), lambda v, c=cat: c.contains(float(v))).astype(bool).sum())
            count_row(cat.id, cat.label, n)
    else:
        observed = norm_series(values[~missing])
        pairs = _codes(spec, protocol, observed, dictionary)
        for code, label in pairs:
            n = int(apply_distinct(observed, lambda v, c=code: _same(v, c)).astype(bool).sum())
            count_row(code_key(code), label, n)
            for sub in spec.subrows:
                if sub.within is not None and _same(sub.within, code):
                    in_code = pop[apply_distinct(values, lambda v, c=code: _same(norm_value(v), c)).astype(bool)]
                    n_sub = int(match_where(in_code, sub.where).sum()) if sub.where else len(in_code)
                    count_row(sub.id, sub.label, n_sub, level=2)
        for comb in spec.combine:
            n = int(apply_distinct(observed, lambda v, cs=comb.codes: any(_same(v, c) for c in cs)).astype(bool).sum())
            count_row(comb.id, comb.label, n)
    for sub in spec.subrows:
        if sub.within is None:
            n_sub = int(match_where(pop, sub.where).sum())
            count_row(sub.id, sub.label, n_sub, level=2)
    n_missing = int(missing.sum())
    if n_missing:
        count_row("missing", "Missing", n_missing)


def build_table1(adsl: pd.DataFrame, protocol: Protocol, results: dict[str, Any], layout: Layout | None = None,
                 values: dict[str, Any] | None = None, dictionary: DataDictionary | None = None) -> Table:
    """Table 1 rows from the protocol, counts over the eligible patients; numbers go to ``results``.

    Result keys (see docs/results-schema.md): ``table1.<row>.denominator``, ``table1.<row>.<code>.n``
    and ``.pct``, ``table1.<row>.missing.n``/``.pct``; continuous rows add ``.n``, ``.median``, ``.q1``,
    ``.q3``, ``.min``, ``.max``; categories, combined rows and sub-rows use their protocol ids.
    """
    lay, v = resolve(protocol, adsl, layout, values)
    elig = eligible(adsl)
    n_all = len(elig)
    method = protocol.report.quantile_method
    rows: list[Row] = []
    for spec in protocol.report.table1:
        base = f"table1.{spec.id}"
        if spec.kind == "count":
            rows.append(Row((spec.label, str(n_all)), (None, put(results, f"{base}.n", n_all)), 0, "total"))
            continue
        _block(spec, elig, n_all, protocol, results, rows, dictionary)
    extra = lay.text_of("table1_note", v)
    foot = (
        "n (%): number of eligible patients (percentage of the eligible patients unless the row says otherwise).",
        "Continuous characteristics: median with interquartile range (IQR; quartiles by the "
        f"{'(n + 1)p' if method == 'weibull' else method} definition) and range (minimum" + DASH + "maximum)."
        + (f" {extra}" if extra else ""),
        "Categories follow the data dictionary's codes and order; a Missing row appears when a value is missing.",
    )
    notes = tuple(f"{s.label}: {s.note}" for s in protocol.report.table1 if s.note)
    return Table(
        id="table1",
        caption=lay.table_title("table1", v),
        header=((HeaderCell("Characteristic"), HeaderCell("n (%)")),),
        rows=tuple(rows),
        footnotes=foot + notes,
        sheet="Table 1",
    )
