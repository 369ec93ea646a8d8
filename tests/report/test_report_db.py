"""`blincompass report --db URL --user U` reads the registry through its access layer."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.io import example_dir
from blincompass.registry import Registry
from blincompass.validate import load_dataset

runner = CliRunner()


def _registry(tmp_path):
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    reg = Registry(url)
    reg.init()
    centres = sorted(set(load_dataset(example_dir()).dataset.patients["centre"]))
    for c in centres:
        reg.add_centre(c, f"Centre {c}")
    reg.add_user("coord", "coordinator")
    reg.add_user("local", "centre", centres[0], by="coord")
    reg.as_user("coord").import_path(example_dir())
    reg.engine.dispose()
    return url, centres


def test_report_from_registry(tmp_path):
    url, centres = _registry(tmp_path)
    out = tmp_path / "rep"
    res = runner.invoke(app, ["report", "--db", url, "--user", "coord", "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    n_all = len(load_dataset(example_dir()).dataset.patients)
    assert results["screening"]["n_screened"] == n_all
    # a centre user's report covers only that centre's patients
    out2 = tmp_path / "rep2"
    res = runner.invoke(app, ["report", "--db", url, "--user", "local", "--out", str(out2), "--no-progress"])
    assert res.exit_code == 0, res.output
    local = json.loads((out2 / "results.json").read_text())
    pats = load_dataset(example_dir()).dataset.patients
    assert local["screening"]["n_screened"] == int((pats["centre"] == centres[0]).sum()) < n_all


def test_report_db_needs_user_and_known_user(tmp_path):
    url, _ = _registry(tmp_path)
    res = runner.invoke(app, ["report", "--db", url, "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    res = runner.invoke(app, ["report", "--db", url, "--user", "nobody", "--out", str(tmp_path / "x")])
    assert res.exit_code in (1, 2)
    assert not (tmp_path / "x" / "results.json").exists()


def test_report_db_checks_dates_against_the_protocol_cutoff(tmp_path):
    from importlib import resources

    url, _ = _registry(tmp_path)
    text = resources.files("blincompass.protocol").joinpath("data/blincompass.toml").read_text("utf-8")
    proto = tmp_path / "protocol.toml"
    proto.write_text(text.replace("\n[time]", "data_cutoff = 2000-01-01\n\n[time]", 1), encoding="utf-8")
    res = runner.invoke(app, ["report", "--db", url, "--user", "coord", "--protocol", str(proto),
                              "--out", str(tmp_path / "x"), "--no-progress"])
    assert res.exit_code == 1, res.output
    assert "date.after_cutoff" in res.output
    assert not (tmp_path / "x" / "results.json").exists()
