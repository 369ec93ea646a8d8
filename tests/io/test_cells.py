import datetime as dt

import pytest

from blincompass.dictionary import load_dictionary
from blincompass.io import cells
from blincompass.io.cells import excel_serial_to_date, parse_cell, parse_date, parse_mrd_text, parse_number_text

D = load_dictionary()
META = D.meta


def var(form: str, name: str):
    return D.form(form).variable(name)


def parse(form: str, name: str, raw, **kw):
    return parse_cell(var(form, name), raw, META, **kw)


# ---------------------------------------------------------------- dates
@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2019-03-05", dt.date(2019, 3, 5)),
        ("2019-03-05 00:00:00", dt.date(2019, 3, 5)),
        ("2019-03-05T00:00:00", dt.date(2019, 3, 5)),
        ("05/03/2019", dt.date(2019, 3, 5)),
        ("5/3/2019", dt.date(2019, 3, 5)),
        ("05.03.2019", dt.date(2019, 3, 5)),
        ("05-03-2019", dt.date(2019, 3, 5)),
        ("2019/03/05", dt.date(2019, 3, 5)),
        ("5 Mar 2019", dt.date(2019, 3, 5)),
        ("5 March 2019", dt.date(2019, 3, 5)),
        ("5 marzo 2019", dt.date(2019, 3, 5)),
        ("05-mag-2019", dt.date(2019, 5, 5)),
        ("1 dic 2019", dt.date(2019, 12, 1)),
        ("March 5, 2019", dt.date(2019, 3, 5)),
        ("\u00a005/03/2019 ", dt.date(2019, 3, 5)),
        (dt.datetime(2019, 3, 5, 0, 0), dt.date(2019, 3, 5)),
        (dt.date(2019, 3, 5), dt.date(2019, 3, 5)),
        (43529, dt.date(2019, 3, 5)),
        (43529.0, dt.date(2019, 3, 5)),
        ("43529", dt.date(2019, 3, 5)),
        ("20190305", dt.date(2019, 3, 5)),
        (20190305, dt.date(2019, 3, 5)),
    ],
)
def test_dates_accepted(raw, expected):
    c = parse("patients", "birth_date", raw)
    assert c.ok and c.value == expected


def test_excel_serial_1900_leap_year_bug():
    assert excel_serial_to_date(1) == dt.date(1900, 1, 1)
    assert excel_serial_to_date(59) == dt.date(1900, 2, 28)
    assert excel_serial_to_date(61) == dt.date(1900, 3, 1)
    assert excel_serial_to_date(43529.75) == dt.date(2019, 3, 5)  # time of day dropped
    with pytest.raises(ValueError, match="1900-02-29"):
        excel_serial_to_date(60)


def test_excel_serial_1904_system():
    assert excel_serial_to_date(0, date1904=True) == dt.date(1904, 1, 1)
    assert excel_serial_to_date(43529 - 1462, date1904=True) == dt.date(2019, 3, 5)
    assert parse("patients", "birth_date", 42067, date1904=True).value == dt.date(2019, 3, 5)


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ("31/02/2019", "February 2019 has 28 days"),
        ("29/02/2019", "February 2019 has 28 days"),
        ("2019-13-01", "no month 13"),
        ("03/15/2019", "month first"),
        ("05/03/19", "two-digit year"),
        ("5 foo 2019", "not a month name"),
        ("20190230", "February 2019 has 28 days"),
        ("yesterday", "is not a date"),
        (True, "is not a date"),
        (dt.time(10, 0), "time of day"),
    ],
)
def test_dates_rejected_precisely(raw, fragment):
    c = parse("patients", "birth_date", raw)
    assert not c.ok
    assert c.issues[0].rule == "type.date"
    assert fragment in c.issues[0].message
    assert "yyyy-mm-dd" in c.issues[0].message
    assert c.value is None


