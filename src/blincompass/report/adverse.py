"""Table 2 (adverse events by term and grade) and the per-patient and per-course AE summaries."""

from __future__ import annotations

from typing import Any

import pandas as pd

from blincompass.protocol import Protocol
from blincompass.protocol.layout import Layout
from blincompass.report.fmt import DASH, fmt_n_pct, fmt_pct, slug
from blincompass.report.model import HeaderCell, Row, Table, put
from blincompass.report.table1 import eligible
from blincompass.report.wording import resolve

__all__ = ["GRADE_COLUMNS", "build_ae_by_course", "build_ae_patients", "build_table2", "grade_column",
           "toxicity_patients"]

#: Grade columns of Table 2: (results key, header). ``g5`` is shown only when a grade-5 event exists.
GRADE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("g1_2", "Grade 1\u20132"),
    ("g3", "Grade 3"),
    ("g4", "Grade 4"),
    ("g5", "Grade 5"),
    ("unknown", "Unknown grade"),
    ("total", "Total"),
)

_MARKS = {"nearest": "\u2020", "other": "\u2020", "synonym": "\u2021", "unmapped": "\u00a7"}


def grade_column(grade: Any) -> str:
    """The Table 2 column of a CTCAE grade (missing = "unknown")."""
    if grade is None or grade is pd.NA or (isinstance(grade, float) and grade != grade):
        return "unknown"
    g = int(grade)
    return "g1_2" if g <= 2 else f"g{g}"


def _columns(adae: pd.DataFrame) -> list[tuple[str, str]]:
    has5 = bool((adae["AETOXGR"].dropna() == 5).any()) if len(adae) else False
    return [c for c in GRADE_COLUMNS if c[0] != "g5" or has5]


def _counts(events: pd.DataFrame) -> dict[str, int]:
    cols = events["AETOXGR"].map(grade_column) if len(events) else pd.Series([], dtype=object)
    out = {k: int((cols == k).sum()) for k, _ in GRADE_COLUMNS if k != "total"}
    out["total"] = len(events)
    return out


def _patient_counts(events: pd.DataFrame) -> dict[str, int]:
    """Patients of ``events`` by the column of their worst grade (the highest known grade; "unknown" when
    every grade of the patient is unknown); ``total``: patients with at least one event."""
    out = {k: 0 for k, _ in GRADE_COLUMNS}
    if not len(events):
        return out
    worst = events.groupby("USUBJID", sort=False)["AETOXGR"].max()
    for col in worst.map(grade_column):
        out[col] += 1
    out["total"] = len(worst)
    return out


def toxicity_patients(adsl: pd.DataFrame, protocol: Protocol | None) -> pd.Series:
    """Patient ids of the eligible patients with toxicity data (the protocol's ``[adae] toxicity_data``
    yes/no variable; a missing value counts as yes; every eligible patient when the protocol names none)."""
    elig = eligible(adsl)
    column = protocol.adae.toxicity_data if protocol is not None and protocol.adae is not None else None
    if column is None and protocol is None and "tox_data_available" in elig.columns:
        column = "tox_data_available"
    if column is None or column not in elig.columns:
        return elig["patient_id"]
    keep = elig[column].astype("boolean").fillna(True).astype(bool)
    return elig.loc[keep, "patient_id"]


def _footnote(term: str, status: str, decod: str | None, version: str) -> str:
    mark = _MARKS[status]
    if status == "synonym":
        return f"{mark} {term}: synonym of the CTCAE v{version} term {decod}."
    if status == "nearest":
        return f"{mark} {term}: not a CTCAE v{version} term; nearest: {decod}."
    if status == "other":
        return f"{mark} {term}: not a CTCAE v{version} term; coded as {decod}."
    return f"{mark} {term}: not a CTCAE v{version} term; no mapping to CTCAE."


