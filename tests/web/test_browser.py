"""The web registry in a real browser (Playwright driving Debian's chromium): entry of a patient with every
form, a validation error at its field, an upload rejected then accepted, a data query round trip, the
dashboard's numbers, and stored XSS payloads rendered inert on every page."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest

from blincompass.registry import queries as rq
from blincompass.web.forms import patient_records
from tests.web.conftest import Site

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _sel(page, name: str, value: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(f'[name="{name}"]').select_option(value)


def _fill(page, name: str, value: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(f'[name="{name}"]').fill(value)


def test_enter_a_patient_with_every_form_and_see_a_validation_error(site: Site, new_page) -> None:  # type: ignore[no-untyped-def]
    page = new_page("u1")
    pid = f"C1-W{site.backend[:2].upper()}1"
    page.goto("/patients/new")
    for name, value in [("patients.patient_id", pid), ("patients.birth_date", "2011-04-02"),
                        ("patients.diagnosis_date", "2015-06-10"), ("patients.prior_hsct", "1"),
                        ("courses.course", "1"), ("courses.start_date", "2018-01-08"),
                        ("courses.end_date", "2018-02-04"), ("outcomes.last_followup_date", "2020-05-31")]:
        _fill(page, name, value)
    for name, value in [("patients.centre", "C1"), ("patients.sex", "F"), ("patients.leukaemia_type", "bcp_all"),
                        ("patients.immunophenotype", "common"), ("patients.cd19_status", "positive"),
                        ("patients.karyotype", "normal"), ("patients.molecular", "none"),
                        ("patients.risk_group", "high"), ("patients.disease_status", "first_relapse"),
                        ("patients.relapse_site", "bone_marrow"), ("patients.prior_cart", "no"),
                        ("patients.debulking", "yes"), ("patients.access", "compassionate"),
                        ("patients.in_trial", "no"), ("courses.schedule", "ped_stepup"),
                        ("courses.interrupted", "no"), ("courses.discontinued", "no"),
                        ("outcomes.tox_data_available", "yes")]:
        _sel(page, name, value)
    page.click("#save")
    page.wait_for_url(re.compile(f"/patients/{pid}"))
    assert page.locator("#saved").is_visible()

    # a repeating form: the baseline assessment and the one after course 1
    for tp, date, blasts, pcr in [("baseline", "2018-01-02", "12.5", "0.01"), ("after_c1", "2018-02-05", "0", "NEG")]:
        page.click("#add-assessments")
        _fill(page, "assessment_date", date)
        _sel(page, "timepoint", tp)
        _fill(page, "bm_blasts", blasts)
        _fill(page, "pcr_mrd", pcr)
        _fill(page, "fc_mrd", "ND")
        page.click("#save")
        page.wait_for_url(re.compile(r"saved=1"))
    page.click("#add-adverse_events")
    _fill(page, "course", "1")
    _fill(page, "ae_term", "Fever")
    _fill(page, "grade", "2")
    _sel(page, "led_to_interruption", "no")
    _sel(page, "led_to_discontinuation", "no")
    page.click("#save")
    page.wait_for_url(re.compile(r"saved=1"))
    page.click("#add-courses")  # a second course, then deleted again
    _fill(page, "course", "2")
    _fill(page, "start_date", "2018-03-01")
    _fill(page, "end_date", "2018-03-28")
    _sel(page, "schedule", "ped_full")
    _sel(page, "interrupted", "no")
    _sel(page, "discontinued", "no")
    page.click("#save")
    page.wait_for_url(re.compile(r"saved=1"))

    coord = site.registry.as_user("coord")
    ds = coord.read_dataset([pid])
    assert {f: len(ds.forms[f]) for f in ds.forms} == {
        "patients": 1, "courses": 2, "assessments": 2, "adverse_events": 1, "outcomes": 1}
    assert ds.patients.iloc[0]["centre"] == "C1" and ds.patients.iloc[0]["risk_group"] == "high"
    assert sorted(ds.forms["assessments"]["timepoint"]) == ["after_c1", "baseline"]
    entries = coord.history(pid)
    assert entries and {e.user for e in entries} == {"u1"} and {e.import_id for e in entries} == {None}

    # delete the second course (one audited transaction)
    page.goto(f"/patients/{pid}/courses?key.course=2")
    page.click("#delete")
    page.wait_for_url(re.compile(r"saved=1"))
    assert len(coord.read_dataset([pid]).forms["courses"]) == 1

    # a validation error is shown at its field, and nothing is written
    before = site.data_dump()
    page.goto(f"/patients/{pid}/courses?key.course=1")
    _fill(page, "end_date", "2017-12-01")
    page.click("#save")
    err = page.locator('[id="field-end_date"] .error')
    assert "before it starts" in err.inner_text()
    assert site.data_dump() == before

    # the audit page lists who changed what
    page.goto(f"/patients/{pid}/audit")
    rows = page.locator("#audit tbody tr")
    assert rows.count() == len(coord.history(pid))
    assert "u1" in rows.first.inner_text()


def _sheet_cell(ws, pid: str, column: str):  # type: ignore[no-untyped-def]
    header = [c.value for c in ws[1]]
    col = header.index(column) + 1
    for r in range(2, ws.max_row + 1):
        if ws.cell(r, 1).value == pid:
            return ws.cell(r, col), r
    raise AssertionError(f"{pid} not in {ws.title}")


def test_upload_rejected_then_accepted_and_download(site: Site, new_page, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    http = client("u2")
    r = http.get("/download")
    assert r.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    pids = [ws_row[0].value for ws_row in wb["patients"].iter_rows(min_row=2) if ws_row[0].value]
    assert pids and all(p.startswith("C2-") for p in pids)  # the centre's data only
    cell, row = _sheet_cell(wb["patients"], "C2-004", "sex")
    cell.value = "X"
    bad = tmp_path / "bad.xlsx"
    wb.save(bad)
    cell.value = "F" if site.registry.as_user("u2").read_dataset(["C2-004"]).patients.iloc[0]["sex"] == "M" else "M"
    good = tmp_path / "good.xlsx"
    wb.save(good)
    new_sex = cell.value

    page = new_page("u2")
    before = site.data_dump()
    page.goto("/upload")
    page.set_input_files("#file", str(bad))
    page.click("#upload")
    assert "nothing was written" in page.locator("#upload-error").inner_text()
    finding = page.locator("#findings tbody tr.error").first.inner_text()
    assert "C2-004" in finding and "sex" in finding and "X" in finding and str(row) in finding
    assert site.data_dump() == before

    page.set_input_files("#file", str(good))
    page.click("#upload")
    assert "Imported good.xlsx" in page.locator("#upload-result").inner_text()
    assert site.registry.as_user("coord").read_dataset(["C2-004"]).patients.iloc[0]["sex"] == new_sex
    log = site.registry.as_user("coord").imports()
    assert log.iloc[-1]["user_name"] == "u2" and log.iloc[-1]["file_name"] == "good.xlsx"


def test_query_round_trip(site: Site, new_page) -> None:  # type: ignore[no-untyped-def]
    pid = "C1-002"
    mon = new_page("mon")
    mon.goto(f"/patients/{pid}")
    form = mon.locator("#query-outcomes-1")
    mon.locator("#outcomes details.raise summary").click()
    form.locator('[name="field"]').select_option("last_followup_date")
    form.locator('[name="comment"]').fill("Follow-up date later than the data cut-off? Please check.")
    form.locator("button").click()
    mon.wait_for_url(re.compile(r"/queries/\d+"))
    qid = int(mon.url.rsplit("/", 1)[1])
    assert mon.locator("#query-status").inner_text() == "open"

    u2 = new_page("u2")  # another centre does not see it
    u2.goto("/queries")
    assert u2.locator(f'#queries a[href="/queries/{qid}"]').count() == 0
    u2.goto(f"/queries/{qid}")
    assert "404" in u2.locator("h1").inner_text()

    u1 = new_page("u1")
    u1.goto("/queries?status=open")
    u1.click(f'#queries a[href="/queries/{qid}"]')
    old = u1.locator("#current-value").inner_text()
    u1.fill("#comment", "Checked in the chart: corrected.")
    u1.fill("#new_value", "2020-10-31")
    u1.click("#answer")
    assert u1.locator("#query-status").inner_text() == "answered"
    assert "2020-10-31" in u1.locator("#thread").inner_text()

    coord = site.registry.as_user("coord")
    assert coord.read_dataset([pid]).forms["outcomes"].iloc[0]["last_followup_date"].date().isoformat() == "2020-10-31"
    last = coord.history(pid)[-1]
    assert (last.user, last.field, last.old_value, last.new_value) == ("u1", "last_followup_date", old, "2020-10-31")
    q = rq.get_query(coord, qid)
    assert [m.kind for m in q.messages] == ["open", "correction"] and q.messages[1].audit_id == last.id

    mon.goto(f"/queries/{qid}")
    mon.fill("#mcomment", "Thank you.")
    mon.click("#close")
    assert mon.locator("#query-status").inner_text() == "closed"
    mon.goto(f"/patients/{pid}/audit")
    assert f"query {qid}" in mon.locator("#audit").inner_text()
    assert "Thank you." in mon.locator("#audit-queries").inner_text()


def test_dashboard_numbers_equal_the_registry(site: Site, new_page) -> None:  # type: ignore[no-untyped-def]
    coord = site.registry.as_user("coord")
    page = new_page("coord")
    page.goto("/dashboard")
    counts = rq.query_counts(coord)
    centres = {c for _, c in coord.patient_centres()}
    for c in sorted(centres):
        row = page.locator(f'#dash-patients tr[data-centre="{c}"] td.n-patients')
        assert int(row.inner_text()) == sum(1 for _, cc in coord.patient_centres() if cc == c)
        open_cell = page.locator(f'#dash-checks tr[data-centre="{c}"] td.n-open')
        assert int(open_cell.inner_text()) == counts.get(c, {}).get("open", 0)
        errors = page.locator(f'#dash-checks tr[data-centre="{c}"] td.n-errors')
        assert int(errors.inner_text()) == 0
    # a centre user has no dashboard
    u1 = new_page("u1")
    u1.goto("/dashboard")
    assert "403" in u1.locator("h1").inner_text()


XSS = '<script>alert("x1")</script><img src=x onerror=alert("x2")>"\'><svg onload=alert("x3")>'


def test_stored_xss_is_inert_on_every_page_and_in_the_export(site: Site, new_page, client) -> None:  # type: ignore[no-untyped-def]
    pid = "C1-001"
    reg = site.registry
    u1 = reg.as_user("u1")
    # free text of the forms: the interruption reason and the adverse-event term
    http = client("u1")
    course = dict(patient_records(u1, pid)["courses"][0], **{"key.course": "1"})
    r = http.post(f"/patients/{pid}/courses", dict(course, interrupted="yes", interruption_reason=XSS))
    assert r.status_code == 303, r.text
    r = http.post(f"/patients/{pid}/adverse_events", {"new": "1", "course": "2", "ae_term": XSS, "grade": "1",
                                                        "led_to_interruption": "no", "led_to_discontinuation": "no"})
    assert r.status_code == 303, r.text
    # a query thread, opened and answered with the payload
    q = rq.open_query(reg.as_user("mon"), pid, "courses", {"course": "1"}, "interruption_reason", XSS)
    rq.answer_query(u1, q.id, XSS)
    # a centre name entered by the coordinator
    reg.add_centre("CX", XSS, by="coord")

    shows = {f"/patients/{pid}", f"/patients/{pid}/audit", f"/queries/{q.id}", "/users"}
    pages = {"u1": [f"/patients/{pid}", f"/patients/{pid}/audit", f"/queries/{q.id}", "/queries",
                    f"/patients/{pid}/courses?key.course=1", "/upload", "/patients"],
             "coord": ["/dashboard", "/users", f"/patients/{pid}/audit", f"/queries/{q.id}"]}
    for user, paths in pages.items():
        page = new_page(user)
        for path in paths:
            page.goto(path)
            assert page.locator("script, svg, img[src=x]").count() == 0, path
            if path in shows:  # shown as text
                assert XSS in page.locator("main").inner_text(), path
        if user == "u1":
            page.goto(f"/patients/{pid}/courses?key.course=1")
            assert page.locator('[name="interruption_reason"]').input_value() == XSS
    assert new_page.dialogs == []  # no alert ran anywhere
    # the text is shown literally
    page = new_page("u1")
    page.goto(f"/queries/{q.id}")
    assert XSS in page.locator("#thread").inner_text()
    # the export carries the text as a plain string cell
    wb = openpyxl.load_workbook(io.BytesIO(http.get("/download").content))
    cell, _ = _sheet_cell(wb["courses"], pid, "interruption_reason")
    assert cell.value == XSS and cell.data_type == "s"
