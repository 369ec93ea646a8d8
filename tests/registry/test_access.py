"""Access layer: imports (all or nothing, idempotent), per-centre scope, audit trail, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from blincompass.io import example_dir
from blincompass.registry import (
    AccessDenied,
    ImportRejected,
    PatientNotFound,
    Registry,
    UnknownUser,
    dump_tables,
    file_sha256,
)

from .conftest import centre_folder, copy_example


def _csv_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))}


def _validated_bytes(path: Path, out: Path) -> dict[str, bytes]:
    from blincompass.validate import load_dataset

    load_dataset(path).dataset.to_csv_dir(out)
    return _csv_bytes(out)


def test_import_then_export_round_trips_bytes(registry: Registry, tmp_path: Path) -> None:
    coord = registry.as_user("coord")
    result = coord.import_path(example_dir())
    assert result.changed and result.inserted == result.n_rows == 59 and result.n_patients == 8
    coord.read_dataset().to_csv_dir(tmp_path / "out")
    assert _csv_bytes(tmp_path / "out") == _validated_bytes(example_dir(), tmp_path / "expected")


def test_reimport_is_idempotent(registry: Registry) -> None:
    coord = registry.as_user("coord")
    coord.import_path(example_dir())
    before = dump_tables(registry.engine)
    again = coord.import_path(example_dir())
    assert not again.changed and again.import_id is None and again.unchanged == 59
    assert dump_tables(registry.engine) == before


def test_centres_import_their_own_patients(registry: Registry, tmp_path: Path) -> None:
    registry.as_user("u1").import_path(centre_folder(tmp_path / "c1", {"C1"}), centre="C1")
    registry.as_user("u2").import_path(centre_folder(tmp_path / "c2", {"C2"}), centre="C2")
    registry.as_user("coord").import_path(centre_folder(tmp_path / "c3", {"C3"}), centre="C3")
    assert registry.as_user("u1").patient_ids() == ["C1-001", "C1-002"]
    assert registry.as_user("u2").patient_ids() == ["C2-003", "C2-004", "C2-005"]
    assert len(registry.as_user("coord").patient_ids()) == 8
    registry.as_user("coord").read_dataset().to_csv_dir(tmp_path / "out")
    assert _csv_bytes(tmp_path / "out") == _validated_bytes(example_dir(), tmp_path / "expected")
    u1 = registry.as_user("u1").read_dataset()
    assert set(u1.courses["patient_id"]) == {"C1-001", "C1-002"}
    assert set(u1.adverse_events["patient_id"]) == {"C1-001", "C1-002"}


def test_bad_row_rejects_whole_file_and_changes_nothing(registry: Registry, tmp_path: Path) -> None:
    coord = registry.as_user("coord")
    coord.import_path(centre_folder(tmp_path / "c1", {"C1"}))
    before = dump_tables(registry.engine)
    db_file = registry.engine.url.database if registry.engine.dialect.name == "sqlite" else None
    file_before = Path(db_file).read_bytes() if db_file else None
    bad = copy_example(tmp_path / "bad")
    text = (bad / "assessments.csv").read_text()
    text = text.replace("C2-004,2019-06-10,after_c1,0,", "C2-004,2019-06-10,after_c1,140,")
    (bad / "assessments.csv").write_text(text)
    with pytest.raises(ImportRejected) as exc:
        coord.import_path(bad)
    errors = [f for f in exc.value.findings if f.severity == "error"]
    assert [(f.file, f.row, f.patient_id, f.field, f.value, f.rule) for f in errors] == [
        ("assessments.csv", 10, "C2-004", "bm_blasts", "140", "range")
    ]
    assert "assessments.csv row 10" in str(exc.value) and "bm_blasts" in str(exc.value)
    assert dump_tables(registry.engine) == before
    if db_file:  # SQLite: the database file itself is byte-for-byte unchanged
        assert Path(db_file).read_bytes() == file_before


def test_reimport_updates_in_place_and_audits_each_value(registry: Registry, tmp_path: Path) -> None:
    coord = registry.as_user("coord")
    coord.import_path(example_dir())
    changed = copy_example(tmp_path / "v2")
    out = (changed / "outcomes.csv").read_text()
    out = out.replace("C2-003,yes,,,,,,,,2021-03-01", "C2-003,yes,,,,,,,,2021-09-01")
    (changed / "outcomes.csv").write_text(out)
    ae = (changed / "adverse_events.csv").read_text().replace("C3-007,1,Tremor,unknown,,no,no\n", "")
    (changed / "adverse_events.csv").write_text(ae)
    ids_before = _ids(registry, "outcomes")
    result = coord.import_path(changed)
    assert (result.inserted, result.updated, result.deleted) == (0, 1, 1)
    assert _ids(registry, "outcomes") == ids_before  # updated in place
    sha = file_sha256(changed)
    h = [e for e in coord.history("C2-003") if e.import_id == result.import_id]
    assert [(e.action, e.form, e.record_key, e.field, e.old_value, e.new_value, e.sha256) for e in h] == [
        ("update", "outcomes", "patient_id=C2-003", "last_followup_date", "2021-03-01", "2021-09-01", sha)
    ]
    gone = [e for e in coord.history("C3-007") if e.import_id == result.import_id]
    assert {(e.action, e.form, e.record_key) for e in gone} == {
        ("delete", "adverse_events", "patient_id=C3-007, course=1, ae_term=Tremor")
    }
    assert {e.field for e in gone} == {"patient_id", "course", "ae_term", "grade", "led_to_interruption",
                                       "led_to_discontinuation"}
    assert all(e.at.tzinfo is not None and e.user == "coord" for e in h + gone)


def _ids(registry: Registry, form: str) -> list[int]:
    t = registry.tables[form]
    with registry.engine.connect() as conn:
        return list(conn.execute(sa.select(t.c.id).order_by(t.c.id)).scalars())


def test_audit_trail_records_every_inserted_value(registry: Registry) -> None:
    coord = registry.as_user("coord")
    result = coord.import_path(example_dir())
    entries = [e for pid in coord.patient_ids() for e in coord.history(pid)]
    assert len(entries) == result.values_changed
    first = [e for e in coord.history("C1-001") if e.form == "patients"]
    assert [(e.field, e.old_value, e.new_value) for e in first][:3] == [
        ("patient_id", None, "C1-001"), ("centre", None, "C1"), ("sex", None, "M")
    ]


# -- cross-centre attempts: each refused, nothing changed -------------------------------------------


@pytest.fixture
def loaded(registry: Registry) -> Registry:
    registry.as_user("coord").import_path(example_dir())
    return registry


def _denied(exc: pytest.ExceptionInfo[AccessDenied], patient: str | None) -> None:
    assert exc.value.user == "u1" and exc.value.centre == "C1" and exc.value.patient_id == patient
    assert "u1" in str(exc.value) and "C1" in str(exc.value)
    if patient:
        assert patient in str(exc.value)


def _same_answer(call, other_centre: str, unknown: str) -> str:  # type: ignore[no-untyped-def]
    """The message for another centre's patient, asserted equal (up to the id) to the one for an unknown id."""
    with pytest.raises(PatientNotFound) as exc_other:
        call(other_centre)
    with pytest.raises(PatientNotFound) as exc_unknown:
        call(unknown)
    assert type(exc_other.value) is type(exc_unknown.value)
    message = str(exc_other.value)
    assert message.replace(other_centre, "ID") == str(exc_unknown.value).replace(unknown, "ID")
    for centre in ("C2", "C3"):
        assert centre not in message.replace(other_centre, "")
    return message


