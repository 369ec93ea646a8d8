"""Refusals: summaries that cannot be pooled together, and site data that cannot be released."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.federate import DisclosureError, FederationError, SiteSummary, pool, summarise
from blincompass.protocol import ProtocolError, load_protocol
from blincompass.study import load_study
from tests.federate.sites import study_with


@pytest.fixture(scope="module")
def base(tmp_path_factory, site_data):
    root = tmp_path_factory.mktemp("studies")
    study = load_study(study_with(root / "base", time_grid=1, time_unit="days", threshold=1))
    sums = {s: summarise(study, site_data[s][0], site=s, derived=site_data[s][1]) for s in ("north", "south")}
    return root, study, sums


def _edited(summary: SiteSummary, **changes) -> SiteSummary:
    data = json.loads(summary.to_json())
    for path, value in changes.items():
        d = data
        *head, last = path.split("__")
        for k in head:
            d = d[k]
        d[last] = value
    return SiteSummary.from_json(json.dumps(data), "edited.json")


def test_another_study_package_is_refused(base, site_data) -> None:
    root, study, sums = base
    other = root / "other"
    study_with(other, time_grid=1, time_unit="days", threshold=1)
    (other / "published.toml").write_text("# another file of the package\n", encoding="utf-8")
    o = load_study(other)
    s = summarise(o, site_data["centre"][0], site="centre", derived=site_data["centre"][1])
    with pytest.raises(FederationError, match=rf"centre: made with study package 'BLIN-COMPASS' sha256 {o.sha256}, "
                                              rf"pooling with 'BLIN-COMPASS' sha256 {study.sha256}"):
        pool([sums["north"], s], study)


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"time_grid": 2, "time_unit": "days", "threshold": 1}, "time grid 2.0 days, the study package uses 1 day"),
     ({"time_grid": 1, "time_unit": "months", "threshold": 1}, "time grid 1.0 months, the study package uses 1 day"),
     ({"time_grid": 1, "time_unit": "days", "threshold": 2, "survival": ["os_all"]},
      "disclosure threshold 2, the study package uses 1")],
)
def test_another_grid_or_threshold_is_refused(base, site_data, settings, message) -> None:
    root, study, sums = base
    o = load_study(study_with(root / f"o{len(list(root.iterdir()))}", **settings))
    s = summarise(o, site_data["north"][0], site="centre", derived=site_data["north"][1])
    with pytest.raises(FederationError, match=f"centre: {message}"):
        pool([sums["north"], s], study)


def test_another_version_or_format_is_refused(base) -> None:
    _, study, sums = base
    with pytest.raises(FederationError, match="edited.json: made with blincompass 0.0.9, pooling with blincompass"):
        pool([sums["north"], _edited(sums["south"], blincompass_version="0.0.9")], study)
    with pytest.raises(FederationError, match="edited.json: summary format version 2, this blincompass reads"):
        pool([sums["north"], _edited(sums["south"], format_version=2)], study)
    with pytest.raises(FederationError, match="x.json: not a blincompass site summary"):
        SiteSummary.from_json(b'{"format": "something else"}', "x.json")
    with pytest.raises(FederationError, match="x.json: not a JSON document"):
        SiteSummary.from_json(b"\x00not json", "x.json")


def test_a_malformed_summary_is_refused(base) -> None:
    _, study, sums = base
    good = json.loads(sums["north"].to_json())
    for path, value, message in (
        (("survival", "os_all", "counts", 0), ["", None, -1.0, 1, 0], r"survival.os_all.counts\[0\]: not \[stratum"),
        (("survival", "os_by_stratum", "logrank", "strata", 0, "variance"), [[1.0]], "os_by_stratum.logrank.strata"),
        (("proportions", "response_c1_by_stratum", "table"), [[1, 2]], "response_c1_by_stratum.table: not one"),
        (("survival", "rfs_cr"), {"counts": []}, "survival.rfs_cr: no 'withheld' flag"),
    ):
        doc = json.loads(json.dumps(good))
        d = doc
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
        with pytest.raises(FederationError, match="bad.json: not a well-formed site summary .*" + message):
            SiteSummary.from_json(json.dumps(doc), "bad.json")
    doc = json.loads(json.dumps(good))
    doc["proportions"]["response_c1_by_stratum"]["groups"] = ["low", "medium"]
    with pytest.raises(FederationError, match="response_c1_by_stratum: group 'medium' is not one of"):
        pool([SiteSummary.from_json(json.dumps(doc), "odd.json"), sums["south"]], study)


def test_a_site_twice_is_refused(base) -> None:
    _, study, sums = base
    with pytest.raises(FederationError, match="site 'north' appears twice"):
        pool([sums["north"], sums["south"], sums["north"]], study)
    renamed = _edited(sums["north"], site="north-copy")
    with pytest.raises(FederationError, match="edited.json: the same summary as north"):
        pool([sums["north"], renamed], study)


def test_a_group_below_threshold_is_an_error_naming_analysis_and_group(tmp_path, site_data) -> None:
    study = load_study(study_with(tmp_path / "s", threshold=3))
    with pytest.raises(DisclosureError) as exc:
        summarise(study, site_data["south"][0], site="south", derived=site_data["south"][1])
    text = str(exc.value)
    assert text.startswith("site south: a non-zero count below the threshold 3 that merging time intervals cannot")
    assert "analysis os_by_stratum (group stratum = 'high'): 3 patient(s): 2 event(s), 1 censored" in text
    assert "analysis rfs_by_stratum (group stratum = 'high'): 1 patient(s): 0 event(s), 1 censored" in text
    # withholding them (a choice the site makes and the summary records) releases the rest
    bad = sorted({line.split()[1] for line in text.splitlines() if line.startswith("  analysis ")})
    s = summarise(study, site_data["south"][0], site="south", derived=site_data["south"][1], withhold=bad)
    assert all(s.data["survival"][a] == {"withheld": True} for a in bad)
    assert s.data["survival"]["os_all"]["withheld"] is False
    with pytest.raises(FederationError, match="--withhold nope: not a federated analysis"):
        summarise(study, site_data["south"][0], site="south", derived=site_data["south"][1], withhold=["nope"])


def test_federation_section_is_checked(tmp_path) -> None:
    study_with(tmp_path / "s", survival=["os_all", "no_such"])
    with pytest.raises(ProtocolError, match="federation.survival: 'no_such' is not an"):
        load_protocol(tmp_path / "s" / "protocol.toml")
    study_with(tmp_path / "t", threshold=0)
    with pytest.raises(ProtocolError, match="federation.threshold"):
        load_protocol(tmp_path / "t" / "protocol.toml")
    fed = load_protocol().federation
    assert (fed.time_grid, fed.time_unit, fed.threshold, fed.survival, fed.proportions) == (1.0, "months", 3, None,
                                                                                          None)


def test_cli_summarise_and_pool(tmp_path, site_dirs, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    study = study_with(tmp_path / "study", time_grid=1.0, threshold=3, survival=["os_all", "rfs_cr"])
    run = CliRunner().invoke
    outs = []
    for s in ("north", "centre", "south"):
        out = tmp_path / f"{s}.json"
        r = run(app, ["federate", "summarise", "--study", str(study), str(site_dirs[s]), "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert "What leaves site " + s in r.output and "os_all" in r.output and "suppressed" in r.output
        outs.append(out)
    again = tmp_path / "again.json"
    r = run(app, ["federate", "summarise", "--study", str(study), str(site_dirs["north"]), "--out", str(again),
                  "--site", "north"])
    assert r.exit_code == 0 and again.read_bytes() == outs[0].read_bytes()
    r = run(app, ["federate", "summarise", "--study", str(study), str(site_dirs["north"]), "--out", str(outs[0])])
    assert r.exit_code == 2 and "the file exists" in r.output
    r = run(app, ["federate", "pool", *map(str, outs), "--study", str(study), "--out", str(tmp_path / "pooled")])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "pooled" / "results.json").read_text("utf-8"))
    assert [s["site"] for s in res["sites"]] == ["centre", "north", "south"]
    md = (tmp_path / "pooled" / "federated.md").read_text("utf-8")
    assert "### Overall survival, all patients (`os_all`)" in md and "merged to reach the threshold 3" in md
    first = (tmp_path / "pooled" / "results.json").read_bytes()
    r = run(app, ["federate", "pool", *map(str, reversed(outs)), "--study", str(study), "--out", str(tmp_path / "p2")])
    assert r.exit_code == 0 and (tmp_path / "p2" / "results.json").read_bytes() == first
    # refusals exit 2 with one message and no traceback; nothing written
    r = run(app, ["federate", "pool", str(outs[0]), str(outs[0]), "--study", str(study), "--out", str(tmp_path / "p3")])
    assert r.exit_code == 2 and "appears twice" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "p3").exists()
    r = run(app, ["federate", "pool", str(outs[0]), "--out", str(tmp_path / "p4")])  # built-in package
    assert r.exit_code == 2 and "made with study package" in r.output
    bad = tmp_path / "bad.json"
    r = run(app, ["federate", "summarise", str(site_dirs["south"]), "--out", str(bad)])  # built-in: threshold 3
    assert r.exit_code == 2 and "cannot summarise: site bad:" in r.output and "os_by_stratum" in r.output
    assert not bad.exists()
    r = run(app, ["federate", "pool", str(tmp_path / "missing.json"), "--out", str(tmp_path / "p5")])
    assert r.exit_code == 2 and "cannot read" in r.output
