"""The command-line interface starts without the heavy libraries (the start-up time is in benchmarks/bench_cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# pydantic is not listed: typer itself loads it to convert sub-command parameters.
HEAVY = ("numpy", "pandas", "scipy", "sqlalchemy", "matplotlib", "pyarrow", "openpyxl", "docx", "numba", "alembic",
         "rich", "duckdb", "pyspark")


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys, json\n"
        "from blincompass.cli import app\n"
        f"sys.argv = ['blincompass', *{args!r}]\n"
        "try:\n"
        "    app()\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout = sys.__stdout__\n"
        "print('\\n' + json.dumps(sorted(m.split('.')[0] for m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [["--version"], ["--help"], ["stats", "km", "--help"], ["db", "import", "--help"], ["validate", "--help"],
     ["report", "--help"], ["demo", "--help"], ["federate", "summarise", "--help"], ["federate", "pool", "--help"],
     ["serve", "--help"], ["web-user", "--help"]],
)
def test_help_and_version_import_no_heavy_library(args: list[str]) -> None:
    loaded = _modules_after(args)
    assert "typer" in loaded  # the probe itself works
    assert sorted(loaded.intersection(HEAVY)) == []


def test_version_prints_the_package_version() -> None:
    from typer.testing import CliRunner

    from blincompass import __version__
    from blincompass.cli import app

    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"blincompass {__version__}"


def test_demo_checks_its_output_folder_before_any_heavy_import(tmp_path) -> None:
    """The output check comes before the figure worker starts, so it must not wait for pandas or pyarrow (the
    worker's start-up runs while this process imports them)."""
    taken = tmp_path / "a-file"
    taken.write_text("x")
    loaded = _modules_after(["demo", "--out", str(taken)])
    assert "blincompass" in loaded
    assert sorted(loaded.intersection(HEAVY)) == []


@pytest.mark.parametrize("args", [["report", "{missing}"], ["report"]])
def test_report_without_usable_input_stops_before_starting_a_worker(tmp_path, args) -> None:
    """A missing input is reported before the figure worker starts (starting it, here, would fail)."""
    missing = tmp_path / "no-such-data"
    argv = [a.format(missing=missing) for a in args] + ["--out", str(tmp_path / "out"), "--jobs", "2"]
    code = ("import sys\n"
            "import blincompass.report.figpool as figpool\n"
            "def refuse(*a, **k):\n"
            "    raise AssertionError('a figure worker was started')\n"
            "figpool.FigurePool = refuse\n"
            "from blincompass.cli import app\n"
            f"sys.argv = ['blincompass', *{argv!r}]\n"
            "app()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = f"cannot read input: {missing} does not exist" if len(args) == 2 else "give DATA"
    assert message in proc.stderr and "Traceback" not in proc.stderr
