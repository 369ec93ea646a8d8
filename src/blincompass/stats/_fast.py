"""Counting pass for survival times that lie on a decimal lattice (no sort of the records).

Times recorded in whole days, or rounded to 0.1 day, take few distinct values.  When every time ``v``
satisfies ``rint(v * 10**k) / 10**k == v`` for one small ``k`` (at most :data:`MAX_DECIMALS`), the map
``v -> rint(v * 10**k)`` is an exact, order-preserving bijection between the distinct times and integer
codes, so the records can be counted per code (and per group label and event flag) in one linear pass
into a dense table, with no ``O(n log n)`` sort.  The counts, and everything computed from them, are the
same as those of the sorting path in :mod:`._riskset`; the distinct times are recovered exactly as
``code / 10**k``.

The same pass checks the input: a NaN is off every lattice and an infinite or negative time falls
outside the table, so the pass only succeeds on finite, non-negative times.  The table starts from the
range seen in a sample of the records and grows when a record falls outside it.  The pass is declined
(``None``: the caller sorts, and reports bad input) when the times are not on such a lattice, or when
the table would need more cells than there are records (codes x group labels).

The counting kernel is compiled with ``numba`` when that optional package is installed (``pip install
blincompass[fast]``) and the input is large; otherwise it runs as blocked ``numpy`` operations.  Both
give identical integer counts.  ``BLINCOMPASS_NO_NUMBA=1`` in the environment, or :func:`set_backend`,
selects the ``numpy`` kernel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["MAX_DECIMALS", "LatticeCounts", "lattice_counts", "set_backend", "backend"]

F64 = NDArray[np.float64]

#: Largest number of decimals ``k`` tried for the lattice ``10**-k``.
MAX_DECIMALS = 6
#: Codes must stay well inside the range where doubles represent integers exactly.
_MAX_CODE = float(1 << 50)
#: The table may have this many cells (codes x group labels), or ``n`` cells when ``n`` is larger.
_MIN_CELLS = 1 << 12
#: Below this many records the numpy kernel is used even when numba is available.
NUMBA_MIN_ROWS = 1 << 15
#: Rows per block of the numpy kernel.
_BLOCK = 1 << 17
#: Records looked at to guess the number of decimals and the range of the table.
_SAMPLE = 1024

_backend = "numpy" if os.environ.get("BLINCOMPASS_NO_NUMBA") else "auto"
_kernels: Any = None  # the numba kernels once imported; False when numba is unavailable


def set_backend(name: str) -> None:
    """Select the counting kernel: ``"auto"`` (numba for large inputs when installed), ``"numba"`` or
    ``"numpy"``.  ``"numba"`` raises ``ImportError`` when numba is not installed."""
    global _backend
    if name not in ("auto", "numba", "numpy"):
        raise ValueError(f"backend: {name!r} is not one of auto, numba, numpy")
    if name == "numba" and not _numba():
        raise ImportError("numba is not installed")
    _backend = name


def backend(n: int) -> str:
    """The kernel that counts ``n`` records."""
    if _backend == "numpy" or (_backend == "auto" and n < NUMBA_MIN_ROWS):
        return "numpy"
    return "numba" if _numba() else "numpy"


def _numba() -> Any:
    global _kernels
    if _kernels is None:
        try:
            from . import _fast_numba
        except ImportError:
            _kernels = False
        else:
            _kernels = _fast_numba
    return _kernels


@dataclass(frozen=True)
class LatticeCounts:
    """Records per distinct time, group label and event flag.

    ``counts[i, h, f]`` is the number of records with time ``time[i]``, group label ``glo + h`` and event
    flag ``f`` (0 censored, 1 event).  Only times that occur are kept; without groups ``h`` is always 0.
    """

    time: F64
    counts: NDArray[np.int64]
    glo: int


def _decimals(v: F64, start: int = 0) -> int | None:
    """Smallest ``k >= start`` such that every value of ``v`` lies on the lattice ``10**-k``."""
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(start, MAX_DECIMALS + 1):
            s = 10.0**k
            if np.array_equal(np.rint(v * s) / s, v):
                return k
    return None


def lattice_counts(
    t: F64, e: NDArray[np.bool_], group: NDArray[Any] | None = None
) -> LatticeCounts | None:
    """Count records per (distinct time, group label, event flag) in one pass; ``None`` if declined.

    ``group`` (optional) must hold integer or boolean labels.
    """
    n = t.size
    if n == 0 or e.size != n or (group is not None and (group.size != n or group.dtype.kind not in "iub")):
        return None
    if group is not None and group.dtype.kind == "u" and group.dtype.itemsize == 8:
        return None  # labels may not fit int64
    limit = max(n, _MIN_CELLS)
    step = max(1, n // _SAMPLE)
    sample = t[::step][:_SAMPLE]
    if not (np.isfinite(sample).all() and sample.min() >= 0):
        return None
    dec = _decimals(sample)
    if dec is None:
        return None
    ev = e.view(np.uint8)
    g = None
    glo, kg = 0, 1
    if group is not None:
        g = group.view(np.uint8) if group.dtype == np.bool_ else group
        gs = g[::step][:_SAMPLE]
        glo, kg = int(gs.min()), int(gs.max()) - int(gs.min()) + 1
    dtype = np.int32 if n < 2**31 - 1 else np.int64
    while True:  # each round uses a finer lattice; there are at most MAX_DECIMALS + 1 rounds
        s = 10.0**dec
        with np.errstate(over="ignore"):
            sc = np.rint(sample * s)
        lo, hi = int(sc.min()), int(sc.max())
        margin = (hi - lo) // 8 + 1
        lo, hi = max(0, lo - margin), hi + margin
        if hi > _MAX_CODE:
            return None
        if kg > limit:
            return None
        hi = min(hi, lo + limit // kg - 1)
        if hi < lo:
            return None
        table = np.zeros((hi - lo + 1, kg, 2), dtype=dtype)
        start = 0
        while True:
            status, i, start = _count(t, ev, s, lo, g, glo, table, start)
            if status == 0:
                break
            if status == 1:
                dec = _decimals(t[i : i + 1], dec + 1)
                if dec is None:
                    return None
                break
            if status == 2:
                c = float(np.rint(t[i] * s))
                if not (0.0 <= c <= _MAX_CODE):
                    return None
                c = int(c)
                width = table.shape[0]
                top = lo + width - 1
                cap = limit // kg  # most codes the table may hold
                if max(top, c) - min(lo, c) + 1 > cap:
                    return None
                if c < lo:  # grow downwards, at least doubling
                    nlo, nhi = max(0, min(c, lo - width), top - cap + 1), top
                else:
                    nlo, nhi = lo, min(max(c, top + width), lo + cap - 1)
                table = _regrid(table, lo, glo, nlo, nhi, glo, kg)
                lo = nlo
            else:  # status 3: a group label outside the table
                lab = int(g[i])  # type: ignore[index]
                nglo, nghi = min(glo, lab), max(glo + kg - 1, lab)
                nkg = nghi - nglo + 1
                if table.shape[0] * nkg > limit:
                    return None
                table = _regrid(table, lo, glo, lo, lo + table.shape[0] - 1, nglo, nkg)
                glo, kg = nglo, nkg
        if status == 0:
            break
    flat = table.reshape(table.shape[0], -1)
    present = flat[:, 0] != 0
    for j in range(1, flat.shape[1]):
        present |= flat[:, j] != 0
    codes = np.flatnonzero(present)
    codes += lo
    time = codes / s  # exactly the original values (checked in the pass)
    return LatticeCounts(time, table[present].astype(np.int64), glo)


def _regrid(
    table: NDArray[np.integer[Any]], lo: int, glo: int, nlo: int, nhi: int, nglo: int, nkg: int
) -> NDArray[np.integer[Any]]:
    """Copy ``table`` (codes from ``lo``, labels from ``glo``) into a larger zero table."""
    new = np.zeros((nhi - nlo + 1, nkg, 2), dtype=table.dtype)
    b, k = table.shape[:2]
    new[lo - nlo : lo - nlo + b, glo - nglo : glo - nglo + k] = table
    return new


def _count(
    t: F64,
    ev: NDArray[np.uint8],
    s: float,
    lo: int,
    g: NDArray[Any] | None,
    glo: int,
    table: NDArray[np.integer[Any]],
    start: int,
) -> tuple[int, int, int]:
    """Add records from ``start`` on; return ``(status, bad index, next start)`` (see ``_fast_numba``)."""
    bins, kg = table.shape[:2]
    out = table.reshape(-1)
    if backend(t.size) == "numba" and out.size < 2**31:
        kern = _numba()
        if g is None:
            status, i = kern.count1(t, ev, s, lo, bins, out, start)
        else:
            status, i = kern.countk(t, ev, s, lo, bins, g, glo, kg, out, start)
        return int(status), int(i), int(i)
    return _count_numpy(t, ev, s, lo, bins, g, glo, kg, out, start)


def _count_numpy(
    t: F64,
    ev: NDArray[np.uint8],
    s: float,
    lo: int,
    bins: int,
    g: NDArray[Any] | None,
    glo: int,
    kg: int,
    out: NDArray[np.integer[Any]],
    start: int,
) -> tuple[int, int, int]:
    n = t.size
    m = min(n - start, _BLOCK)
    c = np.empty(m)
    chk = np.empty(m)
    code = np.empty(m, dtype=np.intp)
    for b0 in range(start, n, _BLOCK):
        b1 = min(b0 + _BLOCK, n)
        m = b1 - b0
        tb = t[b0:b1]
        cb, xb, kb = c[:m], chk[:m], code[:m]
        with np.errstate(invalid="ignore", over="ignore"):
            np.multiply(tb, s, out=cb)
            np.rint(cb, out=cb)
            np.divide(cb, s, out=xb)
        if not np.array_equal(xb, tb):
            return 1, b0 + int(np.argmax(xb != tb)), b0
        cb -= lo
        if not (cb.max() < bins and cb.min() >= 0):  # also catches inf
            return 2, b0 + int(np.argmax((cb >= bins) | (cb < 0))), b0
        np.copyto(kb, cb, casting="unsafe")
        if g is not None:
            gb = g[b0:b1]
            if not (int(gb.max()) < glo + kg and int(gb.min()) >= glo):
                return 3, b0 + int(np.argmax((gb >= glo + kg) | (gb < glo))), b0
            if kg > 1:
                kb *= kg
                if glo:
                    kb -= glo
                kb += gb
        kb <<= 1
        kb += ev[b0:b1]
        np.add(out, np.bincount(kb, minlength=out.size), out=out, casting="unsafe")
    return 0, n, n
