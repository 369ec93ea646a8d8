"""Displayed table cells become numbers with number formats in tables.xlsx (render_xlsx.parse_cell)."""

from __future__ import annotations

import io

import openpyxl
import pytest

from blincompass.report.model import HeaderCell, Report, Row, Section, Table
from blincompass.report.render_xlsx import parse_cell, render_xlsx, sheet_name


def _vals(text: str, percent: bool = False) -> tuple[str, list[tuple[object, str]]]:
    kind, parts = parse_cell(text, percent)
    return kind, [(p.value, p.number_format) for p in parts]


@pytest.mark.parametrize(("text", "percent", "kind", "parts"), [
    ("39", False, "number", [(39, "0")]),
    ("0.034", False, "number", [(0.034, "0.000")]),
    ("-2.593", False, "number", [(-2.593, "0.000")]),
    ("56.4 %", False, "number", [(0.564, "0.0%")]),
    ("100.0", True, "number", [(1.0, "0.0%")]),
    ("22 (56.4)", False, "count_pct", [(22, "0"), (0.564, "0.0%")]),
    ("23/26", False, "ratio", [(23, "0"), (26, "0")]),
    ("88.5 (69.8\u201397.6)", True, "ci", [(0.885, "0.0%"), (0.698, "0.0%"), (0.976, "0.0%")]),
    ("24.0 (-13.5\u201361.5)", False, "ci", [(24.0, "0.0"), (-13.5, "0.0"), (61.5, "0.0")]),
    ("NR (12.6\u2013NE)", False, "ci", [("NR", "General"), (12.6, "0.0"), ("NE", "General")]),
    ("33.3 % (0.1\u201383.2)", False, "ci", [(0.333, "0.0%"), (0.001, "0.0%"), (0.832, "0.0%")]),
    ("40.1 (5.5; 67.2)", False, "triple", [(40.1, "0.0"), (5.5, "0.0"), (67.2, "0.0")]),
    ("< 0.0001", False, "threshold", [(0.0001, '"<"0.0000')]),
    ("\u2264 0.0001", False, "threshold", [(0.0001, '"\u2264 "0.0000')]),
    ("n/a", False, "text", [("n/a", "General")]),
    ("0.062 (two-sided)", False, "text", [("0.062 (two-sided)", "General")]),
])
def test_parse_cell(text, percent, kind, parts):
    got_kind, got = _vals(text, percent)
    assert got_kind == kind
    assert got == parts  # values exact: rounded to the decimals shown


def test_split_columns_and_names():
    t = Table("survival_by_group", "Table 4. Survival at 12 months in 39 patients",
              ((HeaderCell("Group"), HeaderCell("n"), HeaderCell("Survival, % (95% CI)"), HeaderCell("p")),),
              (Row(("All", "39", "72.9 (53.8\u201385.1)", "< 0.0001")), Row(("Other", "5", "\u2013", "0.25"))))
    rep = Report("r", "s", False, (Section("s", "S", (t,)),), {})
    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(rep)))
    assert wb.sheetnames == ["README", "Table 4 Survival at months", "Results"]
    ws = wb["Table 4 Survival at months"]
    assert [c.value for c in ws[3]] == ["Group", "n", "Survival, % (95% CI)", None, None, "p"]
    assert [c.value for c in ws[4]][2:5] == ["estimate", "lower", "upper"]
    row = ws[5]
    assert [c.value for c in row] == ["All", 39, 0.729, 0.538, 0.851, 0.0001]
    assert row[5].number_format == '"<"0.0000' and row[2].number_format == "0.0%"
    assert [c.value for c in ws[6]][:3] == ["Other", 5, "\u2013"]
    assert [str(r) for r in ws.merged_cells.ranges] == ["C3:E3"]
    used: set[str] = set()
    names = [sheet_name(t, True, used) for _ in range(3)]
    assert names == ["SYNTHETIC Table 4 Survival", "SYNTHETIC Table 4 Survival 2",
                     "SYNTHETIC Table 4 Survival 3"]


@pytest.mark.parametrize(("caption", "name"), [
    ("Table 3. Response to blinatumomab by bone-marrow blasts at the first course.", "SYNTHETIC Table 3 Response"),
    ("Comparisons by a status reached during follow-up: as published and immortal-time-safe",
     "SYNTHETIC Comparisons"),
    ("Log-rank tests of the publication: asymptotic and permutation p-values", "SYNTHETIC Log-rank tests"),
    ("Table 2. Adverse events (CTCAE v4.03), number and percentage", "SYNTHETIC Table 2 Adverse"),
    ("Table 2. AEs (CTCAE), grades", "SYNTHETIC Table 2 AEs (CTCAE)"),
])
def test_sheet_name_ends_on_a_content_word(caption, name):
    """A title cut at 31 characters does not end on "to", "by a", "of the" or an open parenthesis (the demo's
    sheet names)."""
    t = Table("t", caption, ((HeaderCell("x"),),), (Row(("1",)),))
    assert sheet_name(t, True, set()) == name
