"""Figures drawn in a worker process (blincompass.report.figpool): the same bytes as drawn here, a clean error
when the worker dies, no process left behind."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.protocol import load_protocol
from blincompass.report import build_report, figpool, write_report
from blincompass.report.figures import render_now
from blincompass.report.model import FigureFiles
from blincompass.report.plotting import new_figure


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_parallel_report_is_byte_identical(dataset, derived, out_dir, tmp_path):
    """The test cohort's report (every figure kind) built with a worker: every file, figures and the images
    inside the HTML and Word files included, equals the one drawn in this process (``out_dir``)."""
    with figpool.FigurePool(1) as pool:
        report = build_report(dataset, load_protocol(), derived=derived, synthetic=False, figure_pool=pool)
        pending = [f.files for f in report.figures]
        assert len(pending) >= 10 and all(isinstance(p, figpool.PendingFiles) for p in pending)
        write_report(report, tmp_path)
    serial, parallel = _files(out_dir), _files(tmp_path)
    assert sorted(parallel) == sorted(serial)
    assert [k for k in serial if serial[k] != parallel[k]] == []


def test_unpickled_figure_keys_transform_parents_by_current_ids():
    """After :func:`figpool.load_figure` every transform's parents are keyed by their ids in this process
    (matplotlib restores the ids of the pickling process, which a new transform can collide with)."""
    from matplotlib.transforms import TransformNode

    fig = new_figure(2.0, 1.5)
    ax = fig.add_axes((0.2, 0.2, 0.7, 0.7))
    ax.plot([0, 1, 2], [1, 0.5, 0.2])
    ax.set_xlabel("Months")
    blob = pickle.dumps(fig)
    loaded = figpool.load_figure(blob)
    nodes, seen, todo = [], set(), [loaded.transFigure, *(a.transData for a in loaded.axes),
                                    loaded.axes[0].xaxis.label.get_transform()]
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        nodes.append(t)
        todo += [v() for v in t._parents.values() if v() is not None]
        todo += [v for v in vars(t).values() if isinstance(v, TransformNode)]
    assert len(nodes) > 10
    wrong = [(k, id(v())) for t in nodes for k, v in t._parents.items() if v() is not None and k != id(v())]
    assert wrong == []
    assert figpool._draw_blob(blob) == render_now(fig)  # and draws to the same bytes as the original


def test_worker_draws_and_parent_takes_back_unstarted_jobs():
    fig = new_figure(1.0, 0.8)
    fig.text(0.1, 0.5, "n = 3", fontsize=7)
    expected = render_now(fig)
    with figpool.FigurePool(1) as pool:
        jobs = [pool.submit(fig) for _ in range(6)]
        figpool.finish(jobs)
        assert all(j.get() == expected for j in jobs)
        assert os.listdir(pool._dir) == []  # every job drawn once, by one process, and its files removed
    with figpool.active(None):
        assert isinstance(__import__("blincompass.report.figures").report.figures.render(fig), FigureFiles)


def test_jobs_queued_to_a_busy_worker_are_taken_back():
    """The pool hands the worker one job ahead of the one it runs (such a job cannot be cancelled); the
    parent still takes back every job the worker has not begun, and the worker then skips it."""
    fig = new_figure(1.0, 0.8)
    fig.text(0.1, 0.5, "n = 4", fontsize=7)
    expected = render_now(fig)
    with figpool.FigurePool(1) as pool:
        pool._warm[0].result(timeout=120)
        busy = pool.call(time.sleep, 1.5)
        jobs = [pool.submit(fig) for _ in range(3)]
        time.sleep(0.3)  # the first job is now in the worker's queue, behind the sleep
        assert not jobs[0]._future.cancel()
        figpool.finish(jobs)
        assert all(j.get() == expected for j in jobs)
        busy.result(timeout=60)
        skipped = [j._future.result(timeout=60) for j in jobs if not j._future.cancelled()]
        assert skipped and set(skipped) == {None}  # queued ones ran in the worker and found their job gone
        assert os.listdir(pool._dir) == []


def test_waiting_for_a_figure_the_worker_draws_the_parent_draws_the_others():
    """``get`` on a figure the worker has begun draws, meanwhile, the figures nobody has begun (last first)."""
    import threading

    fig = new_figure(1.0, 0.8)
    fig.text(0.1, 0.5, "n = 6", fontsize=7)
    expected = render_now(fig)
    with figpool.FigurePool(1) as pool:
        pool._warm[0].result(timeout=120)
        busy = pool.call(time.sleep, 3.0)
        jobs = [pool.submit(fig) for _ in range(3)]
        job0 = jobs[0]._job
        os.rename(job0, job0 + ".worker")  # as if the worker had begun it
        got: list[tuple[bytes, bytes, bytes]] = []
        waiter = threading.Thread(target=lambda: got.append(jobs[0].get()))
        waiter.start()
        deadline = time.monotonic() + 2.5
        while (jobs[1]._files is None or jobs[2]._files is None) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert jobs[1]._files == expected and jobs[2]._files == expected  # drawn here while waiting
        assert not busy.done() and got == []  # the worker is still busy; the first figure still awaited
        os.rename(job0 + ".worker", job0)  # the worker now finds and draws it
        waiter.join(timeout=60)
        assert got == [expected]


def _unclaimed_jobs(folder: str) -> list[str]:
    """A worker job: the figure jobs in the pool's folder that neither process has claimed yet."""
    return sorted(n for n in os.listdir(folder) if "." not in n)


