"""``blincompass stats`` sub-commands (typer CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from blincompass.cli_stats import app
from blincompass.stats.km import kaplan_meier
from blincompass.stats.logrank import logrank_test

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "r"
COX = {c["name"]: c for c in json.loads((FIXTURES / "cox.json").read_text())["cases"]}

runner = CliRunner()


@pytest.fixture()
def lung_csv(tmp_path: Path) -> Path:
    df = pd.DataFrame(COX["lung"]["data"])
    path = tmp_path / "lung.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture()
def study_csv(tmp_path: Path) -> Path:
    # 21/26 responders in arm A, 6/13 in arm B
    arm = ["A"] * 26 + ["B"] * 13
    resp = ["yes"] * 21 + ["no"] * 5 + ["yes"] * 6 + ["no"] * 7
    path = tmp_path / "study.csv"
    pd.DataFrame({"arm": arm, "response": resp}).to_csv(path, index=False)
    return path


def invoke(*args: str | Path) -> tuple[int, str]:
    res = runner.invoke(app, [str(a) for a in args])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


# ----------------------------------------------------------------------------------------- km


def test_km_json_matches_library(lung_csv: Path) -> None:
    code, out = invoke("km", lung_csv, "--time", "time", "--event", "status", "--group", "sex", "--json")
    assert code == 0
    payload = json.loads(out)
    assert list(payload) == ["command", "file", "n_dropped", "conf_type", "conf_level", "median_ci_method", "curves"]
    df = pd.read_csv(lung_csv)
    assert [c["labels"] for c in payload["curves"]] == [{"sex": 1}, {"sex": 2}]
    for curve in payload["curves"]:
        part = df[df["sex"] == curve["labels"]["sex"]]
        ref = kaplan_meier(part["time"], part["status"])
        assert curve["median"] == ref.median
        assert curve["median_ci"] == {"lower": ref.median_ci.lower, "upper": ref.median_ci.upper}
        assert curve["n_events"] == ref.n_events
        np.testing.assert_array_equal(curve["table"]["surv"], ref.table["surv"])


def test_km_readable_and_options(lung_csv: Path) -> None:
    code, out = invoke(
        "km", lung_csv, "--time", "time", "--event", "status", "--group", "sex", "--strata", "ph.ecog",
        "--conf-type", "log", "--median-ci", "spss", "--table",
    )
    assert code == 0
    assert "Kaplan-Meier" in out and "Life table (sex=1, ph.ecog=0)" in out
    assert "CI: log band; median CI: spss" in out


def test_km_output_is_deterministic(lung_csv: Path) -> None:
    args = ("km", lung_csv, "--time", "time", "--event", "status", "--json")
    assert invoke(*args)[1] == invoke(*args)[1]


# ----------------------------------------------------------------------------------------- logrank


def test_logrank_json_matches_library(lung_csv: Path) -> None:
    code, out = invoke(
        "logrank", lung_csv, "--time", "time", "--event", "status", "--group", "sex", "--strata", "ph.ecog",
        "--weights", "fleming-harrington:1,0", "--json",
    )
    assert code == 0
    payload = json.loads(out)
    df = pd.read_csv(lung_csv)
    ref = logrank_test(df["time"], df["status"], df["sex"], strata=df["ph.ecog"], weights=("fleming-harrington", 1, 0))
    assert payload["statistic"] == ref.statistic and payload["pvalue"] == ref.pvalue
    assert [g["group"] for g in payload["groups"]] == [1, 2]
    assert [g["observed"] for g in payload["groups"]] == ref.observed.tolist()


def test_logrank_readable_one_sided(lung_csv: Path) -> None:
    code, out = invoke(
        "logrank", lung_csv, "--time", "time", "--event", "status", "--group", "sex", "--alternative", "greater"
    )
    assert code == 0
    assert "Chi-square = 10.01 on 1 df" in out and "one-sided (greater)" in out


def test_logrank_bad_weights(lung_csv: Path) -> None:
    code, out = invoke("logrank", lung_csv, "--time", "time", "--event", "status", "--group", "sex",
                       "--weights", "fleming-harrington:x")
    assert code == 1 and "--weights" in out
    code, out = invoke("logrank", lung_csv, "--time", "time", "--event", "status", "--group", "sex",
                       "--weights", "wilcoxon")
    assert code == 1 and "weights: 'wilcoxon'" in out


# ----------------------------------------------------------------------------------------- fisher


def test_fisher_study(study_csv: Path) -> None:
    code, out = invoke("fisher", study_csv, "--row", "arm", "--col", "response", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["table"] == [[5, 21], [7, 6]]  # columns sorted: no, yes
    assert round(payload["pvalue"], 3) == 0.062
    assert list(payload)[:4] == ["command", "file", "n_dropped", "row"]
    # odds of "no" in A vs B < 1: one-sided "less"
    code, out = invoke("fisher", study_csv, "--row", "arm", "--col", "response", "--alternative", "less")
    assert code == 0 and "p = 0.03428" in out and "odds ratio" in out


def test_fisher_rxc_and_simulation(lung_csv: Path) -> None:
    code, out = invoke("fisher", lung_csv, "--row", "sex", "--col", "ph.ecog", "--json")
    assert code == 0 and json.loads(out)["odds_ratio"] is None
    code, out = invoke("fisher", lung_csv, "--row", "sex", "--col", "ph.ecog", "--simulate", "--B", "500",
                       "--seed", "3", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["method"] == "monte-carlo" and payload["n_simulations"] == 500


def test_fisher_single_level(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    pd.DataFrame({"a": [1, 1, 1], "b": [0, 1, 0]}).to_csv(path, index=False)
    code, out = invoke("fisher", path, "--row", "a", "--col", "b")
    assert code == 1 and "is 1x2" in out


# ----------------------------------------------------------------------------------------- cox


def test_cox_json_matches_r(lung_csv: Path) -> None:
    case = COX["lung"]
    code, out = invoke(
        "cox", lung_csv, "--time", "time", "--event", "status", "--covariate", "age", "--covariate", "sex",
        "--covariate", "ph.ecog", "--json",
    )
    assert code == 0
    payload = json.loads(out)
    ref = case["efron"]["default"]
    assert [c["covariate"] for c in payload["coef"]] == case["covariates"]
    np.testing.assert_allclose([c["coef"] for c in payload["coef"]], ref["coef"], rtol=1e-8)
    np.testing.assert_allclose([c["se"] for c in payload["coef"]], ref["se"], rtol=1e-8)
    np.testing.assert_allclose(payload["score_test"]["statistic"], ref["score"]["statistic"], rtol=1e-8)
    assert payload["n"] == ref["n"] and payload["converged"] is True


def test_cox_readable_strata_breslow(lung_csv: Path) -> None:
    code, out = invoke("cox", lung_csv, "--time", "time", "--event", "status", "--covariate", "age",
                       "--strata", "sex", "--ties", "breslow")
    assert code == 0
    assert "ties = breslow, strata = sex" in out and "Likelihood ratio test" in out


def test_cox_counting_process(tmp_path: Path) -> None:
    case = COX["heart"]
    path = tmp_path / "heart.csv"
    pd.DataFrame(case["data"]).to_csv(path, index=False)
    code, out = invoke("cox", path, "--time", "stop", "--event", "event", "--entry", "start",
                       "--covariate", "transplant", "--covariate", "age", "--json")
    assert code == 0
    np.testing.assert_allclose([c["coef"] for c in json.loads(out)["coef"]], case["efron"]["default"]["coef"],
                               rtol=1e-8)


def test_cox_drops_missing_rows(lung_csv: Path, tmp_path: Path) -> None:
    df = pd.read_csv(lung_csv)
    df.loc[[0, 7], "age"] = np.nan
    path = tmp_path / "na.csv"
    df.to_csv(path, index=False)
    code, out = invoke("cox", path, "--time", "time", "--event", "status", "--covariate", "age", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["n_dropped"] == 2 and payload["n"] == len(df) - 2


# ----------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "args",
    [
        ("km", "--time", "tim", "--event", "status"),
        ("logrank", "--time", "time", "--event", "status", "--group", "arm"),
        ("fisher", "--row", "sex", "--col", "ecog"),
        ("cox", "--time", "time", "--event", "status", "--covariate", "age", "--covariate", "agex"),
    ],
)
def test_unknown_column_exit_1(lung_csv: Path, args: tuple[str, ...]) -> None:
    code, out = invoke(args[0], lung_csv, *args[1:])
    assert code == 1
    assert "lung.csv" in out and "not found" in out and "columns are: time, status" in out


def test_bad_values_exit_1(lung_csv: Path, tmp_path: Path) -> None:
    df = pd.read_csv(lung_csv)
    df.loc[3, "status"] = 2
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    code, out = invoke("km", path, "--time", "time", "--event", "status")
    assert code == 1 and "bad.csv: event" in out and "at position 3" in out
    code, out = invoke("cox", path, "--time", "time", "--event", "status", "--covariate", "age")
    assert code == 1 and "bad.csv: event ('status')" in out


def test_unreadable_file_exit_2(tmp_path: Path) -> None:
    code, out = invoke("km", tmp_path / "missing.csv", "--time", "t", "--event", "e")
    assert code == 2 and "missing.csv: file not found" in out
    code, out = invoke("km", tmp_path, "--time", "t", "--event", "e")
    assert code == 2 and "is a directory" in out
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, out = invoke("fisher", empty, "--row", "a", "--col", "b")
    assert code == 2 and "empty.csv: empty file" in out
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x82" * 50)
    code, out = invoke("fisher", binary, "--row", "a", "--col", "b")
    assert code == 2 and "binary.csv" in out


def test_utf16_csv_is_decoded_and_binary_named(study_csv: Path, tmp_path: Path) -> None:
    args = ("--row", "arm", "--col", "response", "--json")
    code, out = invoke("fisher", study_csv, *args)
    assert code == 0
    expected = {k: v for k, v in json.loads(out).items() if k != "file"}
    text = study_csv.read_text(encoding="utf-8")
    for name, data in (("bom.csv", b"\xff\xfe" + text.encode("utf-16-le")), ("be.csv", text.encode("utf-16-be"))):
        (tmp_path / name).write_bytes(data)
        code, out = invoke("fisher", tmp_path / name, *args)
        assert code == 0, out
        assert {k: v for k, v in json.loads(out).items() if k != "file"} == expected, name
    (tmp_path / "wb.csv").write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00")
    code, out = invoke("fisher", tmp_path / "wb.csv", "--row", "arm", "--col", "response")
    assert code == 2
    assert out.startswith("error: wb.csv is not a CSV file: it is a zip archive")
