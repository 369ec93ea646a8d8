"""The garbage-collector settings of the command-line processes (:mod:`blincompass.gctune`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from blincompass import gctune
from blincompass.report import figpool


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         timeout=300, check=True)
    return out.stdout.strip()


def test_tune_sets_thresholds_once_and_freezes_the_heap_at_exit():
    out = _run("""
        import atexit, gc
        atexit.register(lambda: print("frozen", gc.get_freeze_count() > 1000))  # runs after tune's handler
        from blincompass import gctune
        before = gc.get_threshold()
        gctune.tune(); gctune.tune()
        print(before, gc.get_threshold(), gc.get_freeze_count())
    """)
    assert out.splitlines() == [f"(700, 10, 10) {gctune.THRESHOLDS} 0", "frozen True"]


def test_every_command_and_the_figure_worker_run_with_the_settings(tmp_path: Path):
    out = _run(f"""
        import gc
        from blincompass.cli import app
        try:
            app(["synth", "--out", {str(tmp_path / "twin")!r}])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        print(gc.get_threshold())
    """)
    assert out.splitlines()[-1] == str(gctune.THRESHOLDS)
    with figpool.FigurePool(1) as pool:
        import gc

        assert pool.call(gc.get_threshold).result(timeout=120) == gctune.THRESHOLDS


def test_figure_worker_freezes_its_imports_and_collects_each_figure():
    """After its start-up the worker's imports are frozen (each collection after a figure skips them), and
    after a figure is drawn no garbage of it is left for a later collection."""
    import gc

    from blincompass.report.plotting import new_figure

    fig = new_figure(1.0, 0.8)
    fig.text(0.1, 0.5, "n = 5", fontsize=7)
    with figpool.FigurePool(1) as pool:
        pool._warm[0].result(timeout=120)
        assert pool.call(gc.get_freeze_count).result(timeout=60) > 50_000
        figpool.finish([pool.submit(fig)]) if False else pool.submit(fig).get()
        # the job's own objects were collected: a full collection now finds no unreachable object
        assert pool.call(gc.collect).result(timeout=60) == 0
