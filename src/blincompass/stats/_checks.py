"""Input checking shared by the estimators in :mod:`blincompass.stats`.

Every check raises :class:`ValueError` naming the argument and the offending value and position,
so that a user can find the bad row without a debugger.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "plain_array",
    "as_time",
    "as_event",
    "as_labels",
    "as_weights",
    "check_lengths",
    "check_alternative",
    "check_conf_level",
]

_ALTERNATIVES = ("two-sided", "less", "greater")


def _show(value: Any) -> Any:
    """A numpy scalar as the plain Python value (so messages read ``nan``, not ``np.float64(nan)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _first_bad(mask: NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def as_time(values: ArrayLike, name: str = "time", *, allow_empty: bool = False) -> NDArray[np.float64]:
    """Return ``values`` as a 1-D float64 array of finite, non-negative times.

    Raises ``ValueError`` naming ``name`` and the first offending position and value.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot be read as numbers ({exc})") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name}: empty input")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"{name}: non-finite value {_show(arr[i])!r} at position {i}")
    neg = arr < 0
    if neg.any():
        i = _first_bad(neg)
        raise ValueError(f"{name}: negative value {_show(arr[i])!r} at position {i}")
    return arr


def plain_array(values: Any) -> Any:
    """A pandas nullable array or Series without missing values (``Int8``, ``UInt32``, ``boolean``,
    ``int8[pyarrow]`` ...) as a numpy array of the matching numpy dtype; anything else unchanged.

    Arrays with missing values are returned unchanged, so that the checks below report the first missing
    value with its position.  Categorical data are left to the callers (see ``logrank_test``).
    """
    dt = getattr(values, "dtype", None)
    if dt is None or isinstance(dt, np.dtype):
        return values
    numpy_dtype = getattr(dt, "numpy_dtype", None)
    if not isinstance(numpy_dtype, np.dtype) or numpy_dtype.kind not in "iubf":
        return values
    try:
        if bool(values.isna().any()):
            return values
        return values.to_numpy(dtype=numpy_dtype)
    except (AttributeError, TypeError, ValueError):
        return values


def as_event(values: ArrayLike, name: str = "event") -> NDArray[np.bool_]:
    """Return ``values`` as a boolean array; accepted inputs are booleans or the numbers 0 and 1.

    Boolean arrays are returned as they are; integer arrays of any width and signedness (and pandas
    nullable arrays without missing values) are checked in one pass over their bits read as unsigned
    integers (a negative value reads as a large one) and converted without a float temporary.
    """
    arr = np.asarray(plain_array(values))
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty input")
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind in "iu":
        unsigned = arr.view(np.dtype(f"u{arr.dtype.itemsize}"))
        if int(unsigned.max()) <= 1:
            # 0/1 bytes are valid booleans: a one-byte array is viewed, wider ones are converted
            return arr.view(np.bool_) if arr.dtype.itemsize == 1 else unsigned.astype(np.bool_)
    try:
        num = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: values must be 0/1 or boolean ({exc})") from exc
    bad = ~((num == 0) | (num == 1))
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"{name}: value {_show(arr[i])!r} at position {i} is not 0/1 or boolean")
    return num == 1


def as_labels(values: ArrayLike, name: str = "group") -> NDArray[Any]:
    """Return group/stratum labels as a 1-D array; missing labels (None/NaN) are rejected."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty input")
    if arr.dtype.kind in "fc":
        bad = np.isnan(arr)
    elif arr.dtype == object:
        bad = np.fromiter(
            (v is None or (isinstance(v, float) and np.isnan(v)) for v in arr), dtype=bool, count=arr.size
        )
    else:
        bad = np.zeros(arr.size, dtype=bool)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"{name}: missing label {_show(arr[i])!r} at position {i}")
    return arr


def as_weights(values: ArrayLike | None, n: int, name: str = "weights") -> NDArray[np.float64] | None:
    """Return case weights as float64 (finite, non-negative, length ``n``) or ``None``."""
    if values is None:
        return None
    arr = as_time(values, name)
    if arr.size != n:
        raise ValueError(f"{name}: length {arr.size} does not match the {n} observations")
    return arr


def check_lengths(**arrays: Sequence[Any] | NDArray[Any] | None) -> int:
    """Check that all non-``None`` arrays have the same length and return it."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise ValueError(f"length mismatch: {desc}")
    return next(iter(lengths.values()))


def check_alternative(alternative: str) -> str:
    """Validate ``alternative`` (``"two-sided"``, ``"less"`` or ``"greater"``)."""
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative: {alternative!r} is not one of {', '.join(_ALTERNATIVES)}")
    return alternative


def check_conf_level(conf_level: float) -> float:
    """Validate a confidence level strictly between 0 and 1."""
    if not (0.0 < float(conf_level) < 1.0):
        raise ValueError(f"conf_level: {conf_level!r} must lie strictly between 0 and 1")
    return float(conf_level)
