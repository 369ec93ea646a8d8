"""Garbage-collector settings for the command-line processes (the command and its figure worker).

CPython's cyclic collector runs a young collection every 700 container allocations and a full one after ten
of the next older generation. A command imports ~10⁶ long-lived objects (pandas, scipy, matplotlib, the
models) and then allocates many short-lived containers (frames, artists, rows): with the default settings the
demo spent ~0.8 s of its ~9 s CPU in ~1,000 collections, seven of them full ones traversing every imported
object (~0.1 s each), and ~0.4 s more in the full collection the interpreter makes when it exits.

:func:`tune` makes young collections rarer (every :data:`THRESHOLDS` ``[0]`` allocations; cycles are still
found, the memory they hold for longer is a few thousand small objects at most) and, at exit, moves every
object to the permanent generation (:func:`gc.freeze`), so that the interpreter's last collection does not
traverse a heap that the operating system is about to release. Objects still reachable then are released
as before by reference counting; only cyclic garbage left at exit is not finalised, which the commands do not
rely on (every file they write is closed by a ``with`` block).
"""

from __future__ import annotations

import atexit
import gc

__all__ = ["THRESHOLDS", "tune"]

#: ``gc.set_threshold`` arguments: a young collection every 10,000 container allocations, a middle one every
#: ten of those, a full one every ten middle ones (and then only when CPython's own rule allows it: the
#: objects that survived since the last full collection exceed a quarter of the old generation).
THRESHOLDS: tuple[int, int, int] = (10_000, 10, 10)

_TUNED = False


def tune() -> None:
    """Apply :data:`THRESHOLDS` and freeze the heap at exit (once per process; later calls do nothing)."""
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    gc.set_threshold(*THRESHOLDS)
    atexit.register(gc.freeze)
