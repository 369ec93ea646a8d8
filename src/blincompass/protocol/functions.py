"""Signatures of the derivation functions a protocol may call (``kind = "function"``).

The functions themselves live in :mod:`blincompass.derive.functions`; their signatures are data here so a
protocol is checked when it is loaded: an unknown function, a missing or unknown argument, or an argument of
the wrong kind is a :class:`~blincompass.protocol.ProtocolError` naming the derived variable.

Argument kinds:

``variable``   a patient-level variable (a form variable of a one-row form or a derived variable)
``form``       a repeating form of the dictionary
``column``     a column of the form given in ``form``
``condition``  an expression on the columns of ``form`` (docs/expressions.md)
``number``, ``integer``, ``text``, ``texts`` (a list of text), ``mapping`` (a table of text to text),
``methods``    a list of ``{ column, name }`` tables: MRD methods in precedence order
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FUNCTIONS", "Arg", "check_function_args", "function_variables"]


@dataclass(frozen=True)
class Arg:
    kind: str
    required: bool = True
    choices: tuple[str, ...] = ()
    doc: str = ""


_METHODS = Arg("methods", doc="MRD methods in precedence order: [{ column, name }]; the status column of an "
                              "mrd variable is <column>_status")

#: name -> (summary, arguments)
FUNCTIONS: dict[str, tuple[str, dict[str, Arg]]] = {
    "mrd_status": (
        "MRD status (negative / positive / unknown) or the method that decided it, at the first row of `form` "
        "where `where` holds; the first method with a result decides",
        {"form": Arg("form"), "where": Arg("condition", required=False), "methods": _METHODS,
         "negative_below": Arg("number"), "output": Arg("text", required=False, choices=("status", "method"))},
    ),
    "complete_remission": (
        "Morphological complete remission: `blasts` below `below` (%); missing blasts not evaluable, except "
        "after progression on treatment (`progressed`), which is no CR",
        {"blasts": Arg("variable"), "below": Arg("number"), "progressed": Arg("variable", required=False)},
    ),
    "response_by_stratum": (
        "Response as `rules` defines it for the patient's `stratum`: \"cr\" = CR, \"mrd_negative\" = CR with "
        "negative MRD; progression on treatment is no response",
        {"cr": Arg("variable"), "mrd": Arg("variable"), "stratum": Arg("variable"), "rules": Arg("mapping"),
         "progressed": Arg("variable", required=False)},
    ),
    "best_response": (
        "Best response over the assessments at `timepoints` (CR with negative / positive / unknown MRD, no CR)",
        {"form": Arg("form"), "timepoint": Arg("column"), "timepoints": Arg("texts"), "blasts": Arg("column"),
         "cr_below": Arg("number"), "methods": _METHODS, "negative_below": Arg("number")},
    ),
    "early_relapse": (
        "Relapse of a responder during the first `max_course` courses or within `days_after` days after the "
        "end of the last of them, before any HSCT",
        {"relapse_date": Arg("variable"), "hsct_date": Arg("variable"), "responded": Arg("variable"),
         "form": Arg("form"), "number": Arg("column"), "end": Arg("column"), "max_course": Arg("integer"),
         "days_after": Arg("integer")},
    ),
    "sustained_response": (
        "Response still held: `response`, set to no where `early_relapse` holds",
        {"response": Arg("variable"), "early_relapse": Arg("variable")},
    ),
}


def _kind_ok(arg: Arg, value: Any) -> bool:
    if arg.kind in ("variable", "form", "column", "condition", "text"):
        return isinstance(value, str) and bool(value)
    if arg.kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if arg.kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if arg.kind == "texts":
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
    if arg.kind == "mapping":
        return isinstance(value, dict) and bool(value) and all(isinstance(v, str) for v in value.values())
    if arg.kind == "methods":
        return (isinstance(value, list) and bool(value)
                and all(isinstance(m, dict) and set(m) == {"column", "name"} for m in value))
    return False  # pragma: no cover - every kind is listed above


def check_function_args(derived: str, function: str, args: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the derived variable when ``function`` or its ``args`` are not valid."""
    if function not in FUNCTIONS:
        raise ValueError(f"derived {derived}: function {function!r} is unknown; functions are: "
                         f"{', '.join(sorted(FUNCTIONS))}")
    sig = FUNCTIONS[function][1]
    unknown = sorted(set(args) - set(sig))
    if unknown:
        raise ValueError(f"derived {derived}: function {function} has no argument {', '.join(unknown)}; "
                         f"its arguments are: {', '.join(sig)}")
    missing = [a for a, spec in sig.items() if spec.required and a not in args]
    if missing:
        raise ValueError(f"derived {derived}: function {function} needs {', '.join(missing)}")
    for name, value in args.items():
        spec = sig[name]
        if not _kind_ok(spec, value):
            raise ValueError(f"derived {derived}: argument {name} = {value!r} of function {function} must be "
                             f"a {spec.kind}" + (f" ({spec.doc})" if spec.doc else ""))
        if spec.choices and value not in spec.choices:
            raise ValueError(f"derived {derived}: argument {name} = {value!r} of function {function} must be "
                             f"one of {', '.join(spec.choices)}")


def function_variables(function: str, args: dict[str, Any]) -> list[str]:
    """The patient-level variables a function call reads (its ``variable`` arguments)."""
    sig = FUNCTIONS.get(function, ("", {}))[1]
    return [v for a, v in args.items() if a in sig and sig[a].kind == "variable"]