def test_cross_centre_read_gets_the_unknown_patient_answer(loaded: Registry) -> None:
    u1 = loaded.as_user("u1")
    before = dump_tables(loaded.engine)
    message = _same_answer(u1.read_patient, "C2-003", "C9-999")
    assert message == "read: no patient C2-003 among the patients of centre C1"
    with pytest.raises(PatientNotFound):
        u1.read_dataset(["C1-001", "C3-006"])
    assert u1.history("C2-003") == u1.history("C9-999") == []
    assert set(u1.read_dataset().patients["patient_id"]) == {"C1-001", "C1-002"}
    with pytest.raises(PatientNotFound, match="^read: no patient C9-999 in the registry$"):
        loaded.as_user("coord").read_patient("C9-999")
    assert dump_tables(loaded.engine) == before


def test_cross_centre_update_refused(loaded: Registry) -> None:
    u1 = loaded.as_user("u1")
    before = dump_tables(loaded.engine)
    message = _same_answer(
        lambda pid: u1.update_value("outcomes", {"patient_id": pid}, "last_followup_date", "2022-01-01"),
        "C2-003", "C9-999")
    assert message == "update outcomes.last_followup_date: no patient C2-003 among the patients of centre C1"
    with pytest.raises(AccessDenied) as exc:
        u1.update_value("patients", {"patient_id": "C1-001"}, "centre", "C2")
    _denied(exc, "C1-001")
    assert dump_tables(loaded.engine) == before


