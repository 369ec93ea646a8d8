"""The Dataset contract that screening and derivation rely on."""

import pandas as pd

from blincompass.dictionary import load_dictionary
from blincompass.io import Dataset, example_dir, form_columns
from blincompass.validate import load_dataset

D = load_dictionary()
EXPECTED = {
    "string": "object",
    "code": "object",
    "date": "datetime64[ns]",
    "integer": "Int64",
    "number": "float64",
    "boolean": "boolean",
}


def _check(ds: Dataset) -> None:
    assert list(ds.forms) == D.form_names
    for form in D.forms:
        df = ds.forms[form.name]
        assert list(df.columns) == form_columns(form)
        assert list(df.columns[-2:]) == ["_row", "_file"]
        assert str(df["_row"].dtype) == "int64" and str(df["_file"].dtype) == "object"
        for v in form.variables:
            if v.type == "mrd":
                assert str(df[v.name].dtype) == "float64"
                assert str(df[f"{v.name}_status"].dtype) == "object"
                assert set(df[f"{v.name}_status"].dropna()) <= {"quantified", "NEG", "PNQ", "ND"}
            elif v.type == "ctcae_term":
                cols = list(df.columns)
                i = cols.index(v.name)
                assert cols[i : i + 3] == [v.name, f"{v.name}_ctcae", f"{v.name}_status"]
                assert set(df[f"{v.name}_status"].dropna()) <= {"ctcae", "synonym", "nearest", "other", "unmapped"}
            else:
                assert str(df[v.name].dtype) == EXPECTED[v.type], (form.name, v.name)


def test_contract_on_example():
    ds = load_dataset(example_dir()).dataset
    _check(ds)
    assert ds.patients is ds.forms["patients"]
    a = ds.assessments
    neg = a[a["pcr_mrd_status"] == "NEG"]
    assert neg["pcr_mrd"].isna().all()
    q = a[a["pcr_mrd_status"] == "quantified"]
    assert q["pcr_mrd"].notna().all()
    assert all(isinstance(x, str) for x in ds.patients["sex"])
    assert ds.outcomes["death_date"].isna().sum() == 6  # NaT when missing


def test_contract_on_empty_and_missing_forms(tmp_path):
    _check(Dataset.empty())
    (tmp_path / "patients.csv").write_text("patient_id\n", encoding="utf-8")
    res = load_dataset(tmp_path)
    _check(res.dataset)
    assert all(len(df) == 0 for df in res.dataset.forms.values())


def test_bad_cells_become_missing_with_the_right_dtype(tmp_path):
    from tests.validate.helpers import copy_example, edit

    ex = copy_example(tmp_path)
    edit(ex, "courses", 2, "course", "first")
    edit(ex, "courses", 2, "start_date", "soon")
    edit(ex, "outcomes", 2, "tox_data_available", "maybe")
    ds = load_dataset(ex).dataset
    _check(ds)
    assert ds.courses["course"].iloc[0] is pd.NA
    assert ds.courses["start_date"].iloc[0] is pd.NaT
    assert ds.outcomes["tox_data_available"].iloc[0] is pd.NA
