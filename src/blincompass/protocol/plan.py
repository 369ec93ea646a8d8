"""A protocol read against its data dictionary: every name resolved, the derivation order fixed.

:func:`resolve` is run when a study package is loaded, so a protocol that names a form, column or variable
that does not exist, or whose derived variables depend on each other in a circle, is refused before any
data are read, with one message naming the protocol entry, the bad name and the names available.

Patient-level names (what expressions, eligibility criteria, endpoints and analyses see):

* every variable of the *one-row forms* (forms keyed by the patient id alone, such as ``patients`` and
  ``outcomes``), by its plain name (the first form listed wins when two forms share a name);
* every ``[[derived]]`` variable; a derived variable may have the name of a form variable, and then
  replaces it for everything else (its own derivation still reads the form variable);
* ``eligible`` (after screening).

The patient-level table (ADSL) holds the patient id, the centre (when the patient form has one),
``eligible``, ``exclusion_step``, ``exclusion_reason`` and the derived variables with ``keep = true``.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from blincompass.dictionary import DataDictionary, Form
from blincompass.expr import compile_expression
from blincompass.protocol.derived import Derived
from blincompass.protocol.functions import FUNCTIONS, function_variables
from blincompass.protocol.model import Protocol, ProtocolError

__all__ = ["SCREENING_COLUMNS", "Plan", "patient_keys", "resolve"]

#: Columns the eligibility screening adds to the patient-level table.
SCREENING_COLUMNS: tuple[str, ...] = ("eligible", "exclusion_step", "exclusion_reason")


def patient_keys(dictionary: DataDictionary) -> tuple[str, str, str | None]:
    """(patient form, patient id variable, centre variable or ``None``) of a dictionary."""
    return dictionary.patient_form.name, dictionary.patient_id, dictionary.centre


def _columns(form: Form) -> list[str]:
    """The DataFrame columns of a form (an mrd variable adds ``<name>_status``; an AE term adds
    ``<name>_ctcae`` and ``<name>_status``), as blincompass.io.dataset lays them out."""
    out: list[str] = []
    for v in form.variables:
        out.append(v.name)
        if v.type == "mrd":
            out.append(f"{v.name}_status")
        elif v.type == "ctcae_term":
            out += [f"{v.name}_ctcae", f"{v.name}_status"]
    return out


@dataclass(frozen=True)
class Plan:
    """The resolved protocol: derivation order, where each patient-level name comes from, ADSL columns."""

    patient_form: str
    patient_id: str
    centre: str | None
    one_row_forms: tuple[str, ...]
    base: dict[str, tuple[str, str]]
    order: tuple[Derived, ...]
    adsl_columns: tuple[str, ...]
    source: dict[str, tuple[str, str]] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Every patient-level name (form variables of one-row forms, derived variables, ``eligible``)."""
        return sorted(set(self.base) | {d.name for d in self.order} | {"eligible"})


def _fail(protocol: Protocol, message: str) -> ProtocolError:
    return ProtocolError(f"{protocol.source}: {message}")


def _available(names: object) -> str:
    items = sorted(names)  # type: ignore[call-overload]
    shown = ", ".join(items[:60])
    return shown + (f", ... ({len(items)} in all)" if len(items) > 60 else "")