def test_cross_centre_delete_refused(loaded: Registry) -> None:
    before = dump_tables(loaded.engine)
    message = _same_answer(loaded.as_user("u1").delete_patient, "C3-008", "C9-999")
    assert message == "delete: no patient C3-008 among the patients of centre C1"
    assert dump_tables(loaded.engine) == before


def test_history_of_a_patient_moved_away_keeps_the_centres_own_entries(loaded: Registry) -> None:
    coord = loaded.as_user("coord")
    assert coord.update_value("patients", {"patient_id": "C1-002"}, "centre", "C2")
    u1 = loaded.as_user("u1").history("C1-002")
    assert u1 and {e.centre for e in u1} == {"C1"}
    assert {e.centre for e in loaded.as_user("u2").history("C1-002")} == {"C2"}
    assert len(coord.history("C1-002")) == len(u1) + 1


def test_cross_centre_import_refused_naming_the_row(loaded: Registry, tmp_path: Path) -> None:
    before = dump_tables(loaded.engine)
    with pytest.raises(AccessDenied) as exc:
        loaded.as_user("u1").import_path(example_dir())
    _denied(exc, "C2-003")
    assert str(exc.value) == (
        "access denied: user 'u1' (centre C1), patient C2-003: import patients.csv row 4: the row's centre is "
        "not C1; a centre user imports only the patients of their own centre")
    with pytest.raises(AccessDenied):
        loaded.as_user("u1").import_path(centre_folder(tmp_path / "c2", {"C2"}), centre="C2")
    assert dump_tables(loaded.engine) == before


def _relabel(folder: Path, old: str, new: str, centre: tuple[str, str] | None = None) -> None:
    for f in folder.glob("*.csv"):
        text = f.read_text(encoding="utf-8").replace(f"{old},", f"{new},")
        if centre and f.name == "patients.csv":
            text = text.replace(f"{new},{centre[0]},", f"{new},{centre[1]},")
        f.write_text(text, encoding="utf-8")


def _conflicts(exc: pytest.ExceptionInfo[ImportRejected]) -> list[tuple[object, ...]]:
    return [(f.row, f.patient_id, f.field, f.rule, f.message) for f in exc.value.findings if f.severity == "error"]


def test_centre_user_cannot_take_over_another_centres_patient(loaded: Registry, tmp_path: Path) -> None:
    folder = centre_folder(tmp_path / "c2", {"C2"})
    text = (folder / "patients.csv").read_text().replace(",C2,", ",C1,")
    (folder / "patients.csv").write_text(text)
    before = dump_tables(loaded.engine)
    with pytest.raises(ImportRejected) as exc:
        loaded.as_user("u1").import_path(folder)
    assert _conflicts(exc) == [
        (row, pid, "patient_id", "patient.conflict",
         f"patient id {pid} conflicts with an existing record; choose another identifier")
        for row, pid in ((2, "C2-003"), (3, "C2-004"), (4, "C2-005"))
    ]
    assert "C2," not in str(exc.value) and "centre C2" not in str(exc.value)
    assert dump_tables(loaded.engine) == before


@pytest.mark.parametrize("variant", ["c2-003", "C2-003".upper().lower().title(), "Ｃ２－００３", "ｃ2-003"])
def test_case_or_unicode_variant_of_another_centres_id_is_a_conflict(
        loaded: Registry, tmp_path: Path, variant: str) -> None:
    from blincompass.registry.schema import patient_key

    assert patient_key(variant) == patient_key("C2-003") == "c2-003"
    folder = centre_folder(tmp_path / "c1", {"C1"})
    _relabel(folder, "C1-002", variant)
    registry_rows = dump_tables(loaded.engine)
    with pytest.raises(ImportRejected) as exc:
        loaded.as_user("u1").import_path(folder)
    errors = _conflicts(exc)
    if variant.isascii():
        assert errors == [(3, variant, "patient_id", "patient.conflict",
                           f"patient id {variant} conflicts with an existing record; choose another identifier")]
        assert "C2" not in str(exc.value).replace("C2-003", "")
    else:  # the dictionary's pattern refuses the full-width form before the registry is asked
        assert {e[3] for e in errors} >= {"pattern"}
    assert dump_tables(loaded.engine) == registry_rows


