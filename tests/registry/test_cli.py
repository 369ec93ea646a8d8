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
    r = run("db", "users", "--user", "coord")
    assert r.exit_code == 0 and "coord" in r.output and "C1" in r.output


def test_user_listing_needs_a_coordinator(workdir: Path) -> None:
    r = run("db", "users")
    assert r.exit_code == 1 and r.stdout == "" and "--user" in r.stderr
    r = run("db", "users", "--user", "u1")
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr == "access denied: user 'u1' (centre C1): listing users needs a coordinator\n"
    r = run("db", "users", "--user", "nobody")
    assert r.exit_code == 1 and r.stdout == "" and "nobody" in r.stderr


def test_uninitialised_database_is_refused(tmp_path: Path) -> None:
    r = run("db", "users", "--db", tmp_path / "other.db", "--user", "coord")
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


def test_another_centres_patient_gets_the_unknown_patient_answer(workdir: Path) -> None:
    run("db", "import", example_dir(), "--user", "coord")
    before = dump_tables(Registry(str(workdir / "blincompass.db")).engine)
    for command, code in ((["db", "history", "{}", "--user", "u1", "--json"], 0),
                          (["db", "history", "{}", "--user", "u1"], 0),
                          (["db", "delete-patient", "{}", "--user", "u1"], 1),
                          (["db", "update", "patients", "{}", "--field", "sex", "--value", "F", "--user", "u1"], 1)):
        other = run(*(a.format("C2-003") for a in command))
        unknown = run(*(a.format("C9-999") for a in command))
        assert (other.exit_code, unknown.exit_code) == (code, code), command
        assert other.output.replace("C2-003", "ID") == unknown.output.replace("C9-999", "ID"), command
        assert "C2" not in other.output.replace("C2-003", "") and "denied" not in other.output, command
    r = run("db", "delete-patient", "C2-003", "--user", "u1")
    assert r.stderr == "REJECTED: delete: no patient C2-003 among the patients of centre C1\n"
    assert json.loads(run("db", "history", "C2-003", "--user", "u1", "--json").stdout) == []
    assert dump_tables(Registry(str(workdir / "blincompass.db")).engine) == before


def test_access_denied_exit_1(workdir: Path) -> None:
    run("db", "import", example_dir(), "--user", "coord")
    for args in (["db", "import", example_dir(), "--user", "u1"],
                 ["db", "add-user", "x", "--coordinator", "--user", "u1"]):
        r = run(*args)
        assert r.exit_code == 1 and "access denied" in r.output and "u1" in r.output, args
    r = run("db", "import", example_dir(), "--user", "u1")
    assert "centre C2" not in r.output and "centre C3" not in r.output
    r = run("db", "history", "C1-001")
    assert r.exit_code == 1 and "--user" in r.output


def test_variant_of_another_centres_id_is_refused_without_naming_it(workdir: Path) -> None:
    run("db", "import", example_dir(), "--user", "coord")
    folder = workdir / "c1"
    folder.mkdir()
    for f in sorted(example_dir().glob("*.csv")):
        lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
        keep = [lines[0]] + [ln.replace("C1-002,", "c2-003,") for ln in lines[1:] if ln.startswith("C1-002,")]
        (folder / f.name).write_text("".join(keep), encoding="utf-8")
    before = dump_tables(Registry(str(workdir / "blincompass.db")).engine)
    r = run("db", "import", folder, "--user", "u1", "--json")
    assert r.exit_code == 1
    errors = [f for f in json.loads(r.stdout) if f["severity"] == "error"]
    assert [(f["file"], f["row"], f["patient_id"], f["rule"], f["message"]) for f in errors] == [
        ("patients.csv", 2, "c2-003", "patient.conflict",
         "patient id c2-003 conflicts with an existing record; choose another identifier")]
    assert "C2" not in r.output
    assert dump_tables(Registry(str(workdir / "blincompass.db")).engine) == before
    r = run("db", "export", "--format", "csv", "--out", workdir / "all", "--user", "coord")
    assert r.exit_code == 0, r.output  # no key.unique failure for the coordinator


