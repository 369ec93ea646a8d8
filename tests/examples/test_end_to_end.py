"""Each worked example from its CSV files to the analysis tables and the full report with only its study
package (no Python), and the report's numbers equal the R reference numbers (tests/fixtures/r/examples_*.R).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from blincompass.cli import app

from ._derive import EXAMPLES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "r"
CASES = [("car-t", "car_t"), ("gbsg2", "gbsg2")]
TOL = {"rtol": 1e-8, "atol": 1e-10}
runner = CliRunner()


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"examples_{name}.json").read_text(encoding="utf-8"))


def _protocol(folder: str) -> dict:
    return tomllib.loads((EXAMPLES / folder / "protocol.toml").read_text(encoding="utf-8"))


def _t(months: float) -> str:
    return f"{months:g}".replace(".", "_") + "m"


@pytest.mark.parametrize(("folder", "name"), CASES, ids=[c[0] for c in CASES])
def test_derive_builds_adsl_and_adtte_as_r(tmp_path: Path, folder: str, name: str):
    pkg, fx = EXAMPLES / folder, _fixture(name)
    res = runner.invoke(app, ["derive", "--study", str(pkg), str(pkg / "data"), "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    adsl = pd.read_csv(tmp_path / "adsl.csv")
    derived = [d["name"] for d in _protocol(folder)["derived"] if d.get("keep", True)]
    assert [c for c in adsl.columns if c in derived] == derived
    assert len(adsl) == fx["n_patients"]
    assert int(adsl["eligible"].sum()) == fx["n_eligible"]
    adtte = pd.read_csv(tmp_path / "adtte.csv", keep_default_na=False)
    assert list(dict.fromkeys(adtte["PARAMCD"])) == list(fx["adtte"])
    for paramcd, r in fx["adtte"].items():
        rows = adtte[adtte["PARAMCD"] == paramcd].set_index("USUBJID").loc[r["patient_id"]]
        np.testing.assert_allclose(rows["AVAL"].astype(float).to_numpy(), r["time"], rtol=1e-9, atol=1e-9)
        assert (rows["CNSR"].astype(int) == 1).tolist() == [c == "" for c in r["cause"]]
        events = [c for c in r["cause"] if c]
        assert rows.loc[rows["CNSR"].astype(int) == 0, "EVNTDESC"].tolist() == events


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def report(request, tmp_path_factory) -> tuple[str, Path]:
    """The report of one example, written once for the tests below."""
    folder, name = request.param
    out = tmp_path_factory.mktemp(f"report-{folder}")
    pkg = EXAMPLES / folder
    res = runner.invoke(app, ["report", "--study", str(pkg), str(pkg / "data"), "-o", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    return name, out


def test_report_outputs_and_layout(report):
    name, out = report
    for f in ("index.html", "report.docx", "tables.xlsx", "results.json"):
        assert (out / f).is_file(), f
    folder = dict((n, f) for f, n in CASES)[name]
    figures = {a["figure"] for a in _protocol(folder)["analyses"]["survival"] if "figure" in a}
    # and the layout's own: the CONSORT flow and the cumulative incidences, numbered S1, S2, ...
    figures |= {f"S{i + 1}" for i in range(1 + len(_protocol(folder)["analyses"].get("competing", [])))}
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        f"figure_{f}.{ext}" for f in figures for ext in ("png", "svg", "pdf")
    )
    index_event = tomllib.loads((EXAMPLES / folder / "layout.toml").read_text(encoding="utf-8"))["names"]["index_event"]
    assert f"time from {index_event} in months" in (out / "index.html").read_text(encoding="utf-8")


def test_report_numbers_equal_r(report):
    name, out = report
    fx = _fixture(name)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["screening"]["n_eligible"] == fx["n_eligible"]
    for case in fx["survival"]:
        block = results["survival"][case["id"]]
        for i, g in enumerate(case["groups"]):
            sub = block if g == "all" else block["groups"][g]
            assert (sub["n"], sub["events"]) == (case["n"][i], case["events"][i])
            median = sub["median"]["estimate"]
            assert (median is None) == (case["median"][i] is None)
            if median is not None:
                np.testing.assert_allclose(median, case["median"][i], **TOL)
            for k, t in enumerate(case["times"]):
                r = case["surv"][i][k]
                got = sub["at"][_t(t)]["surv"]
                assert (got is None) == (r is None)
                if r is not None:
                    np.testing.assert_allclose(got, r, **TOL)
        if "logrank" in case:
            test = results["tests"][case["id"]]
            assert test["df"] == case["logrank"]["df"]
            np.testing.assert_allclose([test["chisq"], test["p_two_sided"]],
                                       [case["logrank"]["chisq"], case["logrank"]["p"]], **TOL)
    for case in fx["proportions"]:
        test = results["tests"][case["id"]]
        np.testing.assert_allclose(test["p_two_sided"], case["fisher_p"], **TOL)
        for i, g in enumerate(case["groups"]):
            assert (test["counts"][g]["yes"], test["counts"][g]["no"]) == (case["yes"][i], case["no"][i])
    for case in fx.get("competing", []):
        if case["groups"] == ["true", "false"]:
            continue  # test_report_competing_boolean_groups
        _check_competing(results, case)


def test_report_competing_boolean_groups(report):
    name, out = report
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    cases = [c for c in _fixture(name).get("competing", []) if c["groups"] == ["true", "false"]]
    if not cases:
        pytest.skip("no competing-risks analysis by a yes/no group in this example")
    for case in cases:
        _check_competing(results, case)


def _check_competing(results: dict, case: dict) -> None:
    block = results["methods"]["competing"][case["id"]]
    row = case["gray"]["cause"].index("1")
    np.testing.assert_allclose([block["gray"]["statistic"], block["gray"]["p"]],
                               [case["gray"]["stat"][row], case["gray"]["p"][row]], **TOL)
    for g in case["groups"]:
        est = case["est"][case["labels"].index(f"{g} 1")]
        for k, t in enumerate(case["times"]):
            got = block[g][f"at_{_t(t)}"]["estimate"]
            if est[k] is None:
                assert got is None
            else:
                np.testing.assert_allclose(got, est[k], **TOL)
