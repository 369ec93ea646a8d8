"""Number formatting shared by every table and figure of the report (one place, one convention)."""

from __future__ import annotations

import math
import re

__all__ = ["DASH", "EM_DASH", "MINUS", "fmt_ci", "fmt_n_pct", "fmt_num", "fmt_p", "fmt_pct", "slug"]

#: En dash used in ranges and intervals.
DASH = "\u2013"
#: Em dash: a cell with no estimate, explained in the table's footnote (e.g. a time past the data).
EM_DASH = "\u2014"
#: Minus sign used in differences ("A − B").
MINUS = "\u2212"


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x)))


def fmt_num(x: float | None, decimals: int = 1, missing: str = "NE") -> str:
    """``x`` rounded half-even to ``decimals`` places, a negative value with the minus sign (U+2212) as
    typeset text has it rather than a hyphen; ``missing`` (default "NE", not estimable) if none."""
    if _missing(x):
        return missing
    text = f"{x:.{decimals}f}"
    return MINUS + text[1:] if text.startswith("-") else text


def fmt_pct(n: int, d: int, decimals: int = 1) -> str:
    """Percentage ``100 n / d`` without the sign; "-" when ``d`` is 0."""
    if d == 0:
        return "-"
    return f"{100.0 * n / d:.{decimals}f}"


def fmt_n_pct(n: int, d: int, decimals: int = 1) -> str:
    """``"n (pct)"`` as clinical tables print it, e.g. ``"22 (56.4)"``."""
    return f"{n} ({fmt_pct(n, d, decimals)})"


def fmt_ci(lower: float | None, upper: float | None, decimals: int = 1, scale: float = 1.0) -> str:
    """An interval ``"lower–upper"`` (limits multiplied by ``scale``; "NE" for a missing limit)."""
    lo = None if _missing(lower) else lower * scale  # type: ignore[operator]
    hi = None if _missing(upper) else upper * scale  # type: ignore[operator]
    return f"{fmt_num(lo, decimals)}{DASH}{fmt_num(hi, decimals)}"


def fmt_p(p: float | None) -> str:
    """A p-value: "<0.0001", 4 decimals below 0.001, else 3 decimals; "NE" when missing."""
    if _missing(p):
        return "NE"
    if p < 0.0001:  # type: ignore[operator]
        return "<0.0001"
    if p < 0.001:  # type: ignore[operator]
        text = f"{p:.4f}"
        if text != "0.0010":  # 0.00095 to 0.001 rounds up to the 3-decimal value: "0.001", not "0.0010"
            return text
    return f"{p:.3f}"


def slug(value: object) -> str:
    """A results-key component: lower case, runs of other characters replaced by ``_``."""
    text = str(value).lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    return text or "x"
