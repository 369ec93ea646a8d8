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
