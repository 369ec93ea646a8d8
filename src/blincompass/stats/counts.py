r"""Count tables: the sufficient statistics of the survival, log-rank and competing-risks analyses.

Every estimator and test of :mod:`blincompass.stats` that works on censored times depends on the patient
rows only through the number of records that enter, leave by an event (of each cause) and leave
censored, at each distinct time, within each group and stratum.  A *count table* holds exactly these
numbers, so the analyses can be computed where the data are (a database, Parquet files, a cluster;
see :mod:`blincompass.io.counts_sql`) and only the table — a few rows per distinct time — travels.

Format
------
A pandas ``DataFrame`` or a pyarrow ``Table`` with one row per (stratum, group, time):

``stratum`` (optional)
    Stratum label.  Absent: one stratum.
``grp`` (optional)
    Group label.  Absent: one group.  (Not ``group``: that is a reserved word in SQL.)
``time`` (required)
    A time (finite, non-negative): an exit time — event or censoring — or, with ``n_entry``, an entry time.
``n_event`` or ``n_event_<cause>`` (required, one or more)
    Events at ``time``.  A single ``n_event`` column is cause ``1``; with competing risks there is one
    column per cause, ``n_event_<cause>``, where ``<cause>`` is the cause code (letters, digits and
    ``_``; a code of digits only is read as an integer, so ``n_event_2`` is cause ``2``).
``n_censor`` (required)
    Records censored at ``time``.
``n_entry`` (optional, left truncation)
    Records entering at ``time``: a record with entry time ``a`` and exit time ``b`` is at risk on
    ``(a, b]`` (R ``Surv(a, b, status)``).  Absent: every record is at risk from time 0 on, ``t <= b``.
``n_risk`` (optional, redundant)
    The number at risk at ``time`` in its (stratum, grp), as the SQL engines write it; when present (and
    no key repeats) it is checked against the counts, so a truncated or inconsistent table is refused.

Counts are non-negative (integers from a database; sums of case weights are accepted by
:func:`kaplan_meier_from_counts`).  Rows with the same (stratum, grp, time) are added up — tables from
several sources can simply be concatenated — and rows whose counts are all zero are ignored; row order
does not matter.

Risk sets follow from the table: at an exit time :math:`t` in a group of a stratum,

.. math:: n(t) = \sum_{u < t} \text{n\_entry}(u) - \sum_{u < t} \{\text{n\_censor}(u) + \textstyle\sum_c
          \text{n\_event}_c(u)\}

(with no ``n_entry`` column the first sum is the number of records, i.e. all exits).

The row-level functions reduce patient rows to the same counts and share the computation with the
functions here (:func:`blincompass.stats.km.km_from_risk_table`, the per-group cells of the log-rank
family, ``_cif_from_counts`` and ``_gray_from_counts`` in :mod:`blincompass.stats.competing`), so the
results are equal by construction; :func:`count_table` is the in-memory reduction, used as the reference
for the SQL engines.

Contingency tables for Fisher's exact and the chi-square test travel the same way, as one row per
combination of the two factors with its count (:func:`contingency_table`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from . import competing as _cmp
from ._checks import (
    as_event,
    as_labels,
    as_time,
    as_weights,
    check_alternative,
    check_conf_level,
    check_lengths,
    plain_array,
)
from ._riskset import RiskTable
from .km import _CONF_TYPES, KaplanMeierResult, _check_method, km_from_risk_table
from .logrank import Cell, LogrankResult, WeightSpec, _accumulate_cells, _levels, _parse_weights, _result

__all__ = [
    "COUNT_COLUMNS",
    "count_table",
    "kaplan_meier_from_counts",
    "logrank_from_counts",
    "cumulative_incidence_from_counts",
    "gray_test_from_counts",
    "contingency_table",
]

F64 = NDArray[np.float64]

#: The column names of a count table (``n_event_<cause>`` stands for one column per cause).
COUNT_COLUMNS = ("stratum", "grp", "time", "n_event", "n_event_<cause>", "n_censor", "n_entry", "n_risk")

_CAUSE_RE = re.compile(r"^[A-Za-z0-9_]+$")
_ALL = object()


def cause_column(cause: Hashable) -> str:
    """The column name ``n_event_<cause>`` of a cause code (letters, digits and ``_`` only)."""
    text = str(int(cause)) if isinstance(cause, (bool, np.bool_, np.integer)) else str(cause)
    if not _CAUSE_RE.match(text):
        raise ValueError(f"cause: code {cause!r} cannot name a column (letters, digits and _ only)")
    return f"n_event_{text}"


def _cause_of(column: str) -> Any:
    text = column[len("n_event_") :]
    return int(text) if text.isdigit() else text


@dataclass(frozen=True)
class _Counts:
    """A checked count table with duplicate keys added up, sorted by (stratum, grp, time)."""

    stratum: NDArray[Any] | None
    grp: NDArray[Any] | None
    time: F64
    events: F64  # (rows, causes)
    causes: tuple[Any, ...]
    censor: F64
    entry: F64 | None

    def select(self, stratum: Any = _ALL, grp: Any = _ALL) -> NDArray[np.bool_]:
        m = np.ones(self.time.size, dtype=bool)
        if stratum is not _ALL and self.stratum is not None:
            m &= self.stratum == stratum
        if grp is not _ALL and self.grp is not None:
            m &= self.grp == grp
        return m


def _frame(table: Any) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a core dependency
        pa = None
    if pa is not None and isinstance(table, pa.Table):
        return table.to_pandas()
    raise ValueError(f"count table: expected a pandas DataFrame or a pyarrow Table, got {type(table).__name__}")


def read_counts(table: Any) -> _Counts:
    """Check a count table (see the module docstring) and add up rows with the same key.

    Raises ``ValueError`` naming the column, the row and the value of the first problem.
    """
    df = _frame(table)
    cols = list(map(str, df.columns))
    if "group" in cols and "grp" not in cols:
        raise ValueError("count table: the group column is named 'grp' (not 'group', a reserved word in SQL)")
    for need in ("time", "n_censor"):
        if need not in cols:
            raise ValueError(f"count table: required column {need!r} is missing (columns: {', '.join(cols)})")
    ev_cols = [c for c in cols if c.startswith("n_event_")]
    if "n_event" in cols:
        if ev_cols:
            raise ValueError("count table: give either 'n_event' or 'n_event_<cause>' columns, not both")
        ev_cols = ["n_event"]
        causes: tuple[Any, ...] = (1,)
    else:
        if not ev_cols:
            raise ValueError("count table: no event column ('n_event' or 'n_event_<cause>')")
        causes = tuple(_cause_of(c) for c in ev_cols)
        if len({str(c) for c in causes}) != len(causes):
            raise ValueError(f"count table: duplicated cause columns {ev_cols!r}")
    known = {"stratum", "grp", "time", "n_censor", "n_entry", "n_risk", *ev_cols}
    extra = [c for c in cols if c not in known]
    if extra:
        raise ValueError(f"count table: unknown column {extra[0]!r} (expected {', '.join(COUNT_COLUMNS)})")
    if df.shape[0] == 0:
        raise ValueError("count table: no rows")
    time = as_time(df["time"].to_numpy(dtype=np.float64, na_value=np.nan), "count table: time")
    count_cols = [*ev_cols, "n_censor", *(["n_entry"] if "n_entry" in cols else [])]
    work = pd.DataFrame({"time": time})
    for c in count_cols:
        v = df[c].to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"count table: {c}: value {float(v[i])!r} at row {i} is not a finite non-negative count")
        work[c] = v
    keys = []
    for lab in ("stratum", "grp"):
        if lab in cols:
            # numeric and boolean labels stay numpy arrays (fast grouping); others become objects
            raw = plain_array(df[lab])
            raw = raw if isinstance(raw, np.ndarray) else raw.to_numpy()
            arr = raw if raw.dtype.kind in "iub" else np.asarray(raw, dtype=object)
            work[lab] = as_labels(arr, f"count table: {lab}")
            keys.append(lab)
    try:
        agg = work.groupby([*keys, "time"], sort=True)[count_cols].sum().reset_index()
    except TypeError as exc:
        raise ValueError(f"count table: labels of {', '.join(keys)} cannot be ordered ({exc})") from exc
    if "n_risk" in cols and agg.shape[0] == work.shape[0]:
        _check_n_risk(work, df["n_risk"].to_numpy(dtype=np.float64, na_value=np.nan), keys, ev_cols)
    exits = agg[ev_cols].sum(axis=1).to_numpy() + agg["n_censor"].to_numpy()
    keep = exits > 0
    if "n_entry" in count_cols:
        keep |= agg["n_entry"].to_numpy() > 0
    agg = agg.loc[keep].reset_index(drop=True)
    if agg.shape[0] == 0:
        raise ValueError("count table: all counts are zero")
    return _Counts(
        stratum=agg["stratum"].to_numpy() if "stratum" in keys else None,
        grp=agg["grp"].to_numpy() if "grp" in keys else None,
        time=agg["time"].to_numpy(dtype=np.float64),
        events=agg[ev_cols].to_numpy(dtype=np.float64),
        causes=causes,
        censor=agg["n_censor"].to_numpy(dtype=np.float64),
        entry=agg["n_entry"].to_numpy(dtype=np.float64) if "n_entry" in count_cols else None,
    )


def _check_n_risk(work: pd.DataFrame, n_risk: F64, keys: list[str], ev_cols: list[str]) -> None:
    """The optional ``n_risk`` column (as the SQL engines write it) must match the risk sets implied by the
    counts; it is checked only when no (stratum, grp, time) key repeats (sums of several tables' numbers
    at risk would not be numbers at risk)."""
    w = work.assign(_row=np.arange(work.shape[0]), _exit=work[ev_cols].sum(axis=1) + work["n_censor"])
    w = w.sort_values([*keys, "time"], kind="stable")
    by = w.groupby(keys, sort=False) if keys else None
    exits_before = (by["_exit"].cumsum() if by is not None else w["_exit"].cumsum()) - w["_exit"]
    if "n_entry" in w.columns:
        entries_before = (by["n_entry"].cumsum() if by is not None else w["n_entry"].cumsum()) - w["n_entry"]
        implied = entries_before - exits_before
    else:
        total = by["_exit"].transform("sum") if by is not None else w["_exit"].sum()
        implied = total - exits_before
    got = n_risk[w["_row"].to_numpy()]
    bad = ~np.isclose(got, implied.to_numpy(dtype=np.float64), rtol=1e-12, atol=1e-9)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        i = int(w["_row"].to_numpy()[j])
        raise ValueError(
            f"count table: n_risk: value {float(n_risk[i])!r} at row {i} does not match the counts "
            f"({float(implied.to_numpy()[j])!r} at risk); the table is incomplete or inconsistent"
        )


def _distinct(labels: NDArray[Any]) -> NDArray[Any]:
    """The distinct labels as an object array of Python values (as the row-level functions see them)."""
    return np.asarray(pd.unique(labels).tolist(), dtype=object)


def _by_time(time: F64, *columns: F64) -> tuple[F64, list[F64]]:
    """Distinct times (ascending) and each column summed per distinct time."""
    ut, inv = np.unique(time, return_inverse=True)
    return ut, [np.bincount(inv, weights=c, minlength=ut.size) for c in columns]


def _cause_index(c: _Counts, cause: Hashable) -> int:
    keys = [_cmp._code_key(x) for x in c.causes]
    k = _cmp._code_key(cause)
    if k not in keys:
        raise ValueError(f"cause: {cause!r} is not one of the causes {list(c.causes)!r} of the count table")
    return keys.index(k)


def _event_censor(c: _Counts, cause: Hashable | None) -> tuple[F64, F64]:
    """Events (all causes, or one cause with the others counted as censored) and censorings per row."""
    if cause is None:
        return c.events.sum(axis=1), c.censor
    j = _cause_index(c, cause)
    d = c.events[:, j]
    return d, c.censor + (c.events.sum(axis=1) - d)


def _labels_text(stratum: Any, grp: Any) -> str:
    parts = [f"{n}={v!r}" for n, v in (("stratum", stratum), ("grp", grp)) if v is not _ALL]
    return ", ".join(parts) if parts else "the whole table"


def kaplan_meier_from_counts(
    table: Any,
    *,
    grp: Any = _ALL,
    stratum: Any = _ALL,
    cause: Hashable | None = None,
    conf_type: str = "log-log",
    conf_level: float = 0.95,
    median_ci: str = "brookmeyer-crowley",
) -> KaplanMeierResult:
    r"""Kaplan–Meier estimate from a count table; equal to :func:`blincompass.stats.kaplan_meier` on the rows.

    The curve is :math:`\hat S(t) = \prod_{t_i \le t} (1 - d_i / n_i)` with Greenwood's
    :math:`\sigma^2(t) = \sum_{t_i \le t} d_i / \{n_i (n_i - d_i)\}`, the confidence band, the median and
    its interval (``median_ci="brookmeyer-crowley"`` as R ``quantile.survfit``, or ``"spss"``), other
    quantiles and the restricted mean exactly as :func:`~blincompass.stats.km.kaplan_meier` documents
    (Kaplan & Meier 1958; Brookmeyer & Crowley 1982; Klein & Moeschberger 2003, §4.5): the counts
    :math:`d_i`, :math:`n_i` at each exit time are read off the table (see the module docstring) and
    passed to the same computation.

    Parameters
    ----------
    table : pandas.DataFrame or pyarrow.Table
        A count table (module docstring).
    grp, stratum : label, optional
        Estimate the curve of one group and/or one stratum; by default all rows are pooled.
    cause : hashable, optional
        With several causes: the curve of this cause, the other causes counted as censorings
        (cause-specific "survival"); by default any event counts.
    conf_type, conf_level, median_ci
        As :func:`~blincompass.stats.km.kaplan_meier`.

    References
    ----------
    Kaplan EL, Meier P (1958). JASA 53:457–481.  Brookmeyer R, Crowley J (1982). Biometrics 38:29–41.
    """
    conf_level = check_conf_level(conf_level)
    if conf_type not in _CONF_TYPES:
        raise ValueError(f"conf_type: {conf_type!r} is not one of {', '.join(_CONF_TYPES)}")
    _check_method(median_ci)
    c = read_counts(table)
    if grp is not _ALL and c.grp is None:
        raise ValueError("grp: the count table has no 'grp' column")
    if stratum is not _ALL and c.stratum is None:
        raise ValueError("stratum: the count table has no 'stratum' column")
    m = c.select(stratum, grp)
    d_all, cen_all = _event_censor(c, cause)
    cols = [d_all[m], cen_all[m]] + ([] if c.entry is None else [c.entry[m]])
    ut, sums = _by_time(c.time[m], *cols)
    d, cen = sums[0], sums[1]
    exits = d + cen
    if not (exits > 0).any():
        raise ValueError(f"count table: no records for {_labels_text(stratum, grp)}")
    before = np.concatenate(([0.0], np.cumsum(exits)[:-1]))
    if c.entry is None:
        n_risk = float(exits.sum()) - before
    else:
        entry = sums[2]
        n_risk = np.concatenate(([0.0], np.cumsum(entry)[:-1])) - before
    keep = exits > 0
    rt = RiskTable(ut[keep], n_risk[keep], d[keep], cen[keep])
    return km_from_risk_table(
        rt, float(exits.sum()), conf_type=conf_type, conf_level=conf_level, median_ci=median_ci
    )


def _cell(time: F64, d: F64, cen: F64, entry: F64 | None) -> Cell:
    ut, sums = _by_time(time, d, cen, *([] if entry is None else [entry]))
    exits = sums[0] + sums[1]
    keep = exits > 0
    cum = np.zeros(int(keep.sum()) + 1)
    np.cumsum(exits[keep], out=cum[1:])
    ent = None
    if entry is not None:
        has = sums[2] > 0
        e = sums[2][has]
        ecum = np.empty(e.size + 1)
        ecum[0] = 0.0
        np.cumsum(e, out=ecum[1:])
        ent = (ut[has], ecum)
    return ut[keep], cum, sums[0][keep], ent


def logrank_from_counts(
    table: Any,
    *,
    weights: WeightSpec = "logrank",
    alternative: str = "two-sided",
    order: ArrayLike | None = None,
    cause: Hashable | None = None,
) -> LogrankResult:
    r"""The log-rank family from a count table; equal to :func:`blincompass.stats.logrank_test` on the rows.

    Groups are the ``grp`` labels, strata the ``stratum`` labels (O, E and V summed over strata, R
    ``survdiff(... + strata(s))``), left truncation the ``n_entry`` column.  At each distinct event
    time :math:`t_i` of a stratum, with :math:`n_{gi}` at risk and :math:`d_{gi}` events in group
    :math:`g`,

    .. math::

        O_g - E_g = \sum_i w_i \Bigl(d_{gi} - d_i \frac{n_{gi}}{n_i}\Bigr), \qquad
        V_{gh} = \sum_i w_i^2 \frac{d_i (n_i - d_i)}{n_i - 1}
                 \frac{n_{gi}}{n_i}\Bigl(\delta_{gh} - \frac{n_{hi}}{n_i}\Bigr),

    :math:`\chi^2 = (O-E)^\top_{-1} V_{-1}^{-1} (O-E)_{-1}` on :math:`k-1` degrees of freedom, with the
    weights (``"logrank"``, ``"gehan-breslow"``, ``"tarone-ware"``, ``"peto-peto"``,
    ``("fleming-harrington", p, q)``), the one-sided ``alternative`` for two groups and ``order`` as in
    :func:`~blincompass.stats.logrank.logrank_test`, which computes through the same function.
    ``cause`` selects one cause of several (others counted as censorings); by default any event counts.

    References
    ----------
    Mantel N (1966). Cancer Chemother Rep 50:163–170.  Harrington DP, Fleming TR (1982). Biometrika
    69:553–566.  Therneau TM. *survival* R package, ``survdiff``.
    """
    check_alternative(alternative)
    kind, p, q = _parse_weights(weights)
    c = read_counts(table)
    _whole_counts(c, "the log-rank test")
    if c.grp is None:
        raise ValueError("count table: the log-rank test needs a 'grp' column")
    d_all, cen_all = _event_censor(c, cause)
    levels = _levels(_distinct(c.grp), order, "group")
    if len(levels) < 2:
        raise ValueError(f"group: only one group ({levels[0]!r}) is present; at least two are needed")
    k = len(levels)
    if alternative != "two-sided" and k != 2:
        raise ValueError(f"alternative: {alternative!r} needs exactly two groups, got {k}")
    strata = [_ALL] if c.stratum is None else _levels(
        _distinct(c.stratum), None, "strata"
    )
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    n_per = np.zeros(k)
    for s in strata:
        cells = []
        for j, lev in enumerate(levels):
            m = c.select(s, lev)
            cells.append(_cell(c.time[m], d_all[m], cen_all[m], None if c.entry is None else c.entry[m]))
            n_per[j] += cells[-1][1][-1]
        _accumulate_cells(cells, kind, p, q, obs, exp, var)
    return _result(levels, np.rint(n_per).astype(np.int64), obs, exp, var, weights, kind, p, q, alternative)


def _whole_counts(c: _Counts, what: str) -> None:
    """Refuse sums of case weights where the analysis counts records."""
    for name, arr in (("n_event", c.events), ("n_censor", c.censor), ("n_entry", c.entry)):
        if arr is not None and not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"count table: {name} holds non-integer counts (case weights); {what} needs counts")


def _competing_counts(c: _Counts) -> None:
    _whole_counts(c, "this analysis")
    if c.entry is not None and (c.entry > 0).any():
        raise ValueError("count table: n_entry (left truncation) is not supported for competing risks")


def _causes_order(c: _Counts, causes: Sequence[Hashable] | None) -> tuple[tuple[Any, ...], list[int | None]]:
    """Cause labels in the order to report (default: sorted as the row-level functions sort codes) and
    the column of each in the table (None: declared but absent, zero events)."""
    if causes is None:
        labels = list(c.causes)
        try:
            labels = sorted(labels, key=_cmp._code_key)
        except TypeError:
            labels = sorted(labels, key=str)
    else:
        labels = list(causes)
        if len({_cmp._code_key(x) for x in labels}) != len(labels):
            raise ValueError(f"causes: duplicated cause code in {labels!r}")
        declared = {_cmp._code_key(x) for x in labels}
        for have in c.causes:
            if _cmp._code_key(have) not in declared:
                raise ValueError(f"causes: the count table has events of cause {have!r}, not in {labels!r}")
    keys = [_cmp._code_key(x) for x in c.causes]
    cols = [keys.index(_cmp._code_key(x)) if _cmp._code_key(x) in keys else None for x in labels]
    return tuple(labels), cols


def _cause_matrix(c: _Counts, m: NDArray[np.bool_], cols: list[int | None]) -> F64:
    """Columns censored, cause 1, ..., cause C for the rows ``m``."""
    out = np.zeros((int(m.sum()), len(cols) + 1))
    out[:, 0] = c.censor[m]
    for j, col in enumerate(cols):
        if col is not None:
            out[:, j + 1] = c.events[m, col]
    return out


def _time_by_group(c: _Counts, m: NDArray[np.bool_], groups: list[Any], mat: F64) -> tuple[F64, F64]:
    """Distinct times of the rows ``m`` and ``counts[t, group, column]`` of ``mat`` (rows ``m``)."""
    ut, inv = np.unique(c.time[m], return_inverse=True)
    gi = np.zeros(inv.size, dtype=np.intp) if c.grp is None else pd.Index(groups).get_indexer(c.grp[m])
    counts = np.zeros((ut.size, len(groups), mat.shape[1]))
    np.add.at(counts, (inv, gi), mat)
    return ut, counts


def cumulative_incidence_from_counts(
    table: Any,
    *,
    causes: Sequence[Hashable] | None = None,
    conf_type: str = "log-log",
    conf_level: float = 0.95,
) -> _cmp.CumulativeIncidenceResult:
    r"""Aalen–Johansen cumulative incidence per cause and group from a count table, with Gray's tests.

    Equal to :func:`blincompass.stats.cumulative_incidence` on the rows (``group=`` the ``grp``
    labels): :math:`\hat F_k(t) = \sum_{t_j \le t} \hat S(t_{j-1})\, d_{kj} / Y_j` with the all-cause
    Kaplan–Meier :math:`\hat S` and Gray's (cmprsk ``cuminc``) delta-method variance, computed by the same
    function from the counts per distinct time; strata are pooled, and with two or more groups the result
    carries Gray's unstratified test (``rho = 0``) for each cause with events, as ``cuminc`` reports.
    Left truncation (``n_entry``) is not supported here.

    References
    ----------
    Aalen OO, Johansen S (1978). Scand J Statist 5:141–150.  Gray RJ (1988). Ann Statist 16:1141–1154.
    """
    if conf_type not in _cmp._CONF_TYPES:
        raise ValueError(f"conf_type: {conf_type!r} is not one of {', '.join(_cmp._CONF_TYPES)}")
    conf_level = check_conf_level(conf_level)
    c = read_counts(table)
    _competing_counts(c)
    labels, cols = _causes_order(c, causes)
    groups: list[Any] = [None] if c.grp is None else _cmp._sorted_levels(
        _distinct(c.grp)
    )
    curves = []
    for g in groups:
        m = c.select(_ALL, _ALL if g is None else g)
        ut, sums = _by_time(c.time[m], *_cause_matrix(c, m, cols).T)
        counts = np.column_stack(sums)
        curves.append((float(ut[-1]), _cmp._cif_from_counts(ut, counts, len(labels))))
    tests: tuple[_cmp.GrayTestResult, ...] = ()
    if len(groups) > 1:
        allm = np.ones(c.time.size, dtype=bool)
        ut, full = _time_by_group(c, allm, groups, _cause_matrix(c, allm, cols))
        tests = tuple(
            _gray_of(j + 1, tuple(groups), lab, 0.0, [full])
            for j, lab in enumerate(labels)
            if full[:, :, j + 1].sum() > 0
        )
    return _cmp.cuminc_result(curves, labels, tuple(groups), conf_type, conf_level, tests)


def _gray_of(
    cause_col: int, groups: tuple[Any, ...], cause: Any, rho: float, strata: list[F64]
) -> _cmp.GrayTestResult:
    """Gray's test of the cause in column ``cause_col`` from ``counts[t, group, column]`` per stratum."""
    G = len(groups)
    score = np.zeros(G)
    var = np.zeros((G, G))
    for full in strata:
        c3 = np.zeros(full.shape[:2] + (3,))
        c3[:, :, 0] = full[:, :, 0]
        c3[:, :, 1] = full[:, :, cause_col]
        c3[:, :, 2] = full[:, :, 1:].sum(axis=2) - full[:, :, cause_col]
        sc, vv = _cmp._gray_from_counts(c3, rho)
        score += sc
        var += vv
    return _cmp.gray_result(score, var, groups, cause, rho, len(strata))


