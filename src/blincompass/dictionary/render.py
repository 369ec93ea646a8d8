"""Render the data dictionary as Markdown (docs/data-dictionary.md).

The document has one table per form, the conventions (types, missing values, MRD), the map from the
publication's Table 1, Table 2 and section 3.3 to variables (``data/paper_map.toml``) and the adverse-event
term mapping (``data/ae_terms.toml``). Output depends only on the shipped data files (deterministic).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from blincompass.dictionary.checks import (
    CHECK_FUNCTIONS,
    Clause,
    FunctionCheck,
    NumberingCheck,
    OrderCheck,
    ReferenceCheck,
    RequiresCheck,
    SequenceCheck,
    WithinCheck,
)
from blincompass.dictionary.ctcae import reported_terms, resolve_term
from blincompass.dictionary.model import MRD_CODES, UNKNOWN, DataDictionary, Variable, load_dictionary

_TYPES = {
    "string": "free text (stray spaces trimmed)",
    "integer": "whole number (2.0 from Excel accepted)",
    "number": "real number (decimal point or decimal comma; no thousands separator; '%' accepted for % units; "
    "an Excel cell formatted as a percentage is read as displayed)",
    "date": "calendar date: yyyy-mm-dd, dd/mm/yyyy (day first), dd.mm.yyyy, dd-mm-yyyy, yyyy/mm/dd, yyyymmdd, "
    "'5 Mar 2019' / '5 marzo 2019', Excel date cell or Excel serial number",
    "code": "one of the listed codes (code, label or alias, any case)",
    "boolean": "yes / no",
    "mrd": "MRD level as a fraction in [0, 1] (0.0012, 1.2e-3, 1x10-4, 0.12 %), or NEG / PNQ / ND",
    "ctcae_term": "CTCAE v4.03 term, or a term as reported (kept, mapped where a mapping exists)",
}


def load_paper_map() -> dict[str, list[dict[str, Any]]]:
    """The publication-to-variable map (``table1``, ``table2``, ``section33`` entries)."""
    text = resources.files("blincompass.dictionary").joinpath("data/paper_map.toml").read_text("utf-8")
    return tomllib.loads(text)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def _required(var: Variable) -> str:
    if var.required:
        return "yes"
    if var.required_if is not None:
        return f"if {var.required_if.describe()}"
    return "no"


def _allowed(var: Variable) -> str:
    if var.type == "code":
        parts = []
        for c in var.codes:
            alias = f" (also: {', '.join(c.aliases)})" if c.aliases else ""
            parts.append(f"`{c.code}` = {c.label}{alias}")
        if var.allow_unknown and UNKNOWN not in {c.code for c in var.codes}:
            parts.append(f"`{UNKNOWN}` = Unknown")
        return "<br>".join(parts)
    if var.type == "boolean":
        return "yes / no"
    if var.type == "mrd":
        return "level in [0, 1]<br>" + "<br>".join(f"`{k}` = {v}" for k, v in MRD_CODES.items())
    if var.allow_unknown:
        return f"`{UNKNOWN}` = Unknown"
    return ""


def _type(var: Variable) -> str:
    t = var.type
    if var.min is not None or var.max is not None:
        lo = "" if var.min is None else f"{var.min:g}"
        hi = "" if var.max is None else f"{var.max:g}"
        t += f" [{lo}, {hi}]"
    if var.earliest is not None or var.latest is not None:
        lo = "" if var.earliest is None else var.earliest.isoformat()
        hi = "" if var.latest is None else var.latest.isoformat()
        t += f" [{lo}, {hi}]"
    if var.pattern:
        t += f"<br>pattern `{var.pattern}`"
    if var.references:
        t += f"<br>references {var.references}"
    return t


_ROWS = {"one": "exactly one", "at_most_one": "at most one", "at_least_one": "at least one", "any": "any number"}


def _clause(cl: Clause | None) -> str:
    return "" if cl is None else cl.describe()


def describe_check(c: object, d: DataDictionary) -> str:
    """One check declaration in words (for the document)."""
    if isinstance(c, OrderCheck):
        what = "strictly before" if c.strict else "on or before"
        text = f"{c.earlier.describe()} {what} {c.later.describe()}"
    elif isinstance(c, WithinCheck):
        days = "the default 60" if c.max_days is None else str(c.max_days)
        text = f"{c.later.describe()} at most {days} days after {c.earlier.describe()}"
    elif isinstance(c, NumberingCheck):
        text = f"`{c.field}` numbered {c.start}, {c.start + 1}, ... without gaps for each patient"
    elif isinstance(c, SequenceCheck):
        after = f"`{c.start}` and `{c.end}`" if c.end else f"`{c.start}`"
        text = f"rows in the order of `{c.order_by}`: each `{c.start}` after the previous row's {after}"
    elif isinstance(c, ReferenceCheck):
        text = f"`{c.field}` is one of the patient's `{c.target}`"
    elif isinstance(c, RequiresCheck):
        text = (f"where {c.when.describe()}: " if c.when is not None else "") + f"requires {c.then.describe()}"
    elif isinstance(c, FunctionCheck):
        args = ", ".join(f"{k} = {v}" for k, v in c.args.items())
        return f"function `{c.function}` ({args}): {CHECK_FUNCTIONS[c.function][1]}"
    else:  # pragma: no cover - every kind is handled above
        raise TypeError(type(c).__name__)
    cond = getattr(c, "where", None)
    if cond is not None:
        text += f" (rows where {_clause(cond)})"
    unless = getattr(c, "unless", ())
    if unless:
        text += f" (not where check {', '.join(unless)} already reports the row)"
    return text


_FORMAT = """\
The dictionary is a TOML file: `[meta]`, one `[[forms]]` table per form with its `[[forms.variables]]`, and
the cross-form `[[checks]]`. A minimal `[meta]` is `name = "..."`; every other key has a default.

