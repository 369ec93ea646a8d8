"""``blincompass study from-redcap | to-redcap``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.dictionary import load_dictionary
from blincompass.io.redcap_dictionary import redcap_csv_text

CART = Path(__file__).parent / "fixtures" / "redcap" / "car_t_dictionary.csv"
runner = CliRunner()


def test_from_redcap_writes_dictionary_and_mapping(tmp_path: Path) -> None:
    res = runner.invoke(app, ["study", "from-redcap", str(CART), "--out", str(tmp_path), "--repeating", "toxicity",
                              "--name", "CAR-T"])
    assert res.exit_code == 0, res.output
    d = load_dictionary(tmp_path / "dictionary.toml")
    assert d.meta.name == "CAR-T" and d.form("toxicity").key == ("patient_id", "instance")
    assert "instance = true" in (tmp_path / "redcap-mapping.toml").read_text(encoding="utf-8")
    assert "3 form(s), 20 variable(s); 5 note(s)" in res.output
    # a second run does not overwrite without --force, and writes nothing
    before = (tmp_path / "dictionary.toml").read_bytes()
    again = runner.invoke(app, ["study", "from-redcap", str(CART), "--out", str(tmp_path)])
    assert again.exit_code == 2
    assert "the file exists (give --force to replace it)" in again.output
    assert (tmp_path / "dictionary.toml").read_bytes() == before


def test_from_redcap_bad_input_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["study", "from-redcap", str(tmp_path / "none.csv"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["study", "from-redcap", str(CART), "--out", str(tmp_path / "no" / "dir")])
    assert res.exit_code == 2 and "not an existing folder" in res.output
    assert list(tmp_path.iterdir()) == []


def test_to_redcap_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "redcap.csv"
    res = runner.invoke(app, ["study", "to-redcap", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == redcap_csv_text().encode("utf-8")
    assert "set these instruments as repeating: courses, assessments, adverse_events" in res.output
    back = tmp_path / "back"
    back.mkdir()
    res = runner.invoke(app, ["study", "from-redcap", str(out), "--out", str(back), "--name", "BLIN-COMPASS",
                              "--repeating", "courses", "--repeating", "assessments", "--repeating", "adverse_events"])
    assert res.exit_code == 0, res.output
    assert load_dictionary(back / "dictionary.toml") == load_dictionary()


def test_to_redcap_bad_dictionary_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[meta]\nname = 1\n", encoding="utf-8")
    res = runner.invoke(app, ["study", "to-redcap", str(tmp_path / "x.csv"), "--dictionary", str(bad)])
    assert res.exit_code == 2 and "cannot use dictionary" in res.output
    assert not (tmp_path / "x.csv").exists()


# ------------------------------------------------------------------ --study on the pipeline commands

import json  # noqa: E402

import pytest  # noqa: E402

from blincompass.study import load_study  # noqa: E402


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pkg") / "blin"
    root.mkdir()
    for name, data in load_study().files.items():
        (root / name).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from blincompass.synth import write_twin

    out = tmp_path_factory.mktemp("twin")
    write_twin(out, 0)
    return out


def test_study_check(package: Path) -> None:
    res = runner.invoke(app, ["study", "check", str(package)])
    assert res.exit_code == 0, res.output
    assert "study 'BLIN-COMPASS', 5 form(s), 52 variable(s)" in res.output
    assert f"sha256 {load_study().sha256}" in res.output


@pytest.mark.parametrize("command", [["validate", "{twin}"], ["screen", "{twin}"], ["template", "{tmp}/t.xlsx"],
                                     ["dictionary"], ["derive", "{twin}", "--out", "{tmp}/d"],
                                     ["report", "{twin}", "--out", "{tmp}/r"], ["study", "check"]])
def test_bad_package_exits_2_before_any_work(command: list[str], twin: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "dictionary.toml").write_text("[meta]\n", encoding="utf-8")
    args = [a.format(twin=twin, tmp=tmp_path) for a in command]
    args = [*args, str(bad)] if command == ["study", "check"] else [*args, "--study", str(bad)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert f"cannot use study package: study package {bad}: missing protocol.toml" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]  # nothing written


def test_package_copy_gives_the_builtin_results(package: Path, twin: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["validate", str(twin), "--study", str(package), "--json"])
    builtin = runner.invoke(app, ["validate", str(twin), "--json"])
    assert res.exit_code == builtin.exit_code == 0
    assert res.stdout == builtin.stdout
    res = runner.invoke(app, ["screen", str(twin), "--study", str(package), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["n_eligible"] == 39
    assert runner.invoke(app, ["template", str(tmp_path / "a.xlsx"), "--study", str(package)]).exit_code == 0
    assert runner.invoke(app, ["template", str(tmp_path / "b.xlsx")]).exit_code == 0
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    res = runner.invoke(app, ["report", str(twin), "--study", str(package), "--out", str(tmp_path / "r"),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "r" / "results.json").read_text(encoding="utf-8"))
    assert got["published"]["n_reproduced"] == 141 and got["published"]["n_numbers"] == 148


def test_package_without_published_numbers_has_no_published_section(package: Path, twin: Path,
                                                                     tmp_path: Path) -> None:
    root = tmp_path / "nopub"
    root.mkdir()
    for name in ("dictionary.toml", "protocol.toml"):
        (root / name).write_bytes((package / name).read_bytes())
    res = runner.invoke(app, ["report", str(twin), "--study", str(root), "--out", str(tmp_path / "r"),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "r" / "results.json").read_text(encoding="utf-8"))
    assert "published" not in got
    assert "Published vs recomputed" not in (tmp_path / "r" / "index.html").read_text(encoding="utf-8")


def test_study_new_gives_a_package_that_reports_with_three_groups(tmp_path: Path) -> None:
    """``study new`` -> check -> report, with no edit: k = 3 groups compared, numbers equal the engine's."""
    import json

    import pandas as pd

    from blincompass.stats import logrank_test

    pkg = tmp_path / "new-study"
    res = runner.invoke(app, ["study", "new", "MY-STUDY", "--out", str(pkg)])
    assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["study", "check", str(pkg)]).exit_code == 0
    out = tmp_path / "report"
    res = runner.invoke(app, ["report", "--study", str(pkg), str(pkg / "data"), "-o", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    t = results["tests"]["os_by_group"]
    assert t["k_groups"] == 3 and t["df"] == 2 and set(t["pairwise"]) == {"a__b", "a__c", "b__c"}
    derived = tmp_path / "derived"
    assert runner.invoke(app, ["derive", "--study", str(pkg), str(pkg / "data"), "-o", str(derived)]).exit_code == 0
    adtte = pd.read_csv(derived / "adtte.csv")
    adsl = pd.read_csv(derived / "adsl.csv")
    os_ = adtte[adtte["PARAMCD"] == "OS"].merge(adsl[["patient_id", "group"]], left_on="USUBJID",
                                                right_on="patient_id")
    lr = logrank_test(os_["AVAL"], 1 - os_["CNSR"], os_["group"], order=["a", "b", "c"])
    assert t["chisq"] == pytest.approx(lr.statistic, abs=1e-10)
    assert t["p"] == pytest.approx(lr.pvalue, abs=1e-12)
    # group labels come from the dictionary's codes
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Group A" in html and "Group C" in html
    # an existing folder is refused
    again = runner.invoke(app, ["study", "new", "MY-STUDY", "--out", str(pkg)])
    assert again.exit_code == 2 and "exists" in again.output


def test_package_mistakes_exit_2_with_one_message(tmp_path: Path) -> None:
    pkg = tmp_path / "s"
    assert runner.invoke(app, ["study", "new", "S", "--out", str(pkg)]).exit_code == 0
    proto = pkg / "protocol.toml"
    text = proto.read_text(encoding="utf-8")
    cases = [
        (text.replace('variable = "age"\nmax = 25', 'variable = "agee"\nmax = 25'),
         "eligibility criterion age: 'agee' is not a patient-level variable; available:"),
        (text.replace('group = "age_group"', 'group = "no_such_column"'),
         "analyses efs_by_age.group: 'no_such_column' is not a patient-level variable"),
        (text.replace('unit = "years"', 'unit = "decades"', 1), "derived.2.unit"),
        (text.replace('expr = "notna(death_date)"', 'expr = "open(death_date)"'), "derived.9"),
    ]
    for bad, message in cases:
        proto.write_text(bad, encoding="utf-8")
        for command in (["study", "check", str(pkg)],
                        ["report", "--study", str(pkg), str(pkg / "data"), "-o", str(tmp_path / "r")]):
            res = runner.invoke(app, command)
            assert res.exit_code == 2, (command, res.output)
            assert message in res.output, res.output
            assert "Traceback" not in res.output
        assert not (tmp_path / "r").exists()


def test_help_lists_commands_in_the_order_of_a_study() -> None:
    out = runner.invoke(app, ["--help"]).output
    names = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert names[:6] == ["template", "dictionary", "validate", "screen", "derive", "report"]
    assert names.index("study") < names.index("db") < names.index("federate")
