"""Brent's methods for a root of a function of one variable and for a minimum on an interval.

Three estimators need them: the conditional maximum-likelihood odds ratio and its exact confidence limits
(:mod:`blincompass.stats.exact`), the confidence limits of the stratified exact test
(:mod:`blincompass.stats.permutation`), and the maximisation over the nuisance parameter of Barnard's and
Boschloo's tests (:mod:`blincompass.stats.unconditional`). ``scipy.optimize`` has both methods, but
importing it costs about 0.1 s of CPU (it imports ``scipy.sparse``, ``scipy.spatial`` and ``scipy.fft``
with it), which every report paid before its first figure; so the two are written here.

**Root** (:func:`brent_root`). Given :math:`f(a) f(b) < 0`, Brent's method keeps a bracket
:math:`[b, c]` of the root, with :math:`b` the best estimate (:math:`|f(b)| \\le |f(c)|`) and :math:`a`
the previous estimate. Each step tries inverse quadratic interpolation through the three points (or the
secant through two when :math:`a = c`):

.. math:: b' = b - f(b) \\frac{b - a}{f(b) - f(a)} \\quad\\text{(secant)},

and takes the interpolated step only if it falls inside the bracket, within three quarters of the way to
:math:`c`, and shrinks faster than half the step before the last; otherwise it bisects,
:math:`b' = (b + c)/2`. Steps are at least the tolerance :math:`\\delta = (x_{tol} + r_{tol} |b|)/2`, and
the iteration stops when :math:`|c - b|/2 \\le \\delta` or :math:`f(b) = 0`. The root is then within
:math:`x_{tol} + r_{tol}|b|` of :math:`b`; convergence is never slower than bisection.

**Minimum** (:func:`brent_minimize`). On :math:`[a, b]`, Brent's method keeps the best point :math:`x`,
the second best :math:`w` and the previous :math:`w`, :math:`v`; it fits the parabola through
:math:`(v, w, x)` and steps to its vertex when that lies inside the interval and the step is less than half
the step before the last; otherwise it takes a golden-section step
:math:`(3 - \\sqrt 5)/2` of the larger part. The interval shrinks around :math:`x` until
:math:`|x - m| \\le 2\\tau - (b - a)/2` with :math:`m` the midpoint and
:math:`\\tau = \\sqrt{\\epsilon}\\,|x| + x_{atol}/3`. The function is never evaluated at :math:`a` or
:math:`b`.

References
----------
Brent RP (1973). *Algorithms for Minimization without Derivatives*, chapters 4 (zero) and 5 (localmin).
Prentice-Hall, Englewood Cliffs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["brent_minimize", "brent_root"]

_EPS = 2.220446049250313e-16  # the spacing of doubles at 1
_GOLDEN = 0.5 * (3.0 - math.sqrt(5.0))


def _same_sign(x: float, y: float) -> bool:
    return (x > 0) == (y > 0)


def brent_root(f: Callable[[float], float], a: float, b: float, *, xtol: float = 2e-12,
               rtol: float = 4 * _EPS, maxiter: int = 100) -> float:
    """A root of ``f`` in ``[a, b]``, where ``f(a)`` and ``f(b)`` have opposite signs (or one is 0), to
    within ``xtol + rtol * |root|`` (Brent's method; see the module's notes).

    Raises ``ValueError`` when the signs do not differ or a tolerance is not positive, and
    ``ArithmeticError`` when ``maxiter`` steps do not reach the tolerance or ``f`` is not a number."""
    if not (xtol > 0 and rtol > 0):
        raise ValueError(f"tolerances must be positive, got xtol={xtol!r}, rtol={rtol!r}")
    fa, fb = float(f(a)), float(f(b))
    if math.isnan(fa) or math.isnan(fb):
        raise ArithmeticError(f"the function is not a number at an end of [{a!r}, {b!r}]")
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    if _same_sign(fa, fb):
        raise ValueError(f"f(a) and f(b) must have opposite signs, got f({a!r}) = {fa!r}, f({b!r}) = {fb!r}")
    c, fc = a, fa
    step = last = b - a  # the step just taken and the one before it
    for _ in range(maxiter):
        if _same_sign(fb, fc):  # the root lies between a and b: a becomes the far end
            c, fc = a, fa
            step = last = b - a
        if abs(fc) < abs(fb):  # b is always the best estimate
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        delta = 0.5 * (xtol + rtol * abs(b))
        half = 0.5 * (c - b)
        if abs(half) <= delta or fb == 0.0:
            return b
        if abs(last) >= delta and abs(fa) > abs(fb):
            s = fb / fa
            if a == c:  # two points: secant
                p, q = 2.0 * half * s, 1.0 - s
            else:  # three points: inverse quadratic interpolation
                qa, r = fa / fc, fb / fc
                p = s * (2.0 * half * qa * (qa - r) - (b - a) * (r - 1.0))
                q = (qa - 1.0) * (r - 1.0) * (s - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if 2.0 * p < min(3.0 * half * q - abs(delta * q), abs(last * q)):
                last, step = step, p / q  # interpolation accepted
            else:
                step = last = half  # bisection
        else:
            step = last = half
        a, fa = b, fb
        b += step if abs(step) > delta else math.copysign(delta, half)
        fb = float(f(b))
        if math.isnan(fb):
            raise ArithmeticError(f"the function is not a number at {b!r}")
    raise ArithmeticError(f"no root to the tolerance after {maxiter} steps (last estimate {b!r})")


def brent_minimize(f: Callable[[float], float], lo: float, hi: float, *, xatol: float = 1e-5,
                   maxiter: int = 500) -> tuple[float, float]:
    """``(x, f(x))`` at a local minimum of ``f`` on ``(lo, hi)`` located to about ``xatol`` (Brent's method;
    see the module's notes). ``f`` is never evaluated at ``lo`` or ``hi``; for a function unimodal on the
    interval the minimum found is the minimum. Raises ``ValueError`` for an empty interval or a tolerance
    that is not positive, and ``ArithmeticError`` when ``maxiter`` steps do not reach the tolerance."""
    if not lo < hi:
        raise ValueError(f"the interval must have lo < hi, got ({lo!r}, {hi!r})")
    if not xatol > 0:
        raise ValueError(f"xatol must be positive, got {xatol!r}")
    sqrt_eps = math.sqrt(_EPS)
    a, b = lo, hi
    x = w = v = a + _GOLDEN * (b - a)
    fx = fw = fv = float(f(x))
    step = last = 0.0
    for _ in range(maxiter):
        mid = 0.5 * (a + b)
        tol = sqrt_eps * abs(x) + xatol / 3.0
        tol2 = 2.0 * tol
        if abs(x - mid) <= tol2 - 0.5 * (b - a):
            return x, fx
        golden = True
        if abs(last) > tol:  # try the vertex of the parabola through v, w and x
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0:
                p = -p
            else:
                q = -q
            if abs(p) < abs(0.5 * q * last) and q * (a - x) < p < q * (b - x):
                last, step = step, p / q
                golden = False
                u = x + step
                if u - a < tol2 or b - u < tol2:  # not too near an end
                    step = tol if x < mid else -tol
        if golden:
            last = (b - x) if x < mid else (a - x)
            step = _GOLDEN * last
        u = x + (step if abs(step) >= tol else math.copysign(tol, step))
        fu = float(f(u))
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu
    raise ArithmeticError(f"no minimum to the tolerance after {maxiter} steps (last estimate {x!r})")