def test_a_held_job_waits_for_its_release_even_when_the_worker_is_idle():
    with figpool.FigurePool(1) as pool:
        pool._warm[0].result(timeout=120)
        held = pool.call(_unclaimed_jobs, pool._dir, after_figures=True)
        time.sleep(0.5)
        assert not held.done() and not held.running()
        pool.release()
        assert held.result(timeout=120) == []


def test_release_queues_held_jobs_behind_the_figures_handed_over():
    fig = new_figure(1.0, 0.8)
    fig.text(0.1, 0.5, "n = 8", fontsize=7)
    with figpool.FigurePool(1) as pool:
        busy = pool.call(time.sleep, 1.5)
        held = pool.call(_unclaimed_jobs, pool._dir, after_figures=True)
        jobs = [pool.submit(fig) for _ in range(2)]
        pool.release()  # queued now: behind the two figures
        assert held.result(timeout=120) == []
        assert busy.done() and all(j._future.done() for j in jobs)


def test_waiting_for_a_held_job_releases_it_and_stopping_cancels_the_others():
    with figpool.FigurePool(1) as pool:
        busy = pool.call(time.sleep, 3.0)
        waited = pool.call(_unclaimed_jobs, pool._dir, after_figures=True)
        assert waited.result(timeout=120) == []  # queued by the wait itself: no release needed
        assert busy.done()
        busy = pool.call(time.sleep, 1.0)
        forgotten = pool.call(_unclaimed_jobs, pool._dir, after_figures=True)
    assert forgotten.cancelled()  # never released nor waited for: not run when the pool stops
    pool = figpool.FigurePool(1)
    pool.close(kill=True)
    late = pool.call(_unclaimed_jobs, pool._dir, after_figures=True)
    with pytest.raises(RuntimeError):  # the pool is stopped: the job fails at once, it does not hang
        late.result(timeout=60)


_MAIN_SCRIPT = """
import sys
from pathlib import Path

if __name__ == "__mp_main__":  # a worker running this script
    Path(sys.argv[1]).write_text("ran")
if __name__ == "__main__":
    from blincompass.report import figpool

    main = sys.modules["__main__"]
    with figpool.FigurePool(1, run_main=sys.argv[2] == "yes") as pool:
        assert pool.call(sum, [1, 2]).result(timeout=120) == 3
    assert sys.modules["__main__"] is main
"""


