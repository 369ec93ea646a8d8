"""SPSS .sav files -> raw forms: value labels, dates, renamed variables, user-missing values."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from blincompass.io import InputReadError, example_dir
from blincompass.io.spss import read_sav, sav_cell
from blincompass.validate import load_dataset, validate

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "registry"


def _bytes(dataset, out: Path) -> dict[str, bytes]:  # noqa: ANN001 - Dataset
    dataset.to_csv_dir(out)
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.csv"))}


def test_sav_folder_converts_to_the_example(tmp_path: Path) -> None:
    result = read_sav(FIX / "sav", FIX / "sav_mapping.toml")
    checked = validate(result.raw)
    assert checked.ok and not result.issues
    expected = _bytes(load_dataset(example_dir()).dataset, tmp_path / "expected")
    assert _bytes(checked.dataset, tmp_path / "out") == expected


def test_value_labels_and_dates_become_cells() -> None:
    raw = read_sav(FIX / "sav", FIX / "sav_mapping.toml").raw
    patients = raw.tables["patients"]
    assert patients.header[3] == "birth_date"  # renamed from dob by the mapping
    first = patients.rows[0]
    assert first[0] == 1  # SPSS case number
    cells = dict(zip(patients.header, first[1], strict=True))
    assert cells["sex"] == "Male" and cells["prior_cart"] == "No" and str(cells["birth_date"]) == "2008-03-14"
    grades = [dict(zip(raw.tables["adverse_events"].header, r, strict=True))["grade"]
              for _, r in raw.tables["adverse_events"].rows]
    assert grades[-1] == "unknown" and grades[0] == 1


def test_sav_cell() -> None:
    assert sav_cell(float("nan"), None) is None
    assert sav_cell(2.0, {2.0: "Female"}) == "Female"
    assert sav_cell(2.0, None) == 2 and sav_cell(2.5, None) == 2.5
    assert sav_cell(99.0, None, [(99.0, 99.0)]) is None and sav_cell(9.0, {9.0: "unknown"}, [(9.0, 9.0)]) == "unknown"
    assert sav_cell("  ", None) is None


def test_bad_case_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "sav"
    shutil.copytree(FIX / "sav", folder)
    df, meta = pyreadstat.read_sav(str(folder / "assessments.sav"))
    df.loc[2, "bm_blasts"] = 140.0
    pyreadstat.write_sav(df, str(folder / "assessments.sav"), column_labels=meta.column_labels,
                         variable_value_labels=meta.variable_value_labels)
    errors = [f for f in validate(read_sav(folder, FIX / "sav_mapping.toml").raw).findings if f.severity == "error"]
    assert [(f.file, f.row, f.patient_id, f.field, f.value, f.rule) for f in errors] == [
        ("assessments.sav", 3, "C1-001", "bm_blasts", "140", "range")
    ]


def test_missing_folder_and_no_files(tmp_path: Path) -> None:
    with pytest.raises(InputReadError, match="does not exist"):
        read_sav(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputReadError, match="no .sav files"):
        read_sav(tmp_path / "empty")


def test_user_missing_values_are_empty(tmp_path: Path) -> None:
    df = pd.DataFrame({"patient_id": ["A1"], "prior_hsct": [99.0], "karyotype": [np.nan]})
    path = tmp_path / "patients.sav"
    pyreadstat.write_sav(df, str(path), missing_ranges={"prior_hsct": [99.0]})
    row = read_sav(path).raw.tables["patients"].rows[0][1]
    assert row == ("A1", None, None)
