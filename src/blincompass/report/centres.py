"""Per-centre table (supplementary): patients screened and eligible, by group, median follow-up and data
completeness of each centre. Every centre of the data is listed, small ones included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from blincompass.dictionary import DataDictionary, load_dictionary
from blincompass.dictionary.model import MRD_CODES, UNKNOWN, Form, Variable
from blincompass.io.dataset import norm_value
from blincompass.protocol import Protocol
from blincompass.protocol.layout import Layout
from blincompass.report.fmt import DASH, fmt_num, fmt_pct
from blincompass.report.model import HeaderCell, Row, Table, put
from blincompass.report.table1 import _groups, _same, apply_distinct, code_key, eligible, norm_series
from blincompass.report.wording import resolve
from blincompass.stats import median_follow_up

__all__ = ["build_centre_table", "completeness"]

#: The code a dictionary uses for a value that was looked for and is not known.
UNKNOWN_CODE = UNKNOWN
#: The code of an MRD result that was not obtained ("not done").
MRD_NOT_DONE = "ND"


def _needed(form_frame: pd.DataFrame, var: Variable) -> np.ndarray:
    """Rows on which ``var`` is expected: always when required, where its condition holds when
    conditionally required; never for optional variables."""
    n = len(form_frame)
    if var.required:
        return np.ones(n, dtype=bool)
    cond = var.required_if
    if cond is None or cond.field not in form_frame.columns:
        return np.zeros(n, dtype=bool)
    values = norm_series(form_frame[cond.field])
    if cond.present is not None:
        return (values.notna() == cond.present).to_numpy(dtype=bool)
    allowed = [norm_value(a) for a in (cond.in_ or ())]
    return apply_distinct(values, lambda v: v is not None and any(_same(v, a) for a in allowed)
                          ).astype(bool).to_numpy()


def _known(frame: pd.DataFrame, var: Variable) -> np.ndarray:
    """Cells of ``var`` holding a known value: present and not the code "unknown"; for an MRD variable, a
    result other than "not done" (read from its ``<name>_status`` column: a level, NEG or PNQ)."""
    column = frame[var.name]
    unknown: tuple[str, ...] = (UNKNOWN_CODE,)
    if var.type == "mrd" and f"{var.name}_status" in frame.columns:
        column, unknown = frame[f"{var.name}_status"], (UNKNOWN_CODE, MRD_NOT_DONE)
    dtype = column.dtype
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        # numbers, booleans and dates are never a code: known is present (what the general path below
        # gives them, without reading every cell as a Python object)
        return column.notna().to_numpy(dtype=bool)
    if isinstance(dtype, pd.StringDtype):  # text as it is: known is present and not one of the codes
        return (column.notna() & ~column.isin(list(unknown))).to_numpy(dtype=bool)
    values = norm_series(column)
    return apply_distinct(values, lambda v: v is not None and not any(_same(v, u) for u in unknown)
                          ).astype(bool).to_numpy()


def row_completeness(frame: pd.DataFrame, form: Form) -> tuple[np.ndarray, np.ndarray]:
    """Per row of one form: (known, expected) cell counts as in :func:`completeness`. Every rule is row by
    row, so the counts of any subset of rows are the sums over those rows (the per-centre table computes
    them once per form, not once per centre)."""
    known = np.zeros(len(frame), dtype=np.int64)
    expected = np.zeros(len(frame), dtype=np.int64)
    for var in form.variables:
        need = _needed(frame, var)
        if not need.any():
            continue
        expected += need
        if var.name in frame.columns:
            known += _known(frame, var) & need
    return known, expected


def completeness(frame: pd.DataFrame, form: Form) -> tuple[int, int]:
    """(known, expected) cells of one form's rows: the expected cells are those of the required variables
    and of the conditionally required ones where their condition holds; a cell is known when it holds a
    value other than the code "unknown" (an MRD result: other than "not done"). A variable absent from the
    data counts as expected and unknown."""
    known, expected = row_completeness(frame, form)
    return int(known.sum()), int(expected.sum())


def _member(values: np.ndarray, ids: set[str]) -> np.ndarray:
    """Which of ``values`` (text) are in ``ids``: a set lookup per value (``Series.isin`` on Arrow text
    rebuilds its lookup table on every call, and this table asks once per centre)."""
    return np.fromiter((v in ids for v in values), dtype=bool, count=len(values))


def build_centre_table(dataset: Any, adsl: pd.DataFrame, adtte: pd.DataFrame, protocol: Protocol,
                       results: dict[str, Any], layout: Layout | None = None, values: dict[str, Any] | None = None,
                       dictionary: DataDictionary | None = None) -> Table | None:
    """Per centre: patients screened and eligible, eligible patients by group (``[report] table1_group``,
    else the ADTTE stratum), median follow-up by reverse Kaplan–Meier (:func:`blincompass.stats.median_follow_up`)
    of the protocol's first endpoint, and completeness (:func:`completeness`) over all forms (per form in
    ``results``) on the rows of the centre's screened patients. ``None`` when the data dictionary names no centre.

    Result keys: ``centres.<centre>.label``, ``.screened``, ``.eligible``, ``.groups.<group>``,
    ``.followup.median``/``.lower``/``.upper``, ``.completeness.pct``/``.known``/``.expected`` and
    ``.completeness.forms.<form>.pct``; ``centres.total.*`` the same over all centres;
    ``centres.endpoint``.
    """
    d = dictionary or load_dictionary()
    centre = d.centre
    if not centre or centre not in adsl.columns:
        return None
    lay, v = resolve(protocol, adsl, layout, values)
    pid = d.patient_id
    s = protocol.analyses.settings
    centre_of = adsl.set_index("patient_id")[centre].map(lambda c: None if c is None or c is pd.NA else str(c))
    names = sorted({c for c in centre_of if c is not None and c == c})
    if centre_of.isna().any():
        names.append("")  # patients without a centre: a row of their own, never dropped
    elig = eligible(adsl)
    column = protocol.report.table1_group or protocol.adtte.stratum
    groups = _groups(elig, protocol, column, d) if column and column in elig.columns else []
    paramcd = protocol.endpoints[0].paramcd if protocol.endpoints else None
    tte = adtte[adtte["PARAMCD"] == paramcd] if paramcd is not None and len(adtte) else adtte.iloc[0:0]
    put(results, "centres.endpoint", paramcd)
    forms = [f for f in d.forms if f.name in dataset.forms]

    # per form: the patient of each row and the row's (known, expected) counts, computed once
    per_row = {f.name: (dataset.forms[f.name][pid].astype(str).to_numpy(dtype=object),
                        *row_completeness(dataset.forms[f.name], f))
               for f in forms}

    elig_ids = elig["patient_id"].astype(str).to_numpy(dtype=object)
    tte_ids = tte["USUBJID"].astype(str).to_numpy(dtype=object)
    rows: list[Row] = []

    def add(key: str, label: str, ids: set[str], kind: str = "data") -> None:
        base = f"centres.{key}"
        put(results, f"{base}.label", label)
        texts: list[str] = [label]
        keys: list[str | None] = [None]
        e = elig[_member(elig_ids, ids)]
        texts += [str(len(ids)), str(len(e))]
        keys += [put(results, f"{base}.screened", len(ids)), put(results, f"{base}.eligible", len(e))]
        if groups:
            gv = norm_series(e[column])
            for code, _ in groups:
                n = int(apply_distinct(gv, lambda x, c=code: _same(x, c)).astype(bool).sum())
                texts.append(str(n))
                keys.append(put(results, f"{base}.groups.{code_key(code)}", n))
        t = tte[_member(tte_ids, set(e["patient_id"].astype(str)))]
        if len(t):
            fu = median_follow_up(t["AVAL"].to_numpy(float), t["CNSR"].to_numpy() == 0, conf_type=s.conf_type,
                                  conf_level=s.conf_level)
            med, lo, hi = fu.median, fu.median_ci.lower, fu.median_ci.upper
        else:
            med = lo = hi = None
        km = put(results, f"{base}.followup.median", med)
        put(results, f"{base}.followup.lower", lo)
        put(results, f"{base}.followup.upper", hi)
        texts.append(fmt_num(med, missing="NR") if len(t) else DASH)
        keys.append(km)
        known = expected = 0
        per_form: list[tuple[str, int, int]] = []
        for name, (row_pid, row_known, row_expected) in per_row.items():
            rows_of = _member(row_pid, ids)
            k, x = int(row_known[rows_of].sum()), int(row_expected[rows_of].sum())
            per_form.append((name, k, x))
            known, expected = known + k, expected + x
        put(results, f"{base}.completeness.known", known)
        put(results, f"{base}.completeness.expected", expected)
        texts.append(f"{fmt_pct(known, expected)} %" if expected else DASH)
        keys.append(put(results, f"{base}.completeness.pct", 100.0 * known / expected if expected else None))
        for name, k, x in per_form:  # per form: in results.json (the table shows the overall share)
            put(results, f"{base}.completeness.forms.{name}.pct", 100.0 * k / x if x else None)
        rows.append(Row(tuple(texts), tuple(keys), 0, kind))  # type: ignore[arg-type]

    for i, name in enumerate(names):
        ids = set(centre_of.index[centre_of == name].astype(str)) if name else set(
            centre_of.index[centre_of.isna()].astype(str))
        add(code_key(name) if name else f"no_centre_{i}", name or "No centre given", ids)
    add("total", "All centres", set(centre_of.index.astype(str)), "total")

    endpoint = next((e.param for e in protocol.endpoints if e.paramcd == paramcd), paramcd or "")
    header = (
        (HeaderCell("Centre"), HeaderCell("Patients, n", 2 + len(groups)), HeaderCell("Follow-up"),
         HeaderCell("Data")),
        (HeaderCell(""), HeaderCell("Screened"), HeaderCell("Eligible"), *[HeaderCell(label) for _, label in groups],
         HeaderCell("Median, months"), HeaderCell("Completeness")),
    )
    foot = [
        ("Eligible patients in each group of Table 1." if protocol.report.table1_group else
         "Eligible patients in each stratum.") if groups else "",
        f"Median follow-up: reverse Kaplan{DASH}Meier (censoring as the event) of the eligible patients' "
        f"{endpoint.split(' (')[0].lower() if endpoint else 'first endpoint'}, in months; NR: not reached. Every "
        "centre is shown, however small.",
        "Completeness: of the values the data dictionary requires (required variables, and conditionally "
        "required ones where their condition holds) on the rows of the centre's screened patients, the share "
        f"holding a known value (filled, not coded '{UNKNOWN_CODE}', and for MRD results not "
        f"'{MRD_CODES[MRD_NOT_DONE].lower()}'), over all forms (results.json gives it per form).",
    ]
    return Table(
        id="centres",
        caption=lay.table_title("centres", v),
        header=header,
        rows=tuple(rows),
        footnotes=tuple(f for f in foot if f),
        sheet="Centres",
    )
