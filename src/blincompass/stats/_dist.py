"""Normal, chi-square and beta distribution functions from ``scipy.special``.

The estimators need a handful of tail areas and quantiles. ``scipy.stats`` computes them with exactly
these ``scipy.special`` functions, but importing ``scipy.stats`` costs about half a second of CPU (it
builds the docstrings of every distribution), which a command pays on every run; so the few functions
are written here. Each returns what ``scipy.stats.<dist>.<method>`` returns, bit for bit, including at the
edges of the support and for invalid parameters (NaN), with the same broadcasting: a NumPy scalar for
scalar arguments, an array otherwise (checked in ``tests/stats/test_dist.py``).

* normal: :math:`\\Phi(x)` = ``ndtr(x)``, upper tail :math:`\\Phi(-x)`, quantile ``ndtri(q)``, upper
  quantile ``-ndtri(q)``;
* chi-square with ``df`` degrees of freedom: ``chdtr(df, x)``, upper tail ``chdtrc(df, x)``, quantile
  :math:`2 P^{-1}(df/2, p)` (``gammaincinv``), upper quantile ``chdtri(df, p)``;
* beta: quantile :math:`I^{-1}_q(a, b)` (``betaincinv``).

References
----------
Abramowitz M, Stegun IA (1964). *Handbook of Mathematical Functions*, 26.2 (normal), 26.4 (chi-square),
26.5 (incomplete beta). National Bureau of Standards.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

__all__ = ["beta_ppf", "chi2_cdf", "chi2_isf", "chi2_ppf", "chi2_sf", "norm_cdf", "norm_isf", "norm_ppf",
           "norm_sf"]


def _out(x: np.ndarray) -> Any:
    """An array, or a NumPy scalar for 0-d results (as ``scipy.stats`` returns)."""
    return x[()]


def _f(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# ----------------------------------------------------------------------------------------- normal


def norm_cdf(x: ArrayLike) -> Any:
    r"""Standard normal distribution function :math:`\Phi(x)` (``scipy.stats.norm.cdf``)."""
    return _out(np.asarray(special.ndtr(_f(x))))


def norm_sf(x: ArrayLike) -> Any:
    r"""Standard normal upper tail :math:`1 - \Phi(x) = \Phi(-x)` (``scipy.stats.norm.sf``)."""
    return _out(np.asarray(special.ndtr(-_f(x))))


def norm_ppf(q: ArrayLike) -> Any:
    r"""Standard normal quantile :math:`\Phi^{-1}(q)`: :math:`-\infty` at 0, :math:`+\infty` at 1, NaN outside
    [0, 1] (``scipy.stats.norm.ppf``)."""
    return _out(np.asarray(special.ndtri(_f(q)) + 0.0))  # + 0.0: -0.0 -> 0.0 as scipy's ``* scale + loc``


def norm_isf(q: ArrayLike) -> Any:
    r"""Standard normal upper quantile :math:`\Phi^{-1}(1 - q) = -\Phi^{-1}(q)` (``scipy.stats.norm.isf``)."""
    return _out(np.asarray(-special.ndtri(_f(q)) + 0.0))


# ----------------------------------------------------------------------------------------- chi-square


def _chi2_args(x: ArrayLike, df: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xa, dfa = np.broadcast_arrays(_f(x), _f(df))
    bad = ~(dfa > 0) | np.isnan(xa)  # df <= 0 or NaN, or a NaN argument: NaN, as scipy.stats
    return xa, dfa, bad


def chi2_cdf(x: ArrayLike, df: ArrayLike) -> Any:
    r"""Chi-square distribution function :math:`P(df/2, x/2)` (``scipy.stats.chi2.cdf``): 0 for
    :math:`x \le 0`, 1 at :math:`+\infty`."""
    xa, dfa, bad = _chi2_args(x, df)
    inside = (xa > 0) & (xa < np.inf) & ~bad
    out = np.where(xa >= np.inf, 1.0, 0.0)
    out[inside] = special.chdtr(dfa[inside], xa[inside])
    out[bad] = np.nan
    return _out(out)


def chi2_sf(x: ArrayLike, df: ArrayLike) -> Any:
    r"""Chi-square upper tail :math:`Q(df/2, x/2)` (``scipy.stats.chi2.sf``): 1 for :math:`x \le 0`,
    0 at :math:`+\infty`."""
    xa, dfa, bad = _chi2_args(x, df)
    inside = (xa > 0) & (xa < np.inf) & ~bad
    out = np.where(xa >= np.inf, 0.0, 1.0)
    out[inside] = special.chdtrc(dfa[inside], xa[inside])
    out[bad] = np.nan
    return _out(out)


def _quantile(p: ArrayLike, df: ArrayLike, lower_end: float, upper_end: float, fun: Any) -> Any:
    pa, dfa = np.broadcast_arrays(_f(p), _f(df))
    inside = (pa > 0) & (pa < 1) & (dfa > 0)
    out = np.full(pa.shape, np.nan)
    out[(pa == 0) & (dfa > 0)] = lower_end
    out[(pa == 1) & (dfa > 0)] = upper_end
    out[inside] = fun(pa[inside], dfa[inside])
    return _out(out)


def chi2_ppf(p: ArrayLike, df: ArrayLike) -> Any:
    r"""Chi-square quantile :math:`2 P^{-1}(df/2, p)` (``scipy.stats.chi2.ppf``): 0 at ``p = 0``,
    :math:`+\infty` at ``p = 1``, NaN outside [0, 1]."""
    return _quantile(p, df, 0.0, np.inf, lambda pp, d: 2 * special.gammaincinv(d / 2, pp))


def chi2_isf(p: ArrayLike, df: ArrayLike) -> Any:
    r"""Chi-square upper quantile: ``x`` with :math:`Q(df/2, x/2) = p` (``scipy.stats.chi2.isf``):
    :math:`+\infty` at ``p = 0``, 0 at ``p = 1``."""
    return _quantile(p, df, np.inf, 0.0, lambda pp, d: special.chdtri(d, pp))


# ----------------------------------------------------------------------------------------- beta


def beta_ppf(q: ArrayLike, a: ArrayLike, b: ArrayLike) -> Any:
    r"""Beta(a, b) quantile :math:`I^{-1}_q(a, b)` (``scipy.stats.beta.ppf``): 0 at ``q = 0``, 1 at ``q = 1``,
    NaN outside [0, 1] or for non-positive ``a``, ``b``.

    ``scipy.stats.beta.ppf`` calls Boost's ``ibeta_inv`` through another entry point, which for ``q`` below
    ~1e-200 can still return a number where ``betaincinv`` returns NaN; for the levels of confidence
    intervals the two are identical."""
    qa, aa, ba = np.broadcast_arrays(_f(q), _f(a), _f(b))
    ok = (aa > 0) & (ba > 0)
    inside = (qa > 0) & (qa < 1) & ok
    out = np.full(qa.shape, np.nan)
    out[(qa == 0) & ok] = 0.0
    out[(qa == 1) & ok] = 1.0
    out[inside] = special.betaincinv(aa[inside], ba[inside], qa[inside])
    return _out(out)
