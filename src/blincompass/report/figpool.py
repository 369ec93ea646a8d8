"""Drawing the report's figures in a second process while the report goes on in this one.

Every figure is laid out in this process (its text measured, its legend and notes placed, its numbers at risk
put in the results) and only then written as PNG, SVG and PDF; the writing is most of the cost (each format
draws the whole figure once). With a :class:`FigurePool` active (:func:`active`), :func:`blincompass.report.
figures.render` pickles the laid-out figure (a matplotlib figure pickles with every artist and its state, and
draws to the same bytes after unpickling, see :func:`load_figure`) into a private temporary folder and hands
its name to a worker process; the report's :class:`~blincompass.report.model.Figure` then holds
:class:`PendingFiles`, whose bytes are waited for only where an output needs them (the HTML's SVG, the Word
file's PNG, the files in ``figures/``). :func:`finish`, called once the outputs that need no figure are made,
draws here, from the last one back, the figures the worker has not started, instead of waiting for them.

The worker is started with ``spawn``: a fresh interpreter, not a copy of this process (whose threads, e.g.
pyarrow's reader pool, would be copied in whatever state they were in). It is started early, by the command,
so that its own imports (numpy, matplotlib, the plotting modules) and the warm-up of its PDF font subsets run
while this process reads and analyses the data. The bytes do not depend on which process draws: the same
matplotlib state, the same rc parameters (:data:`~blincompass.report.plotting.RC_PARAMS`), fixed SVG ids and
font subsets that depend only on the font and the glyphs asked for.

The worker ignores Ctrl-C (the terminal sends it to the whole process group); this process stops the worker
when it is interrupted or fails, so that no process is left behind.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import os
import pickle
import shutil
import signal
import tempfile
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

    from blincompass.protocol import Protocol
    from blincompass.protocol.layout import Layout

__all__ = [
    "ENV_JOBS",
    "FigurePool",
    "FigureWorkerError",
    "NotPicklable",
    "PendingFiles",
    "active",
    "active_pool",
    "auto_jobs",
    "default_jobs",
    "expected_figures",
    "finish",
    "load_figure",
    "pool_for",
    "start_pool",
    "usable_cpus",
]

#: Fewer figures than this are drawn in this process (a worker's start-up would cost more than it saves).
MIN_FIGURES = 3

_ACTIVE: ContextVar[FigurePool | None] = ContextVar("blincompass_figure_pool", default=None)


class FigureWorkerError(RuntimeError):
    """The figure-drawing process ended without drawing the figures (killed, out of memory, crashed)."""


class NotPicklable(Exception):
    """A figure that cannot be pickled (e.g. drawn by a section with a lambda as tick formatter): it is
    drawn in this process (:func:`blincompass.report.figures.render`)."""


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - systems without affinity masks
        return os.cpu_count() or 1


def expected_figures(protocol: Protocol, layout: Layout) -> int:
    """How many figures the report of ``protocol`` under ``layout`` draws at most (survival figures, CONSORT,
    cumulative incidence, swimmer, forest, Simon-Makuch)."""
    figs = layout.figures
    n = len({a.figure for a in protocol.analyses.survival if getattr(a, "figure", None)})
    n += int(bool(figs.consort)) + (len(protocol.analyses.competing) if figs.cif else 0)
    n += int(figs.swimmer is not None) + int(figs.forest is not None)
    n += sum(1 for td in protocol.analyses.timedep if getattr(td, "figure", None))
    return n


def auto_jobs(n_figures: int | None = None) -> int:
    """Processes drawing figures by default: 1 (this one) when only one CPU is usable or there are fewer than
    :data:`MIN_FIGURES` figures; otherwise 2 (this one and a worker)."""
    if usable_cpus() < 2 or (n_figures is not None and n_figures < MIN_FIGURES):
        return 1
    return 2


#: Environment variable giving the default number of processes drawing figures (``--jobs`` overrides it).
ENV_JOBS = "BLINCOMPASS_JOBS"


def default_jobs(n_figures: int | None = None, environ: dict[str, str] | None = None) -> int:
    """``$BLINCOMPASS_JOBS`` when set (a whole number >= 1; otherwise ``ValueError`` naming it), else
    :func:`auto_jobs`."""
    env = os.environ if environ is None else environ
    raw = env.get(ENV_JOBS, "").strip()
    if not raw:
        return auto_jobs(n_figures)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{ENV_JOBS}={raw!r} is not a whole number of processes (1 or more)")
    return value


# ------------------------------------------------------------------------------------------ worker functions
# Top-level functions: the worker finds them by name.


def _worker_init() -> None:
    """Worker start-up: Ctrl-C is left to the parent (which stops the worker); the collector is set as in the
    command (:mod:`blincompass.gctune`)."""
    from blincompass.gctune import tune

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune()


def _warm() -> tuple[int, dict[Any, Any]]:
    """Import the drawing code and build the PDF font subsets once (a small figure written in the three
    formats and thrown away); returns the peak RSS so far (bytes) and the font subsets (which the parent
    reuses instead of building them again: they depend only on the font files, the same in both)."""
    from blincompass.report.plotting import _pdf_subsets, new_figure, render_figure

    fig = new_figure(1.0, 0.5)
    fig.text(0.1, 0.3, "n = 0 (0 %) \u2013 \u2264 \u2212", fontsize=7)
    fig.text(0.1, 0.6, "Number at risk", fontsize=7, fontweight="bold")
    render_figure(fig)
    del fig
    gc.collect()
    gc.freeze()  # imports and caches stay for the process's life: the collections after each figure skip them
    return _peak_rss(), dict(_pdf_subsets)


def _peak_rss() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux


def _claim(job: str, by: str) -> str | None:
    """Take the figure job ``job`` for drawing by ``by`` (``"worker"`` or ``"here"``): the job file is renamed,
    which succeeds for one process only; returns the new name, or ``None`` when the other process has it."""
    taken = f"{job}.{by}"
    try:
        os.rename(job, taken)
    except FileNotFoundError:
        return None
    return taken


def _draw(job: str) -> int | None:
    """Draw the figure pickled in the file ``job`` and write its PNG, SVG and PDF bytes to ``job + ".out"``
    (:func:`_pack`); returns this process's peak RSS (bytes), or ``None`` when the parent has taken the job
    back (:meth:`PendingFiles._take_back`) before this worker came to it."""
    taken = _claim(job, "worker")
    if taken is None:
        return None
    with open(taken, "rb") as fh:
        files = _draw_blob(fh.read())
    os.unlink(taken)
    gc.collect()  # the drawn figure is cyclic garbage: freed now (cheap, see _warm), not at the next full pass
    with open(job + ".part", "wb") as fh:
        fh.write(_pack(files))
    os.rename(job + ".part", job + ".out")
    return _peak_rss()


def _pack(files: tuple[bytes, bytes, bytes]) -> bytes:
    """The three files in one: their three lengths (8 bytes each, big-endian), then their bytes."""
    return b"".join(len(f).to_bytes(8, "big") for f in files) + b"".join(files)


def _unpack(data: bytes) -> tuple[bytes, bytes, bytes]:
    n = [int.from_bytes(data[i:i + 8], "big") for i in (0, 8, 16)]
    a, b = 24 + n[0], 24 + n[0] + n[1]
    if len(data) != b + n[2]:
        raise FigureWorkerError("the process drawing the figures left an incomplete file")
    return data[24:a], data[a:b], data[b:]


def _rekeyed_setstate(self: Any, data_dict: dict[str, Any]) -> None:
    """``TransformNode.__setstate__`` keying each parent by its id in THIS process.

    Matplotlib (3.11) keeps a transform's parents (the transforms to invalidate when it changes) in a dict
    keyed by ``id(parent)`` and restores the pickled dict with the ids of the process that pickled it. A
    transform made after unpickling can get an id equal to one of those old keys and overwrite that entry:
    the parent it replaces is then no longer invalidated, and keeps a matrix from an earlier drawing (an axis
    label placed at its 300-dpi pixel position in the 72-dpi SVG and PDF, depending on where objects happen
    to be allocated). Keyed by the current ids, no entry can be overwritten by another live transform."""
    parents: dict[int, Any] = {}
    for v in data_dict["_parents"].values():
        if v is not None:
            parents[id(v)] = weakref.ref(v, lambda _, pop=parents.pop, k=id(v): pop(k, None))
    self.__dict__ = {**data_dict, "_parents": parents}


def load_figure(blob: bytes) -> MplFigure:
    """The figure pickled in ``blob`` (by this package), with an Agg canvas and sound transform links (see
    :func:`_rekeyed_setstate`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import TransformNode

    original = TransformNode.__dict__["__setstate__"]
    TransformNode.__setstate__ = _rekeyed_setstate  # type: ignore[method-assign]
    try:
        fig = pickle.loads(blob)  # noqa: S301 - our own bytes, made by this package in the parent
    finally:
        TransformNode.__setstate__ = original  # type: ignore[method-assign]
    FigureCanvasAgg(fig)  # an unpickled figure has a bare canvas
    return fig


def _draw_blob(blob: bytes) -> tuple[bytes, bytes, bytes]:
    from blincompass.report.plotting import render_figure

    return render_figure(load_figure(blob))


def _call(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` in the worker (for jobs besides figures, e.g. the demo's registry); what the job
    imported is frozen afterwards, like the drawing code (:func:`_warm`)."""
    try:
        return fn(*args)
    finally:
        gc.collect()
        gc.freeze()


# ---------------------------------------------------------------------------------------------- the pool


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Processes started with ``spawn`` inside the block do not run this process's main script:
    :mod:`multiprocessing` tells a new process to run the ``__main__`` module's file (or module name), so a
    bare module without either stands in for it while the workers start. (The pool starts one worker per
    submitted job while none is idle: the warm-ups submitted here start them all.)"""
    import sys
    import types

    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is None:
            del sys.modules["__main__"]
        else:
            sys.modules["__main__"] = main


class _HeldFuture(Future[Any]):
    """The future of a job :meth:`FigurePool.call` holds until :meth:`FigurePool.release`; waiting for it
    releases it."""

    def __init__(self, pool: FigurePool) -> None:
        super().__init__()
        self._pool = pool

    def result(self, timeout: float | None = None) -> Any:
        self._pool.release()
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._pool.release()
        return super().exception(timeout)


def _copy_outcome(proxy: Future[Any], inner: Future[Any]) -> None:
    """Give ``proxy`` the result, exception or cancellation of ``inner`` (done)."""
    if inner.cancelled():
        proxy.set_exception(FigureWorkerError("the job was cancelled when the workers were stopped"))
    elif inner.exception() is not None:
        proxy.set_exception(inner.exception())
    else:
        proxy.set_result(inner.result())


class PendingFiles:
    """The PNG, SVG and PDF bytes of a figure being drawn by a :class:`FigurePool` (see :meth:`get`)."""

    def __init__(self, pool: FigurePool, future: Future[Any], job: str) -> None:
        self._pool = pool
        self._future = future
        self._job: str | None = job
        self._files: tuple[bytes, bytes, bytes] | None = None
        self._lock = threading.Lock()

    def get(self) -> tuple[bytes, bytes, bytes]:
        """The three files; when the worker has not started this figure, it is drawn here instead. While
        the worker draws it, this process draws, from the last one back, figures the worker has not begun
        (instead of waiting)."""
        self._pool.release()  # every figure is handed over once one is waited for
        with self._lock:
            if self._files is None and not self._take_back():
                while not self._future.done() and self._pool._take_back_last(exclude=self):
                    pass
                assert self._job is not None
                self._files = self._pool._result(self._future, self._job)
                self._job = None
            assert self._files is not None
            return self._files

    def _take_back(self) -> bool:
        """Draw the figure here if no worker has started it (``True`` when drawn here).

        The job is claimed by renaming its file (:func:`_claim`), which only one of the two processes can do:
        a job already handed to the worker's queue (the pool queues one ahead of the one being drawn, and
        such a job cannot be cancelled) is still taken back as long as the worker has not begun it."""
        if self._files is not None or self._job is None:
            return False
        taken = _claim(self._job, "here")
        if taken is None:
            return False
        self._future.cancel()  # if it is still queued; otherwise the worker finds the job gone
        self._pool._reuse_fonts()
        with open(taken, "rb") as fh:
            self._files = _draw_blob(fh.read())
        os.unlink(taken)
        self._job = None
        return True

    @property
    def png(self) -> bytes:
        return self.get()[0]

    @property
    def svg(self) -> bytes:
        return self.get()[1]

    @property
    def pdf(self) -> bytes:
        return self.get()[2]


class FigurePool:
    """Worker processes (``workers``, started at once with ``spawn``) drawing pickled figures; use as a
    context manager (or call :meth:`close`) so that the workers are stopped.

    ``peak_rss`` is the largest peak RSS (bytes) a worker reported.

    ``run_main``: whether a worker runs this process's main script first, as ``spawn`` does by default (a
    figure or job may refer to a function defined there). The command line passes ``False``: its main
    script is the console script, which only imports the CLI (typer, click, rich), 0.07 s of every worker's
    start-up for nothing a worker uses."""

    def __init__(self, workers: int = 1, *, run_main: bool = True) -> None:
        import multiprocessing

        if workers < 1:
            raise ValueError(f"a figure pool needs at least one worker, not {workers}")
        self.workers = workers
        self.peak_rss = 0
        self._futures: list[Future[Any]] = []
        self._pending: list[PendingFiles] = []
        self._held: list[tuple[_HeldFuture, Any, tuple[Any, ...]]] = []
        self._state = threading.Lock()  # guards _futures and _held (a held job is released by a wait too)
        self._job_numbers = itertools.count(2)
        self._dir = tempfile.mkdtemp(prefix="blincompass-figures-")
        self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_worker_init)
        # one warm-up per worker: starts them now (their imports overlap this process's work)
        try:
            with contextlib.nullcontext() if run_main else _main_script_hidden():
                self._warm = [self._executor.submit(_warm) for _ in range(workers)]
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        for w in self._warm:
            self._track(w)

    def submit(self, fig: MplFigure) -> PendingFiles:
        """Hand the laid-out ``fig`` to a worker; its bytes come from the returned :class:`PendingFiles`.

        The pickled figure and the drawn files go through files in a private temporary folder, and only
        their names through the pool's pipes: a pipe holds 64 KiB, and writing a larger message takes this
        process's feeder thread many turns of the interpreter lock while this thread is busy with the report
        (the worker would wait for its next figure)."""
        try:
            blob = pickle.dumps(fig, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:  # e.g. a lambda as tick formatter
            raise NotPicklable(str(exc)) from None
        job = os.path.join(self._dir, f"figure-{next(self._job_numbers)}")
        with open(job, "wb") as fh:
            fh.write(blob)
        try:
            future = self._executor.submit(_draw, job)
        except BrokenProcessPool:
            raise FigureWorkerError(self._broken_message()) from None
        self._track(future)
        pending = PendingFiles(self, future, job)
        self._pending.append(pending)
        return pending

    def call(self, fn: Any, *args: Any, after_figures: bool = False) -> Future[Any]:
        """Run the top-level function ``fn(*args)`` in a worker (arguments and result pickled).

        ``after_figures``: the job is held, and queued by :meth:`release` behind every figure handed over
        until then; a job for the worker's last moments (e.g. the demo's data import, while this process
        writes its last files, the worker would otherwise have nothing to do). The returned future's
        ``result()`` releases it too, so that it is never waited for without being queued."""
        if not after_figures:
            future = self._executor.submit(_call, fn, *args)
            self._track(future)
            return future
        held = _HeldFuture(self)
        with self._state:
            self._held.append((held, fn, args))
            self._futures.append(held)
        return held

    def _track(self, future: Future[Any]) -> None:
        with self._state:
            self._futures.append(future)

    def release(self) -> None:
        """Queue the jobs :meth:`call` holds (``after_figures=True``). Called once the report's figures are
        all handed over, and before this process first waits for one."""
        with self._state:
            held, self._held = self._held, []
        for proxy, fn, args in held:
            if not proxy.set_running_or_notify_cancel():
                continue
            try:
                inner = self._executor.submit(_call, fn, *args)
            except (BrokenProcessPool, RuntimeError) as exc:  # the pool is broken or shut down
                proxy.set_exception(exc)
                continue
            self._track(inner)
            inner.add_done_callback(functools.partial(_copy_outcome, proxy))

    def _result(self, future: Future[Any], job: str) -> tuple[bytes, bytes, bytes]:
        try:
            rss = future.result()
        except BrokenProcessPool:
            raise FigureWorkerError(self._broken_message()) from None
        if rss is None:  # pragma: no cover - only waited for after this process failed to claim the job
            raise FigureWorkerError("a figure was claimed by neither process")
        self.peak_rss = max(self.peak_rss, rss)
        with open(job + ".out", "rb") as fh:
            files = _unpack(fh.read())
        os.unlink(job + ".out")
        return files

    def _take_back_last(self, exclude: PendingFiles) -> bool:
        """Draw here the last figure no worker has begun (other than ``exclude``); ``False`` when none is
        left."""
        for f in reversed(self._pending):
            if f is not exclude and f._lock.acquire(blocking=False):
                try:
                    if f._take_back():
                        return True
                finally:
                    f._lock.release()
        return False

    def _reuse_fonts(self) -> None:
        """Take the PDF font subsets a worker has built, if it has (never waits)."""
        from blincompass.report.plotting import _pdf_subsets

        for w in self._warm:
            if w.done() and not w.cancelled() and w.exception() is None:
                for key, entry in w.result()[1].items():
                    _pdf_subsets.setdefault(key, entry)

    def _broken_message(self) -> str:
        codes = [p.exitcode for p in self._processes() if p.exitcode is not None]
        how = f" (exit code {', '.join(str(c) for c in codes)})" if codes else ""
        return f"the process drawing the figures ended unexpectedly{how}"

    def _processes(self) -> list[Any]:
        return list((getattr(self._executor, "_processes", None) or {}).values())

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers: after their current job (default), or at once (``kill``, e.g. on Ctrl-C or an
        error, when their results are not wanted). Workers with no job left are stopped at once (nothing
        is lost, and their interpreters' clean-up is not waited for; a warm-up still running is not waited
        for either)."""
        for w in self._warm:
            if w.done() and not w.cancelled() and w.exception() is None:
                self.peak_rss = max(self.peak_rss, w.result()[0])
        with self._state:
            held, self._held = self._held, []
            futures = list(self._futures)
        for proxy, _, _ in held:  # held jobs nobody released or waited for are not run
            proxy.cancel()
        if kill or all(f.done() for f in futures if f not in self._warm):
            procs = self._processes()
            manager = getattr(self._executor, "_executor_manager_thread", None)
            self._executor.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(5)
                if p.is_alive():  # pragma: no cover - a worker ignoring SIGTERM
                    p.kill()
                    p.join()
            # the pool's own thread closes its wake-up pipe as it ends; if the interpreter exits meanwhile, its
            # exit hook can write to the pipe just closed (CPython 3.11: "OSError: Bad file descriptor" printed
            # with a traceback after the command's last line). Waiting for the thread here leaves no race.
            if manager is not None and manager.is_alive():
                manager.join(5)
        else:
            self._executor.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> FigurePool:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(kill=exc_type is not None)


def finish(files: list[Any]) -> None:
    """Wait for the figures' files (any mix of :class:`PendingFiles` and bytes already there), drawing here,
    from the last one back, those the workers have not started: the workers go on from the first, so this
    process and the workers meet in the middle instead of this one waiting."""
    pending = [f for f in files if isinstance(f, PendingFiles)]
    for pool in {id(f._pool): f._pool for f in pending}.values():
        pool.release()
    for f in reversed(pending):
        with f._lock:
            f._take_back()
    for f in pending:
        f.get()


def start_pool(jobs: int, *, run_main: bool = True) -> FigurePool | None:
    """A pool of ``jobs - 1`` workers (``None`` for ``jobs <= 1``, or when the system refuses a new process:
    everything is then drawn in this process); ``run_main`` as in :class:`FigurePool`."""
    if jobs <= 1:
        return None
    try:
        return FigurePool(jobs - 1, run_main=run_main)
    except OSError:  # e.g. a process limit: the report is drawn here, as with one job
        return None


@contextlib.contextmanager
def pool_for(jobs: int, *, run_main: bool = True) -> Iterator[FigurePool | None]:
    """:func:`start_pool` as a context: the workers are stopped when the block ends (at once when it ends
    with an exception, e.g. Ctrl-C)."""
    pool = start_pool(jobs, run_main=run_main)
    if pool is None:
        yield None
        return
    with pool:
        yield pool


def active_pool() -> FigurePool | None:
    """The pool :func:`blincompass.report.figures.render` hands figures to, if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def active(pool: FigurePool | None) -> Iterator[None]:
    """Make ``pool`` the one figures are handed to inside the block (``None``: draw them here)."""
    token = _ACTIVE.set(pool)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
