"""Report layout of a study package (``layout.toml``): sections, table and figure numbers, titles, names and
every fixed sentence of the report.

The layout holds the report's wording; the report code holds none of a study's words. Every key is
optional: a package without ``layout.toml`` gets :data:`GENERIC` (neutral wording, tables numbered in the
order they appear, figures numbered by the protocol's figure ids). Texts may name values filled in when the
report is built, written ``{name}`` (a literal brace is doubled: ``{{``); the names are a closed list
(:data:`PLACEHOLDERS`), checked when the file is read. See docs/report.md for every key.

``load_layout(None)`` gives the layout of the built-in study package (``data/blincompass_layout.toml``).
"""

from __future__ import annotations

import re
import string
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "EXTRA_FIGURES",
    "FIGURE_PLACEHOLDERS",
    "GENERIC",
    "PLACEHOLDERS",
    "RESPONSE_PLACEHOLDERS",
    "SECTION_IDS",
    "SECTION_TITLES",
    "TABLE_IDS",
    "TABLE_TITLES",
    "TEXT_DEFAULTS",
    "Layout",
    "LayoutError",
    "fill",
    "load_layout",
    "parse_layout",
]


class LayoutError(ValueError):
    """A layout file that cannot be read or does not follow the layout model (message names file, key,
    bad value and what is allowed)."""


#: The report's sections in their default order, with their default titles.
SECTION_TITLES: dict[str, str] = {
    "data": "Study, data set and protocol",
    "screening": "Screening flow",
    "baseline": "Patient characteristics",
    "safety": "Safety: adverse events",
    "response": "Response",
    "survival": "Survival",
    "tests": "Statistical tests",
    "methods": "Methodological notes",
    "figures": "Figures",
    "published": "Published vs recomputed",
    "statistics": "Statistical methods and references",
}
SECTION_IDS: tuple[str, ...] = tuple(SECTION_TITLES)

#: The report's tables with their default titles (the caption without "Table N. "). ``numbered``: numbered
#: in order of appearance unless the layout gives a number (or "" for none).
TABLE_TITLES: dict[str, tuple[str, bool]] = {
    "screening_flow": ("Screening flow (CONSORT): patients entering, excluded at and remaining after each "
                       "eligibility criterion.", True),
    "screening_exclusions": ("Excluded patients with the reasons (every failing criterion and the value found).",
                             True),
    "table1": ("Characteristics of the {n_eligible} eligible patients.", True),
    "table2": ("Adverse events (CTCAE v{ctcae_version}), number and percentage for each event and grade.", True),
    "ae_patients": ("Adverse events per patient: toxicity data, worst grade and actions taken.", True),
    "ae_by_course": ("Adverse events by {treatment} course.", True),
    "response": ("Response by baseline stratum.", True),
    "survival": ("Survival analyses.", True),
    "followup": ("Follow-up (months from {index_event}).", True),
    "fisher": ("Comparisons of proportions (Fisher's exact test).", True),
    "logrank": ("Log-rank tests.", True),
    "logrank_pairwise": ("Pairwise log-rank tests of the comparisons of three or more groups "
                         "(Holm-adjusted p-values).", True),
    "rmst": ("Restricted mean survival time over a common horizon \u03c4: groups and their difference.", True),
    "immortal_time": ("Comparisons by a status reached during follow-up: grouped by the later status and "
                      "immortal-time-safe",
                      False),
    "permutation": ("Log-rank tests: asymptotic and permutation p-values", False),
    "published": ("Published vs recomputed numbers", False),
    "published_tests": ("Reported tests re-run from their printed counts", False),
    "centres": ("Patients, follow-up and data completeness by centre.", True),
}
TABLE_IDS: tuple[str, ...] = tuple(TABLE_TITLES)

