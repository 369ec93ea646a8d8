"""The adversarial corpus (tests/corpus/build.py) through ``validate``, registry import and the exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.exports import export
from blincompass.io import InputReadError, example_dir, read_raw
from blincompass.io import raw as raw_module
from blincompass.protocol import load_protocol
from blincompass.registry import ImportRejected, Registry, create_engine, dump_tables
from blincompass.report.model import HeaderCell, Report, Row, Section, Table
from blincompass.report.render_xlsx import render_xlsx
from blincompass.validate import load_dataset
from tests.corpus.build import BOMB_PADDING, FORMULA_CELLS, FUTURE_DATES, build_corpus
from tests.registry.conftest import FixedClock

runner = CliRunner()
PROTOCOL = load_protocol()
CUTOFF_TOML = "data_cutoff = 2026-06-30\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    eng = create_engine(f"sqlite:///{tmp_path / 'registry.db'}", poolclass=sa.pool.NullPool)
    reg = Registry(eng, clock=FixedClock())
    reg.init()
    for code in ("C1", "C2", "C3"):
        reg.add_centre(code, f"Centre {code}")
    reg.add_user("coord", "coordinator")
    return reg


def _validate_json(path: Path, *extra: str) -> tuple[int, list[dict]]:
    res = runner.invoke(app, ["validate", str(path), "--json", *extra])
    return res.exit_code, (json.loads(res.stdout) if res.exit_code in (0, 1) else res.output)


# -- formula payloads ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["formula_csv", "formula_xlsx"])
def test_formula_text_is_a_warning_naming_row_patient_field_value(corpus: dict[str, Path], case: str) -> None:
    code, findings = _validate_json(corpus[case])
    assert code == 0  # valid data: warnings only
    got = {(f["file"].split("[")[-1].rstrip("]").removesuffix(".csv"), f["row"], f["field"], f["value"])
           for f in findings if f["rule"] == "text.formula"}
    assert got == {(form, row, field, value) for (form, row, field), value in FORMULA_CELLS.items()}
    f = next(f for f in findings if f["rule"] == "text.formula" and f["row"] == 2)
    assert f["severity"] == "warning" and f["patient_id"] == "C1-001"
    assert "ae_term \"=cmd|' /C calc'!A0\" starts with '='" in f["message"]


def _sheet_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))


def test_registry_exports_write_payloads_inert_and_reimport_unchanged(
    corpus: dict[str, Path], registry: Registry, tmp_path: Path
) -> None:
    coord = registry.as_user("coord")
    assert coord.import_path(corpus["formula_csv"]).changed
    before = dump_tables(registry.engine)

    # template workbook: string cells, no formula element; re-import gives the same registry
    xlsx = export(coord, "template", tmp_path / "template", PROTOCOL)[0]
    assert "<f>" not in _sheet_xml(xlsx)
    wb = openpyxl.load_workbook(xlsx)
    ae = wb["adverse_events"]
    assert ae["C2"].value == "=cmd|' /C calc'!A0" and ae["C2"].data_type == "s" and ae["C2"].quotePrefix
    assert ae["C3"].value == "@SUM(1+1)" and ae["C3"].data_type == "s"
    assert not coord.import_path(xlsx).changed
    assert dump_tables(registry.engine) == before

    # form CSVs: apostrophe-escaped; re-import gives the same registry
    out = tmp_path / "csv"
    export(coord, "csv", out, PROTOCOL)
    rows = list(csv.reader((out / "adverse_events.csv").open(encoding="utf-8")))
    assert rows[1][2] == "'=cmd|' /C calc'!A0" and rows[2][2] == "'@SUM(1+1)"
    courses = list(csv.reader((out / "courses.csv").open(encoding="utf-8")))
    assert courses[5][6] == "'" + FORMULA_CELLS[("courses", 6, "interruption_reason")]
    assert not coord.import_path(out).changed
    assert dump_tables(registry.engine) == before

    # SPSS and SAS files are not spreadsheets: the text is kept as data and re-imports unchanged
    sav = tmp_path / "sav"
    export(coord, "sav", sav, PROTOCOL)
    assert not coord.import_path(sav).changed
    assert dump_tables(registry.engine) == before

    # ADaM CSV: the reported term column escaped, numbers untouched
    adam = tmp_path / "adam"
    export(coord, "adam", adam, PROTOCOL)
    adae = list(csv.DictReader((adam / "adae.csv").open(encoding="utf-8")))
    terms = {r["AETERM"] for r in adae}  # eligible patients only: C1-001 (in a trial) is not in ADAE
    assert "'@SUM(1+1)" in terms
    assert not any(t.startswith(("=", "@", "+")) for r in adae for t in r.values())


def test_report_tables_xlsx_has_no_formula() -> None:
    payload = '=HYPERLINK("http://evil.example","x")'
    table = Table("t1", payload, ((HeaderCell("@SUM(1+1)"), HeaderCell("n")),),
                  (Row((payload, "-1.5")), Row(("=cmd|' /C calc'!A0", "3"))), footnotes=("+1",))
    report = Report("r", "s", False, (Section("s1", "S", (table,)),), {"a": {"b": -1.5, "c": "=1+1"}})
    data = render_xlsx(report)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in xml
    wb = openpyxl.load_workbook(io.BytesIO(data))
    values = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert payload in values and "=cmd|' /C calc'!A0" in values and "=1+1" in values
    assert -1.5 in values  # a number stays a number


# -- sheets, zip bombs, encodings --------------------------------------------------------------------


def test_two_sheets_differing_in_case_are_an_error_naming_both(corpus: dict[str, Path], registry: Registry) -> None:
    code, findings = _validate_json(corpus["two_sheets"])
    assert code == 1
    errs = [f for f in findings if f["severity"] == "error"]
    assert [f["rule"] for f in errs] == ["form.ambiguous"]
    assert "sheets 'patients' and 'PATIENTS'" in errs[0]["message"] and errs[0]["file"] == "two_sheets.xlsx"
    with pytest.raises(ImportRejected) as exc:
        registry.as_user("coord").import_path(corpus["two_sheets"])
    assert any(f.rule == "form.ambiguous" for f in exc.value.findings)


def test_zip_bomb_is_refused_before_parsing(corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                            registry: Registry) -> None:
    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the workbook was opened for parsing")

    with zipfile.ZipFile(corpus["zip_bomb"]) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    assert info.file_size > BOMB_PADDING
    monkeypatch.setattr(openpyxl, "load_workbook", no_parse)
    res = runner.invoke(app, ["validate", str(corpus["zip_bomb"])])
    assert res.exit_code == 2
    ratio = info.file_size / info.compress_size
    assert res.output == (
        f"cannot read input: zip_bomb.xlsx is refused: entry xl/worksheets/sheet1.xml expands {ratio:,.0f}-fold "
        f"({info.compress_size:,} bytes compressed to {info.file_size:,} bytes), more than the limit of 100-fold "
        "for a workbook (a zip bomb?)\n"
    )
    with pytest.raises(InputReadError, match="is refused"):
        registry.as_user("coord").import_path(corpus["zip_bomb"])


def test_total_uncompressed_size_limit(corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raw_module, "XLSX_MAX_UNCOMPRESSED", 10_000)
    with pytest.raises(InputReadError) as exc:
        read_raw(corpus["formula_xlsx"])
    msg = str(exc.value)
    assert msg.startswith("formula.xlsx is refused: it would expand to ")
    assert "more than the limit of 10,000 bytes" in msg


def test_lying_zip_header_cannot_inflate_past_the_stated_size(corpus: dict[str, Path]) -> None:
    with zipfile.ZipFile(corpus["lying_header"]) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
        assert info.file_size == 100
        with z.open(info) as fh, pytest.raises(zipfile.BadZipFile, match="CRC"):
            fh.read(10**6)
    res = runner.invoke(app, ["validate", str(corpus["lying_header"])])
    assert res.exit_code == 2
    assert "lying_header.xlsx cannot be read as an .xlsx workbook: Bad CRC-32" in res.output


def test_utf16_csv_is_decoded_with_a_warning(corpus: dict[str, Path]) -> None:
    code, findings = _validate_json(corpus["utf16_csv"])
    assert code == 0
    enc = {f["file"]: f["message"] for f in findings if f["rule"] == "file.encoding"}
    assert enc == {
        "patients.csv": "patients.csv is UTF-16 LE, not UTF-8; read as UTF-16 LE. Save it as 'CSV UTF-8' next time.",
        "courses.csv": "courses.csv is UTF-16 BE, not UTF-8; read as UTF-16 BE. Save it as 'CSV UTF-8' next time.",
    }
    utf16 = load_dataset(corpus["utf16_csv"]).dataset
    utf8 = load_dataset(example_dir()).dataset
    for form in ("patients", "courses"):
        assert utf16.forms[form].equals(utf8.forms[form]), form


def test_renamed_workbook_is_named_not_nul_bytes(corpus: dict[str, Path]) -> None:
    res = runner.invoke(app, ["validate", str(corpus["renamed_xlsx_csv"])])
    assert res.exit_code == 2
    assert "patients.csv is not a CSV file: it is a zip archive (e.g. an .xlsx workbook)" in res.output
    assert "NUL" not in res.output


# -- dates after the data cut-off ------------------------------------------------------------------


def test_future_dates_are_errors_naming_patient_field_value(corpus: dict[str, Path], tmp_path: Path) -> None:
    proto = tmp_path / "protocol.toml"
    from importlib import resources

    text = resources.files("blincompass.protocol").joinpath("data/blincompass.toml").read_text("utf-8")
    proto.write_text(text.replace("[study]\n", "[study]\n" + CUTOFF_TOML, 1), encoding="utf-8")
    code, findings = _validate_json(corpus["future_dates"], "--protocol", str(proto))
    assert code == 1
    got = {(f["file"].removesuffix(".csv"), f["patient_id"], f["field"], f["value"])
           for f in findings if f["rule"] == "date.after_cutoff"}
    expected = {(form, pid, field, value) for (form, pid, field), value in FUTURE_DATES.items()}
    expected.add(("outcomes", "C1-002", "last_followup_date", "2030-01-19"))
    assert got == expected
    f = next(f for f in findings if f["rule"] == "date.after_cutoff" and f["field"] == "death_date")
    assert f["severity"] == "error" and f["row"] == 3
    assert f["message"] == ("patient C1-002: death_date (Date of death) 2030-01-19 is after the data cut-off "
                            "2026-06-30; no date may lie beyond the data cut-off")
    # screen / derive / report validate with the protocol given to them
    res = runner.invoke(app, ["screen", str(corpus["future_dates"]), "--protocol", str(proto)])
    assert res.exit_code == 1
    assert ("[C1-002] death_date: patient C1-002: death_date (Date of death) 2030-01-19 is after the data cut-off "
            "2026-06-30; no date may lie beyond the data cut-off (date.after_cutoff)") in " ".join(res.output.split())
    # a later cut-off accepts the same dates
    later = tmp_path / "later.toml"
    later.write_text(proto.read_text(encoding="utf-8").replace("2026-06-30", "2032-01-01"), encoding="utf-8")
    code, findings = _validate_json(corpus["future_dates"], "--protocol", str(later))
    assert not [f for f in findings if f["rule"] == "date.after_cutoff"]


def test_future_dates_rejected_by_registry_import(corpus: dict[str, Path], registry: Registry) -> None:
    with pytest.raises(ImportRejected) as exc:
        registry.as_user("coord").import_path(corpus["future_dates"])
    rules = {(f.patient_id, f.field) for f in exc.value.findings if f.rule == "date.after_cutoff"}
    assert ("C2-003", "last_followup_date") in rules and ("C1-002", "death_date") in rules


def test_default_cutoff_is_today() -> None:
    from blincompass.validate.rules import resolve_cutoff, rule_ids

    assert {"date.after_cutoff", "text.formula", "text.control", "form.ambiguous"} <= set(rule_ids())
    cutoff, text = resolve_cutoff()
    assert cutoff == dt.date.today() and text.startswith("today's date ")
    assert resolve_cutoff(dt.date(2020, 1, 1)) == (dt.date(2020, 1, 1), "the data cut-off 2020-01-01")


#: Outcome of a registry import of each corpus case: "applied", ("rejected", rule) or ("refused", message start).
IMPORT_OUTCOMES: dict[str, object] = {
    "formula_csv": "applied",
    "formula_xlsx": "applied",
    "two_sheets": ("rejected", "form.ambiguous"),
    "zip_bomb": ("refused", "zip_bomb.xlsx is refused: entry xl/worksheets/sheet1.xml expands "),
    "lying_header": ("refused", "lying_header.xlsx cannot be read as an .xlsx workbook: Bad CRC-32"),
    "utf16_csv": "applied",
    "renamed_xlsx_csv": ("refused", "patients.csv is not a CSV file: it is a zip archive"),
    "future_dates": ("rejected", "date.after_cutoff"),
}


@pytest.mark.parametrize("case", sorted(IMPORT_OUTCOMES))
def test_every_corpus_case_through_registry_import(corpus: dict[str, Path], registry: Registry, case: str) -> None:
    expected = IMPORT_OUTCOMES[case]
    coord = registry.as_user("coord")
    before = dump_tables(registry.engine)
    try:
        result = coord.import_path(corpus[case])
    except ImportRejected as exc:
        assert isinstance(expected, tuple) and expected[0] == "rejected", exc
        assert expected[1] in {f.rule for f in exc.findings if f.severity == "error"}
        assert dump_tables(registry.engine) == before  # nothing written
        return
    except InputReadError as exc:
        assert isinstance(expected, tuple) and expected[0] == "refused", exc
        assert str(exc).startswith(expected[1])
        assert dump_tables(registry.engine) == before
        return
    assert expected == "applied"
    assert result.changed and result.n_patients == 8
    assert set(IMPORT_OUTCOMES) == set(corpus)


def test_bad_data_cutoff_in_protocol_is_exit_2(tmp_path: Path) -> None:
    from importlib import resources

    text = resources.files("blincompass.protocol").joinpath("data/blincompass.toml").read_text("utf-8")
    proto = tmp_path / "bad.toml"
    proto.write_text(text.replace("[study]\n", '[study]\ndata_cutoff = "soon"\n', 1), encoding="utf-8")
    res = runner.invoke(app, ["validate", str(example_dir()), "--protocol", str(proto)])
    assert res.exit_code == 2
    assert res.output.startswith(f"cannot use protocol: {proto}: study.data_cutoff: ")