def gray_test_from_counts(
    table: Any, *, cause: Hashable, rho: float = 0.0, causes: Sequence[Hashable] | None = None
) -> _cmp.GrayTestResult:
    r"""Gray's K-sample test of the cumulative incidence of ``cause`` across ``grp`` from a count table.

    Equal to :func:`blincompass.stats.gray_test` on the rows (``strata=`` the ``stratum`` labels): the
    score :math:`s_r = \sum_j W(t_j)[d_{1rj} - R_r(t_j) \sum_l d_{1lj} / \sum_l R_l(t_j)]`,
    :math:`R_r = Y_r (1 - \hat F_{1r}(t-)) / \hat S_r(t-)`, :math:`W = (1 - \hat F_1(t-))^\rho`, and Gray's
    variance (cmprsk ``crstm``), computed per stratum by the same function from the counts per distinct
    time and summed; :math:`s^\top V^{-1} s` is compared with :math:`\chi^2_{K-1}`.

    References
    ----------
    Gray RJ (1988). Ann Statist 16:1141–1154.  R package cmprsk, ``cuminc`` / ``crstm``.
    """
    c = read_counts(table)
    _competing_counts(c)
    if c.grp is None:
        raise ValueError("count table: Gray's test needs a 'grp' column")
    labels, cols = _causes_order(c, causes)
    keys = [_cmp._code_key(x) for x in labels]
    if _cmp._code_key(cause) not in keys:
        raise ValueError(f"cause: {cause!r} is not one of the causes {list(labels)!r}")
    j = keys.index(_cmp._code_key(cause))
    if cols[j] is None or c.events[:, cols[j]].sum() == 0:
        raise ValueError(f"cause: no events of cause {cause!r} in the data")
    groups = _cmp._sorted_levels(_distinct(c.grp))
    if len(groups) < 2:
        raise ValueError(f"group: need at least two groups, got {list(groups)!r}")
    rho = float(rho)
    if not np.isfinite(rho):
        raise ValueError(f"rho: {rho!r} is not finite")
    strata_levels = [_ALL] if c.stratum is None else _cmp._sorted_levels(
        _distinct(c.stratum)
    )
    per_stratum = []
    for s in strata_levels:
        m = c.select(s, _ALL)
        per_stratum.append(_time_by_group(c, m, groups, _cause_matrix(c, m, cols))[1])
    return _gray_of(j + 1, tuple(groups), labels[j], rho, per_stratum)