def resolve(dictionary: DataDictionary, protocol: Protocol) -> Plan:  # noqa: C901 - one check per protocol part
    """Resolve ``protocol`` against ``dictionary``; raise :class:`ProtocolError` naming the first problem."""
    pform, pid, centre = patient_keys(dictionary)
    forms = {f.name: f for f in dictionary.forms}
    one_row = tuple(f.name for f in dictionary.forms if dictionary.is_patient_level(f.name))
    base: dict[str, tuple[str, str]] = {}
    for name in (pform, *[f for f in one_row if f != pform]):
        for col in _columns(forms[name]):
            base.setdefault(col, (name, col))
    derived = {d.name: d for d in protocol.derived}
    known = set(base) | set(derived)

    def need(name: str, where: str, pool: set[str] | None = None) -> None:
        pool = known if pool is None else pool
        if name not in pool:
            raise _fail(protocol, f"{where}: {name!r} is not a patient-level variable; available: "
                                  f"{_available(pool)}")

    def form_of(d: Derived, name: str | None, where: str) -> Form:
        if name not in forms:
            raise _fail(protocol, f"derived {d.name}.{where}: form {name!r} is not in the data dictionary; forms "
                                  f"are: {', '.join(forms)}")
        return forms[name]

    def column(d: Derived, f: Form, col: str | None, where: str) -> None:
        if col not in _columns(f):
            raise _fail(protocol, f"derived {d.name}.{where}: {col!r} is not a column of form {f.name}; its "
                                  f"columns are: {', '.join(_columns(f))}")

    def condition(d: Derived, f: Form, text: str | None, where: str) -> None:
        if text:
            for n in sorted(compile_expression(text).names):
                column(d, f, n, where)

    deps: dict[str, set[str]] = {}
    source: dict[str, tuple[str, str]] = {}
    for d in protocol.derived:
        uses: set[str] = set()
        if d.kind == "copy":
            if d.from_:
                form_name, _, var = d.from_.partition(".")
                if form_name not in one_row:
                    raise _fail(protocol, f"derived {d.name}.from: {d.from_!r}: {form_name!r} is not a one-row "
                                          f"form (one-row forms: {', '.join(one_row)})")
                column(d, forms[form_name], var, "from")
                source[d.name] = (form_name, var)
            else:
                if d.name not in base:
                    raise _fail(protocol, f"derived {d.name} (kind copy) has no from, and no one-row form has a "
                                          f"variable {d.name!r}; give from = \"form.variable\"")
                source[d.name] = base[d.name]
        elif d.kind in ("first", "last", "min", "max", "sum", "count", "any"):
            f = form_of(d, d.form, "form")
            if d.value:
                column(d, f, d.value, "value")
            if d.order_by:
                column(d, f, d.order_by, "order_by")
            condition(d, f, d.where, "where")
        elif d.kind == "function":
            sig = FUNCTIONS[d.function or ""][1]
            f = None
            if "form" in d.args:
                f = form_of(d, d.args["form"], "args.form")
            for arg, value in d.args.items():
                kind = sig[arg].kind
                if kind == "column" and f is not None:
                    column(d, f, value, f"args.{arg}")
                elif kind == "condition" and f is not None:
                    condition(d, f, value, f"args.{arg}")
                elif kind == "methods" and f is not None:
                    for m in value:
                        column(d, f, m["column"], f"args.{arg}")
                        column(d, f, f"{m['column']}_status", f"args.{arg}")
            uses |= set(function_variables(d.function or "", d.args))
        uses |= set(d.patient_names())
        for n in sorted(uses):
            if n == d.name and n in base:
                continue  # a derivation reading the form variable it replaces
            need(n, f"derived {d.name}")
        deps[d.name] = {n for n in uses if n in derived and n != d.name}
        if d.kind == "label" and d.variable in derived and not derived[d.variable].level_labels():
            raise _fail(protocol, f"derived {d.name}: {d.variable!r} has no levels to label (give it levels or codes)")

    # Kahn's algorithm; among the ready variables the one declared first goes first.
    pos = {d.name: i for i, d in enumerate(protocol.derived)}
    waiting = {n: set(v) for n, v in deps.items()}
    users: dict[str, list[str]] = {n: [] for n in deps}
    for n, v in deps.items():
        for m in v:
            users[m].append(n)
    ready = [pos[n] for n, v in waiting.items() if not v]
    heapq.heapify(ready)
    order: list[Derived] = []
    while ready:
        d = protocol.derived[heapq.heappop(ready)]
        order.append(d)
        for u in users[d.name]:
            waiting[u].discard(d.name)
            if not waiting[u]:
                heapq.heappush(ready, pos[u])
    if len(order) != len(protocol.derived):
        stuck = sorted((n for n, v in waiting.items() if v), key=pos.__getitem__)
        raise _fail(protocol, f"derived variables depend on each other in a circle: {', '.join(stuck)}")

    adsl = [pid] + ([centre] if centre else []) + list(SCREENING_COLUMNS)
    adsl += [d.name for d in protocol.derived if d.keep and d.name not in adsl]
    patient_level = known | {"eligible"}
    for c in protocol.eligibility.criteria:
        need(c.variable, f"eligibility criterion {c.id}", known)
    for e in protocol.endpoints:
        for n in sorted(compile_expression(e.population).names):
            need(n, f"endpoint {e.paramcd}.population", patient_level)
        if e.time is not None:
            need(e.time, f"endpoint {e.paramcd}.time", set(adsl))
            for ev in e.events:
                for n in sorted(compile_expression(ev.when or "").names):
                    need(n, f"endpoint {e.paramcd} event {ev.cause}.when", set(adsl))
            continue
        need(e.origin or "", f"endpoint {e.paramcd}.origin")
        need(e.censor or "", f"endpoint {e.paramcd}.censor")
        for ev in (*e.events, *e.censor_at):
            need(ev.date or "", f"endpoint {e.paramcd} event {ev.cause}")
    if protocol.adtte.stratum:
        need(protocol.adtte.stratum, "adtte.stratum", set(adsl))
    cols = set(adsl)
    a = protocol.analyses
    for an in (*a.survival, *a.proportions, *a.competing):
        for key in ("population", "group", "strata", "outcome"):
            value = getattr(an, key, None)
            if value:
                need(value, f"analyses {an.id}.{key}", cols)
    for t in a.timedep:
        for key in ("population", "exposure", "exposure_date"):
            value = getattr(t, key, None)
            if value:
                need(value, f"analyses {t.id}.{key}", cols)
    if protocol.report.table1_group:
        need(protocol.report.table1_group, "report.table1_group", cols)
    for row in protocol.report.table1:
        if row.variable:
            need(row.variable, f"report.table1 {row.id}.variable", cols)
        src = row.codes_from or ""
        if src.startswith("derived."):
            name = src.split(".", 1)[1]
            if name not in derived or not derived[name].level_labels():
                with_levels = sorted(n for n, d in derived.items() if d.level_labels())
                raise _fail(protocol, f"report.table1 {row.id}.codes_from: {src!r} is not a derived variable with "
                                      f"levels; those are: {', '.join(with_levels) or 'none'}")
        elif src:
            form_name, _, var = src.partition(".")
            if form_name not in forms or var not in forms[form_name].columns:
                raise _fail(protocol, f"report.table1 {row.id}.codes_from: {src!r} is not form.variable of the "
                                      "data dictionary nor derived.<name>")
        for key in row.where:
            need(key, f"report.table1 {row.id}.where", cols)
        for sub in row.subrows:
            for key in sub.where:
                need(key, f"report.table1 {row.id}.subrows {sub.id}.where", cols)
    for item in protocol.report.response:
        alt = item.alternative
        for text, what in ((item.yes, "yes"), (item.evaluable, "evaluable"),
                           *(((alt.yes, "alternative.yes"), (alt.evaluable, "alternative.evaluable")) if alt else ())):
            for n in sorted(compile_expression(text).names):
                need(n, f"report.response {item.id}.{what}", cols)
    return Plan(pform, pid, centre, one_row, base, tuple(order), tuple(adsl), source)