#: Fixed sentences of the report: key -> generic default.
TEXT_DEFAULTS: dict[str, str] = {
    "synthetic_warning": "SYNTHETIC DATA: this report was computed from a synthetic data set. It describes no "
                         "real patient and must not be cited as study results.",
    "outputs_note": "Every number of this report is also in results.json under a stable key "
                    "(docs/results-schema.md); tables.xlsx holds the tables, figures/ the figures as PNG, SVG and "
                    "PDF.",
    "ae_heading": "Adverse events",
    "table1_note": "",
    "followup_note": "Reverse Kaplan\u2013Meier: censoring treated as the event (Schemper & Smith 1996). "
                     "Observation time: time to death or last follow-up, whichever first.",
    "immortal_time_explanation": (
        "Why the corrected comparisons differ: a patient counts in the 'yes' group of a status reached during "
        "follow-up only once it is reached, weeks or months after {index_event}. Curves grouped by the later "
        "status credit the time before that moment to the 'yes' group, which by definition cannot die during "
        "it, while early deaths fall in the 'no' group: the comparison flatters the 'yes' group (immortal-time "
        "bias). A landmark analysis starts the clock for everybody at a fixed day and groups patients by what "
        "had happened by then; the Mantel\u2013Byar test lets each patient move from the 'no' to the 'yes' "
        "group on the day it happens. Both answer the question the curves seem to ask."),
    "timedep_as_published": "Grouped by the later status, from day 1",
    "timedep_as_published_short": "grouped by the later status",
    "competing_explanation": (
        "An endpoint that counts a competing event as an event of its own mixes two outcomes. The cumulative "
        "incidence treats the competing event as such (Aalen\u2013Johansen estimator); 1 \u2212 "
        "Kaplan\u2013Meier of the event of interest alone would overstate it. Gray's test compares the "
        "cumulative incidences."),
    "competing_time_note": "Time origin: {index_event}; unit: months (days / {days_per_month}).",
    "competing_absent": (
        "No competing event occurred in this analysis, so the cumulative incidence equals 1 \u2212 "
        "Kaplan\u2013Meier of the event of interest here; the two differ only when competing events occur."),
    "competing_present": (
        "Competing events occurred, so 1 \u2212 Kaplan\u2013Meier of the event of interest alone would overstate "
        "its cumulative incidence: it treats a patient with a competing event as still able to have the event "
        "of interest."),
    "post_baseline_caveat": (
        "The groups are defined by a status reached after {index_event}. Neither the log-rank test nor "
        "relabelling the groups (permutation) removes the immortal-time bias of such a comparison: the time "
        "before the status is reached is still credited to the group that reaches it."),
    "different_endpoints_caveat": (
        "The outcome is defined differently in the compared groups, so the test compares two different "
        "endpoints rather than one endpoint between groups; read its p-value and odds ratio with that in mind."),
    "permutation_disagrees": (
        "The asymptotic and permutation p-values fall on different sides of the significance level. With few "
        "patients the permutation p is the one to read: it comes from the distribution of the log-rank "
        "statistic over relabellings of these patients, whereas the asymptotic p relies on a normal "
        "approximation that is poor with few events or unbalanced groups."),
    "permutation_intro": "With few patients the chi-square approximation of the log-rank test can be poor.",
    "published_truncated": "reproduced (truncated when printed)",
    "published_inconsistencies": "Inconsistencies of the published numbers:",
}

#: Names a text may use, written ``{name}``.
PLACEHOLDERS: dict[str, str] = {
    "study_name": "the study's name (protocol [study] name)",
    "study_title": "the study's title (protocol [study] title)",
    "treatment": "[names] treatment",
    "index_event": "[names] index_event",
    "n_screened": "number of patients screened",
    "n_eligible": "number of eligible patients",
    "days_per_month": "days per month of the protocol's [time]",
    "ctcae_version": "CTCAE version of the protocol's adverse-event table",
}
#: Further names of the response table's notes (``[response.<item>] note``).
RESPONSE_PLACEHOLDERS: dict[str, str] = {
    "n": "patients counted by the row (all patients column)",
    "N": "its denominator",
    "alt_n": "patients counted by the protocol's alternative definition of the row (report.response alternative)",
    "alt_N": "the denominator of the alternative definition",
}
#: Further names of the figure axis labels.
FIGURE_PLACEHOLDERS: dict[str, str] = {"endpoint": "the endpoint's name (its param without the unit)"}


def _check_text(value: str, allowed: dict[str, str]) -> str:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid text ({exc}; write a literal brace as {{{{ or }}}})") from None
    for f in fields:
        if f not in allowed:
            raise ValueError(f"unknown placeholder {{{f}}} in {value!r}; allowed: "
                             + ", ".join(f"{{{k}}}" for k in allowed))
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Names(_Frozen):
    """How the report names the study's treatment and its index event (time origin)."""

    treatment: str = "treatment"
    index_event: str = "the index date"


