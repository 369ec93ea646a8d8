"""The demo names its data set in words and records the built-in study package's hash in the provenance."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import blincompass.report
from blincompass.cli import app
from blincompass.study import load_study

runner = CliRunner()


class _Stop(Exception):
    pass


def test_demo_passes_a_data_set_label_and_the_study_hash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def fake_render_report(data, out_dir, **kwargs):  # the report itself is covered by the report tests
        seen.update(kwargs, data=data)
        raise _Stop

    monkeypatch.setattr(blincompass.report, "render_report", fake_render_report)
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--no-progress", "--seed", "3"])
    assert isinstance(res.exception, _Stop), res.output
    pkg = load_study()
    assert seen["study_sha256"] == pkg.sha256 and len(pkg.sha256) == 64
    assert seen["dataset_label"] == f"synthetic twin of the {pkg.name} publication (seed 3, folder data)"
    assert seen["data"] == tmp_path / "demo" / "data"
