"""Each input format imports, re-imports idempotently and round-trips through the registry."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from blincompass.io import example_dir
from blincompass.registry import AccessDenied, ImportRejected, Registry, dump_tables
from blincompass.validate import load_dataset

from .conftest import FIXTURES

REDCAP = FIXTURES / "redcap"
INPUTS = {
    "redcap-raw": dict(path=REDCAP / "records_raw.csv", mapping=REDCAP / "mapping.toml",
                       redcap_dictionary=REDCAP / "dictionary.csv"),
    "redcap-labels": dict(path=REDCAP / "records_labels.csv", mapping=REDCAP / "mapping.toml",
                          redcap_dictionary=REDCAP / "dictionary.csv"),
    "sav": dict(path=FIXTURES / "sav", mapping=FIXTURES / "sav_mapping.toml"),
    "workbook": dict(path=FIXTURES / "example.xlsx"),
}
EXPECTED_FORMAT = {"redcap-raw": "redcap", "redcap-labels": "redcap", "sav": "sav", "workbook": "template"}


def _csv_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))}


@pytest.mark.parametrize("kind", list(INPUTS))
def test_import_reimport_and_round_trip(registry: Registry, kind: str, tmp_path: Path) -> None:
    spec = dict(INPUTS[kind])
    path = spec.pop("path")
    coord = registry.as_user("coord")
    first = coord.import_path(path, **spec)
    assert first.changed and first.n_patients == 8 and first.inserted == 59
    with registry.engine.connect() as conn:
        fmt = conn.exec_driver_sql("SELECT format FROM imports").scalar_one()
    assert fmt == EXPECTED_FORMAT[kind]
    before = dump_tables(registry.engine)
    again = coord.import_path(path, **spec)
    assert not again.changed and dump_tables(registry.engine) == before
    coord.read_dataset().to_csv_dir(tmp_path / "out")
    load_dataset(example_dir()).dataset.to_csv_dir(tmp_path / "expected")
    assert _csv_bytes(tmp_path / "out") == _csv_bytes(tmp_path / "expected")
    assert {e.sha256 for e in coord.history("C1-001")} == {first.sha256}


def _redcap_rows() -> list[list[str]]:
    with (REDCAP / "records_raw.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def test_redcap_bad_row_leaves_registry_unchanged(registry: Registry, tmp_path: Path) -> None:
    coord = registry.as_user("coord")
    coord.import_path(FIXTURES / "example.xlsx")
    before = dump_tables(registry.engine)
    rows = _redcap_rows()
    line = next(i for i, r in enumerate(rows, start=1) if r[0] == "C3-006" and r[1] == "adverse_event")
    rows[line - 1][rows[0].index("ae_grade")] = "7"
    bad = _write(tmp_path / "records.csv", rows)
    with pytest.raises(ImportRejected) as exc:
        coord.import_path(bad, mapping=REDCAP / "mapping.toml", redcap_dictionary=REDCAP / "dictionary.csv")
    errors = [f for f in exc.value.findings if f.severity == "error"]
    assert [(f.file, f.row, f.patient_id, f.field, f.value, f.rule) for f in errors] == [
        ("records.csv[adverse_event]", line, "C3-006", "grade", "7", "range")
    ]
    assert dump_tables(registry.engine) == before


def test_centre_imports_its_redcap_data_access_group(registry: Registry, tmp_path: Path) -> None:
    rows = _redcap_rows()
    dag = rows[0].index("redcap_data_access_group")
    own = _write(tmp_path / "c1.csv", [rows[0]] + [r for r in rows[1:] if r[dag] == "centre_1"])
    kw = dict(mapping=REDCAP / "mapping.toml", redcap_dictionary=REDCAP / "dictionary.csv")
    result = registry.as_user("u1").import_path(own, centre="C1", **kw)
    assert result.n_patients == 2
    before = dump_tables(registry.engine)
    with pytest.raises(AccessDenied) as exc:
        registry.as_user("u1").import_path(REDCAP / "records_raw.csv", **kw)
    assert exc.value.patient_id == "C2-003" and "records_raw.csv[demographics] row" in str(exc.value)
    assert dump_tables(registry.engine) == before
