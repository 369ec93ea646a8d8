"""numba kernels of :mod:`._fast` (imported only when numba is installed).

``count1`` and ``countk`` add records ``start, start + 1, ...`` into the flattened table ``out`` and stop
at the first record they cannot place, returning ``(status, i)``: 0 when all records were added, 1 when
time ``i`` is off the lattice, 2 when its code lies outside ``[clo, clo + bins)``, 3 when its group label
lies outside ``[glo, glo + kg)``.  Records before ``i`` have been added.

The records are processed in blocks: a loop without branches (which the compiler vectorises) checks the
block and computes each record's cell, then a second loop increments the cells.  The table must have
fewer than ``2**31`` entries (cell indices are int32).
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True, boundscheck=False)
_BLOCK = 8192


@_jit
def _cells1(tb, eb, s, fclo, fbins, buf):  # pragma: no cover - compiled
    ok = True
    for i in range(tb.shape[0]):
        v = tb[i]
        c = np.rint(v * s)
        j = c - fclo
        ok &= (c / s == v) & (j >= 0.0) & (j < fbins)
        buf[i] = np.int32(j) * np.int32(2) + np.int32(eb[i])
    return ok


@_jit
def _cellsk(tb, eb, gb, s, fclo, fbins, glo, kg, buf):  # pragma: no cover - compiled
    ok = True
    ghi = glo + kg
    k32 = np.int32(kg)
    for i in range(tb.shape[0]):
        v = tb[i]
        c = np.rint(v * s)
        j = c - fclo
        x = np.int64(gb[i])
        ok &= (c / s == v) & (j >= 0.0) & (j < fbins) & (x >= glo) & (x < ghi)
        buf[i] = (np.int32(j) * k32 + np.int32(x - glo)) * np.int32(2) + np.int32(eb[i])
    return ok


@_jit
def _first_bad(tb, gb, s, fclo, fbins, glo, kg, grouped):  # pragma: no cover - compiled
    for i in range(tb.shape[0]):
        v = tb[i]
        c = np.rint(v * s)
        if c / s != v:
            return 1, i
        j = c - fclo
        if not (j >= 0.0 and j < fbins):
            return 2, i
        if grouped:
            x = np.int64(gb[i])
            if x < glo or x >= glo + kg:
                return 3, i
    return 0, tb.shape[0]


@_jit
def _scatter(buf, m, out):  # pragma: no cover - compiled
    for i in range(m):
        out[buf[i]] += 1


@_jit
def count1(t, ev, s, clo, bins, out, start):  # pragma: no cover - compiled
    n = t.shape[0]
    buf = np.empty(_BLOCK, np.int32)
    fclo = np.float64(clo)
    fbins = np.float64(bins)
    for lo in range(start, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        if not _cells1(t[lo:hi], ev[lo:hi], s, fclo, fbins, buf):
            status, i = _first_bad(t[lo:hi], ev[lo:hi], s, fclo, fbins, 0, 1, False)
            _scatter(buf, i, out)
            if status != 0:
                return status, lo + i
            continue
        _scatter(buf, hi - lo, out)
    return 0, n


@_jit
def countk(t, ev, s, clo, bins, g, glo, kg, out, start):  # pragma: no cover - compiled
    n = t.shape[0]
    buf = np.empty(_BLOCK, np.int32)
    fclo = np.float64(clo)
    fbins = np.float64(bins)
    glo = np.int64(glo)
    kg = np.int64(kg)
    for lo in range(start, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        if not _cellsk(t[lo:hi], ev[lo:hi], g[lo:hi], s, fclo, fbins, glo, kg, buf):
            status, i = _first_bad(t[lo:hi], g[lo:hi], s, fclo, fbins, glo, kg, True)
            _scatter(buf, i, out)
            if status != 0:
                return status, lo + i
            continue
        _scatter(buf, hi - lo, out)
    return 0, n