| `[meta]` key | Meaning | Default | This dictionary |
|---|---|---|---|
{meta_rows}

A form has `name`, `label`, `description`, `key` (the variables that identify a row) and
`rows_per_patient`: `one`, `at_most_one`, `at_least_one` or `any` (default: `one` for the patient form,
`at_most_one` for a form keyed by the patient identifier alone, `any` otherwise). A patient without a row
in a form that needs one is an error `patient.<form>` (message: the form's `rows_message`, placeholders
`{{patient}}`, `{{form}}`). A variable has `name`, `label`, `type`, `required` or `required_if`, `codes`,
`allow_unknown`, `unit`, `min` / `max` (numbers), `earliest` / `latest` (dates: the variable's own
plausibility window), `pattern`, `references`, `paper` and `note`. A column that is not in the dictionary
is reported (`column.unknown`).

Every row of a form other than the patient form must belong to a patient of the patient form
(`reference`). A cross-form check (`[[checks]]`) names the form whose rows it checks (`form`, findings
are reported on its rows), a stable `rule` identifier, a `severity` (`error`, `warning` or `info`;
default `error`), an optional `where` condition on the checked row, an optional `id` (for `unless`: skip
the rows that the named check already reports) and a `message` template. Kinds:

| `kind` | Keys | Holds when |
|---|---|---|
| `order` | `earlier`, `later`, `strict`, `at` | `earlier` is on or before `later` (`strict = true`: \
before); a missing side never fails |
| `within` | `earlier`, `later`, `max_days` (default 60), `at` | `later` is at most `max_days` days after `earlier` |
| `numbering` | `field`, `start` (default 1) | the patient's `field` values run `start`, `start + 1`, ... without gaps |
| `sequence` | `order_by`, `start`, `end`, `message_end` | in the order of `order_by`, each row's `start` is \
after the previous row's `start` (`message`) and `end` (`message_end`) |
| `reference` | `field`, `target` (`form.variable`) | `field` is one of the patient's `target` values |
| `requires` | `when`, `then`, `field` | where `when` holds, `then` holds (`field`: the field reported; \
default the patient identifier) |
| `function` | `function`, `args` | a documented check function (below); every field it reads is an argument |

A side of `order` / `within` is `"form.variable"` - the checked row's own value when `form` is the checked
form, otherwise the patient's value in a one-row-per-patient form - or a table: `{{ form, value, pick =
"first" | "last", order_by }}` (the value of the patient's first / last row by `order_by`, ties in file
order), `{{ form, value, pick = "min" | "max" }}`, or `{{ form, value, match = {{ their_field = "our_field"
}} }}` (the patient's row whose fields equal the checked row's). `at` (`earlier` or `later`) names the side
whose field the finding is reported on (default: `later` when it is a value of the checked row). A
condition (`where`, `when`, `then`) is `{{ field = "variable" or "form.variable", in = [...] }}`
(or `not_in`, or `present = true | false`), or `{{ has_row = "form", where = {{ field = ..., in = [...] }} }}`
(the patient has such a row). A missing value is never `in` a list and always `not_in` it. Rows without
a patient identifier take part in no check; in the patient form a patient is its last row, in another
one-row-per-patient form its first row.

Message placeholders: `{{patient}}`, `{{form}}` and every variable of the checked row by name; `order` and
`within`: `{{earlier}}`, `{{later}}`, `{{earlier_name}}`, `{{later_name}}` (`within`: also `{{days}}`,
`{{max_days}}`); `numbering`: `{{value}}`, `{{missing}}`, `{{start}}`; `sequence`: `{{previous.<variable>}}`;
`reference`: `{{value}}`, `{{target}}`. An unknown placeholder is refused when the dictionary is loaded.

Example (a CAR-T study with a repeating `infusions` form):

```toml
[[checks]]
kind = "order"
rule = "chronology.apheresis_before_infusion"
form = "patients"
earlier = "patients.apheresis_date"
later = {{ form = "infusions", value = "infusion_date", pick = "first", order_by = "infusion" }}
at = "earlier"
message = "apheresis ({{earlier}}) is after the first infusion ({{later}})"