def test_coordinator_variant_conflict_names_the_registered_id(loaded: Registry, tmp_path: Path) -> None:
    folder = centre_folder(tmp_path / "c3", {"C3"})
    _relabel(folder, "C3-006", "c2-003")
    before = dump_tables(loaded.engine)
    with pytest.raises(ImportRejected) as exc:
        loaded.as_user("coord").import_path(folder)
    assert _conflicts(exc) == [(2, "c2-003", "patient_id", "patient.conflict",
                                "patient id c2-003 conflicts with the existing patient C2-003: identifiers are "
                                "compared after Unicode NFKC normalisation and case folding; use the registered "
                                "identifier or another one")]
    assert dump_tables(loaded.engine) == before


def test_variants_within_one_file_are_a_conflict(registry: Registry, tmp_path: Path) -> None:
    folder = centre_folder(tmp_path / "c1", {"C1"})
    _relabel(folder, "C1-002", "c1-001x")
    _relabel(folder, "C1-001", "C1-001X")
    with pytest.raises(ImportRejected) as exc:
        registry.as_user("u1").import_path(folder)
    errors = [(f.file, f.row, f.patient_id, f.rule) for f in exc.value.findings if f.severity == "error"]
    assert ("patients.csv", 3, "c1-001x", "key.unique") in errors  # the validator folds case already
    assert registry.as_user("coord").patient_ids() == []


def test_database_refuses_a_variant_written_past_the_access_layer(loaded: Registry) -> None:
    t = loaded.tables["patients"]
    with loaded.engine.connect() as conn:
        row = dict(conn.execute(sa.select(t).where(t.c.patient_id == "C2-003")).one()._mapping)
    assert row["patient_key"] == "c2-003"
    for pid, key in (("c2-003", "c2-003"), ("X-1", None), ("X-2", "")):
        values = {**{k: v for k, v in row.items() if k != "id"}, "patient_id": pid, "patient_key": key}
        with pytest.raises(sa.exc.IntegrityError), loaded.engine.begin() as conn:
            conn.execute(t.insert().values(**values))
    assert loaded.as_user("coord").patient_ids().count("C2-003") == 1


def test_row_of_other_centre_than_declared_rejects_file(registry: Registry, tmp_path: Path) -> None:
    before = dump_tables(registry.engine)
    with pytest.raises(ImportRejected) as exc:
        registry.as_user("coord").import_path(example_dir(), centre="C1")
    rows = {(f.row, f.patient_id, f.rule) for f in exc.value.findings if f.severity == "error"}
    assert (4, "C2-003", "centre.mismatch") in rows
    assert dump_tables(registry.engine) == before


def test_management_needs_a_coordinator(registry: Registry) -> None:
    with pytest.raises(AccessDenied):
        registry.add_centre("C4", by="u1")
    with pytest.raises(AccessDenied):
        registry.add_user("x", "coordinator", by=None)
    with pytest.raises(UnknownUser):
        registry.as_user("nobody")
    registry.add_centre("C4", by="coord")
    assert ("C4", "C4") in registry.centres()
    with pytest.raises(AccessDenied) as exc:
        registry.as_user("u1").users()
    assert str(exc.value) == "access denied: user 'u1' (centre C1): listing users needs a coordinator"
    assert [u.name for u in registry.as_user("coord").users()] == ["coord", "u1", "u2"]


# -- single changes ---------------------------------------------------------------------------------


def test_update_value_validated_and_audited(loaded: Registry) -> None:
    u1 = loaded.as_user("u1")
    assert u1.update_value("assessments", {"patient_id": "C1-001", "timepoint": "after_c1"}, "pcr_mrd", "PNQ")
    assert not u1.update_value("assessments", {"patient_id": "C1-001", "timepoint": "after_c1"}, "pcr_mrd", "pnq")
    last = u1.history("C1-001")[-1]
    assert (last.user, last.action, last.form, last.record_key, last.field, last.old_value, last.new_value,
            last.import_id) == ("u1", "update", "assessments", "patient_id=C1-001, timepoint=after_c1", "pcr_mrd",
                                "NEG", "PNQ", None)
    before = dump_tables(loaded.engine)
    with pytest.raises(ImportRejected) as exc:
        u1.update_value("courses", {"patient_id": "C1-001", "course": 2}, "end_date", "2017-03-01")
    assert {f.rule for f in exc.value.findings if f.severity == "error"} == {"course.dates"}
    assert dump_tables(loaded.engine) == before


