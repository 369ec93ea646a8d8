"""Protocol model: the study's rules as data (eligibility, response, strata, endpoints).

The built-in study's protocol is ``data/blincompass.toml``; :func:`load_protocol` reads it, or any
other protocol file given with ``--protocol FILE``.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from blincompass.expr import ExpressionError, compile_expression
from blincompass.protocol.derived import Derived, Interval
from blincompass.protocol.functions import check_function_args

__all__ = [
    "AdtteSettings",
    "Analyses",
    "AnalysisSettings",
    "PaperRef",
    "ProportionAnalysis",
    "SurvivalAnalysis",
    "Criterion",
    "Derived",
    "Endpoint",
    "EndpointEvent",
    "Federation",
    "Interval",
    "Protocol",
    "ProtocolError",
    "ReportSpec",
    "Table1Row",
    "Table2Row",
    "Table2Spec",
    "load_protocol",
]



def _valid_condition(value: str) -> str:
    """``value`` if it parses as a condition of blincompass.expr, else ``ValueError`` with the parser's message
    (for pydantic to report at the field)."""
    try:
        compile_expression(value)
    except ExpressionError as exc:
        raise ValueError(str(exc)) from None
    return value

class ProtocolError(ValueError):
    """A protocol file that cannot be read or does not follow the protocol model."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Study(_Frozen):
    name: str
    title: str
    reference: str = ""
    #: Data cut-off: every date in the data must be on or before it (validation rule
    #: ``date.after_cutoff``). ``None`` (not set): the day the data are checked.
    data_cutoff: dt.date | None = None


class TimeUnits(_Frozen):
    days_per_month: float = Field(default=30.4375, gt=0)
    days_per_year: float = Field(default=365.25, gt=0)


class Window(_Frozen):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.end < self.start:
            raise ValueError(f"study_window: end {self.end} is before start {self.start}")
        return self


class Criterion(_Frozen):
    """One eligibility criterion on a patient-level variable."""

    id: str
    label: str
    variable: str
    min: float | None = None
    max: float | None = None
    in_: tuple[Any, ...] | None = Field(default=None, alias="in")
    equals: Any = None
    after: dt.date | None = None
    before: dt.date | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Criterion:
        tests = [self.min is not None or self.max is not None, self.in_ is not None,
                 self.equals is not None, self.after is not None or self.before is not None]
        if sum(tests) != 1:
            raise ValueError(
                f"criterion {self.id}: give exactly one kind of test (min/max, in, equals, after/before)"
            )
        return self

    def describe(self) -> str:
        """The rule in words, e.g. ``"age_first_dose_completed between 0 and 21"``."""
        v = self.variable
        if self.in_ is not None:
            return f"{v} in {{{', '.join(map(str, self.in_))}}}"
        if self.equals is not None:
            return f"{v} = {self.equals}"
        if self.min is not None or self.max is not None:
            lo = "-inf" if self.min is None else f"{self.min:g}"
            hi = "inf" if self.max is None else f"{self.max:g}"
            return f"{v} in [{lo}, {hi}]"
        return f"{v} in [{self.after or '-inf'}, {self.before or 'inf'}]"

    def test(self, value: Any) -> bool:
        """Whether ``value`` satisfies the criterion; a missing value fails."""
        if value is None or (isinstance(value, float) and value != value):
            return False
        try:
            import pandas as pd

            if value is pd.NA or value is pd.NaT:
                return False
        except ImportError:  # pragma: no cover - pandas is a dependency
            pass
        if self.in_ is not None:
            return value in self.in_
        if self.equals is not None:
            return bool(value == self.equals)
        if self.min is not None or self.max is not None:
            x = float(value)
            return (self.min is None or x >= self.min) and (self.max is None or x <= self.max)
        d = value.date() if isinstance(value, dt.datetime) else value
        return (self.after is None or d >= self.after) and (self.before is None or d <= self.before)


