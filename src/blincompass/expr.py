"""A small, safe expression language for conditions and derivations written in study files.

Study files (protocol, published numbers) select rows and define values with expressions such as::

    stratum == 'high' and cr_c1 == True
    disease_status in ['first_relapse', 'second_relapse']
    cr_c1.notna()
    months_between(diagnosis_date, first_dose_date) > 18

An expression is parsed into Python's syntax tree (``ast.parse`` only parses; nothing is executed) and then
interpreted here node by node over the columns of a table. Only the constructs listed below are accepted;
anything else (attribute access, subscripts, lambdas, comprehensions, names that are not columns, calls of
functions not listed) is refused when the expression is compiled, with the offending piece named. So a study
file can never run code, read files or reach the interpreter.

Accepted
--------
* literals: numbers, ``'text'``, ``True``, ``False``, ``None``; lists / tuples of literals after ``in``;
* column names;
* comparisons ``== != < <= > >=`` (chains such as ``1 <= age < 18`` too), ``in [...]``, ``not in [...]``;
* ``and``, ``or``, ``not`` with three-valued (Kleene) logic: a comparison with a missing value is
  *missing*, ``False and missing`` is ``False``, ``True or missing`` is ``True``;
* arithmetic ``+ - * /`` and unary minus on numbers;
* functions: ``isna(x)``, ``notna(x)`` (also written ``x.isna()``, ``x.notna()``), ``days_between(a, b)``,
  ``months_between(a, b)``, ``years_between(a, b)`` (completed years, as an age), ``coalesce(a, b, ...)``.

A condition used to select rows (:meth:`Expression.mask`) is true only where it is true: a missing result
selects nothing, so "a missing value makes the condition false".
"""

from __future__ import annotations

import ast
import datetime as dt
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DAYS_PER_MONTH", "Expression", "ExpressionError", "compile_expression"]

#: Mean month length in days (365.25 / 12), the default of ``months_between``.
DAYS_PER_MONTH = 365.25 / 12

#: Longest expression accepted (a bound on parsing work; study expressions are one line).
MAX_LENGTH = 2000
#: Deepest nesting accepted.
MAX_DEPTH = 40


class ExpressionError(ValueError):
    """An expression that is not valid in the language, or that cannot be evaluated on a table."""


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}
_SYMBOL = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
           ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
#: Functions: name -> (smallest, largest number of arguments).
FUNCTIONS: dict[str, tuple[int, int]] = {
    "isna": (1, 1), "notna": (1, 1), "days_between": (2, 2), "months_between": (2, 3),
    "years_between": (2, 2), "coalesce": (1, 20),
}
_METHODS = ("isna", "notna")


def _is_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (str, int, float, bool)))


def _check(node: ast.AST, text: str, names: set[str], depth: int = 0) -> None:
    """Refuse every construct outside the language; collect the column names used."""
    if depth > MAX_DEPTH:
        raise ExpressionError(f"expression {text!r} is nested too deeply (more than {MAX_DEPTH} levels)")
    piece = ast.get_source_segment(text, node) or type(node).__name__
    if isinstance(node, ast.Expression):
        _check(node.body, text, names, depth + 1)
    elif isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, text, names, depth + 1)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
        _check(node.operand, text, names, depth + 1)
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        _check(node.left, text, names, depth + 1)
        _check(node.right, text, names, depth + 1)
    elif isinstance(node, ast.Compare):
        _check(node.left, text, names, depth + 1)
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                if not (isinstance(right, (ast.List, ast.Tuple)) and all(_is_literal(e) for e in right.elts)):
                    raise ExpressionError(f"expression {text!r}: 'in' needs a list of values, e.g. "
                                          f"x in ['a', 'b'] (got {ast.get_source_segment(text, right)!r})")
            elif type(op) in _COMPARE:
                _check(right, text, names, depth + 1)
            else:
                raise ExpressionError(f"expression {text!r}: comparison {type(op).__name__} is not allowed")
    elif isinstance(node, ast.Name):
        names.add(node.id)
    elif _is_literal(node):
        pass
    elif isinstance(node, ast.Call) and not node.keywords:
        func = node.func
        if isinstance(func, ast.Name) and func.id in FUNCTIONS:
            lo, hi = FUNCTIONS[func.id]
            if not lo <= len(node.args) <= hi:
                want = str(lo) if lo == hi else f"{lo} to {hi}"
                raise ExpressionError(f"expression {text!r}: {func.id}() takes {want} argument(s), "
                                      f"got {len(node.args)}")
            for a in node.args:
                _check(a, text, names, depth + 1)
        elif isinstance(func, ast.Attribute) and func.attr in _METHODS and not node.args:
            _check(func.value, text, names, depth + 1)
        else:
            allowed = ", ".join([*FUNCTIONS, *(f"x.{m}()" for m in _METHODS)])
            raise ExpressionError(f"expression {text!r}: {piece!r} is not an allowed function (allowed: {allowed})")
    else:
        raise ExpressionError(f"expression {text!r}: {piece!r} is not allowed in an expression (allowed: "
                              "column names, literals, comparisons, in [...], and/or/not, + - * /, functions)")


