"""Speed and peak memory of the pipeline at registry size: ``demo``, ``report`` and ``validate``.

Usage::

    python benchmarks/bench_report.py [--sizes 3900,39000] [--validate-rows 1000000] [--repeats 1]
                                      [--work DIR] [--skip-demo] [--skip-validate] [--src DIR]
                                      [--baseline DIR] [--timeout S] [--jobs 1,2]

Cohorts are copies of the 39-patient synthetic twin (:func:`blincompass.synth.generate_twin`): copy ``k``
uses seed ``k`` (its own calendar dates, centres and order) and prefixes every patient identifier with
``Rkkkkk-``, so 100 copies give 3,900 patients and 1,000 copies 39,000. The ``validate`` input is the same
kind of cohort with as many copies as needed for ``--validate-rows`` data rows over the five forms (about
7.8 rows per patient: 10^6 rows are about 128,000 patients). Every cohort is written as a folder of template CSV
files with ``SYNTHETIC.txt`` (deterministic: same arguments, same bytes).

Each command runs as its own process (``python -m blincompass.cli``-equivalent console script of the
environment running this script), timed from start to exit (wall clock, imports included); its CPU time
(user + system, its worker processes included) comes from :func:`os.wait4`. The peak resident set size
counts the command's worker processes too: every 20 ms the command and each of its descendants are read
from ``/proc`` and each process's own peak (``VmHWM``) is kept; the figure printed is the command's peak
plus the peaks of all its descendants (an upper bound of what they held at one time; without ``/proc``,
the command's ``ru_maxrss`` alone). ``--jobs 1,2`` runs ``demo`` and ``report`` with each value of
``--jobs`` (alternating run by run, so that both see the same load) and prints each. Times (wall and
CPU) are the best of ``--repeats``; with ``--baseline DIR`` each job also runs with the source tree in
DIR, alternating run by run with ``--src``, so that both see the same load. On a machine shared with
other jobs the wall clock stretches with the load while the CPU time moves much less, so each job's
1-minute load average is printed and every target is judged twice: on the wall clock and on the CPU
time.

Floors measured in the same run, for the ratios printed beside each figure:

* ``start-up``: ``python -c "import pandas, matplotlib.figure, scipy.stats"`` - the libraries every report
  needs, imported and nothing done;
* ``pyarrow read``: a process that imports pyarrow and reads every CSV file of the cohort with
  ``pyarrow.csv.read_csv`` (all columns as strings) - the cost of getting the bytes into columns.

Targets (2-core machine): demo <= 4 s; report of 3,900 patients <= 8 s and <= 500 MB; of 39,000 <= 40 s
and <= 2 GB; validate of 10^6 rows <= 20 s and <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from blincompass.dictionary import load_dictionary  # noqa: E402
from blincompass.synth import generate_twin  # noqa: E402
from blincompass.synth.twin import SYNTHETIC_NOTICE  # noqa: E402

MB = 1024 * 1024
TIMEOUT: float | None = None
LAST_CPU = [float("nan")]
LAST_LOAD = [float("nan")]  # 1-minute load average when the last command started
TARGETS = {  # name -> (seconds, bytes or None)
    "demo": (4.0, None),
    "report 3900": (8.0, 500 * MB),
    "report 39000": (40.0, 2048 * MB),
    "validate": (20.0, 1536 * MB),
}


def write_cohort(out: Path, copies: int) -> dict[str, int]:
    """Write ``copies`` copies of the twin (seeds 0..copies-1) as template CSVs; return rows per form."""
    dictionary = load_dictionary()
    out.mkdir(parents=True, exist_ok=True)
    handles = {}
    writers = {}
    rows = {}
    for form in dictionary.forms:
        fh = (out / f"{form.name}.csv").open("w", encoding="utf-8", newline="")
        handles[form.name] = fh
        writers[form.name] = csv.DictWriter(fh, fieldnames=form.columns, lineterminator="\n",
                                            extrasaction="ignore")
        writers[form.name].writeheader()
        rows[form.name] = 0
    try:
        for k in range(copies):
            forms = generate_twin(k)
            prefix = f"R{k:05d}-"
            for name, form_rows in forms.items():
                for r in form_rows:
                    r["patient_id"] = prefix + r["patient_id"]
                    writers[name].writerow({c: r.get(c, "") for c in writers[name].fieldnames})
                rows[name] += len(form_rows)
    finally:
        for fh in handles.values():
            fh.close()
    (out / "SYNTHETIC.txt").write_text(f"{SYNTHETIC_NOTICE}\ncopies: {copies}\n", encoding="utf-8")
    return rows


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class TreePeak:
    """Peak RSS of a process and its descendants, polled from ``/proc`` in a thread: each process's own
    high-water mark (``VmHWM``), the last value read before it ended."""

    def __init__(self, root: int, interval: float = 0.02) -> None:
        self.root = root
        self.peaks: dict[int, int] = {}  # pid -> VmHWM (KiB)
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.available = Path("/proc/self/status").exists()
        if self.available:
            self._thread.start()

    def _tree(self) -> list[int]:
        parent: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += [c for c, pp in parent.items() if pp == pid]
        return tree

    def _poll(self) -> None:
        while not self._stop.is_set():
            for pid in self._tree():
                hwm = _status_kib(pid, "VmHWM")
                if hwm:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), hwm)
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        if self.available:
            self._thread.join()

    def total(self, root_maxrss: int) -> int:
        """Bytes: the root's peak (at least its ``ru_maxrss``) plus each descendant's peak."""
        root = max(self.peaks.get(self.root, 0) * 1024, root_maxrss)
        return root + sum(v * 1024 for pid, v in self.peaks.items() if pid != self.root)


def run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, int]:
    """Wall-clock seconds and peak RSS (bytes; the process and its descendants, see :class:`TreePeak`) of
    one child process; raise when it fails. The child's CPU time (user + system) is kept in ``LAST_CPU``
    (on a shared machine it shows the work done when other jobs stretch the wall clock)."""
    LAST_LOAD[0] = os.getloadavg()[0]
    t0 = time.perf_counter()
    errf = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf, env=env, cwd=cwd)
    tree = TreePeak(proc.pid)
    timer = threading.Timer(TIMEOUT, proc.kill) if TIMEOUT is not None else None
    if timer is not None:
        timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        tree.stop()
    elapsed = time.perf_counter() - t0
    if timer is not None:
        timer.cancel()
        if TIMEOUT is not None and elapsed >= TIMEOUT:
            raise RuntimeError(f"{' '.join(cmd)} did not finish in {TIMEOUT:.0f} s")
    errf.seek(0)
    err = errf.read().decode("utf-8", "replace")
    errf.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{err[-2000:]}")
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    return elapsed, tree.total(usage.ru_maxrss * 1024)  # ru_maxrss is in KiB on Linux


def best(cmd: list[str], repeats: int, **kw: object) -> tuple[float, int]:
    """Best time and largest peak RSS of ``repeats`` runs (``nan, 0`` when the command fails or times out);
    ``LAST_CPU`` and ``LAST_LOAD`` then hold the smallest CPU time and load average of the runs."""
    runs, cpus, loads = [], [], []
    try:
        for _ in range(repeats):
            runs.append(run(cmd, **kw))  # type: ignore[arg-type]
            cpus.append(LAST_CPU[0])
            loads.append(LAST_LOAD[0])
    except RuntimeError as exc:
        print(f"   FAILED: {str(exc)[:500]}", flush=True)
        return float("nan"), 0
    LAST_CPU[0], LAST_LOAD[0] = min(cpus), min(loads)
    return min(r[0] for r in runs), max(r[1] for r in runs)


def best_pair(cmd: list[str], repeats: int, env: dict[str, str], base_env: dict[str, str] | None,
              jobs: list[str] | None = None) -> list[tuple[str, float, int, float, float]]:
    """:func:`best` of ``cmd`` with ``env``, and with ``base_env`` (the baseline source tree) when given,
    and with each ``--jobs`` value of ``jobs`` when given, all run alternately so that they see the same
    load. Returns ``(label, wall, rss, cpu, load)`` rows, the baseline first."""
    trees = [("baseline", base_env)] if base_env is not None else []
    trees.append(("", env))
    variants = []
    for label, e in trees:
        for j in jobs or [None]:
            shown = ", ".join(x for x in (label, f"--jobs {j}" if j else "") if x)
            variants.append((shown, e, [*cmd, "--jobs", j] if j else cmd))
    results: dict[str, list[tuple[float, int, float, float]]] = {label: [] for label, _, _ in variants}
    for _ in range(repeats):
        for label, e, c in variants:
            t, rss = best(c, 1, env=e)
            results[label].append((t, rss, LAST_CPU[0], LAST_LOAD[0]))
    return [(label, min(r[0] for r in res), max(r[1] for r in res), min(r[2] for r in res),
             min(r[3] for r in res)) for label, res in results.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3900,39000", help="report cohort sizes (multiples of 39)")
    ap.add_argument("--validate-rows", type=float, default=1e6)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None, help="folder for cohorts (kept; default: temporary)")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--skip-validate", action="store_true")
    ap.add_argument("--src", type=Path, default=SRC,
                    help="source tree whose blincompass is timed (e.g. an earlier commit unpacked with git archive)")
    ap.add_argument("--timeout", type=float, default=None, help="give up on a command after this many seconds")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a second source tree (e.g. the code before a change): every job also runs with it, "
                         "alternating with --src, and both are printed")
    ap.add_argument("--jobs", default="",
                    help="comma-separated --jobs values for demo and report (e.g. 1,2: serial and parallel, "
                         "alternating); default: the commands' own default")
    args = ap.parse_args()
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()] or None

    py = sys.executable
    cli = str(Path(py).with_name("blincompass"))
    env = dict(os.environ, PYTHONPATH=str(args.src.resolve()) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    base_env = None if args.baseline is None else dict(
        os.environ, PYTHONPATH=str(args.baseline.resolve()) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    global TIMEOUT
    TIMEOUT = args.timeout
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_report_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; work dir {work}")
    print(f"machine speed at the start: {machine_speed():.2f} s of CPU for the fixed loop (lower is faster)")

    floor_start, floor_start_rss = best([py, "-c", "import pandas, matplotlib.figure, scipy.stats"], 3, env=env)
    print(f"floor start-up (import pandas, matplotlib.figure, scipy.stats): {floor_start:.2f} s "
          f"(CPU {LAST_CPU[0]:.2f} s), {floor_start_rss / MB:.0f} MB")

    read_floor = ("import sys, pathlib, pyarrow as pa, pyarrow.csv as pc\n"
                  "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.csv')):\n"
                  "    names = p.open(encoding='utf-8').readline().rstrip('\\n').split(',')\n"
                  "    opts = pc.ConvertOptions(column_types={n: pa.string() for n in names})\n"
                  "    pc.read_csv(p, convert_options=opts)\n")

    rows_out: list[tuple[str, float, int, float, float, float, str]] = []

    def verdict(seconds: float, rss: int, name: str) -> str:
        t_target, m_target = TARGETS[name]
        return "met" if seconds <= t_target and (m_target is None or rss <= m_target) else "MISSED"

    def report_rows(name: str, cmd: list[str], floor: float, floor_name: str, with_jobs: bool = True) -> None:
        for label, t, rss, cpu, load in best_pair(cmd, args.repeats, env, base_env, jobs if with_jobs else None):
            LAST_CPU[0], LAST_LOAD[0] = cpu, load
            report_row(name, t, rss, floor, floor_name, label)

    def report_row(name: str, t: float, rss: int, floor: float, floor_name: str, label: str = "") -> None:
        t_target, m_target = TARGETS[name]
        cpu = LAST_CPU[0] if t == t else float("nan")
        load = LAST_LOAD[0]
        shown = f"{name} ({label})" if label else name
        rows_out.append((shown, t, rss, t / floor, cpu, load, floor_name))
        mem = f"{rss / MB:.0f} MB" + (f" (target <= {m_target / MB:.0f} MB)" if m_target else "")
        print(f"{shown:>13}: {t:6.2f} s (target <= {t_target:.0f} s; CPU {cpu:.2f} s; load average {load:.1f}), "
              f"{mem}; {t / floor:.1f}x {floor_name} [wall: {verdict(t, rss, name)}, "
              f"CPU: {verdict(cpu, rss, name)}]", flush=True)

    if not args.skip_demo:
        demo_out = work / "demo"
        shutil.rmtree(demo_out, ignore_errors=True)
        report_rows("demo", [cli, "demo", "--out", str(demo_out), "--no-progress"], floor_start, "start-up floor")

    for size in (int(s) for s in args.sizes.split(",") if s):
        copies = size // 39
        cohort = work / f"cohort_{size}"
        if not (cohort / "SYNTHETIC.txt").exists():
            t0 = time.perf_counter()
            rows = write_cohort(cohort, copies)
            print(f"cohort {size}: {sum(rows.values())} rows {rows} written in {time.perf_counter() - t0:.1f} s")
        floor_read, _ = best([py, "-c", read_floor, str(cohort)], 1, env=env)
        out = work / f"report_{size}"
        shutil.rmtree(out, ignore_errors=True)
        print(f"   (pyarrow read floor {floor_read:.2f} s)")
        report_rows(f"report {size}", [cli, "report", str(cohort), "--out", str(out), "--no-progress"],
                    floor_start + floor_read, "start-up + pyarrow read floors")

    if not args.skip_validate:
        per_copy = sum(len(v) for v in generate_twin(0).values())  # data rows per copy of the twin
        copies = -(-int(args.validate_rows) // per_copy)
        cohort = work / f"validate_{copies}"
        if not (cohort / "SYNTHETIC.txt").exists():
            t0 = time.perf_counter()
            rows = write_cohort(cohort, copies)
            print(f"validate cohort: {copies * 39} patients, {sum(rows.values())} rows {rows} written in "
                  f"{time.perf_counter() - t0:.1f} s")
        floor_read, _ = best([py, "-c", read_floor, str(cohort)], 1, env=env)
        print(f"   (pyarrow read floor {floor_read:.2f} s)")
        report_rows("validate", [cli, "validate", str(cohort)], floor_start + floor_read,
                    "start-up + pyarrow read floors", with_jobs=False)

    print("\n| job | time (s) | CPU (s) | target (s) | peak RSS with workers (MB) | target (MB) | load average | "
          "met (wall / CPU) | ratio to floor |")
    print("|---|---|---|---|---|---|---|---|---|")
    for shown, t, rss, ratio, cpu, load, floor_name in rows_out:
        name = shown.split(" (")[0]
        t_target, m_target = TARGETS[name]
        m_text = "" if m_target is None else f"{m_target / MB:.0f}"
        print(f"| {shown} | {t:.2f} | {cpu:.2f} | {t_target:.0f} | {rss / MB:.0f} | {m_text} | {load:.1f} "
              f"| {verdict(t, rss, name)} / {verdict(cpu, rss, name)} | {ratio:.1f}x {floor_name} |")
    print(f"\nmachine speed at the end: {machine_speed():.2f} s of CPU for the fixed loop")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


def machine_speed() -> float:
    """CPU seconds of a fixed pure-Python loop (10^7 additions), best of 3. The machines this runs on
    change speed from minute to minute (the same loop took 0.68 to 1.17 s within one hour): printed at the
    start and the end, it tells a slow minute from a slow program."""
    import time

    best_cpu = math.inf
    for _ in range(3):
        t0 = time.process_time()
        total = 0
        for i in range(10_000_000):
            total += i
        best_cpu = min(best_cpu, time.process_time() - t0)
    return best_cpu


if __name__ == "__main__":
    main()
