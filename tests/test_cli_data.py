import json

import openpyxl
from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.dictionary import load_dictionary
from blincompass.io import example_dir
from tests.validate.helpers import copy_example, edit, example_to_xlsx

runner = CliRunner()
KEYS = ["severity", "file", "row", "patient_id", "field", "value", "rule", "message"]


def test_validate_valid_exits_0():
    res = runner.invoke(app, ["validate", str(example_dir())])
    assert res.exit_code == 0, res.output
    assert "OK: 0 error(s)" in res.output


def test_validate_valid_workbook_exits_0(tmp_path):
    res = runner.invoke(app, ["validate", str(example_to_xlsx(tmp_path / "cohort.xlsx"))])
    assert res.exit_code == 0, res.output


def test_validate_malformed_workbook_exits_1_with_precise_finding(tmp_path):
    path = example_to_xlsx(tmp_path / "cohort.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["courses"]["C2"] = "31/02/2017"  # C1-001 course 1 start date
    wb["assessments"]["D3"] = "abc"
    wb.save(path)
    res = runner.invoke(app, ["validate", str(path), "--json"])
    assert res.exit_code == 1
    found = json.loads(res.stdout)
    assert all(list(f) == KEYS for f in found)
    errors = [f for f in found if f["severity"] == "error"]
    assert {(f["file"], f["row"], f["field"], f["rule"]) for f in errors} >= {
        ("cohort.xlsx[courses]", 2, "start_date", "type.date"),
        ("cohort.xlsx[assessments]", 3, "bm_blasts", "type.number"),
    }
    date = next(f for f in errors if f["rule"] == "type.date")
    assert date["value"] == "31/02/2017" and date["patient_id"] == "C1-001"
    assert "February 2017 has 28 days" in date["message"]


def test_validate_table_output_exit_1(tmp_path):
    folder = copy_example(tmp_path)
    edit(folder, "patients", 2, "sex", "X")
    res = runner.invoke(app, ["validate", str(folder)])
    assert res.exit_code == 1
    assert "Errors (1)" in res.output and "FAILED: 1 error(s)" in res.output
    assert "code.allowed" in res.output


def test_validate_warnings_only_exit_0_json(tmp_path):
    res = runner.invoke(app, ["validate", str(example_dir()), "--json"])
    assert res.exit_code == 0
    found = json.loads(res.stdout)
    assert found and {f["severity"] for f in found} <= {"warning", "info"}


def test_validate_unreadable_exits_2(tmp_path):
    res = runner.invoke(app, ["validate", str(tmp_path / "missing.xlsx")])
    assert res.exit_code == 2
    assert "does not exist" in res.output
    (tmp_path / "broken.xlsx").write_bytes(b"garbage")
    res = runner.invoke(app, ["validate", str(tmp_path / "broken.xlsx"), "--json"])
    assert res.exit_code == 2
    assert "not an .xlsx workbook" in res.output


def test_template_command(tmp_path):
    res = runner.invoke(app, ["template", str(tmp_path / "t.xlsx"), "--csv", str(tmp_path / "csv")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "t.xlsx").exists()
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == sorted(
        f"{n}.csv" for n in load_dictionary().form_names
    )
    res = runner.invoke(app, ["validate", str(tmp_path / "t.xlsx")])
    assert res.exit_code == 0


def test_dictionary_command(tmp_path):
    res = runner.invoke(app, ["dictionary"])
    assert res.exit_code == 0 and res.output.startswith("# BLIN-COMPASS data dictionary")
    res = runner.invoke(app, ["dictionary", "--markdown", str(tmp_path / "d.md")])
    assert res.exit_code == 0
    assert (tmp_path / "d.md").read_text(encoding="utf-8").startswith("# BLIN-COMPASS")


def test_validate_long_lists_one_line_per_finding(tmp_path, monkeypatch):
    from blincompass import cli_data

    folder = copy_example(tmp_path)
    edit(folder, "patients", 2, "sex", "X")
    monkeypatch.setattr(cli_data, "_TABLE_MAX", 0)
    res = runner.invoke(app, ["validate", str(folder)])
    assert res.exit_code == 1
    line = next(x for x in res.output.splitlines() if "code.allowed" in x)
    assert line.startswith("  patients.csv:2 [") and "sex: 'X' is not an allowed value" in line
    assert "Errors (1)" in res.output and "FAILED: 1 error(s)" in res.output