@dataclass(frozen=True)
class Expression:
    """A compiled expression: its text, syntax tree and the column names it uses."""

    text: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, df: pd.DataFrame, constants: Mapping[str, Any] | None = None) -> pd.Series:
        """The value of the expression on every row of ``df`` (a pandas Series; missing where undefined).

        ``constants`` gives names that are not columns (e.g. a study's data cut-off date).
        """
        import pandas as pd

        if not self.text.strip():
            return pd.Series(True, index=df.index, dtype="boolean")
        env = _Env(df, dict(constants or {}), self.text)
        unknown = sorted(n for n in self.names if n not in df.columns and n not in env.constants)
        if unknown:
            cols = ", ".join(map(str, df.columns))
            raise ExpressionError(f"expression {self.text!r} names {', '.join(repr(u) for u in unknown)}, which "
                                  f"{'is' if len(unknown) == 1 else 'are'} not a column; columns are: {cols}")
        value = env.eval(self.tree.body)
        if not isinstance(value, pd.Series):
            value = pd.Series([value] * len(df), index=df.index)
        return value

    def mask(self, df: pd.DataFrame, constants: Mapping[str, Any] | None = None) -> pd.Series:
        """Rows where the condition is true (missing and false select nothing), as a bool Series."""
        value = self.evaluate(df, constants)
        return _as_boolean(value, self.text, "the expression").fillna(False).astype(bool)