@pytest.mark.parametrize("run_main", [True, False])
def test_workers_run_the_main_script_only_when_asked(tmp_path, run_main):
    script, marker = tmp_path / "main_script.py", tmp_path / "marker"
    script.write_text(_MAIN_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(marker), "yes" if run_main else "no"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert marker.exists() == run_main


def test_worker_death_is_a_clean_error():
    fig = new_figure(1.0, 0.8)
    with figpool.FigurePool(1) as pool:
        pool._warm[0].result(timeout=120)
        for p in pool._processes():
            os.kill(p.pid, signal.SIGKILL)
        with pytest.raises(figpool.FigureWorkerError, match="ended unexpectedly"):
            for _ in range(50):  # until the pool has seen the worker die
                figpool.finish([pool.submit(fig)])
                time.sleep(0.05)


def test_cli_worker_death_exits_2_and_writes_nothing(monkeypatch, tmp_path):
    from tests.report.cohort import report_cohort  # noqa: F401 - the package's test data helpers load

    real_submit = figpool.FigurePool.submit

    def submit_after_kill(self, fig):
        for p in self._processes():
            os.kill(p.pid, signal.SIGKILL)
            p.join()
        return real_submit(self, fig)

    monkeypatch.setattr(figpool.FigurePool, "submit", submit_after_kill)
    from blincompass.synth import write_twin

    data = tmp_path / "data"
    write_twin(data, 0)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", str(data), "--out", str(out), "--jobs", "2", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "cannot build the report: the process drawing the figures ended unexpectedly" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.rglob("*.*"))


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc/<n>/stat)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_leaves_no_worker(tmp_path):
    from blincompass.synth import write_twin

    data = tmp_path / "data"
    write_twin(data, 0)
    cli = Path(sys.executable).with_name("blincompass")
    cmd = [str(cli)] if cli.exists() else [sys.executable, "-m", "blincompass.cli"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    proc = subprocess.Popen([*cmd, "report", str(data), "--out", str(tmp_path / "out"), "--jobs", "2",
                             "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while not workers and time.monotonic() < deadline and proc.poll() is None:
        workers = [c for c in _children(proc.pid)
                   if "spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]
        time.sleep(0.05)
    assert workers, "the worker did not start"
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert b"Traceback" not in err, err.decode()[-2000:]
    for w in workers:
        assert not Path(f"/proc/{w}").exists() or "Z" in Path(f"/proc/{w}/stat").read_text().split()[2]


def test_demo_registry_failure_in_the_worker_is_one_message(monkeypatch, tmp_path):
    """The demo's web registry is built in the worker; its failure (here: the database path is a folder)
    is one line and exit 2. The report itself is stubbed out to keep the test short."""
    import blincompass.report as report_pkg
    from blincompass.report.build import RenderOutcome

    monkeypatch.setattr(report_pkg, "render_report", lambda *a, **k: RenderOutcome(True))
    out = tmp_path / "demo"
    (out / "registry.db").mkdir(parents=True)
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--jobs", "2", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "cannot build the demo registry:" in result.output and "registry.db" in result.output
    assert "Traceback" not in result.output


def test_merged_results_keep_the_order_of_one_by_one_writes():
    """The figures section built first writes its own results; merged at its place they are where
    :func:`put` would have written them (new keys after the existing ones, values replaced in place)."""
    from blincompass.report.build import _merge_results
    from blincompass.report.model import put

    serial: dict = {}
    put(serial, "survival.os.median", 10.0)
    put(serial, "tests.p", 0.5)
    put(serial, "survival.os.at_risk.0m", 39)
    put(serial, "tests.p", 0.25)
    put(serial, "figures.1a.files", ["figures/figure_1a.png"])
    merged: dict = {}
    put(merged, "survival.os.median", 10.0)
    put(merged, "tests.p", 0.5)
    own: dict = {}
    put(own, "survival.os.at_risk.0m", 39)
    put(own, "tests.p", 0.25)
    put(own, "figures.1a.files", ["figures/figure_1a.png"])
    _merge_results(merged, own)
    assert json_text(merged) == json_text(serial)
    with pytest.raises(ValueError, match="survival.os.median"):
        _merge_results(merged, {"survival": {"os": {"median": {"lower": 1.0}}}})


def json_text(d: dict) -> str:
    import json

    return json.dumps(d)


def test_a_figure_that_does_not_pickle_is_drawn_here():
    """A section's figure with a lambda as tick formatter cannot go to the worker: drawn here, same bytes."""
    from matplotlib.ticker import FuncFormatter

    from blincompass.report.figures import render

    fig = new_figure(1.5, 1.0)
    ax = fig.add_axes((0.3, 0.3, 0.6, 0.6))
    ax.plot([1, 2], [1, 2])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    expected = render_now(fig)
    with figpool.FigurePool(1) as pool, figpool.active(pool):
        files = render(fig)
    assert isinstance(files, FigureFiles) and files.get() == expected


@pytest.mark.parametrize("kill", [False, True])
def test_stopping_the_pool_waits_for_its_thread(kill, monkeypatch):
    """After ``close`` the pool's own thread has ended (so the interpreter's exit cannot race it on the
    thread's wake-up pipe, which printed "OSError: Bad file descriptor" with a traceback now and then). The
    thread's last step is slowed down here, so that it would still be running if ``close`` did not wait."""
    from concurrent.futures import process

    slow = process._ExecutorManagerThread.join_executor_internals

    def join_slowly(self):
        time.sleep(0.5)
        slow(self)

    monkeypatch.setattr(process._ExecutorManagerThread, "join_executor_internals", join_slowly)
    pool = figpool.FigurePool(1)
    pool._warm[0].result(timeout=120)
    if kill:
        pool.call(time.sleep, 30)
    manager = pool._executor._executor_manager_thread
    assert manager is not None and manager.is_alive()
    t0 = time.monotonic()
    pool.close(kill=kill)
    assert not manager.is_alive() and time.monotonic() - t0 < 10
