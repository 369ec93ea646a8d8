"""The other pages at the HTTP level: uploads of a zip of CSV files and of a REDCap export, users and centres,
the account page, and the study report run from the registry and downloaded."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pyotp

from blincompass.io import example_dir
from blincompass.registry import auth as regauth
from tests.web.conftest import PASSWORD, Client, Site

REDCAP = Path(__file__).resolve().parent.parent / "fixtures" / "registry" / "redcap"


def _zip_of_centre(centre: str, change: tuple[str, str, str] | None = None) -> bytes:
    """The example CSVs restricted to one centre, optionally with one cell replaced (pid, column, value)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(example_dir().glob("*.csv")):
            lines = f.read_text(encoding="utf-8").splitlines()
            header = lines[0].split(",")
            keep = [lines[0]]
            for ln in lines[1:]:
                cells = ln.split(",")
                if not cells[0].startswith(centre + "-"):
                    continue
                if change and f.stem == "patients" and cells[0] == change[0]:
                    cells[header.index(change[1])] = change[2]
                keep.append(",".join(cells))
            z.writestr(f"export/{f.name}", "\n".join(keep) + "\n")
    return buf.getvalue()


def test_upload_zip_of_csvs_and_redcap_export(site: Site, client) -> None:  # type: ignore[no-untyped-def]
    u2 = client("u2")
    u2.get("/upload")
    before = site.data_dump()
    bad = _zip_of_centre("C2", ("C2-005", "prior_hsct", "9"))
    r = u2.post("/upload", {"format": "auto", "centre": "C2"}, files={"file": ("c2.zip", bad, "application/zip")})
    assert r.status_code == 422 and "prior_hsct" in r.text and "nothing was written" in r.text
    assert site.data_dump() == before
    good = _zip_of_centre("C2", ("C2-005", "prior_hsct", "2"))
    r = u2.post("/upload", {"format": "auto", "centre": "C2"}, files={"file": ("c2.zip", good, "application/zip")})
    assert r.status_code == 200 and "Imported c2.zip" in r.text
    assert int(site.registry.as_user("u2").read_dataset(["C2-005"]).patients.iloc[0]["prior_hsct"]) == 2
    # a centre user cannot slip in another centre's rows
    r = u2.post("/upload", {"format": "auto"}, files={"file": ("c1.zip", _zip_of_centre("C1"), "application/zip")})
    assert r.status_code == 403
    # a REDCap export of every centre, with its data dictionary and mapping, by the coordinator
    coord = client("coord")
    coord.get("/upload")
    files = {"file": ("records.csv", (REDCAP / "records_raw.csv").read_bytes(), "text/csv"),
             "redcap_dictionary": ("dictionary.csv", (REDCAP / "dictionary.csv").read_bytes(), "text/csv"),
             "mapping": ("mapping.toml", (REDCAP / "mapping.toml").read_bytes(), "text/plain")}
    r = coord.post("/upload", {"format": "redcap", "centre": ""}, files=files)
    assert r.status_code == 200, r.text
    assert "upload-result" in r.text
    # the REDCap export restores C2-005 as in the example data
    assert int(site.registry.as_user("coord").read_dataset(["C2-005"]).patients.iloc[0]["prior_hsct"]) != 2


def test_users_page_account_and_totp(site: Site, client) -> None:  # type: ignore[no-untyped-def]
    coord = client("coord")
    coord.get("/users")
    r = coord.post("/users", {"action": "add-user", "name": "anna", "role": "monitor", "password": "short"})
    assert r.status_code == 422 and "at least 12" in r.text
    r = coord.post("/users", {"action": "add-user", "name": "anna", "role": "centre", "centre": "C3",
                              "password": PASSWORD})
    assert r.status_code == 200 and "user anna added" in r.text
    anna = client("anna")
    assert "centre C3" in anna.get("/patients").text
    # change of one's own password ends the other sessions
    other = client("anna")
    anna.get("/account")
    r = anna.post("/account", {"action": "password", "current_password": "wrong", "new_password": "x" * 20,
                               "new_password2": "x" * 20})
    assert "not right" in r.text
    new = "another long passphrase"
    r = anna.post("/account", {"action": "password", "current_password": PASSWORD, "new_password": new,
                               "new_password2": new})
    assert "Password changed" in r.text and anna.get("/patients").status_code == 200
    assert other.get("/patients").status_code == 303
    # two-factor login
    r = anna.post("/account", {"action": "totp-start"})
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', r.text).group(1)
    first = pyotp.TOTP(secret).now()
    r = anna.post("/account", {"action": "totp-confirm", "secret": secret, "code": first})
    assert "Two-factor login is on" in r.text
    c = Client(site.url)
    assert c.login("anna", new).status_code == 401  # no code
    c.get("/login")
    # the confirming code is used up; the next step's code (one step of drift is allowed) logs in once
    r = c.post("/login", {"username": "anna", "password": new, "code": first})
    assert r.status_code == 401
    c.get("/login")
    later = pyotp.TOTP(secret).at(time.time() + 30)
    r = c.post("/login", {"username": "anna", "password": new, "code": later})
    assert r.status_code == 303
    replay = Client(site.url)
    replay.get("/login")
    assert replay.post("/login", {"username": "anna", "password": new, "code": later}).status_code == 401
    assert regauth.totp_enabled(site.registry, "anna")


def test_report_run_from_the_registry_and_download(site: Site, client) -> None:  # type: ignore[no-untyped-def]
    if site.backend != "sqlite":
        return  # the report reads through the same access layer on both; run once to keep the suite short
    assert client("u1").get("/report").status_code == 403
    coord = client("coord")
    coord.get("/report")
    r = coord.post("/report", {})
    assert r.status_code == 303, r.text
    page = coord.get(r.headers["location"])
    links = re.findall(r'href="(/report/[^"]+)"', page.text)
    index = [x for x in links if x.endswith("/index.html")]
    assert index, page.text
    html = coord.get(index[0])
    assert html.status_code == 200 and "attachment" in html.headers["content-disposition"]
    assert b"<html" in html.content[:2000].lower()
    assert coord.get(index[0].rsplit("/", 1)[0] + "/../../etc/passwd").status_code == 404


def test_two_people_editing_one_patient_do_not_undo_each_other(site: Site, client) -> None:  # type: ignore[no-untyped-def]
    from blincompass.web.forms import patient_records

    a, b = client("u1"), client("coord")
    form_a = a.get("/patients/C1-002/outcomes?key.patient_id=C1-002").text
    form_b = b.get("/patients/C1-002/outcomes?key.patient_id=C1-002").text
    version = re.search(r'name="version" value="(\d+)"', form_a).group(1)
    assert version == re.search(r'name="version" value="(\d+)"', form_b).group(1)
    values = dict(patient_records(site.registry.as_user("coord"), "C1-002")["outcomes"][0])
    values.update({"key.patient_id": "C1-002", "version": version, "action": "save"})
    r = a.post("/patients/C1-002/outcomes", dict(values, last_followup_date="2021-01-15"))
    assert r.status_code == 303
    before = site.data_dump()
    r = b.post("/patients/C1-002/outcomes", dict(values, last_followup_date="2021-02-15"))
    assert r.status_code == 422 and "changed by someone else" in r.text
    assert site.data_dump() == before
    stored = site.registry.as_user("coord").read_dataset(["C1-002"]).forms["outcomes"].iloc[0]["last_followup_date"]
    assert stored.date().isoformat() == "2021-01-15"