def code_labels(dictionary: DataDictionary, protocol: Protocol, plan: Plan, name: str) -> dict[str, str]:
    """Labels of the values of patient-level variable ``name``, keyed as analyses key them (text;
    booleans lower-case): a derived variable's levels or codes, else the dictionary codes of the form
    variable it is (or copies)."""
    d = protocol.derivation(name)
    pairs: list[tuple[object, str]] = []
    if d is not None:
        pairs = list(protocol.levels(name))
    source = plan.source.get(name) or (plan.base.get(name) if d is None else None)
    if d is not None and d.kind in ("first", "last", "min", "max") and d.form and d.value:
        source = (d.form, d.value)  # the value of a form's coded column keeps its codes
    if not pairs and source is not None:
        form, col = source
        try:
            var = dictionary.form(form).variable(col)
        except KeyError:
            var = None
        if var is not None and var.type == "code":
            pairs = [(c.code, c.label) for c in var.codes]
    return {(str(k).lower() if isinstance(k, bool) else str(k)): v for k, v in pairs}


def with_code_labels(dictionary: DataDictionary, protocol: Protocol, plan: Plan | None = None) -> Protocol:
    """``protocol`` with every analysis's missing group labels taken from the codes of its group variable
    (labels the protocol gives are kept), and, for a group variable cut into levels, the groups in the
    order of the levels when the analysis gives no ``order``."""
    plan = plan or resolve(dictionary, protocol)
    a = protocol.analyses

    def fill(items: tuple) -> tuple:  # type: ignore[type-arg]
        out = []
        for an in items:
            group = getattr(an, "group", None)
            if group:
                labels = {**code_labels(dictionary, protocol, plan, group), **an.labels}
                update: dict[str, object] = {}
                if labels != an.labels:
                    update["labels"] = labels
                d = protocol.derivation(group)
                if an.order is None and d is not None and d.kind == "cut":
                    update["order"] = tuple(lv.id for lv in d.levels)
                if update:
                    an = an.model_copy(update=update)
            out.append(an)
        return tuple(out)

    analyses = a.model_copy(update={"survival": fill(a.survival), "proportions": fill(a.proportions),
                                    "competing": fill(a.competing)})
    return protocol.model_copy(update={"analyses": analyses})