class SectionEntry(_Frozen):
    """One section of the report, in the order listed."""

    id: str
    title: str | None = None

    @field_validator("id")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in SECTION_IDS:
            raise ValueError(f"unknown section {v!r}; allowed: {', '.join(SECTION_IDS)}")
        return v

    @field_validator("title")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return None if v is None else _check_text(v, PLACEHOLDERS)


class TableEntry(_Frozen):
    """A table's number ("" = unnumbered; absent = numbered in order of appearance), title, and whether the
    report shows it (its numbers stay in results.json either way)."""

    number: str | None = None
    title: str | None = None
    show: bool = True

    @field_validator("title")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return None if v is None else _check_text(v, PLACEHOLDERS)


class ResponseEntry(_Frozen):
    """Wording of one row of the response table (keyed by the protocol's ``[[report.response]]`` id): a row
    label per stratum (``stratum_labels``, keyed by stratum value, e.g. ``{ low = "CR maintained" }``) and a
    note printed under the table (``note``; may use {n}, {N}, {alt_n}, {alt_N})."""

    stratum_labels: dict[str, str] = Field(default_factory=dict)
    note: str | None = None

    @field_validator("note")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return None if v is None else _check_text(v, PLACEHOLDERS | RESPONSE_PLACEHOLDERS)


#: Figures the report draws besides the protocol's survival figures: id -> default caption (without
#: "Figure N. "). A cumulative-incidence figure is drawn for each ``[[analyses.competing]]`` entry, with id
#: ``cif_<analysis id>``.
EXTRA_FIGURES: dict[str, str] = {
    "consort": "Flow of patients: screened, excluded with the reasons, and analysed, by group.",
    "swimmer": "Course of every patient from {index_event}.",
    "forest": "Univariable Cox hazard ratios with 95 % confidence intervals.",
}


class SwimmerEvent(_Frozen):
    """One kind of event of the swimmer plot: a date column of the patient-level table (ADSL), drawn when
    the date is known and (optionally) the column ``when`` is true or equals ``value``."""

    date: str
    label: str
    marker: Literal["o", "s", "D", "^", "v", "X", "*", "P", "d", "|"] = "o"
    when: str | None = None
    value: str | None = None
    filled: bool = True


class SwimmerInterval(_Frozen):
    """Spans drawn along each patient's lane from a form with one row per span (e.g. treatment courses)."""

    form: str
    start: str
    end: str
    label: str


class SwimmerLayout(_Frozen):
    """What the swimmer plot draws: one lane per patient from ``origin`` to ``end`` (ADSL date columns),
    grouped and coloured by ``group`` (with ``group_label`` naming each lane group), spans from a form, and
    events; lanes are ordered by group (protocol order of its values, else sorted), then by follow-up, then
    by patient id. ``ongoing`` is the legend text of the arrow ending a lane without an ``end_event``. A
    cohort with more than ``max_lanes`` patients gets no swimmer plot (one lane per patient is unreadable
    there); results.json says so."""

    origin: str
    end: str
    group: str | None = None
    group_label: str | None = None
    intervals: tuple[SwimmerInterval, ...] = ()
    events: tuple[SwimmerEvent, ...] = ()
    end_event: str | None = None
    ongoing: str = "Alive at last follow-up"
    max_lanes: int = Field(default=300, ge=1)


class ForestCovariate(_Frozen):
    """A covariate of the forest plot: a patient-level column (boolean, numeric or categorical), its label,
    the reference level of a categorical one (default: the first value in sorted order) and the unit of a
    numeric one ("per <unit>")."""

    column: str
    label: str
    reference: str | None = None
    unit: str | None = None
    levels: dict[str, str] = Field(default_factory=dict)


class ForestLayout(_Frozen):
    """The forest plot of univariable Cox hazard ratios: the endpoint (PARAMCD), the population (a boolean
    patient-level column, optional) and the covariates."""

    endpoint: str
    population: str | None = None
    covariates: tuple[ForestCovariate, ...]