[[checks]]
kind = "requires"
rule = "crs.grade5_without_death"
form = "infusions"
when = {{ field = "crs_grade", in = [5] }}
then = {{ field = "patients.death_date", present = true }}
field = "crs_grade"
message = "grade 5 CRS, but patient {{patient}} has no death date"
```

Check functions:

{functions}
"""


def _meta_rows(d: DataDictionary) -> list[str]:
    from blincompass.dictionary.model import Meta

    explain = {
        "name": "study name", "version": "dictionary version",
        "missing_tokens": "texts read as a missing value (case-insensitive)",
        "true_tokens": "texts read as yes", "false_tokens": "texts read as no",
        "patient_form": "the form with one row per patient",
        "patient_id": "the patient identifier's variable (in every form that has one)",
        "centre": "the centre's variable in the patient form (`\"\"` for a single-centre study)",
        "earliest_date": "earliest plausible date (rule `range`)",
        "latest_date": "latest plausible date (rule `range`)",
    }
    rows = []
    for name, info in Meta.model_fields.items():
        default = "(required)" if info.is_required() else info.default
        current = getattr(d.meta, name)

        def show(v: object) -> str:
            if isinstance(v, tuple):
                return ", ".join(f"`{t}`" for t in v if t) or "`\"\"`"
            return f"`{v}`"

        rows.append(f"| `{name}` | {explain.get(name, '')} | "
                    f"{'(required)' if default == '(required)' else _cell(show(default))} | {_cell(show(current))} |")
    return rows


def fmt_vars(entry: dict[str, Any]) -> str:
    return ", ".join(f"`{v}`" for v in entry["variables"])


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def render_markdown(dictionary: DataDictionary | None = None) -> str:
    """The data dictionary as a Markdown document."""
    d = dictionary or load_dictionary()
    pm = load_paper_map()
    lines = [
        f"# {d.meta.name} data dictionary (version {d.meta.version})",
        "",
        "<!-- Generated by `blincompass dictionary --markdown docs/data-dictionary.md` from "
        "src/blincompass/dictionary/data/*.toml. Do not edit by hand. -->",
        "",
        "The data dictionary is the single source of truth for the collection forms: the Excel template, "
        "the reader/validator and this document are generated from it. Each form is one sheet of the "
        "workbook (or one CSV file) named as the form.",
        "",
        "## Conventions",
        "",
    ]
    lines += _table(["Type", "Accepted input"], [[f"`{k}`", v] for k, v in _TYPES.items()])
    missing = ", ".join(f"`{t}`" for t in d.meta.missing_tokens if t)
    lines += [
        "",
        f"- **Missing values**: an empty cell, or one of {missing} (case-insensitive). "
        "Where a variable allows it, `unknown` (also `unk`, `nk`, `not known`) is the code *unknown*, "
        "not a missing value (for the AE grade: an explicit unknown grade).",
        f"- **Yes / no**: {', '.join(f'`{t}`' for t in d.meta.true_tokens)} / "
        f"{', '.join(f'`{t}`' for t in d.meta.false_tokens)}.",
        "- **MRD**: a level is a fraction of cells (0.0012 = 0.12 % = 1.2x10-3). `NEG` = negative, "
        "`PNQ` = positive not quantifiable, `ND` = not done. A threshold such as `<1x10-4` is rejected: "
        "write `NEG` (nothing detected) or `PNQ` (detected below the quantifiable range).",
        "- **Dates** are read day first (dd/mm/yyyy); a date that only makes sense month first is rejected, "
        "never guessed.",
        "",
        "## Forms",
        "",
    ]
    for form in d.forms:
        lines += [
            f"### `{form.name}`: {form.label}",
            "",
            form.description,
            "",
            f"Key: {', '.join(f'`{k}`' for k in form.key)}. Rows per patient: "
            f"{_ROWS[d.rows_per_patient(form.name)]}"
            + (" (the patient form)." if form.name == d.meta.patient_form else "."),
            "",
        ]
        rows = [
            [f"`{v.name}`", v.label, _type(v), v.unit or "", _required(v), _allowed(v), v.paper]
            for v in form.variables
        ]
        lines += _table(["Variable", "Label", "Type", "Unit", "Required", "Allowed values", "Paper"], rows)
        notes = [v for v in form.variables if v.note]
        if notes:
            lines.append("")
            lines += [f"- `{v.name}`: {v.note}" for v in notes]
        lines.append("")

    lines += ["## Cross-form checks", ""]
    lines += [
        "Besides each variable's own checks, every row of another form must belong to a patient of the "
        f"`{d.meta.patient_form}` form (`reference`), and each form has the rows per patient given above "
        "(`patient.<form>`). The dictionary declares these checks (`[[checks]]`, in this order):",
        "",
    ]
    lines += _table(
        ["Rule", "Severity", "Form", "Check"],
        [[f"`{getattr(c, 'rule', None) or c.function}`", c.severity, f"`{c.form}`", describe_check(c, d)]
         for c in d.checks],
    ) if d.checks else ["(none)"]
    functions = "\n".join(f"- `{name}({', '.join(args)})`: {text}" for name, (args, text) in CHECK_FUNCTIONS.items())
    lines += ["", "## Dictionary format", ""]
    lines += _FORMAT.format(meta_rows="\n".join(_meta_rows(d)), functions=functions).splitlines()
    lines.append("")
    if _has_paper_map(d, pm):
        lines += _paper_map_lines(pm)
    if any(v.type == "ctcae_term" for f in d.forms for v in f.variables):
        lines += _ae_term_lines()
    return "\n".join(lines)