class Eligibility(_Frozen):
    study_window: Window | None = None
    criteria: tuple[Criterion, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Eligibility:
        ids = [c.id for c in self.criteria]
        if len(set(ids)) != len(ids):
            raise ValueError(f"eligibility: duplicate criterion ids {ids}")
        return self


class EndpointEvent(_Frozen):
    """An event of an endpoint: the patient-level date at which it happens (``date``; or, for an endpoint
    given by a follow-up time, the condition that says it happened at that time: ``when``), its cause, and
    how the report speaks of several of them (``words``, e.g. "relapses"; default: the cause)."""

    date: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    when: str | None = None
    cause: str = Field(min_length=1)
    words: str | None = None

    @model_validator(mode="after")
    def _one(self) -> EndpointEvent:
        if (self.date is None) == (self.when is None):
            raise ValueError(f"event {self.cause}: give date (a date variable) or when (a condition), not both")
        if self.when is not None:
            try:
                compile_expression(self.when)
            except ExpressionError as exc:
                raise ValueError(f"event {self.cause}.when: {exc}") from None
        return self


class Endpoint(_Frozen):
    """A time-to-event endpoint (one ADTTE parameter), given by dates or by a follow-up time.

    ``population`` selects patients (a condition on the patient-level table; always within the eligible
    patients).

    *By dates*: time runs from ``origin`` (a patient-level date; with ``landmark_months``, from that many
    months after it, for the patients still event-free and followed then) to the earliest of ``events``
    (ties: the first listed), or to the earliest of ``censor_at`` (intercurrent events at which follow-up is
    censored) when that comes first, else to ``censor`` (the date of last contact), where it is censored.

    *By a follow-up time* (data that hold durations, not dates): ``time`` is a numeric patient-level
    variable in ``time_unit`` from the origin to the end of follow-up; each event gives the condition
    (``when``) under which follow-up ended with it (the first listed that holds wins); otherwise the time is
    censored.
    """

    paramcd: str = Field(pattern=r"^[A-Z][A-Z0-9]{0,7}$")
    param: str
    population: str = "eligible"
    origin: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    time: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    time_unit: Literal["days", "months", "years"] = "days"
    events: tuple[EndpointEvent, ...] = Field(min_length=1)
    censor: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    censor_at: tuple[EndpointEvent, ...] = ()
    censor_description: str = "censored at last follow-up"
    landmark_months: float | None = Field(default=None, gt=0)
    definition: str = ""

    @model_validator(mode="before")
    @classmethod
    def _format_1(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("start" in data or any(isinstance(e, str) for e in data.get("events", ()))):
            raise ValueError(
                "this endpoint is written in the first protocol format (start = ..., events = [names]); "
                "write origin = \"<date variable>\", events = [{ date = \"<date variable>\", cause = \"<name>\" }] "
                "and censor = \"<date variable>\" (docs/protocol.md)")
        return data

    @field_validator("population")
    @classmethod
    def _population(cls, value: str) -> str:
        return _valid_condition(value)

    @model_validator(mode="after")
    def _causes(self) -> Endpoint:
        causes = [e.cause for e in (*self.events, *self.censor_at)]
        if len(set(causes)) != len(causes):
            raise ValueError(f"endpoint {self.paramcd}: duplicate causes {causes}")
        if self.time is None:
            if self.origin is None or self.censor is None:
                raise ValueError(f"endpoint {self.paramcd}: give origin and censor (dates), or time (a follow-up "
                                 "time) with events given by when = conditions")
            bad = [e.cause for e in (*self.events, *self.censor_at) if e.date is None]
            if bad:
                raise ValueError(f"endpoint {self.paramcd}: events {bad} need a date (this endpoint runs from the "
                                 f"date {self.origin})")
        else:
            if self.origin is not None or self.censor is not None or self.censor_at or self.landmark_months:
                raise ValueError(f"endpoint {self.paramcd}: an endpoint given by time = {self.time!r} takes no "
                                 "origin, censor, censor_at or landmark_months")
            bad = [e.cause for e in self.events if e.when is None]
            if bad:
                raise ValueError(f"endpoint {self.paramcd}: events {bad} need a when = condition (the endpoint is "
                                 f"given by the follow-up time {self.time})")
        return self

    @property
    def is_duration(self) -> bool:
        """Whether the endpoint is given by a follow-up time rather than dates."""
        return self.time is not None


Alternative = Literal["two-sided", "less", "greater"]
GroupValue = str | bool | int


class PaperRef(_Frozen):
    """What the published paper reports for an analysis (for the published-vs-recomputed comparison)."""

    p: float | None = None
    p_text: str | None = None
    sided: Literal["one", "two"] | None = None
    text: str | None = None
    where: str


class _Grouped(_Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    population: str | None = None
    group: str | None = None
    order: tuple[GroupValue, ...] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    alternative: Alternative = "two-sided"
    paper: PaperRef | None = None

    def group_label(self, value: GroupValue) -> str:
        """Label of a group value (``labels`` is keyed by the value as text, booleans lower-case)."""
        key = str(value).lower() if isinstance(value, bool) else str(value)
        return self.labels.get(key, key)


class SurvivalAnalysis(_Grouped):
    """A Kaplan–Meier analysis of one endpoint, optionally comparing groups with a log-rank test.

    ``post_baseline``: the group is a status reached after the time origin (a response, a transplant), so
    the comparison is open to immortal-time bias and the report says so. A group that is the ``exposure``
    of an ``[[analyses.timedep]]`` entry counts as post-baseline without the flag.
    """

    endpoint: str
    figure: str | None = None
    strata: str | None = None
    weights: Literal["logrank", "gehan-breslow", "tarone-ware", "peto-peto"] = "logrank"
    post_baseline: bool = False


class ProportionAnalysis(_Grouped):
    """A comparison of a binary outcome between two groups (Fisher's exact test).

    ``outcome_definitions``: when the outcome is defined differently in the groups (e.g. by a rule per
    stratum), the definition in each group in words, keyed by group value as ``labels``; the report then
    notes that the comparison is of different endpoints.
    """

    outcome: str
    group: str
    outcome_definitions: dict[str, str] = Field(default_factory=dict)


class AnalysisSettings(_Frozen):
    conf_type: Literal["log-log", "log", "plain"] = "log-log"
    conf_level: float = Field(default=0.95, gt=0, lt=1)
    median_ci: tuple[Literal["brookmeyer-crowley", "spss"], ...] = ("brookmeyer-crowley", "spss")
    survival_at_months: tuple[float, ...] = (12.0, 24.0)
    missing: Literal["exclude"] = "exclude"
    #: Significance level the report uses when it says whether two p-values of one comparison (asymptotic
    #: and permutation) lead to different conclusions.
    alpha: float = Field(default=0.05, gt=0, lt=1)


class PermutationSettings(_Frozen):
    """Permutation log-rank tests beside the asymptotic ones (exact when feasible, else Monte Carlo)."""

    n_resamples: int = Field(default=10000, ge=100)
    seed: int = 20201231
    max_exact: int = Field(default=200000, ge=1)


class CompetingAnalysis(_Grouped):
    """Cumulative incidence of one cause with competing causes (Aalen–Johansen; Gray's test by group).

    ``causes`` maps the endpoint's event descriptions (ADTTE ``EVNTDESC``, e.g. "relapse", "death") to
    integer cause codes; censored records are code 0. ``strata`` (an ADSL column) stratifies Gray's test.
    """

    endpoint: str
    group: str
    strata: str | None = None
    causes: dict[str, int]
    cause_of_interest: str
    times_months: tuple[float, ...] = (12.0, 24.0)

    @model_validator(mode="after")
    def _codes(self) -> CompetingAnalysis:
        if self.cause_of_interest not in self.causes:
            raise ValueError(f"competing {self.id}: cause_of_interest {self.cause_of_interest!r} not in causes")
        if 0 in self.causes.values():
            raise ValueError(f"competing {self.id}: cause code 0 is reserved for censoring")
        return self


class TimeDependentAnalysis(_Frozen):
    """A comparison by a status reached during follow-up, shown as published and immortal-time-safe.

    ``exposure`` is a boolean ADSL column (the status, e.g. ``hsct``); ``exposure_date`` the ADSL date at
    which it is reached. Landmark analyses are run at each of ``landmarks_months``; the Mantel–Byar test
    and a Cox model with a time-dependent covariate use the exposure date itself. With ``figure``, the
    report draws Simon–Makuch curves (patients move from the "false" to the "true" curve on that date);
    ``labels`` name the two states.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    endpoint: str
    exposure: str
    exposure_date: str
    landmarks_months: tuple[float, ...] = Field(min_length=1)
    population: str | None = None
    alternative: Alternative = "two-sided"
    paper_analysis: str | None = None
    figure: str | None = None
    labels: dict[str, str] = Field(default_factory=lambda: {"true": "Exposed", "false": "Not (yet) exposed"})


class Analyses(_Frozen):
    settings: AnalysisSettings = Field(default_factory=AnalysisSettings)
    survival: tuple[SurvivalAnalysis, ...] = ()
    proportions: tuple[ProportionAnalysis, ...] = ()
    permutation: PermutationSettings = Field(default_factory=PermutationSettings)
    competing: tuple[CompetingAnalysis, ...] = ()
    timedep: tuple[TimeDependentAnalysis, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Analyses:
        ids = [a.id for a in (*self.survival, *self.proportions, *self.competing, *self.timedep)]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"analyses: duplicate ids {dup}")
        return self


CodeValue = str | bool | int


class CodeSpec(_Frozen):
    """One category of a categorical Table 1 row given in the protocol (value and label)."""

    code: CodeValue
    label: str


class CombinedRow(_Frozen):
    """An extra Table 1 row counting the patients whose value is any of ``codes`` (e.g. all relapses)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    codes: tuple[CodeValue, ...] = Field(min_length=1)


class SubRow(_Frozen):
    """A conditional sub-row: patients of the parent category ``within`` (a code of the parent row; any
    patient of the row when omitted) for whom every ``where`` condition holds.

    ``where`` maps a patient-level (ADSL) column to a value or a list of allowed values.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    within: CodeValue | None = None
    where: dict[str, CodeValue | list[CodeValue]] = Field(default_factory=dict)


class Table1Row(_Frozen):
    """One block of Table 1 (baseline characteristics).

    kind = "count": the number of eligible patients (no variable).
    kind = "categorical": n (%) per code of ``variable``; codes and labels come from ``codes_from``
    (``"form.variable"`` of the data dictionary, in dictionary order; ``"strata.levels"`` or
    ``"strata.burden"`` of this protocol) or from ``codes``; ``combine`` adds rows summing several codes.
    kind = "continuous": median with IQR and range of ``variable`` (when ``summary``), then n (%) per
    interval of ``categories`` (bounds ``below`` / ``at_most`` / ``above`` / ``at_least`` say which ends
    are open or closed).
    ``subrows`` add conditional rows under a category; ``where`` restricts the patients the block counts
    (e.g. site of relapse only for relapsed patients); ``percent_of`` = "eligible" (default) divides by
    all eligible patients, "subset" by the patients ``where`` selects. A "Missing" row appears whenever a
    counted patient has no value.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    kind: Literal["count", "categorical", "continuous"]
    variable: str | None = None
    codes_from: str | None = None
    codes: tuple[CodeSpec, ...] = ()
    combine: tuple[CombinedRow, ...] = ()
    unit: str = ""
    decimals: int = Field(default=1, ge=0, le=4)
    summary: bool = True
    categories: tuple[Interval, ...] = ()
    subrows: tuple[SubRow, ...] = ()
    where: dict[str, CodeValue | list[CodeValue]] = Field(default_factory=dict)
    percent_of: Literal["eligible", "subset"] = "eligible"
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Table1Row:
        if self.kind != "count" and not self.variable:
            raise ValueError(f"report.table1 {self.id}: kind {self.kind!r} needs a variable")
        if self.kind == "categorical" and not (self.codes_from or self.codes):
            raise ValueError(f"report.table1 {self.id}: a categorical row needs codes_from or codes")
        if self.kind == "continuous" and (self.codes_from or self.codes or self.combine):
            raise ValueError(f"report.table1 {self.id}: a continuous row takes categories, not codes")
        ids = [c.id for c in self.categories] + [c.id for c in self.combine] + [s.id for s in self.subrows]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"report.table1 {self.id}: duplicate ids {dup}")
        return self


class Table2Row(_Frozen):
    """One entry of Table 2 (adverse events), in display order: a single reported term (``term``), or a
    group (``group`` id and ``label``) whose ``terms`` are listed beneath it."""

    term: str | None = None
    group: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    label: str | None = None
    terms: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one(self) -> Table2Row:
        if (self.term is None) == (self.group is None):
            raise ValueError("report.table2.rows: give either term or group (with label and terms)")
        if self.group is not None and (not self.label or not self.terms):
            raise ValueError(f"report.table2.rows {self.group}: a group needs a label and terms")
        return self


class Table2Spec(_Frozen):
    """Table 2: adverse events by term and grade, the protocol's grouping of terms and row order.

    Terms observed but not listed here follow the listed rows (most frequent first, then alphabetical).
    """

    ctcae_version: Literal["4.03", "5.0"] = "4.03"
    rows: tuple[Table2Row, ...] = ()
    #: Denominator of "adverse events in both course 1 and course 2": the patients who received exactly two
    #: courses, or two or more.
    both_courses_of: Literal["exactly_two", "two_or_more"] = "exactly_two"

    @model_validator(mode="after")
    def _unique(self) -> Table2Spec:
        seen: list[str] = []
        for r in self.rows:
            seen.extend([r.term] if r.term else r.terms)
        folded = [t.casefold() for t in seen]
        dup = sorted({t for t in folded if folded.count(t) > 1})
        if dup:
            raise ValueError(f"report.table2.rows: terms listed more than once {dup}")
        return self

    def group_of(self, term: str) -> tuple[str, str] | None:
        """(group id, group label) of a reported term, case-insensitive; ``None`` if ungrouped."""
        key = term.casefold()
        for r in self.rows:
            if r.group and any(t.casefold() == key for t in r.terms):
                return r.group, r.label or r.group
        return None


class AlternativeDefinition(_Frozen):
    """Another definition of a response row (e.g. one a paper used), counted for the row's note only."""

    yes: str
    evaluable: str = ""

    @field_validator("yes", "evaluable")
    @classmethod
    def _condition(cls, value: str) -> str:
        return _valid_condition(value)


class ResponseItem(_Frozen):
    """One row of the response table: patients for whom ``yes`` holds among those for whom ``evaluable``
    holds (conditions in the language of blincompass.expr on the eligible patients' ADSL rows; a missing
    value makes a condition false). ``alternative``: another definition of the row, counted for its note
    (``{alt_n}``/``{alt_N}`` of the layout's ``[response.<id>] note``)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    yes: str
    evaluable: str = ""
    level: int = Field(default=0, ge=0, le=2)
    alternative: AlternativeDefinition | None = None

    @field_validator("yes", "evaluable")
    @classmethod
    def _condition(cls, value: str) -> str:
        return _valid_condition(value)


class ReportSpec(_Frozen):
    """What ``blincompass report`` prints beyond the analyses: Table 1 rows, Table 2 layout, response rows.

    ``quantile_method`` is the numpy quantile definition for medians/IQRs of Table 1 ("weibull" =
    (n + 1)p, SPSS's default HAVERAGE; "linear" = R type 7). ``at_risk_step_months`` spaces the x ticks
    and numbers-at-risk columns of the survival figures; ``censor_marker`` marks censored times ("+" or
    "|"). ``table1_group`` splits Table 1 by a patient-level column (its levels or codes as columns, an
    overall column first, a p-value per characteristic); ``None``: one column.
    """

    quantile_method: Literal["weibull", "linear", "hazen", "median_unbiased"] = "weibull"
    at_risk_step_months: float = Field(default=12.0, gt=0)
    censor_marker: Literal["+", "|"] = "+"
    table1_group: str | None = None
    table1: tuple[Table1Row, ...] = ()
    table2: Table2Spec = Field(default_factory=Table2Spec)
    response: tuple[ResponseItem, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> ReportSpec:
        for name, items in (("table1", self.table1), ("response", self.response)):
            ids = [r.id for r in items]
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"report.{name}: duplicate ids {dup}")
        return self


class Federation(_Frozen):
    """Disclosure settings of federated pooling (``blincompass federate``; see docs/federation.md).

    ``time_grid`` is the width of the time intervals that survival times are rounded *up* to before they
    leave a site, in ``time_unit`` ("months" as ADTTE ``AVAL``, or "days" as ADTTE ``ADY``; a grid of one
    day keeps the times the analyses use). ``threshold`` is the smallest non-zero count a site releases
    (DataSHIELD's ``nfilter.tab``, default 3; 1 = no limit). ``survival`` and ``proportions`` list the ids
    of the analyses that are federated; absent, every ``[[analyses.survival]]`` and
    ``[[analyses.proportions]]`` entry is.
    """

    time_grid: float = Field(default=1.0, gt=0)
    time_unit: Literal["months", "days"] = "months"
    threshold: int = Field(default=3, ge=1)
    survival: tuple[str, ...] | None = None
    proportions: tuple[str, ...] | None = None


class AdtteSettings(_Frozen):
    """Settings of the time-to-event table: ``stratum`` names the patient-level variable copied into
    ``STRATUM``; ``labels`` override the metadata labels of ADTTE columns."""

    stratum: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    labels: dict[str, str] = Field(default_factory=dict)


class AdaeSpec(_Frozen):
    """Where the adverse-event table (ADAE) takes its values: columns of the repeating ``form``.

    ``grading = "ctcae"`` resolves reported terms against CTCAE (``report.table2.ctcae_version``);
    ``"as_reported"`` keeps them as entered (e.g. CRS and ICANS graded by the ASTCT consensus).
    ``toxicity_data`` names a yes/no ADSL variable: patients for whom it is false have no ADAE rows.
    """

    form: str
    term: str
    grade: str
    onset: str | None = None
    course: str | None = None
    interrupted: str | None = None
    discontinued: str | None = None
    toxicity_data: str | None = None
    grading: Literal["ctcae", "as_reported"] = "ctcae"


class AdrsSpec(_Frozen):
    """Where the response table (ADRS) takes its values: morphological CR (``blasts`` < ``cr_below``) and MRD
    (``methods`` in precedence order, negative below ``negative_below``) at each of ``timepoints`` (column
    ``timepoint`` of ``form``, dated by ``date``; ``ADY`` counts days from the ADSL date ``origin``);
    ``response`` and ``best_response`` are ADSL variables;
    ``progressed`` (ADSL, yes/no) makes the first time point a failure."""

    form: str
    timepoint: str
    timepoints: tuple[str, ...] = Field(min_length=1)
    date: str
    origin: str
    blasts: str
    cr_below: float
    methods: tuple[dict[str, str], ...] = Field(min_length=1)
    negative_below: float
    response: str | None = None
    best_response: str | None = None
    progressed: str | None = None


class Protocol(_Frozen):
    """A study protocol."""

    study: Study
    time: TimeUnits = Field(default_factory=TimeUnits)
    derived: tuple[Derived, ...] = ()
    eligibility: Eligibility = Field(default_factory=Eligibility)
    adtte: AdtteSettings = Field(default_factory=AdtteSettings)
    endpoints: tuple[Endpoint, ...] = ()
    adae: AdaeSpec | None = None
    adrs: AdrsSpec | None = None
    analyses: Analyses = Field(default_factory=Analyses)
    report: ReportSpec = Field(default_factory=ReportSpec)
    federation: Federation = Field(default_factory=Federation)
    source: str = "built-in"

    @model_validator(mode="before")
    @classmethod
    def _format_1(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = [k for k in ("response", "strata") if k in data]
            if old:
                raise ValueError(
                    f"[{'] and ['.join(old)}] belong to the first protocol format; declare the variables they "
                    "made as [[derived]] variables instead (kind = \"cut\" for strata, kind = \"function\" for "
                    "the response rules; docs/new-study.md)")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        names = [d.name for d in self.derived]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"derived: duplicate names {dup}")
        reserved = sorted(set(names) & {"eligible", "exclusion_step", "exclusion_reason"})
        if reserved:
            raise ValueError(f"derived: {reserved} are made by the eligibility screening; choose other names")
        for d in self.derived:
            if d.kind == "function":
                check_function_args(d.name, d.function or "", d.args)
        codes = [e.paramcd for e in self.endpoints]
        if len(set(codes)) != len(codes):
            raise ValueError(f"endpoints: duplicate paramcd in {codes}")
        for a in (*self.analyses.survival, *self.analyses.competing, *self.analyses.timedep):
            if a.endpoint not in codes:
                raise ValueError(f"analyses {a.id}: endpoint {a.endpoint!r} is not one of {codes}")
        for a in self.analyses.competing:
            causes = [e.cause for e in self.endpoint(a.endpoint).events]
            unknown = sorted(set(a.causes) - set(causes))
            if unknown:
                raise ValueError(f"analyses.competing {a.id}: causes {unknown} are not events of endpoint "
                                 f"{a.endpoint} ({causes})")
        fed = self.federation
        for kind, ids, known in (("survival", fed.survival, self.analyses.survival),
                                 ("proportions", fed.proportions, self.analyses.proportions)):
            have = [a.id for a in known]
            for i in ids or ():
                if i not in have:
                    raise ValueError(f"federation.{kind}: {i!r} is not an [[analyses.{kind}]] id ({have})")
            if ids is not None and len(set(ids)) != len(ids):
                raise ValueError(f"federation.{kind}: duplicate ids {sorted(ids)}")
        return self

    def derivation(self, name: str) -> Derived | None:
        """The ``[[derived]]`` declaration of ``name`` (``None`` when it is not derived)."""
        for d in self.derived:
            if d.name == name:
                return d
        return None

    def levels(self, name: str) -> list[tuple[Any, str]]:
        """(value, label) of each level of derived variable ``name`` (a cut's levels, or its ``codes``)."""
        d = self.derivation(name)
        if d is None:
            raise KeyError(f"protocol has no derived variable {name!r}")
        if d.kind == "label" and d.variable:
            return self.levels(d.variable)
        return d.level_labels()

    def federated(self) -> tuple[tuple[SurvivalAnalysis, ...], tuple[ProportionAnalysis, ...]]:
        """The survival and proportion analyses that ``[federation]`` federates, in protocol order."""
        fed = self.federation
        surv = tuple(a for a in self.analyses.survival if fed.survival is None or a.id in fed.survival)
        prop = tuple(a for a in self.analyses.proportions if fed.proportions is None or a.id in fed.proportions)
        return surv, prop

    def endpoint(self, paramcd: str) -> Endpoint:
        for e in self.endpoints:
            if e.paramcd == paramcd:
                return e
        raise KeyError(f"protocol has no endpoint {paramcd!r}")


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Load the protocol at ``path`` (TOML), or the built-in study's protocol when ``None``.

    Raises :class:`ProtocolError` naming the file and the offending entry.
    """
    if path is None:
        label = "built-in protocol"
        text = resources.files("blincompass.protocol").joinpath("data/blincompass.toml").read_text("utf-8")
    else:
        label = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ProtocolError(f"{label}: cannot read protocol file ({exc.strerror or exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{label}: not valid TOML ({exc})") from exc
    if path is None:  # the built-in protocol is named after its study
        label = f"built-in {data.get('study', {}).get('name', '')} protocol".replace("  ", " ")
    data["source"] = label
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ProtocolError(f"{label}: {problems}") from exc