def contingency_table(
    table: Any,
    row: str,
    col: str,
    count: str = "n",
    *,
    row_order: Sequence[Any] | None = None,
    col_order: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """An r x c table of counts from a long table with one row per combination of two factors.

    ``table`` (pandas DataFrame or pyarrow Table) has the factor columns ``row`` and ``col`` and the
    count column ``count`` (as ``SELECT a, b, COUNT(*) AS n ... GROUP BY a, b`` gives it); repeated
    combinations are added up and absent ones are 0.  Levels are sorted unless ``row_order`` /
    ``col_order`` give them.  The result (a DataFrame indexed by the levels) goes straight to
    :func:`~blincompass.stats.fisher_exact` or :func:`~blincompass.stats.chi2_test` and equals
    ``pandas.crosstab`` of the patient rows, so the tests give the same answers.
    """
    df = _frame(table)
    for name in (row, col, count):
        if name not in df.columns:
            have = ", ".join(map(str, df.columns))
            raise ValueError(f"contingency table: column {name!r} is missing (columns: {have})")
    n = df[count].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(n) | (n < 0) | (n != np.round(n))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"contingency table: {count}: value {float(n[i])!r} at row {i} is not a non-negative integer")
    r = as_labels(np.asarray(df[row].to_numpy(), dtype=object), f"contingency table: {row}")
    c = as_labels(np.asarray(df[col].to_numpy(), dtype=object), f"contingency table: {col}")
    long = pd.DataFrame({"r": r, "c": c, "n": n.astype(np.int64)})
    wide = long.groupby(["r", "c"], sort=True)["n"].sum().unstack("c", fill_value=0)
    for order, axis, name in ((row_order, 0, row), (col_order, 1, col)):
        if order is not None:
            have = list(wide.axes[axis])
            missing = [v for v in have if v not in list(order)]
            if missing:
                raise ValueError(f"{name}: level {missing[0]!r} of the table is not in the given order")
            wide = wide.reindex(list(order), axis=axis, fill_value=0)
    wide.index.name, wide.columns.name = row, col
    return wide.astype(np.int64)


