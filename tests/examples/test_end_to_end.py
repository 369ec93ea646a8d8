"""Each worked example from its CSV files to the analysis tables and the full report with only its study
package (no Python), and the report's numbers equal the R reference numbers (tests/fixtures/r/examples_*.R).

Expected to fail until the pipeline accepts study package format 2 (derived variables, generic endpoints).
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
TOL = {"rtol": 1e-6, "atol": 1e-9}  # results.json rounds nothing, but allow for its decimal text
runner = CliRunner()
pytestmark = pytest.mark.xfail(strict=False, reason="study package format 2 not yet merged")


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


@pytest.mark.parametrize(("folder", "name"), CASES, ids=[c[0] for c in CASES])
def test_report_numbers_equal_r(tmp_path: Path, folder: str, name: str):
    pkg, fx = EXAMPLES / folder, _fixture(name)
    res = runner.invoke(app, ["report", "--study", str(pkg), str(pkg / "data"), "-o", str(tmp_path),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    for f in ("index.html", "report.docx", "tables.xlsx", "results.json"):
        assert (tmp_path / f).is_file(), f
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
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
