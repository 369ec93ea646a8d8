"""Table 1: characteristics of the eligible patients, from the protocol's ``[[report.table1]]`` rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from blincompass.dictionary import DataDictionary, load_dictionary
from blincompass.io.dataset import norm_value
from blincompass.protocol import Protocol
from blincompass.protocol.layout import Layout
from blincompass.protocol.model import Table1Row
from blincompass.report.fmt import DASH, fmt_n_pct, fmt_num, fmt_p, slug
from blincompass.report.model import HeaderCell, Row, Table, put
from blincompass.report.wording import resolve
from blincompass.stats.group_tests import GroupComparison, compare_categorical, compare_continuous

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


@dataclass(frozen=True)
class _Pop:
    """One column of Table 1: all eligible patients, or one group of them."""

    gid: str | None  # None: the overall column
    frame: pd.DataFrame

    def base(self, row_id: str) -> str:
        return f"table1.{row_id}" if self.gid is None else f"table1.{row_id}.by_group.{self.gid}"


#: Footnote text of each test of Table 1 by group (the letter is given in order of first use), keyed by
#: :func:`_test_kind`.
TEST_WORDS: dict[str, str] = {
    "chi-square": "Pearson's chi-square test without continuity correction (every expected count \u2265 5)",
    "fisher": "Fisher's exact test (an expected count < 5)",
    "fisher-monte-carlo": "Fisher's exact test (an expected count < 5), p-value by Monte Carlo (too many tables "
                          "to enumerate; the protocol's permutation seed and number of resamples)",
    "rank-sum-exact": "Wilcoxon rank-sum test, exact p-value (no ties, fewer than 50 patients per group)",
    "rank-sum-normal": "Wilcoxon rank-sum test, normal approximation with tie and continuity correction (tied "
                       "values, or 50 or more patients in a group)",
    "kruskal-wallis": "Kruskal\u2013Wallis test (chi-square approximation with tie correction)",
}


def _test_kind(test: GroupComparison) -> str:
    """The :data:`TEST_WORDS` key of a test: its name, with the method where it changes the p-value."""
    if test.test == "rank-sum":
        return f"rank-sum-{test.method}"
    if test.test == "fisher" and test.method == "monte-carlo":
        return "fisher-monte-carlo"
    return test.test


def _block(spec: Table1Row, pops: list[_Pop], protocol: Protocol, results: dict[str, Any],
           rows: list[Row], dictionary: DataDictionary | None = None,
           ) -> tuple[list[tuple[Any, pd.Series]], list[Any]]:
    """Append the rows of one categorical or continuous Table 1 block, one cell per column of ``pops``
    (the first is the overall column). Returns, per group column, (code, non-missing values) pairs for the
    block's test: the observed codes of a categorical row, or the numbers of a continuous one; and the codes
    of a categorical row (the categories its test compares)."""
    method = protocol.report.quantile_method
    if spec.variable not in pops[0].frame.columns:
        raise ValueError(
            f"protocol report.table1 {spec.id}: variable {spec.variable!r} is not a patient-level column"
        )
    frames = [p.frame[match_where(p.frame, spec.where)] if spec.where else p.frame for p in pops]
    denoms = [len(f) if spec.percent_of == "subset" else len(p.frame) for p, f in zip(pops, frames, strict=True)]
    for p, d in zip(pops, denoms, strict=True):
        put(results, f"{p.base(spec.id)}.denominator", d)
    values = [f[spec.variable] for f in frames]
    missing = [norm_series(v).isna() for v in values]
    head = spec.label
    if spec.where and spec.percent_of == "subset":
        head = f"{spec.label} (n = {denoms[0]})"
    rows.append(Row((head, *[""] * len(pops)), (None, *[None] * len(pops)), 0, "heading"))
    used: set[str] = set()

    def count_row(key: str, label: str, counts: list[int], level: int = 1) -> None:
        if key in used:
            raise ValueError(f"protocol report.table1 {spec.id}: two rows share the results key {key!r}")
        used.add(key)
        texts: list[str] = [label]
        keys: list[str | None] = [None]
        for p, n, d in zip(pops, counts, denoms, strict=True):
            k_n = put(results, f"{p.base(spec.id)}.{key}.n", n)
            put(results, f"{p.base(spec.id)}.{key}.pct", None if d == 0 else 100.0 * n / d)
            texts.append(fmt_n_pct(n, d))
            keys.append(k_n)
        rows.append(Row(tuple(texts), tuple(keys), level))

    samples: list[tuple[Any, pd.Series]] = []
    codes: list[Any] = []
    if spec.kind == "continuous":
        xs = [pd.to_numeric(v[~m], errors="coerce").to_numpy(dtype=float) for v, m in zip(values, missing, strict=True)]
        samples = [(p.gid, pd.Series(x)) for p, x in zip(pops, xs, strict=True)]
        for p, x in zip(pops, xs, strict=True):
            put(results, f"{p.base(spec.id)}.n", int(x.size))
        unit = f", {spec.unit}" if spec.unit else ""
        if spec.summary:
            d = spec.decimals
            iqr: list[str] = [f"Median (IQR){unit}"]
            rng: list[str] = [f"Range{unit}"]
            k_iqr: list[str | None] = [None]
            k_rng: list[str | None] = [None]
            for p, x in zip(pops, xs, strict=True):
                if x.size:
                    q1, med, q3 = _quantiles(x, method)
                    lo, hi = float(x.min()), float(x.max())
                else:
                    q1 = med = q3 = lo = hi = float("nan")
                base = p.base(spec.id)
                k_iqr.append(put(results, f"{base}.median", med))
                put(results, f"{base}.q1", q1)
                put(results, f"{base}.q3", q3)
                k_rng.append(put(results, f"{base}.min", lo))
                put(results, f"{base}.max", hi)
                iqr.append(f"{fmt_num(med, d)} ({fmt_num(q1, d)}{DASH}{fmt_num(q3, d)})"
                           if x.size else DASH)
                rng.append(f"{fmt_num(lo, d)}{DASH}{fmt_num(hi, d)}" if x.size else DASH)
            rows.append(Row(tuple(iqr), tuple(k_iqr), 1))
            rows.append(Row(tuple(rng), tuple(k_rng), 1))
        for cat in spec.categories:
            count_row(cat.id, cat.label, [
                int(apply_distinct(pd.Series(x), lambda v, c=cat: c.contains(float(v))).astype(bool).sum())
                for x in xs])
    else:
        observed = [norm_series(v[~m]) for v, m in zip(values, missing, strict=True)]
        samples = [(p.gid, o) for p, o in zip(pops, observed, strict=True)]
        pairs = _codes(spec, protocol, observed[0], dictionary)
        for code, label in pairs:
            count_row(code_key(code), label, [
                int(apply_distinct(o, lambda v, c=code: _same(v, c)).astype(bool).sum()) for o in observed])
            for sub in spec.subrows:
                if sub.within is not None and _same(sub.within, code):
                    subs = []
                    for f, v in zip(frames, values, strict=True):
                        in_code = f[apply_distinct(v, lambda x, c=code: _same(norm_value(x), c)).astype(bool)]
                        subs.append(int(match_where(in_code, sub.where).sum()) if sub.where else len(in_code))
                    count_row(sub.id, sub.label, subs, level=2)
        for comb in spec.combine:
            count_row(comb.id, comb.label, [
                int(apply_distinct(o, lambda v, cs=comb.codes: any(_same(v, c) for c in cs)).astype(bool).sum())
                for o in observed])
        codes = [c for c, _ in pairs]
    for sub in spec.subrows:
        if sub.within is None:
            count_row(sub.id, sub.label, [int(match_where(f, sub.where).sum()) for f in frames], level=2)
    n_missing = [int(m.sum()) for m in missing]
    if n_missing[0]:
        count_row("missing", "Missing", n_missing)
    return samples, codes


def _block_test(spec: Table1Row, samples: list[tuple[Any, pd.Series]], codes: list[Any], protocol: Protocol,
                ) -> GroupComparison | None:
    """The block's test across the group columns (``samples`` without the overall column); ``None`` when
    there is nothing to compare (fewer than two groups with values, one category only)."""
    groups = [s for _, s in samples if len(s)]
    if len(groups) < 2:
        return None
    try:
        if spec.kind == "continuous":
            return compare_continuous([g.to_numpy(dtype=float) for g in groups])
        table = np.array([[int(apply_distinct(g, lambda v, c=code: _same(v, c)).astype(bool).sum()) for g in groups]
                          for code in codes], dtype=np.int64)
        cfg = protocol.analyses.permutation
        return compare_categorical(table, B=cfg.n_resamples, seed=cfg.seed)
    except ValueError:  # one category or all values equal: nothing to test
        return None


def _groups(adsl: pd.DataFrame, protocol: Protocol, column: str, dictionary: DataDictionary | None = None,
            ) -> list[tuple[Any, str]]:
    """(value, label) of the groups of Table 1: the levels or codes of a derived variable; else the codes
    of the dictionary's coded variable of that name (the patient form first), in dictionary order; else
    the observed values in sorted order."""
    if protocol.derivation(column) is not None and protocol.levels(column):
        return list(protocol.levels(column))
    d = dictionary or load_dictionary()
    forms = sorted(d.forms, key=lambda f: f.name != d.patient_form.name)
    for form in forms:
        if column in form.columns:
            var = form.variable(column)
            if var.type == "code":
                return [(c.code, c.label) for c in var.codes]
            break
    seen = norm_series(adsl[column]).dropna().unique().tolist()
    return [(v, str(v)) for v in sorted(seen, key=lambda v: (str(type(v)), str(v)))]


def build_table1(adsl: pd.DataFrame, protocol: Protocol, results: dict[str, Any], layout: Layout | None = None,
                 values: dict[str, Any] | None = None, dictionary: DataDictionary | None = None) -> Table:
    """Table 1 rows from the protocol, counts over the eligible patients; numbers go to ``results``.

    With ``[report] table1_group`` (a patient-level column) the table has an overall column, one column per
    group and a p-value with the letter of its test (:mod:`blincompass.stats.group_tests`): categorical rows
    Pearson's chi-square test without continuity correction when every expected count is at least 5, else
    Fisher's exact test; continuous rows the Wilcoxon rank-sum test (two groups) or the Kruskal-Wallis test.

    Result keys (see docs/results-schema.md): ``table1.<row>.denominator``, ``table1.<row>.<code>.n``
    and ``.pct``, ``table1.<row>.missing.n``/``.pct``; continuous rows add ``.n``, ``.median``, ``.q1``,
    ``.q3``, ``.min``, ``.max``; categories, combined rows and sub-rows use their protocol ids. By group:
    the same keys under ``table1.<row>.by_group.<group>``, and ``table1.<row>.test.p``, ``.name``,
    ``.method``, ``.statistic``, ``.df``, ``.min_expected``; ``table1.groups.<group>.n``/``.label``.
    """
    lay, v = resolve(protocol, adsl, layout, values)
    elig = eligible(adsl)
    n_all = len(elig)
    method = protocol.report.quantile_method
    column = protocol.report.table1_group
    pops = [_Pop(None, elig)]
    heads = [HeaderCell("n (%)")]
    n_no_group = 0
    if column:
        if column not in elig.columns:
            raise ValueError(f"protocol report.table1_group: {column!r} is not a patient-level column")
        gvals = norm_series(elig[column])
        heads = [HeaderCell(f"All patients (n = {n_all})")]
        for code, label in _groups(elig, protocol, column, dictionary):
            frame = elig[apply_distinct(gvals, lambda x, c=code: _same(x, c)).astype(bool).to_numpy()]
            gid = code_key(code)
            pops.append(_Pop(gid, frame))
            put(results, f"table1.groups.{gid}.n", len(frame))
            put(results, f"table1.groups.{gid}.label", label)
            heads.append(HeaderCell(f"{label} (n = {len(frame)})"))
        n_no_group = int(gvals.isna().sum())
        heads += [HeaderCell("p"), HeaderCell("Test")]
    grouped = len(pops) > 1
    letters: dict[str, str] = {}
    rows: list[Row] = []
    for spec in protocol.report.table1:
        base = f"table1.{spec.id}"
        if spec.kind == "count":
            texts = [spec.label, str(n_all)]
            keys: list[str | None] = [None, put(results, f"{base}.n", n_all)]
            for p in pops[1:]:
                texts.append(str(len(p.frame)))
                keys.append(put(results, f"{p.base(spec.id)}.n", len(p.frame)))
            if grouped:
                texts += ["", ""]
                keys += [None, None]
            rows.append(Row(tuple(texts), tuple(keys), 0, "total"))
            continue
        start = len(rows)
        samples, codes = _block(spec, pops, protocol, results, rows, dictionary)
        if not grouped:
            continue
        extra: tuple[str, str] = ("", "")
        keys_extra: tuple[str | None, str | None] = (None, None)
        test = None if spec.variable == column else _block_test(spec, samples[1:], codes, protocol)
        if test is not None:
            letter = letters.setdefault(_test_kind(test), "abcdefgh"[len(letters)])
            k_p = put(results, f"{base}.test.p", test.pvalue)
            put(results, f"{base}.test.name", test.test)
            put(results, f"{base}.test.method", test.method)
            put(results, f"{base}.test.statistic", test.statistic)
            put(results, f"{base}.test.df", test.df)
            put(results, f"{base}.test.min_expected", test.min_expected)
            extra, keys_extra = (fmt_p(test.pvalue), letter), (k_p, None)
        for i in range(start, len(rows)):
            r = rows[i]
            cells, ks = (extra, keys_extra) if i == start else (("", ""), (None, None))
            rows[i] = Row((*r.cells, *cells), (*r.keys, *ks), r.level, r.kind)
    extra_note = lay.text_of("table1_note", v)
    foot = [
        "n (%): number of eligible patients (percentage of the eligible patients"
        + (" of the column" if grouped else "") + " unless the row says otherwise).",
        "Continuous characteristics: median with interquartile range (IQR; quartiles by the "
        f"{'(n + 1)p' if method == 'weibull' else method} definition) and range (minimum" + DASH + "maximum)."
        + (f" {extra_note}" if extra_note else ""),
        "Categories follow the data dictionary's codes and order; a Missing row appears when a value is missing.",
    ]
    if grouped:
        foot.append("p: two-sided, comparing the groups on the categories of the row (combined rows and sub-rows "
                    "are not tested) or on the values of a continuous characteristic; missing values are left "
                    "out. " + " ".join(f"{letter}: {TEST_WORDS[name]}." for name, letter in letters.items()))
        if n_no_group:
            foot.append(f"{n_no_group} patient(s) without a group value are counted in the first column only.")
    notes = tuple(f"{s.label}: {s.note}" for s in protocol.report.table1 if s.note)
    return Table(
        id="table1",
        caption=lay.table_title("table1", v),
        header=((HeaderCell("Characteristic"), *heads),),
        rows=tuple(rows),
        footnotes=tuple(foot) + notes,
        sheet="Table 1",
        align=("l", *["r"] * (len(heads) - 1), "l") if grouped else (),
    )
