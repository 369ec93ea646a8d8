"""``blincompass db``: init, centres and users, import (exit codes), history, update, export (SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.io import example_dir
from blincompass.registry import Registry, dump_tables

from .conftest import FIXTURES, copy_example

runner = CliRunner()


def run(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BLINCOMPASS_DB", raising=False)
    monkeypatch.delenv("BLINCOMPASS_USER", raising=False)
    for args in (["db", "init"], ["db", "add-centre", "C1"], ["db", "add-centre", "C2"], ["db", "add-centre", "C3"],
                 ["db", "add-user", "coord", "--coordinator"], ["db", "add-user", "u1", "--centre", "C1", "--user",
                                                                "coord"]):
        r = run(*args)
        assert r.exit_code == 0, r.output
    return tmp_path


def test_init_creates_blincompass_db_in_working_directory(workdir: Path) -> None:
    assert (workdir / "blincompass.db").is_file()
    r = run("db", "users")
    assert r.exit_code == 0 and "coord" in r.output and "C1" in r.output


def test_uninitialised_database_is_refused(tmp_path: Path) -> None:
    r = run("db", "users", "--db", tmp_path / "other.db")
    assert r.exit_code == 2 and "db init" in r.output


def test_import_history_and_idempotence(workdir: Path) -> None:
    r = run("db", "import", FIXTURES / "redcap" / "records_raw.csv", "--user", "coord", "--mapping",
            FIXTURES / "redcap" / "mapping.toml", "--redcap-dictionary", FIXTURES / "redcap" / "dictionary.csv")
    assert r.exit_code == 0, r.output
    assert "59 row(s) inserted" in " ".join(r.output.split())
    r = run("db", "import", FIXTURES / "example.xlsx", "--user", "coord")
    assert r.exit_code == 0 and "no changes" in r.output
    r = run("db", "update", "outcomes", "C1-001", "--field", "last_followup_date", "--value", "2021-01-31",
            "--user", "u1")
    assert r.exit_code == 0 and "updated" in r.output
    r = run("db", "history", "C1-001", "--user", "u1", "--json")
    entries = json.loads(r.output)
    last = entries[-1]
    assert (last["user"], last["field"], last["old_value"], last["new_value"]) == (
        "u1", "last_followup_date", "2020-11-30", "2021-01-31")
    assert last["at"].endswith("+00:00")
    r = run("db", "history", "C1-001", "--user", "u1")
    assert r.exit_code == 0 and "outcomes [patient_id=C1-001]" in r.output
    log = json.loads(run("db", "imports", "--user", "coord", "--json").output)
    assert [(i["user_name"], i["format"], i["n_inserted"]) for i in log] == [("coord", "redcap", 59)]
    assert log[0]["at"].endswith("+00:00") and len(log[0]["sha256"]) == 64
    assert json.loads(run("db", "imports", "--user", "u1", "--json").output) == []
    r = run("db", "imports", "--user", "coord")
    assert r.exit_code == 0 and "records_raw.csv" in r.output


def test_rejected_import_exit_1_names_row_and_changes_nothing(workdir: Path) -> None:
    run("db", "import", example_dir(), "--user", "coord")
    before = dump_tables(Registry(str(workdir / "blincompass.db")).engine)
    bad = copy_example(workdir / "bad")
    text = (bad / "courses.csv").read_text().replace("C3-006,2,2020-03-02", "C3-006,2,2020-13-02")
    (bad / "courses.csv").write_text(text)
    r = run("db", "import", bad, "--user", "coord", "--json")
    assert r.exit_code == 1
    errors = [f for f in json.loads(r.stdout) if f["severity"] == "error"]
    assert [(f["file"], f["row"], f["patient_id"], f["field"], f["value"], f["rule"]) for f in errors] == [
        ("courses.csv", 10, "C3-006", "start_date", "2020-13-02", "type.date")
    ]
    assert "nothing was written" in r.output
    r = run("db", "import", bad, "--user", "coord")
    assert r.exit_code == 1 and "courses.csv:10" in r.output
    assert dump_tables(Registry(str(workdir / "blincompass.db")).engine) == before


def test_access_denied_exit_1(workdir: Path) -> None:
    run("db", "import", example_dir(), "--user", "coord")
    for args in (["db", "history", "C2-003", "--user", "u1"], ["db", "delete-patient", "C2-003", "--user", "u1"],
                 ["db", "update", "patients", "C2-003", "--field", "sex", "--value", "F", "--user", "u1"],
                 ["db", "import", example_dir(), "--user", "u1"], ["db", "add-user", "x", "--coordinator",
                                                                    "--user", "u1"]):
        r = run(*args)
        assert r.exit_code == 1 and "access denied" in r.output and "u1" in r.output, args
    r = run("db", "history", "C1-001")
    assert r.exit_code == 1 and "--user" in r.output


def test_unreadable_input_exit_2(workdir: Path) -> None:
    r = run("db", "import", workdir / "missing.xlsx", "--user", "coord")
    assert r.exit_code == 2 and "does not exist" in r.output
    r = run("db", "import", FIXTURES / "redcap" / "records_raw.csv", "--user", "coord")
    assert r.exit_code == 2 and "--redcap-dictionary" in r.output


def test_export_formats(workdir: Path) -> None:
    run("db", "import", example_dir(), "--user", "coord")
    for fmt, expected in (("csv", "patients.csv"), ("template", "registry.xlsx"), ("adam", "adrs.csv"),
                          ("xpt", "adsl.xpt"), ("sav", "patients.sav")):
        r = run("db", "export", "--format", fmt, "--out", workdir / fmt, "--user", "u1")
        assert r.exit_code == 0, r.output
        assert (workdir / fmt / expected).is_file()
    r = run("db", "export", "--format", "json", "--out", workdir / "x", "--user", "u1")
    assert r.exit_code == 1
