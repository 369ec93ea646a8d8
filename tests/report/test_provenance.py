"""Provenance in every output: version, commit, study package and data hashes, run date; reproducible bytes
under SOURCE_DATE_EPOCH; the data hash follows the data."""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import docx
import openpyxl
import pytest
from typer.testing import CliRunner

from blincompass import __version__
from blincompass.cli import app
from blincompass.report import results_json
from blincompass.report.provenance import dataset_sha256, make_provenance, run_datetime, source_commit
from blincompass.report.render_docx import render_docx
from blincompass.report.render_html import render_html
from blincompass.report.render_xlsx import render_xlsx
from blincompass.study import load_study
from blincompass.validate import load_dataset

EXAMPLE = Path(__file__).parents[2] / "src" / "blincompass" / "data" / "example"
ENV = {"SOURCE_DATE_EPOCH": "1700000000", "BLINCOMPASS_COMMIT": "0123456789abcdef0123456789abcdef01234567"}


def test_run_date_and_commit_sources():
    stamp, source = run_datetime({"SOURCE_DATE_EPOCH": "1700000000"})
    assert stamp.isoformat() == "2023-11-14T22:13:20" and source == "SOURCE_DATE_EPOCH"
    day, source = run_datetime({})
    assert (day.hour, day.minute, day.second) == (0, 0, 0) and source == "day of the run"
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH='yesterday'"):
        run_datetime({"SOURCE_DATE_EPOCH": "yesterday"})
    assert source_commit({"BLINCOMPASS_COMMIT": "abc123"}) == "abc123"


def test_provenance_in_every_output(report):
    prov = make_provenance(None, "BLIN-COMPASS", "A study", "f" * 64, environ=ENV)
    assert prov.data_sha256 is None and prov.version == __version__
    rep = replace(report, provenance=prov)
    html = render_html(rep)
    assert '<footer class="provenance"' in html
    for label, value in prov.lines():
        assert f"<dt>{label}</dt><dd>{value}</dd>" in html
    assert "2023-11-14T22:13:20Z (SOURCE_DATE_EPOCH)" in html and "f" * 64 in html
    d = docx.Document(io.BytesIO(render_docx(rep)))
    text = "\n".join(p.text for p in d.paragraphs)
    assert f"Study package SHA-256: {'f' * 64}" in text and f"Source commit: {ENV['BLINCOMPASS_COMMIT']}" in text
    assert "Input data SHA-256: not recorded" in text
    assert d.core_properties.created.replace(tzinfo=None).isoformat() == "2023-11-14T22:13:20"
    assert d.core_properties.author == "BLIN-COMPASS" and d.core_properties.subject == "A study"
    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(rep)))
    readme = {r[0]: r[1] for r in wb["README"].iter_rows(values_only=True) if r[0]}
    assert readme["Study package SHA-256"] == "f" * 64
    assert readme["Run date (UTC)"] == "2023-11-14T22:13:20Z (SOURCE_DATE_EPOCH)"
    assert wb.properties.created.isoformat() == "2023-11-14T22:13:20"
    data = json.loads(results_json(rep))
    assert data["provenance"] == {"version": __version__, "commit": ENV["BLINCOMPASS_COMMIT"],
                                  "study": "BLIN-COMPASS", "study_title": "A study", "study_sha256": "f" * 64,
                                  "data_sha256": None, "run_date": "2023-11-14T22:13:20Z",
                                  "date_source": "SOURCE_DATE_EPOCH"}


def test_data_hash_follows_the_values(tmp_path):
    a = tmp_path / "a"
    shutil.copytree(EXAMPLE, a)
    base = dataset_sha256(load_dataset(a).dataset)
    assert base is not None and len(base) == 64
    b = tmp_path / "b"  # the same data in another folder: same hash (file names and rows are not data)
    shutil.copytree(EXAMPLE, b)
    assert dataset_sha256(load_dataset(b).dataset) == base
    p = b / "patients.csv"
    lines = p.read_text("utf-8").splitlines()
    head = lines[0].split(",")
    row = lines[1].split(",")
    i = head.index("sex")
    row[i] = "F" if row[i] == "M" else "M"  # one value changed
    lines[1] = ",".join(row)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    changed = load_dataset(b)
    assert changed.ok
    assert dataset_sha256(changed.dataset) != base


@pytest.mark.skipif(not EXAMPLE.is_dir(), reason="bundled example data set not present")
def test_two_runs_with_source_date_epoch_are_identical(tmp_path, monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    outs = []
    for name in ("one", "two"):
        out = tmp_path / name
        res = CliRunner().invoke(app, ["report", str(EXAMPLE), "--out", str(out), "--no-progress"])
        assert res.exit_code == 0, res.output
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert len(files) > 4
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
    prov = json.loads((outs[0] / "results.json").read_text("utf-8"))["provenance"]
    assert prov["study_sha256"] == load_study(None).sha256
    assert prov["data_sha256"] == dataset_sha256(load_dataset(EXAMPLE).dataset)
    assert prov["run_date"] == "2023-11-14T22:13:20Z" and prov["commit"] == ENV["BLINCOMPASS_COMMIT"]


def test_unreadable_source_date_epoch_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    res = CliRunner().invoke(app, ["report", str(EXAMPLE), "--out", str(tmp_path / "out"), "--no-progress"])
    assert res.exit_code == 2
    assert "SOURCE_DATE_EPOCH='soon' is not a whole number of seconds" in res.output
    assert not (tmp_path / "out" / "results.json").exists()