class FiguresLayout(_Frozen):
    """Axis labels of the survival figures, the printed number of each figure id, which figures the
    figures section shows in which order (``None``: all, in protocol order, then the others), their
    widths (a journal's single or double column), captions of the figures besides the protocol's, whether
    titles are drawn inside the images, and the swimmer and forest plots."""

    x_label: str = "Months from {index_event}"
    y_label: str = "{endpoint} (%)"
    at_risk: str = "Number at risk"
    numbers: dict[str, str] = Field(default_factory=dict)
    order: tuple[str, ...] | None = None
    titles: bool = False
    single_column_mm: float = Field(default=85.0, ge=50.0, le=120.0)
    double_column_mm: float = Field(default=174.0, ge=120.0, le=200.0)
    widths: dict[str, Literal["single", "double"]] = Field(default_factory=dict)
    captions: dict[str, str] = Field(default_factory=dict)
    consort: bool = True
    consort_group: str | None = None
    cif: bool = True
    swimmer: SwimmerLayout | None = None
    forest: ForestLayout | None = None

    @field_validator("captions")
    @classmethod
    def _captions(cls, v: dict[str, str]) -> dict[str, str]:
        for k, text in v.items():
            try:
                _check_text(text, PLACEHOLDERS)
            except ValueError as exc:
                raise ValueError(f"@{k}@{exc}") from None
        return v

    def width_in(self, fig_id: str, n_panels: int = 1) -> float:
        """Width of figure ``fig_id`` in inches: ``widths`` (default: single column for one panel, double
        for more and for the swimmer and forest plots)."""
        wide = n_panels > 1 or fig_id in ("swimmer", "forest")
        kind = self.widths.get(fig_id, "double" if wide else "single")
        return (self.single_column_mm if kind == "single" else self.double_column_mm) / 25.4

    @field_validator("order")
    @classmethod
    def _once(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None:
            dup = sorted({f for f in v if v.count(f) > 1})
            if dup:
                raise ValueError(f"figure {dup[0]!r} is listed twice; each figure appears once")
        return v

    @field_validator("x_label", "y_label", "at_risk")
    @classmethod
    def _text(cls, v: str) -> str:
        return _check_text(v, PLACEHOLDERS | FIGURE_PLACEHOLDERS)

    @field_validator("numbers")
    @classmethod
    def _unique(cls, v: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for fid, num in v.items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", num):
                raise ValueError(f"@{fid}@figure number {num!r}: letters, digits, '.', '_' and '-' only, starting "
                                 "with a letter or digit (it names the figure files)")
            if num in seen:
                raise ValueError(f"@{fid}@figure number {num!r} is given to figures {seen[num]!r} and {fid!r}; "
                                 "each figure needs its own number")
            seen[num] = fid
        return v


class PublishedLayout(_Frozen):
    """The published-vs-recomputed section: the name of the published source, and whether a synthetic data
    set of the study is compared with the package's published numbers by default (a synthetic twin)."""

    source: str = "published numbers"
    synthetic_twin: bool = False


class Layout(_Frozen):
    """The report layout of a study (``layout.toml``)."""

    names: Names = Field(default_factory=Names)
    sections: tuple[SectionEntry, ...] = tuple(SectionEntry(id=s) for s in SECTION_IDS)
    tables: dict[str, TableEntry] = Field(default_factory=dict)
    figures: FiguresLayout = Field(default_factory=FiguresLayout)
    text: dict[str, str] = Field(default_factory=dict)
    published: PublishedLayout = Field(default_factory=PublishedLayout)
    response: dict[str, ResponseEntry] = Field(default_factory=dict)

    @field_validator("tables")
    @classmethod
    def _tables(cls, v: dict[str, TableEntry]) -> dict[str, TableEntry]:
        unknown = [k for k in v if k not in TABLE_IDS]
        if unknown:
            raise ValueError(f"@{unknown[0]}@unknown table {unknown[0]!r}; allowed: {', '.join(TABLE_IDS)}")
        seen: dict[str, str] = {}
        for tid, t in v.items():
            if t.number:
                if t.number in seen:
                    raise ValueError(f"@{tid}.number@table number {t.number!r} is given to tables "
                                     f"{seen[t.number]!r} and {tid!r}; each table needs its own number")
                seen[t.number] = tid
        return v

    @field_validator("text")
    @classmethod
    def _texts(cls, v: dict[str, str]) -> dict[str, str]:
        for k, text in v.items():
            if k not in TEXT_DEFAULTS:
                raise ValueError(f"@{k}@unknown text {k!r}; allowed: {', '.join(TEXT_DEFAULTS)}")
            try:
                _check_text(text, PLACEHOLDERS)
            except ValueError as exc:
                raise ValueError(f"@{k}@{exc}") from None
        return v

    @field_validator("sections")
    @classmethod
    def _sections(cls, v: tuple[SectionEntry, ...]) -> tuple[SectionEntry, ...]:
        ids = [s.id for s in v]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"section {dup[0]!r} is listed twice; each section appears once")
        return v

    # ---------------------------------------------------------------------------------------------- access
    def section_ids(self) -> list[str]:
        """The sections of the report, in order."""
        return [s.id for s in self.sections]

    def section_title(self, id_: str, values: dict[str, Any]) -> str:
        """The title of section ``id_`` with its placeholders filled from ``values``."""
        for s in self.sections:
            if s.id == id_ and s.title is not None:
                return fill(s.title, values)
        return fill(SECTION_TITLES[id_], values)

    def table_title(self, id_: str, values: dict[str, Any]) -> str:
        """The title of table ``id_`` (the caption without "Table N. "), placeholders filled."""
        entry = self.tables.get(id_)
        title = entry.title if entry is not None and entry.title is not None else TABLE_TITLES[id_][0]
        return fill(title, values)

    def table_number(self, id_: str) -> str | None:
        """The explicit number of a table ("" = none), or ``None`` to number it in order of appearance."""
        entry = self.tables.get(id_)
        if entry is not None and entry.number is not None:
            return entry.number
        if id_ in TABLE_TITLES and not TABLE_TITLES[id_][1]:
            return ""
        return None

    def text_of(self, key: str, values: dict[str, Any]) -> str:
        """The fixed sentence ``key`` (:data:`TEXT_DEFAULTS` unless the layout gives it), placeholders filled."""
        return fill(self.text.get(key, TEXT_DEFAULTS[key]), values)

    def table_shown(self, id_: str) -> bool:
        """Whether the report shows table ``id_`` (``[tables.<id>] show``)."""
        entry = self.tables.get(id_)
        return entry is None or entry.show

    def figure_number(self, fig_id: str) -> str:
        """The printed number of the protocol's figure ``fig_id`` (default: the id itself)."""
        return self.figures.numbers.get(fig_id, fig_id)


def fill(text: str, values: dict[str, Any]) -> str:
    """``text`` with its ``{name}`` placeholders replaced by ``values`` (``str`` of each value)."""
    return text.format_map(values) if "{" in text or "}" in text else text


#: The layout of a package without layout.toml.
GENERIC = Layout()


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top)"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose keys are allowed at ``loc`` (for "unknown key" messages)."""
    node: Any = Layout
    for part in loc:
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(str(part))
            if field is None:
                return None
            node = field.annotation
        else:  # dict[str, Model] or tuple[Model, ...]: the part is a key or an index
            args = [a for a in get_args(node) if a is not Ellipsis]
            node = args[-1] if args else None
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None