def test_coordinator_moves_patient_and_centre_user_deletes_own(loaded: Registry) -> None:
    coord = loaded.as_user("coord")
    assert coord.update_value("patients", {"patient_id": "C2-003"}, "centre", "C1")
    assert "C2-003" in loaded.as_user("u1").patient_ids()
    n = loaded.as_user("u1").delete_patient("C2-003")
    assert n == 6  # patients, courses, 2 assessments, adverse_events, outcomes
    assert "C2-003" not in coord.patient_ids()
    deleted = [e for e in coord.history("C2-003") if e.action == "delete"]
    assert {e.form for e in deleted} == {"patients", "courses", "assessments", "adverse_events", "outcomes"}
    assert all(e.new_value is None and e.old_value for e in deleted)


def test_import_dataset(registry: Registry) -> None:
    from blincompass.validate import load_dataset

    coord = registry.as_user("coord")
    first = coord.import_dataset(load_dataset(example_dir()).dataset)
    assert first.inserted == 59
    again = coord.import_dataset(coord.read_dataset())
    assert not again.changed


def test_long_free_text_is_kept(registry: Registry, tmp_path: Path) -> None:
    folder = copy_example(tmp_path / "long")
    reason = "Seizure; " + "x" * 400
    text = (folder / "courses.csv").read_text().replace(",yes,Seizure,", f",yes,{reason},")
    (folder / "courses.csv").write_text(text)
    term = "Unspecified neurotoxicity " + "y" * 300
    text = (folder / "adverse_events.csv").read_text().replace("Unspecified neurotoxicity", term)
    (folder / "adverse_events.csv").write_text(text)
    coord = registry.as_user("coord")
    coord.import_path(folder)
    ds = coord.read_dataset()
    assert reason in set(ds.courses["interruption_reason"])
    assert term in set(ds.adverse_events["ae_term"])
    assert any(term in e.record_key for e in coord.history("C1-002"))


@pytest.fixture
def loose_registry(engine: sa.Engine, tmp_path: Path) -> Registry:
    """A registry whose dictionary lets patient ids hold any non-space characters (full-width ones too)."""
    from importlib import resources

    from blincompass.dictionary import load_dictionary

    from .conftest import FixedClock

    text = resources.files("blincompass.dictionary").joinpath("data/blincompass.toml").read_text("utf-8")
    strict = 'pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"'
    assert text.count(strict) == 1
    (tmp_path / "loose.toml").write_text(text.replace(strict, 'pattern = "^\\\\S{1,40}$"'), encoding="utf-8")
    reg = Registry(engine, dictionary=load_dictionary(tmp_path / "loose.toml"), clock=FixedClock())
    reg.init()
    for code in ("C1", "C2", "C3"):
        reg.add_centre(code)
    reg.add_user("coord", "coordinator")
    reg.add_user("u1", "centre", "C1", by="coord")
    return reg


def test_full_width_variant_within_a_file_is_a_conflict(loose_registry: Registry, tmp_path: Path) -> None:
    folder = centre_folder(tmp_path / "c1", {"C1"})
    _relabel(folder, "C1-002", "Ｃ1-001")  # full-width C: not equal to C1-001 after case folding alone
    with pytest.raises(ImportRejected) as exc:
        loose_registry.as_user("u1").import_path(folder)
    assert _conflicts(exc) == [
        (3, "Ｃ1-001", "patient_id", "patient.conflict",
         "patient id Ｃ1-001 and C1-001 (row 2) differ only in case or Unicode form; identifiers are compared "
         "after NFKC normalisation and case folding")]
    assert loose_registry.as_user("coord").patient_ids() == []


def test_full_width_variant_of_another_centres_id_is_a_conflict(loose_registry: Registry, tmp_path: Path) -> None:
    loose_registry.as_user("coord").import_path(example_dir())
    folder = centre_folder(tmp_path / "c1", {"C1"})
    _relabel(folder, "C1-002", "ｃ２－００３")
    before = dump_tables(loose_registry.engine)
    with pytest.raises(ImportRejected) as exc:
        loose_registry.as_user("u1").import_path(folder)
    assert _conflicts(exc) == [
        (3, "ｃ２－００３", "patient_id", "patient.conflict",
         "patient id ｃ２－００３ conflicts with an existing record; choose another identifier")]
    assert "C2" not in str(exc.value)
    assert dump_tables(loose_registry.engine) == before
    _relabel(folder, "ｃ２－００３", "ｃ２－００９")  # no registered id folds to it: imported
    assert loose_registry.as_user("u1").import_path(folder).inserted > 0
    t = loose_registry.tables["patients"]
    with loose_registry.engine.connect() as conn:
        key = conn.execute(sa.select(t.c.patient_key).where(t.c.patient_id == "ｃ２－００９")).scalar_one()
    assert key == "c2-009"
