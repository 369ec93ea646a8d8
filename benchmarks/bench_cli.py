"""Start-up time of the command-line interface: every ``--help`` and ``blincompass --version``.

Each command is run as a whole process (a fresh interpreter, as a user's shell runs it) ``--repeat`` times; the
script prints the median and the min-max in seconds, and the median as a ratio to ``python -c pass`` measured in
the same run (the floor: interpreter start-up alone).  Target: every median <= 0.3 s.

    python benchmarks/bench_cli.py [--repeat 7] [--target 0.3]

Exit status 1 when a median misses the target, so the script can gate a release.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _commands() -> list[list[str]]:
    """``--version``, the top-level ``--help`` and ``--help`` of every (sub)command, read from the app itself."""
    import typer.main

    from blincompass.cli import app

    out: list[list[str]] = [["--version"], ["--help"]]

    def walk(cmd, prefix: list[str]) -> None:  # type: ignore[no-untyped-def]
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            out.append([*prefix, name, "--help"])
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return out


def _time(argv: list[str], repeat: int, cpu: list[float] | None = None) -> list[float]:
    """Wall-clock seconds of each run; the CPU seconds (user + system) of each run go to ``cpu``, a figure
    that a busy machine disturbs much less than the wall clock."""
    times = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if cpu is not None:
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--target", type=float, default=0.3, help="seconds allowed for each median")
    args = ap.parse_args()

    exe = shutil.which("blincompass", path=str(Path(sys.executable).parent)) or shutil.which("blincompass")
    if exe is None:
        print("blincompass is not installed in this environment", file=sys.stderr)
        return 2
    floor_cpu: list[float] = []
    floor = statistics.median(_time([sys.executable, "-c", "pass"], args.repeat, floor_cpu))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"floor: python -c pass  median {floor:.3f} s wall, {statistics.median(floor_cpu):.3f} s CPU")
    print(f"{'command':<44} {'median s':>9} {'min-max s':>13} {'x floor':>8} {'CPU s':>6}  target")
    worst = 0.0
    for cmd in _commands():
        cpu: list[float] = []
        t = _time([exe, *cmd], args.repeat, cpu)
        med = statistics.median(t)
        worst = max(worst, med)
        ok = "ok" if med <= args.target else "MISSED"
        label = "blincompass " + " ".join(cmd)
        print(f"{label:<44} {med:9.3f} {min(t):6.3f}-{max(t):6.3f} {med / floor:8.1f} {statistics.median(cpu):6.3f}"
              f"  {ok}")
    print(f"slowest median {worst:.3f} s (target <= {args.target} s)")
    return 0 if worst <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
