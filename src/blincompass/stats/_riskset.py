"""Risk-set bookkeeping shared by the Kaplan–Meier estimator and the log-rank family of tests.

Everything here is vectorised: the data are sorted once (``np.sort`` on values, ``np.argsort`` only when
case weights have to travel with the times) and risk sets are read off sorted arrays with
``np.searchsorted``.  There is no Python loop over rows or over distinct times.

Counting-process convention (as R ``survival``): a record with entry time ``a`` and exit time ``b`` is at
risk at time ``t`` when ``a < t <= b``.  Without ``entry`` every record is at risk from time 0 on, i.e.
``t <= b``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._fast import lattice_counts

__all__ = [
    "RiskTable",
    "risk_table",
    "weight_below",
    "r_findq",
    "distinct_sorted",
    "prepare",
    "event_keys",
    "key_counts",
    "right_censored_table",
    "convert_unchecked",
]

F64 = NDArray[np.float64]

#: R's default tolerance for matching a flat stretch of a survival curve (``sqrt(.Machine$double.eps)``).
R_TOLERANCE = float(np.sqrt(np.finfo(np.float64).eps))


@dataclass(frozen=True)
class RiskTable:
    """Counts at every distinct exit time (event or censoring), ascending."""

    time: F64
    n_risk: F64
    n_event: F64
    n_censor: F64


def distinct_sorted(sorted_values: F64) -> tuple[F64, NDArray[np.intp]]:
    """Distinct values of an ascending array and the index where each run starts."""
    n = sorted_values.size
    if n == 0:
        return sorted_values.copy(), np.zeros(0, dtype=np.intp)
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    del new
    return sorted_values[starts], starts


def weight_below(
    values: F64, weights: F64 | None, queries: F64, *, side: str = "left", presorted: bool = False
) -> F64:
    """Total weight of ``values`` strictly below (``side="left"``) or at/below (``"right"``) each query."""
    if weights is None:
        sv = values if presorted else np.sort(values)
        return np.searchsorted(sv, queries, side=side).astype(np.float64)
    order = np.argsort(values, kind="stable")
    sv = values[order]
    cw = np.empty(sv.size + 1, dtype=np.float64)
    cw[0] = 0.0
    np.cumsum(weights[order], out=cw[1:])
    del order
    return cw[np.searchsorted(sv, queries, side=side)]


def risk_table(
    time: F64, event: NDArray[np.bool_], entry: F64 | None = None, weights: F64 | None = None
) -> RiskTable:
    """Number at risk, events and censorings at every distinct exit time.

    With ``weights`` the counts are sums of case weights (as R ``survfit(weights=)``).
    """
    if weights is None and entry is None:
        return _risk_table_fast(time, event)
    uniq = np.unique(time)
    if weights is None:
        ev_t = time[event]
        ev_below = weight_below(ev_t, None, uniq)
        tot_below = weight_below(time, None, uniq)
        n_tot = float(time.size)
        n_ev_tot = float(ev_t.size)
    else:
        ev_t = time[event]
        ev_w = weights[event]
        ev_below = weight_below(ev_t, ev_w, uniq)
        tot_below = weight_below(time, weights, uniq)
        n_tot = float(weights.sum())
        n_ev_tot = float(ev_w.sum())
    d = np.diff(ev_below, append=n_ev_tot)
    c = np.diff(tot_below, append=n_tot) - d
    if entry is None:
        n_risk = n_tot - tot_below
    else:
        n_risk = weight_below(entry, weights, uniq) - tot_below
    # Sums of weights can leave tiny negative rounding residue where the exact count is 0.
    np.maximum(c, 0.0, out=c)
    return RiskTable(uniq, n_risk, d, c)


def event_keys(time: F64, event: NDArray[np.bool_]) -> NDArray[np.uint64]:
    """Sort keys that carry the event flag: ``(bits(time) << 1) | event``.

    For non-negative doubles the IEEE-754 bit pattern read as an unsigned integer is ordered like the
    value, and its top bit (the sign) is free, so one shift makes room for the event flag.  Sorting these
    keys orders records by time with censorings before events at a tie — one value sort instead of an
    ``argsort`` plus gathers.  (``-0.0`` maps to the key of ``+0.0``.)
    """
    key = np.left_shift(time.view(np.uint64), np.uint64(1))
    np.bitwise_or(key, event, out=key, casting="unsafe")
    return key


def key_counts(key: NDArray[np.uint64]) -> tuple[F64, NDArray[np.int64], NDArray[np.int64]]:
    """Distinct times, records and events per distinct time from *unsorted* keys (sorted in place)."""
    key.sort()
    n = key.size
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return np.zeros(0), z, z.copy()
    chg = np.empty(n, dtype=bool)
    chg[0] = True
    np.not_equal(key[1:], key[:-1], out=chg[1:])
    seg = np.flatnonzero(chg)  # start of each run of equal keys
    del chg
    skey = key[seg]
    slen = np.diff(seg, append=n)
    del seg
    sev = (skey & np.uint64(1)).astype(bool)
    np.right_shift(skey, np.uint64(1), out=skey)
    # A time has one run (all censored or all events) or two (censored, then events).
    first = np.empty(skey.size, dtype=bool)
    first[0] = True
    np.not_equal(skey[1:], skey[:-1], out=first[1:])
    tstart = np.flatnonzero(first)
    del first
    times = skey[tstart].view(np.float64)
    del skey
    total = np.add.reduceat(slen, tstart)
    slen[~sev] = 0
    events = np.add.reduceat(slen, tstart)
    return times, total, events


def _risk_table_fast(time: F64, event: NDArray[np.bool_]) -> RiskTable:
    """Unweighted right-censored case: a single sort of event-tagged keys."""
    times, total, events = key_counts(event_keys(time, event))
    return _table_from_counts(time.size, times, total, events)


def right_censored_table(time: object, event: object) -> tuple[RiskTable, int]:
    """:func:`prepare` followed by :func:`risk_table` for unweighted right-censored data.

    When the times lie on a decimal lattice (whole days, 0.1 day, ...) the records are counted in one
    pass without sorting (:mod:`._fast`), and that pass also checks the times (finite, non-negative);
    otherwise, and for any bad input, this is ``prepare`` + the sorting path, with the same errors.
    Returns the table and the number of records.
    """
    from ._checks import as_time

    try:
        t, e = convert_unchecked(time, event)
    except ValueError:
        t, e, _, _ = prepare(time, event)  # raises the first problem
        return _risk_table_fast(t, e), t.size
    lc = lattice_counts(t, e)
    if lc is None:
        as_time(t, "time")  # the checks of prepare not yet made (event and lengths are checked)
        return _risk_table_fast(t, e), t.size
    cnt = lc.counts[:, 0, :]
    return _table_from_counts(t.size, lc.time, cnt[:, 0] + cnt[:, 1], cnt[:, 1]), t.size


def convert_unchecked(time: object, event: object) -> tuple[F64, NDArray[np.bool_]]:
    """``time`` as a non-empty 1-D float64 array whose *values* are not checked, and the checked event
    flags of the same length.  Raises ``ValueError`` (without a useful message) on anything else: the
    caller then runs :func:`prepare`, which reports the first problem as usual."""
    from ._checks import as_event

    try:
        t = np.asarray(time, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("time") from exc
    if t.ndim != 1 or t.size == 0:
        raise ValueError("time")
    e = as_event(event, "event")  # type: ignore[arg-type]
    if e.size != t.size:
        raise ValueError("length")
    return t, e


def _table_from_counts(
    n: int, times: F64, total: NDArray[np.int64], events: NDArray[np.int64]
) -> RiskTable:
    n_risk = np.empty(times.size, dtype=np.float64)
    n_risk[0] = n
    np.subtract(n, np.cumsum(total[:-1]), out=n_risk[1:])
    d = events.astype(np.float64)
    c = (total - events).astype(np.float64)
    return RiskTable(times, n_risk, d, c)


def r_findq(
    x: F64,
    y: F64,
    p: F64,
    tol: float = R_TOLERANCE,
    firstx: float = 0.0,
    xmax: float | None = None,
) -> F64:
    """Quantiles of a curve exactly as R ``survival``'s internal ``findq`` (used by ``quantile.survfit``).

    ``y`` is the cumulative curve ``1 - S`` (or ``1 - lower``/``1 - upper``) at the times ``x``; the point
    ``(firstx, 0)`` is prepended implicitly and ``xmax`` (default ``x[-1]``) is the last time of the
    curve.  NaN points are ignored.  For each probability the answer is the midpoint between the first
    time at which the curve reaches ``p - tol`` and the first time at which it reaches ``p + tol``; a flat
    stretch at exactly ``p`` therefore gives the midpoint of the stretch, and a stretch that lasts to the
    end of the curve is closed at ``xmax``.  Rows whose value repeats the previous row (censorings) may be
    left out without changing the answer as long as ``xmax`` is given.
    """
    p = np.atleast_1d(np.asarray(p, dtype=np.float64))
    out = np.full(p.shape, np.nan)
    nan = np.isnan(y)
    if nan.any():
        valid = ~nan
        yv = y[valid]
        xv = x[valid]
    else:
        yv, xv = y, x
    del nan
    ymax = max(0.0, float(yv.max())) if yv.size else 0.0
    if ymax < p.min():
        return out
    if xmax is None:
        xmax = float(x[-1]) if x.size else firstx
    last = _last_new_value(y)
    for k, pk in enumerate(p):
        if pk == 0:
            out[k] = firstx
            continue
        x1 = _first_x_at_min_above(xv, yv, tol, firstx, pk)
        if x1 is None:
            continue
        x2 = _first_x_at_min_above(xv, yv, tol, firstx, pk, upper=True)
        if x2 is not None:
            out[k] = 0.5 * (x1 + x2)
        # A flat stretch at exactly p that lasts to the end of the curve.
        if last is not None and abs(pk - last) < tol:
            out[k] = 0.5 * (x1 + xmax)
    return out


def _first_x_at_min_above(
    xv: F64, yv: F64, tol: float, firstx: float, pk: float, upper: bool = False
) -> float | None:
    """x of the first occurrence of the smallest knot with knot >= p (knots as R: y + tol, or y - tol)."""
    knots = (yv - tol) if upper else (yv + tol)
    mask = knots >= pk
    del knots
    # The implicit first point (firstx, 0).
    first_ok = ((0.0 - tol) if upper else (0.0 + tol)) >= pk
    if not mask.any():
        return firstx if first_ok else None
    vmin = float(np.min(yv, where=mask, initial=np.inf))
    if first_ok and 0.0 <= vmin:
        return firstx
    return float(xv[np.argmax(yv == vmin)])


def _last_new_value(y: F64) -> float | None:
    """The last element of ``y`` after removing duplicates (R ``y[!duplicated(y)]``); None if NaN.

    The implicit leading 0 of the curve counts as a value already seen.  Candidates are tried from the
    end; for the monotone curves met in practice the first candidate is the answer, so this costs one
    pass and one boolean temporary.
    """
    n = y.size
    if n == 0:
        return 0.0
    nan = np.isnan(y)
    has_nan = bool(nan.any())
    first_nan = int(np.argmax(nan)) if has_nan else n
    j = n - 1
    tries = 0
    while j >= 0:
        if nan[j]:
            j -= 1
            continue
        v = y[j]
        while j > 0 and y[j - 1] == v:  # start of the run of equal values
            j -= 1
        if v != 0.0 and not np.any(y[:j] == v):
            return None if first_nan < j else float(v)
        j -= 1
        tries += 1
        if tries > 64:  # pathological non-monotone curve: exact but slower route
            return _last_new_value_slow(y, nan, first_nan)
    return None if has_nan else 0.0


def _last_new_value_slow(y: F64, nan: NDArray[np.bool_], first_nan: int) -> float | None:
    valid = np.flatnonzero(~nan)
    yv = y[valid]
    vals, first = np.unique(yv, return_index=True)
    keep = vals != 0.0
    if not keep.any():
        return None if first_nan < y.size else 0.0
    k = int(np.max(first[keep]))
    return None if first_nan < int(valid[k]) else float(yv[k])


def prepare(
    time: object,
    event: object,
    entry: object | None = None,
    weights: object | None = None,
) -> tuple[F64, NDArray[np.bool_], F64 | None, F64 | None]:
    """Validate survival input; raise ``ValueError`` naming the argument and the offending position."""
    from ._checks import as_event, as_time, as_weights, check_lengths

    t = as_time(time, "time")  # type: ignore[arg-type]
    e = as_event(event, "event")  # type: ignore[arg-type]
    a = None if entry is None else as_time(entry, "entry")  # type: ignore[arg-type]
    check_lengths(time=t, event=e, entry=a)
    w = as_weights(weights, t.size, "weights")  # type: ignore[arg-type]
    if a is not None:
        bad = a >= t
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"entry: value {float(a[i])!r} at position {i} is not before the exit time {float(t[i])!r} "
                "(a record is at risk on (entry, time], so entry < time is required)"
            )
    return t, e, a, w