def build_table2(adae: pd.DataFrame, adsl: pd.DataFrame, protocol: Protocol, results: dict[str, Any],
                 layout: Layout | None = None, values: dict[str, Any] | None = None) -> Table:
    """Table 2: adverse events by reported term and grade, patients (worst grade per patient, % of the
    patients with toxicity data) and events (% of all events), terms beneath their group.

    Result keys: ``table2.n_events``, ``table2.n_eligible``, ``table2.n_toxicity_data``,
    ``table2.total.<col>``, ``table2.groups.<group>.<col>``, ``table2.terms.<term>.<col>`` each with ``.n``
    and ``.pct`` (events) and ``.patients`` and ``.patients_pct`` (``<col>`` in g1_2, g3, g4, g5, unknown,
    total; ``<term>`` the slug of the reported term), ``table2.terms.<term>.ctcae_status``,
    ``table2.patients_with_ae.n``/``.pct`` (% of the patients with toxicity data).
    """
    lay, v = resolve(protocol, adsl, layout, values)
    spec = protocol.report.table2
    version = spec.ctcae_version
    if len(adae):
        # spellings of one unmapped term that differ only in case or spacing count as one term
        first: dict[str, str] = {}
        uniq = pd.unique(adae["AETERM"])  # in order of first occurrence
        for t in uniq:
            first.setdefault(" ".join(str(t).split()).casefold(), t)
        spelling = {t: first[" ".join(str(t).split()).casefold()] for t in uniq}
        adae = adae.assign(AETERM=adae["AETERM"].map(spelling))
    elig = eligible(adsl)
    n_elig = len(elig)
    n_events = len(adae)
    n_tox = len(toxicity_patients(adsl, protocol))
    cols = _columns(adae)
    put(results, "table2.n_events", n_events)
    put(results, "table2.n_eligible", n_elig)
    put(results, "table2.n_toxicity_data", n_tox)
    n_pat = int(adae["USUBJID"].nunique()) if n_events else 0
    put(results, "table2.patients_with_ae.n", n_pat)
    put(results, "table2.patients_with_ae.pct", 100.0 * n_pat / n_tox if n_tox else None)

    def cells(base: str, events: pd.DataFrame) -> tuple[list[str], list[str | None]]:
        counts, patients = _counts(events), _patient_counts(events)
        texts: list[str] = []
        keys: list[str | None] = []
        for k, _ in cols:
            n, m = counts[k], patients[k]
            kn = put(results, f"{base}.{k}.n", n)
            put(results, f"{base}.{k}.pct", 100.0 * n / n_events if n_events else None)
            km = put(results, f"{base}.{k}.patients", m)
            put(results, f"{base}.{k}.patients_pct", 100.0 * m / n_tox if n_tox else None)
            if n == 0 and k != "total":
                texts += [DASH, DASH]
                keys += [km, kn]
            else:
                texts += [fmt_n_pct(m, n_tox) if n_tox else str(m), fmt_n_pct(n, n_events)]
                keys += [km, kn]
        return texts, keys

    rows: list[Row] = []
    t, k = cells("table2.total", adae)
    rows.append(Row(("Any adverse event", *t), (None, *k), 0, "total"))

    info: dict[str, tuple[str, str | None]] = {}
    firsts = adae.drop_duplicates("AETERM")
    for term, status, decod in zip(firsts["AETERM"], firsts["AESTATUS"], firsts["AEDECOD"], strict=True):
        info.setdefault(term, (status, decod))
    footnotes: list[str] = []

    def term_label(term: str) -> str:
        status, decod = info[term]
        if status in _MARKS:
            note = _footnote(term, status, decod, version)
            if note not in footnotes:
                footnotes.append(note)
            return f"{term} {_MARKS[status]}"
        return term

    slugs: dict[str, str] = {}

    def term_key(term: str) -> str:
        s = slug(term)
        while s in slugs.values():
            s += "_"
        return slugs.setdefault(term, s)

    def term_row(term: str, level: int) -> None:
        ev = adae[adae["AETERM"] == term]
        key = f"table2.terms.{term_key(term)}"
        put(results, f"{key}.term", term)
        put(results, f"{key}.ctcae_status", info[term][0])
        put(results, f"{key}.ctcae_term", info[term][1])
        t, k = cells(key, ev)
        rows.append(Row((term_label(term), *t), (None, *k), level))

    observed = list(dict.fromkeys(adae["AETERM"].tolist()))
    folded = {t.casefold(): t for t in observed}
    placed: set[str] = set()
    for entry in spec.rows:
        if entry.term is not None:
            term = folded.get(entry.term.casefold())
            if term is not None and term not in placed:
                term_row(term, 0)
                placed.add(term)
            continue
        members = [folded[t.casefold()] for t in entry.terms if t.casefold() in folded]
        in_group = adae[adae["AEGRPID"] == entry.group]
        members += [t for t in dict.fromkeys(in_group["AETERM"]) if t not in members]
        members = [t for t in members if t not in placed]
        if not members:
            continue
        ev = adae[adae["AETERM"].isin(members)]
        base = f"table2.groups.{entry.group}"
        put(results, f"{base}.label", entry.label)
        t, k = cells(base, ev)
        rows.append(Row((entry.label or "", *t), (None, *k), 0, "heading"))
        for term in members:
            term_row(term, 1)
            placed.add(term)
    rest = [t for t in observed if t not in placed]
    rest.sort(key=lambda t: (-int((adae["AETERM"] == t).sum()), t.casefold()))
    for term in rest:
        term_row(term, 0)

    header = (
        (HeaderCell(lay.text_of("ae_heading", v)), *[HeaderCell(h, 2) for _, h in cols]),
        (HeaderCell(f"n (%): of {n_tox} patients with toxicity data / of {n_events} events"),
         *[HeaderCell(x) for _ in cols for x in ("Patients", "Events")]),
    )
    group_labels = [e.label for e in spec.rows if e.term is None and e.label]
    example = f" (e.g. {group_labels[0]})" if group_labels else ""
    foot = [
        f"Adverse events graded by CTCAE v{version}. Patients: patients with at least one event of the row, counted "
        f"once, in the column of their worst grade for the row (the highest known grade; unknown grade when "
        f"every grade is unknown); % of the {n_tox} patients with toxicity data (of {n_elig} eligible). Events: "
        f"every event; % of all {n_events} events. Group rows{example} add up the terms beneath them; the "
        "grouping comes from the protocol.",
        f"Patients with at least one adverse event: {n_pat} of {n_tox} with toxicity data "
        f"({fmt_pct(n_pat, n_tox)} %).",
        *footnotes,
    ]
    return Table(
        id="table2",
        caption=lay.table_title("table2", v),
        header=header,
        rows=tuple(rows),
        footnotes=tuple(foot),
        sheet="Table 2",
    )


