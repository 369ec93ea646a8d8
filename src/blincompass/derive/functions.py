"""Derivation functions a protocol calls by name (``[[derived]] kind = "function"``).

One derivation per function, every rule an argument (signatures: :mod:`blincompass.protocol.functions`).
Each takes the patient index, the data set's forms and the patient-level variables computed so far, and
returns one value per patient. The built-in study's response rules are written with them (its protocol's
``[[derived]]`` entries ``cr_c1``, ``mrd_c1``, ``response_c1``, ``best_response``, ``early_relapse``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from blincompass.expr import compile_expression

__all__ = [
    "BEST_RESPONSE_ORDER",
    "FUNCTION_IMPLEMENTATIONS",
    "best_response",
    "complete_remission",
    "early_relapse",
    "first_row",
    "mrd_status",
    "response_by_stratum",
    "sustained_response",
]

#: Best-response categories from best to worst.
BEST_RESPONSE_ORDER: tuple[str, ...] = ("cr_mrd_negative", "cr_mrd_positive", "cr_mrd_unknown", "no_cr")


def first_row(frame: pd.DataFrame, index: pd.Index, where: str | None = None, patient_id: str = "patient_id",
              ) -> pd.DataFrame:
    """The first row (in form order) per patient of ``frame`` where the condition ``where`` holds,
    reindexed to ``index`` (patients without one get missing values)."""
    rows = frame[compile_expression(where).mask(frame)] if where else frame
    rows = rows.drop_duplicates(patient_id, keep="first").set_index(patient_id)
    return rows.reindex(index)


def _method_status(status: pd.Series, level: pd.Series, threshold: float) -> pd.Series:
    """One method's MRD result as negative / positive / missing (ND, empty)."""
    # numpy masks: pandas' boolean-Series assignment first tries the mask as a label and formats it for
    # the error it then catches, which cost more than the rest of the derivation at 10^4 patients
    res = np.full(len(status), pd.NA, dtype=object)
    res[(status == "NEG").to_numpy(dtype=bool)] = "negative"
    res[(status == "PNQ").to_numpy(dtype=bool)] = "positive"
    quant = (status == "quantified").to_numpy(dtype=bool)
    below = (level < threshold).to_numpy(dtype=bool)
    res[quant & below] = "negative"
    res[quant & ~below] = "positive"
    return pd.Series(res, index=status.index, dtype="object")


def mrd_of(rows: pd.DataFrame, methods: Sequence[Mapping[str, str]], negative_below: float) -> pd.DataFrame:
    """MRD status of assessment ``rows`` with the method that decided it.

    The methods are tried in the order given (e.g. PCR before flow cytometry); the first with a result
    decides. A result is negative when the status is ``NEG`` or the level is < ``negative_below``; ``PNQ``
    and higher levels are positive; ``ND`` or empty passes to the next method. Returns columns ``mrd``
    ("negative" / "positive" / "unknown") and ``mrd_method`` (the method's name, or ``None``).
    """
    status = np.full(len(rows), "unknown", dtype=object)
    method = np.full(len(rows), None, dtype=object)
    decided = np.zeros(len(rows), dtype=bool)
    for m in methods:
        col = m["column"]
        res = _method_status(rows[f"{col}_status"], rows[col], negative_below)
        take = ~decided & res.notna().to_numpy(dtype=bool)
        status[take] = res.to_numpy(dtype=object)[take]
        method[take] = m["name"]
        decided |= take
    return pd.DataFrame({"mrd": pd.Series(status, index=rows.index, dtype="object"),
                         "mrd_method": pd.Series(method, index=rows.index, dtype="object")})


def mrd_status(index: pd.Index, forms: Mapping[str, pd.DataFrame], form: str, methods: Sequence[Mapping[str, str]],
               negative_below: float, where: str | None = None, output: str = "status",
               patient_id: str = "patient_id") -> pd.Series:
    """MRD at the first row of ``form`` where ``where`` holds: ``output = "status"`` gives negative /
    positive / unknown, ``"method"`` the name of the deciding method (see :func:`mrd_of`)."""
    res = mrd_of(first_row(forms[form], index, where, patient_id), methods, negative_below)
    return res["mrd" if output == "status" else "mrd_method"]


def complete_remission(blasts: pd.Series, below: float, progressed: pd.Series | None = None) -> pd.Series:
    """Morphological CR: bone-marrow blasts < ``below`` (%).

    Missing blasts give ``<NA>`` (not evaluable), except for a patient whose course was stopped for
    progression (``progressed``), who did not reach CR.
    """
    out = (blasts < below).astype("boolean").mask(blasts.isna())
    if progressed is not None:
        out[progressed.fillna(False).astype(bool) & blasts.isna()] = False
    return out


def response_by_stratum(cr: pd.Series, mrd: pd.Series, stratum: pd.Series, rules: Mapping[str, str],
                        progressed: pd.Series | None = None) -> pd.Series:
    """Response by stratum as ``rules`` (stratum id -> ``"cr"`` | ``"mrd_negative"``) defines it.

    ``"cr"``: morphological CR. ``"mrd_negative"``: CR and MRD negative. A patient whose course was
    stopped for progression (``progressed``) is a non-responder even without an assessment; otherwise a
    missing assessment or stratum gives ``<NA>`` (not evaluable). An MRD result of "unknown" in a stratum
    judged on MRD counts as not negative (only documented negativity counts).
    """
    bad = sorted(set(rules.values()) - {"cr", "mrd_negative"})
    if bad:
        raise ValueError(f"response_by_stratum: rules give {bad}; each rule is 'cr' or 'mrd_negative'")
    kind = stratum.map(dict(rules))
    out = pd.Series(pd.NA, index=cr.index, dtype="boolean")
    is_cr = kind == "cr"
    is_mrd = kind == "mrd_negative"
    out[is_cr] = cr[is_cr]
    out[is_mrd] = cr[is_mrd] & (mrd[is_mrd] == "negative")
    out = out.mask(cr.isna() | kind.isna())
    if progressed is not None:
        out[progressed.fillna(False).astype(bool)] = False
    return out


