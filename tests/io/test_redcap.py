"""REDCap exports -> raw forms: codes and labels, checkboxes, repeating instruments, DAGs, missing codes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from blincompass.io import InputReadError, example_dir
from blincompass.io.redcap import read_redcap, read_redcap_dictionary
from blincompass.validate import load_dataset, validate

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "registry" / "redcap"
DICT, MAPPING = FIX / "dictionary.csv", FIX / "mapping.toml"


def _bytes(dataset, out: Path) -> dict[str, bytes]:  # noqa: ANN001 - Dataset
    dataset.to_csv_dir(out)
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.csv"))}


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _bytes(load_dataset(example_dir()).dataset, tmp_path_factory.mktemp("expected"))


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def _edit(tmp_path: Path, line: int, column: str, value: str, source: str = "records_raw.csv") -> Path:
    rows = _rows(FIX / source)
    rows[line - 1][rows[0].index(column)] = value
    return _write(tmp_path / source, rows)


def test_dictionary_choices() -> None:
    fields = read_redcap_dictionary(DICT)
    assert fields["sex"].choices == {"1": "Male", "2": "Female"}
    assert fields["in_trial"].choices == {"1": "Yes", "0": "No"}
    assert fields["prior_tx"].type == "checkbox" and fields["prior_tx"].form == "demographics"
    assert fields["sex"].choice_label("female") == "Female" and fields["sex"].choice_label("3") is None


@pytest.mark.parametrize("records", ["records_raw.csv", "records_labels.csv"])
def test_raw_and_label_exports_convert_to_the_example(records: str, expected: dict[str, bytes],
                                                      tmp_path: Path) -> None:
    result = read_redcap(FIX / records, DICT, MAPPING)
    checked = validate(result.raw)
    assert checked.ok, [f for f in checked.findings if f.severity == "error"]
    assert not [i for i in result.issues if i.severity != "info"]
    assert _bytes(checked.dataset, tmp_path) == expected


def test_missing_codes_checkboxes_dags_and_instances() -> None:
    ds = validate(read_redcap(FIX / "records_raw.csv", DICT, MAPPING).raw).dataset
    p = ds.patients.set_index("patient_id")
    assert p.loc["C2-003", "karyotype"] == "unknown"  # UNK -> unknown (a code of karyotype)
    assert p.loc["C1-001", "centre"] == "C1" and p.loc["C3-008", "centre"] == "C3"  # DAG centre_3 -> C3
    assert bool(p.loc["C3-008", "prior_cart"]) and not bool(p.loc["C1-001", "prior_cart"])  # prior_tx___1
    ae = ds.adverse_events
    tremor = ae[(ae["patient_id"] == "C3-007") & (ae["ae_term"] == "Tremor")].iloc[0]
    assert tremor["grade"] is None or str(tremor["grade"]) == "<NA>"  # UNK grade -> unknown
    assert str(tremor["onset_date"]) == "NaT"  # UNK date -> empty
    assert ds.outcomes["hsct_date"].isna().sum() == 5  # NA -> empty
    assert list(ds.courses.loc[ds.courses["patient_id"] == "C3-007", "course"]) == [1, 2, 3]  # repeat instance


def test_bad_value_is_located_in_the_export(tmp_path: Path) -> None:
    rows = _rows(FIX / "records_raw.csv")
    line = next(i for i, r in enumerate(rows, start=1) if r[0] == "C2-004" and r[1] == "marrow" and r[2] == "2")
    path = _edit(tmp_path, line, "bm_date", "31/02/2019")
    errors = [f for f in validate(read_redcap(path, DICT, MAPPING).raw).findings if f.severity == "error"]
    assert [(f.file, f.row, f.patient_id, f.field, f.value, f.rule) for f in errors] == [
        ("records_raw.csv[marrow]", line, "C2-004", "assessment_date", "31/02/2019", "type.date")
    ]


def test_incomplete_instrument_warns_or_fails(tmp_path: Path) -> None:
    path = _edit(tmp_path, 2, "follow_up_complete", "0")
    issues = read_redcap(path, DICT, MAPPING).issues
    assert [(i.severity, i.row, i.rule) for i in issues] == [("warning", 2, "redcap.incomplete")]
    strict = tmp_path / "strict.toml"
    strict.write_text(MAPPING.read_text().replace("[source]\n", "[source]\nrequire_complete = true\n"))
    issues = read_redcap(_edit(tmp_path, 2, "follow_up_complete", "1"), DICT, strict).issues
    assert [(i.severity, i.row, i.patient_id, i.rule) for i in issues] == [("error", 2, "C1-001", "redcap.incomplete")]


def test_checkbox_field_as_one_code(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(MAPPING.read_text().replace(
        'relapse_site = "rel_site"',
        'relapse_site = { checkbox = "prior_tx", values = { "1" = "bone_marrow", "2" = "molecular" } }'))
    result = read_redcap(FIX / "records_raw.csv", DICT, mapping)
    p = {r[1][0]: r[1][12] for r in result.raw.tables["patients"].rows}
    assert p["C1-001"] == "molecular" and p["C3-008"] == "bone_marrow" and p["C1-002"] is None
    both = _edit(tmp_path, 2, "prior_tx___1", "1")
    issues = [i for i in read_redcap(both, DICT, mapping).issues if i.severity != "info"]
    assert [(i.row, i.field, i.rule) for i in issues] == [(2, "relapse_site", "redcap.checkbox")]


def test_unreadable_inputs_are_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    section = "[forms.patients.fields]\n"
    bad.write_text(MAPPING.read_text().replace(section, section + 'sex = "gender"\n'))
    with pytest.raises(InputReadError, match="'gender', which is not in the REDCap data dictionary"):
        read_redcap(FIX / "records_raw.csv", DICT, bad)
    rows = _rows(FIX / "records_raw.csv")
    rows[0].append("redcap_event_name")
    for i, r in enumerate(rows[1:]):
        r.append(f"event_{i % 2}_arm_1")
    with pytest.raises(InputReadError, match="longitudinal"):
        read_redcap(_write(tmp_path / "long.csv", rows), DICT, MAPPING)
    with pytest.raises(InputReadError, match="not a REDCap data dictionary"):
        read_redcap(FIX / "records_raw.csv", FIX / "records_raw.csv", MAPPING)