def test_dayfirst_switch(monkeypatch):
    assert parse_date("05/03/2019", dayfirst=False) == dt.date(2019, 5, 3)
    assert "day first" in parse_date("15/03/2019", dayfirst=False)
    monkeypatch.setattr(cells, "DAYFIRST", False)
    assert parse_date("05/03/2019") == dt.date(2019, 5, 3)


def test_implausible_date_is_a_range_error():
    c = parse("patients", "birth_date", 45)  # Excel serial 45 = 1900-02-14
    assert c.issues[0].rule == "range"


# ---------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    "raw, expected",
    [("4,5", 4.5), ("4.5", 4.5), (" 4 ", 4.0), ("4%", 4.0), ("4 %", 4.0), (4.5, 4.5), ("1e1", 10.0), ("0", 0.0)],
)
def test_numbers_accepted(raw, expected):
    c = parse("assessments", "bm_blasts", raw)
    assert c.ok and c.value == expected


@pytest.mark.parametrize(
    "raw, rule, fragment",
    [
        ("1.234,5", "type.number", "thousands separator"),
        ("1,234.5", "type.number", "thousands separator"),
        ("1.234.567", "type.number", "more than one separator"),
        ("<5", "type.number", "comparison"),
        ("abc", "type.number", "not a number"),
        ("150", "range", "outside the allowed range 0 to 100 %"),
        ("-1", "range", "outside"),
        (dt.date(2019, 1, 1), "type.number", "date"),
    ],
)
def test_numbers_rejected(raw, rule, fragment):
    c = parse("assessments", "bm_blasts", raw)
    assert c.issues[0].rule == rule
    assert fragment in c.issues[0].message


def test_percent_only_for_percent_units():
    assert "percent" in parse_number_text("4%")  # type: ignore[operator]
    c = parse("patients", "prior_hsct", "1%")
    assert c.issues[0].rule == "type.integer"


def test_integers():
    assert parse("courses", "course", 2.0).value == 2
    assert isinstance(parse("courses", "course", 2.0).value, int)
    assert parse("courses", "course", "2").value == 2
    assert parse("courses", "course", "2,0").value == 2
    c = parse("courses", "course", 2.5)
    assert c.issues[0].rule == "type.integer" and "whole number" in c.issues[0].message
    assert parse("courses", "course", "0").issues[0].rule == "range"


def test_integer_unknown_where_allowed():
    c = parse("adverse_events", "grade", "unknown")
    assert c.ok and c.unknown and c.value is None and c.present
    c = parse("adverse_events", "grade", "Unknown ")
    assert c.unknown
    c = parse("courses", "course", "unknown")  # not allowed: plain missing
    assert not c.present and c.ok


# ---------------------------------------------------------------- missing, codes, booleans, strings
@pytest.mark.parametrize("raw", ["", "  ", "NA", "n.a.", "N/A", "-", "?", "missing", "\u00a0", None])
def test_missing_spellings(raw):
    c = parse("patients", "birth_date", raw)
    assert c.ok and not c.present


def test_codes_by_code_label_alias_case_insensitive():
    assert parse("patients", "sex", "m").value == "M"
    assert parse("patients", "sex", " Female ").value == "F"
    assert parse("patients", "sex", "maschio").value == "M"
    assert parse("patients", "karyotype", "t(12; 21)").value == "t12_21"
    assert parse("patients", "karyotype", "T12_21").value == "t12_21"
    assert parse("patients", "disease_status", "1st  relapse").value == "first_relapse"
    # "-" is a missing spelling but an alias of CD19 negative: the alias wins
    assert parse("patients", "cd19_status", "-").value == "negative"


def test_unknown_maps_to_code_where_allowed():
    assert parse("patients", "karyotype", "unknown").value == "unknown"
    assert parse("patients", "immunophenotype", "Unknown").value == "unknown"
    assert parse("patients", "immunophenotype", "unk").value == "unknown"
    # sex does not allow unknown: "unknown" is a missing spelling
    c = parse("patients", "sex", "unknown")
    assert c.ok and not c.present