def _has_paper_map(d: DataDictionary, pm: dict[str, list[dict[str, Any]]]) -> bool:
    """True when every variable the publication map names is in ``d`` (the BLIN-COMPASS dictionary)."""
    names = {f"{f.name}.{v.name}{suffix}" for f in d.forms for v in f.variables for suffix in ("", "_ctcae")}
    return all(set(e["variables"]) <= names for entries in pm.values() for e in entries)


def _paper_map_lines(pm: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = [
        "## From the publication to the variables",
        "",
        "Which variables serve each row of Table 1 and Table 2 and each count of section 3.3 "
        "(`src/blincompass/dictionary/data/paper_map.toml`). Baseline values come from the assessments "
        "row with `timepoint = baseline`.",
        "",
        "### Table 1 (patient characteristics)",
        "",
    ]
    lines += _table(
        ["Group", "Row", "Published", "Variables", "Derivation"],
        [[e["group"], e["row"], e["published"], fmt_vars(e), e["how"]] for e in pm["table1"]],
    )
    lines += ["", "### Table 2 (adverse events, CTCAE v4.03)", ""]
    lines += _table(
        ["Row", "Published", "Variables", "Derivation"],
        [[e["row"], e["published"], fmt_vars(e), e["how"]] for e in pm["table2"]],
    )
    lines += ["", "### Section 3.3 (treatment outcomes)", ""]
    lines += _table(
        ["Passage", "Published", "Variables", "Derivation"],
        [[e["passage"], e["published"], fmt_vars(e), e["how"]] for e in pm["section33"]],
    )
    return [*lines, ""]


def _ae_term_lines() -> list[str]:
    lines = [
        "## Adverse-event terms",
        "",
        "Reported terms of Table 2 and their relation to CTCAE v4.03 (`data/ae_terms.toml`). Status: "
        "`ctcae` = a CTCAE term; `synonym` = a common name for exactly one CTCAE term; `nearest` = not a "
        "CTCAE term, nearest term chosen by hand; `other` = coded to the SOC's 'Other, specify' term. "
        "Analyses keep the reported term; the validator accepts any other term with a warning.",
        "",
    ]
    rows = []
    for t in reported_terms():
        r = resolve_term(t)
        rows.append([r.reported, r.ctcae_term or "", r.status, r.note or ""])
    lines += _table(["Reported term", "CTCAE v4.03 term", "Status", "Note"], rows)
    lines.append("")
    return lines


def write_markdown(path: str | Path, dictionary: DataDictionary | None = None) -> Path:
    """Write :func:`render_markdown` to ``path`` (UTF-8, LF line endings)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(render_markdown(dictionary))
    return p
