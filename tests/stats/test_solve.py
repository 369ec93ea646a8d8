"""Brent's root finder and minimiser (``blincompass.stats._solve``) against ``scipy.optimize`` and known
answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from blincompass.stats._solve import brent_minimize, brent_root

ROOT_CASES = [
    (lambda x: x * x - 2.0, 0.0, 2.0, math.sqrt(2.0)),
    (lambda x: math.cos(x) - x, 0.0, 1.0, None),
    (lambda x: x**3 - 2 * x - 5, 2.0, 3.0, None),  # Wallis's equation
    (lambda x: math.exp(x) - 1e6, 0.0, 20.0, math.log(1e6)),
    (lambda x: math.atan(x - 0.3), -50.0, 1e3, 0.3),
    (lambda x: (x - 1.0) ** 3, -2.0, 7.0, 1.0),  # flat at its root: slow for interpolation
    (lambda x: math.copysign(1.0, x - 0.123456789), -1.0, 1.0, 0.123456789),  # a step: bisection only
    (lambda x: 1e-300 * (x - 5.0), 0.0, 10.0, 5.0),
    (lambda x: math.log(x) + 700.0, 1e-310, 1.0, math.exp(-700.0)),
]


@pytest.mark.parametrize("case", range(len(ROOT_CASES)))
def test_root_agrees_with_scipy_and_the_known_answer(case: int) -> None:
    f, a, b, known = ROOT_CASES[case]
    xtol, rtol = 1e-15, 8.9e-16
    got = brent_root(f, a, b, xtol=xtol, rtol=rtol, maxiter=500)
    ref = optimize.brentq(f, a, b, xtol=xtol, rtol=rtol, maxiter=500)
    tol = 2 * (xtol + rtol * abs(ref))
    assert abs(got - ref) <= tol
    if known is not None:
        assert abs(got - known) <= tol + 4 * math.ulp(known)
    # the root is bracketed to the tolerance: f changes sign (or vanishes) within it
    lo, hi = max(min(a, b), got - tol), min(max(a, b), got + tol)
    assert f(got) == 0.0 or (f(lo) > 0) != (f(hi) > 0) or f(lo) == 0.0 or f(hi) == 0.0


def test_root_at_an_end_and_the_bracket_either_way_round() -> None:
    assert brent_root(lambda x: x - 3.0, 3.0, 9.0) == 3.0
    assert brent_root(lambda x: x - 9.0, 3.0, 9.0) == 9.0
    assert abs(brent_root(lambda x: x - 4.0, 9.0, 0.0) - 4.0) < 1e-11


def test_root_errors() -> None:
    with pytest.raises(ValueError, match="opposite signs"):
        brent_root(lambda x: x * x + 1.0, -1.0, 1.0)
    with pytest.raises(ValueError, match="tolerances"):
        brent_root(lambda x: x, -1.0, 1.0, xtol=0.0)
    with pytest.raises(ArithmeticError, match="not a number"):
        brent_root(lambda x: math.nan, -1.0, 1.0)
    with pytest.raises(ArithmeticError, match="after 3 steps"):
        brent_root(lambda x: math.copysign(1.0, x - 0.3), -1e6, 1e6, maxiter=3)


MIN_CASES = [
    (lambda x: (x - 0.37) ** 2, 0.0, 1.0, 0.37),
    (lambda x: -math.sin(x), 0.0, 3.0, math.pi / 2),
    (lambda x: x * math.log(x) if x > 0 else 0.0, 0.0, 1.0, math.exp(-1.0)),
    (lambda x: abs(x - 0.25), 0.0, 1.0, 0.25),  # no derivative at the minimum: golden sections
    (lambda x: math.exp(x), -2.0, 5.0, -2.0),  # decreasing to the left end: approaches it, never evaluates it
    (lambda x: (x - 1e-3) ** 4, 0.0, 1.0, 1e-3),
]


@pytest.mark.parametrize("case", range(len(MIN_CASES)))
def test_minimum_agrees_with_scipy_and_the_known_answer(case: int) -> None:
    f, lo, hi, known = MIN_CASES[case]
    seen: list[float] = []

    def g(x: float) -> float:
        seen.append(x)
        return f(x)

    x, fx = brent_minimize(g, lo, hi, xatol=1e-12, maxiter=500)
    ref = optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12, "maxiter": 500})
    assert fx == f(x) and lo < x < hi and all(lo < s < hi for s in seen)
    assert fx <= ref.fun + 1e-12 * max(1.0, abs(ref.fun))  # at least as low as scipy's
    # located as well as the function's flatness allows: sqrt(eps)-relative for smooth minima
    assert abs(x - known) <= max(3e-8 * max(1.0, abs(known)), abs(ref.x - known) * 2 + 1e-12)


def test_minimum_of_a_sampled_likelihood_shape() -> None:
    """The shape Barnard's and Boschloo's tests maximise: a log-sum of binomial-like terms."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(5, 40))
        log_a = rng.normal(size=n + 1)
        s = np.arange(n + 1)

        def neg(pi: float, log_a: np.ndarray = log_a, s: np.ndarray = s, n: int = n) -> float:
            terms = log_a + s * math.log(pi) + (n - s) * math.log1p(-pi)
            top = terms.max()
            return -(top + math.log(np.exp(terms - top).sum()))

        x, fx = brent_minimize(neg, 0.05, 0.95, xatol=1e-12)
        ref = optimize.minimize_scalar(neg, bounds=(0.05, 0.95), method="bounded", options={"xatol": 1e-12})
        assert fx <= ref.fun + 1e-12
        assert abs(x - ref.x) < 1e-6


def test_minimum_errors() -> None:
    with pytest.raises(ValueError, match="lo < hi"):
        brent_minimize(lambda x: x, 1.0, 1.0)
    with pytest.raises(ValueError, match="xatol"):
        brent_minimize(lambda x: x, 0.0, 1.0, xatol=-1.0)
    with pytest.raises(ArithmeticError, match="after 2 steps"):
        brent_minimize(lambda x: (x - 0.3) ** 2, 0.0, 1.0, xatol=1e-12, maxiter=2)