def test_import_json_prints_json_alone_on_stdout(workdir: Path) -> None:
    r = run("db", "import", example_dir(), "--user", "coord", "--json")
    assert r.exit_code == 0 and r.stderr == ""
    out = json.loads(r.stdout)
    assert (out["inserted"], out["n_patients"], out["import_id"]) == (59, 8, 1)
    r = run("db", "import", example_dir(), "--user", "coord", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["import_id"] is None and r.stderr == ""
    bad = copy_example(workdir / "bad")
    (bad / "courses.csv").write_text((bad / "courses.csv").read_text().replace("2020-03-02", "2020-13-02"))
    r = run("db", "import", bad, "--user", "coord", "--json")
    assert r.exit_code == 1 and isinstance(json.loads(r.stdout), list)
    assert r.stderr.startswith("REJECTED: ") and r.stderr.count("\n") == 1
    r = run("db", "import", example_dir(), "--user", "u1", "--json")
    assert r.exit_code == 1 and r.stdout == "" and r.stderr.startswith("REJECTED: access denied")
    r = run("db", "import", workdir / "missing.xlsx", "--user", "coord", "--json")
    assert r.exit_code == 2 and r.stdout == "" and "does not exist" in r.stderr


def _one_message(r: object, *needles: str) -> None:
    assert r.exit_code == 2, r.output  # type: ignore[attr-defined]
    assert r.stdout == ""  # type: ignore[attr-defined]
    err = r.stderr  # type: ignore[attr-defined]
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


def test_read_only_database_exit_2_and_unchanged(workdir: Path) -> None:
    run("db", "import", example_dir(), "--user", "coord")
    path = workdir / "blincompass.db"
    before = path.read_bytes()
    ro = f"sqlite:///file:{path}?mode=ro&uri=true"
    for args in (["db", "update", "outcomes", "C1-001", "--field", "last_followup_date", "--value", "2021-01-31",
                  "--user", "u1"],
                 ["db", "delete-patient", "C1-001", "--user", "u1"],
                 ["db", "add-centre", "C4", "--user", "coord"],
                 ["db", "add-user", "u4", "--centre", "C1", "--user", "coord"],
                 ["db", "import", copy_example(workdir / "v2"), "--user", "coord"]):
        if args[1] == "import":
            f = Path(args[2]) / "outcomes.csv"
            f.write_text(f.read_text().replace("2020-11-30", "2020-12-01"))
        r = run(*args, "--db", ro)
        _one_message(r, "blincompass.db?mode=ro&uri=true is read-only (attempt to write a readonly database); "
                             "nothing was written")
    assert path.read_bytes() == before
    r = run("db", "history", "C1-001", "--user", "u1", "--db", ro, "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)) > 0


def _damage(path: Path, tables: tuple[str, ...]) -> None:
    """Overwrite the root pages of ``tables`` (and of their indexes) with 0xFF bytes."""
    import sqlite3

    con = sqlite3.connect(path)
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    marks = ",".join("?" * len(tables))
    roots = [r[0] for r in con.execute(f"SELECT rootpage FROM sqlite_master WHERE tbl_name IN ({marks})", tables)]
    con.close()
    data = bytearray(path.read_bytes())
    assert roots and 1 not in roots
    for page in roots:
        data[(page - 1) * page_size:page * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(data))


def test_damaged_database_exit_2_one_message_nothing_written(workdir: Path) -> None:
    import shutil

    run("db", "import", example_dir(), "--user", "coord")
    damaged = workdir / "damaged.db"
    shutil.copyfile(workdir / "blincompass.db", damaged)
    _damage(damaged, ("patients", "courses", "assessments", "adverse_events", "outcomes", "audit"))
    before = damaged.read_bytes()
    for args in (["db", "export", "--format", "csv", "--out", workdir / "out", "--user", "coord"],
                 ["db", "export", "--format", "template", "--out", workdir / "out", "--user", "u1"],
                 ["db", "history", "C1-001", "--user", "u1"],
                 ["db", "update", "outcomes", "C1-001", "--field", "last_followup_date", "--value", "2021-01-31",
                  "--user", "u1"],
                 ["db", "delete-patient", "C1-001", "--user", "coord"]):
        r = run(*args, "--db", damaged)
        _one_message(r, f"database sqlite:///{damaged} is damaged", "malformed", "nothing was written")
    assert not (workdir / "out").exists()
    assert damaged.read_bytes() == before


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


@pytest.mark.parametrize("change", [
    "UPDATE patients SET birth_date = 'xx' WHERE patient_id = 'C1-001'",
    "UPDATE patients SET prior_hsct = 'zz' WHERE patient_id = 'C1-001'",
])
def test_values_changed_outside_the_registry_exit_2(workdir: Path, change: str) -> None:
    import sqlite3

    run("db", "import", example_dir(), "--user", "coord")
    path = workdir / "blincompass.db"
    con = sqlite3.connect(path)
    con.execute(change)
    con.commit()
    con.close()
    before = path.read_bytes()
    detail = ("table patients: a stored value cannot be read (Invalid isoformat string: 'xx')" if "xx" in change
              else "table patients row id 1: a stored value cannot be read (invalid literal for int() with base 10: "
                   "'zz')")
    for args in (["db", "export", "--format", "csv", "--out", workdir / "out", "--user", "coord"],
                 ["db", "update", "outcomes", "C1-001", "--field", "last_followup_date", "--value", "2021-01-31",
                  "--user", "u1"],
                 ["db", "delete-patient", "C1-001", "--user", "u1"],
                 ["db", "import", example_dir(), "--user", "coord"]):
        r = run(*args)
        _one_message(r)
        assert r.stderr == (f"database sqlite:///blincompass.db is damaged or was changed outside the registry: "
                            f"{detail}; nothing was written\n"), args
    assert not (workdir / "out").exists()
    assert path.read_bytes() == before


def test_unreadable_audit_time_exit_2(workdir: Path) -> None:
    import sqlite3

    run("db", "import", example_dir(), "--user", "coord")
    con = sqlite3.connect(workdir / "blincompass.db")
    con.execute("DROP TRIGGER audit_no_update")  # whoever holds an SQLite file can; the registry must not crash
    con.execute("UPDATE audit SET at = 'garbage' WHERE id = 3")
    con.commit()
    con.close()
    r = run("db", "history", "C1-001", "--user", "u1")
    _one_message(r, "table audit: a stored value cannot be read", "nothing was written")


def test_unusable_database_url_exit_2_one_message(tmp_path: Path) -> None:
    for db, message in (
        ("foo://x", "cannot use database foo://x: Can't load plugin: sqlalchemy.dialects:foo\n"),
        ("postgresql+nodriver://u:secret@h/db",
         "cannot use database postgresql+nodriver://u:***@h/db: Can't load plugin: "
         "sqlalchemy.dialects:postgresql.nodriver\n"),
        (str(tmp_path / "missing" / "x.db"),
         f"cannot open database sqlite:///{tmp_path}/missing/x.db: unable to open database file\n"),
    ):
        r = run("db", "users", "--db", db, "--user", "coord")
        assert (r.exit_code, r.stdout, r.stderr) == (2, "", message)