def count_table(
    time: ArrayLike,
    event: ArrayLike | None = None,
    *,
    event_code: ArrayLike | None = None,
    censor_code: Hashable = 0,
    causes: Sequence[Hashable] | None = None,
    group: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    entry: ArrayLike | None = None,
    weights: ArrayLike | None = None,
) -> pd.DataFrame:
    """Reduce patient rows to a count table (the in-memory reference of :mod:`blincompass.io.counts_sql`).

    Give ``event`` (0/1, one cause: column ``n_event``) or ``event_code`` (``censor_code`` or a cause:
    one ``n_event_<cause>`` column per cause, in ``causes`` order or sorted).  ``group`` becomes ``grp``,
    ``strata`` ``stratum``, and ``entry`` (left truncation) adds ``n_entry``.  Rows are sorted by
    (stratum, grp, time); counts are int64, or sums of the case ``weights`` (float64) when given.
    """
    t = as_time(time, "time")
    w = as_weights(weights, t.size)
    if (event is None) == (event_code is None):
        raise ValueError("count_table: give exactly one of event and event_code")
    frame: dict[str, Any] = {}
    if event is not None:
        e = as_event(event, "event")
        check_lengths(time=t, event=e)
        frame["n_event"] = e.astype(np.int64)
        frame["n_censor"] = (~e).astype(np.int64)
    else:
        codes, labels = _cmp._event_codes(event_code, causes, censor_code)  # type: ignore[arg-type]
        check_lengths(time=t, event_code=codes)
        for j, lab in enumerate(labels):
            frame[cause_column(lab)] = (codes == j + 1).astype(np.int64)
        frame["n_censor"] = (codes == 0).astype(np.int64)
    keys = []
    lab_cols: dict[str, Any] = {}
    for name, values in (("stratum", strata), ("grp", group)):
        if values is not None:
            arr = as_labels(values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object), name)
            check_lengths(time=t, **{name: arr})
            lab_cols[name] = arr
            keys.append(name)
    if w is not None:
        frame = {k: v * w for k, v in frame.items()}
    exits = pd.DataFrame({**lab_cols, "time": t, **frame})
    out = exits.groupby([*keys, "time"], sort=True).sum().reset_index()
    if entry is not None:
        a = as_time(entry, "entry")
        check_lengths(time=t, entry=a)
        bad = a >= t
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"entry: value {float(a[i])!r} at position {i} is not before the exit time {float(t[i])!r}"
            )
        ones = np.ones(a.size, dtype=np.int64) if w is None else w
        ent = pd.DataFrame({**lab_cols, "time": a, "n_entry": ones})
        ent = ent.groupby([*keys, "time"], sort=True).sum().reset_index()
        out = out.merge(ent, on=[*keys, "time"], how="outer").fillna(0)
        out = out.sort_values([*keys, "time"], kind="stable").reset_index(drop=True)
        if w is None:
            for col in [*frame, "n_entry"]:
                out[col] = out[col].astype(np.int64)
    return out