def parse_layout(data: bytes | str, label: str) -> Layout:
    """A layout from the text of a layout.toml (``label`` names the file in messages).

    Raises
    ------
    LayoutError
        Not TOML, or a key, section, table, text or placeholder the layout does not know; the message
        names the file, the key, the bad value and what is allowed.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise LayoutError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LayoutError(f"{label}: not valid TOML ({exc})") from None
    try:
        return Layout.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = _where(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            model = _model_at(e["loc"][:-1])
            allowed = ", ".join(model.model_fields) if model is not None else ""
            msg = f"unknown key {e['loc'][-1]!r}" + (f"; allowed: {allowed}" if allowed else "")
        elif msg.startswith("@"):
            _, key, msg = msg.split("@", 2)
            loc = f"{loc}.{key}"
        elif "input" in e and e["type"] not in ("value_error",):
            msg = f"{msg} (got {e['input']!r})"
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise LayoutError(f"{label}: {loc}: {msg}{more}") from None


def load_layout(path: str | Path | None = None) -> Layout:
    """Read a layout file (``None``: the built-in study's layout)."""
    if path is None:
        return _builtin()
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise LayoutError(f"{p}: cannot read ({exc.strerror or exc})") from None
    return parse_layout(data, str(p))


_BUILTIN: list[Layout] = []


def _builtin() -> Layout:
    if not _BUILTIN:
        data = resources.files("blincompass.protocol").joinpath("data/blincompass_layout.toml").read_bytes()
        _BUILTIN.append(parse_layout(data, "built-in layout data/blincompass_layout.toml"))
    return _BUILTIN[0]