def build_ae_patients(adae: pd.DataFrame, adsl: pd.DataFrame, results: dict[str, Any], layout: Layout | None = None,
                      values: dict[str, Any] | None = None, protocol: Protocol | None = None) -> Table:
    """Adverse events per patient: toxicity data, patients with AEs, worst grade per patient, actions.

    Percentages of the rows on toxicity data are of the eligible patients; every other row's are of the
    patients with toxicity data (each row shows its n/N).
    Result keys: ``ae_patients.<item>.n``/``.pct``/``.denominator`` for items ``eligible``, ``tox_data``,
    ``tox_missing``, ``any_ae``, ``grade3plus``, ``worst_g1_2``, ``worst_g3``, ``worst_g4``, ``worst_g5``,
    ``worst_unknown``, ``no_ae``, ``interrupted``, ``discontinued``; and ``ae_patients.events_interrupted.n``,
    ``ae_patients.events_discontinued.n``.
    """
    lay, v = resolve(protocol, adsl, layout, values)
    elig = eligible(adsl)
    n = len(elig)
    pats = toxicity_patients(adsl, protocol)
    n_tox = len(pats)
    ev = adae[adae["USUBJID"].isin(pats)]
    # worst known grade of each patient with events (missing when every grade of the patient is unknown)
    worst_grade = ev.groupby("USUBJID", sort=False)["AETOXGR"].max()
    known = worst_grade.dropna()
    rows: list[Row] = []

    def line(key: str, label: str, count: int, level: int = 1, denom: int = n_tox) -> None:
        kn = put(results, f"ae_patients.{key}.n", count)
        put(results, f"ae_patients.{key}.denominator", denom)
        put(results, f"ae_patients.{key}.pct", 100.0 * count / denom if denom else None)
        rows.append(Row((label, f"{count}/{denom}", fmt_pct(count, denom)),
                        (None, kn, kn.removesuffix(".n") + ".pct"), level))

    line("eligible", "Eligible patients", n, 0, n)
    line("tox_data", "Toxicity data available", n_tox, 1, n)
    line("tox_missing", "Toxicity data missing", n - n_tox, 1, n)
    line("any_ae", "At least one adverse event", len(worst_grade))
    line("grade3plus", "At least one adverse event of grade \u22653", int((known >= 3).sum()))
    rows.append(Row(("Worst grade per patient", "", ""), (None, None, None), 0, "heading"))
    worst: dict[str, int] = {"g1_2": 0, "g3": 0, "g4": 0, "g5": 0, "unknown": 0, "no_ae": 0}
    for grade, count in known.value_counts(sort=False).items():  # one step per distinct grade
        worst[grade_column(grade)] += int(count)
    worst["unknown"] = len(worst_grade) - len(known)
    worst["no_ae"] = n_tox - len(worst_grade)
    labels = {"g1_2": "Grade 1\u20132", "g3": "Grade 3", "g4": "Grade 4", "g5": "Grade 5",
              "unknown": "Unknown grade only", "no_ae": "No adverse event"}
    for k, label in labels.items():
        line(f"worst_{k}", label, worst[k])
    put(results, "ae_patients.worst_tox_missing.n", n - n_tox)
    rows.append(Row(("Actions taken", "", ""), (None, None, None), 0, "heading"))
    line("interrupted", "Patients with an adverse event leading to transient interruption",
         int(ev.loc[ev["AEACNINT"], "USUBJID"].nunique()) if len(ev) else 0)
    line("discontinued", "Patients with an adverse event leading to discontinuation of the course",
         int(ev.loc[ev["AEACNDSC"], "USUBJID"].nunique()) if len(ev) else 0)
    put(results, "ae_patients.events_interrupted.n", int(adae["AEACNINT"].sum()) if len(adae) else 0)
    put(results, "ae_patients.events_discontinued.n", int(adae["AEACNDSC"].sum()) if len(adae) else 0)
    return Table(
        id="ae_patients",
        caption=lay.table_title("ae_patients", v),
        header=((HeaderCell("Patients"), HeaderCell("n/N"), HeaderCell("%")),),
        rows=tuple(rows),
        footnotes=(
            f"N: the {n} eligible patients for the rows on toxicity data, otherwise the {n_tox} patients with "
            "toxicity data. Worst grade: the highest known grade of the patient's events; 'Unknown grade only' "
            "when every event of the patient has an unknown grade.",
        ),
        sheet="Table 2b",
    )


