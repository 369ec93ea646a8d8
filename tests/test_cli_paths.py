"""Unusable output paths: one message and exit 2 from every writing command; nothing half-written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.io import example_dir
from blincompass.io.outpath import (
    OutputPathError,
    atomic_write,
    atomic_write_bytes,
    prepare_output_dir,
    prepare_output_file,
)

runner = CliRunner()
DATA = str(example_dir())


def _readonly_dir() -> Path:
    """A folder this process cannot write into (a read-only mount for root, else a chmod-ed folder)."""
    candidate = Path("/sys/blincompass-out")
    try:
        prepare_output_dir(candidate, create=False)
    except OutputPathError:
        return candidate
    pytest.skip("no read-only folder available")


def _commands(out: str) -> dict[str, list[str]]:
    return {
        "synth": ["synth", "--out", out],
        "derive": ["derive", DATA, "--out", out],
        "report": ["report", DATA, "--out", out, "--no-progress"],
        "demo": ["demo", "--out", out, "--no-progress"],
        "db export": ["db", "export", "--format", "csv", "--out", out, "--user", "coord", "--db", "unused.db"],
    }


@pytest.mark.parametrize("command", ["synth", "derive", "report", "demo", "db export"])
def test_out_is_an_existing_file(command: str, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("keep me", encoding="utf-8")
    res = runner.invoke(app, _commands(str(target))[command])
    assert res.exit_code == 2, res.output
    assert res.output == (f"cannot write output: output folder {target} is an existing file; "
                          "give a folder (new or existing)\n")
    assert target.read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize("command", ["synth", "derive", "report", "db export"])
def test_out_under_a_file(command: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x", encoding="utf-8")
    out = tmp_path / "f" / "sub"
    res = runner.invoke(app, _commands(str(out))[command])
    assert res.exit_code == 2, res.output
    assert res.output == (f"cannot write output: output folder {out} cannot be created: "
                          f"{tmp_path / 'f'} is a file, not a folder\n")


@pytest.mark.parametrize("command", ["synth", "derive", "report", "db export"])
def test_out_not_writable(command: str) -> None:
    out = _readonly_dir() / "x"
    res = runner.invoke(app, _commands(str(out))[command])
    assert res.exit_code == 2, res.output
    assert res.output.startswith(
        f"cannot write output: output folder {out} cannot be created: cannot write into folder")
    assert "Traceback" not in res.output


def test_template_paths(tmp_path: Path) -> None:
    res = runner.invoke(app, ["template", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output == f"cannot write output: output file {tmp_path} is an existing folder; give a file name\n"
    (tmp_path / "f").write_text("x", encoding="utf-8")
    res = runner.invoke(app, ["template", str(tmp_path / "f" / "t.xlsx")])
    assert res.exit_code == 2
    assert res.output == (f"cannot write output: output file {tmp_path / 'f' / 't.xlsx'} cannot be written: output "
                          f"folder {tmp_path / 'f'} is an existing file; give a folder (new or existing)\n")
    res = runner.invoke(app, ["template", str(tmp_path / "t.xlsx"), "--csv", str(tmp_path / "f")])
    assert res.exit_code == 2 and not (tmp_path / "t.xlsx").exists()  # checked before anything is written
    res = runner.invoke(app, ["template", str(tmp_path / "new" / "t.xlsx")])
    assert res.exit_code == 0 and (tmp_path / "new" / "t.xlsx").is_file()


def test_check_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    assert prepare_output_dir(out, create=False) == out and not (tmp_path / "a").exists()
    assert prepare_output_dir(out) == out and out.is_dir()
    assert list(out.iterdir()) == []  # the write probe leaves nothing
    assert prepare_output_file(tmp_path / "c" / "f.txt", create=False) and not (tmp_path / "c").exists()


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old")

    def half(p: Path) -> None:
        p.write_bytes(b"half")
        raise OSError(28, "No space left on device", str(p))

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, half)
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and sorted(os.listdir(tmp_path)) == ["out.csv"]


def test_write_failure_midway_is_one_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import blincompass.derive.pipeline as pipeline

    def full(path: object, writer: object) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "adsl.csv"))

    monkeypatch.setattr(pipeline, "atomic_write", full)
    res = runner.invoke(app, ["derive", DATA, "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert res.output.endswith(f"cannot write output: {tmp_path / 'out' / 'adsl.csv'}: No space left on device\n")


def test_dictionary_markdown_path(tmp_path: Path) -> None:
    res = runner.invoke(app, ["dictionary", "--markdown", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output == f"cannot write output: output file {tmp_path} is an existing folder; give a file name\n"
