"""docs/new-study.md stays true: its snippets are the CAR-T example's package, its messages the validator's."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.dictionary import load_dictionary
from blincompass.validate.rules import load_dataset

from ._derive import EXAMPLES, ROOT

DOC = ROOT / "docs" / "new-study.md"
CAR_T = EXAMPLES / "car-t"


def _blocks() -> list[dict]:
    text = DOC.read_text(encoding="utf-8")
    return [tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", text, flags=re.S)]


def _subset(doc: dict, real: dict, skip: tuple[str, ...] = ()) -> None:
    for k, v in doc.items():
        if k not in skip:
            assert real.get(k) == v, (doc.get("name") or doc.get("id") or doc.get("paramcd"), k)


def test_snippets_are_the_car_t_package():
    protocol = tomllib.loads((CAR_T / "protocol.toml").read_text(encoding="utf-8"))
    dictionary = tomllib.loads((CAR_T / "dictionary.toml").read_text(encoding="utf-8"))
    blocks = _blocks()
    assert len(blocks) >= 7
    seen = 0
    for b in blocks:
        for d in b.get("derived", []):
            _subset(d, next(x for x in protocol["derived"] if x["name"] == d["name"]))
            seen += 1
        for c in b.get("eligibility", {}).get("criteria", []):
            _subset(c, next(x for x in protocol["eligibility"]["criteria"] if x["id"] == c["id"]))
            seen += 1
        for e in b.get("endpoints", []):
            _subset(e, next(x for x in protocol["endpoints"] if x["paramcd"] == e["paramcd"]), skip=("definition",))
            seen += 1
        for kind, items in b.get("analyses", {}).items():
            if kind == "settings":
                _subset(items, protocol["analyses"]["settings"])
                continue
            for a in items:
                _subset(a, next(x for x in protocol["analyses"][kind] if x["id"] == a["id"]))
                seen += 1
        if "study" in b:
            _subset(b["study"], protocol["study"], skip=("title", "reference"))
        if "meta" in b:
            _subset(b["meta"], dictionary["meta"])
        for check in b.get("checks", []):
            _subset(check, next(x for x in dictionary["checks"] if x["rule"] == check["rule"]
                                and x["form"] == check["form"] and x.get("later") == check["later"]))
            seen += 1
        for form in b.get("forms", []):
            real = next(f for f in dictionary["forms"] if f["name"] == form["name"])
            assert form["key"] == real["key"]
            for v in form.get("variables", []):
                _subset(v, next(x for x in real["variables"] if x["name"] == v["name"]))
                seen += 1
    assert seen >= 15


def test_quoted_data_messages_are_the_validators(tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(CAR_T / "data", data)

    def edit(name: str, change) -> None:
        path = data / f"{name}.csv"
        lines = path.read_text(encoding="utf-8").splitlines()
        change(lines)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def toxicities(lines: list[str]) -> None:
        cells = lines[1].split(",")
        cells[2] = "5"
        lines[1] = ",".join(cells)

    def patients(lines: list[str]) -> None:
        cells = lines[1].split(",")
        cells[3], cells[6] = "31/02/2010", "relapsed"
        lines[1] = ",".join(cells)

    def outcomes(lines: list[str]) -> None:
        i = next(i for i, line in enumerate(lines[1:], 1) if line.split(",")[1])
        cells = lines[i].split(",")
        cells[2] = ""
        lines[i] = ",".join(cells)

    def infusions(lines: list[str]) -> None:
        lines[0] = lines[0].replace(",dose,", ",dose_mg,")

    for name, change in (("toxicities", toxicities), ("patients", patients), ("outcomes", outcomes),
                         ("infusions", infusions)):
        edit(name, change)
    res = load_dataset(data, load_dictionary(CAR_T / "dictionary.toml"), data_cutoff=dt.date(2024, 6, 30))
    messages = {f.message for f in res.findings}
    doc = DOC.read_text(encoding="utf-8")
    quoted = [
        "5 is outside the allowed range 1 to 4",
        "'31/02/2010' is not a valid date: February 2010 has 28 days; expected a date as yyyy-mm-dd or dd/mm/yyyy",
        "relapse_cd19 (CD19 expression of the relapse) is required when relapse_date is given",
        "column 'dose_mg' is not a variable of form 'infusions'; it is ignored",
        "column 'dose' (Dose of CAR-positive viable T cells, required) is missing from form 'infusions'",
    ]
    for m in quoted:
        assert f"`{m}`" in doc, m
        assert m in messages, m
    code = next(m for m in messages if m.startswith("'relapsed' is not an allowed value"))
    assert code.startswith(
        "'relapsed' is not an allowed value; expected one of: primary_refractory (Primary refractory)"
    )


PACKAGE_MISTAKES = [
    ('origin = "infusion_date"', 'origin = "infusion_dt"',
     "endpoint OS.origin: 'infusion_dt' is not a patient-level variable; available: age_group, age_infusion, "),
    ('outcome = "cr_d28"\ngroup = "disease_group"', 'outcome = "cr_d28"\ngroup = "disease_grp"',
     "analyses cr_by_disease_group.group: 'disease_grp' is not a patient-level variable; available: "),
    ("where = \"toxicity == 'crs'\"", "where = \"syndrome == 'crs'\"",
     "derived crs_grade.where: 'syndrome' is not a column of form toxicities; its columns are: patient_id, "
     "toxicity, grade, onset_date, tocilizumab, icu"),
    ('expr = "coalesce(crs_grade, 0) >= 3"', 'expr = "crs_grade >= 3 and"',
     "derived severe_crs.expr: expression 'crs_grade >= 3 and' is not valid: invalid syntax"),
    ('kind = "date_diff"\nfrom = "apheresis_date"', 'kind = "date_dif"\nfrom = "apheresis_date"',
     "derived.5.kind: Input should be 'copy', 'date_diff', 'first', 'last', 'min', 'max', 'sum', 'count', 'any', "
     "'expr', 'case', 'cut', 'label' or 'function'"),
]


@pytest.mark.parametrize(("old", "new", "message"), PACKAGE_MISTAKES, ids=[m[2][:30] for m in PACKAGE_MISTAKES])
def test_quoted_package_messages_are_study_checks(tmp_path: Path, old: str, new: str, message: str):
    pkg = tmp_path / "car-t"
    shutil.copytree(CAR_T, pkg, ignore=shutil.ignore_patterns("data", "*.py"))
    text = (pkg / "protocol.toml").read_text(encoding="utf-8")
    assert old in text
    (pkg / "protocol.toml").write_text(text.replace(old, new, 1), encoding="utf-8")
    res = CliRunner().invoke(app, ["study", "check", str(pkg)])
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())
    doc = " ".join(DOC.read_text(encoding="utf-8").split())
    assert message.split(": available")[0].split(" its columns")[0] in doc
