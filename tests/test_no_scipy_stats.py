"""``blincompass demo`` (synthetic twin -> validate -> derive -> full report, with the published-vs-recomputed
section) never imports ``scipy.stats``: its import costs ~0.5 s of CPU in every command. The distribution
functions and tests the report needs live in ``blincompass.stats``; the few that need ``scipy.stats``
(Kruskal-Wallis, Monte Carlo r x c Fisher, the stratified exact test) import it when called. Nor does it
import ``scipy.optimize`` (Brent's root finder and minimiser are in ``blincompass.stats._solve``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

_PROBE = """
import sys
from blincompass.cli import app
try:
    app({args!r}, standalone_mode=False)
finally:
    print("SCIPY_STATS_IMPORTED=" + str(sorted(m for m in sys.modules if m == "scipy.stats"
                                               or m.startswith("scipy.stats."))[:3]))
    print("SCIPY_OPTIMIZE_IMPORTED=" + str(sorted(m for m in sys.modules if m == "scipy.optimize"
                                                  or m.startswith("scipy.optimize."))[:3]))
"""


def _run(args: list[str]) -> str:
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "BLINCOMPASS_JOBS": "1", "HOME": "/tmp"}
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(args=args)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_demo_does_not_import_scipy_stats(tmp_path: Path) -> None:
    out = _run(["demo", "--jobs", "1", "--no-progress", "--out", str(tmp_path / "demo")])
    assert any((tmp_path / "demo").rglob("results.json"))  # the report was written
    assert "SCIPY_STATS_IMPORTED=[]" in out, out[-2000:]
    # nor scipy.optimize (0.1 s more: it imports scipy.sparse, scipy.spatial and scipy.fft); the root finder
    # and minimiser the statistics need are in blincompass.stats._solve
    assert "SCIPY_OPTIMIZE_IMPORTED=[]" in out, out[-2000:]


def test_importing_the_statistics_and_the_report_does_not_import_scipy_stats() -> None:
    code = ("import sys, blincompass.stats, blincompass.stats.unconditional, blincompass.report.build, "
            "blincompass.report.published; print('scipy.stats' in sys.modules or 'scipy.optimize' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "False"
