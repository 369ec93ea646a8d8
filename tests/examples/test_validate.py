"""The worked examples' data: they validate cleanly against their own dictionaries, a broken cell is named,
and the committed CSV files are what the committed scripts write."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.dictionary import load_dictionary
from blincompass.validate.rules import load_dataset

from ._derive import EXAMPLES

FOLDERS = ["car-t", "gbsg2"]
runner = CliRunner()


def _cutoff(folder: str) -> dt.date | None:
    study = tomllib.loads((EXAMPLES / folder / "protocol.toml").read_text(encoding="utf-8"))["study"]
    return study.get("data_cutoff")


def _load(folder: str, data: Path | None = None):
    d = load_dictionary(EXAMPLES / folder / "dictionary.toml")
    return load_dataset(data or EXAMPLES / folder / "data", d, data_cutoff=_cutoff(folder))


@pytest.mark.parametrize("folder", FOLDERS)
def test_example_data_validate_without_findings(folder):
    res = _load(folder)
    assert [f.message for f in res.findings] == []
    d = load_dictionary(EXAMPLES / folder / "dictionary.toml")
    # every form has its CSV and every column of every CSV is a dictionary variable
    for form in d.forms:
        header = (EXAMPLES / folder / "data" / f"{form.name}.csv").read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == form.columns


def test_example_sizes():
    car_t = _load("car-t").dataset
    assert len(car_t.forms["patients"]) == 120
    assert sorted(car_t.forms["patients"]["centre"].unique()) == ["BO", "GE", "MB", "MI", "RM"]
    assert set(car_t.forms["toxicities"]["grade"]) <= {1, 2, 3, 4}
    gbsg2 = _load("gbsg2").dataset
    assert len(gbsg2.forms["patients"]) == 686
    assert gbsg2.forms["patients"]["tumour_grade"].value_counts().to_dict() == {"G2": 444, "G3": 161, "G1": 81}


def test_broken_cells_are_named(tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLES / "car-t" / "data", data)
    tox = data / "toxicities.csv"
    lines = tox.read_text(encoding="utf-8").splitlines()
    pid, kind, _grade, *rest = lines[1].split(",")
    lines[1] = ",".join([pid, kind, "5", *rest])  # ASTCT grades are 1-4
    tox.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pat = data / "patients.csv"
    lines = pat.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("first_relapse", "second_relapse").replace("multiple_relapse", "second_relapse")
    lines[2] = lines[2].replace("primary_refractory", "second_relapse")
    pat.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = {(f.file, f.row, f.field, f.rule, f.severity) for f in _load("car-t", data).findings}
    assert ("toxicities.csv", 2, "grade", "range", "error") in found
    assert ("patients.csv", 3, "disease_group", "code.allowed", "error") in found
    assert len(found) == 2


def _run_script(path: Path, out: Path) -> None:
    spec = importlib.util.spec_from_file_location(f"example_script_{path.parent.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        module.main(out)
    finally:
        del sys.modules[spec.name]


def _same_files(a: Path, b: Path) -> None:
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for p in a.iterdir():
        assert p.read_bytes() == (b / p.name).read_bytes(), p.name


def test_car_t_generator_writes_the_committed_csv(tmp_path: Path):
    _run_script(EXAMPLES / "car-t" / "generate.py", tmp_path)
    _same_files(tmp_path, EXAMPLES / "car-t" / "data")


def test_gbsg2_prepare_writes_the_committed_csv(tmp_path: Path):
    pytest.importorskip("lifelines")
    _run_script(EXAMPLES / "gbsg2" / "prepare.py", tmp_path)
    _same_files(tmp_path, EXAMPLES / "gbsg2" / "data")


@pytest.mark.parametrize("folder", FOLDERS)
def test_cli_validate_with_the_study_package(folder):
    res = runner.invoke(app, ["validate", "--study", str(EXAMPLES / folder), str(EXAMPLES / folder / "data")])
    assert res.exit_code == 0, res.output
    assert "OK: 0 error(s), 0 warning(s), 0 note(s)" in res.output


@pytest.mark.parametrize("folder", FOLDERS)
def test_cli_study_check(folder):
    res = runner.invoke(app, ["study", "check", str(EXAMPLES / folder)])
    assert res.exit_code == 0, res.output
    files = "dictionary.toml, layout.toml, protocol.toml"
    assert f"files: {files}" in res.output


def test_cli_validate_reports_broken_data_with_exit_1(tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLES / "car-t" / "data", data)
    tox = data / "toxicities.csv"
    tox.write_text(tox.read_text(encoding="utf-8").replace(",crs,2,", ",crs,5,", 1), encoding="utf-8")
    res = runner.invoke(app, ["validate", "--study", str(EXAMPLES / "car-t"), str(data)])
    assert res.exit_code == 1, res.output
    assert "5 is outside the allowed range 1 to 4" in res.output


def _edit_csv(path: Path, change) -> None:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    change(rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def test_car_t_chronology_checks(tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLES / "car-t" / "data", data)

    def outcomes(rows):
        h = rows[0]
        r = next(r for r in rows[1:] if r[h.index("death_date")] and r[h.index("relapse_date")])
        r[h.index("relapse_date")] = "2024-06-29"  # after death

    def infusions(rows):
        rows[1][3] = "2024-01-01"  # apheresis after the infusion
        next(r for r in rows[1:] if r[1] == "2")[1] = "3"  # numbering gap

    _edit_csv(data / "outcomes.csv", outcomes)
    _edit_csv(data / "infusions.csv", infusions)
    findings = _load("car-t", data).findings
    message = next(f.message for f in findings if f.rule == "chronology.after_death")
    assert message == "relapse on 2024-06-29, after death on 2023-05-10"
    assert f"`{message}`" in (EXAMPLES.parent / "docs" / "new-study.md").read_text(encoding="utf-8")
    rules = sorted((f.file, f.rule, f.severity) for f in findings)
    assert rules == [
        ("infusions.csv", "chronology.apheresis_before_infusion", "error"),
        ("infusions.csv", "infusion.numbering", "error"),
        ("outcomes.csv", "chronology.after_death", "error"),
    ]


def test_gbsg2_chronology_checks(tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLES / "gbsg2" / "data", data)

    def outcomes(rows):
        rows[1][1] = "1983-04-15"  # recurrence before diagnosis (1984-08-17)
        rows[2][2], rows[2][3] = "1991-01-01", "1990-10-22"  # death after the last contact

    _edit_csv(data / "outcomes.csv", outcomes)
    found = sorted((f.row, f.field, f.rule) for f in _load("gbsg2", data).findings)
    assert found == [
        (2, "recurrence_date", "chronology.diagnosis_before_event"),
        (3, "death_date", "chronology.after_last_contact"),
    ]
