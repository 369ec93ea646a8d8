"""Exports: template workbook and CSVs (round trip), ADaM-style CSV, SAS XPT v5 and SPSS (read back)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from blincompass.derive import derive_all
from blincompass.exports import export
from blincompass.io import example_dir
from blincompass.protocol import load_protocol
from blincompass.registry import Registry, dump_tables, load_registry_dataset
from blincompass.validate import load_dataset

PROTOCOL = load_protocol()


@pytest.fixture
def loaded(registry: Registry) -> Registry:
    registry.as_user("coord").import_path(example_dir())
    return registry


def _bytes(folder: Path, pattern: str = "*.csv") -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob(pattern))}


def test_csv_export_is_the_validated_input(loaded: Registry, tmp_path: Path) -> None:
    written = export(loaded.as_user("coord"), "csv", tmp_path / "csv", PROTOCOL)
    assert [p.name for p in written] == [f"{f}.csv" for f in loaded.dictionary.form_names]
    load_dataset(example_dir()).dataset.to_csv_dir(tmp_path / "expected")
    assert _bytes(tmp_path / "csv") == _bytes(tmp_path / "expected")
    assert not list((tmp_path / "csv").glob(".*"))


@pytest.mark.parametrize("fmt", ["template", "sav"])
def test_template_and_sav_exports_reimport_without_change(loaded: Registry, fmt: str, tmp_path: Path) -> None:
    coord = loaded.as_user("coord")
    written = export(coord, fmt, tmp_path / fmt, PROTOCOL)
    before = dump_tables(loaded.engine)
    source = written[0] if fmt == "template" else tmp_path / fmt
    result = coord.import_path(source)
    assert not result.changed and result.n_rows == 59
    assert dump_tables(loaded.engine) == before


def test_exports_are_deterministic(loaded: Registry, tmp_path: Path) -> None:
    coord = loaded.as_user("coord")
    for fmt in ("template", "adam", "xpt", "sav"):
        export(coord, fmt, tmp_path / "a" / fmt, PROTOCOL)
        export(coord, fmt, tmp_path / "b" / fmt, PROTOCOL)
        assert _bytes(tmp_path / "a" / fmt, "*.*") == _bytes(tmp_path / "b" / fmt, "*.*"), fmt


def test_adam_csv(loaded: Registry, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    export(loaded.as_user("coord"), "adam", tmp_path, PROTOCOL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adae.csv", "adrs.csv", "adsl.csv", "adtte.csv"]
    adtte = pd.read_csv(tmp_path / "adtte.csv")
    assert {"PARAMCD", "AVAL", "CNSR"} <= set(adtte.columns) and set(adtte["CNSR"]) <= {0, 1}
    adrs = pd.read_csv(tmp_path / "adrs.csv")
    assert {"CRC1", "MRDC1", "RSPC1", "BESTRSP"} <= set(adrs["PARAMCD"])
    adae = pd.read_csv(tmp_path / "adae.csv")
    assert "AETOXGR" in adae.columns


def test_xpt_reads_back(loaded: Registry, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    written = export(loaded.as_user("coord"), "xpt", tmp_path, PROTOCOL)
    assert sorted(p.name for p in written) == ["adae.xpt", "adrs.xpt", "adsl.xpt", "adtte.xpt", "xpt_variables.csv"]
    ds = load_dataset(example_dir()).dataset
    derived = derive_all(ds, PROTOCOL)
    for name in ("adsl", "adtte", "adrs", "adae"):
        df, meta = pyreadstat.read_xport(str(tmp_path / f"{name}.xpt"))
        assert all(len(c) <= 8 and c == c.upper() for c in df.columns), name
        assert all(lab is not None and len(lab) <= 40 for lab in meta.column_labels), name
        assert meta.table_name == name.upper()
    adsl, _ = pyreadstat.read_xport(str(tmp_path / "adsl.xpt"))
    assert list(adsl["USUBJID"]) == list(derived.adsl["patient_id"])
    assert list(adsl["ELIGFL"]) == ["Y" if e else "N" for e in derived.adsl["eligible"]]
    assert str(adsl.loc[0, "TRTSDT"]) == str(derived.adsl.loc[0, "first_dose_date"].date())
    adtte, _ = pyreadstat.read_xport(str(tmp_path / "adtte.xpt"))
    assert list(adtte["PARAMCD"]) == list(derived.adtte["PARAMCD"])
    assert adtte["AVAL"].tolist() == pytest.approx(derived.adtte["AVAL"].tolist(), rel=1e-12)
    assert adtte["CNSR"].tolist() == derived.adtte["CNSR"].tolist()
    index = pd.read_csv(tmp_path / "xpt_variables.csv")
    assert index.loc[(index["dataset"] == "adsl") & (index["column"] == "age_first_dose"), "xpt_name"].item() == "AGE"


def test_sav_has_variable_and_value_labels(loaded: Registry, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    export(loaded.as_user("coord"), "sav", tmp_path, PROTOCOL)
    df, meta = pyreadstat.read_sav(str(tmp_path / "patients.sav"))
    assert meta.column_names_to_labels["birth_date"] == "Date of birth"
    assert meta.variable_value_labels["sex"] == {1.0: "Male", 2.0: "Female"}
    assert meta.variable_value_labels["prior_cart"] == {0.0: "no", 1.0: "yes"}
    adsl, ameta = pyreadstat.read_sav(str(tmp_path / "adsl.sav"), apply_value_formats=True)
    assert ameta.column_names_to_labels["eligible"].startswith("Passed every eligibility criterion")
    assert set(adsl["eligible"]) == {"Yes", "No"}
    a, m = pyreadstat.read_sav(str(tmp_path / "assessments.sav"))
    assert m.variable_value_labels["pcr_mrd"] == {-1.0: "NEG", -2.0: "PNQ", -3.0: "ND"}


def test_centre_user_exports_own_centre_only(loaded: Registry, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    export(loaded.as_user("u2"), "csv", tmp_path, PROTOCOL)
    patients = pd.read_csv(tmp_path / "patients.csv")
    assert list(patients["patient_id"]) == ["C2-003", "C2-004", "C2-005"]
    assert set(pd.read_csv(tmp_path / "assessments.csv")["patient_id"]) == {"C2-003", "C2-004", "C2-005"}


def test_load_registry_dataset(loaded: Registry) -> None:
    url = loaded.engine.url
    if url.get_backend_name() == "postgresql":  # the test schema, named in the URL
        with loaded.engine.connect() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    ds = load_registry_dataset(url.render_as_string(hide_password=False), "u1")
    assert list(ds.patients["patient_id"]) == ["C1-001", "C1-002"]
    assert "C1-001" in set(ds.courses["patient_id"])