def compile_expression(text: str) -> Expression:
    """Parse and check ``text``; raise :class:`ExpressionError` naming what is not allowed."""
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be text, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression of {len(text)} characters is longer than {MAX_LENGTH}")
    if not text.strip():
        return Expression(text, ast.Expression(body=ast.Constant(True)), frozenset())
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        where = f" at character {exc.offset}" if exc.offset else ""
        raise ExpressionError(f"expression {text!r} is not valid{where}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"expression {text!r} cannot be read: {exc}") from None
    names: set[str] = set()
    _check(tree, text.strip(), names)
    return Expression(text.strip(), tree, frozenset(names))


# ----------------------------------------------------------------------------------------- evaluation


def _missing(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, pd.Series):
        return value.isna()
    return not isinstance(value, (list, tuple)) and bool(pd.isna(value))


def _as_boolean(value: Any, text: str, what: str) -> pd.Series:
    """A yes/no value as a nullable boolean Series (``True``/``False``/missing; nothing else accepted)."""
    import pandas as pd

    if isinstance(value, pd.Series):
        if str(value.dtype) == "boolean":
            return value
        if value.dtype == bool:
            return value.astype("boolean")
        miss = value.isna()
        present = value[~miss]
        if len(present) and pd.api.types.infer_dtype(present, skipna=True) != "boolean":
            bad = present[~present.isin([True, False]) | present.map(type).isin([int, float, str])].iloc[0]
            raise ExpressionError(f"expression {text!r}: {what} is not yes/no (value {bad!r})")
        out = pd.Series(pd.NA, index=value.index, dtype="boolean")
        out[~miss] = present.astype(bool)
        return out
    if value is None:
        return pd.Series([pd.NA], dtype="boolean")
    if isinstance(value, bool):
        return pd.Series([value], dtype="boolean")
    raise ExpressionError(f"expression {text!r}: {what} is not yes/no (value {value!r})")


class _Env:
    def __init__(self, df: pd.DataFrame, constants: dict[str, Any], text: str) -> None:
        self.df = df
        self.constants = constants
        self.text = text

    def _series(self, value: Any) -> pd.Series:
        import pandas as pd

        if isinstance(value, pd.Series):
            return value
        return pd.Series([value] * len(self.df), index=self.df.index, dtype=object)

    def _bool(self, node: ast.AST) -> pd.Series:
        value = self.eval(node)
        piece = ast.get_source_segment(self.text, node) or "a term"
        b = _as_boolean(value, self.text, repr(piece))
        if len(b) != len(self.df):
            b = self._series(None if b.isna().all() else bool(b.iloc[0])).astype("boolean")
        return b

    def eval(self, node: ast.AST) -> Any:  # noqa: C901 - one branch per construct of the language
        import pandas as pd

        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.df.columns:
                return self.df[node.id]
            return self.constants[node.id]
        if isinstance(node, ast.BoolOp):
            parts = [self._bool(v) for v in node.values]
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if isinstance(node.op, ast.And) else (out | p)
            return out
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return ~self._bool(node.operand)
            v = self.eval(node.operand)
            return -self._number(v, node.operand) if isinstance(node.op, ast.USub) else self._number(v, node.operand)
        if isinstance(node, ast.BinOp):
            a, b = self._number(self.eval(node.left), node.left), self._number(self.eval(node.right), node.right)
            with _quiet():
                return _ARITH[type(node.op)](a, b)
        if isinstance(node, ast.Compare):
            left = self.eval(node.left)
            result: pd.Series | None = None
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, (ast.In, ast.NotIn)):
                    values = [e.value for e in right_node.elts]  # type: ignore[attr-defined]
                    s = self._series(left)
                    hit = s.isin(values).astype("boolean")
                    hit[s.isna()] = pd.NA
                    step = hit if isinstance(op, ast.In) else ~hit
                    right: Any = None
                else:
                    right = self.eval(right_node)
                    step = self._compare(op, left, right, node)
                result = step if result is None else (result & step)
                left = right
            return result
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                return self._call(node.func.attr, [self.eval(node.func.value)])
            return self._call(node.func.id, [self.eval(a) for a in node.args])  # type: ignore[attr-defined]
        raise ExpressionError(f"expression {self.text!r}: cannot evaluate {type(node).__name__}")  # pragma: no cover

    def _number(self, value: Any, node: ast.AST) -> Any:
        import pandas as pd

        if isinstance(value, pd.Series):
            is_bool = value.dtype == bool or str(value.dtype) == "boolean"
            if pd.api.types.is_numeric_dtype(value.dtype) and not is_bool:
                return value.astype(float)
            conv = pd.to_numeric(value, errors="coerce") if not is_bool else value.where(value.isna(), float("nan"))
            bad = value.notna() & conv.isna()
            if bool(bad.any()):
                piece = ast.get_source_segment(self.text, node)
                raise ExpressionError(f"expression {self.text!r}: {piece!r} is not a number "
                                      f"(value {value[bad].iloc[0]!r})")
            return conv.astype(float)
        if value is None:
            return float("nan")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            piece = ast.get_source_segment(self.text, node)
            raise ExpressionError(f"expression {self.text!r}: {piece!r} is not a number (value {value!r})")
        return float(value)

    def _compare(self, op: ast.cmpop, left: Any, right: Any, node: ast.AST) -> pd.Series:
        """``left op right`` row by row (vectorised); missing where either side is missing."""
        import pandas as pd

        a = self._series(left)
        miss = a.isna()
        if isinstance(right, pd.Series):
            miss = miss | right.isna()
        elif _missing(right):
            return pd.Series(pd.NA, index=a.index, dtype="boolean")
        try:
            with _quiet():
                raw = _COMPARE[type(op)](a, right)
        except TypeError:
            piece = ast.get_source_segment(self.text, node)
            raise ExpressionError(f"expression {self.text!r}: {piece!r} compares values of different kinds "
                                  "(text with a number?)") from None
        out = pd.Series(pd.array(raw, dtype="boolean"), index=a.index).fillna(False)
        out[miss.to_numpy()] = pd.NA
        return out

    def _call(self, name: str, args: list[Any]) -> Any:
        if name in ("isna", "notna"):
            s = self._series(args[0])
            return (s.isna() if name == "isna" else s.notna()).astype("boolean")
        if name == "coalesce":
            out = self._series(args[0]).astype(object)
            for a in args[1:]:
                out = out.where(out.notna(), self._series(a).astype(object))
            return out
        a, b = (_dates(self._series(x), self.text, name) for x in args[:2])
        days = (b - a).dt.days.astype(float)
        if name == "days_between":
            return days
        if name == "months_between":
            per = self._number(args[2], ast.Constant(0)) if len(args) > 2 else DAYS_PER_MONTH
            return days / per
        # completed years (an age): years of b minus years of a, less one before the anniversary
        years = (b.dt.year - a.dt.year).astype(float)
        before = (b.dt.month < a.dt.month) | ((b.dt.month == a.dt.month) & (b.dt.day < a.dt.day))
        return years - before.astype(float).where(years.notna())


def _dates(value: Any, text: str, fn: str) -> pd.Series:
    import pandas as pd

    if isinstance(value, pd.Series):
        if pd.api.types.is_datetime64_any_dtype(value.dtype):
            return value
        conv = pd.to_datetime(value.map(lambda v: v.isoformat() if isinstance(v, dt.date) else v),
                              errors="coerce", format="ISO8601")
        bad = value.notna() & conv.isna()
        if bool(bad.any()):
            raise ExpressionError(f"expression {text!r}: {fn}() needs dates (value {value[bad].iloc[0]!r})")
        return conv
    raise ExpressionError(f"expression {text!r}: {fn}() needs dates (value {value!r})")  # pragma: no cover


def _quiet() -> Any:
    """numpy's warnings for division by zero and invalid values silenced (results are missing / inf)."""
    import numpy as np

    return np.errstate(divide="ignore", invalid="ignore")