def best_response_of(per_assessment: Sequence[tuple[pd.Series, pd.Series]]) -> pd.Series:
    """Best response over several assessments, each given as ``(cr, mrd)``.

    Categories, best first: ``cr_mrd_negative``, ``cr_mrd_positive``, ``cr_mrd_unknown``, ``no_cr``;
    ``None`` when no assessment was made.
    """
    rank = {c: i for i, c in enumerate(BEST_RESPONSE_ORDER)}
    index = per_assessment[0][0].index
    best = pd.Series(np.nan, index=index)
    for cr, mrd in per_assessment:
        cat = pd.Series(None, index=index, dtype="object")
        cat[cr == False] = "no_cr"  # noqa: E712 - nullable boolean comparison
        is_cr = cr.fillna(False).astype(bool)
        cat[is_cr & (mrd == "negative")] = "cr_mrd_negative"
        cat[is_cr & (mrd == "positive")] = "cr_mrd_positive"
        cat[is_cr & (mrd == "unknown")] = "cr_mrd_unknown"
        r = cat.map(rank).astype(float)
        best = pd.Series(np.fmin(best.to_numpy(), r.to_numpy()), index=index)
    return pd.Series([None if np.isnan(r) else BEST_RESPONSE_ORDER[int(r)] for r in best.to_numpy(float)],
                     index=index, dtype="object")


def best_response(index: pd.Index, forms: Mapping[str, pd.DataFrame], form: str, timepoint: str,
                  timepoints: Sequence[str], blasts: str, cr_below: float, methods: Sequence[Mapping[str, str]],
                  negative_below: float, patient_id: str = "patient_id") -> pd.Series:
    """Best response (:func:`best_response_of`) over the first assessment at each of ``timepoints`` (column
    ``timepoint`` of ``form``): CR when ``blasts`` < ``cr_below``, MRD by :func:`mrd_of`."""
    frame = forms[form]
    per: list[tuple[pd.Series, pd.Series]] = []
    for tp in timepoints:
        rows = frame[frame[timepoint] == tp].drop_duplicates(patient_id, keep="first").set_index(patient_id)
        rows = rows.reindex(index)
        per.append((complete_remission(rows[blasts], cr_below), mrd_of(rows, methods, negative_below)["mrd"]))
    return best_response_of(per)


def early_relapse(index: pd.Index, forms: Mapping[str, pd.DataFrame], relapse_date: pd.Series,
                  hsct_date: pd.Series, responded: pd.Series, form: str, number: str, end: str, max_course: int,
                  days_after: int, patient_id: str = "patient_id") -> pd.Series:
    """Early relapse: a relapse in a responder during the first ``max_course`` courses (column ``number`` of
    ``form``) or within ``days_after`` days after the end (column ``end``) of the last of them, before any
    HSCT. A missing relapse date is no early relapse."""
    c = forms[form].dropna(subset=[patient_id, number])
    c = c[c[number].astype("float64") <= max_course]
    last_end = c.groupby(patient_id)[end].max().reindex(index)
    limit = last_end + pd.Timedelta(days=days_after)
    before_hsct = hsct_date.isna() | (relapse_date < hsct_date)
    responder = responded.fillna(False).astype(bool)
    out = relapse_date.notna() & (relapse_date <= limit) & before_hsct & responder
    return out.astype("boolean")


def sustained_response(response: pd.Series, early_relapse: pd.Series) -> pd.Series:
    """Response still held: ``response``, set to no where ``early_relapse`` holds."""
    out = response.copy()
    out[early_relapse.fillna(False).astype(bool)] = False
    return out


#: name -> (implementation, takes the data set's forms). ``variable`` arguments arrive as Series.
FUNCTION_IMPLEMENTATIONS: dict[str, tuple[Callable[..., pd.Series], bool]] = {
    "mrd_status": (mrd_status, True),
    "complete_remission": (complete_remission, False),
    "response_by_stratum": (response_by_stratum, False),
    "best_response": (best_response, True),
    "early_relapse": (early_relapse, True),
    "sustained_response": (sustained_response, False),
}


def call(name: str, args: Mapping[str, Any], variables: Callable[[str], pd.Series], index: pd.Index,
         forms: Mapping[str, pd.DataFrame], patient_id: str) -> pd.Series:
    """Call derivation function ``name``: ``variable`` arguments are looked up with ``variables``."""
    from blincompass.protocol.functions import FUNCTIONS

    fn, takes_forms = FUNCTION_IMPLEMENTATIONS[name]
    sig = FUNCTIONS[name][1]
    kwargs = {a: (variables(v) if sig[a].kind == "variable" else v) for a, v in args.items()}
    if takes_forms:
        kwargs.update(index=index, forms=forms, patient_id=patient_id)
    return fn(**kwargs)