#: Denominators of "adverse events in both course 1 and course 2" (``[report.table2] both_courses_of``).
BOTH_COURSES_OF: dict[str, str] = {
    "exactly_two": "patients who received exactly two courses",
    "two_or_more": "patients who received two or more courses",
}


def build_ae_by_course(adae: pd.DataFrame, adsl: pd.DataFrame, results: dict[str, Any],
                       layout: Layout | None = None, values: dict[str, Any] | None = None,
                       protocol: Protocol | None = None, both_courses_of: str | None = None) -> Table:
    """Adverse events by course: patients treated, patients with an AE in the course, events; and the
    patients with adverse events in both course 1 and course 2.

    ``both_courses_of`` (default: the protocol's ``[report.table2] both_courses_of``, else "exactly_two")
    is the denominator of that line: "exactly_two" (patients who received exactly two courses) or
    "two_or_more"; the numerator is the patients of the denominator with an adverse event that began in
    course 1 and one that began in course 2.
    Result keys: ``ae_by_course.c<k>.treated``, ``.patients_with_ae.n``/``.pct`` (% of the treated),
    ``.events``; ``ae_by_course.both_courses.n``, ``.denominator``, ``.pct``, ``.rule``.
    """
    lay, v = resolve(protocol, adsl, layout, values)
    rule = both_courses_of or (protocol.report.table2.both_courses_of if protocol is not None else "exactly_two")
    if rule not in BOTH_COURSES_OF:
        raise ValueError(f"both_courses_of: {rule!r} is not one of {', '.join(BOTH_COURSES_OF)}")
    elig = eligible(adsl)
    n_courses = elig.set_index("patient_id")["n_courses"].astype("Int64").fillna(0)
    max_course = int(n_courses.max()) if len(n_courses) else 0
    if len(adae):
        max_course = max(max_course, int(adae["COURSE"].max()))
    rows: list[Row] = []
    for k in range(1, max_course + 1):
        treated = int((n_courses >= k).sum())
        ev = adae[adae["COURSE"] == k]
        pats = int(ev["USUBJID"].nunique())
        base = f"ae_by_course.c{k}"
        kt = put(results, f"{base}.treated", treated)
        kn = put(results, f"{base}.patients_with_ae.n", pats)
        put(results, f"{base}.patients_with_ae.pct", 100.0 * pats / treated if treated else None)
        ke = put(results, f"{base}.events", len(ev))
        rows.append(Row((f"Course {k}", str(treated), f"{pats} ({fmt_pct(pats, treated)})", str(len(ev))),
                        (None, kt, kn, ke), 1))
    of = n_courses == 2 if rule == "exactly_two" else n_courses >= 2
    denom_ids = set(n_courses.index[of.to_numpy(dtype=bool)])
    both = 0
    if len(adae):
        in1 = set(adae.loc[adae["COURSE"] == 1, "USUBJID"])
        in2 = set(adae.loc[adae["COURSE"] == 2, "USUBJID"])
        both = len(denom_ids & in1 & in2)
    multi = len(denom_ids)
    kd = put(results, "ae_by_course.both_courses.denominator", multi)
    kn = put(results, "ae_by_course.both_courses.n", both)
    put(results, "ae_by_course.both_courses.pct", 100.0 * both / multi if multi else None)
    put(results, "ae_by_course.both_courses.rule", rule)
    rows.append(Row(("Adverse events in both course 1 and course 2\u1d43", str(multi),
                     f"{both} ({fmt_pct(both, multi)})", ""), (None, kd, kn, None), 0, "total"))
    return Table(
        id="ae_by_course",
        caption=lay.table_title("ae_by_course", v),
        header=((HeaderCell("Course"), HeaderCell("Patients treated"), HeaderCell("Patients with \u22651 AE, n (%)"),
                 HeaderCell("Events")),),
        rows=tuple(rows),
        footnotes=("Patients treated: eligible patients who received the course (including patients whose toxicity "
                   "data are missing); percentages of them.",
                   f"\u1d43 Of the {BOTH_COURSES_OF[rule]} ({multi}): patients with an adverse event that began in "
                   "course 1 and one that began in course 2.",),
        sheet="Table 2c",
    )