def test_code_not_allowed_lists_codes():
    c = parse("patients", "sex", "X")
    assert c.issues[0].rule == "code.allowed"
    assert "M (Male)" in c.issues[0].message and "F (Female)" in c.issues[0].message


@pytest.mark.parametrize(
    "raw, expected",
    [("yes", True), ("Sì", True), ("SI", True), ("n", False), (True, True), (0, False), (1.0, True)],
)
def test_booleans(raw, expected):
    assert parse("patients", "in_trial", raw).value is expected


def test_boolean_rejected():
    assert parse("patients", "in_trial", "maybe").issues[0].rule == "type.boolean"


def test_strings_trimmed_and_patterns():
    assert parse("patients", "centre", "  Roma\u00a0 ").value == "Roma"
    assert parse("patients", "patient_id", 101.0).value == "101"
    assert parse("patients", "patient_id", "P 01").issues[0].rule == "pattern"


# ---------------------------------------------------------------- MRD
@pytest.mark.parametrize(
    "raw, level, status",
    [
        (0.0012, 0.0012, "quantified"),
        ("0.0012", 0.0012, "quantified"),
        ("0,0012", 0.0012, "quantified"),
        ("1.2e-3", 0.0012, "quantified"),
        ("1x10-4", 1e-4, "quantified"),
        ("1 x 10^-4", 1e-4, "quantified"),
        ("5×10⁻⁴", 5e-4, "quantified"),
        ("10^-3", 1e-3, "quantified"),
        ("0.12%", 0.0012, "quantified"),
        ("NEG", None, "NEG"),
        ("negativo", None, "NEG"),
        ("pos-nq", None, "PNQ"),
        ("nd", None, "ND"),
        ("Not done", None, "ND"),
    ],
)
def test_mrd_accepted(raw, level, status):
    c = parse("assessments", "pcr_mrd", raw)
    assert c.ok and c.status == status
    if level is None:
        assert c.value is None
    else:
        assert c.value == pytest.approx(level, rel=1e-12)


def test_mrd_threshold_rejected_with_advice():
    for raw in ("<1x10-4", "<1e-4", "> 10^-2"):
        c = parse("assessments", "pcr_mrd", raw)
        assert c.issues[0].rule == "type.mrd"
        assert "NEG" in c.issues[0].message and "PNQ" in c.issues[0].message
    assert isinstance(parse_mrd_text("<1e-4"), str)


def test_mrd_out_of_range_and_missing():
    c = parse("assessments", "fc_mrd", "5")
    assert c.issues[0].rule == "range" and "fraction" in c.issues[0].message
    assert not parse("assessments", "fc_mrd", "NA").present
    assert parse("assessments", "fc_mrd", "garbage").issues[0].rule == "type.mrd"


# ---------------------------------------------------------------- AE terms
def test_ae_terms():
    c = parse("adverse_events", "ae_term", "  seizure ")
    assert (c.value, c.mapped, c.status) == ("Seizure", "Seizure", "ctcae")
    c = parse("adverse_events", "ae_term", "Platelet  count decreased")
    assert c.status == "ctcae" and c.mapped == "Platelet count decreased"
    c = parse("adverse_events", "ae_term", "thrombocytopenia")
    assert (c.value, c.mapped, c.status) == ("Thrombocytopenia", "Platelet count decreased", "synonym")
    c = parse("adverse_events", "ae_term", "Headache-ish thing")
    assert (c.value, c.mapped, c.status) == ("Headache-ish thing", None, "unmapped")


def test_partial_dates_rejected():
    assert "year only" in parse("patients", "birth_date", "2019").issues[0].message
    assert "month and year" in parse("patients", "birth_date", "03/2019").issues[0].message
    assert "month and year" in parse("patients", "birth_date", "2019-03").issues[0].message


def test_excel_error_values():
    for raw in ("#N/A", "#VALUE!", "#div/0!"):
        c = parse("assessments", "bm_blasts", raw)
        assert c.issues[0].rule == "type.excel_error" and "formula" in c.issues[0].message
