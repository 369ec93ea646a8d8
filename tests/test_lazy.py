"""Packages whose public names are imported on first use (``blincompass.lazy``)."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
import blincompass.io as io_pkg
import blincompass.report as report_pkg
out = []
out.append("blincompass.io.dataset" in sys.modules or "pandas" in sys.modules)
ds = io_pkg.Dataset
out.append("blincompass.io.dataset" in sys.modules and vars(io_pkg)["Dataset"] is ds)
out.append("blincompass.report.build" in sys.modules)
from blincompass.report import Table
out.append(Table.__module__ == "blincompass.report.model" and "blincompass.report.build" not in sys.modules)
out.append(report_pkg.sections.__name__ == "blincompass.report.sections")
try:
    io_pkg.no_such_name
except AttributeError as exc:
    out.append("no attribute 'no_such_name'" in str(exc))
out.append({"Dataset", "read_raw", "example_dir"} <= set(dir(io_pkg)))
print(out)
"""


def test_names_are_imported_on_first_use_and_kept() -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == str([False, True, False, True, True, True, True])
